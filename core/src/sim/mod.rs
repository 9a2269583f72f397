//! Drive a [`Deploy`] against something that answers its effects in virtual
//! time: a test's scripted responder, or the simulated fleet. No I/O, no
//! clock: time advances only to the next completion or deadline.

use crate::deploy::Deploy;
use crate::effect::{Effect, Event, Observation, Outcome};
use crate::time::{Millis, Time};
use crate::trace::Trace;
use std::collections::BTreeMap;

/// Answers effects the way hosts would.
pub trait Responder {
    /// Answer `effect`, issued at `now`: the observation and how long it takes.
    fn answer(&mut self, effect: &Effect, now: Time) -> (Millis, Observation);
}

/// The result of a driven run.
#[derive(Debug, Clone)]
pub struct Run {
    pub outcome: Option<Outcome>,
    pub end: Time,
    pub trace: Trace,
    pub events: Vec<(Time, Event)>,
    pub effects: Vec<(Time, Effect)>,
    /// Steps taken (inputs given to the machine).
    pub steps: usize,
}

/// Run `deploy` to its end (or `max_steps` inputs) against `responder`,
/// starting at `start`.
pub fn drive(mut deploy: Deploy, responder: &mut dyn Responder, start: Time, max_steps: usize, progress: bool) -> Run {
    let mut trace = Trace::new();
    trace.progress = progress;
    let mut now = start;
    // (time, sequence) → observation, so equal times keep issue order.
    let mut inbox: BTreeMap<(Time, u64), Observation> = BTreeMap::new();
    let mut seq = 0u64;
    let mut run = Run { outcome: None, end: start, trace: Trace::new(), events: vec![], effects: vec![], steps: 0 };
    loop {
        while let Some(e) = deploy.poll_effect() {
            trace.effect(now, &e);
            let (delay, obs) = responder.answer(&e, now);
            inbox.insert((now + delay, seq), obs);
            seq += 1;
            run.effects.push((now, e));
        }
        while let Some(ev) = deploy.poll_event() {
            trace.event(now, &ev);
            if let Event::Finished(o) = &ev {
                run.outcome = Some(o.clone());
            }
            run.events.push((now, ev));
        }
        if run.outcome.is_some() || run.steps >= max_steps {
            break;
        }
        let next_obs = inbox.keys().next().map(|k| k.0);
        let next_timer = deploy.poll_timeout();
        let next = match (next_obs, next_timer) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => break,
        };
        now = now.max(next);
        run.steps += 1;
        if next_obs == Some(next) {
            let key = *inbox.keys().next().expect("checked above");
            let obs = inbox.remove(&key).expect("present");
            trace.observation(now, &obs);
            deploy.handle_observation(&obs, now);
        } else {
            deploy.handle_timeout(now);
        }
    }
    run.end = now;
    run.trace = trace;
    run
}
