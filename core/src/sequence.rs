//! Machines run one after another as one machine: how a command made of
//! several steps under one lock is built (`deploy` will be lock → build →
//! health check → boot → prune → unlock).
//!
//! Each part is a [`Machine`]. A part that succeeds starts the next. A part
//! that fails (or is interrupted) ends the sequence: the parts after it are
//! skipped, except `finally` parts (the lock release), which run unless
//! the lock was never taken (a `guard` part failed) or a part said it keeps
//! the lock on purpose ([`Event::LockKept`], as a failed boot does). The
//! parts' effects are numbered as one run; their events pass through, but
//! for their own [`Event::Finished`]: the sequence reports one outcome.

use crate::effect::{Effect, EffectId, Event, Observation, Outcome};
use crate::failure::{Failure, Why};
use crate::machine::{Machine, Wake};
use crate::time::Time;
use std::collections::{BTreeMap, VecDeque};

type Boxed = Box<dyn Machine + Send>;

/// A part's machine: built up front, or when the part starts (from the
/// time it starts: a hook's `KAMAL_RUNTIME`, a boot's clock).
enum Body {
    Ready(Boxed),
    Later(Box<dyn FnOnce(Time) -> Boxed + Send>),
}

/// One part of a [`Sequence`].
pub struct Part {
    body: Body,
    /// Without this part's success nothing else may run, not even the
    /// `finally` parts (taking the lock).
    pub guard: bool,
    /// Runs even after a failure or an interrupt (releasing the lock).
    pub finally: bool,
}

impl Part {
    pub fn new(machine: impl Machine + Send + 'static) -> Part {
        Part { body: Body::Ready(Box::new(machine)), guard: false, finally: false }
    }
    /// A part whose machine is made when the part starts, at that time.
    pub fn later<M: Machine + Send + 'static>(make: impl FnOnce(Time) -> M + Send + 'static) -> Part {
        let make: Box<dyn FnOnce(Time) -> Boxed + Send> = Box::new(move |now| Box::new(make(now)) as Boxed);
        Part { body: Body::Later(make), guard: false, finally: false }
    }
    pub fn guard(self) -> Part {
        Part { guard: true, ..self }
    }
    pub fn finally(self) -> Part {
        Part { finally: true, ..self }
    }
}

/// The part that runs now.
struct Running {
    machine: Boxed,
    guard: bool,
}

/// Runs parts in order as one machine.
pub struct Sequence {
    parts: VecDeque<Part>,
    current: Option<Running>,
    /// The latest time the sequence was given: when the next part starts.
    now: Time,
    /// The sequence's effect id → (the part's own id).
    ids: BTreeMap<EffectId, EffectId>,
    next_id: u64,
    events: VecDeque<Event>,
    /// The first outcome that was not a success, if any.
    failed: Option<Outcome>,
    interrupted: bool,
    lock_kept: bool,
    /// A part was skipped.
    skipped: bool,
    finished: bool,
}

impl Sequence {
    pub fn new(parts: Vec<Part>) -> Sequence {
        let mut s = Sequence {
            parts: parts.into(),
            current: None,
            now: 0,
            ids: BTreeMap::new(),
            next_id: 0,
            events: VecDeque::new(),
            failed: None,
            interrupted: false,
            lock_kept: false,
            skipped: false,
            finished: false,
        };
        s.next_part();
        s
    }

    /// Start the next part that should run, or finish.
    fn next_part(&mut self) {
        while let Some(p) = self.parts.pop_front() {
            let stopped = self.failed.is_some() || self.interrupted;
            let runs_anyway = p.finally && !self.lock_kept;
            if stopped && !runs_anyway {
                self.skipped = true;
                continue;
            }
            let machine = match p.body {
                Body::Ready(m) => m,
                Body::Later(make) => make(self.now),
            };
            self.current = Some(Running { machine, guard: p.guard });
            self.collect();
            if self.current.is_some() {
                return;
            }
        }
        self.finish();
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        let outcome = match self.failed.take() {
            Some(o) => o,
            None if self.interrupted && self.skipped => {
                let why = Why::Interrupted { not_booted: vec![] };
                Outcome::Failed { failures: vec![Failure { host: "-".into(), role: None, step: None, why }] }
            }
            None => Outcome::Succeeded,
        };
        self.events.push_back(Event::Finished(outcome));
    }

    /// Take the current part's events; move on when it has finished.
    fn collect(&mut self) {
        let Some(part) = self.current.as_mut() else { return };
        let mut ended = None;
        while let Some(ev) = part.machine.poll_event() {
            match ev {
                Event::Finished(o) => ended = Some(o),
                Event::LockKept { .. } => {
                    self.lock_kept = true;
                    self.events.push_back(ev);
                }
                other => self.events.push_back(other),
            }
        }
        let Some(outcome) = ended else { return };
        let Some(part) = self.current.take() else { return };
        if outcome != Outcome::Succeeded {
            if part.guard {
                // Nothing was taken, so there is nothing to give back.
                self.lock_kept = true;
            }
            if self.failed.is_none() {
                self.failed = Some(outcome);
            }
        }
        self.next_part();
    }
}

impl Machine for Sequence {
    fn handle_observation(&mut self, obs: &Observation, now: Time) -> bool {
        self.now = self.now.max(now);
        let Some(local) = self.ids.remove(&obs.id()) else { return false };
        let Some(part) = self.current.as_mut() else { return false };
        let known = part.machine.handle_observation(&obs.with_id(local), now);
        self.collect();
        known
    }

    fn handle_timeout(&mut self, now: Time) {
        self.now = self.now.max(now);
        if let Some(part) = self.current.as_mut() {
            part.machine.handle_timeout(now);
        }
        self.collect();
    }

    fn handle_interrupt(&mut self, now: Time) {
        if self.interrupted || self.finished {
            return;
        }
        self.interrupted = true;
        self.now = self.now.max(now);
        if let Some(part) = self.current.as_mut() {
            part.machine.handle_interrupt(now);
        }
        self.collect();
    }

    fn poll_effect(&mut self) -> Option<Effect> {
        let e = self.current.as_mut()?.machine.poll_effect()?;
        let id = EffectId(self.next_id);
        self.next_id += 1;
        self.ids.insert(id, e.id());
        Some(e.with_id(id))
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Wake> {
        self.current.as_ref()?.machine.poll_timeout()
    }

    fn is_finished(&self) -> bool {
        self.finished
    }

    fn state_notes(&self) -> Vec<(String, String)> {
        self.current.as_ref().map(|p| p.machine.state_notes()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Batch, Kind, Phase, Step};
    use crate::shell::Command;

    fn phase(name: &'static str, host: &str, kind: Kind) -> Phase {
        let step = Step::run(host, None, name, Command::program(name)).with_kind(kind);
        Phase { name, scripts: vec![vec![step]], required: kind == Kind::Lock, finally: false }
    }

    fn locked(work: Vec<Phase>) -> Sequence {
        Sequence::new(vec![
            Part::new(Batch::new(vec![phase("lock", "h1", Kind::Lock)])).guard(),
            Part::new(Batch::new(work)),
            Part::new(Batch::new(vec![phase("unlock", "h1", Kind::Unlock)])).finally(),
        ])
    }

    /// Answer every effect with `code` for commands named in `fail`, else 0;
    /// returns the commands run and the outcome.
    fn run(mut s: Sequence, fail: &[&str], interrupt_after: Option<usize>) -> (Vec<String>, Option<Outcome>) {
        let (mut ran, mut outcome) = (vec![], None);
        let mut n = 0;
        loop {
            while let Some(ev) = s.poll_event() {
                if let Event::Finished(o) = ev {
                    outcome = Some(o);
                }
            }
            let Some(e) = s.poll_effect() else { break };
            let name = e.cmd().cmd.render();
            let code = if fail.contains(&name.as_str()) { 1 } else { 0 };
            ran.push(name);
            n += 1;
            if interrupt_after == Some(n) {
                s.handle_interrupt(n as Time);
            }
            let obs = Observation::Exited { id: e.id(), code, stdout: String::new(), stderr: String::new() };
            assert!(s.handle_observation(&obs, n as Time));
        }
        assert!(s.is_finished());
        (ran, outcome)
    }

    #[test]
    fn parts_run_in_order_with_one_numbering() {
        let (ran, outcome) = run(locked(vec![phase("a", "h1", Kind::Work), phase("b", "h2", Kind::Work)]), &[], None);
        assert_eq!(ran, vec!["lock", "a", "b", "unlock"]);
        assert_eq!(outcome, Some(Outcome::Succeeded));
    }

    #[test]
    fn a_failed_guard_skips_everything_and_an_interrupt_still_releases_the_lock() {
        let (ran, outcome) = run(locked(vec![phase("a", "h1", Kind::Work)]), &["lock"], None);
        assert_eq!(ran, vec!["lock"], "no lock taken: nothing runs, nothing is released");
        assert!(matches!(outcome, Some(Outcome::Failed { .. })));

        let (ran, outcome) =
            run(locked(vec![phase("a", "h1", Kind::Work), phase("b", "h1", Kind::Work)]), &[], Some(2));
        assert_eq!(ran, vec!["lock", "a", "unlock"], "b never starts; the lock is released");
        let Some(Outcome::Failed { failures }) = outcome else { panic!("an interrupted run fails") };
        assert!(failures.iter().all(|f| f.why.is_interrupt()), "{failures:?}");
    }

    #[test]
    fn a_part_that_keeps_the_lock_is_not_followed_by_the_release() {
        struct Keeps(bool);
        impl Machine for Keeps {
            fn handle_observation(&mut self, _: &Observation, _: Time) -> bool {
                false
            }
            fn handle_timeout(&mut self, _: Time) {}
            fn handle_interrupt(&mut self, _: Time) {}
            fn poll_effect(&mut self) -> Option<Effect> {
                None
            }
            fn poll_event(&mut self) -> Option<Event> {
                if self.0 {
                    return None;
                }
                self.0 = true;
                Some(Event::LockKept { host: "h1".into(), reason: "failed".into() })
            }
            fn poll_timeout(&self) -> Option<Wake> {
                None
            }
            fn is_finished(&self) -> bool {
                self.0
            }
        }
        // Keeps reports LockKept but never Finished: give it a Finished too.
        struct Ends(Keeps, bool);
        impl Machine for Ends {
            fn handle_observation(&mut self, o: &Observation, t: Time) -> bool {
                self.0.handle_observation(o, t)
            }
            fn handle_timeout(&mut self, _: Time) {}
            fn handle_interrupt(&mut self, _: Time) {}
            fn poll_effect(&mut self) -> Option<Effect> {
                None
            }
            fn poll_event(&mut self) -> Option<Event> {
                self.0.poll_event().or_else(|| {
                    (!self.1).then(|| {
                        self.1 = true;
                        Event::Finished(Outcome::Failed { failures: vec![] })
                    })
                })
            }
            fn poll_timeout(&self) -> Option<Wake> {
                None
            }
            fn is_finished(&self) -> bool {
                self.1
            }
        }
        let s = Sequence::new(vec![
            Part::new(Batch::new(vec![phase("lock", "h1", Kind::Lock)])).guard(),
            Part::new(Ends(Keeps(false), false)),
            Part::new(Batch::new(vec![phase("unlock", "h1", Kind::Unlock)])).finally(),
        ]);
        let (ran, outcome) = run(s, &[], None);
        assert_eq!(ran, vec!["lock"], "the lock stays held");
        assert!(matches!(outcome, Some(Outcome::Failed { .. })));
    }
}
