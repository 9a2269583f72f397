//! One parser per docker output baton reads. Each takes the command's stdout
//! and returns typed data, or an error that quotes what Docker printed.

mod health_log;

pub use health_log::{parse_health_log, HealthRun};
use serde::Deserialize;
use std::fmt;

/// Docker printed something baton did not expect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub what: &'static str,
    pub output: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self.output.chars().take(200).collect();
        write!(f, "could not read {} from docker's output {:?}", self.what, shown)
    }
}
impl std::error::Error for ParseError {}

/// A container's state as `docker ps --format {{.State}}` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    Created,
    Running,
    Restarting,
    Paused,
    Exited,
    Removing,
    Dead,
}

impl State {
    pub fn parse(s: &str) -> Option<State> {
        Some(match s {
            "created" => State::Created,
            "running" => State::Running,
            "restarting" => State::Restarting,
            "paused" => State::Paused,
            "exited" => State::Exited,
            "removing" => State::Removing,
            "dead" => State::Dead,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Running => "running",
            State::Restarting => "restarting",
            State::Paused => "paused",
            State::Exited => "exited",
            State::Removing => "removing",
            State::Dead => "dead",
        }
    }
    /// Running or about to run again: Kamal's "current" container filter.
    pub fn is_live(self) -> bool {
        matches!(self, State::Running | State::Restarting)
    }
}

/// One line of [`crate::commands::list_role_containers`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PsEntry {
    pub name: String,
    pub state: State,
}

/// Parse `name<TAB>state` lines (newest first, as docker lists them).
pub fn parse_ps(stdout: &str) -> Result<Vec<PsEntry>, ParseError> {
    let mut out = vec![];
    for line in stdout.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
        let err = || ParseError { what: "the container list", output: line.to_string() };
        let (name, state) = line.split_once('\t').ok_or_else(err)?;
        let state = State::parse(state.trim()).ok_or_else(err)?;
        if name.is_empty() {
            return Err(err());
        }
        out.push(PsEntry { name: name.to_string(), state });
    }
    Ok(out)
}

/// A health check's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Starting,
    Healthy,
    Unhealthy,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Starting => "starting",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
    }
}

/// What `docker inspect --format STATUS_FORMAT` says: the state, and the
/// health when the container has a health check. Reading both lets baton
/// tell a crashed container (exited, restarting) from a slow one, which
/// Kamal's health-or-state format cannot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    pub state: State,
    pub health: Option<Health>,
}

impl Status {
    /// `running healthy`, `exited`, …
    pub fn render(self) -> String {
        match self.health {
            Some(h) => format!("{} {}", self.state.as_str(), h.as_str()),
            None => self.state.as_str().to_string(),
        }
    }
}

/// A status read with its health check's failing streak (how many checks
/// in a row failed; Docker marks the container unhealthy at its retries).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    pub status: Status,
    pub failing_streak: u64,
}

/// Parse [`crate::commands::STATUS_FORMAT`]: `state [health [streak]]`. A
/// missing streak (an older format) reads as 0.
pub fn parse_probe(stdout: &str) -> Result<Probe, ParseError> {
    let s = stdout.trim();
    let err = || ParseError { what: "a container's status", output: s.to_string() };
    let (head, streak) = match s.rsplit_once(' ') {
        Some((head, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => (head, Some(n)),
        _ => (s, None),
    };
    let status = parse_status(head).map_err(|_| err())?;
    let failing_streak = match streak {
        None => 0,
        Some(_) if status.health.is_none() => return Err(err()),
        Some(n) => n.parse().map_err(|_| err())?,
    };
    Ok(Probe { status, failing_streak })
}

pub fn parse_status(stdout: &str) -> Result<Status, ParseError> {
    let s = stdout.trim();
    let err = || ParseError { what: "a container's status", output: s.to_string() };
    let mut words = s.split_whitespace();
    let state = words.next().and_then(State::parse).ok_or_else(err)?;
    let health = match words.next() {
        None => None,
        Some("starting") => Some(Health::Starting),
        Some("healthy") => Some(Health::Healthy),
        Some("unhealthy") => Some(Health::Unhealthy),
        Some(_) => return Err(err()),
    };
    if words.next().is_some() {
        return Err(err());
    }
    Ok(Status { state, health })
}

/// One entry of `docker inspect --format '{{json .Mounts}}'`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Mount {
    #[serde(rename = "Source", default)]
    pub source: String,
    #[serde(rename = "Destination")]
    pub destination: String,
}

pub fn parse_mounts(stdout: &str) -> Result<Vec<Mount>, ParseError> {
    let s = stdout.trim();
    if s == "null" || s.is_empty() {
        return Ok(vec![]);
    }
    serde_json::from_str(s).map_err(|_| ParseError { what: "a container's mounts", output: s.to_string() })
}

/// The source of the mount at `destination` (the cord), whichever position
/// it has among the mounts (Kamal 1.0 failed when it was not the first).
pub fn cord_source<'a>(mounts: &'a [Mount], destination: &str) -> Option<&'a str> {
    mounts.iter().find(|m| m.destination.trim_end_matches('/') == destination).map(|m| m.source.as_str())
}

/// IP addresses from [`crate::commands::addresses`].
pub fn parse_addresses(stdout: &str) -> Vec<String> {
    stdout.split_whitespace().filter(|w| !w.is_empty() && *w != "invalid").map(str::to_string).collect()
}

/// Traefik v2's `/api/http/services`: service name (without `@provider`)
/// → the hosts of its servers' URLs.
pub fn parse_traefik_services(stdout: &str) -> Result<std::collections::BTreeMap<String, Vec<String>>, ParseError> {
    let err = || ParseError { what: "the proxy's routing table", output: stdout.trim().to_string() };
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).map_err(|_| err())?;
    let list = v.as_array().ok_or_else(err)?;
    let mut out = std::collections::BTreeMap::new();
    for s in list {
        let name = s.get("name").and_then(|n| n.as_str()).ok_or_else(err)?;
        let name = name.split('@').next().unwrap_or(name).to_string();
        let servers = s.pointer("/loadBalancer/servers").and_then(|x| x.as_array()).cloned().unwrap_or_default();
        let hosts = servers
            .iter()
            .filter_map(|srv| srv.get("url").and_then(|u| u.as_str()))
            .filter_map(|u| {
                let rest = u.split("://").nth(1)?;
                let hostport = rest.split('/').next()?;
                Some(hostport.rsplit_once(':').map_or(hostport, |(h, _)| h).trim_matches(['[', ']']).to_string())
            })
            .collect();
        out.insert(name, hosts);
    }
    Ok(out)
}

/// Versions from container names: `<prefix>-<version>`; other names are skipped.
pub fn versions_from_names<'a>(names: impl IntoIterator<Item = &'a str>, prefix: &str) -> Vec<String> {
    names
        .into_iter()
        .filter_map(|n| n.trim().strip_prefix(prefix).and_then(|r| r.strip_prefix('-')))
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_lines() {
        let out = "app-web-v2\trunning\napp-web-v1\texited\n";
        assert_eq!(
            parse_ps(out).unwrap(),
            vec![
                PsEntry { name: "app-web-v2".into(), state: State::Running },
                PsEntry { name: "app-web-v1".into(), state: State::Exited },
            ]
        );
        assert_eq!(parse_ps("").unwrap(), vec![]);
        assert!(parse_ps("app-web-v2 running").is_err());
        assert!(parse_ps("app-web-v2\tsleeping").is_err());
    }

    #[test]
    fn status() {
        assert_eq!(
            parse_status("running healthy\n").unwrap(),
            Status { state: State::Running, health: Some(Health::Healthy) }
        );
        assert_eq!(parse_status("running").unwrap(), Status { state: State::Running, health: None });
        assert_eq!(parse_status("exited unhealthy").unwrap().state, State::Exited);
        let e = parse_status("Error: No such object: x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "could not read a container's status from docker's output \"Error: No such object: x\""
        );
        assert!(parse_status("running healthy extra").is_err());
        assert!(parse_status("running fine").is_err());
    }

    #[test]
    fn probe() {
        let p = parse_probe("running starting 2\n").unwrap();
        assert_eq!(p.status, Status { state: State::Running, health: Some(Health::Starting) });
        assert_eq!(p.failing_streak, 2);
        assert_eq!(parse_probe("running healthy").unwrap().failing_streak, 0);
        assert_eq!(parse_probe("exited").unwrap().status.state, State::Exited);
        assert!(parse_probe("running 3").is_err(), "a streak without a health");
        assert!(parse_probe("running healthy 99999999999999999999999").is_err());
        assert!(parse_probe("running healthy -1").is_err());
        assert!(parse_probe("").is_err());
    }

    #[test]
    fn cord_is_found_among_several_mounts() {
        let out = r#"[{"Type":"bind","Source":"/data","Destination":"/data","Mode":"","RW":true},{"Type":"bind","Source":"/root/.kamal/cords/app-web-abc","Destination":"/tmp/kamal-cord","Mode":"","RW":true}]"#;
        let m = parse_mounts(out).unwrap();
        assert_eq!(cord_source(&m, "/tmp/kamal-cord"), Some("/root/.kamal/cords/app-web-abc"));
        assert_eq!(parse_mounts("null").unwrap(), vec![]);
        assert_eq!(parse_mounts("[]\n").unwrap(), vec![]);
        assert!(parse_mounts("[{").is_err());
    }

    #[test]
    fn traefik_services() {
        let out = r#"[{"loadBalancer":{"servers":[{"url":"http://172.30.1.2:3000"},{"url":"http://172.30.1.3:3000"}],"passHostHeader":true},"status":"enabled","usedBy":["app-web@docker"],"serverStatus":{"http://172.30.1.2:3000":"UP"},"name":"app-web@docker","provider":"docker"},{"name":"api@internal","provider":"internal","status":"enabled"}]"#;
        let m = parse_traefik_services(out).unwrap();
        assert_eq!(m["app-web"], vec!["172.30.1.2", "172.30.1.3"]);
        assert_eq!(m["api"], Vec::<String>::new());
        assert!(parse_traefik_services("404 page not found").is_err());
        assert_eq!(parse_addresses("172.30.1.2 \n"), vec!["172.30.1.2"]);
    }

    #[test]
    fn versions() {
        let v = versions_from_names(["app-web-v2", "app-web-v1_replaced_0011", "other-x", "app-web-"], "app-web");
        assert_eq!(v, vec!["v2", "v1_replaced_0011"]);
    }
}
