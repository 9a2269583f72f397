//! Snapshots of `baton plan` for the example app (`examples/demo`): the
//! boot of v2 over v1, and two fault scenarios. The text is built as
//! `baton plan` builds it (cli/src/plan_cmd.rs), from the same simulation,
//! with fixed lock details instead of the clock and the git user.
//!
//! Same as: `cd examples/demo && baton plan --version v2 --from v1
//! [--fault 192.0.2.12=never-healthy | --fault 192.0.2.13=unreachable@run]`.

use baton_core::sim::fleet::{Fault, FaultKind, When};
use baton_core::sim::{simulate, Scenario, Simulation};
use baton_tests::fixtures::{config, plan, DEMO_CONFIG};

/// `baton plan`'s default seed.
const SEED: u64 = 1;

fn plan_text(faults: Vec<Fault>) -> (String, Simulation) {
    let p = plan(config(DEMO_CONFIG), "v2");
    let hosts = p.hosts.len();
    let scenario = Scenario { from: Some("v1".into()), faults, seed: SEED, ..Scenario::default() };
    let sim = simulate(p, &scenario);
    let text = format!(
        "baton plan: app boot of v2 on {hosts} host(s) from v1, seed {SEED} (simulated; nothing is contacted)\n\n{}\n{}",
        sim.run.trace.render(),
        sim.report.summary()
    );
    (text, sim)
}

fn json_outcome(sim: &Simulation) -> String {
    let v = serde_json::to_value(&sim.report).expect("the report serialises");
    v["outcome"].as_str().unwrap_or_default().to_string()
}

#[test]
fn plan_of_the_example() {
    let (text, sim) = plan_text(vec![]);
    assert!(sim.report.clean(), "{text}");
    assert_eq!(json_outcome(&sim), "succeeded");
    insta::assert_snapshot!("demo_v2_from_v1", text);
}

#[test]
fn plan_with_a_host_that_never_gets_healthy() {
    let (text, sim) = plan_text(vec![Fault { host: "192.0.2.12".into(), kind: FaultKind::NeverHealthy }]);
    assert_eq!(json_outcome(&sim), "failed");
    assert!(sim.report.gaps.is_empty(), "the old container keeps serving: {text}");
    assert_eq!(sim.report.failures.len(), 1, "{text}");
    assert_eq!(sim.report.failures[0].host, "192.0.2.12");
    insta::assert_snapshot!("demo_never_healthy", text);
}

#[test]
fn plan_with_a_host_unreachable_from_the_run_step() {
    let (text, sim) =
        plan_text(vec![Fault { host: "192.0.2.13".into(), kind: FaultKind::Unreachable(When::Step("run".into())) }]);
    assert_eq!(json_outcome(&sim), "failed");
    assert!(sim.report.gaps.is_empty(), "{text}");
    assert!(sim.report.failures.iter().all(|f| f.host == "192.0.2.13"), "{text}");
    insta::assert_snapshot!("demo_unreachable_at_run", text);
}
