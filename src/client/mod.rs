//! `rolegate::client`: the client side of rolegate's APIs, used by the credential helpers,
//! the load generator and the tests. HTTPS via hyper + rustls with the system roots plus an
//! optional CA bundle, directly or (`--with-proxy`) through an HTTP CONNECT proxy.

pub mod endpoint;
pub mod grpc;
pub mod proxy;
mod roles_anywhere;
mod session_check;
mod tls;

pub use roles_anywhere::{
    ClientError, CreateSessionParams, RolesAnywhereClient, SessionCredentials, X509Signer, is_visible_ascii,
    parse_create_session_answer, signed_create_session,
};
pub use session_check::SessionCheck;
pub use tls::{TlsOptions, client_config};

/// `e` and its sources joined with ": ", leaving out a source whose text is already in the
/// message (hyper's and tonic's errors often repeat their source's text).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = inner.source();
    }
    message
}

/// Why a connection to the server failed: [`error_chain`], with what to check for the
/// failures users meet when they first point a client at a server.
fn transport_message(e: &(dyn std::error::Error + 'static)) -> String {
    use rustls::CertificateError as Cert;
    let causes = std::iter::successors(Some(e), |e| e.source());
    let hint = causes
        .filter_map(|cause| {
            // hyper-util's tunnel error is not exported: known by its text.
            match cause.to_string().as_str() {
                "tunnel error: failed to create underlying connection" => {
                    return Some(" (is the proxy running, and listening on that address and port?)");
                }
                "tunnel error: proxy authorization required" => {
                    return Some(
                        " (the proxy asks for credentials: give them in the proxy's URL, http://user:password@host:port)",
                    );
                }
                "tunnel error: unsuccessful" => {
                    return Some(
                        " (the proxy refused to open a tunnel to the endpoint: does it allow CONNECT to that host and port?)",
                    );
                }
                _ => {}
            }
            // An I/O error's `source` skips the error it wraps, and connectors wrap I/O errors
            // in I/O errors: unwrap them all.
            let mut tls: &dyn std::error::Error = cause;
            while let Some(io) = tls.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::ConnectionRefused {
                    return Some(" (is the server running, and listening on that address and port?)");
                }
                // tokio-rustls: the server closed the connection before answering the hello.
                if io.kind() == std::io::ErrorKind::UnexpectedEof && io.to_string() == "tls handshake eof" {
                    return Some(
                        " (the server closed the connection before TLS began: rolegate does so to a client address \
                         over its connection limits, rate_limit_connections_per_ip or max_connections_per_ip, which \
                         its rolegate_connections_refused_total counts; or the port expects a PROXY protocol header, \
                         or is not rolegate's)",
                    );
                }
                match io.get_ref() {
                    Some(inner) => tls = inner,
                    None => break,
                }
            }
            match tls.downcast_ref::<rustls::Error>()? {
                rustls::Error::InvalidCertificate(Cert::UnknownIssuer) => Some(
                    " (the server's certificate is not issued by a CA this client trusts: give that CA with --ca-bundle \
                     (AWS_CA_BUNDLE is not read, as aws_signing_helper does not read it), or check that the bundle \
                     given holds it)",
                ),
                rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => Some(
                    " (the server did not answer in TLS: is this a plain-HTTP port, such as the daemon's metrics_listen?)",
                ),
                rustls::Error::InvalidCertificate(Cert::NotValidForName | Cert::NotValidForNameContext { .. }) => {
                    Some(" (the server's certificate does not name the endpoint's host: use a name it was issued for)")
                }
                _ => None,
            }
        })
        .next()
        .unwrap_or("");
    error_chain(e) + hint
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn a_connection_closed_before_tls_is_explained() {
        let eof = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "tls handshake eof");
        let e = std::io::Error::other(eof);
        let message = transport_message(&e);
        assert!(
            message.starts_with("tls handshake eof (the server closed the connection before TLS began: "),
            "{message}"
        );
        assert!(
            message.contains("rate_limit_connections_per_ip or max_connections_per_ip"),
            "{message}"
        );
    }

    #[test]
    fn an_error_chain_names_each_cause_once() {
        let refused = || Some(Box::new(Layer("Connection refused (os error 111)", None)));
        let e = Layer(
            "transport error",
            Some(Box::new(Layer("Connection refused (os error 111)", refused()))),
        );
        assert_eq!(error_chain(&e), "transport error: Connection refused (os error 111)");
        let e = Layer(
            "client error (Connect)",
            Some(Box::new(Layer("tcp connect error", refused()))),
        );
        assert_eq!(
            error_chain(&e),
            "client error (Connect): tcp connect error: Connection refused (os error 111)"
        );
    }
}
