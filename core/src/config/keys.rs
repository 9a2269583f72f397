//! The keys of each section of `deploy.yml` that Kamal 1 (through 1.9.3)
//! or baton knows, and the warning for any other key, with the nearest
//! known key when one is close ("did you mean …").
//! `docs/kamal-compatibility.md` says what baton does with each.

use super::context::{join, scalar_text, Ctx};
use serde_yaml::Mapping;

/// Top-level keys.
pub(super) const TOP: &[&str] = &[
    "service",
    "image",
    "servers",
    "registry",
    "env",
    "healthcheck",
    "readiness_delay",
    "boot",
    "stop_wait_time",
    "volumes",
    "labels",
    "logging",
    "ssh",
    "sshkit",
    "run_directory",
    "primary_role",
    "primary_web_role",
    "require_destination",
    "allow_empty_roles",
    "retain_containers",
    "minimum_version",
    "asset_path",
    "hooks_path",
    "builder",
    "accessories",
    "traefik",
    "baton",
];

/// Keys of a role (`servers.<role>`).
pub(super) const ROLE: &[&str] =
    &["hosts", "cmd", "options", "labels", "env", "healthcheck", "traefik", "logging", "asset_path"];

pub(super) const REGISTRY: &[&str] = &["server", "username", "password"];
pub(super) const HEALTHCHECK: &[&str] =
    &["path", "port", "cmd", "interval", "max_attempts", "cord", "log_lines", "exposed_port"];
pub(super) const BOOT: &[&str] = &["limit", "wait"];
pub(super) const BUILDER: &[&str] =
    &["multiarch", "local", "remote", "cache", "args", "secrets", "dockerfile", "context", "target", "ssh"];
pub(super) const LOGGING: &[&str] = &["driver", "options"];
pub(super) const SSHKIT: &[&str] = &["max_concurrent_starts", "pool_idle_timeout"];
pub(super) const SSH: &[&str] =
    &["user", "port", "proxy", "proxy_command", "log_level", "keys_only", "keys", "key_data", "config"];
pub(super) const TRAEFIK: &[&str] = &["image", "host_port", "publish", "labels", "env", "options", "args"];
pub(super) const BATON: &[&str] = &[
    "poll_interval",
    "proxy_pickup",
    "pause_margin",
    "connect_timeout",
    "command_timeout",
    "known_hosts",
    "known_hosts_file",
    "routes",
    "cut_at",
    "journal_keep",
    "ssh_persist",
];

/// Warn about every key of `m` (at `path`) that is not in `known`. A
/// top-level key starting with `x-` is an extension (YAML anchors to reuse),
/// which Kamal ignores too.
pub(super) fn warn_unknown(ctx: &mut Ctx<'_>, path: &str, m: &Mapping, known: &[&str]) {
    for k in m.keys() {
        let key = scalar_text(k).unwrap_or_default();
        if known.contains(&key.as_str()) || (path.is_empty() && key.starts_with("x-")) {
            continue;
        }
        let hint = match nearest(&key, known) {
            Some(near) => format!("; did you mean {near:?}?"),
            None => String::new(),
        };
        ctx.warn(&join(path, &key), format!("unknown key {key:?}, ignored{hint}"));
    }
}

/// The known key nearest to `key`, if it is close enough to be a typo:
/// at most one edit for short keys, two for longer ones.
pub(super) fn nearest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let limit = if key.chars().count() <= 4 { 1 } else { 2 };
    known
        .iter()
        .map(|k| (distance(&key.to_lowercase(), k), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Edit distance with transpositions (optimal string alignment).
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/kamal-compatibility.md` says what baton does with every key.
    #[test]
    fn the_compatibility_doc_lists_every_key() {
        let doc = include_str!("../../../docs/kamal-compatibility.md");
        let sections: [(&str, &[&str]); 11] = [
            ("", TOP),
            ("servers.<role>.", ROLE),
            ("registry.", REGISTRY),
            ("healthcheck.", HEALTHCHECK),
            ("boot.", BOOT),
            ("builder.", BUILDER),
            ("logging.", LOGGING),
            ("ssh.", SSH),
            ("sshkit.", SSHKIT),
            ("env.", &["clear", "secret", "tags"]),
            ("traefik.", TRAEFIK),
        ];
        for (prefix, keys) in sections {
            for k in keys {
                // `key`, `section.key`, or a section named by its keys (`boot.limit`).
                let listed = [format!("`{prefix}{k}`"), format!("`{k}`"), format!("`{prefix}{k}.")];
                assert!(listed.iter().any(|l| doc.contains(l.as_str())), "the doc does not list {prefix}{k}");
            }
        }
    }

    #[test]
    fn typos_find_the_key_they_miss() {
        assert_eq!(nearest("healthchek", TOP), Some("healthcheck"));
        assert_eq!(nearest("sevrice", TOP), Some("service"));
        assert_eq!(nearest("Image", TOP), Some("image"));
        assert_eq!(nearest("max_attempt", HEALTHCHECK), Some("max_attempts"));
        assert_eq!(nearest("prot", HEALTHCHECK), Some("port"));
        assert_eq!(nearest("frobnicate", TOP), None);
        assert_eq!(nearest("env2", ROLE), Some("env"));
        assert_eq!(nearest("xyz", ROLE), None);
    }
}
