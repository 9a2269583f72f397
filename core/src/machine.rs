//! The one shape of every command: a sans-IO [`Machine`].
//!
//! Input comes in through [`Machine::handle_observation`] (what came of an
//! effect), [`Machine::handle_timeout`] (a deadline came due) and
//! [`Machine::handle_interrupt`] (the user pressed Ctrl-C). Output is
//! pulled: [`Machine::poll_effect`], [`Machine::poll_event`] and
//! [`Machine::poll_timeout`]. A driver drains events, then effects, after
//! every input, and calls `handle_timeout` when the earliest [`Wake`]
//! comes due. A machine never sleeps and never reads a clock: every wait
//! is a deadline in its state, and every deadline names why it wakes.

use crate::effect::{Effect, Event, Observation};
use crate::time::{fmt_secs, Time};
use std::fmt;

/// Why a machine wants to be woken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// The pause between two boot groups (`boot.wait`) ends.
    NextGroup,
    /// Read a waited-on container's health again.
    StatusRead,
    /// A pause for the proxy, or the readiness delay, ends.
    Pause,
    /// Read the proxy's routing table again.
    RouteRead,
    /// Try to take a held deploy lock again (`--lock-wait`).
    LockRetry,
}

impl Reason {
    pub fn describe(self) -> &'static str {
        match self {
            Reason::NextGroup => "next boot group",
            Reason::StatusRead => "read the status again",
            Reason::Pause => "pause ends",
            Reason::RouteRead => "read the routes again",
            Reason::LockRetry => "try the lock again",
        }
    }
}

/// When a machine wants to be woken, why, and for which host and role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wake {
    pub at: Time,
    pub reason: Reason,
    pub host: Option<String>,
    pub role: Option<String>,
}

impl Wake {
    pub fn new(at: Time, reason: Reason) -> Wake {
        Wake { at, reason, host: None, role: None }
    }
    pub fn on(at: Time, reason: Reason, host: &str, role: &str) -> Wake {
        Wake { at, reason, host: Some(host.to_string()), role: Some(role.to_string()) }
    }
    /// The earlier of two wakes (the first on a tie).
    pub fn earliest(a: Option<Wake>, b: Option<Wake>) -> Option<Wake> {
        match (a, b) {
            (Some(a), Some(b)) if b.at < a.at => Some(b),
            (Some(a), _) => Some(a),
            (None, b) => b,
        }
    }
}

impl fmt::Display for Wake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}s", self.reason.describe(), fmt_secs(self.at))
    }
}

/// A command as a sans-IO state machine. Every baton command that touches
/// hosts is one: `app boot` ([`crate::deploy::Deploy`]), the other commands
/// ([`crate::batch::Batch`]), and sequences of them under one lock
/// ([`crate::sequence::Sequence`]).
pub trait Machine {
    /// What came of an effect. Returns false for an id the machine does not
    /// know or no longer waits for (it is then ignored).
    fn handle_observation(&mut self, obs: &Observation, now: Time) -> bool;
    /// Let deadlines that are due at `now` act. A `now` earlier than one
    /// already seen is treated as that one: time never goes backwards.
    fn handle_timeout(&mut self, now: Time);
    /// The user asked to stop (the first Ctrl-C or SIGTERM): bring every
    /// host to a safe point, then finish.
    fn handle_interrupt(&mut self, now: Time);
    /// The next effect to carry out.
    fn poll_effect(&mut self) -> Option<Effect>;
    /// The next event to report.
    fn poll_event(&mut self) -> Option<Event>;
    /// When to call [`Machine::handle_timeout`] next, and why.
    fn poll_timeout(&self) -> Option<Wake>;
    /// True once the machine has reported [`Event::Finished`].
    fn is_finished(&self) -> bool;
    /// Per host, what may be left there if baton stopped right now (for a
    /// second Ctrl-C, which aborts at once).
    fn state_notes(&self) -> Vec<(String, String)> {
        vec![]
    }
}

/// Forward every method of [`Machine`] to the machine `$t` points at.
macro_rules! forward_machine {
    ($t:ty) => {
        impl<M: Machine + ?Sized> Machine for $t {
            fn handle_observation(&mut self, obs: &Observation, now: Time) -> bool {
                (**self).handle_observation(obs, now)
            }
            fn handle_timeout(&mut self, now: Time) {
                (**self).handle_timeout(now)
            }
            fn handle_interrupt(&mut self, now: Time) {
                (**self).handle_interrupt(now)
            }
            fn poll_effect(&mut self) -> Option<Effect> {
                (**self).poll_effect()
            }
            fn poll_event(&mut self) -> Option<Event> {
                (**self).poll_event()
            }
            fn poll_timeout(&self) -> Option<Wake> {
                (**self).poll_timeout()
            }
            fn is_finished(&self) -> bool {
                (**self).is_finished()
            }
            fn state_notes(&self) -> Vec<(String, String)> {
                (**self).state_notes()
            }
        }
    };
}

// A machine lent to a driver, so that its caller can read its state after
// the run (`plan --live`'s survey), and a boxed one.
forward_machine!(&mut M);
forward_machine!(Box<M>);
