//! End-to-end: `baton deploy` from an app directory with a Dockerfile: a
//! native build on the fleet's local engine, a push to the fleet's registry
//! (which wants a login), `registry login` here and on every host, pulls,
//! the throw-away health check container, the cord handover on 3 hosts, the
//! prune and the hooks; then `rollback` to the previous version. Both under
//! constant HTTP load through every host's proxy, which must lose no
//! request. A version that never turns healthy stops at the health check
//! and changes no host.

mod common;

use baton_loadgen::LoadReport;
use common::{fleet, Fleet};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// Appended to the fleet's config, whose last section is `baton:`.
const CONFIG: &str =
    "  routes: busybox wget -qO- http://127.0.0.1:8080/api/http/services\nbuilder:\n  multiarch: false\n";

/// An app directory for the fleet with a Dockerfile of `version` built
/// FROM the fleet's test image `base`, and two hooks that record their
/// `KAMAL_*` variables.
fn app_dir(f: &Fleet) -> PathBuf {
    f.reset();
    let app = f.app(CONFIG);
    let hooks = app.dir.join(".kamal/hooks");
    std::fs::create_dir_all(&hooks).expect("mkdir hooks");
    for h in ["pre-deploy", "post-deploy"] {
        let p = hooks.join(h);
        std::fs::write(&p, format!("#!/bin/sh\nenv | grep ^KAMAL_ | sort > \"$(dirname \"$0\")/../../{h}.env\"\n"))
            .expect("write hook");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    std::fs::create_dir_all(app.dir.join("docker-config")).expect("mkdir");
    app.dir
}

fn dockerfile(f: &Fleet, dir: &Path, base: &str, version: &str) {
    let text = format!("FROM {}/baton-testapp:{base}\nENV APP_VERSION={version}\n", f.registry);
    std::fs::write(dir.join("Dockerfile"), text).expect("write Dockerfile");
}

fn baton(f: &Fleet, dir: &Path, args: &[&str]) -> Output {
    common::deploy_command(f, dir).args(args).output().expect("run baton")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn ok(f: &Fleet, dir: &Path, args: &[&str]) -> String {
    let out = baton(f, dir, args);
    let t = text(&out);
    assert!(out.status.success(), "baton {args:?} failed:\n{t}");
    assert!(!t.contains(&f.registry_password), "baton {args:?} printed the registry password:\n{t}");
    t
}

fn summary(r: &LoadReport) -> String {
    let c = &r.counts;
    format!(
        "{} requests: {} ok, {} non-2xx, {} connect errors, {} timeouts, {} bad bodies; bodies {:?}",
        c.total, c.ok, c.non_2xx, c.connect_errors, c.timeouts, c.bad_body, c.bodies
    )
}

/// Wait until every host's proxy serves `version`.
fn wait_served(f: &Fleet, version: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    for h in &f.hosts {
        loop {
            let body = baton_http::get(format!("{h}:80").parse().expect("address"), "/version", Duration::from_secs(2))
                .ok()
                .filter(|a| a.status() == 200)
                .map(|a| a.text())
                .unwrap_or_default();
            if body.trim() == version {
                break;
            }
            assert!(Instant::now() < deadline, "the proxy on {h} does not serve {version}: {body:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn hook_env(dir: &Path, hook: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{hook}.env"))).unwrap_or_default()
}

#[test]
fn deploy_and_rollback_under_load_lose_no_request() {
    let (f, _guard) = fleet();
    let dir = app_dir(f);
    let pid = std::process::id();
    let (d1, d2) = (format!("d1-{pid}"), format!("d2-{pid}"));
    ok(f, &dir, &["env", "push"]);

    // A first deploy: nothing runs yet.
    dockerfile(f, &dir, "v1", &d1);
    let out = ok(f, &dir, &["deploy", "--version", &d1]);
    wait_served(f, &d1);
    let pre = hook_env(&dir, "pre-deploy");
    for var in
        [format!("KAMAL_VERSION={d1}"), "KAMAL_COMMAND=deploy".into(), format!("KAMAL_HOSTS={}", f.hosts.join(","))]
    {
        assert!(pre.contains(&var), "pre-deploy was not given {var}: {pre}\n{out}");
    }
    assert!(hook_env(&dir, "post-deploy").contains("KAMAL_RUNTIME="), "post-deploy gets the runtime");

    // The next version, under load.
    dockerfile(f, &dir, "v1", &d2);
    let mut deploy_out = String::new();
    let report = common::under_load(f, 300, &[&d1, &d2], || deploy_out = ok(f, &dir, &["deploy", "--version", &d2]));
    println!("deploy {d1} -> {d2}: {}", summary(&report));
    assert_eq!(report.counts.failures(), 0, "deploy: {}\n{:?}\n{deploy_out}", summary(&report), report.failures);
    assert!(report.counts.bodies.contains_key(&d2), "the load never saw {d2}: {}", summary(&report));
    for h in &f.hosts {
        assert_eq!(f.running(h), vec![format!("app-web-{d2}")], "on {h}");
        let audit = f.sh(h, "cat .kamal/app-audit.log");
        assert!(!audit.contains(&f.registry_password), "the password is in {h}'s audit log");
        assert!(audit.contains(&format!("Pulled image with version {d2}")), "{audit}");
    }
    assert!(!f.lock_held(), "deploy left the lock held:\n{deploy_out}");

    // `rollback` lists what it can go back to, then goes back, under load.
    let listed = ok(f, &dir, &["rollback"]);
    assert!(listed.contains(&d1) && listed.contains(&d2), "{listed}");
    let mut rollback_out = String::new();
    let report = common::under_load(f, 300, &[&d1, &d2], || rollback_out = ok(f, &dir, &["rollback", &d1]));
    println!("rollback {d2} -> {d1}: {}", summary(&report));
    assert_eq!(report.counts.failures(), 0, "rollback: {}\n{:?}\n{rollback_out}", summary(&report), report.failures);
    for h in &f.hosts {
        assert_eq!(f.running(h), vec![format!("app-web-{d1}")], "on {h}");
    }
    assert_eq!(
        hook_env(&dir, "pre-deploy").lines().find(|l| l.starts_with("KAMAL_COMMAND=")),
        Some("KAMAL_COMMAND=rollback")
    );

    // A version no host has: refused before anything changes.
    let out = baton(f, &dir, &["rollback", "nowhere"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("no container of version nowhere on"), "{t}");
    assert!(!f.lock_held(), "a refused rollback left the lock held:\n{t}");

    // -H: no hook runs (redeploy -P pulls what the registry has).
    std::fs::remove_file(dir.join("pre-deploy.env")).expect("rm");
    ok(f, &dir, &["redeploy", "-P", "-H", "--version", &d2]);
    assert!(!dir.join("pre-deploy.env").exists(), "-H ran the pre-deploy hook");
}

#[test]
fn a_version_that_never_turns_healthy_stops_at_the_health_check_and_changes_no_host() {
    let (f, _guard) = fleet();
    let dir = app_dir(f);
    ok(f, &dir, &["env", "push"]);
    let pid = std::process::id();
    let good = format!("good-{pid}");
    dockerfile(f, &dir, "v1", &good);
    ok(f, &dir, &["deploy", "--version", &good]);

    let bad = format!("bad-{pid}");
    dockerfile(f, &dir, "unhealthy", &bad);
    let out = baton(f, &dir, &["deploy", "--version", &bad]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains(&format!("healthcheck-app-{bad}")) && t.contains("was not healthy"), "{t}");
    assert!(t.contains("log lines") || t.contains("its log"), "the container's logs are printed: {t}");
    for h in &f.hosts {
        assert_eq!(f.running(h), vec![format!("app-web-{good}")], "on {h}: {t}");
        let all: Vec<String> = f.containers(h).into_iter().map(|(n, _)| n).collect();
        assert!(!all.iter().any(|n| n.contains(&bad)), "a container of {bad} is left on {h}: {all:?}");
    }
    assert!(!dir.join("post-deploy.env").exists() || !hook_env(&dir, "post-deploy").contains(&bad));
    assert!(!f.lock_held(), "the failed deploy left the lock held:\n{t}");
}
