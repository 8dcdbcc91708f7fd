//! A small certificate factory built on rcgen: certificate authorities (root and intermediate),
//! server certificates, Roles Anywhere client certificates and CRLs.
//!
//! Used by `rolegate certs`, `rolegate serve --dev`, the benchmarks and the tests. Every
//! certificate it issues follows the rules of DESIGN §1 (and of AWS IAM Roles Anywhere,
//! <https://docs.aws.amazon.com/rolesanywhere/latest/userguide/trust-model.html>):
//! authorities are `CA:true` with `keyCertSign` and `cRLSign`; client certificates are
//! `CA:false` with `digitalSignature` and the `clientAuth` extended key usage. Signatures use
//! SHA-256 (RSA, ECDSA P-256) or SHA-384 (ECDSA P-384), chosen by the issuer's key type.
//!
//! Serial numbers are 16 random bytes with the high bit cleared (positive) and the next bit set
//! (so the DER integer is always exactly 16 bytes), unless the caller provides one.

use std::fmt;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams, SanType,
    SerialNumber,
};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroizing;

mod reissue;

pub use reissue::{PreviousCrl, ReissuedCrl, holds_a_crl};

/// The key algorithm (and size) of a generated key pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// ECDSA on NIST P-256; certificates it signs use ecdsa-with-SHA256.
    EcdsaP256,
    /// ECDSA on NIST P-384; certificates it signs use ecdsa-with-SHA384.
    EcdsaP384,
    /// RSA 2048 bits; certificates it signs use sha256WithRSAEncryption.
    Rsa2048,
    /// RSA 3072 bits; certificates it signs use sha256WithRSAEncryption.
    Rsa3072,
}

/// A freshly issued certificate and its private key.
///
/// `Debug` redacts the private key.
#[derive(Clone)]
pub struct Issued {
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// The certificate, PEM (`CERTIFICATE`).
    pub cert_pem: String,
    /// The private key, PKCS#8 DER.
    pub key_pkcs8_der: Zeroizing<Vec<u8>>,
    /// The private key, PEM (`PRIVATE KEY`, PKCS#8).
    pub key_pem: Zeroizing<String>,
    /// The serial number, formatted like [`crate::identity::ClientCertificate::serial_hex`].
    pub serial_hex: String,
}

/// A certificate authority that can sign certificates and CRLs.
///
/// `Debug` redacts the private key.
pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
    key_identifier_method: KeyIdMethod,
    issued: Issued,
}

/// What to put in a client (end-entity) certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSpec {
    /// Subject CN.
    pub common_name: String,
    /// Subject O, if any.
    pub organization: Option<String>,
    /// Subject OU, if any.
    pub organizational_unit: Option<String>,
    /// SAN dNSName entries.
    pub dns_names: Vec<String>,
    /// SAN uniformResourceIdentifier entries.
    pub uris: Vec<String>,
    /// The key to generate for the certificate.
    pub key: KeyType,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// Serial number as big-endian bytes; random when `None`.
    pub serial: Option<Vec<u8>>,
}

/// Why a certificate, key or CRL could not be produced or loaded.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// rcgen refused to generate a key or sign a certificate/CRL.
    #[error("could not generate the {what}: {reason}")]
    Generate {
        /// What was being generated.
        what: &'static str,
        /// rcgen's explanation.
        reason: String,
    },
    /// The CA certificate PEM given to [`Authority::from_pem`] could not be used.
    #[error("the CA certificate is unusable: {0}")]
    CaCertificate(String),
    /// The CA private key PEM given to [`Authority::from_pem`] could not be used.
    #[error("the CA private key is unusable: {0}")]
    CaKey(String),
    /// A key type name is not one of [`KeyType::name`].
    #[error("unknown key type {0:?}; expected ecdsa-p256, ecdsa-p384, rsa-2048 or rsa-3072")]
    UnknownKeyType(String),
    /// A revoked serial number is not hexadecimal.
    #[error("revoked serial number {0:?} is not hexadecimal")]
    SerialNotHex(String),
    /// A CRL [`Authority::reissue_crl`] would make cannot be used.
    #[error("cannot issue the CRL: {0}")]
    Crl(String),
    /// The CRL given to [`Authority::read_crl`] is not one this CA can issue again.
    #[error("the previous CRL cannot be carried over: {0}")]
    PreviousCrl(String),
    /// A SAN, URI or name is not encodable.
    #[error("invalid certificate field {field}: {reason}")]
    Field {
        /// Which field.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

impl KeyType {
    /// Every key type, in the order of [`KeyType::name`]s shown in help texts.
    pub const ALL: [KeyType; 4] = [
        KeyType::EcdsaP256,
        KeyType::EcdsaP384,
        KeyType::Rsa2048,
        KeyType::Rsa3072,
    ];

    /// The command-line name: `ecdsa-p256`, `ecdsa-p384`, `rsa-2048`, `rsa-3072`.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Rsa3072 => "rsa-3072",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for KeyType {
    type Err = PkiError;

    /// Parses a [`KeyType::name`].
    fn from_str(s: &str) -> Result<KeyType, PkiError> {
        KeyType::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| PkiError::UnknownKeyType(s.to_owned()))
    }
}

impl ClientSpec {
    /// A client spec with only a CN: no O/OU/SANs, random serial.
    pub fn new(common_name: &str, key: KeyType, not_before: OffsetDateTime, not_after: OffsetDateTime) -> ClientSpec {
        ClientSpec {
            common_name: common_name.to_owned(),
            organization: None,
            organizational_unit: None,
            dns_names: Vec::new(),
            uris: Vec::new(),
            key,
            not_before,
            not_after,
            serial: None,
        }
    }
}

/// The subject of a CA certificate: its CN, and an O and OU when given (in that order, as
/// client certificates have them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaName<'a> {
    pub common_name: &'a str,
    pub organization: Option<&'a str>,
    pub organizational_unit: Option<&'a str>,
}

impl<'a> From<&'a str> for CaName<'a> {
    fn from(common_name: &'a str) -> Self {
        CaName {
            common_name,
            ..CaName::default()
        }
    }
}

impl<'a> From<&'a String> for CaName<'a> {
    fn from(common_name: &'a String) -> Self {
        CaName::from(common_name.as_str())
    }
}

impl Authority {
    /// Creates a self-signed root CA (`CA:true`, `keyCertSign`, `cRLSign`, `digitalSignature`)
    /// named `name` (a CN, or a [`CaName`]).
    pub fn new_root<'a>(
        name: impl Into<CaName<'a>>,
        key: KeyType,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Authority, PkiError> {
        let params = ca_params(name.into(), not_before, not_after)?;
        let key_pair = generate_key(key)?;
        let cert = params
            .self_signed(&key_pair)
            .map_err(|e| generate_error("root CA certificate", e))?;
        let issued = issued_from(cert.der(), &key_pair)?;
        Ok(Authority {
            key_identifier_method: params.key_identifier_method.clone(),
            issuer: Issuer::new(params, key_pair),
            issued,
        })
    }

    /// Creates an intermediate CA signed by `self`, named `name` (a CN, or a [`CaName`]).
    pub fn new_intermediate<'a>(
        &self,
        name: impl Into<CaName<'a>>,
        key: KeyType,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Authority, PkiError> {
        let mut params = ca_params(name.into(), not_before, not_after)?;
        params.use_authority_key_identifier_extension = true;
        let key_pair = generate_key(key)?;
        let cert = params
            .signed_by(&key_pair, &self.issuer)
            .map_err(|e| generate_error("intermediate CA certificate", e))?;
        let issued = issued_from(cert.der(), &key_pair)?;
        Ok(Authority {
            key_identifier_method: params.key_identifier_method.clone(),
            issuer: Issuer::new(params, key_pair),
            issued,
        })
    }

    /// A cross-certificate for `other`, a CA named `common_name`: that name and `other`'s key,
    /// certified by `self`, as a CA re-keyed under the same name publishes so that chains
    /// built to either key verify.
    pub fn cross_certify(
        &self,
        other: &Authority,
        common_name: &str,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Issued, PkiError> {
        let mut params = ca_params(common_name.into(), not_before, not_after)?;
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(other.issuer.key(), &self.issuer)
            .map_err(|e| generate_error("cross-certificate", e))?;
        issued_from(cert.der(), other.issuer.key())
    }

    /// Reloads a CA from its certificate PEM and private key PEM (PKCS#8, SEC1 or PKCS#1).
    ///
    /// The subject is re-encoded attribute by attribute with the original string types, so
    /// certificates issued later chain to the stored CA certificate. Subjects with repeated
    /// attribute types or multi-valued RDNs are refused (rcgen cannot reproduce them).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Authority, PkiError> {
        let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes())
            .map_err(|e| PkiError::CaCertificate(format!("not a PEM certificate ({e})")))?;
        // `X509 CERTIFICATE` and `TRUSTED CERTIFICATE` (OpenSSL's) are certificates too.
        if pem.label.contains("PRIVATE KEY") {
            return Err(PkiError::CaCertificate(format!(
                "its PEM block is a {}, not a CERTIFICATE (the CA certificate and key swapped?)",
                pem.label
            )));
        }
        let (_, x509) = X509Certificate::from_der(&pem.contents)
            .map_err(|e| PkiError::CaCertificate(format!("not a valid X.509 certificate ({e})")))?;
        if !key_pem.contains("PRIVATE KEY-----") && key_pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(PkiError::CaKey(
                "it holds a CERTIFICATE, not a PRIVATE KEY (the CA certificate and key swapped?)".to_owned(),
            ));
        }
        let key_pair = KeyPair::from_pem(key_pem).map_err(|e| PkiError::CaKey(e.to_string()))?;
        if key_pair.public_key_raw() != x509.public_key().subject_public_key.data.as_ref() {
            return Err(PkiError::CaKey(
                "the private key does not match the CA certificate's public key".to_owned(),
            ));
        }
        let params = params_from_ca(&x509)?;
        let issued = issued_from(&pem.contents, &key_pair)?;
        Ok(Authority {
            key_identifier_method: params.key_identifier_method.clone(),
            issuer: Issuer::new(params, key_pair),
            issued,
        })
    }

    /// The CA's own certificate and key.
    pub fn issued(&self) -> &Issued {
        &self.issued
    }

    /// Issues a TLS server certificate (EKU serverAuth, KU digitalSignature + keyEncipherment)
    /// for DNS names and/or IP literals; the CN is the first SAN.
    pub fn server(
        &self,
        sans: &[&str],
        key: KeyType,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Issued, PkiError> {
        let names: Vec<String> = sans.iter().map(|s| (*s).to_owned()).collect();
        let mut params = CertificateParams::new(names).map_err(|e| PkiError::Field {
            field: "subjectAltName",
            reason: e.to_string(),
        })?;
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, sans.first().copied().unwrap_or("rolegate server"));
        params.not_before = not_before;
        params.not_after = not_after;
        params.is_ca = IsCa::ExplicitNoCa;
        // keyEncipherment is for RSA key transport; RFC 8813 §3 forbids it with an EC key.
        params.key_usages = match key {
            KeyType::Rsa2048 | KeyType::Rsa3072 => {
                vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment]
            }
            _ => vec![KeyUsagePurpose::DigitalSignature],
        };
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(&params, key)
    }

    /// Issues a Roles Anywhere client certificate: `CA:false`, KU digitalSignature, EKU clientAuth.
    pub fn client(&self, spec: &ClientSpec) -> Result<Issued, PkiError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, spec.common_name.as_str());
        if let Some(o) = &spec.organization {
            params.distinguished_name.push(DnType::OrganizationName, o.as_str());
        }
        if let Some(ou) = &spec.organizational_unit {
            params
                .distinguished_name
                .push(DnType::OrganizationalUnitName, ou.as_str());
        }
        for dns in &spec.dns_names {
            params.subject_alt_names.push(SanType::DnsName(ia5("dNSName", dns)?));
        }
        for uri in &spec.uris {
            params
                .subject_alt_names
                .push(SanType::URI(ia5("uniformResourceIdentifier", uri)?));
        }
        params.not_before = spec.not_before;
        params.not_after = spec.not_after;
        params.serial_number = spec.serial.as_deref().map(SerialNumber::from_slice);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(&params, spec.key)
    }

    /// Issues a certificate from arbitrary rcgen parameters with a fresh key of type `key`
    /// (escape hatch for tests that need unusual certificates). A random serial is used when
    /// `params.serial_number` is `None`; the authority key identifier is always added.
    pub fn issue(&self, params: &CertificateParams, key: KeyType) -> Result<Issued, PkiError> {
        let mut params = params.clone();
        if params.serial_number.is_none() {
            params.serial_number = Some(random_serial()?);
        }
        params.use_authority_key_identifier_extension = true;
        let key_pair = generate_key(key)?;
        let cert = params
            .signed_by(&key_pair, &self.issuer)
            .map_err(|e| generate_error("certificate", e))?;
        issued_from(cert.der(), &key_pair)
    }

    /// Signs a CRL (PEM `X509 CRL`) revoking the given serial numbers (hex, as in
    /// [`Issued::serial_hex`]; `:` separators and OpenSSL's `serial=` prefix allowed), revoked
    /// at `this_update`.
    /// The CRL number is the time the CRL is made, in nanoseconds, so a CRL made later has a
    /// larger number (whatever its `this_update`).
    pub fn crl(
        &self,
        revoked_serials_hex: &[&str],
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<String, PkiError> {
        self.crl_for_distribution_point(revoked_serials_hex, this_update, next_update, None)
    }

    /// [`Authority::crl`], with an issuing distribution point naming `uri` when given: such a
    /// CRL covers only the certificates whose CRL distribution points name that URI.
    pub fn crl_for_distribution_point(
        &self,
        revoked_serials_hex: &[&str],
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
        uri: Option<&str>,
    ) -> Result<String, PkiError> {
        let revoked_certs = revoked_serials_hex
            .iter()
            .map(|serial| {
                Ok(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&serial_bytes(serial)?),
                    revocation_time: this_update,
                    reason_code: None,
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>, PkiError>>()?;
        let distribution_point = uri.map(|uri| rcgen::CrlIssuingDistributionPoint {
            distribution_point: rcgen::CrlDistributionPoint {
                uris: vec![uri.to_owned()],
            },
            scope: None,
        });
        let number = crl_number(OffsetDateTime::now_utc());
        self.sign_crl(revoked_certs, this_update, next_update, distribution_point, number)
    }

    /// Signs a CRL of `revoked_certs` with this authority's key (PEM `X509 CRL`).
    pub(super) fn sign_crl(
        &self,
        revoked_certs: Vec<RevokedCertParams>,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
        issuing_distribution_point: Option<rcgen::CrlIssuingDistributionPoint>,
        number: Vec<u8>,
    ) -> Result<String, PkiError> {
        let params = CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from_slice(&number),
            issuing_distribution_point,
            revoked_certs,
            key_identifier_method: self.key_identifier_method.clone(),
        };
        let crl = params.signed_by(&self.issuer).map_err(|e| generate_error("CRL", e))?;
        crl.pem().map_err(|e| generate_error("CRL", e))
    }
}

/// The bytes of a serial number as `certs crl --revoke` takes it: hex, with `:` separators
/// and OpenSSL's `serial=` prefix (`openssl x509 -serial` prints `serial=7D81…`) allowed.
pub(super) fn serial_bytes(serial: &str) -> Result<Vec<u8>, PkiError> {
    let text = serial.trim();
    let text = match text.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("serial=") => text.get(7..).unwrap_or_default(),
        _ => text,
    };
    let cleaned: String = text.chars().filter(|c| *c != ':').collect();
    match hex::decode(&cleaned) {
        // No digits name no certificate (an empty `--revoke ""` would revoke serial 0).
        Ok(bytes) if !bytes.is_empty() => Ok(bytes),
        _ => Err(PkiError::SerialNotHex(serial.to_owned())),
    }
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("serial_hex", &self.serial_hex)
            .field("cert_der_len", &self.cert_der.len())
            .field("key", &"[redacted]")
            .finish()
    }
}

impl fmt::Debug for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authority")
            .field("issued", &self.issued)
            .finish_non_exhaustive()
    }
}

/// Parameters shared by root and intermediate CAs (DESIGN §1: `CA:true` with `keyCertSign`).
fn ca_params(
    name: CaName<'_>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name.common_name);
    if let Some(o) = name.organization {
        params.distinguished_name.push(DnType::OrganizationName, o);
    }
    if let Some(ou) = name.organizational_unit {
        params.distinguished_name.push(DnType::OrganizationalUnitName, ou);
    }
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(random_serial()?);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

/// Rebuilds the issuer-relevant parameters (subject, key usages, key identifier) of a CA
/// certificate loaded from disk.
fn params_from_ca(x509: &X509Certificate<'_>) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    for rdn in x509.subject().iter_rdn() {
        let mut attrs = rdn.iter();
        let (Some(attr), None) = (attrs.next(), attrs.next()) else {
            return Err(PkiError::CaCertificate(
                "the subject has a multi-valued RDN, which cannot be reproduced".to_owned(),
            ));
        };
        let oid: Vec<u64> = attr
            .attr_type()
            .iter()
            .ok_or_else(|| PkiError::CaCertificate("the subject has an invalid OID".to_owned()))?
            .collect();
        let ty = DnType::from_oid(&oid);
        if params.distinguished_name.get(&ty).is_some() {
            return Err(PkiError::CaCertificate(
                "the subject repeats an attribute type, which cannot be reproduced".to_owned(),
            ));
        }
        params.distinguished_name.push(ty, dn_value(attr)?);
    }
    let key_usage = x509
        .key_usage()
        .map_err(|e| PkiError::CaCertificate(format!("bad keyUsage extension ({e})")))?;
    params.key_usages = match key_usage {
        None => Vec::new(),
        Some(ku) => {
            let ku = ku.value;
            [
                (ku.digital_signature(), KeyUsagePurpose::DigitalSignature),
                (ku.key_cert_sign(), KeyUsagePurpose::KeyCertSign),
                (ku.crl_sign(), KeyUsagePurpose::CrlSign),
            ]
            .into_iter()
            .filter_map(|(present, purpose)| present.then_some(purpose))
            .collect()
        }
    };
    let ski = x509.extensions().iter().find_map(|ext| match ext.parsed_extension() {
        x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
        _ => None,
    });
    if let Some(ski) = ski {
        params.key_identifier_method = KeyIdMethod::PreSpecified(ski);
    }
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    Ok(params)
}

/// Keeps the ASN.1 string type of a subject attribute so the re-encoded name is byte-identical.
fn dn_value(attr: &x509_parser::x509::AttributeTypeAndValue<'_>) -> Result<DnValue, PkiError> {
    use x509_parser::der_parser::asn1_rs::Tag;
    let text = attr
        .as_str()
        .map_err(|_| PkiError::CaCertificate("a subject attribute is not a string".to_owned()))?;
    let unsupported = || PkiError::CaCertificate("a subject attribute has an unsupported string type".to_owned());
    match attr.attr_value().tag() {
        Tag::Utf8String => Ok(DnValue::Utf8String(text.to_owned())),
        Tag::PrintableString => Ok(DnValue::PrintableString(text.try_into().map_err(|_| unsupported())?)),
        Tag::Ia5String => Ok(DnValue::Ia5String(text.try_into().map_err(|_| unsupported())?)),
        _ => Err(unsupported()),
    }
}

fn generate_key(key: KeyType) -> Result<KeyPair, PkiError> {
    let result = match key {
        KeyType::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        KeyType::EcdsaP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
        KeyType::Rsa2048 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048),
        KeyType::Rsa3072 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_3072),
    };
    result.map_err(|e| generate_error("key pair", e))
}

/// 16 random bytes, high bit clear (positive INTEGER) and second bit set (no leading zero byte).
fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| PkiError::Generate {
        what: "serial number",
        reason: "the system random number generator failed".to_owned(),
    })?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

fn issued_from(cert_der: &[u8], key_pair: &KeyPair) -> Result<Issued, PkiError> {
    let (_, x509) = X509Certificate::from_der(cert_der)
        .map_err(|e| generate_error("certificate", format!("unparseable output ({e})")))?;
    let serial_hex = crate::identity::format_serial_hex(x509.raw_serial());
    let cert_pem = pem_encode("CERTIFICATE", cert_der);
    Ok(Issued {
        cert_der: cert_der.to_vec(),
        cert_pem,
        key_pkcs8_der: Zeroizing::new(key_pair.serialize_der()),
        key_pem: Zeroizing::new(key_pair.serialize_pem()),
        serial_hex,
    })
}

/// RFC 7468 PEM with 64-column base64 lines.
fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn ia5(field: &'static str, value: &str) -> Result<rcgen::string::Ia5String, PkiError> {
    rcgen::string::Ia5String::try_from(value).map_err(|e| PkiError::Field {
        field,
        reason: e.to_string(),
    })
}

fn generate_error(what: &'static str, reason: impl fmt::Display) -> PkiError {
    PkiError::Generate {
        what,
        reason: reason.to_string(),
    }
}

/// The CRL number of a CRL made at `now` (RFC 5280 §5.2.3: it increases with each CRL): the
/// time in nanoseconds, as a positive DER integer, so two CRLs made in one second differ.
pub(super) fn crl_number(now: OffsetDateTime) -> Vec<u8> {
    let nanos = u128::try_from(now.unix_timestamp_nanos()).unwrap_or(1).max(1);
    positive_integer(&nanos.to_be_bytes())
}

/// `magnitude` (big-endian) as the content of a positive DER INTEGER: no leading zero bytes,
/// one added when the first bit is set, and `00` for zero.
pub(super) fn positive_integer(magnitude: &[u8]) -> Vec<u8> {
    let first = magnitude.iter().position(|b| *b != 0).unwrap_or(magnitude.len());
    let digits = &magnitude[first..];
    let mut number = Vec::with_capacity(digits.len() + 1);
    if digits.first().is_none_or(|b| b & 0x80 != 0) {
        number.push(0);
    }
    number.extend_from_slice(digits);
    number
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NB: OffsetDateTime = datetime!(2025-01-01 0:00 UTC);
    const NA: OffsetDateTime = datetime!(2035-01-01 0:00 UTC);

    #[test]
    fn client_certificate_has_roles_anywhere_shape() {
        let root = Authority::new_root("Root", KeyType::EcdsaP256, NB, NA).unwrap();
        let mut spec = ClientSpec::new("workload", KeyType::EcdsaP256, NB, NA);
        spec.organization = Some("Acme".into());
        spec.dns_names = vec!["w.example.com".into()];
        let issued = root.client(&spec).unwrap();
        let (_, x509) = X509Certificate::from_der(&issued.cert_der).unwrap();
        assert!(!x509.is_ca());
        assert!(x509.key_usage().unwrap().unwrap().value.digital_signature());
        assert!(x509.extended_key_usage().unwrap().unwrap().value.client_auth);
        assert_eq!(x509.raw_serial().len(), 16);
        assert_eq!(issued.serial_hex, hex::encode(x509.raw_serial()));
        assert!(issued.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(issued.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(!format!("{issued:?}").contains("PRIVATE"));
    }

    #[test]
    fn key_type_names_round_trip() {
        for key in KeyType::ALL {
            assert_eq!(key.name().parse::<KeyType>().unwrap(), key);
        }
        assert!(matches!(
            "dsa".parse::<KeyType>(),
            Err(PkiError::UnknownKeyType(s)) if s == "dsa"
        ));
    }

    #[test]
    fn server_certificate_has_sans_and_server_auth() {
        let root = Authority::new_root("Root", KeyType::EcdsaP256, NB, NA).unwrap();
        let issued = root
            .server(&["localhost", "127.0.0.1"], KeyType::EcdsaP256, NB, NA)
            .unwrap();
        let (_, x509) = X509Certificate::from_der(&issued.cert_der).unwrap();
        assert!(x509.extended_key_usage().unwrap().unwrap().value.server_auth);
        let sans = x509.subject_alternative_name().unwrap().unwrap();
        assert_eq!(sans.value.general_names.len(), 2);
        let cn = x509.subject().iter_common_name().next().unwrap();
        assert_eq!(cn.as_str().unwrap(), "localhost");
    }

    #[test]
    fn explicit_serial_is_used() {
        let root = Authority::new_root("Root", KeyType::EcdsaP256, NB, NA).unwrap();
        let mut spec = ClientSpec::new("s", KeyType::EcdsaP256, NB, NA);
        spec.serial = Some(vec![0x01, 0x02, 0xff]);
        assert_eq!(root.client(&spec).unwrap().serial_hex, "0102ff");
    }

    #[test]
    fn rsa_keys_have_requested_size() {
        let root = Authority::new_root("Root", KeyType::Rsa3072, NB, NA).unwrap();
        let (_, x509) = X509Certificate::from_der(&root.issued().cert_der).unwrap();
        assert_eq!(x509.public_key().parsed().unwrap().key_size(), 3072);
    }

    /// The CA's certificate and key given the other way round are said to be swapped.
    #[test]
    fn a_swapped_ca_certificate_and_key_are_named() {
        let root = Authority::new_root("Root CA", KeyType::EcdsaP256, NB, NA).unwrap();
        let (cert, key) = (&root.issued().cert_pem, &root.issued().key_pem);
        let refused = Authority::from_pem(key, cert).err().unwrap().to_string();
        assert_eq!(
            refused,
            "the CA certificate is unusable: its PEM block is a PRIVATE KEY, not a CERTIFICATE (the CA certificate \
             and key swapped?)"
        );
        let refused = Authority::from_pem(cert, cert).err().unwrap().to_string();
        assert_eq!(
            refused,
            "the CA private key is unusable: it holds a CERTIFICATE, not a PRIVATE KEY (the CA certificate and key \
             swapped?)"
        );
    }

    #[test]
    fn from_pem_round_trip_issues_chaining_certificates() {
        let root = Authority::new_root("Root CA", KeyType::EcdsaP384, NB, NA).unwrap();
        let reloaded = Authority::from_pem(&root.issued().cert_pem, &root.issued().key_pem).unwrap();
        let leaf = reloaded
            .client(&ClientSpec::new("x", KeyType::EcdsaP256, NB, NA))
            .unwrap();
        let leaf = leaf.cert_der;
        let (_, parsed) = X509Certificate::from_der(&leaf).unwrap();
        let (_, ca) = X509Certificate::from_der(&root.issued().cert_der).unwrap();
        assert_eq!(parsed.issuer().as_raw(), ca.subject().as_raw());
        let anchor = crate::identity::TrustAnchor::new(root.issued().cert_pem.as_bytes(), &[]).unwrap();
        let client = crate::identity::ClientCertificate::parse(leaf.clone()).unwrap();
        let now = rustls_pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_800_000_000));
        assert!(crate::identity::verify_chain(&anchor, &client, &[], now).is_ok());
    }

    #[test]
    fn from_pem_rejects_mismatched_key() {
        let a = Authority::new_root("A", KeyType::EcdsaP256, NB, NA).unwrap();
        let b = Authority::new_root("B", KeyType::EcdsaP256, NB, NA).unwrap();
        let err = Authority::from_pem(&a.issued().cert_pem, &b.issued().key_pem).unwrap_err();
        assert!(matches!(err, PkiError::CaKey(_)), "{err}");
    }

    #[test]
    fn crl_rejects_non_hex_serial() {
        let root = Authority::new_root("Root", KeyType::EcdsaP256, NB, NA).unwrap();
        let err = root.crl(&["zz"], NB, NA).unwrap_err();
        assert!(matches!(err, PkiError::SerialNotHex(s) if s == "zz"));
        assert!(
            root.crl(&["01:02"], NB, NA)
                .unwrap()
                .starts_with("-----BEGIN X509 CRL-----")
        );
        // As `openssl x509 -serial` prints it: the same CRL entry as the bare hex.
        let revoked = |serial: &str| {
            let pem = root.crl(&[serial], NB, NA).unwrap();
            let der = rustls::pki_types::pem::PemObject::from_pem_slice(pem.as_bytes())
                .map(|d: rustls::pki_types::CertificateRevocationListDer<'_>| d.to_vec())
                .unwrap();
            let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(&der).unwrap();
            crl.iter_revoked_certificates()
                .map(|r| r.raw_serial().to_vec())
                .collect::<Vec<_>>()
        };
        assert_eq!(revoked("serial=7D81"), vec![vec![0x7d, 0x81]]);
        assert_eq!(revoked("7d:81"), revoked("SERIAL=7D81"));
    }

    #[test]
    fn positive_integers_have_one_leading_zero_at_most() {
        assert_eq!(positive_integer(&[0, 0, 0x7f]), [0x7f]);
        assert_eq!(positive_integer(&[0, 0x80, 1]), [0, 0x80, 1]);
        assert_eq!(positive_integer(&[0, 0]), [0]);
        assert_eq!(positive_integer(&[]), [0]);
    }
}
