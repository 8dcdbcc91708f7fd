//! A server endpoint as the clients take it (`--endpoint`): `https://host[:port]`, or a bare
//! `host[:port]` as aws_signing_helper's SDK takes it. rolegate answers at the root of its
//! host, so an endpoint has no path, query, fragment or user information: each would be sent
//! (or signed) where the server does not expect it, and is refused before any request.

use http::Uri;
use http::uri::Authority;

/// `--endpoint` with `https://` before a bare `host[:port]`.
pub fn with_scheme(endpoint: &str) -> String {
    match endpoint.contains("://") {
        true => endpoint.to_owned(),
        false => format!("https://{endpoint}"),
    }
}

/// Why an endpoint is refused, as the error shows it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid endpoint '{shown}': {reason}")]
pub struct EndpointError {
    /// The endpoint without any user information (which may hold a password).
    shown: String,
    reason: &'static str,
}

const EXPECTED: &str = "expected https://host[:port]";

/// A checked endpoint.
pub struct Endpoint {
    /// `https://host[:port]`, without a trailing `/`.
    pub url: String,
    /// `host[:port]`: what the client connects to and signs as `host`.
    pub authority: Authority,
    /// The endpoint as parsed.
    pub uri: Uri,
}

/// The `https://host[:port]` endpoint `endpoint` names (a trailing `/` allowed).
pub fn parse(endpoint: &str) -> Result<Endpoint, EndpointError> {
    let refuse = |reason| EndpointError {
        shown: without_user_information(endpoint),
        reason,
    };
    if endpoint.contains('#') {
        return Err(refuse(
            "a fragment (#…) has no place in an endpoint: expected https://host[:port]",
        ));
    }
    let uri: Uri = endpoint.parse().map_err(|_| refuse(EXPECTED))?;
    if uri.scheme_str() != Some("https") {
        return Err(refuse("rolegate is served over TLS only: expected https://host[:port]"));
    }
    let Some(authority) = uri.authority().cloned() else {
        return Err(refuse(EXPECTED));
    };
    if authority.as_str().contains('@') {
        return Err(refuse(
            "user information (user@) has no place in an endpoint: requests are signed, not logged in",
        ));
    }
    if uri.query().is_some() {
        return Err(refuse(
            "a query (?…) has no place in an endpoint: expected https://host[:port]",
        ));
    }
    if !matches!(uri.path(), "" | "/") {
        return Err(refuse(
            "rolegate answers at the root of its host, so an endpoint has no path: expected https://host[:port]",
        ));
    }
    Ok(Endpoint {
        url: format!("https://{authority}"),
        authority,
        uri,
    })
}

/// `endpoint` without the user information of its authority, if any.
fn without_user_information(endpoint: &str) -> String {
    let (scheme, rest) = endpoint.split_once("://").unwrap_or(("", endpoint));
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    match scheme.is_empty() {
        true => format!("{host}{tail}"),
        false => format!("{scheme}://{host}{tail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_is_a_scheme_and_an_authority() {
        for (given, normal) in [
            ("https://rolegate.internal:8443", "https://rolegate.internal:8443"),
            ("https://rolegate.internal:8443/", "https://rolegate.internal:8443"),
            ("https://[::1]:8443", "https://[::1]:8443"),
            ("https://10.0.0.5", "https://10.0.0.5"),
        ] {
            assert_eq!(parse(given).map(|e| e.url), Ok(normal.to_owned()), "{given}");
        }
        assert_eq!(with_scheme("10.0.0.5:8443"), "https://10.0.0.5:8443");
        assert_eq!(with_scheme("https://h"), "https://h");
    }

    #[test]
    fn anything_else_in_an_endpoint_is_refused_with_its_reason() {
        let reason = |e: &str| parse(e).err().unwrap().to_string();
        assert_eq!(
            reason("https://h:8443?x=1"),
            "invalid endpoint 'https://h:8443?x=1': a query (?…) has no place in an endpoint: expected https://host[:port]"
        );
        assert!(reason("https://h:8443#f").contains("a fragment (#…)"));
        assert_eq!(
            reason("https://h:8443/prefix"),
            "invalid endpoint 'https://h:8443/prefix': rolegate answers at the root of its host, so an endpoint has no path: expected https://host[:port]"
        );
        assert!(reason("http://h:8443").contains("served over TLS only"));
        assert!(reason("https://").contains(EXPECTED));
        // The password of user information is never shown.
        let e = reason("https://user:hunter2@h:8443/x");
        assert_eq!(
            e,
            "invalid endpoint 'https://h:8443/x': user information (user@) has no place in an endpoint: requests are signed, not logged in"
        );
    }
}
