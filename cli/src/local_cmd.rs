//! The commands that work on local files only: `config`, `init` and the
//! first half of `envify` (the second half is `env push`).

use crate::args::Global;
use crate::load::{self, UsageError};
use baton_core::config::document;
use std::io::Write;
use std::path::Path;

/// `baton config`: the merged, evaluated config as YAML, secrets redacted.
pub fn config(g: &Global) -> Result<i32, UsageError> {
    let files = load::read_config(&g.config_file, g.destination.as_deref())?;
    load::parse_config(&files, g.quiet)?;
    let doc = document::merged(files.base_source(), files.dest_source())
        .map_err(|e| UsageError(e.problems.iter().map(|p| p.to_string()).collect()))?;
    // Values of the secret variables themselves, in case one was also
    // written into the config by hand.
    let env = load::secrets(g.destination.as_deref())?;
    let mut secrets = files.secrets();
    let names = document::secret_names(&doc);
    secrets.extend(names.iter().filter_map(|n| env.get(n)).map(String::as_str));
    crate::out::print(&document::redacted_yaml(doc, &secrets));
    Ok(0)
}

const DEPLOY_TEMPLATE: &str = include_str!("templates/deploy.yml");
const ENV_TEMPLATE: &str = include_str!("templates/env");
const HOOKS: &[(&str, &str)] = &[
    ("pre-connect.sample", include_str!("templates/hooks/pre-connect.sample")),
    ("pre-build.sample", include_str!("templates/hooks/pre-build.sample")),
    ("pre-deploy.sample", include_str!("templates/hooks/pre-deploy.sample")),
    ("post-deploy.sample", include_str!("templates/hooks/post-deploy.sample")),
];

/// `baton init`: create what is missing, in the current directory; never
/// overwrite.
pub fn init(bundle: bool) -> Result<i32, UsageError> {
    if bundle {
        return Err(UsageError::new(
            "--bundle",
            "Kamal adds its gem to the Gemfile and creates bin/kamal; baton is a single binary, not a gem, so there is nothing to add; run `baton init` without it, and install baton as the README says",
        ));
    }
    let io = |path: &str, e: std::io::Error| {
        UsageError::new(path, format!("cannot be created ({e}); check the directory's permissions"))
    };
    let deploy = Path::new("config/deploy.yml");
    if deploy.exists() {
        println!("config/deploy.yml already exists; left as it is (remove it first to create a new one)");
    } else {
        std::fs::create_dir_all("config").map_err(|e| io("config", e))?;
        write_new(deploy, DEPLOY_TEMPLATE, 0o644).map_err(|e| io("config/deploy.yml", e))?;
        println!("Created config/deploy.yml");
    }
    let env = Path::new(".env");
    if env.exists() {
        println!(".env already exists; left as it is");
    } else {
        write_new(env, ENV_TEMPLATE, 0o600).map_err(|e| io(".env", e))?;
        println!("Created .env (mode 0600; keep it out of version control)");
    }
    let hooks = Path::new(".kamal/hooks");
    if hooks.exists() {
        println!(".kamal/hooks already exists; left as it is (remove it first to get the sample hooks)");
    } else {
        std::fs::create_dir_all(hooks).map_err(|e| io(".kamal/hooks", e))?;
        for (name, text) in HOOKS {
            let path = hooks.join(name);
            write_new(&path, text, 0o755).map_err(|e| io(&path.display().to_string(), e))?;
        }
        println!("Created sample hooks in .kamal/hooks (remove .sample from a name to run it)");
    }
    Ok(0)
}

/// Create `path` with `text` and `mode`; fail if it exists.
fn write_new(path: &Path, text: &str, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path)?;
    // The umask may have taken bits away from an executable hook.
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    f.write_all(text.as_bytes())
}

/// `baton envify`, the local half: evaluate `.env[.<dest>].erb` and write
/// `.env[.<dest>]` with mode 0600 (or, with `dry_run`, say what would be
/// written). The values are never printed.
pub fn envify(destination: Option<&str>, dry_run: bool, quiet: bool) -> Result<Vec<(String, String)>, UsageError> {
    let (template, target) = match destination {
        Some(d) => (format!(".env.{d}.erb"), format!(".env.{d}")),
        None => (".env.erb".to_string(), ".env".to_string()),
    };
    let text = std::fs::read_to_string(&template).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => UsageError::new(
            &template,
            format!("no such file; envify writes {target} from it: create it (NAME=<%= ENV.fetch(\"NAME\") %> lines), or write {target} yourself"),
        ),
        _ => UsageError::new(&template, format!("cannot be read ({e}); check its permissions")),
    })?;
    let env = load::secrets(destination)?;
    let evaluated = baton_core::erb::evaluate(&template, &text, &|k| env.get(k).cloned())
        .map_err(|es| UsageError(es.iter().map(|e| e.to_string()).collect()))?;
    // What is written must read back as an env file.
    let pairs = baton_core::ops::parse_dotenv(&evaluated.text).map_err(|(line, _)| {
        UsageError::new(
            &format!("{template}:{line}"),
            "evaluates to a line that is not NAME=VALUE (not shown: it may hold a secret); fix the template",
        )
    })?;
    let lines = pairs.len();
    if dry_run {
        println!("Would write {target} ({lines} variables, mode 0600) from {template}; nothing written (--dry-run)");
        return Ok(pairs);
    }
    write_private(Path::new(&target), &evaluated.text)
        .map_err(|e| UsageError::new(&target, format!("cannot be written ({e}); check its permissions")))?;
    if !quiet {
        println!("Wrote {target} ({lines} variables, mode 0600) from {template}");
    }
    Ok(pairs)
}

/// Write `text` to `path` with mode 0600, also when the file exists with a
/// wider mode: the mode is narrowed before any byte is written.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(false).mode(0o600).open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.set_len(0)?;
    f.write_all(text.as_bytes())
}
