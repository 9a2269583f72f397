//! End-to-end: faults during a running `baton deploy` on the 3-host fleet.
//! A push that fails (a wrong registry password, a local client the
//! registry does not know), a host that cannot reach the registry (its
//! route blocked with iptables inside its namespace), and Ctrl-C while the
//! hosts pull, during the health check and during the handover. After each:
//! every host serves the version it served before (or, after Ctrl-C in the
//! handover, the new one where its cord was already cut, as
//! docs/handover.md says), the lock is released, or held with a line that
//! says so (a boot interrupted half-way), the error names the step, and a
//! re-run converges to the new version.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A fleet that serves `v1` (deployed from the registry with `-P`), and
/// the app directory. Reuses what runs when it is exactly that.
fn serving_v1(f: &Fleet) -> PathBuf {
    let dir = deploy_app_dir(f, "");
    baton_ok(f, &dir, &["env", "push"]);
    baton_ok(f, &dir, &["deploy", "-P", "--version", "v1"]);
    wait_served(f, "v1");
    dir
}

/// Every host runs `before` and serves it through its proxy; the lock is free.
fn unchanged(f: &Fleet, before: &str, context: &str) {
    for h in &f.hosts {
        assert_eq!(f.running(h), vec![format!("app-web-{before}")], "{context}: on {h}");
        assert_eq!(served(h), before, "{context}: the proxy on {h}");
    }
}

/// A re-run of `deploy --version version` succeeds and every host serves it.
fn converges(f: &Fleet, dir: &Path, version: &str, context: &str) {
    let out = baton_in(f, dir, &["deploy", "--version", version]);
    let t = text(&out);
    assert!(out.status.success(), "{context}: the re-run did not converge:\n{t}");
    // Without a terminal: plain lines, the build on one, and per host its
    // pull and each step of its boot.
    assert!(t.lines().any(|l| l.ends_with("] local: build push")), "{context}: plain lines:\n{t}");
    for h in &f.hosts {
        for step in [format!("] {h}: build pull"), format!("] {h} web: start the new container")] {
            assert!(t.lines().any(|l| l.ends_with(&step)), "{context}: no plain line {step:?}:\n{t}");
        }
    }
    wait_served(f, version);
    for h in &f.hosts {
        assert_eq!(f.running(h), vec![format!("app-web-{version}")], "{context}: after the re-run on {h}");
    }
    assert!(!f.lock_held(), "{context}: the lock is released after the re-run");
}

fn version(case: &str) -> String {
    format!("{case}-{}", std::process::id())
}

#[test]
fn a_push_that_fails_changes_no_host_and_names_its_step() {
    let (f, _g) = fleet_traefik();
    let dir = serving_v1(f);
    let v = version("push");
    dockerfile(f, &dir, "v1", &v);

    // A wrong password: `registry login` fails, here and on the hosts.
    let out = baton_cmd(f, &dir, &["deploy", "--version", &v]).env("BATON_REGISTRY_PASSWORD", "wrong").output();
    let out = out.expect("baton");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("registry login failed"), "the error names the step: {t}");
    assert!(!t.contains(&f.registry_password), "{t}");
    assert!(!f.lock_held(), "a failed login leaves the lock held:\n{t}");
    unchanged(f, "v1", "wrong password");

    // `redeploy` does not log in: from a client that never logged in to
    // the registry, the push is refused.
    let fresh = dir.join("docker-config");
    std::fs::remove_dir_all(&fresh).expect("rm docker-config");
    std::fs::create_dir_all(&fresh).expect("mkdir docker-config");
    let out = baton_in(f, &dir, &["redeploy", "--version", &v]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("build push failed"), "the error names the step: {t}");
    assert!(!f.lock_held(), "a failed push leaves the lock held:\n{t}");
    unchanged(f, "v1", "push refused");

    // The re-run, on a terminal (`script` gives it one): the live display
    // shows the phases and a row per host.
    let baton = baton_bin().display().to_string();
    let out = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &format!("{baton} deploy --version {v}"), "/dev/null"])
        .current_dir(&dir)
        .env_remove("VERSION")
        .env("DOCKER_HOST", &f.local_docker_host)
        .env("DOCKER_CONFIG", dir.join("docker-config"))
        .env("BATON_REGISTRY_PASSWORD", &f.registry_password)
        .stdin(Stdio::null())
        .output()
        .expect("script");
    let t = text(&out);
    assert!(out.status.success(), "the re-run on a terminal:\n{t}");
    assert!(!t.contains(&f.registry_password), "{t}");
    for shown in ["phase: building and pushing", "phase: pulling", "phase: booting", "build push: done: "] {
        assert!(t.contains(shown), "the live display never showed {shown:?}:\n{t}");
    }
    for h in &f.hosts {
        assert!(t.contains(&format!("{h}  web: ")), "no live row for {h}:\n{t}");
    }
    wait_served(f, &v);
    assert!(!f.lock_held());
}

/// Blocks `host`'s route to the registry (inside its network namespace)
/// while it lives: TCP to the registry is reset at once.
struct Blocked<'a> {
    f: &'a Fleet,
    host: String,
    rule: String,
}

impl<'a> Blocked<'a> {
    fn new(f: &'a Fleet, host: &str) -> Blocked<'a> {
        let (ip, port) = f.registry.split_once(':').expect("registry host:port");
        let rule = format!("OUTPUT -p tcp -d {ip} --dport {port} -j REJECT --reject-with tcp-reset");
        f.sh(host, &format!("iptables -I {rule}"));
        Blocked { f, host: host.into(), rule }
    }
}

impl Drop for Blocked<'_> {
    fn drop(&mut self) {
        let (code, _, err) = self.f.ssh(&self.host, &format!("iptables -D {}", self.rule));
        if code != 0 && !std::thread::panicking() {
            panic!("cannot restore {}'s route to the registry: {err}", self.host);
        }
    }
}

#[test]
fn a_host_that_cannot_pull_stops_the_deploy_before_anything_boots() {
    let (f, _g) = fleet_traefik();
    let dir = serving_v1(f);
    let v = version("pull");
    dockerfile(f, &dir, "v1", &v);
    let h2 = f.hosts[1].clone();
    // h2 logs in, then loses its route to the registry while the image is
    // built and pushed here: its pull fails.
    let mut blocked = None;
    let (code, t, fired) =
        deploy_with(f, &dir, &v, "(local)", "docker build", |_| blocked = Some(Blocked::new(f, &h2)));
    drop(blocked);
    assert!(fired, "the build never started:\n{t}");
    assert_eq!(code, 1, "{t}");
    assert!(t.contains(&format!("{h2}: build pull failed")), "the error names the host and the step: {t}");
    assert!(t.contains("was released"), "the output says the lock is released:\n{t}");
    assert!(!f.lock_held(), "a failed pull leaves the lock held:\n{t}");
    unchanged(f, "v1", "blocked registry");
    for h in &f.hosts {
        let all: Vec<String> = f.containers(h).into_iter().map(|(n, _)| n).collect();
        assert!(!all.iter().any(|n| n.contains(&v)), "a container of {v} on {h}: {all:?}");
    }
    converges(f, &dir, &v, "blocked registry");
}

/// `deploy --version v --verbose`, calling `fault` (given baton's pid) once when the trace
/// shows a command to `host` containing `trigger`. Returns (exit code,
/// stdout + stderr, whether it fired).
fn deploy_with(
    f: &Fleet,
    dir: &Path,
    v: &str,
    host: &str,
    trigger: &str,
    fault: impl FnOnce(u32),
) -> (i32, String, bool) {
    let mut child = baton_cmd(f, dir, &["deploy", "--version", v, "--verbose"])
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("baton deploy");
    let pid = child.id();
    let stderr = child.stderr.take().expect("stderr");
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut s);
        s
    });
    let (mut out, mut fault) = (String::new(), Some(fault));
    let started = Instant::now();
    let who = format!(" {host} ");
    for line in BufReader::new(child.stdout.take().expect("stdout")).lines() {
        let Ok(line) = line else { break };
        if line.contains(&who) && line.contains(" run ") && line.contains(trigger) {
            if let Some(fault) = fault.take() {
                fault(pid);
            }
        }
        out.push_str(&line);
        out.push('\n');
        assert!(started.elapsed() < Duration::from_secs(120), "the deploy did not end within 120 s");
    }
    let status = child.wait().expect("wait");
    out.push_str(&err_reader.join().expect("stderr reader"));
    (status.code().unwrap_or(-1), out, fault.is_none())
}

/// [`deploy_with`] Ctrl-C (SIGINT to baton) as the fault.
fn deploy_interrupted(f: &Fleet, dir: &Path, v: &str, host: &str, trigger: &str) -> (i32, String, bool) {
    deploy_with(f, dir, v, host, trigger, |pid| {
        let _ = std::process::Command::new("kill").args(["-INT", &pid.to_string()]).status();
    })
}

#[test]
fn sigint_while_pulling_or_in_the_health_check_changes_no_host_and_releases_the_lock() {
    let (f, _g) = fleet_traefik();
    let dir = serving_v1(f);
    let mut before = "v1".to_string();
    for (case, host, trigger) in
        [("pull", &f.hosts[1], "docker pull"), ("healthcheck", &f.hosts[0], "--name healthcheck-app-")]
    {
        let v = version(&format!("int-{case}"));
        dockerfile(f, &dir, "v1", &v);
        let (code, t, fired) = deploy_interrupted(f, &dir, &v, host, trigger);
        assert!(fired, "{case}: the trigger {trigger:?} never showed for {host}:\n{t}");
        assert_eq!(code, 1, "{case}: an interrupted deploy fails:\n{t}");
        assert!(t.contains("interrupted"), "{case}: {t}");
        assert!(t.contains("was released"), "{case}: the output says the lock is released:\n{t}");
        assert!(!f.lock_held(), "{case}: the lock is held:\n{t}");
        unchanged(f, &before, case);
        for h in &f.hosts {
            let all: Vec<String> = f.containers(h).into_iter().map(|(n, _)| n).collect();
            assert!(!all.iter().any(|n| n.contains(&v)), "{case}: a container of {v} is left on {h}: {all:?}");
        }
        converges(f, &dir, &v, case);
        before = v;
    }
}

#[test]
fn sigint_during_the_handover_keeps_every_host_serving_and_says_the_lock_is_kept() {
    let (f, _g) = fleet_traefik();
    let dir = serving_v1(f);
    let v = version("int-boot");
    dockerfile(f, &dir, "v1", &v);
    let h2 = f.hosts[1].clone();
    let (code, t, fired) = deploy_interrupted(f, &dir, &v, &h2, &format!("--name app-web-{v}"));
    assert!(fired, "the boot never started on {h2}:\n{t}");
    assert_eq!(code, 1, "an interrupted deploy fails:\n{t}");
    assert!(t.contains("interrupted"), "{t}");
    println!("{}", t.lines().filter(|l| !l.starts_with("  ")).collect::<Vec<_>>().join("\n"));
    // Each host serves v1, or the new version where the cord was cut.
    for h in &f.hosts {
        let now = served(h);
        assert!(now == "v1" || now == v, "{h} serves {now:?}:\n{t}");
        let running = f.running(h);
        assert!(running.contains(&format!("app-web-{now}")), "{h}: {running:?}");
    }
    // The documented state: held, and the output says so and why.
    if f.lock_held() {
        assert!(t.contains("the deploy lock on") && t.contains("is kept"), "held, and not said:\n{t}");
        baton_ok(f, &dir, &["lock", "release"]);
    } else {
        assert!(t.contains("released"), "released, and not said:\n{t}");
    }
    converges(f, &dir, &v, "interrupted handover");
}
