//! What the core asks for ([`Effect`]), what it is told back
//! ([`Observation`]) and what it reports ([`Event`]).

use crate::shell::Command;
use crate::time::Millis;
use std::fmt;

/// Identifies one effect; its observation echoes it back. A counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EffectId(pub u64);

impl fmt::Display for EffectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What a command is for, so that a simulator or a test responder can answer
/// it without parsing the command line. The command line is the truth for a
/// real host; this is its meaning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Take the lock, writing `details` (base64) into it.
    LockAcquire {
        details: String,
    },
    LockRead,
    LockRelease,
    /// Audit record, pull the image if missing, tag it `latest`.
    PrepareImage {
        version: String,
    },
    /// List the role's containers (`name<TAB>state`).
    ListContainers,
    Rename {
        from: String,
        to: String,
    },
    Audit {
        text: String,
    },
    /// Create the cord directory (relative to the remote home unless
    /// absolute) with its `cord` file.
    TieCord {
        dir: String,
    },
    RunContainer {
        name: String,
        version: String,
        /// The cord directory mounted into it, if the role uses the cord.
        cord_dir: Option<String>,
        /// Docker's health check interval, if it has a health check.
        health_interval_ms: Option<Millis>,
        /// Carries the Traefik labels: the proxy routes to it when healthy.
        proxied: bool,
    },
    /// Read a container's state and health.
    Status {
        name: String,
    },
    /// Read a container's IP addresses.
    Addresses {
        name: String,
    },
    /// Read the proxy's routing table.
    Routes,
    Mounts {
        name: String,
    },
    /// Remove the cord file from a cord directory (absolute, from the
    /// container's mounts): the container's health check fails from now on.
    CutCord {
        dir: String,
    },
    /// Put the cord file back into a cord directory whose cord was cut: the
    /// container's next health check passes again.
    RetieCord {
        dir: String,
    },
    Stop {
        name: String,
    },
    /// Run a hook script (`.kamal/hooks/NAME`) on the machine baton runs on.
    Hook {
        name: String,
    },
    /// Log into the image registry (the password goes to standard input).
    RegistryLogin,
    RegistryLogout,
    /// Build the image and push it to the registry (on the machine baton runs on).
    BuildPush {
        version: String,
    },
    /// Pull the image of `version` onto a host.
    PullImage {
        version: String,
    },
    /// Remove a stopped container (the health check container).
    Remove {
        name: String,
    },
    /// Remove the role's stopped containers but the newest `retain`.
    PruneContainers {
        retain: u64,
    },
    /// Remove the service's images that no container uses, but `latest`.
    PruneImages,
    /// Any other command (the non-boot `app` commands).
    Other,
}

/// The host name of a command that runs on the machine baton runs on
/// (docker build, hooks, registry login), not on a server. No host in a
/// config can be named so: host names cannot hold parentheses.
pub const LOCAL: &str = "(local)";

/// One command for one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cmd {
    pub id: EffectId,
    pub host: String,
    pub role: Option<String>,
    pub action: Action,
    pub cmd: Command,
    /// Sent to the command's standard input (env files). Never traced.
    pub stdin: Option<Stdin>,
}

impl Cmd {
    /// The command runs on the machine baton runs on, not over SSH.
    pub fn is_local(&self) -> bool {
        self.host == LOCAL
    }
}

/// Bytes for a command's standard input; Debug never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct Stdin {
    pub bytes: Vec<u8>,
    /// A file's contents (an env file, an uploaded file), whose size the
    /// journal records. Otherwise a secret (a password, build secrets): the
    /// journal records only that there was one.
    pub file: bool,
}

impl fmt::Debug for Stdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Stdin(<{} bytes>)", self.bytes.len())
    }
}

/// What the core asks the driver to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// A command that changes the host.
    RunCmd(Cmd),
    /// A read-only command, safe to repeat.
    Poll(Cmd),
}

impl Effect {
    pub fn cmd(&self) -> &Cmd {
        match self {
            Effect::RunCmd(c) | Effect::Poll(c) => c,
        }
    }
    pub fn id(&self) -> EffectId {
        self.cmd().id
    }
    pub fn is_poll(&self) -> bool {
        matches!(self, Effect::Poll(_))
    }
    /// The same effect under another id (a [`crate::sequence::Sequence`]
    /// numbers the effects of its parts as one run).
    pub fn with_id(mut self, id: EffectId) -> Effect {
        match &mut self {
            Effect::RunCmd(c) | Effect::Poll(c) => c.id = id,
        }
        self
    }
}

/// What came of an effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// The command ran and exited.
    Exited { id: EffectId, code: i32, stdout: String, stderr: String },
    /// The connection was lost while the command ran: it may or may not
    /// have taken effect.
    Unreachable { id: EffectId, error: String },
    /// No connection could be made (refused, no route, unknown host, keys
    /// refused): the command did not run.
    NotConnected { id: EffectId, error: String },
    /// No answer within the driver's command timeout: the command may or may
    /// not have taken effect.
    TimedOut { id: EffectId, after_ms: Millis },
}

impl Observation {
    pub fn id(&self) -> EffectId {
        match self {
            Observation::Exited { id, .. }
            | Observation::Unreachable { id, .. }
            | Observation::NotConnected { id, .. }
            | Observation::TimedOut { id, .. } => *id,
        }
    }
    /// The same observation for another effect id.
    pub fn with_id(&self, new: EffectId) -> Observation {
        let mut o = self.clone();
        match &mut o {
            Observation::Exited { id, .. }
            | Observation::Unreachable { id, .. }
            | Observation::NotConnected { id, .. }
            | Observation::TimedOut { id, .. } => *id = new,
        }
        o
    }
    /// Convenience for drivers and tests.
    pub fn ok(id: EffectId, stdout: impl Into<String>) -> Self {
        Observation::Exited { id, code: 0, stdout: stdout.into(), stderr: String::new() }
    }
    pub fn failed(id: EffectId, code: i32, stderr: impl Into<String>) -> Self {
        Observation::Exited { id, code, stdout: String::new(), stderr: stderr.into() }
    }
    /// The host could not be reached: the connection was lost, or never made.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Observation::Unreachable { .. } | Observation::NotConnected { .. })
    }
}

/// The steps of a boot, for progress lines and error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    AcquireLock,
    PrepareImage,
    ListContainers,
    RenameExisting,
    Audit,
    TieCord,
    RunNew,
    WaitHealthy,
    PauseAfterHealthy,
    ConfirmRouted,
    WaitReady,
    FindOldCord,
    CutOldCord,
    WaitOldUnhealthy,
    PauseAfterUnhealthy,
    ConfirmUnrouted,
    StopOld,
    /// The new container is read once more just before the old one stops.
    CheckNew,
    TieOldCordAgain,
    StopNew,
    Done,
    ReleaseLock,
    /// `healthcheck perform`: start the throw-away container.
    HealthcheckStart,
    /// `healthcheck perform`: read its health until healthy.
    HealthcheckWait,
    /// `healthcheck perform`: read its logs and health log.
    HealthcheckDiagnose,
    /// `healthcheck perform`: stop and remove it.
    HealthcheckRemove,
}

impl Step {
    pub fn describe(self) -> &'static str {
        match self {
            Step::AcquireLock => "acquire the deploy lock",
            Step::PrepareImage => "pull and tag the image",
            Step::ListContainers => "list containers",
            Step::RenameExisting => "rename the container of the same version",
            Step::Audit => "write the audit record",
            Step::TieCord => "tie the new cord",
            Step::RunNew => "start the new container",
            Step::WaitHealthy => "wait for the new container to be healthy",
            Step::PauseAfterHealthy => "pause for the proxy to route to the new container",
            Step::ConfirmRouted => "confirm that the proxy routes to the new container",
            Step::WaitReady => "wait for the readiness delay",
            Step::FindOldCord => "find the old container's cord",
            Step::CutOldCord => "cut the old container's cord",
            Step::WaitOldUnhealthy => "wait for the old container to be unhealthy",
            Step::PauseAfterUnhealthy => "pause for the proxy to stop routing to the old container",
            Step::ConfirmUnrouted => "confirm that the proxy no longer routes to the old container",
            Step::StopOld => "stop the old container",
            Step::CheckNew => "check that the new container is still healthy",
            Step::TieOldCordAgain => "tie the old container's cord again",
            Step::StopNew => "stop the new container",
            Step::Done => "done",
            Step::ReleaseLock => "release the deploy lock",
            Step::HealthcheckStart => "start the health check container",
            Step::HealthcheckWait => "wait for the health check container to be healthy",
            Step::HealthcheckDiagnose => "read the health check container's logs",
            Step::HealthcheckRemove => "stop and remove the health check container",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

pub use crate::failure::Failure;

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    /// Another deploy holds the lock; nothing was changed.
    LockHeld {
        details: String,
    },
    Failed {
        failures: Vec<Failure>,
    },
}

/// What the core reports as it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A host (and role) moved to a step.
    Progress {
        host: String,
        role: Option<String>,
        step: Step,
    },
    /// An audit record is being written on a host (its command was issued).
    Audit {
        host: String,
        role: Option<String>,
        text: String,
    },
    Warning {
        host: Option<String>,
        message: String,
    },
    HostFailed(Failure),
    /// The lock is left held on `host`, and why.
    LockKept {
        host: String,
        reason: String,
    },
    LockReleased {
        host: String,
    },
    /// A step of a [`crate::batch::Batch`] completed, with what it printed.
    StepDone(Box<crate::batch::StepResult>),
    Finished(Outcome),
}
