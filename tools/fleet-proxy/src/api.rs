//! The API: Traefik v2's `GET /api/http/services` and `GET /api/http/routers`,
//! in Traefik's JSON shape, from the table in force.

use crate::table::Table;
use serde_json::Value;

impl Table {
    pub fn services_json(&self) -> Value {
        Value::Array(
            self.services
                .iter()
                .map(|s| {
                    let full = format!("{}@docker", s.name);
                    let servers: Vec<Value> = s.servers.iter().map(|v| serde_json::json!({ "url": v.url })).collect();
                    let status: serde_json::Map<String, Value> =
                        s.servers.iter().map(|v| (v.url.clone(), Value::from("UP"))).collect();
                    let used_by: Vec<Value> = s.rule.iter().map(|_| Value::from(full.clone())).collect();
                    serde_json::json!({
                        "loadBalancer": { "servers": servers, "passHostHeader": true },
                        "status": "enabled",
                        "usedBy": used_by,
                        "serverStatus": status,
                        "name": full,
                        "provider": "docker",
                        "type": "loadbalancer",
                    })
                })
                .collect(),
        )
    }

    /// `entrypoints`: the routing entry points' names (Kamal's routers name
    /// none, so they are on all of them, as in Traefik).
    pub fn routers_json(&self, entrypoints: &[&str]) -> Value {
        Value::Array(
            self.services
                .iter()
                .filter_map(|s| {
                    let rule = s.rule.as_ref()?;
                    Some(serde_json::json!({
                        "entryPoints": entrypoints,
                        "service": s.name,
                        "rule": rule,
                        "priority": rule.len(),
                        "status": "enabled",
                        "using": entrypoints,
                        "name": format!("{}@docker", s.name),
                        "provider": "docker",
                    }))
                })
                .collect(),
        )
    }
}
