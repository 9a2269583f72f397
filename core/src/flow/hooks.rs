//! Hooks: the scripts in `.kamal/hooks/` (or `hooks_path`) that Kamal runs
//! on the machine it runs on, around a deploy: `pre-connect`, `pre-build`,
//! `pre-deploy`, `post-deploy`. A hook gets Kamal's `KAMAL_*` variables;
//! one that fails stops the command and is named in the error.
//!
//! The core reads no files: the CLI says which hooks exist ([`Hooks`]).

use crate::batch::{Batch, Phase, Step};
use crate::effect::{Action, LOCAL};
use crate::plan::Plan;
use crate::sequence::Part;
use crate::shell::Command;
use crate::time::Time;
use std::collections::BTreeSet;

/// Every hook Kamal 1 runs, in the order a deploy runs them.
pub const HOOKS: &[&str] = &["pre-connect", "pre-build", "pre-deploy", "post-deploy"];

/// The hooks of a run: where they live and which of them exist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hooks {
    /// `hooks_path`, else `.kamal/hooks`, as written (relative to the
    /// directory baton runs in).
    pub dir: String,
    /// The hooks present in `dir` (executable files named as in [`HOOKS`]).
    pub present: BTreeSet<String>,
    /// `-H/--skip-hooks`.
    pub skip: bool,
}

impl Hooks {
    /// The hooks directory of `plan`'s config.
    pub fn dir_of(plan: &Plan) -> String {
        plan.config.hooks_path.clone().unwrap_or_else(|| ".kamal/hooks".to_string())
    }

    /// Whether `name` runs in this run.
    pub fn runs(&self, name: &str) -> bool {
        !self.skip && self.present.contains(name)
    }
}

/// What a hook is told about the command that runs it, beyond the plan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HookDetails {
    /// `deploy`, `rollback`, `build`…
    pub command: String,
    /// `push` for `build push`; none for a top-level command.
    pub subcommand: Option<String>,
    /// Seconds since the command started (post-deploy).
    pub runtime_s: Option<u64>,
}

/// The `KAMAL_*` variables of a hook, as Kamal sets them.
pub fn variables(plan: &Plan, d: &HookDetails) -> Vec<(String, String)> {
    let cfg = &plan.config;
    let mut v = vec![("KAMAL_RECORDED_AT", plan.lock.at_utc.clone()), ("KAMAL_PERFORMER", plan.performer.clone())];
    if let Some(dest) = &cfg.destination {
        v.push(("KAMAL_DESTINATION", dest.clone()));
    }
    v.push(("KAMAL_VERSION", plan.version.clone()));
    v.push(("KAMAL_SERVICE_VERSION", format!("{}@{}", cfg.service, abbreviated(&plan.version))));
    v.push(("KAMAL_HOSTS", plan.hosts.join(",")));
    if plan.roles.len() < cfg.roles.len() {
        v.push(("KAMAL_ROLE", plan.roles.join(",")));
    }
    v.push(("KAMAL_COMMAND", d.command.clone()));
    if let Some(s) = &d.subcommand {
        v.push(("KAMAL_SUBCOMMAND", s.clone()));
    }
    if let Some(r) = d.runtime_s {
        v.push(("KAMAL_RUNTIME", r.to_string()));
    }
    v.into_iter().map(|(k, val)| (k.to_string(), val)).collect()
}

/// Kamal's abbreviated version: a git SHA (40 hex) is cut to 12 characters.
fn abbreviated(version: &str) -> &str {
    let sha = version.len() == 40 && version.bytes().all(|b| b.is_ascii_hexdigit());
    if sha {
        &version[..12]
    } else {
        version
    }
}

/// The command line of hook `name`: `env KAMAL_…=… DIR/NAME`.
pub fn command(plan: &Plan, hooks: &Hooks, name: &str, d: &HookDetails) -> Command {
    let mut c = Command::program("env");
    for (k, v) in variables(plan, d) {
        c = c.arg(format!("{k}={v}"));
    }
    c.arg(format!("{}/{name}", hooks.dir.trim_end_matches('/')))
}

/// Hook `name` as a phase of a batch (a local step), if it runs.
pub fn phase(plan: &Plan, hooks: &Hooks, name: &'static str, d: &HookDetails) -> Option<Phase> {
    if !hooks.runs(name) {
        return None;
    }
    let step = Step::run(LOCAL, None, name, command(plan, hooks, name, d))
        .with_action(Action::Hook { name: name.to_string() });
    Some(Phase { name, scripts: vec![vec![step]], required: true, finally: false })
}

/// Hook `name` as a part of a sequence, if it runs. `started` is when the
/// command started: `post-deploy` is told the runtime since then.
pub fn part(plan: &Plan, hooks: &Hooks, name: &'static str, d: HookDetails, started: Option<Time>) -> Option<Part> {
    if !hooks.runs(name) {
        return None;
    }
    let (plan, hooks) = (plan.clone(), hooks.clone());
    Some(Part::later(move |now| {
        let runtime_s = started.map(|s| (now.saturating_sub(s) + 500) / 1000);
        let d = HookDetails { runtime_s, ..d };
        let phase = phase(&plan, &hooks, name, &d).expect("checked: the hook runs");
        Batch::new(vec![phase])
    }))
}
