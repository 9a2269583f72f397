//! `baton replay FILE`: a journal of a real run fed back into the core
//! (`baton_core::journal::replay`), to check that the same inputs at the
//! same times make the core issue the same effects and events.

use crate::args::Global;
use crate::load::{self, UsageError};
use crate::out::{say, tell};
use baton_core::journal::{self, replay};
use std::path::Path;

/// Exit 0 when the replay is identical, 1 at the first divergence.
pub fn run(g: &Global, file: &Path, full: bool) -> Result<i32, UsageError> {
    let name = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            UsageError::new(&name, "no such file; pass a journal (`app boot --verbose` prints where it wrote one)")
        }
        _ => UsageError::new(&name, format!("cannot be read ({e}); check its permissions")),
    })?;
    let j = journal::parse(&text).map_err(|e| match e.line() {
        Some(line) => UsageError(vec![format!("{name}:{line}: {e}")]),
        None => UsageError(vec![format!("{name}: {e}")]),
    })?;
    let h = &j.header;
    let files = load::read_config(&g.config_file, h.destination.as_deref())?;
    let digest = crate::journal::config_digest(&files);
    if digest != h.config_digest {
        return Err(UsageError::new(
            &g.config_file.display().to_string(),
            format!(
                "is not the config the recorded run read ({digest} here, {} in {name}); replay with the same config (-c {}, the same .env and environment)",
                h.config_digest, h.config_file
            ),
        ));
    }
    let config = load::parse_config(&files, true)?;
    let plan = h.plan(config).map_err(|e| UsageError(vec![format!("{name}: {e}")]))?;
    let this = env!("CARGO_PKG_VERSION");
    if h.baton_version != this {
        tell!(
            "warning: {name} was written by baton {}, this is baton {this}: a change in baton may show as a divergence",
            h.baton_version
        );
    }
    if !g.quiet {
        say!(
            "Replaying the {} of {} begun at {} ({} lines, seed {})...",
            h.command.name(),
            h.version,
            h.started_utc,
            j.entries.len() + 1,
            h.seed
        );
    }
    let machine = replay::machine(h, &plan).map_err(|e| UsageError(vec![format!("{name}: {e}")]))?;
    let (verdict, run) = replay::replay_run(&j, machine);
    if !g.quiet {
        say!("{}", report(&plan, &j, run, &name, full));
    }
    say!("{verdict}");
    Ok(match verdict {
        replay::Verdict::Identical { .. } => 0,
        replay::Verdict::Diverged(_) => 1,
    })
}

/// The replayed run as `plan` prints it: summary, lanes, timeline. Times
/// are the recorded ones; nothing here is simulated but the proxy and
/// Docker events, which a journal does not hold (so none are shown).
fn report(
    plan: &baton_core::plan::Plan,
    j: &journal::Journal,
    run: baton_core::sim::Run,
    name: &str,
    full: bool,
) -> String {
    let h = &j.header;
    use baton_core::sim::{compact, doc, fleet::Fleet, report::Report, Scenario, Simulation};
    let fleet = Fleet::new(&plan.contacted_hosts(), h.seed);
    let report = Report::new(&run, &fleet);
    let sim = Simulation { run, fleet, report, fleet_events: vec![] };
    let before = journal::replay::versions_before(j, plan);
    let scenario = Scenario { seed: h.seed, pulled: true, figures: "journals", before, ..Scenario::default() };
    let meta = doc::Meta {
        baton_version: h.baton_version.clone(),
        now: h.started_utc.clone(),
        fault_specs: vec![],
        command: h.command.name(),
    };
    let mut d = doc::build(plan, &scenario, &sim, &meta);
    d.header_note = Some(format!("replayed from {name} at the recorded times"));
    let width = crate::plan_cmd::DEFAULT_WIDTH;
    compact::render(&d, &sim, &compact::View { width, whole_commands: false, full })
}
