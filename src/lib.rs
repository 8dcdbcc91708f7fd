//! rolegate: a self-hosted, STS-style temporary credential broker.
#![forbid(unsafe_code)]

pub mod arn;
pub mod identity;
pub mod pki;
pub mod policy;
pub mod session;
pub mod sigv4;
