//! End-to-end: accessories on the real test fleet (see `common`). An
//! accessory (the fleet's test image, run as a small service) boots on its
//! host with its files (one an ERB template), data directory and env file;
//! `accessory remove all` takes away exactly what boot and env push made;
//! `setup -P` (docker checks, accessories, deploy, which boots Traefik) on a
//! `--traefik` fleet serves the app through the Traefik container on every
//! host, and its journal replays identically (`baton replay`), then
//! `remove -y` leaves no app container, Traefik or accessory.

mod common;

use common::{fleet_traefik, wait_served, Fleet};
use std::path::{Path, PathBuf};
use std::process::Output;

const TOKEN: &str = "acc-secret-7f3e9a";

/// The accessory `store` on the fleet's third host: the test image (tag
/// v3, which no other test here runs) with a file, an ERB file, a data
/// directory and an env (clear and secret).
fn app_dir(f: &Fleet) -> PathBuf {
    f.reset();
    let extra = format!(
        "accessories:\n  store:\n    image: {}/baton-testapp:v3\n    host: {}\n    env:\n      clear:\n        GREETING: hello from erb\n        PORT: \"4000\"\n      secret:\n        - ACC_TOKEN\n    files:\n      - config/store/plain.conf:/etc/store/plain.conf\n      - config/store/greeting.txt.erb:/etc/store/greeting.txt\n    directories:\n      - data:/data\n    labels:\n      team: storage\n",
        f.registry, f.hosts[2]
    );
    // deploy (and so setup) boots Traefik: the fleet's stand-in.
    let app = f.app(&format!("{extra}{}", f.traefik_section()));
    std::fs::create_dir_all(app.dir.join("config/store")).expect("mkdir");
    std::fs::write(app.dir.join("config/store/plain.conf"), "plain = yes\n").expect("write");
    std::fs::write(
        app.dir.join("config/store/greeting.txt.erb"),
        "<%= ENV[\"GREETING\"] %>, token <%= ENV.fetch(\"ACC_TOKEN\") %>\n",
    )
    .expect("write");
    std::fs::create_dir_all(app.dir.join("docker-config")).expect("mkdir");
    app.dir
}

fn baton(f: &Fleet, dir: &Path, args: &[&str]) -> Output {
    common::baton_cmd(f, dir, args).env("ACC_TOKEN", TOKEN).output().expect("run baton")
}

fn ok(f: &Fleet, dir: &Path, args: &[&str]) -> String {
    let out = baton(f, dir, args);
    let t = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "baton {args:?} failed:\n{t}");
    for secret in [f.registry_password.as_str(), TOKEN] {
        assert!(!t.contains(secret), "baton {args:?} printed a secret:\n{t}");
    }
    t
}

/// Accessory containers (label service=app-store) on `host`.
fn store_containers(f: &Fleet, host: &str) -> Vec<String> {
    f.sh(host, "docker ps -a --filter label=service=app-store --format '{{.Names}} {{.State}}'")
        .lines()
        .map(str::to_string)
        .collect()
}

/// The state of the container `traefik` on `host` ("" when there is none).
fn traefik_state(f: &Fleet, host: &str) -> String {
    f.sh(host, "docker ps -a --filter name=^traefik$ --format '{{.State}}'").trim().to_string()
}

fn exists(f: &Fleet, host: &str, path: &str) -> bool {
    f.ssh(host, &format!("test -e {path}")).0 == 0
}

#[test]
fn an_accessory_boots_with_its_files_directories_and_env_and_remove_all_takes_them_away() {
    let (f, _g) = fleet_traefik();
    let dir = app_dir(f);
    let h3 = &f.hosts[2];
    let image = format!("{}/baton-testapp:v3", f.registry);
    let had_image = f.ssh(h3, &format!("docker image inspect {image}")).0 == 0;

    let pushed = ok(f, &dir, &["env", "push"]);
    assert!(pushed.contains(&format!("{h3}: pushed .kamal/env/accessories/app-store.env")), "{pushed}");
    assert_eq!(f.sh(h3, "stat -c %a .kamal/env/accessories/app-store.env").trim(), "400");
    for h in &f.hosts[..2] {
        assert!(!exists(f, h, ".kamal/env/accessories"), "{h} runs no accessory, so it gets no accessory env file");
    }

    ok(f, &dir, &["accessory", "boot", "all"]);
    assert_eq!(store_containers(f, h3), ["app-store running"]);
    for h in &f.hosts[..2] {
        assert!(store_containers(f, h).is_empty(), "no accessory on {h}");
    }
    let labels = f.sh(
        h3,
        "docker inspect --format '{{index .Config.Labels \"service\"}} {{index .Config.Labels \"team\"}}' app-store",
    );
    assert_eq!(labels.trim(), "app-store storage");
    // Its files, the ERB one evaluated with the accessory's clear env and the secret.
    assert_eq!(f.sh(h3, "docker exec app-store cat /etc/store/plain.conf"), "plain = yes\n");
    assert_eq!(
        f.sh(h3, "docker exec app-store cat /etc/store/greeting.txt"),
        format!("hello from erb, token {TOKEN}\n")
    );
    assert_eq!(f.sh(h3, "stat -c %a app-store/etc/store/plain.conf").trim(), "755", "mode 755, as Kamal's upload");
    // Its env file.
    let env = f.sh(h3, "docker exec app-store sh -c 'echo \"$ACC_TOKEN $GREETING $PORT\"'");
    assert_eq!(env.trim(), format!("{TOKEN} hello from erb 4000"));
    // Its data directory, mounted from the service directory.
    f.sh(h3, "docker exec app-store sh -c 'echo kept > /data/x'");
    assert_eq!(f.sh(h3, "cat app-store/data/x"), "kept\n");
    // The service serves (the test image reads PORT).
    let up = f.sh(h3, "docker exec app-store wget -qO- http://localhost:4000/up");
    assert_eq!(up.trim(), "ok");

    let details = ok(f, &dir, &["accessory", "details", "store"]);
    assert!(details.contains("app-store"), "{details}");
    let logs = ok(f, &dir, &["accessory", "logs", "store"]);
    assert!(logs.contains("starting on port 4000"), "{logs}");
    let exec = ok(f, &dir, &["accessory", "exec", "--reuse", "store", "cat /etc/store/plain.conf"]);
    assert!(exec.contains("plain = yes"), "{exec}");
    ok(f, &dir, &["accessory", "restart", "store"]);
    assert_eq!(store_containers(f, h3), ["app-store running"]);

    let app_env_before = f.sh(h3, "ls .kamal/env/roles");
    ok(f, &dir, &["accessory", "remove", "all", "-y"]);
    assert!(store_containers(f, h3).is_empty(), "the container is gone");
    assert!(f.ssh(h3, &format!("docker image inspect {image}")).0 != 0 || had_image, "its image is gone");
    assert!(!exists(f, h3, "app-store"), "the files and data directory are gone");
    assert!(!exists(f, h3, ".kamal/env/accessories/app-store.env"), "the env file is gone");
    assert_eq!(f.sh(h3, "ls .kamal/env/roles"), app_env_before, "the app's env files stay");
    assert!(!f.lock_held(), "the lock is released");
    f.reset();
}

/// The one journal `setup` wrote in `journals`: no secret in it, and
/// `baton replay` finds the core decides the same.
fn setup_journal_replays(f: &Fleet, dir: &Path, journals: &Path) {
    let files: Vec<PathBuf> =
        std::fs::read_dir(journals).expect("the journal directory").map(|e| e.expect("entry").path()).collect();
    assert_eq!(files.len(), 1, "one journal: {files:?}");
    let name = files[0].to_str().expect("UTF-8 path");
    assert!(name.ends_with("-setup-v1.jsonl"), "{name}");
    let text = std::fs::read_to_string(&files[0]).expect("read the journal");
    for secret in [f.registry_password.as_str(), TOKEN] {
        assert!(!text.contains(secret), "a secret is in the journal");
    }
    let replayed = ok(f, dir, &["replay", name]);
    assert!(replayed.contains(" events: identical"), "replay of {name}:\n{replayed}");
}

#[test]
fn setup_boots_accessories_and_the_app_and_remove_y_leaves_neither() {
    let (f, _g) = fleet_traefik();
    let dir = app_dir(f);
    ok(f, &dir, &["env", "push"]);
    let journals = dir.join("journals");
    let out = common::baton_cmd(f, &dir, &["setup", "-P", "--version", "v1"])
        .env("ACC_TOKEN", TOKEN)
        .env("BATON_JOURNAL_DIR", &journals)
        .output()
        .expect("run baton");
    let t = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && t.contains("serves on every host"), "setup:\n{t}");
    setup_journal_replays(f, &dir, &journals);
    for h in &f.hosts {
        assert_eq!(f.running(h), ["app-web-v1"], "the app runs on {h}");
    }
    assert_eq!(store_containers(f, &f.hosts[2]), ["app-store running"]);
    assert!(!f.lock_held());
    // Served through the Traefik container setup booted, on every host.
    for h in &f.hosts {
        assert_eq!(traefik_state(f, h), "running", "the traefik container on {h}");
    }
    wait_served(f, "v1");

    // Without -y, and without a yes, nothing is removed.
    let out = baton(f, &dir, &["remove"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(f.running(&f.hosts[0]), ["app-web-v1"]);

    let removed = ok(f, &dir, &["remove", "-y"]);
    for h in &f.hosts {
        assert!(f.containers(h).is_empty(), "no app container on {h}: {:?}\n{removed}", f.containers(h));
        assert!(store_containers(f, h).is_empty(), "no accessory on {h}");
        assert!(!exists(f, h, "app-store"), "no accessory directory on {h}");
        assert_eq!(traefik_state(f, h), "", "no traefik container on {h}");
    }
    assert!(!f.lock_held());
    // `remove` logged the hosts out of the registry; the other tests pull.
    ok(f, &dir, &["registry", "login"]);
    f.reset();
}
