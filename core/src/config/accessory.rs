//! `accessories:`: the services a Kamal 1 app runs beside itself (a
//! database, Redis, a search server), each one container on its hosts.
//! Kamal 1.0's keys (`lib/kamal/configuration/accessory.rb`): `image`,
//! one of `host`, `hosts` or `roles`, `port`, `labels`, `env`, `files`,
//! `directories`, `volumes`, `options` and `cmd`.

use super::context::*;
use super::keys::warn_unknown;
use super::sections::parse_env;
use super::servers::parse_options;
use super::values::*;
use super::*;

/// Keys of an accessory (`accessories.<name>`).
pub(super) const ACCESSORY: &[&str] =
    &["image", "host", "hosts", "roles", "port", "labels", "env", "files", "directories", "volumes", "options", "cmd"];

/// One accessory, as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accessory {
    pub name: String,
    /// The image with its tag, as written (`mysql:8.0`).
    pub image: String,
    /// Its hosts: `host`, `hosts`, or the hosts of `roles`.
    pub hosts: Vec<String>,
    /// `--publish` value: `3306` becomes `3306:3306`, as Kamal.
    pub port: Option<String>,
    /// Its own labels (after `service=<service>-<name>`).
    pub labels: Vec<(String, String)>,
    pub env: Env,
    pub files: Vec<AccessoryFile>,
    /// `host relative path` → `container path`.
    pub directories: Vec<(String, String)>,
    pub volumes: Vec<String>,
    pub options: Vec<(String, OptionValue)>,
    pub cmd: Option<String>,
}

/// A local file put on the accessory's hosts and mounted into it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessoryFile {
    /// The local path, as written (relative to where baton runs).
    pub local: String,
    /// The path inside the container (absolute).
    pub remote: String,
}

impl AccessoryFile {
    /// Kamal evaluates a local file whose name ends in `erb` as ERB, with
    /// the accessory's clear env set.
    pub fn is_template(&self) -> bool {
        self.local.ends_with("erb")
    }
}

/// Every accessory, in file order. Each host of `host`/`hosts` is added to
/// `specs` (where SSH connects).
pub(super) fn parse_accessories(
    ctx: &mut Ctx<'_>,
    v: Option<&Value>,
    roles: &[Role],
    specs: &mut BTreeMap<String, HostSpec>,
) -> Vec<Accessory> {
    let Some(m) = opt_mapping(ctx, v, "accessories") else { return vec![] };
    let mut out = vec![];
    for (k, body) in m {
        let name = scalar_text(k).unwrap_or_default();
        let path = join("accessories", &name);
        if let Err(e) = names::check_name_part(&name) {
            ctx.err(&path, format!("accessory name {e}"));
            continue;
        }
        let Some(body) = opt_mapping(ctx, Some(body), &path) else {
            ctx.err(&path, "an accessory needs at least `image` and one of `host`, `hosts` or `roles`; add them");
            continue;
        };
        if let Some(a) = parse_one(ctx, &name, &path, body, roles, specs) {
            out.push(a);
        }
    }
    out
}

fn parse_one(
    ctx: &mut Ctx<'_>,
    name: &str,
    path: &str,
    m: &Mapping,
    roles: &[Role],
    specs: &mut BTreeMap<String, HostSpec>,
) -> Option<Accessory> {
    warn_unknown(ctx, path, m, ACCESSORY);
    let p = |k: &str| join(path, k);
    let image = match m.get("image").and_then(scalar_text) {
        Some(i) if !i.is_empty() && !i.contains(char::is_whitespace) => i,
        Some(_) => {
            ctx.err(&p("image"), "expected an image such as mysql:8.0, without spaces; fix it");
            String::new()
        }
        None => {
            ctx.err(path, "the key `image` is missing; give the accessory's image, e.g. image: mysql:8.0");
            String::new()
        }
    };
    let hosts = parse_hosts(ctx, name, path, m, roles, specs);
    let port = m.get("port").filter(|v| !v.is_null()).and_then(|v| match scalar_text(v) {
        Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b":./-[]".contains(&b)) => {
            Some(if s.contains(':') { s } else { format!("{s}:{s}") })
        }
        _ => {
            ctx.err(
                &p("port"),
                format!("expected a port (3306) or a mapping (127.0.0.1:3306:3306), found {}", describe(v)),
            );
            None
        }
    });
    let labels = string_map(ctx, m.get("labels"), &p("labels"), true);
    let (env, _) = parse_env(ctx, m.get("env"), &p("env"), false);
    let files = pairs(ctx, m.get("files"), &p("files"), "LOCAL:/PATH/IN/CONTAINER")
        .into_iter()
        .map(|(local, remote)| AccessoryFile { local, remote })
        .collect();
    let directories = pairs(ctx, m.get("directories"), &p("directories"), "HOST_PATH:/PATH/IN/CONTAINER");
    let volumes = string_list(ctx, m.get("volumes"), &p("volumes"));
    let options = parse_options(ctx, m.get("options"), &p("options"));
    let cmd = match m.get("cmd") {
        None | Some(Value::Null) => None,
        Some(v) => match scalar_text(v) {
            Some(s) => Some(s),
            None => {
                ctx.err(&p("cmd"), format!("expected a command line, found {}", type_name(v)));
                None
            }
        },
    };
    Some(Accessory { name: name.into(), image, hosts, port, labels, env, files, directories, volumes, options, cmd })
}

/// Exactly one of `host`, `hosts` or `roles`, as Kamal requires.
fn parse_hosts(
    ctx: &mut Ctx<'_>,
    name: &str,
    path: &str,
    m: &Mapping,
    roles: &[Role],
    specs: &mut BTreeMap<String, HostSpec>,
) -> Vec<String> {
    let given: Vec<&str> = ["host", "hosts", "roles"].into_iter().filter(|k| m.contains_key(*k)).collect();
    if given.len() != 1 {
        let found = if given.is_empty() { "none".to_string() } else { given.join(" and ") };
        ctx.err(
            path,
            format!(
                "specify exactly one of `host`, `hosts` or `roles` for accessory `{name}` (found {found}); keep one"
            ),
        );
        return vec![];
    }
    let key = given[0];
    let kp = join(path, key);
    let written: Vec<String> = match (key, m.get(key)) {
        ("host", Some(v)) => match scalar_text(v).filter(|s| !s.is_empty()) {
            Some(h) => vec![h],
            None => {
                ctx.err(&kp, format!("missing host for accessory `{name}`; give one host, e.g. host: 192.0.2.5"));
                return vec![];
            }
        },
        ("hosts", Some(Value::Sequence(_))) | ("roles", Some(Value::Sequence(_))) => string_list(ctx, m.get(key), &kp),
        (_, v) => {
            ctx.err(&kp, format!("expected a list, found {}; write {key}: [..]", describe(v.unwrap_or(&Value::Null))));
            return vec![];
        }
    };
    if key == "roles" {
        let mut hosts: Vec<String> = vec![];
        for (i, r) in written.iter().enumerate() {
            match roles.iter().find(|x| &x.name == r) {
                Some(role) => {
                    hosts.extend(role.hosts.iter().filter(|h| !hosts.contains(h)).cloned().collect::<Vec<_>>())
                }
                None => {
                    ctx.err(&join(&kp, &i.to_string()), format!("there is no role {r:?}; name a role under servers"))
                }
            }
        }
        return hosts;
    }
    let mut hosts = vec![];
    for (i, h) in written.into_iter().enumerate() {
        let hp = if key == "host" { kp.clone() } else { join(&kp, &i.to_string()) };
        match names::parse_host(&h) {
            Ok(spec) => {
                specs.entry(h.clone()).or_insert(spec);
                if !hosts.contains(&h) {
                    hosts.push(h);
                }
            }
            Err(e) => ctx.err(&hp, e),
        }
    }
    hosts
}

/// `files` and `directories`: a list of `A:B`, where B is an absolute path
/// in the container and neither part climbs out with `..` (everything
/// baton puts on the host stays in the accessory's directory, which
/// `accessory remove` deletes).
fn pairs(ctx: &mut Ctx<'_>, v: Option<&Value>, path: &str, form: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    for (i, item) in string_list(ctx, v, path).into_iter().enumerate() {
        let ip = join(path, &i.to_string());
        let parts: Vec<&str> = item.split(':').collect();
        let climbs = |s: &str| s.split('/').any(|c| c == "..");
        match parts.as_slice() {
            [a, b]
                if !a.is_empty() && b.starts_with('/') && !climbs(a) && !climbs(b) && !item.contains(['\n', '\0']) =>
            {
                out.push((a.to_string(), b.to_string()))
            }
            _ => ctx.err(
                &ip,
                format!(
                    "expected {form} (one ':', an absolute path in the container, no '..'), found {item:?}; fix it"
                ),
            ),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Config, Source};

    const BASE: &str = "service: app\nimage: dhh/app\nservers:\n  web: [1.1.1.1, 1.1.1.2]\n  workers: [1.1.1.3]\nregistry:\n  username: u\n  password: [P]\n";

    fn parse(acc: &str) -> Result<Config, String> {
        let text = format!("{BASE}accessories:\n{acc}");
        Config::parse(Source { name: "config/deploy.yml", text: &text }, None).map_err(|e| e.to_string())
    }

    #[test]
    fn every_key_of_kamal_1_0_is_read() {
        let cfg = parse(
            "  mysql:\n    image: mysql:8.0\n    host: 1.1.1.5\n    port: 3306\n    env:\n      clear:\n        MYSQL_ROOT_HOST: '%'\n      secret:\n        - MYSQL_ROOT_PASSWORD\n    files:\n      - config/mysql/my.cnf:/etc/mysql/my.cnf\n    directories:\n      - data:/var/lib/mysql\n  redis:\n    image: redis:latest\n    hosts: [1.1.1.6, 1.1.1.7]\n    port: \"6379:6379\"\n    labels:\n      cache: true\n    env:\n      SOMETHING: else\n    volumes:\n      - /var/lib/redis:/data\n    options:\n      cpus: 4\n      memory: 2GB\n    cmd: redis-server --appendonly yes\n  monitoring:\n    image: monitoring:latest\n    roles: [web]\n",
        )
        .unwrap();
        let [mysql, redis, mon] = cfg.accessories.as_slice() else { panic!("three accessories") };
        assert_eq!(mysql.hosts, ["1.1.1.5"]);
        assert_eq!(mysql.port.as_deref(), Some("3306:3306"));
        assert_eq!(mysql.env.secret, ["MYSQL_ROOT_PASSWORD"]);
        assert_eq!(mysql.env.clear, [("MYSQL_ROOT_HOST".to_string(), "%".to_string())]);
        assert_eq!(mysql.files[0].remote, "/etc/mysql/my.cnf");
        assert_eq!(mysql.directories, [("data".to_string(), "/var/lib/mysql".to_string())]);
        assert_eq!(redis.hosts, ["1.1.1.6", "1.1.1.7"]);
        assert_eq!(redis.labels, [("cache".to_string(), "true".to_string())]);
        assert_eq!(redis.env.clear, [("SOMETHING".to_string(), "else".to_string())]);
        assert_eq!(redis.options.len(), 2);
        assert_eq!(redis.cmd.as_deref(), Some("redis-server --appendonly yes"));
        assert_eq!(mon.hosts, ["1.1.1.1", "1.1.1.2"]);
        assert_eq!(cfg.ssh_endpoint("1.1.1.6"), ("1.1.1.6".to_string(), 22));
        let cfg = parse("  db:\n    image: x\n    host: 1.1.1.9:2222\n").unwrap();
        assert_eq!(cfg.ssh_endpoint("1.1.1.9:2222"), ("1.1.1.9".to_string(), 2222), "SSH goes to the host's own port");
        assert!(cfg.host_specs.contains_key("1.1.1.9:2222"));
    }

    #[test]
    fn problems_name_the_file_line_and_key() {
        assert_eq!(
            parse("  db:\n    image: mysql:8.0\n    host: 1.1.1.5\n    hosts: [1.1.1.6]\n").unwrap_err(),
            "config/deploy.yml:10: accessories.db: specify exactly one of `host`, `hosts` or `roles` for accessory `db` (found host and hosts); keep one"
        );
        assert_eq!(
            parse("  db:\n    host: 1.1.1.5\n").unwrap_err(),
            "config/deploy.yml:10: accessories.db: the key `image` is missing; give the accessory's image, e.g. image: mysql:8.0"
        );
        assert_eq!(
            parse("  db:\n    image: x\n    roles: [nope]\n").unwrap_err(),
            "config/deploy.yml:12: accessories.db.roles.0: there is no role \"nope\"; name a role under servers"
        );
        assert_eq!(
            parse("  db:\n    image: x\n    host: h\n    files:\n      - my.cnf:etc/my.cnf\n").unwrap_err(),
            "config/deploy.yml:14: accessories.db.files.0: expected LOCAL:/PATH/IN/CONTAINER (one ':', an absolute path in the container, no '..'), found \"my.cnf:etc/my.cnf\"; fix it"
        );
        assert!(parse("  db:\n    image: x\n    host: h\n    directories:\n      - ../up:/data\n")
            .unwrap_err()
            .contains("accessories.db.directories.0: expected HOST_PATH:/PATH/IN/CONTAINER"));
        assert!(parse("  db:\n    image: x\n    host: h\n    hosts: []\n").is_err());
    }
}
