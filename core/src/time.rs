//! Time as the core sees it: milliseconds since the run began. The driver
//! (simulator or interpreter) maps its own clock onto it; the core never
//! reads a clock.

/// A point in time: milliseconds since the run began.
pub type Time = u64;
/// A span of time in milliseconds.
pub type Millis = u64;

/// Render a time as seconds with three decimals, as traces show it.
pub fn fmt_secs(t: Time) -> String {
    format!("{}.{:03}", t / 1000, t % 1000)
}
