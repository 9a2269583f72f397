//! Prints how long a config with long lists (labels, env values, volumes,
//! hosts) takes to read and to turn into commands, at growing sizes, so
//! that the cost per entry can be seen to stay flat (it used to grow: 20,000
//! labels took 14 s). Run by `scripts/bench-config`; figures, not a test.

use baton_core::commands;
use baton_core::config::{Config, Source};
use std::time::{Duration, Instant};

#[path = "../tests/support/long_lists_text.rs"]
mod text;
use text::config_text;

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
