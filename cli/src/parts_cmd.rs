//! `healthcheck perform` and `prune all|images|containers`: the parts of
//! Kamal's `deploy` that stand on their own. The health check is the core's
//! [`baton_core::healthcheck::Healthcheck`] machine; prune is phases under
//! the deploy lock. Both run through the one interpreter loop.

use crate::app_cmd;
use crate::batch_cmd;
use crate::boot_cmd::ssh_options;
use crate::out::{say, tell};
use baton_core::effect::{Event, Outcome};
use baton_core::healthcheck::{boot_diagnoses, boot_diagnosis, Healthcheck};
use baton_core::plan::Plan;
use baton_core::time::fmt_secs;

/// `healthcheck perform`: exit 0 when healthy, 1 when not, 130 when aborted.
pub fn healthcheck(plan: &Plan, dry_run: bool, verbose: bool, quiet: bool) -> i32 {
    let machine = Healthcheck::new(plan);
    let host = machine.host().to_string();
    if dry_run {
        let mut out = format!("{}\n", app_cmd::host_header(&host));
        for (label, cmd) in machine.script() {
            match label {
                "status" => out.push_str("  # read until healthy, at most healthcheck.max_attempts more times:\n"),
                "logs" => out.push_str("  # only when it never turns healthy:\n"),
                "stop" => out.push_str("  # always, also after a failure or Ctrl-C:\n"),
                _ => {}
            }
            out.push_str(&format!("  {}\n", cmd.render()));
        }
        crate::out::print(&out);
        return 0;
    }
    if !quiet {
        say!("Health check of {} on {host}...", plan.version);
    }
    let outcome = batch_cmd::drive(machine, ssh_options(&plan.config), verbose, |t, ev| match ev {
        Event::Progress { host, step, .. } if !quiet => say!("[{:>7}s] {host}: {step}", fmt_secs(t)),
        Event::Warning { message, .. } => tell!("warning: {message}"),
        _ => {}
    });
    match outcome {
        Ok(Outcome::Succeeded) => {
            if !quiet {
                say!("Container is healthy!");
            }
            0
        }
        Ok(Outcome::Failed { failures }) => {
            tell!("The health check of {} failed:", plan.version);
            for f in &failures {
                tell!("  {f}");
            }
            1
        }
        Ok(Outcome::LockHeld { .. }) => 1,
        Err(aborted) => {
            tell!("Aborted at once (second interrupt). What may be left:");
            for (host, note) in &aborted.notes {
                tell!("  {host}: {note}");
            }
            130
        }
    }
}

/// After a failed `app boot`: print the last log lines and the health log
/// of each new container that never turned healthy, read through the same
/// interpreter loop.
pub fn after_failed_boot(plan: &Plan, failures: &[baton_core::failure::Failure], verbose: bool) {
    let cfg = &plan.config;
    let Some(phase) = boot_diagnosis(cfg, failures) else { return };
    let run = batch_cmd::run(vec![phase], ssh_options(cfg), verbose);
    for (host, role, name, diagnosis) in boot_diagnoses(cfg, failures, &run.results) {
        let role = role.map(|r| format!(" [{r}]")).unwrap_or_default();
        tell!("{host}{role}: {name} never turned healthy:{diagnosis}");
    }
}

/// `prune …`: the phases, dry or run; failures are printed.
pub fn prune(plan: &Plan, phases: Vec<baton_core::batch::Phase>, dry_run: bool, verbose: bool) -> i32 {
    if dry_run {
        return app_cmd::dry_run(&phases);
    }
    let run = batch_cmd::run(phases, ssh_options(&plan.config), verbose);
    if let Some(lock) = run.lock_failed() {
        crate::report_lock_failure(plan, lock, verbose);
        return 1;
    }
    let mut failed = false;
    for r in run.results.iter().filter(|r| !r.ok()) {
        failed = true;
        tell!("{}", batch_cmd::describe_failure(r));
    }
    if failed || run.interrupted() {
        1
    } else {
        0
    }
}
