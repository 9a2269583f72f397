//! Drive a [`Deploy`] against something that answers its effects in virtual
//! time: a test's scripted responder, or the simulated fleet. No I/O, no
//! clock: time advances only to the next completion or deadline.

pub mod fleet;
pub mod report;

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
pub fn drive(deploy: Deploy, responder: &mut dyn Responder, start: Time, max_steps: usize, trace: Trace) -> Run {
    drive_with_interrupt(deploy, responder, start, max_steps, trace, None)
}

/// [`drive`], with the user's interrupt (Ctrl-C) arriving at `interrupt_at`.
pub fn drive_with_interrupt(
    mut deploy: Deploy,
    responder: &mut dyn Responder,
    start: Time,
    max_steps: usize,
    trace: Trace,
    mut interrupt_at: Option<Time>,
) -> Run {
    let mut trace = trace;
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
        if let Some(at) =
            interrupt_at.filter(|&at| next_obs.is_none_or(|o| at <= o) && next_timer.is_none_or(|t| at <= t))
        {
            now = now.max(at);
            interrupt_at = None;
            run.steps += 1;
            trace.note(now, "-", "", "SIGINT", "the user interrupts the deploy");
            deploy.handle_interrupt(now);
            continue;
        }
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

/// What to simulate besides the plan itself.
#[derive(Clone, Debug, Default)]
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
}

/// A finished simulation.
#[derive(Debug, Clone)]
pub struct Simulation {
    pub run: Run,
    pub fleet: fleet::Fleet,
    pub report: report::Report,
}

/// Build the simulated fleet a scenario starts from.
pub fn fleet_for(plan: &crate::plan::Plan, scenario: &Scenario) -> fleet::Fleet {
    use crate::commands as cmds;
    let cfg = &plan.config;
    let mut fleet = fleet::Fleet::new(&plan.hosts, scenario.seed);
    fleet.profiles = scenario.profiles.clone();
    if let Some(ms) = scenario.app_start {
        fleet.default_profile.start_ms = ms;
    }
    if scenario.pulled {
        for h in fleet.hosts.values_mut() {
            h.images.insert(plan.version.clone());
        }
    }
    fleet.faults = scenario.faults.clone();
    fleet.pickup = cfg.baton.proxy_pickup_ms;
    fleet.jitter = scenario.jitter.unwrap_or(cfg.baton.proxy_pickup_ms / 2);
    if let Some(v0) = &scenario.from {
        for host in &plan.hosts {
            for role in plan.roles_on(host) {
                let Some(r) = cfg.role(&role) else { continue };
                let iv = cfg.health_cmd(r).and(cfg.role_healthcheck(r)).map(|h| h.interval_ms);
                let cord = cfg.uses_cord(r).then(|| {
                    format!(
                        "{}/{}/cords/{}-{}",
                        fleet::HOME,
                        cfg.run_directory,
                        cfg.role_full_name(&role),
                        "0".repeat(32)
                    )
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
                    proxied: cfg.runs_traefik(r),
                    profile,
                    preexisting: true,
                };
                fleet.with_running(host, c);
            }
        }
    }
    fleet
}

/// A phase in 0..2^64 for a running container's health checks, from the seed.
fn phase(seed: u64, host: &str, role: &str) -> u64 {
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
    let mut fleet = fleet_for(&plan, scenario);
    let deploy = adjust(Deploy::new(plan, scenario.seed, 0));
    let trace = Trace::quiet_polls();
    let mut run = drive(deploy, &mut fleet, 0, 1_000_000, trace);
    let horizon = run.end + report::TAIL_MS;
    for (name, host) in &fleet.hosts {
        for c in host.containers.iter().filter(|c| c.proxied) {
            for (t, on) in fleet.proxy_changes(name, c, horizon) {
                if t <= run.end {
                    let text =
                        if on { format!("routes to {}", c.name) } else { format!("stops routing to {}", c.name) };
                    run.trace.note(t, name, &c.role, "proxy", &text);
                }
            }
        }
    }
    let report = report::Report::new(&run, &fleet);
    Simulation { run, fleet, report }
}
