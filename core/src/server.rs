//! `server bootstrap`: is Docker (and curl) on every host, and, only when
//! asked with `--install`, install Docker where it is missing, as Kamal
//! does: Docker's convenience script piped from the internet into a root
//! shell. As phases for [`crate::batch::Batch`], and what their results mean.

use crate::batch::{Phase, Step, StepResult};
use crate::commands as cmds;
use crate::failure::Said;
use crate::plan::Plan;
use std::fmt;

const DOCKER: &str = "docker -v";
const CURL: &str = "curl --version";
const ROOT: &str = "superuser";
const INSTALL: &str = "install docker";
const RECHECK: &str = "docker -v after install";
const RUN_DIR: &str = "run directory";

/// The phases of `server bootstrap` on the selected hosts: read whether
/// Docker and curl are there (and, with `install`, whether the user is
/// root); with `install`, install Docker where `docker -v` fails and check
/// again; create the run directory (`.kamal`), as Kamal does.
pub fn bootstrap(plan: &Plan, install: bool) -> Vec<Phase> {
    let all = hosts(plan);
    let on = |hosts: &[String], name: &'static str, f: &dyn Fn(&str) -> Vec<Step>| Phase {
        name,
        scripts: hosts.iter().map(|h| f(h)).collect(),
        required: false,
        finally: false,
    };
    let per_host = |name: &'static str, f: &dyn Fn(&str) -> Vec<Step>| on(&all, name, f);
    let mut phases = vec![per_host("check", &|h| {
        let mut steps = vec![
            Step::poll(h, None, DOCKER, cmds::docker_installed()).unchecked(),
            Step::poll(h, None, CURL, cmds::curl_installed()).unchecked(),
        ];
        if install {
            steps.push(Step::poll(h, None, ROOT, cmds::superuser()).unchecked());
        }
        steps
    })];
    if install {
        phases.push(per_host("install", &|h| {
            vec![
                Step::run(h, None, INSTALL, cmds::install_docker()),
                Step::poll(h, None, RECHECK, cmds::docker_installed()),
            ]
        }));
    }
    // The run directory on the app's hosts only, as Kamal.
    phases.push(on(&plan.hosts, RUN_DIR, &|h| {
        vec![Step::run(h, None, RUN_DIR, cmds::ensure_run_directory(&plan.config))]
    }));
    phases
}

/// The hosts Docker must be on: the selected hosts, then every accessory's
/// host (Kamal's `KAMAL.hosts | KAMAL.accessory_hosts`).
pub fn hosts(plan: &Plan) -> Vec<String> {
    let mut hosts = plan.hosts.clone();
    for h in plan.config.accessories.iter().flat_map(|a| &a.hosts) {
        if !hosts.contains(h) {
            hosts.push(h.clone());
        }
    }
    hosts
}

/// What `server bootstrap` found on one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// Docker is there (the first line of `docker -v`).
    Docker { version: String },
    /// Docker is not there, and nothing was asked to install it.
    DockerMissing,
    /// `--install` installed Docker (the first line of `docker -v` after).
    Installed { version: String },
    /// `--install` could not: the SSH user is not root.
    NotRoot,
    /// `--install` could not: curl is missing.
    NoCurl,
    /// `--install` ran and Docker is still not there, or the install failed.
    InstallFailed { said: Said },
    /// curl is not there (needed only to install Docker).
    CurlMissing,
    /// A check could not be run (the host did not answer).
    Unknown { step: &'static str, said: Said },
    /// The run directory could not be created.
    RunDirFailed { said: Said },
}

impl Finding {
    /// The host is not ready for a deploy.
    pub fn is_problem(&self) -> bool {
        !matches!(self, Finding::Docker { .. } | Finding::Installed { .. } | Finding::CurlMissing)
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let manual = "install Docker yourself (https://docs.docker.com/engine/install/)";
        match self {
            Finding::Docker { version } => write!(f, "docker: {version}"),
            Finding::DockerMissing => write!(
                f,
                "docker: missing; {manual}, or run `baton server bootstrap --install`, which pipes {} into a root shell on the host",
                cmds::DOCKER_INSTALL_URL
            ),
            Finding::Installed { version } => write!(f, "docker: installed ({version})"),
            Finding::NotRoot => write!(
                f,
                "docker: missing, and not installed: the SSH user is not root; {manual}, or connect as root (ssh.user) to let --install do it"
            ),
            Finding::NoCurl => write!(
                f,
                "docker: missing, and not installed: curl is missing; install curl with the host's package manager (e.g. apt-get install curl), or {manual}"
            ),
            Finding::InstallFailed { said } => {
                write!(f, "docker: the install did not succeed ({said}); {manual}")
            }
            Finding::CurlMissing => write!(
                f,
                "curl: missing; install it with the host's package manager (e.g. apt-get install curl) if Docker is to be installed here"
            ),
            Finding::Unknown { step, said } => write!(f, "{step}: could not be checked ({said}); run it again"),
            Finding::RunDirFailed { said } => write!(f, "run directory: could not be created ({said})"),
        }
    }
}

/// What the results of [`bootstrap`] say about `host`, in the order a user
/// reads them.
pub fn findings(host: &str, results: &[StepResult]) -> Vec<Finding> {
    let of = |label: &str| results.iter().find(|r| r.step.host == host && r.step.label == label);
    let first_line = |r: &StepResult| r.stdout().lines().next().unwrap_or("").trim().to_string();
    let exited = |r: &StepResult| matches!(r.observation, crate::effect::Observation::Exited { .. });
    let mut out = vec![];
    let curl = of(CURL);
    match of(DOCKER) {
        Some(r) if r.ok() => out.push(Finding::Docker { version: first_line(r) }),
        Some(r) if !exited(r) => out.push(Finding::Unknown { step: DOCKER, said: Said::of(&r.observation) }),
        Some(_) => match (of(ROOT), of(INSTALL), of(RECHECK)) {
            (None, _, _) => out.push(Finding::DockerMissing),
            (Some(root), _, _) if exited(root) && !root.ok() => out.push(Finding::NotRoot),
            _ if curl.is_some_and(|c| exited(c) && !c.ok()) => out.push(Finding::NoCurl),
            (_, _, Some(again)) if again.ok() => out.push(Finding::Installed { version: first_line(again) }),
            (_, Some(i), again) => {
                let failed = if i.ok() { again.unwrap_or(i) } else { i };
                out.push(Finding::InstallFailed { said: Said::of(&failed.observation) })
            }
            (Some(root), None, _) => out.push(Finding::Unknown { step: ROOT, said: Said::of(&root.observation) }),
        },
        None => {}
    }
    match curl {
        Some(c) if exited(c) && !c.ok() => out.push(Finding::CurlMissing),
        Some(c) if !exited(c) => out.push(Finding::Unknown { step: CURL, said: Said::of(&c.observation) }),
        _ => {}
    }
    if let Some(r) = of(RUN_DIR).filter(|r| !r.ok()) {
        out.push(Finding::RunDirFailed { said: Said::of(&r.observation) });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Source};
    use crate::effect::Observation;
    use crate::plan::{LockInfo, Plan};

    fn plan() -> Plan {
        let text = "service: app\nimage: app\nservers: [h1, h2]\nregistry:\n  username: u\n  password: [P]\n";
        let cfg = Config::parse(Source { name: "config/deploy.yml", text }, None).unwrap();
        let lock = LockInfo { holder: "me".into(), at_utc: "t".into(), message: "m".into() };
        Plan::new(cfg, "v1", None, None, "me", lock).unwrap()
    }

    fn result(phases: &[Phase], host: &str, label: &str, code: i32, stdout: &str) -> StepResult {
        let step = phases
            .iter()
            .flat_map(|p| p.scripts.iter().flatten())
            .find(|s| s.host == host && s.label == label)
            .expect("the step exists")
            .clone();
        let observation =
            Observation::Exited { id: crate::effect::EffectId(0), code, stdout: stdout.into(), stderr: String::new() };
        StepResult { phase: "x", step, observation }
    }

    #[test]
    fn accessory_hosts_are_checked_and_get_no_run_directory() {
        let text = "service: app\nimage: app\nservers: [h1]\nregistry:\n  username: u\n  password: [P]\naccessories:\n  db:\n    image: mysql:8\n    host: h9\n";
        let cfg = Config::parse(Source { name: "config/deploy.yml", text }, None).unwrap();
        let lock = LockInfo { holder: "me".into(), at_utc: "t".into(), message: "m".into() };
        let p = Plan::new(cfg, "v1", None, None, "me", lock).unwrap();
        assert_eq!(hosts(&p), ["h1", "h9"]);
        let phases = bootstrap(&p, false);
        let on = |host: &str| -> Vec<&str> {
            phases
                .iter()
                .flat_map(|ph| ph.scripts.iter().flatten())
                .filter(|s| s.host == host)
                .map(|s| s.label)
                .collect()
        };
        assert_eq!(on("h1"), [DOCKER, CURL, RUN_DIR]);
        assert_eq!(on("h9"), [DOCKER, CURL]);
    }

    #[test]
    fn without_install_nothing_is_installed() {
        let phases = bootstrap(&plan(), false);
        let names: Vec<&str> = phases.iter().map(|p| p.name).collect();
        assert_eq!(names, ["check", "run directory"]);
        let all: Vec<String> = phases.iter().flat_map(|p| p.scripts.iter().flatten()).map(|s| s.cmd.render()).collect();
        assert!(all.iter().all(|c| !c.contains("get.docker.com")), "{all:?}");
    }

    #[test]
    fn install_pipes_the_script_only_where_docker_is_missing_and_as_root() {
        let phases = bootstrap(&plan(), true);
        let install = &phases[1].scripts[0][0];
        assert_eq!(
            install.cmd.render(),
            "docker -v || { [ \"${EUID:-$(id -u)}\" -eq 0 ] && curl -fsSL https://get.docker.com | sh ; }"
        );
    }

    #[test]
    fn findings_say_what_is_missing_and_what_to_do() {
        let p = bootstrap(&plan(), false);
        let rs = vec![
            result(&p, "h1", DOCKER, 0, "Docker version 24.0.7, build afdd53b\n"),
            result(&p, "h1", CURL, 0, "curl 7.88.1\n"),
            result(&p, "h2", DOCKER, 127, ""),
            result(&p, "h2", CURL, 127, ""),
        ];
        assert_eq!(
            findings("h1", &rs),
            vec![Finding::Docker { version: "Docker version 24.0.7, build afdd53b".into() }]
        );
        let h2 = findings("h2", &rs);
        assert_eq!(h2, vec![Finding::DockerMissing, Finding::CurlMissing]);
        assert!(h2[0].is_problem() && !h2[1].is_problem());
        assert!(h2[0].to_string().contains("--install"), "{}", h2[0]);

        let p = bootstrap(&plan(), true);
        let rs = vec![
            result(&p, "h1", DOCKER, 127, ""),
            result(&p, "h1", CURL, 0, "curl 8"),
            result(&p, "h1", ROOT, 0, ""),
            result(&p, "h1", INSTALL, 0, "lots of output"),
            result(&p, "h1", RECHECK, 0, "Docker version 27.1.1"),
            result(&p, "h2", DOCKER, 127, ""),
            result(&p, "h2", CURL, 0, "curl 8"),
            result(&p, "h2", ROOT, 1, ""),
            result(&p, "h2", INSTALL, 1, ""),
        ];
        assert_eq!(findings("h1", &rs), vec![Finding::Installed { version: "Docker version 27.1.1".into() }]);
        assert_eq!(findings("h2", &rs), vec![Finding::NotRoot]);
    }
}
