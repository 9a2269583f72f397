//! `healthcheck perform` as a sans-IO [`Machine`], as Kamal 1.0's: on the
//! primary host, start a throw-away container of the version
//! (`healthcheck-<service>[-<destination>]-<version>`, published on
//! `healthcheck.exposed_port`), read its health until it is healthy, then
//! stop and remove it: always, also after a failure or an interrupt.
//!
//! The reads follow Kamal's poller: after the `n`-th read that is not
//! healthy, wait `n` seconds, at most `max_attempts` times. A container
//! that has exited is not waited for (Kamal waits anyway). When it never
//! turns healthy, its last `log_lines` log lines and Docker's health log are
//! read before it is removed, and the failure carries them.

use crate::commands::{self as cmds, healthcheck as hc};
use crate::docker::{parse_health_log, parse_probe, Health, State};
use crate::effect::{Action, Cmd, Effect, EffectId, Event, Observation, Outcome, Step};
use crate::failure::{Diagnosis, Failure, Said, Why};
use crate::machine::{Machine, Reason, Wake};
use crate::plan::Plan;
use crate::shell::Command;
use crate::time::Time;
use std::collections::VecDeque;

/// Where the health check stands: each stage waits for one answer, but `Wait`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Run,
    Read,
    /// Until the next read (a [`Reason::StatusRead`] wake-up).
    Wait,
    Logs,
    HealthLog,
    Stop,
    Remove,
    Done,
}

/// How the health check went so far.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Verdict {
    /// Not decided yet (or healthy, once the container is removed).
    Open,
    Healthy,
    /// `docker run` failed.
    RunFailed(Said),
    NotHealthy,
}

/// `healthcheck perform`.
#[derive(Clone, Debug)]
pub struct Healthcheck {
    host: String,
    name: String,
    version: String,
    run_cmd: Command,
    health_interval_ms: Option<u64>,
    max_attempts: u32,
    log_lines: u32,
    stage: Stage,
    /// Reads that were not healthy so far.
    misses: u32,
    last: String,
    wake: Option<Wake>,
    pending: Option<EffectId>,
    next_id: u64,
    effects: VecDeque<Effect>,
    events: VecDeque<Event>,
    verdict: Verdict,
    diagnosis: Diagnosis,
    removed: bool,
    interrupted: bool,
    finished: bool,
}

impl Healthcheck {
    /// The health check of `plan.version` on the primary host of the
    /// selection, with the container settings of the config's primary role
    /// (Kamal 1.0 uses `web`, which is the primary role unless configured).
    pub fn new(plan: &Plan) -> Healthcheck {
        let cfg = &plan.config;
        let role = cfg.role(&cfg.primary_role).or_else(|| cfg.roles.first()).expect("a config has a role");
        let mut h = Healthcheck {
            host: plan.primary_host().to_string(),
            name: hc::container_name(cfg, &plan.version),
            version: plan.version.clone(),
            run_cmd: hc::run(cfg, role, &plan.version),
            health_interval_ms: role.spec.health_interval_ms(),
            max_attempts: cfg.healthcheck.max_attempts,
            log_lines: cfg.healthcheck.log_lines,
            stage: Stage::Run,
            misses: 0,
            last: "not read yet".into(),
            wake: None,
            pending: None,
            next_id: 0,
            effects: VecDeque::new(),
            events: VecDeque::new(),
            verdict: Verdict::Open,
            diagnosis: Diagnosis { lines: cfg.healthcheck.log_lines, ..Diagnosis::default() },
            removed: false,
            interrupted: false,
            finished: false,
        };
        h.progress(Step::HealthcheckStart);
        let action = Action::RunContainer {
            name: h.name.clone(),
            version: h.version.clone(),
            cord_dir: None,
            health_interval_ms: h.health_interval_ms,
            proxied: false,
        };
        h.issue(false, action, h.run_cmd.clone());
        h
    }

    /// The host it runs on.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Every command it may run, in order, with what it is for: what
    /// `--dry-run` prints. The reads of logs and health log run only when
    /// the container never turns healthy.
    pub fn script(&self) -> Vec<(&'static str, Command)> {
        vec![
            ("start", self.run_cmd.clone()),
            ("status", cmds::status(&self.name)),
            ("logs", hc::logs(&self.name, self.log_lines)),
            ("health log", hc::health_log(&self.name)),
            ("stop", hc::stop(&self.name)),
            ("remove", hc::remove(&self.name)),
        ]
    }

    fn progress(&mut self, step: Step) {
        self.events.push_back(Event::Progress { host: self.host.clone(), role: None, step });
    }

    fn issue(&mut self, poll: bool, action: Action, cmd: Command) {
        let id = EffectId(self.next_id);
        self.next_id += 1;
        let c = Cmd { id, host: self.host.clone(), role: None, action, cmd, stdin: None };
        self.effects.push_back(if poll { Effect::Poll(c) } else { Effect::RunCmd(c) });
        self.pending = Some(id);
    }

    fn read(&mut self) {
        self.stage = Stage::Read;
        self.issue(true, Action::Status { name: self.name.clone() }, cmds::status(&self.name));
    }

    fn diagnose(&mut self) {
        self.progress(Step::HealthcheckDiagnose);
        self.stage = Stage::Logs;
        self.issue(true, Action::Other, hc::logs(&self.name, self.log_lines));
    }

    fn cleanup(&mut self) {
        self.progress(Step::HealthcheckRemove);
        self.stage = Stage::Stop;
        self.wake = None;
        self.issue(false, Action::Stop { name: self.name.clone() }, hc::stop(&self.name));
    }

    /// What a status read says: healthy, hopeless (exited), or not yet.
    fn on_read(&mut self, obs: &Observation, now: Time) {
        let probe = match obs {
            Observation::Exited { code: 0, stdout, .. } => parse_probe(stdout).map_err(|e| e.to_string()),
            other => Err(Said::of(other).to_string()),
        };
        match probe {
            Ok(p) if p.status.health == Some(Health::Healthy) => return self.healthy(),
            Ok(p) if p.status.health.is_none() && p.status.state == State::Running => return self.healthy(),
            Ok(p) => {
                self.last = p.status.render();
                if !p.status.state.is_live() {
                    self.misses += 1;
                    self.verdict = Verdict::NotHealthy;
                    return self.diagnose();
                }
            }
            Err(e) => self.last = e,
        }
        self.misses += 1;
        if self.interrupted {
            return self.cleanup();
        }
        if self.misses <= self.max_attempts {
            // Kamal's poller: wait 1 s after the first miss, 2 s after the second…
            self.stage = Stage::Wait;
            let at = now + u64::from(self.misses) * 1000;
            self.wake = Some(Wake { at, reason: Reason::StatusRead, host: Some(self.host.clone()), role: None });
        } else {
            self.verdict = Verdict::NotHealthy;
            self.diagnose();
        }
    }

    fn healthy(&mut self) {
        self.verdict = Verdict::Healthy;
        self.last = "healthy".into();
        self.cleanup();
    }

    fn finish(&mut self) {
        self.stage = Stage::Done;
        self.finished = true;
        let fail = |step, why| Outcome::Failed { failures: vec![Failure::new(&self.host, None, step, why)] };
        let outcome = match &self.verdict {
            Verdict::Healthy if !self.removed => {
                self.events.push_back(Event::Warning {
                    host: Some(self.host.clone()),
                    message: format!(
                        "the health check passed, but its container {} could not be removed: remove it with `docker container rm -f {}`",
                        self.name, self.name
                    ),
                });
                Outcome::Succeeded
            }
            Verdict::Healthy => Outcome::Succeeded,
            Verdict::RunFailed(said) => fail(Step::HealthcheckStart, Why::Command(said.clone())),
            Verdict::NotHealthy => fail(
                Step::HealthcheckWait,
                Why::HealthcheckNotHealthy {
                    name: self.name.clone(),
                    reads: self.misses,
                    last: self.last.clone(),
                    removed: self.removed,
                    diagnosis: self.diagnosis.clone(),
                },
            ),
            Verdict::Open => Outcome::Failed {
                failures: vec![Failure {
                    host: self.host.clone(),
                    role: None,
                    step: None,
                    why: Why::HealthcheckInterrupted { name: self.name.clone(), removed: self.removed },
                }],
            },
        };
        self.events.push_back(Event::Finished(outcome));
    }
}

impl Machine for Healthcheck {
    fn handle_observation(&mut self, obs: &Observation, now: Time) -> bool {
        if self.pending != Some(obs.id()) {
            return false;
        }
        self.pending = None;
        let ok = matches!(obs, Observation::Exited { code: 0, .. });
        match self.stage {
            Stage::Run if ok && !self.interrupted => {
                self.progress(Step::HealthcheckWait);
                self.read();
            }
            Stage::Run => {
                if !ok {
                    self.verdict = Verdict::RunFailed(Said::of(obs));
                }
                // It may exist all the same (a lost answer, a name taken by a leftover).
                self.cleanup();
            }
            Stage::Read => self.on_read(obs, now),
            Stage::Logs => {
                self.diagnosis.logs = Some(match obs {
                    Observation::Exited { code: 0, stdout, .. } => Ok(stdout.clone()),
                    other => Err(Said::of(other)),
                });
                self.stage = Stage::HealthLog;
                self.issue(true, Action::Other, hc::health_log(&self.name));
            }
            Stage::HealthLog => {
                self.diagnosis.health_log = Some(match obs {
                    Observation::Exited { code: 0, stdout, .. } => parse_health_log(stdout).map_err(|e| e.to_string()),
                    other => Err(Said::of(other).to_string()),
                });
                self.cleanup();
            }
            Stage::Stop => {
                // Removed next whatever the stop said (a container that has
                // exited cannot be stopped again, and is removed all the same).
                self.stage = Stage::Remove;
                self.issue(false, Action::Remove { name: self.name.clone() }, hc::remove(&self.name));
            }
            Stage::Remove => {
                self.removed = ok;
                self.finish();
            }
            Stage::Wait | Stage::Done => return false,
        }
        true
    }

    fn handle_timeout(&mut self, now: Time) {
        if self.stage == Stage::Wait && self.wake.as_ref().is_some_and(|w| w.at <= now) {
            self.wake = None;
            self.read();
        }
    }

    /// The container is stopped and removed at once (after the command in
    /// flight, if any); a failure already found is still reported.
    fn handle_interrupt(&mut self, _now: Time) {
        if self.interrupted || self.finished {
            return;
        }
        self.interrupted = true;
        self.events.push_back(Event::Warning {
            host: Some(self.host.clone()),
            message: format!(
                "interrupted: the health check container {} is stopped and removed (press Ctrl-C again to abort at once)",
                self.name
            ),
        });
        if self.stage == Stage::Wait {
            self.cleanup();
        }
    }

    fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Wake> {
        self.wake.clone()
    }

    fn is_finished(&self) -> bool {
        self.finished
    }

    fn state_notes(&self) -> Vec<(String, String)> {
        if self.removed || self.finished {
            return vec![];
        }
        vec![(
            self.host.clone(),
            format!(
                "the health check container {} may be left behind: remove it with `docker container rm -f {}`",
                self.name, self.name
            ),
        )]
    }
}

/// The container of a boot failure that never turned healthy (or crashed
/// at start), if that is how the host failed: its name.
fn unhealthy_container(why: &Why) -> Option<&str> {
    match why {
        Why::NotHealthy { new, .. } | Why::Crashed { new, .. } => Some(new),
        Why::CleanedUp { first, .. } => unhealthy_container(first),
        _ => None,
    }
}

/// After `app boot` failed: per host and role whose new container never
/// turned healthy, read its last `healthcheck.log_lines` log lines and its
/// health log (the container was stopped, not removed). None when no
/// failure is of that kind.
pub fn boot_diagnosis(cfg: &crate::config::Config, failures: &[Failure]) -> Option<crate::batch::Phase> {
    use crate::batch::Step as BStep;
    let mut scripts: Vec<Vec<BStep>> = vec![];
    for f in failures {
        let Some(name) = unhealthy_container(&f.why) else { continue };
        let role = f.role.as_deref();
        let steps = [
            BStep::poll(&f.host, role, "logs", hc::logs(name, cfg.healthcheck.log_lines)).unchecked(),
            BStep::poll(&f.host, role, "health log", hc::health_log(name)).unchecked(),
        ];
        match scripts.iter_mut().find(|s| s.first().is_some_and(|s| s.host == f.host)) {
            Some(s) => s.extend(steps),
            None => scripts.push(steps.into()),
        }
    }
    (!scripts.is_empty()).then_some(crate::batch::Phase { name: "diagnosis", scripts, required: false, finally: false })
}

/// What the reads of [`boot_diagnosis`] found, per (host, role): the
/// container's name and its [`Diagnosis`], in the order of `failures`.
pub fn boot_diagnoses(
    cfg: &crate::config::Config,
    failures: &[Failure],
    results: &[crate::batch::StepResult],
) -> Vec<(String, Option<String>, String, Diagnosis)> {
    let mut out = vec![];
    for f in failures {
        let Some(name) = unhealthy_container(&f.why) else { continue };
        let find = |label: &str| {
            results.iter().find(|r| r.step.host == f.host && r.step.role == f.role && r.step.label == label)
        };
        let said = |r: &crate::batch::StepResult| Said::of(&r.observation);
        let logs = find("logs").map(|r| if r.ok() { Ok(r.stdout().to_string()) } else { Err(said(r)) });
        let health_log = find("health log").map(|r| {
            if r.ok() {
                parse_health_log(r.stdout()).map_err(|e| e.to_string())
            } else {
                Err(said(r).to_string())
            }
        });
        let d = Diagnosis { lines: cfg.healthcheck.log_lines, logs, health_log };
        out.push((f.host.clone(), f.role.clone(), name.to_string(), d));
    }
    out
}
