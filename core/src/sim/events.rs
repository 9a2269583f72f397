//! What the simulated fleet does on its own, read back from its model after
//! a run: containers starting and exiting, Docker's health status turning,
//! and the proxy starting and stopping routing to a container. `baton plan`
//! shows these beside the core's own events.

use crate::docker::Health;
use crate::sim::fleet::Fleet;
use crate::time::Time;
use serde::Serialize;

/// One change on a simulated host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum FleetChange {
    /// The container's process started (`docker run` created it).
    Started,
    /// Docker's health status turned to `health` (`starting`, `healthy`,
    /// `unhealthy`).
    Health { health: String },
    /// The container's process ended (stopped, or it died).
    Exited,
    /// The proxy started (`routes: true`) or stopped routing to it.
    Proxy { routes: bool },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FleetEvent {
    pub at_ms: Time,
    pub host: String,
    pub role: String,
    pub container: String,
    #[serde(flatten)]
    pub change: FleetChange,
}

impl FleetEvent {
    /// A few words for a timeline line.
    pub fn describe(&self) -> String {
        match &self.change {
            FleetChange::Started => format!("{} starts", self.container),
            FleetChange::Health { health } => format!("{} turns {health}", self.container),
            FleetChange::Exited => format!("{} exits", self.container),
            FleetChange::Proxy { routes: true } => format!("routes to {}", self.container),
            FleetChange::Proxy { routes: false } => format!("stops routing to {}", self.container),
        }
    }

    /// The timeline's kind column.
    pub fn kind(&self) -> &'static str {
        match self.change {
            FleetChange::Proxy { .. } => "proxy",
            FleetChange::Health { .. } => "health",
            FleetChange::Started | FleetChange::Exited => "docker",
        }
    }
}

/// Every change on every host up to `until`, in time order (equal times
/// in host, then container order).
pub fn fleet_events(fleet: &Fleet, until: Time) -> Vec<FleetEvent> {
    let mut out = vec![];
    for (name, host) in &fleet.hosts {
        for c in &host.containers {
            let ev = |at_ms: Time, change: FleetChange| FleetEvent {
                at_ms,
                host: name.clone(),
                role: c.role.clone(),
                container: c.name.clone(),
                change,
            };
            if !c.preexisting && c.started <= until {
                out.push(ev(c.started, FleetChange::Started));
            }
            let mut last: Option<Health> = host.health(c, c.started);
            for t in c.check_times(until) {
                let now = host.health(c, t);
                if now != last {
                    if let Some(h) = &now {
                        out.push(ev(t, FleetChange::Health { health: h.as_str().to_string() }));
                    }
                    last = now;
                }
            }
            // A container found stopped (as an earlier deploy left it) did not exit in this run.
            if let Some(e) = c.exited.filter(|&e| e <= until && !(c.preexisting && e == 0)) {
                out.push(ev(e, FleetChange::Exited));
            }
            if c.proxied {
                for (t, routes) in fleet.proxy_changes(name, c, until) {
                    out.push(ev(t, FleetChange::Proxy { routes }));
                }
            }
        }
        // The targets of the table as read (`plan --live`) that no live
        // container has: dropped once the proxy follows Docker.
        let Some(at_ms) = fleet.table_dropped_at(name, until) else { continue };
        for s in host.table.iter().flatten() {
            out.push(FleetEvent {
                at_ms,
                host: name.clone(),
                role: s.role.clone(),
                container: format!("the stale target {}", s.ip),
                change: FleetChange::Proxy { routes: false },
            });
        }
    }
    out.sort_by_key(|e| e.at_ms);
    out
}
