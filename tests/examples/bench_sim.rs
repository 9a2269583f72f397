//! Benchmark of the simulator (`scripts/bench-sim`): `app boot` of v2 over
//! a fleet of N hosts (default 1,000) running v1, `boot.limit: 10%`, with
//! the example app's health check and baton settings. Prints what the
//! simulation predicts and how long it took; the script measures the CPU
//! time and peak memory of the whole process.
//!
//! `bench_sim [HOSTS] [--self-measure]`: with `--self-measure`, also print
//! the process's CPU time and peak RSS from /proc (for machines without
//! /usr/bin/time).

use baton_core::sim::{simulate, Scenario};
use baton_core::time::fmt_secs;
use baton_tests::fixtures::{config, plan};
use std::time::Instant;

fn fleet_config(hosts: usize) -> String {
    let mut y = String::from("service: shop\nimage: acme/shop\nservers:\n  web:\n    hosts:\n");
    for i in 0..hosts {
        y.push_str(&format!("      - 10.{}.{}.{}\n", i / 65536, (i / 256) % 256, i % 256));
    }
    y.push_str(
        "healthcheck:\n  path: /up\n  port: 3000\n  interval: 1s\n  max_attempts: 7\n\
         baton:\n  poll_interval: 250ms\n  proxy_pickup: 2s\n\
         boot:\n  limit: 10%\n",
    );
    y
}

/// (CPU seconds, peak RSS in KiB) of this process, from /proc.
fn self_measure() -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line; USER_HZ is 100.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hwm = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = hwm.split_whitespace().nth(1)?.parse().ok()?;
    Some((ticks as f64 / 100.0, kib))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let hosts: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(1000);
    let start = Instant::now();
    let p = plan(config(&fleet_config(hosts)), "v2");
    let groups = p.groups().len();
    let scenario = Scenario { from: Some("v1".into()), seed: 1, ..Scenario::default() };
    let sim = simulate(p, &scenario);
    let elapsed = start.elapsed();
    println!(
        "simulated app boot of v2 on {hosts} hosts ({groups} groups, boot.limit 10%): {} inputs, {} commands, \
         predicted wall time {}s, {} serving gaps, outcome {}",
        sim.run.steps,
        sim.run.effects.len(),
        fmt_secs(sim.report.duration_ms),
        sim.report.gaps.len(),
        sim.report.outcome
    );
    println!("simulation (config, plan, run, report): {:.3}s wall", elapsed.as_secs_f64());
    if args.iter().any(|a| a == "--self-measure") {
        match self_measure() {
            Some((cpu, kib)) => {
                println!("cpu time: {cpu:.2}s; peak memory: {:.1} MiB (from /proc)", kib as f64 / 1024.0)
            }
            None => println!("cpu time and peak memory: /proc is not available here"),
        }
    }
    assert!(sim.report.clean(), "the benchmark deploy should succeed with no gap:\n{}", sim.report.summary());
}
