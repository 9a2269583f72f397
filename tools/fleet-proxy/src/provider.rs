//! The docker provider: it follows the engine's events, reads the engine's
//! state at each one, and applies that snapshot to the routing table after the
//! pickup delay, newer snapshots only.

use crate::docker::EVENTS;
use crate::log::utc_timestamp;
use crate::table::{snapshot, Table};
use crate::Shared;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

pub struct Pending {
    due: Instant,
    seq: u64,
    table: Table,
    cause: String,
    taken: SystemTime,
}

impl Shared {
    fn random_below(&self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // xorshift64*, good enough for a jitter.
        let mut x = self.rng.load(Ordering::Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.store(x, Ordering::Relaxed);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }

    /// Read the engine's state now; apply it after the pickup delay (at once
    /// when `immediate`).
    pub fn snapshot_and_schedule(&self, cause: &str, immediate: bool) {
        let mut last = self.snapshot_lock.lock().unwrap_or_else(|p| p.into_inner());
        let taken = SystemTime::now();
        let start = Instant::now();
        let table = match snapshot(&self.docker) {
            Ok(t) => t,
            Err(e) => {
                logf!("docker: snapshot failed ({cause}): {e}");
                return;
            }
        };
        *last += 1;
        let seq = *last;
        drop(last);
        let delay = if immediate {
            Duration::ZERO
        } else {
            let jitter = self.random_below(self.cfg.jitter.as_millis() as u64 + 1);
            self.cfg.pickup + Duration::from_millis(jitter)
        };
        let mut q = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        q.push(Pending { due: start + delay, seq, table, cause: cause.to_string(), taken });
        self.wake.notify_all();
    }

    pub fn apply_loop(&self) {
        let mut q = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let now = Instant::now();
            let next = q.iter().enumerate().min_by_key(|(_, p)| (p.due, p.seq)).map(|(i, p)| (i, p.due));
            match next {
                None => q = self.wake.wait(q).unwrap_or_else(|p| p.into_inner()),
                Some((_, due)) if due > now => {
                    q = self.wake.wait_timeout(q, due - now).unwrap_or_else(|p| p.into_inner()).0;
                }
                Some((i, _)) => {
                    let p = q.swap_remove(i);
                    drop(q);
                    self.apply(p);
                    q = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                }
            }
        }
    }

    fn apply(&self, p: Pending) {
        if p.seq <= self.applied_seq.load(Ordering::SeqCst) {
            return; // a newer snapshot is already in force
        }
        self.applied_seq.store(p.seq, Ordering::SeqCst);
        let old = self.table.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut changes = Vec::new();
        let servers = |t: &Table| -> BTreeMap<(String, String), String> {
            let mut m = BTreeMap::new();
            for s in &t.services {
                for v in &s.servers {
                    m.insert((s.name.clone(), v.url.clone()), v.container.clone());
                }
            }
            m
        };
        let (before, after) = (servers(&old), servers(&p.table));
        for ((svc, url), container) in &before {
            if !after.contains_key(&(svc.clone(), url.clone())) {
                changes.push(format!("{svc}@docker - {url} ({container})"));
            }
        }
        for ((svc, url), container) in &after {
            if !before.contains_key(&(svc.clone(), url.clone())) {
                changes.push(format!("{svc}@docker + {url} ({container})"));
            }
        }
        let rules = |t: &Table| t.services.iter().map(|s| (s.name.clone(), s.rule.clone())).collect::<Vec<_>>();
        let rules_changed = rules(&old) != rules(&p.table);
        *self.table.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(p.table);
        if changes.is_empty() && !rules_changed {
            return;
        }
        let table = self.table.read().unwrap_or_else(|e| e.into_inner()).clone();
        let now: Vec<String> = table
            .services
            .iter()
            .map(|s| {
                let urls: Vec<&str> = s.servers.iter().map(|v| v.url.as_str()).collect();
                format!("{}@docker=[{}]", s.name, urls.join(" "))
            })
            .collect();
        let age = SystemTime::now().duration_since(p.taken).unwrap_or_default().as_millis();
        for c in &changes {
            logf!("routing: {c}");
        }
        logf!(
            "routing: table now {} (state of {}, {age} ms ago, after: {})",
            if now.is_empty() { "empty".to_string() } else { now.join(" ") },
            utc_timestamp(p.taken),
            p.cause
        );
    }
}

/// Follow the engine's events for ever, reconnecting after a second when the
/// stream breaks.
pub fn events_loop(sh: &Shared) {
    let mut last_error = String::new();
    loop {
        match sh.docker.events() {
            Ok(events) => {
                logf!("docker: following events on {}", sh.docker.socket);
                last_error.clear();
                // Whatever happened while the stream was down.
                sh.snapshot_and_schedule("(re)connecting to the event stream", false);
                for line in events.lines() {
                    let Ok(line) = line else { break };
                    let Ok(ev) = serde_json::from_str::<Value>(&line) else { continue };
                    let action = ev["Action"].as_str().unwrap_or_default();
                    let kind = action.split(':').next().unwrap_or_default();
                    if ev["Type"] != "container" || !EVENTS.contains(&kind) {
                        continue;
                    }
                    let name = ev["Actor"]["Attributes"]["name"].as_str().unwrap_or("?");
                    sh.snapshot_and_schedule(&format!("event {action} {name}"), false);
                }
                logf!("docker: the event stream ended; reconnecting");
            }
            Err(e) => {
                if e != last_error {
                    logf!("docker: cannot follow events ({e}); retrying every second");
                    last_error = e;
                }
            }
        }
        thread::sleep(Duration::from_secs(1));
    }
}
