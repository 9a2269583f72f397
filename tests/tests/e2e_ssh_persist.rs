//! End-to-end: `baton.ssh_persist` keeps baton's SSH masters after the
//! command, one per host in the per-user directory, and the next command
//! reuses them (no new handshake); without it, nothing is left behind.

mod common;

use common::*;
use std::path::PathBuf;
use std::process::Command;

/// The persisted links for the fleet's hosts: (host, link, socket it points at).
fn links(f: &Fleet) -> Vec<(String, PathBuf, PathBuf)> {
    let dir = baton_interpreter::persist_dir().expect("persist dir");
    let mut out = vec![];
    for entry in std::fs::read_dir(&dir).expect("read persist dir").flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(host) = f.hosts.iter().find(|h| name.starts_with(&format!("{h}-22-"))) else { continue };
        if let Ok(target) = std::fs::read_link(entry.path()) {
            out.push((host.clone(), entry.path(), target));
        }
    }
    out.sort();
    out
}

/// `ssh -O CMD` on the master behind `link`: true if it answered.
fn control(link: &PathBuf, cmd: &str) -> bool {
    Command::new("ssh")
        .args(["-F", "/dev/null", "-S"])
        .arg(link)
        .args(["-O", cmd, "x"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn close_all(f: &Fleet) {
    for (_, link, _) in links(f) {
        control(&link, "exit");
        let _ = std::fs::remove_file(link);
    }
}

#[test]
fn masters_outlive_the_command_and_the_next_one_reuses_them() {
    let (f, _g) = fleet();
    close_all(f);
    let app = boot_fresh(f, "v1");
    assert!(links(f).iter().all(|(_, l, _)| !control(l, "check")), "no master is left without ssh_persist");

    let cfg = app.dir.join("config/deploy.yml");
    let text = std::fs::read_to_string(&cfg).expect("config");
    std::fs::write(&cfg, format!("{text}  ssh_persist: 30s\n")).expect("config");
    let first = app.ok(&["app", "version"]);
    let before = links(f);
    assert_eq!(before.len(), 3, "one link per host: {before:?}");
    for (h, link, _) in &before {
        assert!(control(link, "check"), "the master of {h} is gone after the command");
    }
    let second = app.ok(&["app", "version"]);
    assert_eq!(first, second);
    assert_eq!(links(f), before, "the second command reused the masters");

    // A master that is gone is replaced, and its link with it.
    let (h, link, _) = before[0].clone();
    assert!(control(&link, "exit"));
    app.ok(&["app", "version"]);
    let after = links(f);
    let relinked = after.iter().find(|(x, _, _)| *x == h).expect("a link for the host");
    assert_ne!(relinked.2, before[0].2, "a new master for {h}");
    assert!(control(&relinked.1, "check"));
    close_all(f);
}
