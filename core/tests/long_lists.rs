//! Long lists (labels, env values, volumes, hosts) are read and turned into
//! commands whole. Their cost per entry is measured by `scripts/bench-config`
//! (figures in docs/BENCHMARKS.md), not here: tests assert no timings.

use baton_core::commands;
use baton_core::config::{Config, Source};

#[path = "support/long_lists_text.rs"]
mod text;
use text::config_text;

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
