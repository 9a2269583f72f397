//! Hostile input through a real sshd: every value baton puts in a remote
//! command must arrive as exactly the bytes the user wrote. Random strings
//! (quotes, `$()`, backticks, `;`, `|`, newlines, unicode, leading dashes)
//! go through baton's one quoting function, over the interpreter's SSH
//! connection to a test host, into `printf '%s'`, and come back unchanged.

mod common;

use baton_core::shell::Command;
use baton_interpreter::{Connections, KnownHostsPolicy, RemoteOutput, SshOptions};
use common::*;
use proptest::prelude::*;

fn hostile() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "'",
        "\"",
        "\\",
        "$(touch /tmp/pwned)",
        "`id`",
        ";",
        "|",
        "&&",
        "\n",
        "\r",
        "\t",
        " ",
        "-rf",
        "--help",
        "*",
        "?",
        "~",
        "#",
        "!",
        "{a,b}",
        "${HOME}",
        "é",
        "日本",
        "🚀",
        "%s",
        "%n",
        "\\n",
        ">",
        "<",
        "(",
        ")",
        "=",
        "",
    ]);
    prop::collection::vec(prop_oneof![pieces.prop_map(str::to_string), "[ -~]{0,6}", "\\PC{0,3}"], 0..8)
        .prop_map(|v| v.concat())
        .prop_filter("no NUL: a command-line argument cannot hold one", |s| !s.contains('\0'))
}

/// Connections to the fleet's hosts, and a runtime to drive them.
fn connections(f: &Fleet) -> (std::sync::Arc<Connections>, tokio::runtime::Runtime) {
    let opts = SshOptions {
        keys: vec![f.key.clone().into()],
        known_hosts: KnownHostsPolicy::Strict,
        known_hosts_file: Some(f.known_hosts().into()),
        ..SshOptions::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    (Connections::new(opts), rt)
}

#[test]
fn random_values_arrive_byte_for_byte() {
    let (f, _g) = fleet();
    let host = f.hosts[0].clone();
    let (conns, rt) = connections(f);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 200, ..ProptestConfig::default() });
    runner
        .run(&(hostile(), hostile()), |(a, b)| {
            // Two values in one command: quoting must also keep them apart.
            let cmd = Command::program("printf").arg("%s\\0").arg(a.as_str()).arg(b.as_str());
            let out = rt.block_on(conns.run(&host, &cmd.render(), None));
            let RemoteOutput::Exited { code: 0, stdout, .. } = out else {
                return Err(TestCaseError::fail(format!("{cmd}: {out:?}")));
            };
            prop_assert_eq!(stdout, format!("{a}\0{b}\0"));
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(f.ssh(&host, "test -e /tmp/pwned && echo pwned").1.trim(), "pwned", "a value ran as a command");
    rt.block_on(conns.close_all());
}

/// A command the host does not have (as `docker` on a host without Docker)
/// comes back as exit 127 with a message that names the host and asks
/// whether Docker is installed, through a real sshd (openssh reports it as
/// an error of its own, with the output dropped).
#[test]
fn a_missing_command_is_named_with_its_host() {
    let (f, _g) = fleet();
    let host = f.hosts[0].clone();
    let (conns, rt) = connections(f);
    let out = rt.block_on(conns.run(&host, "baton-no-such-command ps", None));
    rt.block_on(conns.close_all());
    let RemoteOutput::Exited { code: 127, stderr, .. } = out else { panic!("{out:?}") };
    assert!(stderr.contains(&format!("command not found on {host} (exit 127)")), "{stderr}");
    assert!(stderr.contains("is Docker installed there"), "{stderr}");
}
