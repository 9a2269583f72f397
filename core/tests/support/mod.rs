//! A small scripted responder for the boot snapshots: just enough of a host
//! (containers, health over time, cord files, the lock) to answer each
//! effect by its action. Every command takes 100 ms. The full simulator, with
//! Docker's health rules and a proxy model, lives in `baton_core::sim`.

#![allow(dead_code)]

use baton_core::config::{Config, Source};
use baton_core::deploy::Deploy;
use baton_core::effect::{Action, Effect, Observation};
use baton_core::plan::{LockInfo, Plan};
use baton_core::sim::{drive, Answer, Responder, Run};
use baton_core::time::{Millis, Time};
use std::collections::{BTreeMap, BTreeSet};

pub const LATENCY: Millis = 100;

#[derive(Clone, Debug)]
pub struct Ctr {
    pub name: String,
    pub running: bool,
    pub started: Time,
    pub cord: Option<String>,
    pub health_check: bool,
    pub version: String,
    pub cord_cut: Option<Time>,
}

/// How a version behaves.
#[derive(Clone, Debug)]
pub struct Profile {
    /// Healthy this long after start; None = never.
    pub healthy_after: Option<Millis>,
    /// Exits at start.
    pub crash: bool,
    /// Its health check ignores the cord (never turns unhealthy).
    pub ignores_cord: bool,
}

impl Default for Profile {
    fn default() -> Self {
        Profile { healthy_after: Some(1500), crash: false, ignores_cord: false }
    }
}

#[derive(Default)]
pub struct Host {
    /// Oldest first.
    pub containers: Vec<Ctr>,
    pub cords: BTreeSet<String>,
    pub lock: Option<String>,
    pub unreachable: bool,
    /// The host goes down as `docker run` is sent: that command never runs.
    pub down_at_run: bool,
    pub audit: Vec<String>,
}

#[derive(Default)]
pub struct Scripted {
    pub hosts: BTreeMap<String, Host>,
    pub profiles: BTreeMap<String, Profile>,
}

const HOME: &str = "/root";

impl Scripted {
    pub fn new(hosts: &[&str]) -> Self {
        let mut s = Scripted::default();
        for h in hosts {
            s.hosts.insert(h.to_string(), Host::default());
        }
        s
    }

    /// A running container of `version`, started by an earlier deploy with a cord.
    pub fn running(mut self, host: &str, role: &str, version: &str) -> Self {
        let dir = format!(".kamal/cords/app-{role}-00000000000000000000000000000000");
        let h = self.hosts.get_mut(host).expect("host");
        h.cords.insert(dir.clone());
        h.containers.push(Ctr {
            name: format!("app-{role}-{version}"),
            running: true,
            started: 0,
            cord: (role == "web").then_some(dir),
            health_check: role == "web",
            version: version.into(),
            cord_cut: None,
        });
        self
    }

    pub fn profile(mut self, version: &str, p: Profile) -> Self {
        self.profiles.insert(version.into(), p);
        self
    }

    fn health(&self, host: &Host, c: &Ctr, now: Time) -> String {
        if !c.running {
            return if c.health_check { "exited unhealthy".into() } else { "exited".into() };
        }
        if !c.health_check {
            return "running".into();
        }
        let p = self.profiles.get(&c.version).cloned().unwrap_or_default();
        let cord_ok = c.cord.as_ref().is_none_or(|d| host.cords.contains(d)) || p.ignores_cord;
        if !cord_ok {
            // A failed check every second after the cut; unhealthy at three,
            // with Docker's failing streak.
            let fails = (now.saturating_sub(c.cord_cut.unwrap_or(now)) / 1000).min(3);
            let health = if fails >= 3 { "unhealthy" } else { "healthy" };
            return format!("running {health} {fails}");
        }
        match p.healthy_after {
            Some(after) if now >= c.started + after => "running healthy".into(),
            _ => "running starting".into(),
        }
    }
}

fn ok(id: baton_core::effect::EffectId, out: &str) -> Observation {
    Observation::ok(id, out)
}

impl Responder for Scripted {
    fn answer(&mut self, e: &Effect, now: Time) -> Answer {
        let (after, obs) = self.respond(e, now);
        Answer::After(after, obs)
    }
}

impl Scripted {
    fn respond(&mut self, e: &Effect, now: Time) -> (Millis, Observation) {
        let c = e.cmd();
        let id = c.id;
        let at = now + LATENCY;
        let profiles = self.profiles.clone();
        let Some(h) = self.hosts.get(&c.host) else {
            return (
                LATENCY,
                Observation::NotConnected { id, error: format!("ssh: Could not resolve hostname {}", c.host) },
            );
        };
        // A host that is down refuses the connection: the command never runs.
        if h.unreachable || (h.down_at_run && matches!(c.action, Action::RunContainer { .. })) {
            return (
                LATENCY,
                Observation::NotConnected {
                    id,
                    error: format!("ssh: connect to host {} port 22: Connection refused", c.host),
                },
            );
        }
        let health_of = |name: &str| -> Option<String> {
            let h = &self.hosts[&c.host];
            h.containers.iter().find(|x| x.name == name).map(|x| self.health(h, x, at))
        };
        let obs = match &c.action {
            Action::Status { name } => match health_of(name) {
                Some(s) => ok(id, &format!("{s}\n")),
                None => Observation::failed(id, 1, format!("Error: No such object: {name}")),
            },
            _ => {
                let h = self.hosts.get_mut(&c.host).expect("host");
                match &c.action {
                    Action::LockAcquire { details } => {
                        if h.lock.is_some() {
                            Observation::failed(id, 1, "mkdir: cannot create directory '.kamal/lock-app': File exists")
                        } else {
                            h.lock = Some(details.clone());
                            ok(id, "")
                        }
                    }
                    Action::LockRead => match &h.lock {
                        Some(d) => ok(id, &format!("{d}\n")),
                        None => Observation::failed(id, 1, "cat: .kamal/lock-app/details: No such file or directory"),
                    },
                    Action::LockRelease => {
                        h.lock = None;
                        ok(id, "")
                    }
                    Action::PrepareImage { .. }
                    | Action::Audit { .. }
                    | Action::Hook { .. }
                    | Action::RegistryLogin
                    | Action::RegistryLogout
                    | Action::BuildPush { .. }
                    | Action::PullImage { .. } => ok(id, ""),
                    Action::ListContainers => {
                        let role = c.role.clone().unwrap_or_default();
                        let lines: Vec<String> = h
                            .containers
                            .iter()
                            .rev()
                            .filter(|x| x.name.starts_with(&format!("app-{role}-")))
                            .map(|x| format!("{}\t{}", x.name, if x.running { "running" } else { "exited" }))
                            .collect();
                        ok(id, &(lines.join("\n") + "\n"))
                    }
                    Action::Rename { from, to } => {
                        if let Some(x) = h.containers.iter_mut().find(|x| &x.name == from) {
                            x.name = to.clone();
                        }
                        ok(id, "")
                    }
                    Action::TieCord { dir } => {
                        h.cords.insert(dir.clone());
                        ok(id, "")
                    }
                    Action::RunContainer { name, version, cord_dir, health_interval_ms, .. } => {
                        let crash = profiles.get(version).is_some_and(|p| p.crash);
                        h.containers.push(Ctr {
                            name: name.clone(),
                            running: !crash,
                            started: at,
                            cord: cord_dir.clone(),
                            health_check: health_interval_ms.is_some(),
                            version: version.clone(),
                            cord_cut: None,
                        });
                        ok(id, "4f1c0ffee\n")
                    }
                    Action::Mounts { name } => match h.containers.iter().find(|x| &x.name == name) {
                        Some(x) => {
                            let mut mounts =
                                vec![r#"{"Type":"bind","Source":"/data","Destination":"/data","Mode":"","RW":true}"#
                                    .to_string()];
                            if let Some(d) = &x.cord {
                                mounts.push(format!(
                                    r#"{{"Type":"bind","Source":"{HOME}/{d}","Destination":"/tmp/kamal-cord","Mode":"","RW":true}}"#
                                ));
                            }
                            ok(id, &format!("[{}]\n", mounts.join(",")))
                        }
                        None => Observation::failed(id, 1, format!("Error: No such object: {name}")),
                    },
                    Action::CutCord { dir } => {
                        let rel = dir.strip_prefix(&format!("{HOME}/")).unwrap_or(dir).to_string();
                        h.cords.remove(&rel);
                        for x in h.containers.iter_mut().filter(|x| x.cord.as_deref() == Some(rel.as_str())) {
                            x.cord_cut = Some(at);
                        }
                        ok(id, "")
                    }
                    Action::RetieCord { dir } => {
                        let rel = dir.strip_prefix(&format!("{HOME}/")).unwrap_or(dir).to_string();
                        h.cords.insert(rel.clone());
                        for x in h.containers.iter_mut().filter(|x| x.cord.as_deref() == Some(rel.as_str())) {
                            x.cord_cut = None;
                        }
                        ok(id, "")
                    }
                    Action::Stop { name } => {
                        if let Some(x) = h.containers.iter_mut().find(|x| &x.name == name) {
                            x.running = false;
                        }
                        ok(id, &format!("{name}\n"))
                    }
                    Action::Remove { name } => match h.containers.iter().position(|x| &x.name == name) {
                        Some(i) if !h.containers[i].running => {
                            h.containers.remove(i);
                            ok(id, &format!("{name}\n"))
                        }
                        Some(_) => Observation::failed(
                            id,
                            1,
                            format!("cannot remove container \"/{name}\": container is running"),
                        ),
                        None => {
                            Observation::failed(id, 1, format!("Error response from daemon: No such container: {name}"))
                        }
                    },
                    Action::Status { .. }
                    | Action::Other
                    | Action::Routes
                    | Action::Addresses { .. }
                    | Action::PruneContainers { .. }
                    | Action::PruneImages => ok(id, ""),
                }
            }
        };
        (LATENCY, obs)
    }
}

/// Parse a test config. Kamal 1 requires a registry with a username and a
/// password: a config without `registry:` gets one after its own lines.
pub fn config(text: &str) -> Config {
    let text = if text.contains("registry:") {
        text.to_string()
    } else {
        format!("{text}registry:\n  username: deployer\n  password: [KAMAL_REGISTRY_PASSWORD]\n")
    };
    Config::parse(Source { name: "config/deploy.yml", text: &text }, None).expect("test config parses")
}

pub fn plan(cfg: Config, version: &str) -> Plan {
    Plan::new(
        cfg,
        version,
        None,
        None,
        "deployer",
        LockInfo {
            holder: "Ada".into(),
            at_utc: "2026-11-27T10:00:00Z".into(),
            message: "Automatic deploy lock".into(),
        },
    )
    .expect("plan")
}

/// Boot `version` with `cfg` against `fleet`; seed 7; starts at t=0.
pub fn boot(cfg: &str, version: &str, fleet: &mut Scripted) -> Run {
    let d = Deploy::new(plan(config(cfg), version), 7, 0);
    drive(d, fleet, 0, 10_000, baton_core::trace::Trace::new())
}
