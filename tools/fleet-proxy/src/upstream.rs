//! Forwarding one request to one container, and relaying its answer. No
//! retries: a failed upstream is a failed request (502, or 504 on a timeout).

use crate::table::Server;
use baton_http::{Connection, Request, Response, MAX_BODY_BYTES};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

fn hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.contains(&name.to_ascii_lowercase().as_str())
}

/// A forward slower than this is logged with its phases, so that a client's
/// timeout can be traced to the connect or the answer.
const SLOW: Duration = Duration::from_millis(500);

/// One request to one upstream server, on a new connection (HTTP/1.0,
/// `Connection: close`), connect and answer within `timeout`.
/// Err((status, why)).
pub fn forward(
    req: &Request,
    server: &Server,
    client: SocketAddr,
    timeout: Duration,
) -> Result<Response, (u16, String)> {
    let Some(addr) = server.addr else { return Err((502, format!("scheme of {} not supported", server.url))) };
    let fail = |e: baton_http::Error| (if e.is_timeout() { 504 } else { 502 }, e.message);
    let started = Instant::now();
    let deadline = started + timeout;
    let mut up = Connection::tcp(addr, timeout).map_err(fail)?;
    let connected = started.elapsed();
    up.set_deadline(Some(deadline));
    let mut out = Request::new(&req.method, &req.target).http10();
    let mut xff = None;
    for (k, v) in &req.headers {
        if k.eq_ignore_ascii_case("x-forwarded-for") {
            xff = Some(v.clone());
        } else if !hop_by_hop(k) {
            out.headers.push((k.clone(), v.clone()));
        }
    }
    let ip = client.ip();
    let xff = xff.map_or_else(|| ip.to_string(), |x| format!("{x}, {ip}"));
    out = out.with_header("X-Forwarded-For", xff).with_header("X-Forwarded-Proto", "http").with_header("X-Real-Ip", ip);
    if let Some(h) = req.header("host") {
        out = out.with_header("X-Forwarded-Host", h);
    }
    if !req.body.is_empty() || req.header("content-length").is_some() {
        out = out.with_header("Content-Length", req.body.len());
    }
    out = out.with_header("Connection", "close");
    out.body = req.body.clone();
    let answer = up.exchange(&out, MAX_BODY_BYTES).map_err(fail);
    let total = started.elapsed();
    if total >= SLOW {
        logf!(
            "slow upstream: {} {} from {client} -> {} ({}): connect {} ms, answer {} ms{}",
            req.method,
            req.target,
            server.url,
            server.container,
            connected.as_millis(),
            (total - connected).as_millis(),
            if answer.is_err() { ", failed" } else { "" }
        );
    }
    answer
}

/// The client's answer from the upstream's: its status and headers but the
/// hop-by-hop ones, `Content-Length` (for a HEAD request, the length the
/// upstream announced), `Connection`, and the body (none for HEAD).
pub fn relay(answer: &Response, keep_alive: bool, head: bool) -> Vec<u8> {
    let h = &answer.head;
    let mut out = format!("HTTP/1.1 {} {}\r\n", h.status, h.reason);
    for (k, v) in h.headers.iter().filter(|(k, _)| !hop_by_hop(k)) {
        let _ = write!(out, "{k}: {v}\r\n");
    }
    let length = if head { h.content_length().unwrap_or(0) } else { answer.body.len() };
    let _ = write!(out, "Content-Length: {length}\r\n");
    out.push_str(if keep_alive { "Connection: keep-alive\r\n\r\n" } else { "Connection: close\r\n\r\n" });
    let mut out = out.into_bytes();
    if !head {
        out.extend_from_slice(&answer.body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_http::Head;

    #[test]
    fn relay_sets_length_and_connection() {
        let headers = vec![("Content-Length".into(), "3".into()), ("Connection".into(), "close".into())];
        let mut headers_x = headers.clone();
        headers_x.push(("X-App".into(), "1".into()));
        let head = Head { minor: 0, status: 200, reason: "OK".into(), headers: headers_x };
        let answer = Response { head, body: b"v1\n".to_vec(), reusable: false };
        let out = relay(&answer, true, false);
        assert_eq!(out, b"HTTP/1.1 200 OK\r\nX-App: 1\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nv1\n");
        let head = Head { minor: 0, status: 200, reason: "OK".into(), headers };
        let answer = Response { head, body: Vec::new(), reusable: false };
        let out = relay(&answer, false, true);
        assert_eq!(out, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n");
    }
}
