//! The wait budgets and pauses of one role, and when to read a container's
//! status again.

use crate::config::{Config, Role};
use crate::time::{Millis, Time};

/// Docker marks a container unhealthy after this many failed checks in a row
/// (`--health-retries`, which Kamal leaves at Docker's default).
pub const DOCKER_HEALTH_RETRIES: u64 = 3;

/// However long the health interval, a new container's status is read at
/// least this often (so that a crash is seen soon).
pub const NEW_CONTAINER_READ_MS: Millis = 2000;

/// The wait budgets and pauses of one role, derived from the config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// How long to wait for the new container to be healthy: Kamal's whole
    /// retry budget (1+2+…+max_attempts seconds), so that nothing Kamal
    /// accepts times out here, but polled every `poll` instead of sleeping.
    pub healthy_budget: Millis,
    /// How long to wait for the old container to turn unhealthy after its
    /// cord is cut: at least Docker's `retries × interval` plus one interval
    /// for the check in progress (Kamal #915 gave up too early).
    pub unhealthy_budget: Millis,
    pub poll: Millis,
    /// Docker's health check interval, when baton may rely on its rhythm to
    /// skip reads that cannot see a change. None without a health check, or
    /// when the role's `options` pass health flags of their own (a start
    /// period changes the rhythm).
    pub health_interval: Option<Millis>,
    /// Pause so the proxy notices a health change (pickup + margin).
    pub proxy_pause: Millis,
    /// How long to wait for the proxy's routing table to show a change
    /// (route confirmation): several pickups, at least 10 s.
    pub route_budget: Millis,
    pub readiness_delay: Millis,
}

impl Timing {
    pub fn for_role(cfg: &Config, role: &Role) -> Timing {
        let hc = role.spec.healthcheck.clone().unwrap_or_default();
        let n = hc.max_attempts as u64;
        let kamal_budget = n * (n + 1) / 2 * 1000;
        let docker_needs = (DOCKER_HEALTH_RETRIES + 1) * hc.interval_ms + cfg.baton.poll_interval_ms;
        Timing {
            healthy_budget: kamal_budget.max(hc.interval_ms + cfg.baton.poll_interval_ms),
            unhealthy_budget: kamal_budget.max(docker_needs),
            poll: cfg.baton.poll_interval_ms,
            health_interval: role
                .spec
                .health_interval_ms()
                .filter(|_| !role.options.iter().any(|(k, _)| k.contains("health"))),
            proxy_pause: cfg.baton.proxy_pickup_ms + cfg.baton.pause_margin_ms,
            route_budget: (5 * cfg.baton.proxy_pickup_ms).max(10_000) + cfg.baton.pause_margin_ms,
            readiness_delay: cfg.readiness_delay_ms,
        }
    }

    /// When to read a waited-on container's status again: after `poll`, but
    /// not before Docker can have changed it, so that hosts are not loaded
    /// with reads that cannot see anything new. Docker runs a check an
    /// interval after the previous one ended. So a new container's first
    /// check ends at least an interval after `docker run` was sent
    /// (`run_sent`); and a container `streak` failed checks in a row into
    /// its retries turns unhealthy only after `retries - streak` more, an
    /// interval apart, the first ending no earlier than the last read was
    /// sent (`status_sent`). Without a known rhythm, or an unread streak:
    /// every `poll`.
    pub fn next_status_read(&self, read: StatusRead, now: Time, deadline: Time) -> Time {
        let earliest = match (self.health_interval, read) {
            // A new container may also crash at any time: with a long
            // interval, read it at least every NEW_CONTAINER_READ_MS.
            (Some(iv), StatusRead::New { run_sent }) => (run_sent + iv).min(now + NEW_CONTAINER_READ_MS),
            (Some(iv), StatusRead::Old { status_sent, streak: Some(k) }) => {
                status_sent + DOCKER_HEALTH_RETRIES.saturating_sub(k).saturating_sub(1) * iv
            }
            _ => 0,
        };
        (now + self.poll).max(earliest).min(deadline)
    }
}

/// Which container a status wait reads, with what the schedule needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusRead {
    /// The new container, started by a `docker run` sent at `run_sent`.
    New { run_sent: Time },
    /// The old container, last read at `status_sent`, `streak` failed
    /// checks into its retries (None when the read did not say).
    Old { status_sent: Time, streak: Option<u64> },
}
