//! A simulated fleet: per host a Docker model (containers, health checks,
//! cord directories, the lock) and a Traefik-like proxy model, answering the
//! core's effects in virtual time. Deterministic: the same config, seed and
//! faults give the same answers.
//!
//! Docker's health rules as modelled: a check every `interval` from start;
//! `starting` until the first pass; `healthy` after a pass; `unhealthy` after
//! [`DOCKER_HEALTH_RETRIES`] failures in a row. A check passes when the app
//! answers and, for a container with a cord, the cord file exists.
//!
//! The proxy routes a role's requests to its running containers that carry
//! the Traefik labels and are `healthy` (running, for containers without a
//! health check), as Traefik's docker provider does: from snapshots of
//! Docker's state on its host. It picks a snapshot up `pickup` after it was
//! taken, plus a jitter of up to `jitter` drawn from the seed (a busy proxy
//! is late), and applies snapshots in order: one picked up after a newer
//! one is skipped, as Traefik's throttle skips the snapshots between two it
//! applies. It never applies an old snapshot over a newer one. With the
//! fault [`FaultKind::Unrouted`] it never routes to a new container (wrong
//! labels, another network). On a host whose routing table `plan --live`
//! read, it starts from that table instead, until its first pickup
//! (`proxy.rs`).

use crate::deploy::DOCKER_HEALTH_RETRIES;
use crate::docker::{Health, State};
use crate::driver::{Answer, Responder};
use crate::effect::{Action, Effect, EffectId, Observation};
use crate::time::{Millis, Time};
use std::collections::{BTreeMap, BTreeSet};

mod proxy;

pub use super::faults::{action_kind, Costs, Fault, FaultKind, Profile, When, STEP_KINDS};

/// How long one health check takes (a `curl` of the app: tens of ms).
pub const HEALTH_CHECK_MS: Millis = 50;

/// The remote home of every simulated host.
pub const HOME: &str = "/home/deploy";

#[derive(Clone, Debug)]
pub struct Container {
    pub name: String,
    pub role: String,
    pub version: String,
    pub started: Time,
    pub stop_issued: Option<Time>,
    pub exited: Option<Time>,
    pub health_iv: Option<Millis>,
    /// When its first health check ends, after `started`. Docker runs the
    /// next one an interval after a check ends, so checks come every
    /// interval plus the check's own duration.
    pub first_check_after: Millis,
    /// Absolute host path of its cord directory.
    pub cord_dir: Option<String>,
    pub proxied: bool,
    pub profile: Profile,
    /// Already healthy when the simulation begins (a previous deploy).
    pub preexisting: bool,
    /// As `plan --live` read it: its addresses, and whether the proxy's
    /// table routed to it.
    pub as_read: Option<AsRead>,
}

/// A container's addresses as read, and whether the proxy's table as read
/// holds one of them (under its role's service).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AsRead {
    pub ips: Vec<String>,
    pub routed: bool,
}

/// A target the proxy's table held when it was read that no live container
/// has (its container stopped or is gone): requests sent to it fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaleTarget {
    pub role: String,
    /// The role's service in the proxy (`<service>-<role>`).
    pub service: String,
    pub ip: String,
}

impl Container {
    /// When its health checks end, up to `until`.
    pub fn check_times(&self, until: Time) -> Vec<Time> {
        let Some(iv) = self.health_iv else { return vec![] };
        let period = iv.max(1) + HEALTH_CHECK_MS;
        (0..).map(|k| self.started + self.first_check_after + k * period).take_while(|&t| t <= until).collect()
    }
    fn running(&self, t: Time) -> bool {
        t >= self.started && self.exited.is_none_or(|e| t < e) && !self.profile.crash
    }
    /// The app answers requests at `t`.
    pub fn serving(&self, t: Time) -> bool {
        self.running(t)
            && self.profile.healthy
            && (self.preexisting || t >= self.started + self.profile.start_ms)
            && self.stop_issued.is_none_or(|s| t < s)
    }
}

#[derive(Clone, Debug, Default)]
pub struct Host {
    /// In creation order.
    pub containers: Vec<Container>,
    /// Cord directory → when its cord file was there: (created, removed).
    pub cords: BTreeMap<String, Vec<(Time, Option<Time>)>>,
    pub lock: Option<String>,
    pub images: BTreeSet<String>,
    pub down_from: Option<Time>,
    /// `plan --live` read this host's routing table: the proxy starts from
    /// it (its containers' [`AsRead::routed`], and these stale targets)
    /// until it picks up Docker's state. None: it starts from Docker's state.
    pub table: Option<Vec<StaleTarget>>,
}

impl Host {
    fn cord_present(&self, dir: &str, t: Time) -> bool {
        self.cords.get(dir).is_some_and(|v| v.iter().any(|(c, r)| *c <= t && r.is_none_or(|r| t < r)))
    }

    /// Docker's health status at `t` (None without a health check).
    pub fn health(&self, c: &Container, t: Time) -> Option<Health> {
        self.health_streak(c, t).0
    }

    /// Docker's health status at `t` and its failing streak.
    pub fn health_streak(&self, c: &Container, t: Time) -> (Option<Health>, u64) {
        if c.health_iv.is_none() {
            return (None, 0);
        }
        let mut status = if c.preexisting { Health::Healthy } else { Health::Starting };
        let mut fails = 0u64;
        for tk in c.check_times(t) {
            if c.exited.is_some_and(|e| tk >= e) {
                break;
            }
            let pass = c.serving(tk) && c.cord_dir.as_deref().is_none_or(|d| self.cord_present(d, tk));
            if pass {
                status = Health::Healthy;
                fails = 0;
            } else {
                fails += 1;
                if fails >= DOCKER_HEALTH_RETRIES {
                    status = Health::Unhealthy;
                }
            }
        }
        (Some(status), fails)
    }

    fn state(&self, c: &Container, t: Time) -> State {
        if c.exited.is_some_and(|e| t >= e) {
            State::Exited
        } else if c.profile.crash {
            State::Restarting
        } else {
            State::Running
        }
    }

    /// Would the proxy route to `c` at `t`, if it saw Docker as it is at `t`?
    pub fn routable(&self, c: &Container, t: Time) -> bool {
        (c.preexisting || t >= c.started)
            && c.proxied
            && self.state(c, t) == State::Running
            && (c.health_iv.is_none() || self.health(c, t) == Some(Health::Healthy))
    }

    /// The times at which `routable(c, ·)` may change, up to `until`.
    fn change_points(&self, c: &Container, until: Time) -> Vec<Time> {
        let mut pts = vec![c.started];
        pts.extend(c.check_times(until));
        pts.extend(c.exited);
        pts
    }
}

/// The simulated fleet.
#[derive(Clone, Debug)]
pub struct Fleet {
    pub hosts: BTreeMap<String, Host>,
    pub profiles: BTreeMap<String, Profile>,
    /// How versions without a profile behave.
    pub default_profile: Profile,
    pub faults: Vec<Fault>,
    pub costs: Costs,
    pub pickup: Millis,
    pub jitter: Millis,
    seed: u64,
    /// Hosts whose step fault has fired: (host, kind).
    fired: BTreeSet<(String, String)>,
    /// Hosts with an open SSH connection (the first command pays the handshake).
    connected: BTreeSet<String>,
    /// What an unreachable host says, when it was read so (`plan --live`).
    pub unreachable_errors: BTreeMap<String, String>,
}

impl Fleet {
    pub fn new(hosts: &[String], seed: u64) -> Fleet {
        Fleet {
            hosts: hosts.iter().map(|h| (h.clone(), Host::default())).collect(),
            profiles: BTreeMap::new(),
            default_profile: Profile::default(),
            faults: vec![],
            costs: Costs::default(),
            pickup: 2000,
            jitter: 1000,
            seed,
            fired: BTreeSet::new(),
            connected: BTreeSet::new(),
            unreachable_errors: BTreeMap::new(),
        }
    }

    /// A container already running and healthy on `host`, as a previous
    /// deploy (baton's or Kamal's) leaves it. Its cord directory exists.
    pub fn with_running(&mut self, host: &str, c: Container) {
        let h = self.hosts.entry(host.to_string()).or_default();
        if let Some(d) = &c.cord_dir {
            h.cords.insert(d.clone(), vec![(0, None)]);
        }
        h.images.insert(c.version.clone());
        h.containers.push(Container { preexisting: true, ..c });
    }

    fn fault_active(&mut self, host: &str, kind: &str, now: Time) -> bool {
        let down = self.hosts.get(host).and_then(|h| h.down_from).is_some_and(|d| now >= d);
        if down {
            return true;
        }
        let mut fire = false;
        for f in &self.faults {
            if f.host != host {
                continue;
            }
            if let FaultKind::Unreachable(w) = &f.kind {
                match w {
                    When::Always => fire = true,
                    When::At(t) if now >= *t => fire = true,
                    When::Step(s) if s == kind => fire = true,
                    _ => {}
                }
            }
        }
        if fire {
            if let Some(h) = self.hosts.get_mut(host) {
                h.down_from = Some(now);
            }
            self.fired.insert((host.to_string(), "unreachable".into()));
        }
        fire
    }

    fn has_fault(&self, host: &str, pred: impl Fn(&FaultKind) -> bool) -> bool {
        self.faults.iter().any(|f| f.host == host && pred(&f.kind))
    }

    fn profile_for(&self, host: &str, version: &str) -> Profile {
        let mut p = self.profiles.get(version).cloned().unwrap_or_else(|| self.default_profile.clone());
        for f in self.faults.iter().filter(|f| f.host == host) {
            match f.kind {
                FaultKind::NeverHealthy => p.healthy = false,
                FaultKind::Crash => p.crash = true,
                FaultKind::SlowHealth(ms) => p.start_ms += ms,
                FaultKind::CrashAfter(ms) => p.dies_after = Some(ms),
                _ => {}
            }
        }
        p
    }

    /// `docker run` of the container `action` describes, at `at`.
    fn run_container(&mut self, host: &str, role: &str, action: &Action, at: Time) -> (i32, String, String, Millis) {
        let Action::RunContainer { name, version, cord_dir, health_interval_ms, proxied } = action else {
            return (1, String::new(), "not a docker run".into(), 0);
        };
        let costs = self.costs.clone();
        if self.hosts[host].containers.iter().any(|c| &c.name == name) {
            return (
                125,
                String::new(),
                format!(
                    "docker: Error response from daemon: Conflict. The container name \"/{name}\" is already in use."
                ),
                costs.run,
            );
        }
        let profile = self.profile_for(host, version);
        let h = self.hosts.get_mut(host).expect("known host");
        h.images.insert(version.clone());
        h.containers.push(Container {
            name: name.clone(),
            role: role.to_string(),
            version: version.clone(),
            started: at + costs.run,
            stop_issued: None,
            exited: profile.dies_after.map(|d| at + costs.run + d),
            health_iv: *health_interval_ms,
            first_check_after: health_interval_ms.unwrap_or(0) + HEALTH_CHECK_MS,
            cord_dir: cord_dir.as_ref().map(|d| if d.starts_with('/') { d.clone() } else { format!("{HOME}/{d}") }),
            proxied: *proxied,
            profile,
            preexisting: false,
            as_read: None,
        });
        (0, "0123456789abcdef\n".into(), String::new(), costs.run)
    }

    /// Apply an action at `at` and give its result: (exit code, stdout, stderr, duration).
    fn apply(&mut self, host: &str, role: &str, action: &Action, at: Time) -> (i32, String, String, Millis) {
        let costs = self.costs.clone();
        match action {
            Action::Routes => return (0, self.routes_json(host, at) + "\n", String::new(), costs.inspect),
            Action::Addresses { name } => {
                return match self.hosts[host].containers.iter().position(|c| &c.name == name) {
                    Some(i) => (0, format!("{} \n", self.ip(host, i)), String::new(), costs.inspect),
                    None => (1, String::new(), format!("Error: No such object: {name}"), costs.inspect),
                };
            }
            _ => {}
        }
        let h = self.hosts.get_mut(host).expect("known host");
        let find = |h: &Host, name: &str| h.containers.iter().position(|c| c.name == name);
        match action {
            Action::LockAcquire { details } => match &h.lock {
                Some(_) => (
                    1,
                    String::new(),
                    "mkdir: cannot create directory '.kamal/lock-…': File exists".to_string(),
                    costs.small,
                ),
                None => {
                    h.lock = Some(details.clone());
                    (0, String::new(), String::new(), costs.small)
                }
            },
            Action::LockRead => match &h.lock {
                Some(d) => (0, format!("{d}\n"), String::new(), costs.small),
                None => (1, String::new(), "cat: details: No such file or directory".into(), costs.small),
            },
            Action::LockRelease => {
                h.lock = None;
                (0, String::new(), String::new(), costs.small)
            }
            Action::PrepareImage { version } => {
                let pulled = h.images.insert(version.clone());
                (0, String::new(), String::new(), costs.tag + if pulled { costs.pull } else { 0 })
            }
            Action::Audit { .. } => (0, String::new(), String::new(), costs.small),
            Action::ListContainers => {
                let prefix = format!("-{role}-");
                let lines: Vec<String> = h
                    .containers
                    .iter()
                    .rev()
                    .filter(|c| c.role == role || c.name.contains(&prefix))
                    .map(|c| format!("{}\t{}", c.name, h.state(c, at).as_str()))
                    .collect();
                (0, lines.iter().map(|l| format!("{l}\n")).collect(), String::new(), costs.inspect)
            }
            Action::Rename { from, to } => match find(h, from) {
                Some(i) => {
                    h.containers[i].name = to.clone();
                    (0, String::new(), String::new(), costs.small + 20)
                }
                None => {
                    (1, String::new(), format!("Error response from daemon: No such container: {from}"), costs.small)
                }
            },
            Action::TieCord { dir } => {
                let abs = if dir.starts_with('/') { dir.clone() } else { format!("{HOME}/{dir}") };
                h.cords.entry(abs).or_default().push((at, None));
                (0, String::new(), String::new(), costs.small)
            }
            Action::RunContainer { .. } => self.run_container(host, role, action, at),
            Action::Status { name } => match find(h, name) {
                Some(i) => {
                    let c = &h.containers[i];
                    let state = h.state(c, at).as_str();
                    let out = match h.health_streak(c, at) {
                        (Some(health), streak) => format!("{state} {} {streak}\n", health.as_str()),
                        (None, _) => format!("{state}\n"),
                    };
                    (0, out, String::new(), costs.inspect)
                }
                None => (1, String::new(), format!("Error: No such object: {name}"), costs.inspect),
            },
            Action::Mounts { name } => match find(h, name) {
                Some(i) => {
                    let mounts: Vec<String> = h.containers[i]
                        .cord_dir
                        .iter()
                        .map(|d| format!(r#"{{"Type":"bind","Source":"{d}","Destination":"/tmp/kamal-cord","Mode":"","RW":true,"Propagation":"rprivate"}}"#))
                        .collect();
                    (0, format!("[{}]\n", mounts.join(",")), String::new(), costs.inspect)
                }
                None => (1, String::new(), format!("Error: No such object: {name}"), costs.inspect),
            },
            Action::CutCord { dir } => {
                if let Some((_, removed @ None)) = h.cords.get_mut(dir).and_then(|v| v.last_mut()) {
                    *removed = Some(at);
                }
                (0, String::new(), String::new(), costs.small)
            }
            Action::RetieCord { dir } => match h.cords.get_mut(dir) {
                Some(v) => {
                    if v.last().is_some_and(|(_, r)| r.is_some()) {
                        v.push((at, None));
                    }
                    (0, String::new(), String::new(), costs.small)
                }
                None => (
                    1,
                    String::new(),
                    format!("touch: cannot touch '{dir}/cord': No such file or directory"),
                    costs.small,
                ),
            },
            Action::Stop { name } => match find(h, name) {
                Some(i) => {
                    let c = &mut h.containers[i];
                    let took = if c.exited.is_some_and(|e| e <= at) {
                        0
                    } else {
                        c.stop_issued = Some(at);
                        c.exited = Some(at + c.profile.stop_ms);
                        c.profile.stop_ms
                    };
                    (0, format!("{name}\n"), String::new(), costs.small + took)
                }
                None => {
                    (1, String::new(), format!("Error response from daemon: No such container: {name}"), costs.small)
                }
            },
            Action::PullImage { version } => {
                h.images.insert(version.clone());
                (0, String::new(), String::new(), costs.pull)
            }
            Action::BuildPush { .. } => (0, String::new(), String::new(), costs.build),
            Action::Remove { .. } | Action::PruneContainers { .. } | Action::PruneImages => {
                remove(h, role, action, at, &costs)
            }
            Action::Other
            | Action::Routes
            | Action::Addresses { .. }
            | Action::Hook { .. }
            | Action::RegistryLogin
            | Action::RegistryLogout => (0, String::new(), String::new(), costs.small),
        }
    }
}

/// `docker container rm`, and prune: containers and images go.
fn remove(h: &mut Host, role: &str, action: &Action, at: Time, costs: &Costs) -> (i32, String, String, Millis) {
    match action {
        Action::Remove { name } => match h.containers.iter().position(|c| &c.name == name) {
            Some(i) if h.state(&h.containers[i], at) == State::Exited => {
                h.containers.remove(i);
                (0, format!("{name}\n"), String::new(), costs.small)
            }
            Some(_) => (
                1,
                String::new(),
                format!("Error response from daemon: cannot remove container \"/{name}\": container is running"),
                costs.small,
            ),
            None => (1, String::new(), format!("Error response from daemon: No such container: {name}"), costs.small),
        },
        Action::PruneContainers { retain } => {
            let stopped: Vec<usize> = (0..h.containers.len())
                .rev()
                .filter(|&i| h.containers[i].role == role && h.state(&h.containers[i], at) == State::Exited)
                .collect();
            let gone: BTreeSet<usize> = stopped.into_iter().skip(*retain as usize).collect();
            let mut i = 0;
            h.containers.retain(|_| {
                i += 1;
                !gone.contains(&(i - 1))
            });
            (0, String::new(), String::new(), costs.inspect + costs.small * gone.len() as Millis)
        }
        Action::PruneImages => {
            let used: BTreeSet<String> = h.containers.iter().map(|c| c.version.clone()).collect();
            h.images.retain(|v| used.contains(v));
            (0, String::new(), String::new(), costs.inspect)
        }
        _ => (1, String::new(), "not a removal".into(), costs.small),
    }
}

impl Responder for Fleet {
    fn answer(&mut self, effect: &Effect, now: Time) -> Answer {
        let (after, obs) = self.respond(effect, now);
        Answer::After(after, obs)
    }
}

impl Fleet {
    /// Carry out `effect`, issued at `now`, on the simulated host: its
    /// observation, and how long it takes to arrive.
    pub fn respond(&mut self, effect: &Effect, now: Time) -> (Millis, Observation) {
        let c = effect.cmd();
        let id: EffectId = c.id;
        let kind = action_kind(&c.action);
        if c.is_local() {
            // The machine baton runs on: no SSH, no host faults.
            let (code, stdout, stderr, took) = super::local::answer(&self.costs, &c.action);
            return (took, Observation::Exited { id, code, stdout, stderr });
        }
        if !self.hosts.contains_key(&c.host) {
            return (
                self.costs.connect_fail,
                Observation::NotConnected { id, error: format!("ssh: Could not resolve hostname {}", c.host) },
            );
        }
        if self.fault_active(&c.host, kind, now) {
            let error = self
                .unreachable_errors
                .get(&c.host)
                .cloned()
                .unwrap_or_else(|| format!("ssh: connect to host {} port 22: Connection refused", c.host));
            return (self.costs.connect_fail, Observation::NotConnected { id, error });
        }
        if self.has_fault(&c.host, |f| matches!(f, FaultKind::CommandFails(k) if k == kind)) {
            return (self.costs.rtt, Observation::failed(id, 1, format!("simulated failure of the {kind} command")));
        }
        let role = c.role.clone().unwrap_or_default();
        let handshake = if self.connected.insert(c.host.clone()) { self.costs.connect } else { 0 };
        let at = now + handshake + self.costs.rtt / 2;
        let (code, stdout, stderr, took) = self.apply(&c.host, &role, &c.action, at);
        let delay = handshake + self.costs.rtt + took;
        let drop_here = self.has_fault(&c.host, |f| matches!(f, FaultKind::DropConnection(k) if k == kind))
            && self.fired.insert((c.host.clone(), format!("drop:{kind}")));
        if drop_here {
            if let Some(h) = self.hosts.get_mut(&c.host) {
                h.down_from = Some(now + delay);
            }
            return (
                delay,
                Observation::Unreachable {
                    id,
                    error: "Connection to host closed by remote host (connection lost)".into(),
                },
            );
        }
        (delay, Observation::Exited { id, code, stdout, stderr })
    }
}
