//! The invariants of `app boot`, checked on a run as it happens.
//!
//! A driver feeds the [`Checker`] every effect the deploy issues, every
//! observation it delivers, every event the deploy reports and every step
//! it takes, in the order they happen; then [`Checker::finish`] with the
//! simulated fleet as the run left it. The step-wise invariants (safe stop,
//! no stray effects, the lock release, termination) are checked the moment
//! they could be broken; the rest (no serving gap, every container
//! accounted for, the lock at the end) need the whole run and are checked
//! at its end: the serving gap check looks at the proxy model at every
//! instant of the run, not only at the steps.

use baton_core::commands as cmds;
use baton_core::deploy::Timing;
use baton_core::docker::{self, Health, State};
use baton_core::effect::{Action, Effect, EffectId, Event, Failure, Observation, Outcome};
use baton_core::plan::Plan;
use baton_core::sim::fleet::Fleet;
use baton_core::sim::report;
use baton_core::time::{fmt_secs, Millis, Time};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

/// The invariants, as the issue names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    /// Once a version has served on a host and role, the proxy always has a
    /// healthy target there (unless the deploy failed before any new
    /// container became healthy).
    NoServingGap,
    /// An old container is stopped only after its cord was cut, it was seen
    /// unhealthy, and the proxy's pickup delay has passed (or the proxy's
    /// table no longer lists it), and while the new container is healthy.
    SafeStop,
    /// Every container baton started is the current version, stopped, or
    /// named in the failure.
    Accounted,
    /// The lock is released exactly when the deploy succeeds; otherwise it
    /// is held and the user is told.
    Lock,
    /// Every run ends within a bound on steps and virtual time.
    Termination,
    /// After a host has failed, no effect goes to it except cleanup.
    NoStrayEffects,
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Invariant::NoServingGap => "no serving gap",
            Invariant::SafeStop => "safe stop",
            Invariant::Accounted => "every container accounted for",
            Invariant::Lock => "lock",
            Invariant::Termination => "termination",
            Invariant::NoStrayEffects => "no stray effects",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub invariant: Invariant,
    pub at: Time,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] at {}s: {}", self.invariant, fmt_secs(self.at), self.detail)
    }
}

/// How long a run may take, in steps (inputs to the machine) and virtual
/// time. Derived from the config: every wait of every role on the slowest
/// host of each group, every command at its slowest, and the pauses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub steps: usize,
    pub time: Time,
}

impl Bounds {
    pub fn for_plan(plan: &Plan, fleet: &Fleet) -> Bounds {
        let cfg = &plan.config;
        let c = &fleet.costs;
        let stop =
            fleet.profiles.values().map(|p| p.stop_ms).chain([baton_core::sim::fleet::Profile::default().stop_ms]);
        let cmd_max = c.rtt
            + (c.pull + c.tag).max(c.run).max(c.inspect).max(c.small + 20).max(c.connect_fail)
            + stop.max().unwrap_or(0);
        let host_time = |h: &String| -> (Time, usize) {
            let mut t = 0;
            let mut s = 0;
            for r in plan.roles_on(h) {
                let Some(role) = cfg.role(&r) else { continue };
                let tm = Timing::for_role(cfg, role);
                let waits = tm.healthy_budget + tm.unhealthy_budget + 2 * tm.proxy_pause + tm.readiness_delay;
                t += waits + 2 * tm.poll + 16 * cmd_max;
                s += 2 * (waits / tm.poll.max(1)) as usize + 40;
            }
            (t, s)
        };
        let mut time = 4 * cmd_max;
        let mut steps = 10 + 2 * plan.hosts.len();
        let groups = plan.groups();
        for g in &groups {
            time += g.iter().map(|h| host_time(h).0).max().unwrap_or(0);
            steps += g.iter().map(|h| host_time(h).1).sum::<usize>();
        }
        time += cfg.boot.wait_ms * groups.len().saturating_sub(1) as u64;
        steps += groups.len();
        Bounds { steps, time }
    }

    /// Room for `n` extra steps of `ms` each (a driver's injected delays).
    pub fn with_slack(self, n: usize, ms: Millis) -> Bounds {
        Bounds { steps: self.steps + n, time: self.time + n as u64 * ms }
    }
}

/// Did any container the deploy started become healthy (as Docker sees
/// it, whether or not the deploy saw it) by `end`?
fn any_new_became_healthy(fleet: &Fleet, end: Time) -> bool {
    fleet.hosts.values().any(|h| {
        h.containers.iter().filter(|c| !c.preexisting && c.proxied).any(|c| {
            if c.health_iv.is_none() {
                return c.serving(end);
            }
            c.check_times(end).into_iter().any(|t| h.health(c, t) == Some(baton_core::docker::Health::Healthy))
        })
    })
}

#[derive(Clone, Debug)]
struct Issued {
    host: String,
    role: Option<String>,
    action: Action,
}

/// Checks the invariants of one run. Cheap to clone (the explorer keeps
/// one per branch).
#[derive(Clone, Debug)]
pub struct Checker {
    plan: Arc<Plan>,
    pickup: Millis,
    bounds: Bounds,
    primary: String,
    initial_lock: Option<String>,
    issued: BTreeMap<EffectId, Issued>,
    /// Host → when it was reported failed.
    failed: BTreeMap<String, Time>,
    /// Host → when a command to it came back unreachable.
    unreachable: BTreeMap<String, Time>,
    failures: Vec<Failure>,
    warnings: Vec<(Option<String>, String)>,
    /// (host, role) reported done.
    done: BTreeSet<(String, String)>,
    /// (host, role) → when its new container was first seen ready.
    new_ready: BTreeMap<(String, String), Time>,
    /// (host, cord dir) → when cutting it succeeded.
    cut: BTreeMap<(String, String), Time>,
    /// (host, container) → when it was seen unhealthy or not running.
    out_of_rotation: BTreeMap<(String, String), Vec<Time>>,
    lock_releases: usize,
    lock_release_ok: Option<bool>,
    lock_kept: bool,
    lock_released: bool,
    /// The user interrupted the deploy (Ctrl-C).
    interrupted: bool,
    outcome: Option<Outcome>,
    ended_at: Option<Time>,
    over_bound: bool,
    /// Gaps excused because the deploy failed before any new container
    /// became healthy.
    pub excused_gaps: usize,
    violations: Vec<Violation>,
}

impl Checker {
    pub fn new(plan: Arc<Plan>, fleet: &Fleet, bounds: Bounds) -> Checker {
        let primary = plan.config.primary_host().to_string();
        let initial_lock = fleet.hosts.get(&primary).and_then(|h| h.lock.clone());
        Checker {
            pickup: plan.config.baton.proxy_pickup_ms,
            plan,
            bounds,
            primary,
            initial_lock,
            issued: BTreeMap::new(),
            failed: BTreeMap::new(),
            unreachable: BTreeMap::new(),
            failures: vec![],
            warnings: vec![],
            done: BTreeSet::new(),
            new_ready: BTreeMap::new(),
            cut: BTreeMap::new(),
            out_of_rotation: BTreeMap::new(),
            lock_releases: 0,
            lock_release_ok: None,
            lock_kept: false,
            lock_released: false,
            interrupted: false,
            outcome: None,
            ended_at: None,
            over_bound: false,
            excused_gaps: 0,
            violations: vec![],
        }
    }

    /// The user interrupted the deploy at `now`. An interrupt before any
    /// container was touched may give the lock back (nothing changed).
    pub fn on_interrupt(&mut self, _now: Time) {
        self.interrupted = true;
    }

    /// Interrupted before anything but the lock and the image preparation,
    /// and nothing failed: releasing the lock and failing is then right.
    fn interrupted_before_any_change(&self) -> bool {
        self.interrupted
            && self.failures.is_empty()
            && self.issued.values().all(|e| {
                matches!(
                    e.action,
                    Action::LockAcquire { .. } | Action::LockRead | Action::LockRelease | Action::PrepareImage { .. }
                )
            })
    }

    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// The run has gone past its bound (a driver should stop it).
    pub fn over_bound(&self) -> bool {
        self.over_bound
    }

    pub fn bounds(&self) -> Bounds {
        self.bounds
    }

    fn violate(&mut self, invariant: Invariant, at: Time, detail: String) {
        self.violations.push(Violation { invariant, at, detail });
    }

    fn new_name(&self, role: &str) -> String {
        cmds::container_name(&self.plan.config, role, &self.plan.version)
    }

    /// The deploy issued `effect` at `now`; `fleet` is the fleet before it runs.
    pub fn on_effect(&mut self, now: Time, effect: &Effect, fleet: &Fleet) {
        let c = effect.cmd();
        let host = c.host.clone();
        self.issued.insert(c.id, Issued { host: host.clone(), role: c.role.clone(), action: c.action.clone() });
        let what = format!("{} {:?}", host, c.action);
        let cleanup =
            matches!(&c.action, Action::Stop { name } if c.role.as_deref().is_some_and(|r| *name == self.new_name(r)));
        if self.outcome.is_some() {
            self.violate(Invariant::NoStrayEffects, now, format!("{what} issued after the deploy finished"));
        } else if let Some(t) = self.unreachable.get(&host) {
            let t = *t;
            self.violate(
                Invariant::NoStrayEffects,
                now,
                format!("{what} issued to {host}, which was unreachable at {}s", fmt_secs(t)),
            );
        } else if let Some(t) = self.failed.get(&host) {
            if !cleanup {
                let t = *t;
                self.violate(
                    Invariant::NoStrayEffects,
                    now,
                    format!("{what} issued to {host}, which failed at {}s", fmt_secs(t)),
                );
            }
        }
        match &c.action {
            Action::Stop { name } if !cleanup => self.check_stop(now, &host, c.role.as_deref(), name, fleet),
            Action::LockRelease if self.interrupted_before_any_change() => self.lock_releases += 1,
            Action::LockRelease => {
                self.lock_releases += 1;
                if !self.failures.is_empty() {
                    self.violate(
                        Invariant::Lock,
                        now,
                        format!("the lock is released after {} failed", self.failures[0]),
                    );
                }
                let plan = self.plan.clone();
                for h in &plan.hosts {
                    for r in plan.roles_on(h) {
                        if !self.done.contains(&(h.clone(), r.clone())) {
                            self.violate(
                                Invariant::Lock,
                                now,
                                format!("the lock is released before {h} [{r}] is done"),
                            );
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn check_stop(&mut self, now: Time, host: &str, role: Option<&str>, name: &str, fleet: &Fleet) {
        let role = role.unwrap_or_default().to_string();
        if !self.new_ready.contains_key(&(host.to_string(), role.clone())) {
            self.violate(
                Invariant::SafeStop,
                now,
                format!("{host} [{role}]: the old container {name} is stopped before the new one was seen ready"),
            );
        }
        let Some(c) = fleet.hosts.get(host).and_then(|h| h.containers.iter().find(|c| c.name == name)) else {
            return;
        };
        if !c.proxied {
            return;
        }
        // The new container must still serve when the old one stops.
        let new = self.new_name(&role);
        let h = &fleet.hosts[host];
        if let Some(n) = h.containers.iter().find(|x| x.name == new && x.health_iv.is_some()) {
            if !h.routable(n, now) {
                self.violate(
                    Invariant::SafeStop,
                    now,
                    format!(
                        "{host} [{role}]: the old container {name} is stopped while the new one {new} is not healthy"
                    ),
                );
            }
        }
        let Some(dir) = c.cord_dir.clone() else {
            let warned = self.warnings.iter().any(|(h, m)| h.as_deref() == Some(host) && m.contains(name));
            if !warned {
                self.violate(
                    Invariant::SafeStop,
                    now,
                    format!("{host}: {name} has no cord and is stopped without a warning to the user"),
                );
            }
            return;
        };
        let Some(&cut_at) = self.cut.get(&(host.to_string(), dir.clone())) else {
            return self.violate(
                Invariant::SafeStop,
                now,
                format!("{host}: the old container {name} is stopped but its cord {dir} was not cut"),
            );
        };
        let seen = self
            .out_of_rotation
            .get(&(host.to_string(), name.to_string()))
            .and_then(|ts| ts.iter().copied().find(|&t| t >= cut_at));
        let Some(seen) = seen else {
            return self.violate(
                Invariant::SafeStop,
                now,
                format!(
                    "{host}: the old container {name} is stopped without being seen unhealthy after its cord was cut at {}s",
                    fmt_secs(cut_at)
                ),
            );
        };
        // Safe once the proxy has had its pickup delay since the container
        // was seen unhealthy, or once the proxy no longer routes to it
        // (what route confirmation reads from its table).
        let proxy_dropped_it = !fleet.proxy_routes(host, c, now);
        if now < seen + self.pickup && !proxy_dropped_it {
            self.violate(
                Invariant::SafeStop,
                now,
                format!(
                    "{host}: the old container {name} is stopped {}s after it was seen unhealthy; the proxy needs {}s to notice",
                    fmt_secs(now - seen),
                    fmt_secs(self.pickup)
                ),
            );
        }
    }

    /// The observation `obs` was delivered to the deploy at `now`.
    pub fn on_observation(&mut self, now: Time, obs: &Observation) {
        let Some(e) = self.issued.get(&obs.id()).cloned() else { return };
        if obs.is_unreachable() {
            self.unreachable.entry(e.host.clone()).or_insert(now);
        }
        let ok = match obs {
            Observation::Exited { code: 0, stdout, .. } => Some(stdout.as_str()),
            _ => None,
        };
        match (&e.action, ok) {
            (Action::Status { name }, Some(out)) => {
                let Ok(docker::Probe { status: st, .. }) = docker::parse_probe(out) else { return };
                let key = (e.host.clone(), name.clone());
                if st.health == Some(Health::Unhealthy) || st.state != State::Running {
                    self.out_of_rotation.entry(key).or_default().push(now);
                }
                let role = e.role.clone().unwrap_or_default();
                let ready = st.state == State::Running && matches!(st.health, None | Some(Health::Healthy));
                if ready && *name == self.new_name(&role) {
                    self.new_ready.entry((e.host.clone(), role)).or_insert(now);
                }
            }
            (Action::CutCord { dir }, Some(_)) => {
                self.cut.insert((e.host.clone(), dir.clone()), now);
            }
            // Tied again: the old container serves again; a stop now needs a new cut.
            (Action::RetieCord { dir }, Some(_)) => {
                self.cut.remove(&(e.host.clone(), dir.clone()));
            }
            (Action::LockRelease, ok) => self.lock_release_ok = Some(ok.is_some()),
            _ => {}
        }
    }

    /// The deploy reported `ev` at `now`.
    pub fn on_event(&mut self, now: Time, ev: &Event) {
        if self.outcome.is_some() {
            self.violate(Invariant::Termination, now, format!("event after the deploy finished: {ev:?}"));
        }
        match ev {
            Event::Progress { host, role: Some(r), step: baton_core::effect::Step::Done } => {
                self.done.insert((host.clone(), r.clone()));
            }
            Event::HostFailed(f) => {
                self.failed.entry(f.host.clone()).or_insert(now);
                self.failures.push(f.clone());
            }
            Event::Warning { host, message } => self.warnings.push((host.clone(), message.clone())),
            Event::LockKept { .. } => self.lock_kept = true,
            Event::LockReleased { .. } => self.lock_released = true,
            Event::Finished(o) => {
                self.outcome = Some(o.clone());
                self.ended_at = Some(now);
            }
            _ => {}
        }
    }

    /// The driver gave the deploy its `steps`-th input at `now`.
    pub fn on_step(&mut self, now: Time, steps: usize) {
        if !self.over_bound && (steps > self.bounds.steps || now > self.bounds.time) {
            self.over_bound = true;
            self.violate(
                Invariant::Termination,
                now,
                format!(
                    "the run has taken {steps} steps and {}s, over its bound of {} steps and {}s",
                    fmt_secs(now),
                    self.bounds.steps,
                    fmt_secs(self.bounds.time)
                ),
            );
        }
    }

    /// The run is over at `end` (finished, or the driver has nothing left
    /// to give it); `fleet` is the fleet as the run left it, `in_flight` the
    /// commands issued and not answered.
    pub fn finish(&mut self, end: Time, fleet: &Fleet, in_flight: usize) {
        if in_flight > 0 && self.outcome.is_some() {
            self.violate(
                Invariant::Termination,
                end,
                format!("the deploy reported its outcome with {in_flight} command(s) still running"),
            );
        }
        let Some(outcome) = self.outcome.clone() else {
            let detail = if self.over_bound {
                "the run was stopped at its bound without finishing".to_string()
            } else {
                "the deploy waits for nothing and has not finished".to_string()
            };
            return self.violate(Invariant::Termination, end, detail);
        };
        self.check_gaps(end, fleet, &outcome);
        self.check_accounted(end, fleet, &outcome);
        self.check_lock(end, fleet, &outcome);
    }

    fn check_gaps(&mut self, end: Time, fleet: &Fleet, outcome: &Outcome) {
        let excusable = matches!(outcome, Outcome::Failed { .. }) && !any_new_became_healthy(fleet, end);
        for g in report::gaps(fleet, end) {
            // A container that dies on its own while the proxy routes to it
            // fails requests until the proxy notices, whatever the order of
            // the handover: what the checks hold baton to then is that it
            // ties the old cord again or reports the failure.
            let crashed_before = fleet.hosts[&g.host]
                .containers
                .iter()
                .any(|c| c.role == g.role && c.stop_issued.is_none() && c.exited.is_some_and(|e| e <= g.from_ms));
            if excusable || crashed_before {
                self.excused_gaps += 1;
                continue;
            }
            self.violate(
                Invariant::NoServingGap,
                g.from_ms,
                format!(
                    "{} [{}] has no serving target from {}s to {}s ({:?})",
                    g.host,
                    g.role,
                    fmt_secs(g.from_ms),
                    fmt_secs(g.to_ms),
                    g.kind
                ),
            );
        }
    }

    fn check_accounted(&mut self, end: Time, fleet: &Fleet, outcome: &Outcome) {
        let plan = self.plan.clone();
        for (host, h) in &fleet.hosts {
            for c in h.containers.iter().filter(|c| !c.preexisting) {
                let stopped = c.stop_issued.is_some() || c.exited.is_some();
                let current = c.version == plan.version
                    && c.name == self.new_name(&c.role)
                    && self.done.contains(&(host.clone(), c.role.clone()));
                let named = self.failures.iter().any(|f| f.host == *host && f.why.to_string().contains(&c.name));
                if !(stopped || current || named) {
                    self.violate(
                        Invariant::Accounted,
                        end,
                        format!(
                            "{host}: {} ({}) was started by the deploy, is not stopped, is not the booted version of a finished role, and no failure names it",
                            c.name, c.version
                        ),
                    );
                }
            }
            if *outcome != Outcome::Succeeded {
                continue;
            }
            for role in plan.roles_on(host) {
                let live: Vec<&str> = h
                    .containers
                    .iter()
                    .filter(|c| c.role == role && c.stop_issued.is_none() && c.exited.is_none())
                    .map(|c| c.name.as_str())
                    .collect();
                let new = self.new_name(&role);
                if !live.contains(&new.as_str()) {
                    self.violate(
                        Invariant::Accounted,
                        end,
                        format!("{host} [{role}]: the deploy succeeded but {new} is not running (running: {live:?})"),
                    );
                }
                for old in live.iter().filter(|n| **n != new) {
                    let warned = self.warnings.iter().any(|(wh, m)| wh.as_deref() == Some(host) && m.contains(old));
                    if !warned {
                        self.violate(
                            Invariant::Accounted,
                            end,
                            format!("{host} [{role}]: the deploy succeeded but the old container {old} still runs, and no warning says so"),
                        );
                    }
                }
            }
        }
    }

    fn check_lock(&mut self, end: Time, fleet: &Fleet, outcome: &Outcome) {
        let now_lock = fleet.hosts.get(&self.primary).and_then(|h| h.lock.clone());
        let ours = now_lock.is_some() && now_lock != self.initial_lock;
        let only_lock_cmds = self
            .issued
            .values()
            .all(|e| matches!(e.action, Action::LockAcquire { .. } | Action::LockRead | Action::LockRelease));
        let bad = |s: &mut Self, d: String| s.violate(Invariant::Lock, end, d);
        match outcome {
            Outcome::Succeeded => {
                if self.lock_releases != 1 {
                    bad(self, format!("the deploy succeeded and released the lock {} times", self.lock_releases));
                }
                match self.lock_release_ok {
                    Some(true) => {
                        if !self.lock_released {
                            bad(self, "the lock was released but no LockReleased event says so".into());
                        }
                        if ours {
                            bad(self, "the deploy succeeded but its lock is still held".into());
                        }
                    }
                    _ => {
                        let told = self.warnings.iter().any(|(_, m)| m.contains("lock"));
                        if !told {
                            bad(self, "releasing the lock failed and the user is not told".into());
                        }
                    }
                }
                if self.lock_kept {
                    bad(self, "the deploy succeeded but says it keeps the lock".into());
                }
            }
            Outcome::Failed { failures } if self.interrupted_before_any_change() => {
                match self.lock_release_ok {
                    Some(true) => {
                        if self.lock_kept {
                            bad(
                                self,
                                "interrupted before any change and released, yet it says the lock is kept".into(),
                            );
                        }
                        if ours {
                            bad(self, "interrupted before any change and released, yet the lock is held".into());
                        }
                    }
                    // The release failed or was never answered.
                    _ if ours && !self.lock_kept => {
                        bad(self, "interrupted; the lock may still be held and the user is not told".into())
                    }
                    _ => {}
                }
                if !failures.iter().any(|f| f.why.is_interrupt()) {
                    bad(self, "interrupted, but no failure says so".into());
                }
            }
            Outcome::Failed { failures } => {
                if self.lock_releases > 0 || self.lock_released {
                    bad(self, "the deploy failed but released the lock".into());
                }
                if ours && !self.lock_kept {
                    bad(
                        self,
                        format!(
                            "the deploy failed ({}) and left its lock held on {}, but the user is not told the lock is held",
                            failures.first().map(|f| f.to_string()).unwrap_or_default(),
                            self.primary
                        ),
                    );
                }
                if !ours && !only_lock_cmds {
                    bad(self, "the deploy changed hosts without holding the lock".into());
                }
                if failures.is_empty() {
                    bad(self, "the deploy failed and names no failure".into());
                }
            }
            Outcome::LockHeld { .. } => {
                if !only_lock_cmds || self.lock_releases > 0 {
                    bad(self, "another deploy holds the lock, yet this one changed hosts".into());
                }
                if now_lock != self.initial_lock {
                    bad(self, "another deploy holds the lock, yet this one changed it".into());
                }
            }
        }
    }
}
