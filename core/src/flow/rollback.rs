//! `rollback`'s first part: every host must have a container of the version
//! for every role it runs, or nothing changes. It also lists the versions a
//! rollback could go to (those present everywhere).

use crate::batch::{Batch, Phase, Step, StepResult};
use crate::commands as cmds;
use crate::effect::{Action, Effect, Event, Observation, Outcome};
use crate::failure::{Failure, Why};
use crate::machine::{Machine, Wake};
use crate::plan::Plan;
use crate::time::Time;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The containers' versions, per (host, role).
pub type Found = BTreeMap<(String, String), BTreeSet<String>>;

/// The phase that lists every role's containers (running or not) on every host.
pub fn list_phase(plan: &Plan) -> Phase {
    let cfg = &plan.config;
    let scripts = plan
        .hosts
        .iter()
        .flat_map(|h| {
            plan.roles_on(h).into_iter().map(move |r| {
                let list = cmds::list_role_containers(cfg, &r);
                vec![Step::poll(h, Some(&r), "versions", list).with_action(Action::ListContainers)]
            })
        })
        .collect();
    Phase { name: "versions", scripts, required: true, finally: false }
}

/// The versions in the listing results. A container renamed aside by a
/// boot (`…_replaced_…`) is not a version.
pub fn found(plan: &Plan, results: &[StepResult]) -> Found {
    let mut out = Found::new();
    for r in results {
        let Some(role) = &r.step.role else { continue };
        let prefix = plan.config.role_full_name(role);
        let names = r.stdout().lines().map(|l| l.split('\t').next().unwrap_or(""));
        let versions = crate::docker::versions_from_names(names, &prefix)
            .into_iter()
            .filter(|v| !v.contains("_replaced_"))
            .collect();
        out.insert((r.step.host.clone(), role.clone()), versions);
    }
    out
}

/// The versions that every (host, role) has, sorted.
pub fn everywhere(found: &Found) -> Vec<String> {
    let mut sets = found.values();
    let Some(first) = sets.next() else { return vec![] };
    let common = sets.fold(first.clone(), |acc, s| acc.intersection(s).cloned().collect());
    common.into_iter().collect()
}

/// Lists the containers, then succeeds only if `version` is everywhere.
pub struct VersionCheck {
    plan: Plan,
    version: String,
    batch: Batch,
    events: VecDeque<Event>,
    finished: bool,
}

impl VersionCheck {
    pub fn new(plan: &Plan, version: &str) -> VersionCheck {
        VersionCheck {
            plan: plan.clone(),
            version: version.to_string(),
            batch: Batch::new(vec![list_phase(plan)]),
            events: VecDeque::new(),
            finished: false,
        }
    }

    fn collect(&mut self) {
        while let Some(ev) = self.batch.poll_event() {
            match ev {
                Event::Finished(Outcome::Succeeded) => self.decide(),
                Event::Finished(o) => {
                    self.finished = true;
                    self.events.push_back(Event::Finished(o));
                }
                other => self.events.push_back(other),
            }
        }
    }

    fn decide(&mut self) {
        let found = found(&self.plan, self.batch.results());
        let missing: Vec<(String, String)> =
            found.iter().filter(|(_, vs)| !vs.contains(&self.version)).map(|(k, _)| k.clone()).collect();
        self.finished = true;
        let outcome = if missing.is_empty() {
            Outcome::Succeeded
        } else {
            let why = Why::VersionMissing { version: self.version.clone(), missing, available: everywhere(&found) };
            let f = Failure { host: self.plan.primary_host().to_string(), role: None, step: None, why };
            self.events.push_back(Event::HostFailed(f.clone()));
            Outcome::Failed { failures: vec![f] }
        };
        self.events.push_back(Event::Finished(outcome));
    }
}

impl Machine for VersionCheck {
    fn handle_observation(&mut self, obs: &Observation, now: Time) -> bool {
        let known = self.batch.handle_observation(obs, now);
        self.collect();
        known
    }
    fn handle_timeout(&mut self, _now: Time) {}
    fn handle_interrupt(&mut self, now: Time) {
        self.batch.handle_interrupt(now);
        self.collect();
    }
    fn poll_effect(&mut self) -> Option<Effect> {
        self.batch.poll_effect()
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
