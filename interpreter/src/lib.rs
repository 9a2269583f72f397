//! baton-interpreter: carries out a baton-core machine's effects over SSH and
//! feeds the results back. It decides nothing about a deploy.
//!
//! - one SSH master connection per host (OpenSSH ControlMaster, through the
//!   `openssh` crate), opened on first use and reused for every command;
//! - a semaphore caps connections being opened at once
//!   (`sshkit.max_concurrent_starts`), another caps commands per host
//!   (kept below sshd's `MaxSessions`);
//! - every effect becomes one remote command with a timeout, and every
//!   outcome one observation stamped with the time it arrived.

mod local;
mod ssh;

pub use ssh::{persist_dir, Connections, KnownHostsPolicy, RemoteOutput, SshOptions};

use baton_core::effect::{Effect, Event, Observation, Outcome};
use baton_core::machine::Machine;
use baton_core::time::Time;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// What the driver reports as a run goes, for the CLI to print.
#[derive(Debug, Clone)]
pub enum Report {
    Effect(Time, Effect),
    Observation(Time, Observation),
    Event(Time, Event),
    /// A deadline came due; the machine is woken for it.
    Wake(Time, baton_core::machine::Wake),
    /// The first SIGINT or SIGTERM: the machine is told to stop
    /// ([`Machine::handle_interrupt`]) at this time.
    Interrupt(Time),
    /// A line of output of a command still running on this machine (a
    /// build, a hook), for display only: the machine never sees it (its
    /// observation holds the whole output), and journals leave it out.
    /// (when, which host: [`baton_core::effect::LOCAL`], the line)
    Output(Time, String, String),
}

/// What an effect's task sends back: lines of output while it runs, then
/// its observation. One channel, so every line comes before its observation.
enum Done {
    Line(String, String),
    Observed(Observation),
}

/// A second interrupt: baton stopped at once. Per host, what may be left.
#[derive(Debug, Clone)]
pub struct Aborted {
    pub notes: Vec<(String, String)>,
}

/// Run any machine to its end against real hosts: `app boot`, every other
/// command, and sequences of them. `report` sees every effect, observation,
/// wake-up, interrupt and event as it happens. The first SIGINT or SIGTERM becomes
/// [`Machine::handle_interrupt`]: every machine then brings its hosts to a
/// safe point and finishes as it documents; a second one aborts at once,
/// with the machine's notes on what may be half-done. Connections stay
/// open in `conns` (close them with [`Connections::close_all`]).
pub async fn run<M: Machine>(
    mut machine: M,
    conns: Arc<Connections>,
    mut report: impl FnMut(Report),
) -> Result<Outcome, Aborted> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigint = signal(SignalKind::interrupt()).ok();
    let mut sigterm = signal(SignalKind::terminate()).ok();
    let mut interrupts = 0;
    let start = Instant::now();
    let now = move || start.elapsed().as_millis() as Time;
    let (tx, mut rx) = mpsc::unbounded_channel::<Done>();
    let mut outcome = None;
    loop {
        // The same order as the core's driver: events, then effects.
        while let Some(ev) = machine.poll_event() {
            if let Event::Finished(o) = &ev {
                outcome = Some(o.clone());
            }
            report(Report::Event(now(), ev));
        }
        while let Some(effect) = machine.poll_effect() {
            report(Report::Effect(now(), effect.clone()));
            spawn_effect(effect, &conns, &tx);
        }
        if let Some(o) = outcome {
            return Ok(o);
        }
        let wake = machine.poll_timeout();
        let deadline = wake.as_ref().map(|w| start + Duration::from_millis(w.at));
        tokio::select! {
            _ = next_signal(&mut sigint, &mut sigterm) => {
                interrupts += 1;
                if interrupts > 1 {
                    return Err(Aborted { notes: machine.state_notes() });
                }
                let t = now();
                report(Report::Interrupt(t));
                machine.handle_interrupt(t);
            }
            done = rx.recv() => {
                let obs = match done {
                    Some(Done::Observed(obs)) => obs,
                    Some(Done::Line(host, line)) => {
                        report(Report::Output(now(), host, line));
                        continue;
                    }
                    None => continue,
                };
                let t = now();
                report(Report::Observation(t, obs.clone()));
                machine.handle_observation(&obs, t);
            }
            _ = sleep_until(deadline) => {
                let t = now();
                if let Some(w) = wake {
                    report(Report::Wake(t, w));
                }
                machine.handle_timeout(t);
            }
        }
    }
}

/// Carry out `effect` in its own task; its lines of output as they come
/// (local commands), then its observation, go to `tx`.
fn spawn_effect(effect: Effect, conns: &Arc<Connections>, tx: &mpsc::UnboundedSender<Done>) {
    let (conns, tx) = (conns.clone(), tx.clone());
    tokio::spawn(async move {
        // The receiver is gone only when the run is over.
        let lines = tx.clone();
        let host = effect.cmd().host.clone();
        let on_line = move |l: String| {
            let _ = lines.send(Done::Line(host.clone(), l));
        };
        let obs = conns.execute_with(&effect, &on_line).await;
        let _ = tx.send(Done::Observed(obs));
    });
}

async fn next_signal(a: &mut Option<tokio::signal::unix::Signal>, b: &mut Option<tokio::signal::unix::Signal>) {
    async fn one(s: &mut Option<tokio::signal::unix::Signal>) {
        match s {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    }
    tokio::select! {
        _ = one(a) => {}
        _ = one(b) => {}
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending::<()>().await,
    }
}
