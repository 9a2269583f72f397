//! Snapshots of `--dry-run` for every command, and of `--help`: the exact
//! commands each one would run against the example app, and the words a
//! user reads. No server is contacted. `baton` is built from the current
//! tree first (`common::baton_bin`), so the tests never run an old binary.

mod common;

use common::{baton_bin, redact};
use std::path::{Path, PathBuf};
use std::process::Command;

fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("root").join("examples/demo")
}

fn baton(args: &[&str]) -> (i32, String) {
    let out = Command::new(baton_bin())
        .args(args)
        .current_dir(demo_dir())
        .env("USER", "deployer")
        .env("RAILS_MASTER_KEY", "not-shown")
        .env("DATABASE_URL", "postgres://not-shown")
        .env_remove("VERSION")
        .output()
        .expect("run baton");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), redact(&text))
}

fn dry(args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.extend(["--dry-run", "--version", "v2"]);
    let (code, text) = baton(&all);
    assert_eq!(code, 0, "baton {all:?}:\n{text}");
    assert!(!text.contains("not-shown"), "a secret was printed:\n{text}");
    text
}

macro_rules! dry_snapshots {
    ($($name:ident: [$($arg:expr),*];)*) => {
        $(
            #[test]
            fn $name() {
                insta::assert_snapshot!(dry(&[$($arg),*]));
            }
        )*
    };
}

dry_snapshots! {
    dry_app_boot: ["app", "boot"];
    dry_app_start: ["app", "start"];
    dry_app_stop: ["app", "stop"];
    dry_app_details: ["app", "details"];
    dry_app_exec_new: ["app", "exec", "bin/rails db:migrate"];
    dry_app_exec_reuse: ["app", "exec", "--reuse", "cat /proc/1/cmdline"];
    dry_app_exec_interactive: ["app", "exec", "-i", "bin/rails console"];
    dry_app_exec_interactive_reuse: ["app", "exec", "-i", "--reuse", "bash"];
    dry_app_containers: ["app", "containers"];
    dry_app_stale_containers: ["app", "stale_containers"];
    dry_app_stale_containers_stop: ["app", "stale_containers", "--stop"];
    dry_app_images: ["app", "images"];
    dry_app_logs: ["app", "logs"];
    dry_app_logs_options: ["app", "logs", "--since", "5m", "--grep", "it's -v"];
    dry_app_logs_lines: ["app", "logs", "-n", "5", "--roles", "jobs"];
    dry_app_logs_follow: ["app", "logs", "--follow"];
    dry_app_remove: ["app", "remove"];
    dry_app_remove_container: ["app", "remove_container", "v1"];
    dry_app_remove_containers: ["app", "remove_containers"];
    dry_app_remove_images: ["app", "remove_images"];
    dry_app_version: ["app", "version"];
    dry_lock_status: ["lock", "status"];
    dry_lock_acquire: ["lock", "acquire", "-m", "maintenance window"];
    dry_lock_release: ["lock", "release"];
    dry_audit: ["audit"];
    dry_env_push: ["env", "push"];
    dry_env_delete: ["env", "delete"];
    dry_server_bootstrap: ["server", "bootstrap"];
    dry_server_bootstrap_install: ["server", "bootstrap", "--install"];
    dry_hosts_filter: ["app", "stop", "--hosts", "192.0.2.12"];
    dry_healthcheck_perform: ["healthcheck", "perform"];
    dry_healthcheck_default: ["healthcheck"];
    dry_healthcheck_hosts: ["healthcheck", "perform", "-h", "192.0.2.13"];
    dry_prune_all: ["prune", "all"];
    dry_prune_images: ["prune", "images"];
    dry_prune_containers: ["prune", "containers"];
    dry_prune_containers_role: ["prune", "containers", "-r", "jobs"];
}

macro_rules! help_snapshots {
    ($($name:ident: [$($arg:expr),*];)*) => {
        $(
            #[test]
            fn $name() {
                let (code, text) = baton(&[$($arg),*]);
                assert_eq!(code, 0, "{text}");
                insta::assert_snapshot!(text);
            }
        )*
    };
}

help_snapshots! {
    help_baton: ["--help"];
    help_app: ["app", "--help"];
    help_app_boot: ["app", "boot", "--help"];
    help_app_exec: ["app", "exec", "--help"];
    help_app_logs: ["app", "logs", "--help"];
    help_plan: ["plan", "--help"];
    help_lock: ["lock", "--help"];
    help_env_push: ["env", "push", "--help"];
    help_healthcheck_perform: ["healthcheck", "perform", "--help"];
    help_prune: ["prune", "--help"];
    help_prune_containers: ["prune", "containers", "--help"];
    help_server_bootstrap: ["server", "bootstrap", "--help"];
    help_config: ["config", "--help"];
    help_init: ["init", "--help"];
    help_envify: ["envify", "--help"];
    help_build: ["build", "--help"];
    help_build_push: ["build", "push", "--help"];
    help_registry_login: ["registry", "login", "--help"];
    help_replay: ["replay", "--help"];
    help_deploy: ["deploy", "--help"];
    help_traefik: ["traefik", "--help"];
    help_traefik_reboot: ["traefik", "reboot", "--help"];
    help_env: ["env", "--help"];
}

#[test]
fn usage_and_config_errors_exit_2_and_say_what_to_do() {
    let (code, text) = baton(&["app", "boot", "--version", "v2", "--roles", "nope", "--dry-run"]);
    assert_eq!(code, 2);
    assert_eq!(text.trim(), "error: --roles: there is no role \"nope\" in the config; use one of: jobs, web");
    let (code, text) = baton(&["app", "boot", "--version", "v2", "--hosts", "10.9.9.9", "--dry-run"]);
    assert_eq!(code, 2);
    assert_eq!(
        text.trim(),
        "error: --hosts: \"10.9.9.9\" is not a host in the config; use one of: 192.0.2.13, 192.0.2.11, 192.0.2.12"
    );
    let (code, text) = baton(&["app", "boot", "--version", "v2", "-c", "config/missing.yml", "--dry-run"]);
    assert_eq!(code, 2);
    assert!(text.starts_with("error: config/missing.yml: no such file; "), "{text}");
    let (code, text) = baton(&["app", "boot", "--version", "v2;rm -rf /", "--dry-run"]);
    assert_eq!(code, 2);
    assert!(text.starts_with("error: --version: the version \"v2;rm -rf /\" contains ';'"), "{text}");
    let (code, _) = baton(&["app", "frobnicate"]);
    assert_eq!(code, 2);
}

#[test]
fn yaml_syntax_errors_give_file_line_and_column() {
    let dir = std::env::temp_dir().join(format!("baton-yaml-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("config")).expect("mkdir");
    std::fs::write(dir.join("config/deploy.yml"), "service: app\nimage: [oops\nservers: [1.1.1.1]\n").expect("write");
    let out =
        Command::new(baton_bin()).args(["app", "version", "--dry-run"]).current_dir(&dir).output().expect("baton");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim(), "error: config/deploy.yml:3:8: YAML syntax error: did not find expected ',' or ']'");
}

/// A boot whose stdout is closed (`baton app boot | head`, the reader gone)
/// must not panic half-way (which would leave the lock held on a half-done
/// fleet): it runs to its end and says how it ended on stderr. Here the only
/// host refuses SSH, so the end is a failure to take the lock, exit 1.
#[test]
fn a_closed_stdout_does_not_abort_a_boot() {
    let dir = std::env::temp_dir().join(format!("baton-closed-stdout-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("config")).expect("mkdir");
    std::fs::write(
        dir.join("config/deploy.yml"),
        "service: app\nimage: app\nservers: [127.0.0.1]\nregistry:\n  username: u\n  password: [P]\nssh:\n  port: 1\nbaton:\n  connect_timeout: 5s\n",
    )
    .expect("write");
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = Command::new(baton_bin())
        .args(["app", "boot", "--verbose", "--version", "v2"])
        .current_dir(&dir)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("baton");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("127.0.0.1 failed to acquire the deploy lock"), "{err}");
}

/// An app to build: a config with the given `builder:` section and a
/// Dockerfile, in a directory of its own outside any git work tree (so no
/// uncommitted-changes warning depends on the state of this repository).
fn build_app(name: &str, builder: &str) -> PathBuf {
    // One directory per call: tests run in parallel, and one that writes its
    // config must not race another that reads it.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("baton-build-app-{name}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(dir.join("config")).expect("mkdir");
    let config = format!(
        "service: shop\nimage: acme/shop\nservers:\n  web: [192.0.2.11, 192.0.2.12]\n  jobs:\n    hosts: [192.0.2.13]\nregistry:\n  server: registry.example.com\n  username: acme\n  password: [KAMAL_REGISTRY_PASSWORD]\n{builder}"
    );
    std::fs::write(dir.join("config/deploy.yml"), config).expect("write config");
    std::fs::write(dir.join("Dockerfile"), "FROM busybox\n").expect("write Dockerfile");
    dir
}

const NATIVE: &str =
    "builder:\n  multiarch: false\n  args:\n    RUBY_VERSION: not-shown-arg\n  secrets: [GITHUB_TOKEN]\n";
const MULTIARCH: &str = "builder:\n  cache:\n    type: registry\n    options: mode=max\n";
/// A config with every `traefik:` key, its API on :8081 read by `baton.routes: traefik`.
const TRAEFIK: &str = "builder:\n  multiarch: false\ntraefik:\n  image: traefik:v2.10\n  host_port: 8080\n  labels:\n    traefik.http.routers.dashboard.service: api@internal\n  env:\n    clear:\n      TZ: UTC\n    secret: [GITHUB_TOKEN]\n  options:\n    publish: [\"127.0.0.1:8081:8081\"]\n    memory: 512m\n  args:\n    api.insecure: true\n    entrypoints.traefik.address: \":8081\"\n    accesslog: true\nbaton:\n  routes: traefik\n";
const PASSWORD: &str = "pw-marker-0f9e8d7c";

/// baton in `dir`, with the registry password set to [`PASSWORD`].
fn baton_in(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(baton_bin())
        .args(args)
        .current_dir(dir)
        .env("USER", "deployer")
        .env("KAMAL_REGISTRY_PASSWORD", PASSWORD)
        .env("GITHUB_TOKEN", "not-shown-token")
        .env_remove("VERSION")
        .env_remove("DOCKER_HOST")
        .output()
        .expect("run baton");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), redact(&text))
}

fn dry_build(builder: &str, args: &[&str]) -> String {
    let name = match builder {
        NATIVE => "native",
        TRAEFIK => "traefik",
        _ => "multiarch",
    };
    let dir = build_app(name, builder);
    let mut all = args.to_vec();
    all.push("--dry-run");
    // `rollback` takes its version as its argument, and refuses --version.
    if args[0] != "rollback" {
        all.extend(["--version", "v2"]);
    }
    let (code, text) = baton_in(&dir, &all);
    assert_eq!(code, 0, "baton {all:?}:\n{text}");
    for secret in [PASSWORD, "not-shown"] {
        assert!(!text.contains(secret), "a secret was printed:\n{text}");
    }
    text
}

macro_rules! dry_build_snapshots {
    ($($name:ident: $builder:ident [$($arg:expr),*];)*) => {
        $(
            #[test]
            fn $name() {
                insta::assert_snapshot!(dry_build($builder, &[$($arg),*]));
            }
        )*
    };
}

dry_build_snapshots! {
    dry_registry_login: NATIVE ["registry", "login"];
    dry_registry_logout: NATIVE ["registry", "logout"];
    dry_build_push_native: NATIVE ["build", "push"];
    dry_build_push_multiarch: MULTIARCH ["build", "push"];
    dry_build_pull: NATIVE ["build", "pull", "--roles", "jobs"];
    dry_build_deliver: NATIVE ["build", "deliver"];
    dry_build_create: MULTIARCH ["build", "create"];
    dry_build_remove: MULTIARCH ["build", "remove"];
    dry_build_details: MULTIARCH ["build", "details"];
    dry_build_create_native: NATIVE ["build", "create"];
    dry_deploy_native: NATIVE ["deploy"];
    dry_deploy_multiarch: MULTIARCH ["deploy"];
    dry_redeploy_skip_push: NATIVE ["redeploy", "-P"];
    dry_rollback: NATIVE ["rollback", "v1"];
    dry_rollback_versions: NATIVE ["rollback"];
    dry_traefik_boot: TRAEFIK ["traefik", "boot"];
    dry_traefik_boot_default: NATIVE ["traefik", "boot"];
    dry_traefik_reboot: TRAEFIK ["traefik", "reboot"];
    dry_traefik_reboot_rolling: TRAEFIK ["traefik", "reboot", "--rolling"];
    dry_traefik_reboot_rolling_no_routes: NATIVE ["traefik", "reboot", "--rolling"];
    dry_traefik_start: TRAEFIK ["traefik", "start"];
    dry_traefik_stop: TRAEFIK ["traefik", "stop"];
    dry_traefik_restart: TRAEFIK ["traefik", "restart"];
    dry_traefik_details: TRAEFIK ["traefik", "details"];
    dry_traefik_logs: TRAEFIK ["traefik", "logs"];
    dry_traefik_logs_options: TRAEFIK ["traefik", "logs", "-s", "5m", "-g", "it's -v", "-h", "192.0.2.12"];
    dry_traefik_logs_follow: TRAEFIK ["traefik", "logs", "-f", "-n", "20"];
    dry_traefik_remove: TRAEFIK ["traefik", "remove"];
    dry_env_push_traefik: TRAEFIK ["env", "push"];
    dry_env_delete_traefik: TRAEFIK ["env", "delete"];
    dry_deploy_traefik: TRAEFIK ["deploy"];
}

/// The registry password reaches `docker login` on standard input only: it
/// is in no output of a dry run, plain or verbose.
#[test]
fn the_registry_password_is_never_printed() {
    let dir = build_app("native", NATIVE);
    for args in [
        &["registry", "login", "--dry-run"][..],
        &["registry", "login", "-v", "--dry-run"],
        &["build", "deliver", "-v", "--dry-run", "--version", "v2"],
    ] {
        let (code, text) = baton_in(&dir, args);
        assert_eq!(code, 0, "{text}");
        assert!(text.contains("docker") && !text.contains(PASSWORD), "baton {args:?}:\n{text}");
    }
    let (_, text) = baton_in(&dir, &["registry", "login", "--dry-run"]);
    assert!(text.contains("--password-stdin    # standard input not shown"), "{text}");
}

#[test]
fn missing_credentials_and_files_are_named() {
    let dir = build_app("native", NATIVE);
    let out = Command::new(baton_bin())
        .args(["registry", "login", "--dry-run"])
        .current_dir(&dir)
        .env_remove("KAMAL_REGISTRY_PASSWORD")
        .output()
        .expect("baton");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "error: registry.password: the environment variable KAMAL_REGISTRY_PASSWORD is not set (nor in .env); set it, or add KAMAL_REGISTRY_PASSWORD=… to .env"
    );
    let out = Command::new(baton_bin())
        .args(["build", "push", "--dry-run", "--version", "v2"])
        .current_dir(&dir)
        .env_remove("GITHUB_TOKEN")
        .output()
        .expect("baton");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "error: builder.secrets: the environment variable GITHUB_TOKEN is not set (nor in .env); set it, or add GITHUB_TOKEN=… to .env"
    );
    let (code, text) =
        baton_in(&dir, &["build", "push", "--dry-run", "--version", "v2", "-c", "config/deploy.yml", "-d", "nope"]);
    assert_eq!(code, 2, "{text}");
    let empty = std::env::temp_dir().join(format!("baton-build-app-no-dockerfile-{}", std::process::id()));
    std::fs::create_dir_all(empty.join("config")).expect("mkdir");
    std::fs::copy(dir.join("config/deploy.yml"), empty.join("config/deploy.yml")).expect("copy");
    let (code, text) = baton_in(&empty, &["build", "push", "--dry-run", "--version", "v2"]);
    assert_eq!(code, 2);
    assert_eq!(text.trim(), "error: builder.dockerfile: Missing Dockerfile: there is no such file here; run baton in the app's directory, or set builder.dockerfile");
}
