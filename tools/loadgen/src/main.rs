//! loadgen: constant-rate HTTP load over one or more targets, counting every
//! failure (see the `baton_loadgen` library for what it does exactly).
//!
//! ```text
//! loadgen --target 10.231.0.11:80 --target 10.231.0.12:80 --rate 300 \
//!         --duration-ms 15000 --expect v1,v2 --path /version [--timeout-ms 2000] [--json]
//! ```
//!
//! Exit status: 0 when every request succeeded, 1 when any failed, 2 on a
//! usage error.

use baton_loadgen::{run, LoadConfig};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::exit;
use std::time::Duration;

const USAGE: &str = "usage: loadgen --target HOST:PORT [--target HOST:PORT]... [--rate N] [--duration-ms N] \
[--expect BODY[,BODY]...] [--path PATH] [--timeout-ms N] [--json]
  --target       where to send (repeat, or comma-separate); the rate is spread evenly
  --rate         requests per second in total (default 200)
  --duration-ms  how long to send (default 10000)
  --expect       bodies (trimmed) a 2xx answer may carry (default: any)
  --path         request path (default /version)
  --timeout-ms   deadline of one request, connect included (default 2000)
  --json         print the report as JSON instead of a table";

fn parse() -> Result<(LoadConfig, bool), String> {
    let mut cfg = LoadConfig::new(Vec::new(), 200, Duration::from_secs(10));
    let mut json = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || inline.clone().or_else(|| args.next()).ok_or(format!("{name} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|_| format!("{name}: bad number {v:?}"));
        match name.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                exit(0);
            }
            "--target" => {
                for t in value()?.split(',').filter(|t| !t.is_empty()) {
                    let addr: Option<SocketAddr> =
                        t.to_socket_addrs().map_err(|e| format!("--target {t}: {e}"))?.next();
                    cfg.targets.push(addr.ok_or(format!("--target {t}: no address"))?);
                }
            }
            "--rate" => {
                let r = number(value()?)?;
                cfg.rate = u32::try_from(r).ok().filter(|r| *r > 0).ok_or("--rate must be 1..2^32")?;
            }
            "--duration-ms" => cfg.duration = Duration::from_millis(number(value()?)?),
            "--timeout-ms" => cfg.timeout = Duration::from_millis(number(value()?)?.max(1)),
            "--path" => cfg.path = value()?,
            "--expect" => {
                cfg.expect.extend(value()?.split(',').map(str::trim).filter(|e| !e.is_empty()).map(String::from))
            }
            "--json" => json = true,
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    if cfg.targets.is_empty() {
        return Err("at least one --target is needed".into());
    }
    if !cfg.path.starts_with('/') {
        return Err(format!("--path {:?} must start with /", cfg.path));
    }
    Ok((cfg, json))
}

fn main() {
    let (cfg, json) = match parse() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("loadgen: {e}\n{USAGE}");
            exit(2);
        }
    };
    let report = run(&cfg);
    if json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.summary());
    }
    exit(if report.failures() == 0 { 0 } else { 1 });
}
