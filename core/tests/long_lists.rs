//! Long lists (labels, env values, volumes, hosts) are read and turned into
//! commands whole. Their cost per entry is measured by `scripts/bench-config`
//! (figures in docs/BENCHMARKS.md), not here: tests assert no timings.

use baton_core::commands;
use baton_core::config::{Config, Source};

fn config_text(n: usize) -> String {
    let mut y = String::from("service: app\nimage: app\nregistry:\n  username: u\n  password: [P]\nservers:\n  web:\n");
    let mut list = |header: &str, count: usize, line: &dyn Fn(usize) -> String| {
        y.push_str(header);
        (0..count).for_each(|i| y.push_str(&line(i)));
    };
    list("", n / 10, &|i| format!("    - 10.{}.{}.{}\n", i / 65536 % 256, i / 256 % 256, i % 256));
    list("  jobs:\n    hosts: [10.0.0.0]\n    labels:\n", n, &|i| format!("      label{i}: jobs{i}\n"));
    list("labels:\n", n, &|i| format!("  label{i}: value{i}\n"));
    list("env:\n  clear:\n", n, &|i| format!("    ENV{i}: value{i}\n"));
    list("volumes:\n", n, &|i| format!("  - /data{i}:/data{i}\n"));
    y
}

/// Read the config, and build every role's `docker run`, labels and env.
fn check(n: usize) {
    let text = config_text(n);
    let cfg = Config::parse(Source { name: "config/deploy.yml", text: &text }, None).expect("config");
    for role in &cfg.roles {
        assert_eq!(cfg.role_labels(role).len(), n + 2 + if role.spec.proxied { 5 } else { 0 });
        assert_eq!(cfg.role_env(role).clear.len(), n);
        let run = commands::run(&cfg, role, "v1", "h-0123456789ab", "0123").render();
        assert!(run.len() > 20 * n);
    }
    assert_eq!(cfg.all_hosts().len(), n / 10);
    assert_eq!(cfg.roles_on("10.0.0.0").len(), 2);
}

#[test]
fn every_entry_of_long_lists_reaches_the_commands() {
    check(32_000);
}
