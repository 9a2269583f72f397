//! Reading the config files and resolving the version: the only place the
//! CLI touches the local filesystem and git for the core.

use baton_core::config::{document, Config, ConfigError, Source};
use baton_core::erb;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A failure the user must fix before anything runs (exit code 2): one or
/// more problems, each `[FILE:LINE: ]key: what is wrong; what to do`. It is
/// printed with `error: ` before each.
#[derive(Debug)]
pub struct UsageError(pub Vec<String>);

impl UsageError {
    /// One problem: `key: what is wrong; what to do`.
    pub fn new(key: &str, message: impl std::fmt::Display) -> UsageError {
        UsageError(vec![format!("{key}: {message}")])
    }
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, line) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "error: {line}")?;
        }
        Ok(())
    }
}
impl std::error::Error for UsageError {}

/// `config/deploy.<dest>.yml` beside `config/deploy.yml`.
pub fn destination_path(base: &Path, dest: &str) -> PathBuf {
    let stem = base.file_stem().and_then(|s| s.to_str()).unwrap_or("deploy");
    let ext = base.extension().and_then(|s| s.to_str()).unwrap_or("yml");
    base.with_file_name(format!("{stem}.{dest}.{ext}"))
}

/// Read a config file; `missing` says what to do when it does not exist.
fn read(path: &Path, missing: &str) -> Result<String, UsageError> {
    let name = path.display().to_string();
    if path.is_dir() {
        return Err(UsageError::new(
            &name,
            "is a directory, not a config file; pass the file itself, e.g. -c config/deploy.yml",
        ));
    }
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => UsageError::new(&name, format!("no such file; {missing}")),
        std::io::ErrorKind::InvalidData => UsageError::new(&name, "is not UTF-8 text; save it as UTF-8"),
        _ => UsageError::new(&name, format!("cannot be read ({e}); check its permissions")),
    })
}

/// The config files, read, with their ERB evaluated.
pub struct Files {
    pub base: (String, String),
    /// The destination, its file's name and text.
    pub dest: Option<(String, String, String)>,
    /// Values that ERB read from a variable holding a secret (`env.secret`,
    /// `registry.password`), and a `registry.password` given as a value:
    /// never shown, in errors or in `baton config`.
    pub secret_values: Vec<String>,
}

impl Files {
    pub fn base_source(&self) -> Source<'_> {
        Source { name: &self.base.0, text: &self.base.1 }
    }
    pub fn dest_source(&self) -> Option<Source<'_>> {
        self.dest.as_ref().map(|(_, n, t)| Source { name: n, text: t })
    }
    pub fn secrets(&self) -> Vec<&str> {
        self.secret_values.iter().map(String::as_str).collect()
    }
}

/// Read `path` (and the destination's file) and evaluate their ERB with the
/// process environment and the .env files (read first, as Kamal does).
pub fn read_config(path: &Path, destination: Option<&str>) -> Result<Files, UsageError> {
    let text = read(
        path,
        "run baton in your app's directory (the one holding config/deploy.yml), or pass -c/--config-file PATH",
    )?;
    let name = path.display().to_string();
    let dest = match destination {
        Some(d) => {
            let p = destination_path(path, d);
            let missing =
                format!("-d {d} reads it beside {name}: create it (it may be empty), or check the destination's name");
            Some((d.to_string(), p.display().to_string(), read(&p, &missing)?))
        }
        None => None,
    };
    let tagged = erb::has_tags(&text) || dest.as_ref().is_some_and(|(_, _, t)| erb::has_tags(t));
    if !tagged {
        return Ok(Files { base: (name, text), dest, secret_values: vec![] });
    }
    let env = secrets(destination)?;
    let lookup = |k: &str| env.get(k).cloned();
    let mut errors = vec![];
    let mut subs = vec![];
    let mut eval = |file: &str, text: &str| match erb::evaluate(file, text, &lookup) {
        Ok(e) => {
            subs.extend(e.substitutions);
            e.text
        }
        Err(es) => {
            errors.extend(es.iter().map(|e| e.to_string()));
            String::new()
        }
    };
    let text = eval(&name, &text);
    let dest = dest.map(|(d, n, t)| {
        let t = eval(&n, &t);
        (d, n, t)
    });
    if !errors.is_empty() {
        return Err(UsageError(errors));
    }
    let mut files = Files { base: (name, text), dest, secret_values: vec![] };
    if let Ok(doc) = document::merged(files.base_source(), files.dest_source()) {
        let names = document::secret_names(&doc);
        let mut values: Vec<String> = subs.into_iter().filter(|s| names.contains(&s.var)).map(|s| s.value).collect();
        let password = doc.get("registry").and_then(|r| r.get("password")).and_then(|p| p.as_str());
        values.extend(password.map(str::to_string));
        values.retain(|v| !v.is_empty());
        files.secret_values = values;
    }
    Ok(files)
}

/// Load and validate the config; print its warnings to stderr.
pub fn load_config(path: &Path, destination: Option<&str>, quiet: bool) -> Result<Config, UsageError> {
    let files = read_config(path, destination)?;
    parse_config(&files, quiet)
}

/// Validate read files; print their warnings to stderr. A message never
/// shows a secret value ERB put in the config.
pub fn parse_config(files: &Files, quiet: bool) -> Result<Config, UsageError> {
    let secrets = files.secrets();
    let parsed = Config::parse(
        files.base_source(),
        files.dest.as_ref().map(|(d, n, t)| (d.as_str(), Source { name: n, text: t })),
    );
    match parsed {
        Ok(cfg) => {
            if !quiet {
                for w in &cfg.warnings {
                    eprintln!("warning: {}", document::redact_text(&w.to_string(), &secrets));
                }
            }
            Ok(cfg)
        }
        Err(ConfigError { problems }) => {
            Err(UsageError(problems.iter().map(|p| document::redact_text(&p.to_string(), &secrets)).collect()))
        }
    }
}

/// Kamal's version rule: `--version`, then `$VERSION`, then the git HEAD
/// (with `_uncommitted_<16 hex>` when the work tree has changes). A version
/// Docker would refuse as a tag is refused, naming where it came from.
pub fn resolve_version(flag: Option<&str>) -> Result<String, UsageError> {
    let checked = |v: String, from: &str, fix: &str| match baton_core::config::names::check_version(&v) {
        Ok(()) => Ok(v),
        Err(e) => Err(UsageError::new(from, format!("{e}; {fix}"))),
    };
    if let Some(v) = flag {
        return checked(v.to_string(), "--version", "pass a valid tag");
    }
    if let Ok(v) = std::env::var("VERSION") {
        if !v.is_empty() {
            return checked(v, "$VERSION", "set $VERSION to a valid tag, or pass --version VERSION");
        }
    }
    let head = Command::new("git").args(["rev-parse", "HEAD"]).output();
    match head {
        Ok(o) if o.status.success() => {
            let sha = String::from_utf8_lossy(&o.stdout).trim().to_string();
            let dirty = Command::new("git")
                .args(["status", "--porcelain"])
                .output()
                .map(|o| !o.stdout.is_empty())
                .unwrap_or(false);
            if dirty {
                Ok(format!("{sha}_uncommitted_{}", random_hex(16)))
            } else {
                Ok(sha)
            }
        }
        _ => Err(UsageError::new(
            "--version",
            "no version given, no $VERSION, and this is not a git repository; pass --version VERSION, set $VERSION, or run inside a git repository (baton then uses its HEAD)",
        )),
    }
}

/// Hex from the OS's randomness (run ids, suffixes); the core only takes seeds.
pub fn random_hex(n: usize) -> String {
    let mut s = String::new();
    while s.len() < n {
        s.push_str(&format!("{:016x}", random_u64()));
    }
    s.truncate(n);
    s
}

pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from the OS; two of them differ.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.finish()
}

/// What `envify --dry-run` would have written, read as if it had been.
static UNWRITTEN: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(vec![]);

/// Make [`secrets`] read `pairs` as the contents of the env file envify
/// would have written (after the process environment, before the files).
pub fn set_unwritten(pairs: Vec<(String, String)>) {
    *UNWRITTEN.lock().unwrap_or_else(|e| e.into_inner()) = pairs;
}

/// Secret values: the process environment, then `.env.<destination>`, then
/// `.env` (a file never overrides the environment, as dotenv does).
pub fn secrets(destination: Option<&str>) -> Result<std::collections::BTreeMap<String, String>, UsageError> {
    let mut map: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    for (k, v) in UNWRITTEN.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        map.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let mut files = vec![];
    if let Some(d) = destination {
        files.push(format!(".env.{d}"));
    }
    files.push(".env".to_string());
    for f in files {
        let text = match std::fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(UsageError::new(&f, format!("cannot be read ({e}); check its permissions"))),
        };
        let pairs = baton_core::ops::parse_dotenv(&text)
            .map_err(|(line, msg)| UsageError::new(&format!("{f}:{line}"), format!("{msg}; write KEY=VALUE")))?;
        for (k, v) in pairs {
            map.entry(k).or_insert(v);
        }
    }
    Ok(map)
}
