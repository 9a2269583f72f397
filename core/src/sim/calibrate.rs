//! The plan's figures from real hosts instead of the built-in ones: command
//! times measured by `plan --live`'s survey ([`crate::live`]) or read from
//! the journals of real runs (`plan --calibrate FILE…`, [`from_journal`]).

use crate::journal::{Entry, Journal};
use crate::sim::fleet::{Costs, HEALTH_CHECK_MS};
use crate::time::{Millis, Time};
use serde::Serialize;
use std::collections::BTreeMap;

/// Command times seen on real hosts (ms, from issue to answer), by what
/// the commands were for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Samples {
    /// The first command to each host, less what the same command takes
    /// over an open connection: the SSH handshake.
    pub first: Vec<Millis>,
    /// A command that only asks the host's shell (`true`): the round trip.
    pub trip: Vec<Millis>,
    /// `docker inspect`, `docker ps`, the routes: reads of Docker's state.
    pub inspect: Vec<Millis>,
    /// `docker run`.
    pub run: Vec<Millis>,
    /// The image step (tag, and a pull when the image was missing).
    pub tag: Vec<Millis>,
    /// Small shell commands: the lock, audit lines, cords, renames.
    pub small: Vec<Millis>,
    /// `docker stop` of a running container.
    pub stop: Vec<Millis>,
    /// From a new container's `docker run` answered until a status read
    /// found it healthy.
    pub healthy_after: Vec<Millis>,
}

/// What calibration changes in a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Calibration {
    pub costs: Costs,
    /// From a container's start until the app answers its check.
    pub app_start: Option<Millis>,
    /// How long `docker stop` takes.
    pub app_stop: Option<Millis>,
}

fn median(v: &[Millis]) -> Option<Millis> {
    let mut v = v.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

impl Samples {
    pub fn is_empty(&self) -> bool {
        self == &Samples::default()
    }

    /// Add another set of samples to these.
    pub fn extend(&mut self, o: &Samples) {
        self.first.extend(&o.first);
        self.trip.extend(&o.trip);
        self.inspect.extend(&o.inspect);
        self.run.extend(&o.run);
        self.tag.extend(&o.tag);
        self.small.extend(&o.small);
        self.stop.extend(&o.stop);
        self.healthy_after.extend(&o.healthy_after);
    }

    /// The simulated fleet's figures: measured where there are samples,
    /// `base` elsewhere. `health_interval` is the config's health check
    /// interval (the app's start time is read back from when checks passed).
    pub fn calibrate(&self, base: &Costs, health_interval: Option<Millis>) -> Calibration {
        let mut c = base.clone();
        if let Some(t) = median(&self.trip) {
            c.rtt = t.max(1);
        }
        let less_trip = |v: &[Millis]| median(v).map(|m| m.saturating_sub(c.rtt));
        if let Some(m) = median(&self.first) {
            c.connect = m;
        }
        if let Some(m) = less_trip(&self.inspect) {
            c.inspect = m;
        }
        if let Some(m) = less_trip(&self.run) {
            c.run = m;
        }
        if let Some(m) = less_trip(&self.tag) {
            c.tag = m;
        }
        if let Some(m) = less_trip(&self.small) {
            c.small = m;
        }
        let app_stop = less_trip(&self.stop).map(|m| m.saturating_sub(c.small));
        // A container turns healthy at the first check after the app
        // answers; checks come every interval plus the check's own time.
        let period = health_interval.unwrap_or(1000) + HEALTH_CHECK_MS;
        let app_start = median(&self.healthy_after).map(|m| m.saturating_sub(period) + 1);
        Calibration { costs: c, app_start, app_stop }
    }
}

/// The value after `--name` in a rendered `docker run` line.
fn run_name(cmd: &str) -> Option<String> {
    let rest = cmd.split_once("--name ")?.1;
    Some(rest.split_whitespace().next()?.trim_matches('\'').to_string())
}

/// The command times and health timing of one real run's journal.
pub fn from_journal(j: &Journal) -> Samples {
    let mut s = Samples::default();
    // id → (issued, host, step, cmd)
    let mut issued: BTreeMap<u64, (Time, &str, &str, &str)> = BTreeMap::new();
    let mut seen_host: BTreeMap<&str, ()> = BTreeMap::new();
    let mut first_of: BTreeMap<u64, ()> = BTreeMap::new();
    // container name → when its docker run was answered
    let mut started: BTreeMap<String, Time> = BTreeMap::new();
    let mut firsts: Vec<(&str, Millis)> = vec![];
    let mut by_step: BTreeMap<&str, Vec<Millis>> = BTreeMap::new();
    for (_, e) in &j.entries {
        match e {
            Entry::Effect(r) if r.host != crate::effect::LOCAL => {
                if seen_host.insert(r.host.as_str(), ()).is_none() {
                    first_of.insert(r.id, ());
                }
                issued.insert(r.id, (r.at_ms, r.host.as_str(), r.step.as_str(), r.cmd.as_str()));
            }
            Entry::Observation(o) => {
                let Some(&(at, _host, step, cmd)) = issued.get(&o.id) else { continue };
                if o.status != "exited" {
                    continue;
                }
                let took = o.at_ms.saturating_sub(at);
                if first_of.contains_key(&o.id) {
                    firsts.push((step, took));
                    continue;
                }
                by_step.entry(step).or_default().push(took);
                let out = o.stdout.as_deref().unwrap_or("");
                if step == "run" && o.code == Some(0) {
                    if let Some(n) = run_name(cmd) {
                        started.insert(n, o.at_ms);
                    }
                }
                if step == "status" && out.starts_with("running healthy") {
                    let name = cmd.rsplit(' ').next().unwrap_or("").trim_matches('\'');
                    if let Some(t0) = started.remove(name) {
                        s.healthy_after.push(at.saturating_sub(t0));
                    }
                }
            }
            _ => {}
        }
    }
    let get = |k: &str| by_step.get(k).cloned().unwrap_or_default();
    s.inspect = [get("status"), get("list"), get("mounts"), get("address")].concat();
    s.run = get("run");
    s.tag = get("prepare");
    s.small = [get("lock"), get("audit"), get("tie"), get("cut"), get("rename")].concat();
    s.stop = get("stop");
    // The handshake: a host's first command, less what the same kind of
    // command takes over an open connection.
    for (step, took) in firsts {
        if let Some(m) = median(&get(step)) {
            s.first.push(took.saturating_sub(m));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measured_figures_replace_the_built_in_ones() {
        let s = Samples {
            first: vec![150, 170, 160],
            trip: vec![4, 6, 5],
            inspect: vec![35, 45, 40],
            run: vec![605],
            healthy_after: vec![2101],
            ..Samples::default()
        };
        let c = s.calibrate(&Costs::default(), Some(1000));
        assert_eq!((c.costs.rtt, c.costs.connect, c.costs.inspect, c.costs.run), (5, 160, 35, 600));
        assert_eq!(c.costs.pull, Costs::default().pull, "not measured: the built-in figure");
        assert_eq!(c.app_start, Some(1052));
        assert_eq!(c.app_stop, None);
    }

    #[test]
    fn the_name_of_a_docker_run() {
        assert_eq!(run_name("docker run --detach --name app-web-v2 -e X=1 img").as_deref(), Some("app-web-v2"));
        assert_eq!(run_name("docker ps"), None);
    }
}
