//! Docker's health log: the last checks of a container's health check,
//! as `docker inspect --format '{{json .State.Health.Log}}'` prints them.

use super::ParseError;
use serde::Deserialize;
use std::fmt;

/// One run of a container's health check.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct HealthRun {
    #[serde(rename = "Start", default)]
    pub start: String,
    #[serde(rename = "ExitCode", default)]
    pub exit_code: i64,
    #[serde(rename = "Output", default)]
    pub output: String,
}

impl fmt::Display for HealthRun {
    /// `2026-11-27T10:00:01Z exit 1: curl: (7) Failed to connect`, on one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Docker's start time has nanoseconds and a zone: keep it to the second.
        let start = match (self.start.get(..19), self.start.len() > 19) {
            (Some(s), true) => s,
            _ => self.start.as_str(),
        };
        let output: String = self.output.split_whitespace().collect::<Vec<_>>().join(" ");
        let shown: String = output.chars().take(300).collect();
        if shown.is_empty() {
            write!(f, "{start} exit {}", self.exit_code)
        } else {
            write!(f, "{start} exit {}: {shown}", self.exit_code)
        }
    }
}

/// Parse the health log; empty output (no health check) is no runs.
pub fn parse_health_log(stdout: &str) -> Result<Vec<HealthRun>, ParseError> {
    let s = stdout.trim();
    if s.is_empty() || s == "null" {
        return Ok(vec![]);
    }
    serde_json::from_str(s).map_err(|_| ParseError { what: "a container's health log", output: s.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_runs_read_as_one_line_each() {
        let out = r#"[{"Start":"2026-11-27T10:00:01.123456789Z","End":"2026-11-27T10:00:01.2Z","ExitCode":1,"Output":"wget: server returned error: HTTP/1.1 404 Not Found\n"},{"Start":"2026-11-27T10:00:02.5+00:00","ExitCode":0,"Output":""}]"#;
        let runs = parse_health_log(out).expect("parses");
        assert_eq!(
            runs.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec![
                "2026-11-27T10:00:01 exit 1: wget: server returned error: HTTP/1.1 404 Not Found",
                "2026-11-27T10:00:02 exit 0"
            ]
        );
        assert_eq!(parse_health_log("\n"), Ok(vec![]));
        assert!(parse_health_log("{oops").is_err());
    }
}
