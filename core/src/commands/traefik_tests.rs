//! Every Traefik command line, compared word by word (after shell parsing)
//! with the lines of Kamal 1.0's `test/commands/traefik_test.rb` for the
//! same config.

use super::*;
use crate::config::Source;

/// The config of Kamal's test: `traefik:test` with three args.
const KAMAL_TEST: &str = "traefik:\n  image: traefik:test\n  args:\n    accesslog.format: json\n    api.insecure: true\n    metrics.prometheus.buckets: 0.1,0.3,1.2,5.0\n";

fn cfg(extra: &str) -> Config {
    let text = format!(
        "service: app\nimage: dhh/app\nservers: [1.1.1.1]\nregistry:\n  username: dhh\n  password: secret\n{extra}"
    );
    Config::parse(Source { name: "config/deploy.yml", text: &text }, None).expect("config")
}

fn words(line: &str) -> Vec<String> {
    shell_words::split(line).expect("parses")
}

/// Kamal's line for the test config, with `middle` (logging, labels,
/// options) after the env file and `env` saying whether the env file is
/// passed (Kamal passes it always; baton when `traefik.env` is set).
fn kamal_run(head: &str, env: bool, middle: &str, image: &str, args: &str) -> String {
    let env = if env { " --env-file .kamal/env/traefik/traefik.env" } else { "" };
    format!("docker run --name traefik --detach --restart unless-stopped{head} --volume /var/run/docker.sock:/var/run/docker.sock{env} {middle} {image} --providers.docker --log.level=\"DEBUG\"{args}")
}

const ARGS: &str = " --accesslog.format=\"json\" --api.insecure --metrics.prometheus.buckets=\"0.1,0.3,1.2,5.0\"";
const LOG: &str = "--log-opt max-size=\"10m\"";

#[test]
fn run_matches_kamal_1_0() {
    let c = cfg(KAMAL_TEST);
    insta::assert_snapshot!(run(&c).render(), @"docker run --name traefik --detach --restart unless-stopped --publish 80:80 --volume /var/run/docker.sock:/var/run/docker.sock --log-opt max-size=10m traefik:test --providers.docker --log.level=DEBUG --accesslog.format=json --api.insecure --metrics.prometheus.buckets=0.1,0.3,1.2,5.0");
    assert_eq!(words(&run(&c).render()), words(&kamal_run(" --publish 80:80", false, LOG, "traefik:test", ARGS)));

    let c = cfg(&format!("{KAMAL_TEST}  host_port: \"8080\"\n"));
    assert_eq!(words(&run(&c).render()), words(&kamal_run(" --publish 8080:80", false, LOG, "traefik:test", ARGS)));

    let c = cfg(&format!("{KAMAL_TEST}  host_port: \"8080\"\n  publish: false\n"));
    assert_eq!(words(&run(&c).render()), words(&kamal_run("", false, LOG, "traefik:test", ARGS)));
}

#[test]
fn run_with_options_labels_env_and_logging_matches_kamal_1_0() {
    let c = cfg(&format!("{KAMAL_TEST}  options:\n    volume: [./letsencrypt/acme.json:/letsencrypt/acme.json]\n    publish: [\"8080:8080\"]\n    memory: 512m\n"));
    let middle = format!(
        "{LOG} --volume \"./letsencrypt/acme.json:/letsencrypt/acme.json\" --publish \"8080:8080\" --memory \"512m\""
    );
    assert_eq!(words(&run(&c).render()), words(&kamal_run(" --publish 80:80", false, &middle, "traefik:test", ARGS)));

    let c = cfg(&format!("{KAMAL_TEST}  labels:\n    traefik.http.routers.dashboard.service: api@internal\n    traefik.http.routers.dashboard.middlewares: auth\n"));
    let middle = format!("{LOG} --label traefik.http.routers.dashboard.service=\"api@internal\" --label traefik.http.routers.dashboard.middlewares=\"auth\"");
    assert_eq!(words(&run(&c).render()), words(&kamal_run(" --publish 80:80", false, &middle, "traefik:test", ARGS)));

    let c = cfg(&format!("{KAMAL_TEST}  env:\n    secret: [EXAMPLE_API_KEY]\n"));
    assert_eq!(words(&run(&c).render()), words(&kamal_run(" --publish 80:80", true, LOG, "traefik:test", ARGS)));

    let c =
        cfg(&format!("{KAMAL_TEST}logging:\n  driver: local\n  options:\n    max-size: 100m\n    max-file: \"3\"\n"));
    let middle = "--log-driver \"local\" --log-opt max-size=\"100m\" --log-opt max-file=\"3\"";
    assert_eq!(words(&run(&c).render()), words(&kamal_run(" --publish 80:80", false, middle, "traefik:test", ARGS)));
}

#[test]
fn run_without_configuration_and_with_log_level_overridden() {
    let c = cfg("");
    assert_eq!(words(&run(&c).render()), words(&kamal_run(" --publish 80:80", false, LOG, "traefik:v2.9", "")));
    let c = cfg(&format!("{KAMAL_TEST}    log.level: ERROR\n"));
    let kamal = kamal_run(" --publish 80:80", false, LOG, "traefik:test", ARGS).replace("DEBUG", "ERROR");
    assert_eq!(words(&run(&c).render()), words(&kamal));
}

#[test]
fn the_other_commands_match_kamal_1_0() {
    let c = cfg(KAMAL_TEST);
    let same = |ours: Command, kamal: &str| assert_eq!(words(&ours.render()), words(kamal), "{}", ours.render());
    same(start(), "docker container start traefik");
    same(stop(), "docker container stop traefik");
    same(info(), "docker ps --filter name=^traefik$");
    same(remove_container(), "docker container prune --force --filter label=org.opencontainers.image.title=Traefik");
    same(remove_image(), "docker image prune --all --force --filter label=org.opencontainers.image.title=Traefik");
    same(env_file_remove(&c), "rm -f .kamal/env/traefik/traefik.env");
    assert_eq!(env_file_path(&c), ".kamal/env/traefik/traefik.env");
    let o = LogOptions::default();
    same(logs(&o), "docker logs traefik --timestamps 2>&1");
    same(
        logs(&LogOptions { since: Some("2h".into()), ..o.clone() }),
        "docker logs traefik  --since 2h --timestamps 2>&1",
    );
    same(logs(&LogOptions { lines: Some(10), ..o.clone() }), "docker logs traefik  --tail 10 --timestamps 2>&1");
    // baton's grep takes -e, so that a pattern may start with '-'.
    same(
        logs(&LogOptions { grep: Some("hello!".into()), ..o.clone() }),
        "docker logs traefik --timestamps 2>&1 | grep -e 'hello!'",
    );
    same(
        logs(&LogOptions { follow: true, grep: Some("hello!".into()), ..o }),
        "docker logs traefik --timestamps --tail 10 --follow 2>&1 | grep -e \"hello!\"",
    );
    insta::assert_snapshot!(start_or_run(&cfg("")).render(), @"docker container start traefik || docker run --name traefik --detach --restart unless-stopped --publish 80:80 --volume /var/run/docker.sock:/var/run/docker.sock --log-opt max-size=10m traefik:v2.9 --providers.docker --log.level=DEBUG");
    insta::assert_snapshot!(env_file_write(&c).render(), @"mkdir -p .kamal/env/traefik && rm -f .kamal/env/traefik/traefik.env && umask 0277 && cat > .kamal/env/traefik/traefik.env");
}
