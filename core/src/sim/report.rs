//! What a simulated boot predicts: the outcome, the wall time, and every
//! interval in which a host's proxy had no serving target for a role (a
//! serving gap), or routed some requests to a container that no longer
//! answers (those requests fail).

use crate::effect::{Effect, Outcome};
use crate::sim::fleet::Fleet;
use crate::sim::Run;
use crate::time::{fmt_secs, Time};
use serde::Serialize;
use std::collections::BTreeSet;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GapKind {
    /// The proxy had no target at all: every request fails.
    NoTarget,
    /// The proxy still routed to a container that no longer answers: the
    /// requests sent to it fail.
    DeadTarget,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub host: String,
    pub role: String,
    pub from_ms: Time,
    pub to_ms: Time,
    pub kind: GapKind,
}

/// How long after the run ends the proxy is still watched.
pub const TAIL_MS: Time = 10_000;

/// Every gap on every host and proxied role, from the first moment the role
/// served on that host until `end + TAIL_MS`.
pub fn gaps(fleet: &Fleet, end: Time) -> Vec<Gap> {
    let horizon = end + TAIL_MS;
    let mut out = vec![];
    for (name, host) in &fleet.hosts {
        let roles: BTreeSet<&str> = host.containers.iter().filter(|c| c.proxied).map(|c| c.role.as_str()).collect();
        for role in roles {
            let cs: Vec<_> = host.containers.iter().filter(|c| c.proxied && c.role == role).collect();
            // Boundaries where anything may change.
            let mut pts: BTreeSet<Time> = BTreeSet::new();
            pts.insert(0);
            for c in &cs {
                pts.insert(c.started);
                pts.insert(c.started + c.profile.start_ms);
                pts.extend(c.stop_issued);
                pts.extend(c.exited);
                for (t, _) in fleet.proxy_changes(name, c, horizon) {
                    pts.insert(t);
                }
            }
            pts.extend(fleet.table_dropped_at(name, horizon));
            let pts: Vec<Time> = pts.into_iter().filter(|&t| t <= horizon).collect();
            let mut served = false;
            let mut open: Option<(Time, GapKind)> = None;
            for (i, &t) in pts.iter().enumerate() {
                let routed: Vec<_> = cs.iter().filter(|c| fleet.proxy_routes(name, c, t)).collect();
                let serving = routed.iter().filter(|c| c.serving(t)).count();
                // Stale targets (`plan --live`) never answer.
                let targets = routed.len() + fleet.stale_routed(name, role, t);
                let state = if targets == 0 || serving == 0 {
                    Some(GapKind::NoTarget)
                } else if serving < targets {
                    Some(GapKind::DeadTarget)
                } else {
                    None
                };
                if serving > 0 {
                    served = true;
                }
                let state = if served { state } else { None };
                let next = pts.get(i + 1).copied().unwrap_or(horizon);
                match (&open, state) {
                    (None, Some(k)) => open = Some((t, k)),
                    (Some((_, ok)), Some(k)) if *ok != k => {
                        let (from, kind) = open.take().expect("open");
                        out.push(Gap { host: name.clone(), role: role.to_string(), from_ms: from, to_ms: t, kind });
                        open = Some((t, k));
                    }
                    (Some(_), None) => {
                        let (from, kind) = open.take().expect("open");
                        out.push(Gap { host: name.clone(), role: role.to_string(), from_ms: from, to_ms: t, kind });
                    }
                    _ => {}
                }
                let _ = next;
            }
            if let Some((from, kind)) = open {
                out.push(Gap { host: name.clone(), role: role.to_string(), from_ms: from, to_ms: horizon, kind });
            }
        }
    }
    out
}

#[derive(Clone, Debug, Serialize)]
pub struct EffectLine {
    pub at_ms: Time,
    pub host: String,
    pub role: Option<String>,
    pub kind: &'static str,
    pub cmd: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct FailureLine {
    pub host: String,
    pub role: Option<String>,
    /// None when the run was interrupted between steps.
    pub step: Option<String>,
    pub error: String,
}

/// The prediction's analysis: outcome, wall time, gaps, failures, every
/// effect. `baton plan --json` prints the fuller [`crate::sim::doc::PlanDoc`].
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// `succeeded`, `failed` or `lock-held`.
    pub outcome: &'static str,
    pub duration_ms: Time,
    pub gaps: Vec<Gap>,
    pub failures: Vec<FailureLine>,
    pub effects: Vec<EffectLine>,
    /// Commands per host that change something (polls not counted).
    pub runs_per_host: std::collections::BTreeMap<String, usize>,
    pub polls_per_host: std::collections::BTreeMap<String, usize>,
}

impl Report {
    pub fn new(run: &Run, fleet: &Fleet) -> Report {
        let outcome = match &run.outcome {
            Some(Outcome::Succeeded) => "succeeded",
            Some(Outcome::LockHeld { .. }) => "lock-held",
            _ => "failed",
        };
        let failures = match &run.outcome {
            Some(Outcome::Failed { failures }) => failures
                .iter()
                .map(|f| FailureLine {
                    host: f.host.clone(),
                    role: f.role.clone(),
                    step: f.step.map(|s| s.to_string()),
                    error: f.why.to_string(),
                })
                .collect(),
            _ => vec![],
        };
        let mut runs_per_host = std::collections::BTreeMap::new();
        let mut polls_per_host = std::collections::BTreeMap::new();
        let effects = run
            .effects
            .iter()
            .map(|(t, e)| {
                let c = e.cmd();
                let slot = if e.is_poll() { &mut polls_per_host } else { &mut runs_per_host };
                *slot.entry(c.host.clone()).or_insert(0) += 1;
                EffectLine {
                    at_ms: *t,
                    host: c.host.clone(),
                    role: c.role.clone(),
                    kind: if matches!(e, Effect::Poll(_)) { "poll" } else { "run" },
                    cmd: c.cmd.render(),
                }
            })
            .collect();
        Report {
            outcome,
            duration_ms: run.end,
            gaps: gaps(fleet, run.end),
            failures,
            effects,
            runs_per_host,
            polls_per_host,
        }
    }

    /// True when the deploy succeeded and no host would stop serving.
    pub fn clean(&self) -> bool {
        self.outcome == "succeeded" && self.gaps.is_empty()
    }

    /// The summary printed under the timeline.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!("Predicted wall time: {}s\n", fmt_secs(self.duration_ms)));
        if self.gaps.is_empty() {
            s.push_str("Serving gaps: none (every host kept a healthy target for every role)\n");
        } else {
            s.push_str("Serving gaps:\n");
            for g in &self.gaps {
                let what = match g.kind {
                    GapKind::NoTarget => "no healthy target: every request fails",
                    GapKind::DeadTarget => "routes to a stopped container: some requests fail",
                };
                s.push_str(&format!(
                    "  {} {}: {}s → {}s ({}s): {what}\n",
                    g.host,
                    g.role,
                    fmt_secs(g.from_ms),
                    fmt_secs(g.to_ms),
                    fmt_secs(g.to_ms - g.from_ms)
                ));
            }
        }
        match self.outcome {
            "succeeded" if !self.gaps.is_empty() => s.push_str(
                "Outcome: the deploy completes, but requests fail during the serving gaps above: not a zero-downtime deploy\n",
            ),
            "succeeded" => s.push_str("Outcome: the deploy succeeds\n"),
            "lock-held" => s.push_str("Outcome: the deploy lock is held; nothing would change\n"),
            _ => {
                s.push_str("Outcome: the deploy fails\n");
                for f in &self.failures {
                    let role = f.role.as_deref().map(|r| format!(" [{r}]")).unwrap_or_default();
                    match &f.step {
                        Some(step) => s.push_str(&format!("  {}{role}: {step}: {}\n", f.host, f.error)),
                        None => s.push_str(&format!("  {}{role}: {}\n", f.host, f.error)),
                    }
                }
            }
        }
        s
    }
}
