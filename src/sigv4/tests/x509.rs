//! Roles Anywhere signing and verification round trips with keys generated in the test
//! (RSA 2048, EC P-256, EC P-384), RSA-PSS, and rejection of wrong key, body and label.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PSS_SHA256, RsaKeyPair};
use rcgen::{CertificateParams, KeyPair, SignatureAlgorithm};
use time::macros::datetime;

use crate::sigv4::x509::*;
use crate::sigv4::*;

const BODY: &[u8] = br#"{"durationSeconds":3600}"#;
const SERIAL: &str = "1311768467294899695";

/// A key pair with its PKCS#8 DER, public key bytes and a self-signed certificate.
struct Identity {
    pkcs8: Vec<u8>,
    public: Vec<u8>,
    cert: Vec<u8>,
}

fn identity(alg: &'static SignatureAlgorithm) -> Identity {
    let kp = KeyPair::generate_for(alg).unwrap();
    let cert = CertificateParams::new(vec!["client.example".to_owned()])
        .unwrap()
        .self_signed(&kp)
        .unwrap();
    Identity {
        pkcs8: kp.serialize_der(),
        public: kp.public_key_raw().to_vec(),
        cert: cert.der().to_vec(),
    }
}

/// Signs `POST /sessions` and returns all headers of the signed request.
fn signed_headers(id: &Identity, chain: &[Vec<u8>]) -> Vec<(String, String)> {
    let key = X509SigningKey::from_pkcs8_der(&id.pkcs8).unwrap();
    let base = [
        ("Host", "rolesanywhere.us-east-1.amazonaws.com"),
        ("Content-Type", "application/json"),
    ];
    let req = request(&base);
    let added = sign_request(
        &req,
        BODY,
        &key,
        &id.cert,
        chain,
        SERIAL,
        "us-east-1",
        datetime!(2026-11-25 03:00:00 UTC),
    )
    .unwrap();
    base.iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .chain(added)
        .collect()
}

fn request<'a>(headers: &'a [(&'a str, &'a str)]) -> HttpRequest<'a> {
    HttpRequest {
        method: "POST",
        path: "/sessions",
        query: "",
        headers,
    }
}

/// The server side: parse, check, canonicalize, verify.
fn verify_x509(
    headers: &[(String, String)],
    body: &[u8],
    kind: PublicKeyKind,
    public: &[u8],
) -> Result<(), SigV4Error> {
    let refs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let req = request(&refs);
    let auth = parse_authorization(req.header("authorization").ok_or(SigV4Error::MissingAuthorization)?)?;
    let amz_date = req.header("x-amz-date").ok_or(SigV4Error::MissingDate)?;
    let exp = Expectations {
        service: SERVICE,
        region: "us-east-1",
        now: datetime!(2026-11-25 03:02:00 UTC),
        max_skew: time::Duration::minutes(5),
        hosts: crate::sigv4::ServerNames::anywhere(),
    };
    x509::check_request(&auth, req.header("host"), Some(amz_date), &exp)?;
    // A key that does not parse fails like a signature that does not verify.
    let key = X509VerifyingKey::parse(kind, public).map_err(|_| SigV4Error::X509SignatureMismatch)?;
    x509::verify_request(&req, &sha256_hex(body), amz_date, &auth, &key)
}

/// A one-off [`X509VerifyingKey`] of `key_bytes` verifying `signature`; a key that does not
/// parse fails like a signature that does not verify.
fn verify_signature(
    alg: X509Algorithm,
    key: PublicKeyKind,
    key_bytes: &[u8],
    string_to_sign: &[u8],
    signature: &[u8],
) -> Result<(), SigV4Error> {
    X509VerifyingKey::parse(key, key_bytes)
        .map_err(|_| SigV4Error::X509SignatureMismatch)?
        .verify(alg, string_to_sign, signature)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    &headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).unwrap().1
}

#[test]
fn round_trips_and_rejects_for_each_key_type() {
    for (alg, kind, label) in [
        (&rcgen::PKCS_RSA_SHA256, PublicKeyKind::Rsa, "AWS4-X509-RSA-SHA256"),
        (
            &rcgen::PKCS_ECDSA_P256_SHA256,
            PublicKeyKind::EcP256,
            "AWS4-X509-ECDSA-SHA256",
        ),
        (
            &rcgen::PKCS_ECDSA_P384_SHA384,
            PublicKeyKind::EcP384,
            "AWS4-X509-ECDSA-SHA256",
        ),
    ] {
        let id = identity(alg);
        let chain = vec![b"intermediate-1".to_vec(), b"intermediate-2".to_vec()];
        let headers = signed_headers(&id, &chain);
        let auth = parse_authorization(header(&headers, "authorization")).unwrap();
        assert_eq!(auth.label, label);
        assert_eq!(auth.serial_decimal, SERIAL);
        assert_eq!(auth.scope(), "20261125/us-east-1/rolesanywhere/aws4_request");
        assert_eq!(
            auth.signed_headers,
            ["content-type", "host", "x-amz-date", "x-amz-x509", "x-amz-x509-chain"]
        );
        assert_eq!(header(&headers, "x-amz-date"), "20261125T030000Z");
        assert_eq!(
            header(&headers, "x-amz-x509-chain"),
            "aW50ZXJtZWRpYXRlLTE=,aW50ZXJtZWRpYXRlLTI="
        );
        assert_eq!(
            verify_x509(&headers, BODY, kind, &id.public),
            Ok(()),
            "{label} {kind:?}"
        );

        // another key of the same type
        let other = identity(alg);
        assert_eq!(
            verify_x509(&headers, BODY, kind, &other.public),
            Err(SigV4Error::X509SignatureMismatch)
        );
        // tampered body
        assert_eq!(
            verify_x509(&headers, br#"{"durationSeconds":43200}"#, kind, &id.public),
            Err(SigV4Error::X509SignatureMismatch)
        );
        // tampered certificate header
        let mut tampered = headers.clone();
        tampered
            .iter_mut()
            .find(|(n, _)| n == "X-Amz-X509")
            .unwrap()
            .1
            .insert(0, 'A');
        assert_eq!(
            verify_x509(&tampered, BODY, kind, &id.public),
            Err(SigV4Error::X509SignatureMismatch)
        );
        // the other label
        let swapped = match label {
            "AWS4-X509-RSA-SHA256" => "AWS4-X509-ECDSA-SHA256",
            _ => "AWS4-X509-RSA-SHA256",
        };
        let mut relabeled = headers.clone();
        let auth_header = &mut relabeled.iter_mut().find(|(n, _)| n == "Authorization").unwrap().1;
        *auth_header = auth_header.replacen(label, swapped, 1);
        assert_eq!(
            verify_x509(&relabeled, BODY, kind, &id.public),
            Err(SigV4Error::AlgorithmKeyMismatch(swapped.to_owned()))
        );
        // the other family's label with another digest: named as sent
        let other_digest = swapped.replace("SHA256", "SHA384");
        let mut relabeled_digest = headers.clone();
        let auth_header = &mut relabeled_digest
            .iter_mut()
            .find(|(n, _)| n == "Authorization")
            .unwrap()
            .1;
        *auth_header = auth_header.replacen(label, &other_digest, 1);
        assert_eq!(
            verify_x509(&relabeled_digest, BODY, kind, &id.public),
            Err(SigV4Error::AlgorithmKeyMismatch(other_digest))
        );
        // the right family but an unknown label
        let auth_header = &mut relabeled.iter_mut().find(|(n, _)| n == "Authorization").unwrap().1;
        *auth_header = auth_header.replacen(swapped, "AWS4-X509-DSA-SHA256", 1);
        assert_eq!(
            verify_x509(&relabeled, BODY, kind, &id.public),
            Err(SigV4Error::UnsupportedAlgorithm {
                algorithm: "AWS4-X509-DSA-SHA256".into(),
                supported: X509_ALGORITHMS,
            })
        );
        // The message names what this endpoint takes, not what another one does.
        let err = verify_x509(&relabeled, BODY, kind, &id.public).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Unsupported AWS 'algorithm': 'AWS4-X509-DSA-SHA256'. Supported are AWS4-X509-RSA-SHA256 and \
             AWS4-X509-ECDSA-SHA256."
        );
    }
}

#[test]
fn signs_without_chain_and_requires_host() {
    let id = identity(&rcgen::PKCS_ECDSA_P256_SHA256);
    let headers = signed_headers(&id, &[]);
    assert!(!headers.iter().any(|(n, _)| n == "X-Amz-X509-Chain"));
    assert_eq!(verify_x509(&headers, BODY, PublicKeyKind::EcP256, &id.public), Ok(()));

    let key = X509SigningKey::from_pkcs8_der(&id.pkcs8).unwrap();
    assert_eq!(key.algorithm(), X509Algorithm::Ecdsa);
    assert_eq!(format!("{key:?}"), "X509SigningKey(Ecdsa, <redacted>)");
    let no_host = [("Content-Type", "application/json")];
    assert_eq!(
        sign_request(
            &request(&no_host),
            BODY,
            &key,
            &id.cert,
            &[],
            SERIAL,
            "us-east-1",
            datetime!(2026-11-25 03:00:00 UTC)
        ),
        Err(SigV4Error::HostNotSigned)
    );
    assert_eq!(
        X509SigningKey::from_pkcs8_der(b"not a key").unwrap_err(),
        SigV4Error::InvalidPrivateKey
    );
}

#[test]
fn accepts_rsa_pss() {
    let id = identity(&rcgen::PKCS_RSA_SHA256);
    let kp = RsaKeyPair::from_pkcs8(&id.pkcs8).unwrap();
    let sts = b"AWS4-X509-RSA-SHA256\n20261125T030000Z\n20261125/us-east-1/rolesanywhere/aws4_request\nabc";
    let mut sig = vec![0; kp.public_modulus_len()];
    kp.sign(&RSA_PSS_SHA256, &SystemRandom::new(), sts, &mut sig).unwrap();
    assert_eq!(
        verify_signature(X509Algorithm::Rsa, PublicKeyKind::Rsa, &id.public, sts, &sig),
        Ok(())
    );
    assert_eq!(
        verify_signature(X509Algorithm::Rsa, PublicKeyKind::Rsa, &id.public, b"other", &sig),
        Err(SigV4Error::X509SignatureMismatch)
    );
    assert_eq!(
        verify_signature(X509Algorithm::Ecdsa, PublicKeyKind::Rsa, &id.public, sts, &sig),
        Err(SigV4Error::AlgorithmKeyMismatch("AWS4-X509-ECDSA-SHA256".into()))
    );
}

#[test]
fn checks_scope_signed_headers_and_time() {
    let auth = |cred: &str, signed: &str| {
        parse_authorization(&format!(
            "AWS4-X509-RSA-SHA256 Credential={cred}, SignedHeaders={signed}, Signature=00ff"
        ))
        .unwrap()
    };
    let names = crate::sigv4::ServerNames::new(["rolegate.internal"]).unwrap();
    let exp = Expectations {
        service: SERVICE,
        region: "us-east-1",
        now: datetime!(2026-11-25 03:00:00 UTC),
        max_skew: time::Duration::minutes(5),
        hosts: &names,
    };
    let good = "1/20261125/us-east-1/rolesanywhere/aws4_request";
    let all = "host;x-amz-date;x-amz-x509";
    let date = "20261125T030000Z";
    for (cred, signed, amz_date, want) in [
        (good, all, date, Ok(())),
        (
            "1/20261125/us-east-1/sts/aws4_request",
            all,
            date,
            Err(SigV4Error::CredentialService("rolesanywhere".into())),
        ),
        (
            "1/20261125/eu-west-1/rolesanywhere/aws4_request",
            all,
            date,
            Err(SigV4Error::CredentialRegion {
                sent: "eu-west-1".into(),
                expected: "us-east-1".into(),
            }),
        ),
        (good, "x-amz-date;x-amz-x509", date, Err(SigV4Error::HostNotSigned)),
        (good, "host;x-amz-x509", date, Err(SigV4Error::DateNotSigned)),
        (good, "host;x-amz-date", date, Err(SigV4Error::CertificateNotSigned)),
        (
            good,
            all,
            "20261124T030000Z",
            Err(SigV4Error::CredentialDate {
                scope_date: "20261125".into(),
                amz_date_day: "20261124".into(),
                amz_date: "20261124T030000Z".into(),
            }),
        ),
        (
            good,
            all,
            "20261125T030600Z",
            Err(SigV4Error::SignatureNotYetCurrent {
                amz_date: "20261125T030600Z".into(),
                latest: "20261125T030500Z".into(),
                now: "20261125T030000Z".into(),
                skew: crate::sigv4::Skew(time::Duration::minutes(5)),
            }),
        ),
    ] {
        assert_eq!(
            x509::check_request(
                &auth(cred, signed),
                Some("rolegate.internal:8443"),
                Some(amz_date),
                &exp
            ),
            want,
            "{cred} {signed} {amz_date}"
        );
    }
    // Signed for another server: refused before the time is looked at.
    let wrong_host = x509::check_request(&auth(good, all), Some("staging.internal:8443"), Some(date), &exp);
    assert_eq!(
        wrong_host.unwrap_err().to_string(),
        "The request is signed for host 'staging.internal:8443', which is not a name of this server: sign it for the name you reach this server by (its certificate's names, or those of server.hostnames)."
    );
}

#[test]
fn parses_authorization_with_exact_errors() {
    let ok = parse_authorization(
        "AWS4-X509-ECDSA-SHA256 Credential=42/20261125/us-east-1/rolesanywhere/aws4_request, SignedHeaders=Host;X-Amz-Date, Signature=0aFF",
    )
    .unwrap();
    assert_eq!(
        ok,
        X509Authorization {
            algorithm: X509Algorithm::Ecdsa,
            label: "AWS4-X509-ECDSA-SHA256".into(),
            serial_decimal: "42".into(),
            date: "20261125".into(),
            region: "us-east-1".into(),
            service: "rolesanywhere".into(),
            signed_headers: vec!["host".into(), "x-amz-date".into()],
            signature: vec![0x0a, 0xff],
        }
    );
    for (value, want) in [
        (
            "AWS4-X509-RSA-SHA256 Credential=0x2A/20261125/us-east-1/rolesanywhere/aws4_request, SignedHeaders=host, Signature=00",
            SigV4Error::BadSerial("0x2A".into()),
        ),
        (
            "AWS4-HMAC-SHA256 Credential=42/20261125/us-east-1/rolesanywhere/aws4_request, SignedHeaders=host, Signature=00",
            SigV4Error::UnsupportedAlgorithm {
                algorithm: "AWS4-HMAC-SHA256".into(),
                supported: X509_ALGORITHMS,
            },
        ),
        (
            "AWS4-X509-RSA-SHA256 Credential=42/20261125/us-east-1/rolesanywhere/aws4_request, SignedHeaders=host, Signature=0g",
            SigV4Error::BadX509SignatureEncoding,
        ),
        (
            "AWS4-X509-RSA-SHA256 Credential=42/20261125/us-east-1/rolesanywhere/aws4_request, SignedHeaders=host, Signature=",
            SigV4Error::BadX509SignatureEncoding,
        ),
    ] {
        assert_eq!(parse_authorization(value), Err(want), "{value}");
    }
}
