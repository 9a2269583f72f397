//! baton-core: everything that decides, nothing that does.
//!
//! - [`config`]: `deploy.yml` → [`config::Config`], with errors naming file,
//!   key and line, and each role resolved once ([`config::RoleSpec`]);
//! - [`erb`]: the ERB subset Kamal configs use (`<%= ENV["X"] %>`), evaluated
//!   with an environment lookup the caller passes in;
//! - [`plan`]: what to boot where, from the config and the flags;
//! - [`shell`]: command lines, and the one function that quotes values;
//! - [`commands`]: one builder per docker/shell command baton runs, and the
//!   host-side names and paths;
//! - [`docker`]: one parser per docker output baton reads;
//! - [`machine`]: the [`machine::Machine`] trait every command implements,
//!   and the named reasons it wakes for;
//! - [`deploy`]: `app boot` ([`deploy::Deploy`]), a thin orchestrator over one
//!   handover per host and role;
//! - [`batch`] and [`ops`]: every other command, as phases of per-host scripts
//!   ([`prune`] among them);
//! - [`traefik`]: the `traefik` commands, and `reboot --rolling`'s wait for
//!   each host's proxy;
//! - [`healthcheck`]: `healthcheck perform`, a throw-away container read until healthy;
//! - [`server`]: `server bootstrap`'s phases, and what their results mean;
//! - [`sequence`]: machines run one after another under one lock;
//! - [`lockwait`]: taking the lock, and waiting for a held one (`--lock-wait`);
//! - [`driver`]: the one loop that runs a machine in virtual time, for
//!   `baton plan`, the checks and the tests;
//! - [`effect`] and [`failure`]: what goes in and out, and every way a step fails;
//! - [`sim`]: the simulated fleet; [`trace`]: a run as text lines;
//! - [`journal`]: a real run as JSON lines, and its replay.
//!
//! This crate does no I/O: no files, processes, sockets, clock or ambient
//! randomness. Time comes in as an argument; randomness from a caller's seed.

pub mod accessory;
pub mod batch;
pub mod commands;
pub mod config;
pub mod deploy;
pub mod docker;
pub mod driver;
pub mod effect;
pub mod erb;
pub mod failure;
pub mod flow;
pub mod healthcheck;
pub mod journal;
pub mod live;
pub mod lockwait;
pub mod machine;
pub mod ops;
pub mod plan;
pub mod prune;
pub mod rng;
pub mod sequence;
pub mod server;
pub mod shell;
pub mod sim;
pub mod time;
pub mod toplevel;
pub mod trace;
pub mod traefik;
