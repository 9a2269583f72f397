//! `baton plan --live` on the real test fleet (see `common`): it reads the
//! hosts as they are (h1 on v2, h2 and h3 on v1, a lock held on the
//! primary host, a fourth host that refuses SSH), shows each as it is in
//! the summary and the JSON, and changes nothing.

mod common;

use common::*;

const ROUTES: &str = "  routes: busybox wget -qO- http://127.0.0.1:8080/api/http/services\n";
/// A host that refuses SSH at once (nothing listens on port 1).
const DOWN: &str = "127.0.0.1:1";

/// Everything on a host that a deploy could change: the containers (name,
/// state) and the files under .kamal (the lock, cords, audit log).
fn host_state(f: &Fleet, host: &str) -> String {
    let containers = f.sh(host, "docker ps -a --format '{{.Names}} {{.State}} {{.Image}}' | sort");
    let files = f.sh(host, "cd .kamal 2>/dev/null && find . -type f | sort | xargs --no-run-if-empty md5sum || true");
    format!("{containers}\n{files}")
}

fn validator() -> jsonschema::Validator {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("root").to_path_buf();
    let text = std::fs::read_to_string(root.join("docs/plan.schema.json")).expect("read the schema");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    jsonschema::draft202012::new(&schema).expect("a valid schema")
}

#[test]
fn plan_live_shows_mixed_versions_a_held_lock_and_a_host_down_and_changes_nothing() {
    let (f, _g) = fleet();
    f.reset();
    let app = f.app(ROUTES);
    app.ok(&["env", "push"]);
    app.ok(&["app", "boot", "--version", "v1"]);
    let (h1, h2, h3) = (&f.hosts[0], &f.hosts[1], &f.hosts[2]);
    app.ok(&["app", "boot", "--version", "v2", "-h", h1]);
    // Bob's lock on the primary host, as baton and Kamal write it.
    let details = "Locked by: Bob at 2026-12-02T06:00:00Z\nVersion: v9\nMessage: maintenance";
    let b64 = baton_core::ops::lock_details_b64("Bob", "2026-12-02T06:00:00Z", "v9", "maintenance");
    f.sh(h1, &format!("mkdir -p .kamal && mkdir .kamal/lock-app && printf '%s\\n' {b64} > .kamal/lock-app/details"));
    // The same config with a fourth host that cannot be reached.
    let config = std::fs::read_to_string(app.dir.join("config/deploy.yml")).expect("read config");
    let config = config.replacen(&format!("  - {h3}\n"), &format!("  - {h3}\n  - {DOWN}\n"), 1);
    std::fs::write(app.dir.join("config/deploy.yml"), config).expect("write config");

    let before: Vec<String> = f.hosts.iter().map(|h| host_state(f, h)).collect();
    let out = app.baton(&["plan", "--live", "--json", "--version", "v3"]);
    let after: Vec<String> = f.hosts.iter().map(|h| host_state(f, h)).collect();
    assert_eq!(before, after, "plan --live changed a host");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "the boot would not succeed (the lock is held): {stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let errors: Vec<String> = validator().iter_errors(&doc).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "plan --live --json does not match the schema:\n{}", errors.join("\n"));

    // As it is: the lock held by Bob, so nothing would change.
    assert_eq!(doc["outcome"], "lock-held", "{}", doc["summary"]);
    assert_eq!(doc["lock"]["outcome"], "held-by-another");
    let live = &doc["assumptions"]["live"];
    assert_eq!(live["lock"]["host"], h1.as_str());
    assert_eq!(live["lock"]["details"], details);
    // The versions each host runs, healthy, with their cords.
    for (h, v) in [(h1, "v2"), (h2, "v1"), (h3, "v1")] {
        let host = &live["hosts"][h.as_str()];
        assert_eq!(host["reachable"], true, "{host}");
        let running: Vec<&serde_json::Value> =
            host["containers"].as_array().expect("containers").iter().filter(|c| c["state"] == "running").collect();
        assert_eq!(running.len(), 1, "{h}: {host}");
        assert_eq!(running[0]["version"], v, "{h}");
        assert_eq!(running[0]["health"], "healthy", "{h}");
        assert!(running[0]["cord"].as_str().is_some_and(|c| c.contains(".kamal/cords/app-web")), "{h}: {host}");
        assert!(host["routes"].is_object(), "the proxy's routes were read on {h}: {host}");
    }
    // h1 also has the stopped v1 the boot of v2 left.
    let h1_all = live["hosts"][h1.as_str()]["containers"].as_array().expect("containers");
    assert!(h1_all.iter().any(|c| c["version"] == "v1" && c["state"] == "exited"), "{h1_all:?}");
    let down = &live["hosts"][DOWN];
    assert_eq!(down["reachable"], false, "{down}");
    let rows = doc["summary"]["rows"].as_array().expect("rows");
    let from: Vec<(&str, Option<&str>)> =
        rows.iter().map(|r| (r["host"].as_str().unwrap_or(""), r["from"].as_str())).collect();
    assert_eq!(from, [(h1.as_str(), Some("v2")), (h2.as_str(), Some("v1")), (h3.as_str(), Some("v1")), (DOWN, None)]);
    assert!(matches!(doc["assumptions"]["figures"].as_str(), Some("measured")), "{}", doc["assumptions"]);
    let handshake = doc["assumptions"]["ssh_handshake_ms"].as_u64().expect("ms");
    assert!(handshake > 0 && handshake < 5_000, "a measured handshake: {handshake} ms");

    // The text: each host as it is.
    let out = app.baton(&["plan", "--live", "--version", "v3"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("{h1}: web runs v2 (running healthy)")), "{text}");
    assert!(text.contains(&format!("{h2}: web runs v1 (running healthy)")), "{text}");
    assert!(text.contains(&format!("{DOWN}: UNREACHABLE")), "{text}");
    assert!(text.contains("is HELD: Locked by: Bob"), "{text}");
    assert_eq!(f.hosts.iter().map(|h| host_state(f, h)).collect::<Vec<_>>(), before, "the text run changed a host");

    // Without the lock and the host that is down: the boot of v3 would succeed.
    f.sh(h1, "rm -rf .kamal/lock-app");
    let config = std::fs::read_to_string(app.dir.join("config/deploy.yml")).expect("read config");
    std::fs::write(app.dir.join("config/deploy.yml"), config.replacen(&format!("  - {DOWN}\n"), "", 1)).expect("write");
    let out = app.baton(&["plan", "--live", "--json", "--version", "v3"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["outcome"], "succeeded", "{}", doc["summary"]);
    let predicted = doc["duration_ms"].as_u64().expect("ms");

    // The real boot of v3, journaled: replay prints it as plan does, and
    // its journal calibrates the next plan.
    let journals = app.dir.join("journals");
    let with_journals = |args: &[&str]| {
        std::process::Command::new(baton_bin())
            .args(args)
            .current_dir(&app.dir)
            .env_remove("VERSION")
            .env("BATON_JOURNAL_DIR", &journals)
            .output()
            .expect("run baton")
    };
    let started = std::time::Instant::now();
    let out = with_journals(&["app", "boot", "--version", "v3"]);
    let took = started.elapsed().as_millis() as u64;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let journal = std::fs::read_dir(&journals).expect("journals").next().expect("a journal").expect("entry").path();
    let out = with_journals(&["replay", journal.to_str().expect("UTF-8")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains(" events: identical"), "{text}");
    assert!(text.contains("HOST") && text.contains("Wall time: "), "replay prints the summary: {text}");
    for h in &f.hosts {
        assert!(text.lines().any(|l| l.starts_with(h.as_str()) && l.ends_with("done")), "{h} in: {text}");
    }
    let out =
        app.baton(&["plan", "--live", "--json", "--version", "v4", "--calibrate", journal.to_str().expect("UTF-8")]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["assumptions"]["figures"], "measured+journals");
    println!("plan --live predicted {predicted} ms for the boot of v3; it took {took} ms (baton's own wall time, with process start)");
    f.reset();
}
