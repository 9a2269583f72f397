//! The `traefik` commands' phases, and `reboot --rolling` driven host by
//! host against a scripted fleet.

use super::*;
use crate::config::{Config, Source};
use crate::driver::{Answer, Driver, Responder};
use crate::effect::{Effect, Event, Observation, Outcome};
use crate::plan::LockInfo;
use crate::time::Time;

const BASE: &str = "service: app\nimage: dhh/app\nservers:\n  web: [h1, h2, h3]\n  jobs:\n    hosts: [h4]\nregistry:\n  username: u\n  password: [P]\n";

fn plan(extra: &str, hosts: Option<&[String]>) -> Plan {
    let text = format!("{BASE}{extra}");
    let cfg = Config::parse(Source { name: "config/deploy.yml", text: &text }, None).expect("config");
    let lock = LockInfo { holder: "Ada".into(), at_utc: "2026-12-02T10:00:00Z".into(), message: String::new() };
    Plan::new(cfg, "v1", hosts, None, "ada", lock).expect("plan")
}

fn creds() -> Credentials {
    Credentials { username: "u".into(), password: "secret".into() }
}

const API: &str = "traefik:\n  args:\n    api.insecure: true\n";
const ROUTES: &str = "baton:\n  poll_interval: 500ms\n  routes: traefik\n";

#[test]
fn traefik_hosts_are_the_web_hosts_among_the_selected() {
    assert_eq!(traefik_hosts(&plan("", None)), vec!["h1", "h2", "h3"]);
    assert_eq!(traefik_hosts(&plan("", Some(&["h2".into(), "h4".into()]))), vec!["h2"]);
}

#[test]
fn boot_logs_in_with_the_password_on_stdin_then_starts_or_runs() {
    let phases = boot(&plan("", None), &creds());
    assert_eq!(phases.iter().map(|p| p.name).collect::<Vec<_>>(), vec!["lock", "traefik boot", "unlock"]);
    let script = &phases[1].scripts[0];
    assert_eq!(script[0].cmd.render(), "docker login -u u --password-stdin");
    assert_eq!(script[0].stdin.as_ref().map(|s| s.bytes.clone()), Some(b"secret".to_vec()));
    assert!(!script.iter().any(|s| s.cmd.render().contains("secret")), "no password on a command line");
    assert!(script[1].cmd.render().starts_with("docker container start traefik || docker run --name traefik"));
    let ensure = ensure_running(&plan("", None));
    assert!(ensure.required && ensure.scripts.iter().all(|s| s.len() == 1), "deploy's step does not log in again");
}

#[test]
fn env_push_and_delete_touch_traefiks_env_file_only_when_it_has_env() {
    let secrets = std::collections::BTreeMap::from([("KEY".to_string(), "s3cret".to_string())]);
    assert!(env_push_phase(&plan("", None), &secrets).unwrap().is_none());
    assert!(env_delete_phase(&plan("", None)).is_none());
    let p = plan("traefik:\n  env:\n    clear:\n      A: b\n    secret: [KEY]\n", None);
    let push = env_push_phase(&p, &secrets).unwrap().expect("a phase");
    assert_eq!(push.scripts.len(), 3);
    let step = &push.scripts[0][0];
    assert_eq!(step.stdin.as_ref().map(|s| s.bytes.clone()), Some(b"KEY=s3cret\nA=b\n".to_vec()));
    assert!(!step.cmd.render().contains("s3cret"));
    assert_eq!(
        env_push_phase(&p, &Default::default()).unwrap_err(),
        "traefik.env.secret: KEY (Traefik) is not set; export it, or put KEY=… in .env"
    );
    let delete = env_delete_phase(&p).expect("a phase");
    assert_eq!(delete.scripts[2][0].cmd.render(), "rm -f .kamal/env/traefik/traefik.env");
}

/// A scripted fleet: Traefik on each host is down from its `docker run`
/// until `back_after` later; the app is healthy on every web host.
struct Fleet {
    back_after: Time,
    /// host → when its Traefik was started again.
    started: std::collections::BTreeMap<String, Time>,
    /// (time, host, what) of every command that changes a host.
    log: Vec<(Time, String, String)>,
}

impl Responder for Fleet {
    fn answer(&mut self, effect: &Effect, now: Time) -> Answer {
        let c = effect.cmd();
        let line = c.cmd.render();
        let ok = |out: &str| Answer::After(10, Observation::ok(c.id, out));
        if !effect.is_poll() {
            self.log.push((now, c.host.clone(), line.clone()));
            if line.starts_with("docker run --name traefik") {
                self.started.insert(c.host.clone(), now + 10);
            }
            return ok("");
        }
        if line.starts_with("docker ps") {
            return ok("web\n");
        }
        let up = self.started.get(&c.host).is_none_or(|t| now >= t + self.back_after);
        if line.contains("inspect") {
            return ok(if up { "running\n" } else { "restarting\n" });
        }
        if !up {
            return Answer::After(10, Observation::failed(c.id, 1, "wget: can't connect to remote host"));
        }
        ok(r#"[{"name":"app-web@docker","loadBalancer":{"servers":[{"url":"http://172.17.0.3:3000"}]}}]"#)
    }
}

fn drive(p: &Plan, back_after: Time) -> (Driver<Sequence>, Fleet) {
    let mut fleet = Fleet { back_after, started: Default::default(), log: vec![] };
    let mut d = Driver::new(reboot_rolling(p, &creds()), 0, &mut fleet);
    while d.outcome.is_none() {
        assert!(d.step(&mut fleet), "the run ends");
    }
    (d, fleet)
}

#[test]
fn reboot_rolling_goes_host_by_host_and_waits_for_each_proxy_with_the_app() {
    let p = plan(&format!("{API}{ROUTES}"), None);
    assert!(p.config.baton.routes_command.is_some());
    let (d, fleet) = drive(&p, 3_000);
    assert_eq!(d.outcome, Some(Outcome::Succeeded));
    let runs: Vec<(Time, &str)> = fleet
        .log
        .iter()
        .filter(|(_, _, l)| l.starts_with("docker run --name traefik"))
        .map(|(t, h, _)| (*t, h.as_str()))
        .collect();
    assert_eq!(runs.iter().map(|(_, h)| *h).collect::<Vec<_>>(), vec!["h1", "h2", "h3"]);
    // Each host's Traefik goes down only after the one before is back (3 s after its run).
    let stops: Vec<(Time, &str)> = fleet
        .log
        .iter()
        .filter(|(_, _, l)| l == "docker container stop traefik")
        .map(|(t, h, _)| (*t, h.as_str()))
        .collect();
    for i in 1..3 {
        assert!(
            stops[i].0 >= runs[i - 1].0 + 3_000,
            "{} stopped at {} before {} was back",
            stops[i].1,
            stops[i].0,
            runs[i - 1].1
        );
    }
    assert!(d.events.iter().any(|(_, e)| matches!(e, Event::StepDone(r) if r.step.label == "traefik back")));
}

#[test]
fn reboot_rolling_stops_at_a_host_whose_proxy_does_not_come_back() {
    let p = plan(&format!("{API}{ROUTES}"), None);
    let (d, fleet) = drive(&p, 1_000_000);
    let Some(Outcome::Failed { failures }) = &d.outcome else { panic!("{:?}", d.outcome) };
    assert!(matches!(&failures[0].why, Why::ProxyNotBack { budget: 31_000, .. }), "{failures:?}");
    assert_eq!(failures[0].host, "h1");
    assert!(!fleet.log.iter().any(|(_, h, _)| h == "h2" || h == "h3"), "h2 and h3 were not touched");
    assert!(
        fleet.log.last().is_some_and(|(_, _, l)| l.starts_with("rm -f .kamal/lock-app/details")),
        "the lock is released"
    );
}

#[test]
fn without_routes_reboot_rolling_waits_for_the_container_and_says_routes_are_unconfirmed() {
    let (d, _) = drive(&plan("", None), 2_000);
    assert_eq!(d.outcome, Some(Outcome::Succeeded));
    let warnings = d
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::Warning { message, .. } if message.contains("routes were not confirmed")))
        .count();
    assert_eq!(warnings, 3);
}

use crate::failure::Why;

#[test]
fn ctrl_c_during_a_hosts_wait_reboots_no_further_host_and_releases_the_lock() {
    let p = plan(&format!("{API}{ROUTES}"), None);
    let mut fleet = Fleet { back_after: 60_000, started: Default::default(), log: vec![] };
    let mut d = Driver::new(reboot_rolling(&p, &creds()), 0, &mut fleet);
    d.interrupt_at = Some(5_000);
    while d.outcome.is_none() {
        assert!(d.step(&mut fleet), "the run ends");
    }
    let Some(Outcome::Failed { failures }) = &d.outcome else { panic!("{:?}", d.outcome) };
    assert!(failures.iter().all(|f| f.why.is_interrupt()), "{failures:?}");
    assert!(!fleet.log.iter().any(|(_, h, _)| h == "h2" || h == "h3"), "h2 and h3 were not touched");
    assert!(
        fleet.log.last().is_some_and(|(_, _, l)| l.starts_with("rm -f .kamal/lock-app/details")),
        "the lock is released"
    );
    assert!(d.effects.iter().all(|(t, _)| *t <= 5_100), "nothing is read long after the interrupt");
}
