use super::*;
use crate::config::{Config, Source};
use crate::effect::Outcome;
use crate::plan::LockInfo;
use crate::sim::fleet::{Fault, FaultKind, Fleet, When};
use crate::sim::{drive, simulate, Scenario};
use crate::trace::Trace;

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
