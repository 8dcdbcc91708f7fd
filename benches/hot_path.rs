//! `cargo bench`: criterion benchmarks of every hot step of rolegate, and in the same run the
//! cryptographic floor they are built on (bare ECDSA P-256 and RSA-2048 verification with
//! aws-lc-rs, HMAC-SHA256 with hmac + sha2). A final summary re-measures each step quickly
//! with `std::time::Instant` and prints it as a ratio to its floor.
//!
//! The `handler/*` steps are whole requests as the server decides them, minus TLS, HTTP and
//! logging: the request read once (parameters, cached certificate), authenticated, decided by
//! the broker and rendered. Requests that must be fresh (a new signature and session name, as
//! real clients send) are signed outside the timed part.
//!
//! `cargo bench --bench hot_path -- --quick` gives a faster, noisier run.

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use rustls_pki_types::UnixTime;
use sha2::Sha256;
use time::OffsetDateTime;

use rolegate::audit::Record;
use rolegate::bench::requests::{self, ClientRequest};
use rolegate::bench::setup::{
    CHAINED_ROLE_ARN, ClientIdentity, PROFILE_ARN, REGION, ROLE_ARN, TRUST_ANCHOR_ARN, World, WorldOptions,
};
use rolegate::bench::{FLOOR_MESSAGE, ecdsa_p256_fixture, rsa_2048_fixture};
use rolegate::broker::{Broker, Payload, SessionRequester, create_session_trust_context};
use rolegate::client::SessionCredentials;
use rolegate::config::Config;
use rolegate::identity::{ClientCertificate, verify_chain};
use rolegate::pki::KeyType;
use rolegate::policy::{self, RequestContext};
use rolegate::ratelimit::ClientLimit;
use rolegate::service::http::RequestParts;
use rolegate::service::{rest, sts};
use rolegate::session::{self, SessionChain, SessionClaims, SessionClaimsDraft, SessionOrigin};
use rolegate::sigv4::{self, Expectations, HttpRequest, SignedRequest, x509};

/// The floor a step is compared with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Floor {
    Ecdsa,
    /// Two ECDSA P-256 verifications: a request signature and a certificate chain.
    TwoEcdsa,
    Rsa,
    Hmac,
}

/// One measured step: a name, its floor and the work of one iteration.
struct Step<'a> {
    name: &'static str,
    floor: Floor,
    work: Work<'a>,
}

/// The work of one iteration.
enum Work<'a> {
    /// The same work every time.
    Repeat(Box<dyn FnMut() + 'a>),
    /// Work on a fresh input a client made (e.g. a newly signed request): `prepare` is not
    /// timed, the closure it returns is.
    Fresh(Box<dyn FnMut() -> Box<dyn FnOnce() + 'a> + 'a>),
}

impl<'a> Step<'a> {
    fn repeat(name: &'static str, floor: Floor, run: impl FnMut() + 'a) -> Step<'a> {
        Step {
            name,
            floor,
            work: Work::Repeat(Box::new(run)),
        }
    }

    fn fresh(name: &'static str, floor: Floor, prepare: impl FnMut() -> Box<dyn FnOnce() + 'a> + 'a) -> Step<'a> {
        Step {
            name,
            floor,
            work: Work::Fresh(Box::new(prepare)),
        }
    }
}

/// Everything the steps work on, built once.
struct Fixture {
    _ecdsa_world: World,
    _rsa_world: World,
    /// Many certificates and caches too small to hold them: every CreateSession parses its
    /// certificate and verifies its chain.
    uncached_world: World,
    uncached_broker: Broker,
    /// A world whose anchor has a CRL of [`CRL_ENTRIES`] revoked serials, and its client's leaf.
    _crl_world: World,
    crl_config: Config,
    crl_leaf: ClientCertificate,
    ecdsa_client: ClientIdentity,
    rsa_client: ClientIdentity,
    broker: Broker,
    /// The broker of the RSA world (its own CA).
    rsa_broker: Broker,
    config: Arc<Config>,
    leaf: ClientCertificate,
    rsa_leaf: ClientCertificate,
    /// The minted session's credentials, as a client holds them.
    credentials: SessionCredentials,
    draft: SessionClaimsDraft,
    claims: SessionClaims,
    /// The floor's keys, parsed once as the server parses a certificate's, and signatures.
    ecdsa_floor: (aws_lc_rs::signature::ParsedPublicKey, Vec<u8>),
    rsa_floor: (aws_lc_rs::signature::ParsedPublicKey, Vec<u8>),
    /// Distinct session names for fresh requests.
    sequence: AtomicU64,
    /// The text-format subscriber of `rolegate serve`, its batches written to a sink.
    audit_log: tracing::Dispatch,
    /// The same, as `--log-format json` writes it ([`rolegate::logging::JsonLines`]).
    audit_log_json: tracing::Dispatch,
    _audit_log_writer: rolegate::logging::FlushGuard,
    /// The audit record of an allowed CreateSession.
    audit_record: Record,
}

const HOST: &str = "127.0.0.1:8443";

/// The names a server with the dev certificate answers to, which a signed `host` is checked
/// against.
static SERVER_NAMES: std::sync::LazyLock<sigv4::ServerNames> =
    std::sync::LazyLock::new(|| sigv4::ServerNames::new(["localhost", "127.0.0.1", "::1"]).expect("names"));
/// Certificates the chain-not-cached step cycles through (its caches hold 16 entries).
const UNCACHED_CERTS: usize = 1024;
/// Revoked serials in the CRL of the chain-with-CRL step.
const CRL_ENTRIES: usize = 1000;
const GET_CALLER_IDENTITY: &str = "Action=GetCallerIdentity&Version=2011-06-15";

impl Fixture {
    fn new() -> Fixture {
        let world_with = |key, distinct_certs, cache_max_entries, crl_entries| {
            World::create(&WorldOptions {
                distinct_certs,
                client_key: key,
                cache_max_entries,
                crl_entries,
                stopped: None,
            })
            .expect("bench world")
        };
        let world = |key, distinct_certs, cache_max_entries| world_with(key, distinct_certs, cache_max_entries, None);
        // Caches small enough that the issued-credentials cache churns (insert + evict) as on
        // a busy server.
        let mut ecdsa_world = world(KeyType::EcdsaP256, 1, 10_000);
        let mut rsa_world = world(KeyType::Rsa2048, 1, 10_000);
        let uncached_world = world(KeyType::EcdsaP256, UNCACHED_CERTS, 16);
        let uncached_broker = Broker::new(Config::load(&uncached_world.config).expect("bench config"));
        let crl_world = world_with(KeyType::EcdsaP256, 1, 16, Some(CRL_ENTRIES));
        let crl_config = Config::load(&crl_world.config).expect("bench config");
        let crl_leaf = ClientCertificate::parse(crl_world.clients[0].cert_der.clone()).expect("leaf");
        let config = Config::load(&ecdsa_world.config).expect("bench config");
        let broker = Broker::new(config);
        let config = broker.config();
        let rsa_broker = Broker::new(Config::load(&rsa_world.config).expect("bench config"));
        let now = OffsetDateTime::now_utc();
        let ecdsa_client = ecdsa_world.clients.remove(0);
        let rsa_client = rsa_world.clients.remove(0);
        let leaf = ClientCertificate::parse(ecdsa_client.cert_der.clone()).expect("leaf");
        let rsa_leaf = ClientCertificate::parse(rsa_client.cert_der.clone()).expect("rsa leaf");
        let draft = SessionClaimsDraft {
            role_arn: ROLE_ARN.to_owned(),
            role_id: session::role_id(ROLE_ARN),
            session_name: leaf.serial_hex().to_owned(),
            issued_at: now.unix_timestamp(),
            expires_at: now.unix_timestamp() + 3600,
            source_identity: Some(leaf.source_identity().to_owned()),
            tags: leaf.principal_tags().to_vec(),
            transitive_tag_keys: Vec::new(),
            session_policies: Vec::new(),
            policy_arns: Vec::new(),
            origin: SessionOrigin::RolesAnywhere {
                trust_anchor_arn: TRUST_ANCHOR_ARN.to_owned(),
                profile_arn: PROFILE_ARN.to_owned(),
                certificate_serial: leaf.serial_hex().to_owned(),
            },
            chain: Some(SessionChain {
                trust_anchor_arn: TRUST_ANCHOR_ARN.to_owned(),
                certificates: vec![leaf.issuer_serial().clone()],
                issued_anchor_listings: Vec::new(),
            }),
        };
        let (credentials, claims) = session::mint(&config.keyring, draft.clone(), 0).expect("mint");
        let (writer, audit_log_writer) =
            rolegate::logging::BatchedWriter::spawn(std::io::sink(), |_| {}, |_| {}).expect("the log writer thread");
        let json_writer = writer.clone();
        let audit_log = tracing::Dispatch::new(
            tracing_subscriber::fmt()
                .with_ansi(false)
                .with_writer(writer)
                .fmt_fields(rolegate::logging::TextFields)
                .finish(),
        );
        let audit_log_json = tracing::Dispatch::new(
            tracing_subscriber::fmt()
                .json()
                .event_format(rolegate::logging::JsonLines::default())
                .with_writer(json_writer)
                .finish(),
        );
        let mut audit_record = Record::new(
            "3f0c1a52-7a0e-4b8e-9d7c-1d2e3f4a5b6c",
            "rest",
            "CreateSession",
            SocketAddr::from(([127, 0, 0, 1], 40000)),
        );
        audit_record.set_certificate(Arc::new(leaf.clone()));
        audit_record.trust_anchor = Some(TRUST_ANCHOR_ARN.to_owned());
        audit_record.profile = Some(PROFILE_ARN.to_owned());
        audit_record.role = Some(ROLE_ARN.to_owned());
        audit_record.session_name = Some(leaf.serial_hex().to_owned());
        audit_record.source_identity = Some(leaf.source_identity().to_owned());
        audit_record.issued_access_key_id = Some(credentials.access_key_id.clone());
        Fixture {
            broker,
            rsa_broker,
            config,
            leaf,
            rsa_leaf,
            credentials: SessionCredentials {
                access_key_id: credentials.access_key_id,
                secret_access_key: credentials.secret_access_key,
                session_token: credentials.session_token.into(),
                expiration: session::format_expiration(credentials.expiration),
            },
            draft,
            claims,
            ecdsa_client,
            rsa_client,
            ecdsa_floor: parsed_floor(&aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1, ecdsa_p256_fixture()),
            rsa_floor: parsed_floor(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256, rsa_2048_fixture()),
            sequence: AtomicU64::new(0),
            audit_log,
            audit_log_json,
            _audit_log_writer: audit_log_writer,
            audit_record,
            _ecdsa_world: ecdsa_world,
            _rsa_world: rsa_world,
            uncached_world,
            uncached_broker,
            _crl_world: crl_world,
            crl_config,
            crl_leaf,
        }
    }

    fn steps(&self) -> Vec<Step<'_>> {
        let anchor = self.config.anchor(TRUST_ANCHOR_ARN).expect("anchor");
        let crl_anchor = self.crl_config.anchor(TRUST_ANCHOR_ARN).expect("anchor");
        let role = self.config.role(ROLE_ARN).expect("role");
        // One instant for signing and verifying, so a long run never drifts out of the skew.
        let now = OffsetDateTime::now_utc();
        let unix = UnixTime::since_unix_epoch(Duration::from_secs(now.unix_timestamp() as u64));
        let requester = SessionRequester {
            certificate: &self.leaf,
            tags: self.leaf.principal_tags(),
            session_name: "bench-1",
        };
        let trust_context =
            create_session_trust_context(&self.config, anchor, role, requester, Some([127, 0, 0, 1].into()), now);
        let ecdsa_request = signed_x509_request(&self.ecdsa_client, None, now);
        let rsa_request = signed_x509_request(&self.rsa_client, None, now);
        let gci_request = std::rc::Rc::new(self.sts_request(GET_CALLER_IDENTITY, now));
        let (gci_verify, gci_authenticate) = (gci_request.clone(), gci_request.clone());
        let gci_delivered = Delivered::from(gci_request.as_ref());
        let sts_signing_key = sigv4::derive_signing_key(
            &self.credentials.secret_access_key,
            &sigv4::format_amz_date(now)[..8],
            REGION,
            "sts",
        );
        let token = self.credentials.session_token.to_string();
        let hmac_key = [7u8; 32];
        vec![
            Step::repeat("floor/ecdsa_p256_verify", Floor::Ecdsa, move || {
                bare_verify(&self.ecdsa_floor)
            }),
            Step::repeat("floor/rsa_2048_verify", Floor::Rsa, move || {
                bare_verify(&self.rsa_floor)
            }),
            Step::repeat("floor/hmac_sha256", Floor::Hmac, move || {
                // invariant: HMAC accepts keys of any length.
                let mut mac = Hmac::<Sha256>::new_from_slice(&hmac_key).expect("key");
                mac.update(black_box(FLOOR_MESSAGE));
                black_box(mac.finalize().into_bytes());
            }),
            Step::repeat(
                "certificate/parse (ClientCertificate::parse)",
                Floor::Ecdsa,
                move || {
                    black_box(ClientCertificate::parse(self.ecdsa_client.cert_der.clone()).expect("leaf"));
                },
            ),
            Step::repeat("chain/uncached (identity::verify_chain)", Floor::Ecdsa, move || {
                black_box(verify_chain(&anchor.trust, &self.leaf, &[], unix).expect("chain"));
            }),
            Step::repeat(
                "chain/uncached_with_crl (identity::verify_chain, anchor with a 1,000-entry CRL)",
                Floor::Ecdsa,
                move || {
                    black_box(verify_chain(&crl_anchor.trust, &self.crl_leaf, &[], unix).expect("chain"));
                },
            ),
            Step::repeat("chain/cached (Broker::verify_chain_cached)", Floor::Ecdsa, move || {
                self.broker
                    .verify_chain_cached(&self.config, anchor, &self.leaf, &[], now)
                    .expect("cached chain");
            }),
            Step::repeat("x509_request/ecdsa_p256 (AWS4-X509 verify)", Floor::Ecdsa, move || {
                verify_x509_request(&ecdsa_request, &self.leaf)
            }),
            Step::repeat("x509_request/rsa_2048 (AWS4-X509 verify)", Floor::Rsa, move || {
                verify_x509_request(&rsa_request, &self.rsa_leaf)
            }),
            Step::repeat("sigv4/verify (cached signing key)", Floor::Hmac, move || {
                verify_sigv4(&gci_verify, &sts_signing_key, now)
            }),
            Step::repeat(
                "sigv4/authenticate (Broker::authenticate, opened token cached)",
                Floor::Hmac,
                move || {
                    let pairs = pairs(&gci_authenticate);
                    let req = http_request(gci_authenticate.path, &pairs);
                    let payload = Payload::Body {
                        bytes: GET_CALLER_IDENTITY.as_bytes(),
                        allow_unsigned: false,
                    };
                    assert!(self.broker.authenticate(&req, payload, "sts", None, now).is_ok());
                },
            ),
            Step::repeat("token/seal (session::seal)", Floor::Hmac, move || {
                black_box(session::seal(&self.config.keyring, &self.claims).expect("seal"));
            }),
            Step::repeat("token/open (session::open)", Floor::Hmac, move || {
                black_box(session::open(&self.config.keyring, &token).expect("open"));
            }),
            Step::repeat("policy/evaluate trust policy (3 actions)", Floor::Hmac, move || {
                let mut ctx: RequestContext = trust_context.clone();
                for action in rolegate::broker::ROLES_ANYWHERE_ACTIONS {
                    ctx.action = action.to_owned();
                    assert!(policy::evaluate(&[&role.trust_policy], &ctx).is_allowed());
                }
            }),
            Step::repeat("session/mint (session::mint)", Floor::Hmac, move || {
                black_box(session::mint(&self.config.keyring, self.draft.clone(), 0).expect("mint"));
            }),
            Step::fresh(
                "handler/create_session ECDSA (fresh session)",
                Floor::Ecdsa,
                move || {
                    let name = self.next_name("bench");
                    let request = Delivered::from(&signed_x509_request(&self.ecdsa_client, Some(&name), now));
                    Box::new(move || create_session(&self.broker, &request, now))
                },
            ),
            Step::fresh(
                "handler/create_session ECDSA, chain not cached",
                Floor::TwoEcdsa,
                move || {
                    let n = self.sequence.fetch_add(1, Ordering::Relaxed) as usize;
                    let client = &self.uncached_world.clients[n % UNCACHED_CERTS];
                    let request = Delivered::from(&signed_x509_request(client, Some(&format!("bench-{n}")), now));
                    Box::new(move || create_session(&self.uncached_broker, &request, now))
                },
            ),
            Step::repeat(
                "audit/event (text log line of a CreateSession)",
                Floor::Hmac,
                move || {
                    tracing::dispatcher::with_default(&self.audit_log, || {
                        self.audit_record.allow(Duration::from_micros(75));
                    })
                },
            ),
            Step::repeat(
                "audit/event json (JSON log line of a CreateSession)",
                Floor::Hmac,
                move || {
                    tracing::dispatcher::with_default(&self.audit_log_json, || {
                        self.audit_record.allow(Duration::from_micros(75));
                    })
                },
            ),
            Step::fresh("handler/create_session RSA (fresh session)", Floor::Rsa, move || {
                let name = self.next_name("bench");
                let request = Delivered::from(&signed_x509_request(&self.rsa_client, Some(&name), now));
                Box::new(move || create_session(&self.rsa_broker, &request, now))
            }),
            Step::repeat("handler/get_caller_identity", Floor::Hmac, move || {
                self.sts_call(&gci_delivered, now)
            }),
            Step::fresh("handler/assume_role (fresh session)", Floor::Hmac, move || {
                let body = format!(
                    "Action=AssumeRole&Version=2011-06-15&RoleArn={}&RoleSessionName={}",
                    form_urlencoded::byte_serialize(CHAINED_ROLE_ARN.as_bytes()).collect::<String>(),
                    self.next_name("chain")
                );
                let request = Delivered::from(&self.sts_request(&body, now));
                Box::new(move || self.sts_call(&request, now))
            }),
        ]
    }

    fn next_name(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.sequence.fetch_add(1, Ordering::Relaxed))
    }

    /// An STS Query request as the server decides it once TLS and HTTP have delivered it.
    fn sts_call(&self, request: &Delivered, now: OffsetDateTime) {
        let read = sts::StsRequest::read(&request.parts, &request.body);
        let response = sts::handle(
            &self.broker,
            &request.parts,
            &request.body,
            read,
            &ClientLimit::unlimited(),
            &mut Record::default(),
            now,
        )
        .expect("STS");
        assert_eq!(response.status(), 200);
    }

    /// `POST /` with `body`, SigV4-signed with the fixture's session credentials at `now`.
    fn sts_request(&self, body: &str, now: OffsetDateTime) -> ClientRequest {
        requests::sts(HOST, &self.credentials, body, now)
    }
}

/// `POST /sessions` as the server decides it once TLS and HTTP have delivered it.
fn create_session(broker: &Broker, request: &Delivered, now: OffsetDateTime) {
    let read = rest::CreateSessionRequest::read(broker, &request.parts, &request.body);
    let mut record = Record::new(&request.parts.request_id, "rest", "CreateSession", request.parts.remote);
    read.describe(&mut record);
    let response = rest::create_session(
        broker,
        &request.parts,
        &request.body,
        read,
        &ClientLimit::unlimited(),
        &mut record,
        now,
    )
    .expect("CreateSession");
    assert_eq!(response.status(), 201);
}

/// A request as `service::http` hands it to the handlers once TLS and HTTP have delivered it
/// (built outside the timed part, as hyper builds it in the server).
struct Delivered {
    parts: RequestParts,
    body: bytes::Bytes,
}

impl From<&ClientRequest> for Delivered {
    fn from(request: &ClientRequest) -> Self {
        let mut headers = HeaderMap::with_capacity(request.headers.len());
        for (k, v) in &request.headers {
            let name = HeaderName::from_bytes(k.as_bytes()).expect("header name");
            headers.append(name, HeaderValue::from_str(v).expect("header value"));
        }
        let parts = RequestParts {
            method: Method::POST,
            path: request.path.to_owned(),
            query: String::new(),
            headers,
            remote: SocketAddr::from(([127, 0, 0, 1], 40000)),
            request_id: "bench".to_owned(),
        };
        Self {
            parts,
            body: request.body.clone(),
        }
    }
}

fn pairs(request: &ClientRequest) -> Vec<(&str, &str)> {
    request.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// The view `sigv4` verifies.
fn http_request<'a>(path: &'a str, pairs: &'a [(&'a str, &'a str)]) -> HttpRequest<'a> {
    HttpRequest {
        method: "POST",
        path,
        query: "",
        headers: pairs,
    }
}

/// `POST /sessions` as the load generator's clients send it, signed at `now`.
fn signed_x509_request(client: &ClientIdentity, session_name: Option<&str>, now: OffsetDateTime) -> ClientRequest {
    requests::create_session(HOST, client, session_name, now).expect("sign")
}

/// The AWS4-X509 authentication of `POST /sessions` for a certificate seen before (parsed and
/// cached): parse the Authorization header, hash the body, build the canonical request and
/// the string to sign, verify the signature with the certificate's parsed key.
fn verify_x509_request(r: &ClientRequest, leaf: &ClientCertificate) {
    let pairs = pairs(r);
    let req = http_request(r.path, &pairs);
    let auth = x509::parse_authorization(req.header("authorization").expect("authorization")).expect("auth");
    let amz_date = req.header("x-amz-date").expect("date");
    x509::verify_request(&req, &sigv4::sha256_hex(&r.body), amz_date, &auth, leaf.verifying_key())
        .expect("x509 signature");
}

/// SigV4 verification of an STS request with its signing key already derived.
fn verify_sigv4(r: &ClientRequest, key: &sigv4::SigningKey, now: OffsetDateTime) {
    let pairs = pairs(r);
    let req = http_request(r.path, &pairs);
    let signed = SignedRequest::parse(&req).expect("signed request");
    let hash = sigv4::sha256_hex(&r.body);
    let exp = Expectations {
        service: "sts",
        region: REGION,
        now,
        max_skew: time::Duration::minutes(5),
        hosts: &SERVER_NAMES,
    };
    sigv4::verify(&signed, &req, &hash, key, &exp).expect("sigv4 verify");
}

fn parsed_floor(
    alg: &'static dyn aws_lc_rs::signature::VerificationAlgorithm,
    fixture: Result<(Vec<u8>, Vec<u8>), String>,
) -> (aws_lc_rs::signature::ParsedPublicKey, Vec<u8>) {
    let (public, sig) = fixture.expect("floor fixture");
    let key = aws_lc_rs::signature::ParsedPublicKey::new(alg, &public).expect("floor key");
    (key, sig)
}

/// One verification with the key parsed beforehand: the server parses a certificate's key once.
fn bare_verify((key, sig): &(aws_lc_rs::signature::ParsedPublicKey, Vec<u8>)) {
    key.verify_sig(black_box(FLOOR_MESSAGE), sig).expect("floor verify");
}

fn hot_path(c: &mut Criterion) {
    let fixture = Fixture::new();
    for step in fixture.steps() {
        match step.work {
            Work::Repeat(mut run) => {
                c.bench_function(step.name, |b| b.iter(&mut run));
            }
            Work::Fresh(mut prepare) => {
                c.bench_function(step.name, |b| {
                    b.iter_batched(&mut prepare, |work| work(), BatchSize::SmallInput)
                });
            }
        }
    }
}

/// Re-measures every step for a short while and prints the table of ratios to the floor.
/// `ROLEGATE_BENCH_STEPS=text` keeps the floors and the steps whose name contains `text`
/// (e.g. to run one step under `valgrind --tool=callgrind`).
fn summary(_c: &mut Criterion) {
    let fixture = Fixture::new();
    let only = std::env::var("ROLEGATE_BENCH_STEPS").unwrap_or_default();
    // `cargo test` runs this once as a smoke test of every step: briefly.
    let budget = match std::env::args().any(|a| a == "--bench") {
        true => Duration::from_millis(300),
        false => Duration::from_millis(5),
    };
    let mut results: Vec<(&'static str, Floor, f64)> = Vec::new();
    for step in fixture.steps() {
        if !(step.name.starts_with("floor/") || step.name.contains(only.as_str())) {
            continue;
        }
        let us = match step.work {
            Work::Repeat(mut run) => mean_micros(&mut run, budget),
            Work::Fresh(mut prepare) => mean_fresh_micros(&mut prepare, budget),
        };
        results.push((step.name, step.floor, us));
    }
    let floor_of = |f: Floor| {
        let (f, times) = match f {
            Floor::TwoEcdsa => (Floor::Ecdsa, 2.0),
            f => (f, 1.0),
        };
        results
            .iter()
            .find(|(name, floor, _)| name.starts_with("floor/") && *floor == f)
            .map_or(f64::NAN, |r| times * r.2)
    };
    println!(
        "\nrolegate hot path summary (mean of a {} ms re-measurement per step)\n",
        budget.as_millis()
    );
    println!("{:<50} {:>10} {:>10} {:>8}", "step", "µs", "floor µs", "ratio");
    for (name, floor, us) in &results {
        let f = floor_of(*floor);
        println!("{name:<50} {us:>10.2} {f:>10.2} {:>8.2}", us / f);
    }
    println!(
        "\nfloors: ECDSA P-256 verify (twice for a chain not cached) and RSA-2048 verify (aws-lc-rs), HMAC-SHA256 (hmac+sha2)"
    );
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

/// Like [`mean_micros`] for fresh-input work: inputs are prepared in batches of 64, untimed.
fn mean_fresh_micros<'a>(prepare: &mut dyn FnMut() -> Box<dyn FnOnce() + 'a>, budget: Duration) -> f64 {
    let mut timed = Duration::ZERO;
    let mut n: u64 = 0;
    while timed < budget {
        let batch: Vec<_> = (0..64).map(|_| prepare()).collect();
        let start = Instant::now();
        for work in batch {
            work();
        }
        timed += start.elapsed();
        n += 64;
    }
    timed.as_secs_f64() * 1e6 / n as f64
}

criterion_group!(benches, hot_path, summary);
criterion_main!(benches);
