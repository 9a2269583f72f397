//! An exploring driver: instead of delivering the earliest completion, as
//! [`baton_core::sim::drive`] does, it branches over which pending
//! observation is delivered next (across hosts), over an injected fault on
//! that delivery, and over time passing while commands are in flight, and
//! checks every invariant after every step of every branch.
//!
//! # The model
//!
//! Time is abstract: a command runs on the simulated fleet when its answer
//! is delivered, and takes no time; time passes only when the explorer
//! fires the deploy's next deadline ([`Machine::handle_timeout`]). So at one
//! instant every order of the pending deliveries is explored, and a
//! deadline may fire before or after each of them. Time never goes back.
//!
//! At each state the choices are:
//!
//! - deliver any pending command's answer, as the fleet gives it;
//! - (fault budget left) deliver it with a fault instead ([`Inject`]);
//! - fire the deadline that is due now, if one is (ordering at an instant);
//! - with nothing in flight: move time to the next deadline and fire it;
//! - (delay budget left) with commands in flight: move time on to the next
//!   deadline, at most `tick` ahead, while they stay in flight (slow
//!   commands);
//! - (interrupt budget left) the user presses Ctrl-C.
//!
//! # Memoisation
//!
//! Two orders of the same deliveries at the same instant on different hosts
//! lead to the same state, so states are memoised. A state's key is the
//! history of every host (each command issued to it, each answer delivered
//! from it, each event about it, with its time) and the global history
//! (deadlines fired, lock and end events), with the clock and the budgets
//! left. Effect ids and the random name suffixes are left out: they depend
//! on the global order but not on what happens. Every invariant is about one
//! host or about the outcome, so merged branches check the same things.
//!
//! Every input goes through the core's one driver
//! ([`baton_core::driver::Driver`]), so a step drains the deploy exactly as
//! `baton plan` and the timed runs do; the explorer chooses the inputs and
//! answers commands when it delivers them ([`Answer::Held`]). [`Deploy`]
//! is `Clone`: a branch forks by cloning the driver, the fleet and the
//! checker.

use crate::check::{Bounds, Checker, Invariant, Violation};
use crate::timed::Watched;
use baton_core::deploy::Deploy;
use baton_core::driver::{Answer, Driver, Responder};
use baton_core::effect::{Effect, EffectId, Event, Observation, Outcome};
use baton_core::machine::Machine;
use baton_core::plan::Plan;
use baton_core::sim::fleet::{action_kind, Fleet};
use baton_core::sim::{fleet_for, Scenario};
use baton_core::time::{fmt_secs, Millis, Time};
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::{self, Write as _};
use std::hash::{Hash, Hasher};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A fault injected on one delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Inject {
    /// The host refuses the connection: the command never runs, and the
    /// host stays unreachable.
    Refused,
    /// The connection drops while the command runs: it takes effect, its
    /// answer is lost, and the host stays unreachable.
    Dropped,
    /// The command fails with exit code 1 and does nothing.
    Fails,
    /// No answer in time: the command takes effect, the answer is lost.
    TimedOut,
    /// The command fails with exit code 1 and does nothing, and so does
    /// every later command of the same kind on that host (a broken
    /// `docker inspect`, say).
    KeepsFailing,
}

impl Inject {
    pub const ALL: [Inject; 5] =
        [Inject::Refused, Inject::Dropped, Inject::Fails, Inject::TimedOut, Inject::KeepsFailing];
}

/// What to explore.
#[derive(Clone)]
pub struct Spec {
    pub name: String,
    pub plan: Plan,
    /// The fleet before the boot (previous version, container faults, seed).
    pub scenario: Scenario,
    /// Faults that may be injected on a delivery.
    pub injects: Vec<Inject>,
    /// How many deliveries of one run may be faulted.
    pub fault_budget: usize,
    /// How many times one run may let time pass with commands in flight.
    pub delay_budget: usize,
    /// How far time may move at once with commands in flight.
    pub tick: Millis,
    /// How many times one run may be interrupted by the user (Ctrl-C), at
    /// any state.
    pub interrupt_budget: usize,
    /// Applied to every fresh deploy (the broken variants).
    pub adjust: fn(Deploy) -> Deploy,
    /// Give up (and say so in the stats) after this many states.
    pub max_states: usize,
    /// Stop at the first violation (for the tests that show the checks
    /// catch a broken core).
    pub stop_at_first_violation: bool,
}

impl Spec {
    pub fn new(name: impl Into<String>, plan: Plan, scenario: Scenario) -> Spec {
        Spec {
            name: name.into(),
            plan,
            scenario,
            injects: Inject::ALL.to_vec(),
            fault_budget: 1,
            delay_budget: 0,
            tick: 1000,
            interrupt_budget: 0,
            adjust: |d| d,
            max_states: 2_000_000,
            stop_at_first_violation: false,
        }
    }
    pub fn faults(mut self, budget: usize) -> Spec {
        self.fault_budget = budget;
        self
    }
    pub fn delays(mut self, budget: usize) -> Spec {
        self.delay_budget = budget;
        self
    }
    pub fn interrupts(mut self, budget: usize) -> Spec {
        self.interrupt_budget = budget;
        self
    }
    pub fn adjust(mut self, f: fn(Deploy) -> Deploy) -> Spec {
        self.adjust = f;
        self
    }
}

/// One choice at a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    Deliver {
        id: EffectId,
        inject: Option<Inject>,
    },
    /// Move time to `to` (not before now) and fire due deadlines; `delay`
    /// when commands stay in flight.
    Advance {
        to: Time,
        delay: bool,
    },
    /// The user presses Ctrl-C now ([`Machine::handle_interrupt`]).
    Interrupt,
}

/// A violation and the choices that led to it.
#[derive(Clone, Debug)]
pub struct Found {
    pub violation: Violation,
    pub path: Vec<String>,
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.violation)?;
        writeln!(f, "  after these steps:")?;
        for s in &self.path {
            writeln!(f, "    {s}")?;
        }
        Ok(())
    }
}

/// What an exploration did.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub name: String,
    /// Distinct states reached (after memoisation).
    pub states: usize,
    /// Choices taken.
    pub transitions: usize,
    /// Choices that led to a state already explored.
    pub merged: usize,
    /// Distinct complete runs (finished states).
    pub runs: usize,
    pub max_depth: usize,
    /// Complete runs by outcome.
    pub outcomes: BTreeMap<String, usize>,
    /// Branches forked (the driver, fleet and checker cloned).
    pub forks: usize,
    pub violation_counts: BTreeMap<Invariant, usize>,
    /// Violations by kind (the invariant and the message with its digits
    /// masked: hosts and times vary, the kind does not).
    pub kinds: BTreeMap<(Invariant, String), usize>,
    /// The first violation of each kind (up to 100 kinds).
    pub found: Vec<Found>,
    /// Gaps excused because the deploy failed before anything was healthy.
    pub excused_gaps: usize,
    /// The state limit was hit: the exploration is incomplete.
    pub truncated: bool,
    pub elapsed: Duration,
}

impl Stats {
    pub fn violations(&self) -> usize {
        self.violation_counts.values().sum()
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<44} {:>8} states {:>8} transitions {:>7} merged {:>7} runs  depth {:>3}  {:>6.2}s  {:?}",
            self.name,
            self.states,
            self.transitions,
            self.merged,
            self.runs,
            self.max_depth,
            self.elapsed.as_secs_f64(),
            self.outcomes
        )?;
        if self.truncated {
            write!(f, "  TRUNCATED")?;
        }
        if self.violations() > 0 {
            write!(f, "  VIOLATIONS {:?}", self.violation_counts)?;
        }
        Ok(())
    }
}

/// `s` with every ASCII digit replaced by `#`: the kind of a message whose
/// hosts and times vary.
pub fn mask_digits(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_digit() { '#' } else { c }).collect()
}

/// A persistent list (newest first), cheap to share between branches.
struct Link<T> {
    item: T,
    prev: Option<Rc<Link<T>>>,
}

fn push<T>(list: &Option<Rc<Link<T>>>, item: T) -> Option<Rc<Link<T>>> {
    Some(Rc::new(Link { item, prev: list.clone() }))
}

fn to_vec<T: Clone>(list: &Option<Rc<Link<T>>>) -> Vec<T> {
    let mut out = vec![];
    let mut cur = list.as_ref();
    while let Some(l) = cur {
        out.push(l.item.clone());
        cur = l.prev.as_ref();
    }
    out.reverse();
    out
}

/// Feeds `Debug` output into a hasher without allocating.
struct HashWriter<'a>(&'a mut DefaultHasher);

impl fmt::Write for HashWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.write(s.as_bytes());
        Ok(())
    }
}

fn mix(prev: u64, time: Time, what: &dyn fmt::Debug) -> u64 {
    let mut h = DefaultHasher::new();
    prev.hash(&mut h);
    time.hash(&mut h);
    let _ = write!(HashWriter(&mut h), "{what:?}");
    h.finish()
}

/// An observation without its effect id (ids depend on the global order).
fn canonical(obs: &Observation) -> Observation {
    let id = EffectId(0);
    match obs.clone() {
        Observation::Exited { code, stdout, stderr, .. } => Observation::Exited { id, code, stdout, stderr },
        Observation::Unreachable { error, .. } => Observation::Unreachable { id, error },
        Observation::NotConnected { error, .. } => Observation::NotConnected { id, error },
        Observation::TimedOut { after_ms, .. } => Observation::TimedOut { id, after_ms },
    }
}

/// What the driver answers to: the fleet, the checker, the commands in
/// flight (the explorer delivers them), and the history that keys a state.
#[derive(Clone)]
struct World {
    /// The fleet, with the checker watching (as in the timed runs).
    watched: Watched,
    /// Issued, not yet answered, in issue order.
    pending: Vec<Effect>,
    host_index: Rc<BTreeMap<String, usize>>,
    host_hash: Vec<u64>,
    global_hash: u64,
}

impl Responder for World {
    fn answer(&mut self, _effect: &Effect, _now: Time) -> Answer {
        Answer::Held
    }

    fn on_effect(&mut self, now: Time, e: &Effect) {
        self.watched.on_effect(now, e);
        let c = e.cmd();
        let what = (e.is_poll(), &c.role, &c.action);
        match self.host_index.get(&c.host) {
            Some(&hi) => self.host_hash[hi] = mix(self.host_hash[hi], now, &what),
            None => self.global_hash = mix(self.global_hash, now, &(&c.host, what)),
        }
        self.pending.push(e.clone());
    }

    fn on_event(&mut self, now: Time, ev: &Event) {
        self.watched.on_event(now, ev);
        let host = match ev {
            Event::Progress { host, .. } | Event::Audit { host, .. } => Some(host),
            Event::Warning { host, .. } => host.as_ref(),
            Event::HostFailed(f) => Some(&f.host),
            _ => None,
        };
        match host.and_then(|h| self.host_index.get(h)) {
            Some(&hi) => self.host_hash[hi] = mix(self.host_hash[hi], now, ev),
            None => {
                // Finished lists failures in the order hosts failed; keep
                // only what does not depend on the order.
                let ev = match ev {
                    Event::Finished(Outcome::Failed { failures }) => format!("failed {}", failures.len()),
                    Event::LockKept { .. } => "lock kept".to_string(),
                    other => format!("{other:?}"),
                };
                self.global_hash = mix(self.global_hash, now, &ev);
            }
        }
    }

    fn on_observation(&mut self, now: Time, obs: &Observation) {
        self.watched.on_observation(now, obs);
    }

    fn on_interrupt(&mut self, now: Time) {
        self.watched.on_interrupt(now);
    }

    fn on_step(&mut self, now: Time, steps: usize) {
        self.watched.on_step(now, steps);
    }
}

#[derive(Clone)]
struct Node {
    driver: Driver<Deploy>,
    world: World,
    path: Option<Rc<Link<Rc<str>>>>,
    faults_left: usize,
    delays_left: usize,
    interrupts_left: usize,
    /// (host, command kind) that fail from now on ([`Inject::KeepsFailing`]).
    sticky: BTreeSet<(String, &'static str)>,
    /// Violations of this branch already counted.
    reported: usize,
}

impl Node {
    fn now(&self) -> Time {
        self.driver.now
    }
    fn depth(&self) -> usize {
        self.driver.steps
    }
}

struct Explorer<'a> {
    spec: &'a Spec,
    plan: Arc<Plan>,
    stats: Stats,
    seen: HashSet<u64>,
}

impl Explorer<'_> {
    fn root(&mut self) -> Node {
        let fleet = fleet_for(&self.plan, &self.spec.scenario);
        let bounds = Bounds::for_plan(&self.plan, &fleet).with_slack(self.spec.delay_budget, self.spec.tick.max(1));
        let checker = Checker::new(self.plan.clone(), &fleet, bounds);
        let host_index: BTreeMap<String, usize> =
            self.plan.hosts.iter().enumerate().map(|(i, h)| (h.clone(), i)).collect();
        let mut world = World {
            watched: Watched { fleet, checker },
            pending: vec![],
            host_hash: vec![0; host_index.len()],
            host_index: Rc::new(host_index),
            global_hash: 0,
        };
        let deploy = (self.spec.adjust)(Deploy::new((*self.plan).clone(), self.spec.scenario.seed, 0));
        let driver = Driver::new(deploy, 0, &mut world);
        Node {
            driver,
            world,
            path: None,
            faults_left: self.spec.fault_budget,
            delays_left: self.spec.delay_budget,
            interrupts_left: self.spec.interrupt_budget,
            sticky: BTreeSet::new(),
            reported: 0,
        }
    }

    /// A copy of `node`, to explore another choice from it.
    fn fork(&mut self, node: &Node) -> Node {
        self.stats.forks += 1;
        node.clone()
    }

    fn choices(&self, node: &Node) -> Vec<Choice> {
        let mut out = vec![];
        for e in &node.world.pending {
            out.push(Choice::Deliver { id: e.id(), inject: None });
            if node.faults_left > 0 {
                for k in &self.spec.injects {
                    out.push(Choice::Deliver { id: e.id(), inject: Some(*k) });
                }
            }
        }
        if node.interrupts_left > 0 {
            out.push(Choice::Interrupt);
        }
        let timer = node.driver.machine.poll_timeout().map(|w| w.at);
        let now = node.now();
        if node.world.pending.is_empty() {
            if let Some(t) = timer {
                out.push(Choice::Advance { to: t.max(now), delay: false });
            }
        } else {
            match timer {
                Some(t) if t <= now => out.push(Choice::Advance { to: now, delay: false }),
                _ if node.delays_left > 0 => {
                    let ahead = now + self.spec.tick;
                    out.push(Choice::Advance { to: timer.map_or(ahead, |t| t.min(ahead)), delay: true });
                }
                _ => {}
            }
        }
        out
    }

    fn apply(&self, node: &mut Node, choice: Choice) {
        match choice {
            Choice::Deliver { id, inject } => {
                let i = node.world.pending.iter().position(|e| e.id() == id).expect("a pending effect");
                let e = node.world.pending.remove(i);
                let host = e.cmd().host.clone();
                let now = node.now();
                let down = |fleet: &mut Fleet| {
                    if let Some(h) = fleet.hosts.get_mut(&host) {
                        h.down_from = Some(now);
                    }
                };
                let kind = action_kind(&e.cmd().action);
                if inject == Some(Inject::KeepsFailing) {
                    node.sticky.insert((host.clone(), kind));
                }
                let stuck = node.sticky.iter().any(|(h, k)| *h == host && *k == kind);
                let obs = match inject {
                    None if stuck => Observation::failed(id, 1, "injected failure (keeps failing)"),
                    None => node.world.watched.fleet.respond(&e, now).1,
                    Some(Inject::KeepsFailing) => Observation::failed(id, 1, "injected failure (keeps failing)"),
                    Some(Inject::Refused) => {
                        down(&mut node.world.watched.fleet);
                        Observation::Unreachable {
                            id,
                            error: format!("ssh: connect to host {host} port 22: Connection refused (injected)"),
                        }
                    }
                    Some(Inject::Dropped) => {
                        node.world.watched.fleet.respond(&e, now);
                        down(&mut node.world.watched.fleet);
                        Observation::Unreachable {
                            id,
                            error: "Connection to host closed by remote host (injected)".into(),
                        }
                    }
                    Some(Inject::Fails) => Observation::failed(id, 1, "injected failure"),
                    Some(Inject::TimedOut) => {
                        node.world.watched.fleet.respond(&e, now);
                        Observation::TimedOut { id, after_ms: 30_000 }
                    }
                };
                if inject.is_some() {
                    node.faults_left -= 1;
                }
                let label = format!(
                    "{:>8} deliver {} {} {}{}",
                    fmt_secs(now),
                    host,
                    e.cmd().role.as_deref().unwrap_or("-"),
                    action_kind(&e.cmd().action),
                    match (inject, &obs) {
                        (Some(k), _) => format!(" with fault {k:?}"),
                        (None, Observation::Exited { code, stdout, stderr, .. }) => {
                            let out = if *code == 0 { stdout } else { stderr };
                            format!(" → exit {code} {}", out.trim().lines().next().unwrap_or(""))
                        }
                        (None, o) => format!(" → {o:?}"),
                    }
                );
                node.path = push(&node.path, Rc::from(label));
                let w = &mut node.world;
                let c = canonical(&obs);
                match w.host_index.get(&host).copied() {
                    Some(hi) => w.host_hash[hi] = mix(w.host_hash[hi], now, &(inject, &c)),
                    None => w.global_hash = mix(w.global_hash, now, &(inject, &c)),
                }
                node.driver.deliver(&obs, &mut node.world);
            }
            Choice::Advance { to, delay } => {
                let now = node.now().max(to);
                if delay {
                    node.delays_left -= 1;
                }
                let label =
                    format!("{:>8} time passes{}", fmt_secs(now), if delay { " with commands in flight" } else { "" });
                node.path = push(&node.path, Rc::from(label));
                node.world.global_hash = mix(node.world.global_hash, now, &delay);
                node.driver.advance(now, &mut node.world);
            }
            Choice::Interrupt => {
                let now = node.now();
                node.interrupts_left -= 1;
                node.path = push(&node.path, Rc::from(format!("{:>8} the user interrupts", fmt_secs(now))));
                node.world.global_hash = mix(node.world.global_hash, now, &"interrupt");
                node.driver.interrupt(&mut node.world);
            }
        }
    }

    fn key(node: &Node) -> u64 {
        let mut h = DefaultHasher::new();
        node.now().hash(&mut h);
        node.faults_left.hash(&mut h);
        node.delays_left.hash(&mut h);
        node.interrupts_left.hash(&mut h);
        node.world.host_hash.hash(&mut h);
        node.world.global_hash.hash(&mut h);
        node.sticky.hash(&mut h);
        h.finish()
    }

    /// Count the violations of `node`'s branch not counted yet.
    fn record(&mut self, node: &mut Node) {
        let from = node.reported;
        node.reported = node.world.watched.checker.violations().len();
        for v in &node.world.watched.checker.violations()[from..] {
            *self.stats.violation_counts.entry(v.invariant).or_insert(0) += 1;
            let n = self.stats.kinds.entry((v.invariant, mask_digits(&v.detail))).or_insert(0);
            *n += 1;
            if *n == 1 && self.stats.found.len() < 100 {
                let path = to_vec(&node.path).iter().map(|s| s.to_string()).collect();
                self.stats.found.push(Found { violation: v.clone(), path });
            }
        }
    }

    /// Finish a run that ended (finished, stuck, or over its bound).
    fn end(&mut self, node: &mut Node) {
        let (now, w) = (node.now(), &mut node.world);
        w.watched.checker.finish(now, &w.watched.fleet, w.pending.len());
        self.stats.excused_gaps += w.watched.checker.excused_gaps;
        self.stats.runs += 1;
        let o = match node.world.watched.checker.outcome() {
            Some(Outcome::Succeeded) => "succeeded",
            Some(Outcome::Failed { .. }) => "failed",
            Some(Outcome::LockHeld { .. }) => "lock-held",
            None => "unfinished",
        };
        *self.stats.outcomes.entry(o.to_string()).or_insert(0) += 1;
        self.record(node);
    }

    fn run(&mut self) {
        struct Frame {
            node: Option<Node>,
            choices: Vec<Choice>,
            next: usize,
        }
        let root = self.root();
        self.seen.insert(Self::key(&root));
        self.stats.states = 1;
        let mut stack = vec![];
        let cs = self.choices(&root);
        stack.push(Frame { node: Some(root), choices: cs, next: 0 });
        while let Some(top) = stack.last_mut() {
            if top.next >= top.choices.len() {
                stack.pop();
                continue;
            }
            if self.stats.states >= self.spec.max_states {
                self.stats.truncated = true;
                break;
            }
            if self.spec.stop_at_first_violation && self.stats.violations() > 0 {
                break;
            }
            let choice = top.choices[top.next];
            top.next += 1;
            let last = top.next == top.choices.len();
            let mut child = if last {
                top.node.take().expect("the node of an open frame")
            } else {
                self.fork(top.node.as_ref().expect("the node of an open frame"))
            };
            self.apply(&mut child, choice);
            self.stats.transitions += 1;
            // Count a violation once per branch, and go on: later steps and
            // the end of the run may break other invariants too.
            self.record(&mut child);
            if !self.seen.insert(Self::key(&child)) {
                self.stats.merged += 1;
                continue;
            }
            self.stats.states += 1;
            self.stats.max_depth = self.stats.max_depth.max(child.depth());
            if child.driver.finished() || child.world.watched.checker.over_bound() {
                self.end(&mut child);
                continue;
            }
            let cs = self.choices(&child);
            if cs.is_empty() {
                self.end(&mut child);
                continue;
            }
            stack.push(Frame { node: Some(child), choices: cs, next: 0 });
        }
    }
}

/// Explore every run `spec` allows; returns what was explored and found.
pub fn explore(spec: &Spec) -> Stats {
    let start = Instant::now();
    let mut ex = Explorer {
        spec,
        plan: Arc::new(spec.plan.clone()),
        stats: Stats { name: spec.name.clone(), ..Stats::default() },
        seen: HashSet::new(),
    };
    ex.run();
    ex.stats.elapsed = start.elapsed();
    ex.stats
}
