//! Host-side names and paths, written in one place: container names, the
//! run directory, cord directories, the lock and env files. Each is Kamal
//! 1.0's, so that baton and Kamal find each other's state.

use crate::config::Config;

/// A path under the run directory. A relative run directory lives in the
/// remote user's home (where an SSH command starts).
pub fn run_path(cfg: &Config, rest: &str) -> String {
    format!("{}/{}", cfg.run_directory.trim_end_matches('/'), rest)
}

/// `<service>-<role>[-<dest>]-<version>`
pub fn container_name(cfg: &Config, role: &str, version: &str) -> String {
    format!("{}-{}", cfg.role_full_name(role), version)
}

/// `.kamal/env/roles/<service>-<role>[-<dest>].env`
pub fn env_file_path(cfg: &Config, role: &str) -> String {
    run_path(cfg, &format!("env/roles/{}.env", cfg.role_full_name(role)))
}

/// `.kamal/lock-<service>`
pub fn lock_dir(cfg: &Config) -> String {
    run_path(cfg, &format!("lock-{}", cfg.service))
}

/// A role's cord directory for one run:
/// `<run directory>/cords/<service>-<role>[-<dest>]-<run id>`. It formats
/// the path baton writes, and recognises the paths it may delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CordDir {
    /// The directory as written on the host: relative to the remote home
    /// unless the run directory is absolute.
    pub path: String,
}

impl CordDir {
    pub fn new(cfg: &Config, role: &str, run_id: &str) -> CordDir {
        CordDir { path: run_path(cfg, &format!("cords/{}-{run_id}", cfg.role_full_name(role))) }
    }

    /// The run id of `dir` when it is an absolute cord directory of the role
    /// whose full name is `full_name` (`…/cords/<full_name>-<run id>`), as
    /// read from a container's mounts. baton deletes nothing else.
    pub fn run_id_of<'a>(dir: &'a str, full_name: &str) -> Option<&'a str> {
        let mut parts = dir.trim_end_matches('/').rsplit('/');
        let last = parts.next().unwrap_or("");
        let parent = parts.next().unwrap_or("");
        if !dir.starts_with('/') || parent != "cords" {
            return None;
        }
        last.strip_prefix(full_name)
            .and_then(|r| r.strip_prefix('-'))
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cord_dirs_are_recognised_only_for_their_role() {
        assert_eq!(CordDir::run_id_of("/root/.kamal/cords/app-web-abc123", "app-web"), Some("abc123"));
        assert_eq!(CordDir::run_id_of("/root/.kamal/cords/app-web-abc123/", "app-web"), Some("abc123"));
        assert_eq!(CordDir::run_id_of("/root/.kamal/cords/app-web-stg-abc", "app-web"), None);
        assert_eq!(CordDir::run_id_of(".kamal/cords/app-web-abc", "app-web"), None, "relative");
        assert_eq!(CordDir::run_id_of("/root/.kamal/app-web-abc", "app-web"), None, "not under cords/");
        assert_eq!(CordDir::run_id_of("/root/.kamal/cords/app-web-", "app-web"), None, "no run id");
        assert_eq!(CordDir::run_id_of("/", "app-web"), None);
    }
}
