//! Property tests (issue §3): random fleets of 1 to 20 hosts, random seeds,
//! roles, `boot.limit`, start times and faults from the simulator's fault
//! list; every invariant of [`baton_tests::check`] must hold on every
//! simulated boot. Failing cases are kept in
//! `tests/proptest-regressions/properties.txt` and replayed first.

use baton_core::sim::fleet::{Fault, FaultKind, Profile, When, STEP_KINDS};
use baton_core::sim::{simulate, Scenario};
use baton_tests::fixtures::{scenario, Shape};
use baton_tests::timed::run_checked;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

#[derive(Clone, Debug)]
struct Case {
    shape: Shape,
    from: Option<String>,
    version: String,
    seed: u64,
    start_ms: u64,
    faults: Vec<Fault>,
}

impl Case {
    fn scenario(&self) -> Scenario {
        let mut s = scenario(self.from.as_deref(), self.seed);
        s.profiles.insert(self.version.clone(), Profile { start_ms: self.start_ms, ..Profile::default() });
        s.faults = self.faults.clone();
        s
    }
}

fn step() -> impl Strategy<Value = String> {
    prop::sample::select(STEP_KINDS).prop_map(str::to_string)
}

fn fault_kind() -> impl Strategy<Value = FaultKind> {
    prop_oneof![
        Just(FaultKind::Unreachable(When::Always)),
        (0u64..30_000).prop_map(|t| FaultKind::Unreachable(When::At(t))),
        step().prop_map(|s| FaultKind::Unreachable(When::Step(s))),
        step().prop_map(FaultKind::CommandFails),
        step().prop_map(FaultKind::DropConnection),
        Just(FaultKind::NeverHealthy),
        Just(FaultKind::Crash),
        (0u64..10_000).prop_map(FaultKind::SlowHealth),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (1usize..=20)
        .prop_flat_map(|n| {
            let limit = prop_oneof![
                3 => Just((None, None)),
                2 => (1..=n).prop_map(|c| (Some(c), None)),
                2 => (1u32..=100).prop_map(|p| (None, Some(p))),
            ];
            (
                Just(n),
                0..=n.min(4),
                limit,
                0u64..=2,
                prop_oneof![4 => Just(Some("v1".to_string())), 1 => Just(None)],
                prop_oneof![9 => Just("v2".to_string()), 1 => Just("v1".to_string())],
                any::<u64>(),
                0u64..=2500,
                prop::collection::vec((0..n, fault_kind()), 0..=3),
            )
        })
        .prop_map(|(n, jobs, (limit, pct), wait, from, version, seed, start_ms, faults)| {
            let mut shape = Shape::new(n).jobs(jobs).wait(wait);
            shape.limit = limit;
            shape.limit_percent = pct;
            let faults = faults.into_iter().map(|(h, kind)| Fault { host: format!("h{}", h + 1), kind }).collect();
            Case { shape, from, version, seed, start_ms, faults }
        })
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/properties.txt"))),
        max_shrink_time: 60_000,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(2000))]

    /// Every simulated boot keeps every invariant.
    #[test]
    fn every_simulated_boot_keeps_the_invariants(c in case()) {
        let checked = run_checked(c.shape.plan(&c.version), &c.scenario(), |d| d);
        prop_assert!(
            checked.violations.is_empty(),
            "{} violation(s) on {} host(s) with {:?}, outcome {:?}:\n{}",
            checked.violations.len(),
            c.shape.hosts,
            c.faults,
            checked.outcome,
            checked.violations.iter().map(|v| format!("  {v}\n")).collect::<String>()
        );
        prop_assert!(checked.steps <= checked.bounds.steps && checked.end <= checked.bounds.time);
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// The checked driver drives the deploy exactly as the simulator does, so
    /// what the properties check is what `baton plan` predicts.
    #[test]
    fn the_checked_driver_drives_as_the_simulator(c in case()) {
        let checked = run_checked(c.shape.plan(&c.version), &c.scenario(), |d| d);
        let sim = simulate(c.shape.plan(&c.version), &c.scenario());
        prop_assert_eq!(&checked.outcome, &sim.run.outcome);
        prop_assert_eq!(checked.end, sim.run.end);
        prop_assert_eq!(&checked.effects, &sim.run.effects);
        prop_assert_eq!(&checked.events, &sim.run.events);
    }
}

/// A fixed large case: 20 hosts, 10% at a time, some faults; kept as a
/// plain test so it runs every time.
#[test]
fn twenty_hosts_ten_percent_with_faults() {
    let faults = vec![
        Fault { host: "h3".into(), kind: FaultKind::NeverHealthy },
        Fault { host: "h7".into(), kind: FaultKind::Unreachable(When::Step("run".into())) },
        Fault { host: "h12".into(), kind: FaultKind::CommandFails("stop".into()) },
    ];
    let mut sc = scenario(Some("v1"), 42);
    sc.faults = faults;
    let checked = run_checked(Shape::new(20).jobs(2).limit_percent(10).plan("v2"), &sc, |d| d);
    assert!(checked.violations.is_empty(), "{:#?}", checked.violations);
    // The first group (h1, h2) boots; h3 never gets healthy there → the
    // rollout stops after group 2 and the deploy fails.
    assert!(matches!(checked.outcome, Some(baton_core::effect::Outcome::Failed { .. })), "{:?}", checked.outcome);
}
