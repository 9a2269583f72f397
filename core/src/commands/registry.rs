//! `registry login` / `logout` and the image's way to the hosts
//! (`build push`, `build pull`). The registry password never appears on a
//! command line: `docker login --password-stdin` reads it from standard
//! input, which the effect carries and no trace shows.

use super::{audit, docker, image_ref};
use crate::config::Config;
use crate::shell::Command;

/// `docker login [SERVER] -u USER --password-stdin`.
pub fn login(cfg: &Config, username: &str) -> Command {
    docker()
        .fixed("login")
        .args(cfg.registry.server.iter().map(String::as_str))
        .fixed("-u")
        .arg(username)
        .fixed("--password-stdin")
}

/// `docker logout [SERVER]`.
pub fn logout(cfg: &Config) -> Command {
    docker().fixed("logout").args(cfg.registry.server.iter().map(String::as_str))
}

/// `build pull` on a host: an audit line, remove a stale image of the same
/// tag (which may be an older build), then pull it.
pub fn pull(cfg: &Config, performer: &str, version: &str) -> Command {
    let image = image_ref(cfg, version);
    Command::and_all([
        audit(cfg, performer, None, &format!("Pulled image with version {version}")),
        Command::new()
            .fixed("{")
            .then(docker().fixed("image").fixed("rm").fixed("--force").arg(&image))
            .fixed(">/dev/null 2>&1 || true; }"),
        docker().fixed("pull").arg(&image),
    ])
}
