//! Configs, plans and scenarios shared by the tests. Everything here is
//! fixed (lock details, performer, seeds), so that runs are reproducible.

use baton_core::config::{Config, Source};
use baton_core::plan::{LockInfo, Plan};
use baton_core::sim::fleet::Profile;
use baton_core::sim::Scenario;
use std::collections::BTreeMap;

/// The example app's config (`examples/demo/config/deploy.yml`).
pub const DEMO_CONFIG: &str = include_str!("../../examples/demo/config/deploy.yml");

/// Lock details that do not depend on the clock or the git user.
pub fn lock_info() -> LockInfo {
    LockInfo { holder: "Ada".into(), at_utc: "2026-11-27T10:00:00Z".into(), message: "Automatic deploy lock".into() }
}

/// Parse a config; panics with the problems when it does not parse.
pub fn config(text: &str) -> Config {
    match Config::parse(Source { name: "config/deploy.yml", text }, None) {
        Ok(c) => c,
        Err(e) => panic!("test config does not parse: {e:?}\n{text}"),
    }
}

/// A plan of `version` over every host and role of `cfg`.
pub fn plan(cfg: Config, version: &str) -> Plan {
    Plan::new(cfg, version, None, None, "deployer", lock_info()).expect("plan")
}

/// The shape of a small fleet for the exhaustive and property checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Number of hosts (`h1`…`hN`); every host runs `web`.
    pub hosts: usize,
    /// Also a `jobs` role (no Traefik, no health check) on the first
    /// `jobs_hosts` hosts.
    pub jobs_hosts: usize,
    /// `boot.limit` as a count, if any.
    pub limit: Option<usize>,
    /// `boot.limit` as a percentage, if any (wins over `limit`).
    pub limit_percent: Option<u32>,
    /// `boot.wait` in seconds.
    pub wait_s: u64,
    /// `baton.routes` is set: route confirmation through the proxy's table.
    pub routes: bool,
    /// `baton.proxy_pickup` in ms (default 1 s).
    pub pickup_ms: u64,
    /// `baton.cut_at: routed`: the sequential order.
    pub cut_routed: bool,
}

impl Shape {
    pub fn new(hosts: usize) -> Shape {
        Shape {
            hosts,
            jobs_hosts: 0,
            limit: None,
            limit_percent: None,
            wait_s: 0,
            routes: false,
            pickup_ms: 1000,
            cut_routed: false,
        }
    }
    pub fn jobs(mut self, on: usize) -> Shape {
        self.jobs_hosts = on;
        self
    }
    pub fn limit(mut self, n: usize) -> Shape {
        self.limit = Some(n);
        self
    }
    pub fn limit_percent(mut self, p: u32) -> Shape {
        self.limit_percent = Some(p);
        self
    }
    pub fn routes(mut self) -> Shape {
        self.routes = true;
        self
    }
    /// A proxy that picks changes up within `ms` (with route confirmation
    /// and a 1 s health interval, 500 ms lets the cut come at "healthy").
    pub fn pickup(mut self, ms: u64) -> Shape {
        self.pickup_ms = ms;
        self
    }
    /// `baton.cut_at: routed`.
    pub fn cut_routed(mut self) -> Shape {
        self.cut_routed = true;
        self
    }
    pub fn wait(mut self, s: u64) -> Shape {
        self.wait_s = s;
        self
    }

    pub fn host_names(&self) -> Vec<String> {
        (1..=self.hosts).map(|i| format!("h{i}")).collect()
    }

    /// A config with short health checks and pauses, so that a boot takes
    /// few steps: checks every second, three attempts, a poll a second,
    /// a one-second proxy pickup and a half-second margin.
    pub fn config_text(&self) -> String {
        let mut y = String::from(
            "service: app\nimage: app\nregistry:\n  username: deployer\n  password: [KAMAL_REGISTRY_PASSWORD]\nservers:\n  web:\n    hosts:\n",
        );
        for h in self.host_names() {
            y.push_str(&format!("      - {h}\n"));
        }
        if self.jobs_hosts > 0 {
            y.push_str("  jobs:\n    cmd: bin/jobs\n    hosts:\n");
            for h in self.host_names().iter().take(self.jobs_hosts) {
                y.push_str(&format!("      - {h}\n"));
            }
        }
        y.push_str("healthcheck:\n  interval: 1s\n  max_attempts: 3\n");
        y.push_str("readiness_delay: 1\n");
        y.push_str(&format!(
            "baton:\n  poll_interval: 1s\n  proxy_pickup: {}ms\n  pause_margin: 500ms\n",
            self.pickup_ms
        ));
        if self.cut_routed {
            y.push_str("  cut_at: routed\n");
        }
        if self.routes {
            y.push_str("  routes: busybox wget -qO- http://127.0.0.1:8080/api/http/services\n");
        }
        if self.limit.is_some() || self.limit_percent.is_some() || self.wait_s > 0 {
            y.push_str("boot:\n");
            match (self.limit_percent, self.limit) {
                (Some(p), _) => y.push_str(&format!("  limit: {p}%\n")),
                (None, Some(n)) => y.push_str(&format!("  limit: {n}\n")),
                (None, None) => {}
            }
            if self.wait_s > 0 {
                y.push_str(&format!("  wait: {}\n", self.wait_s));
            }
        }
        y
    }

    pub fn plan(&self, version: &str) -> Plan {
        plan(config(&self.config_text()), version)
    }
}

/// A scenario: hosts run `from` (if any) before the boot; the new version
/// answers its health check 300 ms after it starts.
pub fn scenario(from: Option<&str>, seed: u64) -> Scenario {
    let mut profiles = BTreeMap::new();
    profiles.insert("v2".to_string(), Profile { start_ms: 300, ..Profile::default() });
    Scenario { from: from.map(str::to_string), seed, profiles, ..Scenario::default() }
}
