//! The handover benchmark on the test fleet (run by `scripts/bench`, not a
//! test): boots v1, then measures `baton app boot` of the other version
//! `--rounds` times, with route confirmation through the fleet's proxies,
//! and prints one markdown row with the medians:
//! wall time, time until every host serves the new version, SSH commands
//! per host (not counting polls), polls per host, baton's CPU time and peak
//! memory, baton's own overhead (wall time minus the longest time any
//! host spent waiting on Docker health, the proxy, and docker stop; the
//! wait for health runs from `docker run`'s answer to "healthy", reads done
//! meanwhile included), the floor any tool pays (an SSH handshake and a
//! `docker run` on every host at once), and
//! what `baton plan` predicted for the same handover, with its error, and
//! what `baton plan --live` predicted (read from the hosts just before the
//! boot, with the command times it measured there), alone and calibrated
//! with the journal of the round before (`--calibrate`).
//!
//! With `--compare-cut`, the rounds alternate between `baton.cut_at: routed`
//! (the sequential order) and `healthy` (the cut at "healthy"), and it
//! prints one row per order instead: the median wall time, and how many
//! handovers tied the cord again and fell back. `--pickup MS` sets the
//! config's `baton.proxy_pickup` (start the fleet with the same
//! `BATON_FLEET_PICKUP_MS`); `--no-routes` leaves `baton.routes` out, so
//! baton pauses for the proxy instead of reading its table.
//!
//! Usage: bench --baton PATH --registry ADDR --key PATH HOST... [--rounds N]
//!        [--compare-cut] [--pickup MS] [--no-routes]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the proxy on `host` answers to `GET /version`, when it answers 200
/// within half a second.
fn http_version(host: &str) -> Option<String> {
    let addr: SocketAddr = format!("{host}:80").parse().ok()?;
    let answer = baton_http::get(addr, "/version", Duration::from_millis(500)).ok()?;
    (answer.status() == 200).then(|| answer.text().trim().to_string())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

const WAIT_STEPS: &[&str] = &[
    "wait_healthy",
    "pause_after_healthy",
    "confirm_routed",
    "wait_ready",
    "wait_old_unhealthy",
    "pause_after_unhealthy",
    "confirm_unrouted",
    "stop_old",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut baton = PathBuf::from("/usr/local/bin/baton");
    let (mut registry, mut key, mut hosts, mut rounds) = (String::new(), String::new(), vec![], 3usize);
    let (mut compare, mut pickup, mut routes) = (false, 1000u64, true);
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--compare-cut" => compare = true,
            "--pickup" => pickup = it.next().and_then(|n| n.parse().ok()).expect("--pickup MS"),
            "--no-routes" => routes = false,
            "--baton" => baton = std::fs::canonicalize(it.next().expect("--baton PATH")).expect("baton binary"),
            "--registry" => registry = it.next().expect("--registry ADDR"),
            "--key" => key = it.next().expect("--key PATH"),
            "--rounds" => rounds = it.next().and_then(|n| n.parse().ok()).expect("--rounds N"),
            h => hosts.push(h.to_string()),
        }
    }
    assert!(
        !hosts.is_empty() && !registry.is_empty() && !key.is_empty(),
        "usage: bench --baton PATH --registry ADDR --key PATH HOST..."
    );
    let known = PathBuf::from(&key).with_file_name("known_hosts");
    let dir = std::env::temp_dir().join(format!("baton-bench-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("config")).expect("mkdir");
    let list: String = hosts.iter().map(|h| format!("  - {h}\n")).collect();
    let config = |cut_at: &str| {
        let routes = if routes { "  routes: busybox wget -qO- http://127.0.0.1:8080/api/http/services\n" } else { "" };
        std::fs::write(
            dir.join("config/deploy.yml"),
            format!(
                "service: app\nimage: baton-testapp\nservers:\n{list}registry:\n  server: {registry}\n  username: baton\n  password: [BATON_REGISTRY_PASSWORD]\nhealthcheck:\n  cmd: wget -qO- http://localhost:3000/up\n  interval: 1s\nssh:\n  keys: [{key}]\n  config: /dev/null\nbaton:\n  known_hosts: strict\n  known_hosts_file: {}\n  poll_interval: 100ms\n  proxy_pickup: {pickup}ms\n  cut_at: {cut_at}\n{routes}",
                known.display()
            ),
        )
        .expect("config");
    };
    config("healthy");
    // Every boot's journal goes here (`plan --calibrate` reads the latest).
    let journals = dir.join("journals");
    let run = |args: &[&str]| {
        let out = Command::new(&baton)
            .args(args)
            .current_dir(&dir)
            .env("BATON_JOURNAL_DIR", &journals)
            .output()
            .expect("baton");
        assert!(out.status.success(), "baton {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    // Start from a clean fleet: no app containers, no state.
    for h in &hosts {
        let st = ssh(&key, &known, h, "docker ps -aq | xargs --no-run-if-empty docker rm -f >/dev/null; rm -rf .kamal")
            .status()
            .expect("ssh");
        assert!(st.success());
    }
    let floor = floor(&hosts, &key, &known, &registry, rounds);
    run(&["env", "push", "-q"]);
    run(&["app", "boot", "-q", "--version", "v1"]);
    let mut version = "v1";
    let (mut walls, mut serves, mut cpus, mut rss, mut overheads) = (vec![], vec![], vec![], vec![], vec![]);
    let mut predicted = vec![];
    // plan --live, alone and with the previous round's journal (--calibrate).
    let (mut live, mut calibrated) = (vec![], vec![]);
    let latest_journal = || -> Option<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&journals).ok()?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        v.sort();
        v.pop()
    };
    let predict = |extra: &[&str], next: &str| -> f64 {
        let out = Command::new(&baton)
            .args(["plan", "--json", "--live", "--app-start", "0s", "--proxy-jitter", "0s", "--version", next])
            .args(extra)
            .current_dir(&dir)
            .output()
            .expect("baton plan --live");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("baton plan --live --json");
        json["duration_ms"].as_f64().expect("duration_ms") / 1000.0
    };
    let (mut runs_max, mut polls_max) = (0usize, 0usize);
    // --compare-cut: per order, the wall times and the handovers tied again.
    let mut by_order: [(Vec<f64>, usize); 2] = [(vec![], 0), (vec![], 0)];
    for round in 0..rounds {
        let order = round % 2;
        if compare {
            config(["routed", "healthy"][order]);
        }
        // Wait until every proxy serves the current version.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !hosts.iter().all(|h| http_version(h).as_deref() == Some(version)) {
            assert!(Instant::now() < deadline, "proxies do not serve {version}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let next = if version == "v1" { "v2" } else { "v1" };
        // What baton plan predicts for this handover: the fleet's proxy has
        // no jitter, the test app answers at once, the image is on the hosts.
        let plan = Command::new(&baton)
            .args(["plan", "--json", "--pulled", "--app-start", "0s", "--proxy-jitter", "0s", "--from", version])
            .args(["--version", next])
            .current_dir(&dir)
            .output()
            .expect("baton plan");
        let json: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("baton plan --json");
        predicted.push(json["duration_ms"].as_f64().expect("duration_ms") / 1000.0);
        live.push(predict(&[], next));
        if let Some(j) = latest_journal() {
            calibrated.push(predict(&["--calibrate", j.to_str().expect("UTF-8")], next));
        }
        let done = Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let watcher = {
            let (hosts, done, next) = (hosts.clone(), done.clone(), next.to_string());
            std::thread::spawn(move || loop {
                if hosts.iter().all(|h| http_version(h).as_deref() == Some(next.as_str())) {
                    return Some(start.elapsed());
                }
                if done.load(Ordering::SeqCst) && start.elapsed() > Duration::from_secs(60) {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(25));
            })
        };
        let out = Command::new("/usr/bin/time")
            .args(["-f", "TIME %U %S %M"])
            .arg(&baton)
            .args(["app", "boot", "--version", next, "--verbose"])
            .current_dir(&dir)
            .env("BATON_JOURNAL_DIR", &journals)
            .output()
            .expect("/usr/bin/time baton");
        let wall = start.elapsed().as_secs_f64();
        done.store(true, Ordering::SeqCst);
        assert!(out.status.success(), "boot failed: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let time_line = stderr.lines().rev().find(|l| l.starts_with("TIME ")).expect("time output");
        let f: Vec<f64> = time_line.split_whitespace().skip(1).map(|x| x.parse().expect("number")).collect();
        cpus.push(f[0] + f[1]);
        rss.push(f[2] / 1024.0);
        let mut worst_wait = 0.0f64;
        for h in &hosts {
            let tag = format!(" {h} ");
            let runs =
                stdout.lines().filter(|l| l.contains(&tag) && l.split_whitespace().nth(3) == Some("run")).count();
            let runs = runs
                .max(stdout.lines().filter(|l| l.contains(&tag) && l.split_whitespace().nth(2) == Some("run")).count());
            let polls =
                stdout.lines().filter(|l| l.contains(&tag) && l.split_whitespace().any(|w| w == "poll")).count();
            runs_max = runs_max.max(runs);
            polls_max = polls_max.max(polls);
            if let Some(t) = stdout.lines().find(|l| l.starts_with(&format!("timing {h}:"))) {
                let steps: Vec<(&str, f64)> = t
                    .split_whitespace()
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k, v.parse::<f64>().unwrap_or(0.0)))
                    .collect();
                // The old container's cord is read while the new one's first
                // health check is pending: that read is part of the wait for
                // Docker's health, not time added to it.
                let wait: f64 = steps
                    .iter()
                    .enumerate()
                    .filter(|(i, (k, _))| {
                        WAIT_STEPS.contains(k)
                            || (*k == "find_old_cord" && steps.get(i + 1).is_some_and(|n| n.0 == "wait_healthy"))
                    })
                    .map(|(_, (_, v))| v)
                    .sum();
                worst_wait = worst_wait.max(wait);
            }
        }
        overheads.push(wall - worst_wait);
        walls.push(wall);
        by_order[order].0.push(wall);
        by_order[order].1 += stderr.matches("was tied again").count() + stdout.matches("was tied again").count();
        if let Some(t) = watcher.join().expect("watcher") {
            serves.push(t.as_secs_f64());
        }
        version = next;
    }
    if compare {
        let mode = if routes { "route confirmation" } else { "pauses" };
        for (order, (walls, tied)) in ["routed", "healthy"].iter().zip(&by_order) {
            println!(
                "| {} | {pickup} ms | {mode} | cut_at: {order} | {:.2} s | {} | {tied} |",
                hosts.len(),
                median(walls.clone()),
                walls.len()
            );
        }
        let ratio = median(by_order[1].0.clone()) / median(by_order[0].0.clone());
        println!("| | | | healthy / routed | {ratio:.2}× | | |");
        return;
    }
    let (wall, plan) = (median(walls), median(predicted));
    let err = |p: f64| format!("{p:.2} s ({:+.0}%)", (p - wall) / wall * 100.0);
    let live = err(median(live));
    let calibrated = if calibrated.is_empty() { "-".to_string() } else { err(median(calibrated)) };
    println!(
        "| {} | {:.2} s | {:.2} s | {} | {} | {:.2} s | {:.1} MiB | {:.2} s | {:.2} s | {:.2} s ({:+.0}%) | {live} | {calibrated} |",
        hosts.len(),
        wall,
        if serves.is_empty() { f64::NAN } else { median(serves) },
        runs_max,
        polls_max,
        median(cpus),
        median(rss),
        median(overheads),
        floor,
        plan,
        (plan - wall) / wall * 100.0
    );
}

/// `ssh` to run `cmd` on `host` with the fleet's key and known_hosts, and
/// none of the user's ssh config.
fn ssh(key: &str, known: &Path, host: &str, cmd: &str) -> Command {
    let mut c = Command::new("ssh");
    c.args(["-F", "/dev/null", "-i", key, "-o", "BatchMode=yes"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known.display()))
        .arg(format!("root@{host}"))
        .arg(cmd);
    c
}

/// What any tool pays before doing anything of its own, on every host at
/// once, as a boot does: an SSH handshake (a fresh `ssh HOST true`) plus one
/// `docker run --detach` of the test image, timed on the host (and removed
/// after, not timed). The median of `rounds` tries of the slowest host.
fn floor(hosts: &[String], key: &str, known: &Path, registry: &str, rounds: usize) -> f64 {
    let ssh = |h: &str, cmd: &str| ssh(key, known, h, cmd);
    let image = format!("{registry}/baton-testapp:v1");
    let mut tries = vec![];
    for _ in 0..rounds {
        let times: Vec<f64> = std::thread::scope(|s| {
            let jobs: Vec<_> = hosts
                .iter()
                .map(|h| {
                    let (ssh, image) = (&ssh, &image);
                    s.spawn(move || {
                        let t = Instant::now();
                        let ok = ssh(h, "true").status().expect("ssh").success();
                        let handshake = t.elapsed().as_secs_f64();
                        // Timed on the host, so the handshake is not paid twice.
                        let out = ssh(
                            h,
                            &format!(
                                "t=$(date +%s%N); docker run --detach --name baton-floor {image} >/dev/null && echo $(( $(date +%s%N) - t ))"
                            ),
                        )
                        .output()
                        .expect("ssh");
                        let _ = ssh(h, "docker rm -f baton-floor >/dev/null").status();
                        assert!(ok && out.status.success(), "{h}: ssh or docker run failed");
                        let ns: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().expect("nanoseconds");
                        let docker_run = ns / 1e9;
                        handshake + docker_run
                    })
                })
                .collect();
            jobs.into_iter().map(|j| j.join().expect("floor thread")).collect()
        });
        tries.push(times.into_iter().fold(0.0, f64::max));
    }
    median(tries)
}
