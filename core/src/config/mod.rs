//! `config/deploy.yml` (and `config/deploy.<destination>.yml` merged over it),
//! in Kamal 1.0's schema, parsed into a typed [`Config`].
//!
//! The core reads no files: the caller passes each file's name and text.
//! Every problem names the file, the key path and the line.

mod lines;
pub mod names;

use crate::time::Millis;
use lines::LineIndex;
use serde_yaml::{Mapping, Value};
use std::fmt;

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
    pub log_lines: u32,
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
    /// A command run on each host that prints the proxy's routing table in
    /// Traefik v2's `/api/http/services` JSON; None: pause instead.
    pub routes_command: Option<String>,
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

/// `baton.routes: traefik`: read Traefik's API from inside its container.
pub const TRAEFIK_ROUTES_COMMAND: &str = "docker exec traefik wget -qO- http://localhost:8080/api/http/services";

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
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    pub hosts: Vec<String>,
    pub cmd: Option<String>,
    pub options: Vec<(String, OptionValue)>,
    /// Role labels (merged over the global labels by [`Config::role_labels`]).
    pub labels: Vec<(String, String)>,
    /// Role env (merged over the global env by [`Config::role_env`]).
    pub env: Env,
    /// `healthcheck:` given on the role itself, as written (read only while
    /// the config is parsed: [`Role::spec`] holds the result).
    healthcheck_raw: Option<Mapping>,
    /// `traefik: true` on a role other than `web`.
    pub traefik: bool,
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
    pub baton: BatonSettings,
    /// Problems that did not stop the parse (unknown keys, ignored settings).
    pub warnings: Vec<Problem>,
}

/// Keys that Kamal 1.0 knows but that belong to commands baton does not
/// implement (build, accessories, Traefik's own container). Accepted quietly.
const KAMAL_KEYS_FOR_OTHER_COMMANDS: &[&str] =
    &["builder", "accessories", "traefik", "hooks_path", "require_destination", "minimum_version"];

struct Ctx<'a> {
    base: Source<'a>,
    base_lines: LineIndex,
    dest: Option<(Source<'a>, LineIndex)>,
    errors: Vec<Problem>,
    warnings: Vec<Problem>,
}

impl<'a> Ctx<'a> {
    fn locate(&self, path: &str) -> (String, Option<usize>) {
        if let Some((src, idx)) = &self.dest {
            if idx.has(path) {
                return (src.name.to_string(), idx.line_of(path));
            }
        }
        if self.base_lines.has(path) {
            return (self.base.name.to_string(), self.base_lines.line_of(path));
        }
        if let Some(l) = self.base_lines.line_of(path) {
            return (self.base.name.to_string(), Some(l));
        }
        if let Some((src, idx)) = &self.dest {
            if let Some(l) = idx.line_of(path) {
                return (src.name.to_string(), Some(l));
            }
        }
        (self.base.name.to_string(), None)
    }
    fn problem(&self, path: &str, message: String) -> Problem {
        let (file, line) = self.locate(path);
        Problem { file, path: path.to_string(), line, column: None, message }
    }
    fn err(&mut self, path: &str, message: impl Into<String>) {
        let p = self.problem(path, message.into());
        self.errors.push(p);
    }
    fn warn(&mut self, path: &str, message: impl Into<String>) {
        let p = self.problem(path, message.into());
        self.warnings.push(p);
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// A scalar as text (strings, numbers, booleans), as Kamal's `to_s` does.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_yaml(ctx_name: &str, text: &str) -> Result<Value, Problem> {
    match serde_yaml::from_str::<Value>(text) {
        Ok(v) => Ok(v),
        Err(e) => {
            let loc = e.location();
            let mut msg = e.to_string();
            // serde_yaml appends " at line X column Y"; the position is given up front.
            if let Some(i) = msg.find(" at line ") {
                msg.truncate(i);
            }
            Err(Problem {
                file: ctx_name.to_string(),
                path: String::new(),
                line: loc.as_ref().map(|l| l.line()),
                column: loc.as_ref().map(|l| l.column()),
                message: format!("YAML syntax error: {msg}"),
            })
        }
    }
}

/// Merge `over` into `base`: mappings key by key, everything else replaced
/// (ActiveSupport's `deep_merge`, as Kamal uses for destination files).
fn deep_merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => deep_merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// Parse a Go-style duration as Docker takes it (`1s`, `500ms`, `1m30s`), or a
/// bare number of seconds. Returns milliseconds.
pub fn parse_duration(text: &str) -> Option<Millis> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<f64>() {
        return (secs >= 0.0 && secs.is_finite()).then(|| (secs * 1000.0).round() as Millis);
    }
    let mut total = 0f64;
    let mut rest = t;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "ms" => 1.0,
            "s" => 1000.0,
            "m" => 60_000.0,
            "h" => 3_600_000.0,
            "us" | "µs" => 0.001,
            "ns" => 0.000_001,
            _ => return None,
        };
        total += n * factor;
        rest = &rest[unit_end..];
    }
    Some(total.round() as Millis)
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
        let cfg = build(&mut ctx, &root, dest_name);
        if ctx.errors.is_empty() {
            let mut cfg = cfg;
            cfg.warnings = ctx.warnings;
            Ok(cfg)
        } else {
            Err(ConfigError { problems: ctx.errors })
        }
    }

    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name)
    }

    /// Every host, in the order they first appear.
    pub fn all_hosts(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.roles {
            for h in &r.hosts {
                if !out.contains(h) {
                    out.push(h.clone());
                }
            }
        }
        out
    }

    /// The roles that run on `host`, in config order.
    pub fn roles_on(&self, host: &str) -> Vec<&Role> {
        self.roles.iter().filter(|r| r.hosts.iter().any(|h| h == host)).collect()
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
        let mut out: Vec<(String, String)> = Vec::new();
        let mut set = |k: String, v: String| match out.iter_mut().find(|(ek, _)| *ek == k) {
            Some(e) => e.1 = v,
            None => out.push((k, v)),
        };
        set("service".into(), self.service.clone());
        set("role".into(), role.name.clone());
        if let Some(d) = &self.destination {
            set("destination".into(), d.clone());
        }
        if role.spec.proxied {
            let s = self.role_full_name(&role.name);
            set(format!("traefik.http.services.{s}.loadbalancer.server.scheme"), "http".into());
            set(format!("traefik.http.routers.{s}.rule"), "PathPrefix(`/`)".into());
            set(format!("traefik.http.middlewares.{s}-retry.retry.attempts"), "5".into());
            set(format!("traefik.http.middlewares.{s}-retry.retry.initialinterval"), "500ms".into());
            set(format!("traefik.http.routers.{s}.middlewares"), format!("{s}-retry@docker"));
        }
        for (k, v) in self.labels.iter().chain(role.labels.iter()) {
            set(k.clone(), v.clone());
        }
        out
    }

    /// The role's environment: global clear values with the role's over them;
    /// global secrets followed by the role's.
    pub fn role_env(&self, role: &Role) -> Env {
        let mut clear = self.env.clear.clone();
        for (k, v) in &role.env.clear {
            match clear.iter_mut().find(|(ek, _)| ek == k) {
                Some(e) => e.1 = v.clone(),
                None => clear.push((k.clone(), v.clone())),
            }
        }
        let mut secret = self.env.secret.clone();
        for s in &role.env.secret {
            if !secret.contains(s) {
                secret.push(s.clone());
            }
        }
        Env { clear, secret }
    }
}

fn build(ctx: &mut Ctx<'_>, root: &Mapping, destination: Option<String>) -> Config {
    const KNOWN: &[&str] = &[
        "service",
        "image",
        "servers",
        "registry",
        "env",
        "healthcheck",
        "readiness_delay",
        "boot",
        "stop_wait_time",
        "volumes",
        "labels",
        "logging",
        "ssh",
        "sshkit",
        "run_directory",
        "primary_role",
        "baton",
    ];
    for k in root.keys() {
        let key = scalar_text(k).unwrap_or_default();
        if !KNOWN.contains(&key.as_str()) && !KAMAL_KEYS_FOR_OTHER_COMMANDS.contains(&key.as_str()) {
            ctx.warn(&key, format!("unknown key {key:?}; it is ignored"));
        }
    }

    let service = required_str(ctx, root, "service").unwrap_or_default();
    if !service.is_empty() {
        if let Err(e) = names::check_name_part(&service) {
            ctx.err("service", e);
        }
    }
    let image = required_str(ctx, root, "image").unwrap_or_default();
    if !image.is_empty() {
        if let Err(e) = names::check_image(&image) {
            ctx.err("image", e);
        }
    }

    let registry = parse_registry(ctx, root.get("registry"));
    let env = parse_env(ctx, root.get("env"), "env");
    let healthcheck_raw = match root.get("healthcheck") {
        None | Some(Value::Null) => Mapping::new(),
        Some(Value::Mapping(m)) => m.clone(),
        Some(other) => {
            ctx.err("healthcheck", format!("expected a mapping, found {}", type_name(other)));
            Mapping::new()
        }
    };
    let healthcheck = {
        let mut problems = vec![];
        let hc = healthcheck_from(&healthcheck_raw, &mut |k, m| problems.push((join("healthcheck", k), m)));
        for (p, m) in problems {
            if m.starts_with("unknown key") {
                ctx.warn(&p, m);
            } else {
                ctx.err(&p, m);
            }
        }
        hc
    };

    let roles = parse_servers(ctx, root.get("servers"));

    let readiness_delay_ms = opt_seconds(ctx, root, "readiness_delay").unwrap_or(7_000);
    let boot = parse_boot(ctx, root.get("boot"));
    let stop_wait_time = opt_u64(ctx, root.get("stop_wait_time"), "stop_wait_time");
    let volumes = string_list(ctx, root.get("volumes"), "volumes");
    let labels = string_map(ctx, root.get("labels"), "labels", true);
    let logging = parse_logging(ctx, root.get("logging"));
    let ssh = parse_ssh(ctx, root.get("ssh"));
    let max_concurrent_starts = match root.get("sshkit") {
        None | Some(Value::Null) => 30,
        Some(Value::Mapping(m)) => {
            for k in m.keys() {
                let key = scalar_text(k).unwrap_or_default();
                if !["max_concurrent_starts", "pool_idle_timeout"].contains(&key.as_str()) {
                    ctx.warn(&join("sshkit", &key), format!("unknown key {key:?}; it is ignored"));
                }
            }
            match opt_u64(ctx, m.get("max_concurrent_starts"), "sshkit.max_concurrent_starts") {
                Some(0) => {
                    ctx.err("sshkit.max_concurrent_starts", "must be at least 1");
                    30
                }
                Some(n) => n as usize,
                None => 30,
            }
        }
        Some(other) => {
            ctx.err("sshkit", format!("expected a mapping, found {}", type_name(other)));
            30
        }
    };
    let run_directory = match root.get("run_directory") {
        None | Some(Value::Null) => ".kamal".to_string(),
        Some(Value::String(s)) if !s.is_empty() && !s.contains(['\n', '\0']) => s.clone(),
        Some(other) => {
            ctx.err("run_directory", format!("expected a directory path, found {}", type_name(other)));
            ".kamal".into()
        }
    };
    let primary_role = match root.get("primary_role") {
        None | Some(Value::Null) => "web".to_string(),
        Some(Value::String(s)) => {
            if !roles.is_empty() && !roles.iter().any(|r| &r.name == s) {
                ctx.err("primary_role", format!("{s:?} is not one of the roles under servers"));
            }
            s.clone()
        }
        Some(other) => {
            ctx.err("primary_role", format!("expected a role name, found {}", type_name(other)));
            "web".into()
        }
    };
    if root.get("primary_role").is_none() && !roles.is_empty() && !roles.iter().any(|r| r.name == "web") {
        // Kamal 1.0 requires the primary role (web by default) to exist.
        ctx.err("servers", "there is no `web` role; name one or set primary_role: to the role that holds the lock");
    }
    let baton = parse_baton(ctx, root.get("baton"));

    let mut roles = roles;
    for role in &mut roles {
        role.spec = resolve_role(role, &healthcheck_raw);
        if let Some(hc) = &role.healthcheck_raw {
            let base = join(&join("servers", &role.name), "healthcheck");
            let mut problems = vec![];
            healthcheck_from(hc, &mut |k, m| problems.push((join(&base, k), m)));
            for (p, m) in problems {
                if m.starts_with("unknown key") {
                    ctx.warn(&p, m);
                } else {
                    ctx.err(&p, m);
                }
            }
        }
    }

    Config {
        service,
        image,
        destination,
        roles,
        registry,
        env,
        healthcheck,
        readiness_delay_ms,
        boot,
        stop_wait_time,
        volumes,
        labels,
        logging,
        ssh,
        max_concurrent_starts,
        run_directory,
        primary_role,
        baton,
        warnings: vec![],
    }
}

/// A role's [`RoleSpec`], from its own `healthcheck:` and the global one.
fn resolve_role(role: &Role, global_healthcheck: &Mapping) -> RoleSpec {
    let proxied = role.name == "web" || role.traefik;
    let mut merged = if proxied { global_healthcheck.clone() } else { Mapping::new() };
    if let Some(m) = &role.healthcheck_raw {
        for (k, v) in m {
            merged.insert(k.clone(), v.clone());
        }
    }
    // Values were checked as the config was read: problems cannot occur here.
    let healthcheck = (proxied || role.healthcheck_raw.is_some()).then(|| healthcheck_from(&merged, &mut |_, _| {}));
    let health_cmd = healthcheck.as_ref().map(|hc| match &hc.cmd {
        Some(cmd) => cmd.clone(),
        None => format!("curl -f http://localhost:{}{} || exit 1", hc.port, hc.path),
    });
    let uses_cord = proxied && healthcheck.as_ref().is_some_and(|h| h.cord.is_some()) && health_cmd.is_some();
    RoleSpec { proxied, healthcheck, health_cmd, uses_cord }
}

fn required_str(ctx: &mut Ctx<'_>, m: &Mapping, key: &str) -> Option<String> {
    match m.get(key) {
        None | Some(Value::Null) => {
            ctx.err(key, format!("the required key `{key}` is missing"));
            None
        }
        Some(Value::String(s)) if s.is_empty() => {
            ctx.err(key, "must not be empty");
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            ctx.err(key, format!("expected a string, found {}", type_name(other)));
            None
        }
    }
}

fn opt_u64(ctx: &mut Ctx<'_>, v: Option<&Value>, path: &str) -> Option<u64> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
        Some(other) => {
            ctx.err(path, format!("expected a whole number, found {}", describe(other)));
            None
        }
    }
}

fn describe(v: &Value) -> String {
    match scalar_text(v) {
        Some(t) => format!("{} {t:?}", type_name(v)),
        None => type_name(v).to_string(),
    }
}

fn opt_seconds(ctx: &mut Ctx<'_>, m: &Mapping, key: &str) -> Option<Millis> {
    opt_u64(ctx, m.get(key), key).map(|s| s * 1000)
}

fn string_list(ctx: &mut Ctx<'_>, v: Option<&Value>, path: &str) -> Vec<String> {
    match v {
        None | Some(Value::Null) => vec![],
        Some(Value::Sequence(items)) => {
            let mut out = vec![];
            for (i, item) in items.iter().enumerate() {
                match scalar_text(item) {
                    Some(s) => out.push(s),
                    None => {
                        ctx.err(&join(path, &i.to_string()), format!("expected a string, found {}", type_name(item)))
                    }
                }
            }
            out
        }
        Some(other) => {
            ctx.err(path, format!("expected a list, found {}", type_name(other)));
            vec![]
        }
    }
}

/// A mapping of scalar values, in file order. `check_keys` refuses keys with
/// '=' or spaces (labels, env names).
fn string_map(ctx: &mut Ctx<'_>, v: Option<&Value>, path: &str, check_keys: bool) -> Vec<(String, String)> {
    match v {
        None | Some(Value::Null) => vec![],
        Some(Value::Mapping(m)) => {
            let mut out = vec![];
            for (k, val) in m {
                let key = scalar_text(k).unwrap_or_default();
                let p = join(path, &key);
                if check_keys {
                    if let Err(e) = names::check_key(&key) {
                        ctx.err(&p, e);
                        continue;
                    }
                }
                match scalar_text(val) {
                    Some(s) => out.push((key, s)),
                    None if val.is_null() => out.push((key, String::new())),
                    None => ctx.err(&p, format!("expected a string, found {}", type_name(val))),
                }
            }
            out
        }
        Some(other) => {
            ctx.err(path, format!("expected a mapping, found {}", type_name(other)));
            vec![]
        }
    }
}

fn secret_ref(ctx: &mut Ctx<'_>, v: Option<&Value>, path: &str) -> Option<SecretRef> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::Sequence(items)) => match items.as_slice() {
            [Value::String(name)] if !name.is_empty() => Some(SecretRef::Env(name.clone())),
            _ => {
                ctx.err(
                    path,
                    "a list here must hold exactly one environment variable name, e.g. [KAMAL_REGISTRY_PASSWORD]",
                );
                None
            }
        },
        Some(other) => match scalar_text(other) {
            Some(s) => Some(SecretRef::Literal(s)),
            None => {
                ctx.err(path, format!("expected a string or [ENV_NAME], found {}", type_name(other)));
                None
            }
        },
    }
}

fn parse_registry(ctx: &mut Ctx<'_>, v: Option<&Value>) -> Registry {
    let m = match v {
        None | Some(Value::Null) => return Registry::default(),
        Some(Value::Mapping(m)) => m,
        Some(other) => {
            ctx.err("registry", format!("expected a mapping, found {}", type_name(other)));
            return Registry::default();
        }
    };
    for k in m.keys() {
        let key = scalar_text(k).unwrap_or_default();
        if !["server", "username", "password"].contains(&key.as_str()) {
            ctx.warn(&join("registry", &key), format!("unknown key {key:?}; it is ignored"));
        }
    }
    let server = match m.get("server") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            if let Err(e) = names::check_registry_host(s) {
                ctx.err("registry.server", e);
            }
            Some(s.clone())
        }
        Some(other) => {
            ctx.err("registry.server", format!("expected a host name, found {}", type_name(other)));
            None
        }
    };
    Registry {
        server,
        username: secret_ref(ctx, m.get("username"), "registry.username"),
        password: secret_ref(ctx, m.get("password"), "registry.password"),
    }
}

fn parse_env(ctx: &mut Ctx<'_>, v: Option<&Value>, path: &str) -> Env {
    let m = match v {
        None | Some(Value::Null) => return Env::default(),
        Some(Value::Mapping(m)) => m,
        Some(other) => {
            ctx.err(path, format!("expected a mapping, found {}", type_name(other)));
            return Env::default();
        }
    };
    let structured = m.contains_key("clear") || m.contains_key("secret");
    if !structured {
        return Env { clear: string_map(ctx, v, path, true), secret: vec![] };
    }
    for k in m.keys() {
        let key = scalar_text(k).unwrap_or_default();
        if key != "clear" && key != "secret" {
            ctx.err(&join(path, &key), "with clear: or secret: present, every variable belongs under one of them");
        }
    }
    let clear = string_map(ctx, m.get("clear"), &join(path, "clear"), true);
    let secret = string_list(ctx, m.get("secret"), &join(path, "secret"));
    for (i, s) in secret.iter().enumerate() {
        if let Err(e) = names::check_key(s) {
            ctx.err(&join(&join(path, "secret"), &i.to_string()), e);
        }
    }
    Env { clear, secret }
}

/// Build a health check from a raw mapping; `problem(key, message)` is told
/// of each bad value. Missing keys take Kamal's defaults.
fn healthcheck_from(m: &Mapping, problem: &mut dyn FnMut(&str, String)) -> Healthcheck {
    let mut hc = Healthcheck::default();
    for (k, v) in m {
        let key = scalar_text(k).unwrap_or_default();
        match key.as_str() {
            "path" => match v {
                Value::String(s) if s.starts_with('/') => hc.path = s.clone(),
                other => problem("path", format!("expected a path starting with '/', found {}", describe(other))),
            },
            "port" => match v.as_u64() {
                Some(p) if (1..=65535).contains(&p) => hc.port = p as u16,
                _ => problem("port", format!("expected a port number (1-65535), found {}", describe(v))),
            },
            "cmd" => match v {
                Value::String(s) if !s.trim().is_empty() => hc.cmd = Some(s.clone()),
                Value::Null => {}
                other => problem("cmd", format!("expected a command string, found {}", describe(other))),
            },
            "interval" => {
                let text = scalar_text(v);
                match text.as_deref().and_then(parse_duration) {
                    Some(ms) if ms > 0 => {
                        hc.interval_ms = ms;
                        // A bare number means seconds; Docker wants a unit.
                        hc.interval = match v {
                            Value::Number(_) => format!("{}s", text.unwrap_or_default()),
                            _ => text.unwrap_or_default(),
                        };
                    }
                    _ => problem("interval", format!("expected a duration such as 1s or 500ms, found {}", describe(v))),
                }
            }
            "max_attempts" => match v.as_u64() {
                Some(n) if n >= 1 => hc.max_attempts = n as u32,
                _ => problem("max_attempts", format!("expected a whole number of at least 1, found {}", describe(v))),
            },
            "cord" => match v {
                Value::Bool(false) | Value::Null => hc.cord = None,
                Value::String(s) if s.starts_with('/') && !s.contains(['\n', '\0']) => {
                    hc.cord = Some(s.trim_end_matches('/').to_string())
                }
                other => problem("cord", format!("expected an absolute directory or false, found {}", describe(other))),
            },
            "log_lines" => match v.as_u64() {
                Some(n) => hc.log_lines = n as u32,
                None => problem("log_lines", format!("expected a whole number, found {}", describe(v))),
            },
            other => problem(other, format!("unknown key {other:?}; it is ignored")),
        }
    }
    hc
}

fn parse_servers(ctx: &mut Ctx<'_>, v: Option<&Value>) -> Vec<Role> {
    let mut roles = vec![];
    match v {
        None | Some(Value::Null) => ctx.err("servers", "the required key `servers` is missing"),
        Some(Value::Sequence(_)) => {
            let hosts = parse_hosts(ctx, v, "servers");
            if hosts.is_empty() {
                ctx.err("servers", "role `web` has no hosts");
            }
            roles.push(Role {
                name: "web".into(),
                hosts,
                cmd: None,
                options: vec![],
                labels: vec![],
                env: Env::default(),
                healthcheck_raw: None,
                traefik: false,
                spec: RoleSpec::default(),
            });
        }
        Some(Value::Mapping(m)) => {
            if m.is_empty() {
                ctx.err("servers", "no roles are defined");
            }
            for (k, spec) in m {
                let name = scalar_text(k).unwrap_or_default();
                let path = join("servers", &name);
                if let Err(e) = names::check_name_part(&name) {
                    ctx.err(&path, format!("role name {e}"));
                }
                if let Some(role) = parse_role(ctx, &name, spec, &path) {
                    roles.push(role);
                }
            }
        }
        Some(other) => {
            ctx.err("servers", format!("expected a list of hosts or a mapping of roles, found {}", type_name(other)))
        }
    }
    roles
}

fn parse_hosts(ctx: &mut Ctx<'_>, v: Option<&Value>, path: &str) -> Vec<String> {
    let hosts = string_list(ctx, v, path);
    let mut out = vec![];
    for (i, h) in hosts.into_iter().enumerate() {
        match names::check_host(&h) {
            Ok(()) => {
                if out.contains(&h) {
                    ctx.warn(&join(path, &i.to_string()), format!("host {h:?} is listed twice"));
                } else {
                    out.push(h);
                }
            }
            Err(e) => ctx.err(&join(path, &i.to_string()), e),
        }
    }
    out
}

fn parse_role(ctx: &mut Ctx<'_>, name: &str, spec: &Value, path: &str) -> Option<Role> {
    let errors_before = ctx.errors.len();
    let mut role = Role {
        name: name.to_string(),
        hosts: vec![],
        cmd: None,
        options: vec![],
        labels: vec![],
        env: Env::default(),
        healthcheck_raw: None,
        traefik: false,
        spec: RoleSpec::default(),
    };
    match spec {
        Value::Sequence(_) => role.hosts = parse_hosts(ctx, Some(spec), path),
        Value::Null => {}
        Value::Mapping(m) => {
            for k in m.keys() {
                let key = scalar_text(k).unwrap_or_default();
                if !["hosts", "cmd", "options", "labels", "env", "healthcheck", "traefik", "logging"]
                    .contains(&key.as_str())
                {
                    ctx.warn(&join(path, &key), format!("unknown key {key:?}; it is ignored"));
                }
            }
            let hosts_path = join(path, "hosts");
            role.hosts = parse_hosts(ctx, m.get("hosts"), &hosts_path);
            role.cmd = match m.get("cmd") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => {
                    ctx.err(&join(path, "cmd"), format!("expected a command string, found {}", type_name(other)));
                    None
                }
            };
            role.options = parse_options(ctx, m.get("options"), &join(path, "options"));
            role.labels = string_map(ctx, m.get("labels"), &join(path, "labels"), true);
            role.env = parse_env(ctx, m.get("env"), &join(path, "env"));
            role.healthcheck_raw = match m.get("healthcheck") {
                None | Some(Value::Null) => None,
                Some(Value::Mapping(h)) => Some(h.clone()),
                Some(other) => {
                    ctx.err(&join(path, "healthcheck"), format!("expected a mapping, found {}", type_name(other)));
                    None
                }
            };
            role.traefik = match m.get("traefik") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(other) => {
                    ctx.err(&join(path, "traefik"), format!("expected true or false, found {}", describe(other)));
                    false
                }
            };
            if m.contains_key("logging") {
                ctx.warn(
                    &join(path, "logging"),
                    "per-role logging is not in Kamal 1.0; baton uses the global logging: setting",
                );
            }
        }
        other => {
            ctx.err(path, format!("expected a list of hosts or a mapping with hosts:, found {}", type_name(other)));
            return None;
        }
    }
    // A role whose hosts were all refused already has its error.
    if role.hosts.is_empty() && ctx.errors.len() == errors_before {
        ctx.err(path, format!("role `{name}` has no hosts"));
    }
    Some(role)
}

fn parse_options(ctx: &mut Ctx<'_>, v: Option<&Value>, path: &str) -> Vec<(String, OptionValue)> {
    let m = match v {
        None | Some(Value::Null) => return vec![],
        Some(Value::Mapping(m)) => m,
        Some(other) => {
            ctx.err(path, format!("expected a mapping of Docker options, found {}", type_name(other)));
            return vec![];
        }
    };
    let mut out = vec![];
    for (k, val) in m {
        let key = scalar_text(k).unwrap_or_default();
        let p = join(path, &key);
        if let Err(e) = names::check_option_name(&key) {
            ctx.err(&p, e);
            continue;
        }
        match val {
            Value::Bool(true) | Value::Null => out.push((key, OptionValue::Flag)),
            Value::Sequence(items) => {
                for (i, item) in items.iter().enumerate() {
                    match scalar_text(item) {
                        Some(s) => out.push((key.clone(), OptionValue::Value(s))),
                        None => {
                            ctx.err(&join(&p, &i.to_string()), format!("expected a string, found {}", type_name(item)))
                        }
                    }
                }
            }
            other => match scalar_text(other) {
                Some(s) => out.push((key, OptionValue::Value(s))),
                None => ctx.err(&p, format!("expected a value, true or a list, found {}", type_name(other))),
            },
        }
    }
    out
}

fn parse_boot(ctx: &mut Ctx<'_>, v: Option<&Value>) -> Boot {
    let m = match v {
        None | Some(Value::Null) => return Boot::default(),
        Some(Value::Mapping(m)) => m,
        Some(other) => {
            ctx.err("boot", format!("expected a mapping with limit: and wait:, found {}", type_name(other)));
            return Boot::default();
        }
    };
    for k in m.keys() {
        let key = scalar_text(k).unwrap_or_default();
        if key != "limit" && key != "wait" {
            ctx.warn(&join("boot", &key), format!("unknown key {key:?}; it is ignored"));
        }
    }
    let limit = match m.get("limit") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n >= 1) => {
            Some(BootLimit::Count(n.as_u64().unwrap_or(1) as usize))
        }
        Some(Value::String(s)) if s.ends_with('%') => match s[..s.len() - 1].trim().parse::<u32>() {
            Ok(p) if (1..=100).contains(&p) => Some(BootLimit::Percent(p)),
            _ => {
                ctx.err("boot.limit", format!("{s:?} is not a percentage between 1% and 100%"));
                None
            }
        },
        Some(other) => {
            ctx.err(
                "boot.limit",
                format!(
                    "expected a number of hosts (at least 1) or a percentage such as \"25%\", found {}",
                    describe(other)
                ),
            );
            None
        }
    };
    let wait_ms = match m.get("wait") {
        None | Some(Value::Null) => 0,
        Some(v) => match scalar_text(v).as_deref().and_then(parse_duration) {
            Some(ms) if !matches!(v, Value::Bool(_)) => ms,
            _ => {
                ctx.err("boot.wait", format!("expected a number of seconds, found {}", describe(v)));
                0
            }
        },
    };
    Boot { limit, wait_ms }
}

fn parse_logging(ctx: &mut Ctx<'_>, v: Option<&Value>) -> Logging {
    let m = match v {
        None | Some(Value::Null) => return Logging::default(),
        Some(Value::Mapping(m)) => m,
        Some(other) => {
            ctx.err("logging", format!("expected a mapping, found {}", type_name(other)));
            return Logging::default();
        }
    };
    for k in m.keys() {
        let key = scalar_text(k).unwrap_or_default();
        if key != "driver" && key != "options" {
            ctx.warn(&join("logging", &key), format!("unknown key {key:?}; it is ignored"));
        }
    }
    let driver = match m.get("driver") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            ctx.err("logging.driver", format!("expected a driver name, found {}", type_name(other)));
            None
        }
    };
    Logging { driver, options: string_map(ctx, m.get("options"), "logging.options", true) }
}

fn parse_ssh(ctx: &mut Ctx<'_>, v: Option<&Value>) -> Ssh {
    let m = match v {
        None | Some(Value::Null) => return Ssh::default(),
        Some(Value::Mapping(m)) => m,
        Some(other) => {
            ctx.err("ssh", format!("expected a mapping, found {}", type_name(other)));
            return Ssh::default();
        }
    };
    let mut ssh = Ssh::default();
    for (k, v) in m {
        let key = scalar_text(k).unwrap_or_default();
        let p = join("ssh", &key);
        match key.as_str() {
            "user" => match v {
                Value::String(s)
                    if !s.is_empty()
                        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                        && !s.starts_with('-') =>
                {
                    ssh.user = s.clone()
                }
                other => ctx.err(&p, format!("expected a user name, found {}", describe(other))),
            },
            "port" => match v.as_u64() {
                Some(n) if (1..=65535).contains(&n) => ssh.port = n as u16,
                _ => ctx.err(&p, format!("expected a port number (1-65535), found {}", describe(v))),
            },
            "proxy" => match v {
                Value::String(s) => {
                    let host = s.rsplit_once('@').map_or(s.as_str(), |(_, h)| h);
                    let host = host
                        .rsplit_once(':')
                        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
                        .map_or(host, |(h, _)| h);
                    match names::check_host(host) {
                        Ok(()) => ssh.proxy = Some(s.clone()),
                        Err(e) => ctx.err(&p, format!("expected [user@]host[:port]: {e}")),
                    }
                }
                other => ctx.err(&p, format!("expected [user@]host[:port], found {}", describe(other))),
            },
            "keys" => {
                ssh.keys = string_list(ctx, Some(v), &p);
            }
            "config" => match v {
                Value::String(s) if !s.is_empty() => ssh.config = Some(s.clone()),
                // true/false: OpenSSH reads ~/.ssh/config anyway.
                Value::Bool(_) => {}
                other => ctx.err(&p, format!("expected the path of an ssh_config file, found {}", describe(other))),
            },
            "log_level" | "keys_only" | "key_data" => {}
            "proxy_command" => {
                ctx.warn(&p, "proxy_command is not supported by baton; use proxy: [user@]host (a jump host)")
            }
            other => ctx.warn(&p, format!("unknown key {other:?}; it is ignored")),
        }
    }
    ssh
}

fn parse_baton(ctx: &mut Ctx<'_>, v: Option<&Value>) -> BatonSettings {
    let mut b = BatonSettings::default();
    let m = match v {
        None | Some(Value::Null) => return b,
        Some(Value::Mapping(m)) => m,
        Some(other) => {
            ctx.err("baton", format!("expected a mapping, found {}", type_name(other)));
            return b;
        }
    };
    for (k, v) in m {
        let key = scalar_text(k).unwrap_or_default();
        let p = join("baton", &key);
        let slot = match key.as_str() {
            "poll_interval" => &mut b.poll_interval_ms,
            "proxy_pickup" => &mut b.proxy_pickup_ms,
            "pause_margin" => &mut b.pause_margin_ms,
            "connect_timeout" => &mut b.connect_timeout_ms,
            "command_timeout" => &mut b.command_timeout_ms,
            "known_hosts" => {
                match v.as_str() {
                    Some("strict") => b.known_hosts = KnownHosts::Strict,
                    Some("accept-new") => b.known_hosts = KnownHosts::AcceptNew,
                    Some("off") => b.known_hosts = KnownHosts::Off,
                    _ => ctx.err(&p, format!("expected strict, accept-new or off, found {}", describe(v))),
                }
                continue;
            }
            "routes" => {
                match v.as_str() {
                    Some("traefik") => b.routes_command = Some(TRAEFIK_ROUTES_COMMAND.to_string()),
                    Some("off") => b.routes_command = None,
                    Some(cmd) if !cmd.trim().is_empty() && !cmd.contains(['\n', '\0']) => {
                        b.routes_command = Some(cmd.to_string())
                    }
                    _ => ctx.err(
                        &p,
                        format!(
                            "expected traefik, off, or a command that prints the routing table, found {}",
                            describe(v)
                        ),
                    ),
                }
                continue;
            }
            "known_hosts_file" => {
                match v.as_str() {
                    Some(s) if !s.is_empty() => b.known_hosts_file = Some(s.to_string()),
                    _ => ctx.err(&p, format!("expected a file path, found {}", describe(v))),
                }
                continue;
            }
            other => {
                ctx.warn(&p, format!("unknown key {other:?}; it is ignored"));
                continue;
            }
        };
        match scalar_text(v).as_deref().and_then(parse_duration) {
            Some(ms) if !matches!(v, Value::Bool(_)) => *slot = ms,
            _ => ctx.err(&p, format!("expected a duration such as 500ms or 2s, found {}", describe(v))),
        }
    }
    if b.poll_interval_ms == 0 {
        ctx.err("baton.poll_interval", "must be more than 0");
        b.poll_interval_ms = 500;
    }
    b
}

#[cfg(test)]
mod tests;
