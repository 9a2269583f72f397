//! The simulated proxy: which targets it routes to when, and its table as
//! Traefik's API prints it.
//!
//! It starts from Docker's state at 0, or, on a host whose routing table
//! `plan --live` read ([`Host::table`]), from that table: the containers
//! it routed to and the stale targets it still held. It follows Docker
//! from the first snapshot it picks up (the state as read at 0 is one,
//! picked up `pickup` plus jitter later), so a container it had not picked
//! up yet is routed to then, and a stale target is dropped then.

use super::{Container, FaultKind, Fleet, Host};
use crate::rng::Rng;
use crate::time::{Millis, Time};
use std::collections::{BTreeMap, BTreeSet};

impl Fleet {
    fn jitter_for(&self, host: &str, name: &str, t: Time) -> Millis {
        if self.jitter == 0 {
            return 0;
        }
        let mut h = self.seed ^ t.wrapping_mul(0x9E37_79B9);
        for b in host.bytes().chain(name.bytes()) {
            h = h.rotate_left(5) ^ b as u64;
        }
        Rng::new(h).next_u64() % (self.jitter + 1)
    }

    /// When the proxy on `host` applies the snapshot of Docker's state
    /// taken at `s`: `pickup` later, plus a jitter drawn from the seed.
    fn applied_at(&self, host: &str, s: Time) -> Time {
        s + self.pickup + self.jitter_for(host, "", s)
    }

    /// Every time Docker's state on `host` may change, up to `until`,
    /// sorted: the snapshots a proxy that follows Docker can take.
    fn snapshots(&self, host: &str, until: Time) -> Vec<Time> {
        let h = &self.hosts[host];
        let mut pts: BTreeSet<Time> = BTreeSet::from([0]);
        for c in &h.containers {
            pts.extend(h.change_points(c, until));
        }
        pts.into_iter().filter(|&p| p <= until).collect()
    }

    /// The snapshot the proxy on `host` routes by at `t`: the newest one it
    /// has picked up. The proxy applies snapshots in order: one picked up
    /// after a newer one is skipped (as Traefik's throttle skips the
    /// snapshots between two it applies), never applied over it. None: it
    /// still routes by the table read at the start ([`Host::table`]);
    /// without one, the snapshot at 0 is applied from the start.
    pub fn snapshot_at(&self, host: &str, t: Time) -> Option<Time> {
        let read = self.hosts[host].table.is_some();
        self.snapshots(host, t).into_iter().filter(|&s| (s == 0 && !read) || self.applied_at(host, s) <= t).max()
    }

    /// The proxy's view of `c` at `t`: Docker's state in the snapshot it
    /// routes by, or the table as read.
    pub fn proxy_routes(&self, host: &str, c: &Container, t: Time) -> bool {
        match self.snapshot_at(host, t) {
            Some(s) => self.hosts[host].routable(c, s) && !self.never_routed(host, c),
            None => routed_as_read(c),
        }
    }

    /// When the proxy's view of `c` changes (for the timeline and the gap
    /// check), up to `until`.
    pub fn proxy_changes(&self, host: &str, c: &Container, until: Time) -> Vec<(Time, bool)> {
        let h = &self.hosts[host];
        let read = h.table.is_some();
        let mut applied: Vec<(Time, Time)> = self
            .snapshots(host, until)
            .into_iter()
            .skip(usize::from(!read))
            .map(|s| (self.applied_at(host, s), s))
            .collect();
        applied.sort();
        let blind = self.never_routed(host, c);
        let mut newest: Option<Time> = (!read).then_some(0);
        let mut prev = if read { routed_as_read(c) } else { h.routable(c, 0) && !blind };
        let mut out = vec![];
        for (at, s) in applied {
            if newest.is_some_and(|n| s <= n) {
                continue;
            }
            newest = Some(s);
            let now = h.routable(c, s) && !blind;
            if now != prev {
                out.push((at, now));
                prev = now;
            }
        }
        out
    }

    /// When the proxy on `host` stops routing by the table as read (drops
    /// its stale targets): when it picks up its first snapshot. None
    /// without a table as read.
    pub fn table_dropped_at(&self, host: &str, until: Time) -> Option<Time> {
        self.hosts[host].table.as_ref()?;
        self.snapshots(host, until).into_iter().map(|s| self.applied_at(host, s)).min()
    }

    /// The stale targets of `role` the proxy on `host` still routes to at `t`.
    pub fn stale_routed(&self, host: &str, role: &str, t: Time) -> usize {
        match &self.hosts[host].table {
            Some(stale) if self.snapshot_at(host, t).is_none() => stale.iter().filter(|s| s.role == role).count(),
            _ => 0,
        }
    }

    /// The proxy on `host` never sees `c` ([`FaultKind::Unrouted`]).
    fn never_routed(&self, host: &str, c: &Container) -> bool {
        !c.preexisting && self.has_fault(host, |f| *f == FaultKind::Unrouted)
    }

    /// The IP of container `i` on `host`: as read (`plan --live`), else a
    /// simulated one that no address as read has.
    pub(super) fn ip(&self, host: &str, i: usize) -> String {
        let hst = &self.hosts[host];
        if let Some(ip) = hst.containers[i].as_read.as_ref().and_then(|r| r.ips.first()) {
            return ip.clone();
        }
        let h = self.hosts.keys().position(|k| k == host).unwrap_or(0);
        let sim = |k: usize| format!("172.30.{}.{}", h % 250 + 1, k % 250 + 2);
        let taken = read_ips(hst);
        (i..i + 251).map(sim).find(|ip| !taken.contains(ip)).unwrap_or_else(|| sim(i))
    }

    /// The proxy's routing table on `host` at `t`, as Traefik's API prints it.
    pub fn routes_json(&self, host: &str, t: Time) -> String {
        let h = &self.hosts[host];
        let mut services: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (i, c) in h.containers.iter().enumerate() {
            if !c.proxied || !self.proxy_routes(host, c, t) {
                continue;
            }
            let cut = c.name.rfind(&format!("-{}", c.version)).unwrap_or(c.name.len());
            services.entry(c.name[..cut].to_string()).or_default().push(format!("http://{}:3000", self.ip(host, i)));
        }
        if let (Some(stale), None) = (&h.table, self.snapshot_at(host, t)) {
            for s in stale {
                let ip = if s.ip.contains(':') { format!("[{}]", s.ip) } else { s.ip.clone() };
                services.entry(s.service.clone()).or_default().push(format!("http://{ip}:3000"));
            }
        }
        let list: Vec<serde_json::Value> = services
            .into_iter()
            .map(|(name, urls)| {
                let status: serde_json::Map<String, serde_json::Value> =
                    urls.iter().map(|u| (u.clone(), serde_json::Value::from("UP"))).collect();
                serde_json::json!({
                    "name": format!("{name}@docker"),
                    "provider": "docker",
                    "status": "enabled",
                    "loadBalancer": {"servers": urls.iter().map(|u| serde_json::json!({"url": u})).collect::<Vec<_>>(), "passHostHeader": true},
                    "serverStatus": status,
                })
            })
            .collect();
        serde_json::Value::from(list).to_string()
    }
}

/// The table as read routes to `c`.
fn routed_as_read(c: &Container) -> bool {
    c.proxied && c.as_read.as_ref().is_some_and(|r| r.routed)
}

/// Every address read on a host: its containers' and its stale targets'.
fn read_ips(h: &Host) -> BTreeSet<String> {
    let mut out: BTreeSet<String> =
        h.containers.iter().filter_map(|c| c.as_read.as_ref()).flat_map(|r| r.ips.iter().cloned()).collect();
    out.extend(h.table.iter().flatten().map(|s| s.ip.clone()));
    out
}
