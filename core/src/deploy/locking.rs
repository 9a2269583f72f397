//! `app boot`'s locking phase: a [`LockWait`] run inside [`Deploy`], its
//! effects numbered as the deploy's, its events passed on (but for its
//! batch-style step results and its own end).

use super::outbox::Owner;
use super::{Deploy, Phase};
use crate::effect::{Event, Outcome};
use crate::lockwait::LockWait;
use crate::machine::Machine;

impl Deploy {
    /// Give the lock machine an input, then take what it issued. False
    /// when the deploy is past its locking phase.
    pub(super) fn with_lock(&mut self, f: impl FnOnce(&mut LockWait)) -> bool {
        let Phase::Locking(lock) = &mut self.phase else { return false };
        f(lock);
        self.pump_lock();
        true
    }

    /// Take the lock machine's effects and events; when it has ended, go on:
    /// prepare the images, give back a lock taken after an interrupt, or
    /// end as it did (the lock is held, or could not be taken).
    pub(super) fn pump_lock(&mut self) {
        let Phase::Locking(lock) = &mut self.phase else { return };
        while let Some(e) = lock.poll_effect() {
            let local = e.id();
            self.out.forward(Owner::Waiting(local), e);
        }
        let mut ended = None;
        while let Some(ev) = lock.poll_event() {
            match ev {
                Event::Finished(o) => ended = Some(o),
                // The CLI of `app boot` reads the outcome, not step results.
                Event::StepDone(_) => {}
                other => self.out.event(other),
            }
        }
        match ended {
            None => {}
            Some(Outcome::Succeeded) if self.interrupted => self.release_lock(),
            Some(Outcome::Succeeded) => self.prepare_images(),
            Some(other) => self.finish(other),
        }
    }
}
