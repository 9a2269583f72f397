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
    /// Don't run hooks (.kamal/hooks, or hooks_path).
    #[arg(short = 'H', long = "skip-hooks", global = true)]
    pub skip_hooks: bool,
    /// Print, per host, the exact commands that would run, and connect to nothing.
    #[arg(long = "dry-run", global = true)]
    pub dry_run: bool,
    /// When another deploy holds the lock, wait for it (trying again every 2-5 s, saying who
    /// holds it) for up to TIMEOUT (e.g. 30s, 10m; default 10m) instead of failing at once.
    /// Put it after the command, or write --lock-wait=TIMEOUT.
    #[arg(
        long = "lock-wait",
        global = true,
        value_name = "TIMEOUT",
        num_args = 0..=1,
        default_missing_value = "10m",
        value_parser = lock_wait_ms
    )]
    pub lock_wait: Option<u64>,
}

#[derive(Parser, Debug)]
#[command(
    name = "baton",
    about = "Zero-downtime deploys of containerised apps over SSH, with Kamal 1's config and cord handover",
    long_about = "baton boots containerised web apps on a fleet of servers over SSH with Kamal 1's \"cord\" handover, \
reading the same config/deploy.yml. `baton plan` simulates a boot against a simulated fleet and prints \
what each host would do, any serving gap and the outcome, without contacting a server.",
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
    /// Simulate `app boot` against a simulated fleet: a summary per host and role, the serving gaps,
    /// the outcome, then a timeline of what changes.
    ///
    /// Contacts nothing, unless --live: then it first reads the hosts over SSH (read-only) and
    /// simulates from what they run.
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
        /// Print the prediction as JSON: the summary, every effect with its result, every event
        /// (the proxy's and Docker's too), the lock, warnings, assumptions (docs/plan-json.md).
        /// The same inputs and seed give the same bytes.
        #[arg(long)]
        json: bool,
        /// The time the plan pretends it is (RFC 3339, UTC, e.g. 2026-11-27T10:00:00Z), as written
        /// into the lock details [default: from the seed: 2026-01-01T00:00:00Z plus SEED seconds,
        /// modulo a year]. The plan never reads the clock.
        #[arg(long, value_name = "TIME", value_parser = rfc3339)]
        now: Option<String>,
        /// How long the app takes to answer its health check after its container starts.
        #[arg(long, value_name = "DURATION", default_value = "1.2s", value_parser = duration_ms)]
        app_start: u64,
        /// The proxy notices a change after baton.proxy_pickup plus up to this much more
        /// [default: half of baton.proxy_pickup].
        #[arg(long, value_name = "DURATION", value_parser = duration_ms)]
        proxy_jitter: Option<u64>,
        /// What to simulate: `boot` (`app boot`), or `deploy` / `redeploy` (with the build, the
        /// pulls, the health check container, the hooks in .kamal/hooks and, for deploy, the prune),
        /// or `rollback` to --version (a stopped container of it on every host, unless --live
        /// read the hosts).
        #[arg(long, value_enum, value_name = "COMMAND", default_value = "boot")]
        command: PlanOf,
        /// How long building and pushing the image takes on this machine (`--command deploy`).
        #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration_ms)]
        build_time: u64,
        /// The hosts already have the image (`kamal build pull` ran): no pull time.
        #[arg(long)]
        pulled: bool,
        /// What the timeline shows: `compact`, what changes (commands that change a host, the
        /// proxy, health, failures; reads folded into the waits they belong to, alike hosts
        /// folded), or `full`: every command, read and answer.
        #[arg(long, value_enum, value_name = "WHAT", default_value = "compact")]
        timeline: Timeline,
        /// Print commands whole instead of cutting them to the terminal's width (160 when not a
        /// terminal).
        #[arg(long)]
        commands: bool,
        /// Also write the rollout's lanes (each host and role: waiting, starting, serving old +
        /// new, draining, done) as an SVG picture to FILE.
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
        /// Read the hosts first (over SSH, read-only: no lock taken, nothing changed): what runs on
        /// every host and role, the cords, health, the proxy's routes (baton.routes), whether the
        /// lock is held, which hosts cannot be reached; plan from that, with the command times
        /// measured while reading.
        #[arg(long, conflicts_with = "from")]
        live: bool,
        /// Take command times and Docker health timing from these journals of real runs
        /// (`app boot`, `deploy`…) instead of the built-in figures. Repeatable.
        #[arg(long, value_name = "FILE", num_args = 1..)]
        calibrate: Vec<PathBuf>,
    },
    /// Build and push the image, then boot it on every host, under one lock (as `kamal deploy`).
    ///
    /// Runs: pre-connect hook, deploy lock, registry login (here and on every host), build push (pre-build
    /// hook) and pull on every host (or only the pull, with -P), pre-deploy hook, Traefik started on each
    /// Traefik host where it is not running (`traefik boot`: the existing `traefik` container started, else
    /// a new one run), healthcheck perform, stale containers, app boot with the cord handover, prune all,
    /// lock release, post-deploy hook. A failed step stops the deploy; hosts keep the version they served.
    Deploy {
        /// Skip the image build and push: pull the version on the hosts.
        #[arg(short = 'P', long = "skip-push")]
        skip_push: bool,
    },
    /// As deploy, without the registry login and the prune (as `kamal redeploy`).
    Redeploy {
        /// Skip the image build and push: pull the version on the hosts.
        #[arg(short = 'P', long = "skip-push")]
        skip_push: bool,
    },
    /// Boot VERSION again from its stopped containers, under the lock (as `kamal rollback`).
    ///
    /// Changes nothing unless every selected host has a container of VERSION for every role it runs; then
    /// runs the pre-deploy hook, boots VERSION with the cord handover and runs the post-deploy hook.
    /// Without VERSION, lists the versions that could be rolled back to.
    Rollback {
        /// The version to go back to.
        #[arg(value_name = "VERSION")]
        target: Option<String>,
    },
    /// Set up a new fleet and deploy: check Docker on every host, boot every accessory, then deploy
    /// (as `kamal setup`). Start here.
    ///
    /// Under one deploy lock: docker -v on every app and accessory host (a host without Docker fails the
    /// setup; `baton server bootstrap --install` installs it), the run directory on the app's hosts, every
    /// accessory booted (its directories, files, registry login, container), then everything `baton
    /// deploy` runs (Traefik booted where it does not run included). Run `baton env push` first: the containers read their env files.
    Setup {
        /// Skip the image build and push: pull the version on the hosts.
        #[arg(short = 'P', long)]
        skip_push: bool,
    },
    /// Show the containers of Traefik, the app and every accessory, per host (as `kamal details`).
    Details,
    /// Remove Traefik (container and image), the app (containers and images), every accessory
    /// (container, image, files, data directories, env file) and the registry session from the hosts
    /// (as `kamal remove`).
    ///
    /// Asks first (type y), unless -y is given. Runs under the deploy lock.
    Remove {
        /// Proceed without the question.
        #[arg(short = 'y', long = "confirmed")]
        confirmed: bool,
    },
    /// Accessories: the services beside the app (as `kamal accessory`).
    Accessory {
        #[command(subcommand)]
        command: AccessoryCmd,
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
    /// Traefik on the hosts of the roles that run it: `web`, or `traefik: true` (as `kamal traefik`).
    Traefik {
        #[command(subcommand)]
        command: TraefikCmd,
    },
    /// Env files on the hosts (as `kamal env`).
    Env {
        #[command(subcommand)]
        command: EnvCmd,
    },
    /// Health check the app version on the primary host (as `kamal healthcheck`).
    Healthcheck {
        #[command(subcommand)]
        command: Option<HealthcheckCmd>,
    },
    /// Prune old images and stopped containers (as `kamal prune`).
    Prune {
        #[command(subcommand)]
        command: PruneCmd,
    },
    /// Servers (as `kamal server`).
    Server {
        #[command(subcommand)]
        command: ServerCmd,
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
    /// Show the config as baton reads it, as YAML, with every secret redacted.
    ///
    /// config/deploy.yml with the destination's file merged over it (-d) and its ERB evaluated. Secrets
    /// are redacted: the registry password, when written as a value, and every value read from a
    /// variable named in an env.secret list or in registry.password show as [REDACTED]. (Kamal prints
    /// them; baton does not.)
    Config,
    /// Create config/deploy.yml, .env and sample hooks in .kamal/hooks, each only when missing.
    ///
    /// Nothing that exists is overwritten: remove a file first to create a new one.
    Init {
        /// Kamal adds its gem to the Gemfile and a bin/kamal binstub; baton is one binary, not a gem,
        /// so this is refused.
        #[arg(long)]
        bundle: bool,
    },
    /// Write .env from .env.erb (or .env.<DESTINATION> from .env.<DESTINATION>.erb with -d), then run
    /// `env push`.
    ///
    /// The template may use <%= ENV["NAME"] %>, <%= ENV.fetch("NAME") %> and
    /// <%= ENV.fetch("NAME", "default") %>; anything else is an error. The file is written with mode
    /// 0600 and its values are never printed. With --dry-run, nothing is written: baton says what it
    /// would write and shows what `env push` would run.
    Envify,
    /// Replay the journal of a real run against the core, and check it makes the same decisions.
    ///
    /// Every real `app boot`, `deploy`, `redeploy`, `rollback` and `setup` writes a journal (JSON lines) to
    /// $BATON_JOURNAL_DIR, else $XDG_STATE_HOME/baton/journal, else ~/.local/state/baton/journal
    /// (the last baton.journal_keep, 50, are kept). replay rebuilds the run's machine from the
    /// journal's header (the config, -c, must be the same: its digest is checked), feeds it the
    /// recorded answers, wake-ups and interrupts at their recorded times, and compares the commands
    /// and events it issues with the recorded ones. Contacts nothing. Exit 0 when identical, 1 at
    /// the first divergence (printed with its journal line, time, and what was expected and got).
    /// Before the verdict it prints the run as `plan` does: the summary per host and role, the
    /// lanes, and the timeline of what changed. The journal's --lock-wait is honoured.
    Replay {
        /// The journal file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// What the timeline shows: `compact` (what changes) or `full` (every command, read and
        /// answer).
        #[arg(long, value_enum, value_name = "WHAT", default_value = "compact")]
        timeline: Timeline,
    },
    /// Print baton's own version.
    Version,
}

/// `baton plan --timeline`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeline {
    /// What changes, with reads folded into waits and alike hosts folded.
    Compact,
    /// Every command, read and answer.
    Full,
}

#[derive(Subcommand, Debug)]
pub enum ServerCmd {
    /// Check that Docker (docker -v) and curl (curl --version) are on every host; say how to install
    /// what is missing.
    ///
    /// Also creates the run directory (.kamal) on each host, as Kamal does. Installs nothing unless
    /// --install is given.
    Bootstrap {
        /// Where Docker is missing, install it as Kamal does: download https://get.docker.com and pipe
        /// it into a root shell on the host (`curl -fsSL https://get.docker.com | sh`, as root only).
        /// This runs a script from the internet as root: read it first.
        #[arg(long)]
        install: bool,
    },
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
pub enum HealthcheckCmd {
    /// Health check the version in a throw-away container on the primary host (the default).
    ///
    /// Starts healthcheck-<service>[-<destination>]-<version> with the primary role's env file, health
    /// check, volumes and options, published on healthcheck.exposed_port (default 3999); reads its health
    /// until it is healthy (after the n-th read that is not, waits n seconds, at most
    /// healthcheck.max_attempts times); then stops and removes it, also after a failure or Ctrl-C. When it
    /// never turns healthy, prints its last healthcheck.log_lines (default 50) log lines and its health log.
    /// Exit code 0 when healthy, 1 when not.
    Perform,
}

#[derive(Subcommand, Debug)]
pub enum PruneCmd {
    /// Prune stopped containers, then unused images, under the deploy lock.
    All,
    /// Prune dangling images, and tagged images of the service no container uses (never latest).
    ///
    /// An image stays while any container of the service, running or stopped, uses it, so the
    /// containers `prune containers` keeps for a rollback keep their images.
    Images,
    /// Prune stopped containers of each role except the newest 5 (retain_containers).
    ///
    /// Kamal counts the whole service's stopped containers; baton counts per role (and destination),
    /// so that every role keeps the containers a rollback needs. Stopped health check containers go too.
    Containers,
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
    /// Upload each role's env file to .kamal/env/roles/<service>-<role>[-<dest>].env, and each
    /// accessory's to .kamal/env/accessories/<service>-<accessory>.env on its hosts (mode 0400).
    ///
    /// Clear values come from the config; secret values from the environment, else .env.<destination>,
    /// else .env. Secret values are never printed.
    Push,
    /// Remove the env files of every role, accessory and Traefik (when traefik.env is set) from the hosts.
    Delete,
}

/// The options of `app logs`, `traefik logs` and `accessory logs`, as Kamal's.
#[derive(Args, Debug, Clone)]
pub struct LogArgs {
    /// Lines since a timestamp (2013-01-02T13:23:37Z) or relative (42m).
    #[arg(short = 's', long)]
    pub since: Option<String>,
    /// Number of lines per host (default 100 unless --since or --grep is given).
    #[arg(short = 'n', long)]
    pub lines: Option<u32>,
    /// Only lines matching this pattern (grep).
    #[arg(short = 'g', long)]
    pub grep: Option<String>,
    /// Follow the log on the primary host (an accessory's first host) until Ctrl-C.
    #[arg(short = 'f', long)]
    pub follow: bool,
}

#[derive(Subcommand, Debug)]
pub enum TraefikCmd {
    /// Start Traefik on the Traefik hosts: the existing `traefik` container, else a new one.
    ///
    /// Takes the deploy lock, logs in to the registry on each host (the password on standard input), then
    /// `docker container start traefik || docker run --name traefik …` with traefik.image (default
    /// traefik:v2.9), --publish <host_port>:80, the Docker socket, the env file (when traefik.env is set),
    /// logging, traefik.labels and traefik.options, then --providers.docker, --log.level=DEBUG and
    /// traefik.args.
    Boot,
    /// Reboot Traefik: stop the container, remove it, run a new one (on every host at once).
    ///
    /// With --rolling, one host at a time: before the next host, baton waits until this host's Traefik
    /// answers again and its routing table (read with baton.routes) holds a server of each of the app's
    /// roles with a healthy container there; without baton.routes it waits until the container runs and
    /// says that routes were not confirmed. A host whose Traefik is not back within 30 s (plus
    /// baton.pause_margin) stops the reboot there.
    Reboot {
        /// One host at a time, each one back before the next goes down.
        #[arg(long)]
        rolling: bool,
    },
    /// Start the existing Traefik container.
    Start,
    /// Stop the Traefik container.
    Stop,
    /// Stop, then start, the Traefik container.
    Restart,
    /// Show the Traefik container on each host (docker ps).
    Details,
    /// Show log lines of Traefik on each host.
    Logs(LogArgs),
    /// Stop Traefik and remove its container and image.
    Remove,
    /// Remove the Traefik container.
    #[command(name = "remove_container", hide = true)]
    RemoveContainer,
    /// Remove the Traefik image.
    #[command(name = "remove_image", hide = true)]
    RemoveImage,
}

/// NAME: an accessory of the config, or `all`.
#[derive(Subcommand, Debug)]
pub enum AccessoryCmd {
    /// Boot an accessory on its hosts (NAME=all: every accessory), under the deploy lock.
    ///
    /// Creates its data directories ($PWD/<service>-<name>/<dir>), uploads its files (a file whose name
    /// ends in erb is evaluated as ERB first, with the accessory's clear env set) to
    /// <service>-<name>/<path>, logs in to the registry, then starts the container <service>-<name>.
    /// File contents and the password go on standard input. Run `baton env push` first.
    Boot {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Stop the accessory, remove its container, boot it again (with its files).
    Reboot {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Start the existing accessory container.
    Start {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Stop the accessory container.
    Stop {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Stop, then start the accessory container.
    Restart {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Show the accessory's container (docker ps) on each of its hosts.
    Details {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Run a command in a new container of the accessory's image, or in the running one (--reuse).
    ///
    /// Without -i, on every host of the accessory, output shown per host; with -i, interactively on its
    /// first host over `ssh -t`. CMD is interpreted by the host's shell, as in Kamal.
    Exec {
        /// Interactive, over `ssh -t` on the accessory's first host.
        #[arg(short = 'i', long)]
        interactive: bool,
        /// Run in the running container instead of a new one.
        #[arg(long)]
        reuse: bool,
        #[arg(value_name = "NAME")]
        name: String,
        /// The command line to run.
        #[arg(value_name = "CMD")]
        cmd: String,
    },
    /// Show log lines of the accessory on each of its hosts.
    Logs {
        #[arg(value_name = "NAME")]
        name: String,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Remove the accessory's container, image, service directory (files and data) and env file.
    ///
    /// Asks first, for each accessory (type y), unless -y is given. Kamal leaves the env file; baton
    /// removes it (it holds the accessory's secrets).
    Remove {
        #[arg(value_name = "NAME")]
        name: String,
        /// Proceed without the question.
        #[arg(short = 'y', long = "confirmed")]
        confirmed: bool,
    },
    /// Upload the accessory's files to its hosts (part of boot).
    Upload {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Create the accessory's data directories on its hosts (part of boot).
    Directories {
        #[arg(value_name = "NAME")]
        name: String,
    },
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
    Logs(LogArgs),
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

/// `--lock-wait`'s TIMEOUT, in milliseconds.
fn lock_wait_ms(s: &str) -> Result<u64, String> {
    baton_core::config::parse_duration(s).ok_or_else(|| {
        format!(
            "{s:?} is not a duration (e.g. 30s, 10m); write --lock-wait=TIMEOUT, or put --lock-wait after the command"
        )
    })
}

/// An RFC 3339 time in UTC, normalised to whole seconds (`2026-11-27T10:00:00Z`).
fn rfc3339(s: &str) -> Result<String, String> {
    humantime::parse_rfc3339(s)
        .map(|t| humantime::format_rfc3339_seconds(t).to_string())
        .map_err(|e| format!("{s:?} is not an RFC 3339 time in UTC ({e}); write e.g. 2026-11-27T10:00:00Z"))
}

/// What `baton plan` simulates.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanOf {
    Boot,
    Deploy,
    Redeploy,
    Rollback,
}

/// Global options that mean nothing for a command: hidden from its help and
/// refused when given.
struct NotFor {
    command: &'static str,
    /// Each option's id and how it is written.
    options: &'static [(&'static str, &'static str)],
    why: &'static str,
}

/// Every option that selects hosts or talks to them.
const REMOTE: &[(&str, &str)] = &[
    ("verbose", "--verbose"),
    ("version", "--version"),
    ("primary", "--primary"),
    ("hosts", "--hosts"),
    ("roles", "--roles"),
    ("skip_hooks", "--skip-hooks"),
    ("dry_run", "--dry-run"),
    ("lock_wait", "--lock-wait"),
];

/// Every global option: for the commands that read no config.
const ALL: &[(&str, &str)] = &[
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
    ("lock_wait", "--lock-wait"),
];

const NOT_FOR: &[NotFor] = &[
    NotFor { command: "config", options: REMOTE, why: "it reads the config files and contacts no host" },
    NotFor {
        command: "init",
        options: ALL,
        why: "it creates config/deploy.yml, .env and .kamal/hooks in this directory, reads no config and contacts no host",
    },
    NotFor {
        command: "plan",
        options: &[("verbose", "--verbose"), ("dry_run", "--dry-run"), ("skip_hooks", "--skip-hooks")],
        why: "plan contacts nothing, runs no hook, and prints every command already",
    },
    NotFor {
        command: "rollback",
        options: &[("version", "--version")],
        why: "the version to roll back to is its argument: `baton rollback VERSION`",
    },
    NotFor {
        command: "replay",
        options: &[
            ("verbose", "--verbose"),
            ("version", "--version"),
            ("primary", "--primary"),
            ("hosts", "--hosts"),
            ("roles", "--roles"),
            ("destination", "--destination"),
            ("skip_hooks", "--skip-hooks"),
            ("dry_run", "--dry-run"),
            ("lock_wait", "--lock-wait"),
        ],
        why: "the journal holds the run's version, hosts, roles, destination, hooks and --lock-wait, and replay contacts nothing",
    },
    NotFor { command: "version", options: ALL, why: "it prints baton's own version and reads no config" },
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
    fn lock_wait_takes_an_optional_timeout() {
        assert_eq!(parse("baton app boot").expect("parses").global.lock_wait, None);
        assert_eq!(parse("baton app boot --lock-wait").expect("parses").global.lock_wait, Some(600_000));
        assert_eq!(parse("baton app boot --lock-wait 30s").expect("parses").global.lock_wait, Some(30_000));
        assert_eq!(parse("baton app boot --lock-wait=2m -v").expect("parses").global.lock_wait, Some(120_000));
        let cli = parse("baton app boot --lock-wait -v").expect("parses");
        assert_eq!((cli.global.lock_wait, cli.global.verbose), (Some(600_000), true));
        assert_eq!(parse("baton app boot --lock-wait soon").err(), Some(2));
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
