//! fleet-proxy: a small Traefik-like HTTP proxy for baton's test fleet.
//!
//! `scripts/fleet up` starts one on every test host, on port 80 of the
//! host's address. It models the part of Traefik v2 that Kamal 1's cord
//! handover relies on, the docker provider, and nothing else (see
//! `docs/fleet-proxy.md` for the long version):
//!
//! * **Discovery.** It follows the Docker engine's event stream
//!   (`GET /events`, containers only) over the engine's unix socket. On a
//!   relevant event (start, die, stop, kill, destroy, rename, pause, unpause,
//!   health_status) it reads the engine's state *at that moment* (the running
//!   containers, and an inspect of those carrying Traefik labels) and applies
//!   that snapshot to the routing table `--pickup-ms` later (default 2000, like
//!   Traefik's `providersThrottleDuration`), plus an optional random
//!   `--jitter-ms`. A snapshot older than one already applied is dropped, so
//!   the table only moves forward. At startup a snapshot is applied at once;
//!   every `--resync-ms` (10 s) a snapshot is taken and applied the same way
//!   as an event's, as a safety net. Idle, it costs one snapshot per resync.
//! * **Targets.** Service `S` is served by every container that runs, is not
//!   paused, carries `traefik.http.services.S.loadbalancer.server.scheme` or
//!   `traefik.http.routers.S.rule` (Kamal sets both; `S` is e.g. `app-web`) and
//!   whose health is `healthy` or which has no health check. The server URL is
//!   `http://<container IP>:<port>`: the IP on the network named by the
//!   `traefik.docker.network` label, else on the first of its networks by
//!   name; the port from `traefik.http.services.S.loadbalancer.server.port`,
//!   else the lowest exposed TCP port, else 80.
//! * **Routing.** Each request on the main listener goes to one service:
//!   the only one that has servers, else among those whose rule is
//!   ``PathPrefix(`p`)`` with a matching `p`, the one with the longest rule
//!   (Traefik's default priority), ties by name. Servers are taken
//!   round-robin. Requests are forwarded with a new upstream connection each
//!   (HTTP/1.0, `Connection: close`; the test app's busybox httpd closes
//!   connections anyway); clients may use HTTP/1.1 keep-alive.
//! * **No retries.** A failed upstream is a failed request: 502 when
//!   connecting fails or the answer is not HTTP, 504 when it times out (as
//!   Traefik). No server for the request: 503.
//! * **API.** `GET /api/http/services` and `GET /api/http/routers` answer in
//!   the JSON shape of Traefik v2's API, on the main listener and on
//!   `--api-listen` (which also answers `GET /ping`).
//! * **Logging.** Every routing change, with a UTC timestamp (ms), the server
//!   gained or lost, the container, and the event whose snapshot it applies.
//!   Also every 502/503/504.
//!
//! Not modelled: Traefik's other providers, routers' rules other than
//! `PathPrefix`, middlewares (Kamal's `retry` middleware is ignored: this
//! proxy never retries), TLS, HTTP/2, WebSocket upgrades, chunked request
//! bodies, sticky sessions, weights, health checks of its own, and the
//! first-change-passes-at-once behaviour of Traefik's throttle (this proxy
//! always waits the whole pickup delay: the worst case).
//!
//! Usage: `fleet-proxy [--docker-host unix:///path/docker.sock] [--listen ADDR]
//! [--api-listen ADDR] [--pickup-ms N] [--jitter-ms N] [--resync-ms N]
//! [--upstream-timeout-ms N] [--max-conns N] [--log FILE]`.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::process::exit;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const USAGE: &str = "usage: fleet-proxy [--docker-host unix:///path/docker.sock] [--listen ADDR] \
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

const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
const MAX_HEADER_BYTES: usize = 64 * 1024;
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

// ------------------------------------------------------------------ config --

struct Config {
    docker_socket: String,
    listen: SocketAddr,
    api_listen: Option<SocketAddr>,
    pickup: Duration,
    jitter: Duration,
    resync: Duration,
    upstream_timeout: Duration,
    max_conns: usize,
    log: Option<String>,
}

fn parse_args() -> Result<Config, String> {
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

// ----------------------------------------------------------------- logging --

static LOG: OnceLock<Mutex<Box<dyn Write + Send>>> = OnceLock::new();

fn log_line(msg: &str) {
    let line = format!("{} {msg}\n", utc_timestamp(SystemTime::now()));
    match LOG.get() {
        Some(out) => {
            let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
        None => eprint!("{line}"),
    }
}

macro_rules! logf {
    ($($arg:tt)*) => { log_line(&format!($($arg)*)) };
}

/// `2026-11-27T10:50:15.123Z`.
fn utc_timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

// ------------------------------------------------------------------ docker --

/// The Docker engine's API over its unix socket, one HTTP/1.0 request per
/// connection (the engine then closes the connection and never chunks).
struct Docker {
    socket: String,
}

impl Docker {
    fn request(&self, path: &str, timeout: Option<Duration>) -> io::Result<(u16, BufReader<UnixStream>)> {
        let mut s = UnixStream::connect(&self.socket)?;
        s.set_read_timeout(timeout)?;
        s.set_write_timeout(Some(Duration::from_secs(10)))?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: docker\r\nUser-Agent: fleet-proxy\r\n\r\n").as_bytes())?;
        let mut r = BufReader::new(s);
        let mut status = String::new();
        r.read_line(&mut status)?;
        let code = status.split_whitespace().nth(1).and_then(|c| c.parse::<u16>().ok());
        let code = code.ok_or_else(|| io::Error::other(format!("bad answer from the engine: {status:?}")))?;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
                break;
            }
        }
        Ok((code, r))
    }

    /// GET `path` as JSON; `Ok(None)` on 404.
    fn get_json(&self, path: &str) -> Result<Option<Value>, String> {
        let (code, mut r) =
            self.request(path, Some(Duration::from_secs(10))).map_err(|e| format!("GET {path}: {e}"))?;
        let mut body = Vec::new();
        r.read_to_end(&mut body).map_err(|e| format!("GET {path}: {e}"))?;
        match code {
            200 => serde_json::from_slice(&body).map(Some).map_err(|e| format!("GET {path}: bad JSON: {e}")),
            404 => Ok(None),
            _ => Err(format!("GET {path}: {code} {}", String::from_utf8_lossy(&body).trim())),
        }
    }
}

/// The events the proxy reacts to. Traefik's docker provider reacts to
/// `start`, `die` and `health_status*`; the others only make a snapshot
/// sooner (the state they lead to is read either way).
const EVENTS: &[&str] = &["start", "die", "stop", "kill", "destroy", "rename", "pause", "unpause", "health_status"];

fn events_path() -> String {
    let list = EVENTS.iter().map(|e| format!("\"{e}\"")).collect::<Vec<_>>().join(",");
    let filters = format!("{{\"type\":[\"container\"],\"event\":[{list}]}}");
    format!("/events?filters={}", percent_encode(&filters))
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

// ----------------------------------------------------------- routing table --

#[derive(Clone, Debug, PartialEq)]
struct Server {
    url: String,
    addr: Option<SocketAddr>, // None when the scheme is not http
    container: String,
}

#[derive(Debug)]
struct Service {
    name: String, // without the @docker suffix
    rule: Option<String>,
    servers: Vec<Server>,
    next: AtomicUsize,
}

#[derive(Debug, Default)]
struct Table {
    services: Vec<Service>, // sorted by name, each with at least one server
}

fn label<'a>(labels: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a str> {
    labels.get(key).and_then(Value::as_str)
}

/// The Traefik services a container's labels name.
fn services_of(labels: &serde_json::Map<String, Value>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for key in labels.keys() {
        if let Some(s) =
            key.strip_prefix("traefik.http.services.").and_then(|k| k.strip_suffix(".loadbalancer.server.scheme"))
        {
            out.insert(s.to_string());
        }
        if let Some(s) = key.strip_prefix("traefik.http.routers.").and_then(|k| k.strip_suffix(".rule")) {
            out.insert(s.to_string());
        }
    }
    out.retain(|s| !s.is_empty() && !s.contains('.'));
    out
}

/// Read the engine's state now and build the routing table it implies.
fn snapshot(docker: &Docker) -> Result<Table, String> {
    let list = docker.get_json("/containers/json")?.unwrap_or(Value::Null);
    let list = list.as_array().ok_or("GET /containers/json: not a list")?;
    let mut services: BTreeMap<String, (Option<String>, Vec<Server>)> = BTreeMap::new();
    for c in list {
        let Some(labels) = c.get("Labels").and_then(Value::as_object) else { continue };
        if services_of(labels).is_empty() {
            continue;
        }
        let Some(id) = c.get("Id").and_then(Value::as_str) else { continue };
        // Gone since the list: not a target.
        let Some(info) = docker.get_json(&format!("/containers/{id}/json"))? else { continue };
        let state = &info["State"];
        if state["Running"] != Value::Bool(true) || state["Paused"] == Value::Bool(true) {
            continue;
        }
        if let Some(health) = state["Health"]["Status"].as_str() {
            if health != "healthy" {
                continue;
            }
        }
        let name = info["Name"].as_str().unwrap_or(id).trim_start_matches('/').to_string();
        let empty = serde_json::Map::new();
        let labels = info["Config"]["Labels"].as_object().unwrap_or(&empty);
        let networks = info["NetworkSettings"]["Networks"].as_object();
        let ip = networks.and_then(|nets| {
            let ip_of = |n: &Value| n["IPAddress"].as_str().filter(|ip| !ip.is_empty()).map(str::to_string);
            match label(labels, "traefik.docker.network") {
                Some(net) => nets.get(net).and_then(ip_of),
                None => {
                    let mut names: Vec<&String> = nets.keys().collect();
                    names.sort();
                    names.into_iter().find_map(|n| ip_of(&nets[n]))
                }
            }
        });
        let Some(ip) = ip.and_then(|ip| ip.parse::<IpAddr>().ok()) else {
            logf!("note: container {name} has no usable IP address: not routed");
            continue;
        };
        let exposed = info["Config"]["ExposedPorts"]
            .as_object()
            .map(|p| p.keys().filter_map(|k| k.strip_suffix("/tcp")).filter_map(|p| p.parse::<u16>().ok()).min());
        for s in services_of(labels) {
            let lb = format!("traefik.http.services.{s}.loadbalancer.server");
            let port = label(labels, &format!("{lb}.port")).and_then(|p| p.parse::<u16>().ok());
            let port = port.or(exposed.flatten()).unwrap_or(80);
            let scheme = label(labels, &format!("{lb}.scheme")).unwrap_or("http");
            let addr = SocketAddr::new(ip, port);
            let url = format!("{scheme}://{addr}");
            let entry = services.entry(s.clone()).or_default();
            if let Some(rule) = label(labels, &format!("traefik.http.routers.{s}.rule")) {
                entry.0.get_or_insert_with(|| rule.to_string());
            }
            entry.1.push(Server { url, addr: (scheme == "http").then_some(addr), container: name.clone() });
        }
    }
    let services = services
        .into_iter()
        .map(|(name, (rule, mut servers))| {
            servers.sort_by(|a, b| a.url.cmp(&b.url));
            servers.dedup_by(|a, b| a.url == b.url);
            Service { name, rule, servers, next: AtomicUsize::new(0) }
        })
        .collect();
    Ok(Table { services })
}

/// ``PathPrefix(`/p`)`` → `/p`.
fn path_prefix(rule: &str) -> Option<&str> {
    let inner = rule.trim().strip_prefix("PathPrefix(")?.strip_suffix(')')?.trim();
    inner.strip_prefix('`').and_then(|s| s.strip_suffix('`')).or_else(|| inner.strip_prefix('"')?.strip_suffix('"'))
}

impl Table {
    fn route(&self, path: &str) -> Option<&Service> {
        if self.services.len() == 1 {
            return self.services.first();
        }
        self.services
            .iter()
            .filter(|s| s.rule.as_deref().and_then(path_prefix).is_some_and(|p| path.starts_with(p)))
            .max_by(|a, b| {
                let len = |s: &Service| s.rule.as_ref().map_or(0, String::len);
                len(a).cmp(&len(b)).then_with(|| b.name.cmp(&a.name))
            })
    }

    fn services_json(&self) -> Value {
        Value::Array(
            self.services
                .iter()
                .map(|s| {
                    let full = format!("{}@docker", s.name);
                    let servers: Vec<Value> = s.servers.iter().map(|v| serde_json::json!({ "url": v.url })).collect();
                    let status: serde_json::Map<String, Value> =
                        s.servers.iter().map(|v| (v.url.clone(), Value::from("UP"))).collect();
                    let used_by: Vec<Value> = s.rule.iter().map(|_| Value::from(full.clone())).collect();
                    serde_json::json!({
                        "loadBalancer": { "servers": servers, "passHostHeader": true },
                        "status": "enabled",
                        "usedBy": used_by,
                        "serverStatus": status,
                        "name": full,
                        "provider": "docker",
                        "type": "loadbalancer",
                    })
                })
                .collect(),
        )
    }

    fn routers_json(&self) -> Value {
        Value::Array(
            self.services
                .iter()
                .filter_map(|s| {
                    let rule = s.rule.as_ref()?;
                    Some(serde_json::json!({
                        "entryPoints": ["web"],
                        "service": s.name,
                        "rule": rule,
                        "priority": rule.len(),
                        "status": "enabled",
                        "using": ["web"],
                        "name": format!("{}@docker", s.name),
                        "provider": "docker",
                    }))
                })
                .collect(),
        )
    }
}

// --------------------------------------------------------------- pickup --

struct Pending {
    due: Instant,
    seq: u64,
    table: Table,
    cause: String,
    taken: SystemTime,
}

struct Shared {
    cfg: Config,
    docker: Docker,
    table: RwLock<Arc<Table>>,
    pending: Mutex<Vec<Pending>>,
    wake: Condvar,
    snapshot_lock: Mutex<u64>, // the last snapshot's sequence number
    applied_seq: AtomicU64,
    conns: AtomicUsize,
    rng: AtomicU64,
}

impl Shared {
    fn random_below(&self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // xorshift64*, good enough for a jitter.
        let mut x = self.rng.load(Ordering::Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.store(x, Ordering::Relaxed);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }

    /// Read the engine's state now; apply it after the pickup delay (at once
    /// when `immediate`).
    fn snapshot_and_schedule(&self, cause: &str, immediate: bool) {
        let mut last = self.snapshot_lock.lock().unwrap_or_else(|p| p.into_inner());
        let taken = SystemTime::now();
        let start = Instant::now();
        let table = match snapshot(&self.docker) {
            Ok(t) => t,
            Err(e) => {
                logf!("docker: snapshot failed ({cause}): {e}");
                return;
            }
        };
        *last += 1;
        let seq = *last;
        drop(last);
        let delay = if immediate {
            Duration::ZERO
        } else {
            let jitter = self.random_below(self.cfg.jitter.as_millis() as u64 + 1);
            self.cfg.pickup + Duration::from_millis(jitter)
        };
        let mut q = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        q.push(Pending { due: start + delay, seq, table, cause: cause.to_string(), taken });
        self.wake.notify_all();
    }

    fn apply_loop(&self) {
        let mut q = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let now = Instant::now();
            let next = q.iter().enumerate().min_by_key(|(_, p)| (p.due, p.seq)).map(|(i, p)| (i, p.due));
            match next {
                None => q = self.wake.wait(q).unwrap_or_else(|p| p.into_inner()),
                Some((_, due)) if due > now => {
                    q = self.wake.wait_timeout(q, due - now).unwrap_or_else(|p| p.into_inner()).0;
                }
                Some((i, _)) => {
                    let p = q.swap_remove(i);
                    drop(q);
                    self.apply(p);
                    q = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                }
            }
        }
    }

    fn apply(&self, p: Pending) {
        if p.seq <= self.applied_seq.load(Ordering::SeqCst) {
            return; // a newer snapshot is already in force
        }
        self.applied_seq.store(p.seq, Ordering::SeqCst);
        let old = self.table.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut changes = Vec::new();
        let servers = |t: &Table| -> BTreeMap<(String, String), String> {
            let mut m = BTreeMap::new();
            for s in &t.services {
                for v in &s.servers {
                    m.insert((s.name.clone(), v.url.clone()), v.container.clone());
                }
            }
            m
        };
        let (before, after) = (servers(&old), servers(&p.table));
        for ((svc, url), container) in &before {
            if !after.contains_key(&(svc.clone(), url.clone())) {
                changes.push(format!("{svc}@docker - {url} ({container})"));
            }
        }
        for ((svc, url), container) in &after {
            if !before.contains_key(&(svc.clone(), url.clone())) {
                changes.push(format!("{svc}@docker + {url} ({container})"));
            }
        }
        let rules = |t: &Table| t.services.iter().map(|s| (s.name.clone(), s.rule.clone())).collect::<Vec<_>>();
        let rules_changed = rules(&old) != rules(&p.table);
        *self.table.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(p.table);
        if changes.is_empty() && !rules_changed {
            return;
        }
        let table = self.table.read().unwrap_or_else(|e| e.into_inner()).clone();
        let now: Vec<String> = table
            .services
            .iter()
            .map(|s| {
                let urls: Vec<&str> = s.servers.iter().map(|v| v.url.as_str()).collect();
                format!("{}@docker=[{}]", s.name, urls.join(" "))
            })
            .collect();
        let age = SystemTime::now().duration_since(p.taken).unwrap_or_default().as_millis();
        for c in &changes {
            logf!("routing: {c}");
        }
        logf!(
            "routing: table now {} (state of {}, {age} ms ago, after: {})",
            if now.is_empty() { "empty".to_string() } else { now.join(" ") },
            utc_timestamp(p.taken),
            p.cause
        );
    }
}

/// Follow the engine's events for ever, reconnecting after a second when the
/// stream breaks.
fn events_loop(sh: &Shared) {
    let path = events_path();
    let mut last_error = String::new();
    loop {
        match sh.docker.request(&path, None) {
            Ok((200, r)) => {
                logf!("docker: following events on {}", sh.docker.socket);
                last_error.clear();
                // Whatever happened while the stream was down.
                sh.snapshot_and_schedule("(re)connecting to the event stream", false);
                for line in r.lines() {
                    let Ok(line) = line else { break };
                    let Ok(ev) = serde_json::from_str::<Value>(&line) else { continue };
                    let action = ev["Action"].as_str().unwrap_or_default();
                    let kind = action.split(':').next().unwrap_or_default();
                    if ev["Type"] != "container" || !EVENTS.contains(&kind) {
                        continue;
                    }
                    let name = ev["Actor"]["Attributes"]["name"].as_str().unwrap_or("?");
                    sh.snapshot_and_schedule(&format!("event {action} {name}"), false);
                }
                logf!("docker: the event stream ended; reconnecting");
            }
            Ok((code, _)) => {
                let e = format!("GET /events: {code}");
                if e != last_error {
                    logf!("docker: {e}; retrying every second");
                    last_error = e;
                }
            }
            Err(e) => {
                let e = format!("{}: {e}", sh.docker.socket);
                if e != last_error {
                    logf!("docker: cannot follow events ({e}); retrying every second");
                    last_error = e;
                }
            }
        }
        thread::sleep(Duration::from_secs(1));
    }
}

// -------------------------------------------------------------------- http --

struct Request {
    method: String,
    target: String,
    minor: u8, // HTTP/1.<minor>
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn keep_alive(&self) -> bool {
        let conn = self.header("connection").unwrap_or("").to_ascii_lowercase();
        let has = |t: &str| conn.split(',').any(|x| x.trim() == t);
        if self.minor >= 1 {
            !has("close")
        } else {
            has("keep-alive")
        }
    }

    fn path(&self) -> &str {
        self.target.split(['?', '#']).next().unwrap_or("/")
    }
}

enum ReadError {
    Closed,            // EOF or idle timeout between requests
    Bad(&'static str), // answer 400 (or the given status text) and close
    Unsupported,       // 501
}

fn read_request(r: &mut BufReader<&TcpStream>) -> Result<Request, ReadError> {
    let mut line = String::new();
    let mut total = 0;
    // Skip empty lines before a request (RFC 9112 2.2).
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return Err(ReadError::Closed),
            Ok(n) => total += n,
        }
        if !line.trim().is_empty() {
            break;
        }
        if total > MAX_HEADER_BYTES {
            return Err(ReadError::Bad("header too large"));
        }
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(ReadError::Bad("bad request line"));
    };
    let minor = match version {
        "HTTP/1.1" => 1,
        "HTTP/1.0" => 0,
        _ => return Err(ReadError::Bad("unsupported HTTP version")),
    };
    let (method, target) = (method.to_string(), target.to_string());
    let mut headers = Vec::new();
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return Err(ReadError::Closed),
            Ok(n) => total += n,
        }
        if total > MAX_HEADER_BYTES {
            return Err(ReadError::Bad("header too large"));
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        let Some((k, v)) = l.split_once(':') else { return Err(ReadError::Bad("bad header line")) };
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let mut req = Request { method, target, minor, headers, body: Vec::new() };
    if req.header("transfer-encoding").is_some() {
        return Err(ReadError::Unsupported);
    }
    if let Some(cl) = req.header("content-length") {
        let n: usize = cl.parse().map_err(|_| ReadError::Bad("bad content-length"))?;
        if n > MAX_BODY_BYTES {
            return Err(ReadError::Bad("body too large"));
        }
        let mut body = vec![0; n];
        r.read_exact(&mut body).map_err(|_| ReadError::Closed)?;
        req.body = body;
    }
    Ok(req)
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

fn simple_response(code: u16, content_type: &str, body: &[u8], keep_alive: bool, head: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        reason(code),
        body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    )
    .into_bytes();
    if !head {
        out.extend_from_slice(body);
    }
    out
}

fn error_response(code: u16, keep_alive: bool, head: bool) -> Vec<u8> {
    simple_response(code, "text/plain; charset=utf-8", format!("{}\n", reason(code)).as_bytes(), keep_alive, head)
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// One request to one upstream server, on a new connection. Err((status, why)).
fn forward(req: &Request, server: &Server, client: SocketAddr, timeout: Duration) -> Result<Vec<u8>, (u16, String)> {
    let head_request = req.method == "HEAD";
    let Some(addr) = server.addr else { return Err((502, format!("scheme of {} not supported", server.url))) };
    let timed_out = |e: &io::Error| matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock);
    let fail = |what: &str, e: io::Error| (if timed_out(&e) { 504 } else { 502 }, format!("{what}: {e}"));
    let deadline = Instant::now() + timeout;
    let mut up = TcpStream::connect_timeout(&addr, timeout).map_err(|e| fail("connect", e))?;
    let _ = up.set_nodelay(true);
    up.set_write_timeout(Some(timeout)).map_err(|e| fail("setup", e))?;
    let mut head = format!("{} {} HTTP/1.0\r\n", req.method, req.target);
    let mut xff = None;
    for (k, v) in &req.headers {
        let lk = k.to_ascii_lowercase();
        if HOP_BY_HOP.contains(&lk.as_str()) {
            continue;
        }
        if lk == "x-forwarded-for" {
            xff = Some(v.clone());
            continue;
        }
        let _ = write!(head, "{k}: {v}\r\n");
    }
    let ip = client.ip();
    let xff = xff.map_or_else(|| ip.to_string(), |x| format!("{x}, {ip}"));
    let _ = write!(head, "X-Forwarded-For: {xff}\r\nX-Forwarded-Proto: http\r\nX-Real-Ip: {ip}\r\n");
    if let Some(h) = req.header("host") {
        let _ = write!(head, "X-Forwarded-Host: {h}\r\n");
    }
    if !req.body.is_empty() || req.header("content-length").is_some() {
        let _ = write!(head, "Content-Length: {}\r\n", req.body.len());
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(&req.body);
    up.write_all(&out).map_err(|e| fail("send", e))?;

    // Read the answer: headers, then Content-Length bytes or up to EOF.
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 16 * 1024];
    let mut header_end = None;
    let mut need: Option<usize> = None;
    let mut upstream_length: Option<usize> = None;
    loop {
        if let (Some(h), Some(n)) = (header_end, need) {
            if buf.len() >= h + n {
                buf.truncate(h + n);
                break;
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err((504, "response: timed out".into()));
        }
        up.set_read_timeout(Some(left)).map_err(|e| fail("setup", e))?;
        let n = up.read(&mut chunk).map_err(|e| fail("response", e))?;
        if n == 0 {
            if header_end.is_none() {
                return Err((502, format!("connection closed after {} bytes, before a complete header", buf.len())));
            }
            if let (Some(h), Some(cl)) = (header_end, need) {
                return Err((502, format!("body cut short: {} of {cl} bytes", buf.len() - h)));
            }
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_BODY_BYTES {
            return Err((502, "response too large".into()));
        }
        if header_end.is_none() {
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                header_end = Some(pos + 4);
                let text = String::from_utf8_lossy(&buf[..pos]).to_string();
                let code = text.split_whitespace().nth(1).and_then(|c| c.parse::<u16>().ok()).unwrap_or(0);
                need = text.lines().skip(1).find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim().eq_ignore_ascii_case("content-length").then(|| v.trim().parse().ok())?
                });
                upstream_length = need;
                if head_request || code < 200 || code == 204 || code == 304 {
                    need = Some(0); // no body, whatever the header says
                }
            } else if buf.len() > MAX_HEADER_BYTES {
                return Err((502, "response header too large".into()));
            }
        }
    }
    let h = header_end.unwrap_or(buf.len());
    let text = String::from_utf8_lossy(&buf[..h]).to_string();
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or("");
    let mut sp = status.splitn(3, ' ');
    let (version, code, why) = (sp.next().unwrap_or(""), sp.next().unwrap_or(""), sp.next().unwrap_or(""));
    let code: u16 = match code.parse() {
        Ok(c) if version.starts_with("HTTP/1.") && (100..600).contains(&c) => c,
        _ => return Err((502, format!("not an HTTP answer: {:?}", status.chars().take(60).collect::<String>()))),
    };
    let mut resp = format!("HTTP/1.1 {code} {why}\r\n");
    for l in lines {
        let Some((k, v)) = l.split_once(':') else { continue };
        if HOP_BY_HOP.contains(&k.trim().to_ascii_lowercase().as_str()) {
            continue;
        }
        let _ = write!(resp, "{}: {}\r\n", k.trim(), v.trim());
    }
    let body = &buf[h..];
    // A HEAD answer keeps the length the upstream announced.
    let length = if head_request { upstream_length.unwrap_or(0) } else { body.len() };
    let _ = write!(resp, "Content-Length: {length}\r\n");
    let mut resp = resp.into_bytes();
    resp.extend_from_slice(b"\r\n");
    resp.extend_from_slice(body);
    Ok(resp)
}

/// Put the `Connection` header in and drop the body of a HEAD answer.
fn finish_response(mut resp: Vec<u8>, keep_alive: bool, head: bool) -> Vec<u8> {
    let end = resp.windows(4).position(|w| w == b"\r\n\r\n").map_or(resp.len(), |p| p + 2);
    let conn = if keep_alive { "Connection: keep-alive\r\n" } else { "Connection: close\r\n" };
    if head {
        resp.truncate(end + 2);
    }
    resp.splice(end..end, conn.bytes());
    resp
}

fn serve_conn(sh: &Shared, stream: TcpStream, api_only: bool) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IDLE_TIMEOUT));
    let peer = stream.peer_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut r = BufReader::new(&stream);
    loop {
        let req = match read_request(&mut r) {
            Ok(req) => req,
            Err(ReadError::Closed) => return,
            Err(ReadError::Bad(why)) => {
                let _ = (&stream).write_all(&simple_response(400, "text/plain", why.as_bytes(), false, false));
                return;
            }
            Err(ReadError::Unsupported) => {
                let _ = (&stream).write_all(&error_response(501, false, false));
                return;
            }
        };
        let keep_alive = req.keep_alive();
        let head = req.method == "HEAD";
        let path = req.path();
        let get = req.method == "GET" || head;
        let json = |v: Value| simple_response(200, "application/json", v.to_string().as_bytes(), keep_alive, head);
        let resp = if get && path == "/api/http/services" {
            json(sh.table.read().unwrap_or_else(|e| e.into_inner()).services_json())
        } else if get && path == "/api/http/routers" {
            json(sh.table.read().unwrap_or_else(|e| e.into_inner()).routers_json())
        } else if api_only {
            if get && path == "/ping" {
                simple_response(200, "text/plain", b"OK", keep_alive, head)
            } else {
                error_response(404, keep_alive, head)
            }
        } else {
            let table = sh.table.read().unwrap_or_else(|e| e.into_inner()).clone();
            match table.route(path) {
                None => {
                    logf!("503 {} {} from {peer}: no server", req.method, req.target);
                    error_response(503, keep_alive, head)
                }
                Some(svc) => {
                    let server = &svc.servers[svc.next.fetch_add(1, Ordering::Relaxed) % svc.servers.len()];
                    match forward(&req, server, peer, sh.cfg.upstream_timeout) {
                        Ok(resp) => finish_response(resp, keep_alive, head),
                        Err((code, why)) => {
                            logf!(
                                "{code} {} {} from {peer} -> {}@docker {} ({}): {why}",
                                req.method,
                                req.target,
                                svc.name,
                                server.url,
                                server.container
                            );
                            error_response(code, keep_alive, head)
                        }
                    }
                }
            }
        };
        if (&stream).write_all(&resp).is_err() || !keep_alive {
            return;
        }
    }
}

fn serve(sh: &'static Shared, listener: TcpListener, api_only: bool) {
    let mut refused = 0u64;
    for conn in listener.incoming() {
        let stream = match conn {
            Ok(s) => s,
            Err(e) => {
                logf!("accept on {:?}: {e}", listener.local_addr().ok());
                thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        if sh.conns.fetch_add(1, Ordering::SeqCst) >= sh.cfg.max_conns {
            sh.conns.fetch_sub(1, Ordering::SeqCst);
            refused += 1;
            if refused.is_power_of_two() {
                logf!("{} connection(s) refused so far: --max-conns {} reached", refused, sh.cfg.max_conns);
            }
            let _ = (&stream).write_all(&error_response(503, false, false));
            continue;
        }
        let spawned = thread::Builder::new().stack_size(256 * 1024).spawn(move || {
            serve_conn(sh, stream, api_only);
            sh.conns.fetch_sub(1, Ordering::SeqCst);
        });
        if let Err(e) = spawned {
            sh.conns.fetch_sub(1, Ordering::SeqCst);
            logf!("cannot start a connection thread: {e}");
        }
    }
}

fn main() {
    let cfg = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fleet-proxy: {e}\n{USAGE}");
            exit(2);
        }
    };
    if let Some(path) = &cfg.log {
        match OpenOptions::new().create(true).append(true).open(path) {
            Ok(f) => {
                let _ = LOG.set(Mutex::new(Box::new(f)));
            }
            Err(e) => {
                eprintln!("fleet-proxy: cannot open the log {path}: {e}");
                exit(2);
            }
        }
    }
    let bind = |addr: SocketAddr| match TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            logf!("cannot listen on {addr}: {e}");
            exit(1);
        }
    };
    let main_listener = bind(cfg.listen);
    let api_listener = cfg.api_listen.map(bind);
    logf!(
        "fleet-proxy {} listening on {}{}; docker unix://{}; pickup {} ms, jitter 0..{} ms, resync every {} ms",
        env!("CARGO_PKG_VERSION"),
        cfg.listen,
        cfg.api_listen.map(|a| format!(" (API also on {a})")).unwrap_or_default(),
        cfg.docker_socket,
        cfg.pickup.as_millis(),
        cfg.jitter.as_millis(),
        cfg.resync.as_millis()
    );
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as u64
        ^ (u64::from(std::process::id()) << 32);
    let sh: &'static Shared = Box::leak(Box::new(Shared {
        docker: Docker { socket: cfg.docker_socket.clone() },
        cfg,
        table: RwLock::new(Arc::new(Table::default())),
        pending: Mutex::new(Vec::new()),
        wake: Condvar::new(),
        snapshot_lock: Mutex::new(0),
        applied_seq: AtomicU64::new(0),
        conns: AtomicUsize::new(0),
        rng: AtomicU64::new(seed | 1),
    }));
    // The state at startup is routed at once (Traefik reads it when it starts).
    sh.snapshot_and_schedule("startup", true);
    thread::spawn(move || sh.apply_loop());
    thread::spawn(move || events_loop(sh));
    if !sh.cfg.resync.is_zero() {
        thread::spawn(move || loop {
            thread::sleep(sh.cfg.resync);
            sh.snapshot_and_schedule("periodic resync", false);
        });
    }
    if let Some(l) = api_listener {
        thread::spawn(move || serve(sh, l, true));
    }
    serve(sh, main_listener, false);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_iso() {
        assert_eq!(utc_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_776_556_985);
        assert_eq!(utc_timestamp(t), "2026-11-27T10:49:16.985Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(utc_timestamp(leap), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn path_prefix_rules() {
        assert_eq!(path_prefix("PathPrefix(`/`)"), Some("/"));
        assert_eq!(path_prefix("PathPrefix(`/api`)"), Some("/api"));
        assert_eq!(path_prefix("Host(`x`)"), None);
    }

    #[test]
    fn routing_prefers_the_longest_matching_rule() {
        let svc = |name: &str, rule: &str| Service {
            name: name.into(),
            rule: Some(rule.into()),
            servers: vec![Server { url: "http://1.2.3.4:80".into(), addr: None, container: name.into() }],
            next: AtomicUsize::new(0),
        };
        let t = Table { services: vec![svc("api", "PathPrefix(`/api`)"), svc("web", "PathPrefix(`/`)")] };
        assert_eq!(t.route("/api/x").map(|s| s.name.as_str()), Some("api"));
        assert_eq!(t.route("/version").map(|s| s.name.as_str()), Some("web"));
        let one = Table { services: vec![svc("api", "PathPrefix(`/api`)")] };
        assert_eq!(one.route("/version").map(|s| s.name.as_str()), Some("api"));
        assert!(Table::default().route("/").is_none());
    }

    #[test]
    fn finish_response_sets_connection() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nv1\n".to_vec();
        let out = finish_response(r.clone(), true, false);
        assert_eq!(out, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nv1\n");
        let out = finish_response(r, false, true);
        assert_eq!(out, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n");
    }
}
