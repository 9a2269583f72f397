//! Runs a deploy against the simulated fleet in virtual time, exactly as
//! [`baton_core::sim::drive`] does (the earliest completion or deadline
//! first, ties in issue order), with the [`Checker`] watching every step.
//! The property tests and the broken-variant tests use it.

use crate::check::{Bounds, Checker, Violation};
use baton_core::deploy::Deploy;
use baton_core::effect::{Effect, Event, Observation, Outcome};
use baton_core::plan::Plan;
use baton_core::sim::fleet::Fleet;
use baton_core::sim::{fleet_for, Responder, Scenario};
use baton_core::time::Time;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A checked run.
#[derive(Debug)]
pub struct Checked {
    pub outcome: Option<Outcome>,
    pub end: Time,
    pub steps: usize,
    pub effects: Vec<(Time, Effect)>,
    pub events: Vec<(Time, Event)>,
    pub fleet: Fleet,
    pub violations: Vec<Violation>,
    pub bounds: Bounds,
    pub excused_gaps: usize,
}

/// Simulate `plan` in `scenario` with the deploy adjusted by `adjust`
/// (identity for the real core), checking every invariant.
pub fn run_checked(plan: Plan, scenario: &Scenario, adjust: impl FnOnce(Deploy) -> Deploy) -> Checked {
    let mut fleet = fleet_for(&plan, scenario);
    let plan = Arc::new(plan);
    let bounds = Bounds::for_plan(&plan, &fleet);
    let mut checker = Checker::new(plan.clone(), &fleet, bounds);
    let mut deploy = adjust(Deploy::new((*plan).clone(), scenario.seed, 0));
    let mut now: Time = 0;
    let mut inbox: BTreeMap<(Time, u64), Observation> = BTreeMap::new();
    let mut seq = 0u64;
    let mut steps = 0usize;
    let mut effects = vec![];
    let mut events = vec![];
    let mut outcome = None;
    // Far past any bound: the checker reports the bound; this only stops a
    // runaway loop.
    let hard_stop = bounds.steps * 4 + 1000;
    loop {
        // Events first: an effect issued in the same step as a failure counts
        // as issued after it (the stricter reading).
        while let Some(ev) = deploy.poll_event() {
            checker.on_event(now, &ev);
            if let Event::Finished(o) = &ev {
                outcome = Some(o.clone());
            }
            events.push((now, ev));
        }
        while let Some(e) = deploy.poll_effect() {
            checker.on_effect(now, &e, &fleet);
            let (delay, obs) = fleet.answer(&e, now);
            inbox.insert((now + delay, seq), obs);
            seq += 1;
            effects.push((now, e));
        }
        if outcome.is_some() || steps >= hard_stop {
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
        steps += 1;
        if next_obs == Some(next) {
            let key = *inbox.keys().next().expect("checked above");
            let obs = inbox.remove(&key).expect("present");
            checker.on_observation(now, &obs);
            deploy.handle_observation(&obs, now);
        } else {
            deploy.handle_timeout(now);
        }
        checker.on_step(now, steps);
    }
    checker.finish(now, &fleet, inbox.len());
    Checked {
        outcome,
        end: now,
        steps,
        effects,
        events,
        fleet,
        violations: checker.violations().to_vec(),
        bounds,
        excused_gaps: checker.excused_gaps,
    }
}
