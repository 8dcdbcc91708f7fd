//! The IAM Roles Anywhere variant of SigV4: `AWS4-X509-RSA-SHA256` and
//! `AWS4-X509-ECDSA-SHA256`, where the string to sign is signed with the certificate's
//! private key instead of an HMAC key.
//! <https://docs.aws.amazon.com/rolesanywhere/latest/userguide/authentication-sign-process.html>
//!
//! The canonical request and string to sign are those of SigV4 (with the label as sent as
//! the algorithm); the signature is RSA PKCS#1 v1.5 / RSA-PSS or ECDSA (ASN.1 DER) with
//! SHA-256 as the signature's digest, computed over the string to sign, hex-encoded.

use std::fmt;

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, ParsedPublicKey, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use time::OffsetDateTime;

use super::authorization::{AuthorizationParts, decode_x509_signature, parse_signed_headers};
use super::encoding::{format_amz_date, parse_amz_date, sha256_hex};
use super::sign::signable_header_names;
use super::{
    Credential, Expectations, HttpRequest, SigV4Error, X509_ALGORITHMS, canonical_request, check_time, string_to_sign,
};

/// The service name in a Roles Anywhere credential scope.
pub const SERVICE: &str = "rolesanywhere";

/// The signature family named by the algorithm label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum X509Algorithm {
    /// `AWS4-X509-RSA-SHA256`.
    Rsa,
    /// `AWS4-X509-ECDSA-SHA256`.
    Ecdsa,
}

impl X509Algorithm {
    /// Parses the label exactly as sent.
    ///
    /// AWS documents `AWS4-X509-{RSA|ECDSA}-SHA256`. AWS's own Python signer
    /// (`iam-rolesanywhere-session`) names the hash after the *certificate's* signature
    /// algorithm (e.g. `-SHA384` for a leaf issued by a P-384 CA) while always signing over
    /// SHA-256, so the SHA-384 and SHA-512 labels are accepted too: the label enters the
    /// string to sign verbatim and the signature is verified over SHA-256 in every case.
    pub fn from_label(label: &str) -> Result<Self, SigV4Error> {
        match label {
            "AWS4-X509-RSA-SHA256" | "AWS4-X509-RSA-SHA384" | "AWS4-X509-RSA-SHA512" => Ok(Self::Rsa),
            "AWS4-X509-ECDSA-SHA256" | "AWS4-X509-ECDSA-SHA384" | "AWS4-X509-ECDSA-SHA512" => Ok(Self::Ecdsa),
            other => Err(SigV4Error::UnsupportedAlgorithm {
                algorithm: other.to_owned(),
                supported: X509_ALGORITHMS,
            }),
        }
    }

    /// The label, e.g. `AWS4-X509-ECDSA-SHA256`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Rsa => "AWS4-X509-RSA-SHA256",
            Self::Ecdsa => "AWS4-X509-ECDSA-SHA256",
        }
    }
}

/// A parsed Roles Anywhere `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X509Authorization {
    /// Signature family.
    pub algorithm: X509Algorithm,
    /// The label as sent (the first line of the string to sign).
    pub label: String,
    /// Certificate serial number in decimal (the credential's "access key id").
    pub serial_decimal: String,
    /// `yyyymmdd` of the scope.
    pub date: String,
    /// Region of the scope.
    pub region: String,
    /// Service of the scope (must be `rolesanywhere`; checked by the caller).
    pub service: String,
    /// Lower-case signed header names, in the order sent.
    pub signed_headers: Vec<String>,
    /// Decoded signature bytes.
    pub signature: Vec<u8>,
}

impl X509Authorization {
    /// The credential scope `{date}/{region}/{service}/aws4_request`.
    pub fn scope(&self) -> String {
        format!("{}/{}/{}/aws4_request", self.date, self.region, self.service)
    }
}

/// Parses `AWS4-X509-{RSA|ECDSA}-SHA256 Credential={serial}/{date}/{region}/{service}/aws4_request,
/// SignedHeaders=..., Signature={hex}`.
pub fn parse_authorization(header_value: &str) -> Result<X509Authorization, SigV4Error> {
    let parts = AuthorizationParts::parse(header_value)?;
    let algorithm = X509Algorithm::from_label(parts.algorithm)?;
    let credential = Credential::parse(parts.credential)?;
    let serial = &credential.access_key_id;
    if !serial.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SigV4Error::BadSerial(serial.clone()));
    }
    Ok(X509Authorization {
        algorithm,
        label: parts.algorithm.to_owned(),
        signed_headers: parse_signed_headers(parts.signed_headers)?,
        signature: decode_x509_signature(parts.signature)?,
        serial_decimal: credential.access_key_id,
        date: credential.date,
        region: credential.region,
        service: credential.service,
    })
}

/// Checks the request-level rules of a Roles Anywhere signature before the (costlier)
/// signature check, in this order: the scope names `rolesanywhere` and `exp.region`; `host`,
/// `x-amz-date` and `x-amz-x509` are signed (otherwise a captured signature could be replayed
/// against another host, at another time, or with another certificate:
/// <https://docs.aws.amazon.com/rolesanywhere/latest/userguide/authentication-sign-process.html>),
/// and `host` (the request's, as signed) is one of `exp.hosts`;
/// `X-Amz-Date` is sent, is a date, its day is the scope's, and it lies within ±`exp.max_skew`
/// of `exp.now`. (`exp.service` is ignored: the service is always `rolesanywhere`.)
pub fn check_request(
    auth: &X509Authorization,
    host: Option<&str>,
    amz_date: Option<&str>,
    exp: &Expectations,
) -> Result<(), SigV4Error> {
    super::verify::check_scope_endpoint(&auth.service, &auth.region, SERVICE, exp.region)?;
    let is_signed = |name: &str| auth.signed_headers.iter().any(|h| h == name);
    if !is_signed("host") {
        return Err(SigV4Error::HostNotSigned);
    }
    super::verify::check_host(host, exp.hosts)?;
    if !is_signed("x-amz-date") {
        return Err(SigV4Error::DateNotSigned);
    }
    if !is_signed("x-amz-x509") {
        return Err(SigV4Error::CertificateNotSigned);
    }
    let amz_date = amz_date.ok_or(SigV4Error::MissingDate)?;
    parse_amz_date(amz_date)?;
    super::verify::check_scope_day(&auth.date, amz_date)?;
    check_time(amz_date, None, exp)
}

/// Verifies a Roles Anywhere request's signature with the certificate's key: the canonical
/// request of `req` over the headers `auth` lists as signed and `payload_hash` (the SHA-256 of
/// the body, hex), its string to sign with the label as sent, `amz_date` and `auth`'s scope.
/// It checks the signature alone: the caller checks the request's rules first with
/// [`check_request`] (scope, signed `host`, `x-amz-date` and `x-amz-x509`, clock skew), without
/// which a captured signature could be replayed. A label of the other family than the key
/// is `AlgorithmKeyMismatch`, named as sent; a signature that does not verify,
/// `X509SignatureMismatch`; any other error is the canonical request's.
pub fn verify_request(
    req: &HttpRequest,
    payload_hash: &str,
    amz_date: &str,
    auth: &X509Authorization,
    key: &X509VerifyingKey,
) -> Result<(), SigV4Error> {
    let signed: Vec<&str> = auth.signed_headers.iter().map(String::as_str).collect();
    let canonical = canonical_request(req, &signed, payload_hash, true)?;
    let string_to_sign = string_to_sign(&auth.label, amz_date, &auth.scope(), &canonical);
    key.verify(auth.algorithm, string_to_sign.as_bytes(), &auth.signature)
        .map_err(|e| match e {
            // The family's canonical label may differ from the one sent in its digest.
            SigV4Error::AlgorithmKeyMismatch(_) => SigV4Error::AlgorithmKeyMismatch(auth.label.clone()),
            other => other,
        })
}

/// The public key type of the certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PublicKeyKind {
    /// RSA, 2048..=8192 bits.
    Rsa,
    /// ECDSA on NIST P-256.
    EcP256,
    /// ECDSA on NIST P-384.
    EcP384,
}

/// A certificate's public key, parsed once, that verifies AWS4-X509 request signatures.
///
/// Parsing an EC point (on-curve check) or an RSA modulus costs a few microseconds; a client
/// sends the same certificate with every request, so the server parses its key with the
/// certificate and keeps it (see `identity::ClientCertificate`).
///
/// RSA keys verify PKCS#1 v1.5 or PSS with SHA-256 (2048..=8192 bit); EC keys verify an
/// ASN.1 DER ECDSA signature over a SHA-256 digest (P-256 and P-384).
#[derive(Clone)]
pub struct X509VerifyingKey {
    kind: PublicKeyKind,
    /// One parsed key per accepted signature scheme, tried in order.
    schemes: Vec<ParsedPublicKey>,
}

impl X509VerifyingKey {
    /// Parses `key_bytes`, the subjectPublicKey BIT STRING contents (RSAPublicKey DER for
    /// RSA, the SEC 1 point for EC), as a key of `kind`.
    pub fn parse(kind: PublicKeyKind, key_bytes: &[u8]) -> Result<Self, SigV4Error> {
        let algorithms: &[&'static dyn signature::VerificationAlgorithm] = match kind {
            // PKCS#1 v1.5 first: AWS's signing helper and the SDKs sign with it.
            PublicKeyKind::Rsa => &[
                &signature::RSA_PKCS1_2048_8192_SHA256,
                &signature::RSA_PSS_2048_8192_SHA256,
            ],
            PublicKeyKind::EcP256 => &[&signature::ECDSA_P256_SHA256_ASN1],
            PublicKeyKind::EcP384 => &[&signature::ECDSA_P384_SHA256_ASN1],
        };
        let schemes = algorithms
            .iter()
            .map(|a| ParsedPublicKey::new(*a, key_bytes).map_err(|_| SigV4Error::InvalidPublicKey))
            .collect::<Result<_, _>>()?;
        Ok(Self { kind, schemes })
    }

    /// The key type.
    pub fn kind(&self) -> PublicKeyKind {
        self.kind
    }

    /// Verifies `signature` over `string_to_sign` for the family named by the request's
    /// algorithm label, which must match the key type.
    pub fn verify(&self, alg: X509Algorithm, string_to_sign: &[u8], signature: &[u8]) -> Result<(), SigV4Error> {
        check_algorithm_fits_key(alg, self.kind)?;
        match self
            .schemes
            .iter()
            .any(|k| k.verify_sig(string_to_sign, signature).is_ok())
        {
            true => Ok(()),
            false => Err(SigV4Error::X509SignatureMismatch),
        }
    }
}

impl fmt::Debug for X509VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "X509VerifyingKey({:?})", self.kind)
    }
}

/// The label's family must be the key's: `AWS4-X509-RSA-*` for RSA, `AWS4-X509-ECDSA-*` for EC.
fn check_algorithm_fits_key(alg: X509Algorithm, key: PublicKeyKind) -> Result<(), SigV4Error> {
    match (alg, key) {
        (X509Algorithm::Rsa, PublicKeyKind::Rsa)
        | (X509Algorithm::Ecdsa, PublicKeyKind::EcP256 | PublicKeyKind::EcP384) => Ok(()),
        (alg, _) => Err(SigV4Error::AlgorithmKeyMismatch(alg.label().to_owned())),
    }
}

/// What signs a Roles Anywhere request: a private key in memory ([`X509SigningKey`]) or one a
/// token holds.
pub trait X509Signing: Send + Sync {
    /// The signature family, which names the request's algorithm.
    fn algorithm(&self) -> X509Algorithm;
    /// Signs `message`: RSA PKCS#1 v1.5 with SHA-256, or ECDSA with SHA-256 as DER.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SigV4Error>;
}

/// A client private key for Roles Anywhere signing.
pub struct X509SigningKey {
    inner: KeyInner,
}

impl X509SigningKey {
    /// Loads an RSA or EC (P-256 / P-384) private key from PKCS#8 DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, SigV4Error> {
        if let Ok(k) = RsaKeyPair::from_pkcs8(der) {
            return Ok(Self {
                inner: KeyInner::Rsa(k),
            });
        }
        if let Ok(k) = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, der) {
            return Ok(Self {
                inner: KeyInner::EcP256(k),
            });
        }
        EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_ASN1_SIGNING, der)
            .map(|k| Self {
                inner: KeyInner::EcP384(k),
            })
            .map_err(|_| SigV4Error::InvalidPrivateKey)
    }

    /// The signature family of this key.
    pub fn algorithm(&self) -> X509Algorithm {
        match self.inner {
            KeyInner::Rsa(_) => X509Algorithm::Rsa,
            KeyInner::EcP256(_) | KeyInner::EcP384(_) => X509Algorithm::Ecdsa,
        }
    }

    /// The public key, encoded as a certificate's `subjectPublicKey` holds it (RSAPublicKey
    /// DER, or the uncompressed EC point).
    pub fn public_key(&self) -> &[u8] {
        use aws_lc_rs::signature::KeyPair;
        match &self.inner {
            KeyInner::Rsa(k) => k.public_key().as_ref(),
            KeyInner::EcP256(k) | KeyInner::EcP384(k) => k.public_key().as_ref(),
        }
    }

    /// Signs `message` (RSA PKCS#1 v1.5 SHA-256 like `aws_signing_helper`, or ECDSA SHA-256 DER).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SigV4Error> {
        let rng = SystemRandom::new();
        match &self.inner {
            KeyInner::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .map_err(|_| SigV4Error::SigningFailed)?;
                Ok(sig)
            }
            KeyInner::EcP256(k) => k
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| SigV4Error::SigningFailed),
            KeyInner::EcP384(k) => sign_p384_sha256(k, message),
        }
    }
}

impl X509Signing for X509SigningKey {
    fn algorithm(&self) -> X509Algorithm {
        X509SigningKey::algorithm(self)
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SigV4Error> {
        X509SigningKey::sign(self, message)
    }
}

impl fmt::Debug for X509SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "X509SigningKey({:?}, <redacted>)", self.algorithm())
    }
}

/// Signs a Roles Anywhere request and returns the headers to add: `X-Amz-Date`,
/// `X-Amz-X509`, `X-Amz-X509-Chain` (when `chain_der` is not empty) and `Authorization`.
///
/// Signed are the headers of `req` (which must include `host`; hop-by-hop ones excluded)
/// plus the added ones; the payload hash is SHA-256 of `body`.
#[allow(clippy::too_many_arguments)]
pub fn sign_request(
    req: &HttpRequest,
    body: &[u8],
    key: &dyn X509Signing,
    cert_der: &[u8],
    chain_der: &[Vec<u8>],
    serial_decimal: &str,
    region: &str,
    now: OffsetDateTime,
) -> Result<Vec<(String, String)>, SigV4Error> {
    if req.header("host").is_none() {
        return Err(SigV4Error::HostNotSigned);
    }
    let amz_date = format_amz_date(now);
    let date = amz_date.get(..8).unwrap_or_default();
    let mut added = vec![
        ("X-Amz-Date".to_owned(), amz_date.clone()),
        ("X-Amz-X509".to_owned(), STANDARD.encode(cert_der)),
    ];
    if !chain_der.is_empty() {
        let chain: Vec<String> = chain_der.iter().map(|c| STANDARD.encode(c)).collect();
        added.push(("X-Amz-X509-Chain".to_owned(), chain.join(",")));
    }
    let mut all: Vec<(&str, &str)> = req.headers.to_vec();
    all.extend(added.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let names = signable_header_names(&all);
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let full = HttpRequest { headers: &all, ..*req };
    let creq = canonical_request(&full, &name_refs, &sha256_hex(body), true)?;
    let label = key.algorithm().label();
    let scope = format!("{date}/{region}/{SERVICE}/aws4_request");
    let sts = string_to_sign(label, &amz_date, &scope, &creq);
    let signature = hex::encode(key.sign(sts.as_bytes())?);
    added.push((
        "Authorization".to_owned(),
        format!(
            "{label} Credential={serial_decimal}/{scope}, SignedHeaders={}, Signature={signature}",
            name_refs.join(";")
        ),
    ));
    Ok(added)
}

/// The loaded key pair.
enum KeyInner {
    Rsa(RsaKeyPair),
    EcP256(EcdsaKeyPair),
    /// Loaded as P-384/SHA-384 (aws-lc-rs has no P-384/SHA-256 signing algorithm); see
    /// [`sign_p384_sha256`].
    EcP384(EcdsaKeyPair),
}

/// ECDSA P-384 with a SHA-256 digest, as Roles Anywhere requires.
///
/// ECDSA uses the leftmost min(384, hash bits) bits of the digest as the integer `e`
/// (SEC 1 §4.1.3 step 5), so the 32-byte SHA-256 digest left-padded with 16 zero bytes to the
/// 48 bytes aws-lc-rs expects for this key gives the same `e`, hence a signature any
/// P-384/SHA-256 verifier accepts.
fn sign_p384_sha256(key: &EcdsaKeyPair, message: &[u8]) -> Result<Vec<u8>, SigV4Error> {
    let sha256 = digest::digest(&digest::SHA256, message);
    let mut padded = [0u8; 48];
    padded[16..].copy_from_slice(sha256.as_ref());
    let imported = digest::Digest::import_less_safe(&padded, &digest::SHA384).map_err(|_| SigV4Error::SigningFailed)?;
    key.sign_digest(&imported)
        .map(|s| s.as_ref().to_vec())
        .map_err(|_| SigV4Error::SigningFailed)
}
