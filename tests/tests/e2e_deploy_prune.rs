//! End-to-end: seven `baton deploy`s on the 3-host fleet, each of a new
//! version built here, each ending with `prune all`. Afterwards every host
//! keeps exactly what Kamal's rules keep: the running container, the last 5
//! stopped ones of the role, the images those 6 use, and `latest` (never
//! pruned); nothing else of the service. Then `rollback` to each kept
//! version works, and `rollback` to the pruned one is refused.

mod common;

use common::*;
use std::collections::BTreeSet;

fn set<I: IntoIterator<Item = String>>(i: I) -> BTreeSet<String> {
    i.into_iter().collect()
}

/// The service's tagged images on `host`, as `repository:tag`.
fn images(f: &Fleet, host: &str) -> BTreeSet<String> {
    let out = f.sh(
        host,
        "docker image ls --filter label=service=app --filter dangling=false --format '{{.Repository}}:{{.Tag}}'",
    );
    set(out.lines().map(str::to_string))
}

#[test]
fn after_seven_deploys_prune_keeps_the_last_five_and_rollback_reaches_each() {
    let (f, _g) = fleet_traefik();
    let dir = deploy_app_dir(f, "");
    baton_ok(f, &dir, &["env", "push"]);
    let pid = std::process::id();
    let versions: Vec<String> = (1..=7).map(|i| format!("p{i}-{pid}")).collect();
    let repo = format!("{}/baton-testapp", f.registry);
    for (i, v) in versions.iter().enumerate() {
        dockerfile(f, &dir, "v1", v);
        baton_ok(f, &dir, &["deploy", "--version", v]);
        if i == 0 {
            // `latest` on the hosts, pointing at the first version's image:
            // prune never removes it, even when no container uses it.
            for h in &f.hosts {
                f.sh(h, &format!("docker pull -q {repo}:latest >/dev/null"));
            }
        }
    }
    wait_served(f, &versions[6]);

    let kept = &versions[1..];
    for h in &f.hosts {
        let containers = f.containers(h);
        let names = set(containers.iter().map(|(n, _)| n.clone()));
        assert_eq!(names, set(kept.iter().map(|v| format!("app-web-{v}"))), "containers on {h}: {containers:?}");
        assert_eq!(f.running(h), vec![format!("app-web-{}", versions[6])], "on {h}");
        let want = set(kept.iter().map(|v| format!("{repo}:{v}")).chain([format!("{repo}:latest")]));
        assert_eq!(images(f, h), want, "images on {h}");
        let (_, hc, _) = f.ssh(h, "docker ps -a --filter label=service=healthcheck-app --format '{{.Names}}'");
        assert!(hc.trim().is_empty(), "health check containers left on {h}: {hc}");
    }

    // `rollback` lists exactly the kept versions, and reaches each.
    let listed = baton_ok(f, &dir, &["rollback"]);
    for v in kept {
        assert!(listed.contains(v.as_str()), "rollback does not list {v}:\n{listed}");
    }
    assert!(!listed.contains(versions[0].as_str()), "rollback lists the pruned {}:\n{listed}", versions[0]);
    for v in kept.iter().rev().skip(1) {
        baton_ok(f, &dir, &["rollback", v]);
        wait_served(f, v);
        for h in &f.hosts {
            assert_eq!(f.running(h), vec![format!("app-web-{v}")], "after rollback to {v} on {h}");
        }
    }
    let out = baton_in(f, &dir, &["rollback", &versions[0]]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "rollback to the pruned {}:\n{t}", versions[0]);
    assert!(t.contains(&format!("no container of version {} on", versions[0])), "{t}");
    assert!(!f.lock_held(), "{t}");
    // Back to the newest: rollback goes forward too.
    baton_ok(f, &dir, &["rollback", &versions[6]]);
    wait_served(f, &versions[6]);
}
