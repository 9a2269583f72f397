//! `baton plan --json`, as the binary prints it: valid against the
//! documented schema (docs/plan.schema.json) in every scenario the example
//! can show, and the same bytes for the same inputs and seed (time comes
//! from the seed or `--now`, never the clock).

mod common;

use common::plan_in;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("root").to_path_buf()
}

/// `baton ARGS` in examples/demo: (exit code, stdout).
fn baton(args: &[&str]) -> (i32, String) {
    plan_in(&root().join("examples/demo"), args)
}

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("docs/plan.schema.json")).expect("read docs/plan.schema.json");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("the schema is JSON");
    jsonschema::draft202012::new(&schema).expect("the schema is a valid JSON Schema")
}

fn check(v: &jsonschema::Validator, args: &[&str]) -> serde_json::Value {
    let (_, out) = baton(args);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("baton plan --json prints JSON");
    let errors: Vec<String> = v.iter_errors(&doc).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "baton {args:?} does not match docs/plan.schema.json:\n{}", errors.join("\n"));
    doc
}

const BOOT: &[&str] = &["plan", "--json", "--version", "v2", "--from", "v1"];

fn with(extra: &[&'static str]) -> Vec<&'static str> {
    BOOT.iter().copied().chain(extra.iter().copied()).collect()
}

#[test]
fn the_json_matches_its_schema_in_every_scenario() {
    let v = validator();
    let doc = check(&v, BOOT);
    assert_eq!(doc["outcome"], "succeeded");
    assert_eq!(doc["version"], "v2");
    assert_eq!(doc["seed"], 1);
    assert_eq!(doc["lock"]["outcome"], "released");
    assert_eq!(doc["summary"]["rows"].as_array().map(Vec::len), Some(4), "3 web hosts and 1 jobs host");
    let events = doc["events"].as_array().expect("events");
    for kind in ["proxy-routes", "proxy-unroutes", "health", "container-started", "container-exited", "finished"] {
        assert!(events.iter().any(|e| e["type"] == kind), "no {kind} event");
    }
    let effects = doc["effects"].as_array().expect("effects");
    assert!(effects.iter().all(|e| e["result"].is_object()), "every effect of a finished run has its result");

    let doc = check(&v, &with(&["--fault", "192.0.2.12=never-healthy"]));
    assert_eq!(doc["outcome"], "failed");
    assert_eq!(doc["lock"]["outcome"], "kept");
    let failed: Vec<&serde_json::Value> =
        doc["summary"]["rows"].as_array().expect("rows").iter().filter(|r| r["outcome"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["host"], "192.0.2.12");

    let doc = check(&v, &with(&["--fault", "192.0.2.13=unreachable@run", "--pulled"]));
    assert_eq!(doc["outcome"], "failed");
    assert_eq!(doc["assumptions"]["image_pull_ms"], serde_json::Value::Null);
    assert!(doc["effects"].as_array().expect("effects").iter().any(|e| e["result"]["status"] == "not-connected"));

    let doc = check(&v, &with(&["--fault", "192.0.2.11=unreachable"]));
    assert_eq!(doc["lock"]["outcome"], "not-taken", "the lock host cannot be reached");

    // A first deploy (no --from).
    let doc = check(&v, &["plan", "--json", "--version", "v2"]);
    assert_eq!(doc["assumptions"]["from"], serde_json::Value::Null);

    // The whole `deploy`: the build here, the health check container, the
    // boot and the prune, under one lock that is released at the end.
    let doc = check(&v, &with(&["--command", "deploy", "--build-time", "20s"]));
    assert_eq!((doc["command"].as_str(), doc["outcome"].as_str()), (Some("deploy"), Some("succeeded")));
    assert_eq!(doc["lock"]["outcome"], "released");
    let effects = doc["effects"].as_array().expect("effects");
    let build = effects.iter().find(|e| e["cmd"].as_str().is_some_and(|c| c.contains("docker buildx build")));
    let build = build.expect("a build");
    assert!(doc["duration_ms"].as_u64().is_some_and(|d| d > 20_000), "the build time is assumed");
    assert_eq!((build["host"].as_str(), build["step"].as_str()), (Some("(local)"), Some("build")));
    assert!(effects.iter().any(|e| e["cmd"].as_str().is_some_and(|c| c.contains("healthcheck-shop-v2"))));
}

#[test]
fn the_same_inputs_and_seed_give_the_same_bytes() {
    let args = with(&["--seed", "7"]);
    let (_, first) = baton(&args);
    // A second apart at least, so that a clock in the output would show.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (_, second) = baton(&args);
    assert!(first == second, "two runs of baton {args:?} differ");
    let doc: serde_json::Value = serde_json::from_str(&first).expect("JSON");
    assert_eq!(doc["now"], "2026-01-01T00:00:07Z", "the time comes from the seed");
    assert!(doc["lock"]["details"].as_str().is_some_and(|d| d.contains("at 2026-01-01T00:00:07Z")));

    // --now sets the time written into the lock; another seed changes the plan.
    let (_, at) = baton(&with(&["--now", "2027-03-04T05:06:07Z"]));
    let doc: serde_json::Value = serde_json::from_str(&at).expect("JSON");
    assert_eq!(doc["now"], "2027-03-04T05:06:07Z");
    assert!(doc["lock"]["details"].as_str().is_some_and(|d| d.contains("at 2027-03-04T05:06:07Z")));
    let (_, other) = baton(&with(&["--seed", "8"]));
    assert_ne!(first, other, "the seed is an input");
}

#[test]
fn rollback_live_and_calibrated_plans_match_the_schema() {
    let v = validator();
    // Rollback to v1: a stopped v1 container on every host (renamed aside, v1 booted again).
    let doc = check(&v, &["plan", "--json", "--version", "v1", "--from", "v2", "--command", "rollback"]);
    assert_eq!((doc["command"].as_str(), doc["outcome"].as_str()), (Some("rollback"), Some("succeeded")));
    let rows = doc["summary"]["rows"].as_array().expect("rows");
    assert!(rows.iter().all(|r| r["from"] == "v2" && r["to"] == "v1" && r["outcome"] == "done"), "{rows:?}");
    let effects = doc["effects"].as_array().expect("effects");
    let runs_v1 = |e: &&serde_json::Value| {
        e["step"] == "run" && e["cmd"].as_str().is_some_and(|c| c.contains("--name shop-web-v1"))
    };
    assert!(effects.iter().any(|e| runs_v1(&e)), "v1 is booted again");

    // --live against a host that refuses SSH: read-only, the host shows as
    // unreachable, the plan says the boot fails there.
    let dir = std::env::temp_dir().join(format!("baton-plan-live-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("config")).expect("mkdir");
    let config = "service: app\nimage: app\nservers: [127.0.0.1]\nregistry:\n  username: u\n  password: [P]\nssh:\n  port: 1\nbaton:\n  connect_timeout: 5s\n";
    std::fs::write(dir.join("config/deploy.yml"), config).expect("write config");
    let (code, out) = plan_in(&dir, &["plan", "--json", "--live", "--version", "v2"]);
    assert_eq!(code, 3, "the boot would fail");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let errors: Vec<String> = v.iter_errors(&doc).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "plan --live does not match the schema:\n{}", errors.join("\n"));
    let host = &doc["assumptions"]["live"]["hosts"]["127.0.0.1"];
    assert_eq!(host["reachable"], false, "{host}");
    assert!(host["error"].as_str().is_some_and(|e| e.contains("connection refused")), "{host}");
    assert_eq!(doc["summary"]["rows"][0]["outcome"], "failed");
    let (_, text) = plan_in(&dir, &["plan", "--live", "--version", "v2"]);
    assert!(text.contains("127.0.0.1: UNREACHABLE"), "{text}");
    assert!(text.contains("(--live, read-only: no lock"), "{text}");

    // --calibrate: the figures of a journal instead of the built-in ones.
    let journal = dir.join("run.jsonl");
    std::fs::write(&journal, CALIBRATION_JOURNAL).expect("write journal");
    let j = journal.to_str().expect("UTF-8");
    let args: Vec<&str> = BOOT.iter().copied().chain(["--calibrate", j]).collect();
    let doc = check(&v, &args);
    assert_eq!(doc["assumptions"]["figures"], "journals");
    // The journal's docker run took 700 ms, less the built-in round trip (8 ms).
    assert_eq!(doc["assumptions"]["docker_run_ms"], 692);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A journal cut down to what calibration reads: a host's first command,
/// then a docker run answered after 700 ms.
const CALIBRATION_JOURNAL: &str = r#"{"type":"header","journal":"baton-journal/1","baton_version":"0","command":"app boot","started_utc":"2026-11-27T10:00:00.000Z","config_file":"config/deploy.yml","config_digest":"sha256:x","version":"v2","hosts":null,"roles":null,"destination":null,"skip_push":false,"seed":1,"lock":{"holder":"a","at_utc":"2026-11-27T10:00:00Z","message":"m"},"performer":"a"}
{"type":"effect","at_ms":0,"id":0,"kind":"run","host":"h1","role":null,"step":"lock","cmd":"mkdir .kamal/lock-app","stdin":false}
{"type":"observation","at_ms":300,"id":0,"status":"exited","code":0,"stdout":"","stderr":""}
{"type":"effect","at_ms":1000,"id":1,"kind":"run","host":"h1","role":"web","step":"run","cmd":"docker run --detach --name app-web-v2 app:v2","stdin":false}
{"type":"observation","at_ms":1700,"id":1,"status":"exited","code":0,"stdout":"abc","stderr":""}
"#;

/// `plan --live` read a routing table that differs from the containers (h1
/// does not route to its container yet, h2 still routes to a stale target):
/// the document, built in-process from a survey of a simulated fleet, says
/// so and matches the schema (the containers' addresses, `live` warnings).
#[test]
fn a_live_plan_from_a_routing_table_that_differs_matches_the_schema() {
    use baton_core::sim::{doc, fleet_for, simulate, Scenario};
    let text = "service: app\nimage: app\nservers: [h1, h2]\nregistry:\n  username: u\n  password: [P]\nbaton:\n  routes: traefik-routes\n";
    let cfg = baton_core::config::Config::parse(baton_core::config::Source { name: "config/deploy.yml", text }, None)
        .expect("config");
    let lock =
        baton_core::plan::LockInfo { holder: "a".into(), at_utc: "2026-12-02T06:10:00Z".into(), message: "m".into() };
    let p = baton_core::plan::Plan::new(cfg, "v2", None, None, "a", lock).expect("plan");
    let mut fleet = fleet_for(&p, &Scenario { from: Some("v1".into()), ..Scenario::default() });
    let mut d = baton_core::driver::Driver::new(baton_core::live::Survey::new(&p), 0, &mut fleet);
    d.drive_bounded(&mut fleet, 10_000);
    let mut state = d.machine.state().clone();
    let ip = state.hosts["h1"].containers[0].ips[0].clone();
    let table = |s: &mut baton_core::live::state::LiveState, h: &str| -> Vec<String> {
        std::mem::take(
            s.hosts.get_mut(h).and_then(|x| x.routes.as_mut()).expect("read").get_mut("app-web").expect("web"),
        )
    };
    let h1: Vec<String> = table(&mut state, "h1").into_iter().filter(|t| *t != ip).collect();
    let mut h2 = table(&mut state, "h2");
    h2.push("172.30.2.99".into());
    for (h, t) in [("h1", h1), ("h2", h2)] {
        state.hosts.get_mut(h).and_then(|x| x.routes.as_mut()).expect("read").insert("app-web".into(), t);
    }
    let scenario = Scenario { live: Some(state), seed: 1, ..Scenario::default() };
    let sim = simulate(p.clone(), &scenario);
    let meta = doc::Meta {
        baton_version: "0".into(),
        now: "2026-12-02T06:10:00Z".into(),
        fault_specs: vec![],
        command: "app boot",
    };
    let json = serde_json::to_value(doc::build(&p, &scenario, &sim, &meta)).expect("serialises");
    let errors: Vec<String> = validator().iter_errors(&json).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "the live plan does not match docs/plan.schema.json:\n{}", errors.join("\n"));
    assert_eq!(json["assumptions"]["live"]["hosts"]["h1"]["containers"][0]["ips"][0], ip.as_str());
    let live: Vec<(&str, &str)> = json["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter(|w| w["source"] == "live")
        .map(|w| (w["host"].as_str().unwrap_or(""), w["message"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(live.len(), 2, "{live:?}");
    assert!(live[0].0 == "h1" && live[0].1.contains("does not route to app-web-v1 yet"), "{live:?}");
    assert!(live[1].0 == "h2" && live[1].1.contains("still routes app-web to 172.30.2.99"), "{live:?}");
    assert_eq!(json["gaps"][0]["host"], "h2");
    assert_eq!(json["gaps"][0]["kind"], "dead-target");
}
