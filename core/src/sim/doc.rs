//! `baton plan --json`: the whole prediction as one document. Everything in
//! it comes from the plan, the scenario, the seed and the `now` it is given
//! (never the clock), so the same inputs give the same bytes. The schema is
//! `docs/plan.schema.json`, described in `docs/plan-json.md`.

use crate::effect::{Action, Effect, Event, Observation, Outcome};
use crate::plan::Plan;
use crate::sim::events::{FleetChange, FleetEvent};
use crate::sim::fleet::{action_kind, HEALTH_CHECK_MS};
use crate::sim::report::{FailureLine, Gap};
use crate::sim::summary::{self, Row};
use crate::sim::{Scenario, Simulation};
use crate::time::{Millis, Time};
use serde::Serialize;
use std::collections::BTreeMap;

/// The document's format; bumped when a field changes meaning or goes.
pub const SCHEMA: &str = "baton-plan/1";

/// What the caller knows and the core does not: its own version, the time
/// the plan pretends it is, and the faults as the user wrote them.
#[derive(Clone, Debug, Default)]
pub struct Meta {
    pub baton_version: String,
    /// RFC 3339, UTC: written into the lock details.
    pub now: String,
    pub fault_specs: Vec<String>,
    /// What is simulated: `app boot`, `deploy` or `redeploy`.
    pub command: &'static str,
}

/// What the prediction assumes about the hosts and the app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Assumptions {
    /// The version every host runs before the boot; None: a first deploy.
    pub from: Option<String>,
    /// Faults injected (`--fault`), as written.
    pub faults: Vec<String>,
    pub ssh_handshake_ms: Millis,
    pub ssh_round_trip_ms: Millis,
    pub docker_run_ms: Millis,
    pub docker_inspect_ms: Millis,
    /// None: the hosts have the image (`--pulled`).
    pub image_pull_ms: Option<Millis>,
    /// From a container's start until the app answers (`--app-start`).
    pub app_start_ms: Millis,
    pub app_stop_ms: Millis,
    pub health_check_ms: Millis,
    pub proxy_pickup_ms: Millis,
    pub proxy_jitter_ms: Millis,
    /// Where the command times come from: `built-in`, `measured` (read
    /// from the hosts by `--live`), `journals` (`--calibrate`) or
    /// `measured+journals`.
    pub figures: &'static str,
    /// The hosts as `--live` read them; None without `--live`.
    pub live: Option<crate::live::state::LiveState>,
}

impl Assumptions {
    pub fn new(plan: &Plan, scenario: &Scenario, fault_specs: &[String]) -> Assumptions {
        let costs = scenario.costs.clone().unwrap_or_default();
        let profile = crate::sim::fleet::Profile::default();
        let pickup = plan.config.baton.proxy_pickup_ms;
        Assumptions {
            from: scenario.from.clone(),
            faults: fault_specs.to_vec(),
            ssh_handshake_ms: costs.connect,
            ssh_round_trip_ms: costs.rtt,
            docker_run_ms: costs.run,
            docker_inspect_ms: costs.inspect,
            image_pull_ms: (!scenario.pulled).then_some(costs.pull),
            app_start_ms: scenario.app_start.unwrap_or(profile.start_ms),
            app_stop_ms: scenario.app_stop.unwrap_or(profile.stop_ms),
            health_check_ms: HEALTH_CHECK_MS,
            proxy_pickup_ms: pickup,
            proxy_jitter_ms: scenario.jitter.unwrap_or(pickup / 2),
            figures: scenario.figures,
            live: scenario.live.clone(),
        }
    }

    /// One paragraph (the flags that change each figure in brackets).
    pub fn text(&self) -> String {
        let s = |ms: Millis| crate::sim::compact::short_secs(ms).trim_end_matches('s').to_string();
        let pull = match self.image_pull_ms {
            Some(ms) => format!("pulling the image takes {}s (--pulled: the hosts have it)", s(ms)),
            None => "the hosts have the image (--pulled)".to_string(),
        };
        let from = match (&self.live, &self.from) {
            (Some(_), _) => "the hosts as read just now (--live)".to_string(),
            (None, Some(v)) => format!("every host runs {v} (--from)"),
            (None, None) => "a first deploy: no host runs the app (--from V0 to hand over from V0)".to_string(),
        };
        let faults = if self.faults.is_empty() {
            "no faults (--fault)".to_string()
        } else {
            format!("faults: {} (--fault)", self.faults.join(", "))
        };
        let figures = match self.figures {
            "built-in" => "",
            "measured" => " (measured on the hosts)",
            "journals" => " (from the journals, --calibrate)",
            _ => " (measured on the hosts and from the journals)",
        };
        format!(
            "Assumes: {from}; SSH handshake {}s, docker run {}s{figures}; the app answers {}s after its container starts (--app-start); the proxy notices a change after {}s + up to {}s (baton.proxy_pickup, --proxy-jitter); {pull}; {faults}.",
            s(self.ssh_handshake_ms),
            s(self.docker_run_ms),
            s(self.app_start_ms),
            s(self.proxy_pickup_ms),
            s(self.proxy_jitter_ms),
        )
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct WarningDoc {
    /// `config` (found reading deploy.yml), `live` (found reading the
    /// hosts, `--live`) or `baton` (during the run).
    pub source: &'static str,
    pub at_ms: Option<Time>,
    pub host: Option<String>,
    pub message: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct SummaryDoc {
    pub rows: Vec<Row>,
    pub wall_time_ms: Time,
    /// The longest serving gap on any host and role (0: none).
    pub longest_gap_ms: Time,
    pub outcome: &'static str,
}

/// How a command ended.
#[derive(Clone, Debug, Serialize)]
pub struct ResultDoc {
    pub at_ms: Time,
    pub took_ms: Millis,
    /// `exited`, `unreachable`, `not-connected` or `timed-out`.
    pub status: &'static str,
    pub code: Option<i32>,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct EffectDoc {
    pub id: u64,
    pub at_ms: Time,
    pub host: String,
    pub role: Option<String>,
    /// `run` (changes the host) or `poll` (only reads).
    pub kind: &'static str,
    /// What it is for (the step names of `--fault`).
    pub step: &'static str,
    pub cmd: String,
    /// None when the run ended before it was answered.
    pub result: Option<ResultDoc>,
}

/// One event: the core's own, or the simulated fleet's.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum EventKind {
    Progress { host: String, role: Option<String>, step: String },
    Audit { host: String, role: Option<String>, text: String },
    Warning { host: Option<String>, message: String },
    HostFailed { host: String, role: Option<String>, step: Option<String>, error: String },
    LockKept { host: String, reason: String },
    LockReleased { host: String },
    StepDone { host: String, role: Option<String>, name: String },
    Finished { outcome: &'static str },
    ContainerStarted { host: String, role: String, container: String },
    ContainerExited { host: String, role: String, container: String },
    Health { host: String, role: String, container: String, health: String },
    ProxyRoutes { host: String, role: String, container: String },
    ProxyUnroutes { host: String, role: String, container: String },
}

#[derive(Clone, Debug, Serialize)]
pub struct EventDoc {
    pub at_ms: Time,
    /// `baton` (the core reported it) or `fleet` (the simulated hosts did it).
    pub source: &'static str,
    #[serde(flatten)]
    pub event: EventKind,
}

#[derive(Clone, Debug, Serialize)]
pub struct LockDoc {
    pub host: String,
    /// What baton writes into the lock (decoded).
    pub details: String,
    /// `released`, `kept` (a failed boot keeps it on purpose),
    /// `held-by-another` (nothing changed), `not-taken`, or `left-held`
    /// (taken and never released).
    pub outcome: &'static str,
    /// Why it was kept.
    pub reason: Option<String>,
    /// The details of the lock found held by another deploy.
    pub found: Option<String>,
}

/// The whole document.
#[derive(Clone, Debug, Serialize)]
pub struct PlanDoc {
    pub schema: &'static str,
    pub baton_version: String,
    pub command: &'static str,
    pub service: String,
    pub version: String,
    pub seed: u64,
    pub now: String,
    pub hosts: Vec<String>,
    pub roles: Vec<String>,
    pub assumptions: Assumptions,
    pub warnings: Vec<WarningDoc>,
    pub summary: SummaryDoc,
    pub outcome: &'static str,
    pub duration_ms: Time,
    pub gaps: Vec<Gap>,
    pub failures: Vec<FailureLine>,
    pub lock: LockDoc,
    pub effects: Vec<EffectDoc>,
    pub events: Vec<EventDoc>,
    /// With `--live`: the hosts as read, one line each, for people.
    #[serde(skip)]
    pub live_lines: Vec<String>,
    /// Said in place of "simulated" in the text's first line (`replay`).
    #[serde(skip)]
    pub header_note: Option<String>,
}

fn outcome_str(o: &Outcome) -> &'static str {
    match o {
        Outcome::Succeeded => "succeeded",
        Outcome::LockHeld { .. } => "lock-held",
        Outcome::Failed { .. } => "failed",
    }
}

fn result_doc(issued: Time, at: Time, o: &Observation) -> ResultDoc {
    let base = ResultDoc {
        at_ms: at,
        took_ms: at.saturating_sub(issued),
        status: "exited",
        code: None,
        stdout: None,
        stderr: None,
        error: None,
    };
    match o {
        Observation::Exited { code, stdout, stderr, .. } => {
            ResultDoc { code: Some(*code), stdout: Some(stdout.clone()), stderr: Some(stderr.clone()), ..base }
        }
        Observation::Unreachable { error, .. } => {
            ResultDoc { status: "unreachable", error: Some(error.clone()), ..base }
        }
        Observation::NotConnected { error, .. } => {
            ResultDoc { status: "not-connected", error: Some(error.clone()), ..base }
        }
        Observation::TimedOut { .. } => ResultDoc { status: "timed-out", ..base },
    }
}

/// Every effect with its result, in issue order.
pub fn effects(sim: &Simulation) -> Vec<EffectDoc> {
    let answers: BTreeMap<u64, (Time, &Observation)> =
        sim.run.observations.iter().map(|(t, o)| (o.id().0, (*t, o))).collect();
    sim.run
        .effects
        .iter()
        .map(|(t, e)| {
            let c = e.cmd();
            EffectDoc {
                id: c.id.0,
                at_ms: *t,
                host: c.host.clone(),
                role: c.role.clone(),
                kind: if matches!(e, Effect::Poll(_)) { "poll" } else { "run" },
                step: action_kind(&c.action),
                cmd: c.cmd.render(),
                result: answers.get(&c.id.0).map(|(at, o)| result_doc(*t, *at, o)),
            }
        })
        .collect()
}

pub(crate) fn baton_event(ev: &Event) -> EventKind {
    match ev {
        Event::Progress { host, role, step } => {
            EventKind::Progress { host: host.clone(), role: role.clone(), step: step.describe().to_string() }
        }
        Event::Audit { host, role, text } => {
            EventKind::Audit { host: host.clone(), role: role.clone(), text: text.clone() }
        }
        Event::Warning { host, message } => EventKind::Warning { host: host.clone(), message: message.clone() },
        Event::HostFailed(f) => EventKind::HostFailed {
            host: f.host.clone(),
            role: f.role.clone(),
            step: f.step.map(|s| s.to_string()),
            error: f.why.to_string(),
        },
        Event::LockKept { host, reason } => EventKind::LockKept { host: host.clone(), reason: reason.clone() },
        Event::LockReleased { host } => EventKind::LockReleased { host: host.clone() },
        Event::StepDone(r) => {
            EventKind::StepDone { host: r.step.host.clone(), role: r.step.role.clone(), name: r.step.label.to_string() }
        }
        Event::Finished(o) => EventKind::Finished { outcome: outcome_str(o) },
    }
}

fn fleet_event(e: &FleetEvent) -> EventKind {
    let (host, role, container) = (e.host.clone(), e.role.clone(), e.container.clone());
    match &e.change {
        FleetChange::Started => EventKind::ContainerStarted { host, role, container },
        FleetChange::Exited => EventKind::ContainerExited { host, role, container },
        FleetChange::Health { health } => EventKind::Health { host, role, container, health: health.clone() },
        FleetChange::Proxy { routes: true } => EventKind::ProxyRoutes { host, role, container },
        FleetChange::Proxy { routes: false } => EventKind::ProxyUnroutes { host, role, container },
    }
}

/// The core's events and the fleet's, in time order (the core's first at
/// equal times).
pub fn events(sim: &Simulation) -> Vec<EventDoc> {
    let mut out: Vec<(Time, u8, usize, EventDoc)> = vec![];
    for (i, (t, ev)) in sim.run.events.iter().enumerate() {
        out.push((*t, 0, i, EventDoc { at_ms: *t, source: "baton", event: baton_event(ev) }));
    }
    for (i, e) in sim.fleet_events.iter().enumerate() {
        out.push((e.at_ms, 1, i, EventDoc { at_ms: e.at_ms, source: "fleet", event: fleet_event(e) }));
    }
    out.sort_by_key(|(t, s, i, _)| (*t, *s, *i));
    out.into_iter().map(|(_, _, _, e)| e).collect()
}

/// What became of the deploy lock.
pub fn lock(plan: &Plan, sim: &Simulation) -> LockDoc {
    let details = crate::ops::decode_lock_details(&crate::ops::lock_details(plan));
    let mut doc =
        LockDoc { host: plan.lock_host().to_string(), details, outcome: "not-taken", reason: None, found: None };
    let taken = sim.run.effects.iter().any(|(_, e)| {
        matches!(e.cmd().action, Action::LockAcquire { .. })
            && sim
                .run
                .observations
                .iter()
                .any(|(_, o)| o.id() == e.id() && matches!(o, Observation::Exited { code: 0, .. }))
    });
    if taken {
        doc.outcome = "left-held";
    }
    for (_, ev) in &sim.run.events {
        match ev {
            Event::LockReleased { .. } => doc.outcome = "released",
            Event::LockKept { reason, .. } => {
                doc.outcome = "kept";
                doc.reason = Some(reason.clone());
            }
            Event::Finished(Outcome::LockHeld { details }) => {
                doc.outcome = "held-by-another";
                doc.found = Some(details.clone());
            }
            _ => {}
        }
    }
    doc
}

/// The document for a finished simulation of `plan` in `scenario`.
pub fn build(plan: &Plan, scenario: &Scenario, sim: &Simulation, meta: &Meta) -> PlanDoc {
    let report = &sim.report;
    let rows = summary::rows(plan, scenario, &sim.run, report);
    let mut warnings: Vec<WarningDoc> = plan
        .config
        .warnings
        .iter()
        .map(|p| WarningDoc { source: "config", at_ms: None, host: None, message: p.to_string() })
        .collect();
    // The proxies' routing tables as read, where they differ from the containers.
    for (host, message) in scenario.live.iter().flat_map(|l| l.table_notes(plan)) {
        warnings.push(WarningDoc { source: "live", at_ms: None, host: Some(host), message });
    }
    for (t, ev) in &sim.run.events {
        if let Event::Warning { host, message } = ev {
            warnings.push(WarningDoc {
                source: "baton",
                at_ms: Some(*t),
                host: host.clone(),
                message: message.clone(),
            });
        }
    }
    PlanDoc {
        schema: SCHEMA,
        baton_version: meta.baton_version.clone(),
        command: meta.command,
        service: plan.config.service.clone(),
        version: plan.version.clone(),
        seed: scenario.seed,
        now: meta.now.clone(),
        hosts: plan.hosts.clone(),
        roles: plan.roles.clone(),
        assumptions: Assumptions::new(plan, scenario, &meta.fault_specs),
        warnings,
        summary: SummaryDoc {
            rows,
            wall_time_ms: report.duration_ms,
            longest_gap_ms: report.gaps.iter().map(|g| g.to_ms - g.from_ms).max().unwrap_or(0),
            outcome: report.outcome,
        },
        outcome: report.outcome,
        duration_ms: report.duration_ms,
        gaps: report.gaps.clone(),
        failures: report.failures.clone(),
        lock: lock(plan, sim),
        effects: effects(sim),
        events: events(sim),
        live_lines: scenario.live.as_ref().map(|l| l.lines(plan)).unwrap_or_default(),
        header_note: None,
    }
}
