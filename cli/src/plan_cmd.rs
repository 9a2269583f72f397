//! `baton plan`: simulate `app boot` against a simulated fleet.

use crate::load::UsageError;
use baton_core::config::{parse_duration, Config};
use baton_core::plan::Plan;
use baton_core::sim::fleet::{Fault, FaultKind, When, STEP_KINDS};
use baton_core::sim::{simulate, Scenario};

/// Parse `HOST=KIND[:ARG][@WHEN]`.
pub fn parse_fault(spec: &str, cfg: &Config) -> Result<Fault, UsageError> {
    let usage = "write HOST=unreachable[@TIME|@STEP], HOST=never-healthy, HOST=crash, HOST=slow:DURATION, HOST=fail:STEP or HOST=drop:STEP";
    let bad = |what: String| UsageError::new(&format!("--fault {spec:?}"), what);
    let (host, what) = spec.split_once('=').ok_or_else(|| bad(format!("expected HOST=KIND; {usage}")))?;
    if !cfg.all_hosts().iter().any(|h| h == host) {
        return Err(bad(format!("{host:?} is not a host in the config; use one of: {}", cfg.all_hosts().join(", "))));
    }
    let step = |s: &str| -> Result<String, UsageError> {
        if STEP_KINDS.contains(&s) {
            Ok(s.to_string())
        } else {
            Err(bad(format!("there is no step {s:?}; use one of: {}", STEP_KINDS.join(", "))))
        }
    };
    let (kind, arg) = match what.split_once([':', '@']) {
        Some((k, a)) => (k, Some(a)),
        None => (what, None),
    };
    let kind = match (kind, arg) {
        ("unreachable", None) => FaultKind::Unreachable(When::Always),
        ("unreachable", Some(a)) => match parse_duration(a) {
            Some(ms) => FaultKind::Unreachable(When::At(ms)),
            None => FaultKind::Unreachable(When::Step(step(a)?)),
        },
        ("never-healthy", None) => FaultKind::NeverHealthy,
        ("crash", None) => FaultKind::Crash,
        ("slow", Some(a)) => FaultKind::SlowHealth(
            parse_duration(a).ok_or_else(|| bad(format!("{a:?} is not a duration; write e.g. 5s or 800ms")))?,
        ),
        ("fail", Some(a)) => FaultKind::CommandFails(step(a)?),
        ("drop", Some(a)) => FaultKind::DropConnection(step(a)?),
        _ => return Err(bad(format!("unknown fault; {usage}"))),
    };
    Ok(Fault { host: host.to_string(), kind })
}

pub struct PlanArgs {
    pub from: Option<String>,
    pub faults: Vec<String>,
    pub seed: u64,
    pub json: bool,
    pub app_start: u64,
    pub proxy_jitter: Option<u64>,
    pub pulled: bool,
}

/// Returns the exit code: 0 clean, 3 failed or gap.
pub fn run(plan: Plan, args: &PlanArgs) -> Result<i32, UsageError> {
    let cfg = plan.config.clone();
    let faults = args.faults.iter().map(|f| parse_fault(f, &cfg)).collect::<Result<Vec<_>, _>>()?;
    if let Some(v0) = &args.from {
        baton_core::config::names::check_version(v0)
            .map_err(|e| UsageError::new("--from", format!("{e}; give the version the hosts run now")))?;
    }
    let scenario = Scenario {
        from: args.from.clone(),
        faults,
        seed: args.seed,
        app_start: Some(args.app_start),
        jitter: args.proxy_jitter,
        pulled: args.pulled,
        ..Scenario::default()
    };
    let assumptions = assumptions(&plan, &scenario);
    let version = plan.version.clone();
    let hosts = plan.hosts.len();
    let sim = simulate(plan, &scenario);
    let text = if args.json {
        serde_json::to_string_pretty(&sim.report).expect("report serialises") + "\n"
    } else {
        let from = args.from.as_deref().map(|v| format!(" from {v}")).unwrap_or_else(|| " (first deploy)".into());
        format!(
            "baton plan: app boot of {version} on {hosts} host(s){from}, seed {} (simulated; nothing is contacted)\n{assumptions}\n{}\n{}",
            args.seed,
            sim.run.trace.render(),
            sim.report.summary()
        )
    };
    crate::out::print(&text);
    Ok(if sim.report.clean() { 0 } else { 3 })
}

/// What the prediction assumes, in one paragraph (the flags change it).
fn assumptions(plan: &Plan, scenario: &Scenario) -> String {
    let costs = baton_core::sim::fleet::Costs::default();
    let cfg = &plan.config;
    let s = baton_core::time::fmt_secs;
    let jitter = scenario.jitter.unwrap_or(cfg.baton.proxy_pickup_ms / 2);
    let pull = if scenario.pulled {
        "the hosts have the image".to_string()
    } else {
        format!("pulling the image takes {}s (--pulled: the hosts have it)", s(costs.pull))
    };
    format!(
        "Assumes: SSH handshake {}s, docker run {}s, the app answers {}s after its container starts (--app-start), the proxy notices a change after {}s + up to {}s (baton.proxy_pickup, --proxy-jitter); {pull}.\n",
        s(costs.connect),
        s(costs.run),
        s(scenario.app_start.unwrap_or_default()),
        s(cfg.baton.proxy_pickup_ms),
        s(jitter),
    )
}
