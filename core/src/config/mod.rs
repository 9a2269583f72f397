//! `config/deploy.yml` (and `config/deploy.<destination>.yml` merged over it),
//! in Kamal 1.0's schema, parsed into a typed [`Config`].
//!
//! The core reads no files: the caller passes each file's name and text.
//! Every problem names the file, the key path and the line.

mod accessory;
mod build;
mod builder;
mod context;
pub mod document;
mod keys;
mod lines;
pub mod names;
mod sections;
mod servers;
mod traefik;
mod values;

use crate::time::Millis;
pub use accessory::{Accessory, AccessoryFile};
pub use builder::{BuildCache, Builder, BuilderHost, BuilderKind, CacheType};
pub use context::parse_duration;
use context::{deep_merge, parse_yaml, type_name, Ctx};
use lines::LineIndex;
pub use names::HostSpec;
use serde_yaml::{Mapping, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
pub use traefik::{routes_command, Traefik, TraefikApi, TraefikArg, TRAEFIK_DEFAULT_IMAGE};

/// The Kamal release whose config schema baton reads: every key of every
/// Kamal 1 release up to it is parsed, and used, refused or warned about
/// (`docs/kamal-compatibility.md`). A config whose `minimum_version` is
/// newer is refused.
pub const KAMAL_CONFIG_LEVEL: &str = "1.9.3";

/// One configuration file, as read by the caller.
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    /// Shown in messages, e.g. `config/deploy.yml`.
    pub name: &'a str,
    pub text: &'a str,
}

/// A problem found in the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    /// Dotted key path, e.g. `servers.web.hosts.1`; empty for the whole file.
    pub path: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        if self.path.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": {}: {}", self.path, self.message)
        }
    }
}

/// The configuration was refused; every problem found is listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}
impl std::error::Error for ConfigError {}

/// A value given in the config either literally or as the name of an
/// environment variable (a one-item YAML list, as Kamal does).
#[derive(Clone, PartialEq, Eq)]
pub enum SecretRef {
    Literal(String),
    Env(String),
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Literal(_) => f.write_str("Literal(<redacted>)"),
            SecretRef::Env(name) => write!(f, "Env({name})"),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registry {
    pub server: Option<String>,
    pub username: Option<SecretRef>,
    pub password: Option<SecretRef>,
}

/// Environment: clear values from the config, secret values by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Env {
    pub clear: Vec<(String, String)>,
    pub secret: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Healthcheck {
    pub path: String,
    pub port: u16,
    pub cmd: Option<String>,
    /// As written (passed to `--health-interval`), and in milliseconds.
    pub interval: String,
    pub interval_ms: Millis,
    pub max_attempts: u32,
    /// Container directory of the cord; None when `cord: false`.
    pub cord: Option<String>,
    /// `healthcheck perform`: how many log lines of a container that never
    /// turned healthy are printed (also after `app boot`).
    pub log_lines: u32,
    /// `healthcheck perform`: the host port its throw-away container is
    /// published on (Kamal 1.0–1.5's default, 3999).
    pub exposed_port: u16,
}

impl Default for Healthcheck {
    fn default() -> Self {
        Self {
            path: "/up".into(),
            port: 3000,
            cmd: None,
            interval: "1s".into(),
            interval_ms: 1000,
            max_attempts: 7,
            cord: Some("/tmp/kamal-cord".into()),
            log_lines: 50,
            exposed_port: 3999,
        }
    }
}

/// `boot.limit`: how many hosts boot at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootLimit {
    Count(usize),
    Percent(u32),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Boot {
    pub limit: Option<BootLimit>,
    /// Pause between groups.
    pub wait_ms: Millis,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ssh {
    pub user: String,
    pub port: u16,
    pub proxy: Option<String>,
    /// Identity files to offer (`ssh.keys`).
    pub keys: Vec<String>,
    /// An ssh_config file to read (`ssh.config: PATH`).
    pub config: Option<String>,
}

impl Default for Ssh {
    fn default() -> Self {
        Self { user: "root".into(), port: 22, proxy: None, keys: vec![], config: None }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Logging {
    pub driver: Option<String>,
    pub options: Vec<(String, String)>,
}

/// A value under a role's `options:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OptionValue {
    /// `--name` alone.
    Flag,
    Value(String),
}

/// baton's own settings, under the top-level `baton:` key (Kamal ignores it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatonSettings {
    /// How often to read a container's health while waiting.
    pub poll_interval_ms: Millis,
    /// How long the proxy takes to notice a health change (Traefik's
    /// provider throttle is 2 s).
    pub proxy_pickup_ms: Millis,
    /// Added to the pickup delay when baton has to pause instead of
    /// confirming a route change.
    pub pause_margin_ms: Millis,
    /// SSH connect timeout.
    pub connect_timeout_ms: Millis,
    /// Longest a single remote command may take.
    pub command_timeout_ms: Millis,
    /// Host key policy (`baton.known_hosts`).
    pub known_hosts: KnownHosts,
    /// A known_hosts file to use instead of ~/.ssh/known_hosts.
    pub known_hosts_file: Option<String>,
    /// When the old container's cord is cut (`baton.cut_at`).
    pub cut_at: CutAt,
    /// A command run on each host that prints the proxy's routing table in
    /// Traefik v2's `/api/http/services` JSON; None: pause instead.
    /// `baton.routes: traefik` reads the API of the `traefik:` container.
    pub routes_command: Option<String>,
    /// `baton.routes: traefik` was given (resolved against `traefik:`).
    pub routes_from_traefik: bool,
    /// How many journals of real runs to keep on this machine
    /// (`baton.journal_keep`, default 50; see `baton replay`).
    pub journal_keep: usize,
    /// How long baton's SSH master connections outlive a command once idle
    /// (`baton.ssh_persist`; 0, the default: closed at the command's end).
    pub ssh_persist_ms: Millis,
}

/// When a handover cuts the old container's cord (`baton.cut_at`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CutAt {
    /// `healthy` (the default): as soon as the new container is healthy.
    /// The proxy's pickup of the new container then overlaps the old one's
    /// way out; with `baton.routes`, baton still sees the new container in
    /// the proxy's table before the old one can turn unhealthy, and ties
    /// the cord again if it does not (see docs/handover.md).
    #[default]
    Healthy,
    /// `routed`: only once the proxy routes to the new container (or after
    /// the pause, without `baton.routes`): the earlier, sequential order.
    Routed,
}

/// How SSH checks host keys (`baton.known_hosts`), for every connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KnownHosts {
    /// `strict`: the key must already be known.
    Strict,
    /// `accept-new` (the default): trust a key on first use, then require it.
    #[default]
    AcceptNew,
    /// `off`: accept any key (test fleets only).
    Off,
}

impl KnownHosts {
    /// The value of ssh's `StrictHostKeyChecking` option for this policy.
    pub fn ssh_option(self) -> &'static str {
        match self {
            KnownHosts::Strict => "yes",
            KnownHosts::AcceptNew => "accept-new",
            KnownHosts::Off => "no",
        }
    }
}

impl Default for BatonSettings {
    fn default() -> Self {
        Self {
            poll_interval_ms: 500,
            proxy_pickup_ms: 2000,
            pause_margin_ms: 1000,
            connect_timeout_ms: 10_000,
            command_timeout_ms: 120_000,
            known_hosts: KnownHosts::AcceptNew,
            known_hosts_file: None,
            routes_command: None,
            routes_from_traefik: false,
            cut_at: CutAt::Healthy,
            journal_keep: 50,
            ssh_persist_ms: 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    /// The role's hosts, as written (`host`, `host:port`, `[IPv6]:port`).
    pub hosts: Vec<String>,
    /// The tags of the role's hosts (`- 192.0.2.1: tag`), host by host;
    /// each names an `env.tags` entry merged into that host's env.
    pub tags: BTreeMap<String, Vec<String>>,
    pub cmd: Option<String>,
    pub options: Vec<(String, OptionValue)>,
    /// Role labels (merged over the global labels by [`Config::role_labels`]).
    pub labels: Vec<(String, String)>,
    /// Role env (merged over the global env by [`Config::role_env`]).
    pub env: Env,
    /// `healthcheck:` given on the role itself, as written (read only while
    /// the config is parsed: [`Role::spec`] holds the result).
    healthcheck_raw: Option<Mapping>,
    /// `logging:` given on the role itself (merged into [`Role::logging`]
    /// while the config is parsed).
    logging_own: Option<Logging>,
    /// `traefik: true` on a role other than `web`.
    pub traefik: bool,
    /// The role's logging: the global `logging:` with the role's own merged
    /// over it (Kamal 1.4's role-level logging).
    pub logging: Logging,
    /// What the role's settings come to, resolved once when the config is parsed.
    pub spec: RoleSpec,
}

/// A role's health check, cord and proxy settings, resolved once when the
/// config is parsed (Kamal 1.0's rules), so that nothing derives them again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoleSpec {
    /// Runs behind Traefik (`web`, or `traefik: true`): its containers carry
    /// Traefik's labels, and the proxy routes to them when healthy.
    pub proxied: bool,
    /// The health check settings: for Traefik roles the global
    /// `healthcheck:` with the role's merged over it; for other roles only the
    /// role's own. None: no health check.
    pub healthcheck: Option<Healthcheck>,
    /// The command the container's health check runs (`cmd`, else curl).
    pub health_cmd: Option<String>,
    /// Kamal's `uses_cord?`: a Traefik role with a cord directory and a
    /// health command.
    pub uses_cord: bool,
}

impl RoleSpec {
    /// Docker's health check interval, when the container has a health check.
    pub fn health_interval_ms(&self) -> Option<Millis> {
        self.health_cmd.as_ref().and(self.healthcheck.as_ref()).map(|h| h.interval_ms)
    }
    /// The cord's directory inside the container, when the role uses the cord.
    pub fn cord_mount(&self) -> Option<&str> {
        self.healthcheck.as_ref().and_then(|h| h.cord.as_deref()).filter(|_| self.uses_cord)
    }
}

/// A parsed, validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub service: String,
    pub image: String,
    pub destination: Option<String>,
    pub roles: Vec<Role>,
    pub registry: Registry,
    pub env: Env,
    pub healthcheck: Healthcheck,
    pub readiness_delay_ms: Millis,
    pub boot: Boot,
    pub stop_wait_time: Option<u64>,
    pub volumes: Vec<String>,
    pub labels: Vec<(String, String)>,
    pub logging: Logging,
    pub ssh: Ssh,
    pub max_concurrent_starts: usize,
    pub run_directory: String,
    pub primary_role: String,
    /// `env.tags`: env merged into the env of the hosts tagged with each name.
    pub env_tags: Vec<(String, Env)>,
    /// `require_destination: true`: the config was refused without `-d`.
    pub require_destination: bool,
    /// `allow_empty_roles: true`: roles other than the primary may have no host.
    pub allow_empty_roles: bool,
    /// `retain_containers` (5 by default; used by Kamal's `prune`).
    pub retain_containers: u64,
    /// `minimum_version`, checked against [`KAMAL_CONFIG_LEVEL`].
    pub minimum_version: Option<String>,
    /// `hooks_path` (`.kamal/hooks` when not set).
    pub hooks_path: Option<String>,
    pub builder: Builder,
    /// `traefik:`: the Traefik container of `traefik boot`.
    pub traefik: Traefik,
    /// `accessories:`, in file order.
    pub accessories: Vec<Accessory>,
    pub baton: BatonSettings,
    /// Every host, as written, with the address and port SSH connects to.
    pub host_specs: BTreeMap<String, HostSpec>,
    /// Every host in the order it first appears, and the roles on each.
    host_order: Vec<String>,
    roles_by_host: HashMap<String, Vec<usize>>,
    /// Problems that did not stop the parse (unknown keys, ignored settings).
    pub warnings: Vec<Problem>,
}

impl Config {
    /// Parse `base`, with `destination` (its name and file) merged over it.
    pub fn parse(base: Source<'_>, destination: Option<(&str, Source<'_>)>) -> Result<Config, ConfigError> {
        let mut value = parse_yaml(base.name, base.text).map_err(|p| ConfigError { problems: vec![p] })?;
        let mut ctx =
            Ctx { base, base_lines: LineIndex::build(base.text), dest: None, errors: vec![], warnings: vec![] };
        let mut dest_name = None;
        if let Some((name, src)) = destination {
            let over = parse_yaml(src.name, src.text).map_err(|p| ConfigError { problems: vec![p] })?;
            match over {
                Value::Null => {}
                Value::Mapping(_) => deep_merge(&mut value, over),
                other => {
                    return Err(ConfigError {
                        problems: vec![Problem {
                            file: src.name.into(),
                            path: String::new(),
                            line: Some(1),
                            column: None,
                            message: format!("expected a mapping of settings, found {}", type_name(&other)),
                        }],
                    })
                }
            }
            ctx.dest = Some((src, LineIndex::build(src.text)));
            if let Err(e) = names::check_name_part(name) {
                ctx.err("", format!("destination {e}"));
            }
            dest_name = Some(name.to_string());
        }
        let root = match value {
            Value::Mapping(m) => m,
            Value::Null => Mapping::new(),
            other => {
                ctx.err("", format!("expected a mapping of settings, found {}", type_name(&other)));
                return Err(ConfigError { problems: ctx.errors });
            }
        };
        let cfg = build::build(&mut ctx, &root, dest_name);
        let base_name = base.name;
        let in_line_order = |mut ps: Vec<Problem>| {
            // The base file first, then the destination's; in each, the
            // problems of the whole file (a missing key), then by line.
            ps.sort_by_key(|p| (p.file != base_name, p.line, p.column));
            ps
        };
        if ctx.errors.is_empty() {
            let mut cfg = cfg;
            cfg.warnings = in_line_order(ctx.warnings);
            Ok(cfg)
        } else {
            Err(ConfigError { problems: in_line_order(ctx.errors) })
        }
    }

    /// The accessory called `name`.
    pub fn accessory(&self, name: &str) -> Option<&Accessory> {
        self.accessories.iter().find(|a| a.name == name)
    }

    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name)
    }

    /// Every host, in the order they first appear.
    pub fn all_hosts(&self) -> Vec<String> {
        self.host_order.clone()
    }

    /// The roles that run on `host`, in config order (sorted by name).
    pub fn roles_on(&self, host: &str) -> Vec<&Role> {
        self.roles_by_host.get(host).map_or_else(Vec::new, |ix| ix.iter().map(|&i| &self.roles[i]).collect())
    }

    /// Where SSH connects for `host` (as written in the config): its
    /// address, and its own port or `ssh.port`.
    pub fn ssh_endpoint(&self, host: &str) -> (String, u16) {
        match self.host_specs.get(host) {
            Some(spec) => (spec.address.clone(), spec.port.unwrap_or(self.ssh.port)),
            None => (host.to_string(), self.ssh.port),
        }
    }

    /// First host of the primary role; the lock lives there.
    pub fn primary_host(&self) -> &str {
        self.role(&self.primary_role)
            .and_then(|r| r.hosts.first())
            .or_else(|| self.roles.first().and_then(|r| r.hosts.first()))
            .map(String::as_str)
            .unwrap_or("")
    }

    /// `<service>-<role>[-<destination>]`: the container prefix, Traefik
    /// service name and env-file stem.
    pub fn role_full_name(&self, role: &str) -> String {
        match &self.destination {
            Some(d) => format!("{}-{}-{}", self.service, role, d),
            None => format!("{}-{}", self.service, role),
        }
    }

    /// `<registry>/<image>` as Kamal's `repository`.
    pub fn repository(&self) -> String {
        match &self.registry.server {
            Some(s) => format!("{s}/{}", self.image),
            None => self.image.clone(),
        }
    }

    /// Labels of the role's containers, in Kamal's order: service, role,
    /// destination, Traefik's, the global labels, the role's labels. A later
    /// key replaces an earlier one in place (Ruby's Hash#merge).
    pub fn role_labels(&self, role: &Role) -> Vec<(String, String)> {
        let mut out = Merged::default();
        out.set("service".into(), self.service.clone());
        out.set("role".into(), role.name.clone());
        if let Some(d) = &self.destination {
            out.set("destination".into(), d.clone());
        }
        if role.spec.proxied {
            let s = self.role_full_name(&role.name);
            out.set(format!("traefik.http.services.{s}.loadbalancer.server.scheme"), "http".into());
            out.set(format!("traefik.http.routers.{s}.rule"), "PathPrefix(`/`)".into());
            out.set(format!("traefik.http.middlewares.{s}-retry.retry.attempts"), "5".into());
            out.set(format!("traefik.http.middlewares.{s}-retry.retry.initialinterval"), "500ms".into());
            out.set(format!("traefik.http.routers.{s}.middlewares"), format!("{s}-retry@docker"));
        }
        for (k, v) in self.labels.iter().chain(role.labels.iter()) {
            out.set(k.clone(), v.clone());
        }
        out.pairs
    }

    /// The role's environment: global clear values with the role's over them;
    /// global secrets followed by the role's.
    pub fn role_env(&self, role: &Role) -> Env {
        merge_env([&self.env, &role.env])
    }

    /// The role's environment on `host`: [`Config::role_env`], then the
    /// `env.tags` entry of each of the host's tags, in the order the host
    /// lists them (Kamal 1.5's host tags).
    pub fn role_env_on(&self, role: &Role, host: &str) -> Env {
        let tags = role.tags.get(host).map(Vec::as_slice).unwrap_or_default();
        let tag_envs = tags.iter().filter_map(|t| self.env_tags.iter().find(|(n, _)| n == t).map(|(_, e)| e));
        merge_env([&self.env, &role.env].into_iter().chain(tag_envs))
    }
}

/// Key-value pairs where a later key replaces an earlier one in place
/// (Ruby's `Hash#merge`), in linear time.
#[derive(Default)]
pub(super) struct Merged {
    pub(super) pairs: Vec<(String, String)>,
    at: HashMap<String, usize>,
}

impl Merged {
    pub(super) fn set(&mut self, k: String, v: String) {
        match self.at.get(&k) {
            Some(&i) => self.pairs[i].1 = v,
            None => {
                self.at.insert(k.clone(), self.pairs.len());
                self.pairs.push((k, v));
            }
        }
    }
}

/// Envs merged as Kamal merges them: clear values of later ones over
/// earlier ones, secrets in order without repeats.
fn merge_env<'a>(envs: impl IntoIterator<Item = &'a Env>) -> Env {
    let mut clear = Merged::default();
    let mut secret = vec![];
    let mut seen = std::collections::HashSet::new();
    for env in envs {
        for (k, v) in &env.clear {
            clear.set(k.clone(), v.clone());
        }
        for s in &env.secret {
            if seen.insert(s.clone()) {
                secret.push(s.clone());
            }
        }
    }
    Env { clear: clear.pairs, secret }
}

#[cfg(test)]
mod kamal1_tests;
#[cfg(test)]
mod tests;
