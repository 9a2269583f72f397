//! `baton plan --live`: read the fleet as it is, then plan from it.
//!
//! [`Survey`] is a read-only machine. It issues only [`Effect::Poll`]s,
//! takes no lock and changes nothing. Per contacted host it first runs
//! `true` (which pays the SSH handshake), then `true` again (the round
//! trip), and then reads what the boot reads: every role's containers
//! (names and states), each live container's status and mounts (its cord),
//! whether the image of the version to boot is there, and the proxy's
//! routing table where `baton.routes` is set, with each live proxied
//! container's addresses (`docker inspect`), to find it in that table. On the lock's host it reads
//! the lock's details: present means another deploy holds it.
//!
//! What it found is a [`state::LiveState`]: the containers, versions and
//! states on every host and role, who holds the lock, which hosts could
//! not be reached, and the command times it measured
//! ([`crate::sim::calibrate::Samples`]). [`state::LiveState::scenario`]
//! turns it into the [`crate::sim::Scenario`] the plan simulates from.

pub mod state;
#[cfg(test)]
mod tests;

use crate::commands as cmds;
use crate::docker;
use crate::effect::{Action, Cmd, Effect, EffectId, Event, Observation, Outcome};
use crate::machine::{Machine, Wake};
use crate::plan::Plan;
use crate::shell::Command;
use crate::time::Time;
use state::{HostState, LiveContainer, LiveState};
use std::collections::{BTreeMap, VecDeque};

/// What a read is for.
#[derive(Clone, Debug)]
enum Ask {
    /// `true`, the host's first command: the handshake and a round trip.
    First,
    /// `true` over the open connection: a round trip.
    Trip,
    Lock,
    List {
        role: String,
    },
    Status {
        role: String,
        name: String,
    },
    Mounts {
        role: String,
        name: String,
    },
    /// The container's addresses, to find it in the proxy's table.
    Address {
        role: String,
        name: String,
    },
    Image,
    Routes,
}

/// The read-only survey of the hosts a plan contacts.
pub struct Survey {
    plan: Plan,
    next_id: u64,
    effects: VecDeque<Effect>,
    events: VecDeque<Event>,
    /// Effect id → (host, what for, when issued).
    pending: BTreeMap<u64, (String, Ask, Time)>,
    state: LiveState,
    finished: bool,
}

impl Survey {
    pub fn new(plan: &Plan) -> Survey {
        let mut s = Survey {
            plan: plan.clone(),
            next_id: 0,
            effects: VecDeque::new(),
            events: VecDeque::new(),
            pending: BTreeMap::new(),
            state: LiveState::default(),
            finished: false,
        };
        for host in plan.contacted_hosts() {
            s.state.hosts.insert(host.clone(), HostState::default());
            s.read(&host, None, Ask::First, Command::program("true"), Action::Other, 0);
        }
        s.finish_if_done();
        s
    }

    /// What the survey found (complete once the machine has finished).
    pub fn state(&self) -> &LiveState {
        &self.state
    }

    fn read(&mut self, host: &str, role: Option<&str>, ask: Ask, cmd: Command, action: Action, now: Time) {
        let id = EffectId(self.next_id);
        self.next_id += 1;
        self.pending.insert(id.0, (host.to_string(), ask, now));
        self.effects.push_back(Effect::Poll(Cmd {
            id,
            host: host.to_string(),
            role: role.map(str::to_string),
            action,
            cmd,
            stdin: None,
        }));
    }

    /// The reads of a host that answered its first command.
    fn read_host(&mut self, host: &str, now: Time) {
        let cfg = self.plan.config.clone();
        self.read(host, None, Ask::Trip, Command::program("true"), Action::Other, now);
        if host == self.plan.lock_host() {
            self.read(host, None, Ask::Lock, cmds::lock_read(&cfg), Action::LockRead, now);
        }
        for role in self.plan.roles_on(host) {
            let list = cmds::list_role_containers(&cfg, &role);
            self.read(host, Some(&role), Ask::List { role: role.clone() }, list, Action::ListContainers, now);
        }
        if self.plan.hosts.iter().any(|h| h == host) {
            let image = Command::program("docker")
                .fixed("image")
                .fixed("inspect")
                .fixed("--format")
                .arg("{{.Id}}")
                .arg(cmds::image_ref(&cfg, &self.plan.version));
            self.read(host, None, Ask::Image, image, Action::Other, now);
        }
        if let Some(routes) = cmds::routes(&cfg) {
            self.read(host, None, Ask::Routes, routes, Action::Routes, now);
        }
    }

    fn finish_if_done(&mut self) {
        if self.pending.is_empty() && !self.finished {
            self.finished = true;
            self.events.push_back(Event::Finished(Outcome::Succeeded));
        }
    }

    fn warn(&mut self, host: &str, message: String) {
        self.events.push_back(Event::Warning { host: Some(host.to_string()), message });
    }

    fn host(&mut self, host: &str) -> &mut HostState {
        self.state.hosts.entry(host.to_string()).or_default()
    }

    fn answered(&mut self, host: &str, ask: Ask, issued: Time, obs: &Observation, now: Time) {
        let took = now.saturating_sub(issued);
        let (code, stdout) = match obs {
            Observation::Exited { code, stdout, .. } => (*code, stdout.as_str()),
            other => {
                if matches!(ask, Ask::First) {
                    let h = self.host(host);
                    h.reachable = false;
                    h.error = Some(match other {
                        Observation::Unreachable { error, .. } | Observation::NotConnected { error, .. } => {
                            error.clone()
                        }
                        _ => crate::failure::Said::of(other).to_string(),
                    });
                } else {
                    let said = crate::failure::Said::of(other).to_string();
                    self.warn(host, format!("a read failed ({said}); the plan may not show this host as it is"));
                }
                return;
            }
        };
        match ask {
            Ask::First => {
                self.state.samples.first.push(took);
                self.host(host).reachable = true;
                self.read_host(host, now);
            }
            Ask::Trip => self.state.samples.trip.push(took),
            Ask::Lock => {
                self.state.samples.small.push(took);
                if code == 0 && !stdout.trim().is_empty() {
                    self.state.lock = Some(state::HeldLock {
                        host: host.to_string(),
                        raw: stdout.trim().to_string(),
                        details: crate::ops::decode_lock_details(stdout),
                    });
                }
            }
            Ask::Image => {
                self.state.samples.inspect.push(took);
                self.host(host).has_image = Some(code == 0);
            }
            Ask::Routes => {
                self.state.samples.inspect.push(took);
                match docker::parse_traefik_services(stdout) {
                    Ok(r) if code == 0 => self.host(host).routes = Some(r),
                    _ => self.warn(host, format!("the proxy's routing table could not be read (exit {code})")),
                }
            }
            Ask::List { role } => self.listed(host, &role, code, stdout, took, now),
            Ask::Status { role, name } => {
                self.state.samples.inspect.push(took);
                if let Ok(p) = docker::parse_probe(stdout) {
                    if let Some(c) = self.host(host).container(&role, &name) {
                        c.state = p.status.state.as_str().to_string();
                        c.health = p.status.health.map(|h| h.as_str().to_string());
                    }
                }
            }
            Ask::Address { role, name } => {
                self.state.samples.inspect.push(took);
                if let Some(c) = self.host(host).container(&role, &name) {
                    c.ips = if code == 0 { docker::parse_addresses(stdout) } else { vec![] };
                }
            }
            Ask::Mounts { role, name } => {
                self.state.samples.inspect.push(took);
                let mount = self.plan.config.role(&role).and_then(|r| r.spec.cord_mount().map(str::to_string));
                let cord = docker::parse_mounts(stdout)
                    .ok()
                    .and_then(|m| mount.and_then(|d| docker::cord_source(&m, &d).map(str::to_string)));
                if let Some(c) = self.host(host).container(&role, &name) {
                    c.cord = cord;
                }
            }
        }
    }

    fn listed(&mut self, host: &str, role: &str, code: i32, stdout: &str, took: Time, now: Time) {
        self.state.samples.inspect.push(took);
        let entries = match docker::parse_ps(stdout) {
            Ok(e) if code == 0 => e,
            Ok(_) | Err(_) => {
                return self.warn(host, format!("the containers of {role} could not be listed (exit {code})"));
            }
        };
        let prefix = self.plan.config.role_full_name(role);
        let routed =
            cmds::routes(&self.plan.config).is_some() && self.plan.config.role(role).is_some_and(|r| r.spec.proxied);
        for e in entries {
            let version = e.name.strip_prefix(&prefix).and_then(|r| r.strip_prefix('-')).unwrap_or("").to_string();
            let live = e.state.is_live();
            self.host(host).containers.push(LiveContainer {
                role: role.to_string(),
                name: e.name.clone(),
                version,
                state: e.state.as_str().to_string(),
                health: None,
                cord: None,
                ips: vec![],
            });
            if live {
                let (r, n) = (role.to_string(), e.name.clone());
                let ask = Ask::Status { role: r.clone(), name: n.clone() };
                self.read(host, Some(role), ask, cmds::status(&n), Action::Status { name: n.clone() }, now);
                let ask = Ask::Mounts { role: r.clone(), name: n.clone() };
                self.read(host, Some(role), ask, cmds::mounts(&n), Action::Mounts { name: n.clone() }, now);
                if routed {
                    // Where the proxy's table would name it.
                    let ask = Ask::Address { role: r, name: n.clone() };
                    self.read(host, Some(role), ask, cmds::addresses(&n), Action::Addresses { name: n }, now);
                }
            }
        }
    }
}

impl Machine for Survey {
    fn handle_observation(&mut self, obs: &Observation, now: Time) -> bool {
        let Some((host, ask, issued)) = self.pending.remove(&obs.id().0) else { return false };
        self.answered(&host, ask, issued, obs, now);
        self.finish_if_done();
        true
    }
    fn handle_timeout(&mut self, _now: Time) {}
    fn handle_interrupt(&mut self, _now: Time) {
        // Nothing changes on a host: stop reading and finish with what was read.
        self.effects.clear();
        self.pending.clear();
        self.finish_if_done();
    }
    fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }
    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
    fn poll_timeout(&self) -> Option<Wake> {
        None
    }
    fn is_finished(&self) -> bool {
        self.finished
    }
}
