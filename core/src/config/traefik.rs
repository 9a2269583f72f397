//! `traefik:`: the Traefik container Kamal 1.0 runs on every host of a
//! role that runs Traefik (`web`, or `traefik: true`), as `traefik boot`
//! starts it: `image`, `host_port`, `publish`, `labels`, `env`, `options`
//! and `args`; and where, if anywhere, the container serves its API
//! (`baton.routes: traefik` reads the routing table there).

use super::context::*;
use super::keys;
use super::sections::parse_env;
use super::servers::parse_options;
use super::values::*;
use super::*;

/// Kamal 1.0's image (`Kamal::Commands::Traefik::DEFAULT_IMAGE`).
pub const TRAEFIK_DEFAULT_IMAGE: &str = "traefik:v2.9";
/// The port Traefik listens on inside its container (its `web` entrypoint).
pub const TRAEFIK_CONTAINER_PORT: u16 = 80;
/// The port of Traefik's `traefik` entrypoint, where `api.insecure` serves
/// the API, unless `entrypoints.traefik.address` moves it.
pub const TRAEFIK_API_PORT: u16 = 8080;

/// One of Traefik's own arguments (`traefik.args`), passed after the image
/// as `--key=value`, or `--key` alone for `true`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraefikArg {
    Flag,
    Value(String),
}

/// The `traefik:` section, with Kamal 1.0's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Traefik {
    pub image: String,
    /// The host port published to the container's port 80 (`host_port`).
    pub host_port: u16,
    /// `publish: false`: no `--publish` at all.
    pub publish: bool,
    pub labels: Vec<(String, String)>,
    /// `traefik.env`: written by `env push` to `.kamal/env/traefik/traefik.env`.
    pub env: Env,
    /// `traefik.env` was given (then the container gets `--env-file`).
    pub has_env: bool,
    /// Docker options (`--key value`, a list repeats the option).
    pub options: Vec<(String, OptionValue)>,
    /// Traefik's arguments: `log.level=DEBUG` (Kamal's default) with `args`
    /// merged over it, in Ruby's `Hash#merge` order; a list repeats the key.
    pub args: Vec<(String, TraefikArg)>,
}

impl Default for Traefik {
    fn default() -> Self {
        Traefik {
            image: TRAEFIK_DEFAULT_IMAGE.into(),
            host_port: TRAEFIK_CONTAINER_PORT,
            publish: true,
            labels: vec![],
            env: Env::default(),
            has_env: false,
            options: vec![],
            args: vec![("log.level".into(), TraefikArg::Value("DEBUG".into()))],
        }
    }
}

/// Where the container serves Traefik's API, as its args imply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraefikApi {
    /// The address to reach from inside the container (`localhost` unless
    /// the entrypoint is bound to one address).
    pub host: String,
    pub port: u16,
}

impl Traefik {
    /// The value of an argument, the last one given.
    fn arg(&self, key: &str) -> Option<&TraefikArg> {
        self.args.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Where the API is served: with `api.insecure` (true), on the `traefik`
    /// entrypoint (`:8080`, or `entrypoints.traefik.address`). None: the
    /// config enables no API that baton can read.
    pub fn api(&self) -> Option<TraefikApi> {
        let on = match self.arg("api.insecure")? {
            TraefikArg::Flag => true,
            TraefikArg::Value(v) => v == "true",
        };
        if !on {
            return None;
        }
        let Some(TraefikArg::Value(address)) = self.arg("entrypoints.traefik.address") else {
            return Some(TraefikApi { host: "localhost".into(), port: TRAEFIK_API_PORT });
        };
        entrypoint_address(address)
    }

    /// `--publish <host_port>:80`, unless `publish: false`.
    pub fn port(&self) -> Option<String> {
        self.publish.then(|| format!("{}:{TRAEFIK_CONTAINER_PORT}", self.host_port))
    }
}

/// `[host]:port` (`:9090`, `0.0.0.0:9090`, `127.0.0.1:9090`, `[::1]:9090`,
/// optionally `/tcp`) as the address to reach from inside the container.
fn entrypoint_address(address: &str) -> Option<TraefikApi> {
    let address = address.strip_suffix("/tcp").unwrap_or(address);
    let (host, port) = address.rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|p| *p > 0)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = match host {
        "" | "0.0.0.0" | "::" => "localhost".to_string(),
        h if h.contains(':') => format!("[{h}]"),
        h => h.to_string(),
    };
    Some(TraefikApi { host, port })
}

/// The command that prints the routing table of the Traefik container the
/// config describes: its API read from inside the container.
pub fn routes_command(api: &TraefikApi) -> String {
    format!("docker exec traefik wget -qO- http://{}:{}/api/http/services", api.host, api.port)
}

/// What `baton.routes: traefik` needs and the config does not give.
pub(super) const NO_API: &str = "`traefik` reads the API of the Traefik container, which traefik.args does not enable; add `api.insecure: true` under traefik.args (Traefik then serves its API on port 8080 inside its container; `entrypoints.traefik.address: \":9090\"` moves it), or set baton.routes to a command that prints the routing table";

pub(super) fn parse_traefik(ctx: &mut Ctx<'_>, v: Option<&Value>) -> Traefik {
    let mut t = Traefik::default();
    let Some(m) = opt_mapping(ctx, v, "traefik") else { return t };
    keys::warn_unknown(ctx, "traefik", m, keys::TRAEFIK);
    match m.get("image") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => match check_image_ref(s) {
            Ok(()) => t.image = s.clone(),
            Err(e) => ctx.err("traefik.image", format!("{e}; write an image such as {TRAEFIK_DEFAULT_IMAGE}")),
        },
        Some(other) => ctx.err(
            "traefik.image",
            format!("expected an image such as {TRAEFIK_DEFAULT_IMAGE}, found {}", describe(other)),
        ),
    }
    match m.get("host_port") {
        None | Some(Value::Null) => {}
        Some(v) => match whole_number(v) {
            Some(p) if (1..=65535).contains(&p) => t.host_port = p as u16,
            _ => ctx.err(
                "traefik.host_port",
                format!(
                    "expected a port number (1-65535), found {}; Traefik's port 80 is published there",
                    describe(v)
                ),
            ),
        },
    }
    t.publish = opt_bool(ctx, m.get("publish"), "traefik.publish", true);
    t.labels = string_map(ctx, m.get("labels"), "traefik.labels", true);
    if m.get("env").is_some_and(|v| !v.is_null()) {
        t.env = parse_env(ctx, m.get("env"), "traefik.env", false).0;
        t.has_env = true;
    }
    t.options = parse_options(ctx, m.get("options"), "traefik.options");
    for (k, v) in parse_args(ctx, m.get("args")) {
        // Ruby's Hash#merge over the default: a given key keeps its place.
        if let Some(slot) = t.args.iter_mut().find(|(key, _)| *key == k && k == "log.level") {
            slot.1 = v;
        } else {
            t.args.push((k, v));
        }
    }
    t
}

/// An image with an optional tag and digest: `[registry/]path[:tag][@algo:hex]`.
fn check_image_ref(v: &str) -> Result<(), String> {
    let (rest, digest) = v.split_once('@').map_or((v, None), |(r, d)| (r, Some(d)));
    let digest_ok = digest.is_none_or(|d| {
        d.split_once(':').is_some_and(|(a, h)| {
            !a.is_empty()
                && a.bytes().all(|b| b.is_ascii_alphanumeric())
                && !h.is_empty()
                && h.bytes().all(|b| b.is_ascii_hexdigit())
        })
    });
    let (repo, tag) = match rest.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, Some(t)),
        _ => (rest, None),
    };
    let tag_ok = tag.is_none_or(|t| {
        !t.is_empty()
            && t.len() <= 128
            && t.as_bytes()[0] != b'.'
            && t.as_bytes()[0] != b'-'
            && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    });
    if !digest_ok || !tag_ok {
        return Err(format!("{v:?} is not an image reference"));
    }
    names::check_image(repo)
}

/// `traefik.args`: Traefik's own flags (`log.level`, `api.insecure`,
/// `entrypoints.web.address`…): a value, `true` for the flag alone, or a
/// list to repeat it.
fn parse_args(ctx: &mut Ctx<'_>, v: Option<&Value>) -> Vec<(String, TraefikArg)> {
    let Some(m) = opt_mapping(ctx, v, "traefik.args") else { return vec![] };
    let mut out = vec![];
    for (k, val) in m {
        let key = scalar_text(k).unwrap_or_default();
        let p = join("traefik.args", &key);
        let name_ok = !key.is_empty()
            && key.as_bytes()[0].is_ascii_alphanumeric()
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !name_ok {
            ctx.err(&p, format!("{key:?} is not a Traefik option name (letters, digits, '.', '_' and '-')"));
            continue;
        }
        let one = |v: &Value| match v {
            Value::Bool(true) => Some(TraefikArg::Flag),
            other => scalar_text(other).map(TraefikArg::Value),
        };
        match val {
            Value::Sequence(items) => {
                for (i, item) in items.iter().enumerate() {
                    match one(item) {
                        Some(a) => out.push((key.clone(), a)),
                        None => ctx.err(&join(&p, &i.to_string()), format!("expected a value, found {}", type_name(item))),
                    }
                }
            }
            other => match one(other) {
                Some(a) => out.push((key, a)),
                None => ctx.err(
                    &p,
                    format!(
                        "expected a value, true or a list, found {}; write Traefik's flags flat, e.g. `api.insecure: true`",
                        type_name(other)
                    ),
                ),
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &str) -> Result<Config, ConfigError> {
        let text = format!(
            "service: app\nimage: dhh/app\nservers: [1.1.1.1]\nregistry:\n  username: u\n  password: [P]\n{extra}"
        );
        Config::parse(Source { name: "config/deploy.yml", text: &text }, None)
    }

    #[test]
    fn no_traefik_section_gives_kamal_1_0s_defaults() {
        let t = parse("").unwrap().traefik;
        assert_eq!(t, Traefik::default());
        assert_eq!(t.image, "traefik:v2.9");
        assert_eq!(t.port().as_deref(), Some("80:80"));
        assert_eq!(t.args, vec![("log.level".to_string(), TraefikArg::Value("DEBUG".into()))]);
        assert!(!t.has_env);
        assert_eq!(t.api(), None);
    }

    #[test]
    fn every_key_is_read() {
        let t = parse(
            "traefik:\n  image: traefik:test\n  host_port: \"8080\"\n  labels:\n    traefik.http.routers.dashboard.service: api@internal\n  env:\n    clear:\n      A: b\n    secret:\n      - EXAMPLE_API_KEY\n  options:\n    publish: [\"9000:9000\", \"9001:9001\"]\n    memory: 512m\n  args:\n    accesslog.format: json\n    api.insecure: true\n    log.level: ERROR\n",
        )
        .unwrap()
        .traefik;
        assert_eq!(t.image, "traefik:test");
        assert_eq!(t.port().as_deref(), Some("8080:80"));
        assert_eq!(t.labels, vec![("traefik.http.routers.dashboard.service".into(), "api@internal".into())]);
        assert!(t.has_env);
        assert_eq!(t.env.secret, vec!["EXAMPLE_API_KEY".to_string()]);
        assert_eq!(t.env.clear, vec![("A".to_string(), "b".to_string())]);
        assert_eq!(t.options.len(), 3);
        let args: Vec<&str> = t.args.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(args, vec!["log.level", "accesslog.format", "api.insecure"], "log.level keeps its place");
        assert_eq!(t.args[0].1, TraefikArg::Value("ERROR".into()));
        assert_eq!(t.api(), Some(TraefikApi { host: "localhost".into(), port: 8080 }));
        assert_eq!(parse("traefik:\n  publish: false\n").unwrap().traefik.port(), None);
    }

    #[test]
    fn the_api_is_where_the_args_put_it() {
        let api = |args: &str| parse(&format!("traefik:\n  args:\n{args}")).unwrap().traefik.api();
        assert_eq!(api("    api.insecure: \"true\"\n").map(|a| a.port), Some(8080));
        assert_eq!(api("    api.insecure: false\n"), None);
        assert_eq!(api("    api.dashboard: true\n"), None);
        let moved = api("    api.insecure: true\n    entrypoints.traefik.address: \":9090\"\n").unwrap();
        assert_eq!((moved.host.as_str(), moved.port), ("localhost", 9090));
        let bound = api("    api.insecure: true\n    entrypoints.traefik.address: 127.0.0.1:9091/tcp\n").unwrap();
        assert_eq!((bound.host.as_str(), bound.port), ("127.0.0.1", 9091));
        assert_eq!(routes_command(&bound), "docker exec traefik wget -qO- http://127.0.0.1:9091/api/http/services");
    }

    #[test]
    fn routes_traefik_reads_the_configured_api_or_says_how_to_enable_it() {
        let c = parse("traefik:\n  args:\n    api.insecure: true\n    entrypoints.traefik.address: \":9090\"\nbaton:\n  routes: traefik\n")
            .unwrap();
        assert_eq!(
            c.baton.routes_command.as_deref(),
            Some("docker exec traefik wget -qO- http://localhost:9090/api/http/services")
        );
        let e = parse("baton:\n  routes: traefik\n").unwrap_err().to_string();
        assert_eq!(e, format!("config/deploy.yml:8: baton.routes: {NO_API}"));
        assert!(e.contains("add `api.insecure: true` under traefik.args"), "{e}");
        assert_eq!(parse("baton:\n  routes: off\n").unwrap().baton.routes_command, None);
    }

    #[test]
    fn bad_values_name_the_key_and_the_fix() {
        let e = |extra: &str| parse(extra).unwrap_err().to_string();
        assert_eq!(
            e("traefik:\n  host_port: http\n"),
            "config/deploy.yml:8: traefik.host_port: expected a port number (1-65535), found a string \"http\"; Traefik's port 80 is published there"
        );
        assert_eq!(
            e("traefik:\n  publish: no-thanks\n"),
            "config/deploy.yml:8: traefik.publish: expected true or false, found a string \"no-thanks\""
        );
        assert!(e("traefik:\n  args:\n    api:\n      insecure: true\n").starts_with(
            "config/deploy.yml:9: traefik.args.api: expected a value, true or a list, found a mapping; write Traefik's flags flat"
        ));
        assert!(e("traefik:\n  image: \"not an image\"\n").starts_with("config/deploy.yml:8: traefik.image: "));
        assert!(
            e("traefik:\n  env:\n    secret: [\"bad name\"]\n").starts_with("config/deploy.yml:9: traefik.env.secret")
        );
        assert_eq!(e("traefik: [a]\n"), "config/deploy.yml:7: traefik: expected a mapping, found a list");
        let warned = parse("traefik:\n  imgae: traefik:v2.10\n").unwrap().warnings;
        assert_eq!(
            warned[0].to_string(),
            "config/deploy.yml:8: traefik.imgae: unknown key \"imgae\", ignored; did you mean \"image\"?"
        );
    }
}
