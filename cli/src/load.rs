//! Reading the config files and resolving the version: the only place the
//! CLI touches the local filesystem and git for the core.

use baton_core::config::{Config, ConfigError, Source};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A failure the user must fix before anything runs (exit code 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for UsageError {}

/// `config/deploy.<dest>.yml` beside `config/deploy.yml`.
pub fn destination_path(base: &Path, dest: &str) -> PathBuf {
    let stem = base.file_stem().and_then(|s| s.to_str()).unwrap_or("deploy");
    let ext = base.extension().and_then(|s| s.to_str()).unwrap_or("yml");
    base.with_file_name(format!("{stem}.{dest}.{ext}"))
}

fn read(path: &Path, what: &str) -> Result<String, UsageError> {
    std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            UsageError(format!(
                "{what} {} not found. Run baton in your app's directory (the one holding config/deploy.yml), or pass -c/--config-file PATH",
                path.display()
            ))
        } else {
            UsageError(format!("cannot read {what} {}: {e}", path.display()))
        }
    })
}

/// Load and validate the config; print its warnings to stderr.
pub fn load_config(path: &Path, destination: Option<&str>, quiet: bool) -> Result<Config, UsageError> {
    let text = read(path, "config file")?;
    let name = path.display().to_string();
    let dest = match destination {
        Some(d) => {
            let p = destination_path(path, d);
            Some((d.to_string(), p.display().to_string(), read(&p, &format!("destination {d:?}: config file"))?))
        }
        None => None,
    };
    let parsed = Config::parse(
        Source { name: &name, text: &text },
        dest.as_ref().map(|(d, n, t)| (d.as_str(), Source { name: n, text: t })),
    );
    match parsed {
        Ok(cfg) => {
            if !quiet {
                for w in &cfg.warnings {
                    eprintln!("warning: {w}");
                }
            }
            Ok(cfg)
        }
        Err(ConfigError { problems }) => {
            let lines: Vec<String> = problems.iter().map(|p| format!("error: {p}")).collect();
            Err(UsageError(lines.join("\n")))
        }
    }
}

/// Kamal's version rule: `--version`, then `$VERSION`, then the git HEAD
/// (with `_uncommitted_<16 hex>` when the work tree has changes).
pub fn resolve_version(flag: Option<&str>) -> Result<String, UsageError> {
    if let Some(v) = flag {
        return Ok(v.to_string());
    }
    if let Ok(v) = std::env::var("VERSION") {
        if !v.is_empty() {
            return Ok(v);
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
        _ => Err(UsageError(
            "no version given: pass -v/--version VERSION, set $VERSION, or run inside a git repository (baton then uses its HEAD)".into(),
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

/// Secret values: the process environment, then `.env.<destination>`, then
/// `.env` (a file never overrides the environment, as dotenv does).
pub fn secrets(destination: Option<&str>) -> Result<std::collections::BTreeMap<String, String>, UsageError> {
    let mut map: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let mut files = vec![];
    if let Some(d) = destination {
        files.push(format!(".env.{d}"));
    }
    files.push(".env".to_string());
    for f in files {
        let text = match std::fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(UsageError(format!("cannot read {f}: {e}"))),
        };
        let pairs =
            baton_core::ops::parse_dotenv(&text).map_err(|(line, msg)| UsageError(format!("{f}:{line}: {msg}")))?;
        for (k, v) in pairs {
            map.entry(k).or_insert(v);
        }
    }
    Ok(map)
}
