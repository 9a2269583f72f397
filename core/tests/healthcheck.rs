//! `healthcheck perform`, driven by the scripted responder through the one
//! driver: each snapshot is the whole trace of one scenario. The container
//! is removed in every one of them.

mod support;

use baton_core::driver::{Answer, Responder};
use baton_core::effect::{Effect, Observation, Outcome, Step};
use baton_core::failure::Why;
use baton_core::healthcheck::Healthcheck;
use baton_core::machine::Reason;
use baton_core::sim::drive_with_interrupt;
use baton_core::time::Time;
use baton_core::trace::Trace;
use support::*;

const ONE: &str =
    "service: app\nimage: app\nservers:\n  - h1\n  - h2\nhealthcheck:\n  max_attempts: 3\n  log_lines: 2\n";

/// The scripted hosts, with a container log and Docker's health log.
struct WithLogs<'a>(&'a mut Scripted);

impl Responder for WithLogs<'_> {
    fn answer(&mut self, e: &Effect, now: Time) -> Answer {
        let line = e.cmd().cmd.render();
        if line.starts_with("docker logs") {
            return Answer::After(LATENCY, Observation::ok(e.id(), "listening on 3000\nGET /up 404\n"));
        }
        if line.contains(".State.Health.Log") {
            let log = r#"[{"Start":"2026-11-27T10:00:01.5Z","ExitCode":1,"Output":"curl: (22) 404"}]"#;
            return Answer::After(LATENCY, Observation::ok(e.id(), log));
        }
        self.0.answer(e, now)
    }
}

fn perform(version: &str, fleet: &mut Scripted, interrupt_at: Option<Time>) -> baton_core::sim::Run {
    let p = plan(config(ONE), version);
    drive_with_interrupt(Healthcheck::new(&p), &mut WithLogs(fleet), 0, 1000, Trace::with_durations(), interrupt_at)
}

fn failure(run: &baton_core::sim::Run) -> (Option<Step>, Why) {
    match &run.outcome {
        Some(Outcome::Failed { failures }) if failures.len() == 1 => (failures[0].step, failures[0].why.clone()),
        other => panic!("expected one failure, got {other:?}"),
    }
}

#[test]
fn a_healthy_version_passes_and_its_container_is_removed() {
    let mut fleet = Scripted::new(&["h1", "h2"]);
    let run = perform("v2", &mut fleet, None);
    assert_eq!(run.outcome, Some(Outcome::Succeeded));
    assert!(fleet.hosts["h1"].containers.is_empty(), "removed");
    assert!(run.effects.iter().all(|(_, e)| e.cmd().host == "h1"), "the primary host only");
    let first = &run.effects[0].1.cmd().cmd.render();
    assert!(first.starts_with("docker run --detach --name healthcheck-app-v2 --publish 3999:3000"), "{first}");
    insta::assert_snapshot!(run.trace.render());
}

#[test]
fn a_version_that_never_turns_healthy_fails_with_its_logs_and_is_removed() {
    let mut fleet = Scripted::new(&["h1", "h2"]).profile("bad", Profile { healthy_after: None, ..Profile::default() });
    let run = perform("bad", &mut fleet, None);
    let (step, why) = failure(&run);
    assert_eq!(step, Some(Step::HealthcheckWait));
    let Why::HealthcheckNotHealthy { name, reads, removed, diagnosis, .. } = &why else { panic!("{why:?}") };
    assert_eq!((name.as_str(), *reads, *removed), ("healthcheck-app-bad", 4, true), "1 read + max_attempts retries");
    assert_eq!(diagnosis.logs, Some(Ok("listening on 3000\nGET /up 404\n".into())));
    assert_eq!(diagnosis.health_log.as_ref().map(|h| h.as_ref().map(Vec::len)), Some(Ok(1)));
    assert!(fleet.hosts["h1"].containers.is_empty(), "removed after the failure too");
    // Kamal's poller: 1 s, 2 s, 3 s between the reads.
    let wakes = run.trace.render().lines().filter(|l| l.contains(Reason::StatusRead.describe())).count();
    assert_eq!(wakes, 3);
    insta::assert_snapshot!(format!("{}\n--- the failure as printed:\n{}", run.trace.render(), why));
}

#[test]
fn an_interrupt_while_waiting_still_removes_the_container() {
    let mut fleet = Scripted::new(&["h1", "h2"]).profile("slow", Profile { healthy_after: None, ..Profile::default() });
    let run = perform("slow", &mut fleet, Some(700));
    let (_, why) = failure(&run);
    assert_eq!(why, Why::HealthcheckInterrupted { name: "healthcheck-app-slow".into(), removed: true });
    assert!(why.is_interrupt());
    assert!(fleet.hosts["h1"].containers.is_empty(), "removed after the interrupt");
    insta::assert_snapshot!(run.trace.render());
}

#[test]
fn an_interrupt_while_the_container_starts_removes_it_once_it_has_started() {
    let mut fleet = Scripted::new(&["h1", "h2"]);
    let run = perform("v2", &mut fleet, Some(50));
    let (_, why) = failure(&run);
    assert_eq!(why, Why::HealthcheckInterrupted { name: "healthcheck-app-v2".into(), removed: true });
    assert!(fleet.hosts["h1"].containers.is_empty());
    let cmds: Vec<String> = run.effects.iter().map(|(_, e)| e.cmd().cmd.render()).collect();
    assert_eq!(cmds.len(), 3, "run, stop, remove: no status read after the interrupt: {cmds:?}");
}

#[test]
fn a_failed_docker_run_still_stops_and_removes_a_leftover() {
    // A leftover container of the same name (a run aborted at once).
    let mut fleet = Scripted::new(&["h1", "h2"]);
    let p = plan(config(ONE), "v2");
    let first = drive_with_interrupt(Healthcheck::new(&p), &mut fleet, 0, 3, Trace::new(), None);
    assert!(first.outcome.is_none(), "stopped before its end");
    assert_eq!(fleet.hosts["h1"].containers.len(), 1, "left behind");
    struct RunFails<'a>(&'a mut Scripted);
    impl Responder for RunFails<'_> {
        fn answer(&mut self, e: &Effect, now: Time) -> Answer {
            if e.cmd().cmd.render().starts_with("docker run") {
                let msg = "docker: Error response from daemon: Conflict. The container name is already in use.";
                return Answer::After(LATENCY, Observation::failed(e.id(), 125, msg));
            }
            self.0.answer(e, now)
        }
    }
    let run = drive_with_interrupt(Healthcheck::new(&p), &mut RunFails(&mut fleet), 0, 100, Trace::new(), None);
    let (step, why) = failure(&run);
    assert_eq!(step, Some(Step::HealthcheckStart));
    assert!(matches!(why, Why::Command(_)), "{why:?}");
    assert!(fleet.hosts["h1"].containers.is_empty(), "the leftover is gone, so a re-run can start");
}
