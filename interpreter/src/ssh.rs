//! SSH connections: one master per host, caps on connection starts and on
//! commands per host, a timeout per command.

use baton_core::effect::{Effect, Observation};
use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder, Stdio};
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
    /// `baton.ssh_persist`: the master connections outlive the command by
    /// this long once idle (OpenSSH's ControlPersist), in [`persist_dir`],
    /// and the next command on the same host reuses them. None: each
    /// command opens its own and closes them at its end.
    pub persist: Option<Duration>,
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
            persist: None,
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
        match (o.persist, persist_dir()) {
            (Some(d), Ok(dir)) => {
                let secs = d.as_secs().max(1) as usize;
                b.control_directory(dir)
                    .control_persist(ControlPersist::IdleFor(std::num::NonZeroUsize::new(secs).expect("at least 1")));
            }
            _ => {
                b.control_directory(std::env::temp_dir());
            }
        }
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
        let (address, port) = self.endpoint(name);
        let link = self.persist_link(&address, port);
        if let Some(s) = match &link {
            Some(link) => resume(link).await,
            None => None,
        } {
            let s = Arc::new(s);
            *slot = Some(s.clone());
            return Ok(s);
        }
        let _permit = self.starts.acquire().await.map_err(|e| e.to_string())?;
        match self.builder(port).connect_mux(&address).await {
            Ok(s) => {
                if let Some(link) = &link {
                    keep(link, s.control_socket());
                }
                let s = Arc::new(s);
                *slot = Some(s.clone());
                Ok(s)
            }
            Err(e) => Err(describe_connect_error(name, port, &self.opts, &e)),
        }
    }

    /// With `persist`, where the link to the master of (`address`, `port`)
    /// and these options lives: named by the host and a digest of every
    /// option that changes the connection (user, key, config, jump host,
    /// host key policy), so another key or user never reuses it.
    fn persist_link(&self, address: &str, port: u16) -> Option<PathBuf> {
        self.opts.persist?;
        let dir = persist_dir().ok()?;
        let o = &self.opts;
        let parts = [
            o.user.clone(),
            address.to_string(),
            port.to_string(),
            o.keys.first().map(|k| k.display().to_string()).unwrap_or_default(),
            o.config_file.as_ref().map(|k| k.display().to_string()).unwrap_or_default(),
            o.proxy.clone().unwrap_or_default(),
            format!("{:?}", o.known_hosts),
            o.known_hosts_file.as_ref().map(|k| k.display().to_string()).unwrap_or_default(),
        ];
        let digest = fnv1a(parts.join("\0").as_bytes());
        let host: String =
            address.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' }).take(40).collect();
        Some(dir.join(format!("{host}-{port}-{digest:016x}")))
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
        self.execute_with(effect, &|_: String| {}).await
    }

    /// [`Connections::execute`], passing each line of a local command's
    /// output to `on_line` as it arrives (for display only; the observation
    /// holds the whole output either way). A remote command's output comes
    /// whole, with its observation.
    pub async fn execute_with(&self, effect: &Effect, on_line: &(dyn Fn(String) + Sync)) -> Observation {
        let c = effect.cmd();
        let line = c.cmd.render();
        let stdin = c.stdin.as_ref().map(|s| s.bytes.as_slice());
        let out = if c.is_local() {
            crate::local::run(&line, stdin, on_line).await
        } else {
            self.run(&c.host, &line, stdin).await
        };
        match out {
            RemoteOutput::Exited { code, stdout, stderr } => Observation::Exited { id: c.id, code, stdout, stderr },
            RemoteOutput::Unreachable(error) => Observation::Unreachable { id: c.id, error },
            RemoteOutput::NotConnected(error) => Observation::NotConnected { id: c.id, error },
            RemoteOutput::TimedOut => {
                Observation::TimedOut { id: c.id, after_ms: self.opts.command_timeout.as_millis() as u64 }
            }
        }
    }

    /// Close every master connection, all at once; with `persist`, leave
    /// them running (each exits after being idle that long).
    pub async fn close_all(&self) {
        let hosts: Vec<Arc<Host>> = self.hosts.lock().await.drain().map(|(_, h)| h).collect();
        let mut closing = tokio::task::JoinSet::new();
        for h in hosts {
            if let Some(s) = h.session.lock().await.take() {
                if let Ok(s) = Arc::try_unwrap(s) {
                    if self.opts.persist.is_some() && persist_dir().is_ok() {
                        let _ = s.detach();
                        continue;
                    }
                    closing.spawn(async move {
                        let _ = s.close().await;
                    });
                }
            }
        }
        while closing.join_next().await.is_some() {}
    }
}

/// The directory of the masters that outlive a command (`baton.ssh_persist`):
/// `baton-ssh-<uid>` in the temporary directory (`$TMPDIR`, else /tmp), made
/// mode 700. Refused (an error that says why) when it is not a directory
/// of this user that only this user can enter: whoever can reach a master's
/// socket runs commands on the host.
pub fn persist_dir() -> Result<PathBuf, String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    let dir = std::env::temp_dir().join(format!("baton-ssh-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
    }
    let m = std::fs::symlink_metadata(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !m.is_dir() || m.uid() != uid || m.mode() & 0o077 != 0 {
        return Err(format!(
            "{} is not a directory that only user {uid} can use (owner {}, mode {:o}); remove it",
            dir.display(),
            m.uid(),
            m.mode() & 0o7777
        ));
    }
    Ok(dir)
}

/// The persisted master behind `link`, if it still answers. A link to a
/// master that is gone is removed, with the master's directory.
async fn resume(link: &std::path::Path) -> Option<Session> {
    let socket = std::fs::read_link(link).ok()?;
    let s = Session::resume_mux(socket.clone().into_boxed_path(), None);
    if s.check().await.is_ok() {
        return Some(s);
    }
    let _ = std::fs::remove_file(link);
    if let Some(dir) = socket.parent().filter(|d| d.parent() == link.parent()) {
        let _ = std::fs::remove_dir_all(dir);
    }
    None
}

/// Point `link` at a new master's socket (replacing an older link at once).
fn keep(link: &std::path::Path, socket: &std::path::Path) {
    let tmp = link.with_extension(format!("new{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    if std::os::unix::fs::symlink(socket, &tmp).is_ok() && std::fs::rename(&tmp, link).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// FNV-1a, 64 bits: a digest that is the same in every build of baton.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
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
