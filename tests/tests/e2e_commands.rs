//! End-to-end tests of the `app` commands other than boot, `lock`, `audit`
//! and `env push`, on the real test fleet (see `common`).

mod common;

use common::*;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into()
}

/// The text printed under `App Host: <host>` (up to the next header).
fn section<'a>(text: &'a str, host: &str) -> &'a str {
    let header = format!("App Host: {host}\n");
    let start =
        text.find(&header).map(|i| i + header.len()).unwrap_or_else(|| panic!("no section for {host} in:\n{text}"));
    let rest = &text[start..];
    let end = rest.find("App Host: ").unwrap_or(rest.len());
    rest[..end].trim()
}

#[test]
fn env_push_then_boot_reads_the_env_inside_the_container() {
    let (f, _g) = fleet();
    f.reset();
    let app = f.app("env:\n  clear:\n    GREETING: \"hello 'quoted' $world\"\n  secret:\n    - API_TOKEN\n");
    let secret = "s3cr3t-token-value";
    let out = Command::new(baton_bin())
        .args(["env", "push", "--verbose"])
        .current_dir(&app.dir)
        .env("API_TOKEN", secret)
        .output()
        .expect("baton env push");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = format!("{}{}", stdout_of(&out), String::from_utf8_lossy(&out.stderr));
    assert!(!printed.contains(secret), "env push printed the secret:\n{printed}");
    for h in &f.hosts {
        assert_eq!(f.sh(h, "stat -c %a .kamal/env/roles/app-web.env").trim(), "400");
    }
    app.ok(&["app", "boot", "--version", "v1"]);
    // The command line is run by the host's shell (as in Kamal): the single
    // quotes keep $GREETING for the container's shell.
    let out = app.ok(&["app", "exec", "--reuse", r#"sh -c 'echo "$GREETING"; echo "$API_TOKEN"'"#]);
    for h in &f.hosts {
        assert_eq!(section(&out, h), format!("hello 'quoted' $world\n{secret}"), "on {h}");
    }
    // A new container gets the same env.
    let out = app.ok(&["app", "exec", "--version", "v1", r#"sh -c 'echo "$GREETING"'"#]);
    for h in &f.hosts {
        assert_eq!(section(&out, h), "hello 'quoted' $world");
    }
}

#[test]
fn version_containers_logs_and_exec_show_every_host() {
    let (f, _g) = fleet();
    let app = boot_fresh(f, "v2");
    let version = app.ok(&["app", "version"]);
    let containers = app.ok(&["app", "containers"]);
    let logs = app.ok(&["app", "logs", "-n", "5"]);
    let cmdline = app.ok(&["app", "exec", "--reuse", "cat /proc/1/cmdline"]);
    let details = app.ok(&["app", "details"]);
    let images = app.ok(&["app", "images"]);
    for h in &f.hosts {
        assert_eq!(section(&version, h), "v2");
        assert!(section(&containers, h).contains("app-web-v2"), "{containers}");
        let lines = section(&logs, h).lines().count();
        assert!((1..=5).contains(&lines), "logs -n 5 on {h}: {logs}");
        assert!(section(&logs, h).contains("response:200"), "{logs}");
        assert_eq!(section(&cmdline, h).replace('\0', " ").trim(), "/bin/sh /bin/baton-testapp");
        assert!(section(&details, h).contains("app-web-v2"), "{details}");
        assert!(section(&images, h).contains("baton-testapp"), "{images}");
    }
}

#[test]
fn logs_options() {
    let (f, _g) = fleet();
    let app = boot_fresh(f, "v1");
    std::thread::sleep(Duration::from_millis(1500));
    let since = app.ok(&["app", "logs", "--since", "1h"]);
    let grep = app.ok(&["app", "logs", "--grep", "response:200", "-n", "3"]);
    let none = app.ok(&["app", "logs", "--grep", "no such line anywhere"]);
    for h in &f.hosts {
        assert!(section(&since, h).lines().count() >= 2, "{since}");
        let g = section(&grep, h);
        assert!(g.lines().count() <= 3 && g.lines().all(|l| l.contains("response:200")), "{grep}");
        assert_eq!(section(&none, h), "Nothing found");
    }
    // --follow streams from the primary host until interrupted.
    // In its own process group, so that baton and the ssh it runs stop together.
    let child = Command::new(baton_bin())
        .process_group(0)
        .args(["app", "logs", "--follow"])
        .current_dir(&app.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("baton app logs --follow");
    std::thread::sleep(Duration::from_millis(3500));
    let group = format!("-{}", child.id());
    let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
    let out = child.wait_with_output().expect("output");
    let text = stdout_of(&out);
    assert!(text.contains("response:200"), "follow printed: {text}");
}

/// `app boot` of `version` (a handover), journaled into a directory of its
/// own; its journal replays identically (`baton replay`).
fn boot_journaled_and_replayed(app: &App, version: &str) {
    let dir = app.dir.join("journals");
    let run = |args: &[&str]| {
        Command::new(baton_bin())
            .args(args)
            .current_dir(&app.dir)
            .env_remove("VERSION")
            .env("BATON_JOURNAL_DIR", &dir)
            .output()
            .expect("run baton")
    };
    let out = run(&["app", "boot", "--version", version]);
    assert!(out.status.success(), "app boot: {}", String::from_utf8_lossy(&out.stderr));
    let journals: Vec<std::path::PathBuf> =
        std::fs::read_dir(&dir).expect("the journal directory").map(|e| e.expect("entry").path()).collect();
    assert_eq!(journals.len(), 1, "one journal: {journals:?}");
    let name = journals[0].file_name().and_then(|n| n.to_str()).expect("a name").to_string();
    assert!(name.ends_with(&format!("-app-boot-{version}.jsonl")), "{name}");
    let out = run(&["replay", journals[0].to_str().expect("UTF-8 path")]);
    let text = stdout_of(&out);
    assert!(
        out.status.success() && text.contains(" events: identical"),
        "replay of {name}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn stale_containers_with_and_without_stop() {
    let (f, _g) = fleet();
    let app = boot_fresh(f, "v1");
    boot_journaled_and_replayed(&app, "v2");
    // Start v1 again beside v2: v1 is now stale.
    app.ok(&["app", "start", "--version", "v1"]);
    for h in &f.hosts {
        let mut running = f.running(h);
        running.sort();
        assert_eq!(running, vec!["app-web-v1", "app-web-v2"], "on {h}");
    }
    let detected = app.ok(&["app", "stale_containers"]);
    for h in &f.hosts {
        let expected = format!(
            "Detected stale container for role web with version {} (use `baton app stale_containers --stop` to stop)",
            stale_version(f, h)
        );
        assert_eq!(section(&detected, h), expected);
        assert_eq!(f.running(h).len(), 2, "nothing stopped without --stop on {h}");
    }
    let stopped = app.ok(&["app", "stale_containers", "--stop"]);
    for h in &f.hosts {
        assert!(section(&stopped, h).starts_with("Stopped stale container for role web with version"), "{stopped}");
        assert_eq!(f.running(h).len(), 1, "one left on {h}");
    }
}

/// The stale version on `h`: the older of the two running containers
/// (docker lists the newest first; `app start` does not change creation order).
fn stale_version(f: &Fleet, h: &str) -> String {
    let names = f.sh(h, "docker ps --filter label=service=app --format '{{.Names}}'");
    names.lines().nth(1).and_then(|n| n.strip_prefix("app-web-")).unwrap_or("?").to_string()
}

#[test]
fn stop_start_and_each_remove() {
    let (f, _g) = fleet();
    let app = boot_fresh(f, "v1");
    app.ok(&["app", "boot", "--version", "v2"]);
    app.ok(&["app", "stop"]);
    for h in &f.hosts {
        assert!(f.running(h).is_empty(), "stopped on {h}");
    }
    app.ok(&["app", "start", "--version", "v2"]);
    for h in &f.hosts {
        assert_eq!(f.running(h), vec!["app-web-v2"]);
    }
    app.ok(&["app", "remove_container", "v1"]);
    for h in &f.hosts {
        assert!(!f.containers(h).iter().any(|(n, _)| n == "app-web-v1"), "v1 removed on {h}");
        assert!(f.containers(h).iter().any(|(n, _)| n == "app-web-v2"));
    }
    app.ok(&["app", "stop"]);
    app.ok(&["app", "remove_containers"]);
    for h in &f.hosts {
        assert!(f.containers(h).is_empty(), "no containers on {h}: {:?}", f.containers(h));
    }
    app.ok(&["app", "remove_images"]);
    for h in &f.hosts {
        let images = f.sh(h, "docker image ls --filter label=service=app --quiet");
        assert!(images.trim().is_empty(), "images left on {h}: {images}");
    }
    // remove: stop + remove containers + remove images, in one command.
    app.ok(&["app", "boot", "--version", "v3"]);
    app.ok(&["app", "remove"]);
    for h in &f.hosts {
        assert!(f.containers(h).is_empty());
        assert!(f.sh(h, "docker image ls --filter label=service=app --quiet").trim().is_empty());
    }
    let audit = app.ok(&["audit"]);
    for h in &f.hosts {
        let s = section(&audit, h);
        assert!(s.contains("Removed all app images") && s.contains("Stopped app"), "{s}");
    }
}

#[test]
fn a_held_lock_stops_a_boot_and_changes_nothing() {
    let (f, _g) = fleet();
    let app = boot_fresh(f, "v1");
    app.ok(&["lock", "acquire", "-m", "maintenance"]);
    let states = |h: &String| -> Vec<(String, String)> {
        f.containers(h).into_iter().map(|(n, s)| (n, s.split_whitespace().next().unwrap_or("").to_string())).collect()
    };
    let before: Vec<_> = f.hosts.iter().map(states).collect();
    let out = app.baton(&["app", "boot", "--version", "v2"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Deploy lock found") && err.contains("Message: maintenance") && err.contains("Locked by:"),
        "{err}"
    );
    let after: Vec<_> = f.hosts.iter().map(states).collect();
    assert_eq!(before, after, "nothing changed");
    // A mutating app command is refused the same way.
    let out = app.baton(&["app", "stop"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Message: maintenance"));
    assert_eq!(f.running(&f.hosts[0]), vec!["app-web-v1"]);
    app.ok(&["lock", "release"]);
    assert!(app.ok(&["lock", "status"]).contains("There is no deploy lock"));
}

/// `--lock-wait`: a boot started while another holds the lock waits, says
/// who holds it, and boots once the lock is released (3 s later here).
#[test]
fn a_boot_with_lock_wait_waits_for_the_lock_then_boots() {
    let (f, _g) = fleet();
    let app = boot_fresh(f, "v1");
    app.ok(&["lock", "acquire", "-m", "maintenance"]);
    let started = std::time::Instant::now();
    let boot = Command::new(baton_bin())
        .args(["app", "boot", "--version", "v2", "--lock-wait", "30s"])
        .current_dir(&app.dir)
        .env_remove("VERSION")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start baton app boot --lock-wait");
    std::thread::sleep(Duration::from_secs(3));
    // Still waiting: nothing changed yet.
    assert_eq!(f.running(&f.hosts[0]), vec!["app-web-v1"]);
    app.ok(&["lock", "release"]);
    let out = boot.wait_with_output().expect("baton app boot --lock-wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{err}", stdout_of(&out));
    assert!(started.elapsed() >= Duration::from_secs(3), "it waited for the release");
    assert!(err.contains("waiting for the deploy lock held by") && err.contains("Message: maintenance"), "{err}");
    for h in &f.hosts {
        assert_eq!(f.running(h), vec!["app-web-v2"], "on {h}");
    }
    assert!(app.ok(&["lock", "status"]).contains("There is no deploy lock"));
    // Held past the timeout: it gives up, saying it waited, and changes nothing.
    app.ok(&["lock", "acquire", "-m", "maintenance"]);
    let out = app.baton(&["app", "boot", "--version", "v1", "--lock-wait", "3s"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("was still held after waiting 3s") && err.contains("Message: maintenance"), "{err}");
    assert_eq!(f.running(&f.hosts[0]), vec!["app-web-v2"]);
    app.ok(&["lock", "release"]);
}

/// `app exec -i` and `app exec -i --reuse` run over `ssh -t` on the primary
/// host, under a pseudo-terminal (`script` provides one, as a user's
/// terminal would): the command runs in a container of the app, with the
/// config's key and known_hosts.
#[test]
fn interactive_exec_runs_in_a_terminal() {
    let (f, _g) = fleet();
    let app = boot_fresh(f, "v2");
    let baton = baton_bin().display().to_string();
    for args in ["app exec -i --reuse 'cat /etc/hostname'", "app exec -i --version v2 'cat /etc/hostname'"] {
        let out = std::process::Command::new("script")
            .args(["-q", "-e", "-c", &format!("{baton} {args}"), "/dev/null"])
            .current_dir(&app.dir)
            .env_remove("VERSION")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("script");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args}: {text}{}", String::from_utf8_lossy(&out.stderr));
        // The terminal's output: the container's hostname (for `--reuse`,
        // the running container's: the primary host, a dash, 12 hex digits;
        // a new container gets Docker's 12-hex id), then ssh's "Connection
        // to … closed.", which ssh prints for a session with a terminal at
        // its default LogLevel: the config's `ssh: config: /dev/null` keeps
        // a user's `LogLevel ERROR` (or QUIET) in ~/.ssh/config out. (`^@` is
        // how the terminal echoes the end of stdin.)
        let lines: Vec<&str> =
            text.lines().map(|l| l.trim_start_matches("^@").trim()).filter(|l| !l.is_empty()).collect();
        let name = lines.first().copied().unwrap_or("");
        let hex12 = |s: &str| s.len() == 12 && s.bytes().all(|b| b.is_ascii_hexdigit());
        let expected = if args.contains("--reuse") {
            name.strip_prefix(&format!("{}-", f.hosts[0])).is_some_and(hex12)
        } else {
            hex12(name)
        };
        assert!(expected, "{args}: {text:?}");
        assert!(lines.iter().any(|l| l.starts_with("Connection to ")), "{args}: {text:?}");
    }
}
