//! The second half of a [`Handover`]: waiting for the new container to be
//! healthy (and routed to), reading the old container's cord, cutting it,
//! waiting for the old one to be unhealthy (and out of the proxy's table),
//! and stopping it.

use super::handover::{Ctx, Handover, Input, Stage};
use super::timing::StatusRead;
use crate::commands::{self as cmds, CordDir};
use crate::docker::{self, Health, State, Status};
use crate::effect::{Action, Observation, Step};
use crate::failure::{Both, Said, Why};
use crate::time::{fmt_secs, Time};

impl Handover {
    /// Inputs to the stages after `docker run`.
    pub(super) fn handle_wait(&mut self, ctx: &mut Ctx<'_>, stage: Stage, input: Input<'_>, now: Time) {
        match (stage, input) {
            (Stage::Waiting { step, next_poll: Some(_), deadline }, Input::Timer) => {
                let name = if step == Step::WaitHealthy { ctx.role.new_name.clone() } else { self.old() };
                self.stage = Stage::Waiting { step, deadline, next_poll: None };
                self.read_status(ctx, &name, now);
            }
            (Stage::Waiting { step: Step::WaitHealthy, deadline, .. }, Input::Obs(obs)) => {
                self.new_status(ctx, obs, deadline, now)
            }
            (Stage::Pausing { step: Step::PauseAfterHealthy, .. }, Input::Timer) => {
                self.routed_new = true;
                self.after_new_ready(ctx, now)
            }
            (Stage::Pausing { step: Step::WaitReady, .. }, Input::Timer) => {
                self.stage = Stage::Confirming;
                let name = ctx.role.new_name.clone();
                self.emit(ctx, true, Action::Status { name: name.clone() }, cmds::status(&name));
            }
            (Stage::Confirming, Input::Obs(obs)) => self.confirmed(ctx, obs, now),
            (Stage::ReadingMounts, Input::Obs(obs)) => self.mounts_read(ctx, obs, now),
            (Stage::CuttingCord, Input::Obs(obs)) => match obs {
                Observation::Exited { code: 0, .. } => self.after_cut(ctx, now),
                _ => {
                    let why = Why::CutFailed { said: Said::of(obs), new: ctx.role.new_name.clone(), old: self.old() };
                    self.fail(ctx, Step::CutOldCord, why, false)
                }
            },
            (Stage::Waiting { step: Step::WaitOldUnhealthy, deadline, .. }, Input::Obs(obs)) => {
                self.old_status(ctx, obs, deadline, now)
            }
            (Stage::Pausing { step: Step::PauseAfterUnhealthy, .. }, Input::Timer) => self.old_out(ctx),
            (Stage::Retying { fail }, Input::Obs(obs)) => self.retied(ctx, fail, obs, now),
            (Stage::CheckingNew, Input::Obs(obs)) => self.new_checked(ctx, obs),
            (Stage::StoppingOld, Input::Obs(obs)) => self.old_stopped(ctx, obs, now),
            (Stage::ReadingAddress { old }, Input::Obs(obs)) => self.address_read(ctx, old, obs, now),
            (Stage::Routing { present, deadline, next_poll: Some(_) }, Input::Timer) => {
                self.stage = Stage::Routing { present, deadline, next_poll: None };
                self.read_routes(ctx);
            }
            (Stage::Routing { present, deadline, .. }, Input::Obs(obs)) => {
                self.routes_read(ctx, present, deadline, obs, now)
            }
            // Anything else (a stray timer, a repeated input) changes nothing.
            _ => {}
        }
    }

    /// The old container being handed over from. Every stage that reads it
    /// is reached only with one (`olds` is not empty).
    fn old(&self) -> String {
        self.olds.front().cloned().unwrap_or_default()
    }

    fn read_status(&mut self, ctx: &mut Ctx<'_>, name: &str, now: Time) {
        self.status_sent = now;
        self.emit(ctx, true, Action::Status { name: name.to_string() }, cmds::status(name));
    }

    /// Wait on `name`'s health (`step`) until `deadline`: read it now.
    fn start_wait(&mut self, ctx: &mut Ctx<'_>, step: Step, name: &str, now: Time, deadline: Time) {
        self.go(ctx, Stage::Waiting { step, deadline, next_poll: None }, step);
        self.read_status(ctx, name, now);
    }

    fn pause(&mut self, ctx: &mut Ctx<'_>, step: Step, until: Time) {
        self.go(ctx, Stage::Pausing { step, until }, step);
    }

    /// While the new container starts (its first health check is an
    /// interval away), read the old container's cord and address, so that
    /// nothing is read between "ready" and the cut; then wait for the new
    /// one to be healthy.
    pub(super) fn after_started(&mut self, ctx: &mut Ctx<'_>, now: Time) {
        let early = !self.olds.is_empty() && ctx.role.uses_cord;
        #[cfg(feature = "_internal_test_exports")]
        let early = early && ctx.broken != Some(super::Broken::StopBeforeCut);
        if early {
            self.read_old_cord(ctx);
        } else {
            self.wait_new_healthy(ctx, now);
        }
    }

    fn wait_new_healthy(&mut self, ctx: &mut Ctx<'_>, now: Time) {
        let (name, deadline) = (ctx.role.new_name.clone(), now + ctx.role.timing.healthy_budget);
        self.start_wait(ctx, Step::WaitHealthy, &name, now, deadline);
    }

    /// A status read of the new container answered.
    fn new_status(&mut self, ctx: &mut Ctx<'_>, obs: &Observation, deadline: Time, now: Time) {
        let (new, timing) = (ctx.role.new_name.clone(), ctx.role.timing);
        let status = match obs {
            Observation::Exited { code: 0, stdout, .. } => match docker::parse_probe(stdout) {
                Ok(p) => Ok(p.status),
                Err(e) => {
                    let why = Why::NewStatusUnreadable { error: e.to_string(), new };
                    return self.fail(ctx, Step::WaitHealthy, why, false);
                }
            },
            other => Err(Said::of(other).to_string()),
        };
        match status {
            Ok(Status { state: State::Running, health: Some(Health::Healthy) }) if self.overlapping(ctx) => {
                // Cut now: the proxy's pickup of the new container overlaps
                // the old one's way out (docs/handover.md).
                self.overlapped = true;
                self.after_new_ready(ctx, now)
            }
            Ok(Status { state: State::Running, health: Some(Health::Healthy) }) if ctx.role.proxied => {
                self.confirm_new_routed(ctx, now)
            }
            Ok(Status { state: State::Running, health: Some(Health::Healthy) }) => self.after_new_ready(ctx, now),
            Ok(Status { state: State::Running, health: None }) => {
                self.pause(ctx, Step::WaitReady, now + timing.readiness_delay)
            }
            Ok(st @ Status { state: State::Exited | State::Dead | State::Restarting, .. }) => {
                self.fail(ctx, Step::WaitHealthy, Why::Crashed { new, status: st.render() }, true)
            }
            // Docker said it is not healthy yet (the proxy does not route
            // to it), or its status could not be read (it may be healthy,
            // and routed to: never stop it then).
            Ok(st) if now >= deadline => {
                let why = Why::NotHealthy { new, budget: timing.healthy_budget, last: st.render() };
                self.fail(ctx, Step::WaitHealthy, why, true)
            }
            Err(last) if now >= deadline => {
                let why = Why::NewStatusUnknown { new, budget: timing.healthy_budget, last };
                self.fail(ctx, Step::WaitHealthy, why, false)
            }
            _ => {
                let next = timing.next_status_read(StatusRead::New { run_sent: self.run_sent }, now, deadline);
                self.stage = Stage::Waiting { step: Step::WaitHealthy, deadline, next_poll: Some(next) };
            }
        }
    }

    /// After the readiness delay (no health check): is it still running?
    fn confirmed(&mut self, ctx: &mut Ctx<'_>, obs: &Observation, now: Time) {
        let running = Status { state: State::Running, health: None };
        let (ok, status) = match obs {
            Observation::Exited { code: 0, stdout, .. } => match docker::parse_probe(stdout) {
                Ok(p) => (p.status == running, p.status.render()),
                Err(e) => (false, e.to_string()),
            },
            other => (false, Said::of(other).to_string()),
        };
        if ok {
            return self.after_new_ready(ctx, now);
        }
        let why = Why::NotRunningAfterDelay {
            new: ctx.role.new_name.clone(),
            status,
            delay: ctx.role.timing.readiness_delay,
        };
        self.fail(ctx, Step::WaitReady, why, true)
    }

    /// The new container is healthy: confirm the proxy routes to it (or,
    /// without a routing table, pause for the proxy's pickup).
    fn confirm_new_routed(&mut self, ctx: &mut Ctx<'_>, now: Time) {
        if !*ctx.routes_ok {
            return self.pause(ctx, Step::PauseAfterHealthy, now + ctx.role.timing.proxy_pause);
        }
        if !self.new_ips.is_empty() {
            // Its address was read while it started.
            let stage = Stage::Routing { present: true, deadline: now + ctx.role.timing.route_budget, next_poll: None };
            self.go(ctx, stage, Step::ConfirmRouted);
            return self.read_routes(ctx);
        }
        let name = ctx.role.new_name.clone();
        self.go(ctx, Stage::ReadingAddress { old: false }, Step::ConfirmRouted);
        self.emit(ctx, true, Action::Addresses { name: name.clone() }, cmds::addresses(&name));
    }

    /// The new container serves: hand over from the old one, if any.
    fn after_new_ready(&mut self, ctx: &mut Ctx<'_>, now: Time) {
        self.new_ready = true;
        if self.olds.is_empty() {
            return self.role_done(ctx);
        }
        #[cfg(feature = "_internal_test_exports")]
        if ctx.broken == Some(super::Broken::StopBeforeCut) {
            return self.stop_old(ctx);
        }
        if self.cut.is_some() {
            // Cut before the new container was ready (only a broken variant does).
            let deadline = now + ctx.role.timing.unhealthy_budget;
            return self.start_wait(ctx, Step::WaitOldUnhealthy, &self.old(), now, deadline);
        }
        if ctx.role.uses_cord {
            self.old_cord_read(ctx, now)
        } else {
            self.stop_old(ctx)
        }
    }

    /// Cut at "healthy": a role that overlaps, a new container not yet seen
    /// routed, an old container with a cord, and (with route confirmation)
    /// a known health check rhythm to bound the wait for the route.
    fn overlapping(&self, ctx: &Ctx<'_>) -> bool {
        ctx.role.overlap
            && !self.sequential
            && !self.routed_new
            && matches!(self.old_cord, Some(Some(_)))
            && (!*ctx.routes_ok || ctx.role.tie_window.is_some())
    }

    /// The cord is cut. After a cut at "healthy" with route confirmation,
    /// see the new container in the proxy's table before the old one can
    /// turn unhealthy; otherwise wait for the old one to turn unhealthy.
    fn after_cut(&mut self, ctx: &mut Ctx<'_>, now: Time) {
        if !self.new_ready {
            // Cut before the new container was ready (only a broken variant does).
            return self.wait_new_healthy(ctx, now);
        }
        let timing = ctx.role.timing;
        match (self.overlapped && !self.routed_new && *ctx.routes_ok, ctx.role.tie_window, &self.cut) {
            (true, Some(window), Some((_, cut_sent))) => {
                let stage = Stage::Routing { present: true, deadline: cut_sent + window, next_poll: None };
                self.go(ctx, stage, Step::ConfirmRouted);
                self.read_routes(ctx);
            }
            _ => {
                let old = self.old();
                self.start_wait(ctx, Step::WaitOldUnhealthy, &old, now, now + timing.unhealthy_budget);
            }
        }
    }

    /// Tie the cut cord again: the old container's next check passes, and
    /// it stays in (or comes back into) rotation.
    fn retie(&mut self, ctx: &mut Ctx<'_>, fail: Option<Why>) {
        let Some((dir, _)) = self.cut.clone() else { return };
        self.go(ctx, Stage::Retying { fail: fail.map(Box::new) }, Step::TieOldCordAgain);
        self.emit(ctx, false, Action::RetieCord { dir: dir.clone() }, cmds::retie_cord(&dir));
    }

    fn retied(&mut self, ctx: &mut Ctx<'_>, fail: Option<Box<Why>>, obs: &Observation, now: Time) {
        let (new, old) = (ctx.role.new_name.clone(), self.old());
        if !matches!(obs, Observation::Exited { code: 0, .. }) {
            return self.fail(ctx, Step::TieOldCordAgain, Why::RetieFailed { said: Said::of(obs), new, old }, false);
        }
        let Some((dir, _)) = self.cut.take() else { return };
        if let Some(why) = fail {
            return self.fail(ctx, Step::CheckNew, *why, false);
        }
        // Fall back to the sequential order: confirm the route, then cut again.
        let window = ctx.role.tie_window.unwrap_or_default();
        let message = format!(
            "the proxy did not route to {new} within {}s of it turning healthy, before {old} could turn unhealthy: {old}'s cord was tied again; baton now waits for the route before cutting it (as with baton.cut_at: routed)",
            fmt_secs(window)
        );
        ctx.out.warn(Some(&self.host), message);
        self.sequential = true;
        self.overlapped = false;
        self.old_cord = Some(Some(dir));
        let deadline = now + ctx.role.timing.route_budget;
        self.stage = Stage::Routing { present: true, deadline, next_poll: None };
        self.read_routes(ctx);
    }

    /// The old container is out of rotation. After a cut at "healthy", read
    /// the new container once more: the old one stops only while the new
    /// one is healthy.
    fn old_out(&mut self, ctx: &mut Ctx<'_>) {
        if !self.overlapped {
            return self.stop_old(ctx);
        }
        let name = ctx.role.new_name.clone();
        self.go(ctx, Stage::CheckingNew, Step::CheckNew);
        self.emit(ctx, true, Action::Status { name: name.clone() }, cmds::status(&name));
    }

    fn new_checked(&mut self, ctx: &mut Ctx<'_>, obs: &Observation) {
        let status = match obs {
            Observation::Exited { code: 0, stdout, .. } => match docker::parse_probe(stdout) {
                Ok(p) if p.status == Status { state: State::Running, health: Some(Health::Healthy) } => {
                    return self.stop_old(ctx)
                }
                Ok(p) => p.status.render(),
                Err(e) => e.to_string(),
            },
            other => Said::of(other).to_string(),
        };
        let why = Why::NewUnhealthyAfterCut { new: ctx.role.new_name.clone(), status, old: self.old() };
        self.retie(ctx, Some(why))
    }

    /// Read the old container's mounts, to find its cord.
    fn read_old_cord(&mut self, ctx: &mut Ctx<'_>) {
        let old = self.old();
        self.go(ctx, Stage::ReadingMounts, Step::FindOldCord);
        self.emit(ctx, true, Action::Mounts { name: old.clone() }, cmds::mounts(&old));
    }

    /// The old container's cord (and address) are known: go on with the
    /// handover if the new container is ready, else wait for it.
    fn old_cord_read(&mut self, ctx: &mut Ctx<'_>, now: Time) {
        #[cfg(feature = "_internal_test_exports")]
        let cut_early = ctx.broken == Some(super::Broken::CutBeforeHealthy) && matches!(self.old_cord, Some(Some(_)));
        #[cfg(not(feature = "_internal_test_exports"))]
        let cut_early = false;
        if !self.new_ready && !cut_early {
            // Cutting at "healthy" with route confirmation: know the new
            // container's address too before it is healthy.
            if ctx.role.overlap && ctx.role.tie_window.is_some() && *ctx.routes_ok && self.new_ips.is_empty() {
                let name = ctx.role.new_name.clone();
                self.stage = Stage::ReadingAddress { old: false };
                return self.emit(ctx, true, Action::Addresses { name: name.clone() }, cmds::addresses(&name));
            }
            return self.wait_new_healthy(ctx, now);
        }
        match self.old_cord.take() {
            Some(Some(dir)) => {
                self.cut = Some((dir.clone(), now));
                self.go(ctx, Stage::CuttingCord, Step::CutOldCord);
                let c = cmds::cut_cord(&dir);
                self.emit(ctx, false, Action::CutCord { dir }, c);
            }
            // No cord: stopped without the handover (the warning was given).
            Some(None) => self.stop_old(ctx),
            None => self.read_old_cord(ctx),
        }
    }

    fn mounts_read(&mut self, ctx: &mut Ctx<'_>, obs: &Observation, now: Time) {
        let old = self.old();
        let both = Both { new: ctx.role.new_name.clone(), old: old.clone(), new_ready: self.new_ready };
        let Observation::Exited { code: 0, stdout, .. } = obs else {
            let why = Why::CordUnread { error: Said::of(obs).to_string(), both };
            return self.fail(ctx, Step::FindOldCord, why, false);
        };
        let mounts = match docker::parse_mounts(stdout) {
            Ok(m) => m,
            Err(e) => return self.fail(ctx, Step::FindOldCord, Why::CordUnread { error: e.to_string(), both }, false),
        };
        let cord = ctx.role.cord_mount.clone();
        match docker::cord_source(&mounts, &cord) {
            None => {
                let message = format!(
                    "the old container {old} has no cord (it was not started with one); it is stopped without the cord handover, as Kamal does, so requests in flight to it may fail"
                );
                ctx.out.warn(Some(&self.host), message);
                self.old_cord = Some(None);
                self.old_cord_read(ctx, now);
            }
            Some(dir) if CordDir::run_id_of(dir, &ctx.role.full_name).is_none() => {
                let why = Why::NotACordDir { old, dir: dir.to_string(), cord, both };
                self.fail(ctx, Step::FindOldCord, why, false)
            }
            Some(dir) if *ctx.routes_ok => {
                // Know the old container's address before it goes out of rotation.
                self.old_cord = Some(Some(dir.to_string()));
                self.stage = Stage::ReadingAddress { old: true };
                self.emit(ctx, true, Action::Addresses { name: old.clone() }, cmds::addresses(&old));
            }
            Some(dir) => {
                self.old_cord = Some(Some(dir.to_string()));
                self.old_cord_read(ctx, now);
            }
        }
    }

    fn old_status(&mut self, ctx: &mut Ctx<'_>, obs: &Observation, deadline: Time, now: Time) {
        let (status, out_of_rotation, streak) = match obs {
            Observation::Exited { code: 0, stdout, .. } => match docker::parse_probe(stdout) {
                // The proxy drops a container that is unhealthy or not running.
                Ok(docker::Probe { status: st, failing_streak }) => (
                    st.render(),
                    st.health == Some(Health::Unhealthy) || st.state != State::Running,
                    Some(failing_streak),
                ),
                Err(e) => return self.fail(ctx, Step::WaitOldUnhealthy, Why::Unreadable(e.to_string()), false),
            },
            other => (Said::of(other).to_string(), false, None),
        };
        #[cfg(feature = "_internal_test_exports")]
        if out_of_rotation && ctx.broken == Some(super::Broken::NoPauseAfterUnhealthy) {
            return self.pause(ctx, Step::PauseAfterUnhealthy, now);
        }
        let timing = ctx.role.timing;
        if out_of_rotation {
            self.confirm_old_unrouted(ctx, now)
        } else if now >= deadline {
            // Never stop a container the proxy may still route to. It
            // keeps serving; the user is told.
            let why = Why::OldStillHealthy {
                old: self.old(),
                status,
                budget: timing.unhealthy_budget,
                new: ctx.role.new_name.clone(),
            };
            self.fail(ctx, Step::WaitOldUnhealthy, why, false)
        } else {
            let read = StatusRead::Old { status_sent: self.status_sent, streak };
            let next = timing.next_status_read(read, now, deadline);
            self.stage = Stage::Waiting { step: Step::WaitOldUnhealthy, deadline, next_poll: Some(next) };
        }
    }

    /// The old container is out of rotation by Docker's account: confirm the
    /// proxy dropped it (or pause for the proxy's pickup).
    fn confirm_old_unrouted(&mut self, ctx: &mut Ctx<'_>, now: Time) {
        let timing = ctx.role.timing;
        if !*ctx.routes_ok || self.old_ips.is_empty() {
            return self.pause(ctx, Step::PauseAfterUnhealthy, now + timing.proxy_pause);
        }
        let stage = Stage::Routing { present: false, deadline: now + timing.route_budget, next_poll: None };
        self.go(ctx, stage, Step::ConfirmUnrouted);
        self.read_routes(ctx);
    }

    fn stop_old(&mut self, ctx: &mut Ctx<'_>) {
        let old = self.old();
        self.go(ctx, Stage::StoppingOld, Step::StopOld);
        let c = match &self.cut {
            Some((dir, _)) => cmds::stop_and_clear_cord(&ctx.plan.config, &old, dir),
            None => cmds::stop(&ctx.plan.config, &old),
        };
        self.emit(ctx, false, Action::Stop { name: old }, c);
    }

    fn old_stopped(&mut self, ctx: &mut Ctx<'_>, obs: &Observation, now: Time) {
        let old = self.old();
        match obs {
            // Not Kamal's "stop failed" (which it ignores): nobody knows
            // whether it stopped. It is out of rotation either way.
            Observation::TimedOut { .. } => {
                let why = Why::StopUnanswered { said: Said::of(obs), old, new: ctx.role.new_name.clone() };
                return self.fail(ctx, Step::StopOld, why, false);
            }
            // As Kamal: a failed stop of the old container is not a failed deploy.
            Observation::Exited { code: 0, .. } => {}
            other => {
                let message =
                    format!("stopping the old container {old} failed ({}); it is out of rotation", Said::of(other));
                ctx.out.warn(Some(&self.host), message);
            }
        }
        self.olds.pop_front();
        if self.olds.is_empty() || ctx.interrupted {
            self.role_done(ctx);
        } else {
            // Another live container of the role: hand over from it too.
            self.old_ips.clear();
            self.old_cord = None;
            self.cut = None;
            self.overlapped = false;
            self.after_new_ready(ctx, now);
        }
    }

    fn address_read(&mut self, ctx: &mut Ctx<'_>, old: bool, obs: &Observation, now: Time) {
        let ips = match obs {
            Observation::Exited { code: 0, stdout, .. } => docker::parse_addresses(stdout),
            _ => vec![],
        };
        if ips.is_empty() {
            self.routes_unusable(ctx, &format!("the container's address could not be read ({})", Said::of(obs)));
        }
        let timing = ctx.role.timing;
        if old {
            self.old_ips = ips;
            self.old_cord_read(ctx, now);
        } else if !self.new_ready {
            // Read early, while the new container starts.
            self.new_ips = ips;
            self.wait_new_healthy(ctx, now);
        } else if *ctx.routes_ok {
            self.new_ips = ips;
            self.stage = Stage::Routing { present: true, deadline: now + timing.route_budget, next_poll: None };
            self.read_routes(ctx);
        } else {
            self.pause(ctx, Step::PauseAfterHealthy, now + timing.proxy_pause);
        }
    }

    fn read_routes(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(c) = cmds::routes(&ctx.plan.config) {
            self.emit(ctx, true, Action::Routes, c);
        }
    }

    /// Route confirmation cannot work on this host: say so once, and pause
    /// from now on.
    fn routes_unusable(&mut self, ctx: &mut Ctx<'_>, why: &str) {
        if *ctx.routes_ok {
            *ctx.routes_ok = false;
            let message = format!(
                "cannot confirm routes with the proxy ({why}); pausing {}s for it instead, which is a guess",
                fmt_secs(ctx.role.timing.proxy_pause)
            );
            ctx.out.warn(Some(&self.host), message);
        }
    }

    fn routes_read(&mut self, ctx: &mut Ctx<'_>, present: bool, deadline: Time, obs: &Observation, now: Time) {
        let timing = ctx.role.timing;
        let table = match obs {
            Observation::Exited { code: 0, stdout, .. } => {
                docker::parse_traefik_services(stdout).map_err(|e| e.to_string())
            }
            other => Err(Said::of(other).to_string()),
        };
        let table = match table {
            Ok(t) => t,
            Err(e) => {
                // No table to read: fall back to the pause.
                self.routes_unusable(ctx, &e);
                if present && self.cut.is_some() {
                    // Cut at "healthy" already: go on as without route confirmation.
                    let old = self.old();
                    return self.start_wait(ctx, Step::WaitOldUnhealthy, &old, now, now + timing.unhealthy_budget);
                }
                let step = if present { Step::PauseAfterHealthy } else { Step::PauseAfterUnhealthy };
                return self.pause(ctx, step, now + timing.proxy_pause);
            }
        };
        let ips = if present { &self.new_ips } else { &self.old_ips };
        let routed = table.get(&ctx.role.full_name).is_some_and(|servers| servers.iter().any(|s| ips.contains(s)));
        let (new, old, budget) = (ctx.role.new_name.clone(), self.old(), timing.route_budget);
        match (present, routed) {
            (true, true) => {
                self.routed_new = true;
                if self.cut.is_some() {
                    // Cut at "healthy": now wait for the old one to turn unhealthy.
                    let old = self.old();
                    self.start_wait(ctx, Step::WaitOldUnhealthy, &old, now, now + timing.unhealthy_budget)
                } else {
                    self.after_new_ready(ctx, now)
                }
            }
            (false, false) => self.old_out(ctx),
            // Not routed before the old one could turn unhealthy: tie again.
            (true, false) if self.cut.is_some() && now >= deadline => self.retie(ctx, None),
            _ if now < deadline => {
                let next = (now + timing.poll).min(deadline);
                self.stage = Stage::Routing { present, deadline, next_poll: Some(next) };
            }
            // It is confirmed out of the proxy's table: stopping it is safe.
            (true, _) => self.fail(ctx, Step::ConfirmRouted, Why::NeverRouted { new, budget, old }, true),
            (false, _) => self.fail(ctx, Step::ConfirmUnrouted, Why::StillRouted { old, budget, new }, false),
        }
    }

    fn role_done(&mut self, ctx: &mut Ctx<'_>) {
        self.go(ctx, Stage::Done, Step::Done);
    }
}
