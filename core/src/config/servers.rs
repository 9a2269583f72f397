//! `servers:`: a list of hosts (the `web` role), or roles with their hosts
//! and settings. Hosts may carry a port (`host:port`) and tags
//! (`- 192.0.2.1: tag`). Roles come out sorted by name, as Kamal sorts them
//! (`servers.keys.sort`): that is the order roles boot in on a host.

use super::context::*;
use super::keys;
use super::sections::{parse_env, parse_logging};
use super::values::*;
use super::*;
use std::collections::HashSet;

/// What `servers:` holds, before the roles are resolved.
pub(super) struct Servers {
    pub roles: Vec<Role>,
    pub host_specs: BTreeMap<String, HostSpec>,
}

/// What the rest of the config says about `servers:`.
pub(super) struct Rules<'a> {
    /// `allow_empty_roles: true`.
    pub allow_empty: bool,
    /// The primary role's name: it must have hosts all the same.
    pub primary: &'a str,
    /// The names under `env.tags`: a host's tags must be among them.
    pub tags: &'a [String],
}

pub(super) fn parse_servers(ctx: &mut Ctx<'_>, v: Option<&Value>, rules: &Rules<'_>) -> Servers {
    let (allow_empty, primary) = (rules.allow_empty, rules.primary);
    let mut out = Servers { roles: vec![], host_specs: BTreeMap::new() };
    match v {
        None | Some(Value::Null) => ctx.err("servers", "the required key `servers` is missing; list your hosts"),
        Some(Value::Sequence(_)) => {
            let mut role = new_role("web");
            let errors_before = ctx.errors.len();
            read_hosts(ctx, v, "servers", &mut role, &mut out.host_specs, rules.tags);
            if role.hosts.is_empty() && ctx.errors.len() == errors_before {
                ctx.err("servers", "role `web` has no hosts; list at least one");
            }
            out.roles.push(role);
        }
        Some(Value::Mapping(m)) => {
            if m.is_empty() {
                ctx.err("servers", "no roles are defined; list hosts, or roles with their hosts");
            }
            for (k, spec) in m {
                let name = scalar_text(k).unwrap_or_default();
                let path = join("servers", &name);
                if let Err(e) = names::check_name_part(&name) {
                    ctx.err(&path, format!("role name {e}"));
                }
                let errors_before = ctx.errors.len();
                let Some(role) = parse_role(ctx, &name, spec, &path, &mut out.host_specs, rules.tags) else { continue };
                // A role whose hosts were all refused already has its error.
                let empty_ok = allow_empty && name != primary;
                if role.hosts.is_empty() && !empty_ok && ctx.errors.len() == errors_before {
                    let fix = match (name == primary, allow_empty) {
                        (true, true) => "list at least one (the primary role needs hosts even with allow_empty_roles)",
                        (true, false) => "list at least one",
                        (false, _) => "list at least one, or set allow_empty_roles: true",
                    };
                    ctx.err(&path, format!("role `{name}` has no hosts; {fix}"));
                }
                out.roles.push(role);
            }
            out.roles.sort_by(|a, b| a.name.cmp(&b.name));
        }
        Some(other) => {
            ctx.err("servers", format!("expected a list of hosts or a mapping of roles, found {}", type_name(other)))
        }
    }
    out
}

fn new_role(name: &str) -> Role {
    Role {
        name: name.to_string(),
        hosts: vec![],
        tags: BTreeMap::new(),
        cmd: None,
        options: vec![],
        labels: vec![],
        env: Env::default(),
        healthcheck_raw: None,
        traefik: false,
        logging: Logging::default(),
        logging_own: None,
        spec: RoleSpec::default(),
    }
}

/// The hosts of a role: each a string, or a one-key mapping of a host to
/// its tag or list of tags, each of which `env.tags` must define.
fn read_hosts(
    ctx: &mut Ctx<'_>,
    v: Option<&Value>,
    path: &str,
    role: &mut Role,
    specs: &mut BTreeMap<String, HostSpec>,
    known_tags: &[String],
) {
    let items = match v {
        None | Some(Value::Null) => return,
        Some(Value::Sequence(items)) => items,
        Some(other) => return ctx.err(path, format!("expected a list of hosts, found {}", type_name(other))),
    };
    let mut seen = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let p = join(path, &i.to_string());
        let (host, tags) = match item {
            Value::Mapping(m) if m.len() == 1 => {
                let (h, t) = m.iter().next().expect("one entry");
                let Some(host) = scalar_text(h) else {
                    ctx.err(&p, format!("expected a host, found {}", type_name(h)));
                    continue;
                };
                let tags = match t {
                    Value::Sequence(ts) => ts.iter().filter_map(scalar_text).collect(),
                    other => scalar_text(other).into_iter().collect::<Vec<_>>(),
                };
                let tp = join(&p, &host);
                if tags.is_empty() || matches!(t, Value::Sequence(ts) if ts.len() != tags.len()) {
                    ctx.err(&tp, format!("expected a tag or a list of tags, found {}", describe(t)));
                    continue;
                }
                if let Some(t) = tags.iter().find(|t| !known_tags.contains(t)) {
                    ctx.err(&tp, format!("the tag {t:?} is not defined under env.tags; define it there, or remove it"));
                    continue;
                }
                (host, tags)
            }
            Value::Mapping(_) => {
                ctx.err(
                    &p,
                    "expected one host with its tags (- host: tag), found several keys; give each host its own item",
                );
                continue;
            }
            other => match scalar_text(other) {
                Some(h) => (h, vec![]),
                None => {
                    ctx.err(&p, format!("expected a host, found {}", type_name(other)));
                    continue;
                }
            },
        };
        match names::parse_host(&host) {
            Ok(spec) => {
                if !seen.insert(host.clone()) {
                    ctx.warn(&p, format!("host {host:?} is listed twice; the second is ignored"));
                    continue;
                }
                specs.insert(host.clone(), spec);
                if !tags.is_empty() {
                    role.tags.insert(host.clone(), tags);
                }
                role.hosts.push(host);
            }
            Err(e) => ctx.err(&p, e),
        }
    }
}

fn parse_role(
    ctx: &mut Ctx<'_>,
    name: &str,
    spec: &Value,
    path: &str,
    specs: &mut BTreeMap<String, HostSpec>,
    tags: &[String],
) -> Option<Role> {
    let mut role = new_role(name);
    let m = match spec {
        Value::Sequence(_) => {
            read_hosts(ctx, Some(spec), path, &mut role, specs, tags);
            return Some(role);
        }
        Value::Null => return Some(role),
        Value::Mapping(m) => m,
        other => {
            ctx.err(path, format!("expected a list of hosts or a mapping with hosts:, found {}", type_name(other)));
            return None;
        }
    };
    keys::warn_unknown(ctx, path, m, keys::ROLE);
    read_hosts(ctx, m.get("hosts"), &join(path, "hosts"), &mut role, specs, tags);
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
    role.env = parse_env(ctx, m.get("env"), &join(path, "env"), false).0;
    role.healthcheck_raw = opt_mapping(ctx, m.get("healthcheck"), &join(path, "healthcheck")).cloned();
    role.traefik = opt_bool(ctx, m.get("traefik"), &join(path, "traefik"), false);
    if m.get("logging").is_some_and(|l| !l.is_null()) {
        role.logging_own = Some(parse_logging(ctx, m.get("logging"), &join(path, "logging")));
    }
    if m.get("asset_path").is_some_and(|v| !v.is_null()) {
        ctx.warn(&join(path, "asset_path"), super::build::ASSET_PATH_WARNING);
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
