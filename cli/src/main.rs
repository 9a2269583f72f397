//! baton: zero-downtime deploys of containerised apps over SSH, reading
//! Kamal 1's `config/deploy.yml`.

mod accessory_cmd;
mod app_cmd;
mod args;
mod batch_cmd;
mod boot_cmd;
mod build_cmd;
mod deploy_cmd;
mod journal;
mod live;
mod load;
mod local_cmd;
mod out;
mod parts_cmd;
mod plan_cmd;
mod replay_cmd;
mod server_cmd;
mod traefik_cmd;

use args::{AppCmd, Cli, Cmd, EnvCmd, Global, LockCmd, PruneCmd, ServerCmd};
use baton_core::plan::{LockInfo, Plan};
use load::UsageError;
use std::process::ExitCode;

/// UTC now as ISO 8601 (`2026-11-27T10:00:00Z`), as Kamal writes lock details.
fn utc_now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

fn local_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .or_else(|| {
            let o = std::process::Command::new("whoami").output().ok()?;
            Some(String::from_utf8_lossy(&o.stdout).trim().to_string()).filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn git_user() -> String {
    std::process::Command::new("git")
        .args(["config", "user.name"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(local_user)
}

/// The plan of a command: the config, the version and the selected hosts
/// and roles. `needs_version`: the command runs a version, so one must be
/// found; otherwise a missing one reads "unknown" (it only appears in lock
/// details), though a version given and invalid is still refused.
pub fn build_plan(g: &Global, message: &str, needs_version: bool) -> Result<Plan, UsageError> {
    let cfg = load::load_config(&g.config_file, g.destination.as_deref(), g.quiet)?;
    let version = match load::resolve_version(g.version.as_deref()) {
        Ok(v) => v,
        Err(_) if !needs_version && g.version.is_none() && std::env::var_os("VERSION").is_none() => "unknown".into(),
        Err(e) => return Err(e),
    };
    let lock = LockInfo { holder: git_user(), at_utc: utc_now(), message: message.to_string() };
    let hosts = selected_hosts(g, &cfg);
    let mut plan = Plan::new(cfg, &version, hosts.as_deref(), g.roles.as_deref(), &local_user(), lock)
        .map_err(|e| UsageError(vec![e.to_string()]))?;
    plan.lock_wait = g.lock_wait;
    Ok(plan)
}

/// The hosts `-h` names, or the primary host alone for `-p` (as Kamal's
/// `specific_primary!`); None: every host.
pub fn selected_hosts(g: &Global, cfg: &baton_core::config::Config) -> Option<Vec<String>> {
    match g.primary {
        true => Some(vec![cfg.primary_host().to_string()]),
        false => g.hosts.clone(),
    }
}

fn run(cli: Cli) -> Result<i32, UsageError> {
    match &cli.command {
        Cmd::Plan {
            from,
            faults,
            seed,
            json,
            now,
            app_start,
            proxy_jitter,
            pulled,
            timeline,
            commands,
            svg,
            command,
            build_time,
            live,
            calibrate,
        } => {
            let mut plan = build_plan(&cli.global, "Automatic deploy lock", true)?;
            // The plan's time comes from --now or the seed, never the clock.
            let now = now.clone().unwrap_or_else(|| plan_cmd::now_from_seed(*seed));
            plan.lock.at_utc = now.clone();
            plan_cmd::run(
                plan,
                &plan_cmd::PlanArgs {
                    from: from.clone(),
                    faults: faults.clone(),
                    seed: *seed,
                    json: *json,
                    now,
                    app_start: *app_start,
                    proxy_jitter: *proxy_jitter,
                    pulled: *pulled,
                    full: *timeline == args::Timeline::Full,
                    whole_commands: *commands,
                    svg: svg.clone(),
                    command: *command,
                    build_ms: *build_time,
                    live: *live,
                    calibrate: calibrate.clone(),
                },
            )
        }
        Cmd::App { command: AppCmd::Boot } => {
            let plan = build_plan(&cli.global, "Automatic deploy lock", true)?;
            let seed = load::random_u64();
            if cli.global.dry_run {
                return Ok(boot_cmd::dry_run(plan, seed, cli.global.verbose));
            }
            let run = journal::Run {
                command: baton_core::journal::Command::AppBoot,
                seed,
                skip_push: false,
                hooks: None,
                registry_username: None,
            };
            let header = journal::header(&cli.global, &plan, &run);
            let args = boot_cmd::BootArgs {
                verbose: cli.global.verbose,
                quiet: cli.global.quiet,
                seed,
                journal: Some(header),
            };
            Ok(boot_cmd::run(plan, &args))
        }
        Cmd::App { command } => app(&cli.global, command),
        Cmd::Accessory { command } => accessory_cmd::accessory(&cli.global, command),
        Cmd::Setup { skip_push } => accessory_cmd::setup(&cli.global, *skip_push),
        Cmd::Details => accessory_cmd::details(&cli.global),
        Cmd::Remove { confirmed } => accessory_cmd::remove(&cli.global, *confirmed),
        Cmd::Deploy { skip_push } => {
            let plan = build_plan(&cli.global, "Automatic deploy lock", true)?;
            deploy_cmd::run(&cli.global, plan, deploy_cmd::Which::Deploy, *skip_push)
        }
        Cmd::Redeploy { skip_push } => {
            let plan = build_plan(&cli.global, "Automatic deploy lock", true)?;
            deploy_cmd::run(&cli.global, plan, deploy_cmd::Which::Redeploy, *skip_push)
        }
        Cmd::Rollback { target: None } => {
            let plan = build_plan(&cli.global, "", false)?;
            deploy_cmd::list_versions(&cli.global, &plan)
        }
        Cmd::Rollback { target: Some(v) } => {
            let g = Global { version: Some(v.clone()), ..cli.global.clone() };
            let plan = build_plan(&g, "Automatic deploy lock", true)?;
            deploy_cmd::run(&g, plan, deploy_cmd::Which::Rollback, false)
        }
        Cmd::Audit => {
            let plan = build_plan(&cli.global, "", false)?;
            let phases = baton_core::ops::audit_tail(&plan);
            if cli.global.dry_run {
                return Ok(app_cmd::dry_run(&phases));
            }
            Ok(app_cmd::run(&plan, phases, cli.global.verbose, app_cmd::output_or_error))
        }
        Cmd::Healthcheck { command: _ } => {
            let g = &cli.global;
            let plan = build_plan(g, "Automatic deploy lock", true)?;
            Ok(parts_cmd::healthcheck(&plan, g.dry_run, g.verbose, g.quiet))
        }
        Cmd::Prune { command } => {
            let g = &cli.global;
            let plan = build_plan(g, "Automatic deploy lock", false)?;
            let phases = match command {
                PruneCmd::All => baton_core::prune::prune_all(&plan),
                PruneCmd::Images => baton_core::prune::prune_images(&plan),
                PruneCmd::Containers => baton_core::prune::prune_containers(&plan),
            };
            Ok(parts_cmd::prune(&plan, phases, g.dry_run, g.verbose))
        }
        Cmd::Lock { command } => lock(&cli.global, command),
        Cmd::Build { command } => build_cmd::build(&cli.global, command),
        Cmd::Registry { command } => build_cmd::registry(&cli.global, command),
        Cmd::Env { command: EnvCmd::Push } => env_push(&cli.global),
        Cmd::Env { command: EnvCmd::Delete } => env_delete(&cli.global),
        Cmd::Traefik { command } => traefik_cmd::run(&cli.global, command),
        Cmd::Config => local_cmd::config(&cli.global),
        Cmd::Init { bundle } => local_cmd::init(*bundle),
        Cmd::Envify => {
            let g = &cli.global;
            // Written first, as Kamal: the config's ERB may read what it writes.
            let written = local_cmd::envify(g.destination.as_deref(), g.dry_run, g.quiet)?;
            if g.dry_run {
                // Nothing was written: read what would have been, as if it were.
                load::set_unwritten(written);
            }
            env_push(g)
        }
        Cmd::Server { command: ServerCmd::Bootstrap { install } } => {
            let plan = build_plan(&cli.global, "", false)?;
            Ok(server_cmd::bootstrap(&plan, *install, cli.global.dry_run, cli.global.verbose))
        }
        Cmd::Replay { file, timeline } => replay_cmd::run(&cli.global, file, *timeline == args::Timeline::Full),
        Cmd::Version => {
            println!("baton {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
    }
}

/// Tell the user why the lock could not be taken: who holds it, if anyone.
pub fn report_lock_failure(plan: &Plan, lock: &baton_core::batch::StepResult, verbose: bool) {
    let cfg = &plan.config;
    let primary = cfg.primary_host();
    if matches!(lock.observation, baton_core::effect::Observation::Exited { .. }) {
        let status = batch_cmd::run(vec![baton_core::ops::lock_status(cfg)], boot_cmd::ssh_options(cfg), verbose);
        if let Some(s) = status.results.first().filter(|s| s.ok() && !s.stdout().trim().is_empty()) {
            match plan.lock_wait {
                Some(w) => eprintln!(
                    "The deploy lock on {primary} was still held after waiting {}; nothing was changed:",
                    baton_core::lockwait::fmt_span(w)
                ),
                None => eprintln!("Deploy lock found on {primary}; nothing was changed:"),
            }
            for l in baton_core::ops::decode_lock_details(s.stdout()).lines() {
                eprintln!("  {l}");
            }
            eprintln!("Wait for it to be released, or, if nobody is deploying, run `baton lock release`.");
            return;
        }
    }
    eprintln!("{}; nothing was changed", batch_cmd::describe_failure(lock));
}

fn app(g: &Global, command: &AppCmd) -> Result<i32, UsageError> {
    use baton_core::ops;
    let needs_version = matches!(command, AppCmd::Start);
    let mut plan = build_plan(g, "Automatic deploy lock", needs_version)?;
    let dry = g.dry_run;
    let run = |plan: &Plan,
               phases: Vec<baton_core::batch::Phase>,
               render: &dyn Fn(&baton_core::batch::StepResult) -> Option<String>| {
        if dry {
            app_cmd::dry_run(&phases)
        } else {
            app_cmd::run(plan, phases, g.verbose, render)
        }
    };
    let code = match command {
        AppCmd::Boot => unreachable!("handled by the caller"),
        AppCmd::Start => run(&plan, ops::app_start(&plan), &|_| None),
        AppCmd::Stop => run(&plan, ops::app_stop(&plan), &|_| None),
        AppCmd::Details => run(&plan, ops::app_details(&plan), &app_cmd::output_or_error),
        AppCmd::Containers => run(&plan, ops::app_containers(&plan), &app_cmd::output_or_error),
        AppCmd::Images => run(&plan, ops::app_images(&plan), &app_cmd::output_or_error),
        AppCmd::Version => {
            let p = plan.clone();
            run(&plan, ops::app_version(&plan), &move |r| app_cmd::version_line(&p, r))
        }
        AppCmd::StaleContainers { stop } => {
            let (p, stop) = (plan.clone(), *stop);
            run(&plan, ops::app_stale_containers(&plan, stop), &move |r| app_cmd::stale_lines(&p, r, stop))
        }
        AppCmd::Logs(args::LogArgs { since, lines, grep, follow }) => {
            let lines = lines.or(if since.is_some() || grep.is_some() { None } else { Some(100) });
            let o =
                baton_core::commands::LogOptions { since: since.clone(), lines, grep: grep.clone(), follow: *follow };
            if *follow {
                // On the primary host of the selection, as Kamal's `logs --follow`.
                let (host, role) = (plan.primary_host().to_string(), plan.primary_role());
                let o = baton_core::commands::LogOptions { lines: if lines == Some(100) { None } else { lines }, ..o };
                let remote = baton_core::commands::logs(&plan.config, &role, &o);
                return Ok(app_cmd::interactive(&ops::interactive_ssh(&plan.config, &host, &remote), dry));
            }
            run(&plan, ops::app_logs(&plan, &o), &app_cmd::logs_text)
        }
        AppCmd::Exec { interactive, reuse, cmd } => {
            let (primary, role) = (plan.primary_host().to_string(), plan.primary_role());
            if *reuse && g.version.is_none() && std::env::var("VERSION").is_err() {
                plan.version = if dry { "<running version>".into() } else { running_version(&plan, g.verbose)? };
            } else if !*reuse && g.version.is_none() {
                plan.version = "latest".into();
            }
            if *interactive {
                let remote = if *reuse {
                    baton_core::commands::exec_reuse(&plan.config, &role, &plan.version, cmd, true)
                } else {
                    let r = plan.config.role(&role).expect("a selected role is in the config");
                    baton_core::commands::exec_new(&plan.config, r, &plan.version, cmd, true)
                };
                return Ok(app_cmd::interactive(&ops::interactive_ssh(&plan.config, &primary, &remote), dry));
            }
            let phases = if *reuse { ops::app_exec_reuse(&plan, cmd) } else { ops::app_exec_new(&plan, cmd) };
            run(&plan, phases, &app_cmd::output_or_error)
        }
        AppCmd::Remove => run(&plan, ops::app_remove(&plan), &|_| None),
        AppCmd::RemoveContainer { target } => {
            baton_core::config::names::check_version(target)
                .map_err(|e| UsageError::new("VERSION", format!("{e}; give the version of a container to remove")))?;
            run(&plan, ops::app_remove_container(&plan, target), &|_| None)
        }
        AppCmd::RemoveContainers => run(&plan, ops::app_remove_containers(&plan), &|_| None),
        AppCmd::RemoveImages => run(&plan, ops::app_remove_images(&plan), &|_| None),
    };
    Ok(code)
}

/// The version running on the primary host of the selection (`exec --reuse`
/// without a version), read from its newest running container.
fn running_version(plan: &Plan, verbose: bool) -> Result<String, UsageError> {
    let (primary, role) = (plan.primary_host(), plan.primary_role());
    let step = baton_core::batch::Step::poll(
        primary,
        Some(&role),
        "version",
        baton_core::commands::current_running_name(&plan.config, &role),
    );
    let phases =
        vec![baton_core::batch::Phase { name: "version", scripts: vec![vec![step]], required: false, finally: false }];
    let r = batch_cmd::run(phases, boot_cmd::ssh_options(&plan.config), verbose);
    r.results
        .first()
        .filter(|r| r.ok())
        .and_then(|r| baton_core::ops::running_version(&plan.config, &role, r.stdout()))
        .ok_or_else(|| {
            UsageError::new(
                "--reuse",
                format!("no running {role} container on {primary} to reuse; pass --version VERSION"),
            )
        })
}

fn lock(g: &Global, command: &LockCmd) -> Result<i32, UsageError> {
    use baton_core::ops;
    let message = match command {
        LockCmd::Acquire { message } => message.as_str(),
        _ => "",
    };
    let plan = build_plan(g, message, false)?;
    let cfg = &plan.config;
    let primary = cfg.primary_host().to_string();
    let ssh = boot_cmd::ssh_options(cfg);
    let phases = match command {
        LockCmd::Status => vec![ops::lock_status(cfg)],
        LockCmd::Acquire { .. } => vec![ops::lock_acquire(&plan)],
        LockCmd::Release => vec![ops::lock_release(cfg)],
    };
    if g.dry_run {
        return Ok(app_cmd::dry_run(&phases));
    }
    let run = batch_cmd::run(phases, ssh.clone(), g.verbose);
    let Some(r) = run.results.first() else { return Ok(1) };
    match (command, r.ok()) {
        (LockCmd::Status, true) if r.stdout().trim().is_empty() => println!("There is no deploy lock on {primary}"),
        (LockCmd::Status, true) => {
            println!("Deploy lock found on {primary}:");
            for l in ops::decode_lock_details(r.stdout()).lines() {
                println!("  {l}");
            }
        }
        (LockCmd::Acquire { .. }, true) if !g.quiet => println!("Acquired the deploy lock on {primary}"),
        (LockCmd::Release, true) if !g.quiet => println!("Released the deploy lock on {primary}"),
        (LockCmd::Acquire { .. } | LockCmd::Release, true) => {}
        (LockCmd::Acquire { .. }, false) if matches!(r.observation, baton_core::effect::Observation::Exited { .. }) => {
            // Most likely held already: show by whom.
            let status = batch_cmd::run(vec![ops::lock_status(cfg)], ssh, g.verbose);
            match status.results.first() {
                Some(s) if s.ok() && !s.stdout().trim().is_empty() => {
                    eprintln!("Deploy lock already held on {primary}:");
                    for l in ops::decode_lock_details(s.stdout()).lines() {
                        eprintln!("  {l}");
                    }
                }
                _ => eprintln!("{}", batch_cmd::describe_failure(r)),
            }
            return Ok(1);
        }
        (LockCmd::Release, false) => {
            eprintln!("{} (is there a lock? see `baton lock status`)", batch_cmd::describe_failure(r));
            return Ok(1);
        }
        _ => {
            eprintln!("{}", batch_cmd::describe_failure(r));
            return Ok(1);
        }
    }
    Ok(0)
}

fn env_push(g: &Global) -> Result<i32, UsageError> {
    let plan = build_plan(g, "Automatic deploy lock", false)?;
    let secrets = load::secrets(g.destination.as_deref())?;
    let push = baton_core::ops::env_push(&plan, &secrets).map_err(|e| UsageError(vec![e]))?;
    let mut work = vec![push];
    // Each accessory's env file, on its hosts (as Kamal 1.0's env push).
    work.extend(baton_core::accessory::env_push_phase(&plan, &secrets).map_err(|e| UsageError(vec![e]))?);
    // Traefik's env file, on the Traefik hosts, when traefik.env is set.
    work.extend(baton_core::traefik::env_push_phase(&plan, &secrets).map_err(|e| UsageError(vec![e]))?);
    if g.dry_run {
        return Ok(app_cmd::dry_run(&baton_core::ops::mutating(&plan, work)));
    }
    let ssh = boot_cmd::ssh_options(&plan.config);
    let run = batch_cmd::run(baton_core::ops::mutating(&plan, work), ssh, g.verbose);
    let mut failed = false;
    for r in &run.results {
        if !r.ok() {
            failed = true;
            eprintln!("{}", batch_cmd::describe_failure(r));
        } else if r.step.kind == baton_core::batch::Kind::Work && !g.quiet {
            println!("{}: pushed {}", r.step.host, env_file_of(&plan, r));
        }
    }
    if run.lock_failed().is_some() {
        eprintln!("Nothing was pushed: the deploy lock could not be taken (see `baton lock status`)");
    }
    Ok(if failed { 1 } else { 0 })
}

/// The env file a step of `env push` or `env delete` writes or removes: its
/// role's, or Traefik's (a step without a role).
fn env_file_of(plan: &Plan, r: &baton_core::batch::StepResult) -> String {
    use baton_core::accessory::{ENV_DELETE, ENV_PUSH};
    let accessory = r.step.role.as_deref().and_then(|name| plan.config.accessory(name));
    if let Some(a) = accessory.filter(|_| r.step.label == ENV_PUSH || r.step.label == ENV_DELETE) {
        return baton_core::commands::accessory::env_file_path(&plan.config, a);
    }
    match r.step.role.as_deref() {
        Some(role) => baton_core::commands::env_file_path(&plan.config, role),
        None => baton_core::commands::traefik::env_file_path(&plan.config),
    }
}

/// `env delete`: each role's and accessory's env file, and Traefik's when
/// traefik.env is set, removed under the lock.
fn env_delete(g: &Global) -> Result<i32, UsageError> {
    let plan = build_plan(g, "Automatic deploy lock", false)?;
    let mut work = vec![baton_core::ops::env_delete(&plan)];
    work.extend(baton_core::traefik::env_delete_phase(&plan));
    work.extend(baton_core::accessory::env_delete_phases(&plan));
    let phases = baton_core::ops::mutating(&plan, work);
    if g.dry_run {
        return Ok(app_cmd::dry_run(&phases));
    }
    let quiet = g.quiet;
    let p = plan.clone();
    Ok(app_cmd::run(&plan, phases, g.verbose, move |r| {
        (r.ok() && !quiet).then(|| format!("removed {}", env_file_of(&p, r)))
    }))
}

fn main() -> ExitCode {
    let cli = match args::parse() {
        Ok(c) => c,
        Err(code) => return ExitCode::from(code),
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
