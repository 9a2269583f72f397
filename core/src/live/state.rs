//! What `plan --live`'s survey found, and the simulated fleet built from it.

use crate::plan::Plan;
use crate::sim::calibrate::Samples;
use crate::sim::fleet::{self, AsRead, Fault, FaultKind, Fleet, StaleTarget, When};
use serde::Serialize;
use std::collections::BTreeMap;

/// A container as read from a host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LiveContainer {
    pub role: String,
    pub name: String,
    /// From its name (`<service>-<role>-<version>`); a container renamed
    /// aside by an interrupted boot has `_replaced_…` in it.
    pub version: String,
    /// Docker's state: `running`, `exited`, `restarting`, …
    pub state: String,
    /// Docker's health, for a live container with a health check.
    pub health: Option<String>,
    /// The host directory of its cord, for a live container that has one.
    pub cord: Option<String>,
    /// Its addresses, for a live container of a proxied role when the
    /// proxy's table is read (`baton.routes`): how the table names it.
    pub ips: Vec<String>,
}

impl LiveContainer {
    pub fn is_live(&self) -> bool {
        matches!(self.state.as_str(), "running" | "restarting")
    }
}

/// One host as read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HostState {
    /// False: the first command could not reach it (`error` says why).
    pub reachable: bool,
    pub error: Option<String>,
    /// Every container of the selected roles, newest first per role.
    pub containers: Vec<LiveContainer>,
    /// Whether the image of the version to boot is on the host (None: not read).
    pub has_image: Option<bool>,
    /// The proxy's routing table (`baton.routes`): service → targets.
    pub routes: Option<BTreeMap<String, Vec<String>>>,
}

impl HostState {
    pub(super) fn container(&mut self, role: &str, name: &str) -> Option<&mut LiveContainer> {
        self.containers.iter_mut().find(|c| c.role == role && c.name == name)
    }

    /// How the proxy's table as read differs from the live containers
    /// (None: the table was not read).
    pub fn table_check(&self, plan: &Plan, host: &str) -> Option<TableCheck> {
        let table = self.routes.as_ref()?;
        let cfg = &plan.config;
        let mut check = TableCheck::default();
        let all_ips: Vec<&String> = self.containers.iter().filter(|c| c.is_live()).flat_map(|c| &c.ips).collect();
        for role in plan.roles_on(host) {
            if !cfg.role(&role).is_some_and(|r| r.spec.proxied) {
                continue;
            }
            let service = cfg.role_full_name(&role);
            let targets = table.get(&service).map(Vec::as_slice).unwrap_or_default();
            for c in self.live(&role) {
                if c.ips.is_empty() {
                    check.unmatched.push(c.name.clone());
                } else if !c.ips.iter().any(|ip| targets.contains(ip)) {
                    check.unrouted.push(c.name.clone());
                }
            }
            for ip in targets {
                let known = all_ips.contains(&ip) || check.stale.iter().any(|s| &s.ip == ip && s.service == service);
                if !known {
                    check.stale.push(StaleTarget { role: role.clone(), service: service.clone(), ip: ip.clone() });
                }
            }
        }
        Some(check)
    }

    /// The live containers of `role`, newest first.
    pub fn live<'a>(&'a self, role: &'a str) -> impl Iterator<Item = &'a LiveContainer> {
        self.containers.iter().filter(move |c| c.role == role && c.is_live())
    }
}

/// How a host's routing table as read differs from its live containers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableCheck {
    /// Live containers of proxied roles that the table does not route to
    /// (just started, not picked up yet).
    pub unrouted: Vec<String>,
    /// Targets of the roles' services that no live container has (their
    /// container stopped or is gone).
    pub stale: Vec<StaleTarget>,
    /// Live containers whose addresses could not be read: the table cannot
    /// be matched to them, and the plan does not start from it.
    pub unmatched: Vec<String>,
}

impl TableCheck {
    /// The plan starts this host's proxy from the table.
    pub fn usable(&self) -> bool {
        self.unmatched.is_empty()
    }

    /// What a person should know, one message each.
    pub fn notes(&self, host: &str) -> Vec<String> {
        if !self.usable() {
            return vec![format!(
                "the addresses of {} on {host} could not be read: the plan's proxy there starts from Docker's state, not from the routing table as read",
                self.unmatched.join(", ")
            )];
        }
        let mut out: Vec<String> = self
            .unrouted
            .iter()
            .map(|n| format!(
                "the proxy on {host} does not route to {n} yet (its routing table as read has none of its addresses): the plan has the proxy pick it up at its next pickup (baton.proxy_pickup)"
            ))
            .collect();
        out.extend(self.stale.iter().map(|s| format!(
            "the proxy on {host} still routes {} to {}, which no live container has (a stopped or removed container): requests sent there fail until the proxy drops it at its next pickup (baton.proxy_pickup)",
            s.service, s.ip
        )));
        out
    }
}

/// The deploy lock, held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeldLock {
    pub host: String,
    /// Its details as written (base64).
    #[serde(skip)]
    pub raw: String,
    /// Decoded: who holds it, since when, why.
    pub details: String,
}

/// What the survey found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LiveState {
    pub hosts: BTreeMap<String, HostState>,
    /// None: nobody holds the lock.
    pub lock: Option<HeldLock>,
    /// Command times measured while reading.
    #[serde(skip)]
    pub samples: Samples,
}

impl LiveState {
    /// The version `role` runs on `host` (its newest live container; a
    /// renamed-aside one counts only when there is no other).
    pub fn from_version(&self, host: &str, role: &str) -> Option<String> {
        let h = self.hosts.get(host)?;
        let live: Vec<&LiveContainer> = h.live(role).collect();
        live.iter().find(|c| !c.version.contains("_replaced_")).or(live.first()).map(|c| c.version.clone())
    }

    /// The measured times as calibration samples: a host's first command
    /// (`true`) less a round trip is its SSH handshake.
    pub fn calibration_samples(&self) -> Samples {
        let mut s = self.samples.clone();
        let mut trip = s.trip.clone();
        trip.sort_unstable();
        let rtt = trip.get(trip.len() / 2).copied().unwrap_or(0);
        s.first = s.first.iter().map(|f| f.saturating_sub(rtt)).collect();
        s
    }

    /// The hosts that could not be reached.
    pub fn unreachable(&self) -> Vec<&str> {
        self.hosts.iter().filter(|(_, h)| !h.reachable).map(|(n, _)| n.as_str()).collect()
    }

    /// One line per host (and the lock) for people.
    pub fn lines(&self, plan: &Plan) -> Vec<String> {
        let mut out = vec![];
        for host in plan.contacted_hosts() {
            let Some(h) = self.hosts.get(&host) else { continue };
            if !h.reachable {
                let why = h.error.as_deref().unwrap_or("no answer");
                out.push(format!("{host}: UNREACHABLE ({why})"));
                continue;
            }
            let mut parts = vec![];
            for role in plan.roles_on(&host) {
                let live: Vec<String> = h
                    .live(&role)
                    .map(|c| {
                        let health = c.health.as_deref().map(|x| format!(" {x}")).unwrap_or_default();
                        let cord = if c.cord.is_some() { "" } else { ", no cord" };
                        format!("{} ({}{health}{cord})", c.version, c.state)
                    })
                    .collect();
                let stopped = h.containers.iter().filter(|c| c.role == role && !c.is_live()).count();
                let now = match live.len() {
                    0 => "nothing running".to_string(),
                    1 => format!("runs {}", live[0]),
                    _ => format!(
                        "runs {} live containers: {} (stale ones are handed over too)",
                        live.len(),
                        live.join(", ")
                    ),
                };
                let stopped = if stopped > 0 { format!(", {stopped} stopped") } else { String::new() };
                parts.push(format!("{role} {now}{stopped}"));
            }
            if h.has_image == Some(true) {
                parts.push(format!("has the image of {}", plan.version));
            }
            if let Some(r) = &h.routes {
                let n: usize = r.values().map(Vec::len).sum();
                let mut line = format!("the proxy routes to {n} target(s)");
                if let Some(check) = h.table_check(plan, &host).filter(|c| c.usable()) {
                    if !check.unrouted.is_empty() {
                        line.push_str(&format!(", not yet to {}", check.unrouted.join(", ")));
                    }
                    if !check.stale.is_empty() {
                        let ips: Vec<&str> = check.stale.iter().map(|s| s.ip.as_str()).collect();
                        line.push_str(&format!(", {} of them stale ({})", ips.len(), ips.join(", ")));
                    }
                }
                parts.push(line);
            }
            out.push(format!("{host}: {}", parts.join("; ")));
        }
        let lock_host = plan.lock_host();
        match &self.lock {
            Some(l) => out.push(format!("the deploy lock on {} is HELD: {}", l.host, l.details.replace('\n', " / "))),
            None if self.hosts.get(lock_host).is_some_and(|h| !h.reachable) => {
                out.push(format!("the deploy lock on {lock_host} could not be read (the host cannot be reached)"))
            }
            None => out.push(format!("the deploy lock on {lock_host} is free")),
        }
        out
    }

    /// What a person should know about the routing tables as read: per
    /// host, how each differs from the live containers.
    pub fn table_notes(&self, plan: &Plan) -> Vec<(String, String)> {
        let mut out = vec![];
        for (host, h) in self.hosts.iter().filter(|(_, h)| h.reachable) {
            let notes = h.table_check(plan, host).map(|c| c.notes(host)).unwrap_or_default();
            out.extend(notes.into_iter().map(|n| (host.clone(), n)));
        }
        out
    }

    /// Put the hosts as read into a simulated fleet: live containers as
    /// running (healthy or not, as read), stopped ones as stopped, the
    /// image where it is, the lock where it is held, each proxy starting
    /// from its routing table as read (the containers it routes to, its
    /// stale targets), and the hosts that could not be reached as
    /// unreachable throughout.
    pub fn seed_fleet(&self, fleet: &mut Fleet, plan: &Plan, seed: u64) {
        let cfg = &plan.config;
        for (host, h) in &self.hosts {
            if !h.reachable {
                fleet.faults.push(Fault { host: host.clone(), kind: FaultKind::Unreachable(When::Always) });
                if let Some(e) = &h.error {
                    fleet.unreachable_errors.insert(host.clone(), e.clone());
                }
                continue;
            }
            if h.has_image == Some(true) {
                fleet.hosts.entry(host.clone()).or_default().images.insert(plan.version.clone());
            }
            let check = h.table_check(plan, host).filter(TableCheck::usable);
            if let Some(check) = &check {
                fleet.hosts.entry(host.clone()).or_default().table = Some(check.stale.clone());
            }
            // Oldest first, as Docker created them.
            for c in h.containers.iter().rev() {
                let Some(r) = cfg.role(&c.role) else { continue };
                let iv = r.spec.health_interval_ms();
                let mut profile = fleet.default_profile.clone();
                profile.healthy = c.health.as_deref() != Some("unhealthy");
                let container = fleet::Container {
                    name: c.name.clone(),
                    role: c.role.clone(),
                    version: c.version.clone(),
                    started: 0,
                    stop_issued: None,
                    exited: None,
                    health_iv: iv,
                    first_check_after: iv.map_or(0, |iv| 1 + super::super::sim::phase(seed, host, &c.role) % iv),
                    cord_dir: c.cord.clone(),
                    proxied: r.spec.proxied,
                    profile,
                    preexisting: true,
                    as_read: check
                        .as_ref()
                        .filter(|_| c.is_live())
                        .map(|k| AsRead { ips: c.ips.clone(), routed: !k.unrouted.contains(&c.name) }),
                };
                if c.is_live() {
                    fleet.with_running(host, container);
                } else {
                    let hs = fleet.hosts.entry(host.clone()).or_default();
                    hs.images.insert(c.version.clone());
                    hs.containers.push(fleet::Container { stop_issued: Some(0), exited: Some(0), ..container });
                }
            }
        }
        if let Some(l) = &self.lock {
            fleet.hosts.entry(l.host.clone()).or_default().lock = Some(l.raw.clone());
        }
    }
}
