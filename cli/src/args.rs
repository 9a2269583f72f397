//! The command line, as Kamal 1's: the same global options with the same
//! short forms (`-v` is `--verbose`, `--version` has none), and baton's own
//! commands. Options that mean nothing for a command are hidden from its
//! help and refused when given ([`NOT_FOR`]).

use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;

/// Options every command takes, as Kamal's (`lib/kamal/cli/base.rb`), in its order.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Print every command with its result and timing.
    #[arg(short = 'v', long, global = true)]
    pub verbose: bool,
    /// Print less (no config warnings, no progress).
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,
    /// The app version to run commands against (default: $VERSION, else the git HEAD).
    #[arg(long = "version", global = true, value_name = "VERSION")]
    pub version: Option<String>,
    /// Run commands only on the primary host (the first host of the primary role).
    #[arg(short = 'p', long, global = true, conflicts_with = "hosts")]
    pub primary: bool,
    /// Only these hosts (comma-separated, as written in the config).
    #[arg(short = 'h', long, global = true, value_delimiter = ',', value_name = "HOSTS")]
    pub hosts: Option<Vec<String>>,
    /// Only these roles (comma-separated).
    #[arg(short = 'r', long, global = true, value_delimiter = ',', value_name = "ROLES")]
    pub roles: Option<Vec<String>>,
    /// Path to the config file.
    #[arg(short = 'c', long = "config-file", global = true, default_value = "config/deploy.yml")]
    pub config_file: PathBuf,
    /// Destination: merges config/deploy.<DESTINATION>.yml over config/deploy.yml.
    #[arg(short = 'd', long, global = true)]
    pub destination: Option<String>,
    /// Don't run hooks. baton does not run hooks yet, so there is nothing to skip.
    #[arg(short = 'H', long = "skip-hooks", global = true)]
    pub skip_hooks: bool,
    /// Print, per host, the exact commands that would run, and connect to nothing.
    #[arg(long = "dry-run", global = true)]
    pub dry_run: bool,
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
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help, global = true)]
    help: Option<bool>,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
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
    /// Build the image and move it through the registry (as `kamal build`).
    Build {
        #[command(subcommand)]
        command: BuildCmd,
    },
    /// Log in to or out of the image registry (as `kamal registry`).
    Registry {
        #[command(subcommand)]
        command: RegistryCmd,
    },
    /// Show the last 50 lines of the audit log on each host.
    Audit,
    /// Print baton's own version.
    Version,
}

#[derive(Subcommand, Debug)]
pub enum LockCmd {
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
pub enum BuildCmd {
    /// Build the image and push it to the registry, then pull it onto the hosts (push, then pull).
    Deliver,
    /// Build the image on this machine and push it, with `latest`, to the registry.
    ///
    /// Checks the local Docker (the engine DOCKER_HOST names, else the default socket, and buildx
    /// unless builder.multiarch is false), runs the pre-build hook, warns about uncommitted changes,
    /// creates the buildx builder if buildx does not know it, then builds with the config's builder.
    /// Takes the deploy lock. Build argument values are passed on standard input, never printed.
    Push,
    /// Pull the image of the version onto the hosts (removing a stale image of the same tag first).
    Pull,
    /// Create the buildx builder (and its docker contexts) of the config's builder.
    Create,
    /// Remove the buildx builder (and its docker contexts).
    Remove,
    /// Show the builder, its docker contexts and buildx builders.
    Details,
}

#[derive(Subcommand, Debug)]
pub enum RegistryCmd {
    /// Log in to the registry on this machine and on every host.
    ///
    /// The username and password come from registry.username and registry.password: a value, or
    /// [ENV_NAME] read from the environment, else .env.<destination>, else .env. The password goes to
    /// `docker login --password-stdin` on standard input: it is never on a command line or printed.
    Login,
    /// Log out of the registry on every host.
    Logout,
}

#[derive(Subcommand, Debug)]
pub enum EnvCmd {
    /// Upload each role's env file to .kamal/env/roles/<service>-<role>[-<dest>].env (mode 0400).
    ///
    /// Clear values come from the config; secret values from the environment, else .env.<destination>,
    /// else .env. Secret values are never printed.
    Push,
}

#[derive(Subcommand, Debug)]
pub enum AppCmd {
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
        /// Follow the log on the primary host until Ctrl-C.
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

/// A duration on the command line (`1.5s`, `800ms`, `2m`), in milliseconds.
fn duration_ms(s: &str) -> Result<u64, String> {
    baton_core::config::parse_duration(s).ok_or_else(|| format!("{s:?} is not a duration (e.g. 1.5s, 800ms)"))
}

/// Global options that mean nothing for a command: hidden from its help and
/// refused when given.
struct NotFor {
    command: &'static str,
    /// Each option's id and how it is written.
    options: &'static [(&'static str, &'static str)],
    why: &'static str,
}

const NOT_FOR: &[NotFor] = &[
    NotFor {
        command: "plan",
        options: &[("verbose", "--verbose"), ("dry_run", "--dry-run"), ("skip_hooks", "--skip-hooks")],
        why: "plan contacts nothing, runs no hook, and prints every command already",
    },
    NotFor {
        command: "version",
        options: &[
            ("verbose", "--verbose"),
            ("quiet", "--quiet"),
            ("version", "--version"),
            ("primary", "--primary"),
            ("hosts", "--hosts"),
            ("roles", "--roles"),
            ("config_file", "--config-file"),
            ("destination", "--destination"),
            ("skip_hooks", "--skip-hooks"),
            ("dry_run", "--dry-run"),
        ],
        why: "it prints baton's own version and reads no config",
    },
];

/// The clap command, with the options of [`NOT_FOR`] hidden where they do
/// not apply.
pub fn command() -> clap::Command {
    let cmd = Cli::command();
    let globals: Vec<clap::Arg> = cmd.get_arguments().filter(|a| a.is_global_set()).cloned().collect();
    // A subcommand that has an argument of a global's id does not get the
    // global copied in: give it a hidden copy of its own, so that the
    // option still parses there (and is refused), but is not listed.
    cmd.mut_subcommands(|sub| {
        let Some(not_for) = NOT_FOR.iter().find(|n| n.command == sub.get_name()) else { return sub };
        globals
            .iter()
            .filter(|a| not_for.options.iter().any(|(id, _)| a.get_id() == *id))
            .fold(sub, |sub, a| sub.arg(a.clone().global(false).hide(true)))
    })
}

/// Parse the command line: Ok, or the exit code after printing why not (or help).
pub fn parse() -> Result<Cli, u8> {
    parse_from(std::env::args_os())
}

fn parse_from(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Cli, u8> {
    let matches = match command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return Err(code);
        }
    };
    if let Some(message) = refused(&matches) {
        eprintln!("error: {message}");
        return Err(2);
    }
    Cli::from_arg_matches(&matches).map_err(|e| {
        let _ = e.print();
        2
    })
}

/// An option given to a command it means nothing for, in words.
fn refused(matches: &ArgMatches) -> Option<String> {
    let (name, sub) = matches.subcommand()?;
    let not_for = NOT_FOR.iter().find(|n| n.command == name)?;
    let given = |m: &ArgMatches, id: &str| m.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
    let (_, flag) = not_for.options.iter().find(|(id, _)| given(sub, id) || given(matches, id))?;
    Some(format!("{flag}: does not apply to `baton {name}`: {}; leave it out", not_for.why))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Cli, u8> {
        parse_from(line.split_whitespace().map(std::ffi::OsString::from))
    }

    #[test]
    fn v_is_verbose_and_version_has_no_short_form() {
        let cli = parse("baton app boot -v --version v2 --dry-run").expect("parses");
        assert!(cli.global.verbose && cli.global.dry_run);
        assert_eq!(cli.global.version.as_deref(), Some("v2"));
        let cli = parse("baton -v app details").expect("parses");
        assert!(cli.global.verbose);
        assert!(cli.global.version.is_none());
        assert!(matches!(cli.command, Cmd::App { command: AppCmd::Details }));
    }

    #[test]
    fn primary_and_skip_hooks_are_kamal_flags() {
        let cli = parse("baton app details -p -H").expect("parses");
        assert!(cli.global.primary && cli.global.skip_hooks);
        assert_eq!(parse("baton app details -p -h a").err(), Some(2), "-p and -h contradict each other");
    }

    #[test]
    fn options_that_mean_nothing_for_a_command_are_refused() {
        assert_eq!(parse("baton plan --dry-run").err(), Some(2));
        assert_eq!(parse("baton --verbose plan").err(), Some(2));
        assert_eq!(parse("baton plan -v").err(), Some(2));
        assert_eq!(parse("baton version -r web").err(), Some(2));
        assert!(parse("baton plan -q -r web").is_ok());
        let m = command().try_get_matches_from(["baton", "plan", "--dry-run"]).expect("clap accepts it");
        assert_eq!(
            refused(&m).as_deref(),
            Some("--dry-run: does not apply to `baton plan`: plan contacts nothing, runs no hook, and prints every command already; leave it out")
        );
    }
}
