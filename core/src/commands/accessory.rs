//! The commands of `accessory …` on a host, with Kamal 1.0's container
//! name (`<service>-<accessory>`), label (`service=<service>-<accessory>`),
//! env file (`.kamal/env/accessories/<service>-<accessory>.env`) and
//! service directory (`<service>-<accessory>` in the SSH user's home, where
//! uploaded files and data directories live, mounted as `$PWD/…`).

use super::{docker, docker_options, logging_args, private_file_write, run_path, LogOptions};
use crate::config::{Accessory, AccessoryFile, Config};
use crate::shell::{Command, Word};

/// `<service>-<name>`: the container's name, its `service` label and its
/// directory on the host. Kamal 1.0 adds no destination.
pub fn service_name(cfg: &Config, a: &Accessory) -> String {
    format!("{}-{}", cfg.service, a.name)
}

/// `.kamal/env/accessories`
pub fn env_directory(cfg: &Config) -> String {
    run_path(cfg, "env/accessories")
}

/// `.kamal/env/accessories/<service>-<name>.env`
pub fn env_file_path(cfg: &Config, a: &Accessory) -> String {
    run_path(cfg, &format!("env/accessories/{}.env", service_name(cfg, a)))
}

/// Where an uploaded file goes on the host, relative to the SSH user's
/// home: `<service>-<name><path in the container>`.
pub fn remote_file(cfg: &Config, a: &Accessory, f: &AccessoryFile) -> String {
    format!("{}{}", service_name(cfg, a), f.remote)
}

/// `"$PWD"/rest`: a path under the directory the SSH command starts in,
/// expanded by the remote shell (Kamal writes `$PWD/…`).
fn pwd(rest: String) -> Word {
    Word::Glued(vec![Word::Fixed("\"$PWD\"/"), Word::Value(rest)])
}

/// A data directory on the host: `$PWD/<service>-<name>/<path>`.
pub fn host_directory(cfg: &Config, a: &Accessory, host_path: &str) -> Word {
    pwd(format!("{}/{host_path}", service_name(cfg, a)))
}

/// `--volume` for each of `volumes`, then each file, then each directory.
fn volume_args(cfg: &Config, a: &Accessory) -> Command {
    let s = service_name(cfg, a);
    let mut c = a.volumes.iter().fold(Command::new(), |c, v| c.fixed("--volume").arg(v));
    for f in &a.files {
        c = c.fixed("--volume").arg(pwd(format!("{s}{}:{}", f.remote, f.remote)));
    }
    for (host, container) in &a.directories {
        c = c.fixed("--volume").arg(pwd(format!("{s}/{host}:{container}")));
    }
    c
}

/// `service=<service>-<name>`, then the accessory's labels (a label of the
/// same name replaces it in place, as Ruby's `merge`).
pub fn labels(cfg: &Config, a: &Accessory) -> Vec<(String, String)> {
    let mut out = vec![("service".to_string(), service_name(cfg, a))];
    for (k, v) in &a.labels {
        match out.iter_mut().find(|(x, _)| x == k) {
            Some(e) => e.1 = v.clone(),
            None => out.push((k.clone(), v.clone())),
        }
    }
    out
}

fn env_args(cfg: &Config, a: &Accessory) -> Command {
    Command::new().fixed("--env-file").arg(env_file_path(cfg, a))
}

/// `docker run` of the accessory, in Kamal 1.0's argument order.
pub fn run(cfg: &Config, a: &Accessory) -> Command {
    let mut c = docker()
        .fixed("run")
        .fixed("--name")
        .arg(service_name(cfg, a))
        .fixed("--detach")
        .fixed("--restart")
        .fixed("unless-stopped")
        .then(logging_args(&cfg.logging))
        .opt("--publish", a.port.clone())
        .then(env_args(cfg, a))
        .then(volume_args(cfg, a));
    for (k, v) in labels(cfg, a) {
        c = c.fixed("--label").arg(format!("{k}={v}"));
    }
    c = c.then(docker_options(&a.options)).arg(&a.image);
    if let Some(cmd) = &a.cmd {
        // From the config, split by the shell as Kamal does.
        c = c.arg(Word::UserShell(cmd.clone()));
    }
    c
}

/// `docker container start <service>-<name>`
pub fn start(cfg: &Config, a: &Accessory) -> Command {
    docker().fixed("container").fixed("start").arg(service_name(cfg, a))
}

/// `docker container stop <service>-<name>`
pub fn stop(cfg: &Config, a: &Accessory) -> Command {
    docker().fixed("container").fixed("stop").arg(service_name(cfg, a))
}

fn service_filter(cfg: &Config, a: &Accessory) -> Command {
    Command::new().fixed("--filter").arg(format!("label=service={}", service_name(cfg, a)))
}

/// `docker ps --filter label=service=<service>-<name>`
pub fn info(cfg: &Config, a: &Accessory) -> Command {
    docker().fixed("ps").then(service_filter(cfg, a))
}

/// `docker logs <name> [--since S] [--tail N] --timestamps 2>&1 [| grep -e G]`;
/// with `follow`, `--timestamps --tail N(10) --follow`.
pub fn logs(cfg: &Config, a: &Accessory, o: &LogOptions) -> Command {
    super::named_logs(&service_name(cfg, a), o)
}

/// `docker exec [-it] <name> CMD`
pub fn exec_existing(cfg: &Config, a: &Accessory, cmd: &str, interactive: bool) -> Command {
    let mut c = docker().fixed("exec");
    if interactive {
        c = c.fixed("-it");
    }
    c.arg(service_name(cfg, a)).arg(Word::UserShell(cmd.to_string()))
}

/// `docker run [-it] --rm --env-file … [--volume …] IMAGE CMD`
pub fn exec_new(cfg: &Config, a: &Accessory, cmd: &str, interactive: bool) -> Command {
    let mut c = docker().fixed("run");
    if interactive {
        c = c.fixed("-it");
    }
    c.fixed("--rm").then(env_args(cfg, a)).then(volume_args(cfg, a)).arg(&a.image).arg(Word::UserShell(cmd.to_string()))
}

/// `rm -rf <service>-<name>`: the uploaded files and data directories.
pub fn remove_service_directory(cfg: &Config, a: &Accessory) -> Command {
    Command::program("rm").fixed("-rf").arg(service_name(cfg, a))
}

/// `docker container prune --force --filter label=service=<service>-<name>`
pub fn remove_container(cfg: &Config, a: &Accessory) -> Command {
    docker().fixed("container").fixed("prune").fixed("--force").then(service_filter(cfg, a))
}

/// `docker image rm --force IMAGE`
pub fn remove_image(a: &Accessory) -> Command {
    docker().fixed("image").fixed("rm").fixed("--force").arg(&a.image)
}

/// `mkdir -p "$PWD"/<service>-<name>/<path>`
pub fn make_directory(cfg: &Config, a: &Accessory, host_path: &str) -> Command {
    Command::program("mkdir").fixed("-p").arg(host_directory(cfg, a, host_path))
}

/// Put a file from standard input at its place on the host, as Kamal's
/// upload: `mkdir -p DIR && cat > FILE && chmod 755 FILE`.
pub fn upload(cfg: &Config, a: &Accessory, f: &AccessoryFile) -> Command {
    let remote = remote_file(cfg, a, f);
    let dir = remote.rsplit_once('/').map_or(".", |(d, _)| d).to_string();
    Command::and_all([
        Command::program("mkdir").fixed("-p").arg(dir),
        Command::program("cat").fixed(">").arg(&remote),
        Command::program("chmod").arg("755").arg(remote),
    ])
}

/// Write the env file from standard input, mode 0400.
pub fn env_file_write(cfg: &Config, a: &Accessory) -> Command {
    private_file_write(&env_directory(cfg), &env_file_path(cfg, a))
}

/// `rm -f .kamal/env/accessories/<service>-<name>.env`
pub fn remove_env_file(cfg: &Config, a: &Accessory) -> Command {
    Command::program("rm").fixed("-f").arg(env_file_path(cfg, a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Source;

    /// Kamal 1.0's test/commands/accessory_test.rb config.
    fn cfg(extra: &str) -> Config {
        let text = format!(
            "service: app\nimage: dhh/app\nregistry:\n  server: private.registry\n  username: dhh\n  password: secret\nservers: [1.1.1.1]\n{extra}accessories:\n  mysql:\n    image: private.registry/mysql:8.0\n    host: 1.1.1.5\n    port: \"3306\"\n    env:\n      clear:\n        MYSQL_ROOT_HOST: '%'\n      secret: [MYSQL_ROOT_PASSWORD]\n    files:\n      - config/mysql/my.cnf:/etc/mysql/my.cnf\n      - db/structure.sql:/docker-entrypoint-initdb.d/structure.sql\n    directories:\n      - data:/var/lib/mysql\n  redis:\n    image: redis:latest\n    host: 1.1.1.6\n    port: \"6379:6379\"\n    labels:\n      cache: true\n    env:\n      SOMETHING: else\n    volumes:\n      - /var/lib/redis:/data\n    options:\n      cpus: 4\n      memory: 2GB\n  busybox:\n    image: busybox:latest\n    host: 1.1.1.7\n"
        );
        Config::parse(Source { name: "config/deploy.yml", text: &text }, None).unwrap()
    }

    fn line(c: &Config, name: &str, f: impl Fn(&Config, &Accessory) -> Command) -> String {
        f(c, c.accessory(name).unwrap()).render()
    }

    #[test]
    fn run_is_kamal_1_0s_command() {
        let c = cfg("");
        assert_eq!(
            line(&c, "mysql", run),
            "docker run --name app-mysql --detach --restart unless-stopped --log-opt max-size=10m --publish 3306:3306 --env-file .kamal/env/accessories/app-mysql.env --volume \"$PWD\"/app-mysql/etc/mysql/my.cnf:/etc/mysql/my.cnf --volume \"$PWD\"/app-mysql/docker-entrypoint-initdb.d/structure.sql:/docker-entrypoint-initdb.d/structure.sql --volume \"$PWD\"/app-mysql/data:/var/lib/mysql --label service=app-mysql private.registry/mysql:8.0"
        );
        assert_eq!(
            line(&c, "redis", run),
            "docker run --name app-redis --detach --restart unless-stopped --log-opt max-size=10m --publish 6379:6379 --env-file .kamal/env/accessories/app-redis.env --volume /var/lib/redis:/data --label service=app-redis --label cache=true --cpus 4 --memory 2GB redis:latest"
        );
        let c = cfg("logging:\n  driver: local\n  options:\n    max-size: 100m\n    max-file: 3\n");
        assert_eq!(
            line(&c, "busybox", run),
            "docker run --name app-busybox --detach --restart unless-stopped --log-driver local --log-opt max-size=100m --log-opt max-file=3 --env-file .kamal/env/accessories/app-busybox.env --label service=app-busybox busybox:latest"
        );
    }

    #[test]
    fn the_other_commands_are_kamal_1_0s() {
        let c = cfg("");
        assert_eq!(line(&c, "mysql", start), "docker container start app-mysql");
        assert_eq!(line(&c, "mysql", stop), "docker container stop app-mysql");
        assert_eq!(line(&c, "mysql", info), "docker ps --filter label=service=app-mysql");
        assert_eq!(
            line(&c, "mysql", |c, a| exec_new(c, a, "mysql -u root", false)),
            "docker run --rm --env-file .kamal/env/accessories/app-mysql.env --volume \"$PWD\"/app-mysql/etc/mysql/my.cnf:/etc/mysql/my.cnf --volume \"$PWD\"/app-mysql/docker-entrypoint-initdb.d/structure.sql:/docker-entrypoint-initdb.d/structure.sql --volume \"$PWD\"/app-mysql/data:/var/lib/mysql private.registry/mysql:8.0 mysql -u root"
        );
        assert_eq!(
            line(&c, "busybox", |c, a| exec_new(c, a, "ls", true)),
            "docker run -it --rm --env-file .kamal/env/accessories/app-busybox.env busybox:latest ls"
        );
        assert_eq!(
            line(&c, "mysql", |c, a| exec_existing(c, a, "mysql -u root", false)),
            "docker exec app-mysql mysql -u root"
        );
        assert_eq!(line(&c, "mysql", |c, a| exec_existing(c, a, "bash", true)), "docker exec -it app-mysql bash");
        assert_eq!(
            line(&c, "mysql", |c, a| logs(c, a, &LogOptions::default())),
            "docker logs app-mysql --timestamps 2>&1"
        );
        let o = LogOptions { since: Some("5m".into()), lines: Some(100), grep: Some("thing".into()), follow: false };
        assert_eq!(
            line(&c, "mysql", |c, a| logs(c, a, &o)),
            "docker logs app-mysql --since 5m --tail 100 --timestamps 2>&1 | grep -e thing"
        );
        let f = LogOptions { follow: true, ..Default::default() };
        assert_eq!(
            line(&c, "mysql", |c, a| logs(c, a, &f)),
            "docker logs app-mysql --timestamps --tail 10 --follow 2>&1"
        );
        assert_eq!(
            line(&c, "mysql", remove_container),
            "docker container prune --force --filter label=service=app-mysql"
        );
        assert_eq!(line(&c, "mysql", |_, a| remove_image(a)), "docker image rm --force private.registry/mysql:8.0");
        assert_eq!(line(&c, "mysql", remove_service_directory), "rm -rf app-mysql");
        assert_eq!(line(&c, "mysql", remove_env_file), "rm -f .kamal/env/accessories/app-mysql.env");
        assert_eq!(
            line(&c, "mysql", env_file_write),
            "mkdir -p .kamal/env/accessories && rm -f .kamal/env/accessories/app-mysql.env && umask 0277 && cat > .kamal/env/accessories/app-mysql.env"
        );
        assert_eq!(line(&c, "mysql", |c, a| make_directory(c, a, "data")), "mkdir -p \"$PWD\"/app-mysql/data");
        let a = c.accessory("mysql").unwrap();
        assert_eq!(
            upload(&c, a, &a.files[0]).render(),
            "mkdir -p app-mysql/etc/mysql && cat > app-mysql/etc/mysql/my.cnf && chmod 755 app-mysql/etc/mysql/my.cnf"
        );
    }
}
