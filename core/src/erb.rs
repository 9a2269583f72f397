//! ERB, the part real Kamal configs use: `config/deploy.yml` (and its
//! destination files) and `.env.erb` may hold
//!
//! - `<%= ENV["NAME"] %>`
//! - `<%= ENV.fetch("NAME") %>`
//! - `<%= ENV.fetch("NAME", "default") %>`
//!
//! (single or double quotes, any spaces inside the tag) with plain text
//! around them, and `<%%` for a literal `<%`. Anything else between `<%`
//! and `%>` is refused, naming the file and the line, so that it never
//! reaches the config as a literal string.
//!
//! Evaluation is a pure function of the text and an environment lookup
//! passed in by the caller; this crate reads no environment. A tag opens
//! and closes on one line, and a value with a line break is refused, so
//! every line of the result is the line of the source with the same number:
//! later YAML errors keep their line numbers.

use std::fmt;

/// What is wrong with one tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErbProblem {
    /// Not one of the three supported forms.
    Unsupported,
    /// `<%` with no `%>` after it on the same line.
    Unclosed,
    /// The variable is not set (and the tag gives no default).
    Missing { var: String },
    /// The variable's value (or the default) holds a line break.
    LineBreak { var: String },
}

/// A tag that could not be evaluated: where, the tag as written, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErbError {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// The tag as written (shortened when long).
    pub tag: String,
    pub problem: ErbProblem,
}

/// The forms [`evaluate`] supports, in words.
pub const SUPPORTED: &str =
    "baton evaluates only <%= ENV[\"NAME\"] %>, <%= ENV.fetch(\"NAME\") %> and <%= ENV.fetch(\"NAME\", \"default\") %>";

impl fmt::Display for ErbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}: ", self.file, self.line, self.tag)?;
        match &self.problem {
            ErbProblem::Unsupported => {
                write!(f, "this ERB is not supported ({SUPPORTED}); write the value itself, or one of those forms")
            }
            ErbProblem::Unclosed => write!(
                f,
                "the tag does not close on this line; end it with %> on the same line (write <%% for a literal <%)"
            ),
            ErbProblem::Missing { var } => write!(
                f,
                "the environment variable {var} is not set; export it, put {var}=… in .env, or give a default with ENV.fetch(\"{var}\", \"default\")"
            ),
            ErbProblem::LineBreak { var } => write!(
                f,
                "the value of {var} holds a line break, which would move every line after it; put it on one line"
            ),
        }
    }
}
impl std::error::Error for ErbError {}

/// One value put in place of a tag. Its `Debug` does not show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Substitution {
    pub line: usize,
    pub var: String,
    /// The variable was not set and the tag's default was used.
    pub from_default: bool,
    pub value: String,
}

impl fmt::Debug for Substitution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Substitution {{ line: {}, var: {:?}, from_default: {} }}", self.line, self.var, self.from_default)
    }
}

/// The text with every tag replaced, and what was put where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluated {
    pub text: String,
    pub substitutions: Vec<Substitution>,
}

/// True when `text` holds anything ERB would read (then the caller needs an
/// environment to evaluate it).
pub fn has_tags(text: &str) -> bool {
    text.contains("<%")
}

/// Evaluate the ERB of `text` (named `file` in errors), reading variables
/// through `env`. Every problem is reported, in line order.
pub fn evaluate(file: &str, text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Evaluated, Vec<ErbError>> {
    let mut out = String::with_capacity(text.len());
    let mut subs = vec![];
    let mut errors = vec![];
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let n = i + 1;
        let mut rest = line;
        while let Some(at) = rest.find("<%") {
            out.push_str(&rest[..at]);
            let after = &rest[at + 2..];
            if let Some(tail) = after.strip_prefix('%') {
                out.push_str("<%");
                rest = tail;
                continue;
            }
            let Some(close) = after.find("%>") else {
                errors.push(ErbError {
                    file: file.into(),
                    line: n,
                    tag: shorten(rest[at..].trim_end()),
                    problem: ErbProblem::Unclosed,
                });
                rest = "";
                break;
            };
            let tag = &rest[at..at + 2 + close + 2];
            rest = &after[close + 2..];
            let err = |problem| ErbError { file: file.into(), line: n, tag: shorten(tag), problem };
            let Some(expr) = after[..close].strip_prefix('=').and_then(parse_expr) else {
                errors.push(err(ErbProblem::Unsupported));
                continue;
            };
            let (value, from_default) = match (env(&expr.var), expr.default) {
                (Some(v), _) => (v, false),
                (None, Some(d)) => (d, true),
                (None, None) => {
                    errors.push(err(ErbProblem::Missing { var: expr.var }));
                    continue;
                }
            };
            if value.contains(['\n', '\r']) {
                errors.push(err(ErbProblem::LineBreak { var: expr.var }));
                continue;
            }
            out.push_str(&value);
            subs.push(Substitution { line: n, var: expr.var, from_default, value });
        }
        out.push_str(rest);
    }
    if errors.is_empty() {
        Ok(Evaluated { text: out, substitutions: subs })
    } else {
        Err(errors)
    }
}

fn shorten(tag: &str) -> String {
    const MAX: usize = 80;
    if tag.chars().count() <= MAX {
        tag.to_string()
    } else {
        format!("{}…", tag.chars().take(MAX).collect::<String>())
    }
}

/// A supported expression: the variable, and the default when one is given.
struct Expr {
    var: String,
    default: Option<String>,
}

/// `ENV["X"]`, `ENV.fetch("X")` or `ENV.fetch("X", "d")`, with spaces
/// around the parts; None for anything else.
fn parse_expr(src: &str) -> Option<Expr> {
    let mut p = Cursor(src.trim());
    p.word("ENV")?;
    let expr = if p.word("[").is_some() {
        let var = p.string()?;
        p.word("]")?;
        Expr { var, default: None }
    } else {
        p.word(".")?;
        p.word("fetch")?;
        p.word("(")?;
        let var = p.string()?;
        let default = if p.word(",").is_some() { Some(p.string()?) } else { None };
        p.word(")")?;
        Expr { var, default }
    };
    let valid = !expr.var.is_empty() && !expr.var.contains(['\0', '=']);
    (p.0.trim().is_empty() && valid).then_some(expr)
}

struct Cursor<'a>(&'a str);

impl Cursor<'_> {
    /// Skip spaces, then `w`.
    fn word(&mut self, w: &str) -> Option<()> {
        self.0 = self.0.trim_start().strip_prefix(w)?;
        Some(())
    }

    /// A Ruby string literal: `'…'` (`\'` and `\\` escaped) or `"…"` (`\"`,
    /// `\\`, `\n`, `\t` escaped; `#{…}` interpolation is not supported).
    fn string(&mut self) -> Option<String> {
        let s = self.0.trim_start();
        let quote = s.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let mut out = String::new();
        let mut chars = s[1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                c if c == quote => {
                    self.0 = &s[1 + i + 1..];
                    return Some(out);
                }
                '\\' => match (quote, chars.next()?.1) {
                    (_, e) if e == quote || e == '\\' => out.push(e),
                    ('"', 'n') => out.push('\n'),
                    ('"', 't') => out.push('\t'),
                    ('\'', e) => {
                        out.push('\\');
                        out.push(e);
                    }
                    _ => return None,
                },
                '#' if quote == '"' && s[1 + i + 1..].starts_with('{') => return None,
                c => out.push(c),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests;
