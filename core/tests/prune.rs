//! `prune` and `healthcheck perform` against the simulated fleet (what
//! `baton plan` will use for `deploy`): prune keeps the newest stopped
//! containers per role and their images; the health check container goes.

mod support;

use baton_core::effect::{Action, Outcome};
use baton_core::healthcheck::Healthcheck;
use baton_core::sim::drive;
use baton_core::sim::fleet::{Container, Fault, FaultKind, Fleet, Profile};
use baton_core::trace::Trace;
use support::{config, plan};

const TWO_ROLES: &str = "service: app\nimage: app\nservers:\n  web: [h1]\n  jobs: [h1]\n";

fn container(role: &str, version: &str, exited_at: Option<u64>) -> Container {
    Container {
        name: format!("app-{role}-{version}"),
        role: role.into(),
        version: version.into(),
        started: 0,
        stop_issued: exited_at,
        exited: exited_at,
        health_iv: None,
        first_check_after: 0,
        cord_dir: None,
        proxied: false,
        profile: Profile::default(),
        preexisting: true,
        as_read: None,
    }
}

/// h1 after eight deploys: web v1–v7 and jobs v1–v7 stopped, v8 running.
fn fleet() -> Fleet {
    let mut f = Fleet::new(&["h1".to_string()], 1);
    for role in ["web", "jobs"] {
        for v in 1..=7 {
            f.with_running("h1", container(role, &format!("v{v}"), Some(v)));
        }
        f.with_running("h1", container(role, "v8", None));
    }
    f.hosts.get_mut("h1").expect("h1").images.insert("v0".into());
    f
}

fn names(f: &Fleet, role: &str) -> Vec<String> {
    f.hosts["h1"].containers.iter().filter(|c| c.role == role).map(|c| c.version.clone()).collect()
}

#[test]
fn prune_all_keeps_the_newest_five_stopped_per_role_and_their_images() {
    let mut f = fleet();
    let p = plan(config(TWO_ROLES), "v8");
    let run = drive(baton_core::ops::machine(baton_core::prune::prune_all(&p)), &mut f, 0, 1000, Trace::new());
    assert_eq!(run.outcome, Some(Outcome::Succeeded));
    for role in ["web", "jobs"] {
        assert_eq!(names(&f, role), ["v3", "v4", "v5", "v6", "v7", "v8"], "{role}");
    }
    let images: Vec<&str> = f.hosts["h1"].images.iter().map(String::as_str).collect();
    assert_eq!(images, ["v3", "v4", "v5", "v6", "v7", "v8"], "images of removed containers go, kept ones stay");
    // Under the lock, containers before images, one prune per role.
    let actions: Vec<&Action> = run.effects.iter().map(|(_, e)| &e.cmd().action).collect();
    let first_images = actions.iter().position(|a| **a == Action::PruneImages).expect("images pruned");
    let last_containers = actions.iter().rposition(|a| matches!(a, Action::PruneContainers { .. })).expect("pruned");
    assert!(last_containers < first_images);
    assert!(matches!(actions.first(), Some(Action::LockAcquire { .. })));
    assert_eq!(actions.last(), Some(&&Action::LockRelease));
}

#[test]
fn retain_containers_replaces_five() {
    let mut f = fleet();
    let p = plan(config(&format!("{TWO_ROLES}retain_containers: 2\n")), "v8");
    let phases = baton_core::prune::prune_containers(&p);
    let run = drive(baton_core::ops::machine(phases), &mut f, 0, 1000, Trace::new());
    assert_eq!(run.outcome, Some(Outcome::Succeeded));
    assert_eq!(names(&f, "web"), ["v6", "v7", "v8"]);
    assert!(run.effects.iter().any(|(_, e)| e.cmd().cmd.render().contains("tail -n +3")));
}

#[test]
fn the_simulated_health_check_passes_or_fails_and_removes_its_container() {
    let cfg = "service: app\nimage: app\nservers: [h1, h2]\n";
    let mut f = Fleet::new(&["h1".to_string(), "h2".to_string()], 1);
    let run = drive(Healthcheck::new(&plan(config(cfg), "v2")), &mut f, 0, 1000, Trace::new());
    assert_eq!(run.outcome, Some(Outcome::Succeeded));
    assert!(f.hosts["h1"].containers.is_empty());

    f.faults.push(Fault { host: "h1".into(), kind: FaultKind::NeverHealthy });
    let run = drive(Healthcheck::new(&plan(config(cfg), "v3")), &mut f, 0, 1000, Trace::new());
    assert!(matches!(run.outcome, Some(Outcome::Failed { .. })), "{:?}", run.outcome);
    assert!(f.hosts["h1"].containers.is_empty());
    assert!(run.end >= 28_000, "1+2+…+7 s of waits: {}", run.end);
}
