//! End-to-end: `baton registry logout`/`login`, `build push` (native) and
//! `build pull` against the test fleet: its registry requires a login
//! (htpasswd), and builds run on the fleet's local engine
//! (`local_docker_host`). The registry password must be in no output, in no
//! command line seen while `registry login` runs (every host's processes
//! are this machine's: the hosts share its pid namespace), and in no audit
//! log. The client config of this machine's docker is a directory of the
//! test's own (`DOCKER_CONFIG`), so the user's ~/.docker stays untouched.

mod common;

use common::{baton_bin, fleet, Fleet};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// baton in `dir`, building on the fleet's local engine.
fn baton(f: &Fleet, dir: &Path, docker_config: &Path, args: &[&str]) -> Output {
    Command::new(baton_bin())
        .args(args)
        .current_dir(dir)
        .env_remove("VERSION")
        .env("DOCKER_HOST", &f.local_docker_host)
        .env("DOCKER_CONFIG", docker_config)
        .env("BATON_REGISTRY_PASSWORD", &f.registry_password)
        .output()
        .expect("run baton")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn ok(f: &Fleet, dir: &Path, docker_config: &Path, args: &[&str]) -> String {
    let out = baton(f, dir, docker_config, args);
    let t = text(&out);
    assert!(out.status.success(), "baton {args:?} failed:\n{t}");
    assert!(!t.contains(&f.registry_password), "baton {args:?} printed the registry password:\n{t}");
    t
}

/// Every command line on this machine, read every few milliseconds until `stop`.
fn watch_command_lines(stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut seen = std::collections::BTreeSet::new();
        while !stop.load(Ordering::Relaxed) {
            for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                if let Ok(bytes) = std::fs::read(e.path().join("cmdline")) {
                    let line = String::from_utf8_lossy(&bytes).replace('\0', " ");
                    if !line.trim().is_empty() {
                        seen.insert(line);
                    }
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        seen.into_iter().collect()
    })
}

fn logged_in(f: &Fleet, host: &str) -> bool {
    let (_, out, _) = f.ssh(host, "cat .docker/config.json 2>/dev/null");
    out.contains(&format!("\"{}\"", f.registry))
}

#[test]
fn registry_login_build_push_and_pull_put_the_image_on_every_host() {
    let (f, _guard) = fleet();
    f.reset();
    let app = f.app("builder:\n  multiarch: false\n");
    let dir = app.dir.clone();
    let version = format!("e2e-build-{}", std::process::id());
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM {}/baton-testapp:v1\nENV APP_VERSION={version}\nLABEL built-by=baton-e2e\n", f.registry),
    )
    .expect("write Dockerfile");
    let docker_config = dir.join("docker-config");
    std::fs::create_dir_all(&docker_config).expect("mkdir");

    // Logged out, the hosts can no longer pull (the registry wants a login).
    ok(f, &dir, &docker_config, &["registry", "logout"]);
    for h in &f.hosts {
        assert!(!logged_in(f, h), "{h} is still logged in after registry logout");
    }
    let (code, _, err) = f.ssh(&f.hosts[0], &format!("docker pull {}/baton-testapp:v1", f.registry));
    assert_ne!(code, 0, "a pull without a login succeeded: the registry does not require one");
    assert!(err.contains("no basic auth credentials") || err.contains("unauthorized"), "{err}");

    // Log in, watching every command line meanwhile.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_command_lines(stop.clone());
    let out = ok(f, &dir, &docker_config, &["registry", "login", "-v"]);
    stop.store(true, Ordering::Relaxed);
    let lines = watcher.join().expect("watcher");
    assert!(
        lines.iter().any(|l| l.contains("login") && l.contains("--password-stdin")),
        "no `docker login` was seen while registry login ran, so the check below proves nothing"
    );
    let leaked: Vec<&String> = lines.iter().filter(|l| l.contains(&f.registry_password)).collect();
    assert!(leaked.is_empty(), "the password was on a command line: {leaked:?}");
    for h in &f.hosts {
        assert!(logged_in(f, h), "{h} is not logged in after registry login:\n{out}");
    }
    let local_config = std::fs::read_to_string(docker_config.join("config.json")).expect("local docker config");
    assert!(local_config.contains(&f.registry), "this machine is not logged in: {local_config}");

    // Build natively on the local engine, push, pull on every host.
    let pushed = ok(f, &dir, &docker_config, &["build", "push", "-v", "--version", &version]);
    assert!(pushed.contains(&format!("built and pushed {}/baton-testapp:{version}", f.registry)), "{pushed}");
    let pulled = ok(f, &dir, &docker_config, &["build", "pull", "--version", &version]);
    for h in &f.hosts {
        assert!(pulled.contains(&format!("{h}: pulled {}/baton-testapp:{version}", f.registry)), "{pulled}");
        let labels = f.sh(
            h,
            &format!(
                "docker image inspect --format '{{{{index .Config.Labels \"service\"}}}} {{{{index .Config.Labels \"built-by\"}}}}' {}/baton-testapp:{version}",
                f.registry
            ),
        );
        assert_eq!(labels.trim(), "app baton-e2e", "on {h}");
        let audit = f.sh(h, "cat .kamal/app-audit.log");
        assert!(audit.contains(&format!("Pulled image with version {version}")), "on {h}: {audit}");
        assert!(!audit.contains(&f.registry_password), "the password is in {h}'s audit log");
    }
    assert!(!f.lock_held(), "build push/pull left the deploy lock held");
}

/// Without an engine where DOCKER_HOST points, `build push` says so and
/// what to do, instead of docker's raw error; the lock is released.
#[test]
fn a_missing_local_engine_is_named() {
    let (f, _guard) = fleet();
    f.reset();
    let app = f.app("builder:\n  multiarch: false\n");
    std::fs::write(app.dir.join("Dockerfile"), "FROM scratch\n").expect("write Dockerfile");
    let out = Command::new(baton_bin())
        .args(["build", "push", "--version", "nowhere"])
        .current_dir(&app.dir)
        .env("DOCKER_HOST", "unix:///run/baton-fleet/no-such.sock")
        .output()
        .expect("run baton");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("error: no Docker engine answers at DOCKER_HOST=unix:///run/baton-fleet/no-such.sock"), "{t}");
    assert!(t.contains("set DOCKER_HOST to the engine to build with"), "{t}");
    assert!(!f.lock_held(), "the lock was not released:\n{t}");
}
