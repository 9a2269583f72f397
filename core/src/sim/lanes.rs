//! The rollout as a picture: one lane per row of the summary (a role on a
//! host), its phases over time: waiting, starting (the new container runs,
//! the proxy does not route to it yet), serving (old + new: the proxy routes
//! to the new one, and to the old one until it drops it), draining (the
//! proxy no longer routes to the old container; it is being stopped), done
//! or failed. In the terminal with Unicode blocks, and as SVG. Pure text.

use crate::effect::Action;
use crate::sim::compact::{cut, fold_rows, secs, Folded, View};
use crate::sim::doc::PlanDoc;
use crate::sim::events::FleetChange;
use crate::sim::summary::{Row, RowOutcome};
use crate::sim::Simulation;
use crate::time::Time;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Waiting,
    Starting,
    Serving,
    Draining,
    Done,
    Failed,
    /// A folded lane: somewhere between its hosts' first start and last end.
    Span,
}

impl Phase {
    pub fn block(self) -> char {
        match self {
            Phase::Waiting => ' ',
            Phase::Starting => '░',
            Phase::Serving => '█',
            Phase::Draining => '▓',
            Phase::Done => '─',
            Phase::Failed => '×',
            Phase::Span => '▒',
        }
    }
    fn colour(self) -> &'static str {
        match self {
            Phase::Waiting => "#ffffff",
            Phase::Starting => "#f2c14e",
            Phase::Serving => "#2e9e5b",
            Phase::Draining => "#4a78c2",
            Phase::Done => "#d9d9d9",
            Phase::Failed => "#d1453b",
            Phase::Span => "#9bbf9f",
        }
    }
    fn name(self) -> &'static str {
        match self {
            Phase::Waiting => "waiting",
            Phase::Starting => "starting",
            Phase::Serving => "serving old + new",
            Phase::Draining => "draining",
            Phase::Done => "done",
            Phase::Failed => "failed",
            Phase::Span => "folded hosts, from the first start to the last end",
        }
    }
}

/// One lane: its label and its phases, from 0 to the run's end.
#[derive(Clone, Debug)]
pub struct Lane {
    pub label: String,
    /// (from, phase), in time order; each lasts until the next.
    pub marks: Vec<(Time, Phase)>,
}

impl Lane {
    pub fn at(&self, t: Time) -> Phase {
        self.marks.iter().take_while(|(from, _)| *from <= t).last().map_or(Phase::Waiting, |(_, p)| *p)
    }
}

fn lane_of(row: &Row, sim: &Simulation, proxied: bool) -> Vec<(Time, Phase)> {
    let (Some(start), Some(end)) = (row.start_ms, row.end_ms) else { return vec![(0, Phase::Waiting)] };
    let new_suffix = format!("-{}", row.to);
    let mine = sim.fleet_events.iter().filter(|e| e.host == row.host && e.role == row.role && e.at_ms >= start);
    let mut serving = None;
    let mut draining = None;
    for e in mine {
        let new = e.container.ends_with(&new_suffix);
        match (&e.change, proxied, new) {
            (FleetChange::Proxy { routes: true }, true, true) => serving = serving.or(Some(e.at_ms)),
            (FleetChange::Proxy { routes: false }, true, false) => draining = draining.or(Some(e.at_ms)),
            (FleetChange::Started, false, true) => serving = serving.or(Some(e.at_ms)),
            _ => {}
        }
    }
    if !proxied {
        draining = sim
            .run
            .effects
            .iter()
            .find(|(t, e)| {
                let c = e.cmd();
                *t >= start
                    && c.host == row.host
                    && c.role.as_deref() == Some(&row.role)
                    && matches!(c.action, Action::Stop { .. })
            })
            .map(|(t, _)| *t);
    }
    let mut marks = vec![(0, Phase::Waiting), (start, Phase::Starting)];
    marks.extend(serving.filter(|&t| t < end).map(|t| (t, Phase::Serving)));
    marks.extend(draining.filter(|&t| t < end).map(|t| (t, Phase::Draining)));
    let after = match row.outcome {
        RowOutcome::Done => Phase::Done,
        RowOutcome::Failed => Phase::Failed,
        RowOutcome::Stopped | RowOutcome::NotStarted => Phase::Waiting,
    };
    marks.push((end, after));
    marks.sort_by_key(|(t, _)| *t);
    marks
}

/// The lanes, as the summary's rows (folded rows as one lane of their span).
pub fn lanes(doc: &PlanDoc, sim: &Simulation) -> Vec<Lane> {
    let proxied = |role: &str| doc.summary.rows.iter().any(|r| r.role == role && r.keeps_serving.is_some());
    fold_rows(doc)
        .into_iter()
        .map(|f| match f {
            Folded::One(r) => {
                Lane { label: format!("{} {}", r.host, r.role), marks: lane_of(r, sim, proxied(&r.role)) }
            }
            Folded::Many { label, role, start, end, .. } => {
                let mut marks = vec![(0, Phase::Waiting)];
                if let (Some(s), Some(e)) = (start, end) {
                    marks.extend([(s, Phase::Span), (e, Phase::Done)]);
                }
                Lane { label: format!("{label} {role}"), marks }
            }
        })
        .collect()
}

/// The lanes in the terminal: one line each, then the legend.
pub fn chart(doc: &PlanDoc, sim: &Simulation, view: &View) -> Vec<String> {
    let lanes = lanes(doc, sim);
    let total = doc.duration_ms.max(1);
    let label_w = lanes.iter().map(|l| l.label.chars().count()).max().unwrap_or(0).min(40);
    let cols = view.width.saturating_sub(label_w + 3).clamp(10, 100);
    let mut out = vec![];
    for lane in &lanes {
        let bar: String = (0..cols).map(|c| lane.at((2 * c as u64 + 1) * total / (2 * cols as u64)).block()).collect();
        let label = cut(&lane.label, label_w);
        let pad = " ".repeat(label_w - label.chars().count());
        out.push(format!("{label}{pad} │{}", bar.trim_end()));
    }
    let axis_end = secs(total);
    out.push(format!("{} └{}{axis_end}", " ".repeat(label_w), "─".repeat(cols.saturating_sub(axis_end.len()))));
    let legend: Vec<String> = [Phase::Starting, Phase::Serving, Phase::Draining, Phase::Done, Phase::Failed]
        .iter()
        .map(|p| format!("{} {}", p.block(), p.name()))
        .collect();
    let mut legend = legend.join("  ");
    if lanes.iter().any(|l| l.marks.iter().any(|(_, p)| *p == Phase::Span)) {
        legend.push_str(&format!("  {} {}", Phase::Span.block(), Phase::Span.name()));
    }
    out.push(cut(&format!("{} {legend}", " ".repeat(label_w)), view.width));
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The lanes as an SVG picture (`baton plan --svg FILE`).
pub fn svg(doc: &PlanDoc, sim: &Simulation) -> String {
    let lanes = lanes(doc, sim);
    let total = doc.duration_ms.max(1) as f64;
    let (label_w, bar_w, row_h) = (260.0, 800.0, 22.0);
    let height = 60.0 + row_h * (lanes.len() as f64 + 2.0);
    let x = |t: Time| label_w + bar_w * (t as f64 / total).min(1.0);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"monospace\" font-size=\"12\">\n",
        label_w + bar_w + 20.0
    );
    s.push_str(&format!(
        "<text x=\"10\" y=\"20\" font-size=\"14\">baton plan: {} of {} {}: {}, {}</text>\n",
        doc.command,
        esc(&doc.service),
        esc(&doc.version),
        doc.outcome,
        secs(doc.duration_ms)
    ));
    for (i, lane) in lanes.iter().enumerate() {
        let y = 40.0 + row_h * i as f64;
        s.push_str(&format!("<text x=\"10\" y=\"{}\">{}</text>\n", y + 15.0, esc(&lane.label)));
        for (k, (from, phase)) in lane.marks.iter().enumerate() {
            let to = lane.marks.get(k + 1).map_or(doc.duration_ms, |(t, _)| *t);
            if *phase == Phase::Waiting || to <= *from {
                continue;
            }
            s.push_str(&format!(
                "<rect x=\"{:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"{}\" fill=\"{}\"><title>{}: {} → {}</title></rect>\n",
                x(*from),
                (x(to) - x(*from)).max(0.5),
                row_h - 4.0,
                phase.colour(),
                phase.name(),
                secs(*from),
                secs(to)
            ));
        }
    }
    let y = 40.0 + row_h * lanes.len() as f64 + 14.0;
    s.push_str(&format!("<text x=\"{label_w}\" y=\"{y}\">0s</text>\n"));
    s.push_str(&format!(
        "<text x=\"{}\" y=\"{y}\" text-anchor=\"end\">{}</text>\n",
        label_w + bar_w,
        secs(doc.duration_ms)
    ));
    let mut lx = 10.0;
    for p in [Phase::Starting, Phase::Serving, Phase::Draining, Phase::Done, Phase::Failed, Phase::Span] {
        let y = y + row_h;
        s.push_str(&format!(
            "<rect x=\"{lx}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/>\n",
            y - 10.0,
            p.colour()
        ));
        s.push_str(&format!(
            "<text x=\"{}\" y=\"{y}\">{}</text>\n",
            lx + 16.0,
            p.name().split(',').next().unwrap_or("")
        ));
        lx += 30.0 + 7.5 * p.name().split(',').next().unwrap_or("").len() as f64;
    }
    s.push_str("</svg>\n");
    s
}
