//! The top-level commands made of others (`lib/kamal/cli/main.rb`):
//! `details` (Traefik, app, accessories), `remove` (Traefik, app,
//! accessories, registry session) and the part of `setup` that comes
//! before its deploy (the hosts checked, every accessory booted).
//!
//! Traefik's parts are `traefik details` and `traefik remove`'s phases
//! ([`crate::traefik`]); `deploy` boots Traefik itself
//! ([`crate::traefik::ensure_running`]).

use crate::accessory::{self, Contents, Login};
use crate::batch::{Phase, Step};
use crate::commands as cmds;
use crate::ops;
use crate::plan::Plan;

/// `details`: Traefik's, the app's, then every accessory's (reads only).
pub fn details(plan: &Plan) -> Vec<Phase> {
    let mut phases = crate::traefik::details(plan);
    phases.extend(ops::app_details(plan));
    let all: Vec<_> = plan.config.accessories.iter().collect();
    phases.extend(accessory::details(plan, &all));
    phases
}

/// `remove` (the CLI asks first, unless `-y`): under one lock, Traefik,
/// the app (containers stopped and removed, images removed), every
/// accessory, then the registry session on the hosts: Kamal's order.
pub fn remove(plan: &Plan) -> Vec<Phase> {
    let mut work = crate::traefik::remove_phases(plan);
    work.extend(ops::app_remove_phases(plan));
    for a in &plan.config.accessories {
        work.extend(accessory::remove_phases(plan, a));
    }
    work.push(crate::flow::registry_logout(plan));
    ops::mutating(plan, work)
}

/// What `setup` runs under its lock before the deploy: Docker checked on
/// every host and accessory host (a host without it fails the setup; `server
/// bootstrap --install` installs it), the run directory made on the app's
/// hosts, then every accessory booted (directories, files, login, run).
pub fn setup_phases(plan: &Plan, contents: &Contents, login: &Login) -> Result<Vec<Phase>, String> {
    let hosts = crate::server::hosts(plan);
    let check = hosts.iter().map(|h| vec![Step::poll(h, None, "docker -v", cmds::docker_installed())]).collect();
    let run_dir = plan
        .hosts
        .iter()
        .map(|h| vec![Step::run(h, None, "run directory", cmds::ensure_run_directory(&plan.config))])
        .collect();
    let mut phases = vec![
        Phase { name: "docker", scripts: check, required: true, finally: false },
        Phase { name: "run directory", scripts: run_dir, required: true, finally: false },
    ];
    for a in &plan.config.accessories {
        phases.extend(accessory::boot_phases(plan, a, contents, Some(login))?);
    }
    Ok(phases)
}
