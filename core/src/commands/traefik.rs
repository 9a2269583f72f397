//! The Traefik container, as Kamal 1.0's `Kamal::Commands::Traefik` builds
//! it: named `traefik`, the Docker socket mounted, `--providers.docker` and
//! the config's args. Checked word for word against Kamal 1.0's
//! `test/commands/traefik_test.rb` in `traefik_tests.rs`.

use super::{docker, LogOptions};
use crate::config::{Config, OptionValue, TraefikArg};
use crate::shell::Command;

/// The container's name, fixed in Kamal 1.
pub const TRAEFIK_CONTAINER: &str = "traefik";

/// The label of Traefik's official image, by which Kamal removes its
/// containers and images.
const IMAGE_TITLE_FILTER: &str = "label=org.opencontainers.image.title=Traefik";

/// `.kamal/env/traefik`
pub fn env_dir(cfg: &Config) -> String {
    super::run_path(cfg, "env/traefik")
}

/// `.kamal/env/traefik/traefik.env`
pub fn env_file_path(cfg: &Config) -> String {
    super::run_path(cfg, "env/traefik/traefik.env")
}

/// `docker run --name traefik …`, in Kamal 1.0's argument order. The env
/// file is passed only when `traefik.env` is set (Kamal passed it always,
/// so a host without `env push` could not start Traefik).
pub fn run(cfg: &Config) -> Command {
    let t = &cfg.traefik;
    let mut c = docker()
        .fixed("run")
        .fixed("--name")
        .arg(TRAEFIK_CONTAINER)
        .fixed("--detach")
        .fixed("--restart")
        .fixed("unless-stopped")
        .opt("--publish", t.port())
        .fixed("--volume")
        .arg("/var/run/docker.sock:/var/run/docker.sock");
    if t.has_env {
        c = c.fixed("--env-file").arg(env_file_path(cfg));
    }
    c = c.then(logging_args(cfg));
    for (k, v) in &t.labels {
        c = c.fixed("--label").arg(if v.is_empty() { k.clone() } else { format!("{k}={v}") });
    }
    for (k, v) in &t.options {
        c = c.arg(format!("--{k}"));
        if let OptionValue::Value(v) = v {
            c = c.arg(v);
        }
    }
    c = c.arg(&t.image).fixed("--providers.docker");
    for (k, v) in &t.args {
        c = c.arg(match v {
            TraefikArg::Flag => format!("--{k}"),
            TraefikArg::Value(v) => format!("--{k}={v}"),
        });
    }
    c
}

/// The global `logging:` (Kamal's `config.logging_args`), or
/// `--log-opt max-size=10m`.
fn logging_args(cfg: &Config) -> Command {
    let l = &cfg.logging;
    if l.driver.is_none() && l.options.is_empty() {
        return Command::new().fixed("--log-opt").arg("max-size=10m");
    }
    let c = Command::new().opt("--log-driver", l.driver.as_deref());
    l.options.iter().fold(c, |c, (k, v)| c.fixed("--log-opt").arg(format!("{k}={v}")))
}

/// `docker container start traefik`
pub fn start() -> Command {
    docker().fixed("container").fixed("start").arg(TRAEFIK_CONTAINER)
}

/// `docker container stop traefik`
pub fn stop() -> Command {
    docker().fixed("container").fixed("stop").arg(TRAEFIK_CONTAINER)
}

/// Start the existing container, else run a new one (`traefik boot`).
pub fn start_or_run(cfg: &Config) -> Command {
    start().fixed("||").then(run(cfg))
}

/// `docker ps --filter name=^traefik$`
pub fn info() -> Command {
    docker().fixed("ps").fixed("--filter").arg(format!("name=^{TRAEFIK_CONTAINER}$"))
}

/// The container's state (`running`, `exited`…).
pub fn state() -> Command {
    docker().fixed("inspect").fixed("--format").arg("{{.State.Status}}").arg(TRAEFIK_CONTAINER)
}

/// The roles of the app with a healthy running container on the host, one
/// per line (Traefik routes only to healthy containers).
pub fn healthy_app_roles(cfg: &Config) -> Command {
    docker()
        .fixed("ps")
        .then(super::filters(cfg, None))
        .fixed("--filter")
        .arg("status=running")
        .fixed("--filter")
        .arg("health=healthy")
        .fixed("--format")
        .arg("{{.Label \"role\"}}")
}

/// `docker logs traefik [--since S] [--tail N] --timestamps 2>&1 [| grep -e G]`;
/// with `follow`, `--timestamps --tail 10 --follow`, as Kamal's `follow_logs`.
pub fn logs(o: &LogOptions) -> Command {
    super::named_logs(TRAEFIK_CONTAINER, o)
}

/// `docker container prune --force --filter label=org.opencontainers.image.title=Traefik`
pub fn remove_container() -> Command {
    docker().fixed("container").fixed("prune").fixed("--force").fixed("--filter").arg(IMAGE_TITLE_FILTER)
}

/// `docker image prune --all --force --filter label=org.opencontainers.image.title=Traefik`
pub fn remove_image() -> Command {
    docker().fixed("image").fixed("prune").fixed("--all").fixed("--force").fixed("--filter").arg(IMAGE_TITLE_FILTER)
}

/// Write Traefik's env file from standard input, mode 0400 (as a role's).
pub fn env_file_write(cfg: &Config) -> Command {
    let path = env_file_path(cfg);
    Command::and_all([
        Command::program("mkdir").fixed("-p").arg(env_dir(cfg)),
        Command::program("rm").fixed("-f").arg(&path),
        Command::program("umask").arg("0277"),
        Command::program("cat").fixed(">").arg(path),
    ])
}

/// `rm -f .kamal/env/traefik/traefik.env`
pub fn env_file_remove(cfg: &Config) -> Command {
    Command::program("rm").fixed("-f").arg(env_file_path(cfg))
}

#[cfg(test)]
#[path = "traefik_tests.rs"]
mod tests;
