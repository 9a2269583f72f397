//! baton: zero-downtime deploys of containerised apps over SSH, reading
//! Kamal 1's `config/deploy.yml`.

mod app_cmd;
mod batch_cmd;
mod boot_cmd;
mod load;
mod out;
mod plan_cmd;

use baton_core::plan::{LockInfo, Plan};
use clap::{Args, Parser, Subcommand};
use load::UsageError;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options every command takes, as Kamal's.
#[derive(Args, Debug, Clone)]
struct Global {
    /// Version to deploy (default: $VERSION, else the git HEAD).
    #[arg(short = 'v', long = "version", global = true, value_name = "VERSION")]
    version: Option<String>,
    /// Only these hosts (comma-separated).
    #[arg(short = 'h', long, global = true, value_delimiter = ',', value_name = "HOSTS")]
    hosts: Option<Vec<String>>,
    /// Only these roles (comma-separated).
    #[arg(short = 'r', long, global = true, value_delimiter = ',', value_name = "ROLES")]
    roles: Option<Vec<String>>,
    /// Destination: merges config/deploy.<DESTINATION>.yml over config/deploy.yml.
    #[arg(short = 'd', long, global = true)]
    destination: Option<String>,
    /// Path to the config file.
    #[arg(short = 'c', long = "config-file", global = true, default_value = "config/deploy.yml")]
    config_file: PathBuf,
    /// Print less (no config warnings).
    #[arg(short = 'q', long, global = true)]
    quiet: bool,
    /// Print every command with its result and timing.
    #[arg(long, global = true)]
    verbose: bool,
    /// Print, per host, the exact commands that would run, and connect to nothing.
    #[arg(long = "dry-run", global = true)]
    dry_run: bool,
}

#[derive(Parser, Debug)]
#[command(
    name = "baton",
    about = "Zero-downtime deploys of containerised apps over SSH, with Kamal 1's config and cord handover",
    long_about = "baton boots containerised web apps on a fleet of servers over SSH with Kamal 1's \"cord\" handover, \
reading the same config/deploy.yml. `baton plan` simulates a boot against a simulated fleet and prints \
its timeline and any serving gap, without contacting a server.",
    disable_help_flag = true,
    disable_version_flag = true
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help, global = true)]
    help: Option<bool>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Simulate `app boot` against a simulated fleet and print its timeline, serving gaps and outcome.
    ///
    /// Exit code 0 when the deploy would succeed with no serving gap, 3 when it would fail or open a gap.
    Plan {
        /// The version every host runs before the boot (default: none, a first deploy).
        #[arg(long, value_name = "V0")]
        from: Option<String>,
        /// Inject a fault: HOST=unreachable[@TIME|@STEP], HOST=never-healthy, HOST=crash,
        /// HOST=slow:DURATION, HOST=fail:STEP, HOST=drop:STEP (STEP: lock, prepare, list, rename,
        /// audit, tie, run, status, address, routes, mounts, cut, stop). Repeatable.
        #[arg(long = "fault", value_name = "SPEC")]
        faults: Vec<String>,
        /// Seed for the simulation's randomness (run id, proxy jitter).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print the prediction as JSON (outcome, duration_ms, gaps, failures, effects).
        #[arg(long)]
        json: bool,
        /// How long the app takes to answer its health check after its container starts.
        #[arg(long, value_name = "DURATION", default_value = "1.2s", value_parser = duration_ms)]
        app_start: u64,
        /// The proxy notices a change after baton.proxy_pickup plus up to this much more
        /// [default: half of baton.proxy_pickup].
        #[arg(long, value_name = "DURATION", value_parser = duration_ms)]
        proxy_jitter: Option<u64>,
        /// The hosts already have the image (`kamal build pull` ran): no pull time.
        #[arg(long)]
        pulled: bool,
    },
    /// App commands (as `kamal app`).
    App {
        #[command(subcommand)]
        command: AppCmd,
    },
    /// The deploy lock on the primary host (as `kamal lock`).
    Lock {
        #[command(subcommand)]
        command: LockCmd,
    },
    /// Env files on the hosts (as `kamal env`).
    Env {
        #[command(subcommand)]
        command: EnvCmd,
    },
    /// Show the last 50 lines of the audit log on each host.
    Audit,
    /// Print baton's own version.
    Version,
}

#[derive(Subcommand, Debug)]
enum LockCmd {
    /// Show who holds the deploy lock, when, for which version and why.
    Status,
    /// Take the deploy lock, so that no deploy runs until it is released.
    Acquire {
        /// Why (shown to whoever finds the lock).
        #[arg(short = 'm', long)]
        message: String,
    },
    /// Release the deploy lock.
    Release,
}

#[derive(Subcommand, Debug)]
enum EnvCmd {
    /// Upload each role's env file to .kamal/env/roles/<service>-<role>[-<dest>].env (mode 0400).
    ///
    /// Clear values come from the config; secret values from the environment, else .env.<destination>,
    /// else .env. Secret values are never printed.
    Push,
}

#[derive(Subcommand, Debug)]
enum AppCmd {
    /// Boot the app on servers (or reboot it if already running), with the cord handover.
    ///
    /// Takes the deploy lock on the primary host, tags the image as latest on every host (pulling it when
    /// missing), then on each host and role: starts the new container, waits until it is healthy, cuts the
    /// old container's cord, waits until the old one is unhealthy and the proxy has stopped routing to it,
    /// then stops it. Hosts boot in groups of boot.limit. On failure the lock stays held.
    Boot,
    /// Start the existing containers of the version.
    Start,
    /// Stop the newest running container of each role.
    Stop,
    /// Show the app's running containers (docker ps), per host and role.
    Details,
    /// Run a command in a new container of the version (default: latest), or in the running one (--reuse).
    ///
    /// CMD is a shell command line, interpreted by the host's shell as in Kamal: it is the one value
    /// baton does not quote. Without -i, it runs on every selected host and its output is shown per host;
    /// with -i, it runs interactively on the primary host over `ssh -t`.
    Exec {
        /// Interactive, over `ssh -t` on the primary host (for a console or a shell).
        #[arg(short = 'i', long)]
        interactive: bool,
        /// Run in the running container instead of a new one.
        #[arg(long)]
        reuse: bool,
        /// The command line to run.
        #[arg(value_name = "CMD")]
        cmd: String,
    },
    /// Show all the app's containers (running or not) on each host.
    Containers,
    /// Show running containers of each role other than the newest; --stop stops them.
    #[command(name = "stale_containers")]
    StaleContainers {
        /// Stop the stale containers found.
        #[arg(short = 's', long)]
        stop: bool,
    },
    /// Show the app's images on each host.
    Images,
    /// Show log lines of the running container, per host and role.
    Logs {
        /// Lines since a timestamp (2013-01-02T13:23:37Z) or relative (42m).
        #[arg(short = 's', long)]
        since: Option<String>,
        /// Number of lines per host (default 100 unless --since or --grep is given).
        #[arg(short = 'n', long)]
        lines: Option<u32>,
        /// Only lines matching this pattern (grep).
        #[arg(short = 'g', long)]
        grep: Option<String>,
        /// Follow the log on the primary host (or the first of --hosts) until Ctrl-C.
        #[arg(short = 'f', long)]
        follow: bool,
    },
    /// Stop the app, remove its containers and its images.
    Remove,
    /// Remove the container of VERSION.
    #[command(name = "remove_container")]
    RemoveContainer {
        /// The version whose container is removed.
        #[arg(value_name = "VERSION")]
        target: String,
    },
    /// Remove all the app's stopped containers.
    #[command(name = "remove_containers")]
    RemoveContainers,
    /// Remove all the app's unused images.
    #[command(name = "remove_images")]
    RemoveImages,
    /// Show the version running on each host.
    Version,
}

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

fn build_plan(g: &Global, message: &str) -> Result<Plan, UsageError> {
    let cfg = load::load_config(&g.config_file, g.destination.as_deref(), g.quiet)?;
    let version = load::resolve_version(g.version.as_deref())?;
    let lock = LockInfo { holder: git_user(), at_utc: utc_now(), message: message.to_string() };
    Plan::new(cfg, &version, g.hosts.as_deref(), g.roles.as_deref(), &local_user(), lock)
        .map_err(|e| UsageError(e.to_string()))
}

/// A duration on the command line (`1.5s`, `800ms`, `2m`), in milliseconds.
fn duration_ms(s: &str) -> Result<u64, String> {
    baton_core::config::parse_duration(s).ok_or_else(|| format!("{s:?} is not a duration (e.g. 1.5s, 800ms)"))
}

fn run(cli: Cli) -> Result<i32, UsageError> {
    match &cli.command {
        Cmd::Plan { from, faults, seed, json, app_start, proxy_jitter, pulled } => {
            let plan = build_plan(&cli.global, "Automatic deploy lock")?;
            plan_cmd::run(
                plan,
                &plan_cmd::PlanArgs {
                    from: from.clone(),
                    faults: faults.clone(),
                    seed: *seed,
                    json: *json,
                    app_start: *app_start,
                    proxy_jitter: *proxy_jitter,
                    pulled: *pulled,
                },
            )
        }
        Cmd::App { command: AppCmd::Boot } => {
            let plan = build_plan(&cli.global, "Automatic deploy lock")?;
            let seed = load::random_u64();
            if cli.global.dry_run {
                return Ok(boot_cmd::dry_run(plan, seed));
            }
            Ok(boot_cmd::run(plan, &boot_cmd::BootArgs { verbose: cli.global.verbose, quiet: cli.global.quiet, seed }))
        }
        Cmd::App { command } => app(&cli.global, command),
        Cmd::Audit => {
            let plan = lenient_plan(&cli.global, "")?;
            let phases = baton_core::ops::audit_tail(&plan);
            if cli.global.dry_run {
                return Ok(app_cmd::dry_run(&phases));
            }
            Ok(app_cmd::run(&plan, phases, cli.global.verbose, app_cmd::output_or_error))
        }
        Cmd::Lock { command } => lock(&cli.global, command),
        Cmd::Env { command: EnvCmd::Push } => env_push(&cli.global),
        Cmd::Version => {
            println!("baton {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
    }
}

/// A plan for commands that do not need a version: the resolved one if
/// there is one, else "unknown" (it only appears in lock details).
fn lenient_plan(g: &Global, message: &str) -> Result<Plan, UsageError> {
    let cfg = load::load_config(&g.config_file, g.destination.as_deref(), g.quiet)?;
    let version = load::resolve_version(g.version.as_deref()).unwrap_or_else(|_| "unknown".into());
    let lock = LockInfo { holder: git_user(), at_utc: utc_now(), message: message.to_string() };
    Plan::new(cfg, &version, g.hosts.as_deref(), g.roles.as_deref(), &local_user(), lock)
        .map_err(|e| UsageError(e.to_string()))
}

/// Tell the user why the lock could not be taken: who holds it, if anyone.
pub fn report_lock_failure(plan: &Plan, lock: &baton_core::batch::StepResult, verbose: bool) {
    let cfg = &plan.config;
    let primary = cfg.primary_host();
    if matches!(lock.observation, baton_core::effect::Observation::Exited { .. }) {
        let status = batch_cmd::run(vec![baton_core::ops::lock_status(cfg)], boot_cmd::ssh_options(cfg), verbose);
        if let Some(s) = status.results.first().filter(|s| s.ok() && !s.stdout().trim().is_empty()) {
            eprintln!("Deploy lock found on {primary}; nothing was changed:");
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
    let mut plan =
        if needs_version { build_plan(g, "Automatic deploy lock")? } else { lenient_plan(g, "Automatic deploy lock")? };
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
        AppCmd::Logs { since, lines, grep, follow } => {
            let lines = lines.or(if since.is_some() || grep.is_some() { None } else { Some(100) });
            let o =
                baton_core::commands::LogOptions { since: since.clone(), lines, grep: grep.clone(), follow: *follow };
            if *follow {
                let host = g
                    .hosts
                    .as_ref()
                    .and_then(|h| h.first())
                    .cloned()
                    .unwrap_or_else(|| plan.config.primary_host().to_string());
                let role = plan
                    .roles_on(&host)
                    .into_iter()
                    .next()
                    .ok_or_else(|| UsageError(format!("no selected role runs on {host}")))?;
                let o = baton_core::commands::LogOptions { lines: if lines == Some(100) { None } else { lines }, ..o };
                let remote = baton_core::commands::logs(&plan.config, &role, &o);
                return Ok(app_cmd::interactive(&ops::interactive_ssh(&plan.config, &host, &remote), dry));
            }
            run(&plan, ops::app_logs(&plan, &o), &app_cmd::logs_text)
        }
        AppCmd::Exec { interactive, reuse, cmd } => {
            let primary = plan.config.primary_host().to_string();
            if *reuse && g.version.is_none() && std::env::var("VERSION").is_err() {
                // The version running on the primary host.
                let role =
                    plan.roles_on(&primary).into_iter().next().unwrap_or_else(|| plan.config.primary_role.clone());
                if dry {
                    plan.version = "<running version>".into();
                } else {
                    let phases = vec![baton_core::batch::Phase {
                        name: "version",
                        scripts: vec![vec![baton_core::batch::Step::poll(
                            &primary,
                            Some(&role),
                            "version",
                            baton_core::commands::current_running_name(&plan.config, &role),
                        )]],
                        required: false,
                        finally: false,
                    }];
                    let r = batch_cmd::run(phases, boot_cmd::ssh_options(&plan.config), g.verbose);
                    let found = r
                        .results
                        .first()
                        .filter(|r| r.ok())
                        .and_then(|r| ops::running_version(&plan.config, &role, r.stdout()));
                    plan.version = found.ok_or_else(|| {
                        UsageError(format!("no running {role} container on {primary} to reuse; pass --version"))
                    })?;
                }
            } else if !*reuse && g.version.is_none() {
                plan.version = "latest".into();
            }
            if *interactive {
                let role_name =
                    plan.roles_on(&primary).into_iter().next().unwrap_or_else(|| plan.config.primary_role.clone());
                let role = plan.config.role(&role_name).ok_or_else(|| UsageError(format!("no role {role_name}")))?;
                let remote = if *reuse {
                    baton_core::commands::exec_reuse(&plan.config, &role_name, &plan.version, cmd, true)
                } else {
                    baton_core::commands::exec_new(&plan.config, role, &plan.version, cmd, true)
                };
                return Ok(app_cmd::interactive(&ops::interactive_ssh(&plan.config, &primary, &remote), dry));
            }
            let phases = if *reuse { ops::app_exec_reuse(&plan, cmd) } else { ops::app_exec_new(&plan, cmd) };
            run(&plan, phases, &app_cmd::output_or_error)
        }
        AppCmd::Remove => run(&plan, ops::app_remove(&plan), &|_| None),
        AppCmd::RemoveContainer { target } => {
            baton_core::config::names::check_version(target).map_err(UsageError)?;
            run(&plan, ops::app_remove_container(&plan, target), &|_| None)
        }
        AppCmd::RemoveContainers => run(&plan, ops::app_remove_containers(&plan), &|_| None),
        AppCmd::RemoveImages => run(&plan, ops::app_remove_images(&plan), &|_| None),
    };
    Ok(code)
}

fn lock(g: &Global, command: &LockCmd) -> Result<i32, UsageError> {
    use baton_core::ops;
    let message = match command {
        LockCmd::Acquire { message } => message.as_str(),
        _ => "",
    };
    let plan = lenient_plan(g, message)?;
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
    let plan = lenient_plan(g, "Automatic deploy lock")?;
    let secrets = load::secrets(g.destination.as_deref())?;
    let push = baton_core::ops::env_push(&plan, &secrets).map_err(UsageError)?;
    if g.dry_run {
        return Ok(app_cmd::dry_run(&baton_core::ops::mutating(&plan, vec![push])));
    }
    let ssh = boot_cmd::ssh_options(&plan.config);
    let run = batch_cmd::run(baton_core::ops::mutating(&plan, vec![push]), ssh, g.verbose);
    let mut failed = false;
    for r in &run.results {
        if !r.ok() {
            failed = true;
            eprintln!("{}", batch_cmd::describe_failure(r));
        } else if r.step.kind == baton_core::batch::Kind::Work && !g.quiet {
            let role = r.step.role.as_deref().unwrap_or("");
            println!("{}: pushed {}", r.step.host, baton_core::commands::env_file_path(&plan.config, role));
        }
    }
    if run.lock_failed().is_some() {
        eprintln!("Nothing was pushed: the deploy lock could not be taken (see `baton lock status`)");
    }
    Ok(if failed { 1 } else { 0 })
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
