//! `build` on the machine baton runs on, with Kamal's five builders
//! ([`BuilderKind`]): the build-and-push line, and `create`, `remove`,
//! `info` of the buildx builder (a native build has none). Every build
//! carries `--label service=…`, which `prune` relies on.
//!
//! Build argument values never reach the command line (Kamal 1.0 wrote them
//! into it and redacted its log): the build reads them from its standard
//! input (`. /dev/stdin` exports them), and passes `--build-arg NAME`, which
//! docker takes from the environment. A dry run shows `--build-arg NAME`
//! and says that standard input is not shown.

use super::{docker, image_ref};
use crate::config::{BuilderKind, CacheType, Config};
use crate::shell::Command;
use std::fmt;

/// The buildx builder's name, as Kamal names it; none for a native build.
pub fn builder_name(cfg: &Config) -> Option<String> {
    let s = &cfg.service;
    match cfg.builder.kind() {
        BuilderKind::Native => None,
        BuilderKind::NativeCached => Some(format!("kamal-{s}-native-cached")),
        BuilderKind::NativeRemote => Some(format!("kamal-{s}-native-remote")),
        BuilderKind::Multiarch => Some(format!("kamal-{s}-multiarch")),
        BuilderKind::MultiarchRemote => Some(format!("kamal-{s}-multiarch-remote")),
    }
}

/// `<registry>/<cache image>`: `builder.cache.image`, else `<image>-build-cache`.
fn cache_ref(cfg: &Config) -> String {
    let image = cfg.builder.cache.as_ref().and_then(|c| c.image.clone());
    let image = image.unwrap_or_else(|| format!("{}-build-cache", cfg.image));
    match &cfg.registry.server {
        Some(s) => format!("{s}/{image}"),
        None => image,
    }
}

/// `--cache-to` and `--cache-from`, as Kamal writes them; None without a cache type.
pub fn cache_to_from(cfg: &Config) -> Option<(String, String)> {
    let cache = cfg.builder.cache.as_ref()?;
    let options = cache.options.iter().map(String::as_str);
    match cache.kind? {
        CacheType::Gha => {
            let to: Vec<&str> = std::iter::once("type=gha").chain(options).collect();
            Some((to.join(","), "type=gha".into()))
        }
        CacheType::Registry => {
            let r = format!("ref={}", cache_ref(cfg));
            let to: Vec<&str> = std::iter::once("type=registry").chain(options).chain([r.as_str()]).collect();
            Some((to.join(","), format!("type=registry,{r}")))
        }
    }
}

/// Kamal's `build_options`: tags, cache, label, build args (names only),
/// secrets, Dockerfile, then target and ssh (Kamal 1.6 and 1.4).
fn options(cfg: &Config, version: &str) -> Command {
    let b = &cfg.builder;
    let mut c = Command::new().fixed("-t").arg(image_ref(cfg, version)).fixed("-t").arg(image_ref(cfg, "latest"));
    if let Some((to, from)) = cache_to_from(cfg) {
        c = c.fixed("--cache-to").arg(to).fixed("--cache-from").arg(from);
    }
    c = c.fixed("--label").arg(format!("service={}", cfg.service));
    for (name, _) in &b.args {
        c = c.fixed("--build-arg").arg(name);
    }
    for s in &b.secrets {
        c = c.fixed("--secret").arg(format!("id={s}"));
    }
    c.fixed("--file").arg(&b.dockerfile).opt("--target", b.target.as_deref()).opt("--ssh", b.ssh.as_deref())
}

fn buildx() -> Command {
    docker().fixed("buildx")
}

/// `linux/<arch>` of the remote builder (native remote).
fn remote_platform(cfg: &Config) -> String {
    format!("linux/{}", cfg.builder.remote.as_ref().map_or("amd64", |r| r.arch.as_str()))
}

/// Build the image of `version` and push it (with `latest`) to the
/// registry, and the standard input the line reads build argument values
/// from (None when no argument has a value).
pub fn push(cfg: &Config, version: &str) -> (Command, Option<Vec<u8>>) {
    let context = cfg.builder.context.as_str();
    let name = builder_name(cfg);
    let line = match cfg.builder.kind() {
        BuilderKind::Native => Command::and_all([
            docker().fixed("build").then(options(cfg, version)).arg(context),
            docker().fixed("push").arg(image_ref(cfg, version)),
            docker().fixed("push").arg(image_ref(cfg, "latest")),
        ]),
        // Kamal relies on `buildx create --use`; naming the builder keeps the
        // build on it when another builder was made current since.
        BuilderKind::NativeCached => {
            buildx().fixed("build").fixed("--push").opt("--builder", name).then(options(cfg, version)).arg(context)
        }
        kind => {
            let platform = match kind {
                BuilderKind::NativeRemote => remote_platform(cfg),
                _ => "linux/amd64,linux/arm64".into(),
            };
            buildx()
                .fixed("build")
                .fixed("--push")
                .fixed("--platform")
                .arg(platform)
                .opt("--builder", name)
                .then(options(cfg, version))
                .arg(context)
        }
    };
    match cfg.builder.args_stdin() {
        Some(stdin) => (Command::new().fixed(". /dev/stdin &&").then(line), Some(stdin)),
        None => (line, None),
    }
}

/// `a ; b`: each runs whatever came of the one before (Kamal's `chain`).
fn chain(cmds: impl IntoIterator<Item = Command>) -> Command {
    let mut out = Command::new();
    for (i, c) in cmds.into_iter().enumerate() {
        if i > 0 {
            out = out.fixed(";");
        }
        out = out.then(c);
    }
    out
}

/// `docker context create NAME-ARCH` for an engine at `host`.
fn context_create(name: &str, arch: &str, host: &str) -> Command {
    docker()
        .fixed("context")
        .fixed("create")
        .arg(format!("{name}-{arch}"))
        .fixed("--description")
        .arg(format!("{name} {arch} native host"))
        .fixed("--docker")
        .arg(format!("host={host}"))
}

fn context_rm(name: &str, arch: &str) -> Command {
    docker().fixed("context").fixed("rm").arg(format!("{name}-{arch}"))
}

/// The default engine's socket, for a `local:` without `host:`.
const DEFAULT_SOCKET: &str = "unix:///var/run/docker.sock";

/// `build create`: set up the buildx builder; None for a native build.
pub fn create(cfg: &Config) -> Option<Command> {
    let name = builder_name(cfg)?;
    let b = &cfg.builder;
    Some(match b.kind() {
        BuilderKind::Native => return None,
        BuilderKind::NativeCached => {
            buildx().fixed("create").fixed("--name").arg(&name).fixed("--use").fixed("--driver=docker-container")
        }
        BuilderKind::Multiarch => buildx().fixed("create").fixed("--use").fixed("--name").arg(&name),
        BuilderKind::NativeRemote => {
            let r = b.remote.as_ref()?;
            chain([
                context_create(&name, &r.arch, r.host.as_deref().unwrap_or(DEFAULT_SOCKET)),
                buildx()
                    .fixed("create")
                    .fixed("--name")
                    .arg(&name)
                    .arg(format!("{name}-{}", r.arch))
                    .fixed("--platform")
                    .arg(remote_platform(cfg)),
            ])
        }
        BuilderKind::MultiarchRemote => {
            let (l, r) = (b.local.as_ref()?, b.remote.as_ref()?);
            let node = |append: bool, arch: &str| {
                let c = buildx().fixed("create");
                let c = if append { c.fixed("--append") } else { c };
                c.fixed("--name")
                    .arg(&name)
                    .arg(format!("{name}-{arch}"))
                    .fixed("--platform")
                    .arg(format!("linux/{arch}"))
            };
            Command::and_all([
                context_create(&name, &l.arch, l.host.as_deref().unwrap_or(DEFAULT_SOCKET)),
                context_create(&name, &r.arch, r.host.as_deref().unwrap_or(DEFAULT_SOCKET)),
                node(false, &l.arch),
                node(true, &r.arch),
            ])
        }
    })
}

/// `build remove`: remove the builder (and its contexts); None for a native build.
pub fn remove(cfg: &Config) -> Option<Command> {
    let name = builder_name(cfg)?;
    let b = &cfg.builder;
    let rm = buildx().fixed("rm").arg(&name);
    Some(match b.kind() {
        BuilderKind::Native => return None,
        BuilderKind::NativeCached | BuilderKind::Multiarch => rm,
        BuilderKind::NativeRemote => chain([context_rm(&name, &b.remote.as_ref()?.arch), rm]),
        BuilderKind::MultiarchRemote => Command::and_all([
            context_rm(&name, &b.local.as_ref()?.arch),
            context_rm(&name, &b.remote.as_ref()?.arch),
            rm,
        ]),
    })
}

/// `build details`: the contexts and builders; None for a native build
/// (plain or cached: Kamal shows nothing for either).
pub fn info(cfg: &Config) -> Option<Command> {
    let (contexts, builders) = (docker().fixed("context").fixed("ls"), buildx().fixed("ls"));
    match cfg.builder.kind() {
        BuilderKind::Native | BuilderKind::NativeCached => None,
        BuilderKind::NativeRemote => Some(chain([contexts, builders])),
        BuilderKind::Multiarch | BuilderKind::MultiarchRemote => Some(Command::and_all([contexts, builders])),
    }
}

/// Before a buildx build: create the builder when buildx does not know it
/// (Kamal's "Missing compatible builder, so creating a new one first").
pub const MISSING_BUILDER: &str = "Missing compatible builder, so creating a new one first";

/// `docker buildx inspect NAME`, else say so and `create`; None for a native build.
pub fn ensure_builder(cfg: &Config) -> Option<Command> {
    let name = builder_name(cfg)?;
    let create = create(cfg)?;
    Some(
        buildx()
            .fixed("inspect")
            .arg(name)
            .fixed(">/dev/null 2>&1 || {")
            .fixed("echo")
            .arg(MISSING_BUILDER)
            .fixed(">&2 ;")
            .then(create)
            .fixed("; }"),
    )
}

/// What `build push` checks on the machine baton runs on, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalCheck {
    /// The docker client: `docker --version`.
    Client,
    /// The engine answers: `docker version --format {{.Server.Version}}`.
    Engine,
    /// The buildx plugin: `docker buildx version` (every builder but native).
    Buildx,
}

impl LocalCheck {
    /// The checks a build with `cfg`'s builder needs.
    pub fn needed(cfg: &Config) -> Vec<LocalCheck> {
        let mut v = vec![LocalCheck::Client, LocalCheck::Engine];
        if cfg.builder.kind().uses_buildx() {
            v.push(LocalCheck::Buildx);
        }
        v
    }
    /// The step's label (the CLI finds the check that failed by it).
    pub fn label(self) -> &'static str {
        match self {
            LocalCheck::Client => "docker client",
            LocalCheck::Engine => "docker engine",
            LocalCheck::Buildx => "docker buildx",
        }
    }
    pub fn from_label(label: &str) -> Option<LocalCheck> {
        [LocalCheck::Client, LocalCheck::Engine, LocalCheck::Buildx].into_iter().find(|c| c.label() == label)
    }
    pub fn command(self) -> Command {
        match self {
            LocalCheck::Client => docker().fixed("--version"),
            LocalCheck::Engine => docker().fixed("version").fixed("--format").arg("{{.Server.Version}}"),
            LocalCheck::Buildx => buildx().fixed("version"),
        }
    }
    /// What a failure of this check means, with what to do.
    pub fn problem(self, kind: BuilderKind, docker_host: Option<&str>, said: &str) -> LocalDocker {
        match self {
            LocalCheck::Client => LocalDocker::NoClient,
            LocalCheck::Engine => LocalDocker::NoEngine {
                docker_host: docker_host.filter(|h| !h.is_empty()).map(str::to_string),
                said: said.trim().lines().last().unwrap_or("").to_string(),
            },
            LocalCheck::Buildx => LocalDocker::NoBuildx { kind },
        }
    }
}

/// Why a build cannot run on this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalDocker {
    /// No `docker` command.
    NoClient,
    /// No engine answers where the client looks (`DOCKER_HOST`, else the default socket).
    NoEngine { docker_host: Option<String>, said: String },
    /// No buildx plugin, which the builder needs.
    NoBuildx { kind: BuilderKind },
}

impl fmt::Display for LocalDocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalDocker::NoClient => f.write_str(
                "docker is not installed on this machine, which builds the image; install it (Debian/Ubuntu: apt-get install docker.io), or run baton where Docker is",
            ),
            LocalDocker::NoEngine { docker_host, said } => {
                let at = match docker_host {
                    Some(h) => format!("at DOCKER_HOST={h}"),
                    None => format!("at the default socket ({DEFAULT_SOCKET}; DOCKER_HOST is not set)"),
                };
                write!(f, "no Docker engine answers {at}")?;
                if !said.is_empty() {
                    write!(f, " ({said})")?;
                }
                f.write_str("; start one (Debian/Ubuntu: apt-get install docker.io, then start the docker service), or set DOCKER_HOST to the engine to build with")
            }
            LocalDocker::NoBuildx { kind } => write!(
                f,
                "the docker buildx plugin is not installed on this machine, and the {kind} builder needs it; install it (Debian 13/Ubuntu: apt-get install docker-buildx; Docker's own packages: docker-buildx-plugin), or set builder.multiarch: false to build natively with docker build"
            ),
        }
    }
}
