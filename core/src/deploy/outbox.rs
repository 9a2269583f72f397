//! Where a deploy's parts put what they ask for and what they report: one
//! queue of effects with their ids, one of events, and which part each
//! effect in flight belongs to.

use crate::effect::{Action, Cmd, Effect, EffectId, Event, Step};
use crate::shell::Command;
use std::collections::{BTreeMap, VecDeque};

/// What an effect's observation is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// Releasing the lock.
    Lock,
    /// The [`crate::lockwait::LockWait`] that takes the lock; its own id.
    Waiting(EffectId),
    Prepare(usize),
    Host(usize),
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Outbox {
    next_id: u64,
    pub effects: VecDeque<Effect>,
    pub events: VecDeque<Event>,
    /// Effects in flight, and whose they are.
    pub pending: BTreeMap<EffectId, Owner>,
}

/// One command to issue.
pub(crate) struct Emit<'a> {
    pub host: &'a str,
    pub role: Option<&'a str>,
    /// Read-only and safe to repeat.
    pub poll: bool,
    pub action: Action,
    pub cmd: Command,
}

impl Outbox {
    pub fn emit(&mut self, owner: Owner, e: Emit<'_>) -> EffectId {
        let id = EffectId(self.next_id);
        self.next_id += 1;
        let c = Cmd {
            id,
            host: e.host.to_string(),
            role: e.role.map(str::to_string),
            action: e.action,
            cmd: e.cmd,
            stdin: None,
        };
        self.effects.push_back(if e.poll { Effect::Poll(c) } else { Effect::RunCmd(c) });
        self.pending.insert(id, owner);
        id
    }

    /// Issue a part's effect under this outbox's numbering.
    pub fn forward(&mut self, owner: Owner, e: Effect) -> EffectId {
        let id = EffectId(self.next_id);
        self.next_id += 1;
        self.effects.push_back(e.with_id(id));
        self.pending.insert(id, owner);
        id
    }

    pub fn event(&mut self, ev: Event) {
        self.events.push_back(ev);
    }

    pub fn progress(&mut self, host: &str, role: Option<&str>, step: Step) {
        self.event(Event::Progress { host: host.to_string(), role: role.map(str::to_string), step });
    }

    pub fn warn(&mut self, host: Option<&str>, message: String) {
        self.event(Event::Warning { host: host.map(str::to_string), message });
    }
}
