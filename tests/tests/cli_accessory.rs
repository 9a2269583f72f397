//! `accessory …`, `env push`/`env delete` with accessories, and the
//! top-level `setup`, `details` and `remove`: a `--dry-run` snapshot of
//! each (the exact commands, per host; nothing is contacted), ERB in
//! accessory files, and the errors a user meets. No secret is printed.

mod common;

use common::{baton_bin, redact};
use std::path::{Path, PathBuf};
use std::process::Command;

const SECRET: &str = "not-shown-db-pw";
const PASSWORD: &str = "pw-marker-5a4b3c2d";

const CONFIG: &str = "service: shop
image: acme/shop
servers:
  web: [192.0.2.11, 192.0.2.12]
registry:
  username: acme
  password: [KAMAL_REGISTRY_PASSWORD]
accessories:
  db:
    image: mysql:8.0
    host: 192.0.2.12
    port: 3306
    env:
      clear:
        MYSQL_ROOT_HOST: '%'
      secret: [MYSQL_ROOT_PASSWORD]
    files:
      - config/mysql/my.cnf:/etc/mysql/my.cnf
      - config/mysql/init.sql.erb:/docker-entrypoint-initdb.d/init.sql
    directories:
      - data:/var/lib/mysql
  redis:
    image: redis:7
    roles: [web]
    volumes:
      - /var/lib/redis:/data
    options:
      memory: 1g
    cmd: redis-server --appendonly yes
";

/// An app directory with the config above, its accessory files and a
/// Dockerfile; one per call (tests run in parallel).
fn app(config: &str) -> PathBuf {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("baton-accessory-app-{}-{n}", std::process::id()));
    std::fs::create_dir_all(dir.join("config/mysql")).expect("mkdir");
    std::fs::write(dir.join("config/deploy.yml"), config).expect("write config");
    std::fs::write(dir.join("config/mysql/my.cnf"), "[mysqld]\nbind-address = 0.0.0.0\n").expect("write");
    std::fs::write(
        dir.join("config/mysql/init.sql.erb"),
        "-- host <%= ENV[\"MYSQL_ROOT_HOST\"] %>\nALTER USER 'root' IDENTIFIED BY '<%= ENV.fetch(\"MYSQL_ROOT_PASSWORD\") %>';\n",
    )
    .expect("write");
    std::fs::write(dir.join("Dockerfile"), "FROM busybox\n").expect("write Dockerfile");
    dir
}

fn baton_in(dir: &Path, args: &[&str], stdin: &str) -> (i32, String) {
    use std::io::Write;
    let mut child = Command::new(baton_bin())
        .args(args)
        .current_dir(dir)
        .env("USER", "deployer")
        .env("KAMAL_REGISTRY_PASSWORD", PASSWORD)
        .env("MYSQL_ROOT_PASSWORD", SECRET)
        .env_remove("VERSION")
        .env_remove("DOCKER_HOST")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run baton");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), redact(&text))
}

fn dry(args: &[&str]) -> String {
    dry_with(CONFIG, args)
}

fn dry_with(config: &str, args: &[&str]) -> String {
    let dir = app(config);
    let mut all = args.to_vec();
    all.extend(["--dry-run", "--version", "v2"]);
    let (code, text) = baton_in(&dir, &all, "");
    assert_eq!(code, 0, "baton {all:?}:\n{text}");
    for secret in [SECRET, PASSWORD] {
        assert!(!text.contains(secret), "a secret was printed:\n{text}");
    }
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
    dry_accessory_boot: ["accessory", "boot", "db"];
    dry_accessory_boot_all: ["accessory", "boot", "all"];
    dry_accessory_reboot: ["accessory", "reboot", "redis"];
    dry_accessory_start: ["accessory", "start", "db"];
    dry_accessory_stop: ["accessory", "stop", "all"];
    dry_accessory_restart: ["accessory", "restart", "db"];
    dry_accessory_details: ["accessory", "details", "all"];
    dry_accessory_exec: ["accessory", "exec", "db", "mysql -e 'select 1'"];
    dry_accessory_exec_reuse: ["accessory", "exec", "--reuse", "redis", "redis-cli ping"];
    dry_accessory_exec_interactive: ["accessory", "exec", "-i", "db", "bash"];
    dry_accessory_logs: ["accessory", "logs", "db"];
    dry_accessory_logs_options: ["accessory", "logs", "redis", "-s", "5m", "-g", "it's ERR"];
    dry_accessory_logs_follow: ["accessory", "logs", "-f", "db"];
    dry_accessory_remove: ["accessory", "remove", "all"];
    dry_accessory_upload: ["accessory", "upload", "db"];
    dry_accessory_directories: ["accessory", "directories", "db"];
    dry_env_push_accessories: ["env", "push"];
    dry_env_delete: ["env", "delete"];
    dry_details: ["details"];
    dry_remove: ["remove", "-y"];
    dry_setup: ["setup"];
}

/// The db on a host that runs no role of the app: the simulated fleet has
/// that host too, so its check, files and container are planned there.
#[test]
fn dry_setup_with_an_accessory_on_a_host_of_its_own() {
    let text = dry_with(&CONFIG.replace("    host: 192.0.2.12\n", "    host: 192.0.2.13\n"), &["setup"]);
    assert!(text.contains("Host: 192.0.2.13\n"), "the db's host has its commands:\n{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn an_unknown_accessory_is_named_with_the_options() {
    let (code, text) = baton_in(&app(CONFIG), &["accessory", "boot", "nope", "--dry-run"], "");
    assert_eq!(code, 2, "{text}");
    assert_eq!(text.trim(), "error: NAME: no accessory by the name of 'nope' (options: db, redis, or all)");
}

#[test]
fn erb_errors_in_accessory_files_name_the_file_and_line() {
    let dir = app(CONFIG);
    std::fs::write(dir.join("config/mysql/init.sql.erb"), "ok\n<%= File.read('x') %>\n").expect("write");
    let (code, text) = baton_in(&dir, &["accessory", "upload", "db", "--dry-run"], "");
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("config/mysql/init.sql.erb:2: <%= File.read('x') %>: this ERB is not supported"), "{text}");
    std::fs::remove_file(dir.join("config/mysql/my.cnf")).expect("rm");
    let (code, text) = baton_in(&dir, &["accessory", "boot", "db", "--dry-run"], "");
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("accessories.db.files: config/mysql/my.cnf cannot be read"), "{text}");
}

#[test]
fn config_errors_give_file_line_and_what_to_do() {
    let config = CONFIG.replace("    host: 192.0.2.12\n", "    host: 192.0.2.12\n    hosts: [192.0.2.11]\n");
    let (code, text) = baton_in(&app(&config), &["accessory", "details", "db", "--dry-run"], "");
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("config/deploy.yml:9: accessories.db: specify exactly one of `host`, `hosts` or `roles` for accessory `db` (found host and hosts); keep one"),
        "{text}"
    );
}

#[test]
fn remove_asks_first_and_does_nothing_without_a_yes() {
    let (code, text) = baton_in(&app(CONFIG), &["remove"], "n\n");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("This will remove all containers and images. Are you sure? [y/N]"), "{text}");
    let (code, text) = baton_in(&app(CONFIG), &["accessory", "remove", "db"], "\n");
    assert_eq!(code, 0, "{text}");
    assert_eq!(text.trim(), "This will remove all containers, images and data directories for db. Are you sure? [y/N]");
}

macro_rules! help_snapshots {
    ($($name:ident: [$($arg:expr),*];)*) => {
        $(
            #[test]
            fn $name() {
                let (code, text) = baton_in(&app(CONFIG), &[$($arg),*], "");
                assert_eq!(code, 0, "{text}");
                insta::assert_snapshot!(text);
            }
        )*
    };
}

help_snapshots! {
    help_accessory: ["accessory", "--help"];
    help_accessory_boot: ["accessory", "boot", "--help"];
    help_accessory_remove: ["accessory", "remove", "--help"];
    help_setup: ["setup", "--help"];
    help_remove: ["remove", "--help"];
    help_env_delete: ["env", "delete", "--help"];
}
