//! A [`Plan`]: what to boot, where, and who asks. Built by the CLI from the
//! config and flags; checked here so that every driver gets the same rules.

use crate::config::{names, Config};
use std::fmt;

/// Who holds the lock and why, as written into the lock's details.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockInfo {
    /// `git config user.name`, else the local user.
    pub holder: String,
    /// UTC time, ISO 8601, read by the caller (the core has no clock).
    pub at_utc: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub config: Config,
    pub version: String,
    /// Hosts to boot on, in config order.
    pub hosts: Vec<String>,
    /// Roles to boot, in config order.
    pub roles: Vec<String>,
    /// Local user name for audit records.
    pub performer: String,
    pub lock: LockInfo,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanError {
    Version(String),
    UnknownRole { role: String, known: Vec<String> },
    UnknownHost { host: String, known: Vec<String> },
    NothingSelected,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::Version(e) => write!(f, "{e}"),
            PlanError::UnknownRole { role, known } => {
                write!(f, "--roles: there is no role {role:?} in the config (roles: {})", known.join(", "))
            }
            PlanError::UnknownHost { host, known } => {
                write!(f, "--hosts: {host:?} is not a host in the config (hosts: {})", known.join(", "))
            }
            PlanError::NothingSelected => {
                write!(f, "--hosts and --roles select no host: no role of those runs on those hosts")
            }
        }
    }
}
impl std::error::Error for PlanError {}

impl Plan {
    /// Select hosts and roles (None = all), check the version.
    pub fn new(
        config: Config,
        version: &str,
        only_hosts: Option<&[String]>,
        only_roles: Option<&[String]>,
        performer: &str,
        lock: LockInfo,
    ) -> Result<Plan, PlanError> {
        names::check_version(version).map_err(PlanError::Version)?;
        let known_roles: Vec<String> = config.roles.iter().map(|r| r.name.clone()).collect();
        if let Some(rs) = only_roles {
            for r in rs {
                if !known_roles.contains(r) {
                    return Err(PlanError::UnknownRole { role: r.clone(), known: known_roles });
                }
            }
        }
        let all_hosts = config.all_hosts();
        if let Some(hs) = only_hosts {
            for h in hs {
                if !all_hosts.contains(h) {
                    return Err(PlanError::UnknownHost { host: h.clone(), known: all_hosts });
                }
            }
        }
        let roles: Vec<String> =
            known_roles.into_iter().filter(|r| only_roles.is_none_or(|rs| rs.contains(r))).collect();
        let hosts: Vec<String> = all_hosts
            .into_iter()
            .filter(|h| only_hosts.is_none_or(|hs| hs.contains(h)))
            .filter(|h| config.roles_on(h).iter().any(|r| roles.contains(&r.name)))
            .collect();
        if hosts.is_empty() {
            return Err(PlanError::NothingSelected);
        }
        Ok(Plan { config, version: version.to_string(), hosts, roles, performer: performer.to_string(), lock })
    }

    /// Roles to boot on `host`, in config order.
    pub fn roles_on(&self, host: &str) -> Vec<String> {
        self.config.roles_on(host).into_iter().map(|r| r.name.clone()).filter(|r| self.roles.contains(r)).collect()
    }

    /// Hosts in boot groups, as `boot.limit` says (all at once without it).
    pub fn groups(&self) -> Vec<Vec<String>> {
        use crate::config::BootLimit;
        let n = self.hosts.len();
        let size = match self.config.boot.limit {
            None => n,
            Some(BootLimit::Count(c)) => c,
            Some(BootLimit::Percent(p)) => (n * p as usize / 100).max(1),
        }
        .max(1);
        self.hosts.chunks(size).map(|c| c.to_vec()).collect()
    }
}
