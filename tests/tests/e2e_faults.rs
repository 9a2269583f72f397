//! Faults during a v1 → v2 handover on one host of three, injected at each
//! step: the SSH connection killed (and sshd stopped), dockerd stopped
//! (frozen: its commands hang), baton interrupted (SIGINT), and a version
//! that crashes at start. After each: every host still serves (the old
//! version wherever the new one is not healthy), the lock is held, the error
//! names the host, and a plain re-run of the boot converges.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
enum Fault {
    KillSsh,
    FreezeDockerd,
    Interrupt,
}

/// The commands to the faulted host that mark each step (as `--verbose` prints them).
const STEPS: &[(&str, &str)] = &[
    ("list", "docker ps --all"),
    ("run", "docker run --detach"),
    ("wait healthy", "{{.State.Status}}"),
    ("cut", "rm -f"),
    ("stop", "docker stop"),
];

fn pid_of(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}")).trim().to_string()
}

fn inject(f: &Fleet, fault: Fault, baton_pid: u32) {
    let h2 = &f.hosts[1];
    match fault {
        Fault::KillSsh => {
            let _ = Command::new("kill").arg(pid_of("/run/baton-fleet/h2/sshd.pid")).status();
            // baton's master connection to h2, and the sessions under it.
            let _ = Command::new("pkill").args(["-f", &format!("ssh.*{h2}")]).status();
        }
        Fault::FreezeDockerd => {
            let _ = Command::new("kill").args(["-STOP", &pid_of("/run/baton-fleet/h2/dockerd.pid")]).status();
        }
        Fault::Interrupt => {
            let _ = Command::new("kill").args(["-INT", &baton_pid.to_string()]).status();
        }
    }
}

fn restore(f: &Fleet) {
    let _ = Command::new("kill").args(["-CONT", &pid_of("/run/baton-fleet/h2/dockerd.pid")]).status();
    let up = Command::new(f.root.join("scripts/fleet")).args(["up", "3"]).output().expect("fleet up");
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
}

/// Boot v2 with `--verbose`, injecting `fault` when the faulted host's
/// command for `trigger` is issued. Returns (exit code, stderr, whether the
/// fault fired).
fn boot_with_fault(app: &App, f: &Fleet, fault: Fault, trigger: &str) -> (i32, String, bool) {
    let mut child = Command::new(baton_bin())
        .process_group(0)
        .args(["app", "boot", "--version", "v2", "--verbose"])
        .current_dir(&app.dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("baton app boot");
    let pid = child.id();
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut s);
        s
    });
    let h2 = format!(" {} ", f.hosts[1]);
    let mut fired = false;
    let started = Instant::now();
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if !fired && line.contains(&h2) && line.contains(trigger) && (line.contains(" run ") || line.contains(" poll "))
        {
            inject(f, fault, pid);
            fired = true;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "the boot did not end within 120 s");
    }
    let status = child.wait().expect("wait");
    let err = err_reader.join().expect("stderr reader");
    (status.code().unwrap_or(-1), err, fired)
}

/// Every host serves: a healthy v1 or v2 runs there.
fn assert_every_host_serves(f: &Fleet, context: &str) {
    for h in &f.hosts {
        let running = f.running(h);
        assert!(!running.is_empty(), "{context}: no app container runs on {h}");
        let serving = running.iter().any(|n| (n == "app-web-v1" || n == "app-web-v2") && f.is_healthy(h, n));
        assert!(serving, "{context}: nothing healthy serves on {h}: {running:?}");
        if !running.iter().any(|n| n == "app-web-v2" && f.is_healthy(h, n)) {
            assert!(running.iter().any(|n| n == "app-web-v1"), "{context}: v2 is not healthy on {h} and v1 is gone");
        }
    }
}

fn assert_converges(f: &Fleet, app: &App, context: &str) {
    if f.lock_held() {
        app.ok(&["lock", "release"]);
    }
    let out = app.baton(&["app", "boot", "--version", "v2"]);
    assert!(out.status.success(), "{context}: the re-run did not converge:\n{}", String::from_utf8_lossy(&out.stderr));
    for h in &f.hosts {
        assert_eq!(f.running(h), vec!["app-web-v2"], "{context}: after the re-run on {h}");
        assert!(f.is_healthy(h, "app-web-v2"));
        assert!(
            !f.containers(h).iter().any(|(n, s)| n == "app-web-v1" && s.starts_with("running")),
            "{context}: v1 stopped on {h}"
        );
    }
    assert!(!f.lock_held(), "{context}: lock released after the re-run");
}

fn run_fault(fault: Fault) {
    let (f, _g) = fleet();
    let extra = "  command_timeout: 5s\n  connect_timeout: 3s\n";
    for (step, trigger) in STEPS {
        let context = format!("{fault:?} at {step}");
        f.reset();
        let app = f.app("");
        // baton settings go under the existing `baton:` key of the test config.
        let cfg_path = app.dir.join("config/deploy.yml");
        let cfg = std::fs::read_to_string(&cfg_path).expect("config") + extra;
        std::fs::write(&cfg_path, cfg).expect("write config");
        app.ok(&["env", "push"]);
        app.ok(&["app", "boot", "--version", "v1"]);
        let (code, err, fired) = boot_with_fault(&app, f, fault, trigger);
        restore(f);
        assert!(fired, "{context}: the trigger {trigger:?} never showed for h2");
        assert_ne!(code, 0, "{context}: the faulted boot succeeded:\n{err}");
        let h2 = &f.hosts[1];
        match fault {
            Fault::Interrupt => assert!(err.contains("interrupted"), "{context}: {err}"),
            _ => assert!(err.contains(h2.as_str()), "{context}: the error names {h2}:\n{err}"),
        }
        assert!(f.lock_held(), "{context}: the lock is held after a failed boot");
        assert_every_host_serves(f, &context);
        assert_converges(f, &app, &context);
        println!("{context}: ok (exit {code})");
    }
}

#[test]
fn killed_ssh_connection_at_each_step() {
    run_fault(Fault::KillSsh);
}

#[test]
fn frozen_dockerd_at_each_step() {
    run_fault(Fault::FreezeDockerd);
}

#[test]
fn sigint_at_each_step() {
    run_fault(Fault::Interrupt);
}

#[test]
fn a_version_that_crashes_at_start() {
    let (f, _g) = fleet();
    let app = boot_fresh(f, "v1");
    let out = app.baton(&["app", "boot", "--version", "crash"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("crashed at start"), "{err}");
    for h in &f.hosts {
        assert_eq!(f.running(h), vec!["app-web-v1"], "v1 serves on {h}");
        assert!(f.is_healthy(h, "app-web-v1"));
    }
    assert!(f.lock_held());
    assert_converges(f, &app, "crash");
}

#[test]
fn two_boots_at_once_exactly_one_goes_ahead() {
    let (f, _g) = fleet();
    let app = boot_fresh(f, "v1");
    let spawn = || {
        Command::new(baton_bin())
            .args(["app", "boot", "--version", "v2", "-q"])
            .current_dir(&app.dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("baton")
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().expect("a"), b.wait_with_output().expect("b"));
    let ok = [a.status.success(), b.status.success()];
    assert_eq!(ok.iter().filter(|x| **x).count(), 1, "exactly one succeeds: {ok:?}");
    let loser = if ok[0] { &b } else { &a };
    let err = String::from_utf8_lossy(&loser.stderr);
    assert!(err.contains("Deploy lock found") && err.contains("Locked by:") && err.contains("Version: v2"), "{err}");
    for h in &f.hosts {
        assert_eq!(f.running(h), vec!["app-web-v2"], "on {h}");
        // The loser changed nothing: one boot's worth of containers.
        assert_eq!(f.containers(h).len(), 2, "{:?}", f.containers(h));
    }
    assert!(!f.lock_held());
}

/// A key the hosts do not accept: the boot stops at the lock with an error
/// that names the host and says what to do, and changes nothing.
#[test]
fn a_key_the_hosts_refuse_is_named_and_changes_nothing() {
    let (f, _g) = fleet();
    let app = boot_fresh(f, "v1");
    let key = app.dir.join("stranger_ed25519");
    let _ = std::fs::remove_file(&key);
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen");
    assert!(st.success());
    let config = app.dir.join("config/deploy.yml");
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, text.replace(&f.key, &key.display().to_string())).expect("config");
    let out = app.baton(&["app", "boot", "--version", "v2", "-q"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let primary = &f.hosts[0];
    assert!(err.contains(&format!("{primary} failed to acquire the deploy lock")), "{err}");
    assert!(err.contains("permission denied (publickey)") && err.contains("authorized_keys"), "{err}");
    for h in &f.hosts {
        assert_eq!(f.running(h), vec!["app-web-v1"], "on {h}");
    }
    assert!(!f.lock_held(), "nothing was changed, the lock included");
}

/// Ctrl-C during `app remove` (a command run as phases under the lock):
/// the commands in flight finish, nothing else starts, the lock is
/// released, and baton says so. Nothing is removed: the containers are
/// still there, and a re-run finishes the job.
#[test]
fn sigint_during_app_remove_releases_the_lock_and_says_what_did_not_run() {
    let (f, _g) = fleet();
    let app = boot_fresh(f, "v1");
    let mut child = Command::new(baton_bin())
        .process_group(0)
        .args(["app", "remove", "--verbose"])
        .current_dir(&app.dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("baton app remove");
    let pid = child.id();
    let stdout = child.stdout.take().expect("stdout");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stdout), &mut s);
        s
    });
    // --verbose traces each command on stderr as it is issued: interrupt
    // at the first command after the lock (the stop phase's audit record).
    let mut err = String::new();
    let mut fired = false;
    let started = Instant::now();
    for line in BufReader::new(child.stderr.take().expect("stderr")).lines() {
        let Ok(line) = line else { break };
        if !fired && line.contains(" run ") && line.contains("Stopped app") {
            let _ = Command::new("kill").args(["-INT", &pid.to_string()]).status();
            fired = true;
        }
        err.push_str(&line);
        err.push('\n');
        assert!(started.elapsed() < Duration::from_secs(60), "app remove did not end within 60 s");
    }
    let status = child.wait().expect("wait");
    let _ = out_reader.join();
    assert!(fired, "the stop phase never started:\n{err}");
    assert_eq!(status.code(), Some(1), "an interrupted command fails:\n{err}");
    assert!(err.contains("interrupted: the commands in flight finish, nothing else starts"), "{err}");
    assert!(err.contains("Interrupted: the commands in flight finished; nothing else ran"), "{err}");
    assert!(err.contains("The deploy lock was released"), "{err}");
    assert!(!f.lock_held(), "the lock is released after an interrupted app remove");
    for h in &f.hosts {
        // remove_containers and remove_images never ran.
        assert!(
            f.containers(h).iter().any(|(n, _)| n == "app-web-v1"),
            "on {h}: the container was removed after the interrupt: {:?}",
            f.containers(h)
        );
    }
    // A re-run finishes the job.
    app.ok(&["app", "remove"]);
    for h in &f.hosts {
        assert!(f.containers(h).is_empty(), "on {h}: {:?}", f.containers(h));
    }
    assert!(!f.lock_held());
}
