//! `baton plan`'s default output, as the binary prints it (not a terminal,
//! so 160 columns): the example's plan fits in 60 lines of at most 160
//! characters, starts with a summary that names every host, and a
//! 200-host config stays short because alike hosts and rows are folded.

mod common;

use common::plan_in;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("root").to_path_buf()
}

fn widest(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

const BOOT: &[&str] = &["plan", "--version", "v2", "--from", "v1"];

#[test]
fn the_example_plan_fits_the_targets() {
    let demo = root().join("examples/demo");
    let (code, text) = plan_in(&demo, BOOT);
    assert_eq!(code, 0, "{text}");
    let lines = text.lines().count();
    assert!(lines <= 60, "{lines} lines (target: 60):\n{text}");
    assert!(widest(&text) <= 160, "a line of {} characters (target: 160):\n{text}", widest(&text));
    // The summary comes first and names every host.
    let summary: String = text.lines().take(8).collect::<Vec<_>>().join("\n");
    assert!(summary.contains("HOST"), "{text}");
    for host in ["192.0.2.11", "192.0.2.12", "192.0.2.13"] {
        assert!(summary.contains(host), "the summary does not name {host}:\n{text}");
    }
    assert!(text.contains("Predicted wall time: "), "{text}");
    assert!(text.contains("Assumes: "), "{text}");
    // The timeline shows changes, not polls.
    assert!(!text.contains(" poll "), "{text}");
    for kind in [" run ", " proxy ", " health ", " wait "] {
        assert!(text.contains(kind), "no{kind}line:\n{text}");
    }

    // Faults stay within the targets too, and say what failed.
    for fault in ["192.0.2.12=never-healthy", "192.0.2.13=unreachable@run", "192.0.2.11=crash"] {
        let mut args = BOOT.to_vec();
        args.extend(["--fault", fault]);
        let (code, text) = plan_in(&demo, &args);
        assert_eq!(code, 3, "{text}");
        assert!(text.lines().count() <= 60, "--fault {fault}: {} lines:\n{text}", text.lines().count());
        assert!(widest(&text) <= 160, "--fault {fault}: a line of {} characters:\n{text}", widest(&text));
        assert!(text.contains("FAILED"), "--fault {fault}:\n{text}");
    }
}

#[test]
fn full_timeline_and_whole_commands() {
    let demo = root().join("examples/demo");
    let (_, compact) = plan_in(&demo, BOOT);
    let mut args = BOOT.to_vec();
    args.extend(["--timeline", "full"]);
    let (_, full) = plan_in(&demo, &args);
    assert!(full.lines().count() > compact.lines().count() + 60, "--timeline full shows every read:\n{full}");
    assert!(full.contains(" poll "), "{full}");
    assert!(widest(&full) <= 160, "commands are cut to 160 columns: {}", widest(&full));
    args.push("--commands");
    let (_, whole) = plan_in(&demo, &args);
    assert!(widest(&whole) > 400, "--commands prints the docker run lines whole: {}", widest(&whole));
    let (_, whole) = plan_in(&demo, &[BOOT, &["--commands"]].concat());
    assert!(whole.contains("docker run --detach --restart unless-stopped --name shop-web-v2"), "{whole}");
    assert!(whole.lines().any(|l| l.contains("docker run") && l.trim_end().ends_with("acme/shop:v2")), "{whole}");
}

/// The example's config with 200 web hosts (`web-1` … `web-200`) booted
/// 20 at a time, and a jobs role on two of them.
fn big_config() -> String {
    let demo = std::fs::read_to_string(root().join("examples/demo/config/deploy.yml")).expect("read the example");
    let web: String = (1..=200).map(|i| format!("      - web-{i}\n")).collect();
    let servers = format!(
        "servers:\n  web:\n    hosts:\n{web}  jobs:\n    hosts:\n      - web-1\n      - web-2\n    cmd: bin/jobs\n\nboot:\n  limit: 20\n  wait: 2\n\n"
    );
    let start = demo.find("servers:").expect("servers");
    let end = demo.find("registry:").expect("registry");
    format!("{}{servers}{}", &demo[..start], &demo[end..])
}

#[test]
fn two_hundred_hosts_stay_readable() {
    let dir = std::env::temp_dir().join(format!("baton-plan-200-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("config")).expect("mkdir");
    std::fs::write(dir.join("config/deploy.yml"), big_config()).expect("write config");
    let (code, text) = plan_in(&dir, BOOT);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(code, 0, "{text}");
    let lines = text.lines().count();
    assert!(lines <= 80, "{lines} lines for 200 hosts (target: 80):\n{text}");
    assert!(widest(&text) <= 160, "a line of {} characters:\n{text}", widest(&text));
    assert!(text.contains("web-2 … web-200 (199 hosts)"), "alike rows are folded:\n{text}");
    assert!(text.contains("same as web-"), "alike hosts are folded in the timeline:\n{text}");
}

#[test]
fn lanes_in_the_terminal_and_as_svg() {
    let demo = root().join("examples/demo");
    let svg = std::env::temp_dir().join(format!("baton-plan-{}.svg", std::process::id()));
    let svg_arg = svg.display().to_string();
    let (_, text) = plan_in(&demo, &[BOOT, &["--svg", &svg_arg]].concat());
    let lanes: Vec<&str> = text.lines().filter(|l| l.contains(" │")).collect();
    assert_eq!(lanes.len(), 4, "one lane per host and role:\n{text}");
    for lane in &lanes {
        assert!(lane.contains('░') && lane.contains('█') && lane.contains('▓'), "starting, serving, draining: {lane}");
    }
    assert!(text.contains("░ starting  █ serving old + new  ▓ draining"), "the legend:\n{text}");
    let picture = std::fs::read_to_string(&svg).expect("--svg wrote the file");
    std::fs::remove_file(&svg).ok();
    assert!(picture.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{picture}");
    assert!(picture.trim_end().ends_with("</svg>"), "{picture}");
    for host in ["192.0.2.11 web", "192.0.2.12 web", "192.0.2.13 web", "192.0.2.13 jobs"] {
        assert!(picture.contains(&format!(">{host}</text>")), "no lane for {host}:\n{picture}");
    }
    assert!(picture.matches("<rect ").count() >= 4 * 3, "starting, serving and draining on every lane:\n{picture}");
}

#[test]
fn colour_only_when_asked_and_never_with_no_color() {
    let demo = root().join("examples/demo");
    let run = |env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(common::baton_bin());
        cmd.args(BOOT).current_dir(&demo).env("USER", "deployer").env_remove("VERSION");
        cmd.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE").env_remove("CLICOLOR");
        for (k, v) in env {
            cmd.env(k, v);
        }
        String::from_utf8(cmd.output().expect("run baton").stdout).expect("UTF-8")
    };
    assert!(!run(&[]).contains('\u{1b}'), "no colour when stdout is not a terminal");
    let forced = run(&[("CLICOLOR_FORCE", "1")]);
    assert!(forced.contains("\u{1b}[32mkept serving\u{1b}[0m"), "{forced}");
    assert!(!run(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]).contains('\u{1b}'), "NO_COLOR wins");
}
