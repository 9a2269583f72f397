//! `build push` on the machine baton runs on. With `builder.multiarch:
//! false` a native `docker build` and two `docker push`es (the version and
//! `latest`); otherwise `docker buildx build --push` for amd64 and arm64,
//! as Kamal 1.0. Both carry `--label service=…`, which `prune` relies on.

use super::{docker, image_ref};
use crate::config::Config;
use crate::shell::Command;

/// The builder's name for buildx, as Kamal names it.
pub fn builder_name(cfg: &Config) -> String {
    format!("kamal-{}-multiarch", cfg.service)
}

/// Tags, label, Dockerfile: the options both builders share.
fn options(cfg: &Config, version: &str) -> Command {
    Command::new()
        .fixed("-t")
        .arg(image_ref(cfg, version))
        .fixed("-t")
        .arg(image_ref(cfg, "latest"))
        .fixed("--label")
        .arg(format!("service={}", cfg.service))
}

/// Build the image of `version` and push it (with `latest`) to the registry.
pub fn push(cfg: &Config, version: &str, multiarch: bool) -> Command {
    let context = ".";
    if multiarch {
        return docker()
            .fixed("buildx")
            .fixed("build")
            .fixed("--push")
            .fixed("--platform")
            .fixed("linux/amd64,linux/arm64")
            .fixed("--builder")
            .arg(builder_name(cfg))
            .then(options(cfg, version))
            .arg(context);
    }
    Command::and_all([
        docker().fixed("build").then(options(cfg, version)).arg(context),
        docker().fixed("push").arg(image_ref(cfg, version)),
        docker().fixed("push").arg(image_ref(cfg, "latest")),
    ])
}
