//! One parser per section of `deploy.yml` (registry, env, healthcheck,
//! boot, logging, ssh, sshkit, baton). `servers:` is in `servers.rs`.

use super::context::*;
use super::keys;
use super::values::*;
use super::*;

/// `registry:`, which Kamal 1 requires, with a username and a password
/// (each a value, or `[ENV_NAME]` to read it from the environment).
pub(super) fn parse_registry(ctx: &mut Ctx<'_>, v: Option<&Value>) -> Registry {
    let fix = "Kamal 1 requires it, with username: and password: (password: [KAMAL_REGISTRY_PASSWORD] reads it from the environment)";
    let m = match v {
        None | Some(Value::Null) => {
            ctx.err("registry", format!("the required key `registry` is missing; {fix}"));
            return Registry::default();
        }
        Some(Value::Mapping(m)) => m,
        Some(other) => {
            ctx.err("registry", format!("expected a mapping, found {}; {fix}", type_name(other)));
            return Registry::default();
        }
    };
    keys::warn_unknown(ctx, "registry", m, keys::REGISTRY);
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
    let mut required = |key: &str, what: &str| {
        let path = join("registry", key);
        let errors_before = ctx.errors.len();
        let r = secret_ref(ctx, m.get(key), &path);
        if r.is_none() && ctx.errors.len() == errors_before {
            ctx.err(
                &path,
                format!("the registry {what} is missing; Kamal 1 requires it: add {key}: (a value, or [ENV_NAME])"),
            );
        }
        r
    };
    let username = required("username", "username");
    let password = required("password", "password");
    Registry { server, username, password }
}

/// An env section: a flat mapping, or `clear:`, `secret:` and, at the top
/// level only (`allow_tags`), `tags:` (Kamal 1.5). Returns the env and its
/// tags. A value with a line break is refused: Docker's env files cannot
/// carry one.
pub(super) fn parse_env(
    ctx: &mut Ctx<'_>,
    v: Option<&Value>,
    path: &str,
    allow_tags: bool,
) -> (Env, Vec<(String, Env)>) {
    let Some(m) = opt_mapping(ctx, v, path) else { return (Env::default(), vec![]) };
    let structured = ["clear", "secret", "tags"].iter().any(|k| m.contains_key(*k));
    if !structured {
        let clear = string_map(ctx, v, path, true);
        check_values(ctx, path, &clear);
        return (Env { clear, secret: vec![] }, vec![]);
    }
    for k in m.keys() {
        let key = scalar_text(k).unwrap_or_default();
        match key.as_str() {
            "clear" | "secret" => {}
            "tags" if allow_tags => {}
            "tags" => ctx.err(&join(path, &key), "tags are only allowed in the top-level env; move them to env.tags"),
            _ => ctx.err(
                &join(path, &key),
                "with clear:, secret: or tags: present, every variable belongs under clear: or secret:; move it there",
            ),
        }
    }
    let clear_path = join(path, "clear");
    let clear = string_map(ctx, m.get("clear"), &clear_path, true);
    check_values(ctx, &clear_path, &clear);
    let secret = string_list(ctx, m.get("secret"), &join(path, "secret"));
    for (i, s) in secret.iter().enumerate() {
        if let Err(e) = names::check_key(s) {
            ctx.err(&join(&join(path, "secret"), &i.to_string()), e);
        }
    }
    let mut tags = vec![];
    if allow_tags {
        let tags_path = join(path, "tags");
        if let Some(t) = opt_mapping(ctx, m.get("tags"), &tags_path) {
            for (k, v) in t {
                let name = scalar_text(k).unwrap_or_default();
                let (env, _) = parse_env(ctx, Some(v), &join(&tags_path, &name), false);
                tags.push((name, env));
            }
        }
    }
    (Env { clear, secret }, tags)
}

fn check_values(ctx: &mut Ctx<'_>, path: &str, pairs: &[(String, String)]) {
    for (k, v) in pairs {
        if v.contains(['\n', '\r', '\0']) {
            ctx.err(
                &join(path, k),
                "the value holds a line break (or NUL), which Docker's env files cannot carry; put it on one line",
            );
        }
    }
}

/// The health check settings under `path`: unknown keys warn, bad values
/// are errors.
pub(super) fn checked_healthcheck(ctx: &mut Ctx<'_>, path: &str, m: &Mapping) -> Healthcheck {
    keys::warn_unknown(ctx, path, m, keys::HEALTHCHECK);
    let mut problems = vec![];
    let hc = healthcheck_from(m, &mut |k, msg| problems.push((join(path, k), msg)));
    for (p, m) in problems {
        ctx.err(&p, m);
    }
    hc
}

/// Build a health check from a raw mapping; `problem(key, message)` is told
/// of each bad value. Missing keys take Kamal's defaults; unknown ones are
/// left to [`checked_healthcheck`].
pub(super) fn healthcheck_from(m: &Mapping, problem: &mut dyn FnMut(&str, String)) -> Healthcheck {
    let mut hc = Healthcheck::default();
    for (k, v) in m {
        let key = scalar_text(k).unwrap_or_default();
        match key.as_str() {
            "path" => match v {
                Value::String(s) if s.starts_with('/') => hc.path = s.clone(),
                other => problem("path", format!("expected a path starting with '/', found {}", describe(other))),
            },
            "port" => match whole_number(v) {
                Some(p) if (1..=65535).contains(&p) => hc.port = p as u16,
                _ => problem("port", format!("expected a port number (1-65535), found {}", describe(v))),
            },
            "cmd" => match v {
                Value::String(s) if !s.trim().is_empty() => hc.cmd = Some(s.clone()),
                Value::Null => {}
                other => problem("cmd", format!("expected a command string, found {}", describe(other))),
            },
            "interval" => {
                let text = scalar_text(v).filter(|_| !matches!(v, Value::Bool(_))).unwrap_or_default();
                match parse_duration(&text) {
                    Some(ms) if ms > 0 => {
                        hc.interval_ms = ms;
                        // A bare number means seconds, quoted or not; Docker wants a unit.
                        let bare = text.trim().parse::<f64>().is_ok();
                        hc.interval = if bare { format!("{}s", text.trim()) } else { text };
                    }
                    _ => problem("interval", format!("expected a duration such as 1s or 500ms, found {}", describe(v))),
                }
            }
            "max_attempts" => match whole_number(v) {
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
            "log_lines" => match whole_number(v) {
                Some(n) if n <= u64::from(u32::MAX) => hc.log_lines = n as u32,
                _ => problem("log_lines", format!("expected a whole number, found {}", describe(v))),
            },
            "exposed_port" => match whole_number(v) {
                Some(p) if (1..=65535).contains(&p) => hc.exposed_port = p as u16,
                _ => problem("exposed_port", format!("expected a port number (1-65535), found {}", describe(v))),
            },
            _ => {}
        }
    }
    hc
}

pub(super) fn parse_boot(ctx: &mut Ctx<'_>, v: Option<&Value>) -> Boot {
    let Some(m) = opt_mapping(ctx, v, "boot") else { return Boot::default() };
    keys::warn_unknown(ctx, "boot", m, keys::BOOT);
    let limit = match m.get("limit") {
        None | Some(Value::Null) => None,
        Some(v) if whole_number(v).is_some_and(|n| n >= 1) => {
            Some(BootLimit::Count(whole_number(v).unwrap_or(1) as usize))
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

/// `logging:` at `path` (the top level, or a role's).
pub(super) fn parse_logging(ctx: &mut Ctx<'_>, v: Option<&Value>, path: &str) -> Logging {
    let Some(m) = opt_mapping(ctx, v, path) else { return Logging::default() };
    keys::warn_unknown(ctx, path, m, keys::LOGGING);
    let driver = match m.get("driver") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            ctx.err(&join(path, "driver"), format!("expected a driver name, found {}", type_name(other)));
            None
        }
    };
    Logging { driver, options: string_map(ctx, m.get("options"), &join(path, "options"), true) }
}

/// `sshkit.max_concurrent_starts` (30 by default).
pub(super) fn parse_sshkit(ctx: &mut Ctx<'_>, v: Option<&Value>) -> usize {
    let Some(m) = opt_mapping(ctx, v, "sshkit") else { return 30 };
    keys::warn_unknown(ctx, "sshkit", m, keys::SSHKIT);
    match opt_u64(ctx, m.get("max_concurrent_starts"), "sshkit.max_concurrent_starts") {
        Some(0) => {
            ctx.err("sshkit.max_concurrent_starts", "must be at least 1");
            30
        }
        Some(n) => n as usize,
        None => 30,
    }
}

pub(super) fn parse_ssh(ctx: &mut Ctx<'_>, v: Option<&Value>) -> Ssh {
    let Some(m) = opt_mapping(ctx, v, "ssh") else { return Ssh::default() };
    keys::warn_unknown(ctx, "ssh", m, keys::SSH);
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
            "port" => match whole_number(v) {
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
            "keys_only" if v.as_bool() == Some(true) => ctx.warn(
                &p,
                "keys_only is not supported: OpenSSH also offers the keys of ssh-agent and ~/.ssh; set IdentitiesOnly in an ssh_config file (ssh.config) instead",
            ),
            "key_data" => ctx.warn(
                &p,
                "key_data is not supported: baton uses OpenSSH, which reads keys from files; save the key to a file and list it under ssh.keys",
            ),
            "proxy_command" => ctx.warn(
                &p,
                "proxy_command is not supported by baton; use proxy: [user@]host (a jump host), or a ProxyCommand in an ssh_config file (ssh.config)",
            ),
            // log_level: Net::SSH's logging, which OpenSSH does not have.
            _ => {}
        }
    }
    ssh
}

pub(super) fn parse_baton(ctx: &mut Ctx<'_>, v: Option<&Value>) -> BatonSettings {
    let mut b = BatonSettings::default();
    let Some(m) = opt_mapping(ctx, v, "baton") else { return b };
    keys::warn_unknown(ctx, "baton", m, keys::BATON);
    for (k, v) in m {
        let key = scalar_text(k).unwrap_or_default();
        let p = join("baton", &key);
        let slot = match key.as_str() {
            "poll_interval" => &mut b.poll_interval_ms,
            "proxy_pickup" => &mut b.proxy_pickup_ms,
            "pause_margin" => &mut b.pause_margin_ms,
            "connect_timeout" => &mut b.connect_timeout_ms,
            "command_timeout" => &mut b.command_timeout_ms,
            "ssh_persist" => &mut b.ssh_persist_ms,
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
                    Some("traefik") => b.routes_from_traefik = true,
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
            "cut_at" => {
                match v.as_str() {
                    Some("healthy") => b.cut_at = CutAt::Healthy,
                    Some("routed") => b.cut_at = CutAt::Routed,
                    _ => ctx.err(&p, format!("expected healthy or routed, found {}", describe(v))),
                }
                continue;
            }
            "journal_keep" => {
                match whole_number(v).filter(|n| *n >= 1) {
                    Some(n) => b.journal_keep = n as usize,
                    None => {
                        ctx.err(&p, format!("expected a whole number of journals, 1 or more, found {}", describe(v)))
                    }
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
            _ => continue,
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
