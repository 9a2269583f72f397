//! Commands other than `app boot` (lock, env push, and the other `app`
//! commands) as a sans-IO [`Machine`]: phases of per-host scripts.
//!
//! A phase runs a script on each of its hosts at once; a script runs its
//! steps one after the other and stops at a failing step that is `checked`.
//! The next phase starts when every script of this one is over. A failed
//! phase marked `required` skips every phase after it (the lock phase of a
//! mutating command: without the lock, nothing runs, and there is nothing
//! to release).
//!
//! Interrupted (Ctrl-C), a batch issues no new step: the steps in flight
//! complete, the rest of the current phase and the later phases are
//! skipped, except the phases marked `finally` (the lock release), which
//! run as usual. Every step that did not run is reported.

use crate::effect::{Action, Cmd, Effect, EffectId, Event, Observation, Outcome, Stdin};
use crate::failure::{Failure, Said, Why};
use crate::machine::{Machine, Wake};
use crate::shell::Command;
use crate::time::Time;
use std::collections::{BTreeMap, VecDeque};

/// What a step is for, so that callers tell the lock and audit steps from
/// the work without reading labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Lock,
    Unlock,
    Audit,
    Work,
}

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
    pub kind: Kind,
    /// A lock step that waits for a held lock (`--lock-wait`): run by a
    /// [`crate::lockwait::LockWait`] instead of a batch.
    pub lock_wait: Option<crate::lockwait::LockRetry>,
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
            kind: Kind::Work,
            lock_wait: None,
        }
    }
    pub fn poll(host: &str, role: Option<&str>, label: &'static str, cmd: Command) -> Step {
        Step { poll: true, ..Step::run(host, role, label, cmd) }
    }
    /// A failure of this step is reported but does not stop the script.
    pub fn unchecked(self) -> Step {
        Step { checked: false, ..self }
    }
    /// A secret on standard input (a password): the journal says only
    /// that there was one.
    pub fn with_stdin(self, bytes: Vec<u8>) -> Step {
        Step { stdin: Some(Stdin { bytes, file: false }), ..self }
    }
    /// A file's contents on standard input (an env file, an uploaded
    /// file): the journal records its size, never its bytes.
    pub fn with_file(self, bytes: Vec<u8>) -> Step {
        Step { stdin: Some(Stdin { bytes, file: true }), ..self }
    }
    pub fn with_action(self, action: Action) -> Step {
        Step { action, ..self }
    }
    pub fn with_kind(self, kind: Kind) -> Step {
        Step { kind, ..self }
    }
}

/// A set of scripts that run at once, one per host.
#[derive(Clone, Debug, Default)]
pub struct Phase {
    pub name: &'static str,
    pub scripts: Vec<Vec<Step>>,
    /// When this phase fails, every later phase is skipped.
    pub required: bool,
    /// Runs even after an interrupt (the lock release).
    pub finally: bool,
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
#[derive(Clone, Debug)]
pub struct Batch {
    phases: VecDeque<Phase>,
    current: Option<&'static str>,
    current_required: bool,
    /// Steps still to run, per script of the current phase.
    queues: Vec<VecDeque<Step>>,
    pending: BTreeMap<EffectId, (usize, Step)>,
    effects: VecDeque<Effect>,
    events: VecDeque<Event>,
    results: Vec<StepResult>,
    phase_failed: bool,
    /// A checked step failed somewhere.
    failures: Vec<Failure>,
    skipped: Vec<&'static str>,
    /// Steps that never ran because of an interrupt.
    not_run: Vec<Step>,
    interrupted: bool,
    finished: bool,
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
            events: VecDeque::new(),
            results: vec![],
            phase_failed: false,
            failures: vec![],
            skipped: vec![],
            not_run: vec![],
            interrupted: false,
            finished: false,
            next_id: 0,
        };
        b.next_phase();
        b
    }

    fn next_phase(&mut self) {
        while let Some(p) = self.phases.pop_front() {
            if self.interrupted && !p.finally {
                self.not_run.extend(p.scripts.into_iter().flatten());
                self.skipped.push(p.name);
                continue;
            }
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
        self.finish();
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        let mut failures = self.failures.clone();
        if self.interrupted {
            // Per host, in order, the labels of the steps that did not run.
            let mut hosts: Vec<(&str, Vec<String>)> = vec![];
            for s in &self.not_run {
                let at = match hosts.iter().position(|(h, _)| *h == s.host) {
                    Some(i) => i,
                    None => {
                        hosts.push((&s.host, vec![]));
                        hosts.len() - 1
                    }
                };
                if !hosts[at].1.iter().any(|l| l == s.label) {
                    hosts[at].1.push(s.label.to_string());
                }
            }
            failures.extend(hosts.into_iter().map(|(h, steps)| Failure {
                host: h.to_string(),
                role: None,
                step: None,
                why: Why::NotRun { steps },
            }));
        }
        let outcome = if failures.is_empty() && self.skipped.is_empty() {
            Outcome::Succeeded
        } else {
            Outcome::Failed { failures }
        };
        self.events.push_back(Event::Finished(outcome));
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

    pub fn results(&self) -> &[StepResult] {
        &self.results
    }

    /// Phases skipped because a required phase failed, or because of an interrupt.
    pub fn skipped(&self) -> &[&'static str] {
        &self.skipped
    }

    /// Steps that never ran because of an interrupt.
    pub fn not_run(&self) -> &[Step] {
        &self.not_run
    }

    pub fn is_done(&self) -> bool {
        self.finished
    }
}

impl Machine for Batch {
    fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// A batch never waits on time.
    fn poll_timeout(&self) -> Option<Wake> {
        None
    }

    fn handle_timeout(&mut self, _now: Time) {}

    fn is_finished(&self) -> bool {
        self.finished
    }

    /// Record what came of an effect; false for an unknown id.
    fn handle_observation(&mut self, obs: &Observation, _now: Time) -> bool {
        let Some((i, step)) = self.pending.remove(&obs.id()) else {
            return false;
        };
        let ok = matches!(obs, Observation::Exited { code: 0, .. });
        let checked = step.checked;
        let result = StepResult { phase: self.current.unwrap_or(""), step, observation: obs.clone() };
        self.events.push_back(Event::StepDone(Box::new(result.clone())));
        if ok && result.step.kind == Kind::Unlock {
            self.events.push_back(Event::LockReleased { host: result.step.host.clone() });
        }
        if !ok && checked && result.step.kind != Kind::Lock {
            let s = &result.step;
            let why = match &s.action {
                Action::Hook { name } => Why::Hook { name: name.clone(), said: Said::of(obs) },
                _ => Why::StepFailed { step: s.label.to_string(), said: Said::of(obs) },
            };
            self.failures.push(Failure { host: s.host.clone(), role: s.role.clone(), step: None, why });
        }
        self.results.push(result);
        if self.interrupted {
            self.not_run.extend(self.queues[i].drain(..));
        } else if ok || !checked {
            self.issue(i);
        } else {
            self.phase_failed = true;
            self.queues[i].clear();
        }
        if self.pending.is_empty() {
            if self.current_required && self.phase_failed {
                self.skipped = self.phases.drain(..).map(|p| p.name).collect();
                if let Some(lock) = self.results.last().filter(|r| r.step.kind == Kind::Lock) {
                    let s = &lock.step;
                    let why = Why::Command(Said::of(&lock.observation));
                    self.failures.push(Failure { host: s.host.clone(), role: None, step: None, why });
                }
            }
            self.next_phase();
        }
        true
    }

    /// Issue no new step; let those in flight complete; run the `finally`
    /// phases (the lock release) as usual.
    fn handle_interrupt(&mut self, _now: Time) {
        if self.interrupted || self.finished {
            return;
        }
        self.interrupted = true;
        self.events.push_back(Event::Warning {
            host: None,
            message:
                "interrupted: the commands in flight finish, nothing else starts (press Ctrl-C again to abort at once)"
                    .into(),
        });
        for q in &mut self.queues {
            self.not_run.extend(q.drain(..));
        }
        if self.pending.is_empty() {
            self.next_phase();
        }
    }

    fn state_notes(&self) -> Vec<(String, String)> {
        self.pending
            .values()
            .map(|(_, s)| (s.host.clone(), format!("{} may or may not have run: {}", s.label, s.cmd.render())))
            .collect()
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
            b.handle_observation(
                &Observation::Exited { id: e.id(), code, stdout: String::new(), stderr: String::new() },
                0,
            );
        }
        seen
    }

    #[test]
    fn phases_run_in_order_and_a_failed_required_phase_skips_the_rest() {
        let mut b = Batch::new(vec![
            Phase { name: "lock", scripts: vec![vec![step("h1", "lock")]], required: true, finally: false },
            Phase {
                name: "work",
                scripts: vec![vec![step("h1", "a")], vec![step("h2", "b")]],
                required: false,
                finally: false,
            },
        ]);
        assert_eq!(answer(&mut b, 1), vec!["h1"]);
        assert!(b.is_done());
        assert_eq!(b.skipped(), &["work"]);
        assert_eq!(b.results().len(), 1);

        let mut b = Batch::new(vec![
            Phase { name: "lock", scripts: vec![vec![step("h1", "lock")]], required: true, finally: false },
            Phase {
                name: "work",
                scripts: vec![vec![step("h1", "a"), step("h1", "c")], vec![step("h2", "b")]],
                required: false,
                finally: false,
            },
            Phase { name: "unlock", scripts: vec![vec![step("h1", "unlock")]], required: false, finally: true },
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
            finally: false,
        }]);
        let hosts = answer(&mut b, 1);
        assert_eq!(hosts, vec!["h1", "h2", "h2"]);
        assert!(b.is_done());
        assert!(!b.handle_observation(&Observation::ok(EffectId(99), ""), 0), "unknown ids are refused");
    }

    #[test]
    fn an_interrupt_lets_steps_in_flight_finish_and_runs_only_the_finally_phases() {
        let mut b = Batch::new(vec![
            Phase { name: "lock", scripts: vec![vec![step("h1", "lock")]], required: true, finally: false },
            Phase {
                name: "work",
                scripts: vec![vec![step("h1", "a"), step("h1", "c")], vec![step("h2", "b")]],
                required: false,
                finally: false,
            },
            Phase { name: "more", scripts: vec![vec![step("h2", "d")]], required: false, finally: false },
            Phase { name: "unlock", scripts: vec![vec![step("h1", "unlock")]], required: false, finally: true },
        ]);
        let lock = b.poll_effect().expect("the lock step");
        b.handle_observation(&Observation::ok(lock.id(), ""), 0);
        let a = b.poll_effect().expect("a");
        let bb = b.poll_effect().expect("b");
        b.handle_interrupt(1);
        assert!(b.poll_effect().is_none(), "nothing new starts while a and b are in flight");
        b.handle_observation(&Observation::ok(a.id(), ""), 2);
        assert!(b.poll_effect().is_none(), "c does not start after an interrupt");
        b.handle_observation(&Observation::ok(bb.id(), ""), 3);
        let unlock = b.poll_effect().expect("the lock is released");
        assert_eq!(unlock.cmd().host, "h1");
        b.handle_observation(&Observation::ok(unlock.id(), ""), 4);
        assert!(b.is_finished());
        assert_eq!(b.not_run().len(), 2, "c and d did not run");
        assert_eq!(b.skipped(), &["more"]);
        let mut finished = None;
        while let Some(ev) = b.poll_event() {
            if let Event::Finished(o) = ev {
                finished = Some(o);
            }
        }
        let Some(Outcome::Failed { failures }) = finished else { panic!("an interrupted batch fails") };
        assert!(failures.iter().all(|f| matches!(f.why, Why::NotRun { .. })));
        assert_eq!(failures.iter().map(|f| f.host.as_str()).collect::<Vec<_>>(), vec!["h1", "h2"]);
    }
}
