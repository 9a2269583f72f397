//! The plan's summary: one row per host and role (from which version to
//! which, when its handover starts and ends, whether it keeps serving, how
//! it ends), read from a finished simulated run.

use crate::effect::{Event, Step};
use crate::plan::Plan;
use crate::sim::report::{Gap, Report};
use crate::sim::Run;
use crate::time::Time;
use serde::Serialize;
use std::collections::BTreeMap;

/// How one role's handover on one host ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RowOutcome {
    /// The handover finished: the new version runs.
    Done,
    /// It failed on this host (see `error`).
    Failed,
    /// It started but did not finish (the run ended elsewhere first).
    Stopped,
    /// Nothing of it ran.
    NotStarted,
}

impl RowOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RowOutcome::Done => "done",
            RowOutcome::Failed => "FAILED",
            RowOutcome::Stopped => "stopped",
            RowOutcome::NotStarted => "not started",
        }
    }
}

/// One role on one host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Row {
    pub host: String,
    pub role: String,
    /// The boot group (0-based) the host is in (`boot.limit`).
    pub group: usize,
    /// The version running before (`--from`, or as read with `--live`);
    /// None when nothing runs.
    pub from: Option<String>,
    pub to: String,
    /// When its first command was issued, and its last one answered.
    pub start_ms: Option<Time>,
    pub end_ms: Option<Time>,
    /// For a role behind the proxy: true when this host's proxy kept a
    /// serving target for the role throughout. None for a role the proxy
    /// does not route to.
    pub keeps_serving: Option<bool>,
    /// How long the role had no (or a dead) target on this host, in all.
    pub gap_ms: Time,
    pub outcome: RowOutcome,
    /// Why it failed.
    pub error: Option<String>,
}

/// Every host and role of the plan, in config order (hosts, then their roles).
pub fn rows(plan: &Plan, scenario: &crate::sim::Scenario, run: &Run, report: &Report) -> Vec<Row> {
    let answered: BTreeMap<u64, Time> = run.observations.iter().map(|(t, o)| (o.id().0, *t)).collect();
    let mut span: BTreeMap<(&str, &str), (Time, Time)> = BTreeMap::new();
    for (t, e) in &run.effects {
        let c = e.cmd();
        let Some(role) = c.role.as_deref() else { continue };
        let end = answered.get(&c.id.0).copied().unwrap_or(*t);
        let s = span.entry((c.host.as_str(), role)).or_insert((*t, end));
        s.0 = s.0.min(*t);
        s.1 = s.1.max(end);
    }
    let mut done: BTreeMap<(&str, &str), ()> = BTreeMap::new();
    let mut failed: Vec<(Time, &crate::effect::Failure)> = vec![];
    for (t, ev) in &run.events {
        match ev {
            Event::Progress { host, role: Some(role), step: Step::Done } => {
                done.insert((host.as_str(), role.as_str()), ());
            }
            Event::HostFailed(f) => failed.push((*t, f)),
            _ => {}
        }
    }
    let groups = plan.groups();
    let group_of = |h: &str| groups.iter().position(|g| g.iter().any(|x| x == h)).unwrap_or(0);
    let mut out = vec![];
    for host in &plan.hosts {
        for role in plan.roles_on(host) {
            let key = (host.as_str(), role.as_str());
            let fail = failed.iter().find(|(_, f)| f.host == *host && f.role.as_deref().is_none_or(|r| r == role));
            let (mut start, mut end) = match span.get(&key) {
                Some(&(s, e)) => (Some(s), Some(e)),
                None => (None, None),
            };
            if let Some((t, _)) = fail {
                start = start.or(Some(*t));
                end = Some(end.map_or(*t, |e| e.max(*t)));
            }
            let outcome = match (fail, done.contains_key(&key), start) {
                (Some(_), _, _) => RowOutcome::Failed,
                (None, true, _) => RowOutcome::Done,
                (None, false, Some(_)) => RowOutcome::Stopped,
                (None, false, None) => RowOutcome::NotStarted,
            };
            let proxied = plan.config.role(&role).is_some_and(|r| r.spec.proxied);
            let gaps: Vec<&Gap> = report.gaps.iter().filter(|g| g.host == *host && g.role == role).collect();
            let gap_ms = gaps.iter().map(|g| g.to_ms - g.from_ms).sum();
            out.push(Row {
                host: host.clone(),
                role: role.clone(),
                group: group_of(host),
                from: scenario.from_on(host, &role),
                to: plan.version.clone(),
                start_ms: start,
                end_ms: end,
                keeps_serving: proxied.then_some(gaps.is_empty()),
                gap_ms,
                outcome,
                error: fail.map(|(_, f)| crate::trace::failure_text(f)),
            });
        }
    }
    out
}
