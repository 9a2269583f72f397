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
//!   (HTTP/1.0, `Connection: close`; the test app's server closes
//!   connections anyway); clients may use HTTP/1.1 keep-alive.
//! * **No retries.** A failed upstream is a failed request: 502 when
//!   connecting fails or the answer is not HTTP, 504 when it times out (as
//!   Traefik). No server for the request: 503.
//! * **API.** `GET /api/http/services` and `GET /api/http/routers` answer in
//!   the JSON shape of Traefik v2's API, on the main listener and on
//!   `--api-listen` (which also answers `GET /ping`).
//! * **Logging.** Every routing change, with a UTC timestamp (ms), the server
//!   gained or lost, the container, and the event whose snapshot it applies.
//!   Also every 502/503/504, and every forward (or first answer on a client
//!   connection) slower than 500 ms, with its connect and answer times.
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
//! [--upstream-timeout-ms N] [--max-conns N] [--log FILE]` (host-process
//! mode, `scripts/fleet up`), or with Traefik's flags as Kamal passes them to
//! its `traefik` container (`--providers.docker --log.level=DEBUG
//! --api.insecure=true …`, see [`traefik`]): the image
//! `baton-traefik` that `scripts/fleet up --traefik` pushes.
//!
//! Modules: [`config`] (the command line), [`log`], [`docker`] (the engine's
//! API), [`table`] (the routing table read from the engine's state),
//! [`provider`] (events, pickup delay, applying snapshots), [`api`] (Traefik's
//! JSON), [`proxy`] (the listeners) and [`upstream`] (forwarding to a
//! container), [`traefik`] (Traefik's flags) and [`shutdown`] (SIGTERM in
//! Traefik mode). HTTP on the client side is `baton_http`'s.

#[macro_use]
mod log;
mod api;
mod config;
mod docker;
mod provider;
mod proxy;
mod shutdown;
mod table;
mod traefik;
mod upstream;

use config::{parse_args, Config, USAGE};
use docker::Docker;
use provider::{events_loop, Pending};
use std::net::{SocketAddr, TcpListener};
use std::process::exit;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread;
use std::time::{SystemTime, UNIX_EPOCH};
use table::Table;

/// The proxy's state, shared by every thread.
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
    /// Requests read and not yet answered (what a SIGTERM waits for).
    in_flight: AtomicUsize,
    /// SIGTERM received (Traefik mode): answer with `Connection: close`, accept no more.
    draining: AtomicBool,
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
        if let Err(e) = log::open(path) {
            eprintln!("fleet-proxy: cannot open the log {path}: {e}");
            exit(2);
        }
    }
    if cfg.traefik {
        // Before any thread starts, so that every thread inherits the mask.
        shutdown::block_signals();
    }
    for note in &cfg.notes {
        logf!("traefik flags: {note}");
    }
    let bind = |addr: SocketAddr| match TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            logf!("cannot listen on {addr}: {e}");
            exit(1);
        }
    };
    let listeners: Vec<TcpListener> = cfg.listen.iter().map(|(_, a)| bind(*a)).collect();
    let api_listener = cfg.api_listen.map(bind);
    let entrypoints: Vec<String> = cfg.listen.iter().map(|(n, a)| format!("{n} {a}")).collect();
    logf!(
        "fleet-proxy {} ({}) listening on {}{}; docker unix://{}; pickup {} ms, jitter 0..{} ms, resync every {} ms",
        env!("CARGO_PKG_VERSION"),
        if cfg.traefik { "Traefik mode" } else { "host mode" },
        entrypoints.join(", "),
        cfg.api_listen
            .map(|a| format!(" (API{} on {a})", if cfg.api_on_main { " also" } else { "" }))
            .unwrap_or_default(),
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
        in_flight: AtomicUsize::new(0),
        draining: AtomicBool::new(false),
    }));
    if sh.cfg.traefik {
        let fds = listeners.iter().chain(&api_listener).map(std::os::fd::AsRawFd::as_raw_fd).collect();
        thread::spawn(move || shutdown::on_signal(sh, fds));
    }
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
        thread::spawn(move || proxy::serve(sh, l, true));
    }
    let mut last = None;
    for l in listeners {
        if let Some(prev) = last.replace(l) {
            thread::spawn(move || proxy::serve(sh, prev, false));
        }
    }
    if let Some(l) = last {
        proxy::serve(sh, l, false);
    }
    // The listeners were shut down by a SIGTERM: the signal thread ends the process.
    loop {
        thread::park();
    }
}
