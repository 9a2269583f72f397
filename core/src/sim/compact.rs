//! `baton plan` as people read it: the summary (one row per host and role,
//! alike rows folded), then a timeline of what changes (commands that
//! change a host, the proxy starting and stopping routing, health turning,
//! failures, the lock), with the polls folded into the waits they belong
//! to and hosts that behave alike folded into one line. Pure text: the CLI
//! picks the width and the colours.

use crate::effect::{Action, Effect, Event, Observation, Step};
use crate::sim::doc::PlanDoc;
use crate::sim::events::FleetChange;
use crate::sim::fleet::action_kind;
use crate::sim::report::GapKind;
use crate::sim::summary::{Row, RowOutcome};
use crate::sim::Simulation;
use crate::time::{fmt_secs, Time};
use crate::trace::{failure_text, outcome_text};
use std::collections::{BTreeMap, BTreeSet};

/// A step that takes less than this, and issues no command that changes a
/// host, is folded away (its reads are quick lookups, not a wait).
pub const MIN_WAIT_MS: Time = 1000;

/// Alike rows of the summary are folded when there are more than this many.
pub const FOLD_ROWS_OVER: usize = 4;

/// At most this many gaps or failures are listed; `--json` has all.
pub const LIST_AT_MOST: usize = 8;

/// How to render.
#[derive(Clone, Copy, Debug)]
pub struct View {
    /// No line is longer than this (in characters): commands are cut,
    /// prose is wrapped.
    pub width: usize,
    /// Print commands whole (`--commands`), however long.
    pub whole_commands: bool,
    /// `--timeline full`: every command, read and answer, as the trace has them.
    pub full: bool,
}

/// `0.2s`, `2s`, `2.5s`: a duration as short as it can be written exactly.
pub fn short_secs(ms: Time) -> String {
    let s = format!("{}.{:03}", ms / 1000, ms % 1000);
    format!("{}s", s.trim_end_matches('0').trim_end_matches('.'))
}

/// `3.1s`: a time or duration with one decimal.
pub fn secs(ms: Time) -> String {
    format!("{}.{}s", ms / 1000, (ms % 1000) / 100)
}

/// Cut `s` to `max` characters, ending with `…` when cut.
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Wrap `text` to `width`, the first line after `first`, the others after
/// `indent` spaces.
pub fn wrap(first: &str, text: &str, indent: usize, width: usize) -> Vec<String> {
    let mut lines = vec![];
    let mut line = first.to_string();
    let mut empty = first.is_empty() || first.ends_with(' ');
    for word in text.split(' ') {
        let len = line.chars().count();
        if !empty && len + 1 + word.chars().count() > width {
            lines.push(line);
            line = " ".repeat(indent);
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    lines.push(line);
    lines.into_iter().map(|l| cut(&l, width.max(indent + 8))).collect()
}

/// Names of hosts, in `order`: all of them when few; else runs of hosts
/// consecutive in `order` as `first … last`, at most four parts, and the
/// count (`web-1, web-2, web-4 … web-200 (199 hosts)`).
pub fn host_range(hosts: &[&str], order: &[String]) -> String {
    if hosts.len() <= 3 {
        return hosts.join(", ");
    }
    let mut pos: Vec<(usize, &str)> =
        hosts.iter().map(|h| (order.iter().position(|o| o == h).unwrap_or(usize::MAX), *h)).collect();
    pos.sort();
    let mut runs: Vec<Vec<(usize, &str)>> = vec![];
    for p in pos {
        match runs.last_mut() {
            Some(run) if run.last().is_some_and(|l| l.0 != usize::MAX && l.0 + 1 == p.0) => run.push(p),
            _ => runs.push(vec![p]),
        }
    }
    let mut parts: Vec<String> = vec![];
    for run in &runs {
        match run.len() {
            1 => parts.push(run[0].1.to_string()),
            2 => parts.extend([run[0].1.to_string(), run[1].1.to_string()]),
            _ => parts.push(format!("{} … {}", run[0].1, run[run.len() - 1].1)),
        }
    }
    let shown = if parts.len() > 4 { format!("{}, …", parts[..3].join(", ")) } else { parts.join(", ") };
    format!("{shown} ({} hosts)", hosts.len())
}

fn serving(r: &Row) -> String {
    match r.keeps_serving {
        Some(true) => "kept serving".into(),
        Some(false) => format!("GAP {}", secs(r.gap_ms)),
        None => "no proxy".into(),
    }
}

fn versions(r: &Row) -> String {
    format!("{} → {}", r.from.as_deref().unwrap_or("none"), r.to)
}

fn span(r: &Row) -> String {
    match (r.start_ms, r.end_ms) {
        (Some(s), Some(e)) => format!("{} → {}", secs(s), secs(e)),
        _ => "-".into(),
    }
}

/// What makes two rows alike: everything but the host and the times.
fn row_class(r: &Row) -> (String, Option<String>, String, Option<bool>, RowOutcome) {
    (r.role.clone(), r.from.clone(), r.to.clone(), r.keeps_serving, r.outcome)
}

/// A row of the summary, or alike rows folded into one.
pub enum Folded<'a> {
    One(&'a Row),
    Many {
        /// `web-2 … web-200 (199 hosts)`.
        label: String,
        role: String,
        /// The row shown before them, which they are like.
        like: &'a Row,
        /// Their first start and last end.
        start: Option<Time>,
        end: Option<Time>,
    },
}

/// The summary's rows, role by role (as the config lists them), hosts in
/// config order; more than [`FOLD_ROWS_OVER`] alike rows in a row fold
/// into the first and one line for the rest.
pub fn fold_rows(doc: &PlanDoc) -> Vec<Folded<'_>> {
    let mut rows: Vec<&Row> = doc.summary.rows.iter().collect();
    rows.sort_by_key(|r| (doc.roles.iter().position(|x| *x == r.role), doc.hosts.iter().position(|h| *h == r.host)));
    let mut out = vec![];
    let mut i = 0;
    while i < rows.len() {
        let class = row_class(rows[i]);
        let mut j = i + 1;
        while j < rows.len() && row_class(rows[j]) == class {
            j += 1;
        }
        let run = &rows[i..j];
        let shown = if run.len() > FOLD_ROWS_OVER { 1 } else { run.len() };
        out.extend(run[..shown].iter().map(|r| Folded::One(r)));
        if run.len() > shown {
            let rest = &run[shown..];
            let hosts: Vec<&str> = rest.iter().map(|r| r.host.as_str()).collect();
            out.push(Folded::Many {
                label: host_range(&hosts, &doc.hosts),
                role: run[0].role.clone(),
                like: run[0],
                start: rest.iter().filter_map(|r| r.start_ms).min(),
                end: rest.iter().filter_map(|r| r.end_ms).max(),
            });
        }
        i = j;
    }
    out
}

/// The table of hosts and roles.
pub fn table(doc: &PlanDoc, view: &View) -> Vec<String> {
    let mut table: Vec<[String; 6]> =
        vec![["HOST".into(), "ROLE".into(), "VERSION".into(), "HANDOVER".into(), "SERVING".into(), "OUTCOME".into()]];
    for f in fold_rows(doc) {
        match f {
            Folded::One(r) => table.push([
                r.host.clone(),
                r.role.clone(),
                versions(r),
                span(r),
                serving(r),
                r.outcome.as_str().into(),
            ]),
            Folded::Many { label, role, like, start, end } => {
                let window = match (start, end) {
                    (Some(a), Some(b)) => format!("{} … {}", secs(a), secs(b)),
                    _ => "-".into(),
                };
                let outcome = format!("{}: same as {}", like.outcome.as_str(), like.host);
                table.push([label, role, versions(like), window, serving(like), outcome]);
            }
        }
    }
    let mut w = [0usize; 6];
    for row in &table {
        for (k, cell) in row.iter().enumerate() {
            w[k] = w[k].max(cell.chars().count());
        }
    }
    table
        .iter()
        .map(|row| {
            let cells: Vec<String> =
                row.iter().enumerate().map(|(k, c)| format!("{c}{}", " ".repeat(w[k] - c.chars().count()))).collect();
            cut(cells.join("  ").trim_end(), view.width)
        })
        .collect()
}

/// Wall time, gaps, outcome, lock and assumptions.
pub fn tail(doc: &PlanDoc, view: &View) -> Vec<String> {
    let wall = if doc.header_note.is_some() { "Wall time" } else { "Predicted wall time" };
    let mut out = vec![format!("{wall}: {}", secs(doc.duration_ms))];
    if doc.gaps.is_empty() {
        out.push("Serving gaps: none (every host kept a healthy target for every role)".into());
    } else {
        out.push(format!(
            "Serving gaps: {} (longest {}); requests fail during them:",
            doc.gaps.len(),
            secs(doc.summary.longest_gap_ms)
        ));
        for g in doc.gaps.iter().take(LIST_AT_MOST) {
            let what = match g.kind {
                GapKind::NoTarget => "no healthy target",
                GapKind::DeadTarget => "routes to a stopped container",
            };
            out.push(cut(
                &format!(
                    "  {} {}: {} → {} ({}): {what}",
                    g.host,
                    g.role,
                    secs(g.from_ms),
                    secs(g.to_ms),
                    secs(g.to_ms - g.from_ms)
                ),
                view.width,
            ));
        }
        if doc.gaps.len() > LIST_AT_MOST {
            out.push(format!("  … and {} more (--json lists them all)", doc.gaps.len() - LIST_AT_MOST));
        }
    }
    let lock = match doc.lock.outcome {
        "released" => "the lock is released".to_string(),
        "kept" => format!("the lock stays held on {} (`baton lock release` when done)", doc.lock.host),
        "held-by-another" => "another deploy holds the lock".to_string(),
        "left-held" => format!("the lock is left held on {}", doc.lock.host),
        _ => "the lock is not taken".to_string(),
    };
    let outcome = match doc.outcome {
        "succeeded" if !doc.gaps.is_empty() => {
            "the deploy completes, but requests fail during the serving gaps: not a zero-downtime deploy"
        }
        "succeeded" => "the deploy succeeds",
        "lock-held" => "nothing would change",
        _ => "the deploy FAILS",
    };
    out.push(format!("Outcome: {outcome}; {lock}"));
    for f in doc.failures.iter().take(LIST_AT_MOST) {
        let role = f.role.as_deref().map(|r| format!(" [{r}]")).unwrap_or_default();
        let text = match &f.step {
            Some(step) => format!("{step}: {}", f.error),
            None => f.error.clone(),
        };
        out.extend(wrap(&format!("  {}{role}:", f.host), &text, 4, view.width));
    }
    if doc.failures.len() > LIST_AT_MOST {
        out.push(format!("  … and {} more failures (--json lists them all)", doc.failures.len() - LIST_AT_MOST));
    }
    for w in &doc.warnings {
        out.extend(wrap("Warning:", &w.message, 2, view.width));
    }
    // A replayed run assumes nothing: its times are the recorded ones.
    if doc.header_note.is_none() {
        out.extend(wrap("", &doc.assumptions.text(), 2, view.width).into_iter().map(|l| l.trim_start().to_string()));
    }
    out
}

/// One line of the timeline.
#[derive(Clone, Debug)]
struct Item {
    at: Time,
    host: String,
    role: String,
    kind: &'static str,
    text: String,
    /// A command (cut to the width unless `--commands`).
    cmd: bool,
    /// Part of the deploy as a whole (the lock, the end), never folded.
    deploy: bool,
}

impl Item {
    fn new(at: Time, host: &str, role: &str, kind: &'static str, text: String) -> Item {
        Item { at, host: host.into(), role: role.into(), kind, text, cmd: false, deploy: false }
    }
    /// What two hosts must share, item by item, to be alike.
    fn key(&self) -> String {
        let what = match self.kind {
            "wait" => self.text.split_once(": ").map_or("", |(_, s)| s.split(" (").next().unwrap_or("")).to_string(),
            _ => self.text.split_whitespace().next().unwrap_or("").to_string(),
        };
        format!("{} {} {what}", self.role, self.kind)
    }
}

fn first_line(s: &str) -> String {
    let s = s.trim();
    let first = s.lines().next().unwrap_or("");
    match s.lines().count() {
        0 | 1 => first.to_string(),
        n => format!("{first} (+{} lines)", n - 1),
    }
}

fn is_lock(a: &Action) -> bool {
    matches!(a, Action::LockAcquire { .. } | Action::LockRead | Action::LockRelease)
}

/// Commands that change a host, and the ones that did not succeed.
fn command_items(sim: &Simulation, out: &mut Vec<Item>) {
    let answers: BTreeMap<u64, (Time, &Observation)> =
        sim.run.observations.iter().map(|(t, o)| (o.id().0, (*t, o))).collect();
    for (t, e) in &sim.run.effects {
        let c = e.cmd();
        let role = c.role.as_deref().unwrap_or("");
        let deploy = is_lock(&c.action);
        if let Effect::RunCmd(_) = e {
            let kind = match c.action {
                Action::LockRelease => "unlock",
                _ => action_kind(&c.action),
            };
            out.push(Item { cmd: true, deploy, ..Item::new(*t, &c.host, role, kind, c.cmd.render()) });
        }
        let failed = match answers.get(&c.id.0) {
            Some((at, Observation::Exited { code, stdout, stderr, .. })) if *code != 0 => {
                let msg = if stderr.trim().is_empty() { first_line(stdout) } else { first_line(stderr) };
                Some((*at, "fail", format!("exit {code}: {msg}")))
            }
            Some((at, o @ (Observation::Unreachable { error, .. } | Observation::NotConnected { error, .. }))) => {
                let what = if matches!(o, Observation::Unreachable { .. }) { "unreachable" } else { "not connected" };
                Some((*at, "lost", format!("{what}: {}", first_line(error))))
            }
            Some((at, Observation::TimedOut { after_ms, .. })) => {
                Some((*at, "lost", format!("timed out after {}", secs(*after_ms))))
            }
            _ => None,
        };
        // A poll that fails is news only when nothing else tells it (a
        // lock read of a held lock, for one); a failing command always is.
        if let Some((at, kind, text)) = failed {
            out.push(Item { deploy, ..Item::new(at, &c.host, role, kind, text) });
        }
    }
}

/// The steps that wait (no command that changes the host, at least
/// [`MIN_WAIT_MS`]), each with the reads it made.
fn wait_items(sim: &Simulation, out: &mut Vec<Item>) {
    let mut steps: BTreeMap<(String, String), Vec<(Time, Step)>> = BTreeMap::new();
    for (t, ev) in &sim.run.events {
        if let Event::Progress { host, role, step } = ev {
            steps.entry((host.clone(), role.clone().unwrap_or_default())).or_default().push((*t, *step));
        }
    }
    let mut fails: BTreeMap<(String, String), Time> = BTreeMap::new();
    for (t, ev) in &sim.run.events {
        if let Event::HostFailed(f) = ev {
            fails.entry((f.host.clone(), f.role.clone().unwrap_or_default())).or_insert(*t);
        }
    }
    for ((host, role), list) in &steps {
        for (i, (at, step)) in list.iter().enumerate() {
            if *step == Step::Done {
                continue;
            }
            let end = list
                .get(i + 1)
                .map(|(t, _)| *t)
                .or_else(|| fails.get(&(host.clone(), role.clone())).copied())
                .unwrap_or(sim.run.end);
            let mine = |e: &Effect| {
                let c = e.cmd();
                c.host == *host && c.role.as_deref().unwrap_or("") == role
            };
            let during: Vec<&Effect> =
                sim.run.effects.iter().filter(|(t, e)| *t >= *at && *t < end && mine(e)).map(|(_, e)| e).collect();
            if end - at < MIN_WAIT_MS || during.iter().any(|e| !e.is_poll()) {
                continue;
            }
            let reads = match during.len() {
                0 => String::new(),
                1 => " (1 read)".into(),
                n => format!(" ({n} reads)"),
            };
            out.push(Item::new(*at, host, role, "wait", format!("{}: {}{reads}", secs(end - at), step.describe())));
        }
    }
}

/// The fleet's changes: routing, health, containers that exit unasked.
fn fleet_items(sim: &Simulation, out: &mut Vec<Item>) {
    let stopped: BTreeSet<(&str, &str)> = sim
        .run
        .effects
        .iter()
        .filter_map(|(_, e)| match &e.cmd().action {
            Action::Stop { name } => Some((e.cmd().host.as_str(), name.as_str())),
            _ => None,
        })
        .collect();
    for e in &sim.fleet_events {
        let show = match e.change {
            FleetChange::Proxy { .. } | FleetChange::Health { .. } => true,
            FleetChange::Exited => !stopped.contains(&(e.host.as_str(), e.container.as_str())),
            FleetChange::Started => false,
        };
        if show {
            out.push(Item::new(e.at_ms, &e.host, &e.role, e.kind(), e.describe()));
        }
    }
}

/// The core's own news: warnings, failures, the lock, the end.
fn event_items(sim: &Simulation, out: &mut Vec<Item>) {
    for (t, ev) in &sim.run.events {
        let item = match ev {
            Event::Warning { host, message } => {
                let mut i = Item::new(*t, host.as_deref().unwrap_or("-"), "", "WARN", message.clone());
                i.deploy = host.is_none();
                i
            }
            Event::HostFailed(f) => Item::new(*t, &f.host, f.role.as_deref().unwrap_or(""), "FAILED", failure_text(f)),
            Event::LockKept { host, reason } => {
                Item { deploy: true, ..Item::new(*t, host, "", "LOCK", format!("kept: {reason}")) }
            }
            Event::LockReleased { host } => Item { deploy: true, ..Item::new(*t, host, "", "LOCK", "released".into()) },
            Event::Finished(o) => Item { deploy: true, ..Item::new(*t, "-", "", "END", outcome_text(o)) },
            Event::Progress { .. } | Event::Audit { .. } | Event::StepDone(_) => continue,
        };
        out.push(item);
    }
}

/// Lanes (one role on one host, or a host's own steps, such as pulling the
/// image) whose items are alike (same keys in the same order) are folded
/// into the first of them: their items go, and one line says which they are.
fn fold_alike(items: Vec<Item>, order: &[String]) -> Vec<Item> {
    type Lane = (String, String);
    let lane_of = |i: &Item| (i.host.clone(), i.role.clone());
    let mut sig: BTreeMap<Lane, Vec<String>> = BTreeMap::new();
    let mut first_at: BTreeMap<Lane, Time> = BTreeMap::new();
    for i in items.iter().filter(|i| !i.deploy) {
        sig.entry(lane_of(i)).or_default().push(i.key());
        first_at.entry(lane_of(i)).or_insert(i.at);
    }
    let host_pos = |h: &str| order.iter().position(|o| o == h).unwrap_or(usize::MAX);
    let mut lanes: Vec<&Lane> = sig.keys().collect();
    lanes.sort_by_key(|(h, r)| (host_pos(h), r.clone()));
    // (role, signature, lanes), the first lane shown.
    let mut classes: Vec<(&str, &Vec<String>, Vec<&Lane>)> = vec![];
    for lane in lanes {
        let s = &sig[lane];
        match classes.iter_mut().find(|(r, k, _)| *r == lane.1 && *k == s) {
            Some((_, _, members)) => members.push(lane),
            None => classes.push((lane.1.as_str(), s, vec![lane])),
        }
    }
    // The one shown is the one that starts first (the others are "later").
    for (_, _, members) in classes.iter_mut() {
        members.sort_by_key(|l| (first_at.get(*l).copied().unwrap_or(0), host_pos(&l.0)));
    }
    let mut notes = vec![];
    for (role, _, members) in classes.iter().filter(|(_, _, m)| m.len() > 1) {
        let rest = &members[1..];
        let base = first_at.get(members[0]).copied().unwrap_or(0);
        let starts: Vec<Time> = rest.iter().filter_map(|l| first_at.get(*l)).copied().collect();
        let (at, last) = (starts.iter().min().copied().unwrap_or(0), starts.iter().max().copied().unwrap_or(0));
        let offset = |t: Time| match t >= base {
            true => format!("{} later", secs(t - base)),
            false => format!("{} earlier", secs(base - t)),
        };
        let when = if at == last { offset(at) } else { format!("from {} to {}", offset(at), offset(last)) };
        let hosts: Vec<&str> = rest.iter().map(|(h, _)| h.as_str()).collect();
        let text = format!("{}: same as {} ({when})", host_range(&hosts, order), members[0].0);
        notes.push(Item::new(at, "…", role, "same", text));
    }
    let folded: BTreeSet<Lane> = classes.iter().flat_map(|(_, _, m)| m.iter().skip(1).map(|l| (*l).clone())).collect();
    let mut out: Vec<Item> = items.into_iter().filter(|i| i.deploy || !folded.contains(&lane_of(i))).collect();
    out.extend(notes);
    out
}

/// The timeline of changes.
pub fn timeline(sim: &Simulation, order: &[String], view: &View) -> Vec<String> {
    let mut items = vec![];
    command_items(sim, &mut items);
    wait_items(sim, &mut items);
    fleet_items(sim, &mut items);
    event_items(sim, &mut items);
    let mut items = fold_alike(items, order);
    items.sort_by_key(|i| i.at);
    let hw = items.iter().map(|i| i.host.chars().count()).max().unwrap_or(1);
    let rw = items.iter().map(|i| i.role.chars().count()).max().unwrap_or(1);
    let mut out = vec![];
    for i in &items {
        let prefix = format!("{:>8}  {:<hw$}  {:<rw$}  {:<7} ", fmt_secs(i.at), i.host, i.role, i.kind);
        let line = format!("{prefix}{}", i.text);
        // Commands are cut unless --commands; prose too (the summary above
        // has every failure's whole text, --json every event's).
        out.push(if i.cmd && view.whole_commands { line } else { cut(&line, view.width) });
    }
    out
}

/// The plan as people read it: a header, the summary, then the timeline.
pub fn render(doc: &PlanDoc, sim: &Simulation, view: &View) -> String {
    let live = doc.assumptions.live.is_some();
    let from = match doc.assumptions.from.as_deref() {
        _ if live => " from the fleet as it is".to_string(),
        Some(v) => format!(" from {v}"),
        None => " (first deploy)".into(),
    };
    let contacted = match &doc.header_note {
        Some(note) => note.as_str(),
        None if live => "simulated from the hosts as read (--live, read-only: no lock taken, nothing changed)",
        None => "simulated, nothing is contacted",
    };
    let hosts = match doc.hosts.len() {
        1 => "1 host".to_string(),
        n => format!("{n} hosts"),
    };
    let header = format!(
        "baton plan: {} of {} {} on {hosts}{from}; seed {}, now {}; {contacted}",
        doc.command, doc.service, doc.version, doc.seed, doc.now
    );
    let mut lines = wrap("", &header, 2, view.width);
    lines.push(String::new());
    if live {
        lines.push("The hosts as read:".into());
        lines.extend(doc.live_lines.iter().flat_map(|l| wrap("  ", l, 4, view.width)));
        lines.push(String::new());
    }
    lines.extend(table(doc, view));
    lines.push(String::new());
    lines.extend(crate::sim::lanes::chart(doc, sim, view));
    lines.push(String::new());
    lines.extend(tail(doc, view));
    lines.push(String::new());
    if view.full {
        lines.push("Timeline: every command, read and answer".into());
        let width = if view.whole_commands { usize::MAX } else { view.width };
        lines.extend(sim.run.trace.lines_cut(width));
    } else {
        let title = format!(
            "Timeline of what changes (reads folded into the waits they belong to; quick steps under {} and alike hosts folded; --timeline full shows everything):",
            short_secs(MIN_WAIT_MS)
        );
        lines.extend(wrap("", &title, 2, view.width));
        lines.extend(timeline(sim, &doc.hosts, view));
    }
    lines.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("web-{i}")).collect()
    }

    #[test]
    fn host_ranges_fold_runs_and_count() {
        let order = names(200);
        let all: Vec<&str> = order.iter().map(String::as_str).collect();
        assert_eq!(host_range(&all[1..], &order), "web-2 … web-200 (199 hosts)");
        let mut gap: Vec<&str> = all.clone();
        gap.remove(2);
        assert_eq!(host_range(&gap, &order), "web-1, web-2, web-4 … web-200 (199 hosts)");
        assert_eq!(host_range(&all[..3], &order), "web-1, web-2, web-3");
        let odd: Vec<&str> = all.iter().step_by(2).copied().collect();
        assert_eq!(host_range(&odd, &order), "web-1, web-3, web-5, … (100 hosts)");
    }

    #[test]
    fn cut_and_wrap_keep_to_the_width() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
        let text = "one two three four five six seven eight nine ten";
        let lines = wrap("Head:", text, 2, 20);
        assert!(lines.iter().all(|l| l.chars().count() <= 20), "{lines:?}");
        assert_eq!(lines[0], "Head: one two three");
        assert!(lines[1].starts_with("  four"), "{lines:?}");
        assert_eq!(lines.join(" ").split_whitespace().count(), 11);
        assert_eq!(short_secs(2500), "2.5s");
        assert_eq!(short_secs(2000), "2s");
        assert_eq!(secs(13_719), "13.7s");
    }
}
