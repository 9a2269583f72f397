use super::*;
use crate::batch::Kind;
use crate::config::Source;
use crate::effect::{Event, Observation, Outcome};
use crate::machine::Machine;
use crate::plan::{LockInfo, Plan};

const CONFIG: &str = "service: app\nimage: app\nservers: [h1, h2]\nregistry:\n  username: u\n  password: [P]\naccessories:\n  db:\n    image: mysql:8.0\n    host: h3\n    env:\n      clear:\n        HOST: '%'\n      secret: [DB_PASSWORD]\n    files:\n      - conf/my.cnf.erb:/etc/mysql/my.cnf\n    directories:\n      - data:/var/lib/mysql\n  cache:\n    image: redis:7\n    roles: [web]\n";

fn plan() -> Plan {
    let cfg = Config::parse(Source { name: "config/deploy.yml", text: CONFIG }, None).unwrap();
    let lock = LockInfo { holder: "Ada".into(), at_utc: "2026-12-02T10:00:00Z".into(), message: "m".into() };
    Plan::new(cfg, "v1", None, None, "ada", lock).unwrap()
}

fn login() -> Login {
    Login { username: "u".into(), password: "hunter2".into() }
}

fn contents() -> Contents {
    Contents::from([("conf/my.cnf.erb".to_string(), b"[mysqld]\npassword=s3cret\n".to_vec())])
}

fn lines(phases: &[Phase]) -> Vec<(String, String)> {
    phases.iter().flat_map(|p| p.scripts.iter().flatten()).map(|s| (s.host.clone(), s.cmd.render())).collect()
}

#[test]
fn select_names_the_options() {
    let p = plan();
    assert_eq!(select(&p.config, "all").unwrap().len(), 2);
    assert_eq!(select(&p.config, "db").unwrap()[0].name, "db");
    assert_eq!(
        select(&p.config, "nope").unwrap_err(),
        "no accessory by the name of 'nope' (options: db, cache, or all)"
    );
}

#[test]
fn env_files_put_secrets_first_and_a_missing_one_is_named() {
    let p = plan();
    let db = p.config.accessory("db").unwrap();
    let secrets = BTreeMap::from([("DB_PASSWORD".to_string(), "pw".to_string())]);
    assert_eq!(env_file(db, &secrets).unwrap(), "DB_PASSWORD=pw\nHOST=%\n");
    assert_eq!(
        env_file(db, &BTreeMap::new()).unwrap_err(),
        "accessories.db.env.secret: DB_PASSWORD is not set; export it, or put DB_PASSWORD=… in .env"
    );
}

#[test]
fn boot_makes_directories_uploads_logs_in_and_runs_with_secrets_on_stdin_only() {
    let p = plan();
    let db = p.config.accessory("db").unwrap();
    let phases = boot(&p, &[db], &contents(), &login()).unwrap();
    let all = lines(&phases);
    assert!(all.iter().all(|(_, l)| !l.contains("hunter2") && !l.contains("s3cret")), "{all:?}");
    let on_h3: Vec<&str> = all.iter().filter(|(h, _)| h == "h3").map(|(_, l)| l.as_str()).collect();
    assert_eq!(on_h3[0], "mkdir -p \"$PWD\"/app-db/data");
    assert_eq!(
        on_h3[1],
        "mkdir -p app-db/etc/mysql && cat > app-db/etc/mysql/my.cnf && chmod 755 app-db/etc/mysql/my.cnf"
    );
    assert_eq!(on_h3[2], "docker login -u u --password-stdin");
    assert!(on_h3[3].contains("Booted db accessory"));
    assert!(on_h3[4].starts_with("docker run --name app-db --detach"));
    let steps: Vec<&Step> = phases.iter().flat_map(|p| p.scripts.iter().flatten()).collect();
    let upload = steps.iter().find(|s| s.label == "upload").unwrap();
    assert_eq!(upload.stdin.as_ref().unwrap().bytes, contents()["conf/my.cnf.erb"]);
    assert_eq!(steps[0].kind, Kind::Lock, "under the lock");
    assert_eq!(steps.last().unwrap().kind, Kind::Unlock);
    let missing = boot(&p, &[db], &Contents::new(), &login()).unwrap_err();
    assert_eq!(missing, "accessories.db.files: missing file: conf/my.cnf.erb; create it, or fix the path");
}

#[test]
fn roles_put_an_accessory_on_the_roles_hosts() {
    let p = plan();
    let cache = p.config.accessory("cache").unwrap();
    let hosts: Vec<String> = lines(&start(&p, &[cache])).into_iter().map(|(h, _)| h).collect();
    assert!(
        hosts.contains(&"h1".to_string()) && hosts.contains(&"h2".to_string()) && !hosts.contains(&"h3".to_string())
    );
}

#[test]
fn remove_takes_away_what_boot_and_env_push_made() {
    let p = plan();
    let db = p.config.accessory("db").unwrap();
    let work: Vec<String> = lines(&remove(&p, &[db]))
        .into_iter()
        .filter(|(h, l)| h == "h3" && !l.contains("audit.log"))
        .map(|(_, l)| l)
        .collect();
    assert_eq!(
        work,
        [
            "docker container stop app-db",
            "docker container prune --force --filter label=service=app-db",
            "docker image rm --force mysql:8.0",
            "rm -rf app-db",
            "rm -f .kamal/env/accessories/app-db.env",
        ]
    );
}

#[test]
fn env_push_and_delete_cover_every_accessory_host() {
    let p = plan();
    let secrets = BTreeMap::from([("DB_PASSWORD".to_string(), "pw".to_string())]);
    let phase = env_push_phase(&p, &secrets).unwrap().unwrap();
    let hosts: Vec<&str> = phase.scripts.iter().map(|s| s[0].host.as_str()).collect();
    assert_eq!(hosts, ["h3", "h1", "h2"]);
    assert!(phase.scripts.iter().flatten().all(|s| s.stdin.is_some() && !s.cmd.render().contains("pw")));
    let mut delete = vec![crate::ops::env_delete(&p)];
    delete.extend(env_delete_phases(&p));
    let deleted = lines(&delete);
    assert!(deleted.contains(&("h3".to_string(), "rm -f .kamal/env/accessories/app-db.env".to_string())));
    assert!(deleted.contains(&("h1".to_string(), "rm -f .kamal/env/roles/app-web.env".to_string())));
    assert!(deleted.contains(&("h2".to_string(), "rm -f .kamal/env/accessories/app-cache.env".to_string())));
}

/// Answer every effect: `fail` (a label) exits 1, the rest 0. The labels
/// of the commands that ran, in order, and the outcome.
fn drive(phases: Vec<Phase>, fail: &str) -> (Vec<String>, Outcome) {
    let mut m = crate::ops::machine(phases);
    let mut ran = vec![];
    let mut outcome = None;
    loop {
        while let Some(ev) = m.poll_event() {
            if let Event::Finished(o) = ev {
                outcome = Some(o);
            }
        }
        let Some(e) = m.poll_effect() else { break };
        let c = e.cmd();
        let line = c.cmd.render();
        let code = i32::from(line.contains(fail));
        ran.push(line);
        m.handle_observation(
            &Observation::Exited { id: e.id(), code, stdout: String::new(), stderr: String::new() },
            0,
        );
    }
    (ran, outcome.expect("finished"))
}

#[test]
fn a_failed_upload_stops_the_boot_and_the_lock_is_released() {
    let p = plan();
    let all: Vec<&Accessory> = p.config.accessories.iter().collect();
    let (ran, outcome) = drive(boot(&p, &all, &contents(), &login()).unwrap(), "cat > app-db");
    assert!(matches!(outcome, Outcome::Failed { .. }));
    assert!(!ran.iter().any(|l| l.starts_with("docker run")), "nothing boots after a failed upload: {ran:?}");
    assert!(ran.last().unwrap().contains("rm -r .kamal/lock-app"), "the lock is released: {ran:?}");
}
