//! Runs a deploy against the simulated fleet in virtual time through the
//! core's one driver ([`baton_core::driver::Driver`], the same that `baton
//! plan` uses), with the [`Checker`] watching every step. The property
//! tests and the broken-variant tests use it.

use crate::check::{Bounds, Checker, Violation};
use baton_core::deploy::Deploy;
use baton_core::driver::{Answer, Driver, Responder};
use baton_core::effect::{Effect, Event, Observation, Outcome};
use baton_core::plan::Plan;
use baton_core::sim::fleet::Fleet;
use baton_core::sim::{fleet_for, Scenario};
use baton_core::time::Time;
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

/// The simulated fleet, answering, with the checker watching.
#[derive(Clone)]
pub struct Watched {
    pub fleet: Fleet,
    pub checker: Checker,
}

impl Responder for Watched {
    fn answer(&mut self, effect: &Effect, now: Time) -> Answer {
        self.fleet.answer(effect, now)
    }
    fn on_effect(&mut self, now: Time, effect: &Effect) {
        self.checker.on_effect(now, effect, &self.fleet);
    }
    fn on_event(&mut self, now: Time, event: &Event) {
        self.checker.on_event(now, event);
    }
    fn on_observation(&mut self, now: Time, obs: &Observation) {
        self.checker.on_observation(now, obs);
    }
    fn on_interrupt(&mut self, now: Time) {
        self.checker.on_interrupt(now);
    }
    fn on_step(&mut self, now: Time, steps: usize) {
        self.checker.on_step(now, steps);
    }
}

/// Simulate `plan` in `scenario` with the deploy adjusted by `adjust`
/// (identity for the real core), checking every invariant.
pub fn run_checked(plan: Plan, scenario: &Scenario, adjust: impl FnOnce(Deploy) -> Deploy) -> Checked {
    let fleet = fleet_for(&plan, scenario);
    let plan = Arc::new(plan);
    let bounds = Bounds::for_plan(&plan, &fleet);
    let checker = Checker::new(plan.clone(), &fleet, bounds);
    let mut world = Watched { fleet, checker };
    let mut driver = Driver::new(adjust(Deploy::new((*plan).clone(), scenario.seed, 0)), 0, &mut world);
    // Far past any bound: the checker reports the bound; this only stops a
    // runaway loop.
    driver.drive_bounded(&mut world, bounds.steps * 4 + 1000);
    let Watched { fleet, mut checker } = world;
    checker.finish(driver.now, &fleet, driver.in_flight());
    Checked {
        outcome: driver.outcome,
        end: driver.now,
        steps: driver.steps,
        effects: driver.effects,
        events: driver.events,
        fleet,
        violations: checker.violations().to_vec(),
        bounds,
        excused_gaps: checker.excused_gaps,
    }
}
