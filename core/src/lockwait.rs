//! Taking the deploy lock, and with `--lock-wait [TIMEOUT]` waiting for it.
//!
//! [`LockWait`] takes the lock on the primary host (`mkdir`, atomic). When
//! the `mkdir` fails it reads the lock's details to say who holds it.
//! Without a wait it then ends with [`Outcome::LockHeld`], as `app boot`
//! always did. With a wait it reports the holder once (a
//! [`Event::Warning`], again when the holder changes and at most every
//! [`REPORT_EVERY_MS`] while it waits) and tries again after
//! [`FIRST_RETRY_MS`], backing off by a second per attempt to
//! [`MAX_RETRY_MS`]; every wait is a [`Reason::LockRetry`] wake-up. Once the
//! wait has lasted TIMEOUT it ends with [`Outcome::LockHeld`], saying it
//! waited.
//!
//! An interrupt while it waits ends it at once with nothing taken
//! ([`Why::InterruptedWaitingForLock`]); an interrupt while a `mkdir` is in
//! flight waits for its answer: a lock it took is reported taken
//! ([`Outcome::Succeeded`]) so that the caller gives it back. A lost answer
//! to the `mkdir` (unreachable, timed out) keeps today's meaning: the lock
//! may be held now, [`Event::LockKept`] says so.
//!
//! It is the guard part of every locked [`crate::sequence::Sequence`]
//! started with a wait ([`crate::ops::lock_part`]), and `app boot`'s
//! [`crate::deploy::Deploy`] runs one for its locking phase.

use crate::batch::{Kind, Step, StepResult};
use crate::effect::{Action, Cmd, Effect, EffectId, Event, Observation, Outcome, Step as BootStep};
use crate::failure::{Failure, Said, Why};
use crate::machine::{Machine, Reason, Wake};
use crate::shell::Command;
use crate::time::{Millis, Time};
use std::collections::VecDeque;

/// `--lock-wait` without a value: wait this long (10 minutes).
pub const DEFAULT_LOCK_WAIT_MS: Millis = 10 * 60 * 1000;
/// The first retry comes this long after a failed attempt…
pub const FIRST_RETRY_MS: Millis = 2_000;
/// …each later one a second later than the one before, up to this.
pub const MAX_RETRY_MS: Millis = 5_000;
/// While waiting, say who holds the lock at most this often (and whenever
/// the holder changes).
pub const REPORT_EVERY_MS: Millis = 30_000;

/// How long to wait for a held lock, and how to read who holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockRetry {
    pub timeout_ms: Millis,
    /// Reads the lock's details (base64).
    pub read: Command,
}

/// A span as people write it: `10m`, `1m30s`, `45s`, `1.5s`.
pub fn fmt_span(ms: Millis) -> String {
    let (m, rest) = (ms / 60_000, ms % 60_000);
    let secs = match rest % 1000 {
        0 => format!("{}s", rest / 1000),
        _ => format!("{}s", crate::time::fmt_secs(rest).trim_end_matches('0')),
    };
    match (m, rest) {
        (0, _) => secs,
        (_, 0) => format!("{m}m"),
        _ => format!("{m}m{secs}"),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Asked {
    Acquire,
    Read,
}

/// Takes the deploy lock, waiting for it if asked to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockWait {
    /// The `mkdir` step (host, command, details).
    step: Step,
    read: Command,
    /// How long to wait for a held lock; None: do not wait.
    wait_ms: Option<Millis>,
    started: Time,
    now: Time,
    attempts: u32,
    in_flight: Option<(EffectId, Asked)>,
    retry_at: Option<Time>,
    /// What the last failed `mkdir` said, and its observation.
    last_try: Option<Observation>,
    /// The holder last reported, and when.
    reported: Option<(String, Time)>,
    next_id: u64,
    effects: VecDeque<Effect>,
    events: VecDeque<Event>,
    interrupted: bool,
    finished: bool,
}

impl LockWait {
    /// Take the lock with `step` (a [`Kind::Lock`] step) at `now`; who
    /// holds a held lock is read with `read`. `wait_ms`: wait that long for
    /// a held lock; None: end at once with [`Outcome::LockHeld`].
    pub fn new(step: Step, read: Command, wait_ms: Option<Millis>, now: Time) -> LockWait {
        let mut w = LockWait {
            step,
            read,
            wait_ms,
            started: now,
            now,
            attempts: 0,
            in_flight: None,
            retry_at: None,
            last_try: None,
            reported: None,
            next_id: 0,
            effects: VecDeque::new(),
            events: VecDeque::new(),
            interrupted: false,
            finished: false,
        };
        w.try_acquire();
        w
    }

    /// The lock's host (the primary host).
    pub fn host(&self) -> &str {
        &self.step.host
    }

    /// How many times the `mkdir` was issued so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The pause after the `n`th failed attempt (1-based): 2 s, 3 s, 4 s, then 5 s.
    pub fn pause_after(n: u32) -> Millis {
        (FIRST_RETRY_MS + 1000 * Millis::from(n.saturating_sub(1))).min(MAX_RETRY_MS)
    }

    fn issue(&mut self, asked: Asked) {
        let id = EffectId(self.next_id);
        self.next_id += 1;
        let (action, cmd) = match asked {
            Asked::Acquire => (self.step.action.clone(), self.step.cmd.clone()),
            Asked::Read => (Action::LockRead, self.read.clone()),
        };
        let c = Cmd { id, host: self.step.host.clone(), role: None, action, cmd, stdin: None };
        self.effects.push_back(if asked == Asked::Read { Effect::Poll(c) } else { Effect::RunCmd(c) });
        self.in_flight = Some((id, asked));
    }

    fn try_acquire(&mut self) {
        self.attempts += 1;
        self.retry_at = None;
        self.issue(Asked::Acquire);
    }

    fn finish(&mut self, outcome: Outcome) {
        self.finished = true;
        self.in_flight = None;
        self.retry_at = None;
        self.events.push_back(Event::Finished(outcome));
    }

    /// Report the final `mkdir` as a batch step does (the CLI reads it).
    fn step_done(&mut self, obs: &Observation) {
        let result = StepResult { phase: "lock", step: self.step.clone(), observation: obs.clone() };
        self.events.push_back(Event::StepDone(Box::new(result)));
    }

    fn fail(&mut self, why: Why) {
        let f = Failure::new(&self.step.host, None, BootStep::AcquireLock, why);
        self.events.push_back(Event::HostFailed(f.clone()));
        self.finish(Outcome::Failed { failures: vec![f] });
    }

    fn interrupted_waiting(&mut self) {
        let f = Failure::new(&self.step.host, None, BootStep::AcquireLock, Why::InterruptedWaitingForLock);
        self.finish(Outcome::Failed { failures: vec![f] });
    }

    fn on_acquire(&mut self, obs: &Observation) {
        match obs {
            Observation::Exited { code: 0, .. } => {
                self.step_done(obs);
                self.finish(Outcome::Succeeded);
            }
            // No step result: the CLI then reports the interrupt, not a held lock.
            Observation::Exited { .. } if self.interrupted && self.wait_ms.is_some() => self.interrupted_waiting(),
            Observation::Exited { .. } => {
                // Most likely another deploy holds the lock: read who.
                self.last_try = Some(obs.clone());
                self.issue(Asked::Read);
            }
            Observation::NotConnected { .. } => {
                // No connection was made: the command did not run, no lock was taken.
                self.step_done(obs);
                self.fail(Why::Command(Said::of(obs)));
            }
            Observation::Unreachable { .. } | Observation::TimedOut { .. } => {
                // The command may have run before the answer was lost.
                self.step_done(obs);
                let f = Failure::new(&self.step.host, None, BootStep::AcquireLock, Why::Command(Said::of(obs)));
                self.events.push_back(Event::HostFailed(f.clone()));
                self.events.push_back(Event::LockKept {
                    host: self.step.host.clone(),
                    reason: "the answer to taking the lock was lost, so the lock may be held now; check with `baton lock status` and release it with `baton lock release`".into(),
                });
                self.finish(Outcome::Failed { failures: vec![f] });
            }
        }
    }

    fn on_read(&mut self, obs: &Observation) {
        let tried = self.last_try.take().unwrap_or_else(|| obs.clone());
        let Observation::Exited { code: 0, stdout, .. } = obs else {
            let deadline = self.wait_ms.map(|w| self.started + w);
            if let Some(end) = deadline.filter(|&end| self.now < end && matches!(obs, Observation::Exited { .. })) {
                // Released between the `mkdir` and the read, or unreadable:
                // try again (a `mkdir` that fails for another reason fails
                // once the wait is over).
                self.last_try = Some(tried);
                self.retry_at = Some((self.now + LockWait::pause_after(self.attempts)).min(end));
                return;
            }
            // The lock cannot be read either: the `mkdir` failed for another reason.
            self.step_done(&tried);
            return self.fail(Why::Command(Said::of(&tried)));
        };
        let details = crate::ops::decode_lock_details(stdout);
        let Some(wait) = self.wait_ms else {
            self.step_done(&tried);
            return self.finish(Outcome::LockHeld { details });
        };
        let waited = self.now - self.started;
        if waited >= wait {
            self.step_done(&tried);
            self.events.push_back(Event::Warning {
                host: Some(self.step.host.clone()),
                message: format!(
                    "gave up waiting for the deploy lock after {} (--lock-wait {})",
                    fmt_span(waited),
                    fmt_span(wait)
                ),
            });
            return self.finish(Outcome::LockHeld { details });
        }
        if !details.is_empty() {
            // (Empty: released between the `mkdir` and the read, or not yet
            // written by its new holder: try again all the same.)
            self.report(&details, wait);
        }
        let pause = LockWait::pause_after(self.attempts);
        self.retry_at = Some((self.now + pause).min(self.started + wait));
    }

    /// Say who holds the lock: the first time, when the holder changes, and
    /// at most every [`REPORT_EVERY_MS`] otherwise.
    fn report(&mut self, details: &str, wait: Millis) {
        let holder = details.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ");
        let message = match &self.reported {
            None => format!(
                "waiting for the deploy lock held by {holder} (trying again every few seconds for up to {})",
                fmt_span(wait)
            ),
            Some((h, _)) if *h != holder => format!("the deploy lock changed hands; waiting for it, held by {holder}"),
            Some((_, at)) if self.now >= at + REPORT_EVERY_MS => format!(
                "still waiting for the deploy lock ({} of {}), held by {holder}",
                fmt_span(self.now - self.started),
                fmt_span(wait)
            ),
            Some(_) => return,
        };
        self.events.push_back(Event::Warning { host: Some(self.step.host.clone()), message });
        self.reported = Some((holder, self.now));
    }
}

impl Machine for LockWait {
    fn handle_observation(&mut self, obs: &Observation, now: Time) -> bool {
        self.now = self.now.max(now);
        match self.in_flight {
            Some((id, asked)) if id == obs.id() && !self.finished => {
                self.in_flight = None;
                match asked {
                    Asked::Acquire => self.on_acquire(obs),
                    Asked::Read => self.on_read(obs),
                }
                true
            }
            _ => false,
        }
    }

    fn handle_timeout(&mut self, now: Time) {
        self.now = self.now.max(now);
        if self.retry_at.is_some_and(|at| at <= self.now) && !self.finished {
            self.try_acquire();
        }
    }

    /// Waiting (or reading who holds the lock): end now, nothing taken. A
    /// `mkdir` in flight is waited for: it may take the lock.
    fn handle_interrupt(&mut self, now: Time) {
        self.now = self.now.max(now);
        if self.interrupted || self.finished {
            return;
        }
        self.interrupted = true;
        match self.in_flight {
            Some((_, Asked::Acquire)) => {}
            // Without a wait, the read ends the run anyway (as it always did).
            Some((_, Asked::Read)) if self.wait_ms.is_none() => {}
            _ => self.interrupted_waiting(),
        }
    }

    fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Wake> {
        let at = self.retry_at.filter(|_| !self.finished)?;
        Some(Wake { at, reason: Reason::LockRetry, host: Some(self.step.host.clone()), role: None })
    }

    fn is_finished(&self) -> bool {
        self.finished
    }

    fn state_notes(&self) -> Vec<(String, String)> {
        match self.in_flight {
            Some((_, Asked::Acquire)) => vec![(
                self.step.host.clone(),
                format!("the deploy lock may or may not have been taken: {}", self.step.cmd.render()),
            )],
            _ => vec![],
        }
    }
}

impl LockWait {
    /// The machine for a lock step that asks to wait ([`Step::lock_wait`]),
    /// started at `now`; None for any other step.
    pub fn from_step(step: &Step, now: Time) -> Option<LockWait> {
        let retry = step.lock_wait.clone().filter(|_| step.kind == Kind::Lock)?;
        Some(LockWait::new(step.clone(), retry.read, Some(retry.timeout_ms), now))
    }
}

#[cfg(test)]
#[path = "lockwait_tests.rs"]
mod tests;
