//! The Docker engine's API over its unix socket, one HTTP/1.0 request per
//! connection (the engine then closes the connection and never chunks).

use baton_http::{Connection, Error, Head, Request, MAX_BODY_BYTES};
use serde_json::Value;
use std::fmt::Write as _;
use std::io::BufRead;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// How long the engine may take to answer (the event stream's body excepted).
const TIMEOUT: Duration = Duration::from_secs(10);

/// The events the proxy reacts to. Traefik's docker provider reacts to
/// `start`, `die` and `health_status*`; the others only make a snapshot
/// sooner (the state they lead to is read either way).
pub const EVENTS: &[&str] = &["start", "die", "stop", "kill", "destroy", "rename", "pause", "unpause", "health_status"];

pub struct Docker {
    /// The engine's socket, a path.
    pub socket: String,
}

impl Docker {
    /// Send `GET path` and read the answer's head.
    fn request(&self, path: &str) -> Result<(Head, Connection<UnixStream>), Error> {
        let mut conn = Connection::unix(&self.socket)?;
        conn.set_deadline(Some(Instant::now() + TIMEOUT));
        conn.send(&Request::get(path).http10().with_header("Host", "docker").with_header("User-Agent", "fleet-proxy"))?;
        let head = conn.read_head()?;
        Ok((head, conn))
    }

    /// GET `path` as JSON; `Ok(None)` on 404.
    pub fn get_json(&self, path: &str) -> Result<Option<Value>, String> {
        let fail = |e: Error| format!("GET {path}: {e}");
        let (head, mut conn) = self.request(path).map_err(fail)?;
        let (body, _) = conn.read_body(&head, false, MAX_BODY_BYTES).map_err(fail)?;
        match head.status {
            200 => serde_json::from_slice(&body).map(Some).map_err(|e| format!("GET {path}: bad JSON: {e}")),
            404 => Ok(None),
            code => Err(format!("GET {path}: {code} {}", String::from_utf8_lossy(&body).trim())),
        }
    }

    /// The engine's event stream (containers only, filtered on the engine's
    /// side to [`EVENTS`]): one JSON object a line, for as long as the
    /// engine runs.
    pub fn events(&self) -> Result<impl BufRead, String> {
        let (head, mut conn) = self.request(&events_path()).map_err(|e| format!("{}: {e}", self.socket))?;
        if head.status != 200 {
            return Err(format!("GET /events: {}", head.status));
        }
        conn.set_deadline(None);
        Ok(conn.into_reader())
    }
}

fn events_path() -> String {
    let list = EVENTS.iter().map(|e| format!("\"{e}\"")).collect::<Vec<_>>().join(",");
    let filters = format!("{{\"type\":[\"container\"],\"event\":[{list}]}}");
    format!("/events?filters={}", percent_encode(&filters))
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}
