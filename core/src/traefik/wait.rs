//! `traefik reboot --rolling`'s wait after each host: until the host's
//! Traefik answers again and its routing table holds the app, before the
//! next host's Traefik goes down.
//!
//! With a routes command (`baton.routes`), the wait first lists the app's
//! roles with a healthy running container on the host (Traefik routes only
//! to healthy containers), then reads the routing table every
//! `baton.poll_interval` until it answers and holds a server of each such
//! role's service. Without one, it reads the container's state until it is
//! `running`, and says that routes were not confirmed. Either way it gives
//! up after a budget (at least 30 s, or five proxy pickups, plus the
//! pause margin): the failure stops the rolling reboot there.

use crate::batch::{Kind, Step, StepResult};
use crate::commands::traefik as t;
use crate::docker;
use crate::effect::{Action, Cmd, Effect, EffectId, Event, Observation, Outcome};
use crate::failure::{Failure, Said, Why};
use crate::machine::{Machine, Reason, Wake};
use crate::plan::Plan;
use crate::shell::Command;
use crate::time::{Millis, Time};
use std::collections::VecDeque;

/// The least time Traefik is given to come back.
pub const MIN_BUDGET_MS: Millis = 30_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Listing the roles with a healthy app container on the host.
    App,
    /// Reading the routing table.
    Routes,
    /// Reading the container's state (no routes command).
    State,
    Done,
}

/// Waits for one host's Traefik after its reboot.
#[derive(Clone, Debug)]
pub struct ProxyBack {
    host: String,
    routes: Option<Command>,
    /// The app's proxied roles selected on this host: (role, service name).
    proxied: Vec<(String, String)>,
    /// The services the table must hold (those with a healthy container).
    expected: Vec<String>,
    stage: Stage,
    poll: Millis,
    budget: Millis,
    deadline: Time,
    wake: Option<Time>,
    pending: Option<(EffectId, Step)>,
    /// What was seen last, for the failure.
    last: String,
    next_id: u64,
    effects: VecDeque<Effect>,
    events: VecDeque<Event>,
    interrupted: bool,
    finished: bool,
}

impl ProxyBack {
    /// The wait for `host`, starting at `now` (right after its reboot).
    pub fn new(plan: &Plan, host: &str, now: Time) -> ProxyBack {
        let cfg = &plan.config;
        let proxied = plan
            .roles_on(host)
            .into_iter()
            .filter(|r| cfg.role(r).is_some_and(|r| r.spec.proxied))
            .map(|r| {
                let s = cfg.role_full_name(&r);
                (r, s)
            })
            .collect::<Vec<_>>();
        let budget = MIN_BUDGET_MS.max(5 * cfg.baton.proxy_pickup_ms) + cfg.baton.pause_margin_ms;
        let routes = crate::commands::routes(cfg);
        let mut w = ProxyBack {
            host: host.to_string(),
            stage: if routes.is_some() { Stage::App } else { Stage::State },
            routes,
            proxied,
            expected: vec![],
            poll: cfg.baton.poll_interval_ms,
            budget,
            deadline: now + budget,
            wake: None,
            pending: None,
            last: "not read yet".into(),
            next_id: 0,
            effects: VecDeque::new(),
            events: VecDeque::new(),
            interrupted: false,
            finished: false,
        };
        let first = match w.stage {
            Stage::App if w.proxied.is_empty() => {
                w.stage = Stage::Routes;
                w.read_step()
            }
            Stage::App => Step::poll(host, None, "traefik app", t::healthy_app_roles(cfg)),
            _ => w.read_step(),
        };
        w.issue(first);
        w
    }

    /// The read of the current stage (routes or state).
    fn read_step(&self) -> Step {
        match (&self.routes, self.stage) {
            (Some(c), Stage::Routes) => {
                Step::poll(&self.host, None, "traefik back", c.clone()).with_action(Action::Routes)
            }
            _ => Step::poll(&self.host, None, "traefik back", t::state()),
        }
    }

    fn issue(&mut self, step: Step) {
        let id = EffectId(self.next_id);
        self.next_id += 1;
        let c = Cmd {
            id,
            host: step.host.clone(),
            role: None,
            action: step.action.clone(),
            cmd: step.cmd.clone(),
            stdin: None,
        };
        self.effects.push_back(Effect::Poll(c));
        self.pending = Some((id, step));
    }

    fn finish(&mut self, outcome: Outcome) {
        self.stage = Stage::Done;
        self.wake = None;
        self.finished = true;
        self.events.push_back(Event::Finished(outcome));
    }

    fn fail(&mut self, why: Why) {
        let f = Failure { host: self.host.clone(), role: None, step: None, why };
        self.events.push_back(Event::HostFailed(f.clone()));
        self.finish(Outcome::Failed { failures: vec![f] });
    }

    /// Read again after `poll`, or give up at the deadline.
    fn again(&mut self, now: Time) {
        if now >= self.deadline {
            let last = std::mem::take(&mut self.last);
            return self.fail(Why::ProxyNotBack { budget: self.budget, last });
        }
        self.wake = Some((now + self.poll).min(self.deadline));
    }

    /// The roles listed by the app read → the services the table must hold.
    fn app_read(&mut self, obs: &Observation) {
        match obs {
            Observation::Exited { code: 0, stdout, .. } => {
                let healthy: Vec<&str> = stdout.lines().map(str::trim).collect();
                self.expected = self
                    .proxied
                    .iter()
                    .filter(|(r, _)| healthy.contains(&r.as_str()))
                    .map(|(_, s)| s.clone())
                    .collect();
            }
            other => self.events.push_back(Event::Warning {
                host: Some(self.host.clone()),
                message: format!(
                    "the app's containers could not be listed ({}); waiting only for Traefik to answer",
                    Said::of(other)
                ),
            }),
        }
        self.stage = Stage::Routes;
        let step = self.read_step();
        self.issue(step);
    }

    /// Is Traefik back? Sets `last` when not.
    fn back(&mut self, obs: &Observation) -> bool {
        let Observation::Exited { code: 0, stdout, .. } = obs else {
            self.last = format!("it did not answer: {}", Said::of(obs));
            return false;
        };
        if self.stage == Stage::State {
            let state = stdout.trim();
            self.last = format!("the container is {}", if state.is_empty() { "not there" } else { state });
            return state == "running";
        }
        match docker::parse_traefik_services(stdout) {
            Err(e) => {
                self.last = e.to_string();
                false
            }
            Ok(table) => {
                let missing: Vec<&str> = self
                    .expected
                    .iter()
                    .filter(|s| table.get(*s).is_none_or(|servers| servers.is_empty()))
                    .map(String::as_str)
                    .collect();
                self.last = format!("it answers, but its routing table does not hold {}", missing.join(", "));
                missing.is_empty()
            }
        }
    }
}

impl Machine for ProxyBack {
    fn handle_observation(&mut self, obs: &Observation, now: Time) -> bool {
        let Some((id, step)) = self.pending.take() else { return false };
        if id != obs.id() {
            self.pending = Some((id, step));
            return false;
        }
        if self.interrupted {
            self.fail(Why::NotRun { steps: vec![] });
            return true;
        }
        if self.stage == Stage::App {
            self.app_read(obs);
            return true;
        }
        if self.back(obs) {
            if self.stage == Stage::State {
                self.events.push_back(Event::Warning {
                    host: Some(self.host.clone()),
                    message: "Traefik runs again, but its routes were not confirmed: baton.routes is not set (add `api.insecure: true` under traefik.args and set baton.routes: traefik)".into(),
                });
            }
            let result = StepResult { phase: "traefik back", step, observation: obs.clone() };
            self.events.push_back(Event::StepDone(Box::new(result)));
            self.finish(Outcome::Succeeded);
        } else {
            self.again(now);
        }
        true
    }

    fn handle_timeout(&mut self, now: Time) {
        if self.wake.is_some_and(|at| at <= now) && self.pending.is_none() && !self.finished {
            self.wake = None;
            let step = self.read_step();
            self.issue(step);
        }
    }

    /// Stop reading: the host's reboot is done, whether its Traefik is
    /// back is not known; the next hosts are not rebooted.
    fn handle_interrupt(&mut self, _now: Time) {
        if self.finished || self.interrupted {
            return;
        }
        self.interrupted = true;
        if self.pending.is_none() {
            self.fail(Why::NotRun { steps: vec![] });
        }
    }

    fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Wake> {
        let reason = if self.stage == Stage::State { Reason::StatusRead } else { Reason::RouteRead };
        self.wake.map(|at| Wake { at, reason, host: Some(self.host.clone()), role: None })
    }

    fn is_finished(&self) -> bool {
        self.finished
    }

    fn state_notes(&self) -> Vec<(String, String)> {
        vec![(self.host.clone(), "Traefik was rebooted; whether it is back was not confirmed".into())]
    }
}

/// A step's kind, for callers that sort results (the wait's reads are work).
pub fn is_wait_step(s: &Step) -> bool {
    s.kind == Kind::Work && s.label == "traefik back"
}
