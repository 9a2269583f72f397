//! The journal of a run and its replay: a run against the simulated fleet,
//! recorded in the journal's format, replays identically into a fresh
//! machine; a tampered journal is caught at the right line; and the
//! registry password never reaches a journal.

mod support;

use baton_core::driver::{Driver, Responder};
use baton_core::flow::hooks::Hooks;
use baton_core::flow::{self, Credentials, Flow};
use baton_core::journal::replay::{self, Divergence, Verdict};
use baton_core::journal::{self, Command, Entry, Header, HooksRecord, Recording};
use baton_core::machine::Machine;
use baton_core::plan::Plan;
use baton_core::sim::{self, Scenario};

const CONFIG: &str =
    "service: app\nimage: app\nservers:\n  web: [h1, h2]\n  jobs:\n    hosts: [h2]\n    cmd: bin/jobs\n";
const PASSWORD: &str = "pa55-w0rd-marker";

fn config() -> baton_core::config::Config {
    support::config(CONFIG)
}

/// The header of a run of `command` over [`support::plan`]'s plan.
fn header(command: Command, plan: &Plan, seed: u64) -> Header {
    Header {
        journal: journal::FORMAT.into(),
        baton_version: "test".into(),
        command,
        started_utc: "2026-11-27T10:00:00.000Z".into(),
        config_file: "config/deploy.yml".into(),
        config_digest: "sha256:test".into(),
        version: plan.version.clone(),
        hosts: None,
        roles: None,
        destination: None,
        skip_push: false,
        seed,
        lock: Header::lock_record(&plan.lock),
        performer: plan.performer.clone(),
        hooks: HooksRecord { dir: ".kamal/hooks".into(), present: vec!["pre-connect".into()], skip: false },
        registry_username: matches!(command, Command::Deploy | Command::Setup).then(|| "deployer".to_string()),
        lock_wait_ms: plan.lock_wait,
    }
}

/// The flow of a run with `h`'s hooks and seed, logging in with [`PASSWORD`].
fn flow_of(h: &Header) -> Flow {
    Flow {
        hooks: h.hooks(),
        seed: h.seed,
        skip_push: false,
        credentials: Credentials { username: "deployer".into(), password: PASSWORD.into() },
    }
}

/// Drive `machine` against the simulated fleet (every host on v1) and
/// return the journal's text; Ctrl-C at `interrupt_at` if given.
fn record<M: Machine>(h: &Header, plan: &Plan, machine: M, interrupt_at: Option<u64>) -> String {
    let fleet = sim::fleet_for(plan, &Scenario { from: Some("v1".into()), seed: 3, ..Default::default() });
    record_on(fleet, h, machine, interrupt_at)
}

/// [`record`] on a fleet of the caller's.
fn record_on<M: Machine>(mut fleet: sim::fleet::Fleet, h: &Header, machine: M, interrupt_at: Option<u64>) -> String {
    let mut rec = Recording::new(h, &mut fleet);
    let mut d = Driver::new(machine, 0, &mut rec as &mut dyn Responder);
    d.interrupt_at = interrupt_at;
    d.drive_bounded(&mut rec, 1_000_000);
    assert!(d.finished(), "the recorded run ends");
    rec.text()
}

/// Replay `text` into the machine its header names, over the same config.
fn replay_text(text: &str) -> Verdict {
    replay_over(text, config())
}

/// [`replay_text`] over `cfg`.
fn replay_over(text: &str, cfg: baton_core::config::Config) -> Verdict {
    let j = journal::parse(text).expect("the journal reads back");
    let plan = j.header.plan(cfg).expect("the header's plan");
    replay::replay(&j, replay::machine(&j.header, &plan).expect("the header's machine"))
}

fn boot_journal() -> String {
    let plan = support::plan(config(), "v2");
    let h = header(Command::AppBoot, &plan, 7);
    assert_eq!(h.plan(config()).expect("plan"), plan, "the header rebuilds the same plan");
    record(&h, &plan, baton_core::deploy::Deploy::new(plan.clone(), 7, 0), None)
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

fn entry(line: &str) -> Entry {
    serde_json::from_str(line).expect("an entry")
}

/// The position among effects and events (from 0) of the first of them
/// after line `after` (1-based), and that line.
fn first_output_after(ls: &[String], after: usize) -> (usize, usize) {
    let mut index = 0;
    for (i, l) in ls.iter().enumerate().skip(1) {
        let is_output = matches!(entry(l), Entry::Effect(_) | Entry::Event(_));
        if is_output && i + 1 > after {
            return (index, i + 1);
        }
        if is_output {
            index += 1;
        }
    }
    panic!("no output after line {after}")
}

#[test]
fn a_simulated_boot_replays_identically() {
    let text = boot_journal();
    let j = journal::parse(&text).expect("parses");
    let effects = j.entries.iter().filter(|(_, e)| matches!(e, Entry::Effect(_))).count();
    let events = j.entries.iter().filter(|(_, e)| matches!(e, Entry::Event(_))).count();
    assert!(effects > 20 && events > 10, "a whole boot: {effects} effects, {events} events");
    assert!(j.entries.iter().any(|(_, e)| matches!(e, Entry::Wake(_))), "waits are journaled");
    let v = replay_text(&text);
    assert_eq!(v, Verdict::Identical { effects, events });
    assert_eq!(v.to_string(), format!("replayed {effects} effects, {events} events: identical"));
}

#[test]
fn a_simulated_deploy_with_hooks_and_an_interrupt_replays_identically() {
    let plan = support::plan(config(), "v2");
    let h = header(Command::Deploy, &plan, 11);
    let f = flow_of(&h);
    let text = record(&h, &plan, flow::deploy(&plan, &f), None);
    assert!(matches!(replay_text(&text), Verdict::Identical { .. }), "{}", replay_text(&text));

    // Ctrl-C halfway: recorded, and replayed at its time.
    let end = journal::parse(&text).expect("parses").entries.last().and_then(|(_, e)| e.at_ms()).expect("a time");
    let text = record(&h, &plan, flow::deploy(&plan, &f), Some(end / 2));
    assert!(text.contains(r#""type":"interrupt""#), "the interrupt is journaled");
    assert!(matches!(replay_text(&text), Verdict::Identical { .. }), "{}", replay_text(&text));
}

/// The answer to the first effect `pick` chooses becomes Docker's failure;
/// the index of its line.
fn fail_answer(ls: &mut [String], pick: impl Fn(&journal::EffectRecord) -> bool) -> usize {
    let id = ls
        .iter()
        .find_map(|l| match entry(l) {
            Entry::Effect(e) if pick(&e) => Some(e.id),
            _ => None,
        })
        .expect("the effect");
    let at = ls.iter().position(|l| matches!(entry(l), Entry::Observation(o) if o.id == id)).expect("its answer");
    let Entry::Observation(mut o) = entry(&ls[at]) else { unreachable!() };
    o.code = Some(125);
    o.stderr = Some("docker: Error response from daemon: conflict".into());
    ls[at] = Entry::Observation(o).to_line();
    at
}

#[test]
fn a_changed_answer_diverges_at_the_first_output_after_it() {
    let text = boot_journal();
    let mut ls = lines(&text);
    // The first `docker run` of the new version: its answer becomes a failure.
    let at = fail_answer(&mut ls, |e| e.step == "run");
    let (index, line) = first_output_after(&ls, at + 1);
    let Verdict::Diverged(d) = replay_text(&(ls.join("\n") + "\n")) else { panic!("a changed answer is caught") };
    assert_eq!((d.index, d.line), (Some(index), line), "{d:?}");
    let expected = match entry(&ls[line - 1]) {
        e @ (Entry::Effect(_) | Entry::Event(_)) => e.describe(),
        _ => unreachable!(),
    };
    assert_eq!(d.expected, expected);
    assert_ne!(d.got, d.expected);
    assert_eq!(Some(d.at_ms), entry(&ls[line - 1]).at_ms());
}

#[test]
fn a_removed_effect_is_caught_where_it_was() {
    let text = boot_journal();
    let mut ls = lines(&text);
    let at = ls.iter().rposition(|l| matches!(entry(l), Entry::Effect(_))).expect("an effect");
    let removed = entry(&ls.remove(at));
    let Verdict::Diverged(Divergence { line, got, .. }) = replay_text(&(ls.join("\n") + "\n")) else {
        panic!("a removed effect is caught")
    };
    assert_eq!(line, at + 1, "the line that took its place");
    assert_eq!(got, removed.describe(), "the replay issues the removed effect there");
}

#[test]
fn a_wake_up_the_machine_did_not_ask_for_is_caught() {
    let text = boot_journal();
    let mut ls = lines(&text);
    let at = ls.iter().position(|l| matches!(entry(l), Entry::Wake(_))).expect("a wake-up");
    let Entry::Wake(mut w) = entry(&ls[at]) else { unreachable!() };
    w.due_ms += 1;
    ls[at] = Entry::Wake(w).to_line();
    let Verdict::Diverged(d) = replay_text(&(ls.join("\n") + "\n")) else { panic!("caught") };
    assert_eq!((d.line, d.index), (at + 1, None), "{d:?}");
}

#[test]
fn the_registry_password_never_reaches_the_journal() {
    let plan = support::plan(config(), "v2");
    let h = header(Command::Deploy, &plan, 5);
    let f = Flow {
        hooks: Hooks::default(),
        seed: 5,
        skip_push: false,
        credentials: Credentials { username: "deployer".into(), password: PASSWORD.into() },
    };
    let machine = flow::deploy(&plan, &f);
    let h = Header { hooks: HooksRecord::default(), ..h };
    let text = record(&h, &plan, machine, None);
    assert!(!text.contains(PASSWORD), "no password in the journal");
    let logins: Vec<Entry> = lines(&text)
        .iter()
        .map(|l| entry(l))
        .filter(|e| matches!(e, Entry::Effect(r) if r.step == "registry"))
        .collect();
    assert_eq!(logins.len(), 3, "this machine and both hosts log in");
    for e in &logins {
        let Entry::Effect(r) = e else { unreachable!() };
        assert!(r.stdin && r.cmd.ends_with("docker login -u deployer --password-stdin"), "{r:?}");
        assert_eq!(r.stdin_bytes, None, "not even a password's length: {r:?}");
    }
    // The replay has no password and still issues the same effects.
    assert!(matches!(replay_text(&text), Verdict::Identical { .. }), "{}", replay_text(&text));
}

#[test]
fn a_damaged_journal_is_refused_with_its_line() {
    let text = boot_journal();
    assert_eq!(journal::parse(""), Err(journal::JournalError::Empty));
    let ls = lines(&text);
    let no_header = ls[1..].join("\n");
    assert_eq!(journal::parse(&no_header).map(|_| ()).unwrap_err().line(), Some(1));
    let mut cut = ls.clone();
    cut[3].truncate(10);
    let e = journal::parse(&cut.join("\n")).unwrap_err();
    assert_eq!(e.line(), Some(4), "{e}");
    let other = text.replacen(journal::FORMAT, "baton-journal/0", 1);
    assert!(matches!(journal::parse(&other), Err(journal::JournalError::Format { .. })));
}

#[test]
fn a_boot_that_waited_for_the_lock_records_lock_wait_and_replays_it() {
    let mut plan = support::plan(config(), "v2");
    plan.lock_wait = Some(3_000);
    let h = header(Command::AppBoot, &plan, 5);
    assert_eq!(h.plan(config()).expect("plan").lock_wait, Some(3_000), "the header rebuilds --lock-wait");
    let mut fleet = sim::fleet_for(&plan, &Scenario { from: Some("v1".into()), seed: 3, ..Default::default() });
    let primary = plan.lock_host().to_string();
    fleet.hosts.get_mut(&primary).expect("primary").lock =
        Some(baton_core::ops::lock_details_b64("Bob", "2026-11-27T09:00:00Z", "v9", "manual"));
    let text = record_on(fleet, &h, baton_core::deploy::Deploy::new(plan.clone(), 5, 0), None);
    assert!(text.contains(r#""lock_wait_ms":3000"#), "the header records --lock-wait");
    assert!(text.contains(r#""reason":"lock-retry""#), "the retries are journaled:\n{text}");
    assert!(matches!(replay_text(&text), Verdict::Identical { .. }), "{}", replay_text(&text));
    // Without it, the replayed boot gives up at once: a divergence.
    let without = text.replacen(r#""lock_wait_ms":3000"#, r#""lock_wait_ms":null"#, 1);
    assert!(matches!(replay_text(&without), Verdict::Diverged(_)), "{}", replay_text(&without));
}

#[test]
fn calibrating_from_a_simulated_boot_recovers_the_simulators_figures() {
    use baton_core::sim::calibrate;
    use baton_core::sim::fleet::Costs;
    let text = boot_journal();
    let j = journal::parse(&text).expect("parses");
    let s = calibrate::from_journal(&j);
    assert!(!s.run.is_empty() && !s.inspect.is_empty() && !s.healthy_after.is_empty(), "{s:?}");
    let built_in = Costs::default();
    let c = s.calibrate(&built_in, Some(1000));
    // The simulated fleet answers a docker run in rtt + run, an inspect in
    // rtt + inspect: calibration gets them back.
    assert_eq!(c.costs.run, built_in.run);
    assert_eq!(c.costs.inspect, built_in.inspect);
    // Its apps answer 1.2 s after start, so they turn healthy at the second
    // check (1.05 s, 2.1 s after start): calibration puts the start between.
    let start = c.app_start.expect("health timing");
    assert!((1051..=2100).contains(&start), "app start {start} ms");
}

#[test]
fn a_journal_tells_what_each_host_ran_before() {
    let text = boot_journal();
    let j = journal::parse(&text).expect("parses");
    let plan = j.header.plan(config()).expect("plan");
    let before = replay::versions_before(&j, &plan);
    assert!(!before.is_empty());
    for host in &plan.hosts {
        for role in plan.roles_on(host) {
            assert_eq!(before.get(&(host.clone(), role.clone())).map(String::as_str), Some("v1"), "{host} {role}");
        }
    }
}

/// A setup's accessories: one on an app host, one on a host of its own.
const SETUP_CONFIG: &str = "service: app\nimage: app\nservers:\n  web: [h1, h2]\naccessories:\n  db:\n    image: mysql:8.0\n    host: h3\n    env:\n      secret: [DB_PASSWORD]\n    files:\n      - conf/my.cnf:/etc/mysql/my.cnf\n    directories:\n      - data:/var/lib/mysql\n  cache:\n    image: redis:7\n    roles: [web]\n";
const FILE_SECRET: &str = "file-s3cret-marker";

/// A simulated `setup` (its accessory file holding a secret), journaled.
fn setup_journal() -> String {
    use baton_core::accessory::{Contents, Login};
    let plan = support::plan(support::config(SETUP_CONFIG), "v2");
    let h = header(Command::Setup, &plan, 13);
    let f = flow_of(&h);
    let contents: Contents = [("conf/my.cnf".to_string(), FILE_SECRET.as_bytes().to_vec())].into();
    let login = Login { username: "deployer".into(), password: PASSWORD.into() };
    let before = baton_core::toplevel::setup_phases(&plan, &contents, &login).expect("the setup's phases");
    record(&h, &plan, flow::setup(&plan, &f, before), None)
}

#[test]
fn a_simulated_setup_replays_identically_without_its_secrets() {
    let text = setup_journal();
    assert!(text.contains(r#""command":"setup""#), "{}", lines(&text)[0]);
    for secret in [PASSWORD, FILE_SECRET] {
        assert!(!text.contains(secret), "{secret} is in the journal");
    }
    let effects: Vec<journal::EffectRecord> = lines(&text)
        .iter()
        .filter_map(|l| match entry(l) {
            Entry::Effect(r) => Some(r),
            _ => None,
        })
        .collect();
    // The phases before the deploy ran, on the accessory's own host too.
    assert!(effects.iter().any(|r| r.host == "h3" && r.cmd.contains("docker -v")), "docker checked on h3");
    let upload = effects.iter().find(|r| r.host == "h3" && r.cmd.contains("my.cnf")).expect("the file uploaded");
    assert!(upload.stdin, "its contents on standard input: {upload:?}");
    assert_eq!(upload.stdin_bytes, Some(FILE_SECRET.len() as u64), "a file's size, never its bytes: {upload:?}");
    let with_stdin: Vec<_> = effects.iter().filter(|r| r.stdin).collect();
    for r in &with_stdin {
        // Registry logins carry a password (no size); the rest files.
        assert_eq!(r.stdin_bytes.is_none(), r.step == "registry", "{r:?}");
    }
    assert!(with_stdin.iter().any(|r| r.step == "registry"), "{with_stdin:?}");
    assert!(effects.iter().any(|r| r.host == "h3" && r.cmd.contains("mysql:8.0")), "db booted on h3");
    let v = replay_over(&text, support::config(SETUP_CONFIG));
    assert!(matches!(v, Verdict::Identical { .. }), "{v}");
}

#[test]
fn a_tampered_setup_diverges_at_the_first_differing_effect() {
    let text = setup_journal();
    let mut ls = lines(&text);
    // The db's `docker run` on h3 fails: the setup releases the lock where
    // the recorded one logged in to the registry next.
    let at = fail_answer(&mut ls, |e| e.host == "h3" && e.cmd.contains("mysql:8.0"));
    let cfg = || support::config(SETUP_CONFIG);
    let Verdict::Diverged(d) = replay_over(&(ls.join("\n") + "\n"), cfg()) else {
        panic!("a changed answer is caught")
    };
    assert!(d.line > at + 1, "after the changed answer: {d:?}");
    assert_eq!(d.expected, entry(&ls[d.line - 1]).describe());
    assert!(d.expected.contains("docker login") && d.got.contains("rm -r .kamal/lock-app"), "{d:?}");

    // The docker check on h3 removed: the replay issues it there.
    let mut ls = lines(&text);
    let at = ls
        .iter()
        .position(|l| matches!(entry(l), Entry::Effect(e) if e.host == "h3" && e.cmd.contains("docker -v")))
        .expect("the check on h3");
    let removed = entry(&ls.remove(at));
    let Verdict::Diverged(d) = replay_over(&(ls.join("\n") + "\n"), cfg()) else {
        panic!("a removed effect is caught")
    };
    assert_eq!((d.line, d.got.as_str()), (at + 1, removed.describe().as_str()), "{d:?}");
}
