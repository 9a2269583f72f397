//! The handover against the simulated fleet, with and without route
//! confirmation: the proxy model's pickup has jitter, so a pause equal to the
//! nominal pickup opens gaps, while confirming routes opens none.

use baton_core::config::{Config, Source};
use baton_core::plan::{LockInfo, Plan};
use baton_core::sim::{simulate, Scenario};

fn plan(extra: &str) -> Plan {
    let text = format!(
        "service: app\nimage: app\nservers:\n  - h1\n  - h2\n  - h3\nregistry:\n  username: u\n  password: [P]\nhealthcheck:\n  interval: 1s\nbaton:\n  poll_interval: 250ms\n  proxy_pickup: 1s\n{extra}"
    );
    let cfg = Config::parse(Source { name: "config/deploy.yml", text: &text }, None).expect("config");
    let lock = LockInfo {
        holder: "Ada".into(),
        at_utc: "2026-11-27T10:00:00Z".into(),
        message: "Automatic deploy lock".into(),
    };
    Plan::new(cfg, "v2", None, None, "deployer", lock).expect("plan")
}

fn scenario(seed: u64) -> Scenario {
    // A busy proxy: up to 1.5 s late on a 1 s nominal pickup.
    Scenario { from: Some("v1".into()), seed, jitter: Some(1500), ..Scenario::default() }
}

#[test]
fn confirmed_routes_open_no_gap_whatever_the_proxy_delay() {
    for seed in 0..200 {
        let sim =
            simulate(plan("  routes: busybox wget -qO- http://127.0.0.1:8080/api/http/services\n"), &scenario(seed));
        assert_eq!(sim.report.outcome, "succeeded", "seed {seed}: {:?}", sim.report.failures);
        assert!(sim.report.gaps.is_empty(), "seed {seed}: {:?}", sim.report.gaps);
    }
}

#[test]
fn a_pause_equal_to_the_nominal_pickup_opens_gaps() {
    let mut with_gaps = 0;
    for seed in 0..200 {
        let sim = simulate(plan("  pause_margin: 0s\n"), &scenario(seed));
        assert_eq!(sim.report.outcome, "succeeded");
        if !sim.report.gaps.is_empty() {
            with_gaps += 1;
            // A deploy that completes with a gap is no success: `plan` exits 3 and says why.
            assert!(!sim.report.clean());
            let summary = sim.report.summary();
            assert!(
                summary.contains("Outcome: the deploy completes, but requests fail during the serving gaps above: not a zero-downtime deploy"),
                "seed {seed}: {summary}"
            );
            assert!(!summary.contains("the deploy succeeds"), "seed {seed}: {summary}");
        }
    }
    assert!(with_gaps > 20, "only {with_gaps} of 200 runs opened a gap");
}

#[test]
fn handover_with_route_confirmation() {
    let sim = simulate(plan("  routes: busybox wget -qO- http://127.0.0.1:8080/api/http/services\n"), &scenario(7));
    insta::assert_snapshot!(format!("{}\n{}", sim.run.trace.render(), sim.report.summary()));
}
