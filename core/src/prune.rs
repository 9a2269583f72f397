//! `prune all`, `prune images` and `prune containers` as phases for
//! [`crate::batch::Batch`], under the deploy lock (Kamal's `mutating`):
//! per host an audit record, then the commands of
//! [`crate::commands::prune`]. `prune all` prunes the containers first, so
//! that the images of the containers it removed go too, and the images of
//! the ones it keeps stay.

use crate::batch::{Phase, Step};
use crate::commands::prune as cmds;
use crate::effect::Action;
use crate::ops::{audit_step, mutating, per_host, per_role};
use crate::plan::Plan;

/// How many stopped containers per role `prune containers` keeps:
/// `retain_containers`, 5 by default (Kamal's `keep_last`).
pub fn retain(plan: &Plan) -> u64 {
    plan.config.retain_containers
}

fn containers_phase(plan: &Plan) -> Phase {
    let cfg = &plan.config;
    let retain = retain(plan);
    let mut phase = per_role(plan, "prune containers", |h, r| {
        vec![Step::run(h, Some(r), "prune containers", cmds::containers(cfg, r, retain))
            .with_action(Action::PruneContainers { retain })]
    });
    // Per host: the audit record first, and the health check containers last.
    for script in &mut phase.scripts {
        let Some(host) = script.first().map(|s| s.host.clone()) else { continue };
        script.insert(0, audit_step(plan, &host, None, "Pruned containers"));
        script.push(Step::run(&host, None, "prune health check containers", cmds::healthcheck_containers(cfg)));
    }
    phase
}

fn images_phase(plan: &Plan) -> Phase {
    let cfg = &plan.config;
    per_host(plan, "prune images", |h, _| {
        vec![
            audit_step(plan, h, None, "Pruned images"),
            Step::run(h, None, "prune dangling images", cmds::dangling_images(cfg)),
            Step::run(h, None, "prune tagged images", cmds::tagged_images(cfg)).with_action(Action::PruneImages),
        ]
    })
}

/// `prune containers`: stopped containers beyond the newest `retain` per role.
pub fn prune_containers(plan: &Plan) -> Vec<Phase> {
    mutating(plan, vec![containers_phase(plan)])
}

/// `prune images`: dangling images, and tagged ones no container uses.
pub fn prune_images(plan: &Plan) -> Vec<Phase> {
    mutating(plan, vec![images_phase(plan)])
}

/// `prune all`: containers, then images, under one lock.
pub fn prune_all(plan: &Plan) -> Vec<Phase> {
    mutating(plan, all_phases(plan))
}

/// `prune all`'s work without the lock, for a command that holds it (`deploy`).
pub fn all_phases(plan: &Plan) -> Vec<Phase> {
    vec![containers_phase(plan), images_phase(plan)]
}
