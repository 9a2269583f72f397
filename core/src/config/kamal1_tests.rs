//! Configs written for Kamal 1.0 through 1.9.3: every key of the line is
//! read as Kamal reads it, or refused or warned about in words that are
//! true; and the problems a config has read as `FILE:LINE: key: what is
//! wrong; what to do`, in line order.

use super::*;

const REGISTRY: &str = "registry:\n  username: deployer\n  password: [KAMAL_REGISTRY_PASSWORD]\n";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Source { name: "config/deploy.yml", text }, None)
}

/// `text` with a registry after it, parsed; panics with the problems.
fn ok(text: &str) -> Config {
    let text = format!("{text}{REGISTRY}");
    parse(&text).unwrap_or_else(|e| panic!("refused:\n{e}\n---\n{text}"))
}

/// The problems of `text` (a registry after it), one per line.
fn refused(text: &str) -> String {
    parse(&format!("{text}{REGISTRY}")).expect_err("config should be refused").to_string()
}

fn warnings(c: &Config) -> Vec<String> {
    c.warnings.iter().map(|w| w.to_string()).collect()
}

const HEAD: &str = "service: app\nimage: app\nservers: [1.1.1.1]\n";

#[test]
fn registry_is_required_with_a_username_and_a_password() {
    assert_eq!(
        parse(HEAD).unwrap_err().to_string(),
        "config/deploy.yml: registry: the required key `registry` is missing; Kamal 1 requires it, with username: and password: (password: [KAMAL_REGISTRY_PASSWORD] reads it from the environment)"
    );
    assert_eq!(
        parse(&format!("{HEAD}registry:\n  server: ghcr.io\n")).unwrap_err().to_string(),
        "config/deploy.yml:4: registry.username: the registry username is missing; Kamal 1 requires it: add username: (a value, or [ENV_NAME])\n\
         config/deploy.yml:4: registry.password: the registry password is missing; Kamal 1 requires it: add password: (a value, or [ENV_NAME])"
    );
    assert!(parse(&format!("{HEAD}registry:\n  username: u\n  password: \"\"\n")).is_err(), "a blank password");
    let c = parse(&format!("{HEAD}registry:\n  username: [REGISTRY_USER]\n  password: [REGISTRY_TOKEN]\n")).unwrap();
    assert_eq!(c.registry.username, Some(SecretRef::Env("REGISTRY_USER".into())));
    assert_eq!(c.registry.password, Some(SecretRef::Env("REGISTRY_TOKEN".into())));
}

#[test]
fn roles_are_sorted_as_kamal_sorts_them() {
    let c = ok("service: app\nimage: app\nservers:\n  web: [h1]\n  jobs: [h1]\n  cron: [h1]\n");
    let names: Vec<&str> = c.roles.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["cron", "jobs", "web"]);
    let on: Vec<&str> = c.roles_on("h1").iter().map(|r| r.name.as_str()).collect();
    assert_eq!(on, ["cron", "jobs", "web"], "the boot order of roles on a host");
}

#[test]
fn a_host_may_name_its_ssh_port() {
    let c = ok("service: app\nimage: app\nservers:\n  - 192.0.2.11\n  - 192.0.2.12:2222\n  - \"[2001:db8::1]:2200\"\nssh:\n  port: 22022\n");
    assert_eq!(c.all_hosts(), ["192.0.2.11", "192.0.2.12:2222", "[2001:db8::1]:2200"]);
    assert_eq!(c.ssh_endpoint("192.0.2.11"), ("192.0.2.11".to_string(), 22022));
    assert_eq!(c.ssh_endpoint("192.0.2.12:2222"), ("192.0.2.12".to_string(), 2222));
    assert_eq!(c.ssh_endpoint("[2001:db8::1]:2200"), ("2001:db8::1".to_string(), 2200));
    let c = ok("service: app\nimage: app\nservers: [\"db1:22\"]\n");
    assert_eq!(c.ssh_endpoint("db1:22"), ("db1".to_string(), 22), "SSHKit reads host:port");
}

#[test]
fn junk_hosts_are_refused() {
    assert_eq!(
        refused("service: app\nimage: app\nservers:\n  - \":\"\n  - 1.2.3.4:5:6\n  - h:99999\n"),
        "config/deploy.yml:4: servers.0: \":\" has the port \"\"; a port is a number from 1 to 65535\n\
         config/deploy.yml:5: servers.1: \"1.2.3.4:5:6\" is neither host:port nor an IPv6 address; write a port as host:port, and an IPv6 address with a port as [address]:port\n\
         config/deploy.yml:6: servers.2: \"h:99999\" has the port \"99999\"; a port is a number from 1 to 65535"
    );
}

#[test]
fn quoted_numbers_read_as_numbers() {
    let c = ok("service: 123\nimage: app\nservers: [h1]\nreadiness_delay: \"5\"\nstop_wait_time: \"20\"\nretain_containers: \"3\"\nhealthcheck:\n  max_attempts: \"7\"\n  port: \"3000\"\n  interval: \"5\"\nssh:\n  port: \"2222\"\nsshkit:\n  max_concurrent_starts: \"10\"\nboot:\n  limit: \"2\"\n");
    assert_eq!(c.service, "123");
    assert_eq!(c.readiness_delay_ms, 5000);
    assert_eq!(c.stop_wait_time, Some(20));
    assert_eq!(c.retain_containers, 3);
    assert_eq!(c.healthcheck.max_attempts, 7);
    assert_eq!(c.healthcheck.port, 3000);
    assert_eq!(c.ssh.port, 2222);
    assert_eq!(c.max_concurrent_starts, 10);
    assert_eq!(c.boot.limit, Some(BootLimit::Count(2)));
}

#[test]
fn a_bare_interval_means_seconds_quoted_or_not() {
    for text in ["interval: 5", "interval: \"5\"", "interval: 5s"] {
        let c = ok(&format!("{HEAD}healthcheck:\n  {text}\n"));
        assert_eq!(c.healthcheck.interval, "5s", "{text}");
        assert_eq!(c.healthcheck.interval_ms, 5000, "{text}");
    }
    assert_eq!(ok(&format!("{HEAD}healthcheck:\n  interval: \"1.5\"\n")).healthcheck.interval, "1.5s");
}

#[test]
fn require_destination_refuses_a_run_without_one() {
    let text = format!("{HEAD}require_destination: true\n{REGISTRY}");
    assert_eq!(
        parse(&text).unwrap_err().to_string(),
        "config/deploy.yml:4: require_destination: this config requires a destination; pass -d/--destination DEST"
    );
    let c = Config::parse(
        Source { name: "config/deploy.yml", text: &text },
        Some(("staging", Source { name: "config/deploy.staging.yml", text: "" })),
    )
    .unwrap();
    assert!(c.require_destination);
}

#[test]
fn minimum_version_is_checked_against_the_kamal_level_baton_reads() {
    assert_eq!(ok(&format!("{HEAD}minimum_version: 1.3.0\n")).minimum_version.as_deref(), Some("1.3.0"));
    assert!(ok(&format!("{HEAD}minimum_version: {KAMAL_CONFIG_LEVEL}\n")).warnings.is_empty());
    assert_eq!(
        refused(&format!("{HEAD}minimum_version: 2.0.0\n")),
        "config/deploy.yml:4: minimum_version: this config requires Kamal 2.0.0 or later, and baton reads configs of Kamal 1 up to 1.9.3; deploy it with Kamal 2.0.0, or lower minimum_version if the config needs nothing newer"
    );
    assert_eq!(
        refused(&format!("{HEAD}minimum_version: soon\n")),
        "config/deploy.yml:4: minimum_version: \"soon\" is not a version; write it as 1.3.0"
    );
}

#[test]
fn allow_empty_roles_lets_roles_other_than_the_primary_have_no_hosts() {
    let text = "service: app\nimage: app\nservers:\n  web: [h1]\n  jobs:\n    cmd: bin/jobs\n";
    assert!(parse(&format!("{text}{REGISTRY}")).is_err());
    let c = ok(&format!("{text}allow_empty_roles: true\n"));
    assert!(c.allow_empty_roles);
    assert!(c.role("jobs").unwrap().hosts.is_empty());
    assert_eq!(
        refused("service: app\nimage: app\nservers:\n  web: []\n  jobs: [h1]\nallow_empty_roles: true\n"),
        "config/deploy.yml:4: servers.web: role `web` has no hosts; list at least one (the primary role needs hosts even with allow_empty_roles)"
    );
}

#[test]
fn retain_containers_must_keep_one() {
    assert_eq!(ok(HEAD).retain_containers, 5);
    assert_eq!(
        refused(&format!("{HEAD}retain_containers: 0\n")),
        "config/deploy.yml:4: retain_containers: must be at least 1, as in Kamal"
    );
}

#[test]
fn role_logging_is_merged_over_the_global_logging() {
    let c = ok("service: app\nimage: app\nservers:\n  web: [h1]\n  jobs:\n    hosts: [h1]\n    logging:\n      options:\n        max-size: 1g\n        tag: jobs\nlogging:\n  driver: json-file\n  options:\n    max-size: 100m\n    max-file: \"3\"\n");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let web = &c.role("web").unwrap().logging;
    assert_eq!(web.driver.as_deref(), Some("json-file"));
    assert_eq!(web.options, [("max-size".to_string(), "100m".to_string()), ("max-file".into(), "3".into())]);
    let jobs = &c.role("jobs").unwrap().logging;
    assert_eq!(jobs.driver.as_deref(), Some("json-file"));
    assert_eq!(
        jobs.options,
        [("max-size".to_string(), "1g".to_string()), ("max-file".into(), "3".into()), ("tag".into(), "jobs".into())]
    );
}

#[test]
fn host_tags_add_their_env_to_that_host() {
    let c = ok("service: app\nimage: app\nservers:\n  web:\n    - h1\n    - h2: replica\n    - h3: [replica, monitoring]\nenv:\n  clear:\n    DB: primary\n  secret: [DB_PASSWORD]\n  tags:\n    replica:\n      clear:\n        DB: replica\n      secret: [REPLICA_PASSWORD]\n    monitoring:\n      MONITOR: \"1\"\n");
    let web = c.role("web").unwrap();
    assert_eq!(web.hosts, ["h1", "h2", "h3"]);
    let env = |h: &str| c.role_env_on(web, h);
    assert_eq!(env("h1").clear, [("DB".to_string(), "primary".to_string())]);
    assert_eq!(env("h2").clear, [("DB".to_string(), "replica".to_string())]);
    assert_eq!(env("h2").secret, ["DB_PASSWORD", "REPLICA_PASSWORD"]);
    assert_eq!(env("h3").clear, [("DB".to_string(), "replica".to_string()), ("MONITOR".into(), "1".into())]);
}

#[test]
fn a_tag_must_be_defined_and_tags_belong_to_the_top_level_env() {
    assert_eq!(
        refused("service: app\nimage: app\nservers:\n  - h1: nope\n"),
        "config/deploy.yml:4: servers.0.h1: the tag \"nope\" is not defined under env.tags; define it there, or remove it"
    );
    assert_eq!(
        refused("service: app\nimage: app\nservers:\n  web:\n    hosts: [h1]\n    env:\n      tags:\n        x:\n          A: b\n"),
        "config/deploy.yml:7: servers.web.env.tags: tags are only allowed in the top-level env; move them to env.tags"
    );
}

#[test]
fn kamal_keys_baton_does_not_use_warn_in_true_words() {
    let c = ok(&format!(
        "{HEAD}asset_path: /rails/public/assets\nhooks_path: .kamal/hooks\nhealthcheck:\n  exposed_port: 3999\n  log_lines: 20\nx-defaults: &defaults\n  a: b\nbuilder:\n  multiarch: false\n"
    ));
    assert_eq!(
        warnings(&c),
        [
            "config/deploy.yml:4: asset_path: asset bridging is not supported by baton: containers boot without the asset volume, so during a handover a request for an asset of the other version may fail; make old assets available another way (e.g. a CDN)",
        ]
    );
    assert_eq!((c.healthcheck.exposed_port, c.healthcheck.log_lines), (3999, 20));
    let c = ok("service: app\nimage: app\nservers:\n  web:\n    hosts: [h1]\n    asset_path: /public\nssh:\n  key_data: [\"-----BEGIN\"]\n  keys_only: true\n  log_level: debug\n");
    let w = warnings(&c);
    assert_eq!(w.len(), 3, "{w:?}");
    assert!(w[0].starts_with("config/deploy.yml:6: servers.web.asset_path: asset bridging is not supported"));
    assert!(w[1].starts_with("config/deploy.yml:8: ssh.key_data: key_data is not supported"));
    assert!(w[2].starts_with("config/deploy.yml:9: ssh.keys_only: keys_only is not supported"));
}

#[test]
fn primary_web_role_is_kamal_1_2s_primary_role() {
    let text = "service: app\nimage: app\nservers:\n  workers: [h1, h2]\nprimary_web_role: workers\n";
    let c = ok(text);
    assert_eq!(c.primary_role, "workers");
    assert_eq!(c.primary_host(), "h1");
    assert_eq!(
        refused(&format!("{text}primary_role: workers\n")),
        "config/deploy.yml:5: primary_web_role: is Kamal 1.2's name for primary_role, which is also given; keep only primary_role"
    );
}

#[test]
fn misspelled_keys_name_the_key_they_miss() {
    let c = ok("service: app\nimage: app\nservers:\n  web:\n    host: [h1]\n    hosts: [h1]\nhealthcheck:\n  max_attempt: 3\nsevrice: x\n");
    assert_eq!(
        warnings(&c),
        [
            "config/deploy.yml:5: servers.web.host: unknown key \"host\", ignored; did you mean \"hosts\"?",
            "config/deploy.yml:8: healthcheck.max_attempt: unknown key \"max_attempt\", ignored; did you mean \"max_attempts\"?",
            "config/deploy.yml:9: sevrice: unknown key \"sevrice\", ignored; did you mean \"service\"?",
        ]
    );
}

#[test]
fn a_tab_is_named_as_such() {
    assert_eq!(
        refused("service: app\nimage: app\nservers:\n\t- 1.1.1.1\n"),
        "config/deploy.yml:4:1: YAML syntax error: found a tab; YAML indents with spaces only: replace the tab with spaces"
    );
    assert_eq!(
        refused("service: app\nimage: app\nservers: [1.1.1.1]\nenv:\n  A: b\n\tB: c\n"),
        "config/deploy.yml:6:1: YAML syntax error: found a tab; YAML indents with spaces only: replace the tab with spaces"
    );
}

#[test]
fn an_env_value_with_a_line_break_is_refused_when_the_config_loads() {
    assert_eq!(
        refused(&format!("{HEAD}env:\n  clear:\n    GREETING: \"hello\\nworld\"\n")),
        "config/deploy.yml:6: env.clear.GREETING: the value holds a line break (or NUL), which Docker's env files cannot carry; put it on one line"
    );
    assert_eq!(
        refused("service: app\nimage: app\nservers:\n  web:\n    hosts: [h1]\n    env:\n      A: |\n        two\n        lines\n"),
        "config/deploy.yml:7: servers.web.env.A: the value holds a line break (or NUL), which Docker's env files cannot carry; put it on one line"
    );
}

#[test]
fn problems_are_listed_in_line_order() {
    // `servers` is read before `service` and `healthcheck` before `boot`,
    // but the problems come in the order of the file.
    let text = "boot:\n  limit: lots\nservice: \"my app\"\nservers:\n  - \"bad host\"\nhealthcheck:\n  port: web\n";
    let e = Config::parse(
        Source { name: "config/deploy.yml", text: &format!("{text}image: app\n{REGISTRY}") },
        Some(("staging", Source { name: "config/deploy.staging.yml", text: "readiness_delay: soon\n" })),
    )
    .unwrap_err();
    let lines: Vec<String> = e.problems.iter().map(|p| format!("{}:{}", p.file, p.line.unwrap_or(0))).collect();
    assert_eq!(
        lines,
        [
            "config/deploy.yml:2",
            "config/deploy.yml:3",
            "config/deploy.yml:5",
            "config/deploy.yml:7",
            "config/deploy.staging.yml:1"
        ]
    );
}
