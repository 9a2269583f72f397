//! What the simulated fleet is made of, apart from its hosts: how an image
//! version behaves ([`Profile`]), how long commands take ([`Costs`]), and
//! the faults a plan can inject ([`Fault`]), with the step names they use.

use crate::effect::Action;
use crate::time::{Millis, Time};

/// How one image version behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// Time from start until the app answers.
    pub start_ms: Millis,
    /// False: the app never answers its health check.
    pub healthy: bool,
    /// Exits right after start (and Docker restarts it).
    pub crash: bool,
    /// Exits this long after start.
    pub dies_after: Option<Millis>,
    /// How long `docker stop` takes.
    pub stop_ms: Millis,
}

impl Default for Profile {
    fn default() -> Self {
        Profile { start_ms: 1200, healthy: true, crash: false, dies_after: None, stop_ms: 300 }
    }
}

/// How long commands take (SSH round trip plus Docker's own time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Costs {
    pub rtt: Millis,
    pub inspect: Millis,
    pub run: Millis,
    pub small: Millis,
    pub tag: Millis,
    pub pull: Millis,
    /// How long an unreachable host takes to fail a connection.
    pub connect_fail: Millis,
    /// The SSH handshake, paid by the first command to each host.
    pub connect: Millis,
    /// Building and pushing the image on the machine baton runs on (an assumption).
    pub build: Millis,
}

impl Default for Costs {
    fn default() -> Self {
        // Measured on the test fleet (docs/BENCHMARKS.md): a command over an
        // open SSH connection 5–10 ms, a docker inspect about 40 ms more,
        // docker run 0.3–0.5 s, inspect-and-tag of a present image about
        // 0.15 s, an SSH handshake about 0.2 s. The pull is a guess for a
        // small image on a near registry.
        Costs {
            rtt: 8,
            inspect: 40,
            run: 400,
            small: 5,
            tag: 150,
            pull: 2500,
            connect_fail: 1000,
            connect: 200,
            build: 30_000,
        }
    }
}

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
        Action::Remove { .. } => "remove",
        Action::PruneContainers { .. } | Action::PruneImages => "prune",
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
