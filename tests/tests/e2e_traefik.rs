//! Traefik on the real fleet, run as Kamal runs it: `scripts/fleet up 3
//! --traefik` leaves port 80 of every host free and pushes the Traefik
//! stand-in (fleet-proxy in Traefik mode, docs/fleet-proxy.md) as an image;
//! `baton traefik boot`, with `traefik.image` pointing at it, starts the
//! container `traefik` on every host (port 80, the Docker socket,
//! `--providers.docker`, the config's `args`). Then:
//!
//! * the app boots and serves through the traefik container on every host;
//! * a handover under load, with `baton.routes: traefik` reading the booted
//!   container's API, loses no request;
//! * `baton traefik reboot --rolling` under load: the failed requests are
//!   reported per host, with their number and reason, and every one of them
//!   went to a host whose traefik container was restarting at that moment.

mod common;

use baton_loadgen::{Failure, LoadReport};
use common::*;
use std::collections::BTreeMap;
use std::net::TcpStream;
use std::time::Duration;

const RATE: u32 = 300;

/// The app's config with a `traefik:` section for the fleet's stand-in: the
/// API on :8080 (`api.insecure`, which `baton.routes: traefik` reads) and the
/// same pickup delay as the config's `baton.proxy_pickup`; the registry
/// password in `.env`.
fn traefik_app(f: &Fleet, routes: bool) -> App {
    let routes = if routes { "  routes: traefik\n" } else { "" };
    let app = f.app(&format!("{routes}{}", f.traefik_section()));
    // `traefik boot` logs in to the registry first, as Kamal's does.
    std::fs::write(app.dir.join(".env"), format!("BATON_REGISTRY_PASSWORD={}\n", f.registry_password))
        .expect("write .env");
    app
}

/// Fail, saying why, when this baton has no `traefik` command.
fn need_traefik_commands(app: &App) {
    let out = app.baton(&["traefik", "--help"]);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("reboot"),
        "`baton traefik --help` failed: baton has no `traefik boot|reboot` commands yet (issue 13), so Traefik \
         cannot be tested on the fleet:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `baton ARGS`, which must succeed and must not fall back to pauses: with
/// `baton.routes: traefik`, the routes are read from the booted container.
fn ok_with_routes(app: &App, args: &[&str]) -> String {
    let out = app.baton(args);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "baton {args:?} failed:\n{text}");
    assert!(
        !text.contains("cannot confirm routes"),
        "baton {args:?} could not read the traefik container's API:\n{text}"
    );
    text
}

/// Reset the fleet, then env push, traefik boot and app boot `version`, and
/// wait until every host's port 80 serves it.
fn boot_through_traefik(f: &Fleet, app: &App, version: &str) {
    f.reset();
    need_traefik_commands(app);
    app.ok(&["env", "push"]);
    app.ok(&["traefik", "boot"]);
    app.ok(&["app", "boot", "--version", version]);
    wait_routed(f, version);
}

/// The traefik container on `host`: (id, image, running, restart policy).
fn traefik_container(f: &Fleet, host: &str) -> (String, String, bool, String) {
    let out = f.sh(
        host,
        "docker inspect --format '{{.Id}} {{.Config.Image}} {{.State.Running}} {{.HostConfig.RestartPolicy.Name}}' traefik",
    );
    let w: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(w.len(), 4, "docker inspect traefik on {host}: {out:?}");
    (w[0].to_string(), w[1].to_string(), w[2] == "true", w[3].to_string())
}

fn summary(r: &LoadReport) -> String {
    let c = &r.counts;
    format!(
        "{} requests: {} ok, {} non-2xx, {} connect errors, {} timeouts, {} bad bodies; bodies {:?}",
        c.total, c.ok, c.non_2xx, c.connect_errors, c.timeouts, c.bad_body, c.bodies
    )
}

#[test]
fn traefik_boot_and_app_boot_serve_through_the_traefik_container_on_every_host() {
    let (f, _g) = fleet_traefik();
    f.reset();
    for h in &f.hosts {
        assert!(
            TcpStream::connect_timeout(&format!("{h}:80").parse().expect("address"), Duration::from_secs(2)).is_err(),
            "port 80 of {h} accepts connections before `baton traefik boot`: the fleet is not in --traefik mode"
        );
    }
    let app = traefik_app(f, false);
    need_traefik_commands(&app);
    app.ok(&["env", "push"]);
    app.ok(&["traefik", "boot"]);
    let image = f.traefik_image.clone().expect("image");
    for h in &f.hosts {
        let (_, img, running, restart) = traefik_container(f, h);
        assert_eq!((img.as_str(), running, restart.as_str()), (image.as_str(), true, "unless-stopped"), "on {h}");
        let mounts = f.sh(h, "docker inspect --format '{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}' traefik");
        assert!(mounts.contains("/var/run/docker.sock:/var/run/docker.sock"), "traefik's mounts on {h}: {mounts}");
    }
    app.ok(&["app", "boot", "--version", "v1"]);
    wait_routed(f, "v1");
    for h in &f.hosts {
        let ip =
            f.sh(h, "docker inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' app-web-v1");
        let api = f.sh(h, "docker exec traefik wget -qO- http://localhost:8080/api/http/services");
        assert!(
            api.contains(&format!("http://{}:3000", ip.trim())),
            "traefik's API on {h} lacks app-web-v1 ({ip}): {api}"
        );
        let (_, logs, _) = f.ssh(h, "docker logs traefik 2>&1");
        assert!(
            logs.contains("(Traefik mode)") && logs.contains("(app-web-v1)"),
            "the traefik container on {h} did not route app-web-v1:\n{logs}"
        );
        assert_eq!(http_get(&format!("{h}:80"), "/version").as_deref().map(str::trim), Some("v1"), "on {h}");
    }
}

#[test]
fn handovers_through_the_booted_traefik_with_route_confirmation_lose_no_request() {
    let (f, _g) = fleet_traefik();
    let app = traefik_app(f, true);
    boot_through_traefik(f, &app, "v1");
    for next in ["v2", "v1"] {
        let report = under_load(f, RATE, &["v1", "v2"], || {
            ok_with_routes(&app, &["app", "boot", "--version", next]);
        });
        println!("handover to {next} through the traefik containers: {}", summary(&report));
        assert_eq!(
            report.failures(),
            0,
            "handover to {next}: {}\nfirst failures: {:?}",
            summary(&report),
            report.failures
        );
        assert!(
            report.counts.total >= u64::from(RATE) * 5,
            "handover to {next}: only {} requests",
            report.counts.total
        );
        for h in &f.hosts {
            assert_eq!(f.running(h), vec![format!("app-web-{next}")], "after the handover to {next} on {h}");
        }
    }
}

/// When host `host`'s traefik was restarting during the load: from the
/// first kill or die of a `traefik` container to the last start of one, in
/// seconds from the Unix epoch, read from the host's Docker events since `since`.
fn restart_window(f: &Fleet, host: &str, since: f64) -> (f64, f64) {
    let events = f.sh(
        host,
        &format!(
            "docker events --since {since:.3} --until \"$(date +%s.%N)\" --filter type=container --filter container=traefik \
             --format '{{{{.TimeNano}}}} {{{{.Action}}}}'"
        ),
    );
    let at = |l: &str| l.split_whitespace().next().and_then(|t| t.parse::<f64>().ok()).map(|ns| ns / 1e9);
    let down = events.lines().filter(|l| l.contains(" kill") || l.contains(" die")).find_map(at);
    let up = events.lines().rev().filter(|l| l.ends_with(" start")).find_map(at);
    match (down, up) {
        (Some(d), Some(u)) if u > d => (d, u),
        _ => panic!("no stop then start of the traefik container on {host} in its Docker events:\n{events}"),
    }
}

/// The failures of `host`, by reason, as "N × reason".
fn reasons(failures: &[&Failure]) -> String {
    let mut by: BTreeMap<String, u64> = BTreeMap::new();
    for fl in failures {
        let conn = if fl.keep_alive { "keep-alive" } else { "new connection" };
        *by.entry(format!("{} ({conn}): {}", fl.outcome.name(), fl.detail)).or_default() += 1;
    }
    by.iter().map(|(r, n)| format!("{n} × {r}")).collect::<Vec<_>>().join("; ")
}

#[test]
fn traefik_reboot_rolling_under_load_fails_only_requests_to_the_restarting_host() {
    let (f, _g) = fleet_traefik();
    let app = traefik_app(f, true);
    boot_through_traefik(f, &app, "v1");
    let before: Vec<String> = f.hosts.iter().map(|h| traefik_container(f, h).0).collect();
    let report = under_load_keeping(f, RATE, &["v1"], usize::MAX, || {
        app.ok(&["traefik", "reboot", "--rolling"]);
    });
    let start = report.started_at.as_secs_f64();
    assert_eq!(report.failures.len() as u64, report.failures(), "every failure is kept");
    println!("traefik reboot --rolling under {RATE} requests/s: {}", summary(&report));
    let mut windows = vec![];
    let mut misplaced = vec![];
    for (i, h) in f.hosts.iter().enumerate() {
        let (id, _, running, _) = traefik_container(f, h);
        assert!(running && id != before[i], "the traefik container on {h} was not replaced ({id})");
        let (down, up) = restart_window(f, h, start);
        windows.push((down, up, h.clone()));
        let target: std::net::SocketAddr = format!("{h}:80").parse().expect("address");
        let mine: Vec<&Failure> = report.failures.iter().filter(|fl| fl.target == target).collect();
        let total = report.per_target.iter().find(|(t, _)| *t == target).map(|(_, c)| c.total).unwrap_or(0);
        println!(
            "  {h}: {} failed of {total}; traefik restarting from {:.3}s to {:.3}s of the load{}{}",
            mine.len(),
            down - start,
            up - start,
            if mine.is_empty() { "" } else { ": " },
            reasons(&mine)
        );
        // A request is scheduled at `at`; it may start a little later and,
        // on a connection kept alive, fail when the old container exits.
        for fl in mine {
            let t = start + fl.at.as_secs_f64();
            if t < down - 0.5 || t > up + 1.0 {
                misplaced.push(format!(
                    "{h} at {:.3}s ({} {}), outside its restart {:.3}s..{:.3}s",
                    t - start,
                    fl.outcome.name(),
                    fl.detail,
                    down - start,
                    up - start
                ));
            }
        }
    }
    assert!(
        misplaced.is_empty(),
        "{} request(s) failed on a host whose traefik was not restarting:\n{}",
        misplaced.len(),
        misplaced.join("\n")
    );
    windows.sort_by(|a, b| a.0.total_cmp(&b.0));
    for pair in windows.windows(2) {
        assert!(
            pair[1].0 >= pair[0].1,
            "--rolling restarted {} (from {:.3}s) before {} was back (at {:.3}s)",
            pair[1].2,
            pair[1].0 - start,
            pair[0].2,
            pair[0].1 - start
        );
    }
    wait_routed(f, "v1");
}

/// `traefik details`, `logs`, `stop`, `start`, `restart` and `remove`, and
/// `server bootstrap`, on the real hosts: each does what Kamal's does.
#[test]
fn traefik_details_logs_stop_start_restart_remove_and_server_bootstrap_work_on_the_fleet() {
    let (f, _g) = fleet_traefik();
    let app = traefik_app(f, false);
    boot_through_traefik(f, &app, "v1");
    let boot = app.ok(&["server", "bootstrap"]);
    for h in &f.hosts {
        assert!(boot.contains(h.as_str()), "server bootstrap names {h}:\n{boot}");
    }
    assert_eq!(
        boot.matches("docker: Docker version").count(),
        3,
        "server bootstrap finds Docker on every host:\n{boot}"
    );
    let details = app.ok(&["traefik", "details"]);
    assert_eq!(details.matches("Traefik Host:").count(), 3, "{details}");
    assert_eq!(details.matches("baton-traefik").count(), 3, "each host lists its traefik container:\n{details}");
    let logs = app.ok(&["traefik", "logs", "-n", "5"]);
    assert_eq!(logs.matches("Traefik Host:").count(), 3, "{logs}");
    let running = |h: &str| traefik_container(f, h).2;
    app.ok(&["traefik", "stop"]);
    for h in &f.hosts {
        assert!(!running(h), "traefik stopped on {h}");
    }
    app.ok(&["traefik", "start"]);
    for h in &f.hosts {
        assert!(running(h), "traefik started on {h}");
    }
    let before: Vec<String> = f.hosts.iter().map(|h| traefik_container(f, h).0).collect();
    app.ok(&["traefik", "restart"]);
    for (h, id) in f.hosts.iter().zip(&before) {
        let (now, _, up, _) = traefik_container(f, h);
        assert!(up && &now == id, "restart keeps the container and it runs on {h}");
    }
    wait_routed(f, "v1");
    let audit = f.sh(&f.hosts[0], "cat .kamal/app-audit.log");
    assert!(audit.contains("Stopped traefik") && audit.contains("Started traefik"), "{audit}");
    app.ok(&["traefik", "remove"]);
    for h in &f.hosts {
        let (code, _, _) = f.ssh(h, "docker inspect traefik");
        assert_ne!(code, 0, "no traefik container on {h} after remove");
        let images = f.sh(h, "docker image ls --filter label=org.opencontainers.image.title=Traefik -q");
        assert!(images.trim().is_empty(), "no Traefik image on {h}: {images}");
    }
    assert!(!f.lock_held(), "the lock is released");
    f.reset();
}
