//! The commands of `healthcheck perform` (Kamal 1.0's
//! `Kamal::Commands::Healthcheck`): a throw-away container of the version,
//! published on `healthcheck.exposed_port`, read until healthy, then
//! stopped and removed. Also the two reads that show why a container never
//! turned healthy (its last log lines and Docker's health log), which
//! `app boot` runs too.

use super::{docker, env_args, image_ref, option_args, volume_args};
use crate::config::{Config, Role};
use crate::shell::{Command, Word};

/// `healthcheck-<service>[-<destination>]`: the `service` label of the
/// health check container, and its name without the version.
pub fn service(cfg: &Config) -> String {
    match &cfg.destination {
        Some(d) => format!("healthcheck-{}-{d}", cfg.service),
        None => format!("healthcheck-{}", cfg.service),
    }
}

/// `healthcheck-<service>[-<destination>]-<version>`
pub fn container_name(cfg: &Config, version: &str) -> String {
    format!("{}-{version}", service(cfg))
}

/// `docker run` of the health check container, as Kamal 1.0: the role's env
/// file, its health check without the cord, the volumes, its options, the
/// image and its cmd; published on `exposed_port`, labelled
/// `service=healthcheck-<service>` so that the app's own filters never see
/// it. No restart policy: a container that exits stays exited.
pub fn run(cfg: &Config, role: &Role, version: &str) -> Command {
    let hc = &cfg.healthcheck;
    let name = container_name(cfg, version);
    let mut c = docker()
        .fixed("run")
        .fixed("--detach")
        .fixed("--name")
        .arg(&name)
        .fixed("--publish")
        .arg(format!("{}:{}", hc.exposed_port, hc.port))
        .fixed("--label")
        .arg(format!("service={}", service(cfg)))
        .fixed("-e")
        .arg(format!("KAMAL_CONTAINER_NAME={}", service(cfg)))
        .then(env_args(cfg, role));
    if let (Some(cmd), Some(role_hc)) = (&role.spec.health_cmd, &role.spec.healthcheck) {
        c = c.fixed("--health-cmd").arg(cmd.clone()).fixed("--health-interval").arg(role_hc.interval.clone());
    }
    c = c.then(volume_args(cfg)).then(option_args(role)).arg(image_ref(cfg, version));
    if let Some(cmd) = &role.cmd {
        // As in `app boot`: the role's cmd, split by the host's shell.
        c = c.arg(Word::UserShell(cmd.clone()));
    }
    c
}

/// The last `lines` lines of a container's log, stderr included.
pub fn logs(name: &str, lines: u32) -> Command {
    docker().fixed("logs").fixed("--tail").arg(lines.to_string()).arg(name).fixed("2>&1")
}

/// The format of [`health_log`]: Docker's health log as JSON, or nothing
/// for a container without a health check.
pub const HEALTH_LOG_FORMAT: &str = "{{if .State.Health}}{{json .State.Health.Log}}{{end}}";

/// Docker's health log of a container (its last checks, with their output).
pub fn health_log(name: &str) -> Command {
    docker().fixed("inspect").fixed("--format").arg(HEALTH_LOG_FORMAT).arg(name)
}

/// `docker stop <name>` (Kamal stops the health check container without a timeout option).
pub fn stop(name: &str) -> Command {
    docker().fixed("stop").arg(name)
}

/// `docker container rm <name>`
pub fn remove(name: &str) -> Command {
    docker().fixed("container").fixed("rm").arg(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Source;

    fn cfg(text: &str, dest: Option<&str>) -> Config {
        let text = format!("{text}registry:\n  username: u\n  password: [P]\n");
        let overlay = "env:\n  clear:\n    X: y\n";
        let dest = dest.map(|d| (d, Source { name: "config/deploy.d.yml", text: overlay }));
        Config::parse(Source { name: "config/deploy.yml", text: &text }, dest).expect("parses")
    }

    #[test]
    fn the_container_is_kamals_with_its_port_and_label() {
        let c = cfg("service: app\nimage: app\nservers:\n  web:\n    hosts: [h1]\n    cmd: bin/web --port 3000\nhealthcheck:\n  exposed_port: 4999\nvolumes:\n  - /data:/data\n", None);
        let web = c.role("web").expect("web");
        assert_eq!(
            run(&c, web, "v2").render(),
            "docker run --detach --name healthcheck-app-v2 --publish 4999:3000 --label service=healthcheck-app -e KAMAL_CONTAINER_NAME=healthcheck-app --env-file .kamal/env/roles/app-web.env --health-cmd 'curl -f http://localhost:3000/up || exit 1' --health-interval 1s --volume /data:/data app:v2 bin/web --port 3000"
        );
        assert_eq!(logs("healthcheck-app-v2", 50).render(), "docker logs --tail 50 healthcheck-app-v2 2>&1");
        assert_eq!(
            health_log("healthcheck-app-v2").render(),
            "docker inspect --format '{{if .State.Health}}{{json .State.Health.Log}}{{end}}' healthcheck-app-v2"
        );
        assert_eq!(stop("healthcheck-app-v2").render(), "docker stop healthcheck-app-v2");
        assert_eq!(remove("healthcheck-app-v2").render(), "docker container rm healthcheck-app-v2");
    }

    #[test]
    fn a_destination_is_part_of_the_name_and_label() {
        let c = cfg("service: app\nimage: app\nservers: [h1]\n", Some("staging"));
        assert_eq!(container_name(&c, "v1"), "healthcheck-app-staging-v1");
        assert!(run(&c, c.role("web").expect("web"), "v1")
            .render()
            .contains("--label service=healthcheck-app-staging"));
    }
}
