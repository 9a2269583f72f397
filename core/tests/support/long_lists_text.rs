//! The config of the long-lists test and of `scripts/bench-config`: N
//! labels (top level and on a role), N env values, N volumes, N/10 hosts.

/// The config text with `n` entries in each long list.
pub fn config_text(n: usize) -> String {
    let mut y = String::from("service: app\nimage: app\nregistry:\n  username: u\n  password: [P]\nservers:\n  web:\n");
    let mut list = |header: &str, count: usize, line: &dyn Fn(usize) -> String| {
        y.push_str(header);
        (0..count).for_each(|i| y.push_str(&line(i)));
    };
    list("", n / 10, &|i| format!("    - 10.{}.{}.{}\n", i / 65536 % 256, i / 256 % 256, i % 256));
    list("  jobs:\n    hosts: [10.0.0.0]\n    labels:\n", n, &|i| format!("      label{i}: jobs{i}\n"));
    list("labels:\n", n, &|i| format!("  label{i}: value{i}\n"));
    list("env:\n  clear:\n", n, &|i| format!("    ENV{i}: value{i}\n"));
    list("volumes:\n", n, &|i| format!("  - /data{i}:/data{i}\n"));
    y
}
