//! End-to-end tests of `baton app boot` against the real test fleet
//! (`scripts/fleet up 3`: three hosts, each a network + mount namespace with
//! its own sshd and dockerd, and a local registry). They run the `baton`
//! binary as a user would. They need root and the fleet's Debian packages
//! (`scripts/fleet deps`); without them they fail and say why.

mod common;

use common::*;
use std::process::Command;

#[test]
fn first_boot_of_v1() {
    let (f, _g) = fleet();
    let app = boot_fresh(f, "v1");
    for h in &f.hosts {
        assert_eq!(f.running(h), vec!["app-web-v1"], "on {h}");
        assert!(f.is_healthy(h, "app-web-v1"), "app-web-v1 healthy on {h}");
        let cord = f.cord_of(h, "app-web-v1").expect("cord mounted");
        assert!(cord.contains("/.kamal/cords/app-web-"), "{cord}");
        f.sh(h, &format!("test -f {cord}/cord"));
        let audit = f.sh(h, "cat .kamal/app-audit.log");
        assert!(audit.contains("Booted app version v1"), "audit on {h}: {audit}");
        assert!(audit.contains("Tagging"), "audit on {h}: {audit}");
    }
    assert!(!f.lock_held(), "lock released");
    let status = app.ok(&["lock", "status"]);
    assert!(status.contains("There is no deploy lock"), "{status}");
}

#[test]
fn handover_from_v1_to_v2() {
    let (f, _g) = fleet();
    let app = boot_fresh(f, "v1");
    let old_cords: Vec<String> = f.hosts.iter().map(|h| f.cord_of(h, "app-web-v1").expect("cord")).collect();
    app.ok(&["app", "boot", "--version", "v2"]);
    for (h, old_cord) in f.hosts.iter().zip(&old_cords) {
        assert_eq!(f.running(h), vec!["app-web-v2"], "on {h}");
        assert!(f.is_healthy(h, "app-web-v2"));
        assert!(f.containers(h).iter().any(|(n, s)| n == "app-web-v1" && s.starts_with("exited")), "v1 stopped on {h}");
        assert_ne!(f.ssh(h, &format!("test -e {old_cord}")).0, 0, "old cord dir {old_cord} gone on {h}");
        assert_eq!(
            f.sh(
                h,
                "wget -qO- http://$(docker inspect --format '{{.NetworkSettings.IPAddress}}' app-web-v2):3000/version"
            )
            .trim(),
            "v2"
        );
    }
    assert!(!f.lock_held());
}

#[test]
fn booting_the_running_version_again_renames_it() {
    let (f, _g) = fleet();
    let app = boot_fresh(f, "v1");
    app.ok(&["app", "boot", "--version", "v1"]);
    for h in &f.hosts {
        let all = f.containers(h);
        let replaced: Vec<&String> =
            all.iter().map(|(n, _)| n).filter(|n| n.starts_with("app-web-v1_replaced_")).collect();
        assert_eq!(replaced.len(), 1, "on {h}: {all:?}");
        let suffix = &replaced[0]["app-web-v1_replaced_".len()..];
        assert!(suffix.len() == 16 && suffix.bytes().all(|b| b.is_ascii_hexdigit()), "{suffix}");
        assert_eq!(f.running(h), vec!["app-web-v1"], "the new v1 serves on {h}");
        assert!(f.is_healthy(h, "app-web-v1"));
    }
}

#[test]
fn a_version_that_never_gets_healthy_leaves_the_old_one_serving() {
    let (f, _g) = fleet();
    let app = boot_fresh(f, "v2");
    let out = app.baton(&["app", "boot", "--version", "unhealthy"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("wait for the new container to be healthy"), "{err}");
    assert!(f.hosts.iter().any(|h| err.contains(h.as_str())), "names a host: {err}");
    for h in &f.hosts {
        assert_eq!(f.running(h), vec!["app-web-v2"], "v2 still serves on {h}");
        assert!(f.is_healthy(h, "app-web-v2"));
        let cord = f.cord_of(h, "app-web-v2").expect("cord");
        f.sh(h, &format!("test -f {cord}/cord"));
        assert!(
            f.containers(h).iter().any(|(n, s)| n == "app-web-unhealthy" && s.starts_with("exited")),
            "new one stopped on {h}"
        );
    }
    assert!(f.lock_held(), "the lock stays held after a failed boot");
    let status = app.ok(&["lock", "status"]);
    assert!(status.contains("Locked by:") && status.contains("Version: unhealthy"), "{status}");
    app.ok(&["lock", "release"]);
}

#[test]
fn a_host_whose_sshd_is_down_is_named_and_nothing_is_half_done() {
    let (f, _g) = fleet();
    let app = boot_fresh(f, "v1");
    let pidfile = "/run/baton-fleet/h2/sshd.pid";
    let pid = std::fs::read_to_string(pidfile).expect("h2's sshd pid");
    assert!(Command::new("kill").arg(pid.trim()).status().expect("kill").success());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = app.baton(&["app", "boot", "--version", "v2"]);
    // Bring h2's sshd back before any assertion can fail.
    let up = Command::new(f.root.join("scripts/fleet")).args(["up", "3"]).output().expect("fleet up");
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let h2 = &f.hosts[1];
    assert!(err.contains(&format!("{h2} failed to pull and tag the image")), "{err}");
    assert!(err.contains("unreachable"), "{err}");
    for h in &f.hosts {
        // The failure came before any container was started anywhere.
        assert_eq!(f.running(h), vec!["app-web-v1"], "on {h}");
        assert!(!f.containers(h).iter().any(|(n, _)| n == "app-web-v2"), "no v2 on {h}");
    }
    assert!(f.lock_held());
    app.ok(&["lock", "release"]);
}

#[test]
fn baton_takes_over_a_container_kamal_started() {
    let (f, _g) = fleet();
    f.reset();
    let app = f.app("");
    app.ok(&["env", "push"]);
    let run_id = "0123456789abcdef0123456789abcdef";
    for h in &f.hosts {
        // Exactly the commands Kamal 1.0 runs for this config (tie_cord, then run).
        let image = format!("{}/baton-testapp", f.registry);
        f.sh(
            h,
            &format!(
                "mkdir -p $(pwd)/.kamal/cords/app-web-{run_id} && touch $(pwd)/.kamal/cords/app-web-{run_id}/cord"
            ),
        );
        f.sh(
            h,
            &format!(
                "docker run --detach --restart unless-stopped --name app-web-v1 --hostname {h}-0a1b2c3d4e5f -e KAMAL_CONTAINER_NAME=\"app-web-v1\" --env-file .kamal/env/roles/app-web.env --health-cmd \"(wget -qO- http://localhost:3000/up) && (stat /tmp/kamal-cord/cord > /dev/null || exit 1)\" --health-interval \"1s\" --volume $(pwd)/.kamal/cords/app-web-{run_id}:/tmp/kamal-cord --log-opt max-size=\"10m\" --label service=\"app\" --label role=\"web\" --label traefik.http.services.app-web.loadbalancer.server.scheme=\"http\" --label traefik.http.routers.app-web.rule=\"PathPrefix(\\`/\\`)\" --label traefik.http.middlewares.app-web-retry.retry.attempts=\"5\" --label traefik.http.middlewares.app-web-retry.retry.initialinterval=\"500ms\" --label traefik.http.routers.app-web.middlewares=\"app-web-retry@docker\" {image}:v1 >/dev/null"
            ),
        );
    }
    for h in &f.hosts {
        for _ in 0..40 {
            if f.is_healthy(h, "app-web-v1") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        assert!(f.is_healthy(h, "app-web-v1"), "Kamal's container healthy on {h}");
    }
    app.ok(&["app", "boot", "--version", "v2"]);
    for h in &f.hosts {
        assert_eq!(f.running(h), vec!["app-web-v2"], "on {h}");
        assert!(
            f.containers(h).iter().any(|(n, s)| n == "app-web-v1" && s.starts_with("exited")),
            "Kamal's v1 stopped on {h}"
        );
        assert_ne!(f.ssh(h, &format!("test -e .kamal/cords/app-web-{run_id}")).0, 0, "Kamal's cord was cut on {h}");
        // baton's container carries the same labels Kamal's did.
        let labels = f.sh(h, "docker inspect --format '{{json .Config.Labels}}' app-web-v2");
        assert!(labels.contains(r#""traefik.http.routers.app-web.rule":"PathPrefix(`/`)""#), "{labels}");
    }
}
