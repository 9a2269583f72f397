//! Shell command lines, built from words. [`quote`] is the one function that
//! quotes a value; every word that can carry a value from config or the CLI
//! passes through it.
//!
//! A command is a list of [`Word`]s. Only three kinds exist:
//! - [`Word::Value`]: any string; always rendered through [`quote`];
//! - [`Word::Fixed`]: a `&'static str` written by baton's own code (operators
//!   such as `&&`, `|`, `2>&1`, or a fixed fragment such as `"$HOME"`). Being
//!   `'static`, it cannot carry user input;
//! - [`Word::UserShell`]: the command of `baton app exec`, the one value that is
//!   meant to be interpreted by the remote shell, exactly as Kamal does.

use std::borrow::Cow;
use std::fmt;

/// One word of a command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Word {
    /// A value: rendered quoted when it needs to be.
    Value(String),
    /// A fixed fragment of baton's own; rendered as is.
    Fixed(&'static str),
    /// Adjacent parts glued into one shell word (for example `"$HOME"/'.kamal/x'`).
    Glued(Vec<Word>),
    /// A shell command given by the user (`app exec`); rendered as is.
    UserShell(String),
}

/// Quote `value` for a POSIX shell so that it arrives as exactly one argument
/// with exactly these bytes. Plain values are left readable.
pub fn quote(value: &str) -> Cow<'_, str> {
    let plain = !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
    if plain {
        Cow::Borrowed(value)
    } else {
        // Single quotes keep every byte literal; a single quote itself is
        // written as '\'' (close, escaped quote, reopen).
        Cow::Owned(format!("'{}'", value.replace('\'', r"'\''")))
    }
}

impl Word {
    fn render_into(&self, out: &mut String) {
        match self {
            Word::Value(v) => out.push_str(&quote(v)),
            Word::Fixed(s) => out.push_str(s),
            Word::UserShell(s) => out.push_str(s),
            Word::Glued(parts) => parts.iter().for_each(|p| p.render_into(out)),
        }
    }
}

impl From<&str> for Word {
    fn from(v: &str) -> Self {
        Word::Value(v.to_string())
    }
}
impl From<String> for Word {
    fn from(v: String) -> Self {
        Word::Value(v)
    }
}
impl From<&String> for Word {
    fn from(v: &String) -> Self {
        Word::Value(v.clone())
    }
}

/// A whole command line: words separated by spaces.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Command {
    words: Vec<Word>,
}

impl Command {
    pub fn new() -> Self {
        Self::default()
    }
    /// Start a command with a program name (a value like any other).
    pub fn program(name: &str) -> Self {
        Self::new().arg(name)
    }
    /// Append one value.
    pub fn arg(mut self, v: impl Into<Word>) -> Self {
        self.words.push(v.into());
        self
    }
    /// Append several values.
    pub fn args<I, W>(mut self, vs: I) -> Self
    where
        I: IntoIterator<Item = W>,
        W: Into<Word>,
    {
        self.words.extend(vs.into_iter().map(Into::into));
        self
    }
    /// Append a fixed fragment (operator, redirection).
    pub fn fixed(mut self, s: &'static str) -> Self {
        self.words.push(Word::Fixed(s));
        self
    }
    /// Append `flag value` when `value` is some.
    pub fn opt(self, flag: &'static str, value: Option<impl Into<Word>>) -> Self {
        match value {
            Some(v) => self.fixed(flag).arg(v),
            None => self,
        }
    }
    /// Append the words of another command.
    pub fn then(mut self, other: Command) -> Self {
        self.words.extend(other.words);
        self
    }
    /// `a && b && c`
    pub fn and_all(cmds: impl IntoIterator<Item = Command>) -> Command {
        Self::join(cmds, "&&")
    }
    /// `a | b | c`
    pub fn pipe_all(cmds: impl IntoIterator<Item = Command>) -> Command {
        Self::join(cmds, "|")
    }
    fn join(cmds: impl IntoIterator<Item = Command>, op: &'static str) -> Command {
        let mut out = Command::new();
        for (i, c) in cmds.into_iter().enumerate() {
            if i > 0 {
                out = out.fixed(op);
            }
            out = out.then(c);
        }
        out
    }
    pub fn words(&self) -> &[Word] {
        &self.words
    }
    /// The command line as the remote shell will receive it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (i, w) in self.words.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            w.render_into(&mut out);
        }
        out
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// A path relative to the remote user's home, rendered as `"$HOME"/'rest'`:
/// the home is expanded by the remote shell, the rest is quoted.
pub fn home_path(rest: &str) -> Word {
    Word::Glued(vec![Word::Fixed("\"$HOME\"/"), Word::Value(rest.to_string())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_values_stay_plain() {
        assert_eq!(quote("app-web-v1"), "app-web-v1");
        assert_eq!(quote("label=service=app"), "label=service=app");
    }

    #[test]
    fn everything_else_is_single_quoted() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(quote("`x`;|&\n"), "'`x`;|&\n'");
        assert_eq!(quote("PathPrefix(`/`)"), "'PathPrefix(`/`)'");
    }

    #[test]
    fn commands_render_words_in_order() {
        let c = Command::program("docker")
            .arg("ps")
            .opt("--filter", Some("label=a b"))
            .opt("--format", None::<&str>)
            .fixed("|")
            .arg("xargs");
        assert_eq!(c.render(), "docker ps --filter 'label=a b' | xargs");
        let h = Command::program("mkdir").arg(home_path(".kamal/cords/x y"));
        assert_eq!(h.render(), "mkdir \"$HOME\"/'.kamal/cords/x y'");
    }
}
