//! `cargo bench`: criterion benchmarks of every hot step of rolegate, and in the same run the
//! cryptographic floor they are built on (bare ECDSA P-256 and RSA-2048 verification with
//! aws-lc-rs, HMAC-SHA256 with hmac + sha2). A final summary re-measures each step quickly
//! with `std::time::Instant` and prints it as a ratio to its floor.
//!
//! `cargo bench --bench hot_path -- --quick` gives a faster, noisier run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use rustls_pki_types::UnixTime;
use sha2::Sha256;
use time::OffsetDateTime;

use rolegate::bench::setup::{ClientIdentity, PROFILE_ARN, REGION, ROLE_ARN, TRUST_ANCHOR_ARN, World, WorldOptions};
use rolegate::bench::{FLOOR_MESSAGE, ecdsa_p256_fixture, rsa_2048_fixture};
use rolegate::broker::{Broker, Payload, ROLES_ANYWHERE_PRINCIPAL};
use rolegate::config::Config;
use rolegate::identity::{ClientCertificate, PublicKeyKind, verify_chain};
use rolegate::pki::KeyType;
use rolegate::policy::{self, Principal, RequestContext};
use rolegate::session::{self, SessionClaims, SessionClaimsDraft, SessionOrigin};
use rolegate::sigv4::{self, Expectations, HttpRequest, SignedRequest, x509};

/// The floor a step is compared with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Floor {
    Ecdsa,
    Rsa,
    Hmac,
}

/// One measured step: a name, its floor and the work of one iteration.
struct Step<'a> {
    name: &'static str,
    floor: Floor,
    run: Box<dyn FnMut() + 'a>,
}

/// Everything the steps work on, built once.
struct Fixture {
    _ecdsa_world: World,
    _rsa_world: World,
    broker: Broker,
    config: std::sync::Arc<Config>,
    leaf: ClientCertificate,
    ecdsa_request: SignedX509Request,
    rsa_request: SignedX509Request,
    sts_headers: Vec<(String, String)>,
    sts_body: &'static str,
    signing_key: sigv4::SigningKey,
    draft: SessionClaimsDraft,
    claims: SessionClaims,
    token: String,
    trust_context: RequestContext,
    ecdsa_floor: (Vec<u8>, Vec<u8>),
    rsa_floor: (Vec<u8>, Vec<u8>),
}

/// A signed `POST /sessions` as the server receives it.
struct SignedX509Request {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

const HOST: &str = "127.0.0.1:8443";

impl Fixture {
    fn new() -> Fixture {
        let world = |key| {
            World::create(&WorldOptions {
                distinct_certs: 1,
                client_key: key,
                cache_max_entries: 100_000,
            })
            .expect("bench world")
        };
        let ecdsa_world = world(KeyType::EcdsaP256);
        let rsa_world = world(KeyType::Rsa2048);
        let config = Config::load(&ecdsa_world.config).expect("bench config");
        let broker = Broker::new(config);
        let config = broker.config();
        let now = OffsetDateTime::now_utc();
        let ecdsa_client = &ecdsa_world.clients[0];
        let leaf = ClientCertificate::parse(ecdsa_client.cert_der.clone()).expect("leaf");
        let ecdsa_request = signed_x509_request(ecdsa_client, now);
        let rsa_request = signed_x509_request(&rsa_world.clients[0], now);

        let draft = SessionClaimsDraft {
            role_arn: ROLE_ARN.to_owned(),
            role_id: session::role_id(ROLE_ARN),
            session_name: leaf.serial_hex().to_owned(),
            issued_at: now.unix_timestamp(),
            expires_at: now.unix_timestamp() + 3600,
            source_identity: Some(leaf.source_identity()),
            tags: leaf.principal_tags(),
            transitive_tag_keys: Vec::new(),
            session_policies: Vec::new(),
            policy_arns: Vec::new(),
            origin: SessionOrigin::RolesAnywhere {
                trust_anchor_arn: TRUST_ANCHOR_ARN.to_owned(),
                profile_arn: PROFILE_ARN.to_owned(),
                certificate_serial: leaf.serial_hex().to_owned(),
            },
        };
        let (credentials, claims) = session::mint(&config.keyring, draft.clone()).expect("mint");
        let sts_body = "Action=GetCallerIdentity&Version=2011-06-15";
        let base = [
            ("host", HOST),
            ("content-type", "application/x-www-form-urlencoded; charset=utf-8"),
        ];
        let unsigned = HttpRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &base,
        };
        let added = sigv4::sign_hmac(
            &unsigned,
            &sigv4::sha256_hex(sts_body.as_bytes()),
            &credentials.access_key_id,
            &credentials.secret_access_key,
            Some(&credentials.session_token),
            REGION,
            "sts",
            now,
        );
        let mut sts_headers: Vec<(String, String)> =
            base.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        sts_headers.extend(added);
        let date = sigv4::format_amz_date(now);
        let signing_key = sigv4::derive_signing_key(
            &credentials.secret_access_key,
            date.get(..8).unwrap_or_default(),
            REGION,
            "sts",
        );
        Fixture {
            trust_context: trust_context(&leaf, now),
            broker,
            config,
            leaf,
            ecdsa_request,
            rsa_request,
            sts_headers,
            sts_body,
            signing_key,
            draft,
            token: credentials.session_token.clone(),
            claims,
            ecdsa_floor: ecdsa_p256_fixture().expect("ecdsa floor"),
            rsa_floor: rsa_2048_fixture().expect("rsa floor"),
            _ecdsa_world: ecdsa_world,
            _rsa_world: rsa_world,
        }
    }

    fn steps(&self) -> Vec<Step<'_>> {
        let anchor = self.config.anchor(TRUST_ANCHOR_ARN).expect("anchor").clone();
        let role = self.config.role(ROLE_ARN).expect("role").clone();
        let now = OffsetDateTime::now_utc();
        let unix = UnixTime::since_unix_epoch(Duration::from_secs(now.unix_timestamp() as u64));
        let anchor2 = anchor.clone();
        let hmac_key = [7u8; 32];
        vec![
            Step {
                name: "floor/ecdsa_p256_verify",
                floor: Floor::Ecdsa,
                run: Box::new(move || bare_verify(&aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1, &self.ecdsa_floor)),
            },
            Step {
                name: "floor/rsa_2048_verify",
                floor: Floor::Rsa,
                run: Box::new(move || bare_verify(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256, &self.rsa_floor)),
            },
            Step {
                name: "floor/hmac_sha256",
                floor: Floor::Hmac,
                run: Box::new(move || {
                    // invariant: HMAC accepts keys of any length.
                    let mut mac = Hmac::<Sha256>::new_from_slice(&hmac_key).expect("key");
                    mac.update(black_box(FLOOR_MESSAGE));
                    black_box(mac.finalize().into_bytes());
                }),
            },
            Step {
                name: "chain/uncached (identity::verify_chain)",
                floor: Floor::Ecdsa,
                run: Box::new(move || {
                    black_box(verify_chain(&anchor.trust, &self.leaf, &[], unix).expect("chain"));
                }),
            },
            Step {
                name: "chain/cached (Broker::verify_chain_cached)",
                floor: Floor::Ecdsa,
                run: Box::new(move || {
                    self.broker
                        .verify_chain_cached(&anchor2, &self.leaf, &[], now)
                        .expect("cached chain");
                }),
            },
            Step {
                name: "x509_request/ecdsa_p256 (REST auth path)",
                floor: Floor::Ecdsa,
                run: Box::new(move || verify_x509_request(&self.ecdsa_request)),
            },
            Step {
                name: "x509_request/rsa_2048 (REST auth path)",
                floor: Floor::Rsa,
                run: Box::new(move || verify_x509_request(&self.rsa_request)),
            },
            Step {
                name: "sigv4/verify (cached signing key)",
                floor: Floor::Hmac,
                run: Box::new(move || self.verify_sigv4(now)),
            },
            Step {
                name: "sigv4/authenticate (token open + verify)",
                floor: Floor::Hmac,
                run: Box::new(move || {
                    let headers = self.sts_pairs();
                    let req = self.sts_http(&headers);
                    let payload = Payload::Body {
                        bytes: self.sts_body.as_bytes(),
                        allow_unsigned: false,
                    };
                    assert!(self.broker.authenticate(&req, payload, "sts", None, now).is_ok());
                }),
            },
            Step {
                name: "token/seal (session::seal)",
                floor: Floor::Hmac,
                run: Box::new(move || {
                    black_box(session::seal(&self.config.keyring, &self.claims).expect("seal"));
                }),
            },
            Step {
                name: "token/open (session::open)",
                floor: Floor::Hmac,
                run: Box::new(move || {
                    black_box(session::open(&self.config.keyring, &self.token).expect("open"));
                }),
            },
            Step {
                name: "policy/evaluate trust policy (3 actions)",
                floor: Floor::Hmac,
                run: Box::new(move || {
                    let mut ctx = self.trust_context.clone();
                    for action in rolegate::broker::ROLES_ANYWHERE_ACTIONS {
                        ctx.action = action.to_owned();
                        assert!(policy::evaluate(&[&role.trust_policy], &ctx).is_allowed());
                    }
                }),
            },
            Step {
                name: "session/mint (session::mint)",
                floor: Floor::Hmac,
                run: Box::new(move || {
                    black_box(session::mint(&self.config.keyring, self.draft.clone()).expect("mint"));
                }),
            },
        ]
    }

    fn sts_pairs(&self) -> Vec<(&str, &str)> {
        self.sts_headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    fn sts_http<'a>(&self, headers: &'a [(&'a str, &'a str)]) -> HttpRequest<'a> {
        HttpRequest {
            method: "POST",
            path: "/",
            query: "",
            headers,
        }
    }

    fn verify_sigv4(&self, now: OffsetDateTime) {
        let headers = self.sts_pairs();
        let req = self.sts_http(&headers);
        let signed = SignedRequest::parse(&req).expect("signed request");
        let hash = sigv4::sha256_hex(self.sts_body.as_bytes());
        let exp = Expectations {
            service: "sts",
            region: REGION,
            now,
            max_skew: time::Duration::minutes(5),
        };
        sigv4::verify(&signed, &req, &hash, &self.signing_key, &exp).expect("sigv4 verify");
    }
}

fn signed_x509_request(client: &ClientIdentity, now: OffsetDateTime) -> SignedX509Request {
    let body =
        format!(r#"{{"profileArn":"{PROFILE_ARN}","roleArn":"{ROLE_ARN}","trustAnchorArn":"{TRUST_ANCHOR_ARN}"}}"#)
            .into_bytes();
    let base = [("host", HOST), ("content-type", "application/json")];
    let unsigned = HttpRequest {
        method: "POST",
        path: "/sessions",
        query: "",
        headers: &base,
    };
    let added = x509::sign_request(
        &unsigned,
        &body,
        &client.key,
        &client.cert_der,
        &[],
        &client.serial_decimal,
        REGION,
        now,
    )
    .expect("sign");
    let mut headers: Vec<(String, String)> = base.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    headers.extend(added.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)));
    SignedX509Request { headers, body }
}

/// What `service::rest` does to authenticate `POST /sessions`: parse the Authorization header,
/// decode and parse the certificate, hash the body, build the canonical request and the string
/// to sign, verify the signature with the certificate's key.
fn verify_x509_request(r: &SignedX509Request) {
    let pairs: Vec<(&str, &str)> = r.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let req = HttpRequest {
        method: "POST",
        path: "/sessions",
        query: "",
        headers: &pairs,
    };
    let auth = x509::parse_authorization(req.header("authorization").expect("authorization")).expect("auth");
    let der = STANDARD
        .decode(req.header("x-amz-x509").expect("x509"))
        .expect("base64");
    let cert = ClientCertificate::parse(der).expect("certificate");
    let signed: Vec<&str> = auth.signed_headers.iter().map(String::as_str).collect();
    let canonical = sigv4::canonical_request(&req, &signed, &sigv4::sha256_hex(&r.body), true).expect("canonical");
    let sts = sigv4::string_to_sign(
        &auth.label,
        req.header("x-amz-date").expect("date"),
        &auth.scope(),
        &canonical,
    );
    let (kind, key) = cert.public_key();
    let kind = match kind {
        PublicKeyKind::Rsa => x509::PublicKeyKind::Rsa,
        PublicKeyKind::EcP256 => x509::PublicKeyKind::EcP256,
        PublicKeyKind::EcP384 => x509::PublicKeyKind::EcP384,
    };
    x509::verify_signature(auth.algorithm, kind, key, sts.as_bytes(), &auth.signature).expect("x509 signature");
}

fn bare_verify(alg: &'static dyn aws_lc_rs::signature::VerificationAlgorithm, fixture: &(Vec<u8>, Vec<u8>)) {
    let key = aws_lc_rs::signature::UnparsedPublicKey::new(alg, &fixture.0);
    key.verify(black_box(FLOOR_MESSAGE), &fixture.1).expect("floor verify");
}

/// The trust-policy context CreateSession builds for a certificate.
fn trust_context(leaf: &ClientCertificate, now: OffsetDateTime) -> RequestContext {
    let mut ctx = RequestContext::new(Principal::Service(ROLES_ANYWHERE_PRINCIPAL.to_owned()), "", ROLE_ARN);
    ctx.insert("aws:SourceArn", TRUST_ANCHOR_ARN);
    ctx.insert("aws:SourceAccount", "123456789012");
    ctx.insert("aws:SecureTransport", "true");
    ctx.insert("aws:CurrentTime", now.unix_timestamp().to_string());
    ctx.insert("aws:SourceIp", "127.0.0.1");
    let tags = leaf.principal_tags();
    let mut keys = Vec::new();
    for (k, v) in &tags {
        ctx.insert(&format!("aws:PrincipalTag/{k}"), v.as_str());
        ctx.insert(&format!("aws:RequestTag/{k}"), v.as_str());
        keys.push(k.clone());
    }
    ctx.insert_multi("aws:TagKeys", keys);
    ctx
}

fn hot_path(c: &mut Criterion) {
    let fixture = Fixture::new();
    for mut step in fixture.steps() {
        c.bench_function(step.name, |b| b.iter(&mut step.run));
    }
}

/// Re-measures every step for a short while and prints the table of ratios to the floor.
fn summary(_c: &mut Criterion) {
    let fixture = Fixture::new();
    let mut steps = fixture.steps();
    let mut results: Vec<(&'static str, Floor, f64)> = Vec::new();
    for step in &mut steps {
        results.push((
            step.name,
            step.floor,
            mean_micros(&mut step.run, Duration::from_millis(300)),
        ));
    }
    let floor_of = |f: Floor| {
        results
            .iter()
            .find(|(name, floor, _)| name.starts_with("floor/") && *floor == f)
            .map_or(f64::NAN, |r| r.2)
    };
    println!(
        "\nrolegate hot path summary (mean of a {} ms re-measurement per step)\n",
        300
    );
    println!("{:<46} {:>10} {:>10} {:>8}", "step", "µs", "floor µs", "ratio");
    for (name, floor, us) in &results {
        let f = floor_of(*floor);
        println!("{name:<46} {us:>10.2} {f:>10.2} {:>8.2}", us / f);
    }
    println!("\nfloors: ECDSA P-256 verify and RSA-2048 verify (aws-lc-rs), HMAC-SHA256 (hmac+sha2)");
}

fn mean_micros(f: &mut dyn FnMut(), budget: Duration) -> f64 {
    for _ in 0..8 {
        f();
    }
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < budget {
        f();
        n += 1;
    }
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

criterion_group!(benches, hot_path, summary);
criterion_main!(benches);
