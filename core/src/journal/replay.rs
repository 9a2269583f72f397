//! `baton replay`: a recorded run fed back into a freshly built machine.
//!
//! The machine is rebuilt from the journal's header (same plan, same seed,
//! so the same run ids and names), then driven by the core's
//! [`Driver`] with the recorded inputs in the recorded order, each at its
//! recorded time: an answer when it arrived, a wake-up when it fired, an
//! interrupt when the user pressed Ctrl-C. The responder holds every
//! effect (the recorded answer is delivered at its recorded time), and
//! collects what the machine issues and reports.
//!
//! Between two inputs, the machine must issue the recorded effects and
//! report the recorded events, in the same order, with the same ids,
//! commands and contents (times aside: a real run stamps them a few
//! milliseconds after the input that caused them). A wake-up must be one
//! the machine asked for (same deadline, reason, host and role). The first
//! difference is the divergence.

use super::{Entry, Header, Journal};
use crate::deploy::Deploy;
use crate::driver::{Answer, Driver, Responder};
use crate::effect::{Effect, Event};
use crate::flow::{self, Credentials, Flow};
use crate::machine::Machine;
use crate::plan::Plan;
use crate::time::{fmt_secs, Time};
use std::fmt;

/// The machine the header's command ran: `app boot` is a [`Deploy`]
/// starting at 0, the others [`flow`] sequences. The registry password is
/// not in the journal: an empty one goes to standard input instead (what
/// is compared is only that there is some). A setup's accessory files are
/// not in it either: [`setup_before`] rebuilds its phases without them.
pub fn machine(header: &Header, plan: &Plan) -> Result<Box<dyn Machine>, String> {
    use super::Command;
    let username = header.registry_username.clone().unwrap_or_default();
    let f = Flow {
        hooks: header.hooks(),
        seed: header.seed,
        skip_push: header.skip_push,
        credentials: Credentials { username: username.clone(), password: String::new() },
    };
    let machine: Box<dyn Machine> = match header.command {
        Command::AppBoot => Box::new(Deploy::new(plan.clone(), header.seed, 0)),
        Command::Deploy => Box::new(flow::deploy(plan, &f)),
        Command::Redeploy => Box::new(flow::redeploy(plan, &f)),
        Command::Rollback => Box::new(flow::rollback(plan, &f)),
        Command::Setup => Box::new(flow::setup(plan, &f, setup_before(plan, &username)?)),
    };
    Ok(machine)
}

/// What a recorded `setup` ran before its deploy
/// ([`crate::toplevel::setup_phases`]), from the config alone: every
/// accessory file's contents and the registry password went to standard
/// input, which the journal records only as there being some, so empty
/// ones stand in for them here.
pub fn setup_before(plan: &Plan, registry_username: &str) -> Result<Vec<crate::batch::Phase>, String> {
    let contents: crate::accessory::Contents =
        plan.config.accessories.iter().flat_map(|a| &a.files).map(|f| (f.local.clone(), vec![])).collect();
    let login = crate::accessory::Login { username: registry_username.to_string(), password: String::new() };
    crate::toplevel::setup_phases(plan, &contents, &login)
}

/// The first place the replayed run differs from the recorded one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// The journal line (from 1) where the recorded run goes another way.
    pub line: usize,
    /// Its position among the recorded effects and events (from 0), when
    /// the difference is one of them.
    pub index: Option<usize>,
    /// Its recorded time.
    pub at_ms: Time,
    pub expected: String,
    pub got: String,
}

/// What a replay found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Identical { effects: usize, events: usize },
    Diverged(Divergence),
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Identical { effects, events } => {
                write!(f, "replayed {effects} effects, {events} events: identical")
            }
            Verdict::Diverged(d) => {
                let index = d.index.map(|i| format!(" (output {i})")).unwrap_or_default();
                writeln!(f, "diverged at line {}{index}, at {}s:", d.line, fmt_secs(d.at_ms))?;
                writeln!(f, "  expected: {}", d.expected)?;
                write!(f, "  got:      {}", d.got)
            }
        }
    }
}

/// Holds every effect (the replay delivers the recorded answers itself)
/// and collects what the machine issues and reports, as journal entries.
struct Collect {
    got: Vec<Entry>,
    /// The replayed run as text, and its answers, for the plan's summary.
    trace: crate::trace::Trace,
    observations: Vec<(Time, crate::effect::Observation)>,
}

impl Responder for Collect {
    fn answer(&mut self, _effect: &Effect, _now: Time) -> Answer {
        Answer::Held
    }
    fn on_effect(&mut self, now: Time, effect: &Effect) {
        self.trace.effect(now, effect);
        self.got.push(Entry::effect(now, effect));
    }
    fn on_event(&mut self, now: Time, event: &Event) {
        self.trace.event(now, event);
        self.got.push(Entry::event(now, event));
    }
    fn on_observation(&mut self, now: Time, obs: &crate::effect::Observation) {
        self.trace.observation(now, obs);
        self.observations.push((now, obs.clone()));
    }
    fn on_wake(&mut self, now: Time, wake: &crate::machine::Wake) {
        self.trace.wake(now, wake);
    }
    fn on_interrupt(&mut self, now: Time) {
        self.trace.note(now, "-", "", "SIGINT", "the user interrupted the run");
    }
}

/// The recorded outputs (effects and events), with their lines.
struct Expected<'a> {
    outputs: Vec<(usize, &'a Entry)>,
    /// Outputs already found identical.
    checked: usize,
}

impl Expected<'_> {
    /// Compare what the machine gave so far with what was recorded so far;
    /// `next` is the input that comes next in the journal (None: its end).
    fn check(&mut self, got: &[Entry], next: Option<(usize, &Entry)>, last_line: usize) -> Result<(), Divergence> {
        let n = self.outputs.len().max(got.len());
        for i in self.checked..n {
            match (self.outputs.get(i), got.get(i)) {
                (Some((_, e)), Some(g)) if e.same(g) => {}
                (Some((line, e)), g) => {
                    let got = match g {
                        Some(g) => g.describe(),
                        None => match next {
                            Some((_, input)) => format!("nothing more before {}", input.describe()),
                            None => "nothing more (the replayed run stopped)".to_string(),
                        },
                    };
                    let at_ms = e.at_ms().unwrap_or(0);
                    return Err(Divergence { line: *line, index: Some(i), at_ms, expected: e.describe(), got });
                }
                (None, Some(g)) => {
                    let (line, at_ms, expected) = match next {
                        Some((line, input)) => (line, input.at_ms().unwrap_or(0), input.describe()),
                        None => (last_line + 1, g.at_ms().unwrap_or(0), "the end of the journal".to_string()),
                    };
                    return Err(Divergence { line, index: Some(i), at_ms, expected, got: g.describe() });
                }
                (None, None) => unreachable!("i < n"),
            }
        }
        self.checked = n;
        Ok(())
    }
}

/// Give the machine one recorded input at its recorded time.
fn apply<M: Machine>(d: &mut Driver<M>, c: &mut Collect, line: usize, input: &Entry) -> Result<(), Divergence> {
    match input {
        Entry::Observation(o) => {
            let obs = o.to_observation().map_err(|e| Divergence {
                line,
                index: None,
                at_ms: o.at_ms,
                expected: "an observation".into(),
                got: e,
            })?;
            d.now = d.now.max(o.at_ms);
            d.deliver(&obs, c);
        }
        Entry::Wake(w) => {
            let want = Entry::Wake(w.clone());
            match d.machine.poll_timeout() {
                Some(have) if Entry::wake(w.at_ms, &have) == want => {}
                have => {
                    let got = match have {
                        Some(h) => Entry::wake(w.at_ms, &h).describe(),
                        None => "no deadline".to_string(),
                    };
                    return Err(Divergence { line, index: None, at_ms: w.at_ms, expected: want.describe(), got });
                }
            }
            d.advance(w.at_ms, c);
        }
        Entry::Interrupt { at_ms } => {
            d.now = d.now.max(*at_ms);
            d.interrupt(c);
        }
        Entry::Header(_) | Entry::Effect(_) | Entry::Event(_) => unreachable!("not an input"),
    }
    Ok(())
}

/// Replay `journal` against `machine` (built by [`machine`] from the same
/// config). The machine starts at time 0, as a real run's does.
pub fn replay<M: Machine>(journal: &Journal, machine: M) -> Verdict {
    replay_run(journal, machine).0
}

/// [`replay`], with the replayed run (as far as it went), for the same
/// summary and timeline as `baton plan`.
pub fn replay_run<M: Machine>(journal: &Journal, machine: M) -> (Verdict, crate::sim::Run) {
    let mut c = Collect { got: vec![], trace: crate::trace::Trace::quiet_polls(), observations: vec![] };
    let mut d = Driver::new(machine, 0, &mut c);
    let verdict = check_all(journal, &mut d, &mut c);
    let run = crate::sim::Run {
        outcome: d.outcome.clone(),
        end: d.now,
        trace: std::mem::replace(&mut c.trace, crate::trace::Trace::quiet_polls()),
        events: std::mem::take(&mut d.events),
        effects: std::mem::take(&mut d.effects),
        observations: std::mem::take(&mut c.observations),
        steps: d.steps,
    };
    (verdict, run)
}

fn check_all<M: Machine>(journal: &Journal, d: &mut Driver<M>, c: &mut Collect) -> Verdict {
    let mut expected = Expected { outputs: vec![], checked: 0 };
    let last_line = journal.entries.last().map(|(l, _)| *l).unwrap_or(1);
    for (line, entry) in &journal.entries {
        match entry {
            Entry::Effect(_) | Entry::Event(_) => expected.outputs.push((*line, entry)),
            Entry::Header(_) => {}
            input => {
                if let Err(div) = expected.check(&c.got, Some((*line, input)), last_line) {
                    return Verdict::Diverged(div);
                }
                if let Err(div) = apply(d, c, *line, input) {
                    return Verdict::Diverged(div);
                }
            }
        }
    }
    if let Err(div) = expected.check(&c.got, None, last_line) {
        return Verdict::Diverged(div);
    }
    let effects = c.got.iter().filter(|e| matches!(e, Entry::Effect(_))).count();
    Verdict::Identical { effects, events: c.got.len() - effects }
}

/// The version each (host, role) ran before the recorded run: the newest
/// live container its first container list found, other than the one the
/// run boots (and than those renamed aside).
pub fn versions_before(journal: &Journal, plan: &Plan) -> std::collections::BTreeMap<(String, String), String> {
    use std::collections::BTreeMap;
    let mut lists: BTreeMap<u64, (String, String)> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (_, e) in &journal.entries {
        match e {
            Entry::Effect(r) if r.step == "list" => {
                if let Some(role) = &r.role {
                    lists.insert(r.id, (r.host.clone(), role.clone()));
                }
            }
            Entry::Observation(o) => {
                let Some((host, role)) = lists.remove(&o.id) else { continue };
                let key = (host, role.clone());
                if out.contains_key(&key) || o.code != Some(0) {
                    continue;
                }
                let Ok(entries) = crate::docker::parse_ps(o.stdout.as_deref().unwrap_or("")) else { continue };
                let prefix = format!("{}-", plan.config.role_full_name(&role));
                let new = crate::commands::container_name(&plan.config, &role, &plan.version);
                let found = entries
                    .iter()
                    .filter(|c| c.state.is_live() && c.name != new && !c.name.contains("_replaced_"))
                    .find_map(|c| c.name.strip_prefix(&prefix).map(str::to_string));
                if let Some(v) = found {
                    out.insert(key, v);
                }
            }
            _ => {}
        }
    }
    out
}
