//! The log: one line per event, with a UTC timestamp to the millisecond, on
//! stderr or appended to `--log FILE`.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

static LOG: OnceLock<Mutex<Box<dyn Write + Send>>> = OnceLock::new();

/// Log to the end of `path` from now on, instead of stderr.
pub fn open(path: &str) -> io::Result<()> {
    let f = OpenOptions::new().create(true).append(true).open(path)?;
    let _ = LOG.set(Mutex::new(Box::new(f)));
    Ok(())
}

pub fn log_line(msg: &str) {
    let line = format!("{} {msg}\n", utc_timestamp(SystemTime::now()));
    match LOG.get() {
        Some(out) => {
            let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
        None => eprint!("{line}"),
    }
}

/// `logf!("...", args)`: log one line, formatted as `format!`.
macro_rules! logf {
    ($($arg:tt)*) => { $crate::log::log_line(&format!($($arg)*)) };
}

/// `2026-11-27T10:50:15.123Z`.
pub fn utc_timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn timestamps_are_utc_iso() {
        assert_eq!(utc_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_776_556_985);
        assert_eq!(utc_timestamp(t), "2026-11-27T10:49:16.985Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(utc_timestamp(leap), "2000-02-29T00:00:00.000Z");
    }
}
