//! Live progress on a terminal: a line for the run's phase, one for this
//! machine (`local`: login, build, hooks) and one per host saying where it
//! stands (login, pull, health check, each step of its boot, prune). Each
//! row holds one line: a command's output is folded to its last line, and
//! a command on this machine (a build) shows its latest line while it runs.
//! [`Model`] is what is shown, from the run's effects and events; [`Live`]
//! draws it with indicatif. Without a terminal, the CLI prints plain lines
//! instead (`boot_cmd::print_event`).

use baton_core::effect::{Action, Effect, Event, LOCAL};
use baton_core::failure::Said;

/// What the live display shows: the phase, then one row per machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Model {
    pub phase: String,
    /// (who, where it stands): `local` first, then the hosts in order.
    pub rows: Vec<(String, String)>,
    /// Per row (same order), what its running command does, for the lines
    /// of output it streams (a build's, a hook's).
    doing: Vec<String>,
}

/// A phase name for the commands that start one (None: not a phase of its own).
fn phase_of(action: &Action) -> Option<String> {
    Some(match action {
        Action::LockAcquire { .. } | Action::LockRead => "taking the deploy lock".into(),
        Action::RegistryLogin => "registry login".into(),
        Action::BuildPush { version } => format!("building and pushing {version}"),
        Action::PullImage { version } => format!("pulling {version}"),
        Action::Hook { name } => format!("{name} hook"),
        Action::PruneContainers { .. } | Action::PruneImages => "pruning".into(),
        Action::LockRelease => "releasing the deploy lock".into(),
        _ => return None,
    })
}

/// The last non-empty line of `text`, at most `max` characters.
pub fn fold(text: &str, max: usize) -> String {
    let last = text.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    if last.chars().count() <= max {
        last.to_string()
    } else {
        let mut s: String = last.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

impl Model {
    pub fn new(hosts: &[String]) -> Model {
        let mut rows = vec![("local".to_string(), String::new())];
        rows.extend(hosts.iter().map(|h| (h.clone(), "waiting".to_string())));
        let doing = vec![String::new(); rows.len()];
        Model { phase: "starting".into(), rows, doing }
    }

    fn index(&self, host: &str) -> Option<usize> {
        let who = if host == LOCAL { "local" } else { host };
        self.rows.iter().position(|(w, _)| w == who)
    }

    fn row(&mut self, host: &str) -> Option<&mut String> {
        let i = self.index(host)?;
        Some(&mut self.rows[i].1)
    }

    /// A command was issued: its host's row (and the phase) says what it does.
    pub fn effect(&mut self, e: &Effect) {
        let c = e.cmd();
        let Some(what) = phase_of(&c.action) else { return };
        if c.host != LOCAL || !matches!(c.action, Action::LockAcquire { .. } | Action::LockRelease) {
            self.phase = what.clone();
        }
        if let Some(i) = self.index(&c.host) {
            self.rows[i].1 = format!("{what}…");
            self.doing[i] = what;
        }
    }

    /// A line of output of a command still running (a build): its row shows
    /// what the command does and that line.
    pub fn output(&mut self, host: &str, line: &str) {
        let Some(i) = self.index(host) else { return };
        let line = fold(line, 80);
        if !line.is_empty() {
            self.rows[i].1 = format!("{}… {line}", self.doing[i]);
        }
    }

    /// An event: a boot step (`Progress`), a step done with its last line of
    /// output, a failure.
    pub fn event(&mut self, ev: &Event) {
        match ev {
            Event::Progress { host, role, step } => {
                self.phase = "booting (cord handover)".into();
                let role = role.as_deref().map(|r| format!("{r}: ")).unwrap_or_default();
                if let Some(row) = self.row(host) {
                    *row = format!("{role}{step}");
                }
            }
            Event::StepDone(r) => {
                let out = if r.ok() { fold(r.stdout(), 60) } else { fold(&Said::of(&r.observation).to_string(), 80) };
                let state = match (r.ok(), r.step.checked) {
                    (true, _) => "done",
                    (false, false) => "done (exit code ignored)",
                    (false, true) => "FAILED",
                };
                let line = if out.is_empty() {
                    format!("{}: {state}", r.step.label)
                } else {
                    format!("{}: {state}: {out}", r.step.label)
                };
                if let Some(row) = self.row(&r.step.host) {
                    *row = line;
                }
            }
            Event::HostFailed(f) => {
                let step = f.step.map(|s| format!("{s}: ")).unwrap_or_default();
                if let Some(row) = self.row(&f.host) {
                    *row = format!("FAILED: {step}{}", fold(&f.why.to_string(), 100));
                }
            }
            Event::Finished(_) => self.phase = "done".into(),
            _ => {}
        }
    }

    /// The lines as drawn: the phase, then `who  where` per row (a row of
    /// this machine that never did anything is left out).
    pub fn lines(&self) -> Vec<String> {
        let shown: Vec<&(String, String)> =
            self.rows.iter().filter(|(who, what)| who != "local" || !what.is_empty()).collect();
        let width = shown.iter().map(|(w, _)| w.len()).max().unwrap_or(0);
        let mut out = vec![format!("phase: {}", self.phase)];
        out.extend(shown.iter().map(|(who, what)| format!("{who:<width$}  {what}")));
        out
    }
}

/// The model drawn on a terminal: a spinner for the phase, one per row.
pub struct Live {
    model: Model,
    multi: indicatif::MultiProgress,
    bars: Vec<indicatif::ProgressBar>,
}

impl Live {
    pub fn new(hosts: &[String]) -> Live {
        let multi = indicatif::MultiProgress::new();
        let mut live = Live { model: Model::new(hosts), multi, bars: vec![] };
        live.draw();
        live
    }

    fn bar(&self) -> indicatif::ProgressBar {
        let style =
            indicatif::ProgressStyle::with_template("{spinner} [{elapsed:>4}] {wide_msg}").expect("valid template");
        let b = self.multi.add(indicatif::ProgressBar::new_spinner());
        b.set_style(style);
        b.enable_steady_tick(std::time::Duration::from_millis(120));
        b
    }

    fn draw(&mut self) {
        let lines = self.model.lines();
        while self.bars.len() < lines.len() {
            let b = self.bar();
            self.bars.push(b);
        }
        for (b, l) in self.bars.iter().zip(lines) {
            b.set_message(l);
        }
    }

    pub fn effect(&mut self, e: &Effect) {
        self.model.effect(e);
        self.draw();
    }

    /// A line of a running local command's output (a build's).
    pub fn output(&mut self, host: &str, line: &str) {
        self.model.output(host, line);
        self.draw();
    }

    /// An event: into the model; warnings and the lock's fate are printed
    /// above the rows (with `print`), as lines that stay.
    pub fn event(&mut self, ev: &Event, print: impl FnOnce()) {
        match ev {
            Event::Progress { .. } | Event::StepDone(_) | Event::HostFailed(_) | Event::Finished(_) => {
                self.model.event(ev);
                self.draw();
            }
            _ => self.multi.suspend(print),
        }
    }

    pub fn finish(self) {
        for b in &self.bars {
            b.finish();
        }
        // The last bar leaves the cursor at the end of its line.
        crate::out::say!("");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_core::batch::{Step, StepResult};
    use baton_core::effect::{Cmd, EffectId, Observation, Step as BootStep};
    use baton_core::shell::Command;

    fn effect(host: &str, action: Action) -> Effect {
        Effect::RunCmd(Cmd {
            id: EffectId(0),
            host: host.into(),
            role: None,
            action,
            cmd: Command::program("true"),
            stdin: None,
        })
    }

    fn done(host: &str, label: &'static str, code: i32, out: &str) -> Event {
        let step = Step::run(host, None, label, Command::program("true"));
        let observation =
            if code == 0 { Observation::ok(EffectId(0), out) } else { Observation::failed(EffectId(0), code, out) };
        Event::StepDone(Box::new(StepResult { phase: label, step, observation }))
    }

    #[test]
    fn a_deploy_shows_its_phase_and_where_each_host_stands() {
        let hosts = vec!["h1".to_string(), "h2".to_string()];
        let mut m = Model::new(&hosts);
        assert_eq!(m.lines(), ["phase: starting", "h1  waiting", "h2  waiting"]);

        m.effect(&effect(LOCAL, Action::BuildPush { version: "v2".into() }));
        assert_eq!(m.phase, "building and pushing v2");
        assert_eq!(m.lines()[1], "local  building and pushing v2…");
        // While the build runs, its row shows its latest line.
        m.output(LOCAL, "#5 [2/3] RUN make");
        assert_eq!(m.lines()[1], "local  building and pushing v2… #5 [2/3] RUN make");
        m.output(LOCAL, "#6 pushing layers");
        assert_eq!(m.lines()[1], "local  building and pushing v2… #6 pushing layers");
        // Once done, the build's output is folded to its last line.
        m.event(&done(
            LOCAL,
            "build push",
            0,
            "Step 1/2 : FROM x\nStep 2/2 : ENV V=2\nv2: digest: sha256:abc size: 528\n",
        ));
        assert_eq!(m.lines()[1], "local  build push: done: v2: digest: sha256:abc size: 528");

        m.effect(&effect("h1", Action::PullImage { version: "v2".into() }));
        m.effect(&effect("h2", Action::PullImage { version: "v2".into() }));
        m.event(&done("h1", "build pull", 0, "v2: Pulling from app\nStatus: Downloaded newer image for app:v2"));
        assert_eq!(m.phase, "pulling v2");
        assert_eq!(m.lines()[2], "h1     build pull: done: Status: Downloaded newer image for app:v2");
        assert_eq!(m.lines()[3], "h2     pulling v2…");

        m.event(&Event::Progress { host: "h2".into(), role: Some("web".into()), step: BootStep::RunNew });
        assert_eq!(m.phase, "booting (cord handover)");
        assert_eq!(m.lines()[3], format!("h2     web: {}", BootStep::RunNew));
    }

    #[test]
    fn a_failed_step_reads_failed_with_its_last_line() {
        let mut m = Model::new(&["h1".to_string()]);
        m.event(&done("h1", "build pull", 1, "Error response from daemon: connection refused"));
        assert_eq!(m.lines()[1], "h1  build pull: FAILED: exit code 1: Error response from daemon: connection refused");
        assert_eq!(fold(&"x".repeat(80), 10), format!("{}…", "x".repeat(9)));
        assert_eq!(fold("a\n\n  \n", 10), "a");
    }
}
