//! `rolegate::client`: the client side of rolegate's APIs, used by the credential helpers,
//! the load generator and the tests. HTTPS via hyper + rustls with the system roots plus an
//! optional CA bundle.

pub mod grpc;
mod roles_anywhere;
mod tls;

pub use roles_anywhere::{
    ClientError, CreateSessionParams, RolesAnywhereClient, SessionCredentials, X509Signer, parse_create_session_answer,
    signed_create_session,
};
pub use tls::{TlsOptions, client_config};
