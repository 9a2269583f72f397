//! Reading one value of `deploy.yml`: strings, whole numbers, booleans,
//! lists, mappings and secret references, each reporting a problem at its
//! key when the value is not what it should be. Kamal reads YAML scalars
//! loosely (`port: "3000"` and `port: 3000` are the same), and so does baton.

use super::context::*;
use super::*;

/// A required string. Numbers are read as their text (`service: 123`), as
/// Kamal does.
pub(super) fn required_str(ctx: &mut Ctx<'_>, m: &Mapping, key: &str) -> Option<String> {
    match m.get(key) {
        None | Some(Value::Null) => {
            ctx.err(key, format!("the required key `{key}` is missing; add it"));
            None
        }
        Some(Value::String(s)) if s.is_empty() => {
            ctx.err(key, "must not be empty");
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            ctx.err(key, format!("expected a string, found {}", type_name(other)));
            None
        }
    }
}

/// A whole number, written bare (`7`) or quoted (`"7"`).
pub(super) fn whole_number(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        _ => None,
    }
}

pub(super) fn opt_u64(ctx: &mut Ctx<'_>, v: Option<&Value>, path: &str) -> Option<u64> {
    match v {
        None | Some(Value::Null) => None,
        Some(v) => match whole_number(v) {
            Some(n) => Some(n),
            None => {
                ctx.err(path, format!("expected a whole number, found {}", describe(v)));
                None
            }
        },
    }
}

/// `true` or `false` (nothing: `default`).
pub(super) fn opt_bool(ctx: &mut Ctx<'_>, v: Option<&Value>, path: &str, default: bool) -> bool {
    match v {
        None | Some(Value::Null) => default,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            ctx.err(path, format!("expected true or false, found {}", describe(other)));
            default
        }
    }
}

pub(super) fn describe(v: &Value) -> String {
    match scalar_text(v) {
        Some(t) => format!("{} {t:?}", type_name(v)),
        None => type_name(v).to_string(),
    }
}

pub(super) fn opt_seconds(ctx: &mut Ctx<'_>, m: &Mapping, key: &str) -> Option<Millis> {
    opt_u64(ctx, m.get(key), key).map(|s| s * 1000)
}

pub(super) fn string_list(ctx: &mut Ctx<'_>, v: Option<&Value>, path: &str) -> Vec<String> {
    match v {
        None | Some(Value::Null) => vec![],
        Some(Value::Sequence(items)) => {
            let mut out = vec![];
            for (i, item) in items.iter().enumerate() {
                match scalar_text(item) {
                    Some(s) => out.push(s),
                    None => {
                        ctx.err(&join(path, &i.to_string()), format!("expected a string, found {}", type_name(item)))
                    }
                }
            }
            out
        }
        Some(other) => {
            ctx.err(path, format!("expected a list, found {}", type_name(other)));
            vec![]
        }
    }
}

/// A mapping of scalar values, in file order. `check_keys` refuses keys with
/// '=' or spaces (labels, env names).
pub(super) fn string_map(ctx: &mut Ctx<'_>, v: Option<&Value>, path: &str, check_keys: bool) -> Vec<(String, String)> {
    match v {
        None | Some(Value::Null) => vec![],
        Some(Value::Mapping(m)) => {
            let mut out = vec![];
            for (k, val) in m {
                let key = scalar_text(k).unwrap_or_default();
                let p = join(path, &key);
                if check_keys {
                    if let Err(e) = names::check_key(&key) {
                        ctx.err(&p, e);
                        continue;
                    }
                }
                match scalar_text(val) {
                    Some(s) => out.push((key, s)),
                    None if val.is_null() => out.push((key, String::new())),
                    None => ctx.err(&p, format!("expected a string, found {}", type_name(val))),
                }
            }
            out
        }
        Some(other) => {
            ctx.err(path, format!("expected a mapping, found {}", type_name(other)));
            vec![]
        }
    }
}

pub(super) fn secret_ref(ctx: &mut Ctx<'_>, v: Option<&Value>, path: &str) -> Option<SecretRef> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::Sequence(items)) => match items.as_slice() {
            [Value::String(name)] if !name.is_empty() => Some(SecretRef::Env(name.clone())),
            _ => {
                ctx.err(
                    path,
                    "a list here must hold exactly one environment variable name, e.g. [KAMAL_REGISTRY_PASSWORD]",
                );
                None
            }
        },
        Some(other) => match scalar_text(other) {
            Some(s) if s.is_empty() => None,
            Some(s) => Some(SecretRef::Literal(s)),
            None => {
                ctx.err(path, format!("expected a string or [ENV_NAME], found {}", type_name(other)));
                None
            }
        },
    }
}

/// A mapping, or nothing (`None`); anything else is a problem at `path`.
pub(super) fn opt_mapping<'v>(ctx: &mut Ctx<'_>, v: Option<&'v Value>, path: &str) -> Option<&'v Mapping> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::Mapping(m)) => Some(m),
        Some(other) => {
            ctx.err(path, format!("expected a mapping, found {}", type_name(other)));
            None
        }
    }
}
