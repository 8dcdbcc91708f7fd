//! [`TrustAnchor`]: the CA certificates (roots or intermediates acting as anchors) and imported
//! CRLs of one Roles Anywhere trust anchor, parsed and checked once at config load.
//!
//! Rules (DESIGN §1, AWS
//! <https://docs.aws.amazon.com/rolesanywhere/latest/userguide/trust-model.html>): every
//! anchor certificate is X.509 v3, `CA:true` and has a keyUsage with `keyCertSign`; every CRL
//! is issued by one of the anchor certificates (AWS imports CRLs per trust anchor), which is
//! verified here (name and signature) so that a wrong CRL fails at load, not on every request.
//! One CRL per issuing key: a CA re-keyed under the same name lists a CRL for every key (or
//! none), and each key's certificates are checked against its own ([`AnchorGroup`]).

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer};
use webpki::{CertRevocationList, OwnedCertRevocationList};
use x509_parser::num_bigint::BigUint;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;
use x509_parser::x509::X509Version;

use super::attributes::distinguished_name;
use super::bundle_constraints::{
    AnchorConstraint, PathConstraints, inherited_name_constraints, issuers_in_bundle, path_constraints,
};
use super::certificate::{parse_der, public_key};
use super::chain::SUPPORTED_SIGNATURE_ALGORITHMS;
use super::crl_signatures::{CrlSignatureRefusal, KnownCrlSignatures};
use super::error::{AnchorError, pem_problem};

/// A loaded trust anchor. `Send + Sync`; share it in an `Arc`.
#[derive(Debug)]
pub struct TrustAnchor {
    certificates: Vec<AnchorCertificate>,
    /// `certificates` as webpki takes them, in the same order, each with the name
    /// constraints of its issuers in the bundle merged into its own.
    webpki_anchors: Vec<rustls_pki_types::TrustAnchor<'static>>,
    /// What a path ending at each of `certificates` must meet besides (same order).
    path_constraints: Vec<PathConstraints>,
    /// Every CRL, in configuration order.
    pub(super) crls: Vec<CertRevocationList<'static>>,
    /// What chain verification hands webpki: almost always one group.
    pub(super) groups: Vec<AnchorGroup>,
    /// The signatures of the CRLs, verified here once, for chain verification not to repeat.
    pub(super) crl_signatures: KnownCrlSignatures,
    /// What operators watch of each CRL, in configuration order.
    crl_infos: Vec<CrlInfo>,
    stale_crls: StaleCrls,
}

/// Anchor certificates no two of which share a subject, and the order in which webpki is to
/// consult the anchor's CRLs with them: the CRLs these certificates signed first, then all
/// the others.
///
/// webpki consults the first CRL whose issuer *name* matches a certificate's issuer, and
/// refuses the path when that CRL's signature does not verify with the issuer's key. A CA
/// re-keyed under the same name has a certificate and a CRL per key, so each key is verified
/// in a group of its own, where its name finds its own CRL first. Every group holds every
/// CRL, so a path through another key of the name (a cross-certificate) still meets a CRL
/// for each certificate and fails closed when it is the wrong key's. See [`group_of_each`].
#[derive(Debug, Default)]
pub(super) struct AnchorGroup {
    pub(super) anchors: Vec<rustls_pki_types::TrustAnchor<'static>>,
    /// Positions in [`TrustAnchor::crls`].
    pub(super) crl_order: Vec<usize>,
}

/// What a CRL past its nextUpdate means for the certificates it covers (configuration
/// `trust_anchor.stale_crls`: `"honour"` — or `"honor"` — and `"refuse"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StaleCrls {
    /// The CRL still applies as it is: what it lists is revoked, anything else passes. AWS
    /// Roles Anywhere keeps an imported CRL until it is replaced.
    #[default]
    Honour,
    /// Every certificate the CRL is authoritative for is refused until a fresh CRL is
    /// loaded (fail closed, as OpenSSL and rustls-webpki's `ExpirationPolicy::Enforce`).
    Refuse,
}

/// `"honour"`, its American spelling `"honor"`, or `"refuse"`; an error names the two values
/// as the documentation spells them.
impl<'de> serde::Deserialize<'de> for StaleCrls {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        StaleCrls::from_name(&value).ok_or_else(|| serde::de::Error::unknown_variant(&value, &["honour", "refuse"]))
    }
}

impl StaleCrls {
    /// The policy a configuration value names: `honour` (or `honor`), `refuse`.
    fn from_name(name: &str) -> Option<StaleCrls> {
        match name {
            "honour" | "honor" => Some(StaleCrls::Honour),
            "refuse" => Some(StaleCrls::Refuse),
            _ => None,
        }
    }

    /// The policy as operator summaries show it after a CRL's next update.
    pub fn when_stale(self) -> &'static str {
        match self {
            StaleCrls::Honour => "honoured when stale",
            StaleCrls::Refuse => "refused when stale",
        }
    }
}

/// One imported CRL of a trust anchor, as operators watch it: a CRL past its nextUpdate no
/// longer lists recent revocations, and is honoured or refused as [`StaleCrls`] says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlInfo {
    /// RFC 4514-style issuer.
    pub issuer: String,
    /// SHA-256 of the issuer Name as encoded (DER), as [`super::IssuerSerial`] names it.
    pub issuer_digest: [u8; 32],
    /// The subjectPublicKeyInfo (DER) of the anchor certificate whose key verified the CRL's
    /// signature: the issuer as revocation checking knows it (a re-keyed CA has a CRL per key).
    pub signer_key: Vec<u8>,
    /// cRLNumber (RFC 5280 §5.2.3), when the CRL has one.
    pub number: Option<BigUint>,
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds, when the CRL has one.
    pub next_update: Option<i64>,
    /// The scope its issuing distribution point (RFC 5280 §5.2.5) gives it, when it has one:
    /// it then covers only some of the certificates its issuer issued.
    pub scope: Option<CrlScope>,
    /// The serial numbers it revokes, as [`crate::identity::format_serial_hex`] writes them,
    /// sorted: a reload compares them with the CRL it replaces.
    pub revoked_serials: std::sync::Arc<[String]>,
}

/// The certificates a CRL with an issuing distribution point covers, of those its issuer
/// issued.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CrlScope {
    /// onlyContainsUserCerts: end-entity certificates only.
    pub only_end_entities: bool,
    /// onlyContainsCACerts: CA certificates only.
    pub only_cas: bool,
    /// The URIs of its distribution point's full name.
    pub uris: Vec<String>,
}

impl CrlScope {
    /// Whether a CRL of this scope covers a certificate of its issuer — an end entity or a CA
    /// — whose CRL distribution points name `certificate_uris` (None: it has no CRL
    /// distribution points extension), as webpki decides (`IssuingDistributionPoint::
    /// authoritative_for`): the certificate's role must be in scope, and a certificate with
    /// distribution points must name one of the CRL's URIs in one of them.
    pub fn covers(&self, end_entity: bool, certificate_uris: Option<&[String]>) -> bool {
        if (self.only_cas && end_entity) || (self.only_end_entities && !end_entity) {
            return false;
        }
        match certificate_uris {
            None => true,
            Some(uris) => uris.iter().any(|uri| self.uris.contains(uri)),
        }
    }
}

/// The scope of `crl`'s issuing distribution point, if it has one.
fn crl_scope(crl: &x509_parser::revocation_list::CertificateRevocationList<'_>) -> Option<CrlScope> {
    use x509_parser::extensions::{DistributionPointName, ParsedExtension};
    let extension = crl
        .extensions()
        .iter()
        .find(|e| e.oid == x509_parser::oid_registry::OID_X509_EXT_ISSUER_DISTRIBUTION_POINT)?;
    // webpki refuses at load an issuing distribution point it cannot read; one x509-parser
    // cannot read is kept as covering nothing named.
    let ParsedExtension::IssuingDistributionPoint(idp) = extension.parsed_extension() else {
        return Some(CrlScope::default());
    };
    let uris = match &idp.distribution_point {
        Some(DistributionPointName::FullName(names)) => super::certificate::uris(names),
        _ => Vec::new(),
    };
    Some(CrlScope {
        only_end_entities: idp.only_contains_user_certs,
        only_cas: idp.only_contains_ca_certs,
        uris,
    })
}

/// One CA certificate of a trust anchor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnchorCertificate {
    /// RFC 4514-style subject.
    pub subject: String,
    /// The subject as encoded (DER), as certificates name their issuer.
    pub subject_der: Vec<u8>,
    /// The issuer as encoded (DER): the CA that issued this one (itself, for a root).
    pub issuer_der: Vec<u8>,
    /// The subjectPublicKeyInfo (DER): the key that signs what this CA issues and its CRLs.
    pub key: Vec<u8>,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// The certificate DER.
    pub der: CertificateDer<'static>,
    /// The issuer of the anchor's CRL that lists this certificate as revoked (RFC 4514-style),
    /// when one does: a CA certificate another certificate of the bundle issued and revoked.
    /// Paths ending at it are refused (see [`TrustAnchor::revoked`]).
    pub revoked_by: Option<String>,
    /// Its issuer and serial, as a CRL names it.
    pub issuer_serial: super::IssuerSerial,
}

impl CrlInfo {
    /// Whether this CRL and `other` are of one sequence: one issuer (name and key) and one
    /// scope, which RFC 5280 §5.2.3 numbers in increasing order.
    pub fn same_sequence(&self, other: &CrlInfo) -> bool {
        self.issuer == other.issuer && self.signer_key == other.signer_key && self.scope == other.scope
    }

    /// Whether this CRL was issued before `other` of its sequence, so that it lacks the
    /// revocations `other` may add: older by every measure the two have — a lower cRLNumber
    /// where both are numbered, and a thisUpdate no later (or, without numbers, an earlier
    /// one). A CA whose numbering starts over (moved to other software, a counter reset)
    /// issues a lower number with a later thisUpdate: that CRL is not older.
    pub fn predates(&self, other: &CrlInfo) -> bool {
        if !self.same_sequence(other) {
            return false;
        }
        match (&self.number, &other.number) {
            (Some(mine), Some(theirs)) => mine < theirs && self.this_update <= other.this_update,
            _ => self.this_update < other.this_update,
        }
    }
}

impl TrustAnchor {
    /// Loads a trust anchor from a PEM bundle (one or more `CERTIFICATE` blocks; other block
    /// types are ignored) and CRLs, each PEM (`X509 CRL`) or DER.
    pub fn new(ca_bundle_pem: &[u8], crls: &[Vec<u8>]) -> Result<TrustAnchor, AnchorError> {
        let ders = CertificateDer::pem_slice_iter(ca_bundle_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AnchorError::Pem(pem_problem(&e)))?;
        if ders.is_empty() {
            return Err(AnchorError::NoCertificate);
        }
        let mut certificates = Vec::with_capacity(ders.len());
        let mut webpki_anchors = Vec::with_capacity(ders.len());
        for (i, der) in ders.into_iter().enumerate() {
            let index = i + 1;
            certificates.push(anchor_certificate(index, &der)?);
            let anchor = webpki::anchor_from_trusted_cert(&der).map_err(|e| AnchorError::MalformedCertificate {
                index,
                reason: format!("{e}"),
            })?;
            webpki_anchors.push(anchor.to_owned());
        }
        let path_constraints = apply_bundle_constraints(&certificates, &mut webpki_anchors)?;
        let mut crl_signatures = KnownCrlSignatures::default();
        let mut loaded = Vec::with_capacity(crls.len());
        let mut crl_infos = Vec::with_capacity(crls.len());
        let mut crl_signers = Vec::with_capacity(crls.len());
        for (i, bytes) in crls.iter().enumerate() {
            let (crl, info, signer) = load_crl(i + 1, bytes, &certificates, &mut crl_signatures)?;
            loaded.push(crl);
            crl_infos.push(info);
            crl_signers.push(signer);
        }
        check_one_crl_per_issuer_key(&crl_signers, &webpki_anchors, &crl_infos)?;
        check_every_key_has_a_crl(&crl_signers, &webpki_anchors, &certificates)?;
        for certificate in &mut certificates {
            certificate.revoked_by =
                revoking_crl(&certificate.der, false, &loaded, &crl_infos).map(|i| crl_infos[i].issuer.clone());
        }
        let group_of = group_of_each(&webpki_anchors);
        let mut groups: Vec<AnchorGroup> = Vec::new();
        groups.resize_with(group_of.iter().max().map_or(0, |last| last + 1), AnchorGroup::default);
        for (anchor, &group) in webpki_anchors.iter().zip(&group_of) {
            groups[group].anchors.push(anchor.clone());
        }
        for (g, group) in groups.iter_mut().enumerate() {
            let signed_here = |&crl: &usize| group_of[crl_signers[crl]] == g;
            let (own, others): (Vec<usize>, Vec<usize>) = (0..crl_signers.len()).partition(signed_here);
            group.crl_order = own.into_iter().chain(others).collect();
        }
        Ok(TrustAnchor {
            certificates,
            webpki_anchors,
            path_constraints,
            crls: loaded,
            groups,
            crl_signatures,
            crl_infos,
            stale_crls: StaleCrls::default(),
        })
    }

    /// This anchor, treating its CRLs past their nextUpdate as `policy` says.
    pub fn with_stale_crls(self, policy: StaleCrls) -> TrustAnchor {
        TrustAnchor {
            stale_crls: policy,
            ..self
        }
    }

    /// What a CRL of this anchor past its nextUpdate means.
    pub fn stale_crls(&self) -> StaleCrls {
        self.stale_crls
    }

    /// The earliest nextUpdate of the anchor's CRLs issued under one of `issuer_names` (DER
    /// names, as webpki matches a CRL to a certificate), when this anchor refuses stale CRLs:
    /// a chain whose certificates those names issued stays verified until then at most.
    pub(super) fn refused_after(&self, issuer_names: &[&[u8]]) -> Option<i64> {
        if self.stale_crls != StaleCrls::Refuse {
            return None;
        }
        self.crls
            .iter()
            .zip(&self.crl_infos)
            .filter(|(crl, _)| issuer_names.contains(&crl.issuer()))
            .filter_map(|(_, info)| info.next_update)
            .min()
    }

    /// The anchor's CA certificates, in bundle order.
    pub fn certificates(&self) -> &[AnchorCertificate] {
        &self.certificates
    }

    /// The anchor's CRLs, in configuration order.
    pub fn crls(&self) -> &[CrlInfo] {
        &self.crl_infos
    }

    /// Whether a certificate of the bundle holds `key` (a DER subjectPublicKeyInfo, as
    /// [`CrlInfo::signer_key`]): the anchor trusts what that CA issues.
    pub fn trusts_key(&self, key: &[u8]) -> bool {
        self.certificates.iter().any(|c| c.key == key)
    }

    /// Whether the anchor lists a CRL of `crl`'s sequence ([`CrlInfo::same_sequence`]).
    pub fn lists_crl_of(&self, crl: &CrlInfo) -> bool {
        self.crl_infos.iter().any(|c| c.same_sequence(crl))
    }

    /// The anchor's CRLs issued under `issuer` (a DER name without its outer SEQUENCE tag):
    /// those webpki consults for a certificate that names it as its issuer.
    pub fn crls_issued_by<'a>(&'a self, issuer: &'a [u8]) -> impl Iterator<Item = &'a CrlInfo> + 'a {
        self.crls
            .iter()
            .zip(&self.crl_infos)
            .filter(move |(crl, _)| crl.issuer() == issuer)
            .map(|(_, info)| info)
    }

    /// A CRL of this anchor that lists `certificate`: one of a session's chain, which the CRL
    /// revoked since the session was issued.
    ///
    /// The issuer and serial name the certificate, as CRLs name the certificates they revoke,
    /// so any CRL of that issuer listing the serial revokes it, whatever the scope of its
    /// issuing distribution point or the CA key that signed it. A stale CRL still revokes what
    /// it lists.
    pub fn crl_revoking(&self, certificate: &super::IssuerSerial) -> Option<&CrlInfo> {
        self.crls
            .iter()
            .zip(&self.crl_infos)
            .find(|(crl, info)| {
                info.issuer_digest == certificate.issuer_digest
                    && matches!(crl.find_serial(&certificate.serial), Ok(Some(_)))
            })
            .map(|(_, info)| info)
    }

    /// The issuer (RFC 4514-style) of a CRL of this anchor that lists the chain certificate
    /// `der` — the leaf (`end_entity`) or an intermediate — as revoked, when one does: its
    /// issuer's CRL that covers it lists its serial. What `rolegate explain` names when a
    /// chain is refused as revoked (the refusal itself does not say which certificate).
    pub fn revoked_by(&self, der: &[u8], end_entity: bool) -> Option<&str> {
        revoking_crl(der, end_entity, &self.crls, &self.crl_infos).map(|i| self.crl_infos[i].issuer.as_str())
    }

    /// Whether the anchor certificate webpki chose (matched by subject and key) is revoked: a
    /// CRL of this anchor lists every bundle certificate of that subject and key. An anchor
    /// certificate is trusted as given, so webpki never consults a CRL about it (RFC 5280
    /// §6.1: a trust anchor is an input of path validation, not a certificate of the path);
    /// but an intermediate CA listed in the bundle for its CRL to be imported is also issued
    /// by another CA of the bundle, whose CRL can revoke it, and a path ending at it would
    /// otherwise bypass that revocation.
    pub(super) fn revoked(&self, anchor: &rustls_pki_types::TrustAnchor<'_>) -> bool {
        let mut listings = self.listings_of(anchor).peekable();
        listings.peek().is_some() && listings.all(|i| self.certificates[i].revoked_by.is_some())
    }

    /// The positions in the bundle of the certificate webpki chose as `anchor`: one, or more
    /// for a CA certificate listed again with the same subject and key (renewed with its key),
    /// which webpki cannot tell apart.
    fn listings_of<'a>(&'a self, anchor: &'a rustls_pki_types::TrustAnchor<'_>) -> impl Iterator<Item = usize> + 'a {
        self.webpki_anchors
            .iter()
            .enumerate()
            .filter(move |(_, a)| same_certificate(a, anchor))
            .map(|(i, _)| i)
    }

    /// The bundle certificates a path ending at the anchor certificate webpki chose (matched by
    /// subject and key) ends at, named as CRLs name them, when a CA of the bundle issued them
    /// (an issuing CA listed under its root): a CRL of the bundle can revoke them, and a
    /// session of the path ends when it revokes every one, as [`Self::revoked`] then refuses
    /// new paths. Empty when one is self-issued (a root, which no CRL revokes).
    pub(super) fn issued_listings_of(&self, anchor: &rustls_pki_types::TrustAnchor<'_>) -> Vec<super::IssuerSerial> {
        self.listings_of(anchor)
            .map(|i| &self.certificates[i])
            .map(|c| (c.subject_der != c.issuer_der).then(|| c.issuer_serial.clone()))
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default()
    }

    /// What a path ending at the anchor certificate webpki chose (matched by subject and key)
    /// must meet besides what webpki checks ([`PathConstraints`]).
    pub(super) fn path_constraints_of(&self, anchor: &rustls_pki_types::TrustAnchor<'_>) -> Option<PathConstraints> {
        PathConstraints::most_lenient(self.listings_of(anchor).map(|i| self.path_constraints[i]))
    }

    /// The certificates of the bundle no chain can end at, each with why: its extendedKeyUsage
    /// (or that of a bundle certificate above it) lacks clientAuth, or a pathLenConstraint above
    /// it allows no CA where it stands. Such a bundle loads (the certificate may still sign a
    /// CRL), with a warning.
    pub fn certificates_no_chain_ends_at(&self) -> Vec<(&str, String)> {
        self.certificates
            .iter()
            .zip(&self.path_constraints)
            .filter_map(|(certificate, constraints)| {
                let subject_of = |by: usize| self.certificates.get(by).map_or("", |c| c.subject.as_str());
                let why = match constraints.admits_no_path()? {
                    AnchorConstraint::ClientAuth(by) => {
                        format!("the extendedKeyUsage of {} lacks clientAuth", subject_of(by))
                    }
                    AnchorConstraint::PathLength(by) => format!(
                        "the pathLenConstraint of {} allows no CA certificate where it stands",
                        subject_of(by)
                    ),
                };
                Some((certificate.subject.as_str(), why))
            })
            .collect()
    }

    /// The validity (notBefore, notAfter) of the anchor certificate webpki chose (matched by
    /// subject and key).
    pub(super) fn validity_of(&self, anchor: &rustls_pki_types::TrustAnchor<'_>) -> Option<(i64, i64)> {
        // A CA certificate renewed with its key (same name, same key, later notAfter) is the
        // same anchor to webpki: together they cover from the earliest notBefore to the latest
        // notAfter.
        self.listings_of(anchor)
            .map(|i| (self.certificates[i].not_before, self.certificates[i].not_after))
            .reduce(|(b1, a1), (b2, a2)| (b1.min(b2), a1.max(a2)))
    }
}

/// The position in `crls` of a CRL that revokes the certificate `der` (a bundle certificate,
/// or one of a chain: an `end_entity` or a CA): one of its issuer's name (not its own: a
/// self-issued certificate is not revoked by its own CRL) that covers a certificate of its
/// kind with its CRL distribution points and lists its serial, as webpki would decide. The
/// CRL's signature was verified at load with the key of a bundle certificate of that name.
fn revoking_crl(der: &[u8], end_entity: bool, crls: &[CertRevocationList<'_>], infos: &[CrlInfo]) -> Option<usize> {
    let x509 = parse_der(der).ok()?;
    let names = super::certificate::names_of(&x509).ok()?;
    if x509.issuer().as_raw() == x509.subject().as_raw() {
        return None;
    }
    let serial = x509.raw_serial();
    let covers = |info: &CrlInfo| {
        info.scope
            .as_ref()
            .is_none_or(|scope| scope.covers(end_entity, names.crl_distribution_uris.as_deref()))
    };
    crls.iter().zip(infos).position(|(crl, info)| {
        crl.issuer() == names.issuer_contents.as_slice()
            && covers(info)
            && matches!(crl.find_serial(serial), Ok(Some(_)))
    })
}

/// Works out what each bundle certificate inherits from the bundle certificates that issued
/// it (`bundle_constraints.rs`): merges their name constraints into `webpki_anchors` and
/// returns the rest, for chain verification to check.
fn apply_bundle_constraints(
    certificates: &[AnchorCertificate],
    webpki_anchors: &mut [rustls_pki_types::TrustAnchor<'static>],
) -> Result<Vec<PathConstraints>, AnchorError> {
    let parsed = certificates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            parse_der(&c.der).map_err(|e| AnchorError::MalformedCertificate {
                index: i + 1,
                reason: e.to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ders: Vec<&[u8]> = certificates.iter().map(|c| c.der.as_ref()).collect();
    let issuers = issuers_in_bundle(&parsed, &ders, &SUPPORTED_SIGNATURE_ALGORITHMS);
    let own: Vec<Option<&[u8]>> = webpki_anchors
        .iter()
        .map(|a| a.name_constraints.as_ref().map(|nc| nc.as_ref()))
        .collect();
    let merged = inherited_name_constraints(&own, &issuers).map_err(|e| AnchorError::UnmergeableNameConstraints {
        subject: certificates[e.certificate].subject.clone(),
        issuer: certificates[e.issuer].subject.clone(),
        form: name_form(e.form),
    })?;
    for (anchor, constraints) in webpki_anchors.iter_mut().zip(merged) {
        anchor.name_constraints = constraints.map(rustls_pki_types::Der::from);
    }
    Ok(path_constraints(&parsed, &issuers))
}

/// The name of a GeneralName form (RFC 5280 §4.2.1.6) by its context tag.
fn name_form(tag: u32) -> &'static str {
    match tag {
        0 => "otherName",
        1 => "rfc822Name (email)",
        2 => "dNSName",
        3 => "x400Address",
        4 => "directoryName",
        5 => "ediPartyName",
        6 => "uniformResourceIdentifier",
        7 => "iPAddress",
        8 => "registeredID",
        _ => "unknown",
    }
}

/// The same anchor certificate: subject and key, as webpki identifies a trust anchor.
fn same_certificate(a: &rustls_pki_types::TrustAnchor<'_>, b: &rustls_pki_types::TrustAnchor<'_>) -> bool {
    a.subject == b.subject && a.subject_public_key_info == b.subject_public_key_info
}

/// The group of each anchor certificate, by position in the bundle. No two certificates of a
/// group share a subject: the first group takes each subject's first key in bundle order, the
/// second its second, and so on, so a bundle without a re-keyed CA is one group. A
/// certificate listed twice (same subject and key) is in the group of its first listing.
fn group_of_each(anchors: &[rustls_pki_types::TrustAnchor<'_>]) -> Vec<usize> {
    let mut group_of: Vec<usize> = Vec::with_capacity(anchors.len());
    for (i, anchor) in anchors.iter().enumerate() {
        let earlier = &anchors[..i];
        let group = match earlier.iter().position(|e| same_certificate(e, anchor)) {
            Some(first_listing) => group_of[first_listing],
            None => earlier
                .iter()
                .zip(&group_of)
                .filter(|(e, _)| e.subject == anchor.subject)
                .map(|(_, &g)| g + 1)
                .max()
                .unwrap_or(0),
        };
        group_of.push(group);
    }
    group_of
}

/// Checks one bundle certificate: v3, `CA:true`, keyUsage with `keyCertSign`, and a key the
/// chain rules accept (its own signature is nobody's to verify: an anchor is trusted as given).
fn anchor_certificate(index: usize, der: &CertificateDer<'static>) -> Result<AnchorCertificate, AnchorError> {
    let x509 = parse_der(der).map_err(|e| AnchorError::MalformedCertificate {
        index,
        reason: e.to_string(),
    })?;
    let subject = distinguished_name(x509.subject()).to_string();
    if x509.version() != X509Version::V3 {
        return Err(AnchorError::NotV3 { subject });
    }
    let is_ca = x509.basic_constraints().ok().flatten().is_some_and(|bc| bc.value.ca);
    if !is_ca {
        return Err(AnchorError::NotCa { subject });
    }
    let key_cert_sign = x509
        .key_usage()
        .ok()
        .flatten()
        .is_some_and(|ku| ku.value.key_cert_sign());
    if !key_cert_sign {
        return Err(AnchorError::NoKeyCertSign { subject });
    }
    if let Err(e) = public_key(&x509) {
        return Err(AnchorError::UnusableKey {
            subject,
            reason: e.to_string(),
        });
    }
    Ok(AnchorCertificate {
        subject,
        subject_der: x509.subject().as_raw().to_vec(),
        issuer_der: x509.issuer().as_raw().to_vec(),
        key: x509.public_key().raw.to_vec(),
        not_before: x509.validity().not_before.timestamp(),
        not_after: x509.validity().not_after.timestamp(),
        der: der.clone(),
        revoked_by: None,
        issuer_serial: super::IssuerSerial::of(&x509),
    })
}

/// Parses a PEM or DER CRL and checks that an anchor certificate issued it: its issuer
/// names an anchor certificate whose key verifies the CRL signature (RFC 5280 §6.3.3 (f)).
/// The signature is added to `verified`; the position of the signing certificate in
/// `anchors` is returned with the CRL.
fn load_crl(
    index: usize,
    bytes: &[u8],
    anchors: &[AnchorCertificate],
    verified: &mut KnownCrlSignatures,
) -> Result<(CertRevocationList<'static>, CrlInfo, usize), AnchorError> {
    let bad = |reason: String| AnchorError::BadCrl { index, reason };
    let der = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        let blocks = CertificateRevocationListDer::pem_slice_iter(bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("not valid PEM: {}", pem_problem(&e))))?;
        match blocks.as_slice() {
            [one] => one.to_vec(),
            [] => return Err(bad("the file holds no `-----BEGIN X509 CRL-----` block".to_owned())),
            more => {
                return Err(bad(format!(
                    "the file holds {} CRLs; give each its own file in `crls`",
                    more.len()
                )));
            }
        }
    } else {
        bytes.to_vec()
    };
    let (_, parsed) = CertificateRevocationList::from_der(&der).map_err(|e| {
        bad(format!(
            "not a DER X.509 CRL ({})",
            e.to_string().trim_start_matches("Parsing Error: ")
        ))
    })?;
    let issuers: Vec<(usize, X509Certificate<'_>)> = anchors
        .iter()
        .enumerate()
        .filter_map(|(position, a)| Some((position, parse_der(&a.der).ok()?)))
        .filter(|(_, c)| c.subject().as_raw() == parsed.tbs_cert_list.issuer.as_raw())
        .collect();
    if issuers.is_empty() {
        return Err(AnchorError::CrlIssuerUnknown {
            index,
            issuer: distinguished_name(&parsed.tbs_cert_list.issuer).to_string(),
        });
    }
    // The issuers' keys, tried in turn: a CA re-keyed under its name has several.
    let mut refusal = CrlSignatureRefusal::UnsupportedAlgorithm;
    let mut signed_by = None;
    for (position, issuer) in &issuers {
        match verified.verify(&SUPPORTED_SIGNATURE_ALGORITHMS, issuer.public_key().raw, &der) {
            Ok(()) => {
                signed_by = Some((*position, issuer));
                break;
            }
            Err(e) => refusal = refusal.max(e),
        }
    }
    let Some((position, signer)) = signed_by else {
        return Err(bad(refusal_reason(refusal, &parsed)));
    };
    // RFC 5280 §6.3.3 (f): the CRL issuer's keyUsage, when present, must assert cRLSign
    // (webpki checks it for intermediates, not for trust anchors).
    if signer.key_usage().ok().flatten().is_some_and(|ku| !ku.value.crl_sign()) {
        return Err(bad(format!(
            "the anchor certificate that signed it ({}) lacks the cRLSign key usage",
            distinguished_name(signer.subject())
        )));
    }
    let info = CrlInfo {
        issuer: distinguished_name(&parsed.tbs_cert_list.issuer).to_string(),
        issuer_digest: crate::sigv4::sha256(parsed.tbs_cert_list.issuer.as_raw()),
        signer_key: signer.public_key().raw.to_vec(),
        number: parsed.crl_number().cloned(),
        this_update: parsed.tbs_cert_list.this_update.timestamp(),
        next_update: parsed.tbs_cert_list.next_update.map(|t| t.timestamp()),
        scope: crl_scope(&parsed),
        revoked_serials: revoked_serials(&parsed),
    };
    let crl = OwnedCertRevocationList::from_der(&der).map_err(|e| bad(crl_refusal(&e, &parsed)))?;
    Ok((CertRevocationList::from(crl), info, position))
}

/// The serials `crl` revokes, formatted and sorted, each once.
fn revoked_serials(crl: &CertificateRevocationList<'_>) -> std::sync::Arc<[String]> {
    let mut serials: Vec<String> = crl
        .iter_revoked_certificates()
        .map(|revoked| super::format_serial_hex(revoked.raw_serial()))
        .collect();
    serials.sort_unstable();
    serials.dedup();
    serials.into()
}

/// Why rustls-webpki refuses a CRL that parsed and verified, in words an operator can act on
/// (webpki's own are variant names: `BadDer`, `MalformedExtensions`…).
#[allow(deprecated)] // webpki still produces some deprecated unit variants
fn crl_refusal(error: &webpki::Error, crl: &CertificateRevocationList<'_>) -> String {
    use webpki::Error as E;
    const V2: &str = "have the CA issue version 2 CRLs with the CRL number and authority key identifier \
                      extensions RFC 5280 §5.2 requires (OpenSSL's `ca -gencrl`: a `crlnumber` file in the CA \
                      section and `crl_extensions` with `authorityKeyIdentifier = keyid:always`)";
    if crl.version().is_none_or(|v| v.0 < 1) {
        return format!("it is a version 1 CRL, and rolegate reads version 2 CRLs only: {V2}");
    }
    if crl.extensions().is_empty() {
        return format!("it has no extensions: {V2}");
    }
    match error {
        E::UnsupportedDeltaCrl => "it is a delta CRL; give the CA's full (base) CRL".to_owned(),
        E::UnsupportedIndirectCrl => {
            "it is an indirect CRL (it lists certificates of other issuers), which rolegate does not support; \
             give each CA's own CRL"
                .to_owned()
        }
        E::UnsupportedRevocationReasonsPartitioning => {
            "it covers some revocation reasons only (onlySomeReasons), which rolegate does not support; \
             give a CRL that covers every reason"
                .to_owned()
        }
        E::UnsupportedCrlIssuingDistributionPoint => {
            "its issuing distribution point names no full distribution point name (fullName), so it cannot be \
             matched to the certificates it covers; issue it without an issuing distribution point or with a \
             fullName one"
                .to_owned()
        }
        E::InvalidCrlNumber => "its CRL number is not an integer of at most 20 octets (RFC 5280 §5.2.3)".to_owned(),
        E::UnsupportedCrlVersion => format!("its version is not 2: {V2}"),
        E::InvalidSerialNumber => "a revoked certificate's serial number is malformed".to_owned(),
        E::UnsupportedRevocationReason => "a revoked certificate's reason code is not one RFC 5280 defines".to_owned(),
        E::UnsupportedCriticalExtension => "it has a critical extension rolegate does not know".to_owned(),
        other => format!("rustls-webpki cannot read it ({other:?})"),
    }
}

/// At most one CRL per issuing key: webpki consults the first CRL whose issuer matches a
/// certificate's, so a second one of the same key (an old and a new CRL listed together
/// during a CRL update) would have its revocations ignored. A re-keyed CA has one per key.
fn check_one_crl_per_issuer_key(
    signers: &[usize],
    anchors: &[rustls_pki_types::TrustAnchor<'_>],
    infos: &[CrlInfo],
) -> Result<(), AnchorError> {
    for (j, &later) in signers.iter().enumerate() {
        let same_key = |&earlier: &usize| same_certificate(&anchors[earlier], &anchors[later]);
        if let Some(i) = signers[..j].iter().position(same_key) {
            return Err(AnchorError::DuplicateCrlIssuer {
                first: i + 1,
                second: j + 1,
                issuer: infos[j].issuer.clone(),
            });
        }
    }
    Ok(())
}

/// A CA re-keyed under its name lists a CRL for every key or for none: webpki looks a CRL up
/// by issuer name, so the certificates of a key without one would meet another key's CRL,
/// whose signature cannot verify, and be refused.
fn check_every_key_has_a_crl(
    signers: &[usize],
    anchors: &[rustls_pki_types::TrustAnchor<'_>],
    certificates: &[AnchorCertificate],
) -> Result<(), AnchorError> {
    for (position, anchor) in anchors.iter().enumerate() {
        let has_crl = |&signer: &usize| same_certificate(&anchors[signer], anchor);
        let name_has_crl = signers.iter().any(|&signer| anchors[signer].subject == anchor.subject);
        if name_has_crl && !signers.iter().any(has_crl) {
            return Err(AnchorError::CrlMissingForKey {
                index: position + 1,
                subject: certificates[position].subject.clone(),
            });
        }
    }
    Ok(())
}

/// Why no key of the CRL's issuer name verified its signature, for the operator.
fn refusal_reason(refusal: CrlSignatureRefusal, crl: &CertificateRevocationList<'_>) -> String {
    match refusal {
        CrlSignatureRefusal::Malformed => {
            "its signature or the issuing certificate's key is not well-formed DER".to_owned()
        }
        CrlSignatureRefusal::Invalid => {
            "its signature does not verify with the key of the anchor certificate that issued it".to_owned()
        }
        CrlSignatureRefusal::UnsupportedAlgorithm => {
            let algorithm = &crl.signature_algorithm;
            let oid = algorithm.algorithm.to_id_string();
            let pkcs1 = [
                "1.2.840.113549.1.1.11",
                "1.2.840.113549.1.1.12",
                "1.2.840.113549.1.1.13",
            ];
            if pkcs1.contains(&oid.as_str()) && algorithm.parameters.is_none() {
                // RFC 4055 §5: the parameters of the PKCS#1 v1.5 algorithms are NULL, and
                // webpki matches the encoding exactly.
                return format!("its signature algorithm ({oid}) lacks the NULL parameters RFC 4055 §5 requires");
            }
            format!(
                "its signature algorithm ({oid}) is not one rolegate verifies with the issuing certificate's key \
                 (ECDSA P-256 or P-384, or RSA 2048–8192 bits with PKCS#1 v1.5 or PSS, each with SHA-256, SHA-384 or SHA-512)"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use rustls_pki_types::Der;

    use super::*;

    #[test]
    fn each_key_of_a_subject_is_in_a_group_of_its_own() {
        let anchor = |subject: &'static [u8], key: &'static [u8]| rustls_pki_types::TrustAnchor {
            subject: Der::from_slice(subject),
            subject_public_key_info: Der::from_slice(key),
            name_constraints: None,
        };
        let bundle = [
            anchor(b"A", b"1"),
            anchor(b"B", b"1"),
            anchor(b"A", b"2"),
            anchor(b"A", b"1"),
            anchor(b"A", b"3"),
            anchor(b"B", b"2"),
            anchor(b"C", b"1"),
        ];
        assert_eq!(group_of_each(&bundle), [0, 0, 1, 0, 2, 1, 0]);
        assert_eq!(group_of_each(&bundle[..2]), [0, 0]);
        assert_eq!(group_of_each(&[]), Vec::<usize>::new());
    }
}
