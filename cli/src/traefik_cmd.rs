//! `baton traefik …`: phases (or, for `reboot --rolling`, a sequence) built
//! by the core (`baton_core::traefik`), run by the interpreter, printed
//! under `Traefik Host: <host>` as Kamal prints them.

use crate::app_cmd;
use crate::args::{Global, TraefikCmd};
use crate::batch_cmd;
use crate::boot_cmd::ssh_options;
use crate::build_cmd;
use crate::load::UsageError;
use crate::out::tell;
use baton_core::batch::{Phase, Step};
use baton_core::commands::{traefik as cmds, LogOptions};
use baton_core::effect::Outcome;
use baton_core::plan::Plan;
use baton_core::traefik as t;

const TITLE: &str = "Traefik";

/// `baton traefik COMMAND`.
pub fn run(g: &Global, command: &TraefikCmd) -> Result<i32, UsageError> {
    let plan = crate::build_plan(g, "Automatic deploy lock", false)?;
    if t::traefik_hosts(&plan).is_empty() {
        return Err(UsageError::new(
            "--hosts/--roles",
            "no selected host runs a role with Traefik (web, or a role with traefik: true); select one of them",
        ));
    }
    let dry = g.dry_run;
    let go = |phases: Vec<Phase>, render: &dyn Fn(&baton_core::batch::StepResult) -> Option<String>| {
        if dry {
            app_cmd::dry_run_titled(&phases, TITLE)
        } else {
            app_cmd::run_titled(&plan, phases, g.verbose, TITLE, render)
        }
    };
    let quiet = |_: &baton_core::batch::StepResult| None;
    let code = match command {
        TraefikCmd::Boot => {
            let login = build_cmd::credentials(&plan.config, g.destination.as_deref())?;
            go(t::boot(&plan, &login), &quiet)
        }
        TraefikCmd::Reboot { rolling: false } => {
            let login = build_cmd::credentials(&plan.config, g.destination.as_deref())?;
            go(t::reboot(&plan, &login), &quiet)
        }
        TraefikCmd::Reboot { rolling: true } => {
            let login = build_cmd::credentials(&plan.config, g.destination.as_deref())?;
            if dry {
                return Ok(rolling_dry_run(&plan, &login));
            }
            rolling(&plan, &login, g.verbose, g.quiet)
        }
        TraefikCmd::Start => go(t::start(&plan), &quiet),
        TraefikCmd::Stop => go(t::stop(&plan), &quiet),
        TraefikCmd::Restart => go(t::restart(&plan), &quiet),
        TraefikCmd::Details => go(t::details(&plan), &app_cmd::output_or_error),
        TraefikCmd::Logs(crate::args::LogArgs { since, lines, grep, follow }) => {
            let lines = lines.or(if since.is_some() || grep.is_some() { None } else { Some(100) });
            let o = LogOptions { since: since.clone(), lines, grep: grep.clone(), follow: *follow };
            if *follow {
                // On the primary host of the selection, as Kamal's `logs --follow`.
                let o = LogOptions { lines: if lines == Some(100) { None } else { lines }, ..o };
                let host = plan.primary_host().to_string();
                let argv = baton_core::ops::interactive_ssh(&plan.config, &host, &cmds::logs(&o));
                return Ok(app_cmd::interactive(&argv, dry));
            }
            go(t::logs(&plan, &o), &app_cmd::logs_text)
        }
        TraefikCmd::Remove => go(t::remove(&plan), &quiet),
        TraefikCmd::RemoveContainer => go(only(&plan, "traefik remove_container", cmds::remove_container()), &quiet),
        TraefikCmd::RemoveImage => go(only(&plan, "traefik remove_image", cmds::remove_image()), &quiet),
    };
    Ok(code)
}

/// The hidden `remove_container` and `remove_image`: one command per
/// Traefik host, under the lock.
fn only(plan: &Plan, label: &'static str, cmd: baton_core::shell::Command) -> Vec<Phase> {
    let scripts = t::traefik_hosts(plan).iter().map(|h| vec![Step::run(h, None, label, cmd.clone())]).collect();
    baton_core::ops::mutating(plan, vec![Phase { name: label, scripts, required: false, finally: false }])
}

/// The commands of `reboot --rolling`, host after host, with the reads of
/// each host's wait; then what the wait does.
fn rolling_dry_run(plan: &Plan, login: &baton_core::flow::Credentials) -> i32 {
    let phases = t::reboot(plan, login);
    let code = app_cmd::dry_run_titled(&phases, TITLE);
    let how = match baton_core::commands::routes(&plan.config) {
        Some(c) => format!(
            "until `{}` answers with a server of each of the app's roles that has a healthy container there (listed with `{}`)",
            c.render(),
            cmds::healthy_app_roles(&plan.config).render()
        ),
        None => format!(
            "until `{}` says running (baton.routes is not set, so routes are not confirmed)",
            cmds::state().render()
        ),
    };
    crate::out::print(&format!(
        "# --rolling: one host at a time, in this order; after each host's `docker run`, baton reads {how}, at most {}, before the next host\n",
        baton_core::lockwait::fmt_span(
            baton_core::traefik::wait::MIN_BUDGET_MS.max(5 * plan.config.baton.proxy_pickup_ms)
                + plan.config.baton.pause_margin_ms
        )
    ));
    code
}

/// `reboot --rolling` for real: host by host; prints each host as it is
/// back, and why it stopped if it did.
fn rolling(plan: &Plan, login: &baton_core::flow::Credentials, verbose: bool, quiet: bool) -> i32 {
    use baton_core::effect::Event;
    let mut results = vec![];
    // Each host as it goes: rebooted, then back (or why not).
    let outcome =
        batch_cmd::drive(t::reboot_rolling(plan, login), ssh_options(&plan.config), verbose, |_, ev| match ev {
            Event::StepDone(r) => {
                let host = &r.step.host;
                match r.step.label {
                    "traefik run" if r.ok() && !quiet => {
                        println!("{host}: Traefik rebooted; waiting for it to be back before the next host")
                    }
                    "traefik back" if !quiet => println!("{host}: Traefik is back"),
                    _ if !r.ok() && r.step.checked && r.step.kind == baton_core::batch::Kind::Work => {
                        tell!("{}", batch_cmd::describe_failure(r))
                    }
                    _ => {}
                }
                results.push((**r).clone());
            }
            Event::Warning { host, message } => match host {
                Some(h) => tell!("warning: {h}: {message}"),
                None => tell!("warning: {message}"),
            },
            _ => {}
        });
    let run = batch_cmd::Run { results, outcome };
    batch_cmd::report_interrupt(&run);
    if let Some(lock) = run.lock_failed() {
        crate::report_lock_failure(plan, lock, verbose);
        return 1;
    }
    match &run.outcome {
        Ok(Outcome::Succeeded) => 0,
        Ok(Outcome::Failed { failures }) => {
            for f in failures.iter().filter(|f| !f.why.is_interrupt()) {
                if !matches!(f.why, baton_core::failure::Why::Command(_)) {
                    tell!("{f}");
                }
            }
            1
        }
        Ok(_) => 1,
        Err(_) => 130,
    }
}
