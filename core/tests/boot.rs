//! The boot handover, driven by a scripted responder: each snapshot is the
//! whole trace (effects, observations, failures, lock) of one scenario.

mod support;

use baton_core::effect::Outcome;
use support::*;

const ONE: &str = "service: app\nimage: app\nservers:\n  - h1\nvolumes:\n  - /data:/data\n";
const THREE: &str = "service: app\nimage: app\nservers:\n  - h1\n  - h2\n  - h3\nvolumes:\n  - /data:/data\n";

fn failed_hosts(o: &Option<Outcome>) -> Vec<String> {
    match o {
        Some(Outcome::Failed { failures }) => failures.iter().map(|f| f.host.clone()).collect(),
        _ => vec![],
    }
}

#[test]
fn first_deploy_on_one_host() {
    let mut fleet = Scripted::new(&["h1"]);
    let run = boot(ONE, "v1", &mut fleet);
    assert_eq!(run.outcome, Some(Outcome::Succeeded));
    let h = &fleet.hosts["h1"];
    assert_eq!(h.containers.len(), 1);
    assert!(h.containers[0].running);
    assert!(h.lock.is_none(), "lock released");
    insta::assert_snapshot!(run.trace.render());
}

#[test]
fn handover_on_one_host() {
    let mut fleet = Scripted::new(&["h1"]).running("h1", "web", "v1");
    let run = boot(ONE, "v2", &mut fleet);
    assert_eq!(run.outcome, Some(Outcome::Succeeded));
    let h = &fleet.hosts["h1"];
    let state: Vec<(&str, bool)> = h.containers.iter().map(|c| (c.name.as_str(), c.running)).collect();
    assert_eq!(state, vec![("app-web-v1", false), ("app-web-v2", true)]);
    assert!(!h.cords.iter().any(|c| c.ends_with("00000000000000000000000000000000")), "old cord cut");
    insta::assert_snapshot!(run.trace.render());
}

#[test]
fn handover_on_three_hosts_in_parallel() {
    let mut fleet = Scripted::new(&["h1", "h2", "h3"])
        .running("h1", "web", "v1")
        .running("h2", "web", "v1")
        .running("h3", "web", "v1");
    let run = boot(THREE, "v2", &mut fleet);
    assert_eq!(run.outcome, Some(Outcome::Succeeded));
    for h in fleet.hosts.values() {
        assert!(h.containers.iter().any(|c| c.name == "app-web-v2" && c.running));
        assert!(h.containers.iter().any(|c| c.name == "app-web-v1" && !c.running));
    }
    insta::assert_snapshot!(run.trace.render());
}

#[test]
fn redeploy_of_the_running_version_renames_it() {
    let mut fleet = Scripted::new(&["h1"]).running("h1", "web", "v1");
    let run = boot(ONE, "v1", &mut fleet);
    assert_eq!(run.outcome, Some(Outcome::Succeeded));
    let h = &fleet.hosts["h1"];
    assert_eq!(h.containers.len(), 2);
    assert!(h.containers[0].name.starts_with("app-web-v1_replaced_"));
    assert_eq!(h.containers[0].name.len(), "app-web-v1_replaced_".len() + 16);
    assert!(!h.containers[0].running);
    assert!(h.containers[1].name == "app-web-v1" && h.containers[1].running);
    insta::assert_snapshot!(run.trace.render());
}

#[test]
fn web_and_jobs_without_traefik() {
    let cfg = "service: app\nimage: app\nservers:\n  web: [h1]\n  jobs:\n    hosts: [h1]\n    cmd: bin/jobs\nreadiness_delay: 2\n";
    let mut fleet = Scripted::new(&["h1"]).running("h1", "web", "v1").running("h1", "jobs", "v1");
    let run = boot(cfg, "v2", &mut fleet);
    assert_eq!(run.outcome, Some(Outcome::Succeeded));
    let h = &fleet.hosts["h1"];
    assert!(h.containers.iter().any(|c| c.name == "app-jobs-v2" && c.running && c.cord.is_none()));
    assert!(h.containers.iter().any(|c| c.name == "app-jobs-v1" && !c.running));
    insta::assert_snapshot!(run.trace.render());
}

#[test]
fn boot_limit_one_with_wait() {
    let cfg = format!("{THREE}boot:\n  limit: 1\n  wait: 5\n");
    let mut fleet = Scripted::new(&["h1", "h2", "h3"])
        .running("h1", "web", "v1")
        .running("h2", "web", "v1")
        .running("h3", "web", "v1");
    let run = boot(&cfg, "v2", &mut fleet);
    assert_eq!(run.outcome, Some(Outcome::Succeeded));
    // Each group starts 5 s after the previous one ended: no overlap.
    let runs: Vec<u64> = run
        .effects
        .iter()
        .filter(|(_, e)| matches!(e.cmd().action, baton_core::effect::Action::RunContainer { .. }))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(runs.len(), 3);
    assert!(runs[1] - runs[0] > 5000 && runs[2] - runs[1] > 5000, "{runs:?}");
    insta::assert_snapshot!(run.trace.render());
}

#[test]
fn new_version_never_healthy_keeps_old_serving() {
    let mut fleet = Scripted::new(&["h1"])
        .running("h1", "web", "v1")
        .profile("v2", Profile { healthy_after: None, ..Profile::default() });
    let run = boot(ONE, "v2", &mut fleet);
    assert_eq!(failed_hosts(&run.outcome), vec!["h1"]);
    let h = &fleet.hosts["h1"];
    assert!(h.containers.iter().any(|c| c.name == "app-web-v1" && c.running), "old keeps running");
    assert!(h.cords.iter().any(|c| c.ends_with("00000000000000000000000000000000")), "old cord intact");
    assert!(h.containers.iter().any(|c| c.name == "app-web-v2" && !c.running), "new stopped, not removed");
    assert!(h.lock.is_some(), "lock held after failure");
    insta::assert_snapshot!(run.trace.render());
}

#[test]
fn old_container_never_unhealthy_is_left_running() {
    let mut fleet = Scripted::new(&["h1"])
        .running("h1", "web", "v1")
        .profile("v1", Profile { ignores_cord: true, ..Profile::default() });
    let run = boot(ONE, "v2", &mut fleet);
    assert_eq!(failed_hosts(&run.outcome), vec!["h1"]);
    let h = &fleet.hosts["h1"];
    assert!(h.containers.iter().all(|c| c.running), "neither container is stopped");
    assert!(h.lock.is_some());
    insta::assert_snapshot!(run.trace.render());
}

/// The lock's host refuses SSH: taking the lock never ran, so no lock is
/// held and none is reported as possibly held.
#[test]
fn a_lock_host_that_refuses_ssh_holds_no_lock() {
    let mut fleet = Scripted::new(&["h1", "h2", "h3"]).running("h1", "web", "v1");
    fleet.hosts.get_mut("h1").unwrap().unreachable = true;
    let run = boot(THREE, "v2", &mut fleet);
    assert_eq!(failed_hosts(&run.outcome), vec!["h1"]);
    assert!(fleet.hosts["h1"].lock.is_none());
    assert!(
        !run.events.iter().any(|(_, e)| matches!(e, baton_core::effect::Event::LockKept { .. })),
        "{}",
        run.trace.render()
    );
    assert!(!run.trace.render().contains("may be held"), "{}", run.trace.render());
}

#[test]
fn host_unreachable_at_start() {
    let mut fleet = Scripted::new(&["h1", "h2", "h3"])
        .running("h1", "web", "v1")
        .running("h2", "web", "v1")
        .running("h3", "web", "v1");
    fleet.hosts.get_mut("h2").unwrap().unreachable = true;
    let run = boot(THREE, "v2", &mut fleet);
    assert_eq!(failed_hosts(&run.outcome), vec!["h2"]);
    // Nothing was booted anywhere: the failure came before any container started.
    for h in fleet.hosts.values() {
        assert!(!h.containers.iter().any(|c| c.name == "app-web-v2"));
    }
    assert!(fleet.hosts["h1"].lock.is_some(), "lock kept");
    insta::assert_snapshot!(run.trace.render());
}

/// The host goes down as `docker run` is sent, before the command reached
/// it: the new container cannot be running, and baton does not say it may be.
#[test]
fn a_docker_run_that_never_connected_started_nothing() {
    let mut fleet = Scripted::new(&["h1"]).running("h1", "web", "v1");
    fleet.hosts.get_mut("h1").unwrap().down_at_run = true;
    let run = boot(ONE, "v2", &mut fleet);
    assert_eq!(failed_hosts(&run.outcome), vec!["h1"]);
    let text = run.trace.render();
    assert!(!text.contains("may be running"), "{text}");
    assert!(text.contains("The new container was not started; app-web-v1 is untouched"), "{text}");
}

#[test]
fn lock_already_held() {
    let mut fleet = Scripted::new(&["h1"]).running("h1", "web", "v1");
    // base64 of "Locked by: Bob at 2026-11-26T09:00:00Z\nVersion: v0\nMessage: maintenance"
    fleet.hosts.get_mut("h1").unwrap().lock =
        Some("TG9ja2VkIGJ5OiBCb2IgYXQgMjAyNi0xMS0yNlQwOTowMDowMFoKVmVyc2lvbjogdjAKTWVzc2FnZTogbWFpbnRlbmFuY2U=".into());
    let run = boot(ONE, "v2", &mut fleet);
    match &run.outcome {
        Some(Outcome::LockHeld { details }) => {
            assert_eq!(details, "Locked by: Bob at 2026-11-26T09:00:00Z\nVersion: v0\nMessage: maintenance")
        }
        other => panic!("expected LockHeld, got {other:?}"),
    }
    assert_eq!(run.effects.len(), 2, "only the lock attempt and the read");
    insta::assert_snapshot!(run.trace.render());
}

fn boot_interrupted(cfg: &str, version: &str, fleet: &mut Scripted, at: u64) -> baton_core::sim::Run {
    let d = baton_core::deploy::Deploy::new(plan(config(cfg), version), 7, 0);
    baton_core::sim::drive_with_interrupt(d, fleet, 0, 10_000, baton_core::trace::Trace::new(), Some(at))
}

#[test]
fn interrupt_before_the_cut_leaves_the_old_container_serving() {
    let mut fleet = Scripted::new(&["h1", "h2", "h3"])
        .running("h1", "web", "v1")
        .running("h2", "web", "v1")
        .running("h3", "web", "v1");
    // At 1.0 s every host waits for its new container to be healthy.
    let run = boot_interrupted(THREE, "v2", &mut fleet, 1000);
    let mut failed = failed_hosts(&run.outcome);
    failed.dedup();
    failed.sort();
    failed.dedup();
    assert_eq!(failed, vec!["h1", "h2", "h3"]);
    for h in fleet.hosts.values() {
        assert!(h.containers.iter().any(|c| c.name == "app-web-v1" && c.running), "old still runs");
        assert!(h.cords.iter().any(|c| c.ends_with("00000000000000000000000000000000")), "old cord intact");
    }
    assert!(fleet.hosts["h1"].lock.is_some(), "lock held after an interrupted boot");
    let last = run.events.last().map(|(t, _)| *t).unwrap_or(0);
    assert!(last < 1500, "stopped within one command of the interrupt (at {last} ms)");
    insta::assert_snapshot!(run.trace.render());
}

#[test]
fn interrupt_after_the_cut_finishes_the_handover() {
    let mut fleet = Scripted::new(&["h1"]).running("h1", "web", "v1");
    // At 6.0 s the old cord has been cut (see handover_on_one_host).
    let run = boot_interrupted(ONE, "v2", &mut fleet, 6000);
    assert_eq!(failed_hosts(&run.outcome), vec!["h1"], "an interrupted deploy reports failure");
    let h = &fleet.hosts["h1"];
    assert!(h.containers.iter().any(|c| c.name == "app-web-v2" && c.running));
    assert!(h.containers.iter().any(|c| c.name == "app-web-v1" && !c.running), "the handover was finished");
    insta::assert_snapshot!(run.trace.render());
}

#[test]
fn interrupt_while_taking_the_lock_changes_nothing_and_releases_it() {
    let mut fleet = Scripted::new(&["h1"]).running("h1", "web", "v1");
    let run = boot_interrupted(ONE, "v2", &mut fleet, 50);
    assert!(matches!(run.outcome, Some(Outcome::Failed { .. })));
    assert!(fleet.hosts["h1"].lock.is_none(), "lock released");
    assert_eq!(fleet.hosts["h1"].containers.len(), 1, "nothing started");
    insta::assert_snapshot!(run.trace.render());
}

#[test]
fn every_live_container_of_the_role_is_handed_over_from() {
    // A failed boot left v2 running beside v1; booting v2 again converges.
    let mut fleet = Scripted::new(&["h1"]).running("h1", "web", "v1").running("h1", "web", "v2");
    let run = boot(ONE, "v2", &mut fleet);
    assert_eq!(run.outcome, Some(Outcome::Succeeded));
    let h = &fleet.hosts["h1"];
    let running: Vec<&str> = h.containers.iter().filter(|c| c.running).map(|c| c.name.as_str()).collect();
    assert_eq!(running, vec!["app-web-v2"], "{:?}", h.containers);
    insta::assert_snapshot!(run.trace.render());
}
