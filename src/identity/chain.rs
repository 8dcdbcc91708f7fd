//! Chain verification of a client certificate against a [`TrustAnchor`] with rustls-webpki.
//!
//! Rules (DESIGN §1, AWS
//! <https://docs.aws.amazon.com/rolesanywhere/latest/userguide/trust-model.html>):
//! at most [`MAX_INTERMEDIATES`] chain certificates besides the leaf; signatures SHA-256 or
//! stronger with RSA ≥ 2048 or ECDSA P-256/P-384 (webpki algorithm list below); validity at
//! the caller-supplied time; extended key usage `clientAuth` when the leaf has an EKU
//! extension (RFC 5280 §4.2.1.12); intermediates `CA:true` (webpki) with `keyCertSign`
//! (checked here, on each path webpki builds, so that another path is tried); the anchor's
//! CRLs for the whole chain, an issuer without a CRL meaning "not revoked", and a CRL past its
//! nextUpdate still honoured (AWS keeps imported CRLs until replaced) unless the anchor
//! refuses stale CRLs ([`StaleCrls::Refuse`]). The CRL
//! signatures the anchor verified at load are not verified again (`crl_signatures.rs`), and
//! each key of a CA re-keyed under its name is checked against its own CRL.

use std::cell::Cell;

use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, UnixTime};
use webpki::{
    CertRevocationList, EndEntityCert, ExpirationPolicy, KeyUsage, RevocationCheckDepth, RevocationOptions,
    RevocationOptionsBuilder, UnknownStatusPolicy, VerifiedPath,
};

use super::anchor::{AnchorGroup, StaleCrls, TrustAnchor};
use super::bundle_constraints::{AnchorConstraint, is_self_issued};
use super::certificate::{ClientCertificate, IssuerSerial, parse_der, parse_der_or_why, public_key};
use super::error::{CertificateError, Timestamp};

/// Maximum number of intermediate certificates accepted with a leaf.
pub const MAX_INTERMEDIATES: usize = 5;
// [`VerifiedChain::intermediates_used`] has a bit for each.
const _: () = assert!(MAX_INTERMEDIATES <= 8);

/// The outcome of a successful chain verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedChain {
    /// The earliest notAfter (Unix seconds) of the leaf, the intermediates used and the
    /// anchor certificate — and, when the anchor refuses stale CRLs, the nextUpdate of the
    /// CRLs that cover the chain: the verification result may be cached until then.
    pub not_after: i64,
    /// Which of the intermediates given the accepted path goes through: bit `i` for the
    /// `i`th (webpki builds the path from them, and checks revocation along it only).
    pub intermediates_used: u8,
    /// Those intermediates, named as CRLs name them, in the order they were sent: a session
    /// of the chain ends when a CRL of the anchor revokes one.
    pub intermediates_on_path: Vec<IssuerSerial>,
    /// The bundle certificates the path ends at when a CA of the bundle issued them
    /// ([`TrustAnchor::issued_listings_of`]): a session of the chain ends when a CRL of the
    /// anchor revokes every one.
    pub issued_anchor_listings: Vec<IssuerSerial>,
}

/// Verifies that `leaf` chains to `anchor` through (a subset of) `intermediates` at `now`.
pub fn verify_chain(
    anchor: &TrustAnchor,
    leaf: &ClientCertificate,
    intermediates: &[Vec<u8>],
    now: UnixTime,
) -> Result<VerifiedChain, CertificateError> {
    verify_chain_with(&SUPPORTED_SIGNATURE_ALGORITHMS, anchor, leaf, intermediates, now)
}

/// The chain without copies of the leaf. A "full chain" file (leaf first, then its issuers,
/// as cert-manager's `tls.crt` and ACME clients write it) given as the chain sends the leaf
/// again; a path builder never puts a certificate after itself, so a copy adds nothing
/// (OpenSSL, Go and Java ignore it) and is dropped instead of refused — by the REST edge
/// for any client, and by rolegate's own client before it sends the chain.
pub fn without_leaf(mut chain: Vec<Vec<u8>>, leaf: &[u8]) -> Vec<Vec<u8>> {
    chain.retain(|der| der.as_slice() != leaf);
    chain
}

/// Each certificate of a chain is sent once: a repeated one (of the leaf or of another
/// intermediate) adds nothing a path could use, only work for the path builder. The REST
/// header has its copies of the leaf dropped ([`without_leaf`]) and names its other repeats
/// earlier; the mTLS chain of a gRPC caller meets this rule here.
fn check_no_repeats(leaf: &[u8], intermediates: &[Vec<u8>]) -> Result<(), CertificateError> {
    for (i, der) in intermediates.iter().enumerate() {
        let of = if der.as_slice() == leaf {
            Some("the leaf certificate".to_owned())
        } else {
            intermediates
                .iter()
                .take(i)
                .position(|earlier| earlier == der)
                .map(|j| format!("intermediate certificate #{}", j + 1))
        };
        if let Some(of) = of {
            return Err(CertificateError::RepeatedChainCertificate { index: i + 1, of });
        }
    }
    Ok(())
}

/// The most paths from the leaf to an anchor certificate that a chain's names may allow.
///
/// webpki tries every path the names allow and checks a signature on each, from the anchor
/// down, so each path costs at least one signature check. Certificates that share a name
/// multiply the paths: five self-issued intermediates named like the anchor, which anyone
/// can make without a key of the PKI, allow 326, and webpki would spend its whole budget of
/// 100 signature checks on a request that costs its sender one signature. One path per
/// certificate sent is the normal case; a CA re-keyed under its name (two anchor certificates,
/// old and new intermediates sent together) makes four.
pub(crate) const MAX_CHAIN_PATHS: usize = 8;

/// Refuses a chain whose certificates' names allow more than [`MAX_CHAIN_PATHS`] paths from
/// the leaf to a certificate of `anchor` ([`count_paths`]), before any signature is checked.
fn check_path_count(
    anchor: &TrustAnchor,
    leaf: &ClientCertificate,
    intermediates: &[x509_parser::certificate::X509Certificate<'_>],
) -> Result<(), CertificateError> {
    let links: Vec<NameLink<'_>> = intermediates
        .iter()
        .map(|c| NameLink {
            subject: c.subject().as_raw(),
            issuer: c.issuer().as_raw(),
        })
        .collect();
    let anchors: Vec<&[u8]> = anchor.certificates().iter().map(|c| c.subject_der.as_slice()).collect();
    match count_paths(leaf.issuer_der(), &links, &anchors, 0, MAX_CHAIN_PATHS) {
        n if n > MAX_CHAIN_PATHS => Err(CertificateError::TooManyChainPaths { max: MAX_CHAIN_PATHS }),
        _ => Ok(()),
    }
}

/// A chain certificate as path building sees it: its subject and issuer names (DER).
struct NameLink<'a> {
    subject: &'a [u8],
    issuer: &'a [u8],
}

/// How many paths lead from a certificate issued by `issuer` to one of `anchors` (subjects)
/// through `links` not in `used` (a bit per link), by names alone — the paths a path builder
/// may try (RFC 4158 §2: an issuer is any certificate whose subject is the issuer name), each
/// link used once per path. Stops counting once past `limit`.
fn count_paths(issuer: &[u8], links: &[NameLink<'_>], anchors: &[&[u8]], used: u32, limit: usize) -> usize {
    let mut count = anchors.iter().filter(|subject| **subject == issuer).count();
    for (i, link) in links.iter().enumerate() {
        if count > limit {
            break;
        }
        let bit = 1u32 << i;
        if used & bit == 0 && link.subject == issuer {
            count += count_paths(link.issuer, links, anchors, used | bit, limit - count);
        }
    }
    count
}

/// [`verify_chain`] with `algorithms`, each skipping the anchor's CRL signatures verified at
/// load, against each group of the anchor's certificates in turn (one, unless a CA was
/// re-keyed under its name) until one verifies the chain.
pub(super) fn verify_chain_with<const N: usize>(
    algorithms: &[&'static dyn SignatureVerificationAlgorithm; N],
    anchor: &TrustAnchor,
    leaf: &ClientCertificate,
    intermediates: &[Vec<u8>],
    now: UnixTime,
) -> Result<VerifiedChain, CertificateError> {
    if intermediates.len() > MAX_INTERMEDIATES {
        return Err(CertificateError::TooManyChainCertificates {
            count: intermediates.len(),
            max: MAX_INTERMEDIATES,
        });
    }
    let parsed = intermediates
        .iter()
        .enumerate()
        .map(|(i, der)| {
            parse_der_or_why(der).map_err(|reason| CertificateError::MalformedIntermediate { index: i + 1, reason })
        })
        .collect::<Result<Vec<_>, _>>()?;
    check_no_repeats(leaf.der(), intermediates)?;
    check_path_count(anchor, leaf, &parsed)?;
    let leaf_der = CertificateDer::from(leaf.der());
    let end_entity = EndEntityCert::try_from(&leaf_der).map_err(|e| CertificateError::Malformed(e.to_string()))?;
    let intermediate_ders: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|d| CertificateDer::from(d.as_slice()))
        .collect();
    let skipping = anchor.crl_signatures.wrap(algorithms);
    let skipping: [&dyn SignatureVerificationAlgorithm; N] = std::array::from_fn(|i| &skipping[i] as _);
    // Every group consults every CRL, so a chain one group verifies is sound; a failure in
    // one group (a stale certificate the client also sent, say) does not stop another from
    // verifying. Of the failures, one that is not another key's wins.
    let (mut decided, mut other_key) = (None, None);
    for group in &anchor.groups {
        match verify_in_group(anchor, group, &skipping, leaf, &end_entity, &intermediate_ders, now) {
            Ok(mut verified) => {
                verified.intermediates_on_path = on_path(&parsed, verified.intermediates_used);
                return Ok(verified);
            }
            Err(GroupFailure::OtherKey(e)) => {
                other_key.get_or_insert(e);
            }
            Err(GroupFailure::Decided(e)) => {
                decided.get_or_insert(e);
            }
        }
    }
    let refusal = decided
        .or_else(|| other_key.map(map_webpki_error))
        .unwrap_or(CertificateError::UnknownIssuer);
    let refusal = naming_what_expired(refusal, anchor, leaf, &parsed);
    // webpki has no algorithm for a key DESIGN §1 refuses (RSA under 2048 bits, say), and
    // reports what that key signed as a bad signature: say what is wrong, the issuer's key.
    if refusal == CertificateError::BadSignature && issued_by_unusable_key(anchor, leaf, &parsed) {
        return Err(CertificateError::UnsupportedChainAlgorithm);
    }
    Err(refusal)
}

/// Whether an intermediate whose key no supported algorithm verifies with issued the leaf or
/// another of the intermediates (by name), and it alone could have: no certificate of that
/// name with a usable key, among the intermediates or the anchor's, was there to verify the
/// signature instead (then the signature is as bad as webpki says).
fn issued_by_unusable_key(
    anchor: &TrustAnchor,
    leaf: &ClientCertificate,
    intermediates: &[x509_parser::certificate::X509Certificate<'_>],
) -> bool {
    let usable_of = |subject: &[u8]| {
        intermediates
            .iter()
            .any(|ca| ca.subject().as_raw() == subject && public_key(ca).is_ok())
            || anchor.certificates().iter().any(|c| c.subject_der == subject)
    };
    intermediates.iter().enumerate().any(|(i, ca)| {
        let subject = ca.subject().as_raw();
        public_key(ca).is_err()
            && !usable_of(subject)
            && (leaf.issuer_der() == subject
                || intermediates
                    .iter()
                    .enumerate()
                    .any(|(j, other)| j != i && other.issuer().as_raw() == subject))
    })
}

/// Why a chain did not verify against one group of anchor certificates.
enum GroupFailure {
    /// A certificate of the chain names an issuer whose key in this group did not sign it (or
    /// cannot verify the CRL that issuer name finds), as the certificates of another key of a
    /// re-keyed CA do: the reason to report only when no group says more.
    OtherKey(webpki::Error),
    /// Anything else.
    Decided(CertificateError),
}

/// Whether webpki's `error` is what a certificate issued by another key of the issuer's
/// name meets in this group (see [`GroupFailure::OtherKey`]).
#[allow(deprecated)]
fn failed_on_another_key(error: &webpki::Error) -> bool {
    use webpki::Error as E;
    matches!(
        error,
        E::InvalidSignatureForPublicKey
            | E::UnknownIssuer
            | E::UnsupportedSignatureAlgorithmForPublicKey
            | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_)
            | E::InvalidCrlSignatureForPublicKey
            | E::UnsupportedCrlSignatureAlgorithmForPublicKey
            | E::UnsupportedCrlSignatureAlgorithmForPublicKeyContext(_)
    )
}

/// Why a path through an anchor certificate valid from `not_before` to `not_after` (Unix
/// seconds) is refused at `now`, if it is: rolegate's reason, and the webpki error that makes
/// webpki try another path. webpki does not check the validity of the trust anchor's own
/// certificate (RFC 5280 §6 leaves it out); DESIGN §1 checks every certificate's against the
/// clock, as OpenSSL does for a root.
fn anchor_validity_refusal(
    (not_before, not_after): (i64, i64),
    now: UnixTime,
) -> Option<(CertificateError, webpki::Error)> {
    let now_seconds = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let unix = |seconds: i64| UnixTime::since_unix_epoch(std::time::Duration::from_secs(seconds.max(0).unsigned_abs()));
    if not_after < now_seconds {
        let error = webpki::Error::CertExpired {
            time: now,
            not_after: unix(not_after),
        };
        return Some((
            CertificateError::AnchorExpired {
                not_after: Timestamp(not_after),
            },
            error,
        ));
    }
    if now_seconds < not_before {
        let error = webpki::Error::CertNotValidYet {
            time: now,
            not_before: unix(not_before),
        };
        return Some((
            CertificateError::AnchorNotYetValid {
                not_before: Timestamp(not_before),
            },
            error,
        ));
    }
    None
}

/// Verifies the chain with webpki against one group of anchor certificates and their CRLs,
/// then applies the rules webpki leaves out.
fn verify_in_group(
    anchor: &TrustAnchor,
    group: &AnchorGroup,
    algorithms: &[&dyn SignatureVerificationAlgorithm],
    leaf: &ClientCertificate,
    end_entity: &EndEntityCert<'_>,
    intermediate_ders: &[CertificateDer<'_>],
    now: UnixTime,
) -> Result<VerifiedChain, GroupFailure> {
    let crls: Vec<&CertRevocationList<'_>> = group.crl_order.iter().map(|&i| &anchor.crls[i]).collect();
    let revocation = revocation_options(anchor, &crls);
    let findings = PathFindings::new();
    let check_path = |path: &VerifiedPath<'_>| findings.check(anchor, path, now);
    let path = end_entity
        .verify_for_usage(
            algorithms,
            &group.anchors,
            intermediate_ders,
            now,
            KeyUsage::required_if_present(EKU_CLIENT_AUTH),
            revocation,
            Some(&check_path),
        )
        .map_err(|e| findings.group_failure(anchor, e))?;
    Ok(VerifiedChain {
        not_after: chain_not_after(anchor, leaf, &path, findings.intermediates_not_after.get()),
        intermediates_used: intermediates_used(&path, intermediate_ders),
        intermediates_on_path: Vec::new(),
        issued_anchor_listings: anchor.issued_listings_of(path.anchor()),
    })
}

/// How webpki checks revocation with the group's `crls`: along the whole chain, an issuer
/// without a CRL meaning "not revoked", and a CRL past its nextUpdate honoured unless the
/// anchor refuses stale CRLs ([`StaleCrls::Refuse`]). `None` when the group has no CRLs.
fn revocation_options<'a>(
    anchor: &TrustAnchor,
    crls: &'a [&'a CertRevocationList<'a>],
) -> Option<RevocationOptions<'a>> {
    RevocationOptionsBuilder::new(crls).ok().map(|builder| {
        builder
            .with_depth(RevocationCheckDepth::Chain)
            .with_status_policy(UnknownStatusPolicy::Allow)
            .with_expiration_policy(match anchor.stale_crls() {
                StaleCrls::Honour => ExpirationPolicy::Ignore,
                StaleCrls::Refuse => ExpirationPolicy::Enforce,
            })
            .build()
    })
}

/// What the checks of the paths webpki tries ([`PathFindings::check`]) learnt, for the error
/// of a refused chain to say why in rolegate's words ([`PathFindings::group_failure`]).
struct PathFindings {
    /// The earliest notAfter of the accepted path's intermediates.
    intermediates_not_after: Cell<i64>,
    /// A path went through an intermediate without keyCertSign.
    lacked_key_cert_sign: Cell<bool>,
    /// A path went through an anchor certificate expired or not yet valid: why.
    anchor_refusal: Cell<Option<CertificateError>>,
    /// A path was refused by a constraint of the bundle certificates (which webpki does not
    /// apply), for the message to name that certificate.
    anchor_constraint: Cell<Option<AnchorConstraint>>,
}

impl PathFindings {
    /// Nothing learnt yet.
    fn new() -> PathFindings {
        PathFindings {
            intermediates_not_after: Cell::new(i64::MAX),
            lacked_key_cert_sign: Cell::new(false),
            anchor_refusal: Cell::new(None),
            anchor_constraint: Cell::new(None),
        }
    }

    /// The rules webpki leaves out, on each path it finds, so that a path refused here lets
    /// webpki try another: the anchor certificate's revocation and validity, DESIGN §1's
    /// keyCertSign on each intermediate, and the anchor's constraints. The earliest notAfter
    /// of the accepted path's intermediates is kept.
    fn check(&self, anchor: &TrustAnchor, path: &VerifiedPath<'_>, now: UnixTime) -> Result<(), webpki::Error> {
        self.check_anchor_certificate(anchor, path, now)?;
        let (counted, not_after) = self.check_intermediates(path)?;
        self.check_anchor_constraints(anchor, path, counted)?;
        self.intermediates_not_after.set(not_after);
        Ok(())
    }

    /// The path's anchor certificate is not revoked by another CA of the bundle, and is valid
    /// at `now`. A path through an anchor certificate expired or not yet valid lets webpki try
    /// another (a re-keyed CA's new certificate in the same bundle).
    fn check_anchor_certificate(
        &self,
        anchor: &TrustAnchor,
        path: &VerifiedPath<'_>,
        now: UnixTime,
    ) -> Result<(), webpki::Error> {
        if anchor.revoked(path.anchor()) {
            // A CA of the bundle that another CA of the bundle revoked: no path may end at it
            // (webpki would try the path through its issuer, whose CRL then refuses it).
            return Err(webpki::Error::CertRevoked);
        }
        let refused = anchor
            .validity_of(path.anchor())
            .and_then(|v| anchor_validity_refusal(v, now));
        if let Some((reason, error)) = refused {
            self.anchor_refusal.set(Some(reason));
            return Err(error);
        }
        Ok(())
    }

    /// DESIGN §1's keyCertSign rule on each intermediate of the path; the number of those that
    /// are not self-issued (what a pathLenConstraint counts) and their earliest notAfter.
    fn check_intermediates(&self, path: &VerifiedPath<'_>) -> Result<(usize, i64), webpki::Error> {
        let mut not_after = i64::MAX;
        let mut counted = 0;
        for cert in path.intermediate_certificates() {
            let der = cert.der();
            let x509 = parse_der(&der).map_err(|_| webpki::Error::BadDer)?;
            if !has_key_cert_sign(&x509) {
                self.lacked_key_cert_sign.set(true);
                // webpki's nearest reason: the certificate may not issue certificates.
                return Err(webpki::Error::EndEntityUsedAsCa);
            }
            counted += usize::from(!is_self_issued(&x509));
            not_after = not_after.min(x509.validity().not_after.timestamp());
        }
        Ok((counted, not_after))
    }

    /// The anchor certificate's own pathLenConstraint and EKU, and its bundle issuers', for a
    /// path with `counted` intermediates that are not self-issued.
    fn check_anchor_constraints(
        &self,
        anchor: &TrustAnchor,
        path: &VerifiedPath<'_>,
        counted: usize,
    ) -> Result<(), webpki::Error> {
        if let Some(constraints) = anchor.path_constraints_of(path.anchor())
            && let Err(broken) = constraints.admit(counted)
        {
            self.anchor_constraint.set(Some(broken));
            return Err(anchor_constraint_error(broken));
        }
        Ok(())
    }

    /// Why webpki refused the chain with `error`, in rolegate's words where a check of
    /// [`PathFindings::check`] caused it, else webpki's own (or another key's failure).
    fn group_failure(&self, anchor: &TrustAnchor, error: webpki::Error) -> GroupFailure {
        match error {
            webpki::Error::EndEntityUsedAsCa if self.lacked_key_cert_sign.get() => {
                GroupFailure::Decided(CertificateError::IntermediateLacksKeyCertSign)
            }
            e if self
                .anchor_constraint
                .get()
                .is_some_and(|broken| anchor_constraint_error(broken) == e) =>
            {
                GroupFailure::Decided(match self.anchor_constraint.get() {
                    Some(broken) => anchor_constraint_refusal(anchor, broken),
                    None => map_webpki_error(e),
                })
            }
            e @ (webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. }) => {
                GroupFailure::Decided(self.anchor_refusal.take().unwrap_or_else(|| map_webpki_error(e)))
            }
            e if failed_on_another_key(&e) => GroupFailure::OtherKey(e),
            e => GroupFailure::Decided(map_webpki_error(e)),
        }
    }
}

/// The refusal of a path for `broken`, naming the bundle certificate whose constraint it is.
fn anchor_constraint_refusal(anchor: &TrustAnchor, broken: AnchorConstraint) -> CertificateError {
    let subject = |by: usize| {
        anchor
            .certificates()
            .get(by)
            .map_or_else(String::new, |c| c.subject.clone())
    };
    match broken {
        AnchorConstraint::PathLength(by) => CertificateError::AnchorPathLength { subject: subject(by) },
        AnchorConstraint::ClientAuth(by) => CertificateError::AnchorClientAuth { subject: subject(by) },
    }
}

/// Until when the verification of the accepted `path` holds: the earliest notAfter of the
/// leaf, the intermediates (`intermediates_not_after`) and the anchor certificate, and the
/// nextUpdate of the CRLs that cover the chain when the anchor refuses stale CRLs.
fn chain_not_after(
    anchor: &TrustAnchor,
    leaf: &ClientCertificate,
    path: &VerifiedPath<'_>,
    intermediates_not_after: i64,
) -> i64 {
    let mut not_after = leaf.not_after().min(intermediates_not_after);
    if let Some((_, anchor_not_after)) = anchor.validity_of(path.anchor()) {
        not_after = not_after.min(anchor_not_after);
    }
    // The CRLs webpki may have consulted: those of the names that issued the chain's
    // certificates, the anchor's and every intermediate's (one may be another key's
    // cross-certificate).
    let issuer_names: Vec<&[u8]> = path
        .intermediate_certificates()
        .map(|cert| cert.subject())
        .chain(std::iter::once(path.anchor().subject.as_ref()))
        .collect();
    if let Some(next_update) = anchor.refused_after(&issuer_names) {
        not_after = not_after.min(next_update);
    }
    not_after
}

/// Which of `intermediate_ders` the accepted `path` goes through: bit `i` for the `i`th
/// ([`VerifiedChain::intermediates_used`]).
fn intermediates_used(path: &VerifiedPath<'_>, intermediate_ders: &[CertificateDer<'_>]) -> u8 {
    path.intermediate_certificates().fold(0u8, |used, cert| {
        match intermediate_ders
            .iter()
            .position(|der| der.as_ref() == cert.der().as_ref())
        {
            Some(i) => used | (1 << i),
            None => used,
        }
    })
}

/// The `used` ones of `intermediates` (bit `i` for the `i`th), named as CRLs name them, in the
/// order they were sent.
fn on_path(intermediates: &[x509_parser::certificate::X509Certificate<'_>], used: u8) -> Vec<IssuerSerial> {
    intermediates
        .iter()
        .enumerate()
        .filter(|(i, _)| used & (1 << i) != 0)
        .map(|(_, c)| IssuerSerial::of(c))
        .collect()
}

/// The webpki error a path refused for `broken` stands as, for webpki to try another path.
#[allow(deprecated)] // the unit variant: the context one describes one certificate's EKU
fn anchor_constraint_error(broken: AnchorConstraint) -> webpki::Error {
    match broken {
        AnchorConstraint::PathLength(_) => webpki::Error::PathLenConstraintViolated,
        AnchorConstraint::ClientAuth(_) => webpki::Error::RequiredEkuNotFound,
    }
}

/// id-kp-clientAuth, 1.3.6.1.5.5.7.3.2 (RFC 5280 §4.2.1.12), DER contents of the OID.
const EKU_CLIENT_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];

/// SHA-256 or stronger; RSA 2048–8192 bits (PKCS#1 v1.5 and PSS); ECDSA P-256/P-384.
pub(super) static SUPPORTED_SIGNATURE_ALGORITHMS: [&dyn SignatureVerificationAlgorithm; 12] = [
    webpki::aws_lc_rs::ECDSA_P256_SHA256,
    webpki::aws_lc_rs::ECDSA_P256_SHA384,
    webpki::aws_lc_rs::ECDSA_P256_SHA512,
    webpki::aws_lc_rs::ECDSA_P384_SHA256,
    webpki::aws_lc_rs::ECDSA_P384_SHA384,
    webpki::aws_lc_rs::ECDSA_P384_SHA512,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA384,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA512,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
];

/// DESIGN §1: intermediates must carry keyUsage `keyCertSign` (webpki does not check it).
fn has_key_cert_sign(x509: &x509_parser::prelude::X509Certificate<'_>) -> bool {
    x509.key_usage()
        .ok()
        .flatten()
        .is_some_and(|ku| ku.value.key_cert_sign())
}

/// `refusal`, naming the certificate or CRL it is about where webpki's error gives only a
/// time: an expired intermediate (and whether the leaf ended with it), the issuer of a stale
/// CRL of the anchor (an anchor may list several; of the chain's issuers' CRLs with that
/// nextUpdate, each is named).
fn naming_what_expired(
    refusal: CertificateError,
    anchor: &TrustAnchor,
    leaf: &ClientCertificate,
    intermediates: &[x509_parser::prelude::X509Certificate<'_>],
) -> CertificateError {
    match refusal {
        CertificateError::Expired { not_after } => intermediates
            .iter()
            .find(|c| c.validity().not_after.timestamp() == not_after.0)
            .map_or(refusal, |c| {
                let subject = super::attributes::distinguished_name(c.subject()).to_string();
                match leaf.not_after() == not_after.0 {
                    true => CertificateError::ExpiredWithIntermediate { subject, not_after },
                    false => CertificateError::IntermediateExpired { subject, not_after },
                }
            }),
        CertificateError::StaleCrl { next_update } => {
            // The CRLs of the chain's issuers, as webpki matched them (by issuer name).
            let leaf = parse_der_or_why(leaf.der()).ok();
            let issuers: Vec<Vec<u8>> = leaf
                .iter()
                .chain(intermediates)
                .filter_map(|c| super::certificate::names_of(c).ok())
                .map(|names| names.issuer_contents)
                .collect();
            let mut stale: Vec<&str> = anchor
                .crls()
                .iter()
                .filter(|crl| {
                    crl.next_update == Some(next_update.0)
                        && issuers
                            .iter()
                            .any(|issuer| anchor.crls_issued_by(issuer).any(|c| c == *crl))
                })
                .map(|crl| crl.issuer.as_str())
                .collect();
            stale.sort_unstable();
            stale.dedup();
            match stale.is_empty() {
                // CRLs made together share their nextUpdate: each may be the one.
                false => CertificateError::StaleCrlOf {
                    issuer: stale.join(" or "),
                    next_update,
                },
                true => refusal,
            }
        }
        refusal => refusal,
    }
}

/// Flattens webpki's error into ours (the deprecated unit variants are still produced by
/// some webpki paths, so both forms are matched).
#[allow(deprecated)]
fn map_webpki_error(error: webpki::Error) -> CertificateError {
    use webpki::Error as E;
    match error {
        E::CertExpired { not_after, .. } => CertificateError::Expired {
            not_after: Timestamp(unix_seconds(not_after)),
        },
        E::CertNotValidYet { not_before, .. } => CertificateError::NotYetValid {
            not_before: Timestamp(unix_seconds(not_before)),
        },
        E::CertRevoked => CertificateError::Revoked,
        E::UnknownIssuer => CertificateError::UnknownIssuer,
        E::CaUsedAsEndEntity => CertificateError::CaUsedAsLeaf,
        E::EndEntityUsedAsCa => CertificateError::IntermediateNotCa,
        E::InvalidSignatureForPublicKey => CertificateError::BadSignature,
        E::RequiredEkuNotFound | E::RequiredEkuNotFoundContext(_) => CertificateError::ClientAuthNotAllowed,
        E::PathLenConstraintViolated | E::NameConstraintViolation => CertificateError::ConstraintViolation,
        E::UnsupportedSignatureAlgorithm
        | E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKey
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_)
        | E::SignatureAlgorithmMismatch => CertificateError::UnsupportedChainAlgorithm,
        E::CrlExpired { next_update, .. } => CertificateError::StaleCrl {
            next_update: Timestamp(unix_seconds(next_update)),
        },
        E::InvalidCrlSignatureForPublicKey
        | E::IssuerNotCrlSigner
        | E::UnknownRevocationStatus
        | E::UnsupportedCrlIssuingDistributionPoint
        | E::UnsupportedCrlVersion
        | E::UnsupportedDeltaCrl
        | E::UnsupportedIndirectCrl
        | E::UnsupportedRevocationReason
        | E::UnsupportedRevocationReasonsPartitioning
        | E::UnsupportedCrlSignatureAlgorithm
        | E::UnsupportedCrlSignatureAlgorithmContext(_)
        | E::UnsupportedCrlSignatureAlgorithmForPublicKey
        | E::UnsupportedCrlSignatureAlgorithmForPublicKeyContext(_) => {
            CertificateError::RevocationCheckFailed(format!("{error:?}"))
        }
        other => CertificateError::InvalidChain(format!("{other:?}")),
    }
}

fn unix_seconds(time: UnixTime) -> i64 {
    i64::try_from(time.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_counted_by_names() {
        let link = |subject: &'static str, issuer: &'static str| NameLink {
            subject: subject.as_bytes(),
            issuer: issuer.as_bytes(),
        };
        let count = |issuer: &str, links: &[NameLink<'_>], anchors: &[&[u8]]| {
            count_paths(issuer.as_bytes(), links, anchors, 0, MAX_CHAIN_PATHS)
        };
        let root: &[&[u8]] = &[b"root"];
        let rekeyed_root: &[&[u8]] = &[b"root", b"root"];
        // leaf ← inter ← root: one path; the root sent along adds one.
        assert_eq!(count("inter", &[link("inter", "root")], root), 1);
        assert_eq!(count("inter", &[link("inter", "root"), link("root", "root")], root), 2);
        // A re-keyed root and both versions of the intermediate: four.
        assert_eq!(
            count("inter", &[link("inter", "root"), link("inter", "root")], rekeyed_root),
            4
        );
        // Nothing leads to the anchor: none.
        assert_eq!(count("other", &[link("inter", "root")], root), 0);
        // A cycle of names ends: each certificate is used once per path.
        assert_eq!(count("a", &[link("a", "b"), link("b", "a")], root), 0);
        // Five self-issued certificates named like the anchor: counting stops past the limit.
        let forged: Vec<NameLink<'_>> = (0..5).map(|_| link("root", "root")).collect();
        assert_eq!(count("root", &forged, root), MAX_CHAIN_PATHS + 1);
        assert_eq!(count_paths(b"root", &forged, root, 0, usize::MAX - 1), 326);
    }
}
