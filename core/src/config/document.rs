//! The config as a document: `baton config`'s merged YAML with its secrets
//! redacted, and the names of the variables that hold secrets (so that
//! values read from them through ERB are never shown).

use super::context::{deep_merge, parse_yaml, scalar_text};
use super::{ConfigError, Source};
use serde_yaml::{Mapping, Value};

/// What a redacted value reads as.
pub const REDACTED: &str = "[REDACTED]";

/// The base file with the destination's merged over it, as a YAML value.
pub fn merged(base: Source<'_>, destination: Option<Source<'_>>) -> Result<Value, ConfigError> {
    let one = |s: Source<'_>| parse_yaml(s.name, s.text).map_err(|p| ConfigError { problems: vec![p] });
    let mut value = one(base)?;
    if let Some(d) = destination {
        let over = one(d)?;
        if !over.is_null() {
            deep_merge(&mut value, over);
        }
    }
    Ok(value)
}

/// The names of the variables whose values are secrets: every `env.secret`
/// entry (top level, each role's, each accessory's) and the `[NAME]` of
/// `registry.password`. Read from the document as written, so that it
/// works on a config that is otherwise refused.
pub fn secret_names(doc: &Value) -> Vec<String> {
    let mut out = vec![];
    let get = |m: &Value, k: &str| m.as_mapping().and_then(|m| m.get(k)).cloned();
    let mut env_secrets = |env: Option<Value>| {
        if let Some(Value::Sequence(items)) = env.as_ref().and_then(|e| get(e, "secret")) {
            out.extend(items.iter().filter_map(scalar_text));
        }
    };
    env_secrets(get(doc, "env"));
    for section in ["servers", "accessories"] {
        if let Some(Value::Mapping(m)) = get(doc, section) {
            for (_, v) in m {
                env_secrets(get(&v, "env"));
            }
        }
    }
    if let Some(Value::Sequence(items)) = get(doc, "registry").and_then(|r| get(&r, "password")) {
        out.extend(items.iter().filter_map(scalar_text));
    }
    out.sort();
    out.dedup();
    out
}

/// `doc` as YAML, with `registry.password` (when written as a value) and
/// every string holding one of `secrets` replaced by [`REDACTED`].
pub fn redacted_yaml(mut doc: Value, secrets: &[&str]) -> String {
    if let Some(Value::Mapping(r)) = doc.as_mapping_mut().and_then(|m| m.get_mut("registry")) {
        if let Some(p) = r.get_mut("password") {
            if !p.is_sequence() && !p.is_null() {
                *p = Value::String(REDACTED.into());
            }
        }
    }
    redact_value(&mut doc, secrets);
    let text = serde_yaml::to_string(&doc).unwrap_or_default();
    // A value serde_yaml wrote in some other form (a key, a number) is still
    // caught here.
    redact_text(&text, secrets)
}

fn redact_value(v: &mut Value, secrets: &[&str]) {
    match v {
        Value::String(s) => {
            if secrets.iter().any(|x| !x.is_empty() && s.contains(x)) {
                *s = REDACTED.into();
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(|i| redact_value(i, secrets)),
        Value::Mapping(m) => {
            let old = std::mem::take(m);
            let mut new = Mapping::new();
            for (mut k, mut val) in old {
                redact_value(&mut k, secrets);
                redact_value(&mut val, secrets);
                new.insert(k, val);
            }
            *m = new;
        }
        Value::Tagged(t) => redact_value(&mut t.value, secrets),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// `text` with every occurrence of each of `secrets` replaced by
/// [`REDACTED`] (for messages that may quote a value).
pub fn redact_text(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    let mut sorted: Vec<&str> = secrets.iter().copied().filter(|s| !s.is_empty()).collect();
    // Longest first, so that a secret holding another is replaced whole.
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in sorted {
        out = out.replace(s, REDACTED);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "service: app\nimage: app\nservers:\n  web: [h1]\n  jobs:\n    hosts: [h2]\n    env:\n      secret: [JOBS_KEY]\nenv:\n  clear:\n    URL: postgres://u:hunter2@db/app\n  secret: [DATABASE_URL]\nregistry:\n  username: u\n  password: s3cret-pw\naccessories:\n  db:\n    env:\n      secret: [DB_PASSWORD]\n";

    fn src(text: &str) -> Source<'_> {
        Source { name: "config/deploy.yml", text }
    }

    #[test]
    fn secret_names_come_from_every_env_secret_and_the_registry() {
        let doc = merged(src(BASE), None).unwrap();
        assert_eq!(secret_names(&doc), vec!["DATABASE_URL", "DB_PASSWORD", "JOBS_KEY"]);
        let doc = merged(src("registry:\n  password: [KAMAL_REGISTRY_PASSWORD]\n"), None).unwrap();
        assert_eq!(secret_names(&doc), vec!["KAMAL_REGISTRY_PASSWORD"]);
    }

    #[test]
    fn the_registry_password_and_secret_values_are_redacted() {
        let doc = merged(src(BASE), Some(Source { name: "d", text: "servers:\n  web: [h9]\n" })).unwrap();
        let yaml = redacted_yaml(doc, &["hunter2"]);
        assert!(!yaml.contains("s3cret-pw") && !yaml.contains("hunter2"), "{yaml}");
        assert!(yaml.contains("password: '[REDACTED]'"), "{yaml}");
        assert!(yaml.contains("URL: '[REDACTED]'"), "{yaml}");
        assert!(yaml.contains("- h9") && !yaml.contains("- h1"), "the destination is merged: {yaml}");
        assert!(yaml.contains("username: u"), "{yaml}");
    }

    #[test]
    fn a_password_read_from_the_environment_keeps_its_name() {
        let doc = merged(src("registry:\n  password: [KAMAL_REGISTRY_PASSWORD]\n"), None).unwrap();
        assert!(redacted_yaml(doc, &[]).contains("- KAMAL_REGISTRY_PASSWORD"));
    }

    #[test]
    fn text_redaction_replaces_the_longest_secret_first() {
        assert_eq!(redact_text("a abc b", &["abc", "ab", ""]), "a [REDACTED] b");
    }
}
