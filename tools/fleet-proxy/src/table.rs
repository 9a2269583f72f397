//! The routing table, and how it is read from the engine's state: Traefik's
//! docker provider in miniature.

use crate::docker::Docker;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicUsize;

#[derive(Clone, Debug, PartialEq)]
pub struct Server {
    pub url: String,
    pub addr: Option<SocketAddr>, // None when the scheme is not http
    pub container: String,
}

#[derive(Debug)]
pub struct Service {
    pub name: String, // without the @docker suffix
    pub rule: Option<String>,
    pub servers: Vec<Server>,
    pub next: AtomicUsize,
}

#[derive(Debug, Default)]
pub struct Table {
    pub services: Vec<Service>, // sorted by name, each with at least one server
}

fn label<'a>(labels: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a str> {
    labels.get(key).and_then(Value::as_str)
}

/// The Traefik services a container's labels name.
fn services_of(labels: &serde_json::Map<String, Value>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for key in labels.keys() {
        if let Some(s) =
            key.strip_prefix("traefik.http.services.").and_then(|k| k.strip_suffix(".loadbalancer.server.scheme"))
        {
            out.insert(s.to_string());
        }
        if let Some(s) = key.strip_prefix("traefik.http.routers.").and_then(|k| k.strip_suffix(".rule")) {
            out.insert(s.to_string());
        }
    }
    out.retain(|s| !s.is_empty() && !s.contains('.'));
    out
}

/// Read the engine's state now and build the routing table it implies.
pub fn snapshot(docker: &Docker) -> Result<Table, String> {
    let list = docker.get_json("/containers/json")?.unwrap_or(Value::Null);
    let list = list.as_array().ok_or("GET /containers/json: not a list")?;
    let mut services: BTreeMap<String, (Option<String>, Vec<Server>)> = BTreeMap::new();
    for c in list {
        let Some(labels) = c.get("Labels").and_then(Value::as_object) else { continue };
        if services_of(labels).is_empty() {
            continue;
        }
        let Some(id) = c.get("Id").and_then(Value::as_str) else { continue };
        // Gone since the list: not a target.
        let Some(info) = docker.get_json(&format!("/containers/{id}/json"))? else { continue };
        let state = &info["State"];
        if state["Running"] != Value::Bool(true) || state["Paused"] == Value::Bool(true) {
            continue;
        }
        if let Some(health) = state["Health"]["Status"].as_str() {
            if health != "healthy" {
                continue;
            }
        }
        let name = info["Name"].as_str().unwrap_or(id).trim_start_matches('/').to_string();
        let empty = serde_json::Map::new();
        let labels = info["Config"]["Labels"].as_object().unwrap_or(&empty);
        let networks = info["NetworkSettings"]["Networks"].as_object();
        let ip = networks.and_then(|nets| {
            let ip_of = |n: &Value| n["IPAddress"].as_str().filter(|ip| !ip.is_empty()).map(str::to_string);
            match label(labels, "traefik.docker.network") {
                Some(net) => nets.get(net).and_then(ip_of),
                None => {
                    let mut names: Vec<&String> = nets.keys().collect();
                    names.sort();
                    names.into_iter().find_map(|n| ip_of(&nets[n]))
                }
            }
        });
        let Some(ip) = ip.and_then(|ip| ip.parse::<IpAddr>().ok()) else {
            logf!("note: container {name} has no usable IP address: not routed");
            continue;
        };
        let exposed = info["Config"]["ExposedPorts"]
            .as_object()
            .map(|p| p.keys().filter_map(|k| k.strip_suffix("/tcp")).filter_map(|p| p.parse::<u16>().ok()).min());
        for s in services_of(labels) {
            let lb = format!("traefik.http.services.{s}.loadbalancer.server");
            let port = label(labels, &format!("{lb}.port")).and_then(|p| p.parse::<u16>().ok());
            let port = port.or(exposed.flatten()).unwrap_or(80);
            let scheme = label(labels, &format!("{lb}.scheme")).unwrap_or("http");
            let addr = SocketAddr::new(ip, port);
            let url = format!("{scheme}://{addr}");
            let entry = services.entry(s.clone()).or_default();
            if let Some(rule) = label(labels, &format!("traefik.http.routers.{s}.rule")) {
                entry.0.get_or_insert_with(|| rule.to_string());
            }
            entry.1.push(Server { url, addr: (scheme == "http").then_some(addr), container: name.clone() });
        }
    }
    let services = services
        .into_iter()
        .map(|(name, (rule, mut servers))| {
            servers.sort_by(|a, b| a.url.cmp(&b.url));
            servers.dedup_by(|a, b| a.url == b.url);
            Service { name, rule, servers, next: AtomicUsize::new(0) }
        })
        .collect();
    Ok(Table { services })
}

/// ``PathPrefix(`/p`)`` → `/p`.
fn path_prefix(rule: &str) -> Option<&str> {
    let inner = rule.trim().strip_prefix("PathPrefix(")?.strip_suffix(')')?.trim();
    inner.strip_prefix('`').and_then(|s| s.strip_suffix('`')).or_else(|| inner.strip_prefix('"')?.strip_suffix('"'))
}

impl Table {
    pub fn route(&self, path: &str) -> Option<&Service> {
        if self.services.len() == 1 {
            return self.services.first();
        }
        self.services
            .iter()
            .filter(|s| s.rule.as_deref().and_then(path_prefix).is_some_and(|p| path.starts_with(p)))
            .max_by(|a, b| {
                let len = |s: &Service| s.rule.as_ref().map_or(0, String::len);
                len(a).cmp(&len(b)).then_with(|| b.name.cmp(&a.name))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_prefix_rules() {
        assert_eq!(path_prefix("PathPrefix(`/`)"), Some("/"));
        assert_eq!(path_prefix("PathPrefix(`/api`)"), Some("/api"));
        assert_eq!(path_prefix("Host(`x`)"), None);
    }

    #[test]
    fn routing_prefers_the_longest_matching_rule() {
        let svc = |name: &str, rule: &str| Service {
            name: name.into(),
            rule: Some(rule.into()),
            servers: vec![Server { url: "http://1.2.3.4:80".into(), addr: None, container: name.into() }],
            next: AtomicUsize::new(0),
        };
        let t = Table { services: vec![svc("api", "PathPrefix(`/api`)"), svc("web", "PathPrefix(`/`)")] };
        assert_eq!(t.route("/api/x").map(|s| s.name.as_str()), Some("api"));
        assert_eq!(t.route("/version").map(|s| s.name.as_str()), Some("web"));
        let one = Table { services: vec![svc("api", "PathPrefix(`/api`)")] };
        assert_eq!(one.route("/version").map(|s| s.name.as_str()), Some("api"));
        assert!(Table::default().route("/").is_none());
    }
}
