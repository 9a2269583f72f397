//! One parser per section of `deploy.yml` (registry, env, healthcheck,
//! servers, boot, logging, ssh, baton).

use super::build::*;
use super::context::*;
use super::*;

pub(super) fn parse_registry(ctx: &mut Ctx<'_>, v: Option<&Value>) -> Registry {
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

pub(super) fn parse_env(ctx: &mut Ctx<'_>, v: Option<&Value>, path: &str) -> Env {
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
pub(super) fn healthcheck_from(m: &Mapping, problem: &mut dyn FnMut(&str, String)) -> Healthcheck {
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

pub(super) fn parse_servers(ctx: &mut Ctx<'_>, v: Option<&Value>) -> Vec<Role> {
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

pub(super) fn parse_hosts(ctx: &mut Ctx<'_>, v: Option<&Value>, path: &str) -> Vec<String> {
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

pub(super) fn parse_role(ctx: &mut Ctx<'_>, name: &str, spec: &Value, path: &str) -> Option<Role> {
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

pub(super) fn parse_options(ctx: &mut Ctx<'_>, v: Option<&Value>, path: &str) -> Vec<(String, OptionValue)> {
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

pub(super) fn parse_boot(ctx: &mut Ctx<'_>, v: Option<&Value>) -> Boot {
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

pub(super) fn parse_logging(ctx: &mut Ctx<'_>, v: Option<&Value>) -> Logging {
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

pub(super) fn parse_ssh(ctx: &mut Ctx<'_>, v: Option<&Value>) -> Ssh {
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

pub(super) fn parse_baton(ctx: &mut Ctx<'_>, v: Option<&Value>) -> BatonSettings {
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
            "cut_at" => {
                match v.as_str() {
                    Some("healthy") => b.cut_at = CutAt::Healthy,
                    Some("routed") => b.cut_at = CutAt::Routed,
                    _ => ctx.err(&p, format!("expected healthy or routed, found {}", describe(v))),
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
