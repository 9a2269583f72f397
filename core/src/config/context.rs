//! The parse context (where each key came from, the problems found) and
//! the YAML helpers the config parser shares.

use super::lines::LineIndex;
use super::{Problem, Source};
use crate::time::Millis;
use serde_yaml::Value;

pub(super) struct Ctx<'a> {
    pub(super) base: Source<'a>,
    pub(super) base_lines: LineIndex,
    pub(super) dest: Option<(Source<'a>, LineIndex)>,
    pub(super) errors: Vec<Problem>,
    pub(super) warnings: Vec<Problem>,
}

impl<'a> Ctx<'a> {
    pub(super) fn locate(&self, path: &str) -> (String, Option<usize>) {
        if let Some((src, idx)) = &self.dest {
            if idx.has(path) {
                return (src.name.to_string(), idx.line_of(path));
            }
        }
        if self.base_lines.has(path) {
            return (self.base.name.to_string(), self.base_lines.line_of(path));
        }
        if let Some(l) = self.base_lines.line_of(path) {
            return (self.base.name.to_string(), Some(l));
        }
        if let Some((src, idx)) = &self.dest {
            if let Some(l) = idx.line_of(path) {
                return (src.name.to_string(), Some(l));
            }
        }
        (self.base.name.to_string(), None)
    }
    pub(super) fn problem(&self, path: &str, message: String) -> Problem {
        let (file, line) = self.locate(path);
        Problem { file, path: path.to_string(), line, column: None, message }
    }
    pub(super) fn err(&mut self, path: &str, message: impl Into<String>) {
        let p = self.problem(path, message.into());
        self.errors.push(p);
    }
    pub(super) fn warn(&mut self, path: &str, message: impl Into<String>) {
        let p = self.problem(path, message.into());
        self.warnings.push(p);
    }
}

pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// A scalar as text (strings, numbers, booleans), as Kamal's `to_s` does.
pub(super) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(super) fn parse_yaml(ctx_name: &str, text: &str) -> Result<Value, Problem> {
    match serde_yaml::from_str::<Value>(text) {
        Ok(v) => Ok(v),
        Err(e) => {
            let loc = e.location();
            let mut msg = e.to_string();
            // serde_yaml appends " at line X column Y"; the position is given up front.
            if let Some(i) = msg.find(" at line ") {
                msg.truncate(i);
            }
            let at = loc
                .as_ref()
                .and_then(|l| text.lines().nth(l.line().saturating_sub(1))?.chars().nth(l.column().saturating_sub(1)));
            if at == Some('\t') || msg.contains("tab character") {
                msg = "found a tab; YAML indents with spaces only: replace the tab with spaces".into();
            }
            Err(Problem {
                file: ctx_name.to_string(),
                path: String::new(),
                line: loc.as_ref().map(|l| l.line()),
                column: loc.as_ref().map(|l| l.column()),
                message: format!("YAML syntax error: {msg}"),
            })
        }
    }
}

/// Merge `over` into `base`: mappings key by key, everything else replaced
/// (ActiveSupport's `deep_merge`, as Kamal uses for destination files).
pub(super) fn deep_merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => deep_merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// Parse a Go-style duration as Docker takes it (`1s`, `500ms`, `1m30s`), or a
/// bare number of seconds. Returns milliseconds.
pub fn parse_duration(text: &str) -> Option<Millis> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<f64>() {
        return (secs >= 0.0 && secs.is_finite()).then(|| (secs * 1000.0).round() as Millis);
    }
    let mut total = 0f64;
    let mut rest = t;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "ms" => 1.0,
            "s" => 1000.0,
            "m" => 60_000.0,
            "h" => 3_600_000.0,
            "us" | "µs" => 0.001,
            "ns" => 0.000_001,
            _ => return None,
        };
        total += n * factor;
        rest = &rest[unit_end..];
    }
    Some(total.round() as Millis)
}
