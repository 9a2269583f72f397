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

mod ssh;

pub use ssh::{Connections, KnownHostsPolicy, RemoteOutput, SshOptions};

use baton_core::deploy::Deploy;
use baton_core::effect::{Effect, Event, Observation, Outcome};
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
}

/// Run `deploy` to its end against real hosts. `report` sees every effect,
/// observation and event as it happens. Connections stay open in `conns`
/// (close them with [`Connections::close_all`]).
/// A second interrupt: baton stopped at once. Per host, what may be left.
#[derive(Debug, Clone)]
pub struct Aborted {
    pub notes: Vec<(String, String)>,
}

/// Run `deploy` to its end against real hosts. `report` sees every effect,
/// observation and event as it happens. The first SIGINT or SIGTERM becomes
/// [`Deploy::handle_interrupt`]; a second one aborts at once.
pub async fn drive(
    mut deploy: Deploy,
    conns: Arc<Connections>,
    mut report: impl FnMut(Report),
) -> Result<Outcome, Aborted> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigint = signal(SignalKind::interrupt()).ok();
    let mut sigterm = signal(SignalKind::terminate()).ok();
    let mut interrupts = 0;
    let start = Instant::now();
    let now = move || start.elapsed().as_millis() as Time;
    let (tx, mut rx) = mpsc::unbounded_channel::<Observation>();
    let mut outcome = None;
    loop {
        while let Some(effect) = deploy.poll_effect() {
            report(Report::Effect(now(), effect.clone()));
            spawn_effect(effect, &conns, &tx);
        }
        while let Some(ev) = deploy.poll_event() {
            if let Event::Finished(o) = &ev {
                outcome = Some(o.clone());
            }
            report(Report::Event(now(), ev));
        }
        if let Some(o) = outcome {
            return Ok(o);
        }
        let deadline = deploy.poll_timeout().map(|t| start + Duration::from_millis(t));
        tokio::select! {
            _ = next_signal(&mut sigint, &mut sigterm) => {
                interrupts += 1;
                if interrupts > 1 {
                    return Err(Aborted { notes: deploy.state_notes() });
                }
                deploy.handle_interrupt(now());
            }
            obs = rx.recv() => {
                let Some(obs) = obs else { continue };
                let t = now();
                report(Report::Observation(t, obs.clone()));
                deploy.handle_observation(&obs, t);
            }
            _ = sleep_until(deadline) => {
                deploy.handle_timeout(now());
            }
        }
    }
}

/// Carry out `effect` in its own task; its observation goes to `tx`.
fn spawn_effect(effect: Effect, conns: &Arc<Connections>, tx: &mpsc::UnboundedSender<Observation>) {
    let (conns, tx) = (conns.clone(), tx.clone());
    tokio::spawn(async move {
        let obs = conns.execute(&effect).await;
        // The receiver is gone only when the run is over.
        let _ = tx.send(obs);
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

/// Run a [`baton_core::batch::Batch`] to its end against real hosts.
pub async fn run_batch(
    mut batch: baton_core::batch::Batch,
    conns: Arc<Connections>,
    mut report: impl FnMut(Report),
) -> baton_core::batch::Batch {
    let start = Instant::now();
    let now = move || start.elapsed().as_millis() as Time;
    let (tx, mut rx) = mpsc::unbounded_channel::<Observation>();
    loop {
        while let Some(effect) = batch.poll_effect() {
            report(Report::Effect(now(), effect.clone()));
            spawn_effect(effect, &conns, &tx);
        }
        if batch.is_done() {
            return batch;
        }
        let Some(obs) = rx.recv().await else { return batch };
        report(Report::Observation(now(), obs.clone()));
        batch.handle_observation(&obs);
    }
}
