//! Commands run as phases of per-host scripts ([`baton_core::batch`]):
//! lock, env push, and the other `app` commands. A mutating command runs as
//! a [`baton_core::sequence::Sequence`] under the lock, through the same
//! interpreter loop as `app boot`, with the same Ctrl-C rule.

use crate::out::tell;
use baton_core::batch::{Kind, Phase, StepResult};
use baton_core::effect::{Event, Observation, Outcome};
use baton_core::failure::Why;
use baton_core::machine::Machine;
use baton_core::trace::Trace;
use baton_interpreter::{Connections, Report, SshOptions};

pub struct Run {
    pub results: Vec<StepResult>,
    /// How the run ended; Err after a second Ctrl-C.
    pub outcome: Result<Outcome, baton_interpreter::Aborted>,
}

impl Run {
    /// The lock was not taken (its step failed), so nothing else ran.
    pub fn lock_failed(&self) -> Option<&StepResult> {
        self.results.iter().find(|r| r.step.kind == Kind::Lock && !r.ok())
    }

    /// The run was interrupted (Ctrl-C once, or twice).
    pub fn interrupted(&self) -> bool {
        match &self.outcome {
            Ok(Outcome::Failed { failures }) => failures.iter().any(|f| f.why.is_interrupt()),
            Ok(_) => false,
            Err(_) => true,
        }
    }
}

/// Run `phases` over SSH; `verbose` prints every command with its result.
/// Ctrl-C: the commands in flight finish, nothing else starts, the lock is
/// released; a second Ctrl-C stops at once.
pub fn run(phases: Vec<Phase>, ssh: SshOptions, verbose: bool) -> Run {
    run_machine(baton_core::ops::machine(phases), ssh, verbose)
}

/// Run a machine made of batches (a [`baton_core::sequence::Sequence`]) as [`run`] does.
pub fn run_machine(machine: baton_core::sequence::Sequence, ssh: SshOptions, verbose: bool) -> Run {
    let mut results = vec![];
    let outcome = drive(machine, ssh, verbose, |_, ev| match ev {
        Event::StepDone(s) => results.push((**s).clone()),
        Event::Warning { message, .. } => tell!("warning: {message}"),
        _ => {}
    });
    let run = Run { results, outcome };
    report_interrupt(&run);
    run
}

/// Run any machine over SSH through the one interpreter loop; `on_event`
/// sees every event; `verbose` prints every command, answer and wake-up.
pub fn drive<M: Machine>(
    machine: M,
    ssh: SshOptions,
    verbose: bool,
    mut on_event: impl FnMut(u64, &Event),
) -> Result<Outcome, baton_interpreter::Aborted> {
    let conns = Connections::new(ssh);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let mut trace = Trace::with_durations();
    runtime.block_on(async {
        let o = baton_interpreter::run(machine, conns.clone(), |r| {
            if let Report::Event(t, ev) = &r {
                on_event(*t, ev);
            }
            if !verbose {
                return;
            }
            match r {
                Report::Effect(t, e) => trace.effect(t, &e),
                Report::Observation(t, o) => trace.observation(t, &o),
                Report::Wake(t, w) => trace.wake(t, &w),
                Report::Event(..) | Report::Interrupt(_) | Report::Output(..) => return,
            }
            if let Some(l) = trace.lines().last() {
                eprintln!("{l}");
            }
        })
        .await;
        conns.close_all().await;
        o
    })
}

/// After Ctrl-C: what did not run, and where the lock stands.
pub fn report_interrupt(run: &Run) {
    match &run.outcome {
        Err(aborted) => {
            tell!("Aborted at once (second interrupt). Commands that may or may not have run:");
            for (host, note) in &aborted.notes {
                tell!("  {host}: {note}");
            }
            if run.results.iter().any(|r| r.step.kind == Kind::Lock && r.ok()) {
                tell!("The deploy lock may still be held: check with `baton lock status`, release it with `baton lock release`.");
            }
        }
        Ok(Outcome::Failed { failures }) if failures.iter().any(|f| f.why.is_interrupt()) => {
            let hosts: Vec<&str> =
                failures.iter().filter(|f| matches!(f.why, Why::NotRun { .. })).map(|f| f.host.as_str()).collect();
            if hosts.is_empty() {
                tell!("Interrupted: the commands in flight finished; nothing else ran.");
            } else {
                tell!("Interrupted: the commands in flight finished; nothing else ran on {}.", hosts.join(", "));
            }
            let released = run.results.iter().any(|r| r.step.kind == Kind::Unlock && r.ok());
            let taken = run.results.iter().any(|r| r.step.kind == Kind::Lock && r.ok());
            if released {
                tell!("The deploy lock was released. Run the command again to finish it.");
            } else if taken {
                tell!("The deploy lock could not be released: run `baton lock release`.");
            }
        }
        _ => {}
    }
}

/// A failed step in words: host, what, and what the host said.
pub fn describe_failure(r: &StepResult) -> String {
    let role = r.step.role.as_deref().map(|x| format!(" [{x}]")).unwrap_or_default();
    let what = match &r.observation {
        Observation::Exited { code, stderr, stdout, .. } => {
            let msg = if stderr.trim().is_empty() { stdout.trim() } else { stderr.trim() };
            format!("exit code {code}{}{msg}", if msg.is_empty() { "" } else { ": " })
        }
        Observation::Unreachable { error, .. } => format!("host unreachable: {error}"),
        Observation::NotConnected { error, .. } => format!("host unreachable, so it did not run: {error}"),
        Observation::TimedOut { after_ms, .. } => {
            format!("no answer within {} s; the command may still be running there", after_ms / 1000)
        }
    };
    let host = if r.step.host == baton_core::effect::LOCAL { "local" } else { r.step.host.as_str() };
    format!("{host}{role}: {} failed: {what}", r.step.label)
}
