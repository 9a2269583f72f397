//! `baton app boot`: the core's deploy, driven over SSH.

use crate::out::{say, tell};
use baton_core::config::Config;
use baton_core::effect::{Event, Outcome};
use baton_core::plan::Plan;
use baton_core::time::fmt_secs;
use baton_core::trace::Trace;
use baton_interpreter::{Connections, Report, SshOptions};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// SSH options from the config (`ssh:`, `sshkit:`, `baton:`).
pub fn ssh_options(cfg: &Config) -> SshOptions {
    SshOptions {
        user: cfg.ssh.user.clone(),
        port: cfg.ssh.port,
        // Every host of the app and of the accessories (`host:port` included).
        endpoints: cfg.host_specs.keys().map(|h| (h.clone(), cfg.ssh_endpoint(h))).collect(),
        proxy: cfg.ssh.proxy.clone(),
        keys: cfg.ssh.keys.iter().map(|k| expand_home(k)).collect(),
        config_file: cfg.ssh.config.as_deref().map(expand_home),
        known_hosts: cfg.baton.known_hosts,
        known_hosts_file: cfg.baton.known_hosts_file.as_deref().map(expand_home),
        connect_timeout: Duration::from_millis(cfg.baton.connect_timeout_ms),
        command_timeout: Duration::from_millis(cfg.baton.command_timeout_ms),
        max_concurrent_starts: cfg.max_concurrent_starts,
        max_commands_per_host: 8,
        persist: persist(cfg.baton.ssh_persist_ms),
    }
}

/// `baton.ssh_persist`, if set and its directory is safe to use (else a
/// warning, and connections close at the command's end as without it).
fn persist(ms: u64) -> Option<Duration> {
    if ms == 0 {
        return None;
    }
    match baton_interpreter::persist_dir() {
        Ok(_) => Some(Duration::from_millis(ms)),
        Err(e) => {
            tell!("warning: baton.ssh_persist: {e}; the SSH connections close when this command ends");
            None
        }
    }
}

pub struct BootArgs {
    pub verbose: bool,
    pub quiet: bool,
    pub seed: u64,
    /// The journal's header: a real run writes one (`baton replay`).
    pub journal: Option<baton_core::journal::Header>,
}

/// What a run is called in its messages: `Booting v2`, `The boot of v2 failed`.
pub struct Words {
    pub start: String,
    pub done: String,
    pub failed: String,
}

/// Run the boot; returns the exit code (0 success, 1 failure).
pub fn run(plan: Plan, args: &BootArgs) -> i32 {
    let version = plan.version.clone();
    let hosts = plan.hosts.clone();
    let primary = plan.config.primary_host().to_string();
    let words = Words {
        start: format!("Booting {version} on {} ({} host(s))...", hosts.join(", "), hosts.len()),
        done: format!("Booted {version} on every host; the deploy lock on {primary} is released."),
        failed: format!("The boot of {version} failed:"),
    };
    let deploy = baton_core::deploy::Deploy::new(plan.clone(), args.seed, 0);
    drive(deploy, &plan, args, &words)
}

/// Run any machine over `plan`'s hosts with live progress, and say how it
/// ended; returns the exit code (0 success, 1 failure, 130 aborted).
pub fn drive<M: baton_core::machine::Machine>(machine: M, plan: &Plan, args: &BootArgs, words: &Words) -> i32 {
    let primary = plan.config.primary_host().to_string();
    let hosts = plan.hosts.clone();
    let contacted = plan.contacted_hosts();
    let diagnosis_plan = plan.clone();
    let conns = Connections::new(ssh_options(&plan.config));
    if !args.quiet {
        say!("{}", words.start);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let mut trace = Trace::with_durations();
    let verbose = args.verbose;
    let quiet = args.quiet;
    // One live line per host on a terminal; plain lines otherwise.
    let mut live = (!quiet && !verbose && std::io::stdout().is_terminal()).then(|| crate::live::Live::new(&hosts));
    // With --verbose: how long each host spent in each step.
    let mut steps = StepTimes::default();
    let keep = plan.config.baton.journal_keep;
    let mut journal = args.journal.as_ref().map(|h| crate::journal::Writer::start(h, keep));
    // Where the lock ended: kept on purpose (and why), or released.
    let mut lock_end: Option<LockEnd> = None;
    let mut report = |r: Report| match r {
        Report::Wake(t, w) if verbose => {
            trace.wake(t, &w);
            print_last(&trace);
        }
        Report::Effect(t, e) if verbose => {
            trace.effect(t, &e);
            print_last(&trace);
        }
        Report::Effect(_, e) => {
            if let Some(l) = live.as_mut() {
                l.effect(&e);
            }
        }
        // A running build's lines: on the live display only (plain output
        // and --verbose show its output once it is done).
        Report::Output(_, host, line) => {
            if let Some(l) = live.as_mut() {
                l.output(&host, &line);
            }
        }
        Report::Observation(t, o) if verbose => {
            trace.observation(t, &o);
            print_last(&trace);
        }
        Report::Event(t, ev) => match live.as_mut() {
            _ if verbose => {
                steps.record(t, &ev);
                print_event(t, &ev, quiet)
            }
            Some(l) => l.event(&ev, || print_event(t, &ev, false)),
            None => print_event(t, &ev, quiet),
        },
        _ => {}
    };
    let outcome = runtime.block_on(async {
        conns.warm_up(&contacted);
        let outcome = baton_interpreter::run(machine, conns.clone(), |r| {
            if let Some(j) = journal.as_mut() {
                j.record(&r);
            }
            if let Report::Event(_, ev) = &r {
                LockEnd::note(&mut lock_end, ev);
            }
            report(r)
        })
        .await;
        conns.close_all().await;
        outcome
    });
    if let Some(path) = journal.as_ref().and_then(|j| j.path()).filter(|_| verbose) {
        say!("journal: {} (`baton replay` replays it)", path.display());
    }
    if let Some(l) = live.take() {
        l.finish();
    }
    if verbose {
        steps.print();
    }
    let outcome = match outcome {
        Ok(o) => o,
        Err(aborted) => {
            tell!("Aborted at once (second interrupt). The lock on {primary} stays held. What may be half-done:");
            for (host, note) in &aborted.notes {
                tell!("  {host}: {note}");
            }
            if aborted.notes.is_empty() {
                tell!("  no host was in the middle of a step");
            }
            tell!("Check those hosts, then `baton lock release` and boot again: a new boot converges.");
            return 130;
        }
    };
    match outcome {
        Outcome::Succeeded => {
            if !quiet {
                say!("{}", words.done);
            }
            0
        }
        Outcome::LockHeld { details } => {
            match plan.lock_wait {
                Some(w) => tell!(
                    "The deploy lock on {primary} was still held after waiting {}; nothing was changed:",
                    baton_core::lockwait::fmt_span(w)
                ),
                None => tell!("Deploy lock found on {primary}; nothing was changed:"),
            }
            for l in details.lines() {
                tell!("  {l}");
            }
            tell!("Wait for that deploy to finish, or, if nobody is deploying, run `baton lock release`.");
            1
        }
        Outcome::Failed { failures } => {
            tell!("{}", words.failed);
            for f in &failures {
                tell!("  {f}");
            }
            crate::parts_cmd::after_failed_boot(&diagnosis_plan, &failures, verbose);
            match lock_end {
                Some(LockEnd::Kept { host }) => tell!(
                    "The deploy lock on {host} is kept (see above). Check those hosts, then `baton lock release` and run the command again: it converges."
                ),
                Some(LockEnd::Released { host }) => {
                    tell!("The deploy lock on {host} was released. Run the command again to finish the job.")
                }
                None => {}
            }
            1
        }
    }
}

fn print_last(trace: &Trace) {
    if let Some(l) = trace.lines().last() {
        say!("{l}");
    }
}

fn print_event(t: u64, ev: &Event, quiet: bool) {
    let at = fmt_secs(t);
    match ev {
        Event::Progress { host, role, step } if !quiet => {
            let role = role.as_deref().map(|r| format!(" {r}")).unwrap_or_default();
            say!("[{at:>7}s] {host}{role}: {step}");
        }
        Event::Warning { host, message } => {
            let h = host.as_deref().map(|h| format!("{h}: ")).unwrap_or_default();
            tell!("[{at:>7}s] warning: {h}{message}");
        }
        Event::HostFailed(f) => tell!("[{at:>7}s] FAILED {f}"),
        Event::LockKept { host, reason } => tell!("[{at:>7}s] the deploy lock on {host} is kept: {reason}"),
        Event::StepDone(r) if !quiet => {
            let host = if r.step.host == baton_core::effect::LOCAL { "local" } else { r.step.host.as_str() };
            match r.ok() {
                true => say!("[{at:>7}s] {host}: {}", r.step.label),
                false if !r.step.checked => say!("[{at:>7}s] {host}: {} (exit code ignored)", r.step.label),
                false => tell!("[{at:>7}s] {host}: {} FAILED", r.step.label),
            }
        }
        _ => {}
    }
}

/// Where a run left the deploy lock, from its events: the last word wins
/// (a run that takes the lock again after releasing it is not one of ours).
#[derive(Clone, Debug, PartialEq, Eq)]
enum LockEnd {
    Kept { host: String },
    Released { host: String },
}

impl LockEnd {
    fn note(end: &mut Option<LockEnd>, ev: &Event) {
        match ev {
            Event::LockKept { host, .. } => *end = Some(LockEnd::Kept { host: host.clone() }),
            Event::LockReleased { host } => *end = Some(LockEnd::Released { host: host.clone() }),
            _ => {}
        }
    }
}

/// `app boot --dry-run`: the commands of a simulated first boot, per host;
/// with `verbose`, the status reads too. What really runs depends on what
/// the hosts run now; `baton plan --from V0` shows a handover.
pub fn dry_run(plan: Plan, seed: u64, verbose: bool) -> i32 {
    let scenario = baton_core::sim::Scenario { seed, ..Default::default() };
    let sim = baton_core::sim::simulate(plan, &scenario);
    let header = if verbose {
        "# app boot --dry-run --verbose: every command, status reads included, for hosts running no version yet\n# (as a simulated boot issues them; `baton plan --from <running version>` shows a whole handover)\n"
    } else {
        "# app boot --dry-run: the commands that change the hosts, for hosts running no version yet\n# (status reads are left out, --verbose shows them; `baton plan --from <running version>` shows a whole handover)\n"
    };
    print_dry_run(&sim, header, "app boot", verbose)
}

/// The commands of a simulated run, per host (`local` for the machine
/// baton runs on), after `header`. Standard input (a password) is never shown.
pub fn print_dry_run(sim: &baton_core::sim::Simulation, header: &str, what: &str, verbose: bool) -> i32 {
    let mut by_host: Vec<(String, Vec<String>)> = vec![];
    for (_, e) in &sim.run.effects {
        let c = e.cmd();
        if e.is_poll() && !verbose {
            continue;
        }
        let host = if c.is_local() { "local".to_string() } else { c.host.clone() };
        match by_host.iter_mut().find(|(h, _)| *h == host) {
            Some((_, v)) => v.push(c.cmd.render()),
            None => by_host.push((host, vec![c.cmd.render()])),
        }
    }
    let mut out = String::from(header);
    for (h, cmds) in by_host {
        out.push_str(&crate::app_cmd::host_header(&h));
        out.push('\n');
        for c in cmds {
            out.push_str("  ");
            out.push_str(&c);
            out.push('\n');
        }
    }
    crate::out::print(&out);
    if sim.report.outcome != "succeeded" {
        // A run on simulated hosts cannot fail: the list above is cut short.
        tell!(
            "error: {what} --dry-run: the simulated run did not complete, so the commands above are not all of them:"
        );
        for f in &sim.report.failures {
            tell!("  {}: {}", f.host, f.error);
        }
        return 1;
    }
    0
}

/// Time spent per host in each step (from progress events), for `--verbose`.
#[derive(Default)]
struct StepTimes {
    /// host → (current step, since), and the totals per step.
    current: std::collections::BTreeMap<String, (baton_core::effect::Step, u64)>,
    totals: std::collections::BTreeMap<String, Vec<(baton_core::effect::Step, u64)>>,
}

impl StepTimes {
    fn record(&mut self, t: u64, ev: &Event) {
        let Event::Progress { host, step, .. } = ev else { return };
        if let Some((prev, since)) = self.current.insert(host.clone(), (*step, t)) {
            self.totals.entry(host.clone()).or_default().push((prev, t.saturating_sub(since)));
        }
    }

    fn print(&self) {
        for (host, steps) in &self.totals {
            let parts: Vec<String> = steps
                .iter()
                .filter(|(_, d)| *d > 0)
                .map(|(s, d)| format!("{}={}", step_key(*s), fmt_secs(*d)))
                .collect();
            say!("timing {host}: {}", parts.join(" "));
        }
    }
}

/// A short, stable name for a step in timing lines.
fn step_key(s: baton_core::effect::Step) -> String {
    format!("{s:?}")
        .chars()
        .flat_map(|c| if c.is_uppercase() { vec!['_', c.to_ascii_lowercase()] } else { vec![c] })
        .skip(1)
        .collect()
}
