//! `build deliver|push|pull|create|remove|details` and `registry
//! login|logout` as Kamal 1.0 runs them (`lib/kamal/cli/build.rb`,
//! `registry.rb`). The mutating ones (every `build` command but `details`)
//! run as Kamal's `mutating`: the pre-connect hook, the lock, the work,
//! the lock released (also after a failure or an interrupt).

use super::hooks::{self, HookDetails, Hooks};
use super::{build_pull, build_push};
use crate::batch::{Batch, Phase, Step};
use crate::commands::build;
use crate::effect::LOCAL;
use crate::ops;
use crate::plan::Plan;
use crate::sequence::{Part, Sequence};

/// What a hook is told of `command`: `deploy`, or `build push` (command
/// `build`, subcommand `push`), as Kamal tells it.
pub fn hook_details(command: &str) -> HookDetails {
    let (command, subcommand) = match command.split_once(' ') {
        Some((c, s)) => (c, Some(s.to_string())),
        None => (command, None),
    };
    HookDetails { command: command.into(), subcommand, ..Default::default() }
}

/// A command as phases: the ones that must succeed before anything else
/// runs (the pre-connect hook, the lock), the work, and the ones that run
/// whatever happened (the lock release).
#[derive(Clone, Debug, Default)]
pub struct Run {
    pub guards: Vec<Phase>,
    pub work: Vec<Phase>,
    pub finally: Vec<Phase>,
}

impl Run {
    /// Every phase in order (for `--dry-run`).
    pub fn phases(&self) -> Vec<Phase> {
        self.guards.iter().chain(&self.work).chain(&self.finally).cloned().collect()
    }

    /// The machine: each guard a part of its own, the work one batch (a
    /// failed required phase skips the rest of it), then the finally parts.
    pub fn machine(self) -> Sequence {
        let mut parts: Vec<Part> = self.guards.into_iter().map(|p| Part::new(Batch::new(vec![p])).guard()).collect();
        if !self.work.is_empty() {
            parts.push(Part::new(Batch::new(self.work)));
        }
        parts.extend(self.finally.into_iter().map(|p| Part::new(Batch::new(vec![p])).finally()));
        Sequence::new(parts)
    }
}

/// Kamal's `mutating`: pre-connect hook → lock → `work` → unlock.
pub fn mutating(plan: &Plan, hooks: &Hooks, command: &str, work: Vec<Phase>) -> Run {
    let mut guards: Vec<Phase> = hooks::phase(plan, hooks, "pre-connect", &hook_details(command)).into_iter().collect();
    guards.push(ops::lock_acquire(plan));
    Run { guards, work, finally: vec![ops::lock_release(&plan.config)] }
}

/// `build push`.
pub fn push(plan: &Plan, hooks: &Hooks) -> Run {
    mutating(plan, hooks, "build push", build_push(plan, hooks, "build push"))
}

/// `build deliver`: push, then pull on every host.
pub fn deliver(plan: &Plan, hooks: &Hooks) -> Run {
    let mut work = build_push(plan, hooks, "build deliver");
    work.push(build_pull(plan));
    mutating(plan, hooks, "build deliver", work)
}

/// `build pull`.
pub fn pull(plan: &Plan, hooks: &Hooks) -> Run {
    mutating(plan, hooks, "build pull", vec![build_pull(plan)])
}

/// One local step as a phase.
fn local(name: &'static str, cmd: crate::shell::Command) -> Phase {
    Phase { name, scripts: vec![vec![Step::run(LOCAL, None, name, cmd)]], required: true, finally: false }
}

/// `build create`; None for a native build, which has no builder to create.
pub fn create(plan: &Plan, hooks: &Hooks) -> Option<Run> {
    let cmd = build::create(&plan.config)?;
    Some(mutating(plan, hooks, "build create", vec![local("build create", cmd)]))
}

/// `build remove`; None for a native build.
pub fn remove(plan: &Plan, hooks: &Hooks) -> Option<Run> {
    let cmd = build::remove(&plan.config)?;
    Some(mutating(plan, hooks, "build remove", vec![local("build remove", cmd)]))
}

/// `build details` (no lock); None for a native build, which has nothing to show.
pub fn details(plan: &Plan) -> Option<Run> {
    let cmd = build::info(&plan.config)?;
    let step = Step::poll(LOCAL, None, "build details", cmd);
    Some(Run {
        work: vec![Phase { name: "build details", scripts: vec![vec![step]], ..Default::default() }],
        ..Default::default()
    })
}

/// `registry login` (no lock): here and on every host.
pub fn login(plan: &Plan, c: &super::Credentials) -> Run {
    Run { work: vec![super::registry_login(plan, c)], ..Default::default() }
}

/// `registry logout` (no lock): on every host.
pub fn logout(plan: &Plan) -> Run {
    Run { work: vec![super::registry_logout(plan)], ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Source};
    use crate::effect::{Action, Observation, Outcome};
    use crate::machine::Machine;
    use crate::plan::LockInfo;

    fn plan(builder: &str) -> Plan {
        let text = format!("service: app\nimage: dhh/app\nservers: [1.1.1.1, 1.1.1.2]\nregistry:\n  username: u\n  password: [P]\n{builder}");
        let cfg = Config::parse(Source { name: "config/deploy.yml", text: &text }, None).expect("config");
        let lock = LockInfo { holder: "me".into(), at_utc: "2024-01-01T00:00:00Z".into(), message: "m".into() };
        Plan::new(cfg, "v2", None, None, "me", lock).expect("plan")
    }

    /// Run `m`, failing every command whose line contains `fail`; returns (host, line) of every command issued, and the outcome.
    fn drive(mut m: impl Machine, fail: &str) -> (Vec<(String, String)>, Outcome) {
        let mut issued = vec![];
        let mut outcome = None;
        for _ in 0..100 {
            while let Some(ev) = m.poll_event() {
                if let crate::effect::Event::Finished(o) = ev {
                    outcome = Some(o);
                }
            }
            let Some(e) = m.poll_effect() else { break };
            let c = e.cmd();
            let line = c.cmd.render();
            let obs =
                if line.contains(fail) { Observation::failed(c.id, 1, "boom") } else { Observation::ok(c.id, "") };
            issued.push((c.host.clone(), line));
            m.handle_observation(&obs, 0);
        }
        while let Some(ev) = m.poll_event() {
            if let crate::effect::Event::Finished(o) = ev {
                outcome = Some(o);
            }
        }
        (issued, outcome.expect("finished"))
    }

    #[test]
    fn a_failed_build_releases_the_lock_and_pulls_nothing() {
        let p = plan("builder:\n  multiarch: false\n");
        let (issued, outcome) = drive(deliver(&p, &Hooks::default()).machine(), "docker build");
        assert!(matches!(outcome, Outcome::Failed { .. }));
        let lines: Vec<&str> = issued.iter().map(|(_, l)| l.as_str()).collect();
        assert!(lines[0].contains("mkdir .kamal/lock-app"), "the lock comes first: {lines:?}");
        assert!(lines.last().unwrap().contains("rm -r .kamal/lock-app"), "the lock is released: {lines:?}");
        assert!(!lines.iter().any(|l| l.contains("docker pull")), "nothing is pulled: {lines:?}");
    }

    #[test]
    fn deliver_checks_builds_then_pulls_everywhere_under_the_lock() {
        let p = plan("builder:\n  multiarch: false\n");
        let (issued, outcome) = drive(deliver(&p, &Hooks::default()).machine(), "never");
        assert_eq!(outcome, Outcome::Succeeded);
        let local: Vec<&str> = issued.iter().filter(|(h, _)| h == LOCAL).map(|(_, l)| l.as_str()).collect();
        assert_eq!(local[..2], ["docker --version", "docker version --format '{{.Server.Version}}'"]);
        assert!(local[2].starts_with("docker build "));
        let pulls = issued.iter().filter(|(_, l)| l.contains("docker pull dhh/app:v2")).count();
        assert_eq!(pulls, 2);
        assert!(issued.last().unwrap().1.contains("rm -r .kamal/lock-app"));
    }

    #[test]
    fn a_buildx_build_checks_buildx_and_creates_a_missing_builder() {
        let run = push(&plan(""), &Hooks::default());
        let steps: Vec<Step> = run.work.iter().flat_map(|p| p.scripts.iter().flatten().cloned()).collect();
        let labels: Vec<&str> = steps.iter().map(|s| s.label).collect();
        assert_eq!(labels, ["docker client", "docker engine", "docker buildx", "ensure builder", "build push"]);
        assert!(steps[3].cmd.render().starts_with("docker buildx inspect kamal-app-multiarch >/dev/null 2>&1 || {"));
        assert_eq!(steps[4].action, Action::BuildPush { version: "v2".into() });
    }

    #[test]
    fn login_sends_the_password_on_stdin_and_logout_is_remote_only() {
        let p = plan("");
        let c = super::super::Credentials { username: "u".into(), password: "s3cret-marker".into() };
        let run = login(&p, &c);
        let steps: Vec<&Step> = run.work.iter().flat_map(|p| p.scripts.iter().flatten()).collect();
        let hosts: Vec<&str> = steps.iter().map(|s| s.host.as_str()).collect();
        assert_eq!(hosts, [LOCAL, "1.1.1.1", "1.1.1.2"]);
        for s in &steps {
            assert_eq!(s.cmd.render(), "docker login -u u --password-stdin");
            assert_eq!(s.stdin.as_ref().map(|b| b.bytes.as_slice()), Some(&b"s3cret-marker"[..]));
            assert!(!format!("{s:?}").contains("s3cret-marker"), "Debug shows no password");
        }
        let out = logout(&p);
        let hosts: Vec<String> =
            out.work.iter().flat_map(|p| p.scripts.iter().flatten()).map(|s| s.host.clone()).collect();
        assert_eq!(hosts, ["1.1.1.1", "1.1.1.2"]);
    }

    #[test]
    fn hooks_are_told_command_and_subcommand() {
        assert_eq!(hook_details("build push").subcommand.as_deref(), Some("push"));
        assert_eq!(hook_details("build push").command, "build");
        assert_eq!(hook_details("deploy").subcommand, None);
        let hooks = Hooks { dir: ".kamal/hooks".into(), present: ["pre-connect".to_string()].into(), skip: false };
        let run = pull(&plan(""), &hooks);
        assert_eq!(run.guards[0].name, "pre-connect");
        assert!(run.guards[0].scripts[0][0].cmd.render().contains("KAMAL_COMMAND=build KAMAL_SUBCOMMAND=pull"));
        assert!(create(&plan("builder:\n  multiarch: false\n"), &hooks).is_none());
        assert!(details(&plan("")).is_some());
    }
}
