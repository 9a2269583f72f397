use super::*;

/// Kamal 1 requires a registry with a username and a password; a test
/// config that is not about it gets one, after its own lines.
const REGISTRY: &str = "registry:\n  username: deployer\n  password: [KAMAL_REGISTRY_PASSWORD]\n";

fn with_registry(text: &str) -> String {
    if text.contains("registry:") {
        text.to_string()
    } else {
        format!("{text}{REGISTRY}")
    }
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Source { name: "config/deploy.yml", text: &with_registry(text) }, None)
}

fn err(text: &str) -> String {
    parse(text).expect_err("config should be refused").to_string()
}

const MINIMAL: &str = "service: app\nimage: dhh/app\nservers:\n  - 1.1.1.1\n";

#[test]
fn minimal_config_gets_kamal_defaults() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.service, "app");
    assert_eq!(c.roles.len(), 1);
    assert_eq!(c.roles[0].name, "web");
    assert_eq!(c.roles[0].hosts, vec!["1.1.1.1"]);
    assert_eq!(c.healthcheck, Healthcheck::default());
    assert_eq!(c.healthcheck.path, "/up");
    assert_eq!(c.healthcheck.port, 3000);
    assert_eq!(c.healthcheck.max_attempts, 7);
    assert_eq!(c.healthcheck.cord.as_deref(), Some("/tmp/kamal-cord"));
    assert_eq!((c.healthcheck.exposed_port, c.healthcheck.log_lines), (3999, 50));
    assert_eq!(c.readiness_delay_ms, 7000);
    assert_eq!(c.max_concurrent_starts, 30);
    assert_eq!(c.run_directory, ".kamal");
    assert_eq!(c.primary_role, "web");
    assert_eq!(c.ssh, Ssh::default());
    assert_eq!(c.ssh.user, "root");
    assert_eq!(c.ssh.port, 22);
    assert_eq!(c.boot, Boot::default());
    assert!(c.warnings.is_empty());
    assert_eq!(c.primary_host(), "1.1.1.1");
    let web = c.role("web").unwrap();
    assert!(web.spec.uses_cord);
    assert_eq!(web.spec.health_cmd.as_deref().unwrap(), "curl -f http://localhost:3000/up || exit 1");
}

const FULL: &str = r#"
service: app
image: team/app
servers:
  web:
    hosts:
      - 10.0.0.1
      - 10.0.0.2
    labels:
      my-label: web
  jobs:
    hosts: [10.0.0.3]
    cmd: bin/jobs
    options:
      cap-add: true
      mount:
        - type=tmpfs,destination=/a
        - type=tmpfs,destination=/b
    env:
      clear:
        QUEUE: default
      secret:
        - JOBS_TOKEN
registry:
  server: registry.example.com
  username: deployer
  password:
    - KAMAL_REGISTRY_PASSWORD
env:
  clear:
    RAILS_ENV: production
  secret:
    - DATABASE_URL
healthcheck:
  path: /health
  port: 4000
  interval: 2s
  max_attempts: 3
  exposed_port: 4999
  log_lines: 20
readiness_delay: 3
boot:
  limit: "50%"
  wait: 2
stop_wait_time: 20
volumes:
  - /data:/data
labels:
  team: core
logging:
  driver: json-file
  options:
    max-size: 100m
ssh:
  user: deploy
  port: 2222
  proxy: root@bastion.example.com
sshkit:
  max_concurrent_starts: 10
baton:
  poll_interval: 250ms
"#;

#[test]
fn full_config_parses_every_key() {
    let c = parse(FULL).unwrap();
    // Sorted by name, as Kamal sorts roles (`servers.keys.sort`).
    assert_eq!(c.roles.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), vec!["jobs", "web"]);
    let jobs = c.role("jobs").unwrap();
    assert_eq!(jobs.cmd.as_deref(), Some("bin/jobs"));
    assert_eq!(
        jobs.options,
        vec![
            ("cap-add".into(), OptionValue::Flag),
            ("mount".into(), OptionValue::Value("type=tmpfs,destination=/a".into())),
            ("mount".into(), OptionValue::Value("type=tmpfs,destination=/b".into())),
        ]
    );
    assert_eq!(c.registry.server.as_deref(), Some("registry.example.com"));
    assert_eq!(c.registry.password, Some(SecretRef::Env("KAMAL_REGISTRY_PASSWORD".into())));
    assert_eq!(c.repository(), "registry.example.com/team/app");
    let env = c.role_env(jobs);
    assert_eq!(env.clear, vec![("RAILS_ENV".into(), "production".into()), ("QUEUE".into(), "default".into())]);
    assert_eq!(env.secret, vec!["DATABASE_URL".to_string(), "JOBS_TOKEN".to_string()]);
    assert_eq!(c.healthcheck.interval_ms, 2000);
    assert_eq!(c.healthcheck.max_attempts, 3);
    assert_eq!((c.healthcheck.exposed_port, c.healthcheck.log_lines), (4999, 20));
    assert_eq!(c.readiness_delay_ms, 3000);
    assert_eq!(c.boot, Boot { limit: Some(BootLimit::Percent(50)), wait_ms: 2000 });
    assert_eq!(c.stop_wait_time, Some(20));
    assert_eq!(c.ssh.port, 2222);
    assert_eq!(c.max_concurrent_starts, 10);
    assert_eq!(c.baton.poll_interval_ms, 250);
    assert_eq!(c.logging.driver.as_deref(), Some("json-file"));
    // jobs runs no Traefik: no health check, no cord.
    assert!(!jobs.spec.uses_cord);
    assert!(jobs.spec.health_cmd.is_none());
    let web = c.role("web").unwrap();
    assert_eq!(web.spec.health_cmd.as_deref().unwrap(), "curl -f http://localhost:4000/health || exit 1");
    let labels = c.role_labels(web);
    assert_eq!(labels[0], ("service".into(), "app".into()));
    assert_eq!(labels[1], ("role".into(), "web".into()));
    assert_eq!(labels[2].0, "traefik.http.services.app-web.loadbalancer.server.scheme");
    assert_eq!(labels.last().unwrap(), &("my-label".to_string(), "web".to_string()));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn destination_file_is_deep_merged() {
    let dest = "servers:\n  - 2.2.2.2\nenv:\n  clear:\n    RAILS_ENV: staging\n";
    let c = Config::parse(
        Source {
            name: "config/deploy.yml",
            text: &with_registry(
                "service: app\nimage: app\nservers: [1.1.1.1]\nenv:\n  clear:\n    RAILS_ENV: production\n    A: b\n",
            ),
        },
        Some(("staging", Source { name: "config/deploy.staging.yml", text: dest })),
    )
    .unwrap();
    assert_eq!(c.destination.as_deref(), Some("staging"));
    assert_eq!(c.all_hosts(), vec!["2.2.2.2"]);
    assert_eq!(c.env.clear, vec![("RAILS_ENV".into(), "staging".into()), ("A".into(), "b".into())]);
    assert_eq!(c.role_full_name("web"), "app-web-staging");
    let labels = c.role_labels(c.role("web").unwrap());
    assert_eq!(labels[2], ("destination".into(), "staging".into()));
}

#[test]
fn error_in_destination_file_names_that_file() {
    let e = Config::parse(
        Source { name: "config/deploy.yml", text: &with_registry(MINIMAL) },
        Some(("staging", Source { name: "config/deploy.staging.yml", text: "boot:\n  limit: lots\n" })),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "config/deploy.staging.yml:2: boot.limit: expected a number of hosts (at least 1) or a percentage such as \"25%\", found a string \"lots\""
    );
}

#[test]
fn missing_service() {
    assert_eq!(
        err("image: app\nservers: [1.1.1.1]\n"),
        "config/deploy.yml: service: the required key `service` is missing; add it"
    );
}

#[test]
fn mistyped_service() {
    assert_eq!(
        err("service: [a]\nimage: app\nservers: [1.1.1.1]\n"),
        "config/deploy.yml:1: service: expected a string, found a list"
    );
}

#[test]
fn missing_image_and_servers_are_both_reported() {
    assert_eq!(
        err("service: app\n"),
        "config/deploy.yml: image: the required key `image` is missing; add it\nconfig/deploy.yml: servers: the required key `servers` is missing; list your hosts"
    );
}

#[test]
fn role_with_no_hosts() {
    assert_eq!(
        err("service: app\nimage: app\nservers:\n  web:\n    hosts: []\n"),
        "config/deploy.yml:4: servers.web: role `web` has no hosts; list at least one"
    );
    assert_eq!(
        err("service: app\nimage: app\nservers:\n  web: [1.1.1.1]\n  jobs:\n    cmd: x\n"),
        "config/deploy.yml:5: servers.jobs: role `jobs` has no hosts; list at least one, or set allow_empty_roles: true"
    );
}

#[test]
fn docker_refused_names() {
    assert_eq!(
        err("service: my app\nimage: app\nservers: [1.1.1.1]\n"),
        "config/deploy.yml:1: service: \"my app\" contains ' '; Docker container names allow only letters, digits, '_', '.' and '-'"
    );
    assert_eq!(
        err("service: app\nimage: app\nservers:\n  web: [1.1.1.1]\n  \"-jobs\": [1.1.1.2]\n"),
        "config/deploy.yml:5: servers.-jobs: role name \"-jobs\" must start with a letter or digit (Docker container names allow [a-zA-Z0-9][a-zA-Z0-9_.-]*)"
    );
    assert_eq!(
        err("service: app\nimage: My/App\nservers: [1.1.1.1]\n"),
        "config/deploy.yml:2: image: \"My/App\" is not a valid image name: \"My\" must be lowercase letters and digits, separated by '.', '_' or '-'"
    );
    let e = Config::parse(
        Source { name: "config/deploy.yml", text: &with_registry(MINIMAL) },
        Some(("st;age", Source { name: "config/deploy.st;age.yml", text: "" })),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(e, "config/deploy.yml: destination \"st;age\" contains ';'; Docker container names allow only letters, digits, '_', '.' and '-'");
}

#[test]
fn malformed_hosts() {
    assert_eq!(
        err("service: app\nimage: app\nservers:\n  - 1.1.1.1\n  - \"-oProxyCommand=touch /tmp/x\"\n"),
        "config/deploy.yml:5: servers.1: \"-oProxyCommand=touch /tmp/x\" is not a valid host name (letters, digits and '-' in dot-separated labels, or an IP address)"
    );
    assert_eq!(
        err("service: app\nimage: app\nservers:\n  web:\n    hosts:\n      - 999.1.1.1\n"),
        "config/deploy.yml:6: servers.web.hosts.0: \"999.1.1.1\" is not a valid IPv4 address"
    );
}

#[test]
fn boot_limit_must_be_count_or_percentage() {
    assert_eq!(
        err("service: app\nimage: app\nservers: [1.1.1.1]\nboot:\n  limit: 0\n"),
        "config/deploy.yml:5: boot.limit: expected a number of hosts (at least 1) or a percentage such as \"25%\", found a number \"0\""
    );
    assert_eq!(
        err("service: app\nimage: app\nservers: [1.1.1.1]\nboot:\n  limit: \"150%\"\n"),
        "config/deploy.yml:5: boot.limit: \"150%\" is not a percentage between 1% and 100%"
    );
    let c = parse("service: app\nimage: app\nservers: [1.1.1.1]\nboot:\n  limit: 2\n").unwrap();
    assert_eq!(c.boot.limit, Some(BootLimit::Count(2)));
}

#[test]
fn yaml_syntax_error_gives_line_and_column() {
    assert_eq!(
        err("service: app\nimage: [unclosed\nservers: [1.1.1.1]\n"),
        "config/deploy.yml:3:8: YAML syntax error: did not find expected ',' or ']'"
    );
}

#[test]
fn mistyped_nested_values() {
    assert_eq!(
        err("service: app\nimage: app\nservers: [1.1.1.1]\nhealthcheck:\n  port: web\n"),
        "config/deploy.yml:5: healthcheck.port: expected a port number (1-65535), found a string \"web\""
    );
    assert_eq!(
        err("service: app\nimage: app\nservers: [1.1.1.1]\nhealthcheck:\n  exposed_port: 70000\n"),
        "config/deploy.yml:5: healthcheck.exposed_port: expected a port number (1-65535), found a number \"70000\""
    );
    assert_eq!(
        err("service: app\nimage: app\nservers: [1.1.1.1]\nhealthcheck:\n  interval: soon\n"),
        "config/deploy.yml:5: healthcheck.interval: expected a duration such as 1s or 500ms, found a string \"soon\""
    );
    assert_eq!(
        err("service: app\nimage: app\nservers: [1.1.1.1]\nregistry:\n  username: u\n  password: [A, B]\n"),
        "config/deploy.yml:6: registry.password: a list here must hold exactly one environment variable name, e.g. [KAMAL_REGISTRY_PASSWORD]"
    );
    assert_eq!(
        err("service: app\nimage: app\nservers: [1.1.1.1]\nlabels:\n  \"a=b\": c\n"),
        "config/deploy.yml:5: labels.a=b: \"a=b\" must not contain '='"
    );
    assert_eq!(
        err("service: app\nimage: app\nservers: [1.1.1.1]\nreadiness_delay: soon\n"),
        "config/deploy.yml:4: readiness_delay: expected a whole number, found a string \"soon\""
    );
}

#[test]
fn primary_role_must_exist() {
    assert_eq!(
        err("service: app\nimage: app\nservers:\n  workers: [1.1.1.1]\n"),
        "config/deploy.yml:3: servers: there is no `web` role; name one or set primary_role: to the role that holds the lock"
    );
    assert_eq!(
        err("service: app\nimage: app\nservers:\n  web: [1.1.1.1]\nprimary_role: jobs\n"),
        "config/deploy.yml:5: primary_role: \"jobs\" is not one of the roles under servers; name one of: web"
    );
}

#[test]
fn unknown_keys_warn() {
    let c = parse("service: app\nimage: app\nservers: [1.1.1.1]\nhealthchek:\n  path: /x\nbuilder:\n  multiarch: false\nhealthcheck:\n  paht: /y\n").unwrap();
    let w: Vec<String> = c.warnings.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        w,
        vec![
            "config/deploy.yml:4: healthchek: unknown key \"healthchek\", ignored; did you mean \"healthcheck\"?",
            "config/deploy.yml:9: healthcheck.paht: unknown key \"paht\", ignored; did you mean \"path\"?",
        ]
    );
}

#[test]
fn cord_can_be_switched_off_and_cmd_overrides_curl() {
    let c = parse("service: app\nimage: app\nservers: [1.1.1.1]\nhealthcheck:\n  cord: false\n  cmd: wget -qO- http://localhost:3000/up\n").unwrap();
    let web = c.role("web").unwrap();
    assert!(!web.spec.uses_cord);
    assert_eq!(web.spec.health_cmd.as_deref().unwrap(), "wget -qO- http://localhost:3000/up");
}

#[test]
fn durations() {
    assert_eq!(parse_duration("1s"), Some(1000));
    assert_eq!(parse_duration("500ms"), Some(500));
    assert_eq!(parse_duration("1m30s"), Some(90_000));
    assert_eq!(parse_duration("2"), Some(2000));
    assert_eq!(parse_duration("1.5s"), Some(1500));
    assert_eq!(parse_duration("x"), None);
    assert_eq!(parse_duration(""), None);
}

#[test]
fn ssh_persist_is_a_duration_and_off_by_default() {
    assert_eq!(parse(MINIMAL).unwrap().baton.ssh_persist_ms, 0);
    let c = parse(&format!("{MINIMAL}baton:\n  ssh_persist: 60s\n")).unwrap();
    assert_eq!(c.baton.ssh_persist_ms, 60_000);
    let e = err(&format!("{MINIMAL}baton:\n  ssh_persist: forever\n"));
    assert!(e.contains("baton.ssh_persist") && e.contains("expected a duration"), "{e}");
}
