//! When the handover reads a container's status: not before Docker can have
//! changed it (its next health check), but a new container at least every
//! 2 s, whatever its health interval.

use baton_core::config::{Config, Source};
use baton_core::effect::{Action, Effect};
use baton_core::plan::{LockInfo, Plan};
use baton_core::sim::fleet::Profile;
use baton_core::sim::{simulate, Scenario};
use baton_core::time::Time;

fn plan(interval: &str, options: &str) -> Plan {
    let text = format!(
        "service: app\nimage: app\nservers:\n  web:\n    hosts: [h1]\n{options}registry:\n  username: u\n  password: [P]\nhealthcheck:\n  interval: {interval}\n  max_attempts: 7\nbaton:\n  poll_interval: 100ms\n  proxy_pickup: 1s\n"
    );
    let cfg = Config::parse(Source { name: "config/deploy.yml", text: &text }, None).expect("config");
    let lock = LockInfo { holder: "Ada".into(), at_utc: "2026-11-27T10:00:00Z".into(), message: "m".into() };
    Plan::new(cfg, "v2", None, None, "deployer", lock).expect("plan")
}

/// Times at which the status of `name` was read.
fn reads(effects: &[(Time, Effect)], name: &str) -> Vec<Time> {
    effects
        .iter()
        .filter(|(_, e)| matches!(&e.cmd().action, Action::Status { name: n } if n == name))
        .map(|(t, _)| *t)
        .collect()
}

fn scenario(app_start_ms: u64) -> Scenario {
    let mut sc = Scenario { from: Some("v1".into()), seed: 1, jitter: Some(0), ..Scenario::default() };
    sc.profiles.insert("v2".into(), Profile { start_ms: app_start_ms, ..Profile::default() });
    sc
}

#[test]
fn reads_skip_what_docker_cannot_have_changed() {
    let sim = simulate(plan("1s", ""), &scenario(0));
    assert_eq!(sim.report.outcome, "succeeded");
    // New container: read once when docker run answers, then not before an
    // interval after docker run was sent.
    let new = reads(&sim.run.effects, "app-web-v2");
    let run_sent = sim
        .run
        .effects
        .iter()
        .find(|(_, e)| matches!(e.cmd().action, Action::RunContainer { .. }))
        .map(|(t, _)| *t)
        .expect("docker run");
    assert!(new.len() >= 2, "{new:?}");
    assert!(new[1] >= run_sent + 1000, "second read {} before run + interval ({run_sent})", new[1]);
    // Old container: right after the cut it has failed no check, so it
    // cannot be unhealthy for two more intervals: no read in between.
    let old = reads(&sim.run.effects, "app-web-v1");
    assert!(old.len() >= 2, "{old:?}");
    assert!(old[1] >= old[0] + 2000, "{old:?}");
    // Fewer reads than polling every 100 ms until unhealthy would take.
    assert!(old.len() < 15, "{old:?}");
}

#[test]
fn a_long_interval_still_reads_a_new_container_every_two_seconds() {
    // A 10 s interval, an app that takes 15 s: the new container is read at
    // least every 2 s (a crash would be seen), not once per interval.
    let sim = simulate(plan("10s", ""), &scenario(15_000));
    // While it starts: the reads up to the cut (the new container is read
    // once more just before the old one stops, much later).
    let cut = sim
        .run
        .effects
        .iter()
        .find(|(_, e)| matches!(e.cmd().action, baton_core::effect::Action::CutCord { .. }))
        .map(|(t, _)| *t)
        .expect("a cut");
    let new: Vec<_> = reads(&sim.run.effects, "app-web-v2").into_iter().filter(|&t| t <= cut).collect();
    assert!(new.len() >= 6, "{new:?}");
    for w in new.windows(2) {
        assert!(w[1] - w[0] <= 2000 + 200, "reads {} ms apart: {new:?}", w[1] - w[0]);
    }
}

#[test]
fn health_options_of_the_role_turn_the_skipping_off() {
    // A role passing its own health flags (a start period changes Docker's
    // rhythm) is read every poll_interval.
    let options = "    options:\n      health-start-period: 5s\n";
    let sim = simulate(plan("1s", options), &scenario(0));
    assert_eq!(sim.report.outcome, "succeeded", "{:?}", sim.report.failures);
    let old = reads(&sim.run.effects, "app-web-v1");
    assert!(old.windows(2).all(|w| w[1] - w[0] < 500), "{old:?}");
}
