//! `builder:`: how `build push` builds the image, with every key of Kamal
//! 1.0 (`multiarch`, `local`, `remote`, `cache`, `args`, `secrets`,
//! `dockerfile`, `context`) and the two later Kamal 1 added (`ssh` in 1.4,
//! `target` in 1.6). Which of Kamal's five builders a config picks is
//! [`Builder::kind`]; the command lines are in `commands/build.rs`.

use super::context::*;
use super::keys;
use super::values::*;
use serde_yaml::{Mapping, Value};
use std::fmt;

/// `builder:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Builder {
    /// Build for amd64 and arm64 through buildx (Kamal's default), or
    /// natively with `docker build` (`multiarch: false`).
    pub multiarch: bool,
    /// `local:`: the local half of a multi-arch build with a remote builder.
    pub local: Option<BuilderHost>,
    /// `remote:`: a builder on another machine (an ssh:// or tcp:// engine).
    pub remote: Option<BuilderHost>,
    /// `cache:`: a build cache in the registry or in GitHub Actions.
    pub cache: Option<BuildCache>,
    /// `args:`: build arguments, in file order. A value of None is taken
    /// from the environment of the build (`--build-arg NAME` alone).
    /// Values never reach a command line: see [`Builder::args_stdin`].
    pub args: Vec<(String, Option<String>)>,
    /// `secrets:`: names of environment variables, passed as `--secret id=NAME`.
    pub secrets: Vec<String>,
    /// `dockerfile:` (default `Dockerfile`), relative to where baton runs.
    pub dockerfile: String,
    /// `context:` (default `.`).
    pub context: String,
    /// `target:` (Kamal 1.6): the Dockerfile stage to build.
    pub target: Option<String>,
    /// `ssh:` (Kamal 1.4): what `--ssh` exposes to the build.
    pub ssh: Option<String>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            multiarch: true,
            local: None,
            remote: None,
            cache: None,
            args: vec![],
            secrets: vec![],
            dockerfile: "Dockerfile".into(),
            context: ".".into(),
            target: None,
            ssh: None,
        }
    }
}

/// `builder.local` or `builder.remote`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuilderHost {
    /// `amd64`, `arm64`…
    pub arch: String,
    /// The Docker engine to build on (`ssh://user@host`, `unix:///…`);
    /// `local.host` may be left out: the default socket.
    pub host: Option<String>,
}

/// `builder.cache`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildCache {
    /// `type:`; None: a cache without a type, which Kamal accepts and
    /// then passes no cache option for.
    pub kind: Option<CacheType>,
    /// `image:` for a registry cache (default `<image>-build-cache`).
    pub image: Option<String>,
    /// `options:`, appended to `--cache-to` (e.g. `mode=max`).
    pub options: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheType {
    Gha,
    Registry,
}

/// Kamal's five builders, chosen as `Kamal::Commands::Builder#target` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuilderKind {
    /// `multiarch: false`, no cache: `docker build` and two `docker push`es.
    Native,
    /// `multiarch: false` with a cache: `docker buildx build --push` on a
    /// docker-container builder.
    NativeCached,
    /// `remote:` without `local:`: buildx on the remote engine, for its arch.
    NativeRemote,
    /// The default: buildx for amd64 and arm64 on a local builder.
    Multiarch,
    /// `local:` and `remote:`: one buildx builder with a node on each.
    MultiarchRemote,
}

impl BuilderKind {
    /// Whether it needs the buildx plugin.
    pub fn uses_buildx(self) -> bool {
        self != BuilderKind::Native
    }
}

impl fmt::Display for BuilderKind {
    /// Kamal's name for it (`kamal build details` prints `Builder: …`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BuilderKind::Native => "native",
            BuilderKind::NativeCached => "native/cached",
            BuilderKind::NativeRemote => "native/remote",
            BuilderKind::Multiarch => "multiarch",
            BuilderKind::MultiarchRemote => "multiarch/remote",
        })
    }
}

impl Builder {
    /// Which builder the config picks, in Kamal's order: `multiarch: false`
    /// wins over `local`/`remote` (which are then ignored, with a warning).
    pub fn kind(&self) -> BuilderKind {
        match (self.multiarch, self.cache.is_some(), self.local.is_some(), self.remote.is_some()) {
            (false, false, _, _) => BuilderKind::Native,
            (false, true, _, _) => BuilderKind::NativeCached,
            (true, _, true, true) => BuilderKind::MultiarchRemote,
            (true, _, _, true) => BuilderKind::NativeRemote,
            _ => BuilderKind::Multiarch,
        }
    }

    /// The standard input of the build: one `export NAME='value'` line per
    /// build argument with a value, which the build's shell reads (`.
    /// /dev/stdin`) so that `--build-arg NAME` takes it from there. None
    /// when no argument has a value. Values are quoted for the shell.
    pub fn args_stdin(&self) -> Option<Vec<u8>> {
        let mut out = String::new();
        for (name, value) in &self.args {
            if let Some(v) = value {
                out.push_str(&format!("export {name}={}\n", crate::shell::quote(v)));
            }
        }
        (!out.is_empty()).then(|| out.into_bytes())
    }

    /// The environment variables the build reads from baton's own
    /// environment: the secrets, and the arguments given without a value.
    pub fn env_names(&self) -> Vec<&str> {
        let args = self.args.iter().filter(|(_, v)| v.is_none()).map(|(n, _)| n.as_str());
        self.secrets.iter().map(String::as_str).chain(args).collect()
    }
}

/// Variables a build argument may not be named after: the build's shell
/// and the docker client read them, and an argument's value is exported
/// in that shell.
const RESERVED: &[&str] = &["PATH", "HOME", "IFS", "PWD", "OLDPWD", "SHELL", "ENV", "CDPATH", "PS4", "USER"];

/// A build argument or secret name: an environment variable's name.
fn check_env_name(name: &str, reserved: bool) -> Result<(), String> {
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    if !first_ok || !bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!(
            "{name:?} is not an environment variable name (letters, digits and _, not starting with a digit); rename it"
        ));
    }
    if reserved && (RESERVED.contains(&name) || name.starts_with("DOCKER_") || name.starts_with("BUILDX_")) {
        return Err(format!(
            "{name:?} is a variable of the shell or of the docker client, which baton sets from build arguments; rename the argument"
        ));
    }
    Ok(())
}

/// A string value without line breaks or NUL (a word of a command line).
fn opt_word(ctx: &mut Ctx<'_>, v: Option<&Value>, path: &str, what: &str) -> Option<String> {
    match v {
        None | Some(Value::Null) => None,
        Some(v) => match scalar_text(v).filter(|_| !matches!(v, Value::Bool(_))) {
            Some(s) if s.is_empty() || s.contains(['\n', '\0']) => {
                ctx.err(path, format!("must be {what} on one line, and not empty"));
                None
            }
            Some(s) => Some(s),
            None => {
                ctx.err(path, format!("expected {what}, found {}", type_name(v)));
                None
            }
        },
    }
}

/// `builder:`.
pub(super) fn parse_builder(ctx: &mut Ctx<'_>, v: Option<&Value>) -> Builder {
    let Some(m) = opt_mapping(ctx, v, "builder") else { return Builder::default() };
    keys::warn_unknown(ctx, "builder", m, keys::BUILDER);
    let mut b = Builder {
        multiarch: opt_bool(ctx, m.get("multiarch"), "builder.multiarch", true),
        local: host(ctx, m, "local"),
        remote: host(ctx, m, "remote"),
        cache: cache(ctx, m),
        args: args(ctx, m.get("args")),
        secrets: secrets(ctx, m.get("secrets")),
        ..Builder::default()
    };
    if let Some(d) = opt_word(ctx, m.get("dockerfile"), "builder.dockerfile", "a file path") {
        b.dockerfile = d;
    }
    if let Some(c) = opt_word(ctx, m.get("context"), "builder.context", "a directory path") {
        b.context = c;
    }
    b.target = opt_word(ctx, m.get("target"), "builder.target", "a build stage name");
    b.ssh = opt_word(ctx, m.get("ssh"), "builder.ssh", "an --ssh value such as default");
    if b.ssh.as_deref().is_some_and(|s| s.contains('$')) {
        ctx.warn(
            "builder.ssh",
            "reaches docker as written: baton does not expand $VARIABLES in it; write `default` to use $SSH_AUTH_SOCK",
        );
    }
    ignored_hosts(ctx, &b);
    b
}

/// `local:`/`remote:` that the chosen builder does not use, as in Kamal.
fn ignored_hosts(ctx: &mut Ctx<'_>, b: &Builder) {
    if !b.multiarch {
        for (key, given) in [("local", b.local.is_some()), ("remote", b.remote.is_some())] {
            if given {
                ctx.warn(
                    &join("builder", key),
                    "is ignored with multiarch: false, as in Kamal (the build is native, on this machine); remove it, or drop multiarch: false to build on it",
                );
            }
        }
    } else if b.local.is_some() && b.remote.is_none() {
        ctx.warn(
            "builder.local",
            "is used only with builder.remote (Kamal 1.0): without it the build is for amd64 and arm64 on this machine; add remote: or remove local:",
        );
    }
}

/// `builder.local` / `builder.remote`: `arch` (required) and `host`
/// (required for `remote`).
fn host(ctx: &mut Ctx<'_>, m: &Mapping, key: &str) -> Option<BuilderHost> {
    let path = join("builder", key);
    let h = opt_mapping(ctx, m.get(key), &path)?;
    keys::warn_unknown(ctx, &path, h, &["arch", "host"]);
    let arch = opt_word(ctx, h.get("arch"), &join(&path, "arch"), "an architecture such as amd64 or arm64");
    let arch = match arch {
        Some(a) if a.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b)) => a,
        Some(a) => {
            ctx.err(&join(&path, "arch"), format!("{a:?} is not an architecture; write amd64 or arm64"));
            return None;
        }
        None => {
            ctx.err(&join(&path, "arch"), "is missing; write the builder's architecture, amd64 or arm64");
            return None;
        }
    };
    let host = opt_word(ctx, h.get("host"), &join(&path, "host"), "a Docker host such as ssh://root@192.0.2.1");
    if key == "remote" && host.is_none() {
        ctx.err(
            &join(&path, "host"),
            "is missing; write the remote Docker engine to build on, such as ssh://root@192.0.2.1",
        );
        return None;
    }
    Some(BuilderHost { arch, host })
}

/// `builder.cache`: `type` (gha or registry), `image`, `options`.
fn cache(ctx: &mut Ctx<'_>, m: &Mapping) -> Option<BuildCache> {
    let c = opt_mapping(ctx, m.get("cache"), "builder.cache")?;
    keys::warn_unknown(ctx, "builder.cache", c, &["type", "image", "options"]);
    let kind = match opt_word(ctx, c.get("type"), "builder.cache.type", "gha or registry").as_deref() {
        Some("gha") => Some(CacheType::Gha),
        Some("registry") => Some(CacheType::Registry),
        Some(other) => {
            ctx.err("builder.cache.type", format!("{other:?} is not a cache type; write gha or registry"));
            None
        }
        None => {
            ctx.warn(
                "builder.cache",
                "has no type, so no cache is used (as in Kamal), though the build runs on a buildx builder; add type: registry or type: gha",
            );
            None
        }
    };
    let image = opt_word(ctx, c.get("image"), "builder.cache.image", "an image name");
    if let Some(i) = &image {
        if let Err(e) = super::names::check_image(i) {
            ctx.err("builder.cache.image", e);
        }
    }
    let options = opt_word(ctx, c.get("options"), "builder.cache.options", "cache options such as mode=max");
    Some(BuildCache { kind, image, options })
}

/// `builder.args`: a mapping of names to values (or nothing: from the environment).
fn args(ctx: &mut Ctx<'_>, v: Option<&Value>) -> Vec<(String, Option<String>)> {
    let Some(m) = opt_mapping(ctx, v, "builder.args") else { return vec![] };
    let mut out = vec![];
    for (k, val) in m {
        let name = scalar_text(k).unwrap_or_default();
        let path = join("builder.args", &name);
        if let Err(e) = check_env_name(&name, true) {
            ctx.err(&path, e);
            continue;
        }
        match val {
            Value::Null => out.push((name, None)),
            other => match scalar_text(other) {
                Some(s) if s.contains('\0') => ctx.err(&path, "holds a NUL byte; remove it"),
                Some(s) => out.push((name, Some(s))),
                None => ctx.err(&path, format!("expected a string, found {}", type_name(other))),
            },
        }
    }
    out
}

/// `builder.secrets`: a list of environment variable names.
fn secrets(ctx: &mut Ctx<'_>, v: Option<&Value>) -> Vec<String> {
    let list = string_list(ctx, v, "builder.secrets");
    let mut out = vec![];
    for (i, name) in list.into_iter().enumerate() {
        match check_env_name(&name, false) {
            Ok(()) => out.push(name),
            Err(e) => ctx.err(&join("builder.secrets", &i.to_string()), e),
        }
    }
    out
}

#[cfg(test)]
#[path = "builder_tests.rs"]
mod tests;
