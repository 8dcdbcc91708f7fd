//! The names a signed request may be addressed to. SigV4 signs the `host` header, but a
//! signature only binds a request to a server that checks it: AWS's front ends route on the
//! name, so a request signed for one endpoint never reaches another. rolegate compares the
//! signed `host` with [`ServerNames`] — by default the names of its TLS certificate, which are
//! the names clients verify it by — so that a request captured on its way to one deployment
//! (a TLS-terminating proxy, a mistyped endpoint, a staging server) cannot be replayed to
//! another within its five minutes.

use std::net::IpAddr;

/// The names this server answers to: DNS names (a leading `*.` matches one label, as in a
/// certificate), IP addresses, or any name at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerNames {
    names: Vec<ServerName>,
    any: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum ServerName {
    /// Lowercase, without a final dot; `*.rest` for a wildcard.
    Dns(String),
    Ip(IpAddr),
}

impl ServerNames {
    /// Every name: the caller compares the host itself (`VerifyRequest` checks a request
    /// addressed to the calling platform, not to rolegate).
    pub const ANY: ServerNames = ServerNames {
        names: Vec::new(),
        any: true,
    };

    /// [`ServerNames::ANY`], borrowed for as long as needed.
    pub fn anywhere() -> &'static ServerNames {
        static ANYWHERE: ServerNames = ServerNames::ANY;
        &ANYWHERE
    }

    /// `names`, each a DNS name (`*.` for a wildcard label), an IP address, or `*` for any
    /// name; the first that is none of these is the error.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<ServerNames, String> {
        let mut out = ServerNames {
            names: Vec::new(),
            any: false,
        };
        for name in names {
            if name == "*" {
                out.any = true;
            } else if let Some(ip) = parse_ip(name) {
                out.names.push(ServerName::Ip(ip));
            } else if is_dns_name(name.strip_prefix("*.").unwrap_or(name)) {
                out.names.push(ServerName::Dns(normalized_dns(name)));
            } else {
                return Err(name.to_owned());
            }
        }
        Ok(out)
    }

    /// Whether no name is listed (and not `*`): nothing would be admitted.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && !self.any
    }

    /// The names as configured (normalized), for summaries and messages.
    pub fn describe(&self) -> String {
        if self.any {
            return "any name".to_owned();
        }
        let names: Vec<String> = self
            .names
            .iter()
            .map(|n| match n {
                ServerName::Dns(dns) => dns.clone(),
                ServerName::Ip(ip) => ip.to_string(),
            })
            .collect();
        names.join(", ")
    }

    /// Whether a `Host` header value (`name`, `name:port`, `[v6]` or `[v6]:port`) names this
    /// server; the port is not compared (a proxy or a port mapping may change it).
    pub fn admits(&self, host: &str) -> bool {
        if self.any {
            return true;
        }
        let name = without_port(host);
        match parse_ip(name) {
            Some(ip) => self.names.contains(&ServerName::Ip(ip)),
            None => {
                let name = name.strip_suffix('.').unwrap_or(name);
                self.names.iter().any(|n| match n {
                    ServerName::Dns(listed) => dns_matches(listed, name),
                    ServerName::Ip(_) => false,
                })
            }
        }
    }
}

/// `host` without its `:port`; a bracketed IPv6 address without its brackets.
fn without_port(host: &str) -> &str {
    if let Some(bracketed) = host.strip_prefix('[') {
        return bracketed.split_once(']').map_or(host, |(v6, _)| v6);
    }
    match host.rsplit_once(':') {
        // One colon: `name:port`. More: an IPv6 address without brackets (no port).
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

fn parse_ip(text: &str) -> Option<IpAddr> {
    text.strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text)
        .parse()
        .ok()
}

/// Lowercase, without a final dot (`example.com.` names `example.com`).
fn normalized_dns(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// Letters, digits and hyphens in dot-separated labels of 1 to 63 characters, 253 in all
/// (RFC 1035 §2.3.4, with RFC 1123's leading digits and `_` as some internal names have).
fn is_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// RFC 6125 §6.4.3 as certificates use it: `*.rest` matches one label before `rest`; names
/// compare without regard to ASCII case (`listed` is lowercase already).
fn dns_matches(listed: &str, name: &str) -> bool {
    match listed.strip_prefix("*.") {
        Some(rest) => name
            .split_once('.')
            .is_some_and(|(label, after)| !label.is_empty() && after.eq_ignore_ascii_case(rest)),
        None => listed.eq_ignore_ascii_case(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_is_admitted_by_name_or_address_whatever_its_port() {
        let names = ServerNames::new(["rolegate.internal", "*.corp.example", "10.0.0.5", "::1"]).unwrap();
        for host in [
            "rolegate.internal",
            "ROLEGATE.internal:8443",
            "rolegate.internal.",
            "sts.corp.example:443",
            "10.0.0.5:8443",
            "[::1]:8443",
            "[::1]",
            "::1",
        ] {
            assert!(names.admits(host), "{host}");
        }
        for host in [
            "staging.internal",
            "corp.example",
            "a.b.corp.example",
            "10.0.0.6:8443",
            "[::2]:8443",
            "rolegate.internal.evil.example",
            "",
        ] {
            assert!(!names.admits(host), "{host}");
        }
        assert!(ServerNames::ANY.admits("anything:1"));
        assert!(ServerNames::new(["*"]).unwrap().admits("staging.internal"));
        assert_eq!(names.describe(), "rolegate.internal, *.corp.example, 10.0.0.5, ::1");
    }

    #[test]
    fn names_that_are_no_host_are_refused() {
        for bad in [
            "",
            "a..b",
            "-/x",
            "exa mple",
            "*.",
            "a.*.b",
            "host:8443",
            &"a".repeat(64),
        ] {
            assert_eq!(ServerNames::new([bad]), Err(bad.to_owned()), "{bad}");
        }
        assert!(ServerNames::new(Vec::<&str>::new()).unwrap().is_empty());
    }
}
