//! Traefik v2's command-line flags, as Kamal 1 passes them to its `traefik`
//! container (`--providers.docker`, `--log.level=DEBUG`, then the config's
//! `traefik.args` as `--key=value`). Flag names are case-insensitive, as
//! Traefik's are. The ones fleet-proxy models:
//!
//! * `--providers.docker[=true]`: the docker provider (the only one modelled;
//!   `=false` is refused). `--providers.docker.endpoint=unix:///path`.
//! * `--providers.providersThrottleDuration=D`: the pickup delay (Traefik's
//!   default 2s; a bare number is seconds, as in Traefik).
//! * `--entrypoints.NAME.address=[IP]:PORT[/tcp]`: a routing listener (default:
//!   one entry point, `http`, on `:80`, as Traefik with none configured).
//! * `--api.insecure[=true]`: the API on the `traefik` entry point, `:8080`
//!   unless `--entrypoints.traefik.address` says otherwise. `--ping[=true]`:
//!   `GET /ping` there too.
//! * `--log.level=L` (accepted; fleet-proxy logs the same lines at every
//!   level), `--log.filePath=FILE`.
//!
//! Any other flag (`--accesslog`, `--metrics.*`, `--api.dashboard`, …) is
//! logged as ignored at startup.

use crate::config::Config;
use std::net::SocketAddr;
use std::time::Duration;

/// Traefik's root options that take no dot.
const ROOT_FLAGS: &[&str] = &["--api", "--ping", "--accesslog", "--metrics", "--tracing", "--pilot", "--hub"];

/// A Traefik flag: `--a.b…` (any dot in the name) or one of Traefik's root options.
pub fn is_traefik_flag(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("--") && (lower.contains('.') || ROOT_FLAGS.contains(&lower.as_str()))
}

#[derive(Default)]
pub struct TraefikFlags {
    pub seen: bool,
    docker: bool,
    api_insecure: bool,
    ping: bool,
    entrypoints: Vec<(String, SocketAddr)>,
    throttle: Option<Duration>,
    endpoint: Option<String>,
    log_file: Option<String>,
    notes: Vec<String>,
}

fn boolean(name: &str, v: Option<&str>) -> Result<bool, String> {
    match v.map(str::to_ascii_lowercase).as_deref() {
        None | Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(format!("{name}={other}: want true or false")),
    }
}

/// Traefik's entry point address: `:80`, `0.0.0.0:80`, `[::]:80`, with an
/// optional `/tcp`.
fn entrypoint_address(name: &str, v: &str) -> Result<SocketAddr, String> {
    let bare = v.strip_suffix("/tcp").unwrap_or(v);
    let full = if bare.starts_with(':') { format!("0.0.0.0{bare}") } else { bare.to_string() };
    full.parse().map_err(|_| format!("{name}={v}: want [IP]:PORT (e.g. :80)"))
}

/// Traefik's durations: `2s`, `500ms`, `1m`, or a bare number of seconds.
fn duration(name: &str, v: &str) -> Result<Duration, String> {
    if let Ok(secs) = v.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(v).map_err(|e| format!("{name}={v}: not a duration ({e})"))
}

impl TraefikFlags {
    /// Take one flag: `name` as written, `value` after its `=`, if any.
    pub fn take(&mut self, name: &str, value: Option<&str>) -> Result<(), String> {
        self.seen = true;
        let lower = name.to_ascii_lowercase();
        let need = || value.ok_or(format!("{name} needs a value: {name}=VALUE"));
        match lower.as_str() {
            "--providers.docker" => {
                if !boolean(name, value)? {
                    return Err(format!("{name}=false: fleet-proxy models only Traefik's docker provider"));
                }
                self.docker = true;
            }
            "--providers.docker.endpoint" => self.endpoint = Some(need()?.to_string()),
            "--providers.providersthrottleduration" => self.throttle = Some(duration(name, need()?)?),
            "--api.insecure" => self.api_insecure = boolean(name, value)?,
            "--ping" => self.ping = boolean(name, value)?,
            "--log.filepath" => self.log_file = Some(need()?.to_string()),
            "--log.level" => {
                self.notes.push(format!("{name}={}: accepted (the same lines are logged at every level)", need()?))
            }
            _ => match lower.strip_prefix("--entrypoints.").and_then(|r| r.strip_suffix(".address")) {
                Some(ep) if !ep.is_empty() && !ep.contains('.') => {
                    let ep = name["--entrypoints.".len()..name.len() - ".address".len()].to_string();
                    let addr = entrypoint_address(name, need()?)?;
                    self.entrypoints.retain(|(n, _)| !n.eq_ignore_ascii_case(&ep));
                    self.entrypoints.push((ep, addr));
                }
                _ => self.notes.push(format!(
                    "{name}{}: not modelled by fleet-proxy, ignored",
                    value.map(|v| format!("={v}")).unwrap_or_default()
                )),
            },
        }
        Ok(())
    }

    /// Set `cfg` from the flags taken (Traefik mode).
    pub fn apply(mut self, cfg: &mut Config, docker_host: &mut String) -> Result<(), String> {
        if !self.docker {
            return Err("Traefik's flags without --providers.docker: fleet-proxy models only the docker provider (Kamal passes --providers.docker)".into());
        }
        cfg.traefik = true;
        cfg.api_on_main = false;
        cfg.ping = self.ping;
        // Traefik with --providers.docker reads DOCKER_HOST's default socket, not the env.
        *docker_host = self.endpoint.take().unwrap_or_else(|| "unix:///var/run/docker.sock".into());
        if let Some(t) = self.throttle {
            cfg.pickup = t;
        }
        if let Some(f) = self.log_file.take() {
            cfg.log = Some(f);
        }
        let api_ep = self.entrypoints.iter().position(|(n, _)| self.api_insecure && n.eq_ignore_ascii_case("traefik"));
        cfg.api_listen = match api_ep {
            Some(i) => Some(self.entrypoints.remove(i).1),
            None if self.api_insecure => Some("0.0.0.0:8080".parse().expect("literal")),
            None => {
                self.notes
                    .push("no --api.insecure: the API is not served (Kamal: traefik.args api.insecure: true)".into());
                None
            }
        };
        cfg.listen = if self.entrypoints.is_empty() {
            vec![("http".into(), "0.0.0.0:80".parse().expect("literal"))]
        } else {
            self.entrypoints
        };
        cfg.notes = self.notes;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn kamal_default_command_line_is_traefik_mode_on_80_without_api() {
        let cfg = parse(args(&["--providers.docker", "--log.level=DEBUG"]), Some("unix:///x.sock".into())).unwrap();
        assert!(cfg.traefik && !cfg.api_on_main && !cfg.ping);
        assert_eq!(cfg.listen, vec![("http".to_string(), "0.0.0.0:80".parse().unwrap())]);
        assert_eq!(cfg.api_listen, None);
        assert_eq!(cfg.docker_socket, "/var/run/docker.sock");
        assert_eq!(cfg.pickup.as_millis(), 2000);
        assert_eq!(cfg.notes.len(), 2, "{:?}", cfg.notes);
    }

    #[test]
    fn api_entrypoints_throttle_and_ignored_flags() {
        let cfg = parse(
            args(&[
                "--providers.docker",
                "--api.insecure",
                "--entryPoints.web.address=:81",
                "--entrypoints.traefik.address=127.0.0.1:9090",
                "--providers.providersThrottleDuration=1s",
                "--accesslog=true",
                "--metrics.prometheus.buckets=0.1",
            ]),
            None,
        )
        .unwrap();
        assert_eq!(cfg.listen, vec![("web".to_string(), "0.0.0.0:81".parse().unwrap())]);
        assert_eq!(cfg.api_listen, Some("127.0.0.1:9090".parse().unwrap()));
        assert_eq!(cfg.pickup.as_millis(), 1000);
        assert_eq!(cfg.notes.iter().filter(|n| n.contains("ignored")).count(), 2, "{:?}", cfg.notes);

        let cfg = parse(
            args(&["--providers.docker", "--api.insecure=true", "--providers.providersThrottleDuration=3"]),
            None,
        )
        .unwrap();
        assert_eq!(cfg.api_listen, Some("0.0.0.0:8080".parse().unwrap()));
        assert_eq!(cfg.pickup.as_secs(), 3);
        let cfg = parse(args(&["--providers.docker", "--api.insecure=false"]), None).unwrap();
        assert_eq!(cfg.api_listen, None);
    }

    #[test]
    fn host_mode_is_unchanged_and_modes_do_not_mix() {
        let cfg =
            parse(args(&["--docker-host", "unix:///d.sock", "--listen", "10.0.0.1:80", "--pickup-ms", "1000"]), None)
                .unwrap();
        assert!(!cfg.traefik && cfg.api_on_main && cfg.ping);
        assert_eq!(cfg.listen, vec![("web".to_string(), "10.0.0.1:80".parse().unwrap())]);
        let Err(e) = parse(args(&["--listen", "10.0.0.1:80", "--providers.docker"]), None) else { panic!() };
        assert!(e.contains("--entrypoints"), "{e}");
        let Err(e) = parse(args(&["--api.insecure"]), None) else { panic!() };
        assert!(e.contains("--providers.docker"), "{e}");
        let Err(e) = parse(args(&["--providers.docker", "--api.insecure=yes"]), None) else { panic!() };
        assert!(e.contains("true or false"), "{e}");
    }
}
