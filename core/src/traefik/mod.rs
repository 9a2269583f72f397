//! `traefik boot`, `reboot [--rolling]`, `start`, `stop`, `restart`,
//! `details`, `logs` and `remove`, as Kamal 1.0's `Kamal::Cli::Traefik`
//! runs them: on the Traefik hosts ([`traefik_hosts`]), the mutating ones
//! under the deploy lock. Each is phases of a [`Batch`], except
//! `reboot --rolling`: one host at a time, each followed by a
//! [`wait::ProxyBack`] that waits until the host's Traefik answers again
//! and its routing table holds the app.

pub mod wait;

use crate::batch::{Batch, Phase, Step};
use crate::commands::{registry, traefik as t, LogOptions};
use crate::effect::Action;
use crate::flow::Credentials;
use crate::ops::{self, audit_step, mutating};
use crate::plan::Plan;
use crate::sequence::{Part, Sequence};

/// Kamal's `traefik_hosts`: the hosts of the roles that run Traefik (`web`,
/// or `traefik: true`), in config order, among the selected hosts (Kamal
/// 1.x's rule; 1.0 took `--hosts` as given, also hosts of no such role).
pub fn traefik_hosts(plan: &Plan) -> Vec<String> {
    let cfg = &plan.config;
    cfg.all_hosts()
        .into_iter()
        .filter(|h| plan.hosts.contains(h))
        .filter(|h| cfg.roles_on(h).iter().any(|r| r.spec.proxied))
        .collect()
}

/// One phase: per Traefik host, the steps `f` gives.
fn per_host(plan: &Plan, name: &'static str, f: impl Fn(&str) -> Vec<Step>) -> Phase {
    Phase { name, scripts: traefik_hosts(plan).iter().map(|h| f(h)).collect(), required: false, finally: false }
}

/// `docker login` on a Traefik host, the password on standard input.
fn login_step(plan: &Plan, host: &str, c: &Credentials) -> Step {
    Step::run(host, None, "registry login", registry::login(&plan.config, &c.username))
        .with_stdin(c.password.clone().into_bytes())
        .with_action(Action::RegistryLogin)
}

/// The steps of `traefik boot` on a host: log in (when `login` is given:
/// `deploy` has logged in already), then start the container, else run it.
pub fn boot_steps(plan: &Plan, host: &str, login: Option<&Credentials>) -> Vec<Step> {
    let mut steps: Vec<Step> = login.map(|c| login_step(plan, host, c)).into_iter().collect();
    steps.push(Step::run(host, None, "traefik boot", t::start_or_run(&plan.config)));
    steps
}

/// The phase of `deploy`'s "ensure Traefik is running": `traefik boot`
/// without its login (deploy's own login came first). A failure stops the deploy.
pub fn ensure_running(plan: &Plan) -> Phase {
    Phase { required: true, ..per_host(plan, "traefik boot", |h| boot_steps(plan, h, None)) }
}

/// `traefik boot`.
pub fn boot(plan: &Plan, login: &Credentials) -> Vec<Phase> {
    mutating(plan, vec![per_host(plan, "traefik boot", |h| boot_steps(plan, h, Some(login)))])
}

/// The steps of `traefik reboot` on a host: audit, log in, stop (a host
/// without the container goes on), remove the container, run a new one.
fn reboot_steps(plan: &Plan, host: &str, login: &Credentials) -> Vec<Step> {
    vec![
        audit_step(plan, host, None, "Rebooted traefik"),
        login_step(plan, host, login),
        Step::run(host, None, "traefik stop", t::stop()).unchecked(),
        Step::run(host, None, "traefik remove_container", t::remove_container()),
        Step::run(host, None, "traefik run", t::run(&plan.config)),
    ]
}

/// `traefik reboot`: every Traefik host at once.
pub fn reboot(plan: &Plan, login: &Credentials) -> Vec<Phase> {
    mutating(plan, vec![per_host(plan, "traefik reboot", |h| reboot_steps(plan, h, login))])
}

/// `traefik reboot --rolling`: under the lock, one host after the other;
/// before the next, the host's Traefik must answer again with the app in
/// its routing table ([`wait::ProxyBack`]). A host that fails stops the rest.
pub fn reboot_rolling(plan: &Plan, login: &Credentials) -> Sequence {
    let mut parts = vec![ops::guard_part(ops::lock_acquire(plan))];
    for host in traefik_hosts(plan) {
        let script = reboot_steps(plan, &host, login);
        parts.push(Part::new(Batch::new(vec![Phase {
            name: "traefik reboot",
            scripts: vec![script],
            required: false,
            finally: false,
        }])));
        let p = plan.clone();
        parts.push(Part::later(move |now| wait::ProxyBack::new(&p, &host, now)));
    }
    parts.push(Part::new(Batch::new(vec![ops::lock_release(&plan.config)])).finally());
    Sequence::new(parts)
}

fn start_phase(plan: &Plan) -> Phase {
    per_host(plan, "traefik start", |h| {
        vec![audit_step(plan, h, None, "Started traefik"), Step::run(h, None, "traefik start", t::start())]
    })
}

fn stop_phase(plan: &Plan) -> Phase {
    per_host(plan, "traefik stop", |h| {
        vec![audit_step(plan, h, None, "Stopped traefik"), Step::run(h, None, "traefik stop", t::stop())]
    })
}

/// `traefik start`
pub fn start(plan: &Plan) -> Vec<Phase> {
    mutating(plan, vec![start_phase(plan)])
}

/// `traefik stop`
pub fn stop(plan: &Plan) -> Vec<Phase> {
    mutating(plan, vec![stop_phase(plan)])
}

/// `traefik restart`: stop on every host, then start on every host.
pub fn restart(plan: &Plan) -> Vec<Phase> {
    mutating(plan, vec![stop_phase(plan), start_phase(plan)])
}

/// `traefik details`: `docker ps --filter name=^traefik$` per host.
pub fn details(plan: &Plan) -> Vec<Phase> {
    vec![per_host(plan, "traefik details", |h| vec![Step::poll(h, None, "details", t::info())])]
}

/// `traefik logs` (not `--follow`), per host.
pub fn logs(plan: &Plan, o: &LogOptions) -> Vec<Phase> {
    vec![per_host(plan, "traefik logs", |h| vec![Step::poll(h, None, "logs", t::logs(o)).unchecked()])]
}

/// `traefik remove`: stop, remove the container, remove the image. A host
/// where the container is already stopped (or gone) goes on.
pub fn remove(plan: &Plan) -> Vec<Phase> {
    mutating(plan, remove_phases(plan))
}

/// `traefik remove`'s phases without the lock (also part of `remove`).
pub fn remove_phases(plan: &Plan) -> Vec<Phase> {
    let stop = per_host(plan, "traefik stop", |h| {
        vec![audit_step(plan, h, None, "Stopped traefik"), Step::run(h, None, "traefik stop", t::stop()).unchecked()]
    });
    let container = per_host(plan, "traefik remove_container", |h| {
        vec![
            audit_step(plan, h, None, "Removed traefik container"),
            Step::run(h, None, "traefik remove_container", t::remove_container()),
        ]
    });
    let image = per_host(plan, "traefik remove_image", |h| {
        vec![
            audit_step(plan, h, None, "Removed traefik image"),
            Step::run(h, None, "traefik remove_image", t::remove_image()),
        ]
    });
    vec![stop, container, image]
}

/// The contents of Traefik's env file (`traefik.env`): secrets first, then
/// clear values, as a role's ([`ops::env_file_of`]).
pub fn env_file(plan: &Plan, secrets: &std::collections::BTreeMap<String, String>) -> Result<String, String> {
    ops::env_file_of(&plan.config.traefik.env, secrets, "traefik.env.secret", "Traefik")
}

/// `env push`'s steps for Traefik: its env file on each Traefik host, when
/// `traefik.env` is set.
pub fn env_push_phase(
    plan: &Plan,
    secrets: &std::collections::BTreeMap<String, String>,
) -> Result<Option<Phase>, String> {
    if !plan.config.traefik.has_env {
        return Ok(None);
    }
    let contents = env_file(plan, secrets)?;
    Ok(Some(per_host(plan, "env push", |h| {
        vec![Step::run(h, None, "env push", t::env_file_write(&plan.config)).with_file(contents.clone().into_bytes())]
    })))
}

/// `env delete`'s steps for Traefik, when `traefik.env` is set.
pub fn env_delete_phase(plan: &Plan) -> Option<Phase> {
    plan.config.traefik.has_env.then(|| {
        per_host(plan, "env delete", |h| vec![Step::run(h, None, "env delete", t::env_file_remove(&plan.config))])
    })
}

#[cfg(test)]
mod tests;
