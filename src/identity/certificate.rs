//! [`ClientCertificate`]: a Roles Anywhere end-entity certificate, parsed and checked against
//! the leaf rules that need no issuer (DESIGN §1, AWS
//! <https://docs.aws.amazon.com/rolesanywhere/latest/userguide/trust-model.html#signature-verification>).
//!
//! Decisions:
//! - `basicConstraints` absent is accepted: RFC 5280 §4.2.1.9 makes such a certificate an
//!   end entity, and webpki treats it so; present with `CA:true` is rejected. DESIGN §1 and
//!   AWS's trust-model page write `CA:false` for a leaf; refusing the absent extension would
//!   refuse whole PKIs that omit it for end entities (HashiCorp Vault's PKI engine drops it
//!   even when the CSR asks for it, hashicorp/vault#24817) and gain nothing: such a
//!   certificate can sign no other certificate that any verifier would accept.
//! - `keyUsage` absent is accepted (RFC 5280 §4.2.1.3: no restriction); present, it must
//!   include `digitalSignature` (the key signs the AWS4-X509 request).
//! - Serial numbers: see [`super::format_serial_hex`]; in decimal, x509-parser's unsigned serial.

use sha2::{Digest, Sha256};
use x509_parser::error::X509Error;
use x509_parser::nom::{self, error::ErrorKind};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;
use x509_parser::x509::X509Version;

use super::attributes::{DistinguishedName, check_serial, distinguished_name, format_serial_hex, source_identity};
use super::error::CertificateError;
use crate::sigv4::sha256;
pub use crate::sigv4::x509::PublicKeyKind;
use crate::sigv4::x509::X509VerifyingKey;

/// A certificate as a CRL names it when it revokes it: its issuer and its serial number (RFC
/// 5280 §5.1.2.6; a CA gives each certificate it issues a serial of its own, §4.1.2.2). The
/// issuer is the SHA-256 of its Name as encoded (DER), the bytes CRL issuers are matched on;
/// the serial is the INTEGER's content octets, compared byte for byte as rustls-webpki
/// compares them with a CRL's entries.
///
/// Sessions carry those of their chain, so that a CRL revoking one later ends them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuerSerial {
    pub issuer_digest: [u8; 32],
    pub serial: Vec<u8>,
}

impl IssuerSerial {
    /// The name of a certificate whose issuer Name is `issuer_name_der` (DER, as encoded) and
    /// whose serial is `raw_serial` (the INTEGER's content octets).
    pub fn new(issuer_name_der: &[u8], raw_serial: &[u8]) -> Self {
        Self {
            issuer_digest: crate::sigv4::sha256(issuer_name_der),
            serial: raw_serial.to_vec(),
        }
    }

    /// The serial in hex, as [`super::format_serial_hex`] writes it: for messages.
    pub fn serial_hex(&self) -> String {
        format_serial_hex(&self.serial)
    }

    /// The name of a parsed certificate.
    pub(crate) fn of(certificate: &X509Certificate<'_>) -> Self {
        Self::new(certificate.issuer().as_raw(), certificate.raw_serial())
    }
}

/// A parsed client (leaf) certificate that passed the issuer-independent rules, with what
/// every request made with it needs computed once: its digest, its key ready to verify
/// signatures, its principal tags and source identity.
#[derive(Clone, Debug)]
pub struct ClientCertificate {
    der: Vec<u8>,
    /// SHA-256 of `der`.
    fingerprint: [u8; 32],
    serial_decimal: String,
    serial_hex: String,
    public_key: Vec<u8>,
    verifying_key: X509VerifyingKey,
    subject: DistinguishedName,
    /// The issuer name as encoded (DER), as path building matches it to CA subjects.
    issuer_der: Vec<u8>,
    /// The issuer and serial, as a CRL names the certificate.
    issuer_serial: IssuerSerial,
    /// `subject` and `issuer` rendered once: every audit event and subject ARN needs them.
    subject_string: String,
    issuer_string: String,
    /// The UUID-shaped id of the subject ARN (see [`ClientCertificate::subject_id`]).
    subject_id: String,
    not_before: i64,
    not_after: i64,
    principal_tags: Vec<(String, String)>,
    source_identity: String,
    /// Why a session may not be made of this certificate's names (see
    /// [`ClientCertificate::session_refusal`]).
    session_refusal: Option<CertificateError>,
}

/// AWS session tag values are at most 256 characters.
const TAG_VALUE_MAX: usize = 256;

impl ClientCertificate {
    /// Parses a DER certificate and enforces the leaf rules: X.509 v3, a positive serial of at
    /// most 30 octets, not a CA, keyUsage
    /// `digitalSignature` when keyUsage is present, a SHA-256-or-stronger signature algorithm,
    /// and an RSA ≥ 2048 or ECDSA P-256/P-384 key.
    pub fn parse(der: Vec<u8>) -> Result<ClientCertificate, CertificateError> {
        let x509 = parse_der(&der)?;
        check_version(&x509)?;
        check_serial(x509.raw_serial())?;
        check_not_ca(&x509)?;
        check_digital_signature(&x509)?;
        check_signature_algorithm(&x509.signature_algorithm.algorithm.to_id_string())?;
        let (key_kind, public_key) = public_key(&x509)?;
        let verifying_key = X509VerifyingKey::parse(key_kind, &public_key)
            .map_err(|_| CertificateError::Malformed(format!("the {key_kind:?} public key cannot be parsed")))?;
        let (first_san_dns, first_san_uri, first_san_directory_name) = first_sans(&x509)?;
        let validity = x509.validity();
        let subject = distinguished_name(x509.subject());
        let issuer = distinguished_name(x509.issuer());
        let serial_hex = format_serial_hex(x509.raw_serial());
        let principal_tags = principal_tags(
            &subject,
            &issuer,
            first_san_dns.as_deref(),
            first_san_uri.as_deref(),
            first_san_directory_name.as_ref(),
        );
        let subject_string = subject.to_string();
        let issuer_string = issuer.to_string();
        let identity = source_identity(subject.first_text("CN"), &serial_hex);
        let session_refusal = identity.as_ref().err().cloned();
        Ok(ClientCertificate {
            fingerprint: sha256(&der),
            serial_decimal: x509.tbs_certificate.serial.to_string(),
            source_identity: identity.unwrap_or_default(),
            session_refusal,
            serial_hex,
            public_key,
            verifying_key,
            subject_id: subject_id(&subject_string, &issuer_string),
            subject_string,
            issuer_string,
            subject,
            issuer_der: x509.issuer().as_raw().to_vec(),
            issuer_serial: IssuerSerial::of(&x509),
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
            principal_tags,
            // Last: every borrow of `der` through `x509` has ended.
            der,
        })
    }

    /// SHA-256 of the DER: names the certificate in cache keys.
    pub fn fingerprint(&self) -> &[u8; 32] {
        &self.fingerprint
    }

    /// The key, parsed, that verifies the certificate holder's AWS4-X509 signatures.
    pub fn verifying_key(&self) -> &X509VerifyingKey {
        &self.verifying_key
    }

    /// The certificate DER, as received.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The serial number in decimal, as in the `Credential=` of AWS4-X509 signatures.
    pub fn serial_decimal(&self) -> &str {
        &self.serial_decimal
    }

    /// The serial number in lowercase hex (see [`super::format_serial_hex`]); the default
    /// RoleSessionName.
    pub fn serial_hex(&self) -> &str {
        &self.serial_hex
    }

    /// The key kind and the subjectPublicKey BIT STRING contents.
    pub fn public_key(&self) -> (PublicKeyKind, &[u8]) {
        (self.verifying_key.kind(), &self.public_key)
    }

    /// The subject, in certificate order.
    pub fn subject(&self) -> &DistinguishedName {
        &self.subject
    }

    /// The issuer name as encoded (DER).
    pub fn issuer_der(&self) -> &[u8] {
        &self.issuer_der
    }

    /// The issuer and serial, as a CRL names the certificate.
    pub fn issuer_serial(&self) -> &IssuerSerial {
        &self.issuer_serial
    }

    /// notBefore, Unix seconds.
    pub fn not_before(&self) -> i64 {
        self.not_before
    }

    /// notAfter, Unix seconds.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// RFC 4514-style subject (`CN=x,O=y`) for logs and audit.
    pub fn subject_string(&self) -> &str {
        &self.subject_string
    }

    /// RFC 4514-style issuer (`CN=x,O=y`) for logs and audit.
    pub fn issuer_string(&self) -> &str {
        &self.issuer_string
    }

    /// Principal tags of AWS's default attribute mapping (a profile's
    /// [`AttributeMapping`](super::AttributeMapping) may keep fewer).
    pub fn principal_tags(&self) -> &[(String, String)] {
        &self.principal_tags
    }

    /// The session's source identity (see [`super::source_identity`]), from the first CN;
    /// empty when [`ClientCertificate::session_refusal`] says the CN cannot give one.
    pub fn source_identity(&self) -> &str {
        &self.source_identity
    }

    /// Why no session may be made of this certificate's names, though it may still identify
    /// its holder (an mTLS caller of the admin or verification APIs): a CN that would give it
    /// another certificate's source identity (see [`super::source_identity`]). CreateSession
    /// refuses such a certificate, and one whose mapped tags [`mapped_tag_refusal`] refuses.
    pub fn session_refusal(&self) -> Option<&CertificateError> {
        self.session_refusal.as_ref()
    }

    /// The id of the subject ARN Roles Anywhere answers with
    /// (`arn:aws:rolesanywhere:{region}:{account}:subject/{id}`): a stable UUID-shaped id of
    /// the subject and issuer, the same for every certificate of the same name and issuer
    /// (a renewed certificate keeps it), and under every trust anchor.
    pub fn subject_id(&self) -> &str {
        &self.subject_id
    }
}

/// The first 16 bytes of SHA-256(`subject` ‖ 0 ‖ `issuer`), hex, grouped 8-4-4-4-12.
fn subject_id(subject: &str, issuer: &str) -> String {
    let mut h = Sha256::new();
    h.update(subject.as_bytes());
    h.update([0]);
    h.update(issuer.as_bytes());
    let digest: [u8; 32] = h.finalize().into();
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    uuid::Uuid::from_bytes(first).hyphenated().to_string()
}

/// Principal tags of AWS's default attribute mapping
/// (<https://docs.aws.amazon.com/rolesanywhere/latest/userguide/attribute-mapping.html>):
/// `x509Subject/{RDN}` and `x509Issuer/{RDN}` for every supported attribute (repeated types
/// joined with `/`), then `x509SAN/DNS`, `x509SAN/URI` and `x509SAN/Name/{RDN}` from the
/// first SAN of each type. Values are kept whole: the tags a profile maps are checked by
/// [`mapped_tag_refusal`].
fn principal_tags(
    subject: &DistinguishedName,
    issuer: &DistinguishedName,
    first_san_dns: Option<&str>,
    first_san_uri: Option<&str>,
    first_san_directory_name: Option<&DistinguishedName>,
) -> Vec<(String, String)> {
    let mut tags = Vec::new();
    for (prefix, dn) in [("x509Subject", subject), ("x509Issuer", issuer)] {
        for (name, value) in dn.tag_values() {
            tags.push((format!("{prefix}/{name}"), value));
        }
    }
    if let Some(dns) = first_san_dns {
        tags.push(("x509SAN/DNS".to_owned(), dns.to_owned()));
    }
    if let Some(uri) = first_san_uri {
        tags.push(("x509SAN/URI".to_owned(), uri.to_owned()));
    }
    if let Some(dn) = first_san_directory_name {
        for (name, value) in dn.tag_values() {
            tags.push((format!("x509SAN/Name/{name}"), value));
        }
    }
    tags
}

/// Why no session may carry the principal `tags` a profile maps: the first value longer than
/// an STS tag value may be (256 characters; cut short, two certificates would share a tag a
/// condition tells apart), or holding a control character (it would reach logs, XML answers
/// and the platforms that read tags). Tags a profile leaves out are not checked.
pub fn mapped_tag_refusal(tags: &[(String, String)]) -> Option<CertificateError> {
    tags.iter().find_map(|(key, value)| {
        let length = value.chars().count();
        if length > TAG_VALUE_MAX {
            return Some(CertificateError::TagTooLong {
                tag: key.clone(),
                length,
            });
        }
        value
            .chars()
            .find(|c| c.is_control())
            .map(|c| CertificateError::TagControlCharacter {
                tag: key.clone(),
                character: u32::from(c),
            })
    })
}

/// The subject and issuer of a certificate (RFC 4514 text), and its issuer as webpki matches
/// a CRL to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateNames {
    pub subject: String,
    pub issuer: String,
    /// The issuer name's DER without its outer SEQUENCE tag and length, as webpki's
    /// `CertRevocationList::issuer` gives a CRL's.
    pub issuer_contents: Vec<u8>,
    /// The URIs its CRL distribution points name (of those without reasons or a CRL issuer,
    /// the only ones webpki matches), or None when it has no CRL distribution points.
    pub crl_distribution_uris: Option<Vec<String>>,
}

/// The names of the DER certificate `der` (a leaf or an intermediate), or why it is not a
/// certificate.
pub fn certificate_names(der: &[u8]) -> Result<CertificateNames, String> {
    names_of(&parse_der_or_why(der)?)
}

/// The names of the parsed certificate `x509` ([`certificate_names`]).
pub(super) fn names_of(x509: &X509Certificate<'_>) -> Result<CertificateNames, String> {
    use x509_parser::der_parser::asn1_rs::{Any, FromDer};
    let (_, issuer) = Any::from_der(x509.issuer().as_raw()).map_err(|_| "the issuer name is not DER".to_owned())?;
    Ok(CertificateNames {
        subject: super::attributes::distinguished_name(x509.subject()).to_string(),
        issuer: super::attributes::distinguished_name(x509.issuer()).to_string(),
        issuer_contents: issuer.data.to_vec(),
        crl_distribution_uris: crl_distribution_uris(x509),
    })
}

/// The URIs of the full names of `x509`'s CRL distribution points without reasons or a CRL
/// issuer (webpki matches no other), or None when it has no CRL distribution points
/// extension (one that does not parse names none).
fn crl_distribution_uris(x509: &X509Certificate<'_>) -> Option<Vec<String>> {
    use x509_parser::extensions::{DistributionPointName, ParsedExtension};
    let extension = x509
        .extensions()
        .iter()
        .find(|e| e.oid == x509_parser::oid_registry::OID_X509_EXT_CRL_DISTRIBUTION_POINTS)?;
    let ParsedExtension::CRLDistributionPoints(points) = extension.parsed_extension() else {
        return Some(Vec::new());
    };
    let uris = points
        .iter()
        .filter(|p| p.reasons.is_none() && p.crl_issuer.is_none())
        .filter_map(|p| match &p.distribution_point {
            Some(DistributionPointName::FullName(names)) => Some(uris(names)),
            _ => None,
        })
        .flatten()
        .collect();
    Some(uris)
}

/// The URIs among `names`.
pub(super) fn uris(names: &[x509_parser::extensions::GeneralName<'_>]) -> Vec<String> {
    names
        .iter()
        .filter_map(|n| match n {
            x509_parser::extensions::GeneralName::URI(uri) => Some((*uri).to_owned()),
            _ => None,
        })
        .collect()
}

/// Parses a complete DER certificate (no trailing bytes).
pub(crate) fn parse_der(der: &[u8]) -> Result<X509Certificate<'_>, CertificateError> {
    parse_der_or_why(der).map_err(CertificateError::Malformed)
}

/// [`parse_der`], failing with why the bytes are not a certificate, in words for users
/// rather than the parser's own (`Parsing Error: Der(UnexpectedTag …)`).
pub(crate) fn parse_der_or_why(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    match X509Certificate::from_der(der) {
        Ok((rest, _)) if !rest.is_empty() => Err("trailing data after the certificate".to_owned()),
        Ok((_, x509)) => Ok(x509),
        Err(
            nom::Err::Incomplete(_)
            | nom::Err::Error(X509Error::NomError(ErrorKind::Eof))
            | nom::Err::Failure(X509Error::NomError(ErrorKind::Eof)),
        ) => Err("the DER ends before the certificate does (truncated)".to_owned()),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(format!("not a DER X.509 certificate ({e})")),
    }
}

/// RFC 5280 §4.1.2.1: extensions require v3; AWS requires v3.
fn check_version(x509: &X509Certificate<'_>) -> Result<(), CertificateError> {
    match x509.version() {
        X509Version::V3 => Ok(()),
        _ => Err(CertificateError::UnsupportedVersion),
    }
}

/// RFC 5280 §4.2.1.9 / AWS: the leaf must not be a CA.
fn check_not_ca(x509: &X509Certificate<'_>) -> Result<(), CertificateError> {
    let bc = x509
        .basic_constraints()
        .map_err(|e| CertificateError::Malformed(format!("basicConstraints: {e}")))?;
    match bc {
        Some(bc) if bc.value.ca => Err(CertificateError::CaUsedAsLeaf),
        _ => Ok(()),
    }
}

/// RFC 5280 §4.2.1.3 / AWS: the leaf key signs requests, so `digitalSignature` is needed
/// when keyUsage is present.
fn check_digital_signature(x509: &X509Certificate<'_>) -> Result<(), CertificateError> {
    let ku = x509
        .key_usage()
        .map_err(|e| CertificateError::Malformed(format!("keyUsage: {e}")))?;
    match ku {
        Some(ku) if !ku.value.digital_signature() => Err(CertificateError::MissingDigitalSignature),
        _ => Ok(()),
    }
}

/// AWS: signatures must use SHA-256 or stronger (RSA PKCS#1 v1.5, RSA-PSS, ECDSA).
pub(crate) fn check_signature_algorithm(oid: &str) -> Result<(), CertificateError> {
    let name = match oid {
        "1.2.840.113549.1.1.11"
        | "1.2.840.113549.1.1.12"
        | "1.2.840.113549.1.1.13"
        | "1.2.840.113549.1.1.10"
        | "1.2.840.10045.4.3.2"
        | "1.2.840.10045.4.3.3"
        | "1.2.840.10045.4.3.4" => return Ok(()),
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.14" => "sha224WithRSAEncryption",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.1" => "ecdsa-with-SHA224",
        "1.2.840.10040.4.3" => "dsa-with-SHA1",
        "1.3.101.112" => "Ed25519",
        other => other,
    };
    Err(CertificateError::UnsupportedSignatureAlgorithm {
        algorithm: name.to_owned(),
    })
}

/// AWS: RSA keys of at least 2048 bits; and at most 8192, the most the signature algorithms
/// verify (`RSA_*_2048_8192_*`): a larger key could sign nothing that verifies.
pub(crate) fn check_rsa_bits(bits: usize) -> Result<(), CertificateError> {
    if bits < 2048 {
        return Err(CertificateError::RsaKeyTooSmall { bits });
    }
    if bits > 8192 {
        return Err(CertificateError::RsaKeyTooLarge { bits });
    }
    Ok(())
}

/// Classifies the key: RSA of 2048–8192 bits, or ECDSA on P-256 / P-384 (AWS's supported keys).
pub(super) fn public_key(x509: &X509Certificate<'_>) -> Result<(PublicKeyKind, Vec<u8>), CertificateError> {
    let spki = x509.public_key();
    let bytes = spki.subject_public_key.data.to_vec();
    let algorithm = spki.algorithm.algorithm.to_id_string();
    match algorithm.as_str() {
        "1.2.840.113549.1.1.1" => {
            let bits = match spki.parsed() {
                Ok(PublicKey::RSA(rsa)) => modulus_bits(rsa.modulus),
                _ => {
                    return Err(CertificateError::Malformed(
                        "the RSA public key cannot be parsed".to_owned(),
                    ));
                }
            };
            check_rsa_bits(bits)?;
            Ok((PublicKeyKind::Rsa, bytes))
        }
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| oid.to_id_string());
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => Ok((PublicKeyKind::EcP256, bytes)),
                Some("1.3.132.0.34") => Ok((PublicKeyKind::EcP384, bytes)),
                Some("1.3.132.0.35") => Err(CertificateError::UnsupportedPublicKey {
                    key: "ECDSA P-521".to_owned(),
                }),
                Some(other) => Err(CertificateError::UnsupportedPublicKey {
                    key: format!("ECDSA on curve {other}"),
                }),
                None => Err(CertificateError::UnsupportedPublicKey {
                    key: "ECDSA without a named curve".to_owned(),
                }),
            }
        }
        "1.3.101.112" => Err(CertificateError::UnsupportedPublicKey {
            key: "Ed25519".to_owned(),
        }),
        other => Err(CertificateError::UnsupportedPublicKey {
            key: format!("algorithm {other}"),
        }),
    }
}

/// Bit length of a big-endian unsigned modulus (leading zero bytes/bits ignored).
fn modulus_bits(modulus: &[u8]) -> usize {
    let start = modulus.iter().position(|b| *b != 0).unwrap_or(modulus.len());
    match modulus.get(start..) {
        Some([first, rest @ ..]) => rest.len() * 8 + (8 - first.leading_zeros() as usize),
        _ => 0,
    }
}

type FirstSans = (Option<String>, Option<String>, Option<DistinguishedName>);

/// The first DNS name, URI and directory name of the subjectAltName extension.
fn first_sans(x509: &X509Certificate<'_>) -> Result<FirstSans, CertificateError> {
    use x509_parser::extensions::GeneralName;
    let san = x509
        .subject_alternative_name()
        .map_err(|e| CertificateError::Malformed(format!("subjectAltName: {e}")))?;
    let (mut dns, mut uri, mut dir) = (None, None, None);
    for name in san.iter().flat_map(|s| s.value.general_names.iter()) {
        match name {
            GeneralName::DNSName(v) if dns.is_none() => dns = Some((*v).to_owned()),
            GeneralName::URI(v) if uri.is_none() => uri = Some((*v).to_owned()),
            GeneralName::DirectoryName(n) if dir.is_none() => dir = Some(distinguished_name(n)),
            _ => {}
        }
    }
    Ok((dns, uri, dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_algorithm_table() {
        let ok = [
            "1.2.840.113549.1.1.11",
            "1.2.840.113549.1.1.12",
            "1.2.840.113549.1.1.13",
            "1.2.840.113549.1.1.10",
            "1.2.840.10045.4.3.2",
            "1.2.840.10045.4.3.3",
            "1.2.840.10045.4.3.4",
        ];
        for oid in ok {
            assert_eq!(check_signature_algorithm(oid), Ok(()), "{oid}");
        }
        // rcgen cannot sign with SHA-1, so the SHA-1 rule is tested on the OID table.
        let bad = [
            ("1.2.840.113549.1.1.5", "sha1WithRSAEncryption"),
            ("1.2.840.10045.4.1", "ecdsa-with-SHA1"),
            ("1.2.840.113549.1.1.4", "md5WithRSAEncryption"),
            ("1.3.101.112", "Ed25519"),
            ("1.2.3", "1.2.3"),
        ];
        for (oid, name) in bad {
            assert_eq!(
                check_signature_algorithm(oid),
                Err(CertificateError::UnsupportedSignatureAlgorithm {
                    algorithm: name.to_owned()
                })
            );
        }
    }

    #[test]
    fn rsa_size_rule() {
        // rcgen/aws-lc-rs cannot generate RSA-1024 keys, so the size rule is tested directly.
        assert_eq!(
            check_rsa_bits(1024),
            Err(CertificateError::RsaKeyTooSmall { bits: 1024 })
        );
        assert_eq!(check_rsa_bits(2048), Ok(()));
        assert_eq!(check_rsa_bits(8192), Ok(()));
        assert_eq!(
            check_rsa_bits(8704).unwrap_err().to_string(),
            "RSA key of 8704 bits is too large; at most 8192 bits are supported"
        );
        assert_eq!(modulus_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(modulus_bits(&[0x01, 0x00]), 9);
        assert_eq!(modulus_bits(&[]), 0);
    }

    #[test]
    fn garbage_is_malformed() {
        for der in [vec![], vec![0x30, 0x03, 0x01, 0x02], b"not a certificate".to_vec()] {
            assert!(matches!(
                ClientCertificate::parse(der),
                Err(CertificateError::Malformed(_))
            ));
        }
    }
}
