//! Run a machine against something that answers its effects in virtual
//! time (a test's scripted responder, or the simulated fleet) through the
//! one [`crate::driver::Driver`], keeping a [`Trace`]. No I/O, no clock.

pub mod calibrate;
pub mod compact;
pub mod doc;
pub mod events;
mod faults;
pub mod fleet;
pub mod lanes;
mod local;
pub mod report;
pub mod summary;

use crate::deploy::Deploy;
use crate::driver::Driver;
pub use crate::driver::{Answer, Responder};
use crate::effect::{Effect, Event, Observation, Outcome};
use crate::machine::{Machine, Wake};
use crate::time::{Millis, Time};
use crate::trace::Trace;
use std::collections::BTreeMap;

/// The result of a driven run.
#[derive(Debug, Clone)]
pub struct Run {
    pub outcome: Option<Outcome>,
    pub end: Time,
    pub trace: Trace,
    pub events: Vec<(Time, Event)>,
    pub effects: Vec<(Time, Effect)>,
    /// Every answer, when it was given to the machine.
    pub observations: Vec<(Time, Observation)>,
    /// Steps taken (inputs given to the machine).
    pub steps: usize,
}

/// A responder that also writes the run into a trace, and keeps every
/// answer it passes on.
pub struct Traced<'a> {
    pub inner: &'a mut dyn Responder,
    pub trace: &'a mut Trace,
    pub observations: Vec<(Time, Observation)>,
}

impl Responder for Traced<'_> {
    fn answer(&mut self, effect: &Effect, now: Time) -> Answer {
        self.inner.answer(effect, now)
    }
    fn on_effect(&mut self, now: Time, effect: &Effect) {
        self.trace.effect(now, effect);
        self.inner.on_effect(now, effect);
    }
    fn on_event(&mut self, now: Time, event: &Event) {
        self.trace.event(now, event);
        self.inner.on_event(now, event);
    }
    fn on_observation(&mut self, now: Time, obs: &Observation) {
        self.trace.observation(now, obs);
        self.observations.push((now, obs.clone()));
        self.inner.on_observation(now, obs);
    }
    fn on_wake(&mut self, now: Time, wake: &Wake) {
        self.trace.wake(now, wake);
        self.inner.on_wake(now, wake);
    }
    fn on_interrupt(&mut self, now: Time) {
        self.trace.note(now, "-", "", "SIGINT", "the user interrupts the deploy");
        self.inner.on_interrupt(now);
    }
    fn on_step(&mut self, now: Time, steps: usize) {
        self.inner.on_step(now, steps);
    }
}

/// Run `machine` to its end (or `max_steps` inputs) against `responder`,
/// starting at `start`.
pub fn drive<M: Machine>(
    machine: M,
    responder: &mut dyn Responder,
    start: Time,
    max_steps: usize,
    trace: Trace,
) -> Run {
    drive_with_interrupt(machine, responder, start, max_steps, trace, None)
}

/// [`drive`], with the user's interrupt (Ctrl-C) arriving at `interrupt_at`.
pub fn drive_with_interrupt<M: Machine>(
    machine: M,
    responder: &mut dyn Responder,
    start: Time,
    max_steps: usize,
    mut trace: Trace,
    interrupt_at: Option<Time>,
) -> Run {
    let mut traced = Traced { inner: responder, trace: &mut trace, observations: vec![] };
    let mut d = Driver::new(machine, start, &mut traced);
    d.interrupt_at = interrupt_at;
    d.drive_bounded(&mut traced, max_steps);
    let observations = std::mem::take(&mut traced.observations);
    Run { outcome: d.outcome, end: d.now, trace, events: d.events, effects: d.effects, observations, steps: d.steps }
}

/// What to simulate besides the plan itself.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The version every host runs before the boot (as a previous deploy left it).
    pub from: Option<String>,
    pub faults: Vec<fleet::Fault>,
    pub seed: u64,
    /// Per-version behaviour; versions not listed start in 1.2 s and stop in 0.3 s.
    pub profiles: BTreeMap<String, fleet::Profile>,
    /// Proxy jitter; None = half the pickup delay.
    pub jitter: Option<Millis>,
    /// How long the app takes to answer after its container starts, for
    /// versions without a profile; None = 1.2 s.
    pub app_start: Option<Millis>,
    /// Every host already has the image of the version booted (no pull).
    pub pulled: bool,
    /// How long building and pushing the image takes here (`deploy`);
    /// None = 30 s.
    pub build: Option<Millis>,
    /// A stopped container of this version on every host and role, as an
    /// earlier deploy left it (what `rollback` goes back to).
    pub stopped: Option<String>,
    /// The fleet as `plan --live` read it: per host and role what runs,
    /// the lock, the hosts that could not be reached.
    pub live: Option<crate::live::state::LiveState>,
    /// Command times (measured, or from journals); None: the built-in ones.
    pub costs: Option<fleet::Costs>,
    /// How long `docker stop` takes (measured); None: 0.3 s.
    pub app_stop: Option<Millis>,
    /// Where `costs` come from (see [`doc::Assumptions::figures`]).
    pub figures: &'static str,
    /// The version each (host, role) ran before, as a recorded run read it
    /// (`replay`); the summary's `from`.
    pub before: BTreeMap<(String, String), String>,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            from: None,
            faults: vec![],
            seed: 0,
            profiles: BTreeMap::new(),
            jitter: None,
            app_start: None,
            pulled: false,
            build: None,
            stopped: None,
            live: None,
            costs: None,
            app_stop: None,
            figures: "built-in",
            before: BTreeMap::new(),
        }
    }
}

impl Scenario {
    /// The version `role` runs on `host` before the run: as read
    /// (`--live`), else `--from`.
    pub fn from_on(&self, host: &str, role: &str) -> Option<String> {
        match &self.live {
            Some(l) => l.from_version(host, role),
            None => self.before.get(&(host.to_string(), role.to_string())).cloned().or_else(|| self.from.clone()),
        }
    }
}

/// A finished simulation.
#[derive(Debug, Clone)]
pub struct Simulation {
    pub run: Run,
    pub fleet: fleet::Fleet,
    pub report: report::Report,
    /// What the simulated fleet did on its own: containers starting and
    /// exiting, health turning, the proxy starting and stopping routing.
    pub fleet_events: Vec<events::FleetEvent>,
}

/// Build the simulated fleet a scenario starts from: the plan's hosts,
/// the lock's, and every accessory's.
pub fn fleet_for(plan: &crate::plan::Plan, scenario: &Scenario) -> fleet::Fleet {
    use crate::commands as cmds;
    let cfg = &plan.config;
    let mut hosts = plan.contacted_hosts();
    // `setup` also checks and boots the accessories, on hosts that may run no role.
    for h in crate::server::hosts(plan) {
        if !hosts.contains(&h) {
            hosts.push(h);
        }
    }
    let mut fleet = fleet::Fleet::new(&hosts, scenario.seed);
    fleet.profiles = scenario.profiles.clone();
    if let Some(c) = &scenario.costs {
        fleet.costs = c.clone();
    }
    if let Some(ms) = scenario.app_stop {
        fleet.default_profile.stop_ms = ms;
    }
    if let Some(ms) = scenario.app_start {
        fleet.default_profile.start_ms = ms;
    }
    if let Some(ms) = scenario.build {
        fleet.costs.build = ms;
    }
    if scenario.pulled {
        for h in fleet.hosts.values_mut() {
            h.images.insert(plan.version.clone());
        }
    }
    fleet.faults = scenario.faults.clone();
    fleet.pickup = cfg.baton.proxy_pickup_ms;
    fleet.jitter = scenario.jitter.unwrap_or(cfg.baton.proxy_pickup_ms / 2);
    if let Some(v) = &scenario.stopped {
        add_stopped(&mut fleet, plan, v);
    }
    if let Some(live) = &scenario.live {
        live.seed_fleet(&mut fleet, plan, scenario.seed);
    }
    if let Some(v0) = &scenario.from {
        for host in &plan.hosts {
            for role in plan.roles_on(host) {
                let Some(r) = cfg.role(&role) else { continue };
                let iv = r.spec.health_interval_ms();
                let cord = r.spec.uses_cord.then(|| {
                    let dir = cmds::CordDir::new(cfg, &role, &"0".repeat(32)).path;
                    format!("{}/{dir}", fleet::HOME)
                });
                let profile = fleet.profiles.get(v0).cloned().unwrap_or_else(|| fleet.default_profile.clone());
                let c = fleet::Container {
                    name: cmds::container_name(cfg, &role, v0),
                    role: role.clone(),
                    version: v0.clone(),
                    started: 0,
                    stop_issued: None,
                    exited: None,
                    health_iv: iv,
                    // Its checks run at some phase of their own.
                    first_check_after: iv.map_or(0, |iv| 1 + phase(scenario.seed, host, &role) % iv),
                    cord_dir: cord,
                    proxied: r.spec.proxied,
                    profile,
                    preexisting: true,
                    as_read: None,
                };
                fleet.with_running(host, c);
            }
        }
    }
    fleet
}

/// A stopped container of `version` for every host and role of `plan`.
fn add_stopped(fleet: &mut fleet::Fleet, plan: &crate::plan::Plan, version: &str) {
    let cfg = &plan.config;
    for host in &plan.hosts {
        for role in plan.roles_on(host) {
            let Some(r) = cfg.role(&role) else { continue };
            let h = fleet.hosts.entry(host.clone()).or_default();
            h.images.insert(version.to_string());
            h.containers.push(fleet::Container {
                name: cmds_name(plan, &role, version),
                role: role.clone(),
                version: version.to_string(),
                started: 0,
                stop_issued: Some(0),
                exited: Some(0),
                health_iv: r.spec.health_interval_ms(),
                first_check_after: 0,
                cord_dir: None,
                proxied: r.spec.proxied,
                profile: fleet.default_profile.clone(),
                preexisting: true,
                as_read: None,
            });
        }
    }
}

fn cmds_name(plan: &crate::plan::Plan, role: &str, version: &str) -> String {
    crate::commands::container_name(&plan.config, role, version)
}

/// A phase in 0..2^64 for a running container's health checks, from the seed.
pub(crate) fn phase(seed: u64, host: &str, role: &str) -> u64 {
    let mut h = seed ^ 0x51_7cc1_b727_220a;
    for b in host.bytes().chain([0]).chain(role.bytes()) {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    crate::rng::Rng::new(h).next_u64()
}

/// Simulate `app boot` of `plan` in `scenario`; the timeline includes the
/// proxy's routing changes.
pub fn simulate(plan: crate::plan::Plan, scenario: &Scenario) -> Simulation {
    simulate_with(plan, scenario, |d| d)
}

/// [`simulate`], with the deploy adjusted before it runs (tests use this to
/// run deliberately broken variants).
pub fn simulate_with(
    plan: crate::plan::Plan,
    scenario: &Scenario,
    adjust: impl FnOnce(Deploy) -> Deploy,
) -> Simulation {
    let deploy = adjust(Deploy::new(plan.clone(), scenario.seed, 0));
    simulate_machine(&plan, scenario, deploy)
}

/// Simulate any machine over `plan`'s fleet in `scenario` (`deploy`,
/// `rollback`… as sequences); the timeline includes the proxy's routing
/// changes.
pub fn simulate_machine<M: Machine>(plan: &crate::plan::Plan, scenario: &Scenario, machine: M) -> Simulation {
    let mut fleet = fleet_for(plan, scenario);
    let trace = Trace::quiet_polls();
    let mut run = drive(machine, &mut fleet, 0, 1_000_000, trace);
    let fleet_events = events::fleet_events(&fleet, run.end);
    for e in &fleet_events {
        if let events::FleetChange::Proxy { routes } = e.change {
            let text =
                if routes { format!("routes to {}", e.container) } else { format!("stops routing to {}", e.container) };
            run.trace.note(e.at_ms, &e.host, &e.role, "proxy", &text);
        }
    }
    let report = report::Report::new(&run, &fleet);
    Simulation { run, fleet, report, fleet_events }
}
