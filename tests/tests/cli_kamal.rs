//! What a Kamal user trips on: Kamal's flags with Kamal's meaning, hosts
//! written `host:port`, the primary host of a selection, and one style for
//! every error (`error: [FILE:LINE: ]key: what is wrong; what to do`). Each
//! runs the `baton` built from the current tree, with `--dry-run` or `plan`:
//! no server is contacted.

mod common;

use common::baton_bin;
use std::path::{Path, PathBuf};
use std::process::Command;

const REGISTRY: &str = "registry:\n  username: deployer\n  password: [KAMAL_REGISTRY_PASSWORD]\n";

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new(baton_bin());
    cmd.args(args).current_dir(dir).env("USER", "deployer").env_remove("VERSION");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run baton");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("root").join("examples/demo")
}

/// `baton ARGS` in the example app.
fn demo(args: &[&str]) -> Out {
    run_in(&demo_dir(), args, &[("RAILS_MASTER_KEY", "not-shown"), ("DATABASE_URL", "not-shown")])
}

/// A fresh app directory holding `config/deploy.yml` and `files`.
fn app(name: &str, config: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("baton-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("config")).expect("mkdir");
    std::fs::write(dir.join("config/deploy.yml"), config).expect("write config");
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    dir
}

/// The lock details hold the time: keep the snapshots stable.
fn redact_lock(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("printf '%s\\n' ") {
            Some(i) => {
                format!("{}<lock details>{}", &l[..i + 14], &l[l[i + 14..].find(' ').map_or(l.len(), |e| i + 14 + e)..])
            }
            None => l.to_string(),
        })
        .map(|l| {
            // --hostname <host>-<12 hex>
            match l.find("--hostname ") {
                Some(i) => {
                    let end = l[i + 11..].find(' ').map_or(l.len(), |e| i + 11 + e);
                    format!("{}{}-<12 hex>{}", &l[..i + 11], &l[i + 11..end - 13], &l[end..])
                }
                None => l,
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn v_is_verbose_and_version_has_no_short_form() {
    // Kamal: -v/--verbose; --version VERSION has no short form.
    let o = demo(&["app", "boot", "-v", "--version", "v2", "--dry-run"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.starts_with("# app boot --dry-run --verbose: every command, status reads included"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("docker inspect --format"), "a verbose dry run lists the status reads:\n{}", o.stdout);
    let quiet = demo(&["app", "boot", "--version", "v2", "--dry-run"]);
    assert!(!quiet.stdout.contains("docker inspect --format"), "{}", quiet.stdout);
    // `baton -v app details` took "app" as the version before.
    let o = demo(&["-v", "app", "details", "--dry-run"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("docker ps --filter label=service=shop"), "{}", o.stdout);
    let o = demo(&["app", "boot", "-v", "v2", "--dry-run"]);
    assert_eq!(o.code, 2, "-v takes no value");
    assert!(o.stderr.contains("unexpected argument 'v2'"), "{}", o.stderr);
}

#[test]
fn help_describes_the_flags_as_kamal_does() {
    let o = demo(&["lock", "--help"]);
    assert_eq!(o.code, 0);
    assert!(o.stdout.contains("-v, --verbose"), "{}", o.stdout);
    assert!(!o.stdout.contains("Version to deploy"), "{}", o.stdout);
    assert!(o.stdout.contains("-p, --primary"), "{}", o.stdout);
    assert!(o.stdout.contains("-H, --skip-hooks"), "{}", o.stdout);
    let o = demo(&["plan", "--help"]);
    for hidden in ["--dry-run", "--verbose", "--skip-hooks"] {
        assert!(!o.stdout.contains(hidden), "plan --help lists {hidden}:\n{}", o.stdout);
    }
}

#[test]
fn lock_wait_takes_an_optional_timeout_and_is_in_the_help() {
    let o = demo(&["app", "boot", "--help"]);
    assert_eq!(o.code, 0);
    assert!(o.stdout.contains("--lock-wait [<TIMEOUT>]"), "{}", o.stdout);
    let words = o.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words.contains("for up to TIMEOUT (e.g. 30s, 10m; default 10m)"), "{}", o.stdout);
    // With and without a value, before or after other options.
    for args in [
        &["app", "boot", "--version", "v2", "--dry-run", "--lock-wait"][..],
        &["app", "boot", "--version", "v2", "--lock-wait", "30s", "--dry-run"],
        &["app", "boot", "--version", "v2", "--lock-wait=2m", "--dry-run"],
        &["app", "stop", "--lock-wait", "--dry-run"],
        &["app", "remove", "--lock-wait", "90", "--dry-run"],
    ] {
        let o = demo(args);
        assert_eq!(o.code, 0, "{args:?}: {}", o.stderr);
    }
    let o = demo(&["app", "boot", "--version", "v2", "--lock-wait", "soon", "--dry-run"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("\"soon\" is not a duration (e.g. 30s, 10m); write --lock-wait=TIMEOUT"), "{}", o.stderr);
    // `config` contacts no host and takes no lock.
    let o = demo(&["config", "--lock-wait"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
}

#[test]
fn options_that_mean_nothing_for_a_command_are_refused() {
    let mut transcript = String::new();
    for args in [&["plan", "--dry-run"][..], &["plan", "--verbose"], &["-v", "plan"], &["version", "-r", "web"]] {
        let o = demo(args);
        assert_eq!(o.code, 2, "{args:?}");
        transcript.push_str(&format!("$ baton {}\n{}", args.join(" "), o.stderr));
    }
    insta::assert_snapshot!(transcript);
}

#[test]
fn primary_runs_on_the_primary_host_only() {
    let o = demo(&["app", "details", "-p", "--dry-run"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, "App Host: 192.0.2.11\n  docker ps --filter label=service=shop --filter label=role=web\n");
    let o = demo(&["app", "details", "-p", "-h", "192.0.2.12", "--dry-run"]);
    assert_eq!(o.code, 2, "-p and -h contradict each other");
}

#[test]
fn deploy_runs_the_hooks_in_kamals_hooks_directory_and_skip_hooks_skips_them() {
    let dir = app(
        "hooks",
        &format!("service: app\nimage: app\nservers: [h1]\n{REGISTRY}builder:\n  multiarch: false\n"),
        &[
            (".kamal/hooks/pre-deploy", "#!/bin/sh\n"),
            (".kamal/hooks/post-deploy.sample", ""),
            ("Dockerfile", "FROM x\n"),
        ],
    );
    // A hook is an executable file, as Kamal runs it.
    use std::os::unix::fs::PermissionsExt;
    for h in ["pre-deploy", "post-deploy.sample"] {
        let p = dir.join(".kamal/hooks").join(h);
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let env = [("VERSION", "v2"), ("KAMAL_REGISTRY_PASSWORD", "not-shown-anywhere")];
    let o = run_in(&dir, &["deploy", "--dry-run"], &env);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let hook_lines: Vec<&str> = o.stdout.lines().filter(|l| l.contains(".kamal/hooks/")).collect();
    assert_eq!(hook_lines.len(), 1, "only pre-deploy is a hook (a .sample is not): {}", o.stdout);
    assert!(hook_lines[0].contains("KAMAL_COMMAND=deploy") && hook_lines[0].ends_with(".kamal/hooks/pre-deploy"));
    assert!(!o.stdout.contains("not-shown-anywhere") && !o.stderr.contains("not-shown-anywhere"));
    let o = run_in(&dir, &["deploy", "--dry-run", "-H"], &env);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(!o.stdout.contains(".kamal/hooks/"), "{}", o.stdout);
}

#[test]
fn baton_version_prints_batons_version() {
    let o = demo(&["version"]);
    assert_eq!((o.code, o.stdout.as_str()), (0, format!("baton {}\n", env!("CARGO_PKG_VERSION")).as_str()));
}

#[test]
fn a_plan_of_one_role_or_host_takes_the_lock_on_the_primary_host() {
    let o = demo(&["plan", "--version", "v2", "-r", "jobs"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("app boot of shop v2 on 1 host "), "{}", o.stdout);
    let lock = o.stdout.lines().find(|l| l.contains("mkdir .kamal/lock-shop")).expect("the lock is taken");
    let words: Vec<&str> = lock.split_whitespace().take(3).collect();
    assert_eq!(words, ["0.000", "192.0.2.11", "lock"], "on the primary host, which runs no jobs: {lock}");
    assert!(o.stdout.contains("--name shop-jobs-v2"), "{}", o.stdout);
    assert!(!o.stdout.contains("--name shop-web-v2"), "only the jobs role boots:\n{}", o.stdout);
    assert!(o.stdout.contains("Outcome: the deploy succeeds"), "{}", o.stdout);
    // exec -i runs on the primary host of the selection, with its role.
    let o = demo(&["app", "exec", "-i", "-r", "jobs", "--dry-run", "bin/jobs --once"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.starts_with("ssh -t -p 22 -o StrictHostKeyChecking=accept-new deploy@192.0.2.13 "),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("--env-file .kamal/env/roles/shop-jobs.env"), "{}", o.stdout);
    let o = demo(&["plan", "--version", "v2", "-h", "192.0.2.12"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("--name shop-web-v2"), "{}", o.stdout);
}

#[test]
fn a_dry_run_boot_of_one_role_lists_its_whole_boot() {
    let o = demo(&["app", "boot", "--dry-run", "--version", "v2", "-r", "jobs"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    insta::assert_snapshot!(redact_lock(&o.stdout));
}

#[test]
fn a_host_with_a_port_is_reached_on_that_port() {
    let config = format!(
        "service: app\nimage: app\nservers:\n  - 192.0.2.12:2222\n  - 192.0.2.13\nssh:\n  user: deploy\n{REGISTRY}"
    );
    let dir = app("port", &config, &[]);
    let o = run_in(&dir, &["app", "exec", "-i", "--dry-run", "bin/rails console"], &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        o.stdout,
        "ssh -t -p 2222 -o StrictHostKeyChecking=accept-new deploy@192.0.2.12 'docker run -it --rm --env-file .kamal/env/roles/app-web.env app:latest bin/rails console'\n"
    );
    let o = run_in(&dir, &["app", "exec", "-i", "-h", "192.0.2.13", "--dry-run", "sh"], &[]);
    assert!(
        o.stdout.starts_with("ssh -t -p 22 -o StrictHostKeyChecking=accept-new deploy@192.0.2.13 "),
        "{}",
        o.stdout
    );
    // The config's host string stays the host's name; --hostname gets its address.
    let o = run_in(&dir, &["app", "boot", "--dry-run", "--version", "v2"], &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("App Host: 192.0.2.12:2222\n"), "{}", o.stdout);
    assert!(o.stdout.contains("--hostname 192.0.2.12-"), "{}", o.stdout);
}

#[test]
fn taking_the_lock_on_a_host_that_refuses_ssh_holds_no_lock() {
    let o = demo(&[
        "plan",
        "--version",
        "v2",
        "--fault",
        "192.0.2.11=unreachable",
        "--fault",
        "192.0.2.12=unreachable",
        "--fault",
        "192.0.2.13=unreachable",
    ]);
    assert_eq!(o.code, 3, "{}", o.stdout);
    assert!(!o.stdout.contains("may be held"), "the command never ran:\n{}", o.stdout);
    assert!(
        o.stdout.contains("192.0.2.11: acquire the deploy lock: host unreachable: ssh: connect to host 192.0.2.11 port 22: Connection refused"),
        "{}",
        o.stdout
    );
}

/// A directory to run baton in, its arguments, and its environment.
type Case<'a> = (&'a Path, Vec<&'a str>, Vec<(&'a str, &'a str)>);

#[test]
fn every_error_reads_error_key_what_is_wrong_what_to_do() {
    let bad_env = app(
        "errors",
        &format!("service: app\nimage: app\nservers: [h1]\nenv:\n  secret: [DB_PASSWORD]\n{REGISTRY}"),
        &[(".env", "DB_PASSWORD=x\nnonsense\n")],
    );
    let no_secret = app(
        "no-secret",
        &format!("service: app\nimage: app\nservers: [h1]\nenv:\n  secret: [DB_PASSWORD]\n{REGISTRY}"),
        &[],
    );
    let required = app(
        "required",
        &format!("service: app\nimage: app\nservers: [h1]\nrequire_destination: true\n{REGISTRY}"),
        &[],
    );
    let demo = demo_dir();
    let cases: Vec<Case> = vec![
        (&demo, vec!["app", "details", "-c", "config/missing.yml"], vec![]),
        (&demo, vec!["app", "details", "-c", "config"], vec![]),
        (&demo, vec!["app", "details", "-d", "staging"], vec![]),
        (&demo, vec!["app", "boot", "--dry-run", "--version", "v2;ls"], vec![]),
        (&demo, vec!["app", "boot", "--dry-run"], vec![("VERSION", "v 2")]),
        (&demo, vec!["app", "details", "--dry-run", "-r", "nope"], vec![]),
        (&demo, vec!["app", "details", "--dry-run", "-h", "10.9.9.9"], vec![]),
        (&demo, vec!["plan", "--version", "v2", "--fault", "192.0.2.11=lost"], vec![]),
        (&demo, vec!["plan", "--version", "v2", "--from", "v1;x"], vec![]),
        (&demo, vec!["app", "remove_container", "a/b", "--dry-run"], vec![]),
        (&bad_env, vec!["env", "push", "--dry-run"], vec![]),
        (&no_secret, vec!["env", "push", "--dry-run"], vec![]),
        (&required, vec!["app", "details", "--dry-run"], vec![]),
    ];
    let mut transcript = String::new();
    for (dir, args, env) in cases {
        let o = run_in(dir, &args, &env);
        assert_eq!(o.code, 2, "baton {args:?}: {}", o.stderr);
        assert_eq!(o.stdout, "", "baton {args:?}");
        for line in o.stderr.lines() {
            assert!(line.starts_with("error: "), "baton {args:?}: {line}");
            assert!(line.contains("; "), "baton {args:?} says what to do: {line}");
        }
        let shown = if env.is_empty() { String::new() } else { format!("VERSION={:?} ", env[0].1) };
        transcript.push_str(&format!("$ {shown}baton {}\n{}", args.join(" "), o.stderr));
    }
    insta::assert_snapshot!(transcript);
}

// ------------------------------------------------------------------ ERB ----

/// A config whose ERB reads secrets in every place one can hide.
const ERB_CONFIG: &str = "service: app\nimage: app\nservers:\n  - <%= ENV.fetch(\"BATON_T_HOST\", \"192.0.2.40\") %>\nregistry:\n  username: deployer\n  password: <%= ENV[\"BATON_T_REGISTRY_PW\"] %>\nenv:\n  clear:\n    COPY: \"postgres://<%= ENV['BATON_T_DB_PW'] %>@db/app\"\n  secret:\n    - BATON_T_DB_PW\n";

const SECRETS: &[&str] = &["reg-pw-8812", "db-pw-5531"];

fn assert_no_secret(o: &Out, what: &str) {
    for s in SECRETS {
        assert!(!o.stdout.contains(s) && !o.stderr.contains(s), "{what} showed {s}:\n{}{}", o.stdout, o.stderr);
    }
}

#[test]
fn config_prints_the_merged_config_with_every_secret_redacted() {
    let dir = app(
        "config",
        ERB_CONFIG,
        &[
            (".env", "BATON_T_DB_PW=db-pw-5531\n"),
            ("config/deploy.staging.yml", "servers:\n  - 192.0.2.41\nlabels:\n  pasted: db-pw-5531\n"),
        ],
    );
    let o = run_in(&dir, &["config"], &[("BATON_T_REGISTRY_PW", "reg-pw-8812")]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_no_secret(&o, "baton config");
    assert!(o.stdout.contains("- 192.0.2.40\n"), "ERB evaluated:\n{}", o.stdout);
    assert!(o.stdout.contains("password: '[REDACTED]'"), "{}", o.stdout);
    assert!(o.stdout.contains("COPY: '[REDACTED]'"), "{}", o.stdout);
    assert!(o.stdout.contains("- BATON_T_DB_PW"), "secret names are not secret:\n{}", o.stdout);
    let o = run_in(&dir, &["config", "-d", "staging"], &[("BATON_T_REGISTRY_PW", "reg-pw-8812")]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_no_secret(&o, "baton config -d staging");
    assert!(o.stdout.contains("- 192.0.2.41\n") && !o.stdout.contains("192.0.2.40"), "merged:\n{}", o.stdout);
    assert!(o.stdout.contains("pasted: '[REDACTED]'"), "a secret's value pasted by hand:\n{}", o.stdout);
    let o = run_in(&dir, &["config", "--help"], &[]);
    assert!(o.stdout.contains("with every secret redacted"), "{}", o.stdout);
}

#[test]
fn a_secret_read_by_erb_never_shows_in_an_error() {
    // The secret lands where a host goes: the error quotes the value, redacted.
    let config = ERB_CONFIG.replace("ENV.fetch(\"BATON_T_HOST\", \"192.0.2.40\")", "ENV[\"BATON_T_DB_PW\"]");
    let dir = app("erb-secret", &config, &[(".env", "BATON_T_DB_PW=db pw-5531\n")]);
    let o = run_in(&dir, &["app", "details", "--dry-run"], &[("BATON_T_REGISTRY_PW", "reg-pw-8812")]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    assert!(!o.stderr.contains("db pw-5531"), "{}", o.stderr);
    assert_eq!(
        o.stderr,
        "error: config/deploy.yml:4: servers.0: \"[REDACTED]\" is not a valid host name (letters, digits and '-' in dot-separated labels, or an IP address)\n"
    );
}

#[test]
fn erb_in_the_config_is_evaluated_and_what_is_not_supported_is_named() {
    let dir = app("erb-ok", ERB_CONFIG, &[]);
    let env = [("BATON_T_HOST", "192.0.2.77"), ("BATON_T_REGISTRY_PW", "reg-pw-8812"), ("BATON_T_DB_PW", "db-pw-5531")];
    let o = run_in(&dir, &["app", "details", "--dry-run"], &env);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.starts_with("App Host: 192.0.2.77\n"), "{}", o.stdout);

    let bad = "service: app\nimage: app\n# a comment: <%= ENV['BATON_T_HOST'] %>\nservers:\n  - <%= ENV[\"BATON_T_NOT_SET\"] %>\nregistry:\n  username: <%= `whoami` %>\n  password: [P]\nlabels:\n  when: <%= Time.now\n";
    let dir = app(
        "erb-bad",
        bad,
        &[(
            "config/deploy.staging.yml",
            "\n\nlabels:\n  a: <% if true %>x<% end %>\n  b: <%= ENV.fetch('BATON_T_NOT_SET', 'fine') %>\n",
        )],
    );
    let o = run_in(&dir, &["app", "details", "--dry-run", "-d", "staging"], &[("BATON_T_HOST", "192.0.2.77")]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    for line in o.stderr.lines() {
        assert!(line.starts_with("error: config/deploy."), "{line}");
        assert!(line.contains("; "), "says what to do: {line}");
    }
    insta::assert_snapshot!(o.stderr);
}

#[test]
fn yaml_errors_after_erb_keep_their_line_numbers() {
    let config = format!(
        "service: <%= ENV.fetch('BATON_T_SERVICE', 'a-long-service-name') %>\nimage: app\nservers:\n  - <%= ENV.fetch('BATON_T_HOST', '192.0.2.5') %>\n{REGISTRY}healthcheck:\n  interval: soon\n"
    );
    let dir = app("erb-lines", &config, &[]);
    let o = run_in(&dir, &["app", "details", "--dry-run"], &[]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    assert!(o.stderr.starts_with("error: config/deploy.yml:9: healthcheck.interval: "), "{}", o.stderr);
}

// ------------------------------------------------------- init, envify ----

#[test]
fn init_creates_what_is_missing_and_never_overwrites() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("baton-cli-init-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let o = run_in(&dir, &["init", "--bundle"], &[]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    assert!(o.stderr.starts_with("error: --bundle: ") && o.stderr.contains("not a gem"), "{}", o.stderr);
    assert_eq!(std::fs::read_dir(&dir).expect("ls").count(), 0, "--bundle created nothing");

    let o = run_in(&dir, &["init"], &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let mode = |p: &str| std::fs::metadata(dir.join(p)).expect(p).permissions().mode() & 0o777;
    assert_eq!(mode(".env"), 0o600);
    for hook in ["pre-connect", "pre-build", "pre-deploy", "post-deploy"] {
        assert_eq!(mode(&format!(".kamal/hooks/{hook}.sample")) & 0o111, 0o111, "{hook} is executable");
    }
    // The template is a config baton reads without a warning.
    let o = run_in(&dir, &["config"], &[]);
    assert_eq!((o.code, o.stderr.as_str()), (0, ""), "{}", o.stdout);
    assert!(o.stdout.contains("service: my-app"), "{}", o.stdout);

    std::fs::write(dir.join("config/deploy.yml"), "mine\n").expect("write");
    std::fs::write(dir.join(".env"), "MINE=1\n").expect("write");
    let o = run_in(&dir, &["init"], &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(std::fs::read_to_string(dir.join("config/deploy.yml")).expect("read"), "mine\n");
    assert_eq!(std::fs::read_to_string(dir.join(".env")).expect("read"), "MINE=1\n");
    assert_eq!(
        o.stdout,
        "config/deploy.yml already exists; left as it is (remove it first to create a new one)\n.env already exists; left as it is\n.kamal/hooks already exists; left as it is (remove it first to get the sample hooks)\n"
    );
}

#[test]
fn envify_writes_the_env_file_0600_then_pushes_it() {
    use std::os::unix::fs::PermissionsExt;
    // Port 1 on loopback refuses at once: env push fails fast, after the write.
    let config = format!("service: app\nimage: app\nservers:\n  - 127.0.0.1:1\nssh:\n  config: /dev/null\nenv:\n  secret: [BATON_T_DB_PW]\n{REGISTRY}");
    let template = "# written by envify\nBATON_T_DB_PW=<%= ENV.fetch(\"BATON_T_SOURCE\") %>\nKAMAL_REGISTRY_PASSWORD=<%= ENV.fetch('BATON_T_UNSET', \"reg-pw-8812\") %>\n";
    let dir =
        app("envify", &config, &[(".env.erb", template), (".env", "OLD=1\n"), (".env.staging.erb", "A=<%= 1 %>\n")]);
    std::fs::set_permissions(dir.join(".env"), std::fs::Permissions::from_mode(0o644)).expect("chmod");

    let o = run_in(&dir, &["envify", "--dry-run"], &[("BATON_T_SOURCE", "db-pw-5531")]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_no_secret(&o, "envify --dry-run");
    assert_eq!(std::fs::read_to_string(dir.join(".env")).expect("read"), "OLD=1\n", "--dry-run writes nothing");
    assert!(o.stdout.contains("Would write .env (2 variables, mode 0600) from .env.erb"), "{}", o.stdout);
    assert!(o.stdout.contains("cat > .kamal/env/roles/app-web.env    # standard input not shown"), "{}", o.stdout);

    let o = run_in(&dir, &["envify"], &[("BATON_T_SOURCE", "db-pw-5531")]);
    assert_no_secret(&o, "envify");
    assert_eq!(
        std::fs::read_to_string(dir.join(".env")).expect("read"),
        "# written by envify\nBATON_T_DB_PW=db-pw-5531\nKAMAL_REGISTRY_PASSWORD=reg-pw-8812\n"
    );
    assert_eq!(std::fs::metadata(dir.join(".env")).expect("stat").permissions().mode() & 0o777, 0o600);
    assert!(o.stdout.starts_with("Wrote .env (2 variables, mode 0600) from .env.erb\n"), "{}", o.stdout);
    assert_eq!(o.code, 1, "env push ran and could not connect:\n{}{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("127.0.0.1:1: lock failed"), "{}", o.stderr);

    let o = run_in(&dir, &["envify", "-d", "staging"], &[]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.starts_with("error: .env.staging.erb:1: <%= 1 %>: this ERB is not supported"), "{}", o.stderr);
    assert!(!dir.join(".env.staging").exists());
    let o = run_in(&dir, &["envify", "-d", "production"], &[]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.starts_with("error: .env.production.erb: no such file; "), "{}", o.stderr);
}
