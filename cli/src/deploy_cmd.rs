//! `baton deploy`, `redeploy`, `rollback` and `setup`: sequences of machines under
//! one lock (`baton_core::flow`), run by the same interpreter loop and
//! printed the same way as `app boot`.

use crate::args::Global;
use crate::boot_cmd::{self, BootArgs, Words};
use crate::build_cmd;
use crate::load::{self, UsageError};
use crate::out::{say, tell};
use baton_core::flow::{self, rollback, Flow};
use baton_core::journal::Command;
use baton_core::plan::Plan;

/// Which of the four.
#[derive(Clone, Debug)]
pub enum Which {
    Deploy,
    Redeploy,
    Rollback,
    /// `setup`: its phases before the deploy (hosts checked, accessories booted).
    Setup(Vec<baton_core::batch::Phase>),
}

impl Which {
    fn name(&self) -> &'static str {
        match self {
            Which::Setup(_) => "setup",
            Which::Deploy => "deploy",
            Which::Redeploy => "redeploy",
            Which::Rollback => "rollback",
        }
    }
}

/// Run `which` for `plan`; exit code 0 on success.
pub fn run(g: &Global, plan: Plan, which: Which, skip_push: bool) -> Result<i32, UsageError> {
    let hooks = build_cmd::hooks(&plan, g.skip_hooks);
    // Only `deploy` logs in; the others never read the password.
    let credentials = match which {
        Which::Deploy | Which::Setup(_) => build_cmd::credentials(&plan.config, g.destination.as_deref())?,
        _ => flow::Credentials { username: String::new(), password: String::new() },
    };
    if !matches!(which, Which::Rollback) && !skip_push {
        // Before any thread starts: the build's arguments go to its environment.
        build_cmd::check_build_files(&plan.config)?;
        build_cmd::export_build_env(&plan.config, g.destination.as_deref())?;
        build_cmd::warn_uncommitted(g.quiet);
    }
    let seed = load::random_u64();
    let command = match which {
        Which::Deploy => Command::Deploy,
        Which::Setup(_) => Command::Setup,
        Which::Redeploy => Command::Redeploy,
        Which::Rollback => Command::Rollback,
    };
    let run = crate::journal::Run {
        command,
        seed,
        skip_push,
        hooks: Some(&hooks),
        registry_username: matches!(which, Which::Deploy | Which::Setup(_)).then_some(credentials.username.as_str()),
    };
    // `baton replay` rebuilds a setup's phases before its deploy from the
    // config (`journal::replay::setup_before`).
    let header = (!g.dry_run).then(|| crate::journal::header(g, &plan, &run));
    let f = Flow { hooks, seed, skip_push, credentials };
    let name = which.name();
    let machine = match &which {
        Which::Setup(before) => flow::setup(&plan, &f, before.clone()),
        Which::Deploy => flow::deploy(&plan, &f),
        Which::Redeploy => flow::redeploy(&plan, &f),
        Which::Rollback => flow::rollback(&plan, &f),
    };
    if g.dry_run {
        // A rollback goes back to stopped containers of its version.
        let stopped = matches!(which, Which::Rollback).then(|| plan.version.clone());
        let scenario = baton_core::sim::Scenario { seed, stopped, ..Default::default() };
        let sim = baton_core::sim::simulate_machine(&plan, &scenario, machine);
        let header = format!(
            "# {name} --dry-run: the commands that change the hosts and this machine (`local`), for hosts running no version yet{}\n# (status reads are left out, --verbose shows them; the registry password goes to standard input and is not shown)\n",
            if matches!(which, Which::Rollback) { " and a stopped container of it on each" } else { "" }
        );
        return Ok(boot_cmd::print_dry_run(&sim, &header, name, g.verbose));
    }
    let version = &plan.version;
    let primary = plan.config.primary_host().to_string();
    let n = plan.hosts.len();
    let words = Words {
        start: match which {
            Which::Rollback => format!("Rolling back to {version} on {} ({n} host(s))...", plan.hosts.join(", ")),
            _ => format!("Deploying {version} to {} ({n} host(s))...", plan.hosts.join(", ")),
        },
        done: format!("{name}: {version} serves on every host; the deploy lock on {primary} is released."),
        failed: format!("The {name} of {version} failed:"),
    };
    let args = BootArgs { verbose: g.verbose, quiet: g.quiet, seed, journal: header };
    Ok(boot_cmd::drive(machine, &plan, &args, &words))
}

/// `rollback` with no version: the versions every selected host has a
/// container of, for every role it runs.
pub fn list_versions(g: &Global, plan: &Plan) -> Result<i32, UsageError> {
    let phase = rollback::list_phase(plan);
    if g.dry_run {
        return Ok(crate::app_cmd::dry_run(&[phase]));
    }
    let run = crate::batch_cmd::run(vec![phase], boot_cmd::ssh_options(&plan.config), g.verbose);
    if let Some(r) = run.results.iter().find(|r| !r.ok()) {
        tell!("error: rollback: {}", crate::batch_cmd::describe_failure(r));
        return Ok(1);
    }
    let found = rollback::found(plan, &run.results);
    let everywhere = rollback::everywhere(&found);
    if everywhere.is_empty() {
        say!("No version has a container on every host and role, so there is nothing to roll back to.");
    } else {
        say!("Versions that `baton rollback VERSION` can go back to (a container on every host and role):");
        for v in &everywhere {
            say!("  {v}");
        }
    }
    Ok(0)
}
