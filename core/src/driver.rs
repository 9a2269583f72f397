//! The one driver: runs any [`Machine`] against a [`Responder`] in virtual
//! time, as quinn-proto's test `Pair` drives two connections. `baton plan`,
//! the simulator, the checked (timed) runs, the exhaustive explorer and the
//! core's snapshot tests all use it, so they order a step alike:
//!
//! 1. an input: an observation, a due deadline, or the user's interrupt;
//! 2. then drain the machine: every event first, then every effect. Events
//!    come first so that an effect issued in the same step as a failure
//!    counts as issued after it (the stricter reading for the checker).
//!
//! [`Driver::step`] picks the next input itself: the earliest answer or
//! deadline (an answer first on a tie, answers in the order they were
//! issued), with an interrupt scheduled at a time taking precedence. The
//! explorer instead picks inputs itself ([`Driver::deliver`],
//! [`Driver::advance`], [`Driver::interrupt`]) and answers commands when it
//! delivers them ([`Answer::Held`]).
//!
//! No I/O and no clock: time moves only to the next answer or deadline.

use crate::effect::{Effect, Event, Observation, Outcome};
use crate::machine::{Machine, Wake};
use crate::time::{Millis, Time};
use std::collections::BTreeMap;

/// What a responder does with an effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The observation, arriving this long after the effect was issued.
    After(Millis, Observation),
    /// The responder answers later, through [`Driver::deliver`].
    Held,
}

/// Answers effects the way hosts would, and watches the run: every hook
/// has a default that does nothing (the trace and the checker use them).
pub trait Responder {
    /// Answer `effect`, issued at `now`.
    fn answer(&mut self, effect: &Effect, now: Time) -> Answer;
    /// An effect was issued (before it is answered).
    fn on_effect(&mut self, _now: Time, _effect: &Effect) {}
    /// The machine reported an event.
    fn on_event(&mut self, _now: Time, _event: &Event) {}
    /// An observation is about to be given to the machine.
    fn on_observation(&mut self, _now: Time, _obs: &Observation) {}
    /// A deadline came due and the machine is woken for it.
    fn on_wake(&mut self, _now: Time, _wake: &Wake) {}
    /// The user interrupts.
    fn on_interrupt(&mut self, _now: Time) {}
    /// One input was given and the machine drained; `steps` inputs so far.
    fn on_step(&mut self, _now: Time, _steps: usize) {}
}

/// A machine being driven, with the answers it waits for.
#[derive(Clone, Debug)]
pub struct Driver<M> {
    pub machine: M,
    pub now: Time,
    /// (arrival time, issue order) → answer.
    inbox: BTreeMap<(Time, u64), Observation>,
    seq: u64,
    /// Inputs given so far.
    pub steps: usize,
    /// When the user presses Ctrl-C, if a test or plan says so.
    pub interrupt_at: Option<Time>,
    pub outcome: Option<Outcome>,
    /// Everything issued and reported, with the time.
    pub effects: Vec<(Time, Effect)>,
    pub events: Vec<(Time, Event)>,
}

impl<M: Machine> Driver<M> {
    /// Drive `machine` from time `start`; what it issued at construction is
    /// drained at once.
    pub fn new(machine: M, start: Time, responder: &mut dyn Responder) -> Driver<M> {
        let mut d = Driver {
            machine,
            now: start,
            inbox: BTreeMap::new(),
            seq: 0,
            steps: 0,
            interrupt_at: None,
            outcome: None,
            effects: vec![],
            events: vec![],
        };
        d.drain(responder);
        d
    }

    /// True once the machine reported how it ended.
    pub fn finished(&self) -> bool {
        self.outcome.is_some()
    }

    /// Answers scheduled and not yet given to the machine.
    pub fn in_flight(&self) -> usize {
        self.inbox.len()
    }

    /// Every event, then every effect, the machine has to give.
    pub fn drain(&mut self, r: &mut dyn Responder) {
        let now = self.now;
        while let Some(ev) = self.machine.poll_event() {
            r.on_event(now, &ev);
            if let Event::Finished(o) = &ev {
                self.outcome = Some(o.clone());
            }
            self.events.push((now, ev));
        }
        while let Some(e) = self.machine.poll_effect() {
            r.on_effect(now, &e);
            if let Answer::After(delay, obs) = r.answer(&e, now) {
                self.inbox.insert((now + delay, self.seq), obs);
                self.seq += 1;
            }
            self.effects.push((now, e));
        }
    }

    fn input_done(&mut self, r: &mut dyn Responder) {
        self.steps += 1;
        self.drain(r);
        r.on_step(self.now, self.steps);
    }

    /// Give the machine `obs` now.
    pub fn deliver(&mut self, obs: &Observation, r: &mut dyn Responder) {
        r.on_observation(self.now, obs);
        self.machine.handle_observation(obs, self.now);
        self.input_done(r);
    }

    /// Move time to `to` (never back) and let due deadlines act.
    pub fn advance(&mut self, to: Time, r: &mut dyn Responder) {
        self.now = self.now.max(to);
        if let Some(w) = self.machine.poll_timeout().filter(|w| w.at <= self.now) {
            r.on_wake(self.now, &w);
        }
        self.machine.handle_timeout(self.now);
        self.input_done(r);
    }

    /// The user presses Ctrl-C now.
    pub fn interrupt(&mut self, r: &mut dyn Responder) {
        r.on_interrupt(self.now);
        self.machine.handle_interrupt(self.now);
        self.input_done(r);
    }

    /// One input, the earliest due: false when the run is over or nothing
    /// can happen any more.
    pub fn step(&mut self, r: &mut dyn Responder) -> bool {
        if self.finished() {
            return false;
        }
        let next_obs = self.inbox.keys().next().map(|k| k.0);
        let next_timer = self.machine.poll_timeout().map(|w| w.at);
        if let Some(at) =
            self.interrupt_at.filter(|&at| next_obs.is_none_or(|o| at <= o) && next_timer.is_none_or(|t| at <= t))
        {
            self.now = self.now.max(at);
            self.interrupt_at = None;
            self.interrupt(r);
            return true;
        }
        match (next_obs, next_timer) {
            (Some(o), t) if t.is_none_or(|t| o <= t) => {
                let key = *self.inbox.keys().next().expect("an answer is due");
                let obs = self.inbox.remove(&key).expect("present");
                self.now = self.now.max(o);
                self.deliver(&obs, r);
            }
            (_, Some(t)) => self.advance(t, r),
            (None, None) => return false,
            (Some(_), None) => unreachable!("covered by the first arm"),
        }
        true
    }

    /// Step until the run is over, nothing can happen, or `max_steps`
    /// inputs were given.
    pub fn drive_bounded(&mut self, r: &mut dyn Responder, max_steps: usize) {
        while self.steps < max_steps && self.step(r) {}
    }
}
