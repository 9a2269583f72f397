//! `accessory …` (and the accessory parts of `env push`, `env delete`,
//! `details`, `remove` and `setup`) as phases for [`crate::batch::Batch`],
//! in Kamal 1.0's order (`lib/kamal/cli/accessory.rb`). Mutating commands
//! run under the deploy lock ([`crate::ops::mutating`]); their phases are
//! `required`, so a failed one stops the rest of the work (Kamal raises)
//! and the lock is still released.
//!
//! The core reads no files: the CLI reads each accessory file (and
//! evaluates the ERB ones) and passes the contents in ([`Contents`]). File
//! contents and env files travel on standard input, never on a command line.

use crate::batch::{Phase, Step};
use crate::commands::{accessory as acc, registry, LogOptions};
use crate::config::{Accessory, Config};
use crate::effect::Action;
use crate::ops::{audit_step, mutating};
use crate::plan::Plan;
use std::collections::BTreeMap;

/// The files of the accessories, as the CLI read them (ERB evaluated):
/// local path as written → contents.
pub type Contents = BTreeMap<String, Vec<u8>>;

/// The registry login of `accessory boot`/`reboot`: user, and the password
/// (which only ever travels on standard input).
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Login({}, <password>)", self.username)
    }
}

/// The accessories `name` selects: `all`, or the one of that name.
pub fn select<'a>(cfg: &'a Config, name: &str) -> Result<Vec<&'a Accessory>, String> {
    if name == "all" {
        return Ok(cfg.accessories.iter().collect());
    }
    match cfg.accessory(name) {
        Some(a) => Ok(vec![a]),
        None if cfg.accessories.is_empty() => Err(format!(
            "no accessory by the name of '{name}': the config has no accessories; add them under accessories:"
        )),
        None => {
            let names: Vec<&str> = cfg.accessories.iter().map(|a| a.name.as_str()).collect();
            Err(format!("no accessory by the name of '{name}' (options: {}, or all)", names.join(", ")))
        }
    }
}

/// The env file of an accessory: secret values first, then clear values,
/// one `KEY=value` per line (Kamal's `env_file_with_secrets`).
pub fn env_file(a: &Accessory, secrets: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    for key in &a.env.secret {
        let Some(v) = secrets.get(key) else {
            return Err(format!(
                "accessories.{}.env.secret: {key} is not set; export it, or put {key}=… in .env",
                a.name
            ));
        };
        crate::ops::line(&mut out, key, v)?;
    }
    for (k, v) in &a.env.clear {
        crate::ops::line(&mut out, k, v)?;
    }
    if out.is_empty() {
        out.push('\n');
    }
    Ok(out)
}

/// One required phase: a script per host of the accessory.
fn on_hosts(a: &Accessory, name: &'static str, f: impl Fn(&str) -> Vec<Step>) -> Phase {
    Phase { name, scripts: a.hosts.iter().map(|h| f(h)).collect(), required: true, finally: false }
}

fn step(h: &str, a: &Accessory, label: &'static str, cmd: crate::shell::Command) -> Step {
    Step::run(h, Some(&a.name), label, cmd)
}

fn audit(plan: &Plan, h: &str, message: String) -> Step {
    audit_step(plan, h, None, &message)
}

/// `accessory directories NAME`: `mkdir -p` each data directory.
pub fn directories_phase(plan: &Plan, a: &Accessory) -> Phase {
    let cfg = &plan.config;
    on_hosts(a, "accessory directories", |h| {
        a.directories.iter().map(|(p, _)| step(h, a, "directories", acc::make_directory(cfg, a, p))).collect()
    })
}

/// `accessory upload NAME`: each file, its contents on standard input.
pub fn upload_phase(plan: &Plan, a: &Accessory, contents: &Contents) -> Result<Phase, String> {
    let cfg = &plan.config;
    for f in &a.files {
        if !contents.contains_key(&f.local) {
            return Err(format!("accessories.{}.files: missing file: {}; create it, or fix the path", a.name, f.local));
        }
    }
    Ok(on_hosts(a, "accessory upload", |h| {
        a.files
            .iter()
            .map(|f| step(h, a, "upload", acc::upload(cfg, a, f)).with_file(contents[&f.local].clone()))
            .collect()
    }))
}

fn login_step(plan: &Plan, h: &str, login: &Login) -> Step {
    Step::run(h, None, "registry login", registry::login(&plan.config, &login.username))
        .with_stdin(login.password.clone().into_bytes())
        .with_action(Action::RegistryLogin)
}

/// One accessory's boot: directories, files, then on each host the registry
/// login (unless `login` is None), an audit line and `docker run`.
pub fn boot_phases(
    plan: &Plan,
    a: &Accessory,
    contents: &Contents,
    login: Option<&Login>,
) -> Result<Vec<Phase>, String> {
    let cfg = &plan.config;
    let run = on_hosts(a, "accessory boot", |h| {
        let mut s: Vec<Step> = login.map(|l| login_step(plan, h, l)).into_iter().collect();
        s.push(audit(plan, h, format!("Booted {} accessory", a.name)));
        s.push(step(h, a, "boot", acc::run(cfg, a)));
        s
    });
    Ok(vec![directories_phase(plan, a), upload_phase(plan, a, contents)?, run])
}

/// `accessory boot NAME|all`
pub fn boot(plan: &Plan, accs: &[&Accessory], contents: &Contents, login: &Login) -> Result<Vec<Phase>, String> {
    let mut work = vec![];
    for a in accs {
        work.extend(boot_phases(plan, a, contents, Some(login))?);
    }
    Ok(mutating(plan, work))
}

fn stop_phase(plan: &Plan, a: &Accessory) -> Phase {
    on_hosts(a, "accessory stop", |h| {
        vec![
            audit(plan, h, format!("Stopped {} accessory", a.name)),
            step(h, a, "stop", acc::stop(&plan.config, a)).unchecked(),
        ]
    })
}

fn start_phase(plan: &Plan, a: &Accessory) -> Phase {
    on_hosts(a, "accessory start", |h| {
        vec![audit(plan, h, format!("Started {} accessory", a.name)), step(h, a, "start", acc::start(&plan.config, a))]
    })
}

fn remove_container_phase(plan: &Plan, a: &Accessory) -> Phase {
    on_hosts(a, "accessory remove container", |h| {
        vec![
            audit(plan, h, format!("Remove {} accessory container", a.name)),
            step(h, a, "remove container", acc::remove_container(&plan.config, a)),
        ]
    })
}

/// `accessory reboot NAME|all`: login, stop, remove the container, boot
/// (without a second login).
pub fn reboot(plan: &Plan, accs: &[&Accessory], contents: &Contents, login: &Login) -> Result<Vec<Phase>, String> {
    let mut work = vec![];
    for a in accs {
        work.push(on_hosts(a, "registry login", |h| vec![login_step(plan, h, login)]));
        work.push(stop_phase(plan, a));
        work.push(remove_container_phase(plan, a));
        work.extend(boot_phases(plan, a, contents, None)?);
    }
    Ok(mutating(plan, work))
}

/// `accessory start NAME|all`
pub fn start(plan: &Plan, accs: &[&Accessory]) -> Vec<Phase> {
    mutating(plan, accs.iter().map(|a| start_phase(plan, a)).collect())
}

/// `accessory stop NAME|all` (a stopped or missing container is not an error).
pub fn stop(plan: &Plan, accs: &[&Accessory]) -> Vec<Phase> {
    mutating(plan, accs.iter().map(|a| stop_phase(plan, a)).collect())
}

/// `accessory restart NAME|all`: stop, then start.
pub fn restart(plan: &Plan, accs: &[&Accessory]) -> Vec<Phase> {
    mutating(plan, accs.iter().flat_map(|a| [stop_phase(plan, a), start_phase(plan, a)]).collect())
}

/// `accessory details NAME|all` (reads only).
pub fn details(plan: &Plan, accs: &[&Accessory]) -> Vec<Phase> {
    accs.iter()
        .map(|a| Phase {
            required: false,
            ..on_hosts(a, "accessory details", |h| {
                vec![Step::poll(h, Some(&a.name), "details", acc::info(&plan.config, a)).unchecked()]
            })
        })
        .collect()
}

/// `accessory logs NAME|all` (not `--follow`).
pub fn logs(plan: &Plan, accs: &[&Accessory], o: &LogOptions) -> Vec<Phase> {
    accs.iter()
        .map(|a| Phase {
            required: false,
            ..on_hosts(a, "accessory logs", |h| {
                vec![Step::poll(h, Some(&a.name), "logs", acc::logs(&plan.config, a, o)).unchecked()]
            })
        })
        .collect()
}

/// `accessory exec NAME CMD [--reuse]` on each host of the accessory (captured).
pub fn exec(plan: &Plan, a: &Accessory, cmd: &str, reuse: bool) -> Vec<Phase> {
    let cfg = &plan.config;
    vec![Phase {
        required: false,
        ..on_hosts(a, "accessory exec", |h| {
            let line = if reuse { acc::exec_existing(cfg, a, cmd, false) } else { acc::exec_new(cfg, a, cmd, false) };
            vec![
                audit(plan, h, format!("Executed cmd '{cmd}' on {} accessory", a.name)),
                step(h, a, "exec", line).unchecked(),
            ]
        })
    }]
}

/// One accessory's removal, unlocked: stop, remove the container, the
/// image, the service directory (files and data), and the env file, which
/// Kamal 1.0 left behind with its secrets.
pub fn remove_phases(plan: &Plan, a: &Accessory) -> Vec<Phase> {
    let cfg = &plan.config;
    vec![
        stop_phase(plan, a),
        remove_container_phase(plan, a),
        on_hosts(a, "accessory remove image", |h| {
            vec![
                audit(plan, h, format!("Removed {} accessory image", a.name)),
                step(h, a, "remove image", acc::remove_image(a)),
            ]
        }),
        on_hosts(a, "accessory remove directory", |h| {
            vec![
                step(h, a, "remove directory", acc::remove_service_directory(cfg, a)),
                step(h, a, "remove env file", acc::remove_env_file(cfg, a)),
            ]
        }),
    ]
}

/// `accessory remove NAME|all` (the CLI asks first, unless `-y`).
pub fn remove(plan: &Plan, accs: &[&Accessory]) -> Vec<Phase> {
    mutating(plan, accs.iter().flat_map(|a| remove_phases(plan, a)).collect())
}

/// `accessory upload NAME|all`
pub fn upload(plan: &Plan, accs: &[&Accessory], contents: &Contents) -> Result<Vec<Phase>, String> {
    let work = accs.iter().map(|a| upload_phase(plan, a, contents)).collect::<Result<Vec<_>, _>>()?;
    Ok(mutating(plan, work))
}

/// `accessory directories NAME|all`
pub fn directories(plan: &Plan, accs: &[&Accessory]) -> Vec<Phase> {
    mutating(plan, accs.iter().map(|a| directories_phase(plan, a)).collect())
}

/// Each host of any accessory, in order of appearance, with the accessories on it.
fn by_host(cfg: &Config) -> Vec<(String, Vec<&Accessory>)> {
    let mut out: Vec<(String, Vec<&Accessory>)> = vec![];
    for a in &cfg.accessories {
        for h in &a.hosts {
            match out.iter_mut().find(|(x, _)| x == h) {
                Some((_, v)) => v.push(a),
                None => out.push((h.clone(), vec![a])),
            }
        }
    }
    out
}

/// The label of `env push` steps that write an accessory's env file.
pub const ENV_PUSH: &str = "accessory env push";
/// The label of an accessory's `env delete` step.
pub const ENV_DELETE: &str = "accessory env delete";

/// `env push`'s accessory part: each accessory host gets the env file of
/// each accessory on it, mode 0400, from standard input.
pub fn env_push_phase(plan: &Plan, secrets: &BTreeMap<String, String>) -> Result<Option<Phase>, String> {
    let cfg = &plan.config;
    let mut scripts = vec![];
    for (h, accs) in by_host(cfg) {
        let mut script = vec![];
        for a in accs {
            let contents = env_file(a, secrets)?;
            script.push(step(&h, a, ENV_PUSH, acc::env_file_write(cfg, a)).with_file(contents.into_bytes()));
        }
        scripts.push(script);
    }
    Ok((!scripts.is_empty()).then_some(Phase { name: "env push", scripts, required: false, finally: false }))
}

/// `env delete`'s part for accessories: each accessory's env file on its
/// hosts (no lock; `env delete` adds the roles' and Traefik's).
pub fn env_delete_phases(plan: &Plan) -> Vec<Phase> {
    let cfg = &plan.config;
    let scripts: Vec<Vec<Step>> = by_host(cfg)
        .into_iter()
        .map(|(h, accs)| accs.into_iter().map(|a| step(&h, a, ENV_DELETE, acc::remove_env_file(cfg, a))).collect())
        .collect();
    if scripts.is_empty() {
        return vec![];
    }
    vec![Phase { name: "env delete", scripts, required: false, finally: false }]
}

#[cfg(test)]
mod tests;
