//! Commands on the machine baton runs on: `docker build`, `docker push`,
//! `docker login`, hooks. They run under `sh -c`, as a remote command runs
//! under the login shell, with no timeout (a build takes as long as it
//! takes; Ctrl-C reaches it through the terminal's process group).

use crate::ssh::RemoteOutput;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Run one command line locally, with `stdin` if given.
pub async fn run(line: &str, stdin: Option<&[u8]>) -> RemoteOutput {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(line);
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    cmd.stdin(if stdin.is_some() { std::process::Stdio::piped() } else { std::process::Stdio::null() });
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return RemoteOutput::NotConnected(format!("cannot start a local shell (sh): {e}")),
    };
    if let (Some(bytes), Some(mut w)) = (stdin, child.stdin.take()) {
        // A command that exits without reading its input is not an error here;
        // its exit code says what happened.
        let _ = w.write_all(bytes).await;
        let _ = w.shutdown().await;
        drop(w);
    }
    match child.wait_with_output().await {
        Ok(out) => RemoteOutput::Exited {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        Err(e) => RemoteOutput::Unreachable(format!("a local command failed to run: {e}")),
    }
}
