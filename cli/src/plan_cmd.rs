//! `baton plan`: simulate `app boot` against a simulated fleet.

use crate::args::PlanOf;
use crate::load::UsageError;
use baton_core::config::{parse_duration, Config};
use baton_core::flow;
use baton_core::plan::Plan;
use baton_core::sim::calibrate::{self, Samples};
use baton_core::sim::compact::{self, View};
use baton_core::sim::doc::{self, Meta};
use baton_core::sim::fleet::{Fault, FaultKind, When, STEP_KINDS};
use baton_core::sim::{simulate, simulate_machine, Scenario};

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
    /// RFC 3339: the time the plan pretends it is.
    pub now: String,
    pub app_start: u64,
    pub proxy_jitter: Option<u64>,
    pub pulled: bool,
    /// `--timeline full`: every command, read and answer.
    pub full: bool,
    /// `--commands`: commands whole.
    pub whole_commands: bool,
    /// `--svg FILE`: the lanes as SVG.
    pub svg: Option<std::path::PathBuf>,
    /// `--command`: what to simulate.
    pub command: crate::args::PlanOf,
    /// `--build-time`: building and pushing the image (`deploy`, `redeploy`).
    pub build_ms: u64,
    /// `--live`: read the hosts first (read-only) and plan from what they run.
    pub live: bool,
    /// `--calibrate FILE…`: command times and health timing from journals.
    pub calibrate: Vec<std::path::PathBuf>,
}

/// Lines are cut (commands) or wrapped (prose) to this width when the
/// output is not a terminal.
pub const DEFAULT_WIDTH: usize = 160;

/// The terminal's width, or [`DEFAULT_WIDTH`] when stdout is not one.
fn width() -> usize {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return DEFAULT_WIDTH;
    }
    terminal_size::terminal_size().map_or(DEFAULT_WIDTH, |(w, _)| (w.0 as usize).max(60))
}

/// 2026-01-01T00:00:00Z plus `seed` seconds, modulo a year: the plan's time
/// when `--now` is not given, so that the same seed gives the same plan.
pub fn now_from_seed(seed: u64) -> String {
    const BASE: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z
    const YEAR: u64 = 365 * 86_400;
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(BASE + seed % YEAR);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Returns the exit code: 0 clean, 3 failed or gap.
pub fn run(plan: Plan, args: &PlanArgs) -> Result<i32, UsageError> {
    let cfg = plan.config.clone();
    let faults = args.faults.iter().map(|f| parse_fault(f, &cfg)).collect::<Result<Vec<_>, _>>()?;
    if let Some(v0) = &args.from {
        baton_core::config::names::check_version(v0)
            .map_err(|e| UsageError::new("--from", format!("{e}; give the version the hosts run now")))?;
    }
    let live = if args.live { Some(read_hosts(&plan)) } else { None };
    let journals = calibration_samples(&args.calibrate)?;
    let mut scenario = Scenario {
        from: args.from.clone(),
        faults,
        seed: args.seed,
        app_start: Some(args.app_start),
        jitter: args.proxy_jitter,
        pulled: args.pulled,
        build: Some(args.build_ms),
        stopped: (args.command == PlanOf::Rollback && live.is_none()).then(|| plan.version.clone()),
        ..Scenario::default()
    };
    calibrate(&mut scenario, &plan, live, journals);
    let meta = Meta {
        baton_version: env!("CARGO_PKG_VERSION").to_string(),
        now: args.now.clone(),
        fault_specs: args.faults.clone(),
        command: match args.command {
            PlanOf::Boot => "app boot",
            PlanOf::Deploy => "deploy",
            PlanOf::Redeploy => "redeploy",
            PlanOf::Rollback => "rollback",
        },
    };
    let sim = match args.command {
        PlanOf::Boot => simulate(plan.clone(), &scenario),
        PlanOf::Deploy | PlanOf::Redeploy | PlanOf::Rollback => {
            // The plan reads no secret: the login's user is a placeholder,
            // and the password (on stdin in a real run) is empty.
            let credentials = flow::Credentials { username: "<registry.username>".into(), password: String::new() };
            let hooks = crate::build_cmd::hooks(&plan, false);
            let f = flow::Flow { hooks, seed: args.seed, skip_push: false, credentials };
            let machine = match args.command {
                PlanOf::Deploy => flow::deploy(&plan, &f),
                PlanOf::Rollback => flow::rollback(&plan, &f),
                _ => flow::redeploy(&plan, &f),
            };
            simulate_machine(&plan, &scenario, machine)
        }
    };
    let doc = doc::build(&plan, &scenario, &sim, &meta);
    let text = if args.json {
        serde_json::to_string_pretty(&doc).expect("the plan serialises") + "\n"
    } else {
        let view = View { width: width(), whole_commands: args.whole_commands, full: args.full };
        let text = compact::render(&doc, &sim, &view);
        match anstream::AutoStream::choice(&std::io::stdout()) {
            anstream::ColorChoice::Never => text,
            _ => colour(&text),
        }
    };
    if let Some(path) = &args.svg {
        std::fs::write(path, baton_core::sim::lanes::svg(&doc, &sim)).map_err(|e| {
            UsageError::new(
                "--svg",
                format!("cannot write {}: {e}; give a file in a directory that exists", path.display()),
            )
        })?;
    }
    crate::out::print(&text);
    Ok(if sim.report.clean() { 0 } else { 3 })
}

/// `--live`: run the read-only survey over SSH (the interpreter's normal
/// path; the survey issues only reads and takes no lock).
fn read_hosts(plan: &Plan) -> baton_core::live::state::LiveState {
    use baton_core::live::Survey;
    let conns = baton_interpreter::Connections::new(crate::boot_cmd::ssh_options(&plan.config));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let mut survey = Survey::new(plan);
    runtime.block_on(async {
        let _ = baton_interpreter::run(&mut survey, conns.clone(), |r| {
            if let baton_interpreter::Report::Event(_, baton_core::effect::Event::Warning { host, message }) = r {
                crate::out::tell!("warning: {}: {message}", host.as_deref().unwrap_or("-"));
            }
        })
        .await;
        conns.close_all().await;
    });
    survey.state().clone()
}

/// `--calibrate FILE…`: the samples of every journal.
fn calibration_samples(files: &[std::path::PathBuf]) -> Result<Option<Samples>, UsageError> {
    if files.is_empty() {
        return Ok(None);
    }
    let mut all = Samples::default();
    for file in files {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file).map_err(|e| {
            UsageError::new("--calibrate", format!("cannot read {name} ({e}); pass a journal of a real run"))
        })?;
        let j = baton_core::journal::parse(&text).map_err(|e| match e.line() {
            Some(line) => UsageError(vec![format!("{name}:{line}: {e}")]),
            None => UsageError(vec![format!("{name}: {e}")]),
        })?;
        all.extend(&calibrate::from_journal(&j));
    }
    Ok(Some(all))
}

/// The figures of the simulated fleet: the hosts' measured times (`--live`)
/// for the SSH handshake, round trip and reads, the journals' for the rest
/// (`--calibrate`), the built-in ones for what neither measured.
fn calibrate(
    scenario: &mut Scenario,
    plan: &Plan,
    live: Option<baton_core::live::state::LiveState>,
    journals: Option<Samples>,
) {
    let mut samples = journals.clone().unwrap_or_default();
    if let Some(l) = &live {
        let m = l.calibration_samples();
        for (mine, theirs) in
            [(&mut samples.first, &m.first), (&mut samples.trip, &m.trip), (&mut samples.inspect, &m.inspect)]
        {
            if !theirs.is_empty() {
                *mine = theirs.clone();
            }
        }
    }
    let measured = live.as_ref().is_some_and(|l| !l.samples.trip.is_empty());
    scenario.figures = match (measured, journals.is_some()) {
        (false, false) => "built-in",
        (true, false) => "measured",
        (false, true) => "journals",
        (true, true) => "measured+journals",
    };
    if !samples.is_empty() {
        let interval = plan.roles.iter().find_map(|r| plan.config.role(r).and_then(|r| r.spec.health_interval_ms()));
        let c = samples.calibrate(&scenario.costs.clone().unwrap_or_default(), interval);
        scenario.costs = Some(c.costs);
        if let Some(ms) = c.app_start {
            scenario.app_start = Some(ms);
        }
        scenario.app_stop = c.app_stop;
    }
    scenario.live = live;
}

/// Colour for a terminal (the text is the same without it): failures and
/// gaps red, serving green, the proxy cyan, health turning, the lanes.
fn colour(text: &str) -> String {
    use anstyle::AnsiColor::{Blue, Cyan, Green, Red, Yellow};
    let paint = |s: &str, style: anstyle::Style| format!("{style}{s}{style:#}");
    let rules: [(&str, anstyle::Style); 14] = [
        ("FAILED", Red.on_default().bold()),
        ("FAILS", Red.on_default().bold()),
        ("GAP ", Red.on_default().bold()),
        ("kept serving", Green.on_default()),
        ("the deploy succeeds", Green.on_default().bold()),
        ("deploy succeeded", Green.on_default().bold()),
        ("turns healthy", Green.on_default()),
        ("turns unhealthy", Yellow.on_default()),
        ("stops routing to", Cyan.on_default()),
        ("routes to", Cyan.on_default()),
        ("░", Yellow.on_default()),
        ("█", Green.on_default()),
        ("▓", Blue.on_default()),
        ("×", Red.on_default().bold()),
    ];
    let mut out = text.to_string();
    for (word, style) in rules {
        out = out.replace(word, &paint(word, style));
    }
    out
}
