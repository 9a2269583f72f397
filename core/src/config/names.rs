//! Checks for names that end up in container names, labels, image references
//! and host lists. Each returns a sentence saying what is wrong, or Ok.

/// service, role and destination: they become part of a container name,
/// which Docker restricts to `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn check_name_part(v: &str) -> Result<(), String> {
    let mut chars = v.chars();
    match chars.next() {
        None => return Err("must not be empty".into()),
        Some(c) if !c.is_ascii_alphanumeric() => {
            return Err(format!(
                "{v:?} must start with a letter or digit (Docker container names allow [a-zA-Z0-9][a-zA-Z0-9_.-]*)"
            ))
        }
        _ => {}
    }
    if let Some(bad) = v.chars().find(|c| !(c.is_ascii_alphanumeric() || "_.-".contains(*c))) {
        return Err(format!(
            "{v:?} contains {bad:?}; Docker container names allow only letters, digits, '_', '.' and '-'"
        ));
    }
    Ok(())
}

/// A version is a Docker tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn check_version(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err("the version must not be empty".into());
    }
    if v.len() > 128 {
        return Err(format!("the version {v:?} is longer than Docker's 128-character tag limit"));
    }
    let first = v.chars().next().unwrap_or('-');
    if !(first.is_ascii_alphanumeric() || first == '_') {
        return Err(format!("the version {v:?} must start with a letter, digit or '_' (Docker tag rules)"));
    }
    if let Some(bad) = v.chars().find(|c| !(c.is_ascii_alphanumeric() || "_.-".contains(*c))) {
        return Err(format!(
            "the version {v:?} contains {bad:?}; Docker tags allow only letters, digits, '_', '.' and '-'"
        ));
    }
    Ok(())
}

fn is_path_component(c: &str) -> bool {
    // [a-z0-9]+ separated by '.', '_', '__' or runs of '-'
    !c.is_empty()
        && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && c.as_bytes()[0].is_ascii_alphanumeric()
        && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
}

/// A registry address: `host[:port]`.
pub fn check_registry_host(v: &str) -> Result<(), String> {
    let (host, port) = match v.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (v, None),
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u32>().map_or(true, |n| n > 65535) {
            return Err(format!("{v:?} has an invalid port {p:?}"));
        }
    }
    check_host(host).map_err(|e| format!("{v:?} is not a registry address: {e}"))
}

/// An image repository without tag: `[registry/]path/name`, lowercase.
pub fn check_image(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err("must not be empty".into());
    }
    if v.contains('@') || v.rsplit('/').next().is_some_and(|last| last.contains(':')) {
        return Err(format!(
            "{v:?} carries a tag or digest; give the repository only (baton adds the version as the tag)"
        ));
    }
    let parts: Vec<&str> = v.split('/').collect();
    let mut rest = &parts[..];
    if parts.len() > 1 && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost") {
        check_registry_host(parts[0])?;
        rest = &parts[1..];
    }
    for p in rest {
        if !is_path_component(p) {
            return Err(format!(
                "{v:?} is not a valid image name: {p:?} must be lowercase letters and digits, separated by '.', '_' or '-'"
            ));
        }
    }
    Ok(())
}

fn is_ipv4(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u16>().is_ok_and(|n| n <= 255)
        })
}

fn is_ipv6(v: &str) -> bool {
    v.parse::<core::net::Ipv6Addr>().is_ok()
}

/// A host: a DNS name, an IPv4 or an IPv6 address (no port).
pub fn check_host(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err("a host must not be empty".into());
    }
    if is_ipv4(v) || is_ipv6(v) {
        return Ok(());
    }
    if v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!("{v:?} is not a valid IPv4 address"));
    }
    if v.len() > 253 {
        return Err(format!("{v:?} is longer than 253 characters"));
    }
    for label in v.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!(
                "{v:?} is not a valid host name (letters, digits and '-' in dot-separated labels, or an IP address)"
            ));
        }
    }
    Ok(())
}

/// A host as written in `servers:`, with the SSH port it names, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostSpec {
    /// What SSH connects to: a DNS name, an IPv4 or an IPv6 address.
    pub address: String,
    /// `host:port` or `[IPv6]:port`; None: `ssh.port`.
    pub port: Option<u16>,
}

fn port_number(host: &str, p: &str) -> Result<u16, String> {
    match p.parse::<u16>() {
        Ok(n) if n >= 1 && p.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(format!("{host:?} has the port {p:?}; a port is a number from 1 to 65535")),
    }
}

/// Read a host as SSHKit reads it: `host`, `host:port`, `[IPv6]:port`, or
/// a bare IPv6 address (which baton reads as an address, not as host:port).
pub fn parse_host(v: &str) -> Result<HostSpec, String> {
    if v.contains('@') {
        return Err(format!("{v:?}: a user in the host (user@host) is not supported; set ssh.user instead"));
    }
    if let Some(rest) = v.strip_prefix('[') {
        let (addr, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("{v:?} opens '[' without closing it; write an IPv6 address as [address]:port"))?;
        if !is_ipv6(addr) {
            return Err(format!("{v:?}: {addr:?} between brackets is not an IPv6 address"));
        }
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(p) => Some(port_number(v, p)?),
                None => return Err(format!("{v:?} has {after:?} after the address; write [address]:port")),
            },
        };
        return Ok(HostSpec { address: addr.to_string(), port });
    }
    match v.matches(':').count() {
        0 => check_host(v).map(|()| HostSpec { address: v.to_string(), port: None }),
        1 => {
            let (host, p) = v.split_once(':').expect("one ':'");
            let port = port_number(v, p)?;
            if host.is_empty() {
                return Err(format!("{v:?} has a port but no host; write host:port"));
            }
            check_host(host).map(|()| HostSpec { address: host.to_string(), port: Some(port) })
        }
        _ if is_ipv6(v) => Ok(HostSpec { address: v.to_string(), port: None }),
        _ => Err(format!(
            "{v:?} is neither host:port nor an IPv6 address; write a port as host:port, and an IPv6 address with a port as [address]:port"
        )),
    }
}

/// A key of a label or environment variable: no '=', no control characters.
pub fn check_key(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err("a key must not be empty".into());
    }
    if v.contains('=') {
        return Err(format!("{v:?} must not contain '='"));
    }
    if v.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!("{v:?} must not contain spaces or control characters"));
    }
    Ok(())
}

/// A Docker option name given under a role's `options:` (becomes `--name`).
pub fn check_option_name(v: &str) -> Result<(), String> {
    let ok = !v.is_empty()
        && v.as_bytes()[0].is_ascii_alphanumeric()
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!("{v:?} is not a Docker option name (letters, digits and '-')"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name_part("app").is_ok());
        assert!(check_name_part("my_app.v2-x").is_ok());
        assert!(check_name_part("-app").is_err());
        assert!(check_name_part("a b").is_err());
        assert!(check_name_part("").is_err());
    }

    #[test]
    fn versions() {
        assert!(check_version("v1").is_ok());
        assert!(check_version("abc123_uncommitted_0123456789abcdef").is_ok());
        assert!(check_version("-rf").is_err());
        assert!(check_version("v1;ls").is_err());
        assert!(check_version(&"a".repeat(129)).is_err());
    }

    #[test]
    fn images() {
        assert!(check_image("app").is_ok());
        assert!(check_image("dhh/app").is_ok());
        assert!(check_image("10.231.0.1:5000/baton-testapp").is_ok());
        assert!(check_image("registry.example.com/team/app").is_ok());
        assert!(check_image("App").is_err());
        assert!(check_image("app:v1").is_err());
        assert!(check_image("app/").is_err());
    }

    #[test]
    fn hosts() {
        assert!(check_host("10.231.0.11").is_ok());
        assert!(check_host("web-1.example.com").is_ok());
        assert!(check_host("::1").is_ok());
        assert!(check_host("300.1.1.1").is_err());
        assert!(check_host("-oProxyCommand=x").is_err());
        assert!(check_host("a b").is_err());
        assert!(check_host("host_1").is_err());
        assert!(check_host("db1:22").is_err(), "not an IPv6 address");
    }

    #[test]
    fn hosts_with_ports_as_sshkit_reads_them() {
        let spec = |a: &str, p: Option<u16>| Ok(HostSpec { address: a.into(), port: p });
        assert_eq!(parse_host("192.0.2.12:2222"), spec("192.0.2.12", Some(2222)));
        assert_eq!(parse_host("db1:22"), spec("db1", Some(22)));
        assert_eq!(parse_host("web-1.example.com"), spec("web-1.example.com", None));
        assert_eq!(parse_host("[2001:db8::1]:2222"), spec("2001:db8::1", Some(2222)));
        assert_eq!(parse_host("[::1]"), spec("::1", None));
        assert_eq!(parse_host("2001:db8::1"), spec("2001:db8::1", None));
        assert_eq!(parse_host(":").unwrap_err(), "\":\" has the port \"\"; a port is a number from 1 to 65535");
        assert_eq!(parse_host(":22").unwrap_err(), "\":22\" has a port but no host; write host:port");
        assert_eq!(
            parse_host("1.2.3.4:5:6").unwrap_err(),
            "\"1.2.3.4:5:6\" is neither host:port nor an IPv6 address; write a port as host:port, and an IPv6 address with a port as [address]:port"
        );
        assert!(parse_host("h:0").is_err());
        assert!(parse_host("h:70000").is_err());
        assert!(parse_host("h:+22").is_err());
        assert!(parse_host("[::1]2222").is_err());
        assert!(parse_host("[db1]:22").is_err());
        assert!(parse_host("deploy@h").is_err());
    }
}
