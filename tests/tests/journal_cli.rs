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

#[test]
fn a_real_boot_writes_a_journal_that_replays_identically_and_a_tampered_one_diverges() {
    let dir = app_dir("replay");
    let jdir = dir.join("journals");
    let out = baton(&dir, &jdir, &["app", "boot", "--version", "v2"]);
    assert_eq!(out.status.code(), Some(1), "the lock cannot be taken: {}", text(&out));
    let files = journals(&jdir);
    assert_eq!(files.len(), 1, "{files:?}");
    let file = files[0].to_str().expect("UTF-8").to_string();
    assert!(file.ends_with("-app-boot-v2.jsonl"), "{file}");
    let journal = std::fs::read_to_string(&file).expect("read the journal");
    let first = journal.lines().next().expect("a header");
    assert!(first.starts_with(r#"{"type":"header","journal":"baton-journal/1""#), "{first}");
    assert!(journal.contains(r#""status":"not-connected""#), "the refused connection is recorded:\n{journal}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777, 0o600);

    let out = baton(&dir, &jdir, &["replay", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains(" events: identical"), "{}", text(&out));

    // The refused connection becomes a lock taken: the core decides otherwise.
    let tampered_path = dir.join("tampered.jsonl");
    let tampered: Vec<String> = journal
        .lines()
        .map(|l| match l.contains(r#""type":"observation""#) {
            true => {
                let v: serde_json::Value = serde_json::from_str(l).expect("json");
                format!(
                    r#"{{"type":"observation","at_ms":{},"id":{},"status":"exited","code":0,"stdout":"","stderr":""}}"#,
                    v["at_ms"], v["id"]
                )
            }
            false => l.to_string(),
        })
        .collect();
    std::fs::write(&tampered_path, tampered.join("\n") + "\n").expect("write");
    let out = baton(&dir, &jdir, &["replay", tampered_path.to_str().expect("UTF-8")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("diverged at line") && text(&out).contains("expected: "), "{}", text(&out));

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
