//! The bodies of the fuzz targets (`fuzz/fuzz_targets/*.rs`). They live here
//! so that each target's corpus also runs as an ordinary test
//! (`tests/tests/fuzz_corpus.rs`) without libFuzzer.

use baton_core::config::{Config, Source};
use baton_core::deploy::Deploy;
use baton_core::effect::{Action, Effect, Event, Observation, Outcome};
use baton_core::machine::Machine;
use baton_core::plan::{LockInfo, Plan};
use std::collections::BTreeSet;

/// Config parser: any bytes, split at the first 0xFF into the base file and
/// a destination file. Nothing may panic; a parsed config must build its
/// commands and plan.
pub fn config(data: &[u8]) {
    let (base, dest) = match data.iter().position(|&b| b == 0xFF) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let base = String::from_utf8_lossy(base);
    let dest = dest.map(String::from_utf8_lossy);
    let parsed = Config::parse(
        Source { name: "config/deploy.yml", text: &base },
        dest.as_deref().map(|d| ("staging", Source { name: "config/deploy.staging.yml", text: d })),
    );
    let Ok(cfg) = parsed else { return };
    for role in &cfg.roles {
        let _ = cfg.role_labels(role);
        let _ = cfg.role_env(role);
        for host in &role.hosts {
            let _ = cfg.role_env_on(role, host);
            let (address, port) = cfg.ssh_endpoint(host);
            assert!(!address.is_empty() && port > 0, "a host has somewhere to connect to");
        }
        let _ = baton_core::commands::run(&cfg, role, "v1", "h-0123456789ab", "0123").render();
        let _ = baton_core::commands::exec_new(&cfg, role, "v1", "true", false).render();
    }
    let lock = LockInfo { holder: "fuzz".into(), at_utc: "2026-01-01T00:00:00Z".into(), message: "fuzz".into() };
    if let Ok(plan) = Plan::new(cfg, "v1", None, None, "fuzz", lock) {
        let groups = plan.groups();
        assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), plan.hosts.len(), "every host in exactly one group");
    }
}

/// Every parser of docker (and proxy, lock, .env) output; the first byte
/// picks one. Nothing may panic.
pub fn docker(data: &[u8]) {
    use baton_core::docker as d;
    let Some((&which, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    match which % 8 {
        0 => {
            let _ = d::parse_ps(&text);
        }
        1 => {
            if let Ok(st) = d::parse_status(&text) {
                assert_eq!(d::parse_status(&st.render()), Ok(st), "status renders back to itself");
            }
            if let Ok(p) = d::parse_probe(&text) {
                let again = match p.status.health {
                    Some(_) => format!("{} {}", p.status.render(), p.failing_streak),
                    None => p.status.render(),
                };
                assert_eq!(d::parse_probe(&again), Ok(p), "a probe renders back to itself");
            }
        }
        2 => {
            if let Ok(m) = d::parse_mounts(&text) {
                let _ = d::cord_source(&m, "/tmp/kamal-cord");
            }
        }
        3 => {
            let _ = d::parse_traefik_services(&text);
        }
        4 => {
            let _ = d::parse_addresses(&text);
        }
        5 => {
            let _ = d::versions_from_names(text.lines(), "app-web");
        }
        6 => {
            let _ = baton_core::ops::decode_lock_details(&text);
        }
        _ => {
            let _ = baton_core::ops::parse_dotenv(&text);
        }
    }
}

const DEPLOY_CONFIG: &str = "service: app\nimage: app\nregistry:\n  username: u\n  password: [P]\nservers:\n  web: [h1, h2]\n  jobs:\n    hosts: [h2]\n    cmd: bin/jobs\nreadiness_delay: 1\nhealthcheck:\n  max_attempts: 2\nboot:\n  limit: 1\n  wait: 1\nbaton:\n  routes: cat /routes\n";

/// A plausible answer to `effect`, chosen by `pick`.
fn answer(effect: &Effect, pick: u8) -> Observation {
    let c = effect.cmd();
    let id = c.id;
    let out = |s: &str| Observation::ok(id, s);
    match pick % 8 {
        5 => return Observation::failed(id, 1, "Error: simulated"),
        6 => return Observation::Unreachable { id, error: "connection lost".into() },
        7 => return Observation::TimedOut { id, after_ms: 1000 },
        _ => {}
    }
    let role = c.role.clone().unwrap_or_default();
    match &c.action {
        Action::ListContainers => match pick % 3 {
            0 => out(""),
            1 => out(&format!("app-{role}-v1\trunning\n")),
            _ => out(&format!("app-{role}-v2\texited\napp-{role}-v1\trunning\n")),
        },
        Action::Status { .. } => out([
            "running healthy 0",
            "running starting 1",
            "running unhealthy 3",
            "exited",
            "running",
            "running healthy",
        ][pick as usize % 6]),
        Action::Mounts { .. } => match pick % 3 {
            0 => out(&format!(
                r#"[{{"Source":"/root/.kamal/cords/app-{role}-00000000","Destination":"/tmp/kamal-cord"}}]"#
            )),
            1 => out("[]"),
            _ => out("not json"),
        },
        Action::Addresses { .. } => out(["172.30.1.2 ", "172.30.1.3 ", ""][pick as usize % 3]),
        Action::Routes => out([
            r#"[{"name":"app-web@docker","loadBalancer":{"servers":[{"url":"http://172.30.1.2:3000"}]}}]"#,
            r#"[{"name":"app-web@docker","loadBalancer":{"servers":[{"url":"http://172.30.1.3:3000"}]}}]"#,
            "[]",
        ][pick as usize % 3]),
        Action::LockRead => out("TG9ja2Vk"),
        _ => out(""),
    }
}

/// The boot machine driven by arbitrary inputs: each byte pair chooses
/// which pending effect is answered and how, or lets time pass, or
/// interrupts. Nothing may panic; the run must end within a bound; no
/// effect may follow the end; after a host failed nothing but stopping the
/// new container may go to it; the lock is released exactly on success.
pub fn deploy(data: &[u8]) {
    let cfg =
        Config::parse(Source { name: "config/deploy.yml", text: DEPLOY_CONFIG }, None).expect("fuzz config parses");
    let lock = LockInfo { holder: "fuzz".into(), at_utc: "2026-01-01T00:00:00Z".into(), message: "fuzz".into() };
    let plan = Plan::new(cfg, "v2", None, None, "fuzz", lock).expect("plan");
    let mut d = Deploy::new(plan, 1, 0);
    let mut now = 0u64;
    let mut pending: Vec<Effect> = vec![];
    let mut failed: BTreeSet<String> = BTreeSet::new();
    let mut finished: Option<Outcome> = None;
    let mut released = false;
    let mut interrupted = false;
    let mut started_any = false;
    let mut bytes = data.iter().copied();
    for _step in 0..4000 {
        while let Some(e) = d.poll_effect() {
            assert!(finished.is_none(), "an effect after the end: {e:?}");
            let c = e.cmd();
            if failed.contains(&c.host) {
                assert!(matches!(c.action, Action::Stop { .. }), "a stray effect to failed host {}: {e:?}", c.host);
            }
            if matches!(c.action, Action::LockRelease) {
                released = true;
            }
            if matches!(c.action, Action::RunContainer { .. } | Action::Rename { .. }) {
                started_any = true;
            }
            pending.push(e);
        }
        while let Some(ev) = d.poll_event() {
            match ev {
                Event::HostFailed(f) => {
                    failed.insert(f.host);
                }
                Event::Finished(o) => {
                    assert!(finished.is_none(), "finished twice");
                    finished = Some(o);
                }
                _ => {}
            }
        }
        if let Some(o) = &finished {
            // Released exactly on success; an interrupt before anything was
            // changed also gives the lock back (the documented rule).
            let nothing_changed = interrupted && !started_any;
            let expected = matches!(o, Outcome::Succeeded) || (nothing_changed && released);
            assert_eq!(expected, released, "lock released exactly on success: {o:?}");
            return;
        }
        let (a, b) = (bytes.next().unwrap_or(0), bytes.next().unwrap_or(0));
        match a % 16 {
            // Let time pass to the next deadline.
            14 => {
                if let Some(t) = d.poll_timeout().map(|w| w.at) {
                    now = now.max(t);
                    d.handle_timeout(now);
                }
            }
            15 => {
                interrupted = true;
                d.handle_interrupt(now);
            }
            _ if pending.is_empty() => {
                if let Some(t) = d.poll_timeout().map(|w| w.at) {
                    now = now.max(t);
                }
                d.handle_timeout(now);
            }
            _ => {
                let e = pending.remove(a as usize % pending.len());
                now += 10 + u64::from(b % 8) * 100;
                let obs = answer(&e, b);
                assert!(d.handle_observation(&obs, now), "a pending effect's id is known");
                assert!(!d.handle_observation(&obs, now), "a repeated id is ignored");
            }
        }
    }
    // Out of input: answer everything plainly until the end.
    for _ in 0..4000 {
        while let Some(e) = d.poll_effect() {
            pending.push(e);
        }
        while let Some(ev) = d.poll_event() {
            if let Event::Finished(_) = ev {
                return;
            }
        }
        match pending.pop() {
            Some(e) => {
                now += 100;
                d.handle_observation(&answer(&e, 1), now);
            }
            None => match d.poll_timeout().map(|w| w.at) {
                Some(t) => {
                    now = now.max(t);
                    d.handle_timeout(now);
                }
                None => panic!("the machine waits for nothing and has not finished"),
            },
        }
    }
    panic!("the run did not end within the step bound");
}

/// The journal's reader and `baton replay`: any text. Nothing may panic; a
/// journal that reads writes back to the same entries, and replays (into
/// the machine its header names, over a fixed config) to a verdict.
/// (Journals of over 5,000 entries are only read.)
pub fn journal(data: &[u8]) {
    use baton_core::journal::{self, replay, Entry};
    let text = String::from_utf8_lossy(data);
    let Ok(j) = journal::parse(&text) else { return };
    let mut again = Entry::Header(Box::new(j.header.clone())).to_line();
    for (_, e) in &j.entries {
        again.push('\n');
        again.push_str(&e.to_line());
    }
    let back = journal::parse(&again).expect("a journal written back reads");
    assert_eq!(back.header, j.header);
    assert_eq!(back.entries.len(), j.entries.len());
    for ((_, a), (_, b)) in back.entries.iter().zip(&j.entries) {
        // An event's JSON may hold a float, which need not read back to the last bit.
        if !matches!(a, Entry::Event(_)) {
            assert_eq!(a, b);
        }
    }
    let cfg = Config::parse(
        Source {
            name: "config/deploy.yml",
            text: "service: app\nimage: app\nservers:\n  web: [h1, h2]\nregistry:\n  username: u\n  password: [P]\n",
        },
        None,
    )
    .expect("the fixed config parses");
    if j.entries.len() > 5_000 {
        return;
    }
    if let Some(machine) = j.header.plan(cfg).ok().and_then(|plan| replay::machine(&j.header, &plan).ok()) {
        let _ = replay::replay(&j, machine).to_string();
    }
}
