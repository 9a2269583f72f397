//! `deploy`, `redeploy` and `rollback` as sequences of machines under one
//! lock, driven against the simulated fleet: the order of their steps, what
//! a failed hook stops, and that a rollback to a version some host lacks
//! changes nothing.

mod support;

use baton_core::effect::{Action, Effect, Observation, Outcome, LOCAL};
use baton_core::failure::Why;
use baton_core::flow::hooks::Hooks;
use baton_core::flow::{self, Credentials, Flow};
use baton_core::plan::Plan;
use baton_core::sim::fleet::Fleet;
use baton_core::sim::{self, Answer, Responder, Run, Scenario};
use baton_core::time::Time;

const CONFIG: &str =
    "service: app\nimage: app\nservers:\n  web: [h1, h2]\n  jobs:\n    hosts: [h2]\n    cmd: bin/jobs\n";
const PASSWORD: &str = "pa55-w0rd-marker";

fn plan(version: &str) -> Plan {
    support::plan(support::config(CONFIG), version)
}

fn hooks(present: &[&str]) -> Hooks {
    Hooks { dir: ".kamal/hooks".into(), present: present.iter().map(|s| s.to_string()).collect(), skip: false }
}

fn flow_with(h: Hooks, skip_push: bool) -> Flow {
    seeded(h, skip_push, 3)
}

/// Each real run has a seed of its own (its run id names its cord
/// directories); runs on one fleet must not share one.
fn seeded(h: Hooks, skip_push: bool, seed: u64) -> Flow {
    Flow {
        hooks: h,
        seed,
        skip_push,
        credentials: Credentials { username: "deployer".into(), password: PASSWORD.into() },
    }
}

/// A fleet where every host runs `from` (as a previous deploy left it).
fn fleet(plan: &Plan, from: Option<&str>) -> Fleet {
    sim::fleet_for(plan, &Scenario { from: from.map(str::to_string), seed: 3, ..Default::default() })
}

/// Fails the hooks named in `failing`; everything else is the fleet's.
struct FailingHooks<'a> {
    fleet: &'a mut Fleet,
    failing: &'a [&'a str],
}

impl Responder for FailingHooks<'_> {
    fn answer(&mut self, effect: &Effect, now: Time) -> Answer {
        let c = effect.cmd();
        if let Action::Hook { name } = &c.action {
            if self.failing.contains(&name.as_str()) {
                return Answer::After(5, Observation::failed(c.id, 1, format!("{name} says no")));
            }
        }
        self.fleet.answer(effect, now)
    }
}

fn run(machine: baton_core::sequence::Sequence, fleet: &mut Fleet, failing: &[&str], start: Time) -> Run {
    let mut r = FailingHooks { fleet, failing };
    sim::drive(machine, &mut r, start, 1_000_000, baton_core::trace::Trace::new())
}

/// Each effect that changes something, as `host: what`.
fn changes(run: &Run) -> Vec<String> {
    run.effects
        .iter()
        .filter(|(_, e)| !e.is_poll())
        .map(|(_, e)| {
            let c = e.cmd();
            let host = if c.host == LOCAL { "local" } else { c.host.as_str() };
            let what = match &c.action {
                Action::Hook { name } => format!("hook {name}"),
                Action::LockAcquire { .. } => "lock".into(),
                Action::LockRelease => "unlock".into(),
                Action::RegistryLogin => "login".into(),
                Action::BuildPush { .. } => "build push".into(),
                Action::PullImage { .. } => "pull".into(),
                Action::RunContainer { name, .. } => format!("run {name}"),
                Action::Stop { name } => format!("stop {name}"),
                Action::PruneContainers { .. } => "prune containers".into(),
                Action::PruneImages => "prune images".into(),
                Action::Other if c.cmd.render().starts_with("docker container start traefik ||") => {
                    "traefik boot".into()
                }
                _ => return String::new(),
            };
            format!("{host}: {what}")
        })
        .filter(|s| !s.is_empty())
        .collect()
}

fn position(list: &[String], item: &str) -> usize {
    list.iter().position(|x| x == item).unwrap_or_else(|| panic!("{item:?} not in {list:#?}"))
}

#[test]
fn deploy_runs_kamal_1s_steps_in_kamal_1s_order() {
    let p = plan("v2");
    let mut f = fleet(&p, Some("v1"));
    let all = hooks(&["pre-connect", "pre-build", "pre-deploy", "post-deploy"]);
    let r = run(flow::deploy(&p, &flow_with(all, false)), &mut f, &[], 0);
    assert_eq!(r.outcome, Some(Outcome::Succeeded), "{:#?}", r.events);
    let c = changes(&r);
    let order = [
        "local: hook pre-connect",
        "h1: lock",
        "local: login",
        "local: hook pre-build",
        "local: build push",
        "h2: pull",
        "local: hook pre-deploy",
        "h1: traefik boot",
        "h1: run healthcheck-app-v2",
        "h2: run app-jobs-v2",
        "h2: prune containers",
        "h2: prune images",
        "h1: unlock",
        "local: hook post-deploy",
    ];
    let at: Vec<usize> = order.iter().map(|s| position(&c, s)).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "out of order: {order:?} at {at:?} in {c:#?}");
    // Every host logs in and pulls before any container starts.
    let first_run = c.iter().position(|s| s.contains(": run ")).expect("a run");
    for h in ["h1", "h2"] {
        assert!(position(&c, &format!("{h}: login")) < first_run);
        assert!(position(&c, &format!("{h}: pull")) < first_run);
    }
    // The old containers were stopped: v2 serves everywhere.
    for h in ["h1", "h2"] {
        assert!(c.contains(&format!("{h}: stop app-web-v1")), "{c:#?}");
    }
}

#[test]
fn the_registry_password_goes_to_stdin_and_never_into_a_command_line() {
    let p = plan("v2");
    let mut f = fleet(&p, None);
    let r = run(flow::deploy(&p, &flow_with(hooks(&[]), false)), &mut f, &[], 0);
    assert_eq!(r.outcome, Some(Outcome::Succeeded));
    let logins: Vec<&Effect> =
        r.effects.iter().map(|(_, e)| e).filter(|e| e.cmd().action == Action::RegistryLogin).collect();
    assert_eq!(logins.len(), 3, "this machine and both hosts log in");
    for e in &logins {
        assert_eq!(e.cmd().stdin.as_ref().map(|s| s.bytes.as_slice()), Some(PASSWORD.as_bytes()));
        assert!(e.cmd().cmd.render().ends_with("docker login -u deployer --password-stdin"));
    }
    for (_, e) in &r.effects {
        assert!(!e.cmd().cmd.render().contains(PASSWORD), "{}", e.cmd().cmd.render());
        assert!(!format!("{e:?}").contains(PASSWORD), "Debug shows no stdin");
    }
    assert!(!r.trace.render().contains(PASSWORD));
}

#[test]
fn redeploy_does_not_log_in_and_skip_push_pulls_instead_of_building() {
    let p = plan("v2");
    let mut f = fleet(&p, Some("v1"));
    let r = run(flow::redeploy(&p, &flow_with(hooks(&[]), true)), &mut f, &[], 0);
    assert_eq!(r.outcome, Some(Outcome::Succeeded));
    let c = changes(&r);
    assert!(!c.iter().any(|s| s.ends_with("login") || s.ends_with("build push")), "{c:#?}");
    assert!(!c.iter().any(|s| s.contains("prune")), "redeploy does not prune: {c:#?}");
    assert!(!c.iter().any(|s| s.contains("traefik")), "redeploy does not boot Traefik: {c:#?}");
    assert!(c.contains(&"h1: run healthcheck-app-v2".to_string()), "{c:#?}");
    assert!(c.contains(&"h1: pull".to_string()) && c.contains(&"h2: pull".to_string()));
}

#[test]
fn a_failed_hook_stops_the_deploy_before_the_hosts_change_and_releases_the_lock() {
    let p = plan("v2");
    let mut f = fleet(&p, Some("v1"));
    let all = hooks(&["pre-connect", "pre-build", "pre-deploy", "post-deploy"]);
    let r = run(flow::deploy(&p, &flow_with(all.clone(), false)), &mut f, &["pre-deploy"], 0);
    let Some(Outcome::Failed { failures }) = &r.outcome else { panic!("fails: {:?}", r.outcome) };
    assert!(matches!(&failures[0].why, Why::Hook { name, .. } if name == "pre-deploy"), "{failures:?}");
    let c = changes(&r);
    assert!(!c.iter().any(|s| s.contains(": run ")), "no container started: {c:#?}");
    assert_eq!(c.last().map(String::as_str), Some("h1: unlock"), "the lock is released: {c:#?}");
    assert!(!c.contains(&"local: hook post-deploy".to_string()));

    // pre-connect fails: the lock is never taken, nothing runs.
    let mut f = fleet(&p, Some("v1"));
    let r = run(flow::deploy(&p, &flow_with(all.clone(), false)), &mut f, &["pre-connect"], 0);
    assert!(matches!(r.outcome, Some(Outcome::Failed { .. })));
    assert_eq!(changes(&r), vec!["local: hook pre-connect"]);

    // -H: no hook runs, so none can fail.
    let mut f = fleet(&p, Some("v1"));
    let skipped = Hooks { skip: true, ..all };
    let r = run(flow::deploy(&p, &flow_with(skipped, false)), &mut f, &["pre-connect", "pre-deploy"], 0);
    assert_eq!(r.outcome, Some(Outcome::Succeeded));
    assert!(!changes(&r).iter().any(|s| s.contains("hook")));
}

#[test]
fn post_deploy_is_told_the_runtime_and_every_hook_kamals_variables() {
    let p = plan("v2");
    let mut f = fleet(&p, Some("v1"));
    let all = hooks(&["pre-connect", "post-deploy"]);
    let r = run(flow::deploy(&p, &flow_with(all, false)), &mut f, &[], 0);
    let hook_lines: Vec<(Time, String)> = r
        .effects
        .iter()
        .filter(|(_, e)| matches!(e.cmd().action, Action::Hook { .. }))
        .map(|(t, e)| (*t, e.cmd().cmd.render()))
        .collect();
    assert_eq!(hook_lines.len(), 2);
    let (t, post) = &hook_lines[1];
    for var in [
        "KAMAL_RECORDED_AT=2026-11-27T10:00:00Z",
        "KAMAL_PERFORMER=deployer",
        "KAMAL_VERSION=v2",
        "KAMAL_SERVICE_VERSION=app@v2",
        "KAMAL_HOSTS=h2,h1",
        "KAMAL_COMMAND=deploy",
    ] {
        assert!(post.contains(var), "{var} in {post}");
    }
    let runtime = format!("KAMAL_RUNTIME={}", (t + 500) / 1000);
    assert!(post.contains(&runtime) && post.ends_with(".kamal/hooks/post-deploy"), "{runtime} in {post}");
    assert!(!hook_lines[0].1.contains("KAMAL_RUNTIME"), "only post-deploy gets the runtime");
}

#[test]
fn rollback_goes_back_to_a_version_every_host_has_and_refuses_one_that_is_missing() {
    let p2 = plan("v2");
    let mut f = fleet(&p2, Some("v1"));
    let none = hooks(&[]);
    let first = run(flow::deploy(&p2, &flow_with(none.clone(), false)), &mut f, &[], 0);
    assert_eq!(first.outcome, Some(Outcome::Succeeded));

    // v9 never ran anywhere: nothing changes but the lock, taken and given back.
    let p9 = plan("v9");
    let r = run(flow::rollback(&p9, &seeded(none.clone(), false, 4)), &mut f, &[], first.end);
    let Some(Outcome::Failed { failures }) = &r.outcome else { panic!("refused: {:?}", r.outcome) };
    let Why::VersionMissing { version, missing, available } = &failures[0].why else { panic!("{failures:?}") };
    assert_eq!(version, "v9");
    assert_eq!(missing.len(), 3, "h1 web, h2 jobs, h2 web: {missing:?}");
    assert_eq!(available, &vec!["v1".to_string(), "v2".to_string()]);
    assert_eq!(changes(&r), vec!["h1: lock", "h1: unlock"]);

    // v1: its stopped containers are there; it boots through the cord handover.
    let p1 = plan("v1");
    let r = run(flow::rollback(&p1, &seeded(none, false, 5)), &mut f, &[], r.end);
    assert_eq!(r.outcome, Some(Outcome::Succeeded), "{:#?}", r.events);
    let c = changes(&r);
    for h in ["h1", "h2"] {
        assert!(c.contains(&format!("{h}: stop app-web-v2")), "{c:#?}");
    }
    let serving: Vec<String> = f
        .hosts
        .values()
        .flat_map(|h| h.containers.iter().filter(|c| c.exited.is_none()).map(|c| c.name.clone()))
        .collect();
    assert!(serving.iter().all(|n| n.ends_with("-v1")), "{serving:?}");
}

#[test]
fn a_version_that_never_turns_healthy_stops_at_the_health_check_and_no_host_changes() {
    let p = plan("v2");
    let mut profiles = std::collections::BTreeMap::new();
    profiles.insert("v2".to_string(), baton_core::sim::fleet::Profile { healthy: false, ..Default::default() });
    let scenario = Scenario { from: Some("v1".into()), seed: 3, profiles, ..Default::default() };
    let mut f = sim::fleet_for(&p, &scenario);
    let r = run(flow::deploy(&p, &flow_with(hooks(&["post-deploy"]), false)), &mut f, &[], 0);
    let Some(Outcome::Failed { failures }) = &r.outcome else { panic!("fails: {:?}", r.outcome) };
    assert!(matches!(failures[0].why, Why::HealthcheckNotHealthy { removed: true, .. }), "{failures:?}");
    let c = changes(&r);
    assert!(!c.iter().any(|s| s.contains("run app-")), "no app container started: {c:#?}");
    assert!(!c.iter().any(|s| s.contains("stop app-web-v1")), "v1 keeps serving: {c:#?}");
    assert!(!c.iter().any(|s| s.contains("post-deploy")));
    assert_eq!(c.last().map(String::as_str), Some("h1: unlock"), "{c:#?}");
}
