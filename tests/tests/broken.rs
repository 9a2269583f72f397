//! The checks catch a wrong handover: the deliberately broken core variants
//! ([`Deploy::broken`]) run through the exhaustive explorer and through the
//! checked simulation, and each is reported. The same scenarios pass with
//! the real core, so what is caught is the breakage.

use baton_core::deploy::{Broken, Deploy};
use baton_core::sim::Scenario;
use baton_tests::check::Invariant;
use baton_tests::explore::{explore, Spec};
use baton_tests::fixtures::{config, plan, scenario, Shape, DEMO_CONFIG};
use baton_tests::timed::run_checked;
use std::collections::BTreeSet;

fn stop_before_cut(d: Deploy) -> Deploy {
    d.broken(Broken::StopBeforeCut)
}

fn no_pause(d: Deploy) -> Deploy {
    d.broken(Broken::NoPauseAfterUnhealthy)
}

fn shapes() -> [(&'static str, Shape); 3] {
    [
        ("1 host", Shape::new(1)),
        ("2 hosts, web+jobs", Shape::new(2).jobs(1)),
        ("3 hosts, limit 1", Shape::new(3).limit(1)),
    ]
}

fn caught(spec: Spec) -> BTreeSet<Invariant> {
    let s = explore(&spec);
    println!("{s}");
    for f in s.found.iter().take(2) {
        println!("{f}");
    }
    s.violation_counts.keys().copied().collect()
}

#[test]
fn exhaustive_check_catches_stop_before_cut() {
    for (label, shape) in shapes() {
        let spec = Spec::new(format!("{label}, stop before cut"), shape.plan("v2"), scenario(Some("v1"), 1))
            .faults(0)
            .adjust(stop_before_cut);
        let found = caught(spec);
        assert!(found.contains(&Invariant::SafeStop), "{found:?}");
        assert!(found.contains(&Invariant::NoServingGap), "{found:?}");
    }
}

#[test]
fn exhaustive_check_catches_no_pause_after_unhealthy() {
    for (label, shape) in shapes() {
        let spec = Spec::new(format!("{label}, no pause after unhealthy"), shape.plan("v2"), scenario(Some("v1"), 1))
            .faults(0)
            .adjust(no_pause);
        let found = caught(spec);
        assert!(found.contains(&Invariant::SafeStop), "{found:?}");
    }
}

/// With faults and delays on, the explorer still finds the breakage (and
/// stops at the first violation).
#[test]
fn exhaustive_check_with_faults_catches_both_variants() {
    for adjust in [stop_before_cut as fn(Deploy) -> Deploy, no_pause] {
        let mut spec =
            Spec::new("2 hosts, faults and delays, broken", Shape::new(2).plan("v2"), scenario(Some("v1"), 1))
                .faults(1)
                .delays(1);
        spec.adjust = adjust;
        spec.stop_at_first_violation = true;
        let found = caught(spec);
        assert!(found.contains(&Invariant::SafeStop), "{found:?}");
    }
}

/// The checked simulation (what the property tests run) on the example app.
#[test]
fn checked_simulation_catches_both_variants_on_the_demo() {
    let demo = || plan(config(DEMO_CONFIG), "v2");
    let sc = Scenario { from: Some("v1".into()), seed: 1, ..Scenario::default() };

    let good = run_checked(demo(), &sc, |d| d);
    assert!(good.violations.is_empty(), "the real core: {:#?}", good.violations);

    for (name, adjust) in [("stop before cut", stop_before_cut as fn(Deploy) -> Deploy), ("no pause", no_pause)] {
        let bad = run_checked(demo(), &sc, adjust);
        let found: BTreeSet<Invariant> = bad.violations.iter().map(|v| v.invariant).collect();
        println!("{name}: {found:?}");
        for v in &bad.violations {
            println!("  {v}");
        }
        assert!(found.contains(&Invariant::SafeStop), "{name}: {found:?}");
        // Each stops one old web container per host too early: the proxy
        // still routes to it, so requests fail.
        assert!(found.contains(&Invariant::NoServingGap), "{name}: {found:?}");
    }
}

/// The scenarios above pass with the real core, faults off.
#[test]
fn the_real_core_passes_the_same_scenarios() {
    for (label, shape) in shapes() {
        let s = explore(&Spec::new(label, shape.plan("v2"), scenario(Some("v1"), 1)).faults(0).delays(1));
        println!("{s}");
        assert_eq!(s.violations(), 0, "{:#?}", s.found);
        assert!(s.runs > 0);
    }
}

fn cut_before_healthy(d: Deploy) -> Deploy {
    d.broken(Broken::CutBeforeHealthy)
}

/// Cutting the old cord before the new container is healthy opens a serving
/// gap once the new one is slow to start (here 4 s: the old one turns
/// unhealthy first). The same scenario with the real core, which cuts at
/// "healthy", has none, with and without route confirmation.
#[test]
fn the_checks_catch_a_cut_before_healthy_with_a_serving_gap() {
    let slow_start = || {
        let mut sc = scenario(Some("v1"), 1);
        sc.profiles.insert("v2".into(), baton_core::sim::fleet::Profile { start_ms: 4000, ..Default::default() });
        sc
    };
    for shape in [Shape::new(2), Shape::new(2).routes().pickup(500)] {
        let spec = Spec::new("2 hosts, slow start, cut before healthy", shape.plan("v2"), slow_start())
            .faults(0)
            .adjust(cut_before_healthy);
        let found = caught(spec);
        assert!(found.contains(&Invariant::NoServingGap), "{found:?}");

        let real = explore(&Spec::new("2 hosts, slow start", shape.plan("v2"), slow_start()).faults(0).delays(1));
        println!("{real}");
        assert_eq!(real.violations(), 0, "{:#?}", real.found);
        assert!(real.runs > 0);

        let bad = run_checked(shape.plan("v2"), &slow_start(), cut_before_healthy);
        let found: BTreeSet<Invariant> = bad.violations.iter().map(|v| v.invariant).collect();
        assert!(found.contains(&Invariant::NoServingGap), "checked simulation: {found:?}");
    }
}
