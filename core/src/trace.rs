//! Renders a run as text, one line per effect, observation or event, with
//! the virtual time. The same lines serve insta snapshots, `baton plan`'s
//! timeline and `--verbose` on a real run.
//!
//! ```text
//!    0.000  h1  web   run   docker run --detach … app-web-v2
//!    0.412  h1  web   ok    exit 0
//! ```

use crate::effect::{Effect, EffectId, Event, Observation, Outcome};
use crate::time::{fmt_secs, Time};
use std::collections::BTreeMap;

/// Collects trace lines as a driver runs a machine.
#[derive(Debug, Default, Clone)]
pub struct Trace {
    lines: Vec<String>,
    /// host and role of each effect, to label its observation.
    who: BTreeMap<EffectId, (String, String)>,
    /// Show progress events (off for compact snapshots).
    pub progress: bool,
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

    fn push(&mut self, t: Time, host: &str, role: &str, kind: &str, text: &str) {
        let line = format!("{:>8}  {:<12} {:<6} {:<6} {}", fmt_secs(t), host, role, kind, text);
        self.lines.push(line.trim_end().to_string());
    }

    pub fn effect(&mut self, t: Time, e: &Effect) {
        let c = e.cmd();
        let role = c.role.clone().unwrap_or_default();
        self.who.insert(c.id, (c.host.clone(), role.clone()));
        let kind = if e.is_poll() { "poll" } else { "run" };
        self.push(t, &c.host.clone(), &role, kind, &c.cmd.render());
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
            Observation::TimedOut { after_ms, .. } => ("lost", format!("timed out after {}s", fmt_secs(*after_ms))),
        };
        self.push(t, &host, &role, kind, &text);
    }

    pub fn event(&mut self, t: Time, e: &Event) {
        match e {
            Event::Progress { host, role, step } if self.progress => {
                self.push(t, host, role.as_deref().unwrap_or(""), "step", step.describe())
            }
            Event::Progress { .. } | Event::Audit { .. } => {}
            Event::Warning { host, message } => self.push(t, host.as_deref().unwrap_or("-"), "", "WARN", message),
            Event::HostFailed(f) => {
                self.push(t, &f.host, f.role.as_deref().unwrap_or(""), "FAILED", &format!("{}: {}", f.step, f.error))
            }
            Event::LockKept { host, reason } => self.push(t, host, "", "LOCK", &format!("kept: {reason}")),
            Event::LockReleased { host } => self.push(t, host, "", "LOCK", "released"),
            Event::Finished(o) => {
                let text = match o {
                    Outcome::Succeeded => "deploy succeeded".to_string(),
                    Outcome::LockHeld { details } => {
                        format!("deploy lock found, nothing changed: {}", details.replace('\n', "; "))
                    }
                    Outcome::Failed { failures } => format!("deploy failed on {} host(s)", failures.len()),
                };
                self.push(t, "-", "", "END", &text);
            }
        }
    }

    /// A free-form note (the simulator's proxy changes, for example).
    pub fn note(&mut self, t: Time, host: &str, kind: &str, text: &str) {
        self.push(t, host, "", kind, text);
    }

    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    pub fn render(&self) -> String {
        let mut s = self.lines.join("\n");
        s.push('\n');
        s
    }
}
