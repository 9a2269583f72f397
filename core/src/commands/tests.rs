//! Every builder's output, pinned. The `run` line is also compared, word by
//! word after shell parsing, with the argv Kamal 1.0 produces for the same
//! config, so that containers started by baton and by Kamal are the same.

use super::*;
use crate::config::{Config, Source};

fn cfg(extra: &str) -> Config {
    let text = format!("service: app\nimage: dhh/app\nservers:\n  web: [1.1.1.1, 1.1.1.2]\n  workers:\n    hosts: [1.1.1.3]\n    cmd: bin/jobs --queue default\n    options:\n      cap-add: true\n      mount: type=tmpfs,destination=/tmp\nregistry:\n  username: deployer\n  password: [KAMAL_REGISTRY_PASSWORD]\n{extra}");
    Config::parse(Source { name: "config/deploy.yml", text: &text }, None).expect("config")
}

fn dest_cfg() -> Config {
    Config::parse(
        Source {
            name: "config/deploy.yml",
            text: "service: app\nimage: dhh/app\nservers: [1.1.1.1]\nregistry:\n  username: u\n  password: [P]\n",
        },
        Some(("staging", Source { name: "config/deploy.staging.yml", text: "" })),
    )
    .expect("config")
}

const RUN_ID: &str = "12345678901234567890123456789012";

/// Shell-parse a rendered command, with the remote home expanded.
fn argv(line: &str) -> Vec<String> {
    shell_words::split(&line.replace("\"$HOME\"", "/home/deploy").replace("$(pwd)", "/home/deploy")).expect("parses")
}

#[test]
fn run_matches_kamal_1_0_word_for_word() {
    let c = cfg("");
    let web = c.role("web").unwrap();
    let ours = run(&c, web, "999", "1.1.1.1-0123456789ab", RUN_ID).render();
    insta::assert_snapshot!(ours, @r#"docker run --detach --restart unless-stopped --name app-web-999 --hostname 1.1.1.1-0123456789ab -e KAMAL_CONTAINER_NAME=app-web-999 --env-file .kamal/env/roles/app-web.env --health-cmd '(curl -f http://localhost:3000/up || exit 1) && (stat /tmp/kamal-cord/cord > /dev/null || exit 1)' --health-interval 1s --volume "$HOME"/.kamal/cords/app-web-12345678901234567890123456789012:/tmp/kamal-cord --log-opt max-size=10m --label service=app --label role=web --label traefik.http.services.app-web.loadbalancer.server.scheme=http --label 'traefik.http.routers.app-web.rule=PathPrefix(`/`)' --label traefik.http.middlewares.app-web-retry.retry.attempts=5 --label traefik.http.middlewares.app-web-retry.retry.initialinterval=500ms --label traefik.http.routers.app-web.middlewares=app-web-retry@docker dhh/app:999"#);
    // What Kamal 1.0's `app.run(hostname:)` sends to the shell for this config.
    let kamal = r#"docker run --detach --restart unless-stopped --name app-web-999 --hostname 1.1.1.1-0123456789ab -e KAMAL_CONTAINER_NAME="app-web-999" --env-file .kamal/env/roles/app-web.env --health-cmd "(curl -f http://localhost:3000/up || exit 1) && (stat /tmp/kamal-cord/cord > /dev/null || exit 1)" --health-interval "1s" --volume $(pwd)/.kamal/cords/app-web-12345678901234567890123456789012:/tmp/kamal-cord --log-opt max-size="10m" --label service="app" --label role="web" --label traefik.http.services.app-web.loadbalancer.server.scheme="http" --label traefik.http.routers.app-web.rule="PathPrefix(\`/\`)" --label traefik.http.middlewares.app-web-retry.retry.attempts="5" --label traefik.http.middlewares.app-web-retry.retry.initialinterval="500ms" --label traefik.http.routers.app-web.middlewares="app-web-retry@docker" dhh/app:999"#;
    assert_eq!(argv(&ours), argv(kamal));
}

#[test]
fn run_of_a_role_without_traefik() {
    let c = cfg("");
    let w = c.role("workers").unwrap();
    insta::assert_snapshot!(run(&c, w, "999", "1.1.1.3-0123456789ab", RUN_ID).render(), @"docker run --detach --restart unless-stopped --name app-workers-999 --hostname 1.1.1.3-0123456789ab -e KAMAL_CONTAINER_NAME=app-workers-999 --env-file .kamal/env/roles/app-workers.env --log-opt max-size=10m --label service=app --label role=workers --cap-add --mount type=tmpfs,destination=/tmp dhh/app:999 bin/jobs --queue default");
}

#[test]
fn run_with_destination_registry_logging_volumes_labels() {
    let text = "service: app\nimage: dhh/app\nservers: [1.1.1.1]\nregistry:\n  server: registry.example.com:5000\n  username: u\n  password: [P]\nlogging:\n  driver: local\n  options:\n    max-size: 5m\nvolumes:\n  - /data:/data\nlabels:\n  team: core\nhealthcheck:\n  cmd: wget -qO- http://localhost:3000/up\n  interval: 2s\nstop_wait_time: 20\n";
    let c = Config::parse(
        Source { name: "config/deploy.yml", text },
        Some(("staging", Source { name: "config/deploy.staging.yml", text: "" })),
    )
    .unwrap();
    let web = c.role("web").unwrap();
    insta::assert_snapshot!(run(&c, web, "v2", "h-0123456789ab", RUN_ID).render(), @r#"docker run --detach --restart unless-stopped --name app-web-staging-v2 --hostname h-0123456789ab -e KAMAL_CONTAINER_NAME=app-web-staging-v2 --env-file .kamal/env/roles/app-web-staging.env --health-cmd '(wget -qO- http://localhost:3000/up) && (stat /tmp/kamal-cord/cord > /dev/null || exit 1)' --health-interval 2s --volume "$HOME"/.kamal/cords/app-web-staging-12345678901234567890123456789012:/tmp/kamal-cord --log-driver local --log-opt max-size=5m --volume /data:/data --label service=app --label role=web --label destination=staging --label traefik.http.services.app-web-staging.loadbalancer.server.scheme=http --label 'traefik.http.routers.app-web-staging.rule=PathPrefix(`/`)' --label traefik.http.middlewares.app-web-staging-retry.retry.attempts=5 --label traefik.http.middlewares.app-web-staging-retry.retry.initialinterval=500ms --label traefik.http.routers.app-web-staging.middlewares=app-web-staging-retry@docker --label team=core registry.example.com:5000/dhh/app:v2"#);
    assert_eq!(stop(&c, "app-web-staging-v1").render(), "docker stop -t 20 app-web-staging-v1");
    assert_eq!(audit_log_path(&c), ".kamal/app-staging-audit.log");
}

#[test]
fn hostname_stays_within_64_characters() {
    let long = format!("{}.example.com", "a".repeat(60));
    let h = container_hostname(&long, "0123456789ab");
    assert_eq!(h.len(), 64);
    assert!(h.ends_with("-0123456789ab"));
}

#[test]
fn boot_helpers() {
    let c = cfg("");
    assert_eq!(
        list_role_containers(&c, "web").render(),
        "docker ps --all --filter label=service=app --filter label=role=web --format '{{.Names}}\t{{.State}}'"
    );
    assert_eq!(
        rename("app-web-1", "app-web-1_replaced_abc").render(),
        "docker rename app-web-1 app-web-1_replaced_abc"
    );
    assert_eq!(
        tie_cord(&c, "web", RUN_ID).render(),
        r#"mkdir -p "$HOME"/.kamal/cords/app-web-12345678901234567890123456789012 && touch "$HOME"/.kamal/cords/app-web-12345678901234567890123456789012/cord"#
    );
    assert_eq!(cut_cord("/root/.kamal/cords/app-web-1").render(), "rm -f /root/.kamal/cords/app-web-1/cord");
    assert_eq!(retie_cord("/root/.kamal/cords/app-web-1/").render(), "touch /root/.kamal/cords/app-web-1/cord");
    assert_eq!(
        status("app-web-1").render(),
        "docker inspect --format '{{.State.Status}}{{if .State.Health}} {{.State.Health.Status}} {{.State.Health.FailingStreak}}{{end}}' app-web-1"
    );
    assert_eq!(mounts("app-web-1").render(), "docker inspect --format '{{json .Mounts}}' app-web-1");
    assert_eq!(stop(&c, "app-web-1").render(), "docker stop app-web-1");
    assert_eq!(
        stop_and_clear_cord(&c, "app-web-1", "/root/.kamal/cords/app-web-1").render(),
        "docker stop app-web-1 && rm -rf /root/.kamal/cords/app-web-1"
    );
    assert_eq!(
        pull_if_missing_and_tag_latest(&c, "999").render(),
        "{ docker image inspect --format . dhh/app:999 >/dev/null 2>&1 || docker pull --quiet dhh/app:999 ; } && docker tag dhh/app:999 dhh/app:latest"
    );
    assert_eq!(
        audit(&c, "alice", Some("web"), "Booted app version 999").render(),
        r#"mkdir -p .kamal && printf '%s %s\n' "[$(date -u +%Y-%m-%dT%H:%M:%SZ)]" '[alice] [web] Booted app version 999' >> .kamal/app-audit.log"#
    );
    assert_eq!(audit_tail(&c, 50).render(), "tail -n 50 .kamal/app-audit.log");
}

#[test]
fn audit_lines_stay_on_one_line() {
    assert_eq!(audit_text(&dest_cfg(), "bob", None, "two\nlines"), "[bob] [staging] two lines");
}

#[test]
fn absolute_run_directory_is_used_as_is() {
    let c = cfg("run_directory: /var/lib/kamal\n");
    assert_eq!(
        tie_cord(&c, "web", "x").render(),
        "mkdir -p /var/lib/kamal/cords/app-web-x && touch /var/lib/kamal/cords/app-web-x/cord"
    );
    assert_eq!(lock_dir(&c), "/var/lib/kamal/lock-app");
}

#[test]
fn app_commands() {
    let c = cfg("");
    let web = c.role("web").unwrap();
    assert_eq!(start(&c, "web", "999").render(), "docker start app-web-999");
    assert_eq!(
        stop_current(&c, "web").render(),
        "docker ps --quiet --filter label=service=app --filter label=role=web --filter status=running --filter status=restarting --latest | xargs --no-run-if-empty docker stop"
    );
    assert_eq!(details(&c, "web").render(), "docker ps --filter label=service=app --filter label=role=web");
    assert_eq!(list_containers(&c).render(), "docker container ls --all --filter label=service=app");
    assert_eq!(list_images(&c).render(), "docker image ls dhh/app");
    assert_eq!(
        list_names(&c, "web", true).render(),
        "docker ps --filter label=service=app --filter label=role=web --filter status=running --filter status=restarting --format '{{.Names}}'"
    );
    assert_eq!(
        exec_new(&c, web, "999", "bin/rails db:migrate", false).render(),
        "docker run --rm --env-file .kamal/env/roles/app-web.env dhh/app:999 bin/rails db:migrate"
    );
    assert_eq!(
        exec_reuse(&c, "web", "999", "bin/rails console", true).render(),
        "docker exec -it app-web-999 bin/rails console"
    );
    assert_eq!(
        logs(&c, "web", &LogOptions { lines: Some(100), ..Default::default() }).render(),
        "docker ps --quiet --filter label=service=app --filter label=role=web --filter status=running --filter status=restarting --latest | xargs --no-run-if-empty docker logs --tail 100 2>&1"
    );
    assert_eq!(
        logs(&c, "web", &LogOptions { since: Some("5m".into()), grep: Some("-it's".into()), ..Default::default() })
            .render(),
        r"docker ps --quiet --filter label=service=app --filter label=role=web --filter status=running --filter status=restarting --latest | xargs --no-run-if-empty docker logs --since 5m 2>&1 | grep -e '-it'\''s'"
    );
    assert_eq!(
        logs(&c, "web", &LogOptions { follow: true, ..Default::default() }).render(),
        "docker ps --quiet --filter label=service=app --filter label=role=web --filter status=running --filter status=restarting --latest | xargs --no-run-if-empty docker logs --timestamps --tail 10 --follow 2>&1"
    );
    assert_eq!(remove_container(&c, "web", "999").render(), "docker container rm app-web-999");
    assert_eq!(
        remove_containers(&c, "web").render(),
        "docker container prune --force --filter label=service=app --filter label=role=web"
    );
    assert_eq!(remove_images(&c).render(), "docker image prune --all --force --filter label=service=app");
    let d = dest_cfg();
    assert_eq!(
        list_containers(&d).render(),
        "docker container ls --all --filter label=service=app --filter label=destination=staging"
    );
}

#[test]
fn lock_and_env_commands() {
    let c = cfg("");
    assert_eq!(
        lock_acquire(&c, "TG9ja2Vk").render(),
        r"mkdir -p .kamal && mkdir .kamal/lock-app && printf '%s\n' TG9ja2Vk > .kamal/lock-app/details"
    );
    assert_eq!(lock_read(&c).render(), "cat .kamal/lock-app/details");
    assert_eq!(lock_release(&c).render(), "rm -f .kamal/lock-app/details && rm -r .kamal/lock-app");
    assert_eq!(
        env_file_write(&c, "web").render(),
        "mkdir -p .kamal/env/roles && rm -f .kamal/env/roles/app-web.env && umask 0277 && cat > .kamal/env/roles/app-web.env"
    );
}
