//! Commands run as a [`Batch`]: lock, env push, and the other `app`
//! commands. Prints per-host output grouped as Kamal does.

use baton_core::batch::{Batch, Phase, StepResult};
use baton_core::effect::Observation;
use baton_core::trace::Trace;
use baton_interpreter::{Connections, Report, SshOptions};

pub struct Run {
    pub results: Vec<StepResult>,
    pub skipped: Vec<&'static str>,
}

/// Run `phases` over SSH; `verbose` prints every command with its result.
pub fn run(phases: Vec<Phase>, ssh: SshOptions, verbose: bool) -> Run {
    let conns = Connections::new(ssh);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let mut trace = Trace::with_durations();
    let batch = runtime.block_on(async {
        let b = baton_interpreter::run_batch(Batch::new(phases), conns.clone(), |r| {
            if !verbose {
                return;
            }
            match r {
                Report::Effect(t, e) => trace.effect(t, &e),
                Report::Observation(t, o) => trace.observation(t, &o),
                Report::Event(..) => return,
            }
            if let Some(l) = trace.lines().last() {
                eprintln!("{l}");
            }
        })
        .await;
        conns.close_all().await;
        b
    });
    Run { results: batch.results().to_vec(), skipped: batch.skipped().to_vec() }
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
        Observation::TimedOut { after_ms, .. } => {
            format!("no answer within {} s; the command may still be running there", after_ms / 1000)
        }
    };
    format!("{}{role}: {} failed: {what}", r.step.host, r.step.label)
}
