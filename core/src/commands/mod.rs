//! One builder per command baton runs on a host. Each returns a
//! [`Command`]; values pass through [`crate::shell::quote`] when rendered.
//!
//! The containers they create are the ones Kamal 1.0 creates (same name,
//! labels, `KAMAL_CONTAINER_NAME`, env file, restart policy, log options,
//! health command with the cord, cord mount and hostname pattern), so that
//! baton can take over a fleet that Kamal deployed, and the reverse.

pub mod accessory;
pub mod build;
pub mod healthcheck;
mod paths;
pub mod prune;
pub mod registry;
pub mod traefik;

pub use paths::{container_name, env_file_path, lock_dir, run_path, CordDir};

use crate::config::{Config, OptionValue, Role};
use crate::shell::{home_path, Command, Word};

/// The name of the cord file in a cord directory: the health check fails
/// once it is gone.
pub const CORD_FILE: &str = "cord";

/// The status format baton reads: the state, then, when there is a health
/// check, the health and how many checks in a row failed (`running healthy
/// 0`, `exited`). Kamal reads only one of state and health, so it cannot
/// tell a crashed container from a slow one; the streak lets baton skip
/// polls that cannot see a change.
pub const STATUS_FORMAT: &str =
    "{{.State.Status}}{{if .State.Health}} {{.State.Health.Status}} {{.State.Health.FailingStreak}}{{end}}";

pub(crate) fn docker() -> Command {
    Command::program("docker")
}

/// `--filter label=service=… [--filter label=destination=…] [--filter label=role=…]`
fn filters(cfg: &Config, role: Option<&str>) -> Command {
    let mut c = Command::new().fixed("--filter").arg(format!("label=service={}", cfg.service));
    if let Some(d) = &cfg.destination {
        c = c.fixed("--filter").arg(format!("label=destination={d}"));
    }
    if let Some(r) = role {
        c = c.fixed("--filter").arg(format!("label=role={r}"));
    }
    c
}

/// `mkdir -p .kamal`
pub fn ensure_run_directory(cfg: &Config) -> Command {
    Command::program("mkdir").fixed("-p").arg(&cfg.run_directory)
}

/// `.kamal/<service>[-<dest>]-audit.log`
pub fn audit_log_path(cfg: &Config) -> String {
    let mut stem = cfg.service.clone();
    if let Some(d) = &cfg.destination {
        stem = format!("{stem}-{d}");
    }
    run_path(cfg, &format!("{stem}-audit.log"))
}

/// The part of an audit line after its timestamp:
/// `[<performer>] [<dest>] [<role>] <message>`, on one line.
pub fn audit_text(cfg: &Config, performer: &str, role: Option<&str>, message: &str) -> String {
    let mut s = format!("[{performer}]");
    if let Some(d) = &cfg.destination {
        s.push_str(&format!(" [{d}]"));
    }
    if let Some(r) = role {
        s.push_str(&format!(" [{r}]"));
    }
    s.push(' ');
    s.push_str(message);
    // One record per line, whatever the message holds.
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Append an audit record; the host stamps it with its UTC time.
/// `mkdir -p .kamal && printf '%s %s\n' "[$(date -u +%Y-%m-%dT%H:%M:%SZ)]" '<text>' >> .kamal/app-audit.log`
pub fn audit(cfg: &Config, performer: &str, role: Option<&str>, message: &str) -> Command {
    let text = audit_text(cfg, performer, role, message);
    Command::and_all([
        ensure_run_directory(cfg),
        Command::program("printf")
            .arg(r"%s %s\n")
            .fixed("\"[$(date -u +%Y-%m-%dT%H:%M:%SZ)]\"")
            .arg(text)
            .fixed(">>")
            .arg(audit_log_path(cfg)),
    ])
}

/// Last `lines` lines of the audit log.
pub fn audit_tail(cfg: &Config, lines: u32) -> Command {
    Command::program("tail").fixed("-n").arg(lines.to_string()).arg(audit_log_path(cfg))
}

/// `<repository>:<version>`
pub fn image_ref(cfg: &Config, version: &str) -> String {
    format!("{}:{version}", cfg.repository())
}

/// Make sure the image is on the host (pull it when missing), then tag it as
/// `latest`, as Kamal's `tag_current_as_latest`.
pub fn pull_if_missing_and_tag_latest(cfg: &Config, version: &str) -> Command {
    let image = image_ref(cfg, version);
    Command::new()
        .fixed("{")
        .then(docker().fixed("image").fixed("inspect").fixed("--format").arg(".").arg(&image))
        .fixed(">/dev/null 2>&1 ||")
        .then(docker().fixed("pull").fixed("--quiet").arg(&image))
        .fixed("; } &&")
        .then(docker().fixed("tag").arg(&image).arg(image_ref(cfg, "latest")))
}

/// Every container of the role, newest first, as `name<TAB>state` lines.
pub fn list_role_containers(cfg: &Config, role: &str) -> Command {
    docker().fixed("ps").fixed("--all").then(filters(cfg, Some(role))).fixed("--format").arg("{{.Names}}\t{{.State}}")
}

/// `docker rename <from> <to>`
pub fn rename(from: &str, to: &str) -> Command {
    docker().fixed("rename").arg(from).arg(to)
}

/// Host directory of a role's cord for this run. Relative run directories
/// are anchored at the remote home, as Kamal anchors them at `$(pwd)`.
pub fn cord_host_dir(cfg: &Config, role: &str, run_id: &str) -> Word {
    host_path(cfg, &CordDir::new(cfg, role, run_id).path)
}

fn host_path(cfg: &Config, path: &str) -> Word {
    if cfg.run_directory.starts_with('/') {
        Word::Value(path.to_string())
    } else {
        home_path(path)
    }
}

fn glue(w: Word, suffix: &str) -> Word {
    Word::Glued(vec![w, Word::Value(suffix.to_string())])
}

/// `mkdir -p <cord dir> && touch <cord dir>/cord`
pub fn tie_cord(cfg: &Config, role: &str, run_id: &str) -> Command {
    let dir = cord_host_dir(cfg, role, run_id);
    Command::and_all([
        Command::program("mkdir").fixed("-p").arg(dir.clone()),
        Command::program("touch").arg(glue(dir, &format!("/{CORD_FILE}"))),
    ])
}

/// `rm -f <dir>/cord`: cut a cord found in a container's mounts. Only the
/// file goes: the directory stays mounted in the container, so the cord
/// can be tied again ([`retie_cord`]); Kamal removed the directory, which no
/// command on the host can give back to a running container. A cord already
/// cut (by an earlier run whose answer was lost) is not an error.
pub fn cut_cord(dir: &str) -> Command {
    Command::program("rm").fixed("-f").arg(format!("{}/{CORD_FILE}", dir.trim_end_matches('/')))
}

/// `touch <dir>/cord`: tie a cut cord again, in the directory the container
/// still mounts.
pub fn retie_cord(dir: &str) -> Command {
    Command::program("touch").arg(format!("{}/{CORD_FILE}", dir.trim_end_matches('/')))
}

fn env_args(cfg: &Config, role: &Role) -> Command {
    Command::new().fixed("--env-file").arg(env_file_path(cfg, &role.name))
}

/// A container's logging (a role's: the global `logging:` with the role's
/// over it; an accessory's: the global one), or Kamal's default
/// `--log-opt max-size=10m`.
pub(crate) fn logging_args(logging: &crate::config::Logging) -> Command {
    if logging.driver.is_none() && logging.options.is_empty() {
        return Command::new().fixed("--log-opt").arg("max-size=10m");
    }
    let mut c = Command::new().opt("--log-driver", logging.driver.as_deref());
    for (k, v) in &logging.options {
        c = c.fixed("--log-opt").arg(format!("{k}={v}"));
    }
    c
}

fn volume_args(cfg: &Config) -> Command {
    cfg.volumes.iter().fold(Command::new(), |c, v| c.fixed("--volume").arg(v))
}

fn label_args(cfg: &Config, role: &Role) -> Command {
    cfg.role_labels(role).into_iter().fold(Command::new(), |c, (k, v)| c.fixed("--label").arg(format!("{k}={v}")))
}

fn option_args(role: &Role) -> Command {
    docker_options(&role.options)
}

/// `--name value` (or `--name` alone) for each Docker option of the config.
pub(crate) fn docker_options(options: &[(String, OptionValue)]) -> Command {
    options.iter().fold(Command::new(), |c, (k, v)| {
        let c = c.arg(format!("--{k}"));
        match v {
            OptionValue::Flag => c,
            OptionValue::Value(v) => c.arg(v),
        }
    })
}

/// The health command with the cord check, as Kamal 1.0 writes it.
pub fn health_cmd_with_cord(cmd: &str, cord_dir: &str) -> String {
    format!("({cmd}) && (stat {cord_dir}/{CORD_FILE} > /dev/null || exit 1)")
}

fn health_args(cfg: &Config, role: &Role, run_id: &str) -> Command {
    let (Some(cmd), Some(hc)) = (&role.spec.health_cmd, &role.spec.healthcheck) else {
        return Command::new();
    };
    match role.spec.cord_mount() {
        Some(cord) => Command::new()
            .fixed("--health-cmd")
            .arg(health_cmd_with_cord(cmd, cord))
            .fixed("--health-interval")
            .arg(hc.interval.clone())
            .fixed("--volume")
            .arg(glue(cord_host_dir(cfg, &role.name, run_id), &format!(":{cord}"))),
        None => {
            Command::new().fixed("--health-cmd").arg(cmd.clone()).fixed("--health-interval").arg(hc.interval.clone())
        }
    }
}

/// `--hostname` value: `<host>-<12 hex>`, the host's address (without the
/// port of `host:port`) cut so the whole stays within Linux's 64-character
/// limit.
pub fn container_hostname(host: &str, hex12: &str) -> String {
    let address = crate::config::names::parse_host(host).map_or_else(|_| host.to_string(), |h| h.address);
    let cut: String = address.chars().take(51).collect();
    format!("{cut}-{hex12}")
}

/// `docker run` of the role's container, in Kamal 1.0's argument order.
pub fn run(cfg: &Config, role: &Role, version: &str, hostname: &str, run_id: &str) -> Command {
    let name = container_name(cfg, &role.name, version);
    let mut c = docker()
        .fixed("run")
        .fixed("--detach")
        .fixed("--restart")
        .fixed("unless-stopped")
        .fixed("--name")
        .arg(&name)
        .fixed("--hostname")
        .arg(hostname)
        .fixed("-e")
        .arg(format!("KAMAL_CONTAINER_NAME={name}"))
        .then(env_args(cfg, role))
        .then(health_args(cfg, role, run_id))
        .then(logging_args(&role.logging))
        .then(volume_args(cfg))
        .then(label_args(cfg, role))
        .then(option_args(role))
        .arg(image_ref(cfg, version));
    if let Some(cmd) = &role.cmd {
        // The role's cmd is a command line for the image, split by the shell
        // as Kamal does; it comes from the config, never from the CLI.
        c = c.arg(Word::UserShell(cmd.clone()));
    }
    c
}

/// A container's state and health.
pub fn status(name: &str) -> Command {
    docker().fixed("inspect").fixed("--format").arg(STATUS_FORMAT).arg(name)
}

/// A container's IP addresses, space-separated.
pub fn addresses(name: &str) -> Command {
    docker()
        .fixed("inspect")
        .fixed("--format")
        .arg("{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}")
        .arg(name)
}

/// The proxy's routing table, by the configured command (`baton.routes`).
/// The command comes from the config and runs as the host's shell reads it.
pub fn routes(cfg: &Config) -> Option<Command> {
    cfg.baton.routes_command.as_ref().map(|c| Command::new().arg(Word::UserShell(c.clone())))
}

/// A container's mounts, as JSON.
pub fn mounts(name: &str) -> Command {
    docker().fixed("inspect").fixed("--format").arg("{{json .Mounts}}").arg(name)
}

/// `docker stop [-t N] <name>`
pub fn stop(cfg: &Config, name: &str) -> Command {
    docker().fixed("stop").opt("-t", cfg.stop_wait_time.map(|t| t.to_string())).arg(name)
}

/// Stop an old container whose cord was cut, then remove its cord
/// directory (Kamal removes it at the cut; baton keeps it until then, so
/// that the cord can be tied again).
pub fn stop_and_clear_cord(cfg: &Config, name: &str, cord_dir: &str) -> Command {
    Command::and_all([stop(cfg, name), Command::program("rm").fixed("-rf").arg(cord_dir)])
}

/// `docker start <name>`
pub fn start(cfg: &Config, role: &str, version: &str) -> Command {
    docker().fixed("start").arg(container_name(cfg, role, version))
}

/// The newest running container of the role (its id).
pub fn current_running_container_id(cfg: &Config, role: &str) -> Command {
    docker().fixed("ps").fixed("--quiet").then(filters(cfg, Some(role))).then(live_filters()).fixed("--latest")
}

/// `--filter status=running --filter status=restarting`: Kamal's "current".
fn live_filters() -> Command {
    Command::new().fixed("--filter").arg("status=running").fixed("--filter").arg("status=restarting")
}

/// The name of the newest running container of the role.
pub fn current_running_name(cfg: &Config, role: &str) -> Command {
    docker()
        .fixed("ps")
        .then(filters(cfg, Some(role)))
        .then(live_filters())
        .fixed("--latest")
        .fixed("--format")
        .arg("{{.Names}}")
}

/// Running containers of the role other than the newest (`app
/// stale_containers`); with `stop`, stop them (their names are printed).
pub fn stale_containers(cfg: &Config, role: &str, stop: bool) -> Command {
    let list = list_names(cfg, role, true).fixed("|").then(Command::program("tail").fixed("-n").arg("+2"));
    if stop {
        list.fixed("|")
            .fixed("xargs")
            .fixed("--no-run-if-empty")
            .then(docker().fixed("stop").opt("-t", cfg.stop_wait_time.map(|t| t.to_string())))
    } else {
        list
    }
}

/// Stop the newest running container of the role (`app stop`).
pub fn stop_current(cfg: &Config, role: &str) -> Command {
    current_running_container_id(cfg, role)
        .fixed("|")
        .fixed("xargs")
        .fixed("--no-run-if-empty")
        .then(docker().fixed("stop").opt("-t", cfg.stop_wait_time.map(|t| t.to_string())))
}

/// Names of the role's containers, newest first; `running` limits to running ones.
pub fn list_names(cfg: &Config, role: &str, running: bool) -> Command {
    let mut c = docker().fixed("ps").then(filters(cfg, Some(role)));
    if running {
        c = c.then(live_filters());
    }
    c.fixed("--format").arg("{{.Names}}")
}

/// `app details`
pub fn details(cfg: &Config, role: &str) -> Command {
    docker().fixed("ps").then(filters(cfg, Some(role)))
}

/// `app containers`
pub fn list_containers(cfg: &Config) -> Command {
    docker().fixed("container").fixed("ls").fixed("--all").then(filters(cfg, None))
}

/// `app images`
pub fn list_images(cfg: &Config) -> Command {
    docker().fixed("image").fixed("ls").arg(cfg.repository())
}

/// `app exec` in a new container.
pub fn exec_new(cfg: &Config, role: &Role, version: &str, cmd: &str, interactive: bool) -> Command {
    let mut c = docker().fixed("run");
    if interactive {
        c = c.fixed("-it");
    }
    c.fixed("--rm")
        .then(env_args(cfg, role))
        .then(volume_args(cfg))
        .then(option_args(role))
        .arg(image_ref(cfg, version))
        .arg(Word::UserShell(cmd.to_string()))
}

/// `app exec --reuse`: in the running container of this version.
pub fn exec_reuse(cfg: &Config, role: &str, version: &str, cmd: &str, interactive: bool) -> Command {
    let mut c = docker().fixed("exec");
    if interactive {
        c = c.fixed("-it");
    }
    c.arg(container_name(cfg, role, version)).arg(Word::UserShell(cmd.to_string()))
}

/// Options of `app logs`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub since: Option<String>,
    pub lines: Option<u32>,
    pub grep: Option<String>,
    pub follow: bool,
}

/// `app logs`: the newest running container's log, optionally filtered.
pub fn logs(cfg: &Config, role: &str, o: &LogOptions) -> Command {
    let mut logs = docker().fixed("logs");
    if o.follow {
        logs = logs.fixed("--timestamps").fixed("--tail").arg(o.lines.unwrap_or(10).to_string()).fixed("--follow");
    } else {
        logs = logs.opt("--since", o.since.as_deref()).opt("--tail", o.lines.map(|n| n.to_string()));
    }
    let c = current_running_container_id(cfg, role)
        .fixed("|")
        .fixed("xargs")
        .fixed("--no-run-if-empty")
        .then(logs)
        .fixed("2>&1");
    with_grep(c, o)
}

/// `docker logs NAME [--since S] [--tail N] --timestamps 2>&1 [| grep -e G]`;
/// with `follow`, `--timestamps --tail N (10) --follow`, as Kamal's
/// `follow_logs` (`traefik logs`, `accessory logs`).
pub(crate) fn named_logs(name: &str, o: &LogOptions) -> Command {
    let c = docker().fixed("logs").arg(name);
    let c = if o.follow {
        c.fixed("--timestamps").fixed("--tail").arg(o.lines.unwrap_or(10).to_string()).fixed("--follow")
    } else {
        c.opt("--since", o.since.as_deref()).opt("--tail", o.lines.map(|n| n.to_string())).fixed("--timestamps")
    };
    with_grep(c.fixed("2>&1"), o)
}

/// `C [| grep -e G]`: -e keeps a pattern that starts with '-' a pattern.
fn with_grep(c: Command, o: &LogOptions) -> Command {
    match &o.grep {
        Some(g) => c.fixed("|").then(Command::program("grep").fixed("-e").arg(g)),
        None => c,
    }
}

/// `app remove_container VERSION`
pub fn remove_container(cfg: &Config, role: &str, version: &str) -> Command {
    docker().fixed("container").fixed("rm").arg(container_name(cfg, role, version))
}

/// `app remove_containers`: all stopped containers of the role.
pub fn remove_containers(cfg: &Config, role: &str) -> Command {
    docker().fixed("container").fixed("prune").fixed("--force").then(filters(cfg, Some(role)))
}

/// `app remove_images`
pub fn remove_images(cfg: &Config) -> Command {
    docker().fixed("image").fixed("prune").fixed("--all").fixed("--force").then(filters(cfg, None))
}

/// Take the lock: `mkdir` is atomic, so only one deploy gets it.
pub fn lock_acquire(cfg: &Config, details_base64: &str) -> Command {
    let dir = lock_dir(cfg);
    Command::and_all([
        ensure_run_directory(cfg),
        Command::program("mkdir").arg(&dir),
        Command::program("printf").arg(r"%s\n").arg(details_base64).fixed(">").arg(format!("{dir}/details")),
    ])
}

/// Read the lock's details (base64, decoded by the core).
pub fn lock_read(cfg: &Config) -> Command {
    Command::program("cat").arg(format!("{}/details", lock_dir(cfg)))
}

/// Print the lock's details, or nothing when there is no lock.
pub fn lock_status(cfg: &Config) -> Command {
    let details = format!("{}/details", lock_dir(cfg));
    Command::program("test")
        .fixed("-e")
        .arg(&details)
        .fixed("&&")
        .then(Command::program("cat").arg(&details))
        .fixed("||")
        .then(Command::program("test").fixed("!").fixed("-e").arg(details))
}

/// Release the lock.
pub fn lock_release(cfg: &Config) -> Command {
    let dir = lock_dir(cfg);
    Command::and_all([
        Command::program("rm").fixed("-f").arg(format!("{dir}/details")),
        Command::program("rm").fixed("-r").arg(dir),
    ])
}

/// Write a role's env file from standard input with mode 0400. The file is
/// removed first so that a user without root can replace a 0400 file.
pub fn env_file_write(cfg: &Config, role: &str) -> Command {
    private_file_write(&run_path(cfg, "env/roles"), &env_file_path(cfg, role))
}

/// Write `path` (in `dir`) from standard input with mode 0400, replacing it.
pub(crate) fn private_file_write(dir: &str, path: &str) -> Command {
    Command::and_all([
        Command::program("mkdir").fixed("-p").arg(dir),
        Command::program("rm").fixed("-f").arg(path),
        Command::program("umask").arg("0277"),
        Command::program("cat").fixed(">").arg(path),
    ])
}

/// `rm -f .kamal/env/roles/<service>-<role>[-<dest>].env` (`env delete`).
pub fn env_file_remove(cfg: &Config, role: &str) -> Command {
    Command::program("rm").fixed("-f").arg(env_file_path(cfg, role))
}

/// `docker -v`: the Docker client is installed (Kamal's `installed?`).
pub fn docker_installed() -> Command {
    docker().fixed("-v")
}

/// `curl --version`: curl is installed.
pub fn curl_installed() -> Command {
    Command::program("curl").fixed("--version")
}

/// Whether the SSH user is root (Kamal's `superuser?`).
pub fn superuser() -> Command {
    Command::new().fixed("[ \"${EUID:-$(id -u)}\" -eq 0 ]")
}

/// The script Kamal pipes into a root shell to install Docker.
pub const DOCKER_INSTALL_URL: &str = "https://get.docker.com";

/// Install Docker where `docker -v` fails, as root only, with Docker's
/// convenience script (Kamal's `install`):
/// `docker -v || { [ "${EUID:-$(id -u)}" -eq 0 ] && curl -fsSL https://get.docker.com | sh ; }`
pub fn install_docker() -> Command {
    let fetch = Command::program("curl").fixed("-fsSL").arg(DOCKER_INSTALL_URL);
    docker_installed()
        .fixed("||")
        .fixed("{")
        .then(superuser())
        .fixed("&&")
        .then(Command::pipe_all([fetch, Command::program("sh")]))
        .fixed(";")
        .fixed("}")
}

#[cfg(test)]
mod build_tests;
#[cfg(test)]
mod tests;
