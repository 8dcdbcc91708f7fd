//! rolegate: a self-hosted, STS-style temporary credential broker.
//!
//! Workloads holding X.509 certificates from an organisation's PKI trade them for short-lived,
//! SigV4-compatible AWS-style credentials for a role — the exchange AWS IAM Roles Anywhere
//! does — and chain into further roles through an STS-compatible API. One binary is the daemon
//! and the client-side helper.
//!
//! # Architecture
//!
//! A pure core of domain types and decisions, thin wire edges, and runtime wiring kept apart:
//!
//! - **Pure core** (no I/O; time passed in):
//!   - [`arn`]: ARN newtypes (roles, trust anchors, profiles, managed policies).
//!   - [`identity`]: trust anchors, CRLs, chain verification (rustls-webpki), certificate
//!     rules and the attributes that become principal tags (as a profile's attribute
//!     mappings choose).
//!   - [`policy`]: IAM policy documents parsed into typed statements and evaluated with
//!     explicit-deny-wins semantics, every condition operator, qualifiers and variables.
//!   - [`sigv4`]: AWS Signature V4 (canonical request, string to sign, HMAC verification,
//!     presigned URLs) and the Roles Anywhere AWS4-X509 variant, verification and signing.
//!   - [`session`]: duration rules, session claims, sealed self-contained tokens (AEAD,
//!     key ring), credential minting.
//! - **Decisions over configuration**: [`config`] validates the TOML file into an immutable
//!   snapshot (and `config::succession` what a reload may not take away from the one in
//!   force: revocations, token keys, a usable server certificate); [`broker`] runs CreateSession (and the other operations) against the snapshot
//!   in force, with bounded moka caches invalidated on reload.
//! - **Wire edges**: [`service`] parses the Roles Anywhere REST, STS Query and gRPC formats,
//!   calls the broker, and renders its one error type ([`error`]: what went wrong, the
//!   broker's vocabulary, with each wire's code for it) in each format.
//! - **Runtime**: [`state`] (what every request shares; reload), [`server`] (TLS listener,
//!   connection limits and idle timeout, PROXY protocol, operations listener, reload on SIGHUP
//!   and on changed files, warnings of certificates and CRLs running out while in force,
//!   graceful shutdown, systemd readiness), [`ratelimit`] (admission: rate limits and
//!   request shares), [`receiving`] (requests whose body is still arriving), [`slots`] (the resizable request and connection limits), [`metrics`],
//!   [`audit`] (one event per decision),
//!   [`logging`] (batched log output), [`cli`] (the command line), [`dev`] (`serve --dev`),
//!   [`pki`] (rcgen certificate factory: `rolegate certs`, a deployment's first PKI, dev and
//!   tests), `tls` (the rustls
//!   verifier the client and the server share), [`fsutil`] (private files, atomic writes),
//!   [`process`] (no core dumps of the processes that hold secrets).
//! - **Client side**, in the same binary: [`client`] (HTTPS and gRPC clients of rolegate's
//!   APIs, directly or through an HTTP proxy), [`helper`] (`credential-process`, `sidecar`,
//!   `update`: what workloads run, with keys in files or on a PKCS#11 token),
//!   [`explain`] (`explain` and `simulate`: the broker's decisions replayed offline, traced),
//!   [`bench`](mod@bench) (`rolegate bench`, the load generator). `fuzzing` holds the harnesses the fuzz
//!   targets and the property tests share.
//!
//! The crate's documentation is written for its developers: read it with
//! `cargo doc --no-deps --document-private-items`, which links the private items it names.
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]
#![allow(rustdoc::private_intra_doc_links)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod arn;
pub mod audit;
pub mod bench;
pub mod broker;
pub mod cli;
pub mod client;
pub mod config;
pub mod dev;
pub mod error;
pub mod explain;
pub mod fsutil;
#[doc(hidden)]
pub mod fuzzing;
pub mod helper;
pub mod identity;
pub mod logging;
pub mod metrics;
pub mod pki;
pub mod policy;
pub mod process;
pub mod ratelimit;
pub mod receiving;
pub mod server;
pub mod service;
pub mod session;
pub mod sigv4;
pub mod slots;
pub mod state;
mod tls;

/// Code generated from `proto/rolegate/v1/*.proto`.
pub mod proto {
    tonic::include_proto!("rolegate.v1");

    /// Encoded file descriptor set, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("rolegate_v1_descriptor");
}
