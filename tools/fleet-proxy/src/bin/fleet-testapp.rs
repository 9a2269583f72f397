//! fleet-testapp: the HTTP server inside the test fleet's app image
//! (`baton-testapp`, built by `scripts/fleet up`).
//!
//! `fleet-testapp --port N --root DIR` answers `GET`/`HEAD /NAME` with the
//! file `DIR/NAME` (200, or 404 when it is missing; it is read at each
//! request, so removing `DIR/up` turns the health check red), one request per
//! connection (HTTP/1.0, `Connection: close`), and logs one line per request
//! on stdout (`[IP]:PORT: response:200 GET /version`). SIGTERM ends it at
//! once, as it ended busybox httpd.
//!
//! It replaces busybox httpd, whose listen backlog is 9: on this 2-core
//! machine, a pause of some 70 ms in httpd's accept loop at 130 connections a
//! second filled that queue, the kernel dropped SYNs, and the proxy's connect
//! waited out TCP's 1 s retransmission, so a load test saw a timeout that no
//! handover had caused (docs/fleet-proxy.md). Real app servers keep a deep
//! queue (Puma 1024, nginx 511); this one asks for 1024.

use baton_http::{read_headers, read_line};
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

const BACKLOG: i32 = 1024;
const USAGE: &str = "usage: fleet-testapp --port N --root DIR";

fn main() {
    let (port, root) = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("fleet-testapp: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let listener = match listen(port) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("fleet-testapp: cannot listen on port {port}: {e}");
            std::process::exit(1);
        }
    };
    let root: &'static Path = Box::leak(root.into_boxed_path());
    for conn in listener.incoming() {
        let Ok(stream) = conn else { continue };
        // A thread per connection, so that the accept loop never waits on one.
        let _ = std::thread::Builder::new().stack_size(64 * 1024).spawn(move || serve(stream, root));
    }
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<(u16, PathBuf), String> {
    let (mut port, mut root) = (None, None);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--port" => port = Some(value.parse::<u16>().map_err(|_| format!("--port {value}: not a port"))?),
            "--root" => root = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok((port.ok_or("--port is missing")?, root.ok_or("--root is missing")?))
}

/// Listen on every address, IPv6 and IPv4 (`localhost` may resolve to
/// either inside the container), else IPv4 only, with a deep accept queue.
fn listen(port: u16) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(("::", port)).or_else(|_| TcpListener::bind(("0.0.0.0", port)))?;
    // SAFETY: listen(2) on a socket this process owns; calling it again on a
    // listening socket only changes its backlog.
    if unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(listener)
}

fn serve(stream: TcpStream, root: &Path) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let peer = stream.peer_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut r = BufReader::new(&stream);
    let mut budget = baton_http::MAX_HEADER_BYTES;
    let Ok(line) = read_line(&mut r, &mut budget) else { return };
    if read_headers(&mut r, &mut budget).is_err() {
        return;
    }
    let mut words = line.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (code, body) = answer(root, method, target);
    let reason = match code {
        200 => "OK",
        404 => "Not Found",
        _ => "Method Not Allowed",
    };
    let mut out = format!(
        "HTTP/1.0 {code} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        out.extend_from_slice(&body);
    }
    let _ = (&stream).write_all(&out);
    println!("[{}]:{}: response:{code} {method} {target}", peer.ip().to_canonical(), peer.port());
}

/// The status and body for `method target`: a file directly under `root`.
fn answer(root: &Path, method: &str, target: &str) -> (u16, Vec<u8>) {
    if method != "GET" && method != "HEAD" {
        return (405, b"method not allowed\n".to_vec());
    }
    let name = target.split(['?', '#']).next().unwrap_or("").trim_start_matches('/');
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return (404, b"not found\n".to_vec());
    }
    match std::fs::read(root.join(name)) {
        Ok(body) => (200, body),
        Err(_) => (404, b"not found\n".to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_files_directly_under_the_root_and_nothing_else() {
        let dir = std::env::temp_dir().join(format!("fleet-testapp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("version"), "v1\n").unwrap();
        assert_eq!(answer(&dir, "GET", "/version?x=1"), (200, b"v1\n".to_vec()));
        assert_eq!(answer(&dir, "HEAD", "/version").0, 200);
        assert_eq!(answer(&dir, "GET", "/up").0, 404);
        assert_eq!(answer(&dir, "GET", "/../etc/passwd").0, 404);
        assert_eq!(answer(&dir, "GET", "/").0, 404);
        assert_eq!(answer(&dir, "POST", "/version").0, 405);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn flags_are_checked() {
        let args = |a: &[&str]| parse(a.iter().map(|s| s.to_string()));
        assert_eq!(args(&["--port", "3000", "--root", "/w"]), Ok((3000, PathBuf::from("/w"))));
        assert!(args(&["--port", "x", "--root", "/w"]).is_err());
        assert!(args(&["--root", "/w"]).is_err());
        assert!(args(&["--port"]).is_err());
    }
}
