//! The build command lines of Kamal's five builders, pinned, and compared
//! word for word with Kamal 1.0's (`test/commands/builder_test.rb`).

use super::build::*;
use crate::config::{BuilderKind, Config, Source};

fn cfg(builder: &str) -> Config {
    let registry = if builder.contains("registry:") { "" } else { "registry:\n  username: u\n  password: [P]\n" };
    let text = format!("service: app\nimage: dhh/app\nservers: [1.1.1.1]\n{registry}{builder}");
    Config::parse(Source { name: "config/deploy.yml", text: &text }, None).expect("config")
}

fn push_line(c: &Config) -> String {
    push(c, "123").0.render()
}

fn argv(line: &str) -> Vec<String> {
    shell_words::split(line).expect("parses")
}

const GHA: &str = "  cache:\n    type: gha\n";

#[test]
fn native_is_kamals() {
    let c = cfg("builder:\n  multiarch: false\n");
    let ours = push_line(&c);
    insta::assert_snapshot!(ours, @"docker build -t dhh/app:123 -t dhh/app:latest --label service=app --file Dockerfile . && docker push dhh/app:123 && docker push dhh/app:latest");
    let kamal = r#"docker build -t dhh/app:123 -t dhh/app:latest --label service="app" --file Dockerfile . && docker push dhh/app:123 && docker push dhh/app:latest"#;
    assert_eq!(argv(&ours), argv(kamal));
    assert_eq!((create(&c), remove(&c), info(&c), ensure_builder(&c)), (None, None, None, None));
    assert_eq!(builder_name(&c), None);
}

#[test]
fn multiarch_is_kamals() {
    let c = cfg(&format!("builder:\n{GHA}"));
    let ours = push_line(&c);
    let kamal = r#"docker buildx build --push --platform linux/amd64,linux/arm64 --builder kamal-app-multiarch -t dhh/app:123 -t dhh/app:latest --cache-to type=gha --cache-from type=gha --label service="app" --file Dockerfile ."#;
    assert_eq!(argv(&ours), argv(kamal));
    assert_eq!(create(&c).unwrap().render(), "docker buildx create --use --name kamal-app-multiarch");
    assert_eq!(remove(&c).unwrap().render(), "docker buildx rm kamal-app-multiarch");
    assert_eq!(info(&c).unwrap().render(), "docker context ls && docker buildx ls");
    insta::assert_snapshot!(ensure_builder(&c).unwrap().render(), @"docker buildx inspect kamal-app-multiarch >/dev/null 2>&1 || { echo 'Missing compatible builder, so creating a new one first' >&2 ; docker buildx create --use --name kamal-app-multiarch ; }");
}

#[test]
fn native_cached_names_its_builder() {
    let c = cfg(&format!("builder:\n  multiarch: false\n{GHA}"));
    assert_eq!(c.builder.kind(), BuilderKind::NativeCached);
    // Kamal 1.0 left out --builder (relying on `create --use`).
    let kamal = r#"docker buildx build --push -t dhh/app:123 -t dhh/app:latest --cache-to type=gha --cache-from type=gha --label service="app" --file Dockerfile ."#;
    let mut expected = argv(kamal);
    expected.splice(4..4, ["--builder".to_string(), "kamal-app-native-cached".to_string()]);
    assert_eq!(argv(&push_line(&c)), expected);
    assert_eq!(
        create(&c).unwrap().render(),
        "docker buildx create --name kamal-app-native-cached --use --driver=docker-container"
    );
    assert_eq!(remove(&c).unwrap().render(), "docker buildx rm kamal-app-native-cached");
    assert_eq!(info(&c), None);
}

#[test]
fn native_remote_is_kamals() {
    let c = cfg(&format!("builder:\n  remote:\n    arch: amd64\n    host: ssh://root@192.168.0.1\n{GHA}"));
    let kamal = r#"docker buildx build --push --platform linux/amd64 --builder kamal-app-native-remote -t dhh/app:123 -t dhh/app:latest --cache-to type=gha --cache-from type=gha --label service="app" --file Dockerfile ."#;
    assert_eq!(argv(&push_line(&c)), argv(kamal));
    let kamal_create = "docker context create kamal-app-native-remote-amd64 --description 'kamal-app-native-remote amd64 native host' --docker 'host=ssh://root@192.168.0.1' ; docker buildx create --name kamal-app-native-remote kamal-app-native-remote-amd64 --platform linux/amd64";
    assert_eq!(argv(&create(&c).unwrap().render()), argv(kamal_create));
    assert_eq!(
        remove(&c).unwrap().render(),
        "docker context rm kamal-app-native-remote-amd64 ; docker buildx rm kamal-app-native-remote"
    );
    assert_eq!(info(&c).unwrap().render(), "docker context ls ; docker buildx ls");
}

#[test]
fn multiarch_remote_is_kamals() {
    let c = cfg("builder:\n  local:\n    arch: amd64\n    host: unix:///var/run/docker.sock\n  remote:\n    arch: arm64\n    host: ssh://root@192.168.0.1\n");
    let kamal = r#"docker buildx build --push --platform linux/amd64,linux/arm64 --builder kamal-app-multiarch-remote -t dhh/app:123 -t dhh/app:latest --label service="app" --file Dockerfile ."#;
    assert_eq!(argv(&push_line(&c)), argv(kamal));
    insta::assert_snapshot!(create(&c).unwrap().render(), @"docker context create kamal-app-multiarch-remote-amd64 --description 'kamal-app-multiarch-remote amd64 native host' --docker host=unix:///var/run/docker.sock && docker context create kamal-app-multiarch-remote-arm64 --description 'kamal-app-multiarch-remote arm64 native host' --docker host=ssh://root@192.168.0.1 && docker buildx create --name kamal-app-multiarch-remote kamal-app-multiarch-remote-amd64 --platform linux/amd64 && docker buildx create --append --name kamal-app-multiarch-remote kamal-app-multiarch-remote-arm64 --platform linux/arm64");
    assert_eq!(
        remove(&c).unwrap().render(),
        "docker context rm kamal-app-multiarch-remote-amd64 && docker context rm kamal-app-multiarch-remote-arm64 && docker buildx rm kamal-app-multiarch-remote"
    );
}

#[test]
fn build_args_are_named_and_their_values_go_to_stdin() {
    let c = cfg("builder:\n  multiarch: false\n  args:\n    a: 1\n    b: \"it's secret\"\n");
    let (line, stdin) = push(&c, "123");
    insta::assert_snapshot!(line.render(), @". /dev/stdin && docker build -t dhh/app:123 -t dhh/app:latest --label service=app --build-arg a --build-arg b --file Dockerfile . && docker push dhh/app:123 && docker push dhh/app:latest");
    assert!(!line.render().contains("secret"));
    assert_eq!(String::from_utf8(stdin.unwrap()).unwrap(), "export a=1\nexport b='it'\\''s secret'\n");
}

#[test]
fn secrets_dockerfile_context_target_ssh_and_registry_cache() {
    let c = cfg("registry:\n  server: registry.example.com\n  username: u\n  password: [P]\nbuilder:\n  secrets: [token_a, token_b]\n  dockerfile: Dockerfile.xyz\n  context: ..\n  target: prod\n  ssh: default\n  cache:\n    type: registry\n    options: mode=max\n");
    insta::assert_snapshot!(push_line(&c), @"docker buildx build --push --platform linux/amd64,linux/arm64 --builder kamal-app-multiarch -t registry.example.com/dhh/app:123 -t registry.example.com/dhh/app:latest --cache-to type=registry,mode=max,ref=registry.example.com/dhh/app-build-cache --cache-from type=registry,ref=registry.example.com/dhh/app-build-cache --label service=app --secret id=token_a --secret id=token_b --file Dockerfile.xyz --target prod --ssh default ..");
    let c = cfg("builder:\n  cache:\n    type: registry\n    image: my/cache\n");
    assert_eq!(cache_to_from(&c), Some(("type=registry,ref=my/cache".into(), "type=registry,ref=my/cache".into())));
    let c = cfg("builder:\n  cache:\n    type: gha\n    options: mode=max\n");
    assert_eq!(cache_to_from(&c), Some(("type=gha,mode=max".into(), "type=gha".into())));
}

#[test]
fn user_values_are_quoted() {
    let c = cfg("builder:\n  multiarch: false\n  dockerfile: \"my file; rm -rf /\"\n  context: \"$(boom)\"\n");
    let words = argv(&push_line(&c));
    assert!(words.contains(&"my file; rm -rf /".to_string()) && words.contains(&"$(boom)".to_string()));
}

#[test]
fn local_checks_say_what_to_install() {
    let native = cfg("builder:\n  multiarch: false\n");
    assert_eq!(LocalCheck::needed(&native), vec![LocalCheck::Client, LocalCheck::Engine]);
    let multi = cfg("");
    assert_eq!(LocalCheck::needed(&multi), vec![LocalCheck::Client, LocalCheck::Engine, LocalCheck::Buildx]);
    assert_eq!(LocalCheck::Engine.command().render(), "docker version --format '{{.Server.Version}}'");
    assert_eq!(LocalCheck::from_label("docker buildx"), Some(LocalCheck::Buildx));
    let said = "Client: ...\nCannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n";
    let p = LocalCheck::Engine.problem(BuilderKind::Native, None, said);
    assert_eq!(
        p,
        LocalDocker::NoEngine {
            docker_host: None,
            said: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
                .into()
        }
    );
    assert!(p.to_string().starts_with("no Docker engine answers at the default socket"));
    let p = LocalCheck::Engine.problem(BuilderKind::Native, Some("unix:///run/x.sock"), "");
    assert!(p.to_string().starts_with("no Docker engine answers at DOCKER_HOST=unix:///run/x.sock; start one"));
    let p = LocalCheck::Buildx.problem(BuilderKind::Multiarch, None, "docker: 'buildx' is not a docker command.");
    assert_eq!(p, LocalDocker::NoBuildx { kind: BuilderKind::Multiarch });
    assert!(p.to_string().contains("install it (Debian 13/Ubuntu: apt-get install docker-buildx"));
    assert!(LocalDocker::NoClient.to_string().contains("apt-get install docker.io"));
}
