//! The commands other than `app boot`, as phases for [`crate::batch::Batch`]:
//! lock, audit, env push, and the other `app` commands. Every command line is
//! built here from [`crate::commands`]; the CLI only picks the phases and
//! prints the results.

use crate::batch::{Batch, Kind, Phase, Step};
use crate::commands as cmds;
use crate::config::{Config, Env};
use crate::effect::Action;
use crate::lockwait::{LockRetry, LockWait};
use crate::plan::Plan;
use crate::sequence::{Part, Sequence};
use base64::Engine;
use std::collections::BTreeMap;

/// Lock details as Kamal writes them, base64-encoded.
pub fn lock_details_b64(holder: &str, at_utc: &str, version: &str, message: &str) -> String {
    let details = format!("Locked by: {holder} at {at_utc}\nVersion: {version}\nMessage: {message}");
    base64::engine::general_purpose::STANDARD.encode(details)
}

/// Decode lock details read from the host (base64, possibly wrapped).
pub fn decode_lock_details(stdout: &str) -> String {
    let compact: String = stdout.chars().filter(|c| !c.is_whitespace()).collect();
    match base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim_end().to_string(),
        Err(_) => stdout.trim().to_string(),
    }
}

/// The lock details of `plan` (who, when, which version, why), base64.
pub fn lock_details(plan: &Plan) -> String {
    lock_details_b64(&plan.lock.holder, &plan.lock.at_utc, &plan.version, &plan.lock.message)
}

/// `lock acquire`: take the lock on the primary host (with `--lock-wait`,
/// a step that waits for a held lock: see [`crate::lockwait`]).
pub fn lock_acquire(plan: &Plan) -> Phase {
    Phase { name: "lock", scripts: vec![vec![lock_step(plan)]], required: true, finally: false }
}

/// The step that takes the lock, waiting for it as `plan.lock_wait` says.
pub fn lock_step(plan: &Plan) -> Step {
    let cfg = &plan.config;
    let details = lock_details(plan);
    let mut step = Step::run(cfg.primary_host(), None, "lock", cmds::lock_acquire(cfg, &details))
        .with_action(Action::LockAcquire { details })
        .with_kind(Kind::Lock);
    step.lock_wait = plan.lock_wait.map(|timeout_ms| LockRetry { timeout_ms, read: cmds::lock_read(cfg) });
    step
}

/// The guard part that takes the lock: a [`LockWait`] when the lock step
/// waits for a held lock, else a batch of the phase.
pub fn guard_part(p: Phase) -> Part {
    let waiting = match p.scripts.as_slice() {
        [script] => match script.as_slice() {
            [step] if step.lock_wait.is_some() => Some(step.clone()),
            _ => None,
        },
        _ => None,
    };
    match waiting {
        Some(step) => Part::later(move |now| LockWait::from_step(&step, now).expect("a lock step that waits")).guard(),
        None => Part::new(Batch::new(vec![p])).guard(),
    }
}

/// `lock release`.
pub fn lock_release(cfg: &Config) -> Phase {
    let step = Step::run(cfg.primary_host(), None, "unlock", cmds::lock_release(cfg))
        .with_action(Action::LockRelease)
        .with_kind(Kind::Unlock);
    Phase { name: "unlock", scripts: vec![vec![step]], required: false, finally: true }
}

/// `lock status`: prints the details, or nothing when unlocked.
pub fn lock_status(cfg: &Config) -> Phase {
    let step =
        Step::poll(cfg.primary_host(), None, "lock status", cmds::lock_status(cfg)).with_action(Action::LockRead);
    Phase { name: "lock status", scripts: vec![vec![step]], required: false, finally: false }
}

/// Wrap a mutating command in the lock, as Kamal's `mutating`: take it,
/// run, release it (also after a failure; only `app boot` holds it).
pub fn mutating(plan: &Plan, work: Vec<Phase>) -> Vec<Phase> {
    let mut phases = vec![lock_acquire(plan)];
    phases.extend(work);
    phases.push(lock_release(&plan.config));
    phases
}

/// The machine that runs `phases`: leading `required` phases (taking the
/// lock) and trailing `finally` phases (releasing it) become parts of their
/// own around one batch of the work, as one [`Sequence`] under the lock.
pub fn machine(phases: Vec<Phase>) -> Sequence {
    let mut phases: std::collections::VecDeque<Phase> = phases.into();
    let mut parts = vec![];
    // Only the lock is a guard: a command's own required phases stay in
    // its batch, where a failed one skips the rest of the work and the
    // lock is still released.
    let is_lock = |p: &Phase| p.scripts.iter().flatten().all(|s| s.kind == Kind::Lock);
    while phases.front().is_some_and(|p| p.required && is_lock(p)) {
        parts.push(guard_part(phases.pop_front().expect("checked")));
    }
    let mut tail = vec![];
    while phases.back().is_some_and(|p| p.finally) {
        tail.push(Part::new(Batch::new(vec![phases.pop_back().expect("checked")])).finally());
    }
    if !phases.is_empty() {
        parts.push(Part::new(Batch::new(phases.into())));
    }
    parts.extend(tail.into_iter().rev());
    Sequence::new(parts)
}

/// Parse a `.env` file: `KEY=VALUE` lines, `export ` prefixes, `#`
/// comments, single quotes (literal) and double quotes (with `\n`, `\"`,
/// `\\` escapes). Returns the pairs, or the 1-based line of the first error.
pub fn parse_dotenv(text: &str) -> Result<Vec<(String, String)>, (usize, String)> {
    let mut out = vec![];
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            return Err((
                n + 1,
                "expected KEY=VALUE, found no '=' (the line is not shown: it may hold a secret)".into(),
            ));
        };
        let key = k.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
            return Err((n + 1, format!("{key:?} is not a variable name")));
        }
        let v = v.trim();
        let value = if let Some(inner) = v.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
            inner.to_string()
        } else if let Some(inner) = v.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            let mut s = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    match chars.next() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some(o) => s.push(o),
                        None => s.push('\\'),
                    }
                } else {
                    s.push(c);
                }
            }
            s
        } else {
            // Unquoted: a ` #` starts a comment.
            v.split(" #").next().unwrap_or("").trim_end().to_string()
        };
        out.push((key.to_string(), value));
    }
    Ok(out)
}

/// The env file of a role on a host: secret values (from `secrets`) first,
/// then clear values, one `KEY=value` per line, as Docker's `--env-file`
/// reads them; the host's tags add their `env.tags` entries. Docker takes
/// values literally and cannot hold a newline: such a secret value is
/// refused, naming the key (the config's own values were checked when it
/// was read).
pub fn env_file(cfg: &Config, role: &str, host: &str, secrets: &BTreeMap<String, String>) -> Result<String, String> {
    let Some(r) = cfg.role(role) else {
        return Err(format!("--roles: there is no role {role:?}; name a role of the config"));
    };
    env_file_of(&cfg.role_env_on(r, host), secrets, "env.secret", &format!("role {role}"))
}

/// An env file of `env` (secrets first, then clear values); `path` and
/// `whose` name a missing secret (`env.secret`, `role web`).
pub fn env_file_of(env: &Env, secrets: &BTreeMap<String, String>, path: &str, whose: &str) -> Result<String, String> {
    let mut out = String::new();
    for key in &env.secret {
        let Some(v) = secrets.get(key) else {
            return Err(format!("{path}: {key} ({whose}) is not set; export it, or put {key}=… in .env"));
        };
        line(&mut out, key, v)?;
    }
    for (k, v) in &env.clear {
        line(&mut out, k, v)?;
    }
    if out.is_empty() {
        // An empty file is fine for Docker; a newline keeps tools from warning.
        out.push('\n');
    }
    Ok(out)
}

pub(crate) fn line(out: &mut String, key: &str, value: &str) -> Result<(), String> {
    if value.contains(['\n', '\r', '\0']) {
        return Err(format!(
            "env.secret: the value of {key} holds a line break or NUL, which Docker's env files cannot carry; put it on one line (e.g. base64-encode it)"
        ));
    }
    out.push_str(key);
    out.push('=');
    out.push_str(value);
    out.push('\n');
    Ok(())
}

/// `env push`: each host gets the env file of each of its roles, mode 0400.
pub fn env_push(plan: &Plan, secrets: &BTreeMap<String, String>) -> Result<Phase, String> {
    let cfg = &plan.config;
    let mut scripts = vec![];
    for host in &plan.hosts {
        let mut script = vec![];
        for role in plan.roles_on(host) {
            let contents = env_file(cfg, &role, host, secrets)?;
            script.push(
                Step::run(host, Some(&role), "env push", cmds::env_file_write(cfg, &role))
                    .with_file(contents.into_bytes()),
            );
        }
        scripts.push(script);
    }
    Ok(Phase { name: "env push", scripts, required: false, finally: false })
}

/// `env delete`: each host's env file of each of its roles removed.
pub fn env_delete(plan: &Plan) -> Phase {
    per_role(plan, "env delete", |h, r| {
        vec![Step::run(h, Some(r), "env delete", cmds::env_file_remove(&plan.config, r))]
    })
}

// ---------------------------------------------------------------- app ----

/// Each selected host with the selected roles on it.
fn host_roles(plan: &Plan) -> Vec<(String, Vec<String>)> {
    plan.hosts.iter().map(|h| (h.clone(), plan.roles_on(h))).collect()
}

/// One phase: per host, the steps `f` gives for each role on it.
pub(crate) fn per_role(plan: &Plan, name: &'static str, f: impl Fn(&str, &str) -> Vec<Step>) -> Phase {
    let scripts =
        host_roles(plan).into_iter().map(|(h, roles)| roles.iter().flat_map(|r| f(&h, r)).collect()).collect();
    Phase { name, scripts, required: false, finally: false }
}

/// One phase: per host, the steps `f` gives (for the host's first role).
pub(crate) fn per_host(plan: &Plan, name: &'static str, f: impl Fn(&str, &str) -> Vec<Step>) -> Phase {
    let scripts = host_roles(plan).into_iter().filter_map(|(h, roles)| roles.first().map(|r| f(&h, r))).collect();
    Phase { name, scripts, required: false, finally: false }
}

pub(crate) fn audit_step(plan: &Plan, host: &str, role: Option<&str>, message: &str) -> Step {
    Step::run(host, role, "audit", cmds::audit(&plan.config, &plan.performer, role, message))
        .with_action(Action::Audit { text: cmds::audit_text(&plan.config, &plan.performer, role, message) })
        .with_kind(Kind::Audit)
}

/// `app start`: start the containers of the version.
pub fn app_start(plan: &Plan) -> Vec<Phase> {
    let cfg = &plan.config;
    mutating(
        plan,
        vec![per_role(plan, "start", |h, r| {
            vec![
                audit_step(plan, h, Some(r), &format!("Started app version {}", plan.version)),
                Step::run(h, Some(r), "start", cmds::start(cfg, r, &plan.version)).unchecked(),
            ]
        })],
    )
}

/// `app stop`: stop the newest running container of each role.
pub fn app_stop(plan: &Plan) -> Vec<Phase> {
    mutating(plan, vec![stop_phase(plan)])
}

fn stop_phase(plan: &Plan) -> Phase {
    per_role(plan, "stop", |h, r| {
        vec![
            audit_step(plan, h, Some(r), "Stopped app"),
            Step::run(h, Some(r), "stop", cmds::stop_current(&plan.config, r)).unchecked(),
        ]
    })
}

/// `app details`
pub fn app_details(plan: &Plan) -> Vec<Phase> {
    vec![per_role(plan, "details", |h, r| vec![Step::poll(h, Some(r), "details", cmds::details(&plan.config, r))])]
}

/// `app containers`
pub fn app_containers(plan: &Plan) -> Vec<Phase> {
    vec![per_host(plan, "containers", |h, _| {
        vec![Step::poll(h, None, "containers", cmds::list_containers(&plan.config))]
    })]
}

/// `app images`
pub fn app_images(plan: &Plan) -> Vec<Phase> {
    vec![per_host(plan, "images", |h, _| vec![Step::poll(h, None, "images", cmds::list_images(&plan.config))])]
}

/// `app version`: the running version on each host (its first role).
pub fn app_version(plan: &Plan) -> Vec<Phase> {
    vec![per_host(plan, "version", |h, r| {
        vec![Step::poll(h, Some(r), "version", cmds::current_running_name(&plan.config, r))]
    })]
}

/// The version in `app version`'s output for `role`, if a container runs.
pub fn running_version(cfg: &Config, role: &str, stdout: &str) -> Option<String> {
    crate::docker::versions_from_names(stdout.lines(), &cfg.role_full_name(role)).into_iter().next()
}

/// `app stale_containers [--stop]`: running containers of each role other
/// than the newest. With `stop`, they are stopped.
pub fn app_stale_containers(plan: &Plan, stop: bool) -> Vec<Phase> {
    let phase = per_role(plan, "stale_containers", |h, r| {
        vec![Step::run(h, Some(r), "stale_containers", cmds::stale_containers(&plan.config, r, stop)).unchecked()]
    });
    if stop {
        mutating(plan, vec![phase])
    } else {
        vec![phase]
    }
}

/// `app exec` in a new container of `version`, on every host (captured).
/// Kamal 1.0 ran it without any role's env file; baton uses the host's first
/// role, so the command sees the app's environment.
pub fn app_exec_new(plan: &Plan, cmd: &str) -> Vec<Phase> {
    let cfg = &plan.config;
    vec![per_host(plan, "exec", |h, r| {
        let role = cfg.role(r).expect("selected roles exist");
        vec![
            audit_step(plan, h, None, &format!("Executed cmd '{cmd}' on app version {}", plan.version)),
            Step::run(h, Some(r), "exec", cmds::exec_new(cfg, role, &plan.version, cmd, false)).unchecked(),
        ]
    })]
}

/// `app exec --reuse`: in the running container of `version`, per role.
pub fn app_exec_reuse(plan: &Plan, cmd: &str) -> Vec<Phase> {
    vec![per_role(plan, "exec", |h, r| {
        vec![
            audit_step(plan, h, Some(r), &format!("Executed cmd '{cmd}' on app version {}", plan.version)),
            Step::run(h, Some(r), "exec", cmds::exec_reuse(&plan.config, r, &plan.version, cmd, false)).unchecked(),
        ]
    })]
}

/// `app logs` (not `--follow`): per host and role.
pub fn app_logs(plan: &Plan, o: &cmds::LogOptions) -> Vec<Phase> {
    vec![per_role(
        plan,
        "logs",
        |h, r| vec![Step::poll(h, Some(r), "logs", cmds::logs(&plan.config, r, o)).unchecked()],
    )]
}

/// `app remove_container VERSION`
pub fn app_remove_container(plan: &Plan, version: &str) -> Vec<Phase> {
    mutating(plan, vec![remove_container_phase(plan, version)])
}

fn remove_container_phase(plan: &Plan, version: &str) -> Phase {
    per_role(plan, "remove_container", |h, r| {
        vec![
            audit_step(plan, h, Some(r), &format!("Removed app container with version {version}")),
            Step::run(h, Some(r), "remove_container", cmds::remove_container(&plan.config, r, version)),
        ]
    })
}

fn remove_containers_phase(plan: &Plan) -> Phase {
    per_role(plan, "remove_containers", |h, r| {
        vec![
            audit_step(plan, h, Some(r), "Removed all app containers"),
            Step::run(h, Some(r), "remove_containers", cmds::remove_containers(&plan.config, r)),
        ]
    })
}

fn remove_images_phase(plan: &Plan) -> Phase {
    per_host(plan, "remove_images", |h, _| {
        vec![
            audit_step(plan, h, None, "Removed all app images"),
            Step::run(h, None, "remove_images", cmds::remove_images(&plan.config)),
        ]
    })
}

/// `app remove_containers`
pub fn app_remove_containers(plan: &Plan) -> Vec<Phase> {
    mutating(plan, vec![remove_containers_phase(plan)])
}

/// `app remove_images`
pub fn app_remove_images(plan: &Plan) -> Vec<Phase> {
    mutating(plan, vec![remove_images_phase(plan)])
}

/// `app remove`: stop, remove the containers, remove the images.
pub fn app_remove(plan: &Plan) -> Vec<Phase> {
    mutating(plan, app_remove_phases(plan))
}

/// `app remove`'s phases, without the lock (for `remove`).
pub fn app_remove_phases(plan: &Plan) -> Vec<Phase> {
    vec![stop_phase(plan), remove_containers_phase(plan), remove_images_phase(plan)]
}

/// `audit`: the last 50 lines of the audit log on each host.
pub fn audit_tail(plan: &Plan) -> Vec<Phase> {
    vec![per_host(plan, "audit", |h, _| {
        vec![Step::poll(h, None, "audit log", cmds::audit_tail(&plan.config, 50)).unchecked()]
    })]
}

/// The local argv that runs `remote` on `host` over `ssh -t` (interactive
/// exec and `logs --follow`), with the config's user, port, jump host and keys.
pub fn interactive_ssh(cfg: &Config, host: &str, remote: &crate::shell::Command) -> Vec<String> {
    let (address, port) = cfg.ssh_endpoint(host);
    let mut argv = vec!["ssh".to_string(), "-t".to_string(), "-p".to_string(), port.to_string()];
    if let Some(p) = &cfg.ssh.proxy {
        argv.extend(["-J".to_string(), p.clone()]);
    }
    for k in &cfg.ssh.keys {
        argv.extend(["-i".to_string(), k.clone()]);
    }
    if let Some(c) = &cfg.ssh.config {
        argv.extend(["-F".to_string(), c.clone()]);
    }
    if let Some(f) = &cfg.baton.known_hosts_file {
        argv.extend(["-o".to_string(), format!("UserKnownHostsFile={f}")]);
    }
    // The same host key policy as every other command (baton.known_hosts).
    argv.extend(["-o".to_string(), format!("StrictHostKeyChecking={}", cfg.baton.known_hosts.ssh_option())]);
    argv.push(format!("{}@{address}", cfg.ssh.user));
    argv.push(remote.render());
    argv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Source;

    fn cfg() -> Config {
        Config::parse(
            Source {
                name: "config/deploy.yml",
                text: "service: app\nimage: app\nservers:\n  web: [h1]\n  jobs:\n    hosts: [h1]\n    env:\n      clear:\n        QUEUE: mail\nenv:\n  clear:\n    RAILS_ENV: production\n    NOTE: \"caf\u{e9} $HOME 'x'\"\n  secret:\n    - DATABASE_URL\nregistry:\n  username: u\n  password: [P]\n",
            },
            None,
        )
        .unwrap()
    }

    #[test]
    fn env_files_put_secrets_first_and_keep_values_literal() {
        let secrets = BTreeMap::from([("DATABASE_URL".to_string(), "postgres://u:p@db/app".to_string())]);
        assert_eq!(
            env_file(&cfg(), "web", "h1", &secrets).unwrap(),
            "DATABASE_URL=postgres://u:p@db/app\nRAILS_ENV=production\nNOTE=caf\u{e9} $HOME 'x'\n"
        );
        assert_eq!(
            env_file(&cfg(), "jobs", "h1", &secrets).unwrap(),
            "DATABASE_URL=postgres://u:p@db/app\nRAILS_ENV=production\nNOTE=caf\u{e9} $HOME 'x'\nQUEUE=mail\n"
        );
    }

    #[test]
    fn missing_secret_and_newlines_are_refused_by_name() {
        assert_eq!(
            env_file(&cfg(), "web", "h1", &BTreeMap::new()).unwrap_err(),
            "env.secret: DATABASE_URL (role web) is not set; export it, or put DATABASE_URL=… in .env"
        );
        let secrets = BTreeMap::from([("DATABASE_URL".to_string(), "a\nb".to_string())]);
        assert_eq!(
            env_file(&cfg(), "web", "h1", &secrets).unwrap_err(),
            "env.secret: the value of DATABASE_URL holds a line break or NUL, which Docker's env files cannot carry; put it on one line (e.g. base64-encode it)"
        );
    }

    #[test]
    fn a_hosts_tags_add_their_env_to_its_env_file() {
        let text = "service: app\nimage: app\nservers:\n  - h1\n  - h2: replica\nenv:\n  clear:\n    DB: primary\n  tags:\n    replica:\n      DB: replica\nregistry:\n  username: u\n  password: [P]\n";
        let cfg = Config::parse(Source { name: "config/deploy.yml", text }, None).unwrap();
        assert_eq!(env_file(&cfg, "web", "h1", &BTreeMap::new()).unwrap(), "DB=primary\n");
        assert_eq!(env_file(&cfg, "web", "h2", &BTreeMap::new()).unwrap(), "DB=replica\n");
    }

    #[test]
    fn dotenv() {
        let parsed = parse_dotenv("# comment\nA=1\nexport B='two words'\nC=\"line\\nbreak\"\nD=x # note\n\n").unwrap();
        assert_eq!(
            parsed,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "line\nbreak".into()),
                ("D".into(), "x".into())
            ]
        );
        assert_eq!(parse_dotenv("A=1\nnonsense\n").unwrap_err().0, 2);
    }

    #[test]
    fn lock_details_round_trip() {
        let b64 = lock_details_b64("Ada", "2026-11-27T10:00:00Z", "v2", "maintenance");
        assert_eq!(
            decode_lock_details(&b64),
            "Locked by: Ada at 2026-11-27T10:00:00Z\nVersion: v2\nMessage: maintenance"
        );
        // Kamal's Base64.encode64 wraps lines every 60 characters.
        let wrapped: String =
            b64.chars().collect::<Vec<_>>().chunks(60).map(|c| c.iter().collect::<String>() + "\n").collect();
        assert_eq!(decode_lock_details(&wrapped), decode_lock_details(&b64));
    }
}
