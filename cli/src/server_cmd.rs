//! `server bootstrap`: the phases come from the core
//! ([`baton_core::server::bootstrap`]), run through the one interpreter
//! loop; what they found is printed per host.

use crate::app_cmd::{self, host_header};
use crate::{batch_cmd, boot_cmd};
use baton_core::plan::Plan;

pub fn bootstrap(plan: &Plan, install: bool, dry_run: bool, verbose: bool) -> i32 {
    let phases = baton_core::server::bootstrap(plan, install);
    if dry_run {
        return app_cmd::dry_run(&phases);
    }
    let run = batch_cmd::run(phases, boot_cmd::ssh_options(&plan.config), verbose);
    let mut problems = 0;
    let mut out = String::new();
    for host in &baton_core::server::hosts(plan) {
        out.push_str(&host_header(host));
        out.push('\n');
        for f in baton_core::server::findings(host, &run.results) {
            problems += usize::from(f.is_problem());
            out.push_str(&format!("  {f}\n"));
        }
    }
    crate::out::print(&out);
    if run.interrupted() {
        return 1;
    }
    if problems > 0 {
        eprintln!("Not every host is ready: see above.");
        return 1;
    }
    0
}
