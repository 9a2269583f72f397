//! The listeners: each client connection on its own thread, HTTP/1.x with
//! keep-alive, answering the API paths from the table in force and proxying
//! every other request to one server of the service it routes to.

use crate::upstream::{forward, relay};
use crate::Shared;
use baton_http::{read_headers, read_line, HeadError, Request, MAX_BODY_BYTES, MAX_HEADER_BYTES};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

enum ReadError {
    Closed,            // EOF or idle timeout between requests
    Bad(&'static str), // answer 400 (or the given status text) and close
    Unsupported,       // 501
}

fn read_request(r: &mut impl BufRead) -> Result<Request, ReadError> {
    let fail = |e: HeadError| match e {
        HeadError::TooLarge => ReadError::Bad("header too large"),
        HeadError::Malformed => ReadError::Bad("bad header line"),
        HeadError::Closed | HeadError::Io(_) => ReadError::Closed,
    };
    let mut budget = MAX_HEADER_BYTES;
    // Skip empty lines before a request (RFC 9112 2.2).
    let line = loop {
        let line = read_line(r, &mut budget).map_err(fail)?;
        if !line.trim().is_empty() {
            break line;
        }
    };
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(ReadError::Bad("bad request line"));
    };
    let minor = match version {
        "HTTP/1.1" => 1,
        "HTTP/1.0" => 0,
        _ => return Err(ReadError::Bad("unsupported HTTP version")),
    };
    let mut req = Request::new(method, target);
    req.minor = minor;
    req.headers = read_headers(r, &mut budget).map_err(fail)?;
    if req.header("transfer-encoding").is_some() {
        return Err(ReadError::Unsupported);
    }
    if let Some(cl) = req.header("content-length") {
        let n: usize = cl.parse().map_err(|_| ReadError::Bad("bad content-length"))?;
        if n > MAX_BODY_BYTES {
            return Err(ReadError::Bad("body too large"));
        }
        let mut body = vec![0; n];
        r.read_exact(&mut body).map_err(|_| ReadError::Closed)?;
        req.body = body;
    }
    Ok(req)
}

/// The request's path: its target without the query or fragment.
fn path(req: &Request) -> &str {
    req.target.split(['?', '#']).next().unwrap_or("/")
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

fn simple_response(code: u16, content_type: &str, body: &[u8], keep_alive: bool, head: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        reason(code),
        body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    )
    .into_bytes();
    if !head {
        out.extend_from_slice(body);
    }
    out
}

fn error_response(code: u16, keep_alive: bool, head: bool) -> Vec<u8> {
    simple_response(code, "text/plain; charset=utf-8", format!("{}\n", reason(code)).as_bytes(), keep_alive, head)
}

/// A connection whose first answer is written this long after its accept is
/// logged (the upstream's own share is logged by `forward`).
const SLOW_FIRST: Duration = Duration::from_millis(500);

fn serve_conn(sh: &Shared, stream: TcpStream, api_only: bool, accepted: Instant) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IDLE_TIMEOUT));
    let peer = stream.peer_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut r = BufReader::new(&stream);
    let mut first = true;
    loop {
        let req = match read_request(&mut r) {
            Ok(req) => req,
            Err(ReadError::Closed) => return,
            Err(ReadError::Bad(why)) => {
                let _ = (&stream).write_all(&simple_response(400, "text/plain", why.as_bytes(), false, false));
                return;
            }
            Err(ReadError::Unsupported) => {
                let _ = (&stream).write_all(&error_response(501, false, false));
                return;
            }
        };
        sh.in_flight.fetch_add(1, Ordering::SeqCst);
        let keep_alive = req.keep_alive() && !sh.draining.load(Ordering::SeqCst);
        let head = req.method == "HEAD";
        let path = path(&req);
        let get = req.method == "GET" || head;
        let json = |v: Value| simple_response(200, "application/json", v.to_string().as_bytes(), keep_alive, head);
        let api = api_only || sh.cfg.api_on_main;
        let resp = if api && get && path == "/api/http/services" {
            json(sh.table.read().unwrap_or_else(|e| e.into_inner()).services_json())
        } else if api && get && path == "/api/http/routers" {
            let entrypoints: Vec<&str> = sh.cfg.listen.iter().map(|(n, _)| n.as_str()).collect();
            json(sh.table.read().unwrap_or_else(|e| e.into_inner()).routers_json(&entrypoints))
        } else if api_only {
            if get && path == "/ping" && sh.cfg.ping {
                simple_response(200, "text/plain", b"OK", keep_alive, head)
            } else {
                error_response(404, keep_alive, head)
            }
        } else {
            let table = sh.table.read().unwrap_or_else(|e| e.into_inner()).clone();
            match table.route(path) {
                None => {
                    logf!("503 {} {} from {peer}: no server", req.method, req.target);
                    error_response(503, keep_alive, head)
                }
                Some(svc) => {
                    let server = &svc.servers[svc.next.fetch_add(1, Ordering::Relaxed) % svc.servers.len()];
                    match forward(&req, server, peer, sh.cfg.upstream_timeout) {
                        Ok(answer) => relay(&answer, keep_alive, head),
                        Err((code, why)) => {
                            logf!(
                                "{code} {} {} from {peer} -> {}@docker {} ({}): {why}",
                                req.method,
                                req.target,
                                svc.name,
                                server.url,
                                server.container
                            );
                            error_response(code, keep_alive, head)
                        }
                    }
                }
            }
        };
        let written = (&stream).write_all(&resp);
        sh.in_flight.fetch_sub(1, Ordering::SeqCst);
        if std::mem::take(&mut first) && accepted.elapsed() >= SLOW_FIRST {
            logf!(
                "slow connection from {peer}: first answer written {} ms after the accept",
                accepted.elapsed().as_millis()
            );
        }
        if written.is_err() || !keep_alive {
            return;
        }
    }
}

/// Serve `listener` for ever (until a SIGTERM shuts it down, in Traefik
/// mode), a thread per connection, at most `--max-conns` at once (a
/// connection beyond gets a 503). `api_only`: answer only the API and `/ping`.
pub fn serve(sh: &'static Shared, listener: TcpListener, api_only: bool) {
    let mut refused = 0u64;
    for conn in listener.incoming() {
        let accepted = Instant::now();
        let stream = match conn {
            Ok(s) => s,
            Err(_) if sh.draining.load(Ordering::SeqCst) => return,
            Err(e) => {
                logf!("accept on {:?}: {e}", listener.local_addr().ok());
                thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        if sh.conns.fetch_add(1, Ordering::SeqCst) >= sh.cfg.max_conns {
            sh.conns.fetch_sub(1, Ordering::SeqCst);
            refused += 1;
            if refused.is_power_of_two() {
                logf!("{} connection(s) refused so far: --max-conns {} reached", refused, sh.cfg.max_conns);
            }
            let _ = (&stream).write_all(&error_response(503, false, false));
            continue;
        }
        let spawned = thread::Builder::new().stack_size(256 * 1024).spawn(move || {
            serve_conn(sh, stream, api_only, accepted);
            sh.conns.fetch_sub(1, Ordering::SeqCst);
        });
        if let Err(e) = spawned {
            sh.conns.fetch_sub(1, Ordering::SeqCst);
            logf!("cannot start a connection thread: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_requests_after_blank_lines_with_their_body() {
        let mut r: &[u8] = b"\r\nPOST /x?y HTTP/1.0\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nab";
        let Ok(req) = read_request(&mut r) else { panic!("not read") };
        assert_eq!((req.method.as_str(), path(&req), req.body.as_slice()), ("POST", "/x", &b"ab"[..]));
        assert!(req.keep_alive());
        let mut r: &[u8] = b"GET / HTTP/2\r\n\r\n";
        assert!(matches!(read_request(&mut r), Err(ReadError::Bad("unsupported HTTP version"))));
        let mut r: &[u8] = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(matches!(read_request(&mut r), Err(ReadError::Unsupported)));
    }
}
