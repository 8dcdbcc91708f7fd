//! CreateSession end to end: the real daemon on 127.0.0.1:0 with real TLS, driven by
//! rolegate's own Roles Anywhere client (AWS4-X509 signing) and by raw HTTP requests.

mod common;

use common::*;
use rolegate::client::{ClientError, CreateSessionParams, RolesAnywhereClient, TlsOptions};
use rolegate::identity::ClientCertificate;
use rolegate::pki::{ClientSpec, Issued, KeyType};
use rolegate::sigv4::x509::X509SigningKey;

fn params(profile: &str, role: &str, anchor: &str) -> CreateSessionParams {
    CreateSessionParams {
        trust_anchor_arn: anchor_arn(anchor),
        profile_arn: profile_arn(profile),
        role_arn: role.to_owned(),
        duration_seconds: None,
        role_session_name: None,
        region: REGION.into(),
    }
}

fn client(d: &Daemon) -> RolesAnywhereClient {
    RolesAnywhereClient::new(
        &d.endpoint,
        &TlsOptions {
            ca_bundle: Some(d.ca_bundle()),
            ..Default::default()
        },
    )
    .unwrap()
}

async fn create(
    d: &Daemon,
    p: &CreateSessionParams,
    leaf: &Issued,
    chain: &[Vec<u8>],
) -> Result<rolegate::client::SessionCredentials, ClientError> {
    let key = X509SigningKey::from_pkcs8_der(&leaf.key_pkcs8_der).unwrap();
    let cert = ClientCertificate::parse(leaf.cert_der.clone()).unwrap();
    client(d)
        .create_session(p, &key, &leaf.cert_der, chain, cert.serial_decimal(), now())
        .await
}

fn assert_api_error(
    r: Result<rolegate::client::SessionCredentials, ClientError>,
    status: u16,
    kind: &str,
    needle: &str,
) {
    match r {
        Err(ClientError::Api {
            status: s,
            error_type,
            message,
        }) => {
            assert_eq!((s, error_type.as_str()), (status, kind), "message: {message}");
            assert!(message.contains(needle), "message {message:?} lacks {needle:?}");
        }
        other => panic!("expected {status} {kind}, got {other:?}"),
    }
}

#[tokio::test]
async fn ecdsa_leaf_with_intermediate_chain_gets_credentials() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let leaf = Pki::client(&pki.intermediate, "workload-1", KeyType::EcdsaP256);
    let chain = vec![pki.intermediate.issued().cert_der.clone()];
    let creds = create(&d, &params("main", ROLE, "main"), &leaf, &chain).await.unwrap();
    assert!(creds.access_key_id.starts_with("ASIA") && creds.access_key_id.len() == 20);
    assert!(
        creds.access_key_id[4..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    );
    assert_eq!(creds.secret_access_key.len(), 40);
    assert!(!creds.session_token.is_empty());
    let exp = time::OffsetDateTime::parse(&creds.expiration, &time::format_description::well_known::Rfc3339).unwrap();
    let left = (exp - now()).whole_seconds();
    assert!((3500..=3600).contains(&left), "expires in {left} s");
}

#[tokio::test]
async fn rsa_leaf_under_root_gets_credentials_and_repeats_are_reused() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let leaf = Pki::client(&pki.root, "workload-rsa", KeyType::Rsa2048);
    let first = create(&d, &params("main", ROLE, "main"), &leaf, &[]).await.unwrap();
    let second = create(&d, &params("main", ROLE, "main"), &leaf, &[]).await.unwrap();
    assert_eq!(
        first.access_key_id, second.access_key_id,
        "identical requests reuse issued credentials"
    );
    let mut longer = params("main", ROLE, "main");
    longer.duration_seconds = Some(7200);
    let third = create(&d, &longer, &leaf, &[]).await.unwrap();
    assert_ne!(
        first.access_key_id, third.access_key_id,
        "another duration is another session"
    );
}

#[tokio::test]
async fn lookup_and_profile_rules_answer_aws_errors() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let leaf = Pki::client(&pki.root, "workload", KeyType::EcdsaP256);
    assert_api_error(
        create(&d, &params("nope", ROLE, "main"), &leaf, &[]).await,
        404,
        "ResourceNotFoundException",
        "Profile arn:aws:rolesanywhere:us-east-1:123456789012:profile/nope was not found.",
    );
    assert_api_error(
        create(&d, &params("main", ROLE, "nope"), &leaf, &[]).await,
        404,
        "ResourceNotFoundException",
        "Trust anchor arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/nope was not found.",
    );
    assert_api_error(
        create(&d, &params("main", ROLE_OTHER, "main"), &leaf, &[]).await,
        403,
        "AccessDeniedException",
        "is not one of the roles of profile",
    );
    assert_api_error(
        create(&d, &params("off", ROLE, "main"), &leaf, &[]).await,
        403,
        "AccessDeniedException",
        "is disabled",
    );
    assert_api_error(
        create(&d, &params("main", ROLE, "disabled"), &leaf, &[]).await,
        403,
        "AccessDeniedException",
        "trust-anchor/disabled is disabled",
    );
    assert_api_error(
        create(&d, &params("props", ROLE, "main"), &leaf, &[]).await,
        400,
        "ValidationException",
        "requires instanceProperties",
    );
    let mut named = params("main", ROLE, "main");
    named.role_session_name = Some("my-session".into());
    assert_api_error(
        create(&d, &named, &leaf, &[]).await,
        400,
        "ValidationException",
        "does not accept roleSessionName",
    );
    named.profile_arn = profile_arn("named");
    create(&d, &named, &leaf, &[]).await.unwrap();
}

#[tokio::test]
async fn durations_follow_aws_rules() {
    let pki = Pki::new();
    let d = start(&setup(&pki));
    let leaf = Pki::client(&pki.root, "workload", KeyType::EcdsaP256);
    const TOO_SHORT: &str = "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: \
                             Member must have value greater than or equal to 900";
    const TOO_LONG: &str = "1 validation error detected: Value '43201' at 'durationSeconds' failed to satisfy constraint: \
                            Member must have value less than or equal to 43200";
    const OVER_ROLE: &str = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role. \
                             It allows at most 7200 seconds; 7201 were asked for.";
    for (secs, refusal) in [
        (899, Some(TOO_SHORT)),
        (900, None),
        (7200, None),
        (7201, Some(OVER_ROLE)),
        (43201, Some(TOO_LONG)),
    ] {
        let mut p = params("main", ROLE, "main");
        p.duration_seconds = Some(secs);
        let r = create(&d, &p, &leaf, &[]).await;
        match refusal {
            None => {
                r.unwrap();
            }
            Some(message) => assert_api_error(r, 400, "ValidationException", message),
        }
    }
}

#[tokio::test]
async fn untrusted_expired_and_revoked_certificates_are_denied() {
    let pki = Pki::new();
    let n = now();
    let revoked = Pki::client(&pki.root, "revoked", KeyType::EcdsaP256);
    let crl = pki
        .root
        .crl(&[revoked.serial_hex.as_str()], n - days(1), n + days(7))
        .unwrap();
    let mut s = setup(&pki);
    s.crl_pem = Some(crl);
    let d = start(&s);
    let p = params("main", ROLE, "main");

    let foreign = Pki::client(&pki.foreign, "stranger", KeyType::EcdsaP256);
    assert_access_denied(
        create(&d, &p, &foreign, &[]).await,
        UNKNOWN_ISSUER,
        "untrusted-certificate",
    );

    let not_after = n - days(1);
    let old = pki
        .root
        .client(&ClientSpec::new("old", KeyType::EcdsaP256, n - days(10), not_after))
        .unwrap();
    assert_access_denied(
        create(&d, &p, &old, &[]).await,
        &expired_message(not_after.unix_timestamp()),
        "certificate-expired",
    );

    assert_access_denied(create(&d, &p, &revoked, &[]).await, REVOKED, "certificate-revoked");

    let fine = Pki::client(&pki.root, "fine", KeyType::EcdsaP256);
    create(&d, &p, &fine, &[]).await.unwrap();

    // Trusted, but no session may be made of its names: its OU would be a tag holding a
    // line break, or its CN another certificate's source identity.
    let mut spec = ClientSpec::new("web-1", KeyType::EcdsaP256, n - days(1), n + days(30));
    spec.organizational_unit = Some("ops\nINFO audit: forged".into());
    assert_api_error(
        create(&d, &p, &pki.root.client(&spec).unwrap(), &[]).await,
        403,
        "AccessDeniedException",
        "Invalid client certificate for a session: the certificate's x509Subject/OU value holds the control character U+000A; it would become a session tag",
    );
    let victim = "v".repeat(59);
    create(&d, &p, &Pki::client(&pki.root, &victim, KeyType::EcdsaP256), &[])
        .await
        .unwrap();
    assert_api_error(
        create(
            &d,
            &p,
            &Pki::client(&pki.root, &format!("CN={victim}"), KeyType::EcdsaP256),
            &[],
        )
        .await,
        403,
        "AccessDeniedException",
        "the subject CN begins with 'CN=' or 'ID=' and is too long for the source identity's 'CN=' prefix",
    );
}

/// A CA re-keyed under the same name: the anchor bundle holds both certificates, each key has
/// its own CRL, and each key's certificates are checked against their own CRL.
#[tokio::test]
async fn a_rekeyed_ca_keeps_a_crl_per_key() {
    let pki = Pki::new();
    let n = now();
    let rekeyed =
        rolegate::pki::Authority::new_root("test root", KeyType::EcdsaP256, n - days(1), n + days(365)).unwrap();
    let old_revoked = Pki::client(&pki.root, "old-revoked", KeyType::EcdsaP256);
    let new_revoked = Pki::client(&rekeyed, "new-revoked", KeyType::EcdsaP256);
    let old_crl = pki
        .root
        .crl(&[old_revoked.serial_hex.as_str()], n - days(1), n + days(7));
    let new_crl = rekeyed.crl(&[new_revoked.serial_hex.as_str()], n - days(1), n + days(7));
    let mut s = setup(&pki);
    s.crl_pem = Some(old_crl.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &s);
    let bundle = format!("{}{}", pki.root.issued().cert_pem, rekeyed.issued().cert_pem);
    std::fs::write(dir.path().join("ca.pem"), bundle).unwrap();
    std::fs::write(dir.path().join("root-new.crl"), new_crl.unwrap()).unwrap();
    let text = std::fs::read_to_string(&config).unwrap();
    let both = text.replacen(r#"crls = ["root.crl"]"#, r#"crls = ["root.crl", "root-new.crl"]"#, 1);
    assert_ne!(both, text);
    std::fs::write(&config, both).unwrap();
    let d = start_with_config(dir, &config);
    let p = params("main", ROLE, "main");

    for revoked in [&old_revoked, &new_revoked] {
        assert_api_error(
            create(&d, &p, revoked, &[]).await,
            403,
            "AccessDeniedException",
            "Untrusted certificate: certificate is revoked by a CRL of the trust anchor",
        );
    }
    for ca in [&pki.root, &rekeyed] {
        create(&d, &p, &Pki::client(ca, "fine", KeyType::EcdsaP256), &[])
            .await
            .unwrap();
    }
}

/// A CRL past its nextUpdate is honoured by default (AWS keeps an imported CRL until it is
/// replaced); an anchor with `stale_crls = "refuse"` refuses every certificate it covers.
#[tokio::test]
async fn a_stale_crl_is_honoured_unless_the_anchor_refuses_stale_crls() {
    let pki = Pki::new();
    let n = now();
    let revoked = Pki::client(&pki.root, "revoked", KeyType::EcdsaP256);
    let stale = pki
        .root
        .crl(&[revoked.serial_hex.as_str()], n - days(8), n - days(1))
        .unwrap();
    let strict_role = format!("arn:aws:iam::{ACCOUNT}:role/strict");
    let mut s = setup(&pki);
    s.crl_pem = Some(stale);
    s.extra_toml = format!(
        r#"
[[trust_anchor]]
id = "strict"
certificates = "ca.pem"
crls = ["root.crl"]
stale_crls = "refuse"

[[profile]]
id = "strict"
role_arns = ["{strict_role}"]

[[role]]
arn = "{strict_role}"
trust_policy = '''{policy}'''
"#,
        policy = trust_policy_roles_anywhere("strict", ""),
    );
    let d = start(&s);
    let fine = Pki::client(&pki.root, "fine", KeyType::EcdsaP256);

    let honouring = params("main", ROLE, "main");
    create(&d, &honouring, &fine, &[]).await.unwrap();
    assert_api_error(
        create(&d, &honouring, &revoked, &[]).await,
        403,
        "AccessDeniedException",
        "Untrusted certificate: certificate is revoked by a CRL of the trust anchor",
    );

    let refusing = params("strict", &strict_role, "strict");
    let next_update = rolegate::session::format_expiration((n - days(1)).unix_timestamp());
    let want = format!(
        "Untrusted certificate: the CRL of CN=test root, which covers the certificate chain, is past its nextUpdate \
         ({next_update}) and the trust anchor refuses stale CRLs"
    );
    for leaf in [&fine, &revoked] {
        assert_api_error(
            create(&d, &refusing, leaf, &[]).await,
            403,
            "AccessDeniedException",
            &want,
        );
    }
    // Certificates issued under an intermediate the root's CRL covers are refused too.
    let under = Pki::client(&pki.intermediate, "under", KeyType::EcdsaP256);
    let chain = [pki.intermediate.issued().cert_der.clone()];
    assert_api_error(
        create(&d, &refusing, &under, &chain).await,
        403,
        "AccessDeniedException",
        &want,
    );
}

#[tokio::test]
async fn trust_policy_conditions_on_certificate_attributes() {
    let pki = Pki::new();
    let mut s = setup(&pki);
    s.app_trust_condition = r#","StringEquals":{"aws:PrincipalTag/x509Subject/CN":"allowed"}"#;
    let d = start(&s);
    let p = params("main", ROLE, "main");
    let allowed = Pki::client(&pki.root, "allowed", KeyType::EcdsaP256);
    create(&d, &p, &allowed, &[]).await.unwrap();
    let other = Pki::client(&pki.root, "someone-else", KeyType::EcdsaP256);
    assert_api_error(
        create(&d, &p, &other, &[]).await,
        403,
        "AccessDeniedException",
        "The trust policy of role arn:aws:iam::123456789012:role/app does not allow rolesanywhere.amazonaws.com to perform sts:AssumeRole",
    );
}

/// A profile's `attribute_mappings` choose which certificate attributes become principal tags
/// (AWS's `attributeMappings`): the trust policy sees only those, and the session carries only
/// those; a field the profile does not map keeps AWS's default rules.
#[tokio::test]
async fn profile_attribute_mappings_choose_the_principal_tags() {
    let pki = Pki::new();
    let mut s = setup(&pki);
    s.app_trust_condition = r#","StringEquals":{"aws:PrincipalTag/x509Subject/CN":"mapped"}"#;
    s.extra_toml = format!(
        r#"
[[profile]]
id = "ou-only"
role_arns = ["{ROLE}"]
attribute_mappings = {{ x509Subject = ["OU"], x509Issuer = [] }}

[[profile]]
id = "cn-and-uri"
role_arns = ["{ROLE}"]
attribute_mappings = {{ x509Subject = ["CN"], x509SAN = ["URI"] }}
"#
    );
    let d = start(&s);
    let config = rolegate::config::Config::load(&d.dir.path().join("rolegate.toml")).unwrap();
    let mut spec = ClientSpec::new("mapped", KeyType::EcdsaP256, now() - days(1), now() + days(30));
    spec.organizational_unit = Some("Payments".to_owned());
    spec.dns_names = vec!["svc.example".to_owned()];
    spec.uris = vec!["spiffe://acme/svc".to_owned()];
    let leaf = pki.root.client(&spec).unwrap();
    let tags_of = |creds: &rolegate::client::SessionCredentials| {
        let claims = rolegate::session::open(&config.keyring, &creds.session_token).unwrap();
        let mut keys: Vec<String> = claims.tags.iter().map(|(k, _)| k.clone()).collect();
        keys.sort();
        keys
    };

    // The default mapping: every subject and issuer RDN, the first DNS name and URI.
    let default = create(&d, &params("main", ROLE, "main"), &leaf, &[]).await.unwrap();
    assert_eq!(
        tags_of(&default),
        [
            "x509Issuer/CN",
            "x509SAN/DNS",
            "x509SAN/URI",
            "x509Subject/CN",
            "x509Subject/OU"
        ]
    );

    // The subject's CN and the SAN's URI; the issuer, not mapped, by default. The trust policy
    // still finds its CN.
    let narrow = create(&d, &params("cn-and-uri", ROLE, "main"), &leaf, &[])
        .await
        .unwrap();
    assert_eq!(tags_of(&narrow), ["x509Issuer/CN", "x509SAN/URI", "x509Subject/CN"]);

    // The OU only: no CN tag for the trust policy to match, so the role refuses.
    assert_api_error(
        create(&d, &params("ou-only", ROLE, "main"), &leaf, &[]).await,
        403,
        "AccessDeniedException",
        "The trust policy of role arn:aws:iam::123456789012:role/app does not allow rolesanywhere.amazonaws.com to perform sts:AssumeRole",
    );

    // Only the values a profile maps must fit a tag: an OU with a line break is refused by the
    // default mapping, not by a profile that leaves the OU out; a URI longer than a tag value
    // may be is refused where the profile maps it, never cut to a prefix.
    let mut spec = ClientSpec::new("mapped", KeyType::EcdsaP256, now() - days(1), now() + days(30));
    spec.organizational_unit = Some("ops\nforged".to_owned());
    let broken_ou = pki.root.client(&spec).unwrap();
    assert_api_error(
        create(&d, &params("main", ROLE, "main"), &broken_ou, &[]).await,
        403,
        "AccessDeniedException",
        "Invalid client certificate for a session: the certificate's x509Subject/OU value holds the control character U+000A; it would become a session tag",
    );
    let narrow = create(&d, &params("cn-and-uri", ROLE, "main"), &broken_ou, &[])
        .await
        .unwrap();
    assert_eq!(tags_of(&narrow), ["x509Issuer/CN", "x509Subject/CN"]);
    let mut spec = ClientSpec::new("mapped", KeyType::EcdsaP256, now() - days(1), now() + days(30));
    spec.uris = vec![format!("spiffe://acme/{}", "s".repeat(300))];
    let long_uri = pki.root.client(&spec).unwrap();
    assert_api_error(
        create(&d, &params("cn-and-uri", ROLE, "main"), &long_uri, &[]).await,
        403,
        "AccessDeniedException",
        "Invalid client certificate for a session: the certificate's x509SAN/URI value has 314 characters; a session tag value holds at most 256, so leave x509SAN/URI out of the profile's attribute_mappings",
    );
}

/// A CA `depth` intermediates below `root` (each issued by the one before) and the chain a
/// leaf of it sends: the nearest intermediate first.
fn deep_chain(root: &rolegate::pki::Authority, depth: usize) -> (rolegate::pki::Authority, Vec<Vec<u8>>) {
    let mut cas = intermediate_ladder(root, depth);
    let chain = cas.iter().rev().map(|ca| ca.issued().cert_der.clone()).collect();
    (cas.pop().unwrap(), chain)
}

/// CreateSession of the main profile signed by `leaf` with `chain`, sent as raw HTTP/1.1:
/// the status and the body.
async fn raw_create(d: &Daemon, leaf: &Issued, chain: &[Vec<u8>]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let key = X509SigningKey::from_pkcs8_der(&leaf.key_pkcs8_der).unwrap();
    let cert = ClientCertificate::parse(leaf.cert_der.clone()).unwrap();
    let authority = d.endpoint.trim_start_matches("https://").to_owned();
    let signer = rolegate::client::X509Signer {
        key: &key,
        cert_der: &leaf.cert_der,
        chain_der: chain,
        serial_decimal: cert.serial_decimal(),
    };
    let (headers, body) =
        rolegate::client::signed_create_session(&authority, &params("main", ROLE, "main"), &signer, now()).unwrap();
    let mut head = "POST /sessions HTTP/1.1\r\n".to_owned();
    for (name, value) in &headers {
        head += &format!("{name}: {value}\r\n");
    }
    head += &format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len());
    let tcp = tokio::net::TcpStream::connect(&authority).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = tls_connector(&d.ca_bundle()).connect(name, tcp).await.unwrap();
    tls.write_all(head.as_bytes()).await.unwrap();
    tls.write_all(&body).await.unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    let text = String::from_utf8(out).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

/// DESIGN §1's chain length over REST: a real path of exactly `MAX_INTERMEDIATES` (5)
/// intermediates under the anchor is served (201); a real path of 6 is refused by count.
#[tokio::test]
async fn a_chain_of_five_intermediates_is_served_and_six_refused() {
    assert_eq!(rolegate::identity::MAX_INTERMEDIATES, 5);
    let pki = Pki::new();
    let d = start(&setup(&pki));

    let (five_deep, chain) = deep_chain(&pki.root, 5);
    let leaf = Pki::client(&five_deep, "five-deep", KeyType::EcdsaP256);
    let (status, body) = raw_create(&d, &leaf, &chain).await;
    assert_eq!(status, 201, "{body}");
    let answer = rolegate::client::parse_create_session_answer(body.as_bytes()).unwrap();
    assert!(answer.access_key_id.starts_with("ASIA"), "{answer:?}");
    // A "full chain" list (the leaf first, as cert-manager's tls.crt) of the same path: the
    // leaf's copy is dropped, not counted against the five.
    let full_chain: Vec<Vec<u8>> = std::iter::once(leaf.cert_der.clone())
        .chain(chain.iter().cloned())
        .collect();
    let (status, body) = raw_create(&d, &leaf, &full_chain).await;
    assert_eq!(status, 201, "{body}");
    // The same path less its top intermediate does not reach the anchor: all five are used.
    assert_access_denied(
        create(&d, &params("main", ROLE, "main"), &leaf, &chain[..4]).await,
        UNKNOWN_ISSUER,
        "untrusted-certificate",
    );

    let (six_deep, chain) = deep_chain(&pki.root, 6);
    let leaf = Pki::client(&six_deep, "six-deep", KeyType::EcdsaP256);
    assert_access_denied(
        create(&d, &params("main", ROLE, "main"), &leaf, &chain).await,
        "X-Amz-X509-Chain has 6 certificates; at most 5 intermediates are allowed, plus a copy of the client certificate.",
        "chain-too-long",
    );
    let full_chain: Vec<Vec<u8>> = std::iter::once(leaf.cert_der.clone())
        .chain(chain.iter().cloned())
        .collect();
    let (status, body) = raw_create(&d, &leaf, &full_chain).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains(
            "X-Amz-X509-Chain has 7 certificates; at most 5 intermediates are allowed, plus a copy of the client certificate."
        ),
        "{body}"
    );
}

/// A leaf and intermediate of the OpenSSL-made fixtures of tests/data/weak-intermediates
/// (see its README): `(leaf, intermediate DER)`.
fn weak_fixture(name: &str) -> (Issued, Vec<u8>) {
    use rustls::pki_types::pem::PemObject;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/weak-intermediates");
    let der = |file: &str| {
        rustls::pki_types::CertificateDer::from_pem_file(dir.join(file))
            .unwrap()
            .to_vec()
    };
    let cert_pem = std::fs::read_to_string(dir.join(format!("{name}-leaf.pem"))).unwrap();
    let key_pem = std::fs::read_to_string(dir.join(format!("{name}-leaf-key.pem"))).unwrap();
    let key_pkcs8_der = rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes())
        .unwrap()
        .secret_pkcs8_der()
        .to_vec();
    let leaf = Issued {
        cert_der: der(&format!("{name}-leaf.pem")),
        serial_hex: ClientCertificate::parse(der(&format!("{name}-leaf.pem")))
            .unwrap()
            .serial_hex()
            .to_owned(),
        cert_pem,
        key_pem: key_pem.into(),
        key_pkcs8_der: key_pkcs8_der.into(),
    };
    (leaf, der(&format!("{name}-inter.pem")))
}

/// DESIGN §1 for the CAs of the chain, not only the leaf: a sound leaf under an intermediate
/// signed with SHA-1, or under one whose key is RSA 1024, is refused as an unsupported chain
/// algorithm; the same root's sound intermediate (the control) is served.
#[tokio::test]
async fn a_weak_intermediate_is_refused_as_an_unsupported_chain_algorithm() {
    let pki = Pki::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/weak-intermediates/root.pem");
    let role = "arn:aws:iam::123456789012:role/weak-chain";
    let extra_toml = format!(
        "[[trust_anchor]]\nid = \"weak\"\ncertificates = \"{}\"\n\n[[profile]]\nid = \"weak\"\nrole_arns = [\"{role}\"]\n\n[[role]]\narn = \"{role}\"\ntrust_policy = '''{}'''\n",
        root.display(),
        trust_policy_roles_anywhere("weak", "")
    );
    let d = start(&Setup {
        extra_toml,
        ..setup(&pki)
    });
    let weak = params("weak", role, "weak");

    let (leaf, inter) = weak_fixture("ok");
    create(&d, &weak, &leaf, &[inter]).await.unwrap();

    for name in ["sha1", "rsa1024"] {
        let (leaf, inter) = weak_fixture(name);
        assert_access_denied(
            create(&d, &weak, &leaf, &[inter]).await,
            "Untrusted certificate: a certificate in the chain uses an unsupported signature algorithm or key; \
             SHA-256 or stronger with RSA >= 2048 bits or ECDSA P-256/P-384 is required",
            "untrusted-certificate",
        );
    }
}
