//! The commands of `prune` (Kamal 1.0's `Kamal::Commands::Prune`), per host:
//! dangling images, tagged images that no container of the service uses
//! (never `latest`), and stopped containers beyond the newest `retain` ones.
//!
//! Kamal counts the stopped containers of the whole service; baton counts
//! them per role (and destination), so that every role keeps the containers
//! `rollback` needs. An image stays as long as any container of the service
//! uses it, so a stopped container that is kept keeps its image.

use super::{docker, filters};
use crate::config::Config;
use crate::shell::Command;

/// `--filter label=service=<service>`: images carry only the service label.
fn service_filter(cfg: &Config) -> Command {
    Command::new().fixed("--filter").arg(format!("label=service={}", cfg.service))
}

/// `docker image prune --force --filter label=service=… --filter dangling=true`
pub fn dangling_images(cfg: &Config) -> Command {
    docker()
        .fixed("image")
        .fixed("prune")
        .fixed("--force")
        .then(service_filter(cfg))
        .fixed("--filter")
        .arg("dangling=true")
}

/// Remove the tagged images of the service that no container (running or
/// not) on the host uses, except `<repository>:latest`. Any container
/// counts, not only the service's: an accessory may run an image of the
/// service, and `docker rmi` of an image in use fails the prune (Kamal's
/// `docker image prune` skips images in use):
///
/// `docker image ls --filter label=service=S --filter dangling=false --format '{{.Repository}}:{{.Tag}}'
///  | grep -v -x -F -e REPO:latest -e 'REPO:<none>' $(docker container ls --all --format '-e {{.Image}}')
///  | xargs --no-run-if-empty docker rmi`
///
/// Kamal greps with a regular expression made of the image names (whose `.`
/// match any character); baton matches whole lines literally.
pub fn tagged_images(cfg: &Config) -> Command {
    let repo = cfg.repository();
    let in_use = docker().fixed("container").fixed("ls").fixed("--all").fixed("--format").arg("-e {{.Image}}");
    docker()
        .fixed("image")
        .fixed("ls")
        .then(service_filter(cfg))
        .fixed("--filter")
        .arg("dangling=false")
        .fixed("--format")
        .arg("{{.Repository}}:{{.Tag}}")
        .fixed("|")
        .then(Command::program("grep").fixed("-v").fixed("-x").fixed("-F"))
        .fixed("-e")
        .arg(format!("{repo}:latest"))
        .fixed("-e")
        .arg(format!("{repo}:<none>"))
        .fixed("$(")
        .then(in_use)
        .fixed(")")
        .fixed("|")
        .fixed("xargs")
        .fixed("--no-run-if-empty")
        .then(docker().fixed("rmi"))
}

/// Remove the role's stopped containers (created, exited, dead) except the
/// newest `retain`: Docker lists the newest first.
pub fn containers(cfg: &Config, role: &str, retain: u64) -> Command {
    docker()
        .fixed("ps")
        .fixed("--quiet")
        .fixed("--all")
        .then(filters(cfg, Some(role)))
        .fixed("--filter")
        .arg("status=created")
        .fixed("--filter")
        .arg("status=exited")
        .fixed("--filter")
        .arg("status=dead")
        .fixed("|")
        .then(Command::program("tail").fixed("-n").arg(format!("+{}", retain + 1)))
        .fixed("|")
        .fixed("xargs")
        .fixed("--no-run-if-empty")
        .then(docker().fixed("rm"))
}

/// Remove stopped health check containers left behind (a `healthcheck
/// perform` aborted at once), as Kamal 1.x's later `prune containers` does.
pub fn healthcheck_containers(cfg: &Config) -> Command {
    docker()
        .fixed("container")
        .fixed("prune")
        .fixed("--force")
        .fixed("--filter")
        .arg(format!("label=service={}", super::healthcheck::service(cfg)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Source;

    #[test]
    fn prune_commands_read_as_kamals() {
        let text = "service: app\nimage: acme/app\nservers: [h1]\nregistry:\n  server: r.example\n  username: u\n  password: [P]\n";
        let c = Config::parse(Source { name: "config/deploy.yml", text }, None).expect("parses");
        assert_eq!(
            dangling_images(&c).render(),
            "docker image prune --force --filter label=service=app --filter dangling=true"
        );
        assert_eq!(
            tagged_images(&c).render(),
            "docker image ls --filter label=service=app --filter dangling=false --format '{{.Repository}}:{{.Tag}}' | grep -v -x -F -e r.example/acme/app:latest -e 'r.example/acme/app:<none>' $( docker container ls --all --format '-e {{.Image}}' ) | xargs --no-run-if-empty docker rmi"
        );
        assert_eq!(
            containers(&c, "web", 5).render(),
            "docker ps --quiet --all --filter label=service=app --filter label=role=web --filter status=created --filter status=exited --filter status=dead | tail -n +6 | xargs --no-run-if-empty docker rm"
        );
        assert_eq!(
            healthcheck_containers(&c).render(),
            "docker container prune --force --filter label=service=healthcheck-app"
        );
    }
}
