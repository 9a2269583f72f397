//! `app boot` as a deterministic, sans-IO [`Machine`].
//!
//! [`Deploy`] is a thin orchestrator: it takes the lock on the primary
//! host, prepares the image on every host, boots groups of hosts
//! (`boot.limit`, `boot.wait` between groups), applies the interrupt rule
//! and releases (or keeps) the lock. On each host the roles boot one after
//! the other, each through its own [`handover::Handover`], which owns its
//! stage and moves itself (`handover.rs` and `waits.rs`).

mod handover;
mod locking;
mod outbox;
mod timing;
mod waits;

pub use timing::{StatusRead, Timing, DOCKER_HEALTH_RETRIES, NEW_CONTAINER_READ_MS};

use crate::commands as cmds;
use crate::effect::{Action, Effect, Event, Observation, Outcome, Step};
use crate::failure::{Failure, Said, Why};
use crate::lockwait::LockWait;
use crate::machine::{Machine, Reason, Wake};
use crate::plan::Plan;
use crate::rng::Rng;
use crate::shell::Command;
use crate::time::{fmt_secs, Time};
use handover::{Ctx, Handover, Input, RoleCtx};
use outbox::{Emit, Outbox, Owner};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Deliberately broken handovers. They exist only so that tests can show
/// that the exhaustive and property checks catch a wrong handover; a
/// default build does not compile them.
#[cfg(feature = "_internal_test_exports")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Broken {
    /// Stop the old container as soon as the new one is ready, without the
    /// cord handover.
    StopBeforeCut,
    /// Stop the old container as soon as it is unhealthy, before the proxy
    /// has had time to notice.
    NoPauseAfterUnhealthy,
    /// Cut the old container's cord before the new one is healthy (as soon
    /// as its cord is known, while the new one starts).
    CutBeforeHealthy,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// Taking the lock (waiting for it, with `--lock-wait`).
    Locking(Box<LockWait>),
    Preparing,
    Rollout {
        group: usize,
        next_group_at: Option<Time>,
    },
    Unlocking,
    Done,
}

/// Where one host's boot stands.
#[derive(Clone, Debug)]
enum HostState {
    /// Waiting for its group.
    Queued,
    /// Handing over its role `idx` (of the host's roles).
    Booting(Box<Handover>),
    Done,
    Failed,
}

#[derive(Clone, Debug)]
struct HostRun {
    host: String,
    roles: Vec<String>,
    idx: usize,
    state: HostState,
    /// Route confirmation is still possible on this host (configured, and
    /// the proxy's table has been readable): it outlives a role.
    routes_ok: bool,
}

/// The boot of one version over a fleet.
#[derive(Clone, Debug)]
pub struct Deploy {
    #[cfg(feature = "_internal_test_exports")]
    broken: Option<Broken>,
    /// The user asked to stop (SIGINT/SIGTERM): see [`Machine::handle_interrupt`].
    interrupted: bool,
    plan: Arc<Plan>,
    /// Each selected role, resolved once.
    roles: BTreeMap<String, RoleCtx>,
    rng: Rng,
    run_id: String,
    phase: Phase,
    hosts: Vec<HostRun>,
    groups: Vec<Vec<usize>>,
    prepared: Vec<Option<bool>>,
    failures: Vec<Failure>,
    out: Outbox,
    /// The latest time seen: time never goes backwards.
    now: Time,
    /// This machine takes and releases the lock itself (`app boot`); under
    /// a [`crate::sequence::Sequence`] that holds it (`deploy`), it does not.
    owns_lock: bool,
}

impl Deploy {
    /// Start a deploy at time `now`; `seed` gives the run id and name suffixes.
    pub fn new(plan: Plan, seed: u64, now: Time) -> Deploy {
        let step = crate::ops::lock_step(&plan);
        let lock = LockWait::new(step, cmds::lock_read(&plan.config), plan.lock_wait, now);
        let mut rng = Rng::new(seed);
        let run_id = rng.hex(32);
        let roles = plan.roles.iter().filter_map(|r| Some((r.clone(), RoleCtx::new(&plan, r, &run_id)?))).collect();
        let routes = plan.config.baton.routes_command.is_some();
        let hosts: Vec<HostRun> = plan
            .hosts
            .iter()
            .map(|h| HostRun {
                host: h.clone(),
                roles: plan.roles_on(h),
                idx: 0,
                state: HostState::Queued,
                routes_ok: routes,
            })
            .collect();
        let groups = plan
            .groups()
            .into_iter()
            .map(|g| g.iter().map(|h| plan.hosts.iter().position(|x| x == h).unwrap_or(0)).collect())
            .collect();
        let mut d = Deploy {
            #[cfg(feature = "_internal_test_exports")]
            broken: None,
            interrupted: false,
            prepared: vec![None; hosts.len()],
            plan: Arc::new(plan),
            roles,
            rng,
            run_id,
            phase: Phase::Locking(Box::new(lock)),
            hosts,
            groups,
            failures: vec![],
            out: Outbox::default(),
            now,
            owns_lock: true,
        };
        d.warn_without_routes();
        let primary = d.primary();
        d.out.progress(&primary, None, Step::AcquireLock);
        d.pump_lock();
        d
    }

    /// The boot as one part of a command that already holds the lock
    /// (`deploy`, `redeploy`, `rollback`): it starts with the images and
    /// ends without releasing the lock, which the command releases.
    pub fn under_lock(plan: Plan, seed: u64, now: Time) -> Deploy {
        let mut d = Deploy::new(plan, seed, now);
        d.out = Outbox::default();
        d.owns_lock = false;
        d.warn_without_routes();
        d.prepare_images();
        d
    }

    /// A deliberately broken variant, for tests of the checks only.
    #[cfg(feature = "_internal_test_exports")]
    pub fn broken(mut self, b: Broken) -> Deploy {
        self.broken = Some(b);
        self
    }

    /// The run id (32 hex), part of every cord directory of this run.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    fn primary(&self) -> String {
        self.plan.config.primary_host().to_string()
    }

    fn warn_without_routes(&mut self) {
        let cfg = &self.plan.config;
        if cfg.baton.routes_command.is_some() || !self.roles.values().any(|r| r.proxied) {
            return;
        }
        let pause = cfg.baton.proxy_pickup_ms + cfg.baton.pause_margin_ms;
        self.out.warn(
            None,
            format!(
                "baton.routes is not set: baton pauses {}s (baton.proxy_pickup + baton.pause_margin) for the proxy to notice each change, which is a guess; set baton.routes: traefik to confirm routes instead",
                fmt_secs(pause)
            ),
        );
    }

    fn emit_lock(&mut self, poll: bool, action: Action, cmd: Command) {
        let primary = self.primary();
        self.out.emit(Owner::Lock, Emit { host: &primary, role: None, poll, action, cmd });
    }

    /// Call `f` with host `i`'s state and the context of its current role.
    fn with_ctx(&mut self, i: usize, f: impl FnOnce(&mut HostState, &str, &mut Ctx<'_>)) {
        #[cfg(feature = "_internal_test_exports")]
        let broken = self.broken;
        let Deploy { plan, roles, run_id, rng, out, hosts, interrupted, .. } = self;
        let HostRun { host, state, roles: host_roles, idx, routes_ok } = &mut hosts[i];
        let Some(role) = host_roles.get(*idx).and_then(|r| roles.get(r)) else { return };
        let mut ctx = Ctx {
            plan,
            role,
            run_id,
            rng,
            out,
            owner: Owner::Host(i),
            interrupted: *interrupted,
            routes_ok,
            #[cfg(feature = "_internal_test_exports")]
            broken,
        };
        f(state, host, &mut ctx);
    }

    /// Give host `i`'s handover an input, then settle the host.
    fn on_host(&mut self, i: usize, now: Time, f: impl FnOnce(&mut Handover, &mut Ctx<'_>, Time)) {
        self.with_ctx(i, |state, _, ctx| {
            if let HostState::Booting(h) = state {
                f(h, ctx, now)
            }
        });
        self.settle(i);
    }

    /// Start host `i`'s current role.
    fn begin(&mut self, i: usize) {
        self.with_ctx(i, |state, host, ctx| *state = HostState::Booting(Box::new(Handover::start(host, ctx))));
    }

    /// After host `i`'s handover moved: collect its failure, or go on to the
    /// host's next role.
    fn settle(&mut self, i: usize) {
        let h = &mut self.hosts[i];
        let HostState::Booting(ho) = &h.state else { return };
        if let Some(f) = ho.failure() {
            self.failures.push(f.clone());
            h.state = HostState::Failed;
        } else if ho.is_done() && h.idx + 1 >= h.roles.len() {
            h.state = HostState::Done;
        } else if ho.is_done() && self.interrupted {
            let why = Why::InterruptedAfterRole { rest: h.roles[h.idx + 1..].to_vec() };
            let f = Failure { host: h.host.clone(), role: Some(h.roles[h.idx].clone()), step: None, why };
            h.state = HostState::Failed;
            self.out.event(Event::HostFailed(f.clone()));
            self.failures.push(f);
        } else if ho.is_done() {
            h.idx += 1;
            self.begin(i);
        }
    }
}

impl Machine for Deploy {
    fn poll_effect(&mut self) -> Option<Effect> {
        self.out.effects.pop_front()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.out.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Wake> {
        match &self.phase {
            Phase::Done => return None,
            Phase::Locking(lock) => return lock.poll_timeout(),
            _ => {}
        }
        let mut wake = None;
        for h in &self.hosts {
            if let HostState::Booting(ho) = &h.state {
                wake = Wake::earliest(wake, ho.wake(&h.roles[h.idx]));
            }
        }
        if let Phase::Rollout { next_group_at: Some(at), .. } = self.phase {
            wake = Wake::earliest(wake, Some(Wake::new(at, Reason::NextGroup)));
        }
        wake
    }

    fn is_finished(&self) -> bool {
        self.phase == Phase::Done
    }

    fn handle_observation(&mut self, obs: &Observation, now: Time) -> bool {
        let now = self.clock(now);
        let Some(owner) = self.out.pending.remove(&obs.id()) else {
            return false;
        };
        match owner {
            Owner::Lock => self.on_lock(obs),
            Owner::Waiting(local) => {
                self.with_lock(|lock| {
                    lock.handle_observation(&obs.with_id(local), now);
                });
            }
            Owner::Prepare(i) => self.on_prepared(i, obs),
            Owner::Host(i) => {
                self.on_host(i, now, |h, ctx, now| h.handle(ctx, Input::Obs(obs), now));
                self.after_host_change(now);
            }
        }
        true
    }

    fn handle_timeout(&mut self, now: Time) {
        let now = self.clock(now);
        if self.with_lock(|lock| lock.handle_timeout(now)) {
            return;
        }
        if let Phase::Rollout { group, next_group_at: Some(at) } = self.phase {
            if at <= now {
                self.phase = Phase::Rollout { group, next_group_at: None };
                self.start_group(group);
            }
        }
        for i in 0..self.hosts.len() {
            let h = &self.hosts[i];
            let due = matches!(&h.state, HostState::Booting(ho) if ho.wake("").is_some_and(|w| w.at <= now));
            if due {
                self.on_host(i, now, |h, ctx, now| h.handle(ctx, Input::Timer, now));
            }
        }
        self.after_host_change(now);
    }

    /// The user asked to stop (the first Ctrl-C or SIGTERM). No new host,
    /// group or role starts. A host whose old cord is intact stops at its
    /// next safe point, as soon as its command in flight completes, leaving
    /// its containers as they are (the old one keeps its cord and serves; a
    /// new one may run beside it). A host whose cord was already cut
    /// finishes its handover: its new container serves, and stopping
    /// halfway would leave the old one out of rotation but running. The lock
    /// stays held unless nothing had been started yet.
    fn handle_interrupt(&mut self, now: Time) {
        let now = self.clock(now);
        if self.interrupted || self.phase == Phase::Done {
            return;
        }
        self.interrupted = true;
        self.out.warn(
            None,
            "interrupted: bringing every host to a safe point (press Ctrl-C again to abort at once)".into(),
        );
        match self.phase {
            Phase::Rollout { group, next_group_at: Some(_) } => {
                self.phase = Phase::Rollout { group, next_group_at: None };
                self.interrupted_stop(None);
            }
            Phase::Rollout { .. } => {
                for i in 0..self.hosts.len() {
                    self.on_host(i, now, |h, ctx, now| h.interrupt(ctx, now));
                }
                self.after_host_change(now);
            }
            Phase::Locking(_) => {
                self.with_lock(|lock| lock.handle_interrupt(now));
            }
            // Prepare commands finish; their handlers see the flag.
            _ => {}
        }
    }

    /// Per host, what may be left there if baton stopped right now.
    fn state_notes(&self) -> Vec<(String, String)> {
        self.hosts
            .iter()
            .filter_map(|h| match &h.state {
                HostState::Booting(ho) if !ho.is_done() && ho.failure().is_none() => {
                    let role = self.roles.get(&h.roles[h.idx])?;
                    Some((h.host.clone(), ho.note(role)))
                }
                _ => None,
            })
            .collect()
    }
}

impl Deploy {
    /// `now`, or the latest time already seen if `now` is earlier.
    fn clock(&mut self, now: Time) -> Time {
        self.now = self.now.max(now);
        self.now
    }

    fn finish(&mut self, outcome: Outcome) {
        self.phase = Phase::Done;
        self.out.event(Event::Finished(outcome));
    }

    fn keep_lock_and_fail(&mut self) {
        let mut hosts: Vec<String> = vec![];
        for f in &self.failures {
            if !hosts.contains(&f.host) {
                hosts.push(f.host.clone());
            }
        }
        let what =
            if self.interrupted { "was interrupted".to_string() } else { format!("failed on {}", hosts.join(", ")) };
        self.out.event(Event::LockKept {
            host: self.primary(),
            reason: format!(
                "the deploy {what}; the lock stays held so that nobody deploys over a half-done fleet. Check the hosts, then run `baton lock release` and boot again"
            ),
        });
        let failures = self.failures.clone();
        self.finish(Outcome::Failed { failures });
    }

    /// What came of releasing the lock.
    fn on_lock(&mut self, obs: &Observation) {
        if self.phase == Phase::Unlocking {
            self.lock_released(obs);
        }
    }

    fn lock_released(&mut self, obs: &Observation) {
        let primary = self.primary();
        let ok = matches!(obs, Observation::Exited { code: 0, .. });
        let nothing_booted = self.interrupted && !self.booted_any();
        if ok {
            self.out.event(Event::LockReleased { host: primary.clone() });
        }
        match (ok, nothing_booted) {
            (true, true) => {
                let why = Why::InterruptedBeforeStart { released: true };
                let f = Failure::new(&primary, None, Step::AcquireLock, why);
                self.finish(Outcome::Failed { failures: vec![f] });
            }
            (true, false) => self.finish(Outcome::Succeeded),
            (false, true) => {
                // Nothing was booted: this is no success, whatever the lock says.
                self.out.event(Event::LockKept {
                    host: primary.clone(),
                    reason: format!(
                        "releasing it failed ({}); check with `baton lock status` and release it with `baton lock release`",
                        Said::of(obs)
                    ),
                });
                let why = Why::InterruptedBeforeStart { released: false };
                let f = Failure::new(&primary, None, Step::ReleaseLock, why);
                self.finish(Outcome::Failed { failures: vec![f] });
            }
            (false, false) => {
                self.out.warn(
                    Some(&primary),
                    format!(
                        "every host booted {}, but the lock could not be released ({}); run `baton lock release`",
                        self.plan.version,
                        Said::of(obs)
                    ),
                );
                self.finish(Outcome::Succeeded);
            }
        }
    }

    /// The lock is taken: on every host, audit, pull if missing, tag latest.
    fn prepare_images(&mut self) {
        self.phase = Phase::Preparing;
        let (cfg, plan) = (&self.plan.config, self.plan.clone());
        let image = cmds::image_ref(cfg, &plan.version);
        let message = format!("Tagging {image} as the latest image");
        let text = cmds::audit_text(cfg, &plan.performer, None, &message);
        for (i, host) in plan.hosts.iter().enumerate() {
            let c = Command::and_all([
                cmds::audit(&plan.config, &plan.performer, None, &message),
                cmds::pull_if_missing_and_tag_latest(&plan.config, &plan.version),
            ]);
            self.out.progress(host, None, Step::PrepareImage);
            let action = Action::PrepareImage { version: plan.version.clone() };
            self.out.emit(Owner::Prepare(i), Emit { host, role: None, poll: false, action, cmd: c });
            self.out.event(Event::Audit { host: host.clone(), role: None, text: text.clone() });
        }
    }

    fn on_prepared(&mut self, i: usize, obs: &Observation) {
        let ok = matches!(obs, Observation::Exited { code: 0, .. });
        self.prepared[i] = Some(ok);
        if !ok {
            let hint = matches!(obs, Observation::Exited { stderr, .. }
                if ["pull access denied", "unauthorized", "not found"].iter().any(|s| stderr.contains(s)));
            let why = Why::Pull { said: Said::of(obs), hint };
            let f = Failure::new(&self.hosts[i].host, None, Step::PrepareImage, why);
            self.out.event(Event::HostFailed(f.clone()));
            self.failures.push(f);
        }
        if self.prepared.iter().all(Option::is_some) {
            if self.interrupted && self.failures.is_empty() {
                // Nothing has changed yet: give the lock back.
                self.release_lock();
            } else if self.failures.is_empty() {
                self.phase = Phase::Rollout { group: 0, next_group_at: None };
                self.start_group(0);
            } else {
                self.keep_lock_and_fail();
            }
        }
    }

    fn start_group(&mut self, g: usize) {
        if self.interrupted {
            return;
        }
        for i in self.groups[g].clone() {
            if self.hosts[i].roles.is_empty() {
                self.hosts[i].state = HostState::Done;
            } else {
                self.begin(i);
            }
        }
    }

    fn finished(&self, i: usize) -> bool {
        matches!(self.hosts[i].state, HostState::Done | HostState::Failed)
    }

    /// After any host moved: start the next group, or finish.
    fn after_host_change(&mut self, now: Time) {
        let Phase::Rollout { group, next_group_at: None } = self.phase else {
            return;
        };
        if !self.groups[group].iter().all(|&i| self.finished(i)) {
            return;
        }
        if self.interrupted {
            self.interrupted_stop(Some(group));
        } else if !self.failures.is_empty() {
            // A failed group stops the rollout; later groups never start.
            self.keep_lock_and_fail();
        } else if group + 1 < self.groups.len() {
            let wait = self.plan.config.boot.wait_ms;
            if wait == 0 {
                self.phase = Phase::Rollout { group: group + 1, next_group_at: None };
                self.start_group(group + 1);
                self.after_host_change(now);
            } else {
                self.phase = Phase::Rollout { group: group + 1, next_group_at: Some(now + wait) };
            }
        } else {
            self.release_lock();
        }
    }

    fn release_lock(&mut self) {
        if !self.owns_lock {
            // The command that holds the lock releases it after this part.
            return match self.interrupted && !self.booted_any() {
                true => {
                    let not_booted = self.plan.hosts.clone();
                    let f =
                        Failure { host: self.primary(), role: None, step: None, why: Why::Interrupted { not_booted } };
                    self.finish(Outcome::Failed { failures: vec![f] })
                }
                false => self.finish(Outcome::Succeeded),
            };
        }
        self.phase = Phase::Unlocking;
        self.out.progress(&self.primary(), None, Step::ReleaseLock);
        self.emit_lock(false, Action::LockRelease, cmds::lock_release(&self.plan.config));
    }

    /// True once any host started its boot.
    fn booted_any(&self) -> bool {
        self.hosts.iter().any(|h| !matches!(h.state, HostState::Queued))
    }

    /// End an interrupted rollout: the lock stays held, and the user is told
    /// which hosts were not booted.
    fn interrupted_stop(&mut self, current: Option<usize>) {
        let not_booted: Vec<String> = self
            .groups
            .iter()
            .enumerate()
            .filter(|(g, _)| current.is_none_or(|c| *g > c))
            .flat_map(|(_, hs)| hs.iter().filter(|&&i| matches!(self.hosts[i].state, HostState::Queued)))
            .map(|&i| self.hosts[i].host.clone())
            .collect();
        let f = Failure { host: self.primary(), role: None, step: None, why: Why::Interrupted { not_booted } };
        self.failures.push(f);
        self.keep_lock_and_fail();
    }
}
