//! baton's test harness: an invariant checker for `app boot`
//! ([`check`]), a checked driver in virtual time ([`timed`]), an exploring
//! driver that branches over delivery orders, faults and delays
//! ([`explore`]), and the configs they share ([`fixtures`]).

pub mod check;
pub mod explore;
pub mod fixtures;
pub mod fuzzing;
pub mod timed;
