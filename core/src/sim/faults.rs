//! The faults a simulated fleet can be given, and the step names they
//! refer to.

use crate::effect::Action;
use crate::time::{Millis, Time};

/// When a fault starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum When {
    Always,
    /// From this virtual time on.
    At(Time),
    /// From the first command of this kind on (see [`action_kind`]).
    Step(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// The host cannot be reached.
    Unreachable(When),
    /// Commands of this kind fail with exit 1.
    CommandFails(String),
    /// The connection drops while a command of this kind runs: the command
    /// takes effect, but its answer is lost.
    DropConnection(String),
    /// New containers on this host never become healthy.
    NeverHealthy,
    /// New containers on this host crash at start.
    Crash,
    /// New containers on this host take this much longer to start.
    SlowHealth(Millis),
    /// The proxy on this host never routes to a new container.
    Unrouted,
    /// New containers on this host exit this long after they start.
    CrashAfter(Millis),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub host: String,
    pub kind: FaultKind,
}

/// Short name of an action, used to name steps in faults.
pub fn action_kind(a: &Action) -> &'static str {
    match a {
        Action::LockAcquire { .. } | Action::LockRead | Action::LockRelease => "lock",
        Action::PrepareImage { .. } => "prepare",
        Action::ListContainers => "list",
        Action::Rename { .. } => "rename",
        Action::Audit { .. } => "audit",
        Action::TieCord { .. } => "tie",
        Action::RunContainer { .. } => "run",
        Action::Status { .. } => "status",
        Action::Addresses { .. } => "address",
        Action::Routes => "routes",
        Action::Mounts { .. } => "mounts",
        Action::CutCord { .. } => "cut",
        Action::RetieCord { .. } => "retie",
        Action::Stop { .. } => "stop",
        Action::Hook { .. } => "hook",
        Action::RegistryLogin | Action::RegistryLogout => "registry",
        Action::BuildPush { .. } => "build",
        Action::PullImage { .. } => "pull",
        Action::Other => "other",
    }
}

/// Every step name a fault can refer to.
pub const STEP_KINDS: &[&str] = &[
    "lock", "prepare", "list", "rename", "audit", "tie", "run", "status", "address", "routes", "mounts", "cut", "stop",
    "hook", "registry", "build", "pull",
];
