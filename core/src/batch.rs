//! Commands other than `app boot` (lock, env push, and the other `app`
//! commands) as a small sans-IO machine: phases of per-host scripts.
//!
//! A phase runs a script on each of its hosts at once; a script runs its
//! steps one after the other and stops at a failing step that is `checked`.
//! The next phase starts when every script of this one is over. A failed
//! phase marked `required` skips the phases after it (the lock phase of a
//! mutating command: without the lock, nothing runs).

use crate::effect::{Action, Cmd, Effect, EffectId, Observation, Stdin};
use crate::shell::Command;
use std::collections::{BTreeMap, VecDeque};

/// One command of a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub host: String,
    pub role: Option<String>,
    pub action: Action,
    pub cmd: Command,
    pub stdin: Option<Stdin>,
    /// Read-only: safe to repeat.
    pub poll: bool,
    /// A failure stops the script (and fails the phase).
    pub checked: bool,
    /// A label for the CLI (`lock`, `env push`, `logs`…).
    pub label: &'static str,
}

impl Step {
    pub fn run(host: &str, role: Option<&str>, label: &'static str, cmd: Command) -> Step {
        Step {
            host: host.into(),
            role: role.map(Into::into),
            action: Action::Other,
            cmd,
            stdin: None,
            poll: false,
            checked: true,
            label,
        }
    }
    pub fn poll(host: &str, role: Option<&str>, label: &'static str, cmd: Command) -> Step {
        Step { poll: true, ..Step::run(host, role, label, cmd) }
    }
    /// A failure of this step is reported but does not stop the script.
    pub fn unchecked(self) -> Step {
        Step { checked: false, ..self }
    }
    pub fn with_stdin(self, bytes: Vec<u8>) -> Step {
        Step { stdin: Some(Stdin(bytes)), ..self }
    }
    pub fn with_action(self, action: Action) -> Step {
        Step { action, ..self }
    }
}

/// A set of scripts that run at once, one per host.
#[derive(Clone, Debug, Default)]
pub struct Phase {
    pub name: &'static str,
    pub scripts: Vec<Vec<Step>>,
    /// When this phase fails, later phases are skipped.
    pub required: bool,
}

/// What came of one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepResult {
    pub phase: &'static str,
    pub step: Step,
    pub observation: Observation,
}

impl StepResult {
    pub fn ok(&self) -> bool {
        matches!(self.observation, Observation::Exited { code: 0, .. })
    }
    pub fn stdout(&self) -> &str {
        match &self.observation {
            Observation::Exited { stdout, .. } => stdout,
            _ => "",
        }
    }
}

/// Runs phases of scripts.
#[derive(Debug)]
pub struct Batch {
    phases: VecDeque<Phase>,
    current: Option<&'static str>,
    current_required: bool,
    /// Steps still to run, per script of the current phase.
    queues: Vec<VecDeque<Step>>,
    pending: BTreeMap<EffectId, (usize, Step)>,
    effects: VecDeque<Effect>,
    results: Vec<StepResult>,
    phase_failed: bool,
    skipped: Vec<&'static str>,
    next_id: u64,
}

impl Batch {
    pub fn new(phases: Vec<Phase>) -> Batch {
        let mut b = Batch {
            phases: phases.into(),
            current: None,
            current_required: false,
            queues: vec![],
            pending: BTreeMap::new(),
            effects: VecDeque::new(),
            results: vec![],
            phase_failed: false,
            skipped: vec![],
            next_id: 0,
        };
        b.next_phase();
        b
    }

    fn next_phase(&mut self) {
        while let Some(p) = self.phases.pop_front() {
            self.current = Some(p.name);
            self.current_required = p.required;
            self.phase_failed = false;
            self.queues = p.scripts.into_iter().map(VecDeque::from).collect();
            for i in 0..self.queues.len() {
                self.issue(i);
            }
            if !self.pending.is_empty() {
                return;
            }
        }
        self.current = None;
    }

    fn issue(&mut self, i: usize) {
        if let Some(step) = self.queues[i].pop_front() {
            let id = EffectId(self.next_id);
            self.next_id += 1;
            let c = Cmd {
                id,
                host: step.host.clone(),
                role: step.role.clone(),
                action: step.action.clone(),
                cmd: step.cmd.clone(),
                stdin: step.stdin.clone(),
            };
            self.effects.push_back(if step.poll { Effect::Poll(c) } else { Effect::RunCmd(c) });
            self.pending.insert(id, (i, step));
        }
    }

    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// Record what came of an effect; false for an unknown id.
    pub fn handle_observation(&mut self, obs: &Observation) -> bool {
        let Some((i, step)) = self.pending.remove(&obs.id()) else {
            return false;
        };
        let ok = matches!(obs, Observation::Exited { code: 0, .. });
        let checked = step.checked;
        self.results.push(StepResult { phase: self.current.unwrap_or(""), step, observation: obs.clone() });
        if ok || !checked {
            self.issue(i);
        } else {
            self.phase_failed = true;
            self.queues[i].clear();
        }
        if self.pending.is_empty() {
            if self.current_required && self.phase_failed {
                self.skipped = self.phases.drain(..).map(|p| p.name).collect();
            }
            self.next_phase();
        }
        true
    }

    pub fn is_done(&self) -> bool {
        self.pending.is_empty() && self.effects.is_empty() && self.current.is_none()
    }

    pub fn results(&self) -> &[StepResult] {
        &self.results
    }

    /// Phases skipped because a required phase failed.
    pub fn skipped(&self) -> &[&'static str] {
        &self.skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(host: &str, label: &'static str) -> Step {
        Step::run(host, None, label, Command::program("true"))
    }

    fn answer(b: &mut Batch, code: i32) -> Vec<String> {
        let mut seen = vec![];
        while let Some(e) = b.poll_effect() {
            seen.push(e.cmd().host.clone());
            b.handle_observation(&Observation::Exited {
                id: e.id(),
                code,
                stdout: String::new(),
                stderr: String::new(),
            });
        }
        seen
    }

    #[test]
    fn phases_run_in_order_and_a_failed_required_phase_skips_the_rest() {
        let mut b = Batch::new(vec![
            Phase { name: "lock", scripts: vec![vec![step("h1", "lock")]], required: true },
            Phase { name: "work", scripts: vec![vec![step("h1", "a")], vec![step("h2", "b")]], required: false },
        ]);
        assert_eq!(answer(&mut b, 1), vec!["h1"]);
        assert!(b.is_done());
        assert_eq!(b.skipped(), &["work"]);
        assert_eq!(b.results().len(), 1);

        let mut b = Batch::new(vec![
            Phase { name: "lock", scripts: vec![vec![step("h1", "lock")]], required: true },
            Phase {
                name: "work",
                scripts: vec![vec![step("h1", "a"), step("h1", "c")], vec![step("h2", "b")]],
                required: false,
            },
            Phase { name: "unlock", scripts: vec![vec![step("h1", "unlock")]], required: false },
        ]);
        assert_eq!(answer(&mut b, 0), vec!["h1", "h1", "h2", "h1", "h1"]);
        assert!(b.is_done());
        assert!(b.skipped().is_empty());
        assert_eq!(
            b.results().iter().map(|r| r.phase).collect::<Vec<_>>(),
            vec!["lock", "work", "work", "work", "unlock"]
        );
    }

    #[test]
    fn a_checked_failure_stops_only_its_script() {
        let mut b = Batch::new(vec![Phase {
            name: "work",
            scripts: vec![vec![step("h1", "a"), step("h1", "b")], vec![step("h2", "a").unchecked(), step("h2", "b")]],
            required: false,
        }]);
        let hosts = answer(&mut b, 1);
        assert_eq!(hosts, vec!["h1", "h2", "h2"]);
        assert!(b.is_done());
        assert!(!b.handle_observation(&Observation::ok(EffectId(99), "")), "unknown ids are refused");
    }
}
