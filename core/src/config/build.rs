//! The top level of `deploy.yml`: which keys there are, the required ones,
//! the settings about the config itself (`require_destination`,
//! `minimum_version`, `primary_role`…), and each role resolved into its
//! [`RoleSpec`].

use super::context::*;
use super::keys;
use super::sections::*;
use super::servers::{parse_servers, Rules, Servers};
use super::values::*;
use super::*;

/// What baton says about `asset_path`, at the top level or on a role.
pub(super) const ASSET_PATH_WARNING: &str = "asset bridging is not supported by baton: containers boot without the asset volume, so during a handover a request for an asset of the other version may fail; make old assets available another way (e.g. a CDN)";

pub(super) fn build(ctx: &mut Ctx<'_>, root: &Mapping, destination: Option<String>) -> Config {
    keys::warn_unknown(ctx, "", root, keys::TOP);
    let (require_destination, minimum_version) = about_the_config(ctx, root, destination.is_some());
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
    let (env, env_tags) = parse_env(ctx, root.get("env"), "env", true);
    let healthcheck_raw = opt_mapping(ctx, root.get("healthcheck"), "healthcheck").cloned().unwrap_or_default();
    let healthcheck = checked_healthcheck(ctx, "healthcheck", &healthcheck_raw);

    let allow_empty_roles = opt_bool(ctx, root.get("allow_empty_roles"), "allow_empty_roles", false);
    let primary_role = primary_role_name(ctx, root);
    let tag_names: Vec<String> = env_tags.iter().map(|(n, _)| n.clone()).collect();
    let rules = Rules { allow_empty: allow_empty_roles, primary: &primary_role, tags: &tag_names };
    let Servers { mut roles, mut host_specs } = parse_servers(ctx, root.get("servers"), &rules);
    check_primary_role(ctx, root, &roles, &primary_role);

    let readiness_delay_ms = opt_seconds(ctx, root, "readiness_delay").unwrap_or(7_000);
    let boot = parse_boot(ctx, root.get("boot"));
    let stop_wait_time = opt_u64(ctx, root.get("stop_wait_time"), "stop_wait_time");
    let volumes = string_list(ctx, root.get("volumes"), "volumes");
    let labels = string_map(ctx, root.get("labels"), "labels", true);
    let logging = parse_logging(ctx, root.get("logging"), "logging");
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
    let retain_containers = match opt_u64(ctx, root.get("retain_containers"), "retain_containers") {
        Some(0) => {
            ctx.err("retain_containers", "must be at least 1, as in Kamal");
            5
        }
        other => other.unwrap_or(5),
    };
    let hooks_path = root.get("hooks_path").and_then(scalar_text);
    let builder = super::builder::parse_builder(ctx, root.get("builder"));
    if root.get("asset_path").is_some_and(|v| !v.is_null()) {
        ctx.warn("asset_path", ASSET_PATH_WARNING);
    }
    let traefik = super::traefik::parse_traefik(ctx, root.get("traefik"));
    let mut baton = parse_baton(ctx, root.get("baton"));
    if baton.routes_from_traefik {
        match traefik.api() {
            Some(api) => baton.routes_command = Some(super::traefik::routes_command(&api)),
            None => ctx.err("baton.routes", super::traefik::NO_API),
        }
    }
    let accessories = super::accessory::parse_accessories(ctx, root.get("accessories"), &roles, &mut host_specs);

    for role in &mut roles {
        role.spec = resolve_role(role, &healthcheck_raw);
        if let Some(hc) = &role.healthcheck_raw {
            checked_healthcheck(ctx, &join(&join("servers", &role.name), "healthcheck"), hc);
        }
        role.logging = merged_logging(&logging, role.logging_own.as_ref());
    }
    let (host_order, roles_by_host) = index_hosts(&roles);

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
        env_tags,
        require_destination,
        allow_empty_roles,
        retain_containers,
        minimum_version,
        hooks_path,
        builder,
        traefik,
        accessories,
        baton,
        host_specs,
        host_order,
        roles_by_host,
        warnings: vec![],
    }
}

/// Every host in the order it first appears, and the roles on each.
fn index_hosts(roles: &[Role]) -> (Vec<String>, HashMap<String, Vec<usize>>) {
    let mut order = vec![];
    let mut by_host: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in roles.iter().enumerate() {
        for h in &r.hosts {
            let on = by_host.entry(h.clone()).or_default();
            if on.is_empty() {
                order.push(h.clone());
            }
            on.push(i);
        }
    }
    (order, by_host)
}

/// `require_destination` (refused without a destination) and
/// `minimum_version` (refused when newer than [`KAMAL_CONFIG_LEVEL`]).
fn about_the_config(ctx: &mut Ctx<'_>, root: &Mapping, has_destination: bool) -> (bool, Option<String>) {
    let require = opt_bool(ctx, root.get("require_destination"), "require_destination", false);
    if require && !has_destination {
        ctx.err("require_destination", "this config requires a destination; pass -d/--destination DEST");
    }
    let minimum = match root.get("minimum_version") {
        None | Some(Value::Null) => None,
        Some(v) => match scalar_text(v).filter(|_| !matches!(v, Value::Bool(_))) {
            Some(m) => match (version_key(&m), version_key(KAMAL_CONFIG_LEVEL)) {
                (Some(want), Some(have)) if want > have => {
                    ctx.err(
                        "minimum_version",
                        format!(
                            "this config requires Kamal {m} or later, and baton reads configs of Kamal 1 up to {KAMAL_CONFIG_LEVEL}; deploy it with Kamal {m}, or lower minimum_version if the config needs nothing newer"
                        ),
                    );
                    Some(m)
                }
                (Some(_), _) => Some(m),
                (None, _) => {
                    ctx.err("minimum_version", format!("{m:?} is not a version; write it as 1.3.0"));
                    None
                }
            },
            None => {
                ctx.err("minimum_version", format!("expected a version such as 1.3.0, found {}", describe(v)));
                None
            }
        },
    };
    (require, minimum)
}

/// A version as RubyGems compares them: its numbers, padded, and whether it
/// is a release (`1.0.0`) rather than a pre-release (`1.0.0.beta1`).
fn version_key(v: &str) -> Option<(Vec<u64>, bool)> {
    let v = v.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-') {
        return None;
    }
    let mut nums = vec![];
    let mut release = true;
    for part in v.split(['.', '-']) {
        match part.parse::<u64>() {
            Ok(n) if release => nums.push(n),
            Ok(_) => {}
            Err(_) if part.is_empty() => return None,
            Err(_) => release = false,
        }
    }
    if nums.is_empty() {
        return None;
    }
    nums.resize(nums.len().max(4), 0);
    while nums.len() > 4 && nums.last() == Some(&0) {
        nums.pop();
    }
    Some((nums, release))
}

/// `primary_role` (Kamal 1.3), or `primary_web_role` (its name in Kamal
/// 1.2), else `web`.
fn primary_role_name(ctx: &mut Ctx<'_>, root: &Mapping) -> String {
    let mut read = |key: &str| match root.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            ctx.err(key, format!("expected a role name, found {}", type_name(other)));
            None
        }
    };
    let (role, web_role) = (read("primary_role"), read("primary_web_role"));
    if role.is_some() && web_role.is_some() {
        ctx.err(
            "primary_web_role",
            "is Kamal 1.2's name for primary_role, which is also given; keep only primary_role",
        );
    }
    role.or(web_role).unwrap_or_else(|| "web".into())
}

/// The primary role must be one of the roles (Kamal 1.0 requires `web`).
fn check_primary_role(ctx: &mut Ctx<'_>, root: &Mapping, roles: &[Role], name: &str) {
    if roles.is_empty() || roles.iter().any(|r| r.name == name) {
        return;
    }
    let key = ["primary_role", "primary_web_role"].into_iter().find(|k| root.get(*k).is_some_and(|v| !v.is_null()));
    match key {
        Some(key) => {
            let known: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
            ctx.err(key, format!("{name:?} is not one of the roles under servers; name one of: {}", known.join(", ")))
        }
        None => {
            ctx.err("servers", "there is no `web` role; name one or set primary_role: to the role that holds the lock")
        }
    }
}

/// The global logging with a role's merged over it: its driver, if given,
/// and its options over the global ones (Kamal's `deep_merge`).
fn merged_logging(global: &Logging, own: Option<&Logging>) -> Logging {
    let Some(own) = own else { return global.clone() };
    let mut options = Merged::default();
    for (k, v) in global.options.iter().chain(&own.options) {
        options.set(k.clone(), v.clone());
    }
    Logging { driver: own.driver.clone().or_else(|| global.driver.clone()), options: options.pairs }
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

#[cfg(test)]
mod tests {
    use super::version_key;

    #[test]
    fn versions_compare_as_rubygems_does() {
        let k = |v| version_key(v).expect("a version");
        assert!(k("1.9.3") > k("1.3.0"));
        assert!(k("2.0.0") > k("1.9.3"));
        assert!(k("1.10") > k("1.9.3"));
        assert_eq!(k("1.3"), k("1.3.0"));
        assert!(k("2.0.0.beta1") < k("2.0.0"));
        assert!(k("2.0.0.beta1") > k("1.9.3"));
        assert_eq!(version_key("one"), None);
        assert_eq!(version_key("1..2"), None);
    }
}
