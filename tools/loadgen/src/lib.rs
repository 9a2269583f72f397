//! A constant-rate HTTP load generator, std only (its HTTP is `baton_http`'s):
//! the core of the `loadgen` binary, and usable from a test (start [`run`] in a thread, boot, then set
//! [`LoadConfig::stop`] or let [`LoadConfig::duration`] run out).
//!
//! Requests are scheduled open-loop: request `i` starts at `i / rate` seconds,
//! on its own thread, whatever happened to the others (a stalled request never
//! delays the next ones). They go round-robin over the targets, and
//! alternately (per target) on a keep-alive connection, taken from a pool of
//! idle persistent connections to that target (opened when the pool is empty,
//! returned after a clean answer), and on a new connection closed after the
//! answer (`Connection: close`).
//!
//! Every request ends in exactly one of: `ok` (a 2xx whose trimmed body is
//! one of [`LoadConfig::expect`], or anything when that is empty),
//! `non_2xx`, `bad_body` (a 2xx with another body), `timeouts` (the whole
//! request, connect included, took longer than [`LoadConfig::timeout`]), or
//! `connect_errors` (connection refused or reset, closed before a complete
//! answer, or an answer that is not HTTP).

use baton_http::{Connection, Error, Request, MAX_BODY_BYTES};
use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// What to send.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// `ip:port` of each proxy; the rate is spread evenly over them.
    pub targets: Vec<SocketAddr>,
    /// Requests per second, in total.
    pub rate: u32,
    /// How long to send for (at most: see `stop`).
    pub duration: Duration,
    /// Bodies (trimmed) a 2xx may carry; empty: any.
    pub expect: Vec<String>,
    /// The request path, e.g. `/version`.
    pub path: String,
    /// Deadline of one request, connect included.
    pub timeout: Duration,
    /// When set to true, no further request starts (those in flight finish).
    pub stop: Option<Arc<AtomicBool>>,
    /// How many failures [`LoadReport::failures`] keeps (the first ones; default 50).
    pub max_failures: usize,
}

impl LoadConfig {
    pub fn new(targets: Vec<SocketAddr>, rate: u32, duration: Duration) -> LoadConfig {
        LoadConfig {
            targets,
            rate,
            duration,
            expect: Vec::new(),
            path: "/version".into(),
            timeout: Duration::from_secs(2),
            stop: None,
            max_failures: 50,
        }
    }
}

/// How one request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Ok,
    Non2xx,
    ConnectError,
    Timeout,
    BadBody,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Non2xx => "non_2xx",
            Outcome::ConnectError => "connect_error",
            Outcome::Timeout => "timeout",
            Outcome::BadBody => "bad_body",
        }
    }
}

/// Counts of one slice of the run (a second, a target, or all of it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: u64,
    pub ok: u64,
    pub non_2xx: u64,
    pub connect_errors: u64,
    pub timeouts: u64,
    pub bad_body: u64,
    /// Trimmed bodies of 2xx answers (at most 40 bytes of each), with counts.
    pub bodies: BTreeMap<String, u64>,
}

impl Counts {
    pub fn failures(&self) -> u64 {
        self.non_2xx + self.connect_errors + self.timeouts + self.bad_body
    }

    fn add(&mut self, r: &Done) {
        self.total += 1;
        match r.outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::Non2xx => self.non_2xx += 1,
            Outcome::ConnectError => self.connect_errors += 1,
            Outcome::Timeout => self.timeouts += 1,
            Outcome::BadBody => self.bad_body += 1,
        }
        if let Some(b) = &r.body {
            *self.bodies.entry(b.clone()).or_default() += 1;
        }
    }

    fn json(&self) -> String {
        let bodies: Vec<String> = self.bodies.iter().map(|(b, n)| format!("{}:{n}", json_str(b))).collect();
        format!(
            "\"total\":{},\"ok\":{},\"non_2xx\":{},\"connect_errors\":{},\"timeouts\":{},\"bad_body\":{},\"bodies\":{{{}}}",
            self.total,
            self.ok,
            self.non_2xx,
            self.connect_errors,
            self.timeouts,
            self.bad_body,
            bodies.join(",")
        )
    }
}

/// A failed request, for the report's sample.
#[derive(Clone, Debug)]
pub struct Failure {
    /// When it was scheduled, from the start of the run.
    pub at: Duration,
    pub target: SocketAddr,
    pub keep_alive: bool,
    pub outcome: Outcome,
    pub detail: String,
}

/// What happened.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// Every request.
    pub counts: Counts,
    /// Per target, in the order of [`LoadConfig::targets`].
    pub per_target: Vec<(SocketAddr, Counts)>,
    /// Per second of the schedule (request `i` falls in second `i / rate`).
    pub per_second: Vec<Counts>,
    pub keepalive_requests: u64,
    pub new_connection_requests: u64,
    /// Persistent connections opened for the keep-alive half.
    pub keepalive_connections: u64,
    /// From the first request's start to the last one's end.
    pub elapsed: Duration,
    /// Latest start of a request after its scheduled time.
    pub max_start_lag: Duration,
    /// From the first request's start to the last one's.
    pub start_span: Duration,
    pub latency_p50: Duration,
    pub latency_p99: Duration,
    pub latency_max: Duration,
    /// The first [`LoadConfig::max_failures`] failures (50 by default).
    pub failures: Vec<Failure>,
    /// The start of the run (request 0's schedule), from the Unix epoch: with
    /// [`Failure::at`], the wall-clock time of a failure.
    pub started_at: Duration,
}

impl LoadReport {
    pub fn failures(&self) -> u64 {
        self.counts.failures()
    }

    /// Requests per second actually started (from the first start to the last).
    pub fn achieved_rate(&self) -> f64 {
        if self.counts.total < 2 || self.start_span.is_zero() {
            return self.counts.total as f64;
        }
        (self.counts.total - 1) as f64 / self.start_span.as_secs_f64()
    }

    pub fn to_json(&self) -> String {
        let ms = |d: Duration| format!("{:.3}", d.as_secs_f64() * 1000.0);
        let per_target: Vec<String> =
            self.per_target.iter().map(|(t, c)| format!("{{\"target\":\"{t}\",{}}}", c.json())).collect();
        let per_second: Vec<String> = self
            .per_second
            .iter()
            .enumerate()
            .map(|(s, c)| format!("{{\"second\":{s},\"failures\":{},{}}}", c.failures(), c.json()))
            .collect();
        let failures: Vec<String> = self
            .failures
            .iter()
            .map(|f| {
                format!(
                    "{{\"at_ms\":{},\"target\":\"{}\",\"keep_alive\":{},\"kind\":\"{}\",\"detail\":{}}}",
                    ms(f.at),
                    f.target,
                    f.keep_alive,
                    f.outcome.name(),
                    json_str(&f.detail)
                )
            })
            .collect();
        format!(
            "{{{},\"failures\":{},\"keepalive_requests\":{},\"new_connection_requests\":{},\"keepalive_connections\":{},\
             \"elapsed_ms\":{},\"achieved_rate\":{:.1},\"max_start_lag_ms\":{},\"latency_ms\":{{\"p50\":{},\"p99\":{},\"max\":{}}},\
             \"per_target\":[{}],\"per_second\":[{}],\"failure_sample\":[{}]}}",
            self.counts.json(),
            self.failures(),
            self.keepalive_requests,
            self.new_connection_requests,
            self.keepalive_connections,
            ms(self.elapsed),
            self.achieved_rate(),
            ms(self.max_start_lag),
            ms(self.latency_p50),
            ms(self.latency_p99),
            ms(self.latency_max),
            per_target.join(","),
            per_second.join(","),
            failures.join(",")
        )
    }

    /// A human summary with a per-second table.
    pub fn summary(&self) -> String {
        let c = &self.counts;
        let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
        let bodies = |c: &Counts| c.bodies.iter().map(|(b, n)| format!("{b}={n}")).collect::<Vec<_>>().join(" ");
        let mut out = format!(
            "loadgen: {} requests in {:.1} s ({:.1}/s) to {} target(s): ok {}, non_2xx {}, connect_errors {}, \
             timeouts {}, bad_body {}\n",
            c.total,
            self.elapsed.as_secs_f64(),
            self.achieved_rate(),
            self.per_target.len(),
            c.ok,
            c.non_2xx,
            c.connect_errors,
            c.timeouts,
            c.bad_body
        );
        out += &format!("  bodies: {}\n", bodies(c));
        out += &format!(
            "  latency ms: p50 {} p99 {} max {}; latest start {} ms after schedule\n",
            ms(self.latency_p50),
            ms(self.latency_p99),
            ms(self.latency_max),
            ms(self.max_start_lag)
        );
        out += &format!(
            "  keep-alive: {} requests on {} connection(s); new connection: {} requests\n",
            self.keepalive_requests, self.keepalive_connections, self.new_connection_requests
        );
        for (t, tc) in &self.per_target {
            out += &format!("  {t}: {} requests, {} failed, {}\n", tc.total, tc.failures(), bodies(tc));
        }
        out += "  second  sent    ok  non2xx  conn  tmo  bad  bodies\n";
        for (s, sc) in self.per_second.iter().enumerate() {
            out += &format!(
                "  {s:>6} {:>5} {:>5} {:>7} {:>5} {:>4} {:>4}  {}{}\n",
                sc.total,
                sc.ok,
                sc.non_2xx,
                sc.connect_errors,
                sc.timeouts,
                sc.bad_body,
                bodies(sc),
                if sc.failures() > 0 { "  <-- failures" } else { "" }
            );
        }
        for f in &self.failures {
            out += &format!(
                "  failure at {} ms: {} {} ({}): {}\n",
                ms(f.at),
                f.target,
                f.outcome.name(),
                if f.keep_alive { "keep-alive" } else { "new connection" },
                f.detail
            );
        }
        out
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The end of one request.
struct Done {
    index: u64,
    target: usize,
    keep_alive: bool,
    lag: Duration,
    latency: Duration,
    outcome: Outcome,
    body: Option<String>,
    detail: String,
}

struct Pools {
    idle: Vec<Mutex<Vec<Connection<TcpStream>>>>,
    opened: AtomicU64,
}

/// Send the load; return when the last request has ended.
pub fn run(cfg: &LoadConfig) -> LoadReport {
    assert!(!cfg.targets.is_empty(), "loadgen: no target");
    assert!(cfg.rate > 0, "loadgen: the rate must be positive");
    let n = cfg.targets.len() as u64;
    let pools =
        Arc::new(Pools { idle: cfg.targets.iter().map(|_| Mutex::new(Vec::new())).collect(), opened: 0.into() });
    let (tx, rx) = mpsc::channel::<Done>();
    let interval_ns = 1_000_000_000f64 / f64::from(cfg.rate);
    let start = Instant::now();
    let started_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut sent = 0u64;
    loop {
        let offset = Duration::from_nanos((sent as f64 * interval_ns) as u64);
        if offset >= cfg.duration || cfg.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) {
            break;
        }
        let due = start + offset;
        let now = Instant::now();
        if due > now {
            thread::sleep(due - now);
        }
        let index = sent;
        let target = (index % n) as usize;
        let keep_alive = (index / n).is_multiple_of(2);
        let (job_tx, pools, cfg2) = (tx.clone(), pools.clone(), RequestCfg::of(cfg, target));
        let job = move || {
            let lag = Instant::now().saturating_duration_since(due);
            let t0 = Instant::now();
            let (outcome, body, detail) = one_request(&cfg2, &pools, keep_alive);
            let _ = job_tx.send(Done { index, target, keep_alive, lag, latency: t0.elapsed(), outcome, body, detail });
        };
        if let Err(e) = thread::Builder::new().stack_size(128 * 1024).spawn(job) {
            // Out of threads: this request could not be sent at all.
            let _ = tx.send(Done {
                index,
                target,
                keep_alive,
                lag: Duration::ZERO,
                latency: Duration::ZERO,
                outcome: Outcome::ConnectError,
                body: None,
                detail: format!("loadgen could not start a thread: {e}"),
            });
        }
        sent += 1;
    }
    drop(tx);
    let mut dones: Vec<Done> = rx.iter().collect();
    let elapsed = start.elapsed();
    dones.sort_by_key(|d| d.index);

    let rate = u64::from(cfg.rate);
    let mut report = LoadReport {
        per_target: cfg.targets.iter().map(|t| (*t, Counts::default())).collect(),
        per_second: vec![Counts::default(); sent.div_ceil(rate) as usize],
        keepalive_connections: pools.opened.load(Ordering::SeqCst),
        elapsed,
        started_at,
        ..LoadReport::default()
    };
    let mut latencies: Vec<Duration> = Vec::with_capacity(dones.len());
    let started = |d: &Done| Duration::from_nanos((d.index as f64 * interval_ns) as u64) + d.lag;
    let first = dones.iter().map(started).min().unwrap_or_default();
    report.start_span = dones.iter().map(started).max().unwrap_or_default().saturating_sub(first);
    for d in &dones {
        report.counts.add(d);
        report.per_target[d.target].1.add(d);
        report.per_second[(d.index / rate) as usize].add(d);
        if d.keep_alive {
            report.keepalive_requests += 1;
        } else {
            report.new_connection_requests += 1;
        }
        report.max_start_lag = report.max_start_lag.max(d.lag);
        latencies.push(d.latency);
        if d.outcome != Outcome::Ok && report.failures.len() < cfg.max_failures {
            report.failures.push(Failure {
                at: Duration::from_nanos((d.index as f64 * interval_ns) as u64),
                target: cfg.targets[d.target],
                keep_alive: d.keep_alive,
                outcome: d.outcome,
                detail: d.detail.clone(),
            });
        }
    }
    latencies.sort();
    let pct =
        |p: f64| latencies.get(((latencies.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or_default();
    report.latency_p50 = pct(0.50);
    report.latency_p99 = pct(0.99);
    report.latency_max = latencies.last().copied().unwrap_or_default();
    report
}

#[derive(Clone)]
struct RequestCfg {
    target: usize,
    addr: SocketAddr,
    path: Arc<str>,
    expect: Arc<[String]>,
    timeout: Duration,
}

impl RequestCfg {
    fn of(cfg: &LoadConfig, target: usize) -> RequestCfg {
        RequestCfg {
            target,
            addr: cfg.targets[target],
            path: cfg.path.as_str().into(),
            expect: cfg.expect.clone().into(),
            timeout: cfg.timeout,
        }
    }
}

fn one_request(cfg: &RequestCfg, pools: &Pools, keep_alive: bool) -> (Outcome, Option<String>, String) {
    let deadline = Instant::now() + cfg.timeout;
    let failed = |e: Error| (if e.is_timeout() { Outcome::Timeout } else { Outcome::ConnectError }, None, e.message);
    let pooled = if keep_alive { pools.idle[cfg.target].lock().unwrap_or_else(|p| p.into_inner()).pop() } else { None };
    let reused = pooled.is_some();
    let mut conn = match pooled {
        Some(c) => c,
        None => match Connection::tcp(cfg.addr, cfg.timeout) {
            Ok(c) => {
                if keep_alive {
                    pools.opened.fetch_add(1, Ordering::Relaxed);
                }
                c
            }
            Err(e) => return failed(e),
        },
    };
    conn.set_deadline(Some(deadline));
    let req = Request::get(&cfg.path)
        .with_header("Host", cfg.addr)
        .with_header("User-Agent", "baton-loadgen")
        .with_header("Connection", if keep_alive { "keep-alive" } else { "close" });
    match conn.exchange(&req, MAX_BODY_BYTES) {
        Ok(_) if Instant::now() > deadline => {
            (Outcome::Timeout, None, "answer completed after the deadline".to_string())
        }
        Ok(answer) => {
            if keep_alive && answer.reusable {
                pools.idle[cfg.target].lock().unwrap_or_else(|p| p.into_inner()).push(conn);
            }
            let trimmed = answer.text().trim().chars().take(40).collect::<String>();
            let status = answer.status();
            if !(200..300).contains(&status) {
                (Outcome::Non2xx, None, format!("status {status}: {trimmed}"))
            } else if !cfg.expect.is_empty() && !cfg.expect.contains(&trimmed) {
                (Outcome::BadBody, Some(trimmed.clone()), format!("body {trimmed:?}"))
            } else {
                (Outcome::Ok, Some(trimmed), String::new())
            }
        }
        Err(e) if reused && !e.is_timeout() => {
            (Outcome::ConnectError, None, format!("{} (on a reused connection)", e.message))
        }
        Err(e) => failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// A tiny keep-alive server answering `v1`.
    fn server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            for s in l.incoming().flatten() {
                thread::spawn(move || {
                    let mut r = BufReader::new(&s);
                    loop {
                        let mut close = false;
                        let mut line = String::new();
                        loop {
                            line.clear();
                            if r.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line.to_ascii_lowercase().starts_with("connection: close") {
                                close = true;
                            }
                            if line.trim().is_empty() {
                                break;
                            }
                        }
                        let mut w = &s;
                        let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nv1\n");
                        if close {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    #[test]
    fn counts_every_request_and_reuses_connections() {
        let addr = server();
        let mut cfg = LoadConfig::new(vec![addr, addr], 200, Duration::from_millis(500));
        cfg.expect = vec!["v1".into()];
        let r = run(&cfg);
        assert_eq!(r.counts.total, 100, "{}", r.summary());
        assert_eq!(r.counts.ok, 100, "{}", r.summary());
        assert_eq!(r.keepalive_requests, 50);
        assert!(r.keepalive_connections < 50, "{}", r.summary());
        assert_eq!(r.counts.bodies.get("v1"), Some(&100));
        assert!((r.achieved_rate() - 200.0).abs() < 20.0, "{}", r.summary());
        assert!(r.to_json().contains("\"ok\":100"));

        cfg.expect = vec!["v2".into()];
        cfg.duration = Duration::from_millis(50);
        let r = run(&cfg);
        assert_eq!(r.counts.bad_body, r.counts.total);
    }

    #[test]
    fn counts_refused_connections() {
        let addr = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let r = run(&LoadConfig::new(vec![addr], 100, Duration::from_millis(100)));
        assert_eq!(r.counts.connect_errors, 10, "{}", r.summary());
        assert_eq!(r.failures(), 10);
    }
}
