//! The journal of a real run and `baton replay`, without the test fleet:
//! `app boot` against a host that refuses SSH is a real run (the
//! interpreter, real time, a real observation), short and the same every
//! time. The fleet's e2e tests replay whole handovers (e2e_commands.rs).

mod common;

use common::baton_bin;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CONFIG: &str = "service: app\nimage: app\nservers: [127.0.0.1]\nregistry:\n  username: u\n  password: [P]\nssh:\n  port: 1\nbaton:\n  connect_timeout: 5s\n";

fn app_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("baton-journal-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("config")).expect("mkdir");
    std::fs::write(dir.join("config/deploy.yml"), CONFIG).expect("write config");
    dir
}

fn baton(dir: &Path, journals: &Path, args: &[&str]) -> Output {
    Command::new(baton_bin())
        .args(args)
        .current_dir(dir)
        .env("USER", "deployer")
        .env("BATON_JOURNAL_DIR", journals)
        .env_remove("VERSION")
        .output()
        .expect("run baton")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The journals in `dir`.
fn journals(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).expect("journal dir").map(|e| e.expect("entry").path()).collect();
    v.sort();
    v
}

/// Run `args`, which fails at the lock (the host refuses SSH); the one
/// journal it left in `jdir`, named `…<suffix>`: its path and text.
fn journaled_run(dir: &Path, jdir: &Path, args: &[&str], suffix: &str) -> (String, String) {
    let out = baton(dir, jdir, args);
    assert_eq!(out.status.code(), Some(1), "the lock cannot be taken: {}", text(&out));
    let files = journals(jdir);
    assert_eq!(files.len(), 1, "{files:?}");
    let file = files[0].to_str().expect("UTF-8").to_string();
    assert!(file.ends_with(suffix), "{file}");
    let journal = std::fs::read_to_string(&file).expect("read the journal");
    (file, journal)
}

#[test]
fn a_real_boot_writes_a_journal_that_replays_identically_and_a_tampered_one_diverges() {
    let dir = app_dir("replay");
    let jdir = dir.join("journals");
    let (file, journal) = journaled_run(&dir, &jdir, &["app", "boot", "--version", "v2"], "-app-boot-v2.jsonl");
    let first = journal.lines().next().expect("a header");
    assert!(first.starts_with(r#"{"type":"header","journal":"baton-journal/1""#), "{first}");
    assert!(journal.contains(r#""status":"not-connected""#), "the refused connection is recorded:\n{journal}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777, 0o600);

    let out = baton(&dir, &jdir, &["replay", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains(" events: identical"), "{}", text(&out));

    // The refused connection becomes a lock taken: the core decides otherwise.
    replay_diverges(&dir, &jdir, journal.lines().map(answered_ok));

    // Another config: refused, exit 2.
    std::fs::write(dir.join("config/deploy.yml"), format!("{CONFIG}# changed\n")).expect("write");
    let out = baton(&dir, &jdir, &["replay", &file]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("is not the config the recorded run read"), "{}", text(&out));

    // Not a journal: its line named.
    let out = baton(&dir, &jdir, &["replay", "config/deploy.yml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).starts_with("error: config/deploy.yml:1: "), "{}", text(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `line`, an observation turned into its command exiting 0 with nothing printed.
fn answered_ok(line: &str) -> String {
    if !line.contains(r#""type":"observation""#) {
        return line.to_string();
    }
    let v: serde_json::Value = serde_json::from_str(line).expect("json");
    format!(
        r#"{{"type":"observation","at_ms":{},"id":{},"status":"exited","code":0,"stdout":"","stderr":""}}"#,
        v["at_ms"], v["id"]
    )
}

/// Replay `lines` written as a journal: it diverges (exit 1) and says
/// where and what; the output.
fn replay_diverges(dir: &Path, jdir: &Path, lines: impl Iterator<Item = String>) -> String {
    let path = dir.join("tampered.jsonl");
    std::fs::write(&path, lines.collect::<Vec<_>>().join("\n") + "\n").expect("write");
    let out = baton(dir, jdir, &["replay", path.to_str().expect("UTF-8")]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("diverged at line") && t.contains("expected: "), "{t}");
    t
}

#[test]
fn a_real_setup_writes_a_journal_without_secrets_that_replays_and_a_tampered_one_diverges() {
    let dir = app_dir("setup");
    let config = format!(
        "{CONFIG}accessories:\n  db:\n    image: mysql:8.0\n    host: 127.0.0.1\n    env:\n      secret: [DB_PASSWORD]\n    files:\n      - conf/my.cnf:/etc/mysql/my.cnf\n"
    );
    std::fs::write(dir.join("config/deploy.yml"), config).expect("write config");
    let secrets = ["registry-pw-marker", "db-pw-marker", "file-contents-marker"];
    std::fs::write(dir.join(".env"), format!("P={}\nDB_PASSWORD={}\n", secrets[0], secrets[1])).expect("write .env");
    std::fs::create_dir_all(dir.join("conf")).expect("mkdir");
    std::fs::write(dir.join("conf/my.cnf"), secrets[2]).expect("write file");
    let jdir = dir.join("journals");
    let (file, journal) = journaled_run(&dir, &jdir, &["setup", "-P", "--version", "v2"], "-setup-v2.jsonl");
    assert!(journal.lines().next().expect("a header").contains(r#""command":"setup""#), "{journal}");
    for secret in secrets {
        assert!(!journal.contains(secret), "{secret} in the journal:\n{journal}");
    }

    let out = baton(&dir, &jdir, &["replay", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("Replaying the setup of v2") && text(&out).contains(" events: identical"),
        "{}",
        text(&out)
    );

    // The lock taken: the replayed setup goes on to check Docker, which
    // the recorded one never did.
    let t = replay_diverges(&dir, &jdir, journal.lines().map(answered_ok));
    assert!(t.contains("got:      effect #") && t.contains("docker -v"), "{t}");

    // The lock's command removed: the replay issues it where it was.
    let at = journal.lines().position(|l| l.contains(r#""type":"effect""#)).expect("an effect");
    let removed = journal.lines().enumerate().filter(|(i, _)| *i != at).map(|(_, l)| l.to_string());
    let t = replay_diverges(&dir, &jdir, removed);
    assert!(t.contains(&format!("diverged at line {}", at + 1)) && t.contains("got:      effect #"), "{t}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_journal_that_cannot_be_written_warns_once_and_the_run_goes_on() {
    let dir = app_dir("unwritable");
    // A directory under a file cannot be created.
    let jdir = dir.join("config/deploy.yml/journals");
    let out = baton(&dir, &jdir, &["app", "boot", "--version", "v2"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "the run still runs to its end: {t}");
    assert_eq!(t.matches("warning: the journal of this run cannot be written").count(), 1, "{t}");
    assert!(t.contains("failed to acquire the deploy lock"), "{t}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_journal_keeps_the_newest_baton_journal_keep() {
    let dir = app_dir("keep");
    std::fs::write(
        dir.join("config/deploy.yml"),
        CONFIG.replace("connect_timeout: 5s\n", "connect_timeout: 5s\n  journal_keep: 2\n"),
    )
    .expect("write config");
    let jdir = dir.join("journals");
    for _ in 0..3 {
        baton(&dir, &jdir, &["app", "boot", "--version", "v2"]);
    }
    assert_eq!(journals(&jdir).len(), 2, "{:?}", journals(&jdir));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn replay_refuses_the_options_the_journal_holds() {
    let dir = app_dir("options");
    let out = baton(&dir, &dir, &["replay", "x.jsonl", "-d", "staging"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("--destination: does not apply to `baton replay`"), "{}", text(&out));
    let _ = std::fs::remove_dir_all(&dir);
}
