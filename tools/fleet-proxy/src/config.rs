//! The command line: the host-process flags (`--listen`, `--pickup-ms`, …,
//! what `scripts/fleet` passes) and Traefik's own flags (`--providers.docker`,
//! `--api.insecure`, `--entrypoints.NAME.address=:PORT`, …, what Kamal passes
//! to its `traefik` container; see [`crate::traefik`]).

use crate::traefik::{is_traefik_flag, TraefikFlags};
use std::net::SocketAddr;
use std::process::exit;
use std::time::Duration;

pub const USAGE: &str = "usage: fleet-proxy [--docker-host unix:///path/docker.sock] [--listen ADDR] \
[--api-listen ADDR] [--pickup-ms N] [--jitter-ms N] [--resync-ms N] [--upstream-timeout-ms N] \
[--max-conns N] [--log FILE]
   or: fleet-proxy --providers.docker [--api.insecure[=true]] [--entrypoints.NAME.address=:PORT] \
[--providers.providersThrottleDuration=2s] [--log.level=DEBUG] [--other.traefik=flags]
  --docker-host   the Docker engine's socket (default: $DOCKER_HOST, else unix:///var/run/docker.sock)
  --listen        the proxy's address (default 0.0.0.0:80); it also serves GET /api/http/services
  --api-listen    an extra address serving only the API and /ping (default: none)
  --pickup-ms     delay between a Docker event and the routing change it causes (default 2000)
  --jitter-ms     extra random delay per change, 0..N ms (default 0)
  --resync-ms     period of the safety-net snapshot (default 10000; 0 = never)
  --upstream-timeout-ms  connect and response timeout towards a container (default 10000)
  --max-conns     client connections served at once (default 1024)
  --log FILE      append the log there (default: stderr)
Traefik's flags (any flag with a dot in its name, and --api, --ping, --accesslog) switch to
Traefik mode, as in Kamal's `traefik` container: the entry points listen (default :80), the
API (GET /api/http/services, /api/http/routers) is served on :8080 only with --api.insecure,
SIGTERM closes the entry points and ends once the requests in flight are answered. Flags it
does not model are logged and ignored.";

pub struct Config {
    pub docker_socket: String,
    /// The routing listeners: (entry point name, address).
    pub listen: Vec<(String, SocketAddr)>,
    pub api_listen: Option<SocketAddr>,
    /// The API paths are answered on the routing listeners too (host mode).
    pub api_on_main: bool,
    /// The API listener answers `GET /ping`.
    pub ping: bool,
    pub pickup: Duration,
    pub jitter: Duration,
    pub resync: Duration,
    pub upstream_timeout: Duration,
    pub max_conns: usize,
    pub log: Option<String>,
    /// Started with Traefik's flags (as Kamal's `traefik` container): SIGTERM
    /// drains and exits.
    pub traefik: bool,
    /// Lines to log once the log is open (Traefik flags accepted or ignored).
    pub notes: Vec<String>,
}

pub fn parse_args() -> Result<Config, String> {
    parse(std::env::args().skip(1), std::env::var("DOCKER_HOST").ok())
}

pub fn parse(argv: impl IntoIterator<Item = String>, docker_host_env: Option<String>) -> Result<Config, String> {
    let mut docker_host = docker_host_env.unwrap_or_else(|| "unix:///var/run/docker.sock".into());
    let mut cfg = Config {
        docker_socket: String::new(),
        listen: vec![("web".into(), "0.0.0.0:80".parse().expect("literal"))],
        api_listen: None,
        api_on_main: true,
        ping: true,
        pickup: Duration::from_millis(2000),
        jitter: Duration::ZERO,
        resync: Duration::from_secs(10),
        upstream_timeout: Duration::from_secs(10),
        max_conns: 1024,
        log: None,
        traefik: false,
        notes: Vec::new(),
    };
    let mut traefik = TraefikFlags::default();
    let mut host_flags = Vec::new();
    let mut args = argv.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if name == "-h" || name == "--help" {
            println!("{USAGE}");
            exit(0);
        }
        if is_traefik_flag(&name) {
            traefik.take(&name, inline.as_deref())?;
            continue;
        }
        let mut value = || inline.clone().or_else(|| args.next()).ok_or(format!("{name} needs a value"));
        let ms =
            |v: String| v.parse::<u64>().map(Duration::from_millis).map_err(|_| format!("{name}: bad number {v:?}"));
        let addr = |v: String| v.parse::<SocketAddr>().map_err(|_| format!("{name}: bad address {v:?} (want IP:PORT)"));
        match name.as_str() {
            "--docker-host" => docker_host = value()?,
            "--listen" => cfg.listen = vec![("web".into(), addr(value()?)?)],
            "--api-listen" => cfg.api_listen = Some(addr(value()?)?),
            "--pickup-ms" => cfg.pickup = ms(value()?)?,
            "--jitter-ms" => cfg.jitter = ms(value()?)?,
            "--resync-ms" => cfg.resync = ms(value()?)?,
            "--upstream-timeout-ms" => cfg.upstream_timeout = ms(value()?)?,
            "--max-conns" => {
                let v = value()?;
                cfg.max_conns = v.parse().map_err(|_| format!("--max-conns: bad number {v:?}"))?;
            }
            "--log" => cfg.log = Some(value()?),
            _ => return Err(format!("unknown argument {arg:?}")),
        }
        if matches!(name.as_str(), "--listen" | "--api-listen") {
            host_flags.push(name);
        }
    }
    if traefik.seen {
        if let Some(flag) = host_flags.first() {
            return Err(format!(
                "{flag} is the host-process mode's; with Traefik's flags use --entrypoints.NAME.address"
            ));
        }
        traefik.apply(&mut cfg, &mut docker_host)?;
    }
    cfg.docker_socket = match docker_host.strip_prefix("unix://") {
        Some(path) if !path.is_empty() => path.to_string(),
        _ => return Err(format!("--docker-host {docker_host:?}: only unix:///path sockets are supported")),
    };
    if cfg.upstream_timeout.is_zero() {
        return Err("--upstream-timeout-ms must be positive".into());
    }
    Ok(cfg)
}
