//! baton-core: everything that decides, nothing that does.
//!
//! - [`config`]: `deploy.yml` → [`config::Config`], with errors naming file, key and line;
//! - [`shell`]: command lines, and the one function that quotes values;
//! - [`commands`]: one builder per docker/shell command baton runs;
//! - [`docker`]: one parser per docker output baton reads;
//! - [`deploy`]: `app boot` as a sans-IO state machine ([`deploy::Deploy`]);
//! - [`trace`]: renders a run as text lines, for snapshots and plans.
//!
//! This crate does no I/O: no files, processes, sockets, clock or ambient
//! randomness. Time comes in as an argument; randomness from a caller's seed.

pub mod batch;
pub mod commands;
pub mod config;
pub mod deploy;
pub mod docker;
pub mod effect;
pub mod ops;
pub mod plan;
pub mod rng;
pub mod shell;
pub mod sim;
pub mod time;
pub mod trace;
