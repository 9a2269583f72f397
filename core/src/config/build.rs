//! The top level of `deploy.yml`: which keys there are, the required ones,
//! and each role resolved into its [`RoleSpec`].

use super::context::*;
use super::sections::*;
use super::*;

pub(super) fn build(ctx: &mut Ctx<'_>, root: &Mapping, destination: Option<String>) -> Config {
    warn_unknown_keys(ctx, root);

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
    let healthcheck = checked_healthcheck(ctx, "healthcheck", &healthcheck_raw);

    let roles = parse_servers(ctx, root.get("servers"));

    let readiness_delay_ms = opt_seconds(ctx, root, "readiness_delay").unwrap_or(7_000);
    let boot = parse_boot(ctx, root.get("boot"));
    let stop_wait_time = opt_u64(ctx, root.get("stop_wait_time"), "stop_wait_time");
    let volumes = string_list(ctx, root.get("volumes"), "volumes");
    let labels = string_map(ctx, root.get("labels"), "labels", true);
    let logging = parse_logging(ctx, root.get("logging"));
    let ssh = parse_ssh(ctx, root.get("ssh"));
    let max_concurrent_starts = parse_sshkit(ctx, root.get("sshkit"));
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
            checked_healthcheck(ctx, &join(&join("servers", &role.name), "healthcheck"), hc);
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
pub(super) fn resolve_role(role: &Role, global_healthcheck: &Mapping) -> RoleSpec {
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

pub(super) fn required_str(ctx: &mut Ctx<'_>, m: &Mapping, key: &str) -> Option<String> {
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

pub(super) fn opt_u64(ctx: &mut Ctx<'_>, v: Option<&Value>, path: &str) -> Option<u64> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
        Some(other) => {
            ctx.err(path, format!("expected a whole number, found {}", describe(other)));
            None
        }
    }
}

pub(super) fn describe(v: &Value) -> String {
    match scalar_text(v) {
        Some(t) => format!("{} {t:?}", type_name(v)),
        None => type_name(v).to_string(),
    }
}

pub(super) fn opt_seconds(ctx: &mut Ctx<'_>, m: &Mapping, key: &str) -> Option<Millis> {
    opt_u64(ctx, m.get(key), key).map(|s| s * 1000)
}

pub(super) fn string_list(ctx: &mut Ctx<'_>, v: Option<&Value>, path: &str) -> Vec<String> {
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
pub(super) fn string_map(ctx: &mut Ctx<'_>, v: Option<&Value>, path: &str, check_keys: bool) -> Vec<(String, String)> {
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

pub(super) fn secret_ref(ctx: &mut Ctx<'_>, v: Option<&Value>, path: &str) -> Option<SecretRef> {
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

/// Warn about top-level keys neither baton nor Kamal 1.0 knows.
fn warn_unknown_keys(ctx: &mut Ctx<'_>, root: &Mapping) {
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
}

/// The health check settings under `path`, reporting unknown keys as
/// warnings and bad values as errors.
fn checked_healthcheck(ctx: &mut Ctx<'_>, path: &str, m: &Mapping) -> Healthcheck {
    let mut problems = vec![];
    let hc = healthcheck_from(m, &mut |k, msg| problems.push((join(path, k), msg)));
    for (p, m) in problems {
        if m.starts_with("unknown key") {
            ctx.warn(&p, m);
        } else {
            ctx.err(&p, m);
        }
    }
    hc
}

/// `sshkit.max_concurrent_starts` (30 by default).
fn parse_sshkit(ctx: &mut Ctx<'_>, v: Option<&Value>) -> usize {
    match v {
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
    }
}
