//! The commands that are several machines under one lock: `deploy`,
//! `redeploy` and `rollback`, as Kamal 1 runs them
//! (`lib/kamal/cli/main.rb`), each one [`Sequence`]:
//!
//! - `deploy`: pre-connect hook → lock → registry login → build deliver
//!   (or `build pull` with `-P`) → pre-deploy hook → Traefik started where
//!   it does not run (`traefik boot`) → healthcheck perform →
//!   stale containers → app boot → prune all → unlock → post-deploy hook;
//! - `redeploy`: the same without the registry login and the prune;
//! - `rollback VERSION`: pre-connect hook → lock → check that every host
//!   has a container of VERSION for every role → pre-deploy hook → app boot
//!   of VERSION → unlock → post-deploy hook.
//!
//! A failed part stops the sequence; the lock is released unless the boot
//! keeps it on purpose (a half-done fleet), as `app boot` does.

pub mod build;
pub mod hooks;
pub mod rollback;

use crate::batch::{Batch, Phase, Step};
use crate::commands::{build as builder, registry};
use crate::deploy::Deploy;
use crate::effect::{Action, LOCAL};
use crate::ops;
use crate::plan::Plan;
use crate::sequence::{Part, Sequence};
use hooks::{HookDetails, Hooks};

/// The registry credentials, resolved by the caller from the config (a
/// value, or `[ENV_NAME]`). The password only ever travels on stdin.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <password>)", self.username)
    }
}

/// What a deploy-like command needs beyond its plan.
#[derive(Clone, Debug)]
pub struct Flow {
    pub hooks: Hooks,
    /// Seed of the boot (run id, name suffixes).
    pub seed: u64,
    /// `-P/--skip-push`: pull the image on the hosts instead of building.
    pub skip_push: bool,
    pub credentials: Credentials,
}

fn details(command: &str) -> HookDetails {
    HookDetails { command: command.into(), ..Default::default() }
}

/// `registry login`: on the machine baton runs on, then on every host.
pub fn registry_login(plan: &Plan, c: &Credentials) -> Phase {
    let cmd = registry::login(&plan.config, &c.username);
    let step = |host: &str| {
        Step::run(host, None, "registry login", cmd.clone())
            .with_stdin(c.password.clone().into_bytes())
            .with_action(Action::RegistryLogin)
    };
    let mut scripts = vec![vec![step(LOCAL)]];
    scripts.extend(plan.hosts.iter().map(|h| vec![step(h)]));
    Phase { name: "registry login", scripts, required: true, finally: false }
}

/// `registry logout`: on every host, as Kamal 1.0 (the machine baton runs
/// on stays logged in: its builds need it).
pub fn registry_logout(plan: &Plan) -> Phase {
    let cmd = registry::logout(&plan.config);
    let scripts = plan
        .hosts
        .iter()
        .map(|h| vec![Step::run(h, None, "registry logout", cmd.clone()).with_action(Action::RegistryLogout)])
        .collect();
    Phase { name: "registry logout", scripts, required: true, finally: false }
}

/// `build push`: check the local engine (and buildx, when the builder needs
/// it), the pre-build hook (told `command`: `deploy`, or `build push` as
/// command and subcommand), create the buildx builder if buildx does not
/// know it, build and push. Build argument values go on standard input.
pub fn build_push(plan: &Plan, hooks: &Hooks, command: &str) -> Vec<Phase> {
    let cfg = &plan.config;
    let checks = builder::LocalCheck::needed(cfg).into_iter().map(|c| Step::poll(LOCAL, None, c.label(), c.command()));
    let mut phases =
        vec![Phase { name: "local docker", scripts: vec![checks.collect()], required: true, finally: false }];
    phases.extend(hooks::phase(plan, hooks, "pre-build", &build::hook_details(command)));
    let mut script: Vec<Step> =
        builder::ensure_builder(cfg).map(|c| Step::run(LOCAL, None, "ensure builder", c)).into_iter().collect();
    let (line, stdin) = builder::push(cfg, &plan.version);
    let mut push =
        Step::run(LOCAL, None, "build push", line).with_action(Action::BuildPush { version: plan.version.clone() });
    if let Some(bytes) = stdin {
        push = push.with_stdin(bytes);
    }
    script.push(push);
    phases.push(Phase { name: "build push", scripts: vec![script], required: true, finally: false });
    phases
}

/// `build pull`: on every host, an audit line, the stale image removed, a pull.
pub fn build_pull(plan: &Plan) -> Phase {
    let cfg = &plan.config;
    let scripts = plan
        .hosts
        .iter()
        .map(|h| {
            vec![Step::run(h, None, "build pull", registry::pull(cfg, &plan.performer, &plan.version))
                .with_action(Action::PullImage { version: plan.version.clone() })]
        })
        .collect();
    Phase { name: "build pull", scripts, required: true, finally: false }
}

/// The lock, with the pre-connect hook before it (as Kamal's `mutating`).
fn locked_start(plan: &Plan, hooks: &Hooks, command: &str) -> Vec<Part> {
    let mut parts: Vec<Part> =
        hooks::part(plan, hooks, "pre-connect", details(command), None).map(Part::guard).into_iter().collect();
    parts.push(ops::guard_part(ops::lock_acquire(plan)));
    parts
}

/// Boot (then prune, for `deploy`), unlock, post-deploy hook: how each
/// command ends.
fn boot_and_end(plan: &Plan, f: &Flow, command: &str, parts: &mut Vec<Part>) {
    let boot_plan = plan.clone();
    let seed = f.seed;
    parts.push(Part::later(move |now| Deploy::under_lock(boot_plan, seed, now)));
    if command == "deploy" {
        parts.push(Part::new(Batch::new(crate::prune::all_phases(plan))));
    }
    parts.push(Part::new(Batch::new(vec![ops::lock_release(&plan.config)])).finally());
    parts.extend(hooks::part(plan, &f.hooks, "post-deploy", details(command), Some(0)));
}

/// `deploy` (with `login`) and `redeploy` (without); `before` runs first
/// under the lock (`setup`'s bootstrap and accessories).
fn deploy_like(plan: &Plan, f: &Flow, command: &str, login: bool, before: Vec<Phase>) -> Sequence {
    let mut parts = locked_start(plan, &f.hooks, command);
    let mut work = before;
    if login {
        work.push(registry_login(plan, &f.credentials));
    }
    if f.skip_push {
        work.push(build_pull(plan));
    } else {
        work.extend(build_push(plan, &f.hooks, command));
        work.push(build_pull(plan));
    }
    work.extend(hooks::phase(plan, &f.hooks, "pre-deploy", &details(command)));
    if login {
        // Kamal's "Ensure Traefik is running" (`traefik boot`; deploy's own
        // login came first). `redeploy` leaves Traefik alone, as Kamal's.
        work.push(crate::traefik::ensure_running(plan));
    }
    parts.push(Part::new(Batch::new(work)));
    parts.push(Part::new(crate::healthcheck::Healthcheck::new(plan)));
    parts.push(Part::new(Batch::new(ops::app_stale_containers(plan, false))));
    boot_and_end(plan, f, command, &mut parts);
    Sequence::new(parts)
}

/// `deploy [-P]`.
pub fn deploy(plan: &Plan, f: &Flow) -> Sequence {
    deploy_like(plan, f, "deploy", true, vec![])
}

/// `redeploy [-P]`: no registry login.
pub fn redeploy(plan: &Plan, f: &Flow) -> Sequence {
    deploy_like(plan, f, "redeploy", false, vec![])
}

/// `setup`: under one lock, as Kamal's: `before` (the hosts checked and
/// every accessory booted: [`crate::toplevel::setup_phases`]), then
/// `deploy`. The hooks are told `deploy`, as Kamal's nested deploy does.
pub fn setup(plan: &Plan, f: &Flow, before: Vec<Phase>) -> Sequence {
    deploy_like(plan, f, "deploy", true, before)
}

/// `rollback VERSION` (the plan's version).
pub fn rollback(plan: &Plan, f: &Flow) -> Sequence {
    let mut parts = locked_start(plan, &f.hooks, "rollback");
    parts.push(Part::new(rollback::VersionCheck::new(plan, &plan.version)));
    parts.extend(hooks::part(plan, &f.hooks, "pre-deploy", details("rollback"), None));
    boot_and_end(plan, f, "rollback", &mut parts);
    Sequence::new(parts)
}
