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
