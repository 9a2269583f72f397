//! Writing to stdout without panicking when the reader goes away
//! (`baton plan | head`).

use std::io::Write;

/// Write `text` to stdout; exit quietly if the pipe is closed.
pub fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("baton: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// Write one line to stdout or stderr during a deploy. A deploy must not stop
/// halfway because nobody reads its output (`baton app boot | head`): a write
/// that fails is dropped, and the run goes on to its end, lock release
/// included. The exit code still tells how it ended.
pub fn line(to_stderr: bool, args: std::fmt::Arguments<'_>) {
    let _ = if to_stderr {
        writeln!(std::io::stderr().lock(), "{args}")
    } else {
        writeln!(std::io::stdout().lock(), "{args}")
    };
}

/// `println!` that never panics: see [`line`].
macro_rules! say {
    ($($t:tt)*) => { $crate::out::line(false, format_args!($($t)*)) };
}

/// `eprintln!` that never panics: see [`line`].
macro_rules! tell {
    ($($t:tt)*) => { $crate::out::line(true, format_args!($($t)*)) };
}

pub(crate) use {say, tell};
