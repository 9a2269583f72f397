//! The end-to-end harness: the test fleet (`scripts/fleet up 3`: three hosts,
//! each a network + mount namespace with its own sshd and dockerd, and a local
//! registry), SSH to its hosts, and an app directory to run `baton` in. The
//! tests need root and the fleet's Debian packages (`scripts/fleet deps`);
//! without them they fail and say why.
//!
//! Before anything runs, `baton` and `fleet-proxy` are built from the tree
//! with the tests' own profile (once per test binary), so that a test never
//! runs an old build; the fleet's proxies run that `fleet-proxy`
//! (unless `BATON_FLEET_PROXY` names another), and so does the Traefik
//! stand-in image of [`fleet_traefik`] (`scripts/fleet up 3 --traefik`). Nothing reads the user's ssh
//! config: the harness's `ssh` and baton (`ssh: config: /dev/null`) run with
//! `-F /dev/null`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

pub struct Fleet {
    pub hosts: Vec<String>,
    pub registry: String,
    pub key: String,
    pub root: PathBuf,
    /// The engine of the machine baton runs on (`DOCKER_HOST` for builds).
    pub local_docker_host: String,
    /// The registry's login (htpasswd): the hosts are logged in at `up`.
    pub registry_user: String,
    pub registry_password: String,
    /// With `scripts/fleet up 3 --traefik` ([`fleet_traefik`]): the image
    /// standing in for Traefik (fleet-proxy in Traefik mode), for `traefik.image`.
    pub traefik_image: Option<String>,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// The fleet, started once per test binary. Tests share it one at a time.
/// Every host runs fleet-proxy as a process on its port 80.
pub fn fleet() -> (&'static Fleet, MutexGuard<'static, ()>) {
    static FLEET: OnceLock<Fleet> = OnceLock::new();
    let guard = serial();
    (FLEET.get_or_init(|| start_fleet(false)), guard)
}

/// The fleet as `scripts/fleet up 3 --traefik` leaves it: no proxy on the
/// hosts; `baton traefik boot` with `traefik.image` set to
/// [`Fleet::traefik_image`] starts the container `traefik` that serves port
/// 80 (see docs/fleet-proxy.md). Started once per test binary; a test binary
/// uses either this or [`fleet`], never both.
pub fn fleet_traefik() -> (&'static Fleet, MutexGuard<'static, ()>) {
    static FLEET: OnceLock<Fleet> = OnceLock::new();
    let guard = serial();
    (FLEET.get_or_init(|| start_fleet(true)), guard)
}

fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn start_fleet(traefik: bool) -> Fleet {
    // The journals of test runs go to a scratch directory, not the user's
    // ~/.local/state (every baton this process starts inherits it).
    if std::env::var_os("BATON_JOURNAL_DIR").is_none() {
        std::env::set_var("BATON_JOURNAL_DIR", std::env::temp_dir().join("baton-e2e-journal"));
    }
    let root = repo_root();
    let mut up = Command::new(root.join("scripts/fleet"));
    up.args(["up", "3"]);
    if traefik {
        up.arg("--traefik");
    }
    if std::env::var_os("BATON_FLEET_PROXY").is_none() {
        up.env("BATON_FLEET_PROXY", built().join("fleet-proxy"));
    }
    let shown = if traefik { "scripts/fleet up 3 --traefik" } else { "scripts/fleet up 3" };
    let out = up.output().expect("run scripts/fleet");
    assert!(
        out.status.success(),
        "{shown} failed (the end-to-end tests need root and `scripts/fleet deps`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut hosts = vec![];
    let (mut registry, mut key, mut local, mut user, mut password) =
        (String::new(), String::new(), String::new(), String::new(), String::new());
    let mut traefik_image = None;
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["host", _, addr] => hosts.push(addr.to_string()),
            ["registry", r] => registry = r.to_string(),
            ["key", k] => key = k.to_string(),
            ["local_docker_host", h] => local = h.to_string(),
            ["registry_user", u] => user = u.to_string(),
            ["registry_password", p] => password = p.to_string(),
            ["traefik_image", i] => traefik_image = Some(i.to_string()),
            _ => {}
        }
    }
    assert_eq!(hosts.len(), 3, "{shown} printed: {text}");
    assert!(!local.is_empty() && !password.is_empty(), "{shown} printed: {text}");
    assert_eq!(traefik_image.is_some(), traefik, "{shown} printed: {text}");
    Fleet {
        hosts,
        registry,
        key,
        root,
        local_docker_host: local,
        registry_user: user,
        registry_password: password,
        traefik_image,
    }
}

/// The directory of the binaries the tests were built with (`target/<profile>`),
/// after building `baton` and `fleet-proxy` there from the current tree:
/// once per test binary, with the tests' profile, by the cargo that runs the
/// tests (`$CARGO`; cargo releases its build lock while tests run).
fn built() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        // target/<profile>/deps/e2e_boot-… → target/<profile>
        let exe = std::env::current_exe().expect("test executable");
        let dir = exe.parent().and_then(Path::parent).expect("target/<profile>").to_path_buf();
        let target = dir.parent().expect("target dir");
        let profile = match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev",
            Some(p) => p,
            None => panic!("cannot tell the build profile from {}", exe.display()),
        };
        let Some(cargo) = std::env::var_os("CARGO") else {
            panic!(
                "CARGO is not set: run the end-to-end tests with `cargo test` (they build baton first, with \
                 the tests' profile, so that they never run an old binary), or set CARGO to the cargo to use"
            )
        };
        let out = Command::new(&cargo)
            .args(["build", "--quiet", "--profile", profile, "-p", "baton", "-p", "baton-fleet-proxy"])
            .arg("--manifest-path")
            .arg(repo_root().join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", target)
            .output()
            .expect("run cargo build");
        assert!(
            out.status.success(),
            "cargo build --profile {profile} -p baton -p baton-fleet-proxy failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

/// The proxies' pickup delay: `BATON_FLEET_PICKUP_MS` (as `scripts/fleet up`
/// reads it), else 1000. The test config's `baton.proxy_pickup` says the same.
pub fn pickup_ms() -> u64 {
    std::env::var("BATON_FLEET_PICKUP_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000)
}

/// `baton`, built from the current tree (see [`built`]).
pub fn baton_bin() -> PathBuf {
    built().join("baton")
}

impl Fleet {
    pub fn known_hosts(&self) -> String {
        Path::new(&self.key).with_file_name("known_hosts").display().to_string()
    }

    pub fn ssh(&self, host: &str, cmd: &str) -> (i32, String, String) {
        let out = Command::new("ssh")
            .args(["-F", "/dev/null", "-i", &self.key, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
            .args(["-o", &format!("UserKnownHostsFile={}", self.known_hosts())])
            .arg(format!("root@{host}"))
            .arg(cmd)
            .output()
            .expect("ssh");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }

    pub fn sh(&self, host: &str, cmd: &str) -> String {
        let (code, out, err) = self.ssh(host, cmd);
        assert_eq!(code, 0, "on {host}: {cmd}\n{err}");
        out
    }

    /// Remove every container and baton/Kamal state from every host.
    pub fn reset(&self) {
        for h in &self.hosts {
            self.sh(h, "docker ps -aq | xargs --no-run-if-empty docker rm -f >/dev/null; rm -rf .kamal");
        }
    }

    /// A `traefik:` section for the fleet's stand-in image (a `--traefik`
    /// fleet only): its API on :8080 (`api.insecure`, which `baton.routes:
    /// traefik` reads) and the pickup delay of the config's `baton.proxy_pickup`.
    pub fn traefik_section(&self) -> String {
        let image = self.traefik_image.as_deref().expect("fleet_traefik() gives the image");
        format!(
            "traefik:\n  image: {image}\n  args:\n    api.insecure: true\n    providers.providersThrottleDuration: {}ms\n",
            pickup_ms()
        )
    }

    /// A directory holding config/deploy.yml for this fleet. Its
    /// `ssh: config: /dev/null` keeps the user's ~/.ssh/config out.
    pub fn app(&self, extra: &str) -> App {
        let dir = std::env::temp_dir().join(format!("baton-e2e-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("config")).expect("mkdir");
        let hosts: String = self.hosts.iter().map(|h| format!("  - {h}\n")).collect();
        let config = format!(
            "service: app\nimage: baton-testapp\nservers:\n{hosts}registry:\n  server: {}\n  username: baton\n  password: [BATON_REGISTRY_PASSWORD]\nhealthcheck:\n  cmd: wget -qO- http://localhost:3000/up\n  interval: 1s\n  max_attempts: 3\nssh:\n  keys: [{}]\n  config: /dev/null\nbaton:\n  known_hosts: strict\n  known_hosts_file: {}\n  poll_interval: 250ms\n  proxy_pickup: {}ms\n  pause_margin: 500ms\n{extra}",
            self.registry,
            self.key,
            self.known_hosts(),
            pickup_ms()
        );
        std::fs::write(dir.join("config/deploy.yml"), config).expect("write config");
        App { dir }
    }

    /// Names and states of app containers on `host`.
    pub fn containers(&self, host: &str) -> Vec<(String, String)> {
        self.sh(host, "docker ps -a --filter label=service=app --format '{{.Names}} {{.State}} {{.Status}}'")
            .lines()
            .map(|l| {
                let (n, rest) = l.split_once(' ').unwrap_or((l, ""));
                (n.to_string(), rest.to_string())
            })
            .collect()
    }

    pub fn running(&self, host: &str) -> Vec<String> {
        self.containers(host).into_iter().filter(|(_, s)| s.starts_with("running")).map(|(n, _)| n).collect()
    }

    pub fn is_healthy(&self, host: &str, name: &str) -> bool {
        self.ssh(host, &format!("docker inspect --format '{{{{.State.Health.Status}}}}' {name}")).1.trim() == "healthy"
    }

    /// The cord directory mounted into `name`, if any.
    pub fn cord_of(&self, host: &str, name: &str) -> Option<String> {
        let out = self.sh(host, &format!("docker inspect --format '{{{{range .Mounts}}}}{{{{.Source}}}}={{{{.Destination}}}} {{{{end}}}}' {name}"));
        out.split_whitespace().find_map(|m| m.strip_suffix("=/tmp/kamal-cord").map(str::to_string))
    }

    pub fn lock_held(&self) -> bool {
        self.ssh(&self.hosts[0], "test -d .kamal/lock-app").0 == 0
    }
}

pub struct App {
    pub dir: PathBuf,
}

impl App {
    pub fn baton(&self, args: &[&str]) -> Output {
        Command::new(baton_bin()).args(args).current_dir(&self.dir).env_remove("VERSION").output().expect("run baton")
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.baton(args);
        assert!(
            out.status.success(),
            "baton {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into()
    }
}

/// `baton ARGS` run in `dir` as `baton plan` is (no fleet: plan contacts
/// nothing), as user `deployer`: (exit code, stdout). Panics unless it
/// exits 0 or 3 (a plan that predicts a failure).
pub fn plan_in(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(baton_bin())
        .args(args)
        .current_dir(dir)
        .env("USER", "deployer")
        .env_remove("VERSION")
        .env_remove("COLUMNS")
        .output()
        .expect("run baton");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(0 | 3)), "baton {args:?} failed: {stderr}");
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).expect("UTF-8"))
}

/// Reset the fleet, push the env files and boot `version`.
pub fn boot_fresh(f: &Fleet, version: &str) -> App {
    f.reset();
    let app = f.app("");
    app.ok(&["env", "push"]);
    app.ok(&["app", "boot", "--version", version]);
    app
}

/// Wait until every host's port 80 (its proxy) answers `version` on /version.
pub fn wait_routed(f: &Fleet, version: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    for h in &f.hosts {
        loop {
            let body = http_get(&format!("{h}:80"), "/version").unwrap_or_default();
            if body.trim() == version {
                break;
            }
            assert!(Instant::now() < deadline, "the proxy on {h} does not serve {version}: {body:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The body of a plain HTTP GET, if it answered 200.
pub fn http_get(addr: &str, path: &str) -> Option<String> {
    let answer = baton_http::get(addr.parse().ok()?, path, Duration::from_secs(2)).ok()?;
    (answer.status() == 200).then(|| answer.text())
}

/// Every host's proxy (port 80), as load targets.
pub fn load_targets(f: &Fleet) -> Vec<std::net::SocketAddr> {
    f.hosts.iter().map(|h| format!("{h}:80").parse().expect("address")).collect()
}

/// Run `during` under `rate` requests/s through every host's proxy, which
/// must answer one of `bodies`; the load starts 1 s before and ends 1.5 s after.
pub fn under_load(f: &Fleet, rate: u32, bodies: &[&str], during: impl FnOnce()) -> baton_loadgen::LoadReport {
    under_load_keeping(f, rate, bodies, 50, during)
}

/// [`under_load`], keeping the first `max_failures` failures in the report
/// (with their target and time) rather than 50.
pub fn under_load_keeping(
    f: &Fleet,
    rate: u32,
    bodies: &[&str],
    max_failures: usize,
    during: impl FnOnce(),
) -> baton_loadgen::LoadReport {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let mut cfg = baton_loadgen::LoadConfig::new(load_targets(f), rate, Duration::from_secs(300));
    cfg.expect = bodies.iter().map(|b| b.to_string()).collect();
    cfg.stop = Some(stop.clone());
    cfg.max_failures = max_failures;
    let load = std::thread::spawn(move || baton_loadgen::run(&cfg));
    std::thread::sleep(Duration::from_secs(1));
    during();
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::SeqCst);
    load.join().expect("load thread")
}

/// Words that change from run to run (run ids, hostname suffixes, lock
/// details with the time and the git user) become placeholders.
pub fn redact(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut l = line.to_string();
        if let Some(i) = l.find("printf '%s\\n' ") {
            let start = i + "printf '%s\\n' ".len();
            let end = l[start..].find(' ').map_or(l.len(), |e| start + e);
            l.replace_range(start..end, "<lock details>");
        }
        let mut redacted = String::new();
        let mut word = String::new();
        for c in l.chars().chain(std::iter::once('\n')) {
            if c.is_ascii_alphanumeric() {
                word.push(c);
                continue;
            }
            let hex = word.len() >= 12 && word.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            let mixed = word.bytes().any(|b| b.is_ascii_digit()) && word.bytes().any(|b| b.is_ascii_alphabetic());
            // A random 12-hex suffix may hold no letter at all (1 time in ~270).
            if hex && (mixed || word.len() == 12) {
                redacted.push_str(&format!("<{} hex>", word.len()));
            } else {
                redacted.push_str(&word);
            }
            word.clear();
            if c != '\n' {
                redacted.push(c);
            }
        }
        out.push_str(&redacted);
        out.push('\n');
    }
    out
}

/// The config `deploy` tests append to the fleet's (whose last section is
/// `baton:`): a native build; on a `--traefik` fleet ([`fleet_traefik`]),
/// `deploy` starts the Traefik stand-in (its step in Kamal's deploy) and
/// the routes are read from it; on a plain fleet, from the host's proxy.
pub fn deploy_config(f: &Fleet) -> String {
    let builder = "builder:\n  multiarch: false\n";
    match &f.traefik_image {
        Some(_) => format!("  routes: traefik\n{}{builder}", f.traefik_section()),
        None => format!("  routes: busybox wget -qO- http://127.0.0.1:8080/api/http/services\n{builder}"),
    }
}

/// An app directory for `deploy` on a reset fleet: [`DEPLOY_CONFIG`] plus
/// `extra`, a `docker-config` directory (the local client's logins) and
/// two hooks that record their `KAMAL_*` variables in `<hook>.env`.
pub fn deploy_app_dir(f: &Fleet, extra: &str) -> PathBuf {
    f.reset();
    let app = f.app(&format!("{}{extra}", deploy_config(f)));
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

/// A Dockerfile in `dir` for `version`, built FROM the fleet's test image `base`.
pub fn dockerfile(f: &Fleet, dir: &Path, base: &str, version: &str) {
    let text = format!("FROM {}/baton-testapp:{base}\nENV APP_VERSION={version}\n", f.registry);
    std::fs::write(dir.join("Dockerfile"), text).expect("write Dockerfile");
}

/// `baton ARGS` in the app directory `dir`, with the fleet's local engine,
/// `dir`'s docker config and the registry password in the environment.
pub fn baton_cmd(f: &Fleet, dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(baton_bin());
    c.args(args)
        .current_dir(dir)
        .env_remove("VERSION")
        .env("DOCKER_HOST", &f.local_docker_host)
        .env("DOCKER_CONFIG", dir.join("docker-config"))
        .env("BATON_REGISTRY_PASSWORD", &f.registry_password);
    c
}

pub fn baton_in(f: &Fleet, dir: &Path, args: &[&str]) -> Output {
    baton_cmd(f, dir, args).output().expect("run baton")
}

/// stdout then stderr.
pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// [`baton_in`], which must succeed and print no registry password.
pub fn baton_ok(f: &Fleet, dir: &Path, args: &[&str]) -> String {
    let out = baton_in(f, dir, args);
    let t = text(&out);
    assert!(out.status.success(), "baton {args:?} failed:\n{t}");
    assert!(!t.contains(&f.registry_password), "baton {args:?} printed the registry password:\n{t}");
    t
}

/// Wait (up to 20 s) until every host's proxy serves `version`.
pub fn wait_served(f: &Fleet, version: &str) {
    use std::time::{Duration, Instant};
    let deadline = Instant::now() + Duration::from_secs(20);
    for h in &f.hosts {
        loop {
            let body = served(h);
            if body == version {
                break;
            }
            assert!(Instant::now() < deadline, "the proxy on {h} does not serve {version}: {body:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// What `host`'s proxy answers on /version now (empty if nothing).
pub fn served(host: &str) -> String {
    use std::time::Duration;
    baton_http::get(format!("{host}:80").parse().expect("address"), "/version", Duration::from_secs(2))
        .ok()
        .filter(|a| a.status() == 200)
        .map(|a| a.text().trim().to_string())
        .unwrap_or_default()
}
