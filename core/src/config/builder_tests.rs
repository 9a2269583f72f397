//! `builder:` read as Kamal reads it, and refused in words when wrong.

use super::super::{Config, ConfigError, Source};
use super::*;

const HEAD: &str = "service: app\nimage: acme/app\nservers: [1.1.1.1]\nregistry:\n  username: u\n  password: [PW]\n";

fn parse(builder: &str) -> Result<Config, ConfigError> {
    let text = format!("{HEAD}{builder}");
    Config::parse(Source { name: "config/deploy.yml", text: &text }, None)
}

fn builder(text: &str) -> Builder {
    parse(text).expect("the config is accepted").builder
}

fn err(text: &str) -> String {
    parse(text).expect_err("the config is refused").to_string()
}

fn warnings(text: &str) -> Vec<String> {
    parse(text).expect("the config is accepted").warnings.iter().map(|w| w.to_string()).collect()
}

#[test]
fn defaults_are_kamals() {
    let b = builder("");
    assert_eq!(b, Builder::default());
    assert!(b.multiarch);
    assert_eq!((b.dockerfile.as_str(), b.context.as_str()), ("Dockerfile", "."));
    assert_eq!(b.kind(), BuilderKind::Multiarch);
    assert_eq!(builder("builder:\n").kind(), BuilderKind::Multiarch);
}

#[test]
fn every_key_is_read() {
    let b = builder(
        "builder:\n  multiarch: true\n  local:\n    arch: amd64\n    host: unix:///var/run/docker.sock\n  remote:\n    arch: arm64\n    host: ssh://root@192.0.2.9\n  cache:\n    type: registry\n    image: acme/cache\n    options: mode=max\n  args:\n    RUBY_VERSION: 3.2.2\n    FROM_ENV:\n    COUNT: 3\n  secrets:\n    - GITHUB_TOKEN\n  dockerfile: Dockerfile.production\n  context: ./app\n  target: production\n  ssh: default\n",
    );
    assert_eq!(b.local, Some(BuilderHost { arch: "amd64".into(), host: Some("unix:///var/run/docker.sock".into()) }));
    assert_eq!(b.remote, Some(BuilderHost { arch: "arm64".into(), host: Some("ssh://root@192.0.2.9".into()) }));
    assert_eq!(
        b.cache,
        Some(BuildCache {
            kind: Some(CacheType::Registry),
            image: Some("acme/cache".into()),
            options: Some("mode=max".into())
        })
    );
    assert_eq!(
        b.args,
        vec![
            ("RUBY_VERSION".into(), Some("3.2.2".into())),
            ("FROM_ENV".into(), None),
            ("COUNT".into(), Some("3".into()))
        ]
    );
    assert_eq!(b.secrets, vec!["GITHUB_TOKEN"]);
    assert_eq!((b.dockerfile.as_str(), b.context.as_str()), ("Dockerfile.production", "./app"));
    assert_eq!((b.target.as_deref(), b.ssh.as_deref()), (Some("production"), Some("default")));
    assert_eq!(b.kind(), BuilderKind::MultiarchRemote);
    assert_eq!(b.env_names(), vec!["GITHUB_TOKEN", "FROM_ENV"]);
}

#[test]
fn the_builder_is_chosen_as_kamal_chooses_it() {
    let kind = |t: &str| builder(t).kind();
    assert_eq!(kind("builder:\n  multiarch: false\n"), BuilderKind::Native);
    assert_eq!(kind("builder:\n  multiarch: false\n  cache:\n    type: gha\n"), BuilderKind::NativeCached);
    // multiarch: false wins over remote (ignored, with a warning).
    assert_eq!(
        kind("builder:\n  multiarch: false\n  remote:\n    arch: arm64\n    host: ssh://b\n"),
        BuilderKind::Native
    );
    assert_eq!(kind("builder:\n  remote:\n    arch: arm64\n    host: ssh://b\n"), BuilderKind::NativeRemote);
    assert_eq!(
        kind("builder:\n  local:\n    arch: amd64\n  remote:\n    arch: arm64\n    host: ssh://b\n"),
        BuilderKind::MultiarchRemote
    );
    assert_eq!(kind("builder:\n  cache:\n    type: gha\n"), BuilderKind::Multiarch);
    assert_eq!(BuilderKind::NativeCached.to_string(), "native/cached");
    assert!(!BuilderKind::Native.uses_buildx() && BuilderKind::NativeRemote.uses_buildx());
}

#[test]
fn ignored_settings_are_warned_about() {
    assert_eq!(
        warnings("builder:\n  multiarch: false\n  remote:\n    arch: arm64\n    host: ssh://b\n"),
        vec!["config/deploy.yml:9: builder.remote: is ignored with multiarch: false, as in Kamal (the build is native, on this machine); remove it, or drop multiarch: false to build on it"]
    );
    assert_eq!(
        warnings("builder:\n  local:\n    arch: amd64\n"),
        vec!["config/deploy.yml:8: builder.local: is used only with builder.remote (Kamal 1.0): without it the build is for amd64 and arm64 on this machine; add remote: or remove local:"]
    );
    assert_eq!(
        warnings("builder:\n  multiarch: false\n  cache: {}\n"),
        vec!["config/deploy.yml:9: builder.cache: has no type, so no cache is used (as in Kamal), though the build runs on a buildx builder; add type: registry or type: gha"]
    );
    assert_eq!(
        warnings("builder:\n  ssh: default=$SSH_AUTH_SOCK\n  multiarh: false\n"),
        vec![
            "config/deploy.yml:8: builder.ssh: reaches docker as written: baton does not expand $VARIABLES in it; write `default` to use $SSH_AUTH_SOCK",
            "config/deploy.yml:9: builder.multiarh: unknown key \"multiarh\", ignored; did you mean \"multiarch\"?",
        ]
    );
}

#[test]
fn wrong_values_are_refused_with_what_to_do() {
    assert_eq!(
        err("builder:\n  multiarch: maybe\n"),
        "config/deploy.yml:8: builder.multiarch: expected true or false, found a string \"maybe\""
    );
    assert_eq!(
        err("builder:\n  cache:\n    type: s3\n"),
        "config/deploy.yml:9: builder.cache.type: \"s3\" is not a cache type; write gha or registry"
    );
    assert_eq!(
        err("builder:\n  remote:\n    arch: arm64\n"),
        "config/deploy.yml:8: builder.remote.host: is missing; write the remote Docker engine to build on, such as ssh://root@192.0.2.1"
    );
    assert_eq!(
        err("builder:\n  remote:\n    host: ssh://b\n"),
        "config/deploy.yml:8: builder.remote.arch: is missing; write the builder's architecture, amd64 or arm64"
    );
    assert_eq!(
        err("builder:\n  args:\n    2FAST: x\n"),
        "config/deploy.yml:9: builder.args.2FAST: \"2FAST\" is not an environment variable name (letters, digits and _, not starting with a digit); rename it"
    );
    assert_eq!(
        err("builder:\n  args:\n    DOCKER_HOST: x\n"),
        "config/deploy.yml:9: builder.args.DOCKER_HOST: \"DOCKER_HOST\" is a variable of the shell or of the docker client, which baton sets from build arguments; rename the argument"
    );
    assert_eq!(
        err("builder:\n  args:\n    A: [1, 2]\n"),
        "config/deploy.yml:9: builder.args.A: expected a string, found a list"
    );
    assert_eq!(
        err("builder:\n  secrets: [\"a b\"]\n"),
        "config/deploy.yml:8: builder.secrets.0: \"a b\" is not an environment variable name (letters, digits and _, not starting with a digit); rename it"
    );
    assert_eq!(
        err("builder:\n  dockerfile: \"\"\n"),
        "config/deploy.yml:8: builder.dockerfile: must be a file path on one line, and not empty"
    );
    assert_eq!(err("builder: true\n"), "config/deploy.yml:7: builder: expected a mapping, found a boolean");
}

#[test]
fn argument_values_go_to_standard_input_quoted() {
    let b = builder("builder:\n  args:\n    A: it's\n    B:\n    C: plain\n");
    let stdin = String::from_utf8(b.args_stdin().expect("values")).expect("text");
    assert_eq!(stdin, "export A='it'\\''s'\nexport C=plain\n");
    assert_eq!(builder("builder:\n  args:\n    B:\n").args_stdin(), None);
}
