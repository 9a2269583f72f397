//! The journal of a real run: what a machine was given and what it gave
//! back, one JSON object a line, so that the run can be replayed
//! ([`replay`]) against a freshly built machine.
//!
//! The first line is the [`Header`]: what rebuilds the same machine (the
//! command, the config's digest, the flags, the seed, the lock details, the
//! performer, the hooks). Then, in the order they happened, one line per
//! effect, observation, wake-up, interrupt and event ([`Entry`]), each
//! with its time in milliseconds since the run began.
//!
//! Secrets never go in: an effect's standard input is written as
//! `"stdin": true`, never its bytes. For a file's contents (an env file, an
//! uploaded accessory file) `"stdin_bytes"` gives its size; for a secret (a
//! password, build secrets) not even that. Command lines and what the hosts
//! printed hold none (baton never puts a secret there).
//!
//! This module builds and reads the lines; writing the file is the CLI's.

pub mod replay;

use crate::driver::{Answer, Responder};
use crate::effect::{Effect, EffectId, Event, Observation};
use crate::flow::hooks::Hooks;
use crate::machine::{Reason, Wake};
use crate::plan::{LockInfo, Plan, PlanError};
use crate::time::{fmt_secs, Time};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The journal's format; bumped when a field changes meaning or goes.
pub const FORMAT: &str = "baton-journal/1";

/// The commands that write a journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    #[serde(rename = "app boot")]
    AppBoot,
    #[serde(rename = "deploy")]
    Deploy,
    #[serde(rename = "redeploy")]
    Redeploy,
    #[serde(rename = "rollback")]
    Rollback,
    /// `setup`: the hosts checked and the accessories booted, then a deploy.
    #[serde(rename = "setup")]
    Setup,
}

impl Command {
    pub fn name(self) -> &'static str {
        match self {
            Command::AppBoot => "app boot",
            Command::Deploy => "deploy",
            Command::Redeploy => "redeploy",
            Command::Rollback => "rollback",
            Command::Setup => "setup",
        }
    }
}

/// The lock details the run wrote (its time was read from the clock).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    pub holder: String,
    pub at_utc: String,
    pub message: String,
}

/// The hooks of a deploy-like run: where, which exist, `-H`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HooksRecord {
    pub dir: String,
    pub present: Vec<String>,
    pub skip: bool,
}

/// The first line: everything that rebuilds the same machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// [`FORMAT`].
    pub journal: String,
    pub baton_version: String,
    pub command: Command,
    /// When the run began (UTC, RFC 3339), for people.
    pub started_utc: String,
    /// The config file as given (`-c`), for people.
    pub config_file: String,
    /// `sha256:<hex>` of the config text(s) after ERB, secrets redacted
    /// (computed by the caller).
    pub config_digest: String,
    pub version: String,
    /// `-h` (or the primary host, for `-p`) and `-r`, as given.
    pub hosts: Option<Vec<String>>,
    pub roles: Option<Vec<String>>,
    pub destination: Option<String>,
    pub skip_push: bool,
    pub seed: u64,
    pub lock: LockRecord,
    pub performer: String,
    #[serde(default)]
    pub hooks: HooksRecord,
    /// `deploy`'s and `setup`'s registry logins name the user on their
    /// command lines.
    #[serde(default)]
    pub registry_username: Option<String>,
    /// `--lock-wait`: how long the run would wait for a held lock (ms);
    /// None: it failed at once. A journal written before this was
    /// recorded reads as None.
    #[serde(default)]
    pub lock_wait_ms: Option<u64>,
}

impl Header {
    /// The plan of the recorded run, over `config` (which the caller
    /// checked against [`Header::config_digest`]).
    pub fn plan(&self, config: crate::config::Config) -> Result<Plan, PlanError> {
        let lock = LockInfo {
            holder: self.lock.holder.clone(),
            at_utc: self.lock.at_utc.clone(),
            message: self.lock.message.clone(),
        };
        let mut plan =
            Plan::new(config, &self.version, self.hosts.as_deref(), self.roles.as_deref(), &self.performer, lock)?;
        plan.lock_wait = self.lock_wait_ms;
        Ok(plan)
    }

    pub fn lock_record(lock: &LockInfo) -> LockRecord {
        LockRecord { holder: lock.holder.clone(), at_utc: lock.at_utc.clone(), message: lock.message.clone() }
    }

    pub fn hooks_record(h: &Hooks) -> HooksRecord {
        HooksRecord { dir: h.dir.clone(), present: h.present.iter().cloned().collect(), skip: h.skip }
    }

    pub fn hooks(&self) -> Hooks {
        Hooks {
            dir: self.hooks.dir.clone(),
            present: self.hooks.present.iter().cloned().collect(),
            skip: self.hooks.skip,
        }
    }
}

/// An effect as written: its command rendered, its standard input only
/// as whether it has one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectRecord {
    pub at_ms: Time,
    pub id: u64,
    /// `run` (changes the host) or `poll` (only reads).
    pub kind: String,
    pub host: String,
    pub role: Option<String>,
    /// What it is for (the step names of `plan --fault`).
    pub step: String,
    pub cmd: String,
    /// Whether something went to its standard input (never what).
    pub stdin: bool,
    /// The size of a file's contents on its standard input (an env file, an
    /// uploaded file); none for a secret, whose length is not written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin_bytes: Option<u64>,
}

/// How a command ended, as given to the machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservationRecord {
    pub at_ms: Time,
    pub id: u64,
    /// `exited`, `unreachable`, `not-connected` or `timed-out`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_ms: Option<u64>,
}

/// A deadline came due (`at_ms`) and the machine was woken for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WakeRecord {
    pub at_ms: Time,
    /// The deadline the machine had asked for.
    pub due_ms: Time,
    /// `next-group`, `status-read`, `pause` or `route-read`.
    pub reason: String,
    pub host: Option<String>,
    pub role: Option<String>,
}

/// An event, in `baton plan --json`'s vocabulary (`docs/plan-json.md`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    pub at_ms: Time,
    pub event: serde_json::Value,
}

/// One line of a journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Entry {
    Header(Box<Header>),
    Effect(EffectRecord),
    Observation(ObservationRecord),
    Wake(WakeRecord),
    /// The user pressed Ctrl-C (or sent SIGTERM).
    Interrupt {
        at_ms: Time,
    },
    Event(EventRecord),
}

fn reason_name(r: Reason) -> &'static str {
    match r {
        Reason::NextGroup => "next-group",
        Reason::StatusRead => "status-read",
        Reason::Pause => "pause",
        Reason::RouteRead => "route-read",
        Reason::LockRetry => "lock-retry",
    }
}

impl Entry {
    pub fn effect(at_ms: Time, e: &Effect) -> Entry {
        let c = e.cmd();
        Entry::Effect(EffectRecord {
            at_ms,
            id: c.id.0,
            kind: if e.is_poll() { "poll" } else { "run" }.to_string(),
            host: c.host.clone(),
            role: c.role.clone(),
            step: crate::sim::fleet::action_kind(&c.action).to_string(),
            cmd: c.cmd.render(),
            stdin: c.stdin.is_some(),
            stdin_bytes: c.stdin.as_ref().filter(|s| s.file).map(|s| s.bytes.len() as u64),
        })
    }

    pub fn observation(at_ms: Time, o: &Observation) -> Entry {
        let base = ObservationRecord {
            at_ms,
            id: o.id().0,
            status: String::new(),
            code: None,
            stdout: None,
            stderr: None,
            error: None,
            after_ms: None,
        };
        Entry::Observation(match o {
            Observation::Exited { code, stdout, stderr, .. } => ObservationRecord {
                status: "exited".into(),
                code: Some(*code),
                stdout: Some(stdout.clone()),
                stderr: Some(stderr.clone()),
                ..base
            },
            Observation::Unreachable { error, .. } => {
                ObservationRecord { status: "unreachable".into(), error: Some(error.clone()), ..base }
            }
            Observation::NotConnected { error, .. } => {
                ObservationRecord { status: "not-connected".into(), error: Some(error.clone()), ..base }
            }
            Observation::TimedOut { after_ms, .. } => {
                ObservationRecord { status: "timed-out".into(), after_ms: Some(*after_ms), ..base }
            }
        })
    }

    pub fn wake(at_ms: Time, w: &Wake) -> Entry {
        Entry::Wake(WakeRecord {
            at_ms,
            due_ms: w.at,
            reason: reason_name(w.reason).to_string(),
            host: w.host.clone(),
            role: w.role.clone(),
        })
    }

    pub fn event(at_ms: Time, ev: &Event) -> Entry {
        let event = serde_json::to_value(crate::sim::doc::baton_event(ev)).expect("an event serialises");
        Entry::Event(EventRecord { at_ms, event })
    }

    /// When it happened (None for the header).
    pub fn at_ms(&self) -> Option<Time> {
        match self {
            Entry::Header(_) => None,
            Entry::Effect(r) => Some(r.at_ms),
            Entry::Observation(r) => Some(r.at_ms),
            Entry::Wake(r) => Some(r.at_ms),
            Entry::Interrupt { at_ms } => Some(*at_ms),
            Entry::Event(r) => Some(r.at_ms),
        }
    }

    /// One line of JSON, without its newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a journal entry serialises")
    }

    /// The same entry, its time aside: what a replay must reproduce.
    pub fn same(&self, other: &Entry) -> bool {
        match (self, other) {
            // A file's size is not the machine's decision (and replay has
            // no file contents): whether there was standard input is.
            (Entry::Effect(a), Entry::Effect(b)) => {
                EffectRecord { at_ms: 0, stdin_bytes: None, ..a.clone() }
                    == EffectRecord { at_ms: 0, stdin_bytes: None, ..b.clone() }
            }
            (Entry::Event(a), Entry::Event(b)) => a.event == b.event,
            _ => false,
        }
    }

    /// A few words for a divergence report.
    pub fn describe(&self) -> String {
        match self {
            Entry::Header(h) => format!("the header of a {} of {}", h.command.name(), h.version),
            Entry::Effect(r) => {
                let role = r.role.as_deref().map(|r| format!(" {r}")).unwrap_or_default();
                let stdin = if r.stdin { " (with standard input)" } else { "" };
                format!("effect #{} on {}{role} ({} {}): {}{stdin}", r.id, r.host, r.kind, r.step, r.cmd)
            }
            Entry::Observation(r) => format!("the answer to #{} ({})", r.id, r.status),
            Entry::Wake(r) => {
                let on = r.host.as_deref().map(|h| format!(" on {h}")).unwrap_or_default();
                format!("a wake-up for {}{on}, due at {}s", r.reason, fmt_secs(r.due_ms))
            }
            Entry::Interrupt { .. } => "an interrupt (Ctrl-C)".to_string(),
            Entry::Event(r) => format!("event {}", r.event),
        }
    }
}

impl ObservationRecord {
    /// The observation as the machine was given it.
    pub fn to_observation(&self) -> Result<Observation, String> {
        let id = EffectId(self.id);
        let need = |v: &Option<String>, key: &str| {
            v.clone().ok_or_else(|| format!("a {} observation needs {key:?}", self.status))
        };
        Ok(match self.status.as_str() {
            "exited" => Observation::Exited {
                id,
                code: self.code.ok_or("an exited observation needs \"code\"")?,
                stdout: self.stdout.clone().unwrap_or_default(),
                stderr: self.stderr.clone().unwrap_or_default(),
            },
            "unreachable" => Observation::Unreachable { id, error: need(&self.error, "error")? },
            "not-connected" => Observation::NotConnected { id, error: need(&self.error, "error")? },
            "timed-out" => Observation::TimedOut { id, after_ms: self.after_ms.unwrap_or(0) },
            other => {
                return Err(format!("status {other:?} is not one of exited, unreachable, not-connected, timed-out"))
            }
        })
    }
}

/// A journal read back: its header and its entries with their line numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Journal {
    pub header: Header,
    /// (line number, from 1; entry), the header excluded.
    pub entries: Vec<(usize, Entry)>,
}

/// Why a journal cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JournalError {
    Empty,
    /// The first line is not a header.
    NoHeader {
        line: usize,
    },
    /// Written by another format of journal.
    Format {
        found: String,
    },
    /// A line that is not an entry, or a header after the first line.
    Line {
        line: usize,
        what: String,
    },
}

impl JournalError {
    /// The line it is about (from 1), if one.
    pub fn line(&self) -> Option<usize> {
        match self {
            JournalError::Empty => None,
            JournalError::NoHeader { line } | JournalError::Line { line, .. } => Some(*line),
            JournalError::Format { .. } => Some(1),
        }
    }
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::Empty => write!(f, "the journal is empty; pass a journal a run wrote"),
            JournalError::NoHeader { .. } => {
                write!(f, "the first line is not a journal header; pass a journal a run wrote")
            }
            JournalError::Format { found } => write!(
                f,
                "journal: {found:?} is not a format this baton reads ({FORMAT}); replay it with the baton that wrote it"
            ),
            JournalError::Line { what, .. } => write!(f, "{what}; the journal is damaged or was edited"),
        }
    }
}
impl std::error::Error for JournalError {}

/// Read a journal's text. Blank lines are skipped.
pub fn parse(text: &str) -> Result<Journal, JournalError> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l)).filter(|(_, l)| !l.trim().is_empty());
    let (first, line) = lines.next().ok_or(JournalError::Empty)?;
    let header = match serde_json::from_str::<Entry>(line) {
        Ok(Entry::Header(h)) => *h,
        _ => return Err(JournalError::NoHeader { line: first }),
    };
    if header.journal != FORMAT {
        return Err(JournalError::Format { found: header.journal });
    }
    let mut entries = vec![];
    for (n, line) in lines {
        match serde_json::from_str::<Entry>(line) {
            Ok(Entry::Header(_)) => {
                return Err(JournalError::Line { line: n, what: "a second header".into() });
            }
            Ok(Entry::Observation(o)) => {
                o.to_observation().map_err(|what| JournalError::Line { line: n, what })?;
                entries.push((n, Entry::Observation(o)));
            }
            Ok(e) => entries.push((n, e)),
            Err(e) => return Err(JournalError::Line { line: n, what: format!("not a journal entry ({e})") }),
        }
    }
    Ok(Journal { header, entries })
}

/// A responder that writes a run driven by the [`crate::driver::Driver`]
/// as journal lines (the header first), answering through `inner`: how a
/// simulated run is journaled, as the CLI journals a real one.
pub struct Recording<'a> {
    pub inner: &'a mut dyn Responder,
    pub lines: Vec<String>,
}

impl<'a> Recording<'a> {
    pub fn new(header: &Header, inner: &'a mut dyn Responder) -> Recording<'a> {
        Recording { inner, lines: vec![Entry::Header(Box::new(header.clone())).to_line()] }
    }

    /// The journal's text.
    pub fn text(&self) -> String {
        self.lines.iter().map(|l| format!("{l}\n")).collect()
    }
}

impl Responder for Recording<'_> {
    fn answer(&mut self, effect: &Effect, now: Time) -> Answer {
        self.inner.answer(effect, now)
    }
    fn on_effect(&mut self, now: Time, effect: &Effect) {
        self.lines.push(Entry::effect(now, effect).to_line());
        self.inner.on_effect(now, effect);
    }
    fn on_event(&mut self, now: Time, event: &Event) {
        self.lines.push(Entry::event(now, event).to_line());
        self.inner.on_event(now, event);
    }
    fn on_observation(&mut self, now: Time, obs: &Observation) {
        self.lines.push(Entry::observation(now, obs).to_line());
        self.inner.on_observation(now, obs);
    }
    fn on_wake(&mut self, now: Time, wake: &Wake) {
        self.lines.push(Entry::wake(now, wake).to_line());
        self.inner.on_wake(now, wake);
    }
    fn on_interrupt(&mut self, now: Time) {
        self.lines.push(Entry::Interrupt { at_ms: now }.to_line());
        self.inner.on_interrupt(now);
    }
    fn on_step(&mut self, now: Time, steps: usize) {
        self.inner.on_step(now, steps);
    }
}
