//! `accessory …`, `env delete`, and the top-level `setup`, `details` and
//! `remove`: the phases come from the core (`baton_core::accessory`,
//! `baton_core::toplevel`); here the accessory files are read (ERB
//! evaluated), the user is asked before a removal, and results are printed.

use crate::app_cmd::{self, output_or_error};
use crate::args::{AccessoryCmd, Global};
use crate::load::{self, UsageError};
use crate::{build_cmd, build_plan};
use baton_core::accessory::{self as acc, Contents, Login};
use baton_core::config::{Accessory, Config};
use baton_core::ops;
use baton_core::plan::Plan;
use std::io::{BufRead, IsTerminal, Write};

/// The files of `accs`, read from where baton runs; a name ending in `erb`
/// is evaluated as ERB with the accessory's clear env over the environment
/// (and .env), as Kamal's `with_clear_env_loaded`.
pub fn read_files(accs: &[&Accessory], destination: Option<&str>) -> Result<Contents, UsageError> {
    let mut out = Contents::new();
    let mut errors = vec![];
    let mut env = None;
    for a in accs {
        for f in &a.files {
            let bytes = match std::fs::read(&f.local) {
                Ok(b) => b,
                Err(e) => {
                    errors.push(format!(
                        "accessories.{}.files: {} cannot be read ({e}); create it, or fix the path (relative to where baton runs)",
                        a.name, f.local
                    ));
                    continue;
                }
            };
            if !f.is_template() {
                out.insert(f.local.clone(), bytes);
                continue;
            }
            if env.is_none() {
                env = Some(load::secrets(destination)?);
            }
            let env = env.as_ref().expect("read above");
            let Ok(text) = String::from_utf8(bytes) else {
                errors.push(format!(
                    "accessories.{}.files: {} is not UTF-8 text; an ERB template must be",
                    a.name, f.local
                ));
                continue;
            };
            let lookup = |k: &str| {
                a.env.clear.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).or_else(|| env.get(k).cloned())
            };
            match baton_core::erb::evaluate(&f.local, &text, &lookup) {
                Ok(e) => {
                    out.insert(f.local.clone(), e.text.into_bytes());
                }
                Err(es) => errors.extend(es.iter().map(|e| e.to_string())),
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(UsageError(errors))
    }
}

/// The registry login the accessories' boot runs on their hosts.
pub fn login(cfg: &Config, destination: Option<&str>) -> Result<Login, UsageError> {
    let c = build_cmd::credentials(cfg, destination)?;
    Ok(Login { username: c.username, password: c.password })
}

/// Ask `question` (`[y/N]`); only `y` goes on.
fn confirm(question: &str) -> bool {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    line.trim() == "y"
}

fn run_phases(g: &Global, plan: &Plan, phases: Vec<baton_core::batch::Phase>, show: bool) -> i32 {
    if g.dry_run {
        return app_cmd::dry_run(&phases);
    }
    if show {
        app_cmd::run(plan, phases, g.verbose, output_or_error)
    } else {
        app_cmd::run(plan, phases, g.verbose, |_| None)
    }
}

fn usage(e: String) -> UsageError {
    UsageError(vec![e])
}

/// `baton accessory …`
pub fn accessory(g: &Global, command: &AccessoryCmd) -> Result<i32, UsageError> {
    let plan = build_plan(g, "Automatic deploy lock", false)?;
    let cfg = &plan.config;
    let dest = g.destination.as_deref();
    let pick = |name: &str| acc::select(cfg, name).map_err(|e| UsageError::new("NAME", e));
    let code = match command {
        AccessoryCmd::Boot { name } => {
            let accs = pick(name)?;
            let phases = acc::boot(&plan, &accs, &read_files(&accs, dest)?, &login(cfg, dest)?).map_err(usage)?;
            run_phases(g, &plan, phases, false)
        }
        AccessoryCmd::Reboot { name } => {
            let accs = pick(name)?;
            let phases = acc::reboot(&plan, &accs, &read_files(&accs, dest)?, &login(cfg, dest)?).map_err(usage)?;
            run_phases(g, &plan, phases, false)
        }
        AccessoryCmd::Start { name } => run_phases(g, &plan, acc::start(&plan, &pick(name)?), false),
        AccessoryCmd::Stop { name } => run_phases(g, &plan, acc::stop(&plan, &pick(name)?), false),
        AccessoryCmd::Restart { name } => run_phases(g, &plan, acc::restart(&plan, &pick(name)?), false),
        AccessoryCmd::Details { name } => run_phases(g, &plan, acc::details(&plan, &pick(name)?), true),
        AccessoryCmd::Directories { name } => run_phases(g, &plan, acc::directories(&plan, &pick(name)?), false),
        AccessoryCmd::Upload { name } => {
            let accs = pick(name)?;
            let phases = acc::upload(&plan, &accs, &read_files(&accs, dest)?).map_err(usage)?;
            run_phases(g, &plan, phases, false)
        }
        AccessoryCmd::Exec { interactive, reuse, name, cmd } => {
            let a = one(cfg, name)?;
            if *interactive {
                let remote = if *reuse {
                    baton_core::commands::accessory::exec_existing(cfg, a, cmd, true)
                } else {
                    baton_core::commands::accessory::exec_new(cfg, a, cmd, true)
                };
                return Ok(app_cmd::interactive(&ops::interactive_ssh(cfg, &a.hosts[0], &remote), g.dry_run));
            }
            run_phases(g, &plan, acc::exec(&plan, a, cmd, *reuse), true)
        }
        AccessoryCmd::Logs { name, log: crate::args::LogArgs { since, lines, grep, follow } } => {
            let lines = lines.or(if since.is_some() || grep.is_some() || *follow { None } else { Some(100) });
            let o =
                baton_core::commands::LogOptions { since: since.clone(), lines, grep: grep.clone(), follow: *follow };
            if *follow {
                let a = one(cfg, name)?;
                let remote = baton_core::commands::accessory::logs(cfg, a, &o);
                return Ok(app_cmd::interactive(&ops::interactive_ssh(cfg, &a.hosts[0], &remote), g.dry_run));
            }
            run_phases(g, &plan, acc::logs(&plan, &pick(name)?, &o), true)
        }
        AccessoryCmd::Remove { name, confirmed } => {
            let accs: Vec<&Accessory> = pick(name)?
                .into_iter()
                .filter(|a| {
                    *confirmed
                        || g.dry_run
                        || confirm(&format!(
                            "This will remove all containers, images and data directories for {}. Are you sure?",
                            a.name
                        ))
                })
                .collect();
            if accs.is_empty() {
                return Ok(0);
            }
            run_phases(g, &plan, acc::remove(&plan, &accs), false)
        }
    };
    Ok(code)
}

/// The accessory `name` (not `all`: `exec` and `logs -f` run on one).
fn one<'a>(cfg: &'a Config, name: &str) -> Result<&'a Accessory, UsageError> {
    match acc::select(cfg, name).map_err(|e| UsageError::new("NAME", e))?.as_slice() {
        [a] if name != "all" && !a.hosts.is_empty() => Ok(a),
        _ => Err(UsageError::new("NAME", "name one accessory here, not all")),
    }
}

/// `baton details`: Traefik's, the app's and every accessory's containers.
pub fn details(g: &Global) -> Result<i32, UsageError> {
    let plan = build_plan(g, "", false)?;
    Ok(run_phases(g, &plan, baton_core::toplevel::details(&plan), true))
}

/// `baton remove [-y]`
pub fn remove(g: &Global, confirmed: bool) -> Result<i32, UsageError> {
    let plan = build_plan(g, "Automatic deploy lock", false)?;
    if !confirmed && !g.dry_run {
        if !std::io::stdin().is_terminal() {
            eprintln!("baton remove asks before it removes anything; pass -y to proceed without the question");
        }
        if !confirm("This will remove all containers and images. Are you sure?") {
            return Ok(1);
        }
    }
    Ok(run_phases(g, &plan, baton_core::toplevel::remove(&plan), false))
}

/// `baton setup [-P]`: hosts checked, accessories booted, then deploy,
/// under one lock.
pub fn setup(g: &Global, skip_push: bool) -> Result<i32, UsageError> {
    let plan = build_plan(g, "Automatic deploy lock", true)?;
    let dest = g.destination.as_deref();
    let all: Vec<&Accessory> = plan.config.accessories.iter().collect();
    let before = baton_core::toplevel::setup_phases(&plan, &read_files(&all, dest)?, &login(&plan.config, dest)?)
        .map_err(usage)?;
    crate::deploy_cmd::run(g, plan, crate::deploy_cmd::Which::Setup(before), skip_push)
}
