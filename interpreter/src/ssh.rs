//! SSH connections: one master per host, caps on connection starts and on
//! commands per host, a timeout per command.

use baton_core::effect::{Effect, Observation};
use openssh::{KnownHosts, Session, SessionBuilder, Stdio};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Mutex, Semaphore};

/// How to check host keys: the config's `baton.known_hosts`, one type for
/// the core and the interpreter.
pub use baton_core::config::KnownHosts as KnownHostsPolicy;

#[derive(Clone, Debug)]
pub struct SshOptions {
    pub user: String,
    pub port: u16,
    /// Where to connect for a host named in the config, when that is not
    /// the name itself on `port` (`host:port`, `[IPv6]:port`).
    pub endpoints: HashMap<String, (String, u16)>,
    /// Jump host, `[user@]host[:port]`.
    pub proxy: Option<String>,
    /// Identity files (`ssh -i`).
    pub keys: Vec<PathBuf>,
    /// An ssh_config file (`ssh -F`).
    pub config_file: Option<PathBuf>,
    pub known_hosts: KnownHostsPolicy,
    pub known_hosts_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    /// Connections being opened at once, fleet-wide.
    pub max_concurrent_starts: usize,
    /// Commands running at once on one host (below sshd's MaxSessions, 10 by default).
    pub max_commands_per_host: usize,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions {
            user: "root".into(),
            port: 22,
            endpoints: HashMap::new(),
            proxy: None,
            keys: vec![],
            config_file: None,
            known_hosts: KnownHostsPolicy::AcceptNew,
            known_hosts_file: None,
            connect_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(120),
            max_concurrent_starts: 30,
            max_commands_per_host: 8,
        }
    }
}

/// What came of one remote command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteOutput {
    Exited {
        code: i32,
        stdout: String,
        stderr: String,
    },
    /// The connection was lost while the command ran.
    Unreachable(String),
    /// No connection could be made: the command did not run.
    NotConnected(String),
    TimedOut,
}

struct Host {
    session: Mutex<Option<Arc<Session>>>,
    /// Why the warm-up connection failed, handed to the first command
    /// that finds no session (so a dead host is not waited on twice).
    warm_error: std::sync::Mutex<Option<String>>,
    commands: Semaphore,
}

/// The fleet's connections.
pub struct Connections {
    opts: SshOptions,
    starts: Semaphore,
    hosts: Mutex<HashMap<String, Arc<Host>>>,
}

impl Connections {
    pub fn new(opts: SshOptions) -> Arc<Connections> {
        Arc::new(Connections {
            starts: Semaphore::new(opts.max_concurrent_starts.max(1)),
            opts,
            hosts: Mutex::new(HashMap::new()),
        })
    }

    pub fn options(&self) -> &SshOptions {
        &self.opts
    }

    async fn host(&self, name: &str) -> Arc<Host> {
        let mut hosts = self.hosts.lock().await;
        hosts
            .entry(name.to_string())
            .or_insert_with(|| {
                Arc::new(Host {
                    session: Mutex::new(None),
                    warm_error: std::sync::Mutex::new(None),
                    commands: Semaphore::new(self.opts.max_commands_per_host.max(1)),
                })
            })
            .clone()
    }

    /// The address and port SSH connects to for the host named `name`.
    fn endpoint(&self, name: &str) -> (String, u16) {
        self.opts.endpoints.get(name).cloned().unwrap_or_else(|| (name.to_string(), self.opts.port))
    }

    fn builder(&self, port: u16) -> SessionBuilder {
        let o = &self.opts;
        let mut b = SessionBuilder::default();
        b.user(o.user.clone())
            .port(port)
            .connect_timeout(o.connect_timeout)
            .server_alive_interval(Duration::from_secs(15));
        b.known_hosts_check(match o.known_hosts {
            KnownHostsPolicy::Strict => KnownHosts::Strict,
            KnownHostsPolicy::AcceptNew => KnownHosts::Add,
            KnownHostsPolicy::Off => KnownHosts::Accept,
        });
        // Short socket paths: Unix sockets are limited to 108 bytes.
        b.control_directory(std::env::temp_dir());
        if let Some(k) = o.keys.first() {
            b.keyfile(k);
        }
        if let Some(f) = &o.config_file {
            b.config_file(f);
        }
        if let Some(f) = &o.known_hosts_file {
            b.user_known_hosts_file(f);
        }
        if let Some(p) = &o.proxy {
            b.jump_hosts([p.as_str()]);
        }
        b
    }

    /// The host's session, connecting if there is none (or it died).
    async fn session(&self, name: &str, host: &Host) -> Result<Arc<Session>, String> {
        let mut slot = host.session.lock().await;
        if let Some(s) = slot.as_ref() {
            if s.check().await.is_ok() {
                return Ok(s.clone());
            }
            *slot = None;
        }
        if let Some(e) = host.warm_error.lock().ok().and_then(|mut w| w.take()) {
            return Err(e);
        }
        let _permit = self.starts.acquire().await.map_err(|e| e.to_string())?;
        let (address, port) = self.endpoint(name);
        match self.builder(port).connect_mux(&address).await {
            Ok(s) => {
                let s = Arc::new(s);
                *slot = Some(s.clone());
                Ok(s)
            }
            Err(e) => Err(describe_connect_error(name, port, &self.opts, &e)),
        }
    }

    /// Open the connections to `hosts` now, all at once, in the background,
    /// so that the first command on each host does not wait for the SSH
    /// handshake (a boot's first command runs on the primary host alone,
    /// while it takes the lock). A failure is kept and reported by the
    /// host's first command.
    pub fn warm_up(self: &Arc<Self>, hosts: &[String]) {
        for name in hosts {
            let (conns, name) = (self.clone(), name.clone());
            tokio::spawn(async move {
                let host = conns.host(&name).await;
                if let Err(e) = conns.session(&name, &host).await {
                    if let Ok(mut w) = host.warm_error.lock() {
                        *w = Some(e);
                    }
                }
            });
        }
    }

    /// Run one command line on `host`, with `stdin` if given.
    pub async fn run(&self, name: &str, line: &str, stdin: Option<&[u8]>) -> RemoteOutput {
        let host = self.host(name).await;
        let _permit = match host.commands.acquire().await {
            Ok(p) => p,
            Err(e) => return RemoteOutput::NotConnected(e.to_string()),
        };
        let session = match self.session(name, &host).await {
            Ok(s) => s,
            Err(e) => return RemoteOutput::NotConnected(e),
        };
        let fut = async {
            let mut cmd = session.clone().arc_raw_command(line);
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
            let mut child = cmd.spawn().await?;
            if let Some(bytes) = stdin {
                if let Some(mut w) = child.stdin().take() {
                    w.write_all(bytes).await.map_err(openssh::Error::ChildIo)?;
                    w.shutdown().await.map_err(openssh::Error::ChildIo)?;
                }
            }
            child.wait_with_output().await
        };
        match tokio::time::timeout(self.opts.command_timeout, fut).await {
            Err(_) => RemoteOutput::TimedOut,
            Ok(Ok(out)) => RemoteOutput::Exited {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            },
            // Exit 255 is either the remote command's own code or a lost
            // connection; the master connection tells which.
            Ok(Err(openssh::Error::RemoteProcessTerminated)) => match session.check().await {
                Ok(()) => RemoteOutput::Exited { code: 255, stdout: String::new(), stderr: String::new() },
                Err(e) => RemoteOutput::Unreachable(format!("connection to {name} lost: {e}")),
            },
            // openssh turns exit 127 into an error (and drops the output).
            Ok(Err(openssh::Error::Remote(e))) if e.kind() == std::io::ErrorKind::NotFound => RemoteOutput::Exited {
                code: 127,
                stdout: String::new(),
                stderr: format!(
                    "command not found on {name} (exit 127): is Docker installed there, and on the PATH of {}'s SSH sessions?",
                    self.opts.user
                ),
            },
            Ok(Err(e)) => RemoteOutput::Unreachable(format!("connection to {name} failed: {e}")),
        }
    }

    /// Carry out one effect and give its observation.
    pub async fn execute(&self, effect: &Effect) -> Observation {
        let c = effect.cmd();
        let line = c.cmd.render();
        let stdin = c.stdin.as_ref().map(|s| s.0.as_slice());
        let out =
            if c.is_local() { crate::local::run(&line, stdin).await } else { self.run(&c.host, &line, stdin).await };
        match out {
            RemoteOutput::Exited { code, stdout, stderr } => Observation::Exited { id: c.id, code, stdout, stderr },
            RemoteOutput::Unreachable(error) => Observation::Unreachable { id: c.id, error },
            RemoteOutput::NotConnected(error) => Observation::NotConnected { id: c.id, error },
            RemoteOutput::TimedOut => {
                Observation::TimedOut { id: c.id, after_ms: self.opts.command_timeout.as_millis() as u64 }
            }
        }
    }

    /// Close every master connection, all at once.
    pub async fn close_all(&self) {
        let hosts: Vec<Arc<Host>> = self.hosts.lock().await.drain().map(|(_, h)| h).collect();
        let mut closing = tokio::task::JoinSet::new();
        for h in hosts {
            if let Some(s) = h.session.lock().await.take() {
                if let Ok(s) = Arc::try_unwrap(s) {
                    closing.spawn(async move {
                        let _ = s.close().await;
                    });
                }
            }
        }
        while closing.join_next().await.is_some() {}
    }
}

/// A connection error in words a user can act on.
fn describe_connect_error(host: &str, port: u16, o: &SshOptions, e: &openssh::Error) -> String {
    let text = e.to_string();
    let source = std::error::Error::source(e).map(|s| s.to_string()).unwrap_or_default();
    let all = format!("{text} {source}");
    let hint = if all.contains("Permission denied") {
        format!(
            "permission denied (publickey): {}@{host} did not accept any key offered; add your public key to ~{}/.ssh/authorized_keys there, or set ssh.keys in the config",
            o.user, o.user
        )
    } else if all.contains("Connection refused") {
        format!("connection refused: nothing listens for SSH on {host} (port {port}); is sshd running?")
    } else if all.contains("timed out") || all.contains("Timeout") {
        format!(
            "no answer from {host} (port {port}) within {}s; is the host up and the port open?",
            o.connect_timeout.as_secs()
        )
    } else if all.contains("Host key verification failed") || all.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        format!(
            "host key verification failed for {host}: its key is unknown or changed; check it and update known_hosts"
        )
    } else if all.contains("Could not resolve hostname") {
        format!("cannot resolve host name {host}")
    } else {
        format!("cannot connect to {host}: {}", all.trim())
    };
    hint
}
