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
    /// Roles to boot, in config order (sorted by name, as Kamal sorts them).
    pub roles: Vec<String>,
    /// The primary host of the selection, where `exec -i` and `logs -f`
    /// run (see [`Plan::primary_host`]).
    primary: String,
    /// Local user name for audit records.
    pub performer: String,
    pub lock: LockInfo,
    /// `--lock-wait`: how long to wait for a held deploy lock; None: fail at once.
    pub lock_wait: Option<crate::time::Millis>,
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
            PlanError::Version(e) => write!(f, "--version: {e}; pass a valid tag"),
            PlanError::UnknownRole { role, known } => {
                write!(f, "--roles: there is no role {role:?} in the config; use one of: {}", known.join(", "))
            }
            PlanError::UnknownHost { host, known } => {
                write!(f, "--hosts: {host:?} is not a host in the config; use one of: {}", known.join(", "))
            }
            PlanError::NothingSelected => write!(
                f,
                "--hosts/--roles: no selected role runs on the selected hosts; select hosts that run one of the roles"
            ),
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
        // Kamal's `primary_host`: the first selected host when hosts are
        // given, else the first host of the first selected role, else the
        // config's primary host.
        let role_host = |r: &String| config.role(r).and_then(|r| r.hosts.iter().find(|h| hosts.contains(h)));
        let primary = match (only_hosts, only_roles) {
            (Some(_), _) => hosts.first(),
            (None, Some(_)) => roles.iter().find_map(role_host),
            (None, None) => hosts.iter().find(|h| *h == config.primary_host()),
        };
        let primary = primary.unwrap_or(&hosts[0]).clone();
        Ok(Plan {
            config,
            version: version.to_string(),
            hosts,
            roles,
            primary,
            performer: performer.to_string(),
            lock,
            lock_wait: None,
        })
    }

    /// The primary host of the selection, as Kamal's: the first selected
    /// host when `--hosts` is given, else the first host of the first
    /// selected role, else the first host of the primary role. `exec -i` and
    /// `logs --follow` run there. (The deploy lock stays on the config's
    /// primary host, [`Plan::lock_host`], whatever is selected.)
    pub fn primary_host(&self) -> &str {
        &self.primary
    }

    /// The first selected role on the primary host, as Kamal's `primary_role`.
    pub fn primary_role(&self) -> String {
        self.roles_on(&self.primary).into_iter().next().unwrap_or_else(|| self.roles[0].clone())
    }

    /// Where the deploy lock lives: the config's primary host, even when it
    /// is not selected, so that a deploy of one role or host and a deploy
    /// of all of them take the same lock.
    pub fn lock_host(&self) -> &str {
        self.config.primary_host()
    }

    /// Every host a run contacts: the lock host, then the selected hosts.
    pub fn contacted_hosts(&self) -> Vec<String> {
        let mut out = self.hosts.clone();
        if !out.iter().any(|h| h == self.lock_host()) {
            out.insert(0, self.lock_host().to_string());
        }
        out
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
