//! SIGTERM in Traefik mode, as Traefik handles it: stop accepting connections
//! at once (its `requestAcceptGraceTimeout` defaults to 0), answer the
//! requests already read (up to `graceTimeOut`, 10 s) with `Connection:
//! close`, then exit; idle keep-alive connections close with the process.
//! Without a handler, the proxy would be PID 1 of its container, which
//! ignores SIGTERM, and `docker stop traefik` would wait 10 s and SIGKILL it.

use crate::Shared;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

/// Traefik's default `lifeCycle.graceTimeOut`.
const GRACE: Duration = Duration::from_secs(10);

fn signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and fill a sigset_t we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        set
    }
}

/// Block SIGTERM and SIGINT in this thread and every thread it starts later,
/// so that only [`on_signal`]'s `sigwait` receives them.
pub fn block_signals() {
    let set = signal_set();
    // SAFETY: a valid sigset_t; the old mask is not wanted.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Wait for SIGTERM or SIGINT; then drain and exit.
pub fn on_signal(sh: &'static Shared, listeners: Vec<RawFd>) {
    let set = signal_set();
    let mut sig: libc::c_int = 0;
    // SAFETY: sigwait on a valid set, writing the signal number to `sig`.
    while unsafe { libc::sigwait(&set, &mut sig) } != 0 {}
    let name = if sig == libc::SIGINT { "SIGINT" } else { "SIGTERM" };
    sh.draining.store(true, Ordering::SeqCst);
    for fd in listeners {
        // SAFETY: the listeners live for the whole process; shutdown wakes
        // their blocked accept() with an error and refuses new connections.
        unsafe {
            libc::shutdown(fd, libc::SHUT_RDWR);
        }
    }
    let in_flight = sh.in_flight.load(Ordering::SeqCst);
    logf!("{name}: entry points closed; waiting for {in_flight} request(s) in flight (grace {} s)", GRACE.as_secs());
    let deadline = Instant::now() + GRACE;
    while sh.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    logf!("{name}: stopped ({} request(s) still in flight)", sh.in_flight.load(Ordering::SeqCst));
    std::process::exit(0);
}
