//! End-to-end tests of the parts of `deploy` that stand on their own:
//! `healthcheck perform` and `prune`, on the real test fleet (see `common`),
//! and the logs `app boot` prints for a container that never turns healthy.

mod common;

use common::*;

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into()
}

/// Health check containers left on `host` (running or not).
fn healthcheck_containers(f: &Fleet, host: &str) -> String {
    f.sh(host, "docker ps -a --filter label=service=healthcheck-app --format '{{.Names}}'")
}

#[test]
fn healthcheck_perform_passes_for_a_good_image_and_leaves_nothing() {
    let (f, _g) = fleet();
    f.reset();
    let app = f.app("");
    app.ok(&["env", "push"]);
    let out = app.ok(&["healthcheck", "perform", "--version", "v1"]);
    assert!(out.contains("Container is healthy!"), "{out}");
    let primary = &f.hosts[0];
    assert_eq!(healthcheck_containers(f, primary).trim(), "", "removed on {primary}");
    for h in &f.hosts[1..] {
        assert_eq!(healthcheck_containers(f, h).trim(), "", "never started on {h}");
    }
    // `baton healthcheck` alone is `perform`, as in Kamal.
    let out = app.ok(&["healthcheck", "--version", "v2"]);
    assert!(out.contains("Container is healthy!"), "{out}");
    assert!(f.containers(primary).is_empty(), "the app's own containers were never touched");
}

#[test]
fn healthcheck_perform_fails_with_the_logs_of_a_never_healthy_image() {
    let (f, _g) = fleet();
    f.reset();
    let app = f.app("");
    // The harness's config has a healthcheck: section; add log_lines to it.
    let path = app.dir.join("config/deploy.yml");
    let text = std::fs::read_to_string(&path).expect("read config");
    assert!(text.contains("  max_attempts: 3\n"), "{text}");
    std::fs::write(&path, text.replace("  max_attempts: 3\n", "  max_attempts: 3\n  log_lines: 5\n")).expect("write");
    app.ok(&["env", "push"]);
    let out = app.baton(&["healthcheck", "perform", "--version", "unhealthy"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("healthcheck-app-unhealthy was not healthy after 4 status read(s)"), "{err}");
    assert!(err.contains("its last 5 log lines:"), "{err}");
    let logs = err.split("its last 5 log lines:").nth(1).and_then(|r| r.split("its health log:").next()).unwrap_or("");
    assert_eq!(logs.trim().lines().count(), 5, "log_lines: 5 lines of the container's own log: {err}");
    assert!(logs.contains("response:404"), "the container's own log: {err}");
    assert!(err.contains("its health log:") && err.contains("exit 1: wget: server returned error"), "{err}");
    assert!(err.contains("it was stopped and removed"), "{err}");
    assert_eq!(healthcheck_containers(f, &f.hosts[0]).trim(), "", "removed after the failure");
}

#[test]
fn a_boot_whose_container_never_turns_healthy_prints_its_logs() {
    let (f, _g) = fleet();
    let app = boot_fresh(f, "v1");
    let out = app.baton(&["app", "boot", "--version", "unhealthy"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for h in &f.hosts {
        assert!(err.contains(&format!("{h} [web]: app-web-unhealthy never turned healthy:")), "{h}: {err}");
        assert!(f.running(h).contains(&"app-web-v1".to_string()), "v1 keeps serving on {h}");
    }
    assert!(err.contains("baton-testapp unhealthy: starting"), "{err}");
    assert!(err.contains("its health log:"), "{err}");
    app.ok(&["lock", "release"]);
}

/// The app's images on `host`, as `repository:tag` without the registry, sorted.
fn images(f: &Fleet, host: &str) -> Vec<String> {
    let out = f.sh(host, "docker image ls --filter label=service=app --format '{{.Repository}}:{{.Tag}}'");
    let mut v: Vec<String> =
        out.lines().map(|l| l.rsplit('/').next().unwrap_or(l).to_string()).filter(|l| !l.ends_with("<none>")).collect();
    v.sort();
    v
}

fn stopped(f: &Fleet, host: &str) -> usize {
    f.containers(host).iter().filter(|(_, s)| !s.starts_with("running")).count()
}

#[test]
fn prune_keeps_five_stopped_containers_their_images_and_latest() {
    let (f, _g) = fleet();
    let app = boot_fresh(f, "v1");
    // Seven boots in all: one running, six stopped (a re-boot of a version
    // renames its old container aside).
    for v in ["v2", "v3", "v1", "v2", "v3", "v1"] {
        app.ok(&["app", "boot", "--version", v]);
    }
    // An image of the service that no container uses.
    for h in &f.hosts {
        f.sh(h, &format!("docker pull --quiet {}/baton-testapp:crash >/dev/null", f.registry));
        assert_eq!(stopped(f, h), 6, "on {h}: {:?}", f.containers(h));
    }
    app.ok(&["prune", "all"]);
    for h in &f.hosts {
        assert_eq!(stopped(f, h), 5, "five stopped containers kept on {h}: {:?}", f.containers(h));
        assert_eq!(f.running(h), vec!["app-web-v1"], "the running one stays on {h}");
        assert_eq!(
            images(f, h),
            ["baton-testapp:latest", "baton-testapp:v1", "baton-testapp:v2", "baton-testapp:v3"],
            "the unused image goes, latest and the kept containers' images stay on {h}"
        );
    }
    assert!(!f.lock_held(), "the lock is released");
    let audit = app.ok(&["audit"]);
    assert!(audit.contains("Pruned containers") && audit.contains("Pruned images"), "{audit}");
}

#[test]
fn prune_with_retain_containers_removes_the_images_of_the_containers_it_removes() {
    let (f, _g) = fleet();
    f.reset();
    let app = f.app("retain_containers: 1\n");
    app.ok(&["env", "push"]);
    for v in ["v1", "v2", "v3"] {
        app.ok(&["app", "boot", "--version", v]);
    }
    app.ok(&["prune", "containers"]);
    for h in &f.hosts {
        let names: Vec<String> = f.containers(h).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["app-web-v3", "app-web-v2"], "v2 is kept for a rollback on {h}");
        assert!(images(f, h).contains(&"baton-testapp:v1".to_string()), "prune containers leaves images");
    }
    app.ok(&["prune", "images"]);
    for h in &f.hosts {
        assert_eq!(images(f, h), ["baton-testapp:latest", "baton-testapp:v2", "baton-testapp:v3"], "on {h}");
    }
    // The kept version can still be booted back.
    app.ok(&["app", "boot", "--version", "v2"]);
    for h in &f.hosts {
        assert_eq!(f.running(h), vec!["app-web-v2"]);
    }
}
