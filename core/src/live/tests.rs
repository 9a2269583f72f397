use super::*;
use crate::config::{Config, Source};
use crate::effect::Outcome;
use crate::plan::LockInfo;
use crate::sim::events::FleetChange;
use crate::sim::fleet::StaleTarget;
use crate::sim::fleet::{Fault, FaultKind, Fleet, When};
use crate::sim::report::{Gap, GapKind};
use crate::sim::{drive, simulate, Scenario};
use crate::trace::Trace;
use state::TableCheck;

fn plan(version: &str) -> Plan {
    let text = "service: app\nimage: app\nservers:\n  - h1\n  - h2\n  - h3\nregistry:\n  username: u\n  password: [P]\ntraefik:\n  args:\n    api.insecure: true\nbaton:\n  routes: traefik\n";
    let cfg = Config::parse(Source { name: "config/deploy.yml", text }, None).expect("config");
    let lock = LockInfo { holder: "Ada".into(), at_utc: "2026-12-02T06:10:00Z".into(), message: "m".into() };
    Plan::new(cfg, version, None, None, "ada", lock).expect("plan")
}

const BOB: &str = "Locked by: Bob at 2026-12-02T06:00:00Z\nVersion: v9\nMessage: manual";

/// h1 runs v2, h2 and h3 run v1, h2 also has a stopped v0; Bob holds the
/// lock on h1; h3 cannot be reached.
fn mixed_fleet(p: &Plan) -> Fleet {
    let mut fleet = crate::sim::fleet_for(p, &Scenario { from: Some("v1".into()), ..Scenario::default() });
    let h1 = fleet.hosts.get_mut("h1").expect("h1");
    h1.containers[0].name = "app-web-v2".into();
    h1.containers[0].version = "v2".into();
    h1.lock = Some(crate::ops::lock_details_b64("Bob", "2026-12-02T06:00:00Z", "v9", "manual"));
    let mut stopped = fleet.hosts["h2"].containers[0].clone();
    stopped.name = "app-web-v0".into();
    stopped.version = "v0".into();
    stopped.exited = Some(0);
    stopped.stop_issued = Some(0);
    fleet.hosts.get_mut("h2").expect("h2").containers.insert(0, stopped);
    fleet.faults.push(Fault { host: "h3".into(), kind: FaultKind::Unreachable(When::Always) });
    fleet
}

fn names(f: &Fleet) -> Vec<(String, String, Option<u64>)> {
    f.hosts.iter().flat_map(|(h, x)| x.containers.iter().map(move |c| (h.clone(), c.name.clone(), c.exited))).collect()
}

fn survey(p: &Plan, fleet: &mut Fleet) -> (LiveState, crate::sim::Run) {
    let s = Survey::new(p);
    let mut d = crate::driver::Driver::new(s, 0, fleet);
    d.drive_bounded(fleet, 10_000);
    let state = d.machine.state().clone();
    let run = drive(Survey::new(p), &mut mixed_fleet(p), 0, 10_000, Trace::quiet_polls());
    (state, run)
}

#[test]
fn the_survey_only_reads() {
    let p = plan("v3");
    let mut fleet = mixed_fleet(&p);
    let (before, lock_before) = (names(&fleet), fleet.hosts["h1"].lock.clone());
    let (_, run) = survey(&p, &mut fleet);
    assert_eq!(run.outcome, Some(Outcome::Succeeded));
    assert!(!run.effects.is_empty());
    for (_, e) in &run.effects {
        assert!(e.is_poll(), "a survey issues reads only: {e:?}");
        let c = e.cmd();
        let read = matches!(
            c.action,
            Action::Other
                | Action::LockRead
                | Action::ListContainers
                | Action::Status { .. }
                | Action::Mounts { .. }
                | Action::Addresses { .. }
                | Action::Routes
        );
        assert!(read, "not a read: {:?}", c.action);
        let line = c.cmd.render();
        let first = line.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
        let allowed = [
            "true",
            "cat .kamal/lock-app/details",
            "docker ps --all",
            "docker inspect --format",
            "docker image inspect",
        ];
        assert!(
            allowed.iter().any(|a| first.starts_with(a)) || c.action == Action::Routes,
            "not a read command: {line}"
        );
    }
    assert_eq!(names(&fleet), before, "no container changed");
    assert_eq!(fleet.hosts["h1"].lock, lock_before, "the lock is as it was");
}

#[test]
fn the_survey_sees_versions_the_lock_and_a_host_down() {
    let p = plan("v3");
    let (state, _) = survey(&p, &mut mixed_fleet(&p));
    assert_eq!(state.from_version("h1", "web").as_deref(), Some("v2"));
    assert_eq!(state.from_version("h2", "web").as_deref(), Some("v1"));
    assert_eq!(state.from_version("h3", "web"), None);
    assert_eq!(state.unreachable(), vec!["h3"]);
    let h2 = &state.hosts["h2"];
    assert_eq!(
        h2.containers.iter().map(|c| (c.version.as_str(), c.state.as_str())).collect::<Vec<_>>(),
        [("v1", "running"), ("v0", "exited")]
    );
    assert_eq!(h2.containers[0].health.as_deref(), Some("healthy"));
    assert!(h2.containers[0].cord.as_deref().is_some_and(|c| c.contains("cords/app-web")), "{h2:?}");
    assert!(h2.routes.as_ref().is_some_and(|r| r.contains_key("app-web")), "{h2:?}");
    let lock = state.lock.as_ref().expect("held");
    assert_eq!((lock.host.as_str(), lock.details.as_str()), ("h1", BOB));
    assert!(state.samples.first.len() == 2 && !state.samples.inspect.is_empty());
}

#[test]
fn the_plan_from_what_was_read_shows_each_host_as_it_is() {
    let p = plan("v3");
    let (mut state, _) = survey(&p, &mut mixed_fleet(&p));
    let scenario = Scenario { live: Some(state.clone()), seed: 1, ..Scenario::default() };
    let sim = simulate(p.clone(), &scenario);
    assert!(matches!(sim.run.outcome, Some(Outcome::LockHeld { .. })), "{:?}", sim.run.outcome);
    let rows = crate::sim::summary::rows(&p, &scenario, &sim.run, &sim.report);
    let from: Vec<Option<&str>> = rows.iter().map(|r| r.from.as_deref()).collect();
    assert_eq!(from, [Some("v2"), Some("v1"), None]);
    // Without the lock: h3 (down) fails the image step, so, as in a real
    // run, nothing boots.
    state.lock = None;
    let scenario = Scenario { live: Some(state), seed: 1, ..Scenario::default() };
    let sim = simulate(p.clone(), &scenario);
    let rows = crate::sim::summary::rows(&p, &scenario, &sim.run, &sim.report);
    let outcomes: Vec<_> = rows.iter().map(|r| r.outcome.as_str()).collect();
    assert_eq!(outcomes, ["not started", "not started", "FAILED"], "{rows:#?}");
    assert!(rows[2].error.as_deref().is_some_and(|e| e.contains("Connection refused")), "{:?}", rows[2].error);
}

/// Every host runs v1, routed, and answers; nobody holds the lock: the
/// survey of that.
fn steady(p: &Plan) -> LiveState {
    let mut fleet = crate::sim::fleet_for(p, &Scenario { from: Some("v1".into()), ..Scenario::default() });
    let mut d = crate::driver::Driver::new(Survey::new(p), 0, &mut fleet);
    d.drive_bounded(&mut fleet, 10_000);
    d.machine.state().clone()
}

fn plan_from(p: &Plan, state: LiveState) -> crate::sim::Simulation {
    simulate(p.clone(), &Scenario { live: Some(state), seed: 1, ..Scenario::default() })
}

/// h1's routing table as read, for `app-web`.
fn h1_targets(state: &mut LiveState) -> &mut Vec<String> {
    let routes = state.hosts.get_mut("h1").and_then(|h| h.routes.as_mut()).expect("h1's table was read");
    routes.get_mut("app-web").expect("app-web is routed")
}

/// When the proxy starts routing to (`true`) or stops routing to `target`.
fn proxy_changes(sim: &crate::sim::Simulation, host: &str, target: &str) -> Vec<(Time, bool)> {
    sim.fleet_events
        .iter()
        .filter(|e| e.host == host && e.container == target)
        .filter_map(|e| match e.change {
            FleetChange::Proxy { routes } => Some((e.at_ms, routes)),
            _ => None,
        })
        .collect()
}

fn doc_of(p: &Plan, state: LiveState) -> crate::sim::doc::PlanDoc {
    let scenario = Scenario { live: Some(state), seed: 1, ..Scenario::default() };
    let sim = simulate(p.clone(), &scenario);
    let meta = crate::sim::doc::Meta {
        baton_version: "test".into(),
        now: "2026-12-02T06:10:00Z".into(),
        fault_specs: vec![],
        command: "app boot",
    };
    crate::sim::doc::build(p, &scenario, &sim, &meta)
}

#[test]
fn a_table_that_matches_the_containers_plans_as_without_one() {
    let p = plan("v3");
    let state = steady(&p);
    for h in ["h1", "h2", "h3"] {
        let c = &state.hosts[h].containers[0];
        assert_eq!((c.name.as_str(), c.ips.len()), ("app-web-v1", 1), "{h}: the survey reads its address");
        assert_eq!(state.hosts[h].table_check(&p, h), Some(TableCheck::default()), "{h}");
    }
    assert!(state.table_notes(&p).is_empty());
    let with = plan_from(&p, state.clone());
    let mut without = state;
    for h in without.hosts.values_mut() {
        h.routes = None;
    }
    let without = plan_from(&p, without);
    assert_eq!(with.run.outcome, Some(Outcome::Succeeded));
    assert!(with.report.clean(), "{}", with.report.summary());
    assert_eq!(with.fleet_events, without.fleet_events);
    assert_eq!((with.run.end, &with.report.gaps), (without.run.end, &without.report.gaps));
    let v1 = proxy_changes(&with, "h1", "app-web-v1");
    assert!(
        !v1.is_empty() && v1.iter().all(|(_, routes)| !routes),
        "v1 is routed from the start, then dropped: {v1:?}"
    );
}

#[test]
fn a_container_the_table_does_not_route_yet_is_picked_up_in_the_plan() {
    let p = plan("v3");
    let matched = steady(&p);
    let mut state = matched.clone();
    let ip = state.hosts["h1"].containers[0].ips[0].clone();
    h1_targets(&mut state).retain(|t| *t != ip);
    let check = state.hosts["h1"].table_check(&p, "h1").expect("read");
    assert_eq!((check.unrouted.as_slice(), check.stale.as_slice()), (&["app-web-v1".to_string()][..], &[][..]));
    let notes = state.table_notes(&p);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].0, "h1");
    assert!(notes[0].1.starts_with("the proxy on h1 does not route to app-web-v1 yet"), "{notes:?}");
    assert!(
        state.lines(&p)[0].contains("the proxy routes to 0 target(s), not yet to app-web-v1"),
        "{:?}",
        state.lines(&p)
    );

    let sim = plan_from(&p, state.clone());
    let m = plan_from(&p, matched);
    // The proxy on h1 starts without v1 and picks it up at its first pickup.
    let picked = sim.fleet.table_dropped_at("h1", sim.run.end).expect("a table as read");
    assert!(picked >= p.config.baton.proxy_pickup_ms, "{picked}");
    assert!(!sim.fleet.routes_json("h1", 0).contains(&ip) && m.fleet.routes_json("h1", 0).contains(&ip));
    assert!(sim.fleet.routes_json("h1", picked).contains(&ip));
    let late = proxy_changes(&sim, "h1", "app-web-v1");
    assert_eq!(late.first(), Some(&(picked, true)), "{late:?}");
    assert!(!proxy_changes(&m, "h1", "app-web-v1").iter().any(|(_, r)| *r), "matched: routed from the start");
    // Only h1 differs; the boot still succeeds, and the plan says why h1's proxy starts empty.
    assert_eq!(proxy_changes(&sim, "h2", "app-web-v1"), proxy_changes(&m, "h2", "app-web-v1"));
    assert_eq!(sim.run.outcome, Some(Outcome::Succeeded));
    let doc = doc_of(&p, state);
    let live: Vec<_> = doc.warnings.iter().filter(|w| w.source == "live").collect();
    assert_eq!(live.len(), 1);
    assert_eq!((live[0].host.as_deref(), live[0].message.as_str()), (Some("h1"), notes[0].1.as_str()));
}

#[test]
fn a_stale_target_in_the_table_fails_requests_until_the_proxy_drops_it() {
    let p = plan("v3");
    let matched = steady(&p);
    let mut state = matched.clone();
    h1_targets(&mut state).push("172.30.1.99".into());
    let check = state.hosts["h1"].table_check(&p, "h1").expect("read");
    let stale = StaleTarget { role: "web".into(), service: "app-web".into(), ip: "172.30.1.99".into() };
    assert_eq!((check.unrouted.len(), check.stale.as_slice()), (0, &[stale][..]));
    let notes = state.table_notes(&p);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].1.starts_with("the proxy on h1 still routes app-web to 172.30.1.99, which no live container has"));
    assert!(state.lines(&p)[0].contains("the proxy routes to 2 target(s), 1 of them stale (172.30.1.99)"));

    let sim = plan_from(&p, state.clone());
    let m = plan_from(&p, matched);
    let dropped = sim.fleet.table_dropped_at("h1", sim.run.end).expect("a table as read");
    assert!(sim.fleet.routes_json("h1", 0).contains("http://172.30.1.99:3000"));
    assert!(!sim.fleet.routes_json("h1", dropped).contains("172.30.1.99"));
    assert_eq!(proxy_changes(&sim, "h1", "the stale target 172.30.1.99"), [(dropped, false)]);
    // Requests sent to it fail from the start until the proxy drops it;
    // with a table that matches, no request fails.
    let gap = Gap { host: "h1".into(), role: "web".into(), from_ms: 0, to_ms: dropped, kind: GapKind::DeadTarget };
    assert_eq!(sim.report.gaps, [gap]);
    assert!(m.report.gaps.is_empty() && m.report.clean());
    assert!(!sim.report.clean());
    assert!(sim.report.summary().contains("h1 web: 0.000s → "), "{}", sim.report.summary());
    assert!(sim.report.summary().contains("routes to a stopped container: some requests fail"));
    // Run for run, the boot itself is the same.
    assert_eq!((sim.run.outcome.clone(), sim.run.end), (m.run.outcome.clone(), m.run.end));
    let doc = doc_of(&p, state);
    assert!(doc.warnings.iter().any(|w| w.source == "live" && w.message == notes[0].1));
}

#[test]
fn a_new_container_never_gets_the_address_of_a_stale_target() {
    let p = plan("v3");
    let mut state = steady(&p);
    // The address the simulated fleet would give h1's second container.
    let (net, _) = state.hosts["h1"].containers[0].ips[0].rsplit_once('.').expect("an IPv4 address");
    let next = format!("{net}.3");
    h1_targets(&mut state).push(next.clone());
    let sim = plan_from(&p, state);
    let asked: Vec<EffectId> = sim
        .run
        .effects
        .iter()
        .map(|(_, e)| e.cmd())
        .filter(|c| c.host == "h1" && c.action == Action::Addresses { name: "app-web-v3".into() })
        .map(|c| c.id)
        .collect();
    assert!(!asked.is_empty(), "the boot reads the new container's address");
    for (_, o) in sim.run.observations.iter().filter(|(_, o)| asked.contains(&o.id())) {
        let Observation::Exited { stdout, .. } = o else { panic!("{o:?}") };
        assert!(!stdout.contains(&next), "{stdout}");
    }
}
