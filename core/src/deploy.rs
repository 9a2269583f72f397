//! `app boot` as a deterministic, sans-IO state machine.
//!
//! Input comes in through [`Deploy::handle_observation`] and
//! [`Deploy::handle_timeout`]; output is pulled with [`Deploy::poll_effect`],
//! [`Deploy::poll_timeout`] and [`Deploy::poll_event`]. A driver drains all
//! three after every input. The machine never sleeps: every wait is a
//! deadline kept in its state.
//!
//! Run: lock on the primary host → prepare the image on every host →
//! boot groups of hosts (`boot.limit`, `boot.wait` between groups) → release
//! the lock. On each host the roles boot one after the other, each through
//! the cord handover that [`Stage`] spells out step by step.

use crate::commands as cmds;
use crate::config::Config;
use crate::docker::{self, Health, State, Status};
use crate::effect::{Action, Cmd, Effect, EffectId, Event, Failure, Observation, Outcome, Step};
use crate::plan::Plan;
use crate::rng::Rng;
use crate::shell::Command;
use crate::time::{fmt_secs, Millis, Time};
use std::collections::{BTreeMap, VecDeque};

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
    pub fn for_role(cfg: &Config, role: &crate::config::Role) -> Timing {
        let hc = cfg.role_healthcheck(role).unwrap_or_default();
        let n = hc.max_attempts as u64;
        let kamal_budget = n * (n + 1) / 2 * 1000;
        let docker_needs = (DOCKER_HEALTH_RETRIES + 1) * hc.interval_ms + cfg.baton.poll_interval_ms;
        Timing {
            healthy_budget: kamal_budget.max(hc.interval_ms + cfg.baton.poll_interval_ms),
            unhealthy_budget: kamal_budget.max(docker_needs),
            poll: cfg.baton.poll_interval_ms,
            health_interval: cfg
                .health_cmd(role)
                .and(cfg.role_healthcheck(role))
                .map(|h| h.interval_ms)
                .filter(|_| !role.options.iter().any(|(k, _)| k.contains("health"))),
            proxy_pause: cfg.baton.proxy_pickup_ms + cfg.baton.pause_margin_ms,
            route_budget: (5 * cfg.baton.proxy_pickup_ms).max(10_000) + cfg.baton.pause_margin_ms,
            readiness_delay: cfg.readiness_delay_ms,
        }
    }
}

/// Where one (host, role) handover stands. One variant per step; the
/// `match` in [`Deploy::advance`] is the whole handover.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Stage {
    /// Waiting for its group.
    Queued,
    Listing,
    Renaming,
    Auditing,
    TyingCord,
    Starting,
    /// A wait on a container's health: `target` healthy (new) or unhealthy (old).
    Waiting {
        step: Step,
        deadline: Time,
        next_poll: Option<Time>,
        last: Option<String>,
    },
    /// A pause, until `until`.
    Pausing {
        step: Step,
        until: Time,
    },
    /// After the readiness delay, check the container is still running.
    Confirming,
    ReadingMounts,
    /// Reading the IP addresses of the new (or old) container.
    ReadingAddress {
        old: bool,
    },
    /// Reading the proxy's routing table until it routes to the new
    /// container (`present`) or no longer to the old one.
    Routing {
        present: bool,
        deadline: Time,
        next_poll: Option<Time>,
    },
    CuttingCord,
    StoppingOld,
    /// Cleanup after a failure: stop the new container, then fail.
    StoppingNew {
        failure: Failure,
    },
    RoleDone,
    Failed,
}

#[derive(Clone, Debug)]
struct HostRun {
    host: String,
    roles: Vec<String>,
    role_idx: usize,
    stage: Stage,
    /// The effect in flight, if any (a host runs one command at a time).
    inflight: Option<EffectId>,
    /// The old container of the current role, if one was running.
    old: Option<String>,
    new_started: bool,
    /// IP addresses of the new and the old container, for route confirmation.
    new_ips: Vec<String>,
    old_ips: Vec<String>,
    /// Route confirmation is still possible on this host (configured, and
    /// the proxy's table has been readable).
    routes_ok: bool,
    /// The old container's cord, once read (its address too, in
    /// `old_ips`): `Some(None)` when it has none. Read while the new one
    /// starts, the handover needs no read between "ready" and the cut.
    old_cord: Option<Option<String>>,
    /// The new container of the current role was seen ready.
    new_ready: bool,
    /// Further live containers of the role, handed over from after `old`.
    more_old: Vec<String>,
    /// When `docker run` of the new container was sent, and when the last
    /// status read was sent (for [`Deploy::next_status_read`]).
    run_sent: Time,
    status_sent: Time,
}

impl HostRun {
    fn role(&self) -> &str {
        &self.roles[self.role_idx]
    }
    fn finished(&self) -> bool {
        matches!(self.stage, Stage::Failed) || (self.role_idx + 1 >= self.roles.len() && self.stage == Stage::RoleDone)
    }
    fn timer(&self) -> Option<Time> {
        match &self.stage {
            Stage::Waiting { next_poll, .. } => *next_poll,
            Stage::Pausing { until, .. } => Some(*until),
            Stage::Routing { next_poll, .. } => *next_poll,
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    Locking,
    ReadingLock,
    Preparing,
    Rollout { group: usize, next_group_at: Option<Time> },
    Unlocking,
    Done,
}

/// What an effect's observation is for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Owner {
    Lock,
    Prepare(usize),
    Host(usize),
}

/// Deliberately broken handovers. They exist only so that tests can show
/// that the exhaustive and property checks catch a wrong handover; nothing
/// else constructs them.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Broken {
    /// Stop the old container as soon as the new one is ready, without the
    /// cord handover.
    StopBeforeCut,
    /// Stop the old container as soon as it is unhealthy, before the proxy
    /// has had time to notice.
    NoPauseAfterUnhealthy,
}

/// The boot of one version over a fleet.
#[derive(Debug)]
pub struct Deploy {
    broken: Option<Broken>,
    /// The user asked to stop (SIGINT/SIGTERM): see [`Deploy::handle_interrupt`].
    interrupted: bool,
    plan: std::sync::Arc<Plan>,
    /// Why taking the lock failed, kept while its details are read.
    pending_lock_error: Option<String>,
    rng: Rng,
    run_id: String,
    next_id: u64,
    phase: Phase,
    hosts: Vec<HostRun>,
    groups: Vec<Vec<usize>>,
    pending: BTreeMap<EffectId, Owner>,
    prepared: Vec<Option<bool>>,
    failures: Vec<Failure>,
    effects: VecDeque<Effect>,
    events: VecDeque<Event>,
}

/// Input to a host's handover.
enum Input<'a> {
    Start,
    Obs(&'a Observation),
    Timer,
}

/// What a failed command said, for error messages.
fn said(obs: &Observation) -> String {
    match obs {
        Observation::Exited { code, stderr, stdout, .. } => {
            let msg = if stderr.trim().is_empty() { stdout.trim() } else { stderr.trim() };
            if msg.is_empty() {
                format!("exit code {code}")
            } else {
                format!("exit code {code}: {msg}")
            }
        }
        Observation::Unreachable { error, .. } => format!("host unreachable: {error}"),
        Observation::TimedOut { after_ms, .. } => format!("no answer within {}s", fmt_secs(*after_ms)),
    }
}

impl Deploy {
    /// Start a deploy at time `now`; `seed` gives the run id and name suffixes.
    pub fn new(plan: Plan, seed: u64, now: Time) -> Deploy {
        // Nothing waits at the start; `now` anchors the caller's clock only.
        let _ = now;
        let mut rng = Rng::new(seed);
        let run_id = rng.hex(32);
        let hosts: Vec<HostRun> = plan
            .hosts
            .iter()
            .map(|h| HostRun {
                host: h.clone(),
                roles: plan.roles_on(h),
                role_idx: 0,
                stage: Stage::Queued,
                inflight: None,
                old: None,
                new_started: false,
                new_ips: vec![],
                old_ips: vec![],
                routes_ok: plan.config.baton.routes_command.is_some(),
                old_cord: None,
                new_ready: false,
                more_old: vec![],
                run_sent: 0,
                status_sent: 0,
            })
            .collect();
        let groups = plan
            .groups()
            .into_iter()
            .map(|g| g.iter().map(|h| plan.hosts.iter().position(|x| x == h).unwrap_or(0)).collect())
            .collect();
        let mut d = Deploy {
            broken: None,
            interrupted: false,
            prepared: vec![None; hosts.len()],
            plan: std::sync::Arc::new(plan),
            pending_lock_error: None,
            rng,
            run_id,
            next_id: 0,
            phase: Phase::Locking,
            hosts,
            groups,
            pending: BTreeMap::new(),
            failures: vec![],
            effects: VecDeque::new(),
            events: VecDeque::new(),
        };
        let cfg = &d.plan.config;
        if cfg.baton.routes_command.is_none()
            && d.plan.roles.iter().any(|r| cfg.role(r).is_some_and(|r| cfg.runs_traefik(r)))
        {
            let pause = cfg.baton.proxy_pickup_ms + cfg.baton.pause_margin_ms;
            d.events.push_back(Event::Warning {
                host: None,
                message: format!(
                    "baton.routes is not set: baton pauses {}s (baton.proxy_pickup + baton.pause_margin) for the proxy to notice each change, which is a guess; set baton.routes: traefik to confirm routes instead",
                    fmt_secs(pause)
                ),
            });
        }
        let primary = d.primary();
        let b64 = crate::ops::lock_details_b64(
            &d.plan.lock.holder,
            &d.plan.lock.at_utc,
            &d.plan.version,
            &d.plan.lock.message,
        );
        let c = cmds::lock_acquire(&d.plan.config, &b64);
        d.progress(&primary, None, Step::AcquireLock);
        d.emit(Owner::Lock, false, &primary, None, Action::LockAcquire, c);
        d
    }

    /// A deliberately broken variant, for tests of the checks only.
    #[doc(hidden)]
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

    /// The outcome, once finished.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Done
    }

    fn primary(&self) -> String {
        self.plan.config.primary_host().to_string()
    }

    fn emit(
        &mut self,
        owner: Owner,
        poll: bool,
        host: &str,
        role: Option<&str>,
        action: Action,
        cmd: Command,
    ) -> EffectId {
        let id = EffectId(self.next_id);
        self.next_id += 1;
        let c = Cmd { id, host: host.to_string(), role: role.map(str::to_string), action, cmd, stdin: None };
        self.effects.push_back(if poll { Effect::Poll(c) } else { Effect::RunCmd(c) });
        if let Owner::Host(i) = owner {
            self.hosts[i].inflight = Some(id);
        }
        self.pending.insert(id, owner);
        id
    }

    /// Emit a command of host `i`'s current role.
    fn emit_for(&mut self, i: usize, poll: bool, action: Action, cmd: Command) -> EffectId {
        let host = self.hosts[i].host.clone();
        let role = self.hosts[i].role().to_string();
        self.emit(Owner::Host(i), poll, &host, Some(&role), action, cmd)
    }

    /// Report that host `i`'s current role moved to `step`.
    fn progress_for(&mut self, i: usize, step: Step) {
        let host = self.hosts[i].host.clone();
        let role = self.hosts[i].role().to_string();
        self.progress(&host, Some(&role), step);
    }

    fn progress(&mut self, host: &str, role: Option<&str>, step: Step) {
        self.events.push_back(Event::Progress { host: host.to_string(), role: role.map(str::to_string), step });
    }

    /// Next effect to carry out.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// Next event to report.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Deploy::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Time> {
        if self.phase == Phase::Done {
            return None;
        }
        let hosts = self.hosts.iter().filter_map(|h| if h.inflight.is_none() { h.timer() } else { None });
        let group = match self.phase {
            Phase::Rollout { next_group_at, .. } => next_group_at,
            _ => None,
        };
        hosts.chain(group).min()
    }

    /// Tell the machine what came of an effect. Returns false for an id it
    /// does not know or no longer waits for (it is then ignored).
    pub fn handle_observation(&mut self, obs: &Observation, now: Time) -> bool {
        let Some(owner) = self.pending.remove(&obs.id()) else {
            return false;
        };
        match owner {
            Owner::Lock => self.on_lock(obs, now),
            Owner::Prepare(i) => self.on_prepared(i, obs, now),
            Owner::Host(i) => {
                self.hosts[i].inflight = None;
                self.advance(i, Input::Obs(obs), now);
                self.after_host_change(now);
            }
        }
        true
    }

    /// Let deadlines that have come due act.
    pub fn handle_timeout(&mut self, now: Time) {
        if let Phase::Rollout { group, next_group_at: Some(at) } = self.phase {
            if at <= now {
                self.phase = Phase::Rollout { group, next_group_at: None };
                self.start_group(group, now);
            }
        }
        for i in 0..self.hosts.len() {
            let h = &self.hosts[i];
            if h.inflight.is_none() && h.timer().is_some_and(|t| t <= now) {
                self.advance(i, Input::Timer, now);
            }
        }
        self.after_host_change(now);
    }

    fn finish(&mut self, outcome: Outcome) {
        self.phase = Phase::Done;
        self.events.push_back(Event::Finished(outcome));
    }

    fn keep_lock_and_fail(&mut self) {
        let primary = self.primary();
        let mut hosts: Vec<String> = vec![];
        for f in &self.failures {
            if !hosts.contains(&f.host) {
                hosts.push(f.host.clone());
            }
        }
        let what =
            if self.interrupted { "was interrupted".to_string() } else { format!("failed on {}", hosts.join(", ")) };
        self.events.push_back(Event::LockKept {
            host: primary,
            reason: format!(
                "the deploy {what}; the lock stays held so that nobody deploys over a half-done fleet. Check the hosts, then run `baton lock release` and boot again"
            ),
        });
        let failures = self.failures.clone();
        self.finish(Outcome::Failed { failures });
    }

    fn on_lock(&mut self, obs: &Observation, now: Time) {
        let primary = self.primary();
        match (&self.phase, obs) {
            (Phase::Locking, Observation::Exited { code: 0, .. }) if self.interrupted => self.release_lock(),
            (Phase::Locking, Observation::Exited { code: 0, .. }) => {
                self.phase = Phase::Preparing;
                let version = self.plan.version.clone();
                let image = cmds::image_ref(&self.plan.config, &version);
                let text = cmds::audit_text(
                    &self.plan.config,
                    &self.plan.performer,
                    None,
                    &format!("Tagging {image} as the latest image"),
                );
                for i in 0..self.hosts.len() {
                    let host = self.hosts[i].host.clone();
                    let c = Command::and_all([
                        cmds::audit(
                            &self.plan.config,
                            &self.plan.performer,
                            None,
                            &format!("Tagging {image} as the latest image"),
                        ),
                        cmds::pull_if_missing_and_tag_latest(&self.plan.config, &version),
                    ]);
                    self.progress(&host, None, Step::PrepareImage);
                    self.emit(
                        Owner::Prepare(i),
                        false,
                        &host,
                        None,
                        Action::PrepareImage { version: version.clone() },
                        c,
                    );
                    self.events.push_back(Event::Audit { host, role: None, text: text.clone() });
                }
            }
            (Phase::Locking, Observation::Exited { .. }) => {
                // mkdir failed: most likely another deploy holds the lock. Read it.
                self.phase = Phase::ReadingLock;
                let c = cmds::lock_read(&self.plan.config);
                self.emit(Owner::Lock, true, &primary, None, Action::LockRead, c);
                self.pending_lock_error = Some(said(obs));
            }
            (Phase::Locking, _) => {
                let f = Failure { host: primary.clone(), role: None, step: Step::AcquireLock, error: said(obs) };
                self.events.push_back(Event::HostFailed(f.clone()));
                if matches!(obs, Observation::Unreachable { .. } | Observation::TimedOut { .. }) {
                    // The command may have run before the answer was lost.
                    self.events.push_back(Event::LockKept {
                        host: primary,
                        reason: "the answer to taking the lock was lost, so the lock may be held now; check with `baton lock status` and release it with `baton lock release`".into(),
                    });
                }
                self.finish(Outcome::Failed { failures: vec![f] });
            }
            (Phase::ReadingLock, Observation::Exited { code: 0, stdout, .. }) => {
                let details = crate::ops::decode_lock_details(stdout);
                self.finish(Outcome::LockHeld { details });
            }
            (Phase::ReadingLock, _) => {
                let first = self.pending_lock_error.take().unwrap_or_default();
                let f = Failure { host: primary, role: None, step: Step::AcquireLock, error: first };
                self.events.push_back(Event::HostFailed(f.clone()));
                self.finish(Outcome::Failed { failures: vec![f] });
            }
            (Phase::Unlocking, Observation::Exited { code: 0, .. }) if self.interrupted && !self.booted_any() => {
                self.events.push_back(Event::LockReleased { host: primary.clone() });
                let f = Failure {
                    host: primary,
                    role: None,
                    step: Step::AcquireLock,
                    error: "interrupted before any container was started; nothing changed and the lock was released"
                        .into(),
                };
                self.finish(Outcome::Failed { failures: vec![f] });
            }
            (Phase::Unlocking, Observation::Exited { code: 0, .. }) => {
                self.events.push_back(Event::LockReleased { host: primary });
                self.finish(Outcome::Succeeded);
            }
            (Phase::Unlocking, _) if self.interrupted && !self.booted_any() => {
                // Nothing was booted: this is no success, whatever the lock says.
                self.events.push_back(Event::LockKept {
                    host: primary.clone(),
                    reason: format!(
                        "releasing it failed ({}); check with `baton lock status` and release it with `baton lock release`",
                        said(obs)
                    ),
                });
                let f = Failure {
                    host: primary,
                    role: None,
                    step: Step::ReleaseLock,
                    error: "interrupted before any container was started; nothing changed, but the lock could not be released"
                        .into(),
                };
                self.finish(Outcome::Failed { failures: vec![f] });
            }
            (Phase::Unlocking, _) => {
                self.events.push_back(Event::Warning {
                    host: Some(primary.clone()),
                    message: format!(
                        "every host booted {}, but the lock could not be released ({}); run `baton lock release`",
                        self.plan.version,
                        said(obs)
                    ),
                });
                self.finish(Outcome::Succeeded);
            }
            _ => {}
        }
        let _ = now;
    }

    fn on_prepared(&mut self, i: usize, obs: &Observation, now: Time) {
        let ok = matches!(obs, Observation::Exited { code: 0, .. });
        self.prepared[i] = Some(ok);
        if !ok {
            let mut error = said(obs);
            if let Observation::Exited { stderr, .. } = obs {
                if stderr.contains("pull access denied")
                    || stderr.contains("unauthorized")
                    || stderr.contains("not found")
                {
                    error.push_str(" (is the image pushed, and is the host logged in to the registry?)");
                }
            }
            let f = Failure { host: self.hosts[i].host.clone(), role: None, step: Step::PrepareImage, error };
            self.events.push_back(Event::HostFailed(f.clone()));
            self.failures.push(f);
        }
        if self.prepared.iter().all(Option::is_some) {
            if self.interrupted && self.failures.is_empty() {
                // Nothing has changed yet: give the lock back.
                self.release_lock();
            } else if self.failures.is_empty() {
                self.phase = Phase::Rollout { group: 0, next_group_at: None };
                self.start_group(0, now);
            } else {
                self.keep_lock_and_fail();
            }
        }
    }

    fn start_group(&mut self, g: usize, now: Time) {
        if self.interrupted {
            return;
        }
        for i in self.groups[g].clone() {
            if self.hosts[i].roles.is_empty() {
                self.hosts[i].stage = Stage::RoleDone;
                continue;
            }
            self.advance(i, Input::Start, now);
        }
    }

    /// After any host moved: start the next group, or finish.
    fn after_host_change(&mut self, now: Time) {
        let Phase::Rollout { group, next_group_at: None } = self.phase else {
            return;
        };
        if !self.groups[group].iter().all(|&i| self.hosts[i].finished()) {
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
                self.start_group(group + 1, now);
                self.after_host_change(now);
            } else {
                self.phase = Phase::Rollout { group: group + 1, next_group_at: Some(now + wait) };
            }
        } else {
            self.release_lock();
        }
    }

    fn release_lock(&mut self) {
        self.phase = Phase::Unlocking;
        let primary = self.primary();
        self.progress(&primary, None, Step::ReleaseLock);
        let c = cmds::lock_release(&self.plan.config);
        self.emit(Owner::Lock, false, &primary, None, Action::LockRelease, c);
    }

    /// True once any host got past listing its containers.
    fn booted_any(&self) -> bool {
        self.hosts.iter().any(|h| !matches!(h.stage, Stage::Queued))
    }

    /// The user asked to stop (the first Ctrl-C or SIGTERM). No new host,
    /// group or role starts. A host whose old cord is intact stops at its
    /// next safe point, as soon as its command in flight completes, leaving
    /// its containers as they are (the old one keeps its cord and serves; a
    /// new one may run beside it). A host whose cord was already cut
    /// finishes its handover: its new container serves, and stopping
    /// halfway would leave the old one out of rotation but running. The lock
    /// stays held unless nothing had been started yet.
    pub fn handle_interrupt(&mut self, now: Time) {
        if self.interrupted || self.phase == Phase::Done {
            return;
        }
        self.interrupted = true;
        self.events.push_back(Event::Warning {
            host: None,
            message: "interrupted: bringing every host to a safe point (press Ctrl-C again to abort at once)".into(),
        });
        match self.phase {
            Phase::Rollout { group, next_group_at: Some(_) } => {
                self.phase = Phase::Rollout { group, next_group_at: None };
                self.interrupted_stop(None);
            }
            Phase::Rollout { .. } => {
                for i in 0..self.hosts.len() {
                    let h = &self.hosts[i];
                    if h.inflight.is_none() && before_cut(&h.stage) && !matches!(h.stage, Stage::Queued) {
                        self.advance(i, Input::Timer, now);
                    }
                }
                self.after_host_change(now);
            }
            // Lock and prepare commands finish; their handlers see the flag.
            _ => {}
        }
    }

    /// End an interrupted rollout: the lock stays held, and the user is told
    /// which hosts were not booted.
    fn interrupted_stop(&mut self, current: Option<usize>) {
        let later: Vec<String> = self
            .groups
            .iter()
            .enumerate()
            .filter(|(g, _)| current.is_none_or(|c| *g > c))
            .flat_map(|(_, hs)| {
                hs.iter().filter(|&&i| self.hosts[i].stage == Stage::Queued).map(|&i| self.hosts[i].host.clone())
            })
            .collect();
        let primary = self.primary();
        let error = if later.is_empty() {
            "interrupted".to_string()
        } else {
            format!("interrupted; not booted: {}", later.join(", "))
        };
        self.failures.push(Failure { host: primary, role: None, step: Step::Done, error });
        self.keep_lock_and_fail();
    }

    /// Per host, what may be left there if baton stopped right now (for a
    /// second Ctrl-C, which aborts at once).
    pub fn state_notes(&self) -> Vec<(String, String)> {
        let plan = &self.plan;
        self.hosts
            .iter()
            .enumerate()
            .filter(|(_, h)| !matches!(h.stage, Stage::Queued | Stage::Failed) && !h.finished())
            .map(|(i, h)| {
                let new_name = cmds::container_name(&plan.config, h.role(), &plan.version);
                (h.host.clone(), format!("{}: {}", stage_step(&h.stage), self.state_note(i, &new_name)))
            })
            .collect()
    }
}

/// Stages before the old container's cord is cut: an interrupt stops a host
/// there.
fn before_cut(stage: &Stage) -> bool {
    matches!(
        stage,
        Stage::Queued
            | Stage::Listing
            | Stage::Renaming
            | Stage::Auditing
            | Stage::TyingCord
            | Stage::Starting
            | Stage::Waiting { step: Step::WaitHealthy, .. }
            | Stage::Pausing { step: Step::PauseAfterHealthy | Step::WaitReady, .. }
            | Stage::Confirming
            | Stage::ReadingMounts
            | Stage::ReadingAddress { .. }
            | Stage::Routing { present: true, .. }
    )
}

/// True when `dir` looks like a cord directory of this role
/// (`…/cords/<service-role[-dest]>-<run id>`): baton deletes nothing else.
fn is_cord_dir(dir: &str, full_name: &str) -> bool {
    let mut parts = dir.trim_end_matches('/').rsplit('/');
    let last = parts.next().unwrap_or("");
    let parent = parts.next().unwrap_or("");
    dir.starts_with('/')
        && parent == "cords"
        && last
            .strip_prefix(full_name)
            .and_then(|r| r.strip_prefix('-'))
            .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()))
}

impl Deploy {
    /// One step of one host's handover. Reads top to bottom as the boot does.
    fn advance(&mut self, i: usize, input: Input<'_>, now: Time) {
        let plan = self.plan.clone();
        let cfg = &plan.config;
        let h = &self.hosts[i];
        let host = h.host.clone();
        let role_name = h.role().to_string();
        let Some(role) = cfg.role(&role_name) else { return };
        let timing = Timing::for_role(cfg, role);
        let version = &plan.version;
        let new_name = cmds::container_name(cfg, &role_name, version);
        let r = Some(role_name.as_str());
        let stage = h.stage.clone();

        // A lost host fails where it stands; nothing can be cleaned up there.
        if let Input::Obs(obs @ Observation::Unreachable { .. }) = input {
            let step = stage_step(&stage);
            let state = self.state_note(i, &new_name);
            return self.fail(i, step, format!("{}. {state}", said(obs)), false);
        }
        // Interrupted: a host whose old cord is still intact stops at this
        // safe point (its in-flight command has completed); one whose cord
        // was cut finishes its handover, since its new container serves.
        if self.interrupted && before_cut(&stage) {
            let state = self.state_note(i, &new_name);
            let f = Failure {
                host: host.clone(),
                role: Some(role_name.clone()),
                step: stage_step(&stage),
                error: format!("interrupted; stopped at a safe point before the old cord was cut. {state}"),
            };
            return self.record_failure(i, f);
        }
        if let (Stage::StoppingNew { failure }, Input::Obs(obs)) = (&stage, &input) {
            let mut f = failure.clone();
            match obs {
                Observation::Exited { code: 0, .. } => f.error.push_str(&format!(
                    ". The new container {new_name} was stopped (not removed) so it can be inspected"
                )),
                other => f.error.push_str(&format!(
                    ". Stopping the new container {new_name} failed too ({}); it may still be running",
                    said(other)
                )),
            }
            if let Some(old) = &self.hosts[i].old {
                f.error.push_str(&format!("; the old container {old} keeps serving with its cord intact"));
            }
            return self.record_failure(i, f);
        }

        match (stage, input) {
            (Stage::Queued | Stage::RoleDone, Input::Start) => {
                self.hosts[i].stage = Stage::Listing;
                self.hosts[i].old = None;
                self.hosts[i].new_started = false;
                self.hosts[i].new_ips.clear();
                self.hosts[i].old_ips.clear();
                self.hosts[i].old_cord = None;
                self.hosts[i].new_ready = false;
                self.hosts[i].more_old.clear();
                self.progress_for(i, Step::ListContainers);
                let c = cmds::list_role_containers(cfg, &role_name);
                self.emit_for(i, true, Action::ListContainers, c);
            }
            (Stage::Listing, Input::Obs(obs)) => {
                let Observation::Exited { code: 0, stdout, .. } = obs else {
                    return self.fail(i, Step::ListContainers, said(obs), false);
                };
                let entries = match docker::parse_ps(stdout) {
                    Ok(e) => e,
                    Err(e) => return self.fail(i, Step::ListContainers, e.to_string(), false),
                };
                // Every live container of the role is handed over from, the
                // newest first (Kamal hands over from the newest only, so a
                // fleet left with two live versions never converged).
                let mut live: Vec<String> =
                    entries.iter().filter(|e| e.state.is_live()).map(|e| e.name.clone()).collect();
                if entries.iter().any(|e| e.name == new_name) {
                    // Same version booted again: move the existing one aside.
                    let replaced = format!("{new_name}_replaced_{}", self.rng.hex(16));
                    for n in live.iter_mut().filter(|n| **n == new_name) {
                        *n = replaced.clone();
                    }
                    let mut live = live.into_iter();
                    self.hosts[i].old = live.next();
                    self.hosts[i].more_old = live.collect();
                    self.hosts[i].stage = Stage::Renaming;
                    self.progress_for(i, Step::RenameExisting);
                    let audit =
                        cmds::audit(cfg, &plan.performer, r, &format!("Renaming container {new_name} to {replaced}"));
                    let c = Command::and_all([audit, cmds::rename(&new_name, &replaced)]);
                    self.emit_for(i, false, Action::Rename { from: new_name, to: replaced }, c);
                } else {
                    let mut live = live.into_iter();
                    self.hosts[i].old = live.next();
                    self.hosts[i].more_old = live.collect();
                    self.write_boot_audit(i, now);
                }
            }
            (Stage::Renaming, Input::Obs(obs)) => match obs {
                Observation::Exited { code: 0, .. } => self.write_boot_audit(i, now),
                _ => self.fail(i, Step::RenameExisting, said(obs), false),
            },
            (Stage::Auditing, Input::Obs(obs)) => match obs {
                Observation::Exited { code: 0, .. } if cfg.uses_cord(role) => {
                    self.hosts[i].stage = Stage::TyingCord;
                    self.progress_for(i, Step::TieCord);
                    let dir = cord_rel_dir(cfg, &role_name, &self.run_id);
                    let c = cmds::tie_cord(cfg, &role_name, &self.run_id);
                    self.emit_for(i, false, Action::TieCord { dir }, c);
                }
                Observation::Exited { code: 0, .. } => self.run_new(i, now),
                _ => self.fail(i, Step::Audit, said(obs), false),
            },
            (Stage::TyingCord, Input::Obs(obs)) => match obs {
                Observation::Exited { code: 0, .. } => self.run_new(i, now),
                _ => self.fail(i, Step::TieCord, said(obs), false),
            },
            (Stage::Starting, Input::Obs(obs)) => match obs {
                Observation::Exited { code: 0, .. } | Observation::TimedOut { .. } => {
                    if let Observation::TimedOut { after_ms, .. } = obs {
                        // It may have started: find out, rather than stop a
                        // container the proxy may already route to.
                        self.events.push_back(Event::Warning {
                            host: Some(host.clone()),
                            message: format!(
                                "docker run of {new_name} gave no answer within {}s; checking whether it started",
                                fmt_secs(*after_ms)
                            ),
                        });
                    }
                    self.after_started(i, now);
                }
                Observation::Exited { stderr, .. } => {
                    // docker run refused: nothing runs under the new name.
                    self.hosts[i].new_started = false;
                    let env_file = cmds::env_file_path(cfg, &role_name);
                    let mut error = said(obs);
                    if stderr.contains(&env_file) && stderr.contains("no such file") {
                        error =
                            format!("the env file {env_file} is not on the host: run `baton env push` first ({error})");
                    }
                    self.fail(i, Step::RunNew, error, false)
                }
                // (Unreachable is handled above, for every stage.)
                Observation::Unreachable { .. } => self.fail(i, Step::RunNew, said(obs), false),
            },
            (Stage::Waiting { step, next_poll: Some(_), deadline, last }, Input::Timer) => {
                let name = if step == Step::WaitHealthy {
                    new_name.clone()
                } else {
                    self.hosts[i].old.clone().unwrap_or_default()
                };
                self.hosts[i].stage = Stage::Waiting { step, deadline, next_poll: None, last };
                self.hosts[i].status_sent = now;
                self.emit_for(i, true, Action::Status { name: name.clone() }, cmds::status(&name));
            }
            (Stage::Waiting { step: Step::WaitHealthy, deadline, .. }, Input::Obs(obs)) => {
                let status = match obs {
                    Observation::Exited { code: 0, stdout, .. } => match docker::parse_probe(stdout) {
                        Ok(p) => Ok(p.status),
                        Err(e) => {
                            let msg = format!(
                                "{e}; the new container {new_name} was left running, since its state is unknown"
                            );
                            return self.fail(i, Step::WaitHealthy, msg, false);
                        }
                    },
                    other => Err(said(other)),
                };
                match status {
                    Ok(Status { state: State::Running, health: Some(Health::Healthy) }) if cfg.runs_traefik(role) => {
                        self.confirm_new_routed(i, now, &timing);
                    }
                    Ok(Status { state: State::Running, health: Some(Health::Healthy) }) => self.after_new_ready(i, now),
                    Ok(Status { state: State::Running, health: None }) => {
                        self.pause(i, Step::WaitReady, now + timing.readiness_delay)
                    }
                    Ok(st @ Status { state: State::Exited | State::Dead | State::Restarting, .. }) => self.fail(
                        i,
                        Step::WaitHealthy,
                        format!(
                            "the new container {new_name} crashed at start (status: {}); see `baton app logs` or `docker logs {new_name}`",
                            st.render()
                        ),
                        true,
                    ),
                    other => {
                        // Docker said it is not healthy yet (the proxy does not
                        // route to it), or its status could not be read (it may
                        // be healthy, and routed to).
                        let (last, known) = match other {
                            Ok(st) => (st.render(), true),
                            Err(e) => (e, false),
                        };
                        if now >= deadline && known {
                            self.fail(
                                i,
                                Step::WaitHealthy,
                                format!(
                                    "the new container {new_name} was not healthy within {}s (last status: {last})",
                                    fmt_secs(timing.healthy_budget)
                                ),
                                true,
                            )
                        } else if now >= deadline {
                            // Never stop a container the proxy may route to.
                            self.fail(
                                i,
                                Step::WaitHealthy,
                                format!(
                                    "the status of the new container {new_name} could not be read for {}s ({last}); it was left running, since it may be healthy and serving. Check it with `baton app details`",
                                    fmt_secs(timing.healthy_budget)
                                ),
                                false,
                            )
                        } else {
                            let next = self.next_status_read(i, Step::WaitHealthy, None, now, deadline, &timing);
                            self.hosts[i].stage =
                                Stage::Waiting { step: Step::WaitHealthy, deadline, next_poll: Some(next), last: Some(last) };
                        }
                    }
                }
            }
            (Stage::Pausing { step: Step::PauseAfterHealthy, .. }, Input::Timer) => self.after_new_ready(i, now),
            (Stage::Pausing { step: Step::WaitReady, .. }, Input::Timer) => {
                self.hosts[i].stage = Stage::Confirming;
                self.emit_for(i, true, Action::Status { name: new_name.clone() }, cmds::status(&new_name));
            }
            (Stage::Confirming, Input::Obs(obs)) => {
                let status = match obs {
                    Observation::Exited { code: 0, stdout, .. } => match docker::parse_probe(stdout) {
                        Ok(p) => p.status.render(),
                        Err(e) => e.to_string(),
                    },
                    other => said(other),
                };
                if status == "running" {
                    self.after_new_ready(i, now)
                } else {
                    self.fail(
                        i,
                        Step::WaitReady,
                        format!(
                            "the new container {new_name} is {status} after the {}s readiness delay",
                            fmt_secs(timing.readiness_delay)
                        ),
                        true,
                    )
                }
            }
            (Stage::ReadingMounts, Input::Obs(obs)) => {
                let old = self.hosts[i].old.clone().unwrap_or_default();
                // Read while the new container starts, or after it is ready.
                let both = if self.hosts[i].new_ready {
                    format!("{new_name} and {old} are both running")
                } else {
                    format!("{new_name} may be running (not yet seen healthy); the old container {old} still has its cord and serves")
                };
                let Observation::Exited { code: 0, stdout, .. } = obs else {
                    return self.fail(i, Step::FindOldCord, format!("{}; {both}", said(obs)), false);
                };
                let mounts = match docker::parse_mounts(stdout) {
                    Ok(m) => m,
                    Err(e) => return self.fail(i, Step::FindOldCord, format!("{e}; {both}"), false),
                };
                let cord = cfg.role_healthcheck(role).and_then(|h| h.cord).unwrap_or_default();
                match docker::cord_source(&mounts, &cord) {
                    None => {
                        self.events.push_back(Event::Warning {
                            host: Some(host.clone()),
                            message: format!(
                                "the old container {old} has no cord (it was not started with one); it is stopped without the cord handover, as Kamal does, so requests in flight to it may fail"
                            ),
                        });
                        self.hosts[i].old_cord = Some(None);
                        self.old_cord_read(i, now);
                    }
                    Some(dir) if !is_cord_dir(dir, &cfg.role_full_name(&role_name)) => self.fail(
                        i,
                        Step::FindOldCord,
                        format!("{old} mounts {dir:?} at {cord}, which is not a cord directory; baton will not delete it. {both}"),
                        false,
                    ),
                    Some(dir) if self.hosts[i].routes_ok => {
                        // Know the old container's address before it goes out of rotation.
                        self.hosts[i].old_cord = Some(Some(dir.to_string()));
                        self.hosts[i].stage = Stage::ReadingAddress { old: true };
                        self.emit_for(i, true, Action::Addresses { name: old.clone() }, cmds::addresses(&old));
                    }
                    Some(dir) => {
                        self.hosts[i].old_cord = Some(Some(dir.to_string()));
                        self.old_cord_read(i, now);
                    }
                }
            }
            (Stage::CuttingCord, Input::Obs(obs)) => {
                let old = self.hosts[i].old.clone().unwrap_or_default();
                match obs {
                    Observation::Exited { code: 0, .. } => {
                        self.start_wait(i, Step::WaitOldUnhealthy, &old, now, now + timing.unhealthy_budget);
                    }
                    _ => self.fail(
                        i,
                        Step::CutOldCord,
                        format!("{}; {new_name} and {old} are both running", said(obs)),
                        false,
                    ),
                }
            }
            (Stage::Waiting { step: Step::WaitOldUnhealthy, deadline, .. }, Input::Obs(obs)) => {
                let old = self.hosts[i].old.clone().unwrap_or_default();
                let (status, out_of_rotation, streak) = match obs {
                    Observation::Exited { code: 0, stdout, .. } => match docker::parse_probe(stdout) {
                        // The proxy drops a container that is unhealthy or not running.
                        Ok(docker::Probe { status: st, failing_streak }) => (
                            st.render(),
                            st.health == Some(Health::Unhealthy) || st.state != State::Running,
                            Some(failing_streak),
                        ),
                        Err(e) => return self.fail(i, Step::WaitOldUnhealthy, e.to_string(), false),
                    },
                    other => (said(other), false, None),
                };
                if out_of_rotation && self.broken == Some(Broken::NoPauseAfterUnhealthy) {
                    self.pause(i, Step::PauseAfterUnhealthy, now);
                } else if out_of_rotation {
                    self.confirm_old_unrouted(i, now, &timing);
                } else if now >= deadline {
                    // Decision: never stop a container the proxy may still
                    // route to. It keeps serving; the user is told.
                    self.fail(
                        i,
                        Step::WaitOldUnhealthy,
                        format!(
                            "the old container {old} was still {status} {}s after its cord was cut, so the proxy may still route to it; it was left running (it still serves, and so does {new_name}). Once the proxy has dropped it, stop it with `baton app stale_containers --stop`",
                            fmt_secs(timing.unhealthy_budget)
                        ),
                        false,
                    )
                } else {
                    let next = self.next_status_read(i, Step::WaitOldUnhealthy, streak, now, deadline, &timing);
                    self.hosts[i].stage = Stage::Waiting {
                        step: Step::WaitOldUnhealthy,
                        deadline,
                        next_poll: Some(next),
                        last: Some(status),
                    };
                }
            }
            (Stage::Pausing { step: Step::PauseAfterUnhealthy, .. }, Input::Timer) => self.stop_old(i),
            (Stage::StoppingOld, Input::Obs(obs @ Observation::TimedOut { .. })) => {
                // Not Kamal's "stop failed" (which it ignores): nobody knows
                // whether it stopped. It is out of rotation either way.
                let old = self.hosts[i].old.clone().unwrap_or_default();
                self.fail(
                    i,
                    Step::StopOld,
                    format!(
                        "{}; the old container {old} is out of rotation but may still be running; the new container {new_name} serves",
                        said(obs)
                    ),
                    false,
                )
            }
            (Stage::StoppingOld, Input::Obs(obs)) => {
                if !matches!(obs, Observation::Exited { code: 0, .. }) {
                    let old = self.hosts[i].old.clone().unwrap_or_default();
                    // As Kamal: a failed stop of the old container is not a failed deploy.
                    self.events.push_back(Event::Warning {
                        host: Some(host.clone()),
                        message: format!(
                            "stopping the old container {old} failed ({}); it is out of rotation",
                            said(obs)
                        ),
                    });
                }
                if self.hosts[i].more_old.is_empty() || self.interrupted {
                    self.role_done(i, now);
                } else {
                    // Another live container of the role: hand over from it too.
                    let next = self.hosts[i].more_old.remove(0);
                    self.hosts[i].old = Some(next);
                    self.hosts[i].old_ips.clear();
                    self.hosts[i].old_cord = None;
                    self.after_new_ready(i, now);
                }
            }
            (Stage::ReadingAddress { old }, Input::Obs(obs)) => {
                let ips = match obs {
                    Observation::Exited { code: 0, stdout, .. } => docker::parse_addresses(stdout),
                    _ => vec![],
                };
                if ips.is_empty() {
                    self.routes_unusable(i, &format!("the container's address could not be read ({})", said(obs)));
                }
                if old {
                    self.hosts[i].old_ips = ips;
                    self.old_cord_read(i, now);
                } else if self.hosts[i].routes_ok {
                    self.hosts[i].new_ips = ips;
                    self.hosts[i].stage =
                        Stage::Routing { present: true, deadline: now + timing.route_budget, next_poll: None };
                    self.read_routes(i);
                } else {
                    self.pause(i, Step::PauseAfterHealthy, now + timing.proxy_pause);
                }
            }
            (Stage::Routing { present, deadline, next_poll: Some(_) }, Input::Timer) => {
                self.hosts[i].stage = Stage::Routing { present, deadline, next_poll: None };
                self.read_routes(i);
            }
            (Stage::Routing { present, deadline, .. }, Input::Obs(obs)) => {
                let table = match obs {
                    Observation::Exited { code: 0, stdout, .. } => {
                        docker::parse_traefik_services(stdout).map_err(|e| e.to_string())
                    }
                    other => Err(said(other)),
                };
                let table = match table {
                    Ok(t) => t,
                    Err(e) => {
                        // No table to read: fall back to the pause.
                        self.routes_unusable(i, &e);
                        let step = if present { Step::PauseAfterHealthy } else { Step::PauseAfterUnhealthy };
                        return self.pause(i, step, now + timing.proxy_pause);
                    }
                };
                let full = cfg.role_full_name(&role_name);
                let ips = if present { &self.hosts[i].new_ips } else { &self.hosts[i].old_ips };
                let routed = table.get(&full).is_some_and(|servers| servers.iter().any(|s| ips.contains(s)));
                let old = self.hosts[i].old.clone().unwrap_or_default();
                match (present, routed) {
                    (true, true) => self.after_new_ready(i, now),
                    (false, false) => self.stop_old(i),
                    _ if now < deadline => {
                        let next = (now + timing.poll).min(deadline);
                        self.hosts[i].stage = Stage::Routing { present, deadline, next_poll: Some(next) };
                    }
                    (true, _) => self.fail(
                        i,
                        Step::ConfirmRouted,
                        format!(
                            "the proxy did not route to {new_name} within {}s although it is healthy; the old container {old} keeps serving with its cord intact",
                            fmt_secs(timing.route_budget)
                        ),
                        // It is confirmed out of the proxy's table: stopping it is safe.
                        true,
                    ),
                    (false, _) => self.fail(
                        i,
                        Step::ConfirmUnrouted,
                        format!(
                            "the proxy still routes to the old container {old} {}s after it turned unhealthy; it was left running (it still serves, and so does {new_name}). Once the proxy has dropped it, stop it with `baton app stale_containers --stop`",
                            fmt_secs(timing.route_budget)
                        ),
                        false,
                    ),
                }
            }
            // Anything else (a stray timer, a repeated input) changes nothing.
            _ => {}
        }
    }

    fn write_boot_audit(&mut self, i: usize, _now: Time) {
        let cfg = &self.plan.config;
        let host = self.hosts[i].host.clone();
        let role = self.hosts[i].role().to_string();
        let message = format!("Booted app version {}", self.plan.version);
        let text = cmds::audit_text(cfg, &self.plan.performer, Some(&role), &message);
        let c = cmds::audit(cfg, &self.plan.performer, Some(&role), &message);
        self.hosts[i].stage = Stage::Auditing;
        self.progress_for(i, Step::Audit);
        self.emit_for(i, false, Action::Audit { text: text.clone() }, c);
        self.events.push_back(Event::Audit { host, role: Some(role), text });
    }

    fn run_new(&mut self, i: usize, now: Time) {
        let plan = self.plan.clone();
        let cfg = &plan.config;
        let host = self.hosts[i].host.clone();
        let role_name = self.hosts[i].role().to_string();
        let Some(role) = cfg.role(&role_name) else { return };
        let name = cmds::container_name(cfg, &role_name, &plan.version);
        let hostname = cmds::container_hostname(&host, &self.rng.hex(12));
        let c = cmds::run(cfg, role, &plan.version, &hostname, &self.run_id);
        let cord_dir = cfg.uses_cord(role).then(|| cord_rel_dir(cfg, &role_name, &self.run_id));
        self.hosts[i].stage = Stage::Starting;
        self.hosts[i].new_started = true;
        self.hosts[i].run_sent = now;
        self.progress_for(i, Step::RunNew);
        let action = Action::RunContainer {
            name,
            version: plan.version.clone(),
            cord_dir,
            health_interval_ms: cfg.health_cmd(role).and(cfg.role_healthcheck(role)).map(|h| h.interval_ms),
            proxied: cfg.runs_traefik(role),
        };
        self.emit_for(i, false, action, c);
    }

    /// The new container is healthy: confirm the proxy routes to it (or,
    /// without a routing table, pause for the proxy's pickup).
    fn confirm_new_routed(&mut self, i: usize, now: Time, timing: &Timing) {
        if !self.hosts[i].routes_ok {
            return self.pause(i, Step::PauseAfterHealthy, now + timing.proxy_pause);
        }
        let role = self.hosts[i].role().to_string();
        let name = cmds::container_name(&self.plan.config, &role, &self.plan.version);
        self.hosts[i].stage = Stage::ReadingAddress { old: false };
        self.progress_for(i, Step::ConfirmRouted);
        self.emit_for(i, true, Action::Addresses { name: name.clone() }, cmds::addresses(&name));
    }

    /// The old container is out of rotation by Docker's account: confirm the
    /// proxy dropped it (or pause for the proxy's pickup).
    fn confirm_old_unrouted(&mut self, i: usize, now: Time, timing: &Timing) {
        if !self.hosts[i].routes_ok || self.hosts[i].old_ips.is_empty() {
            return self.pause(i, Step::PauseAfterUnhealthy, now + timing.proxy_pause);
        }
        self.hosts[i].stage = Stage::Routing { present: false, deadline: now + timing.route_budget, next_poll: None };
        self.progress_for(i, Step::ConfirmUnrouted);
        self.read_routes(i);
    }

    fn read_routes(&mut self, i: usize) {
        if let Some(c) = cmds::routes(&self.plan.config) {
            self.emit_for(i, true, Action::Routes, c);
        }
    }

    /// Route confirmation cannot work on this host: say so once, and pause
    /// from now on.
    fn routes_unusable(&mut self, i: usize, why: &str) {
        if self.hosts[i].routes_ok {
            self.hosts[i].routes_ok = false;
            let pause = self.plan.config.baton.proxy_pickup_ms + self.plan.config.baton.pause_margin_ms;
            self.events.push_back(Event::Warning {
                host: Some(self.hosts[i].host.clone()),
                message: format!(
                    "cannot confirm routes with the proxy ({why}); pausing {}s for it instead, which is a guess",
                    fmt_secs(pause)
                ),
            });
        }
    }

    fn cut_cord(&mut self, i: usize, dir: String) {
        self.hosts[i].stage = Stage::CuttingCord;
        self.progress_for(i, Step::CutOldCord);
        let c = cmds::cut_cord(&dir);
        self.emit_for(i, false, Action::CutCord { dir }, c);
    }

    /// When to read a waited-on container's status again: after `poll`, but
    /// not before Docker can have changed it, so that hosts are not loaded
    /// with reads that cannot see anything new. Docker runs a check an
    /// interval after the previous one ended. So a new container's first
    /// check ends at least an interval after `docker run` was sent; and a
    /// container `streak` failed checks in a row into its retries turns
    /// unhealthy only after `retries - streak` more, an interval apart, the
    /// first ending no earlier than the last read was sent. (Without a
    /// known rhythm, or an unread streak: every `poll`.)
    fn next_status_read(
        &self,
        i: usize,
        step: Step,
        streak: Option<u64>,
        now: Time,
        deadline: Time,
        timing: &Timing,
    ) -> Time {
        let h = &self.hosts[i];
        let earliest = match (timing.health_interval, step, streak) {
            // A new container may also crash at any time: with a long
            // interval, read it at least every NEW_CONTAINER_READ_MS.
            (Some(iv), Step::WaitHealthy, _) => (h.run_sent + iv).min(now + NEW_CONTAINER_READ_MS),
            (Some(iv), Step::WaitOldUnhealthy, Some(k)) => {
                h.status_sent + DOCKER_HEALTH_RETRIES.saturating_sub(k).saturating_sub(1) * iv
            }
            _ => 0,
        };
        (now + timing.poll).max(earliest).min(deadline)
    }

    /// Wait on `name`'s health (`step`) until `deadline`: read it now.
    fn start_wait(&mut self, i: usize, step: Step, name: &str, now: Time, deadline: Time) {
        self.hosts[i].stage = Stage::Waiting { step, deadline, next_poll: None, last: None };
        self.hosts[i].status_sent = now;
        self.progress_for(i, step);
        self.emit_for(i, true, Action::Status { name: name.to_string() }, cmds::status(name));
    }

    fn pause(&mut self, i: usize, step: Step, until: Time) {
        self.hosts[i].stage = Stage::Pausing { step, until };
        self.progress_for(i, step);
    }

    /// `docker run` answered. While the new container starts (its first
    /// health check is an interval away), read the old container's cord and
    /// address, so that nothing is read between "ready" and the cut; then
    /// wait for the new one to be healthy.
    fn after_started(&mut self, i: usize, now: Time) {
        let plan = self.plan.clone();
        let cfg = &plan.config;
        let role_name = self.hosts[i].role().to_string();
        let Some(role) = cfg.role(&role_name) else { return };
        let early = self.hosts[i].old.is_some() && cfg.uses_cord(role) && self.broken != Some(Broken::StopBeforeCut);
        if early {
            self.read_old_cord(i);
        } else {
            self.wait_new_healthy(i, now);
        }
    }

    fn wait_new_healthy(&mut self, i: usize, now: Time) {
        let plan = self.plan.clone();
        let cfg = &plan.config;
        let role_name = self.hosts[i].role().to_string();
        let Some(role) = cfg.role(&role_name) else { return };
        let timing = Timing::for_role(cfg, role);
        let name = cmds::container_name(cfg, &role_name, &plan.version);
        self.start_wait(i, Step::WaitHealthy, &name, now, now + timing.healthy_budget);
    }

    /// The old container's cord (and address) are known: go on with the
    /// handover if the new container is ready, else wait for it.
    fn old_cord_read(&mut self, i: usize, now: Time) {
        if !self.hosts[i].new_ready {
            return self.wait_new_healthy(i, now);
        }
        match self.hosts[i].old_cord.take() {
            Some(Some(dir)) => self.cut_cord(i, dir),
            // No cord: stopped without the handover (the warning was given).
            Some(None) => self.stop_old(i),
            None => self.read_old_cord(i),
        }
    }

    /// The new container serves: hand over from the old one, if any.
    fn after_new_ready(&mut self, i: usize, now: Time) {
        self.hosts[i].new_ready = true;
        let plan = self.plan.clone();
        let cfg = &plan.config;
        let role_name = self.hosts[i].role().to_string();
        let Some(role) = cfg.role(&role_name) else { return };
        match self.hosts[i].old.clone() {
            None => self.role_done(i, now),
            Some(_) if self.broken == Some(Broken::StopBeforeCut) => self.stop_old(i),
            Some(_) if cfg.uses_cord(role) => self.old_cord_read(i, now),
            Some(_) => self.stop_old(i),
        }
    }

    /// Read the old container's mounts, to find its cord.
    fn read_old_cord(&mut self, i: usize) {
        let Some(old) = self.hosts[i].old.clone() else { return };
        self.hosts[i].stage = Stage::ReadingMounts;
        self.progress_for(i, Step::FindOldCord);
        self.emit_for(i, true, Action::Mounts { name: old.clone() }, cmds::mounts(&old));
    }

    fn stop_old(&mut self, i: usize) {
        let old = self.hosts[i].old.clone().unwrap_or_default();
        self.hosts[i].stage = Stage::StoppingOld;
        self.progress_for(i, Step::StopOld);
        let c = cmds::stop(&self.plan.config, &old);
        self.emit_for(i, false, Action::Stop { name: old }, c);
    }

    fn role_done(&mut self, i: usize, now: Time) {
        let host = self.hosts[i].host.clone();
        let role = self.hosts[i].role().to_string();
        self.progress_for(i, Step::Done);
        self.hosts[i].stage = Stage::RoleDone;
        if self.interrupted && self.hosts[i].role_idx + 1 < self.hosts[i].roles.len() {
            let rest = self.hosts[i].roles[self.hosts[i].role_idx + 1..].join(", ");
            let f = Failure {
                host,
                role: Some(role),
                step: Step::Done,
                error: format!("interrupted after this role was booted; not booted here: {rest}"),
            };
            return self.record_failure(i, f);
        }
        if self.hosts[i].role_idx + 1 < self.hosts[i].roles.len() {
            self.hosts[i].role_idx += 1;
            self.advance(i, Input::Start, now);
        }
    }

    /// What may be left on the host when it fails at this point.
    fn state_note(&self, i: usize, new_name: &str) -> String {
        let h = &self.hosts[i];
        let old = h.old.as_deref();
        match (&h.stage, old) {
            (Stage::Listing | Stage::Renaming | Stage::Auditing | Stage::TyingCord, Some(o)) => {
                format!("The new container was not started; {o} is untouched")
            }
            (Stage::Listing | Stage::Renaming | Stage::Auditing | Stage::TyingCord, None) => {
                "The new container was not started".to_string()
            }
            (
                Stage::Starting
                | Stage::Waiting { step: Step::WaitHealthy, .. }
                | Stage::Pausing { .. }
                | Stage::Confirming
                | Stage::ReadingMounts,
                Some(o),
            ) => {
                format!("{new_name} may be running; the old container {o} still has its cord and serves")
            }
            (Stage::CuttingCord | Stage::Waiting { .. } | Stage::StoppingOld, Some(o)) => {
                format!("{new_name} is serving; the old container {o} may still be running with its cord cut")
            }
            _ => format!("{new_name} may be running"),
        }
    }

    /// Fail the current role on host `i`. With `cleanup`, first stop the new
    /// container (it never became ready), then report.
    fn fail(&mut self, i: usize, step: Step, error: String, cleanup: bool) {
        let host = self.hosts[i].host.clone();
        let role = self.hosts[i].role().to_string();
        let f = Failure { host: host.clone(), role: Some(role.clone()), step, error };
        if cleanup && self.hosts[i].new_started {
            let name = cmds::container_name(&self.plan.config, &role, &self.plan.version);
            self.hosts[i].stage = Stage::StoppingNew { failure: f };
            self.progress_for(i, Step::StopNew);
            let c = cmds::stop(&self.plan.config, &name);
            self.emit_for(i, false, Action::Stop { name }, c);
        } else {
            self.record_failure(i, f);
        }
    }

    fn record_failure(&mut self, i: usize, f: Failure) {
        self.hosts[i].stage = Stage::Failed;
        self.events.push_back(Event::HostFailed(f.clone()));
        self.failures.push(f);
    }
}

/// The step a stage belongs to, for errors.
fn stage_step(stage: &Stage) -> Step {
    match stage {
        Stage::Queued | Stage::Listing => Step::ListContainers,
        Stage::Renaming => Step::RenameExisting,
        Stage::Auditing => Step::Audit,
        Stage::TyingCord => Step::TieCord,
        Stage::Starting => Step::RunNew,
        Stage::Waiting { step, .. } | Stage::Pausing { step, .. } => *step,
        Stage::Confirming => Step::WaitReady,
        Stage::ReadingMounts => Step::FindOldCord,
        Stage::ReadingAddress { old: false } | Stage::Routing { present: true, .. } => Step::ConfirmRouted,
        Stage::ReadingAddress { old: true } => Step::FindOldCord,
        Stage::Routing { present: false, .. } => Step::ConfirmUnrouted,
        Stage::CuttingCord => Step::CutOldCord,
        Stage::StoppingOld => Step::StopOld,
        Stage::StoppingNew { .. } => Step::StopNew,
        Stage::RoleDone | Stage::Failed => Step::Done,
    }
}

/// The cord directory as written in `tie_cord` (relative to the remote home
/// unless the run directory is absolute), for [`Action::TieCord`].
fn cord_rel_dir(cfg: &Config, role: &str, run_id: &str) -> String {
    format!("{}/cords/{}-{run_id}", cfg.run_directory.trim_end_matches('/'), cfg.role_full_name(role))
}
