//! A tiny HTTP/1.1 client, std only, shared by baton's test tools:
//! fleet-proxy (the Docker engine's API over its unix socket, and every
//! request it forwards to a container), loadgen (keep-alive and one-shot
//! requests under a deadline) and bench (a plain GET). It speaks just what
//! they need:
//!
//! * one request at a time on a [`Connection`], over TCP or a unix socket,
//!   HTTP/1.0 or HTTP/1.1, with an optional deadline: every read and write
//!   gets the time left, and one past the deadline fails as
//!   [`ErrorKind::Timeout`];
//! * answers framed by `Content-Length` or by the end of the connection, read
//!   whole ([`Connection::read_response`]) or, after the head, as they come
//!   ([`Connection::into_reader`], for the engine's event stream). A chunked
//!   answer, one that is not HTTP/1.x and one over the size limits are
//!   [`ErrorKind::Protocol`] errors.
//!
//! [`read_line`], [`read_headers`] and [`keep_alive`] are the parts of
//! reading a head that a server (fleet-proxy's) shares with the client.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// The most bytes a request or status line and its headers may take.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// The largest body [`get`] reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// A connected stream whose timeouts can be set: TCP or a unix socket.
pub trait Socket: Read + Write {
    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()>;
    fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()>;
}

macro_rules! socket {
    ($t:ty) => {
        impl Socket for $t {
            fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
                <$t>::set_read_timeout(self, t)
            }
            fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
                <$t>::set_write_timeout(self, t)
            }
        }
    };
}
socket!(TcpStream);
socket!(UnixStream);

// ------------------------------------------------------------------ errors --

/// What kind of failure an [`Error`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The deadline passed, or connecting timed out.
    Timeout,
    /// Connecting, sending or reading failed, or the peer closed the
    /// connection before a complete answer.
    Io,
    /// The answer is not HTTP/1.x, is over a size limit, or is chunked.
    Protocol,
}

/// A failed exchange: its kind and what happened, e.g. `connect: Connection
/// refused (os error 111)` or `body cut short: 2 of 3 bytes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into() }
    }

    /// `what` failed with `e`: a timeout when `e` is one.
    pub fn io(what: &str, e: io::Error) -> Error {
        match e.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                Error::new(ErrorKind::Timeout, format!("{what}: timed out"))
            }
            _ => Error::new(ErrorKind::Io, format!("{what}: {e}")),
        }
    }

    pub fn is_timeout(&self) -> bool {
        self.kind == ErrorKind::Timeout
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

// ------------------------------------------------------------ head reading --

/// Why a line or the headers of a head could not be read.
#[derive(Debug)]
pub enum HeadError {
    /// The connection ended before the line did.
    Closed,
    /// The line would go over the byte budget.
    TooLarge,
    /// A header line without a colon.
    Malformed,
    Io(io::Error),
}

/// One line, without its `\r\n` (or `\n`), decoded lossily as UTF-8; it may
/// take at most `*budget` bytes, and what it takes is subtracted.
pub fn read_line(r: &mut impl BufRead, budget: &mut usize) -> Result<String, HeadError> {
    let mut buf = Vec::new();
    let n = r.by_ref().take(*budget as u64).read_until(b'\n', &mut buf).map_err(HeadError::Io)?;
    *budget -= n;
    if buf.last() != Some(&b'\n') {
        return Err(if *budget == 0 { HeadError::TooLarge } else { HeadError::Closed });
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Header lines up to the empty line that ends them, as trimmed (name, value)
/// pairs, within `*budget` bytes (as [`read_line`]).
pub fn read_headers(r: &mut impl BufRead, budget: &mut usize) -> Result<Vec<(String, String)>, HeadError> {
    let mut headers = Vec::new();
    loop {
        let line = read_line(r, budget)?;
        if line.is_empty() {
            return Ok(headers);
        }
        let (k, v) = line.split_once(':').ok_or(HeadError::Malformed)?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
}

/// The value of the first header `name` (case-insensitive).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// Whether a message of HTTP/1.`minor` with this `Connection` header keeps
/// its connection open: by default in 1.1, only with `keep-alive` in 1.0.
pub fn keep_alive(minor: u8, connection: Option<&str>) -> bool {
    let conn = connection.unwrap_or("").to_ascii_lowercase();
    let has = |t: &str| conn.split(',').any(|x| x.trim() == t);
    if minor >= 1 {
        !has("close")
    } else {
        has("keep-alive")
    }
}

// ---------------------------------------------------------------- messages --

/// A request, to send or as a server read it: its headers are sent as given
/// (no `Content-Length` is added).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub target: String,
    /// HTTP/1.`minor`.
    pub minor: u8,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// An HTTP/1.1 request without headers.
    pub fn new(method: &str, target: &str) -> Request {
        Request { method: method.into(), target: target.into(), minor: 1, headers: Vec::new(), body: Vec::new() }
    }

    pub fn get(target: &str) -> Request {
        Request::new("GET", target)
    }

    /// The same request in HTTP/1.0.
    pub fn http10(mut self) -> Request {
        self.minor = 0;
        self
    }

    pub fn with_header(mut self, name: &str, value: impl fmt::Display) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// Whether the client wants the connection kept open after the answer.
    pub fn keep_alive(&self) -> bool {
        keep_alive(self.minor, self.header("connection"))
    }

    /// The request as sent.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!("{} {} HTTP/1.{}\r\n", self.method, self.target, self.minor);
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

/// An answer's status line and headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// HTTP/1.`minor`.
    pub minor: u8,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    pub fn content_length(&self) -> Option<usize> {
        self.header("content-length").and_then(|v| v.parse().ok())
    }

    /// Whether the answer leaves the connection open.
    pub fn keep_alive(&self) -> bool {
        keep_alive(self.minor, self.header("connection"))
    }

    /// Whether a body follows: never for a HEAD request, a 1xx, 204 or 304,
    /// whatever the headers say.
    pub fn has_body(&self, head_request: bool) -> bool {
        !(head_request || self.status < 200 || self.status == 204 || self.status == 304)
    }
}

/// A whole answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub head: Head,
    pub body: Vec<u8>,
    /// The connection may carry another request: the body was framed and the
    /// answer keeps the connection alive.
    pub reusable: bool,
}

impl Response {
    pub fn status(&self) -> u16 {
        self.head.status
    }

    /// The body, decoded lossily as UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

// -------------------------------------------------------------- connection --

/// A stream that gives every read the time left before its deadline.
struct Timed<S> {
    inner: S,
    deadline: Option<Instant>,
}

impl<S> Timed<S> {
    /// The time left (`None`: no deadline); an error once it has passed.
    fn left(&self) -> io::Result<Option<Duration>> {
        let Some(deadline) = self.deadline else { return Ok(None) };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        Ok(Some(left))
    }
}

impl<S: Socket> Read for Timed<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(left) = self.left()? {
            self.inner.set_read_timeout(Some(left))?;
        }
        self.inner.read(buf)
    }
}

/// A client connection: send a request, read its answer, and again while the
/// answers keep the connection alive.
pub struct Connection<S: Socket> {
    reader: BufReader<Timed<S>>,
}

impl Connection<TcpStream> {
    /// Connect to `addr` within `timeout`, with Nagle's algorithm off.
    pub fn tcp(addr: SocketAddr, timeout: Duration) -> Result<Self, Error> {
        let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| Error::io("connect", e))?;
        let _ = stream.set_nodelay(true);
        Ok(Connection::new(stream))
    }
}

impl Connection<UnixStream> {
    pub fn unix(path: impl AsRef<Path>) -> Result<Self, Error> {
        UnixStream::connect(path).map(Connection::new).map_err(|e| Error::io("connect", e))
    }
}

impl<S: Socket> Connection<S> {
    /// A connection over `stream`, without a deadline (the stream's own
    /// timeouts apply).
    pub fn new(stream: S) -> Self {
        Connection { reader: BufReader::new(Timed { inner: stream, deadline: None }) }
    }

    /// Every later read and write must end by `deadline`; `None` lifts the
    /// deadline and the stream's timeouts.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        let t = self.reader.get_mut();
        t.deadline = deadline;
        if deadline.is_none() {
            let _ = t.inner.set_read_timeout(None);
            let _ = t.inner.set_write_timeout(None);
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.reader.get_ref().inner
    }

    pub fn send(&mut self, req: &Request) -> Result<(), Error> {
        let t = self.reader.get_mut();
        let fail = |e| Error::io("send", e);
        if let Some(left) = t.left().map_err(fail)? {
            t.inner.set_write_timeout(Some(left)).map_err(fail)?;
        }
        t.inner.write_all(&req.to_bytes()).map_err(fail)
    }

    /// The status line and headers of the next answer.
    pub fn read_head(&mut self) -> Result<Head, Error> {
        let fail = |what: &str, e: HeadError, closed: &str| match e {
            HeadError::Closed => Error::new(ErrorKind::Io, closed),
            HeadError::TooLarge => Error::new(ErrorKind::Protocol, "answer header too large"),
            HeadError::Malformed => Error::new(ErrorKind::Protocol, format!("bad {what} line")),
            HeadError::Io(e) => Error::io(what, e),
        };
        let mut budget = MAX_HEADER_BYTES;
        let line = read_line(&mut self.reader, &mut budget)
            .map_err(|e| fail("status", e, "connection closed before an answer"))?;
        let mut parts = line.splitn(3, ' ');
        let (version, status, reason) = (parts.next(), parts.next(), parts.next());
        let minor = version.and_then(|v| v.strip_prefix("HTTP/1.")).and_then(|m| m.parse::<u8>().ok());
        let status = status.and_then(|s| s.parse::<u16>().ok()).filter(|s| (100..600).contains(s));
        let (Some(minor), Some(status)) = (minor, status) else {
            let start: String = line.chars().take(60).collect();
            return Err(Error::new(ErrorKind::Protocol, format!("not an HTTP answer: {start:?}")));
        };
        let headers = read_headers(&mut self.reader, &mut budget)
            .map_err(|e| fail("header", e, "connection closed in the header"))?;
        Ok(Head { minor, status, reason: reason.unwrap_or("").trim().to_string(), headers })
    }

    /// The body of the answer `head` heads (`head_request`: the request was
    /// HEAD), of at most `max` bytes: none when it cannot have one, else
    /// `Content-Length` bytes, else all up to the end of the connection. With
    /// whether it was framed (not read to the end of the connection).
    pub fn read_body(&mut self, head: &Head, head_request: bool, max: usize) -> Result<(Vec<u8>, bool), Error> {
        if !head.has_body(head_request) {
            return Ok((Vec::new(), true));
        }
        if head.header("transfer-encoding").is_some_and(|t| !t.eq_ignore_ascii_case("identity")) {
            return Err(Error::new(ErrorKind::Protocol, "chunked answers are not supported"));
        }
        let too_large = || Error::new(ErrorKind::Protocol, "answer too large");
        let mut body = Vec::new();
        match head.content_length() {
            Some(n) if n > max => Err(too_large()),
            Some(n) => {
                self.reader.by_ref().take(n as u64).read_to_end(&mut body).map_err(|e| Error::io("body", e))?;
                if body.len() < n {
                    return Err(Error::new(ErrorKind::Io, format!("body cut short: {} of {n} bytes", body.len())));
                }
                Ok((body, true))
            }
            None => {
                self.reader.by_ref().take(max as u64 + 1).read_to_end(&mut body).map_err(|e| Error::io("body", e))?;
                if body.len() > max {
                    return Err(too_large());
                }
                Ok((body, false))
            }
        }
    }

    /// The next answer, whole (as [`Connection::read_head`] and
    /// [`Connection::read_body`]).
    pub fn read_response(&mut self, head_request: bool, max_body: usize) -> Result<Response, Error> {
        let head = self.read_head()?;
        let (body, framed) = self.read_body(&head, head_request, max_body)?;
        let reusable = framed && head.keep_alive();
        Ok(Response { head, body, reusable })
    }

    /// Send `req` and read its answer.
    pub fn exchange(&mut self, req: &Request, max_body: usize) -> Result<Response, Error> {
        self.send(req)?;
        self.read_response(req.method == "HEAD", max_body)
    }

    /// What is left of the connection, to read a body as it comes.
    pub fn into_reader(self) -> impl BufRead {
        self.reader
    }
}

/// `GET path` from `addr` on a new connection (`Connection: close`), the
/// whole exchange, connect included, within `timeout`.
pub fn get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<Response, Error> {
    let deadline = Instant::now() + timeout;
    let mut conn = Connection::tcp(addr, timeout)?;
    conn.set_deadline(Some(deadline));
    conn.exchange(&Request::get(path).with_header("Host", addr).with_header("Connection", "close"), MAX_BODY_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    /// A server that answers each request on a connection with the next of
    /// `answers` (None: says nothing for 2 s), then closes it.
    fn server(answers: Vec<Option<&'static [u8]>>) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut r = BufReader::new(&s);
            for answer in answers {
                let mut budget = MAX_HEADER_BYTES;
                if read_line(&mut r, &mut budget).is_err() || read_headers(&mut r, &mut budget).is_err() {
                    return;
                }
                match answer {
                    Some(a) => (&s).write_all(a).unwrap(),
                    None => thread::sleep(Duration::from_secs(2)),
                }
            }
        });
        addr
    }

    fn one(answer: &'static [u8]) -> Result<Response, Error> {
        get(server(vec![Some(answer)]), "/version", Duration::from_secs(5))
    }

    #[test]
    fn reads_framed_and_unframed_answers() {
        let r = one(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nv1\nextra").unwrap();
        assert_eq!((r.status(), r.text().as_str(), r.head.reason.as_str()), (200, "v1\n", "OK"));
        let r = one(b"HTTP/1.0 404 Not Found\r\nX: y\r\n\r\nnope").unwrap();
        assert_eq!((r.status(), r.text().as_str(), r.reusable), (404, "nope", false));
        assert_eq!(r.head.header("x"), Some("y"));
    }

    #[test]
    fn keeps_a_connection_alive_while_the_answers_do() {
        let addr = server(vec![
            Some(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv1"),
            Some(b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n"),
            Some(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nv2"),
        ]);
        let mut c = Connection::tcp(addr, Duration::from_secs(5)).unwrap();
        let req = Request::get("/").with_header("Host", "x");
        let r = c.exchange(&req, 100).unwrap();
        assert!(r.reusable && r.text() == "v1");
        let r = c.exchange(&req, 100).unwrap();
        assert!(r.reusable && r.body.is_empty() && r.status() == 204);
        let r = c.exchange(&req, 100).unwrap();
        assert!(!r.reusable && r.text() == "v2");
    }

    #[test]
    fn bad_answers_are_errors_of_their_kind() {
        let kind = |a: &'static [u8]| one(a).unwrap_err();
        assert_eq!(kind(b"SSH-2.0-OpenSSH\r\n\r\n").kind, ErrorKind::Protocol);
        assert_eq!(
            kind(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nv1\r\n0\r\n\r\n").kind,
            ErrorKind::Protocol
        );
        assert_eq!(kind(b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n").message, "bad header line");
        let cut = kind(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nv1");
        assert_eq!((cut.kind, cut.message.as_str()), (ErrorKind::Io, "body cut short: 2 of 3 bytes"));
        assert_eq!(kind(b"HTTP/1.1 200 OK\r\n").message, "connection closed in the header");
        assert_eq!(kind(b"").message, "connection closed before an answer");
        let r = get(server(vec![None]), "/", Duration::from_millis(200)).unwrap_err();
        assert!(r.is_timeout(), "{r:?}");
    }

    #[test]
    fn limits_lines_and_bodies() {
        let mut budget = 8;
        let mut r: &[u8] = b"GET / HTTP/1.1\r\n";
        assert!(matches!(read_line(&mut r, &mut budget), Err(HeadError::TooLarge)));
        let mut budget = 100;
        let mut r: &[u8] = b"a\r\nb\n";
        assert_eq!(read_line(&mut r, &mut budget).unwrap(), "a");
        assert_eq!(read_line(&mut r, &mut budget).unwrap(), "b");
        assert_eq!(budget, 95);
        assert!(matches!(read_line(&mut r, &mut budget), Err(HeadError::Closed)));
        let addr = server(vec![Some(b"HTTP/1.0 200 OK\r\n\r\n0123456789")]);
        let mut c = Connection::tcp(addr, Duration::from_secs(5)).unwrap();
        let e = c.exchange(&Request::get("/"), 5).unwrap_err();
        assert_eq!(e.message, "answer too large");
    }

    #[test]
    fn requests_and_keep_alive() {
        let r = Request::get("/x").http10().with_header("Host", "docker");
        assert_eq!(r.to_bytes(), b"GET /x HTTP/1.0\r\nHost: docker\r\n\r\n");
        assert!(keep_alive(1, None) && !keep_alive(1, Some("Close")) && keep_alive(1, Some("keep-alive")));
        assert!(!keep_alive(0, None) && keep_alive(0, Some("foo, Keep-Alive")));
    }
}
