//! Prints how long a config with long lists (labels, env values, volumes,
//! hosts) takes to read and to turn into commands, at growing sizes, so
//! that the cost per entry can be seen to stay flat (it used to grow: 20,000
//! labels took 14 s). Run by `scripts/bench-config`; figures, not a test.

use baton_core::commands;
use baton_core::config::{Config, Source};
use std::time::{Duration, Instant};

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

/// The least time of three: read the config, and build every role's
/// `docker run`, labels and env.
fn cost(n: usize) -> Duration {
    let text = config_text(n);
    (0..3)
        .map(|_| {
            let start = Instant::now();
            let cfg = Config::parse(Source { name: "config/deploy.yml", text: &text }, None).expect("config");
            for role in &cfg.roles {
                assert_eq!(cfg.role_labels(role).len(), n + 2 + if role.spec.proxied { 5 } else { 0 });
                assert_eq!(cfg.role_env(role).clear.len(), n);
                let run = commands::run(&cfg, role, "v1", "h-0123456789ab", "0123").render();
                assert!(run.len() > 20 * n);
            }
            assert_eq!(cfg.all_hosts().len(), n / 10);
            assert_eq!(cfg.roles_on("10.0.0.0").len(), 2);
            start.elapsed()
        })
        .min()
        .expect("three runs")
}

fn main() {
    println!("{:>8}  {:>10}  {:>14}", "entries", "time", "per entry");
    for n in [5_000, 10_000, 20_000, 40_000] {
        let t = cost(n);
        println!("{n:>8}  {:>8.1}ms  {:>12.2}µs", t.as_secs_f64() * 1e3, t.as_secs_f64() * 1e6 / n as f64);
    }
}
