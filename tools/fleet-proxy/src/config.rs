//! The command line.

use std::net::SocketAddr;
use std::process::exit;
use std::time::Duration;

pub const USAGE: &str = "usage: fleet-proxy [--docker-host unix:///path/docker.sock] [--listen ADDR] \
[--api-listen ADDR] [--pickup-ms N] [--jitter-ms N] [--resync-ms N] [--upstream-timeout-ms N] \
[--max-conns N] [--log FILE]
  --docker-host   the Docker engine's socket (default: $DOCKER_HOST, else unix:///var/run/docker.sock)
  --listen        the proxy's address (default 0.0.0.0:80); it also serves GET /api/http/services
  --api-listen    an extra address serving only the API and /ping (default: none)
  --pickup-ms     delay between a Docker event and the routing change it causes (default 2000)
  --jitter-ms     extra random delay per change, 0..N ms (default 0)
  --resync-ms     period of the safety-net snapshot (default 10000; 0 = never)
  --upstream-timeout-ms  connect and response timeout towards a container (default 10000)
  --max-conns     client connections served at once (default 1024)
  --log FILE      append the log there (default: stderr)";

pub struct Config {
    pub docker_socket: String,
    pub listen: SocketAddr,
    pub api_listen: Option<SocketAddr>,
    pub pickup: Duration,
    pub jitter: Duration,
    pub resync: Duration,
    pub upstream_timeout: Duration,
    pub max_conns: usize,
    pub log: Option<String>,
}

pub fn parse_args() -> Result<Config, String> {
    let mut docker_host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let mut cfg = Config {
        docker_socket: String::new(),
        listen: "0.0.0.0:80".parse().expect("literal"),
        api_listen: None,
        pickup: Duration::from_millis(2000),
        jitter: Duration::ZERO,
        resync: Duration::from_secs(10),
        upstream_timeout: Duration::from_secs(10),
        max_conns: 1024,
        log: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if name == "-h" || name == "--help" {
            println!("{USAGE}");
            exit(0);
        }
        let mut value = || inline.clone().or_else(|| args.next()).ok_or(format!("{name} needs a value"));
        let ms =
            |v: String| v.parse::<u64>().map(Duration::from_millis).map_err(|_| format!("{name}: bad number {v:?}"));
        let addr = |v: String| v.parse::<SocketAddr>().map_err(|_| format!("{name}: bad address {v:?} (want IP:PORT)"));
        match name.as_str() {
            "--docker-host" => docker_host = value()?,
            "--listen" => cfg.listen = addr(value()?)?,
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
