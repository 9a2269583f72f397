//! Property: any config that baton accepts produces, for every command it
//! would run (`--dry-run` of every command, and the commands of a simulated
//! boot and handover), command lines that a POSIX shell (`/bin/sh`) parses
//! back into exactly the words baton meant. Host names, labels, env values,
//! volumes, options, the health command, the run directory, the user and
//! the lock message are generated hostile: quotes, `$`, backticks, `;`,
//! `|`, globs, tabs, line breaks, unicode.
//!
//! Each command is cut into its simple commands at baton's own fixed
//! operators (`&&`, `|`, `>`, `{ … ; }`); the words of each are rendered as
//! baton renders them and given to `printf '%s\0'` in one `sh -c`, whose
//! output must be the words, byte for byte. A role's `cmd:` and the command
//! of `app exec` are the user's own shell lines, which baton does not quote
//! by design: they end a simple command and are not compared.

use baton_core::commands::LogOptions;
use baton_core::config::{Config, Source};
use baton_core::ops;
use baton_core::plan::{LockInfo, Plan};
use baton_core::shell::{Command, Word};
use baton_core::sim::{simulate, Scenario};
use baton_core::traefik;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// The remote home the shell expands `"$HOME"` to.
const HOME: &str = "/home/baton test";

/// Text with every character a shell treats specially, and some it does not.
fn hostile() -> impl Strategy<Value = String> {
    "[-a-z0-9'\"$`\\\\;|&<>(){}\\[\\]*?~#! \t\n=%,.:/@+^é日🚀]{0,14}"
}

/// The same without line breaks (env values: Docker's env files hold none).
fn one_line() -> impl Strategy<Value = String> {
    hostile().prop_map(|s| s.replace(['\n', '\r'], " "))
}

/// Hosts as a config may write them; some are refused, which is fine.
fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z][a-z0-9-]{0,8}[a-z0-9](\\.[a-z0-9]{1,4}){0,2}",
        4 => (1u8..=254, 0u8..=255, 1u8..=254).prop_map(|(a, b, c)| format!("10.{a}.{b}.{c}")),
        4 => (1u8..=254, 1u16..=65535).prop_map(|(a, p)| format!("192.0.2.{a}:{p}")),
        4 => (1u16..=0xffff, 1u16..=65535).prop_map(|(h, p)| format!("[2001:db8::{h:x}]:{p}")),
        4 => (1u16..=0xffff).prop_map(|h| format!("2001:db8::{h:x}")),
        1 => hostile(),
    ]
}

/// Keys (labels and env names may hold punctuation; option names may not)
/// with values.
fn pairs(key: &'static str, value: impl Strategy<Value = String>) -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((key, value), 0..4)
}

fn mapping(pairs: &[(String, String)]) -> Value {
    Value::Object(pairs.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<Map<_, _>>())
}

/// A config as JSON, which is YAML too, so any string goes in verbatim.
fn config() -> impl Strategy<Value = (String, String)> {
    let parts = (
        prop::collection::vec(host(), 1..4),
        pairs("[A-Za-z_][A-Za-z0-9_.:/-]{0,8}", hostile()),
        pairs("[A-Za-z_][A-Za-z0-9_]{0,8}", one_line()),
        prop::collection::vec(hostile(), 0..3),
        (hostile(), hostile(), one_line().prop_filter("a directory", |d| !d.is_empty()), "[a-z][a-z0-9._-]{0,7}"),
        (pairs("[a-z][a-z0-9-]{0,8}", hostile()), any::<bool>(), 0u64..100),
    );
    parts.prop_map(|(hosts, labels, env, volumes, (cmd, path, run_dir, user), (options, jobs, stop))| {
        let mut servers = Map::new();
        servers.insert("web".into(), json!({ "hosts": hosts, "labels": mapping(&labels) }));
        if jobs {
            let job = json!({ "hosts": [hosts[0]], "options": mapping(&options), "cmd": "bin/jobs" });
            servers.insert("jobs".into(), job);
        }
        let cfg = json!({
            "service": "app",
            "image": "team/app",
            "servers": servers,
            "registry": { "server": "registry.example.com:5000", "username": "u", "password": ["REGISTRY_PASSWORD"] },
            "env": { "clear": mapping(&env) },
            "volumes": volumes,
            "labels": mapping(&labels),
            "healthcheck": { "cmd": cmd, "path": format!("/{path}") },
            "logging": { "options": mapping(&labels) },
            "run_directory": run_dir,
            "stop_wait_time": stop,
            "ssh": { "user": user },
            "traefik": {
                "labels": mapping(&labels),
                "options": mapping(&options),
                "args": mapping(&options),
                "env": { "clear": mapping(&env) },
            },
        });
        (cfg.to_string(), cmd)
    })
}

/// One word and the string the shell must make of it.
struct Meant(Word, String);

/// `cmd` cut into simple commands of words baton meant. A fixed word made
/// of plain characters (`--label`, `-t`) is a word like any other; any
/// other fixed word is shell syntax of baton's own and ends a simple
/// command; a user's command line ends one and is skipped.
fn simple_commands(cmd: &Command) -> Vec<Vec<Meant>> {
    let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-=.,:/+%@".contains(&b));
    let mut out = vec![vec![]];
    for w in cmd.words() {
        let meant = match w {
            Word::Value(v) => Some(v.clone()),
            Word::Fixed(s) if plain(s) => Some(s.to_string()),
            Word::Glued(parts) => parts
                .iter()
                .map(|p| match p {
                    Word::Value(v) => Some(v.clone()),
                    Word::Fixed("\"$HOME\"/") => Some(format!("{HOME}/")),
                    _ => None,
                })
                .collect::<Option<String>>(),
            Word::Fixed(_) | Word::UserShell(_) => None,
        };
        match meant {
            Some(m) => out.last_mut().expect("one").push(Meant(w.clone(), m)),
            None => out.push(vec![]),
        }
    }
    out.retain(|c| !c.is_empty());
    out
}

/// Every command baton would run for `plan`, and the argv of `exec -i`.
fn every_command(plan: &Plan, exec: &str) -> (Vec<Command>, Vec<String>) {
    let mut cmds = vec![];
    for from in [None, Some("v1".to_string())] {
        let sim = simulate(plan.clone(), &Scenario { from, seed: 3, ..Scenario::default() });
        cmds.extend(sim.run.effects.iter().map(|(_, e)| e.cmd().cmd.clone()));
    }
    let logs = LogOptions { since: Some(exec.into()), lines: Some(5), grep: Some(exec.into()), follow: false };
    let login = baton_core::flow::Credentials { username: "u".into(), password: "p".into() };
    let phases = [
        ops::app_start(plan),
        ops::app_stop(plan),
        ops::app_details(plan),
        ops::app_containers(plan),
        ops::app_images(plan),
        ops::app_version(plan),
        ops::app_stale_containers(plan, true),
        ops::app_exec_new(plan, exec),
        ops::app_exec_reuse(plan, exec),
        ops::app_logs(plan, &logs),
        ops::app_remove(plan),
        ops::app_remove_container(plan, "v1"),
        ops::audit_tail(plan),
        vec![ops::lock_status(&plan.config)],
        vec![ops::env_push(plan, &Default::default()).expect("no secrets to find")],
        vec![ops::env_delete(plan)],
        traefik::boot(plan, &login),
        traefik::reboot(plan, &login),
        traefik::restart(plan),
        traefik::details(plan),
        traefik::logs(plan, &logs),
        traefik::remove(plan),
        traefik::env_push_phase(plan, &Default::default()).expect("no secrets to find").into_iter().collect(),
        traefik::env_delete_phase(plan).into_iter().collect(),
    ];
    cmds.push(baton_core::commands::traefik::healthy_app_roles(&plan.config));
    cmds.push(baton_core::commands::traefik::state());
    cmds.push(baton_core::commands::traefik::logs(&LogOptions { follow: true, ..logs.clone() }));
    cmds.extend(phases.iter().flatten().flat_map(|p| p.scripts.iter().flatten()).map(|s| s.cmd.clone()));
    let role = plan.config.role(&plan.primary_role()).expect("primary role");
    let remote = baton_core::commands::exec_new(&plan.config, role, "latest", exec, true);
    cmds.push(remote.clone());
    let argv = ops::interactive_ssh(&plan.config, plan.primary_host(), &remote);
    (cmds, argv)
}

/// Run every simple command through `printf '%s\0'` in one `sh`, and
/// return what the shell made of each.
fn through_sh(lines: &[String]) -> Vec<Vec<String>> {
    let script: String = lines.iter().map(|l| format!("printf '%s\\0' {l}; printf '\\001\\0'\n")).collect();
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&script)
        .env_clear()
        .env("HOME", HOME)
        .env("PATH", "/usr/bin:/bin")
        .output()
        .expect("run /bin/sh");
    assert!(out.status.success(), "sh failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8 back");
    let mut groups: Vec<Vec<String>> =
        text.split("\u{1}\0").map(|g| g.split('\0').map(str::to_string).collect()).collect();
    groups.pop(); // after the last separator
    for g in &mut groups {
        g.pop(); // after the last word's NUL
    }
    groups
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn the_shell_reads_back_exactly_the_words_baton_meant((text, exec) in config(), holder in hostile(), performer in hostile()) {
        let Ok(cfg) = Config::parse(Source { name: "config/deploy.yml", text: &text }, None) else {
            return Ok(()); // refused: nothing runs
        };
        let lock = LockInfo { holder, at_utc: "2026-11-27T10:00:00Z".into(), message: performer.clone() };
        let plan = Plan::new(cfg, "v2", None, None, &performer, lock).expect("every host and role");
        let (cmds, argv) = every_command(&plan, &exec);
        let mut lines = vec![];
        let mut meant = vec![];
        for cmd in &cmds {
            for simple in simple_commands(cmd) {
                let words: Vec<Word> = simple.iter().map(|m| m.0.clone()).collect();
                lines.push(Command::new().args(words).render());
                meant.push(simple.into_iter().map(|m| m.1).collect::<Vec<_>>());
            }
        }
        // `exec -i --dry-run` prints the ssh argv, each word quoted.
        lines.push(argv.iter().map(|a| baton_core::shell::quote(a).into_owned()).collect::<Vec<_>>().join(" "));
        meant.push(argv);
        let read = through_sh(&lines);
        prop_assert_eq!(read.len(), meant.len());
        for ((line, got), want) in lines.iter().zip(&read).zip(&meant) {
            prop_assert_eq!(got, want, "the shell split {:?} differently", line);
        }
    }
}

/// The property above is only as good as the share of configs baton
/// accepts: most generated configs must be accepted.
#[test]
fn most_generated_configs_are_accepted() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let accepted = (0..200)
        .filter(|_| {
            let (text, _) = config().new_tree(&mut runner).expect("a config").current();
            Config::parse(Source { name: "config/deploy.yml", text: &text }, None).is_ok()
        })
        .count();
    assert!(accepted >= 120, "only {accepted} of 200 generated configs are accepted");
}
