//! [`LockWait`] driven by the one [`Driver`] against a primary host whose
//! lock another deploy holds until a given time; then `app boot` and a
//! mutating command with `--lock-wait` against the simulated fleet.

use super::*;
use crate::config::{Config, Source};
use crate::driver::{Answer, Driver, Responder};
use crate::effect::Observation;
use crate::ops;
use crate::plan::{LockInfo, Plan};
use crate::sim::fleet::Fleet;

const RTT: Millis = 100;

fn bob() -> String {
    ops::lock_details_b64("Bob", "2026-12-02T06:00:00Z", "v0", "Automatic deploy lock")
}

/// One host whose lock Bob holds until `until` (then releases); every
/// command answers `RTT` after it is issued, as the host was when it was issued.
struct HeldUntil {
    until: Time,
    /// Our lock, once taken.
    ours: Option<String>,
    /// When each `mkdir` was issued.
    acquires: Vec<Time>,
    /// Every wake-up: (time, reason).
    wakes: Vec<(Time, Reason)>,
    /// Answer every `mkdir` with this instead (a lost answer).
    lose: bool,
}

impl HeldUntil {
    fn new(until: Time) -> HeldUntil {
        HeldUntil { until, ours: None, acquires: vec![], wakes: vec![], lose: false }
    }
}

impl Responder for HeldUntil {
    fn answer(&mut self, e: &Effect, now: Time) -> Answer {
        let id = e.id();
        let held = now < self.until;
        let obs = match &e.cmd().action {
            Action::LockAcquire { .. } if self.lose => {
                self.acquires.push(now);
                Observation::Unreachable { id, error: "connection reset".into() }
            }
            Action::LockAcquire { details } => {
                self.acquires.push(now);
                if held || self.ours.is_some() {
                    Observation::failed(id, 1, "mkdir: cannot create directory '.kamal/lock-app': File exists")
                } else {
                    self.ours = Some(details.clone());
                    Observation::ok(id, "")
                }
            }
            Action::LockRead if held => Observation::ok(id, bob()),
            Action::LockRead => Observation::failed(id, 1, "cat: .kamal/lock-app/details: No such file or directory"),
            other => panic!("unexpected command {other:?}"),
        };
        Answer::After(RTT, obs)
    }
    fn on_wake(&mut self, now: Time, wake: &Wake) {
        self.wakes.push((now, wake.reason));
    }
}

fn machine(wait: Option<Millis>) -> LockWait {
    let step = Step::run("h1", None, "lock", Command::program("mkdir").arg(".kamal/lock-app"))
        .with_action(Action::LockAcquire { details: "ours".into() })
        .with_kind(Kind::Lock);
    LockWait::new(step, Command::program("cat").arg(".kamal/lock-app/details"), wait, 0)
}

fn run<M: Machine>(m: M, host: &mut HeldUntil, interrupt_at: Option<Time>) -> Driver<M> {
    let mut d = Driver::new(m, 0, host);
    d.interrupt_at = interrupt_at;
    d.drive_bounded(host, 10_000);
    d
}

fn warnings<M>(d: &Driver<M>) -> Vec<(Time, String)> {
    d.events
        .iter()
        .filter_map(|(t, e)| match e {
            Event::Warning { message, .. } => Some((*t, message.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn spans_read_as_people_write_them() {
    assert_eq!(fmt_span(DEFAULT_LOCK_WAIT_MS), "10m");
    assert_eq!(fmt_span(90_000), "1m30s");
    assert_eq!(fmt_span(45_000), "45s");
    assert_eq!(fmt_span(20_200), "20.2s");
    assert_eq!(fmt_span(0), "0s");
    let pauses: Vec<Millis> = (1..=6).map(LockWait::pause_after).collect();
    assert_eq!(pauses, vec![2_000, 3_000, 4_000, 5_000, 5_000, 5_000]);
}

#[test]
fn a_lock_released_at_10s_is_taken_at_the_next_retry() {
    let mut host = HeldUntil::new(10_000);
    let d = run(machine(Some(60_000)), &mut host, None);
    assert_eq!(d.outcome, Some(Outcome::Succeeded));
    // mkdir fails (answer at +0.1 s), the read answers at +0.2 s, then the
    // pause: 2 s, 3 s, 4 s, 5 s.
    assert_eq!(host.acquires, vec![0, 2_200, 5_400, 9_600, 14_800]);
    let retry = Reason::LockRetry;
    assert_eq!(host.wakes, vec![(2_200, retry), (5_400, retry), (9_600, retry), (14_800, retry)]);
    assert_eq!(retry.describe(), "try the lock again");
    assert_eq!(d.now, 14_900, "taken when the fifth mkdir answers");
    assert_eq!(host.ours.as_deref(), Some("ours"));
    let w = warnings(&d);
    assert_eq!(w.len(), 1, "the holder is told once within 30 s: {w:?}");
    assert_eq!(w[0].0, 200);
    assert!(
        w[0].1.starts_with("waiting for the deploy lock held by Locked by: Bob at 2026-12-02T06:00:00Z; Version: v0"),
        "{}",
        w[0].1
    );
    assert!(w[0].1.ends_with("for up to 1m)"), "{}", w[0].1);
    // The CLI of a batch reads the one step result: the mkdir that succeeded.
    let steps: Vec<bool> = d
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::StepDone(r) => Some(r.ok()),
            _ => None,
        })
        .collect();
    assert_eq!(steps, vec![true]);
}

#[test]
fn while_waiting_the_holder_is_told_at_most_every_30s() {
    let mut host = HeldUntil::new(100_000);
    let d = run(machine(Some(600_000)), &mut host, None);
    assert_eq!(d.outcome, Some(Outcome::Succeeded));
    let w = warnings(&d);
    assert!(w.len() >= 3, "{w:?}");
    for pair in w.windows(2) {
        assert!(pair[1].0 - pair[0].0 >= REPORT_EVERY_MS, "{w:?}");
    }
    assert!(w[1].1.starts_with("still waiting for the deploy lock ("), "{}", w[1].1);
    // Every retry after the fourth is 5 s after the read that said "held".
    let gaps: Vec<Time> = host.acquires.windows(2).map(|p| p[1] - p[0]).collect();
    assert!(gaps[3..].iter().all(|&g| g == 5_000 + 2 * RTT), "{gaps:?}");
}

#[test]
fn a_lock_held_past_the_timeout_ends_lock_held_saying_it_waited() {
    let mut host = HeldUntil::new(Time::MAX);
    let d = run(machine(Some(20_000)), &mut host, None);
    let Some(Outcome::LockHeld { details }) = &d.outcome else { panic!("{:?}", d.outcome) };
    assert_eq!(details, "Locked by: Bob at 2026-12-02T06:00:00Z\nVersion: v0\nMessage: Automatic deploy lock");
    // The last retry comes at the deadline itself, not after it.
    assert_eq!(host.acquires, vec![0, 2_200, 5_400, 9_600, 14_800, 20_000]);
    assert_eq!(d.now, 20_200);
    let w = warnings(&d);
    let last = &w.last().expect("a warning").1;
    assert_eq!(last, "gave up waiting for the deploy lock after 20.2s (--lock-wait 20s)");
    assert!(host.ours.is_none());
}

#[test]
fn without_a_wait_a_held_lock_ends_at_once() {
    let mut host = HeldUntil::new(Time::MAX);
    let d = run(machine(None), &mut host, None);
    assert!(matches!(d.outcome, Some(Outcome::LockHeld { .. })), "{:?}", d.outcome);
    assert_eq!(host.acquires, vec![0]);
    assert!(host.wakes.is_empty());
    assert!(warnings(&d).is_empty());
}

#[test]
fn an_interrupt_while_waiting_ends_at_once_with_nothing_taken() {
    let mut host = HeldUntil::new(Time::MAX);
    // At 3 s the machine waits for its 5.4 s retry: nothing is in flight.
    let d = run(machine(Some(600_000)), &mut host, Some(3_000));
    let Some(Outcome::Failed { failures }) = &d.outcome else { panic!("{:?}", d.outcome) };
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].why, Why::InterruptedWaitingForLock);
    assert!(failures[0].why.is_interrupt());
    assert_eq!(d.now, 3_000, "it ends at the interrupt");
    assert_eq!(host.acquires, vec![0, 2_200]);
    assert!(host.ours.is_none());
    assert!(d.machine.poll_timeout().is_none(), "no retry is left");
    assert!(!d.events.iter().any(|(_, e)| matches!(e, Event::StepDone(_) | Event::LockKept { .. })));
}

#[test]
fn an_interrupt_during_a_mkdir_that_takes_the_lock_reports_it_taken() {
    // Released at 2 s; the retry at 2.2 s takes it; Ctrl-C at 2.25 s.
    let mut host = HeldUntil::new(2_000);
    let d = run(machine(Some(600_000)), &mut host, Some(2_250));
    assert_eq!(d.outcome, Some(Outcome::Succeeded), "taken: the caller gives it back");
    assert_eq!(host.ours.as_deref(), Some("ours"));
}

#[test]
fn a_lost_answer_to_the_mkdir_still_means_the_lock_may_be_held() {
    let mut host = HeldUntil::new(0);
    host.lose = true;
    let d = run(machine(Some(600_000)), &mut host, None);
    assert!(matches!(d.outcome, Some(Outcome::Failed { .. })), "{:?}", d.outcome);
    assert_eq!(host.acquires, vec![0], "no retry after a lost answer");
    assert!(d.events.iter().any(|(_, e)| matches!(e, Event::LockKept { .. })));
}

fn plan(wait: Option<Millis>) -> Plan {
    let text = "service: app\nimage: app\nservers:\n  - h1\n  - h2\nregistry:\n  username: u\n  password: [P]\n";
    let cfg = Config::parse(Source { name: "config/deploy.yml", text }, None).expect("config");
    let lock = LockInfo { holder: "Ada".into(), at_utc: "2026-12-02T06:10:00Z".into(), message: "m".into() };
    let mut plan = Plan::new(cfg, "v1", None, None, "ada", lock).expect("plan");
    plan.lock_wait = wait;
    plan
}

/// The simulated fleet, with Bob's lock on the primary host until `until`.
struct Released {
    fleet: Fleet,
    until: Time,
    wakes: Vec<(Time, Reason)>,
}

impl Released {
    fn new(plan: &Plan, until: Time) -> Released {
        let mut fleet = crate::sim::fleet_for(plan, &crate::sim::Scenario::default());
        fleet.hosts.get_mut("h1").expect("h1").lock = Some(bob());
        Released { fleet, until, wakes: vec![] }
    }
}

impl Responder for Released {
    fn answer(&mut self, e: &Effect, now: Time) -> Answer {
        let h1 = self.fleet.hosts.get_mut("h1").expect("h1");
        if now >= self.until && h1.lock == Some(bob()) {
            h1.lock = None;
        }
        self.fleet.answer(e, now)
    }
    fn on_wake(&mut self, now: Time, wake: &Wake) {
        self.wakes.push((now, wake.reason));
    }
}

#[test]
fn app_boot_waits_for_the_lock_then_boots() {
    let p = plan(Some(60_000));
    let mut fleet = Released::new(&p, 7_000);
    let mut d = Driver::new(crate::deploy::Deploy::new(p, 1, 0), 0, &mut fleet);
    d.drive_bounded(&mut fleet, 100_000);
    assert_eq!(d.outcome, Some(Outcome::Succeeded));
    let retries: Vec<Time> = fleet.wakes.iter().filter(|w| w.1 == Reason::LockRetry).map(|w| w.0).collect();
    assert!(retries.len() >= 2, "{retries:?}");
    let first_prepare = d.effects.iter().find(|(_, e)| matches!(e.cmd().action, Action::PrepareImage { .. }));
    assert!(first_prepare.expect("images prepared").0 >= 7_000, "nothing changes before the lock is ours");
    assert!(fleet.fleet.hosts["h1"].lock.is_none(), "released after the boot");
    assert!(d.events.iter().any(|(_, e)| matches!(e, Event::Warning { message, .. } if message.starts_with("waiting for the deploy lock held by Locked by: Bob"))));
    assert!(!d.events.iter().any(|(_, e)| matches!(e, Event::StepDone(_))), "app boot reports no batch steps");
}

#[test]
fn app_boot_gives_up_after_the_timeout_and_changes_nothing() {
    let p = plan(Some(10_000));
    let mut fleet = Released::new(&p, Time::MAX);
    let mut d = Driver::new(crate::deploy::Deploy::new(p, 1, 0), 0, &mut fleet);
    d.drive_bounded(&mut fleet, 100_000);
    assert!(matches!(d.outcome, Some(Outcome::LockHeld { .. })), "{:?}", d.outcome);
    assert!(d.now >= 10_000 && d.now < 12_000, "{}", d.now);
    assert!(d.effects.iter().all(|(_, e)| matches!(e.cmd().action, Action::LockAcquire { .. } | Action::LockRead)));
    assert_eq!(fleet.fleet.hosts["h1"].lock, Some(bob()));
}

#[test]
fn app_boot_interrupted_while_waiting_takes_nothing() {
    let p = plan(Some(600_000));
    let mut fleet = Released::new(&p, Time::MAX);
    let mut d = Driver::new(crate::deploy::Deploy::new(p, 1, 0), 0, &mut fleet);
    d.interrupt_at = Some(30_000);
    d.drive_bounded(&mut fleet, 100_000);
    let Some(Outcome::Failed { failures }) = &d.outcome else { panic!("{:?}", d.outcome) };
    assert!(failures.iter().all(|f| f.why.is_interrupt()), "{failures:?}");
    assert!(d.now < 30_000 + 1_000, "ends at once: {}", d.now);
    assert_eq!(fleet.fleet.hosts["h1"].lock, Some(bob()), "Bob's lock is untouched");
    assert!(!d.events.iter().any(|(_, e)| matches!(e, Event::LockKept { .. })));
}

#[test]
fn a_mutating_command_waits_in_its_guard_part_then_runs_and_releases() {
    let p = plan(Some(60_000));
    let mut fleet = Released::new(&p, 4_000);
    let machine = ops::machine(ops::app_stop(&p));
    let mut d = Driver::new(machine, 0, &mut fleet);
    d.drive_bounded(&mut fleet, 100_000);
    assert_eq!(d.outcome, Some(Outcome::Succeeded));
    assert!(fleet.wakes.iter().any(|w| w.1 == Reason::LockRetry));
    let first_work =
        d.effects.iter().find(|(_, e)| !matches!(e.cmd().action, Action::LockAcquire { .. } | Action::LockRead));
    assert!(first_work.expect("work ran").0 >= 4_000);
    assert!(fleet.fleet.hosts["h1"].lock.is_none(), "released");
    // Without --lock-wait, the same command still fails at once.
    let p = plan(None);
    let mut fleet = Released::new(&p, 4_000);
    let mut d = Driver::new(ops::machine(ops::app_stop(&p)), 0, &mut fleet);
    d.drive_bounded(&mut fleet, 100_000);
    assert!(matches!(d.outcome, Some(Outcome::Failed { .. })), "{:?}", d.outcome);
    assert!(fleet.wakes.is_empty());
}
