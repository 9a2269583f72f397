//! `baton build …` and `baton registry …`: the runs are built by the core
//! (`baton_core::flow::build`); here, what the core cannot do: read the
//! registry credentials and the build's secrets from the environment and
//! `.env`, look for the Dockerfile and the hooks, ask git about
//! uncommitted changes, and print the results.

use crate::args::{BuildCmd, Global, RegistryCmd};
use crate::batch_cmd;
use crate::boot_cmd::ssh_options;
use crate::load::{self, UsageError};
use crate::out::{say, tell};
use baton_core::batch::{Kind, StepResult};
use baton_core::commands::build::{LocalCheck, MISSING_BUILDER};
use baton_core::config::{Config, SecretRef};
use baton_core::effect::LOCAL;
use baton_core::flow::build::{self as flows, Run};
use baton_core::flow::hooks::{Hooks, HOOKS};
use baton_core::flow::Credentials;
use baton_core::plan::Plan;
use std::collections::BTreeMap;
use std::path::Path;

const LOCK_MESSAGE: &str = "Automatic deploy lock";

/// `baton registry login|logout`.
pub fn registry(g: &Global, command: &RegistryCmd) -> Result<i32, UsageError> {
    let plan = crate::build_plan(g, LOCK_MESSAGE, false)?;
    let run = match command {
        RegistryCmd::Login => flows::login(&plan, &credentials(&plan.config, g.destination.as_deref())?),
        RegistryCmd::Logout => flows::logout(&plan),
    };
    if g.dry_run {
        return Ok(crate::app_cmd::dry_run(&run.phases()));
    }
    let server = plan.config.registry.server.clone().unwrap_or_else(|| "Docker Hub".into());
    let done = match command {
        RegistryCmd::Login => format!("logged in to {server}"),
        RegistryCmd::Logout => format!("logged out of {server}"),
    };
    Ok(execute(&plan, run, g, &|r| r.ok().then(|| done.clone())))
}

/// `baton build …`.
pub fn build(g: &Global, command: &BuildCmd) -> Result<i32, UsageError> {
    let needs_version = matches!(command, BuildCmd::Deliver | BuildCmd::Push | BuildCmd::Pull);
    let plan = crate::build_plan(g, LOCK_MESSAGE, needs_version)?;
    let hooks = hooks(&plan, g.skip_hooks);
    let cfg = &plan.config;
    let builds = matches!(command, BuildCmd::Deliver | BuildCmd::Push);
    if builds {
        check_build_files(cfg)?;
        export_build_env(cfg, g.destination.as_deref())?;
        warn_uncommitted(g.quiet);
    }
    let kind = cfg.builder.kind();
    let run = match command {
        BuildCmd::Deliver => Some(flows::deliver(&plan, &hooks)),
        BuildCmd::Push => Some(flows::push(&plan, &hooks)),
        BuildCmd::Pull => Some(flows::pull(&plan, &hooks)),
        BuildCmd::Create => flows::create(&plan, &hooks),
        BuildCmd::Remove => flows::remove(&plan, &hooks),
        BuildCmd::Details => flows::details(&plan),
    };
    if matches!(command, BuildCmd::Details) && !g.quiet {
        say!("Builder: {kind}");
    }
    let Some(run) = run else {
        // A native build has no buildx builder: Kamal's create/remove/info do nothing.
        if !g.quiet && !matches!(command, BuildCmd::Details) {
            say!("The {kind} builder has no buildx builder to create or remove: nothing to do");
        }
        return Ok(0);
    };
    if g.dry_run {
        return Ok(crate::app_cmd::dry_run(&run.phases()));
    }
    let image = baton_core::commands::image_ref(cfg, &plan.version);
    let name = baton_core::commands::build::builder_name(cfg).unwrap_or_default();
    let render = |r: &StepResult| -> Option<String> {
        match (r.step.label, r.ok()) {
            ("build push", true) => Some(format!("built and pushed {image}")),
            ("build pull", true) => Some(format!("pulled {image}")),
            ("build create", true) => Some(format!("created builder {name}")),
            ("build remove", true) => Some(format!("removed builder {name}")),
            ("build details", true) => Some(r.stdout().to_string()),
            _ => None,
        }
    };
    Ok(execute(&plan, run, g, &render))
}

/// Run `run`; print what `render` makes of each step, per host (this
/// machine first); explain failures; the exit code.
fn execute(plan: &Plan, run: Run, g: &Global, render: &dyn Fn(&StepResult) -> Option<String>) -> i32 {
    let result = batch_cmd::run_machine(run.machine(), ssh_options(&plan.config), g.verbose);
    let mut by_host: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for r in result.results.iter().filter(|r| r.step.kind == Kind::Work) {
        if r.step.label == "ensure builder" && stderr(r).contains(MISSING_BUILDER) && !g.quiet {
            tell!("{MISSING_BUILDER}");
        }
        if let Some(t) = render(r).filter(|_| !g.quiet) {
            by_host.entry(r.step.host.as_str()).or_default().push(t);
        }
    }
    let hosts = std::iter::once(LOCAL).chain(plan.hosts.iter().map(String::as_str));
    for h in hosts {
        for t in by_host.get(h).into_iter().flatten() {
            say!("{h}: {}", t.trim_end());
        }
    }
    if let Some(lock) = result.lock_failed() {
        crate::report_lock_failure(plan, lock, g.verbose);
        return 1;
    }
    if result.interrupted() {
        return if result.outcome.is_err() { 130 } else { 1 };
    }
    let mut failed = false;
    for r in result.results.iter().filter(|r| !r.ok() && r.step.checked) {
        failed = true;
        match LocalCheck::from_label(r.step.label) {
            Some(check) => {
                let host = std::env::var("DOCKER_HOST").ok();
                let said = format!("{}\n{}", r.stdout(), stderr(r));
                tell!("error: {}", check.problem(plan.config.builder.kind(), host.as_deref(), &said));
            }
            None if r.step.kind == Kind::Unlock => tell!("warning: {}", batch_cmd::describe_failure(r)),
            None => tell!("{}", batch_cmd::describe_failure(r)),
        }
    }
    i32::from(failed)
}

fn stderr(r: &StepResult) -> &str {
    match &r.observation {
        baton_core::effect::Observation::Exited { stderr, .. } => stderr,
        _ => "",
    }
}

/// The hooks of `hooks_path` (else `.kamal/hooks`) that exist and are executable.
pub fn hooks(plan: &Plan, skip: bool) -> Hooks {
    use std::os::unix::fs::PermissionsExt;
    let dir = Hooks::dir_of(plan);
    let present = HOOKS
        .iter()
        .filter(|h| {
            std::fs::metadata(Path::new(&dir).join(h)).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .map(|h| h.to_string())
        .collect();
    Hooks { dir, present, skip }
}

/// `registry.username` and `registry.password`, each a value or `[ENV_NAME]`
/// (the environment, else `.env.<destination>`, else `.env`).
pub fn credentials(cfg: &Config, destination: Option<&str>) -> Result<Credentials, UsageError> {
    let env = load::secrets(destination)?;
    let resolve = |key: &str, r: &Option<SecretRef>| match r {
        Some(SecretRef::Literal(v)) => Ok(v.clone()),
        Some(SecretRef::Env(name)) => env.get(name).filter(|v| !v.is_empty()).cloned().ok_or_else(|| {
            UsageError::new(
                &format!("registry.{key}"),
                format!("the environment variable {name} is not set (nor in .env); set it, or add {name}=… to .env"),
            )
        }),
        None => Err(UsageError::new(&format!("registry.{key}"), "is missing; add it to the config")),
    };
    let username = resolve("username", &cfg.registry.username)?;
    let password = resolve("password", &cfg.registry.password)?;
    Ok(Credentials { username, password })
}

/// The Dockerfile and the context must be there, as Kamal checks the
/// Dockerfile before building.
pub fn check_build_files(cfg: &Config) -> Result<(), UsageError> {
    let b = &cfg.builder;
    if !Path::new(&b.context).is_dir() {
        return Err(UsageError::new(
            "builder.context",
            format!(
                "{:?} is not a directory here; run baton in the app's directory, or fix builder.context",
                b.context
            ),
        ));
    }
    if !Path::new(&b.dockerfile).is_file() {
        return Err(UsageError::new(
            "builder.dockerfile",
            format!(
                "Missing {}: there is no such file here; run baton in the app's directory, or set builder.dockerfile",
                b.dockerfile
            ),
        ));
    }
    Ok(())
}

/// Put the build's secrets (and build arguments without a value) that
/// only `.env` holds into baton's environment, which the build inherits,
/// as Kamal loads `.env` into its own. A secret set nowhere is refused.
pub fn export_build_env(cfg: &Config, destination: Option<&str>) -> Result<(), UsageError> {
    let names = cfg.builder.env_names();
    if names.is_empty() {
        return Ok(());
    }
    let env = load::secrets(destination)?;
    for name in names {
        if std::env::var_os(name).is_some() {
            continue;
        }
        match env.get(name) {
            // Before any thread is started: nothing else reads the environment yet.
            Some(v) => std::env::set_var(name, v),
            None if cfg.builder.secrets.iter().any(|s| s == name) => {
                return Err(UsageError::new(
                    "builder.secrets",
                    format!(
                        "the environment variable {name} is not set (nor in .env); set it, or add {name}=… to .env"
                    ),
                ))
            }
            None => {}
        }
    }
    Ok(())
}

/// Kamal's warning before a build: the paths `git status --porcelain` lists.
pub fn warn_uncommitted(quiet: bool) {
    let Ok(out) = std::process::Command::new("git").args(["status", "--porcelain"]).output() else { return };
    let text = String::from_utf8_lossy(&out.stdout);
    if quiet || !out.status.success() || text.trim().is_empty() {
        return;
    }
    tell!("warning: the following paths have uncommitted changes (the build includes them):");
    for l in text.lines() {
        tell!("  {l}");
    }
}
