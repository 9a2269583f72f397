//! baton: zero-downtime deploys of containerised apps over SSH, reading
//! Kamal 1's `config/deploy.yml`.

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
    /// Print every command with its duration.
    #[arg(long, global = true)]
    verbose: bool,
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
        /// audit, tie, run, status, mounts, cut, stop). Repeatable.
        #[arg(long = "fault", value_name = "SPEC")]
        faults: Vec<String>,
        /// Seed for the simulation's randomness (run id, proxy jitter).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print the prediction as JSON (outcome, duration_ms, gaps, failures, effects).
        #[arg(long)]
        json: bool,
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
}

/// UTC now as ISO 8601 (`2026-11-27T10:00:00Z`).
fn utc_now() -> String {
    let secs =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
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

fn run(cli: Cli) -> Result<i32, UsageError> {
    match &cli.command {
        Cmd::Plan { from, faults, seed, json } => {
            let plan = build_plan(&cli.global, "Automatic deploy lock")?;
            plan_cmd::run(
                plan,
                &plan_cmd::PlanArgs { from: from.clone(), faults: faults.clone(), seed: *seed, json: *json },
            )
        }
        Cmd::App { command: AppCmd::Boot } => {
            let plan = build_plan(&cli.global, "Automatic deploy lock")?;
            let seed = load::random_u64();
            Ok(boot_cmd::run(plan, &boot_cmd::BootArgs { verbose: cli.global.verbose, quiet: cli.global.quiet, seed }))
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
        (LockCmd::Acquire { .. }, true) => println!("Acquired the deploy lock on {primary}"),
        (LockCmd::Release, true) => println!("Released the deploy lock on {primary}"),
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
    let ssh = boot_cmd::ssh_options(&plan.config);
    let run = batch_cmd::run(baton_core::ops::mutating(&plan, vec![push]), ssh, g.verbose);
    let mut failed = false;
    for r in &run.results {
        if !r.ok() {
            failed = true;
            eprintln!("{}", batch_cmd::describe_failure(r));
        } else if r.step.label == "env push" && !g.quiet {
            let role = r.step.role.as_deref().unwrap_or("");
            println!("{}: pushed {}", r.step.host, baton_core::commands::env_file_path(&plan.config, role));
        }
    }
    if !run.skipped.is_empty() {
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
