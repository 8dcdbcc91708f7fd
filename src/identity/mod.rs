//! X.509 client identity for Roles Anywhere: trust anchors, client certificate parsing and
//! the leaf rules, chain verification (rustls-webpki) and the attributes AWS derives from a
//! certificate (principal tags, source identity, serial formats).
//!
//! Pure code: no I/O, the verification time is passed in. Typical use:
//! [`ClientCertificate::parse`] the `X-Amz-X509` leaf (needed before chain verification to
//! check the signature's Credential serial and public key), then [`verify_chain`] it with the
//! `X-Amz-X509-Chain` intermediates against the [`TrustAnchor`] named by the request.
//!
//! - `anchor.rs`: [`TrustAnchor`] (CA bundle + CRLs).
//! - `certificate.rs`: [`ClientCertificate`] and the issuer-independent leaf rules.
//! - `chain.rs`: [`verify_chain`] with webpki.
//! - `bundle_constraints.rs`: what the bundle's CA certificates constrain, which webpki —
//!   taking each as a bare trust anchor — leaves out.
//! - `crl_signatures.rs`: the anchor's CRL signatures, verified at load and not again per chain.
//! - `attributes.rs`: [`DistinguishedName`], principal tags, source identity, serials.
//! - `mapping.rs`: [`AttributeMapping`], a profile's choice among the principal tags.
//! - `error.rs`: [`AnchorError`], [`CertificateError`].

mod anchor;
mod attributes;
mod bundle_constraints;
mod certificate;
mod chain;
mod crl_signatures;
mod error;
mod mapping;
#[cfg(test)]
mod tests;

pub use anchor::{AnchorCertificate, CrlInfo, StaleCrls, TrustAnchor};
pub(crate) use attributes::distinguished_name;
pub(crate) use attributes::short_name_of;
pub use attributes::{DistinguishedName, format_serial_hex, source_identity};
pub use certificate::{
    CertificateNames, ClientCertificate, IssuerSerial, PublicKeyKind, certificate_names, mapped_tag_refusal,
};
pub use chain::{MAX_INTERMEDIATES, VerifiedChain, verify_chain, without_leaf};
pub use error::{AnchorError, CertificateError, Timestamp, pem_problem};
pub use mapping::{AttributeMapping, CertificateField};
