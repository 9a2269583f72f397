//! Commands on the machine baton runs on: `docker build`, `docker push`,
//! `docker login`, hooks. They run under `sh -c`, as a remote command runs
//! under the login shell, with no timeout (a build takes as long as it
//! takes; Ctrl-C reaches it through the terminal's process group).
//!
//! Their output is read as it comes: each complete line (of stdout or
//! stderr) goes to `on_line` for display, while the whole output is kept,
//! byte for byte, for the observation. Standard input (a password, build
//! arguments) is written to the command and never echoed.

use crate::ssh::RemoteOutput;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// Run one command line locally, with `stdin` if given; each line of its
/// output goes to `on_line` as it arrives.
pub async fn run(line: &str, stdin: Option<&[u8]>, on_line: &(dyn Fn(String) + Sync)) -> RemoteOutput {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(line);
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    cmd.stdin(if stdin.is_some() { std::process::Stdio::piped() } else { std::process::Stdio::null() });
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return RemoteOutput::NotConnected(format!("cannot start a local shell (sh): {e}")),
    };
    let input = child.stdin.take();
    let write = async move {
        if let (Some(bytes), Some(mut w)) = (stdin, input) {
            // A command that exits without reading its input is not an error here;
            // its exit code says what happened.
            let _ = w.write_all(bytes).await;
            let _ = w.shutdown().await;
        }
    };
    let (_, stdout, stderr) =
        tokio::join!(write, read_lines(child.stdout.take(), on_line), read_lines(child.stderr.take(), on_line));
    match (child.wait().await, stdout, stderr) {
        (Ok(status), Ok(stdout), Ok(stderr)) => RemoteOutput::Exited {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        },
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            RemoteOutput::Unreachable(format!("a local command failed to run: {e}"))
        }
    }
}

/// Read `from` to its end: every byte is kept and returned; each complete
/// line (ended by `\n` or `\r`, as progress bars redraw) that is not blank
/// goes to `on_line` as soon as it is read, and a last unended one at the end.
async fn read_lines<R: AsyncRead + Unpin>(
    from: Option<R>,
    on_line: &(dyn Fn(String) + Sync),
) -> std::io::Result<Vec<u8>> {
    let Some(mut from) = from else { return Ok(vec![]) };
    let mut all = Vec::new();
    let mut start = 0; // where the line being read starts in `all`
    let mut buf = [0u8; 8192];
    let emit = |bytes: &[u8]| {
        let l = String::from_utf8_lossy(bytes);
        if !l.trim().is_empty() {
            on_line(l.trim_end().to_string());
        }
    };
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            emit(&all[start..]);
            return Ok(all);
        }
        let mut scanned = all.len();
        all.extend_from_slice(&buf[..n]);
        while let Some(p) = all[scanned..].iter().position(|b| *b == b'\n' || *b == b'\r') {
            let end = scanned + p;
            emit(&all[start..end]);
            start = end + 1;
            scanned = start;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn lines_arrive_while_the_command_runs_and_the_output_is_whole() {
        // The command waits, after `a`, for a file that only the line
        // callback creates on seeing `a`: it ends only if `a` was passed on
        // while it ran.
        let flag = std::env::temp_dir().join(format!("baton-local-test-{}", std::process::id()));
        let _ = std::fs::remove_file(&flag);
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let (s, f) = (seen.clone(), flag.clone());
        let on_line = move |l: String| {
            if l == "a" {
                std::fs::write(&f, "").expect("write the flag file");
            }
            s.lock().unwrap().push(l);
        };
        let line = format!(
            "echo a; i=0; while [ ! -e '{}' ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; [ -e '{}' ] || exit 9; echo b >&2; sleep 0.1; printf c",
            flag.display(),
            flag.display()
        );
        let out = run(&line, None, &on_line).await;
        let _ = std::fs::remove_file(&flag);
        assert_eq!(*seen.lock().unwrap(), ["a", "b", "c"]);
        match out {
            RemoteOutput::Exited { code, stdout, stderr } => {
                assert_eq!((code, stdout.as_str(), stderr.as_str()), (0, "a\nc", "b\n"));
            }
            other => panic!("expected an exit, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn stdin_reaches_the_command_and_is_not_shown() {
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let s = seen.clone();
        let on_line = move |l: String| s.lock().unwrap().push(l);
        let out = run("read -r x; echo ${#x}; exit 3", Some(b"s3cret\n"), &on_line).await;
        assert_eq!(*seen.lock().unwrap(), ["6"]);
        match out {
            RemoteOutput::Exited { code, stdout, .. } => assert_eq!((code, stdout.as_str()), (3, "6\n")),
            other => panic!("expected an exit, got {other:?}"),
        }
    }
}
