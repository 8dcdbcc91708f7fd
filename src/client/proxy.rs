//! `--with-proxy`: whether a helper reaches its endpoint through an HTTP proxy, decided from the
//! environment as `aws_signing_helper --with-proxy` does (Go's `http.ProxyFromEnvironment`):
//! `HTTPS_PROXY` (else `https_proxy`) names the proxy, `NO_PROXY` (else `no_proxy`) the hosts
//! reached directly, and a loopback endpoint is never proxied. The rules are pure functions of
//! the endpoint and the variables; the tunnel is hyper-util's HTTP CONNECT connector, and the
//! `NO_PROXY` matching hyper-util's (curl's rules).

use std::fmt;
use std::net::IpAddr;

use http::{HeaderValue, Uri};
use hyper_util::client::proxy::matcher::Matcher;

/// How a client reaches its endpoint.
#[derive(Clone, Debug)]
pub enum Route {
    Direct(Direct),
    Proxy(Proxy),
}

/// Why a client goes to its endpoint directly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direct {
    /// `--with-proxy` was not given: proxy variables are ignored, as by `aws_signing_helper`.
    NotAsked,
    /// `--with-proxy`, but neither `HTTPS_PROXY` nor `https_proxy` is set.
    NoProxySet,
    /// The endpoint is `localhost` or a loopback address, which no proxy can reach for us.
    Loopback,
    /// `NO_PROXY` lists the endpoint's host.
    Excluded,
}

/// An HTTP CONNECT proxy.
#[derive(Clone)]
pub struct Proxy {
    /// `scheme://host:port/`, without the credentials.
    pub uri: Uri,
    /// `Basic` credentials from the user information of the proxy's URL.
    pub authorization: Option<HeaderValue>,
    /// The variable that named it.
    pub variable: &'static str,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("uri", &self.uri)
            .field("authorization", &self.authorization.as_ref().map(|_| "<redacted>"))
            .field("variable", &self.variable)
            .finish()
    }
}

impl fmt::Display for Route {
    /// How the endpoint is reached, for `--debug` and error messages; never the credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Proxy(p) => write!(
                f,
                "through proxy {}://{} ({})",
                p.uri.scheme_str().unwrap_or("http"),
                p.uri.authority().map_or("", |a| a.as_str()),
                p.variable
            ),
            Route::Direct(why) => f.write_str(match why {
                Direct::NotAsked => "directly",
                Direct::NoProxySet => "directly (--with-proxy, but HTTPS_PROXY is not set)",
                Direct::Loopback => "directly (a loopback endpoint is never proxied)",
                Direct::Excluded => "directly (NO_PROXY lists its host)",
            }),
        }
    }
}

impl Route {
    /// Going directly without `--with-proxy`.
    pub const DIRECT: Route = Route::Direct(Direct::NotAsked);

    /// What a message about the endpoint adds: ` through proxy …`, or nothing when direct.
    pub fn via(&self) -> String {
        match self {
            Route::Proxy(_) => format!(" {self}"),
            Route::Direct(_) => String::new(),
        }
    }

    /// The proxy, if this route has one.
    pub fn proxy(&self) -> Option<&Proxy> {
        match self {
            Route::Proxy(p) => Some(p),
            Route::Direct(_) => None,
        }
    }
}

/// The route to the HTTPS `endpoint`: with `with_proxy`, per the proxy variables `env` reads
/// (`std::env::var` in the helpers). A variable set to an empty value counts as unset, as in
/// Go. An error names the variable, never its value (it may hold a password).
pub fn route(endpoint: &Uri, with_proxy: bool, env: impl Fn(&str) -> Option<String>) -> Result<Route, String> {
    if !with_proxy {
        return Ok(Route::DIRECT);
    }
    let first_set = |names: [&'static str; 2]| {
        names
            .into_iter()
            .find_map(|name| env(name).filter(|v| !v.is_empty()).map(|v| (name, v)))
    };
    let Some((variable, value)) = first_set(["HTTPS_PROXY", "https_proxy"]) else {
        return Ok(Route::Direct(Direct::NoProxySet));
    };
    check_proxy_scheme(variable, &value)?;
    let host = endpoint.host().unwrap_or_default();
    if is_loopback(host) {
        return Ok(Route::Direct(Direct::Loopback));
    }
    let Some(intercept) = Matcher::builder().https(value.as_str()).build().intercept(endpoint) else {
        return Err(format!(
            "{variable} is not a proxy URL (expected http://host:port, optionally with user:password@)"
        ));
    };
    let no_proxy = first_set(["NO_PROXY", "no_proxy"]).map(|(_, v)| v).unwrap_or_default();
    let excluded = Matcher::builder()
        .https(value.as_str())
        .no(no_proxy)
        .build()
        .intercept(endpoint)
        .is_none();
    if excluded {
        return Ok(Route::Direct(Direct::Excluded));
    }
    Ok(Route::Proxy(Proxy {
        uri: intercept.uri().clone(),
        authorization: intercept.basic_auth().cloned(),
        variable,
    }))
}

/// A proxy URL's scheme must be one rolegate speaks: `http` or `https` (CONNECT), or none
/// (`host:port`, meaning `http`, as in Go). Go's `socks5` is refused by name.
fn check_proxy_scheme(variable: &str, value: &str) -> Result<(), String> {
    let scheme = value.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        None | Some("http" | "https") => Ok(()),
        Some(other) if other.starts_with("socks") => Err(format!(
            "{variable} names a {other} proxy: rolegate reaches proxies with HTTP CONNECT only (http:// or https://)"
        )),
        Some(_) => Err(format!(
            "{variable} is not a proxy URL (expected http://host:port, optionally with user:password@)"
        )),
    }
}

/// `localhost` or a loopback address (`127.0.0.0/8`, `::1`, `::ffff:127.x.y.z`), as Go's
/// `useProxy` tests: a proxy would reach its own loopback, not ours.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost") || bare.parse::<IpAddr>().is_ok_and(|ip| ip.to_canonical().is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route_with(endpoint: &str, vars: &[(&str, &str)]) -> Result<Route, String> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        route(&endpoint.parse().unwrap(), true, |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn without_with_proxy_the_variables_are_ignored() {
        let r = route(&"https://rolegate.corp:8443".parse().unwrap(), false, |_| {
            Some("http://proxy.corp:3128".into())
        })
        .unwrap();
        assert!(matches!(r, Route::Direct(Direct::NotAsked)), "{r:?}");
        assert_eq!(r.to_string(), "directly");
    }

    #[test]
    fn https_proxy_names_the_proxy_and_its_credentials_stay_out_of_the_text() {
        let r = route_with(
            "https://rolegate.corp:8443",
            &[("HTTPS_PROXY", "http://alice:s3cr%40t@proxy.corp:3128")],
        )
        .unwrap();
        let p = r.proxy().unwrap();
        assert_eq!(p.uri, "http://proxy.corp:3128/");
        assert_eq!(p.authorization.as_ref().unwrap(), "Basic YWxpY2U6czNjckB0");
        assert_eq!(r.to_string(), "through proxy http://proxy.corp:3128 (HTTPS_PROXY)");
        assert!(!format!("{r:?}").contains("YWxp"), "{r:?}");
    }

    #[test]
    fn the_upper_case_variable_wins_and_an_empty_one_counts_as_unset() {
        let r = route_with(
            "https://rolegate.corp",
            &[("HTTPS_PROXY", ""), ("https_proxy", "proxy.corp:8080")],
        )
        .unwrap();
        assert_eq!(r.to_string(), "through proxy http://proxy.corp:8080 (https_proxy)");
        let r = route_with(
            "https://rolegate.corp",
            &[("HTTPS_PROXY", "https://a.corp:1"), ("https_proxy", "http://b.corp:2")],
        )
        .unwrap();
        assert_eq!(r.to_string(), "through proxy https://a.corp:1 (HTTPS_PROXY)");
        // HTTP_PROXY is for http:// requests; ALL_PROXY is curl's, not Go's.
        let r = route_with(
            "https://rolegate.corp",
            &[("HTTP_PROXY", "http://a.corp:1"), ("ALL_PROXY", "http://b.corp:2")],
        )
        .unwrap();
        assert!(matches!(r, Route::Direct(Direct::NoProxySet)), "{r:?}");
    }

    #[test]
    fn loopback_endpoints_and_no_proxy_hosts_go_directly() {
        let proxy = ("HTTPS_PROXY", "http://proxy.corp:3128");
        for endpoint in [
            "https://localhost:8443",
            "https://127.0.0.1:8443",
            "https://127.9.9.9",
            "https://[::1]:8443",
            "https://[::ffff:127.0.0.1]:8443",
            "https://LocalHost",
        ] {
            let r = route_with(endpoint, &[proxy]).unwrap();
            assert!(matches!(r, Route::Direct(Direct::Loopback)), "{endpoint}: {r:?}");
        }
        for (no_proxy, endpoint) in [
            ("rolegate.corp", "https://rolegate.corp:8443"),
            (".corp", "https://rolegate.corp"),
            ("corp", "https://rolegate.corp"),
            ("10.0.0.0/8", "https://10.1.2.3:8443"),
            ("example.org, rolegate.corp", "https://rolegate.corp"),
            ("*", "https://rolegate.corp"),
        ] {
            let r = route_with(endpoint, &[proxy, ("no_proxy", no_proxy)]).unwrap();
            assert!(
                matches!(r, Route::Direct(Direct::Excluded)),
                "{no_proxy} {endpoint}: {r:?}"
            );
        }
        let r = route_with("https://rolegate.corp", &[proxy, ("NO_PROXY", "other.corp,10.0.0.0/8")]).unwrap();
        assert!(r.proxy().is_some(), "{r:?}");
    }

    #[test]
    fn a_proxy_rolegate_cannot_speak_is_refused_without_echoing_the_value() {
        let e = route_with(
            "https://rolegate.corp",
            &[("HTTPS_PROXY", "socks5://bob:pw@proxy.corp:1080")],
        )
        .unwrap_err();
        assert_eq!(
            e,
            "HTTPS_PROXY names a socks5 proxy: rolegate reaches proxies with HTTP CONNECT only (http:// or https://)"
        );
        for bad in ["ftp://proxy.corp", "http://", "http://pw@:3128 x"] {
            let e = route_with("https://rolegate.corp", &[("https_proxy", bad)]).unwrap_err();
            assert_eq!(
                e, "https_proxy is not a proxy URL (expected http://host:port, optionally with user:password@)",
                "{bad}"
            );
        }
    }
}
