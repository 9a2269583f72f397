//! Every way a host's part of a run can fail, in one place. A [`Failure`]
//! names the host, the role and the step; its [`Why`] says what went wrong
//! and what state the host is left in. The prose a user reads is the
//! `Display` of these types, and nowhere else; tests match the variants.

use crate::effect::{Observation, Step};
use crate::time::{fmt_secs, Millis};
use std::fmt;

/// What a command said when it did not succeed (or could not be read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Said {
    /// It exited non-zero; `message` is its stderr, else its stdout, trimmed.
    Exit { code: i32, message: String },
    /// The host could not be reached, or the connection was lost.
    Unreachable { error: String },
    /// No answer within the command timeout.
    NoAnswer { after_ms: Millis },
}

impl Said {
    /// What `obs` said (an exit code 0 reads as "exit code 0").
    pub fn of(obs: &Observation) -> Said {
        match obs {
            Observation::Exited { code, stderr, stdout, .. } => {
                let msg = if stderr.trim().is_empty() { stdout.trim() } else { stderr.trim() };
                Said::Exit { code: *code, message: msg.to_string() }
            }
            Observation::Unreachable { error, .. } | Observation::NotConnected { error, .. } => {
                Said::Unreachable { error: error.clone() }
            }
            Observation::TimedOut { after_ms, .. } => Said::NoAnswer { after_ms: *after_ms },
        }
    }
}

impl fmt::Display for Said {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Said::Exit { code, message } if message.is_empty() => write!(f, "exit code {code}"),
            Said::Exit { code, message } => write!(f, "exit code {code}: {message}"),
            Said::Unreachable { error } => write!(f, "host unreachable: {error}"),
            Said::NoAnswer { after_ms } => write!(f, "no answer within {}s", fmt_secs(*after_ms)),
        }
    }
}

/// What may be left on a host that stops where it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Left {
    /// The new container was not started; the old one (if any) is untouched.
    NotStarted { old: Option<String> },
    /// The new container may be running; the old one keeps its cord and serves.
    BesideOld { new: String, old: String },
    /// The new container serves; the old one may still run with its cord cut.
    CordCut { new: String, old: String },
    /// The new container may be running (no old one).
    NewOnly { new: String },
}

impl fmt::Display for Left {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Left::NotStarted { old: Some(o) } => write!(f, "The new container was not started; {o} is untouched"),
            Left::NotStarted { old: None } => write!(f, "The new container was not started"),
            Left::BesideOld { new, old } => {
                write!(f, "{new} may be running; the old container {old} still has its cord and serves")
            }
            Left::CordCut { new, old } => {
                write!(f, "{new} is serving; the old container {old} may still be running with its cord cut")
            }
            Left::NewOnly { new } => write!(f, "{new} may be running"),
        }
    }
}

/// Both containers of a handover, while the old cord is being read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Both {
    pub new: String,
    pub old: String,
    /// The new container was already seen ready.
    pub new_ready: bool,
}

impl fmt::Display for Both {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Both { new, old, new_ready } = self;
        if *new_ready {
            write!(f, "{new} and {old} are both running")
        } else {
            write!(
                f,
                "{new} may be running (not yet seen healthy); the old container {old} still has its cord and serves"
            )
        }
    }
}

/// Why a step failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// A command did not succeed.
    Command(Said),
    /// A step of a command run as phases (`registry login`, `build push`,
    /// `build pull`…) did not succeed; `step` is its label.
    StepFailed { step: String, said: Said },
    /// Docker (or the proxy) printed something baton cannot read.
    Unreadable(String),
    /// Pulling or tagging the image failed; `hint` when it looks like a
    /// missing image or login.
    Pull { said: Said, hint: bool },
    /// The host was lost mid-step.
    Lost { said: Said, left: Left },
    /// `docker run` could not find the env file.
    NoEnvFile { path: String, said: Said },
    /// The new container's status could not be parsed.
    NewStatusUnreadable { error: String, new: String },
    /// The new container exited or restarts.
    Crashed { new: String, status: String },
    /// The new container never turned healthy.
    NotHealthy { new: String, budget: Millis, last: String },
    /// The new container's status could not be read before the deadline.
    NewStatusUnknown { new: String, budget: Millis, last: String },
    /// A container without a health check is not running after the delay.
    NotRunningAfterDelay { new: String, status: String, delay: Millis },
    /// The old container's cord could not be read.
    CordUnread { error: String, both: Both },
    /// The old container mounts something at the cord path that is not a
    /// cord directory of this role.
    NotACordDir { old: String, dir: String, cord: String, both: Both },
    /// Cutting the old cord failed.
    CutFailed { said: Said, new: String, old: String },
    /// The old container stayed healthy after its cord was cut.
    OldStillHealthy { old: String, status: String, budget: Millis, new: String },
    /// `docker stop` of the old container gave no answer.
    StopUnanswered { said: Said, old: String, new: String },
    /// The proxy never routed to the healthy new container.
    NeverRouted { new: String, budget: Millis, old: String },
    /// The proxy kept routing to the old container.
    StillRouted { old: String, budget: Millis, new: String },
    /// The new container was not healthy when the old one was about to be
    /// stopped (the cord had been cut when it turned healthy).
    NewUnhealthyAfterCut { new: String, status: String, old: String },
    /// The old cord could not be tied again.
    RetieFailed { said: Said, new: String, old: String },
    /// The first failure, after the new container was stopped (or not).
    CleanedUp { first: Box<Why>, new: String, stop: Option<Said>, old: Option<String> },
    /// Interrupted while the old cord was still intact.
    InterruptedSafe { left: Left },
    /// Interrupted after this role booted; later roles of the host did not.
    InterruptedAfterRole { rest: Vec<String> },
    /// Interrupted between groups, or before the rollout; `not_booted` lists
    /// the hosts that never started.
    Interrupted { not_booted: Vec<String> },
    /// Interrupted before any container started; `released` tells whether
    /// the lock could be given back.
    InterruptedBeforeStart { released: bool },
    /// Interrupted before these steps ran on the host (commands other
    /// than `app boot`), by label, in order.
    NotRun { steps: Vec<String> },
    /// Interrupted while waiting for a held deploy lock (`--lock-wait`):
    /// nothing was taken or changed.
    InterruptedWaitingForLock,
    /// A hook (`.kamal/hooks/NAME`) failed: the command stops there.
    Hook { name: String, said: Said },
    /// `rollback VERSION`: these (host, role) pairs have no container of
    /// the version; `available` is what every pair has.
    VersionMissing { version: String, missing: Vec<(String, String)>, available: Vec<String> },
    /// `healthcheck perform`: the container was not healthy after every
    /// read (or exited); what its logs and health log said.
    HealthcheckNotHealthy { name: String, reads: u32, last: String, removed: bool, diagnosis: Diagnosis },
    /// `healthcheck perform` was interrupted; the container was stopped and
    /// removed, unless `removed` is false.
    HealthcheckInterrupted { name: String, removed: bool },
    /// `traefik reboot --rolling`: the rebooted Traefik did not answer, or
    /// its routing table did not hold the app, within the budget; `last`
    /// says what was seen last.
    ProxyNotBack { budget: Millis, last: String },
}

/// What a container that never turned healthy left behind to read: its
/// last log lines and Docker's health log (each, or why it could not be read).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnosis {
    /// How many log lines were asked for.
    pub lines: u32,
    pub logs: Option<Result<String, Said>>,
    pub health_log: Option<Result<Vec<crate::docker::HealthRun>, String>>,
}

impl fmt::Display for Diagnosis {
    /// Indented blocks, each after a line that says what it is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.logs {
            None => {}
            Some(Ok(text)) if text.trim().is_empty() => write!(f, "\n    its log is empty")?,
            Some(Ok(text)) => {
                write!(f, "\n    its last {} log lines:", self.lines)?;
                for l in text.trim_end().lines() {
                    write!(f, "\n      {l}")?;
                }
            }
            Some(Err(said)) => write!(f, "\n    its log could not be read: {said}")?,
        }
        match &self.health_log {
            None => Ok(()),
            Some(Ok(runs)) if runs.is_empty() => write!(f, "\n    its health log is empty"),
            Some(Ok(runs)) => {
                write!(f, "\n    its health log:")?;
                runs.iter().try_for_each(|r| write!(f, "\n      {r}"))
            }
            Some(Err(e)) => write!(f, "\n    its health log could not be read: {e}"),
        }
    }
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = |ms: &Millis| fmt_secs(*ms);
        match self {
            Why::Command(said) => write!(f, "{said}"),
            Why::StepFailed { step, said } => write!(f, "{step} failed: {said}"),
            Why::Unreadable(e) => write!(f, "{e}"),
            Why::Pull { said, hint: false } => write!(f, "{said}"),
            Why::Pull { said, hint: true } => {
                write!(f, "{said} (is the image pushed, and is the host logged in to the registry?)")
            }
            Why::Lost { said, left } => write!(f, "{said}. {left}"),
            Why::NoEnvFile { path, said } => {
                write!(f, "the env file {path} is not on the host: run `baton env push` first ({said})")
            }
            Why::NewStatusUnreadable { error, new } => {
                write!(f, "{error}; the new container {new} was left running, since its state is unknown")
            }
            Why::Crashed { new, status } => write!(
                f,
                "the new container {new} crashed at start (status: {status}); see `baton app logs` or `docker logs {new}`"
            ),
            Why::NotHealthy { new, budget, last } => {
                write!(f, "the new container {new} was not healthy within {}s (last status: {last})", secs(budget))
            }
            Why::NewStatusUnknown { new, budget, last } => write!(
                f,
                "the status of the new container {new} could not be read for {}s ({last}); it was left running, since it may be healthy and serving. Check it with `baton app details`",
                secs(budget)
            ),
            Why::NotRunningAfterDelay { new, status, delay } => {
                write!(f, "the new container {new} is {status} after the {}s readiness delay", secs(delay))
            }
            Why::CordUnread { error, both } => write!(f, "{error}; {both}"),
            Why::NotACordDir { old, dir, cord, both } => write!(
                f,
                "{old} mounts {dir:?} at {cord}, which is not a cord directory; baton will not delete it. {both}"
            ),
            Why::CutFailed { said, new, old } => write!(f, "{said}; {new} and {old} are both running"),
            Why::OldStillHealthy { old, status, budget, new } => write!(
                f,
                "the old container {old} was still {status} {}s after its cord was cut, so the proxy may still route to it; it was left running (it still serves, and so does {new}). Once the proxy has dropped it, stop it with `baton app stale_containers --stop`",
                secs(budget)
            ),
            Why::StopUnanswered { said, old, new } => write!(
                f,
                "{said}; the old container {old} is out of rotation but may still be running; the new container {new} serves"
            ),
            Why::NeverRouted { new, budget, old } => write!(
                f,
                "the proxy did not route to {new} within {}s although it is healthy; the old container {old} keeps serving with its cord intact",
                secs(budget)
            ),
            Why::StillRouted { old, budget, new } => write!(
                f,
                "the proxy still routes to the old container {old} {}s after it turned unhealthy; it was left running (it still serves, and so does {new}). Once the proxy has dropped it, stop it with `baton app stale_containers --stop`",
                secs(budget)
            ),
            Why::NewUnhealthyAfterCut { new, status, old } => write!(
                f,
                "the new container {new} was {status} when the old container {old} was about to be stopped; {old} was not stopped and its cord was tied again, so it serves again once healthy. See `baton app logs` or `docker logs {new}`"
            ),
            Why::RetieFailed { said, new, old } => write!(
                f,
                "tying the cord of the old container {old} again failed ({said}); it may turn unhealthy while the proxy does not route to {new}. Check the proxy and the hosts"
            ),
            Why::CleanedUp { first, new, stop, old } => {
                write!(f, "{first}")?;
                match stop {
                    None => write!(f, ". The new container {new} was stopped (not removed) so it can be inspected")?,
                    Some(said) => {
                        write!(f, ". Stopping the new container {new} failed too ({said}); it may still be running")?
                    }
                }
                if let Some(old) = old {
                    write!(f, "; the old container {old} keeps serving with its cord intact")?;
                }
                Ok(())
            }
            Why::InterruptedSafe { left } => {
                write!(f, "interrupted; stopped at a safe point before the old cord was cut. {left}")
            }
            Why::InterruptedAfterRole { rest } => {
                write!(f, "interrupted after this role was booted; not booted here: {}", rest.join(", "))
            }
            Why::Interrupted { not_booted } if not_booted.is_empty() => write!(f, "interrupted"),
            Why::Interrupted { not_booted } => write!(f, "interrupted; not booted: {}", not_booted.join(", ")),
            Why::InterruptedBeforeStart { released: true } => {
                write!(f, "interrupted before any container was started; nothing changed and the lock was released")
            }
            Why::InterruptedBeforeStart { released: false } => write!(
                f,
                "interrupted before any container was started; nothing changed, but the lock could not be released"
            ),
            Why::NotRun { steps } if steps.is_empty() => write!(f, "interrupted before it ran"),
            Why::NotRun { steps } => write!(f, "interrupted; did not run: {}", steps.join(", ")),
            Why::InterruptedWaitingForLock => {
                write!(f, "interrupted while waiting for the deploy lock; nothing was taken or changed")
            }
            Why::Hook { name, said } => write!(f, "the {name} hook failed ({said}); nothing after it ran"),
            Why::VersionMissing { version, missing, available } => {
                let pairs: Vec<String> = missing.iter().map(|(h, r)| format!("{h} ({r})")).collect();
                write!(f, "no container of version {version} on {}; nothing was changed. ", pairs.join(", "))?;
                match available.is_empty() {
                    true => write!(f, "No version has a container on every host and role"),
                    false => write!(f, "Versions on every host and role: {}", available.join(", ")),
                }
            }
            Why::HealthcheckNotHealthy { name, reads, last, removed, diagnosis } => {
                write!(f, "the health check container {name} was not healthy after {reads} status read(s) (last status: {last}); ")?;
                if *removed {
                    write!(f, "it was stopped and removed{diagnosis}")
                } else {
                    write!(f, "it could not be removed: remove it with `docker container rm -f {name}`{diagnosis}")
                }
            }
            Why::HealthcheckInterrupted { name, removed: true } => {
                write!(f, "interrupted; the health check container {name} was stopped and removed")
            }
            Why::HealthcheckInterrupted { name, removed: false } => write!(
                f,
                "interrupted; the health check container {name} could not be removed: remove it with `docker container rm -f {name}`"
            ),
            Why::ProxyNotBack { budget, last } => write!(
                f,
                "Traefik was not back within {}s ({last}); the hosts after it were not rebooted: see `baton traefik logs`, then run `baton traefik reboot --rolling` again",
                fmt_secs(*budget)
            ),
        }
    }
}

impl Why {
    /// True for every failure that an interrupt caused.
    pub fn is_interrupt(&self) -> bool {
        match self {
            Why::InterruptedSafe { .. }
            | Why::InterruptedAfterRole { .. }
            | Why::Interrupted { .. }
            | Why::InterruptedBeforeStart { .. }
            | Why::NotRun { .. }
            | Why::InterruptedWaitingForLock
            | Why::HealthcheckInterrupted { .. } => true,
            Why::CleanedUp { first, .. } => first.is_interrupt(),
            _ => false,
        }
    }
}

/// A host's part of a run failed: where and why. `step` is None for a run
/// that was interrupted between steps (nothing was failing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub host: String,
    pub role: Option<String>,
    pub step: Option<Step>,
    pub why: Why,
}

impl Failure {
    pub fn new(host: &str, role: Option<&str>, step: Step, why: Why) -> Failure {
        Failure { host: host.to_string(), role: role.map(str::to_string), step: Some(step), why }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let role = self.role.as_deref().map(|r| format!(" [{r}]")).unwrap_or_default();
        // A local command's host is `(local)`, no config host's name; it reads `local`.
        let host = if self.host == crate::effect::LOCAL { "local" } else { self.host.as_str() };
        match self.step {
            Some(step) => write!(f, "{host}{role} failed to {step}: {}", self.why),
            None => write!(f, "{host}{role}: {}", self.why),
        }
    }
}
