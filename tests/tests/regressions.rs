//! Minimal reproductions of core bugs the checks found. Each fails until
//! the core is fixed; none is ignored.

use baton_core::effect::Outcome;
use baton_core::sim::fleet::{Fault, FaultKind};
use baton_core::sim::{simulate, Scenario};
use baton_tests::check::Invariant;
use baton_tests::fixtures::{config, plan, scenario, Shape, DEMO_CONFIG};
use baton_tests::timed::run_checked;

/// Found by the exhaustive check (a dropped or timed-out answer to the lock
/// command) and by the property test (`DropConnection("lock")` on the
/// primary host). Same as `baton plan --from v1 --fault h1=drop:lock`.
///
/// The connection drops while `mkdir .kamal/lock-app` runs on the primary
/// host: the lock is taken, but its answer is lost. The deploy then fails
/// with "h1 failed to acquire the deploy lock: host unreachable: …" and
/// ends without `Event::LockKept`: nothing tells the user that the lock is
/// now held (by this deploy), so the next deploy finds it and stops. The
/// issue's lock invariant: the lock is released exactly when the deploy
/// succeeds; otherwise it is held and the user is told. `Deploy::on_lock`
/// (`Phase::Locking` with an Unreachable or TimedOut observation) should
/// say that the lock may be held (for example with `Event::LockKept`,
/// naming `baton lock release`), since the command may have run.
#[test]
fn a_lock_taken_whose_answer_is_lost_is_reported_as_held() {
    let mut sc = scenario(Some("v1"), 1);
    sc.faults.push(Fault { host: "h1".into(), kind: FaultKind::DropConnection("lock".into()) });
    let checked = run_checked(Shape::new(1).plan("v2"), &sc, |d| d);
    assert!(matches!(checked.outcome, Some(Outcome::Failed { .. })), "{:?}", checked.outcome);
    assert!(checked.fleet.hosts["h1"].lock.is_some(), "the simulated lock command ran, so the lock is held");
    let lock: Vec<String> =
        checked.violations.iter().filter(|v| v.invariant == Invariant::Lock).map(|v| v.to_string()).collect();
    assert!(lock.is_empty(), "{}", lock.join("\n"));
    assert!(checked.violations.is_empty(), "{:#?}", checked.violations);
}

/// Found by the exhaustive check (`Inject::KeepsFailing` on the new
/// container's status reads) and by the property test
/// (`CommandFails("status")`). Same as `baton plan --from v1 --fault
/// h1=fail:status`, which itself predicts the gap.
///
/// Every `docker inspect` of the new container fails (exit 1), so the
/// deploy never sees it healthy; but it is healthy, and the proxy routes to
/// it from about 3 s. At the end of the health budget the deploy gives up
/// and stops the new container at once (`Deploy::fail(.., cleanup: true)`
/// → `Stage::StoppingNew`), while the proxy still routes to it: requests
/// sent to it fail until the proxy notices (DeadTarget), and on a first
/// deploy, where no old container serves, the host serves nothing after
/// that (NoTarget). The new container had become healthy, so the issue's
/// one exception (a deploy that failed before any container became
/// healthy) does not apply. A cleanup stop of a new container that may be
/// in rotation should first take it out (cut its cord, wait until it is
/// unhealthy or the unhealthy budget has passed, pause for the proxy), or
/// leave it running and name it in the failure.
#[test]
fn a_new_container_that_may_serve_is_not_stopped_under_the_proxy() {
    // `cd examples/demo && baton plan --version v2 --from v1 --fault
    // 192.0.2.11=fail:status` predicts the gap itself (exit 3).
    let demo = Scenario {
        from: Some("v1".into()),
        faults: vec![Fault { host: "192.0.2.11".into(), kind: FaultKind::CommandFails("status".into()) }],
        seed: 1,
        ..Scenario::default()
    };
    let sim = simulate(plan(config(DEMO_CONFIG), "v2"), &demo);
    assert!(sim.report.gaps.is_empty(), "baton plan predicts:\n{}", sim.report.summary());

    for from in [Some("v1"), None] {
        let mut sc = scenario(from, 1);
        sc.faults.push(Fault { host: "h1".into(), kind: FaultKind::CommandFails("status".into()) });
        let checked = run_checked(Shape::new(1).plan("v2"), &sc, |d| d);
        assert!(matches!(checked.outcome, Some(Outcome::Failed { .. })), "{:?}", checked.outcome);
        let gaps: Vec<String> = checked
            .violations
            .iter()
            .filter(|v| v.invariant == Invariant::NoServingGap)
            .map(|v| v.to_string())
            .collect();
        assert!(gaps.is_empty(), "from {from:?}:\n{}", gaps.join("\n"));
        assert!(checked.violations.is_empty(), "{:#?}", checked.violations);
    }
}

/// Found by the exhaustive check once it could press Ctrl-C (`1 host,
/// interrupt`): interrupted while the image was being prepared, the deploy
/// gives the lock back, since nothing was started. If releasing the lock
/// then failed (the host went away), `Deploy::on_lock` took the generic
/// "every host booted, but the lock could not be released" branch and
/// reported success, although nothing was booted and the lock may be held.
/// It must fail, say the lock may be held, and say it was interrupted.
#[test]
fn an_interrupt_whose_lock_release_fails_is_no_success() {
    use baton_core::deploy::Deploy;
    use baton_core::effect::Event;
    use baton_core::sim::fleet::When;
    use baton_core::sim::{drive_with_interrupt, fleet_for};
    use baton_core::trace::Trace;
    let plan = Shape::new(1).plan("v2");
    let mut sc = scenario(Some("v1"), 1);
    // The lock command is answered at about 0.2 s (handshake included), the
    // image preparation at about 0.37 s; the host is gone from 0.3 s, so
    // the release that follows the interrupt cannot reach it.
    sc.faults.push(Fault { host: "h1".into(), kind: FaultKind::Unreachable(When::At(300)) });
    let mut fleet = fleet_for(&plan, &sc);
    let deploy = Deploy::new(plan, sc.seed, 0);
    let run = drive_with_interrupt(deploy, &mut fleet, 0, 10_000, Trace::new(), Some(250));
    let Some(Outcome::Failed { failures }) = &run.outcome else { panic!("{:?}\n{}", run.outcome, run.trace.render()) };
    assert!(failures.iter().any(|f| f.why.is_interrupt()), "{failures:?}");
    assert!(
        run.events.iter().any(|(_, e)| matches!(e, Event::LockKept { .. })),
        "the user is told the lock may be held:\n{}",
        run.trace.render()
    );
    assert!(!run.events.iter().any(|(_, e)| matches!(e, Event::LockReleased { .. })));
}
