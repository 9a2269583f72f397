//! Renders a run as text, one line per effect, observation or event, with
//! the virtual time. The same lines serve insta snapshots, `baton plan`'s
//! timeline and `--verbose` on a real run.
//!
//! ```text
//!    0.000  h1  web   run   docker run --detach … app-web-v2
//!    0.412  h1  web   ok    exit 0
//! ```

use crate::effect::{Effect, EffectId, Event, Observation, Outcome};
use crate::machine::Wake;
use crate::time::{fmt_secs, Time};
use std::collections::BTreeMap;

/// Collects trace lines as a driver runs a machine.
#[derive(Debug, Default, Clone)]
pub struct Trace {
    /// (time, line, may be cut: a command or its answer); kept in the
    /// order added, rendered sorted by time.
    lines: Vec<(Time, String, bool)>,
    /// host and role of each effect, to label its observation.
    who: BTreeMap<EffectId, (String, String)>,
    /// Show progress events (off for compact snapshots).
    pub progress: bool,
    /// Show a repeated poll only when its answer changes.
    pub quiet_polls: bool,
    /// Show how long each command took on its result line.
    pub durations: bool,
    /// Show each wake-up and its reason (a status read, a pause, a route
    /// read, the next group).
    pub wakes: bool,
    /// When each effect was issued.
    issued: BTreeMap<EffectId, Time>,
    /// Polls waiting for their answer: id → (time, line, host+command).
    held: BTreeMap<EffectId, (Time, String, String)>,
    /// Last answer of each (host, command) poll.
    last_answer: BTreeMap<String, String>,
}

/// A failure in one line: the step, then why.
pub fn failure_text(f: &crate::failure::Failure) -> String {
    match f.step {
        Some(step) => format!("{step}: {}", f.why),
        None => f.why.to_string(),
    }
}

/// How a run ended, in a few words (the `END` line).
pub fn outcome_text(o: &Outcome) -> String {
    match o {
        Outcome::Succeeded => "deploy succeeded".to_string(),
        Outcome::LockHeld { details } => format!("deploy lock found, nothing changed: {}", details.replace('\n', "; ")),
        Outcome::Failed { failures } => {
            let hosts: std::collections::BTreeSet<&str> = failures.iter().map(|f| f.host.as_str()).collect();
            format!("deploy failed on {} host(s)", hosts.len())
        }
    }
}

fn one_line(s: &str) -> String {
    let s = s.trim();
    let mut first = s.lines().next().unwrap_or("").to_string();
    let more = s.lines().count().saturating_sub(1);
    if first.chars().count() > 160 {
        first = first.chars().take(157).collect::<String>() + "...";
    }
    if more > 0 {
        first.push_str(&format!(" (+{more} lines)"));
    }
    first
}

impl Trace {
    pub fn new() -> Self {
        Self::default()
    }

    /// A trace that shows how long each command took and why the machine
    /// woke (`--verbose`).
    pub fn with_durations() -> Self {
        Trace { durations: true, wakes: true, ..Self::default() }
    }

    /// A trace that shows a repeated poll only when its answer changes.
    pub fn quiet_polls() -> Self {
        Trace { quiet_polls: true, ..Self::default() }
    }

    fn format(t: Time, host: &str, role: &str, kind: &str, text: &str) -> String {
        format!("{:>8}  {:<12} {:<6} {:<6} {}", fmt_secs(t), host, role, kind, text).trim_end().to_string()
    }

    fn push(&mut self, t: Time, host: &str, role: &str, kind: &str, text: &str) {
        let line = Self::format(t, host, role, kind, text);
        self.lines.push((t, line, false));
    }

    pub fn effect(&mut self, t: Time, e: &Effect) {
        let c = e.cmd();
        let role = c.role.clone().unwrap_or_default();
        self.who.insert(c.id, (c.host.clone(), role.clone()));
        self.issued.insert(c.id, t);
        let kind = if e.is_poll() { "poll" } else { "run" };
        let text = c.cmd.render();
        if e.is_poll() && self.quiet_polls {
            let line = Self::format(t, &c.host, &role, kind, &text);
            self.held.insert(c.id, (t, line, format!("{} {text}", c.host)));
        } else {
            let line = Self::format(t, &c.host, &role, kind, &text);
            self.lines.push((t, line, true));
        }
    }

    pub fn observation(&mut self, t: Time, o: &Observation) {
        let (host, role) = self.who.get(&o.id()).cloned().unwrap_or_else(|| ("?".into(), String::new()));
        let (kind, text) = match o {
            Observation::Exited { code: 0, stdout, .. } => {
                let out = one_line(stdout);
                ("ok", if out.is_empty() { "exit 0".to_string() } else { format!("exit 0: {out}") })
            }
            Observation::Exited { code, stdout, stderr, .. } => {
                let msg = if stderr.trim().is_empty() { one_line(stdout) } else { one_line(stderr) };
                ("fail", format!("exit {code}: {msg}"))
            }
            Observation::Unreachable { error, .. } => ("lost", format!("unreachable: {}", one_line(error))),
            Observation::NotConnected { error, .. } => ("lost", format!("not connected: {}", one_line(error))),
            Observation::TimedOut { after_ms, .. } => ("lost", format!("timed out after {}s", fmt_secs(*after_ms))),
        };
        let text = match (self.durations, self.issued.get(&o.id())) {
            (true, Some(&at)) => format!("{text} ({}s)", fmt_secs(t.saturating_sub(at))),
            _ => text,
        };
        if let Some((pt, pline, key)) = self.held.remove(&o.id()) {
            if self.last_answer.get(&key) == Some(&text) {
                return;
            }
            self.last_answer.insert(key, text.clone());
            self.lines.push((pt, pline, true));
        }
        let line = Self::format(t, &host, &role, kind, &text);
        self.lines.push((t, line, true));
    }

    pub fn event(&mut self, t: Time, e: &Event) {
        match e {
            Event::Progress { host, role, step } if self.progress => {
                self.push(t, host, role.as_deref().unwrap_or(""), "step", step.describe())
            }
            Event::Progress { .. } | Event::Audit { .. } | Event::StepDone(_) => {}
            Event::Warning { host, message } => self.push(t, host.as_deref().unwrap_or("-"), "", "WARN", message),
            Event::HostFailed(f) => self.push(t, &f.host, f.role.as_deref().unwrap_or(""), "FAILED", &failure_text(f)),
            Event::LockKept { host, reason } => self.push(t, host, "", "LOCK", &format!("kept: {reason}")),
            Event::LockReleased { host } => self.push(t, host, "", "LOCK", "released"),
            Event::Finished(o) => {
                let text = outcome_text(o);
                self.push(t, "-", "", "END", &text);
            }
        }
    }

    /// A deadline came due (shown when `wakes` is on).
    pub fn wake(&mut self, t: Time, w: &Wake) {
        if self.wakes {
            let text = format!("{} (due {}s)", w.reason.describe(), fmt_secs(w.at));
            self.push(t, w.host.as_deref().unwrap_or("-"), w.role.as_deref().unwrap_or(""), "wake", &text);
        }
    }

    /// A free-form note (the simulator's proxy changes, for example).
    pub fn note(&mut self, t: Time, host: &str, role: &str, kind: &str, text: &str) {
        self.push(t, host, role, kind, text);
    }

    /// The lines in time order (stable: equal times keep the order added).
    pub fn lines(&self) -> Vec<&str> {
        self.sorted().into_iter().map(|(_, l, _)| l.as_str()).collect()
    }

    fn sorted(&self) -> Vec<&(Time, String, bool)> {
        let mut v: Vec<&(Time, String, bool)> = self.lines.iter().collect();
        v.sort_by_key(|(t, _, _)| *t);
        v
    }

    /// The lines in time order, commands and their answers cut to `width`
    /// characters (ending with `…`).
    pub fn lines_cut(&self, width: usize) -> Vec<String> {
        self.sorted()
            .into_iter()
            .map(|(_, l, cmd)| match *cmd && l.chars().count() > width {
                true => l.chars().take(width.saturating_sub(1)).collect::<String>() + "…",
                false => l.clone(),
            })
            .collect()
    }

    pub fn render(&self) -> String {
        let mut s = self.lines().join("\n");
        s.push('\n');
        s
    }
}
