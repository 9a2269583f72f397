//! Snapshots of `baton plan` for the example app (`examples/demo`): the
//! boot of v2 over v1, and two fault scenarios, as `baton plan` prints them
//! when stdout is not a terminal (160 columns). The text is built as
//! `baton plan` builds it (cli/src/plan_cmd.rs: `compact::render` of the
//! same simulation), with fixed lock details instead of the git user.
//!
//! Same as: `cd examples/demo && baton plan --version v2 --from v1
//! [--fault 192.0.2.12=never-healthy | --fault 192.0.2.13=unreachable@run]
//! [--timeline full] --now 2026-11-27T10:00:00Z`.

use baton_core::sim::compact::{self, View};
use baton_core::sim::doc::{self, Meta};
use baton_core::sim::fleet::{Fault, FaultKind, When};
use baton_core::sim::{simulate, Scenario, Simulation};
use baton_tests::fixtures::{config, lock_info, plan, DEMO_CONFIG};

/// `baton plan`'s default seed.
const SEED: u64 = 1;

fn plan_view(faults: Vec<Fault>, specs: &[&str], full: bool) -> (String, Simulation) {
    let p = plan(config(DEMO_CONFIG), "v2");
    let scenario = Scenario { from: Some("v1".into()), faults, seed: SEED, ..Scenario::default() };
    let sim = simulate(p.clone(), &scenario);
    let meta = Meta {
        baton_version: "test".into(),
        now: lock_info().at_utc,
        fault_specs: specs.iter().map(|s| s.to_string()).collect(),
        command: "app boot",
    };
    let doc = doc::build(&p, &scenario, &sim, &meta);
    let text = compact::render(&doc, &sim, &View { width: 160, whole_commands: false, full });
    (text, sim)
}

fn plan_text(faults: Vec<Fault>, specs: &[&str]) -> (String, Simulation) {
    plan_view(faults, specs, false)
}

fn json_outcome(sim: &Simulation) -> String {
    let v = serde_json::to_value(&sim.report).expect("the report serialises");
    v["outcome"].as_str().unwrap_or_default().to_string()
}

#[test]
fn plan_of_the_example() {
    let (text, sim) = plan_text(vec![], &[]);
    assert!(sim.report.clean(), "{text}");
    assert_eq!(json_outcome(&sim), "succeeded");
    insta::assert_snapshot!("demo_v2_from_v1", text);
}

#[test]
fn full_plan_of_the_example() {
    let (text, _) = plan_view(vec![], &[], true);
    insta::assert_snapshot!("demo_v2_from_v1_full", text);
}

#[test]
fn plan_with_a_host_that_never_gets_healthy() {
    let (text, sim) = plan_text(
        vec![Fault { host: "192.0.2.12".into(), kind: FaultKind::NeverHealthy }],
        &["192.0.2.12=never-healthy"],
    );
    assert_eq!(json_outcome(&sim), "failed");
    assert!(sim.report.gaps.is_empty(), "the old container keeps serving: {text}");
    assert_eq!(sim.report.failures.len(), 1, "{text}");
    assert_eq!(sim.report.failures[0].host, "192.0.2.12");
    insta::assert_snapshot!("demo_never_healthy", text);
}

#[test]
fn plan_with_a_host_unreachable_from_the_run_step() {
    let (text, sim) = plan_text(
        vec![Fault { host: "192.0.2.13".into(), kind: FaultKind::Unreachable(When::Step("run".into())) }],
        &["192.0.2.13=unreachable@run"],
    );
    assert_eq!(json_outcome(&sim), "failed");
    assert!(sim.report.gaps.is_empty(), "{text}");
    assert!(sim.report.failures.iter().all(|f| f.host == "192.0.2.13"), "{text}");
    insta::assert_snapshot!("demo_unreachable_at_run", text);
}
