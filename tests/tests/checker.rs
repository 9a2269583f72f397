//! The checker itself: each invariant fires on a hand-written run that
//! breaks it, and stays quiet on the same run done right. (The broken core
//! variants in `broken.rs` show the same for a real, wrong handover.)

use baton_core::effect::{Action, Cmd, Effect, EffectId, Event, Failure, Observation, Outcome, Step};
use baton_core::failure::Why;
use baton_core::shell::Command;
use baton_core::sim::fleet::Fleet;
use baton_core::sim::fleet_for;
use baton_core::time::Time;
use baton_tests::check::{Bounds, Checker, Invariant};
use baton_tests::fixtures::{scenario, Shape};
use std::sync::Arc;

const CORD: &str = "/home/deploy/.kamal/cords/app-web-00000000000000000000000000000000";

struct Run {
    checker: Checker,
    fleet: Fleet,
    next: u64,
}

impl Run {
    /// Two hosts running v1 of `web`; the plan boots v2.
    fn new() -> Run {
        let plan = Shape::new(2).plan("v2");
        let fleet = fleet_for(&plan, &scenario(Some("v1"), 1));
        let bounds = Bounds::for_plan(&plan, &fleet);
        Run { checker: Checker::new(Arc::new(plan), &fleet, bounds), fleet, next: 0 }
    }

    fn effect(&mut self, t: Time, host: &str, role: Option<&str>, action: Action) -> EffectId {
        let id = EffectId(self.next);
        self.next += 1;
        let c = Cmd {
            id,
            host: host.into(),
            role: role.map(str::to_string),
            action,
            cmd: Command::program("true"),
            stdin: None,
        };
        self.checker.on_effect(t, &Effect::RunCmd(c), &self.fleet);
        id
    }

    fn ok(&mut self, t: Time, id: EffectId, out: &str) {
        self.checker.on_observation(t, &Observation::ok(id, out));
    }

    fn event(&mut self, t: Time, ev: Event) {
        self.checker.on_event(t, &ev);
    }

    fn fired(&self) -> Vec<Invariant> {
        self.checker.violations().iter().map(|v| v.invariant).collect()
    }

    /// h1's new web container becomes healthy and the old one's cord is cut
    /// and seen unhealthy at 5 s; returns nothing fired so far.
    fn handover_until_unhealthy(&mut self) {
        let run = self.effect(
            0,
            "h1",
            Some("web"),
            Action::RunContainer {
                name: "app-web-v2".into(),
                version: "v2".into(),
                cord_dir: None,
                health_interval_ms: Some(1000),
                proxied: true,
            },
        );
        self.ok(100, run, "abc\n");
        let st = self.effect(100, "h1", Some("web"), Action::Status { name: "app-web-v2".into() });
        self.ok(200, st, "running healthy\n");
        let cut = self.effect(3000, "h1", Some("web"), Action::CutCord { dir: CORD.into() });
        self.ok(3100, cut, "");
        let st = self.effect(5000, "h1", Some("web"), Action::Status { name: "app-web-v1".into() });
        self.ok(5000, st, "running unhealthy\n");
        assert!(self.fired().is_empty(), "{:?}", self.checker.violations());
    }
}

#[test]
fn safe_stop_fires_on_a_stop_before_the_pickup_delay() {
    let mut r = Run::new();
    r.handover_until_unhealthy();
    r.effect(5500, "h1", Some("web"), Action::Stop { name: "app-web-v1".into() });
    assert_eq!(r.fired(), vec![Invariant::SafeStop]);

    let mut r = Run::new();
    r.handover_until_unhealthy();
    r.effect(6000, "h1", Some("web"), Action::Stop { name: "app-web-v1".into() });
    assert!(r.fired().is_empty(), "{:?}", r.checker.violations());
}

#[test]
fn safe_stop_fires_on_a_stop_without_the_cord_cut() {
    let mut r = Run::new();
    let st = r.effect(100, "h2", Some("web"), Action::Status { name: "app-web-v2".into() });
    r.ok(200, st, "running healthy\n");
    r.effect(9000, "h2", Some("web"), Action::Stop { name: "app-web-v1".into() });
    assert_eq!(r.fired(), vec![Invariant::SafeStop]);
    assert!(r.checker.violations()[0].detail.contains("was not cut"), "{:?}", r.checker.violations());
}

#[test]
fn safe_stop_fires_on_a_stop_before_the_new_container_is_ready() {
    let mut r = Run::new();
    r.effect(0, "h2", Some("web"), Action::Stop { name: "app-web-v1".into() });
    assert!(r.fired().contains(&Invariant::SafeStop));
}

#[test]
fn stray_effects_fire_after_a_failure_or_an_unreachable_host() {
    let mut r = Run::new();
    let f = Failure {
        host: "h2".into(),
        role: Some("web".into()),
        step: Some(Step::RunNew),
        why: Why::Unreadable("boom".into()),
    };
    r.event(1000, Event::HostFailed(f));
    // Cleanup of the new container is allowed; anything else is not.
    r.effect(1100, "h2", Some("web"), Action::Stop { name: "app-web-v2".into() });
    assert!(r.fired().is_empty());
    r.effect(1200, "h2", Some("web"), Action::ListContainers);
    assert_eq!(r.fired(), vec![Invariant::NoStrayEffects]);
    // Other hosts carry on.
    r.effect(1200, "h1", Some("web"), Action::ListContainers);
    assert_eq!(r.fired().len(), 1);

    let mut r = Run::new();
    let id = r.effect(0, "h1", Some("web"), Action::ListContainers);
    r.checker.on_observation(10, &Observation::Unreachable { id, error: "gone".into() });
    r.effect(20, "h1", Some("web"), Action::Stop { name: "app-web-v2".into() });
    assert_eq!(r.fired(), vec![Invariant::NoStrayEffects]);
}

#[test]
fn lock_fires_on_a_release_after_a_failure_and_on_a_silent_held_lock() {
    let mut r = Run::new();
    let f = Failure {
        host: "h2".into(),
        role: Some("web".into()),
        step: Some(Step::RunNew),
        why: Why::Unreadable("boom".into()),
    };
    r.event(1000, Event::HostFailed(f.clone()));
    r.effect(2000, "h1", None, Action::LockRelease);
    assert!(r.fired().contains(&Invariant::Lock), "{:?}", r.checker.violations());

    // Failed, the lock is ours and held, and nobody is told.
    let mut r = Run::new();
    let id = r.effect(0, "h1", None, Action::LockAcquire { details: "bG9jaw==".into() });
    r.fleet.hosts.get_mut("h1").expect("h1").lock = Some("bG9jaw==".into());
    r.ok(10, id, "");
    r.event(1000, Event::HostFailed(f.clone()));
    r.event(1000, Event::Finished(Outcome::Failed { failures: vec![f.clone()] }));
    let fleet = r.fleet.clone();
    r.checker.finish(1000, &fleet, 0);
    assert_eq!(r.fired(), vec![Invariant::Lock]);

    // The same, told.
    let mut r = Run::new();
    let id = r.effect(0, "h1", None, Action::LockAcquire { details: "bG9jaw==".into() });
    r.fleet.hosts.get_mut("h1").expect("h1").lock = Some("bG9jaw==".into());
    r.ok(10, id, "");
    r.event(1000, Event::HostFailed(f.clone()));
    r.event(1000, Event::LockKept { host: "h1".into(), reason: "failed".into() });
    r.event(1000, Event::Finished(Outcome::Failed { failures: vec![f] }));
    let fleet = r.fleet.clone();
    r.checker.finish(1000, &fleet, 0);
    assert!(r.fired().is_empty(), "{:?}", r.checker.violations());
}

#[test]
fn accounted_fires_on_a_new_container_nobody_names() {
    let mut r = Run::new();
    let id = r.effect(
        0,
        "h2",
        Some("web"),
        Action::RunContainer {
            name: "app-web-v2".into(),
            version: "v2".into(),
            cord_dir: None,
            health_interval_ms: Some(1000),
            proxied: true,
        },
    );
    let e = Effect::RunCmd(Cmd {
        id,
        host: "h2".into(),
        role: Some("web".into()),
        action: Action::RunContainer {
            name: "app-web-v2".into(),
            version: "v2".into(),
            cord_dir: None,
            health_interval_ms: Some(1000),
            proxied: true,
        },
        cmd: Command::program("true"),
        stdin: None,
    });
    r.fleet.respond(&e, 0);
    let f = Failure {
        host: "h2".into(),
        role: Some("web".into()),
        step: Some(Step::WaitHealthy),
        why: Why::Unreadable("slow".into()),
    };
    r.event(9000, Event::HostFailed(f.clone()));
    r.event(9000, Event::LockKept { host: "h1".into(), reason: "failed".into() });
    r.event(9000, Event::Finished(Outcome::Failed { failures: vec![f] }));
    let fleet = r.fleet.clone();
    r.checker.finish(9000, &fleet, 0);
    assert!(r.fired().contains(&Invariant::Accounted), "{:?}", r.checker.violations());
}

#[test]
fn termination_fires_over_the_bound_and_on_a_run_that_never_finishes() {
    let mut r = Run::new();
    let b = r.checker.bounds();
    r.checker.on_step(b.time, b.steps);
    assert!(r.fired().is_empty());
    r.checker.on_step(b.time + 1, b.steps);
    assert_eq!(r.fired(), vec![Invariant::Termination]);

    let mut r = Run::new();
    let fleet = r.fleet.clone();
    r.checker.finish(100, &fleet, 0);
    assert_eq!(r.fired(), vec![Invariant::Termination]);

    // Finished, with a command still running.
    let mut r = Run::new();
    let id = r.effect(0, "h1", None, Action::LockAcquire { details: "bG9jaw==".into() });
    r.fleet.hosts.get_mut("h1").expect("h1").lock = Some("bG9jaw==".into());
    r.ok(10, id, "");
    r.effect(10, "h1", None, Action::PrepareImage { version: "v2".into() });
    let f =
        Failure { host: "h2".into(), role: None, step: Some(Step::PrepareImage), why: Why::Unreadable("boom".into()) };
    r.event(20, Event::HostFailed(f.clone()));
    r.event(20, Event::LockKept { host: "h1".into(), reason: "failed".into() });
    r.event(20, Event::Finished(Outcome::Failed { failures: vec![f] }));
    let fleet = r.fleet.clone();
    r.checker.finish(20, &fleet, 1);
    assert_eq!(r.fired(), vec![Invariant::Termination]);
}
