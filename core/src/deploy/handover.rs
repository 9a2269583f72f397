//! One role's cord handover on one host: the seed's `app boot` sequence as
//! a type that owns its stage and moves itself. The [`super::Deploy`]
//! around it hands it a resolved [`RoleCtx`] and an [`Outbox`], feeds it
//! what came of its commands and its timers, and reads whether it is done
//! or failed. This file holds the steps up to the new container's start
//! and the failure rules; `waits.rs` holds the waits, the cord and the stop.

use super::outbox::{Emit, Outbox, Owner};
use super::timing::Timing;
use crate::commands::{self as cmds, CordDir};
use crate::config::CutAt;
use crate::docker;
use crate::effect::{Action, EffectId, Event, Observation, Step};
use crate::failure::{Failure, Left, Said, Why};
use crate::machine::{Reason, Wake};
use crate::plan::Plan;
use crate::rng::Rng;
use crate::shell::Command;
use crate::time::{fmt_secs, Millis, Time};
use std::collections::VecDeque;

/// What a role's handover needs from the config, resolved once per role.
#[derive(Clone, Debug)]
pub(crate) struct RoleCtx {
    pub name: String,
    /// `<service>-<role>[-<dest>]`: the Traefik service and cord prefix.
    pub full_name: String,
    /// The new container: `<full name>-<version>`.
    pub new_name: String,
    pub timing: Timing,
    pub uses_cord: bool,
    pub proxied: bool,
    /// The cord's directory inside a container (`healthcheck.cord`).
    pub cord_mount: String,
    pub health_interval_ms: Option<Millis>,
    pub env_file: String,
    /// This run's cord directory for the role.
    pub cord_dir: CordDir,
    /// Cut the old cord as soon as the new container is healthy
    /// (`baton.cut_at: healthy`, a role with a cord).
    pub overlap: bool,
    /// With route confirmation, how long after a cut at "healthy" the new
    /// container must show in the proxy's table: before the old one can
    /// turn unhealthy ((retries − 1) × interval, less a poll for the reads).
    /// None when the health check's rhythm is unknown, or when the proxy's
    /// expected pickup (`baton.proxy_pickup`) does not fit in it: the cut
    /// at "healthy" would then nearly always be tied again, so route
    /// confirmation keeps the sequential order.
    pub tie_window: Option<Millis>,
}

impl RoleCtx {
    pub fn new(plan: &Plan, role: &str, run_id: &str) -> Option<RoleCtx> {
        let cfg = &plan.config;
        let r = cfg.role(role)?;
        let timing = Timing::for_role(cfg, r);
        Some(RoleCtx {
            name: role.to_string(),
            full_name: cfg.role_full_name(role),
            new_name: cmds::container_name(cfg, role, &plan.version),
            timing,
            uses_cord: r.spec.uses_cord,
            proxied: r.spec.proxied,
            cord_mount: r.spec.cord_mount().unwrap_or_default().to_string(),
            health_interval_ms: r.spec.health_interval_ms(),
            env_file: cmds::env_file_path(cfg, role),
            cord_dir: CordDir::new(cfg, role, run_id),
            overlap: cfg.baton.cut_at == CutAt::Healthy && r.spec.uses_cord,
            tie_window: timing
                .health_interval
                .map(|iv| {
                    (super::DOCKER_HEALTH_RETRIES - 1).saturating_mul(iv).saturating_sub(cfg.baton.poll_interval_ms)
                })
                .filter(|&w| cfg.baton.proxy_pickup_ms < w),
        })
    }
}

/// Everything a handover step may use: the run, its role, and where its
/// output goes.
pub(crate) struct Ctx<'a> {
    pub plan: &'a Plan,
    pub role: &'a RoleCtx,
    pub run_id: &'a str,
    pub rng: &'a mut Rng,
    pub out: &'a mut Outbox,
    pub owner: Owner,
    pub interrupted: bool,
    /// Route confirmation still works on this host (it outlives a role).
    pub routes_ok: &'a mut bool,
    #[cfg(feature = "_internal_test_exports")]
    pub broken: Option<super::Broken>,
}

/// Where a handover stands: one variant per step of the boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    Listing,
    Renaming,
    Auditing,
    TyingCord,
    Starting,
    /// A wait on a container's health: the new one healthy
    /// (`Step::WaitHealthy`) or the old one unhealthy (`Step::WaitOldUnhealthy`).
    Waiting {
        step: Step,
        deadline: Time,
        next_poll: Option<Time>,
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
    /// Tying the old cord again; then fail with `fail`, or (None) fall back
    /// to the sequential order.
    Retying {
        fail: Option<Box<Why>>,
    },
    /// Reading the new container's status once more before the stop.
    CheckingNew,
    StoppingOld,
    /// Cleanup after a failure: stop the new container, then fail.
    StoppingNew {
        failure: Box<Failure>,
    },
    Done,
    Failed(Box<Failure>),
}

impl Stage {
    /// Before the old container's cord is cut: an interrupt stops here.
    pub fn before_cut(&self) -> bool {
        matches!(
            self,
            Stage::Listing
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

    /// The step this stage belongs to, for errors.
    pub fn step(&self) -> Step {
        match self {
            Stage::Listing => Step::ListContainers,
            Stage::Renaming => Step::RenameExisting,
            Stage::Auditing => Step::Audit,
            Stage::TyingCord => Step::TieCord,
            Stage::Starting => Step::RunNew,
            Stage::Waiting { step, .. } | Stage::Pausing { step, .. } => *step,
            Stage::Confirming => Step::WaitReady,
            Stage::ReadingMounts | Stage::ReadingAddress { old: true } => Step::FindOldCord,
            Stage::ReadingAddress { old: false } | Stage::Routing { present: true, .. } => Step::ConfirmRouted,
            Stage::Routing { present: false, .. } => Step::ConfirmUnrouted,
            Stage::CuttingCord => Step::CutOldCord,
            Stage::Retying { .. } => Step::TieOldCordAgain,
            Stage::CheckingNew => Step::CheckNew,
            Stage::StoppingOld => Step::StopOld,
            Stage::StoppingNew { .. } => Step::StopNew,
            Stage::Done | Stage::Failed(_) => Step::Done,
        }
    }
}

/// An input to a handover.
pub(crate) enum Input<'a> {
    Obs(&'a Observation),
    Timer,
}

/// One (host, role) handover.
#[derive(Clone, Debug)]
pub(crate) struct Handover {
    pub host: String,
    pub stage: Stage,
    /// The effect in flight, if any (a host runs one command at a time).
    pub inflight: Option<EffectId>,
    /// The live containers of the role to hand over from, the current one
    /// first (Kamal hands over from the newest only, so a fleet left with
    /// two live versions never converged).
    pub(super) olds: VecDeque<String>,
    pub(super) new_started: bool,
    /// IP addresses of the new and the old container, for route confirmation.
    pub(super) new_ips: Vec<String>,
    pub(super) old_ips: Vec<String>,
    /// The old container's cord, once read (its address too, in
    /// `old_ips`): `Some(None)` when it has none. Read while the new one
    /// starts, the handover needs no read between "ready" and the cut.
    pub(super) old_cord: Option<Option<String>>,
    /// The new container was seen ready.
    pub(super) new_ready: bool,
    /// When `docker run` of the new container was sent, and when the last
    /// status read was sent (for [`Timing::next_status_read`]).
    pub(super) run_sent: Time,
    pub(super) status_sent: Time,
    /// The old cord this handover cut (and has not tied again), and when.
    pub(super) cut: Option<(String, Time)>,
    /// The cut came when the new container turned healthy: the proxy's
    /// route to it is still to be confirmed, and the new container is read
    /// again before the stop.
    pub(super) overlapped: bool,
    /// Fell back to the sequential order (the proxy was too slow).
    pub(super) sequential: bool,
    /// The proxy was seen routing to the new container (or, without route
    /// confirmation, the pause for it was taken).
    pub(super) routed_new: bool,
}

impl Handover {
    /// Start the handover: list the role's containers.
    pub fn start(host: &str, ctx: &mut Ctx<'_>) -> Handover {
        let mut h = Handover {
            host: host.to_string(),
            stage: Stage::Listing,
            inflight: None,
            olds: VecDeque::new(),
            new_started: false,
            new_ips: vec![],
            old_ips: vec![],
            old_cord: None,
            new_ready: false,
            run_sent: 0,
            status_sent: 0,
            cut: None,
            overlapped: false,
            sequential: false,
            routed_new: false,
        };
        let c = cmds::list_role_containers(&ctx.plan.config, &ctx.role.name);
        h.go(ctx, Stage::Listing, Step::ListContainers);
        h.emit(ctx, true, Action::ListContainers, c);
        h
    }

    pub fn failure(&self) -> Option<&Failure> {
        match &self.stage {
            Stage::Failed(f) => Some(f),
            _ => None,
        }
    }

    pub fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// When this handover wants a timer, and why (None while a command is
    /// in flight).
    pub fn wake(&self, role: &str) -> Option<Wake> {
        if self.inflight.is_some() {
            return None;
        }
        let (at, reason) = match &self.stage {
            Stage::Waiting { next_poll: Some(t), .. } => (*t, Reason::StatusRead),
            Stage::Pausing { until, .. } => (*until, Reason::Pause),
            Stage::Routing { next_poll: Some(t), .. } => (*t, Reason::RouteRead),
            _ => return None,
        };
        Some(Wake::on(at, reason, &self.host, role))
    }

    /// One input. Reads top to bottom as the boot does.
    pub fn handle(&mut self, ctx: &mut Ctx<'_>, input: Input<'_>, now: Time) {
        if let Input::Obs(_) = input {
            self.inflight = None;
        }
        // A lost host fails where it stands; nothing can be cleaned up there.
        if let Input::Obs(obs) = input {
            if obs.is_unreachable() {
                // A `docker run` that never reached the host started nothing.
                if matches!(obs, Observation::NotConnected { .. }) && self.stage == Stage::Starting {
                    self.new_started = false;
                }
                let why = Why::Lost { said: Said::of(obs), left: self.left(ctx.role) };
                return self.fail(ctx, self.stage.step(), why, false);
            }
        }
        // Interrupted: a host whose old cord is still intact stops at this
        // safe point (its in-flight command has completed); one whose cord
        // was cut finishes its handover, since its new container serves.
        if ctx.interrupted && self.before_cut() {
            let why = Why::InterruptedSafe { left: self.left(ctx.role) };
            return self.record(ctx, Failure::new(&self.host, Some(&ctx.role.name), self.stage.step(), why));
        }
        match (self.stage.clone(), input) {
            (Stage::StoppingNew { failure }, Input::Obs(obs)) => self.cleaned_up(ctx, *failure, obs),
            (Stage::Listing, Input::Obs(obs)) => self.listed(ctx, obs, now),
            (Stage::Renaming, Input::Obs(obs)) => match obs {
                Observation::Exited { code: 0, .. } => self.write_boot_audit(ctx),
                _ => self.fail(ctx, Step::RenameExisting, Why::Command(Said::of(obs)), false),
            },
            (Stage::Auditing, Input::Obs(obs)) => match obs {
                Observation::Exited { code: 0, .. } if ctx.role.uses_cord => {
                    let dir = ctx.role.cord_dir.path.clone();
                    let c = cmds::tie_cord(&ctx.plan.config, &ctx.role.name, ctx.run_id);
                    self.go(ctx, Stage::TyingCord, Step::TieCord);
                    self.emit(ctx, false, Action::TieCord { dir }, c);
                }
                Observation::Exited { code: 0, .. } => self.run_new(ctx, now),
                _ => self.fail(ctx, Step::Audit, Why::Command(Said::of(obs)), false),
            },
            (Stage::TyingCord, Input::Obs(obs)) => match obs {
                Observation::Exited { code: 0, .. } => self.run_new(ctx, now),
                _ => self.fail(ctx, Step::TieCord, Why::Command(Said::of(obs)), false),
            },
            (Stage::Starting, Input::Obs(obs)) => self.started(ctx, obs, now),
            (stage, input) => self.handle_wait(ctx, stage, input, now),
        }
    }

    /// The user interrupted: stop here if the old cord is intact and no
    /// command is in flight (otherwise that command's answer stops it).
    pub fn interrupt(&mut self, ctx: &mut Ctx<'_>, now: Time) {
        if self.inflight.is_none() && self.before_cut() {
            self.handle(ctx, Input::Timer, now);
        }
    }

    /// Before the old cord is cut (or after it was tied again): an
    /// interrupt stops the handover here.
    fn before_cut(&self) -> bool {
        self.cut.is_none() && self.stage.before_cut()
    }

    /// Move to `stage` and report that the role is at `step`.
    pub(super) fn go(&mut self, ctx: &mut Ctx<'_>, stage: Stage, step: Step) {
        self.stage = stage;
        ctx.out.progress(&self.host, Some(&ctx.role.name), step);
    }

    /// Issue a command of this role.
    pub(super) fn emit(&mut self, ctx: &mut Ctx<'_>, poll: bool, action: Action, cmd: Command) {
        let e = Emit { host: &self.host, role: Some(&ctx.role.name), poll, action, cmd };
        self.inflight = Some(ctx.out.emit(ctx.owner, e));
    }

    fn listed(&mut self, ctx: &mut Ctx<'_>, obs: &Observation, _now: Time) {
        let Observation::Exited { code: 0, stdout, .. } = obs else {
            return self.fail(ctx, Step::ListContainers, Why::Command(Said::of(obs)), false);
        };
        let entries = match docker::parse_ps(stdout) {
            Ok(e) => e,
            Err(e) => return self.fail(ctx, Step::ListContainers, Why::Unreadable(e.to_string()), false),
        };
        // Every live container of the role is handed over from, the newest first.
        let new_name = &ctx.role.new_name;
        let mut live: VecDeque<String> = entries.iter().filter(|e| e.state.is_live()).map(|e| e.name.clone()).collect();
        if !entries.iter().any(|e| e.name == *new_name) {
            self.olds = live;
            return self.write_boot_audit(ctx);
        }
        // Same version booted again: move the existing one aside.
        let replaced = format!("{new_name}_replaced_{}", ctx.rng.hex(16));
        for n in live.iter_mut().filter(|n| *n == new_name) {
            *n = replaced.clone();
        }
        self.olds = live;
        let cfg = &ctx.plan.config;
        let text = format!("Renaming container {new_name} to {replaced}");
        let audit = cmds::audit(cfg, &ctx.plan.performer, Some(&ctx.role.name), &text);
        let c = Command::and_all([audit, cmds::rename(new_name, &replaced)]);
        let action = Action::Rename { from: new_name.clone(), to: replaced };
        self.go(ctx, Stage::Renaming, Step::RenameExisting);
        self.emit(ctx, false, action, c);
    }

    fn write_boot_audit(&mut self, ctx: &mut Ctx<'_>) {
        let (cfg, role) = (&ctx.plan.config, Some(ctx.role.name.as_str()));
        let message = format!("Booted app version {}", ctx.plan.version);
        let text = cmds::audit_text(cfg, &ctx.plan.performer, role, &message);
        let c = cmds::audit(cfg, &ctx.plan.performer, role, &message);
        self.go(ctx, Stage::Auditing, Step::Audit);
        self.emit(ctx, false, Action::Audit { text: text.clone() }, c);
        ctx.out.event(Event::Audit { host: self.host.clone(), role: Some(ctx.role.name.clone()), text });
    }

    fn run_new(&mut self, ctx: &mut Ctx<'_>, now: Time) {
        let cfg = &ctx.plan.config;
        let Some(role) = cfg.role(&ctx.role.name) else { return };
        let hostname = cmds::container_hostname(&self.host, &ctx.rng.hex(12));
        let c = cmds::run(cfg, role, &ctx.plan.version, &hostname, ctx.run_id);
        let action = Action::RunContainer {
            name: ctx.role.new_name.clone(),
            version: ctx.plan.version.clone(),
            cord_dir: ctx.role.uses_cord.then(|| ctx.role.cord_dir.path.clone()),
            health_interval_ms: ctx.role.health_interval_ms,
            proxied: ctx.role.proxied,
        };
        self.new_started = true;
        self.run_sent = now;
        self.go(ctx, Stage::Starting, Step::RunNew);
        self.emit(ctx, false, action, c);
    }

    /// `docker run` answered.
    fn started(&mut self, ctx: &mut Ctx<'_>, obs: &Observation, now: Time) {
        match obs {
            Observation::Exited { code: 0, .. } => self.after_started(ctx, now),
            Observation::TimedOut { after_ms, .. } => {
                // It may have started: find out, rather than stop a
                // container the proxy may already route to.
                let message = format!(
                    "docker run of {} gave no answer within {}s; checking whether it started",
                    ctx.role.new_name,
                    fmt_secs(*after_ms)
                );
                ctx.out.warn(Some(&self.host), message);
                self.after_started(ctx, now)
            }
            Observation::Exited { stderr, .. } => {
                // docker run refused: nothing runs under the new name.
                self.new_started = false;
                let said = Said::of(obs);
                let path = &ctx.role.env_file;
                let why = if stderr.contains(path.as_str()) && stderr.contains("no such file") {
                    Why::NoEnvFile { path: path.clone(), said }
                } else {
                    Why::Command(said)
                };
                self.fail(ctx, Step::RunNew, why, false)
            }
            // (Unreachable is handled for every stage in `handle`.)
            Observation::Unreachable { .. } | Observation::NotConnected { .. } => {
                self.fail(ctx, Step::RunNew, Why::Command(Said::of(obs)), false)
            }
        }
    }

    /// What may be left on the host if the handover stopped now.
    pub fn left(&self, role: &RoleCtx) -> Left {
        let new = role.new_name.clone();
        if let (Some(_), Some(old)) = (&self.cut, self.olds.front()) {
            return Left::CordCut { new, old: old.clone() };
        }
        match (&self.stage, self.olds.front()) {
            (Stage::Starting, old) if !self.new_started => Left::NotStarted { old: old.cloned() },
            (Stage::Listing | Stage::Renaming | Stage::Auditing | Stage::TyingCord, old) => {
                Left::NotStarted { old: old.cloned() }
            }
            (
                Stage::Starting
                | Stage::Waiting { step: Step::WaitHealthy, .. }
                | Stage::Pausing { .. }
                | Stage::Confirming
                | Stage::ReadingMounts,
                Some(old),
            ) => Left::BesideOld { new, old: old.clone() },
            (Stage::CuttingCord | Stage::Waiting { .. } | Stage::StoppingOld, Some(old)) => {
                Left::CordCut { new, old: old.clone() }
            }
            _ => Left::NewOnly { new },
        }
    }

    /// Fail this role. With `cleanup`, first stop the new container (it
    /// never became ready), then report.
    pub(super) fn fail(&mut self, ctx: &mut Ctx<'_>, step: Step, why: Why, cleanup: bool) {
        let f = Failure::new(&self.host, Some(&ctx.role.name), step, why);
        if cleanup && self.new_started {
            let name = ctx.role.new_name.clone();
            let c = cmds::stop(&ctx.plan.config, &name);
            self.go(ctx, Stage::StoppingNew { failure: Box::new(f) }, Step::StopNew);
            self.emit(ctx, false, Action::Stop { name }, c);
        } else {
            self.record(ctx, f);
        }
    }

    /// The new container was stopped (or not) after `failure`: report it.
    fn cleaned_up(&mut self, ctx: &mut Ctx<'_>, failure: Failure, obs: &Observation) {
        let stop = match obs {
            Observation::Exited { code: 0, .. } => None,
            other => Some(Said::of(other)),
        };
        let why = Why::CleanedUp {
            first: Box::new(failure.why),
            new: ctx.role.new_name.clone(),
            stop,
            old: self.olds.front().cloned(),
        };
        self.record(ctx, Failure { why, ..failure });
    }

    pub(super) fn record(&mut self, ctx: &mut Ctx<'_>, f: Failure) {
        ctx.out.event(Event::HostFailed(f.clone()));
        self.stage = Stage::Failed(Box::new(f));
    }

    /// Per-role context for notes: the step and what may be left.
    pub fn note(&self, role: &RoleCtx) -> String {
        format!("{}: {}", self.stage.step(), self.left(role))
    }
}
