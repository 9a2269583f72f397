//! The cut at "healthy" (`baton.cut_at: healthy`, the default) against the
//! simulated fleet: which path each handover takes, and that none opens a
//! serving gap. The exhaustive and property checks in baton-tests hold the
//! same over every ordering; these pin each path down by name.

use baton_core::config::{Config, Source};
use baton_core::effect::{Action, Event, Outcome};
use baton_core::failure::Why;
use baton_core::plan::{LockInfo, Plan};
use baton_core::sim::fleet::{Fault, FaultKind};
use baton_core::sim::{simulate, Scenario, Simulation};

const ROUTES: &str = "  routes: busybox wget -qO- http://127.0.0.1:8080/api/http/services\n";

fn plan(baton: &str) -> Plan {
    let text = format!(
        "service: app\nimage: app\nservers:\n  - h1\n  - h2\n  - h3\nregistry:\n  username: u\n  password: [P]\nhealthcheck:\n  interval: 1s\nbaton:\n  poll_interval: 250ms\n{baton}"
    );
    let cfg = Config::parse(Source { name: "config/deploy.yml", text: &text }, None).expect("config");
    let lock = LockInfo { holder: "Ada".into(), at_utc: "2026-11-27T10:00:00Z".into(), message: "m".into() };
    Plan::new(cfg, "v2", None, None, "deployer", lock).expect("plan")
}

fn run(baton: &str, jitter: u64, faults: Vec<Fault>, seed: u64) -> Simulation {
    let sc = Scenario { from: Some("v1".into()), seed, jitter: Some(jitter), faults, ..Scenario::default() };
    simulate(plan(baton), &sc)
}

fn count(sim: &Simulation, f: impl Fn(&Action) -> bool) -> usize {
    sim.run.effects.iter().filter(|(_, e)| f(&e.cmd().action)).count()
}

fn warned(sim: &Simulation, text: &str) -> usize {
    sim.run.events.iter().filter(|(_, e)| matches!(e, Event::Warning { message, .. } if message.contains(text))).count()
}

#[test]
fn with_a_quick_proxy_the_cut_comes_at_healthy_and_the_route_is_confirmed_after_it() {
    for seed in 0..50 {
        let sim = run(&format!("  proxy_pickup: 1s\n{ROUTES}"), 200, vec![], seed);
        assert_eq!(sim.run.outcome, Some(Outcome::Succeeded), "seed {seed}:\n{}", sim.run.trace.render());
        assert!(sim.report.gaps.is_empty(), "seed {seed}: {:?}", sim.report.gaps);
        assert_eq!(count(&sim, |a| matches!(a, Action::RetieCord { .. })), 0, "seed {seed}: nothing tied again");
        // On every host the cut comes before the first routes read.
        for h in ["h1", "h2", "h3"] {
            let at = |want: fn(&Action) -> bool| {
                sim.run.effects.iter().find(|(_, e)| e.cmd().host == h && want(&e.cmd().action)).map(|(t, _)| *t)
            };
            let cut = at(|a| matches!(a, Action::CutCord { .. })).expect("a cut");
            let routes = at(|a| matches!(a, Action::Routes)).expect("a routes read");
            assert!(cut <= routes, "seed {seed}, {h}: cut at {cut}, first routes read at {routes}");
        }
    }
}

#[test]
fn it_is_faster_than_the_sequential_order_with_and_without_route_confirmation() {
    for baton in [format!("  proxy_pickup: 1s\n{ROUTES}"), "  proxy_pickup: 1s\n".to_string()] {
        let (mut overlapped, mut sequential) = (0, 0);
        for seed in 0..20 {
            let a = run(&baton, 200, vec![], seed);
            let b = run(&format!("{baton}  cut_at: routed\n"), 200, vec![], seed);
            assert!(a.report.gaps.is_empty() && b.report.gaps.is_empty());
            overlapped += a.run.end;
            sequential += b.run.end;
        }
        println!("{baton:?}: overlapped {overlapped} ms, sequential {sequential} ms over 20 seeds");
        assert!(overlapped < sequential, "{baton:?}: {overlapped} vs {sequential}");
    }
}

#[test]
fn a_proxy_later_than_the_window_makes_the_cord_tied_again_and_the_handover_sequential() {
    let mut fell_back = 0;
    for seed in 0..50 {
        let sim = run(&format!("  proxy_pickup: 1s\n{ROUTES}"), 2500, vec![], seed);
        assert_eq!(sim.run.outcome, Some(Outcome::Succeeded), "seed {seed}:\n{}", sim.run.trace.render());
        assert!(sim.report.gaps.is_empty(), "seed {seed}: {:?}\n{}", sim.report.gaps, sim.run.trace.render());
        let retied = count(&sim, |a| matches!(a, Action::RetieCord { .. }));
        assert_eq!(retied, warned(&sim, "was tied again"), "seed {seed}: each tie is announced");
        fell_back += retied;
    }
    assert!(fell_back > 0, "a proxy up to 2.5 s late sometimes misses the window");
}

#[test]
fn a_proxy_that_never_routes_the_new_container_loses_no_request() {
    let faults = vec![Fault { host: "h2".into(), kind: FaultKind::Unrouted }];
    let sim = run(&format!("  proxy_pickup: 1s\n{ROUTES}"), 200, faults, 7);
    assert!(sim.report.gaps.is_empty(), "{:?}\n{}", sim.report.gaps, sim.run.trace.render());
    assert_eq!(count(&sim, |a| matches!(a, Action::RetieCord { .. })), 1, "h2's cord is tied again");
    let Some(Outcome::Failed { failures }) = &sim.run.outcome else { panic!("h2 fails") };
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].host, "h2");
    assert!(
        matches!(&failures[0].why, Why::CleanedUp { first, .. } if matches!(**first, Why::NeverRouted { .. })),
        "{:?}",
        failures[0].why
    );
}

#[test]
fn a_new_container_that_dies_after_the_cut_leaves_the_old_one_serving_again() {
    for baton in [format!("  proxy_pickup: 1s\n{ROUTES}"), "  proxy_pickup: 1s\n".to_string()] {
        let faults = vec![Fault { host: "h1".into(), kind: FaultKind::CrashAfter(3000) }];
        let sim = run(&baton, 200, faults, 3);
        let trace = sim.run.trace.render();
        assert_eq!(count(&sim, |a| matches!(a, Action::RetieCord { .. })), 1, "{trace}");
        let stops_of_v1 = count(&sim, |a| matches!(a, Action::Stop { name } if name == "app-web-v1"));
        assert_eq!(stops_of_v1, 2, "h2 and h3 stop v1; h1 keeps it: {trace}");
        let Some(Outcome::Failed { failures }) = &sim.run.outcome else { panic!("h1 fails: {trace}") };
        assert!(matches!(failures[0].why, Why::NewUnhealthyAfterCut { .. }), "{:?}", failures[0].why);
        // After the proxy notices the tie, h1 serves from v1 again.
        let h1 = &sim.fleet.hosts["h1"];
        let v1 = h1.containers.iter().find(|c| c.name == "app-web-v1").expect("v1");
        assert!(sim.fleet.proxy_routes("h1", v1, sim.run.end + 5000), "{trace}");
    }
}
