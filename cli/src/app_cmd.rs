//! The `app` commands other than `boot`, `audit`, and `--dry-run` for every
//! command: phases built by the core, run by the interpreter, printed here.

use crate::batch_cmd;
use crate::boot_cmd::ssh_options;
use baton_core::batch::{Kind, Phase, StepResult};
use baton_core::plan::Plan;
use std::collections::BTreeMap;
use std::io::IsTerminal;

/// `App Host: <host>` in bold when stdout is a terminal.
pub fn host_header(host: &str) -> String {
    titled_header("App", host)
}

/// `<title> Host: <host>` (`App`, `Traefik`), in bold on a terminal.
pub fn titled_header(title: &str, host: &str) -> String {
    if std::io::stdout().is_terminal() {
        format!("\x1b[1m{title} Host: {host}\x1b[0m")
    } else {
        format!("{title} Host: {host}")
    }
}

/// Print the commands `phases` would run, per host, connecting to nothing.
pub fn dry_run(phases: &[Phase]) -> i32 {
    dry_run_titled(phases, "App")
}

/// [`dry_run`], with `<title> Host:` headers.
pub fn dry_run_titled(phases: &[Phase], title: &str) -> i32 {
    let mut by_host: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut order: Vec<String> = vec![];
    for p in phases {
        for script in &p.scripts {
            for s in script {
                if !order.contains(&s.host) {
                    order.push(s.host.clone());
                }
                let mut line = s.cmd.render();
                if s.stdin.is_some() {
                    // Not even its length: it may be a password.
                    line.push_str("    # standard input not shown");
                }
                by_host.entry(s.host.clone()).or_default().push(line);
            }
        }
    }
    let mut out = String::new();
    for h in order {
        out.push_str(&titled_header(title, &h));
        out.push('\n');
        for l in &by_host[&h] {
            out.push_str("  ");
            out.push_str(l);
            out.push('\n');
        }
    }
    crate::out::print(&out);
    0
}

/// Run `phases`; print each shown step's output grouped by host; report
/// failures. `render` may turn a result into the text to show (None: skip).
pub fn run(plan: &Plan, phases: Vec<Phase>, verbose: bool, render: impl Fn(&StepResult) -> Option<String>) -> i32 {
    run_titled(plan, phases, verbose, "App", render)
}

/// [`run`], with `<title> Host:` headers.
pub fn run_titled(
    plan: &Plan,
    phases: Vec<Phase>,
    verbose: bool,
    title: &str,
    render: impl Fn(&StepResult) -> Option<String>,
) -> i32 {
    let run = batch_cmd::run(phases, ssh_options(&plan.config), verbose);
    let mut failed = false;
    let mut by_host: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &run.results {
        if r.step.kind != Kind::Work {
            if !r.ok() && r.step.kind != Kind::Lock {
                eprintln!("warning: {}", batch_cmd::describe_failure(r));
            }
            continue;
        }
        if let Some(text) = render(r) {
            by_host.entry(r.step.host.clone()).or_default().push(text);
        }
        if !r.ok() && r.step.checked {
            failed = true;
        }
    }
    let mut out = String::new();
    // The selected hosts first, then any other (an accessory's own host).
    let mut hosts = plan.hosts.clone();
    for r in &run.results {
        if !hosts.contains(&r.step.host) {
            hosts.push(r.step.host.clone());
        }
    }
    for h in &hosts {
        if let Some(texts) = by_host.get(h) {
            out.push_str(&titled_header(title, h));
            out.push('\n');
            for t in texts {
                out.push_str(t.trim_end_matches('\n'));
                out.push('\n');
            }
            out.push('\n');
        }
    }
    crate::out::print(&out);
    if let Some(lock) = run.lock_failed() {
        crate::report_lock_failure(plan, lock, verbose);
        return 1;
    }
    if run.interrupted() {
        return if run.outcome.is_err() { 130 } else { 1 };
    }
    for r in run.results.iter().filter(|r| !r.ok() && r.step.checked) {
        eprintln!("{}", batch_cmd::describe_failure(r));
    }
    if failed {
        1
    } else {
        0
    }
}

/// The output of a step, or for a failed unchecked step what went wrong.
pub fn output_or_error(r: &StepResult) -> Option<String> {
    if r.ok() {
        Some(r.stdout().to_string())
    } else {
        Some(format!("error: {}", batch_cmd::describe_failure(r)))
    }
}

/// Run an interactive command (`ssh -t`); returns its exit code.
pub fn interactive(argv: &[String], dry: bool) -> i32 {
    if dry {
        let line: Vec<String> = argv.iter().map(|a| baton_core::shell::quote(a).into_owned()).collect();
        crate::out::print(&format!("{}\n", line.join(" ")));
        return 0;
    }
    match std::process::Command::new(&argv[0]).args(&argv[1..]).status() {
        Ok(s) => s.code().unwrap_or(1),
        Err(e) => {
            eprintln!("cannot run ssh: {e}");
            1
        }
    }
}

/// `app version` output for a host: its version, or a note.
pub fn version_line(plan: &Plan, r: &StepResult) -> Option<String> {
    if !r.ok() {
        return output_or_error(r);
    }
    let role = r.step.role.as_deref().unwrap_or("");
    Some(
        baton_core::ops::running_version(&plan.config, role, r.stdout())
            .unwrap_or_else(|| "(no running container)".into()),
    )
}

/// `app stale_containers` lines.
pub fn stale_lines(plan: &Plan, r: &StepResult, stop: bool) -> Option<String> {
    if !r.ok() {
        return output_or_error(r);
    }
    let role = r.step.role.as_deref().unwrap_or("");
    let versions = baton_core::docker::versions_from_names(r.stdout().lines(), &plan.config.role_full_name(role));
    if versions.is_empty() {
        return None;
    }
    Some(
        versions
            .iter()
            .map(|v| {
                if stop {
                    format!("Stopped stale container for role {role} with version {v}")
                } else {
                    format!("Detected stale container for role {role} with version {v} (use `baton app stale_containers --stop` to stop)")
                }
            })
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// `app logs`: the output, or "Nothing found" as Kamal says.
pub fn logs_text(r: &StepResult) -> Option<String> {
    match &r.observation {
        baton_core::effect::Observation::Exited { code: 0, stdout, .. } if !stdout.trim().is_empty() => {
            Some(stdout.clone())
        }
        baton_core::effect::Observation::Exited { .. } => Some("Nothing found".into()),
        _ => output_or_error(r),
    }
}
