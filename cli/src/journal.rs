//! Writing the journal of a real run (`app boot`, `deploy`, `redeploy`,
//! `rollback`, `setup`) on this machine, for `baton replay`. The lines themselves
//! are the core's (`baton_core::journal`); here are the file, its place,
//! and keeping the last `baton.journal_keep` (50).
//!
//! Where: `$BATON_JOURNAL_DIR`, else `$XDG_STATE_HOME/baton/journal`, else
//! `~/.local/state/baton/journal`. Name: `<UTC time>-<command>-<version>.jsonl`.
//! A journal that cannot be written gives one warning; the run goes on.

use crate::args::Global;
use crate::load::Files;
use crate::out::tell;
use baton_core::flow::hooks::Hooks;
use baton_core::journal::{Command, Entry, Header};
use baton_core::plan::Plan;
use baton_interpreter::Report;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The directory journals go to, if one can be named.
pub fn dir() -> Option<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(d) = var("BATON_JOURNAL_DIR") {
        return Some(d);
    }
    if let Some(d) = var("XDG_STATE_HOME").filter(|d| d.is_absolute()) {
        return Some(d.join("baton").join("journal"));
    }
    var("HOME").map(|h| h.join(".local").join("state").join("baton").join("journal"))
}

/// `sha256:<hex>` of the config text after ERB (then a NUL byte and the
/// destination's, with `-d`), every secret value ERB put in replaced by
/// `[REDACTED]` first: the digest tells a changed config, and gives nothing
/// to guess a secret against.
pub fn config_digest(files: &Files) -> String {
    use sha2::{Digest, Sha256};
    let secrets = files.secrets();
    let redact = |t: &str| baton_core::config::document::redact_text(t, &secrets);
    let mut h = Sha256::new();
    h.update(redact(&files.base.1).as_bytes());
    if let Some((_, _, text)) = &files.dest {
        h.update([0u8]);
        h.update(redact(text).as_bytes());
    }
    format!("sha256:{:x}", h.finalize())
}

/// What a run's header needs beyond its plan.
pub struct Run<'a> {
    pub command: Command,
    pub seed: u64,
    pub skip_push: bool,
    pub hooks: Option<&'a Hooks>,
    /// `deploy` and `setup` only: their registry logins name the user.
    pub registry_username: Option<&'a str>,
}

/// The header of a run of `plan` started with `g`'s options. The config is
/// read again for its digest (the same files, the same ERB).
pub fn header(g: &Global, plan: &Plan, run: &Run<'_>) -> Header {
    let digest = match crate::load::read_config(&g.config_file, g.destination.as_deref()) {
        Ok(files) => config_digest(&files),
        Err(_) => "unreadable".to_string(),
    };
    Header {
        journal: baton_core::journal::FORMAT.to_string(),
        baton_version: env!("CARGO_PKG_VERSION").to_string(),
        command: run.command,
        started_utc: utc_now_millis(),
        config_file: g.config_file.display().to_string(),
        config_digest: digest,
        version: plan.version.clone(),
        hosts: crate::selected_hosts(g, &plan.config),
        roles: g.roles.clone(),
        destination: g.destination.clone(),
        skip_push: run.skip_push,
        seed: run.seed,
        lock: Header::lock_record(&plan.lock),
        performer: plan.performer.clone(),
        hooks: run.hooks.map(Header::hooks_record).unwrap_or_default(),
        registry_username: run.registry_username.map(str::to_string),
        lock_wait_ms: plan.lock_wait,
    }
}

/// UTC now, RFC 3339 with milliseconds.
pub fn utc_now_millis() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// The file name of a journal begun at `started_utc`.
fn file_name(header: &Header, started_utc: &str) -> String {
    let stamp: String = started_utc.chars().filter(|c| *c != '-' && *c != ':').collect();
    let safe = |s: &str| -> String {
        s.chars().map(|c| if c.is_ascii_alphanumeric() || ".-_".contains(c) { c } else { '-' }).take(80).collect()
    };
    format!("{stamp}-{}-{}.jsonl", safe(header.command.name()), safe(&header.version))
}

/// A run's journal, written line by line as the run goes (a run that is
/// killed leaves the lines up to then).
pub struct Writer {
    file: Option<std::fs::File>,
    path: PathBuf,
}

impl Writer {
    /// Create the journal with its header, and remove the oldest journals
    /// beyond `keep`. On failure: one warning, and a writer that writes nothing.
    pub fn start(header: &Header, keep: usize) -> Writer {
        match create(header, keep) {
            Ok((file, path)) => Writer { file: Some(file), path },
            Err((path, e)) => {
                warn(&path, &e);
                Writer { file: None, path }
            }
        }
    }

    /// Where it is written, if it is.
    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|_| self.path.as_path())
    }

    /// One line for what the run just did; after a failed write, one
    /// warning and no more lines.
    pub fn record(&mut self, r: &Report) {
        let Some(f) = self.file.as_mut() else { return };
        let entry = match r {
            Report::Effect(t, e) => Entry::effect(*t, e),
            Report::Observation(t, o) => Entry::observation(*t, o),
            Report::Event(t, ev) => Entry::event(*t, ev),
            Report::Wake(t, w) => Entry::wake(*t, w),
            Report::Interrupt(t) => Entry::Interrupt { at_ms: *t },
            // Shown live only; the observation holds the whole output.
            Report::Output(..) => return,
        };
        let mut line = entry.to_line();
        line.push('\n');
        if let Err(e) = f.write_all(line.as_bytes()) {
            warn(&self.path, &e);
            self.file = None;
        }
    }
}

fn warn(path: &Path, e: &std::io::Error) {
    tell!("warning: the journal of this run cannot be written ({}: {e}); the run goes on without one", path.display());
}

fn create(header: &Header, keep: usize) -> Result<(std::fs::File, PathBuf), (PathBuf, std::io::Error)> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let no_dir = || std::io::Error::new(std::io::ErrorKind::NotFound, "neither $BATON_JOURNAL_DIR nor $HOME is set");
    let dir = dir().ok_or_else(|| (PathBuf::from("journal"), no_dir()))?;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).map_err(|e| (dir.clone(), e))?;
    let base = file_name(header, &header.started_utc);
    let mut attempt = 0;
    let (mut file, path) = loop {
        let name = if attempt == 0 { base.clone() } else { base.replace(".jsonl", &format!("-{attempt}.jsonl")) };
        let path = dir.join(name);
        // Only its owner reads it: what the hosts printed is in it.
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path) {
            Ok(f) => break (f, path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 20 => attempt += 1,
            Err(e) => return Err((path, e)),
        }
    };
    let mut line = Entry::Header(Box::new(header.clone())).to_line();
    line.push('\n');
    file.write_all(line.as_bytes()).map_err(|e| (path.clone(), e))?;
    prune(&dir, keep);
    Ok((file, path))
}

/// Remove the oldest journals (by name: they start with their UTC time)
/// beyond the newest `keep`.
fn prune(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".jsonl") && n.starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    names.sort();
    let excess = names.len().saturating_sub(keep.max(1));
    for n in &names[..excess] {
        let _ = std::fs::remove_file(dir.join(n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_is_named_by_its_time_command_and_version() {
        let text = r#"{"type":"header","journal":"baton-journal/1","baton_version":"0.1.0","command":"app boot","started_utc":"2026-12-02T06:38:37.123Z","config_file":"c","config_digest":"sha256:0","version":"v2","hosts":null,"roles":null,"destination":null,"skip_push":false,"seed":1,"lock":{"holder":"a","at_utc":"t","message":"m"},"performer":"p"}"#;
        let j = baton_core::journal::parse(text).expect("a header alone is a journal");
        assert_eq!(file_name(&j.header, &j.header.started_utc), "20261202T063837.123Z-app-boot-v2.jsonl");
    }

    #[test]
    fn prune_keeps_the_newest() {
        let dir = std::env::temp_dir().join(format!("baton-journal-prune-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        for n in ["20260101T000000.000Z-a.jsonl", "20260102T000000.000Z-a.jsonl", "20260103T000000.000Z-a.jsonl"] {
            std::fs::write(dir.join(n), "x").expect("write");
        }
        std::fs::write(dir.join("notes.txt"), "x").expect("write");
        prune(&dir, 2);
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        left.sort();
        assert_eq!(left, ["20260102T000000.000Z-a.jsonl", "20260103T000000.000Z-a.jsonl", "notes.txt"]);
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
