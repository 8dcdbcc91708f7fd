//! Authenticating a SigV4-signed request made with rolegate-issued session credentials
//! (STS Query API, gRPC AssumeRole, VerifyRequest):
//!
//! 1. parse the signature (Authorization header or presigned query);
//! 2. open the sealed session token (`X-Amz-Security-Token`) with the key ring — no store is
//!    consulted, so any replica authenticates any session (opened tokens are cached);
//! 3. the access key id of the signature must be the token's; the session must not have
//!    expired nor been revoked by its role's `revoke_sessions_issued_before`;
//! 4. verify the signature with the secret carried in the token (signing keys cached).

use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use time::OffsetDateTime;

use super::Broker;
use super::caches::CacheName;
use crate::config::{Config, Role};
use crate::error::{ApiError, ErrorCode};
use crate::identity::{CrlInfo, IssuerSerial, TrustAnchor};
use crate::policy::{PolicyDocument, PolicyKind};
use crate::session::{self, SessionChain, SessionClaims, SessionOrigin};
use crate::sigv4::{self, Expectations, HttpRequest, ServerNames, SigV4Error, SignedRequest};

/// A verified caller: the session it proved, and its role as configured now.
pub struct Caller {
    pub claims: Arc<OpenedSession>,
    pub role: Arc<Role>,
    pub config: Arc<Config>,
}

impl Caller {
    /// `arn:aws:sts::{account}:assumed-role/{role}/{session}`.
    pub fn assumed_role_arn(&self) -> String {
        self.role.arn.assumed_role_arn(&self.claims.session_name)
    }

    /// The session's policies, each with where it comes from: the inline ones its token
    /// carries, then the managed ones it names by ARN. An inline one that no longer parses,
    /// or a managed one no longer configured, stands as a Deny of everything: left out, its
    /// Deny statements would be lost while the session's other session policies still allowed.
    pub fn session_policies(&self) -> impl Iterator<Item = (SessionPolicySource<'_>, Arc<PolicyDocument>)> {
        let inline = self.claims.inline_policies().iter();
        let inline = inline.map(|(i, d)| (SessionPolicySource::Inline(*i), d.clone()));
        let managed = self.claims.policy_arns.iter().map(|arn| {
            let document = match self.config.managed_policies.get(arn) {
                Some(d) => d.clone(),
                None => {
                    warn_once_of_missing_managed_policy(arn);
                    deny_all()
                }
            };
            (SessionPolicySource::Managed(arn.as_str()), document)
        });
        inline.chain(managed)
    }
}

/// Warns, once per ARN in this process's life, that sessions name a managed policy the
/// configuration does not have: each of their calls would repeat it (one per Authorize of a
/// platform that checks every request). A reload that removes one says so too; this covers a
/// replica started without it. The ARNs come from sealed tokens, so the set is bounded by what
/// was issued.
fn warn_once_of_missing_managed_policy(arn: &str) {
    static WARNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut warned = WARNED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if warned.iter().any(|w| w == arn) {
        return;
    }
    warned.push(arn.to_owned());
    tracing::warn!(
        policy_arn = arn,
        "sessions name a managed policy the configuration does not have: they are denied everything they ask \
         (said once per policy)"
    );
}

/// Where a session policy of a [`Caller`] comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionPolicySource<'a> {
    /// `session_policies[i]` of its token.
    Inline(usize),
    /// A managed policy, by ARN.
    Managed(&'a str),
}

/// A session token's claims as the opened-token cache keeps them, with the inline session
/// policies they carry parsed once, when a decision first needs them: parsing a policy costs
/// more than the rest of an AssumeRole's authorization, and a session signs many requests.
pub struct OpenedSession {
    claims: SessionClaims,
    inline_policies: OnceLock<Vec<(usize, Arc<PolicyDocument>)>>,
}

/// The memory one unit of the opened-token cache's bound stands for: an entry counts once
/// for each started `ENTRY_UNIT_BYTES` it may come to hold ([`OpenedSession::cache_weight`]),
/// so `cache_max_entries` bounds memory, not only the count of sessions. A session of a role
/// chain with tags and no session policy is one unit.
pub(crate) const ENTRY_UNIT_BYTES: usize = 2048;

/// How many bytes a session policy's text may take once parsed, per byte of text. Measured
/// with a counting allocator (tests/memory_weights.rs): documents of hundreds of condition
/// keys with short values parse to up to about 45 times their compact text (each key holds a
/// `Condition` with its key twice and its values twice); short `StringLike` patterns to 13.
const PARSED_POLICY_BYTES_PER_TEXT_BYTE: usize = 48;

/// What each string of the claims costs besides its text: its 24-byte header and the
/// allocator's rounding of its buffer.
const BYTES_PER_STRING: usize = 40;

impl OpenedSession {
    pub fn new(claims: SessionClaims) -> OpenedSession {
        OpenedSession {
            claims,
            inline_policies: OnceLock::new(),
        }
    }

    /// The entry's weight in the opened-token cache: one per started [`ENTRY_UNIT_BYTES`] it
    /// may come to hold — its claims' strings, each with [`BYTES_PER_STRING`], and each inline
    /// session policy as it will be once parsed (a decision parses them,
    /// [`Self::inline_policies`], and the entry keeps them). A caller can make its session's
    /// policies dense (up to the packed-policy bound) and its tags many: counted by number
    /// alone, such entries took 50 times the memory the bound was sized for.
    pub fn cache_weight(&self) -> u32 {
        let c = &self.claims;
        let origin: [&str; 3] = match &c.origin {
            SessionOrigin::RolesAnywhere {
                trust_anchor_arn,
                profile_arn,
                certificate_serial,
            } => [trust_anchor_arn, profile_arn, certificate_serial],
            SessionOrigin::AssumeRole {
                source_role_arn,
                source_session_name,
            } => [source_role_arn, source_session_name, ""],
        };
        let fixed = [
            c.access_key_id.as_str(),
            c.secret_access_key.as_str(),
            &c.role_arn,
            &c.role_id,
            &c.session_name,
            c.source_identity.as_deref().unwrap_or_default(),
        ];
        let listed = c
            .tags
            .iter()
            .flat_map(|(k, v)| [k, v])
            .chain(&c.transitive_tag_keys)
            .chain(&c.policy_arns)
            .map(String::as_str);
        let anchor = c.chain.iter().map(|chain| chain.trust_anchor_arn.as_str());
        let strings = fixed.into_iter().chain(origin).chain(listed).chain(anchor);
        let text: usize = strings.map(|s| s.len() + BYTES_PER_STRING).sum();
        let policies: usize = c
            .session_policies
            .iter()
            .map(|p| BYTES_PER_STRING + p.len() * (1 + PARSED_POLICY_BYTES_PER_TEXT_BYTE))
            .sum();
        let certificates: usize = c
            .chain
            .iter()
            .flat_map(SessionChain::all_certificates)
            .map(|id| std::mem::size_of::<crate::identity::IssuerSerial>() + id.serial.len() + BYTES_PER_STRING)
            .sum();
        let bytes = std::mem::size_of::<Self>() + text + policies + certificates;
        u32::try_from(bytes.div_ceil(ENTRY_UNIT_BYTES)).unwrap_or(u32::MAX)
    }

    /// The inline session policies (`session_policies`), parsed, each with its index. One that
    /// no longer parses (a token sealed by a version with other policy rules) stands as a Deny
    /// of everything: left out, its Deny statements would be lost while the session's other
    /// session policies still allowed.
    pub fn inline_policies(&self) -> &[(usize, Arc<PolicyDocument>)] {
        self.inline_policies.get_or_init(|| {
            let parsed = self.claims.session_policies.iter().enumerate();
            parsed
                .map(|(i, text)| match PolicyDocument::parse(text, PolicyKind::Identity) {
                    Ok(d) => (i, Arc::new(d)),
                    Err(e) => {
                        tracing::warn!(
                            error = %e,
                            "a session policy in a token no longer parses: the session is denied everything"
                        );
                        (i, deny_all())
                    }
                })
                .collect()
        })
    }
}

/// A policy denying every action on every resource.
fn deny_all() -> Arc<PolicyDocument> {
    static DENY_ALL: OnceLock<Arc<PolicyDocument>> = OnceLock::new();
    DENY_ALL
        .get_or_init(|| {
            let json = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;
            #[expect(
                clippy::expect_used,
                reason = "invariant: a constant document, parsed by a unit test"
            )]
            Arc::new(PolicyDocument::parse(json, PolicyKind::Identity).expect("the deny-all policy parses"))
        })
        .clone()
}

impl Deref for OpenedSession {
    type Target = SessionClaims;

    fn deref(&self) -> &SessionClaims {
        &self.claims
    }
}

/// Whom a signed request is addressed to, which decides the names its `host` may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Addressed {
    /// rolegate: the host must be one of `server.names`.
    ToThisServer,
    /// The platform calling `VerifyRequest`, which compares the host itself.
    ToTheCaller,
}

/// What the signature covers: the body as received, or a hash the caller computed (e.g. an
/// internal service forwarding a request to `VerifyRequest`).
pub enum Payload<'a> {
    /// The body; `allow_unsigned` accepts `x-amz-content-sha256: UNSIGNED-PAYLOAD`.
    Body { bytes: &'a [u8], allow_unsigned: bool },
    /// Hex SHA-256 of the body as the verifying service received it, or (S3 family only, and
    /// as the request declares it) `UNSIGNED-PAYLOAD` / `STREAMING-UNSIGNED-PAYLOAD-TRAILER`:
    /// see [`SignedRequest::payload_hash_given`].
    Hash(&'a str),
}

impl Broker {
    /// Authenticates `req`, with its `payload`, for `service` in this server's region (or
    /// `region` when given): the caller, and the request's signature as parsed (what it covers:
    /// `VerifyRequest` reports its signed headers).
    pub fn authenticate(
        &self,
        req: &HttpRequest,
        payload: Payload<'_>,
        service: &str,
        region: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(Caller, SignedRequest), ApiError> {
        let request = (req, payload, service, region);
        self.authenticate_with(self.config(), request, Addressed::ToThisServer, now)
    }

    /// [`Broker::authenticate`] of a request addressed to the calling platform, not to
    /// rolegate (`VerifyRequest`): its signed `host` is the platform's to compare with its own
    /// names. On the snapshot `config`, which the caller has decided other parts of the call on
    /// (a gRPC peer's trust anchor): one call, one configuration.
    pub fn authenticate_for_caller(
        &self,
        config: Arc<Config>,
        req: &HttpRequest,
        payload: Payload<'_>,
        service: &str,
        region: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(Caller, SignedRequest), ApiError> {
        self.authenticate_with(config, (req, payload, service, region), Addressed::ToTheCaller, now)
    }

    fn authenticate_with(
        &self,
        config: Arc<Config>,
        (req, payload, service, region): (&HttpRequest, Payload<'_>, &str, Option<&str>),
        addressed: Addressed,
        now: OffsetDateTime,
    ) -> Result<(Caller, SignedRequest), ApiError> {
        let signed = SignedRequest::parse(req).map_err(signature_error)?;
        let payload_hash = match payload {
            Payload::Body { bytes, allow_unsigned } => signed
                .payload_hash_for(bytes, allow_unsigned)
                .map_err(signature_error)?,
            Payload::Hash(hash) => signed.payload_hash_given(hash, service).map_err(signature_error)?,
        };
        let token = signed.security_token.as_deref().ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidClientTokenId,
                "no-session-token",
                format!(
                    "{} rolegate accepts only session credentials: send X-Amz-Security-Token.",
                    session::INVALID_TOKEN_MESSAGE
                ),
            )
        })?;
        let claims = self.open_token(&config, token)?;
        if claims.access_key_id != signed.credential.access_key_id {
            return Err(invalid_token("key-token-mismatch"));
        }
        let expectations = Expectations {
            service,
            region: region.unwrap_or(&config.server.region),
            now,
            max_skew: config.server.max_clock_skew,
            hosts: match addressed {
                Addressed::ToThisServer => &config.server.names,
                Addressed::ToTheCaller => ServerNames::anywhere(),
            },
        };
        // Scope, signed headers and time first: a scope this endpoint refuses never costs a
        // key derivation, nor an entry pushing real keys out of the signing-key cache.
        sigv4::check_request(&signed, &expectations, req).map_err(signature_error)?;
        let keys = &self.caches().signing_keys;
        let key = keys.signing_key(
            &claims.secret_access_key,
            &signed.credential.date,
            &signed.credential.region,
            &signed.credential.service,
        );
        self.caches().record(CacheName::SigningKeys, key.was_cached());
        sigv4::check_signature(&signed, req, &payload_hash, &key.key, sigv4::normalizes_path(service))
            .map_err(signature_error)?;
        // Kept once it verified a signature: failed requests fill no entry.
        keys.keep(&key);
        // After the signature: a token alone (without its secret) learns nothing of its role,
        // its expiry or a revocation.
        let role = current_role(&config, &claims, now)?;
        Ok((Caller { claims, role, config }, signed))
    }

    /// The claims sealed in `token`, opened with the key ring of `config` (or found in the
    /// opened-token cache).
    pub(super) fn open_token(&self, config: &Config, token: &str) -> Result<Arc<OpenedSession>, ApiError> {
        // Refused before it is hashed for the cache: no work in proportion to a huge token.
        if token.len() > session::MAX_TOKEN_LEN {
            tracing::debug!(reason = "too large", "session token rejected");
            return Err(invalid_token("bad-token"));
        }
        self.caches()
            .opened_token(config.generation, token, |token| session::open(&config.keyring, token))
            .map_err(|e| {
                tracing::debug!(reason = e.reason(), "session token rejected");
                // The client sees STS's code either way; the reason (and, for the first two, the
                // message) tells the operator a token of a key this replica lacks (a key ring
                // not yet the same on every replica, a key retired too soon), a token that does
                // not open under the key of its id (a key file replaced under that id), and one
                // that is no token.
                match e {
                    session::TokenError::UnknownKey(id) => {
                        token_key_refusal("unknown-token-key", &id, UNKNOWN_TOKEN_KEY)
                    }
                    session::TokenError::KeyMismatch(id) => {
                        token_key_refusal("token-key-mismatch", &id, TOKEN_KEY_MISMATCH)
                    }
                    session::TokenError::UnsupportedVersion(layout) if layout > session::CLAIMS_VERSION => {
                        newer_token_layout(layout)
                    }
                    _ => invalid_token("bad-token"),
                }
            })
    }
}

/// The role of a session that is still good at `now`: it has not expired, its role still
/// exists, the role has not revoked it (AWS's "revoke active sessions"), and its certificate
/// has not been revoked since ([`check_certificate_not_revoked`]).
pub(crate) fn current_role(
    config: &Config,
    claims: &SessionClaims,
    now: OffsetDateTime,
) -> Result<Arc<Role>, ApiError> {
    if claims.is_expired_at(now.unix_timestamp()) {
        return Err(ApiError::new(
            ErrorCode::ExpiredToken,
            "token-expired",
            "The security token included in the request is expired",
        ));
    }
    let role = config.role(&claims.role_arn).cloned().ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidClientTokenId,
            "role-removed",
            format!(
                "{} Its session is of role {}, which this server no longer has: get credentials for a role it has.",
                session::INVALID_TOKEN_MESSAGE,
                claims.role_arn
            ),
        )
    })?;
    match role.revoke_sessions_issued_before {
        Some(cutoff) if claims.issued_at < cutoff => Err(ApiError::access_denied(
            "session-revoked",
            format!(
                "Sessions of role {} issued before {} have been revoked; {}",
                role.arn,
                session::format_expiration(cutoff),
                renewal_hint(&claims.origin)
            ),
        )),
        _ => {
            check_certificate_not_revoked(config, claims)?;
            Ok(role)
        }
    }
}

/// Refuses a session whose certificate chain a CRL of its trust anchor now revokes: the client
/// certificate a CreateSession issued it (or the session it was chained from) to, or a CA
/// certificate of its path (an intermediate the client sent, or the bundle certificate the
/// path ended at), was revoked after the session was issued. AWS lets such sessions live
/// until they expire; an operator revoking a stolen certificate or a compromised CA wants them
/// ended, and the sessions of the other certificates untouched.
///
/// Sessions sealed before sessions carried their chain, and those whose anchor is no longer
/// configured, are not checked.
fn check_certificate_not_revoked(config: &Config, claims: &SessionClaims) -> Result<(), ApiError> {
    let Some(chain) = &claims.chain else {
        return Ok(());
    };
    let Some(anchor) = config.anchor(&chain.trust_anchor_arn) else {
        return Ok(());
    };
    let message = match revoked_certificate(chain, &anchor.trust) {
        None => return Ok(()),
        Some((0, leaf, crl)) => format!(
            "The certificate this session was issued to (serial {}, issued by {}) is revoked by a CRL of trust anchor \
             {}: its sessions, and those chained from them, have ended, and it gets no new ones.",
            leaf.serial_hex(),
            crl.issuer,
            chain.trust_anchor_arn
        ),
        Some((_, ca, crl)) => format!(
            "The CA certificate (serial {}, issued by {}) of the chain this session was issued to is revoked by a CRL \
             of trust anchor {}: the sessions of the certificates it issued, and those chained from them, have \
             ended, and they get no new ones through it.",
            ca.serial_hex(),
            crl.issuer,
            chain.trust_anchor_arn
        ),
    };
    Err(ApiError::access_denied("session-certificate-revoked", message))
}

/// The certificate of `chain` that a CRL of `trust` revokes, with that CRL and its position
/// in the chain (0: the client certificate): the client certificate or an intermediate of its
/// path when a CRL lists it; the bundle certificate the path ended at when the CRLs list every
/// listing of it, as paths ending at it are then refused ([`TrustAnchor::crl_revoking`]).
fn revoked_certificate<'a>(
    chain: &'a SessionChain,
    trust: &'a TrustAnchor,
) -> Option<(usize, &'a IssuerSerial, &'a CrlInfo)> {
    let mut on_path = chain.certificates.iter().enumerate();
    let revoked_on_path = on_path.find_map(|(i, c)| Some((i, c, trust.crl_revoking(c)?)));
    revoked_on_path.or_else(|| {
        let (first, others) = chain.issued_anchor_listings.split_first()?;
        let crl = trust.crl_revoking(first)?;
        let all = others.iter().all(|ca| trust.crl_revoking(ca).is_some());
        all.then_some((chain.certificates.len(), first, crl))
    })
}

/// Where the holder of a revoked session finds fresh credentials: where they came from.
fn renewal_hint(origin: &SessionOrigin) -> &'static str {
    match origin {
        SessionOrigin::RolesAnywhere { .. } => {
            "get new credentials (rolegate credential-process, sidecar and update given --endpoint check theirs with \
             the server, every minute by default, and fetch new ones; an SDK keeps credential-process's in memory \
             until they near expiry: restart the application to renew now)."
        }
        SessionOrigin::AssumeRole { .. } => {
            "this session came from AssumeRole: assume the role again (the AWS CLI keeps assumed-role credentials \
             in ~/.aws/cli/cache until they expire: remove them there; an SDK keeps them in memory: restart the \
             application to renew now)."
        }
    }
}

/// `InvalidClientTokenId` with AWS's message; `reason` says why, for the audit log.
fn invalid_token(reason: &'static str) -> ApiError {
    ApiError::new(ErrorCode::InvalidClientTokenId, reason, session::INVALID_TOKEN_MESSAGE)
}

/// A token refused for its key id (`key_id`, the token's, already checked to be
/// `[A-Za-z0-9_-]{1,32}`, and in every token in the clear; no key material is involved):
/// STS's code and message, then the id, `what` of it, and what an operator must check.
fn token_key_refusal(reason: &'static str, key_id: &str, what: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidClientTokenId,
        reason,
        format!(
            "{} It names token key '{key_id}', which this server {what}",
            session::INVALID_TOKEN_MESSAGE
        ),
    )
}

/// A token that opened under a key of the ring (so a replica of this deployment sealed it)
/// whose claims `layout` is newer than this release reads: a replica not yet upgraded in a
/// rolling upgrade.
fn newer_token_layout(layout: u8) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidClientTokenId,
        "newer-token-layout",
        format!(
            "{} It was sealed by a newer rolegate (claims layout {layout}; this one reads 1 to {}): upgrade this \
             replica. Every replica must read the tokens the others seal.",
            session::INVALID_TOKEN_MESSAGE,
            session::CLAIMS_VERSION
        ),
    )
}

/// Of a token whose key id the ring does not hold.
const UNKNOWN_TOKEN_KEY: &str = "does not hold: it was sealed by a replica whose key ring holds that key, or under a \
     key removed while its sessions lived, or it is no token of this deployment. Every replica must hold every key \
     whose sessions still live.";

/// Of a token that names a key id of the ring but fails authentication under that key (DESIGN
/// §3: a key id names one key for as long as the tokens it sealed live).
const TOKEN_KEY_MISMATCH: &str = "holds, but does not open with it: it was sealed under a different key with the \
     same id, or it was truncated, altered or forged. Every replica must share the same key files, and a key file \
     must not be replaced under an id it already had.";

/// The reason of a declared `x-amz-content-sha256` that is not the body's: S3 answers it as
/// `XAmzContentSHA256Mismatch` (400), which VerifyRequest names.
pub const PAYLOAD_HASH_MISMATCH: &str = "payload-hash";

/// The reason of a request signed outside `max_clock_skew_seconds` of the server's clock, on
/// every API (REST, STS and gRPC alike): a client clock to fix, not a wrong key.
pub const CLOCK_SKEW: &str = "clock-skew";

/// The AWS error code for each signature failure, with the verifier's message. The reason
/// tells a clock out of step ([`CLOCK_SKEW`]) and a wrong host from a signature that does not
/// verify; the code stays STS's (`SignatureDoesNotMatch` for all three).
pub fn signature_error(e: SigV4Error) -> ApiError {
    let code = match &e {
        SigV4Error::MissingAuthorization => ErrorCode::MissingAuthenticationToken,
        SigV4Error::CredentialRegion { .. }
        | SigV4Error::CredentialService(_)
        | SigV4Error::CredentialDate { .. }
        | SigV4Error::SignatureNotYetCurrent { .. }
        | SigV4Error::SignatureExpired { .. }
        | SigV4Error::SignatureMismatch
        | SigV4Error::PayloadHashMismatch
        | SigV4Error::UnsignedPayloadDeclared(_)
        | SigV4Error::X509SignatureMismatch
        | SigV4Error::WrongHost { .. } => ErrorCode::SignatureDoesNotMatch,
        SigV4Error::RequestExpired { .. } => ErrorCode::RequestExpired,
        _ => ErrorCode::IncompleteSignature,
    };
    let reason = match &e {
        SigV4Error::WrongHost { .. } => "wrong-host",
        SigV4Error::SignatureExpired { .. } | SigV4Error::SignatureNotYetCurrent { .. } => CLOCK_SKEW,
        SigV4Error::PayloadHashMismatch | SigV4Error::UnsignedPayloadDeclared(_) => PAYLOAD_HASH_MISMATCH,
        _ => "signature",
    };
    ApiError::new(code, reason, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Effect;
    use crate::session::claims::tests::sample_claims;

    /// A session whose path ended at an issuing CA listed twice in the bundle (two certificates
    /// of its name and key) ends once the CRLs revoke both listings, as paths ending at it are
    /// refused only then; its client certificate's revocation ends it at once.
    #[test]
    fn a_bundle_ca_listed_twice_ends_sessions_once_both_listings_are_revoked() {
        use crate::identity::{ClientCertificate, verify_chain};
        use crate::pki::{Authority, ClientSpec, KeyType};
        let now = OffsetDateTime::now_utc();
        let (from, to) = (now - time::Duration::days(1), now + time::Duration::days(30));
        let root = Authority::new_root("Root", KeyType::EcdsaP256, from, to).unwrap();
        let issuing = root.new_intermediate("Issuing", KeyType::EcdsaP256, from, to).unwrap();
        let again = root.cross_certify(&issuing, "Issuing", from, to).unwrap();
        let leaf = issuing
            .client(&ClientSpec::new("w", KeyType::EcdsaP256, from, to))
            .unwrap();
        let bundle = format!(
            "{}{}{}",
            root.issued().cert_pem,
            issuing.issued().cert_pem,
            again.cert_pem
        );
        let anchor = |by_root: &[&str], by_issuing: &[&str]| {
            let crls = [
                root.crl(by_root, from, to).unwrap(),
                issuing.crl(by_issuing, from, to).unwrap(),
            ];
            TrustAnchor::new(bundle.as_bytes(), &crls.map(String::into_bytes)).unwrap()
        };
        let certificate = ClientCertificate::parse(leaf.cert_der.clone()).unwrap();
        let unix = rustls::pki_types::UnixTime::now();
        let verified = verify_chain(&anchor(&[], &[]), &certificate, &[], unix).unwrap();
        let session = SessionChain {
            trust_anchor_arn: "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/t".into(),
            certificates: vec![certificate.issuer_serial().clone()],
            issued_anchor_listings: verified.issued_anchor_listings,
        };
        assert_eq!(session.issued_anchor_listings.len(), 2);
        let first = issuing.issued().serial_hex.as_str();
        assert_eq!(revoked_certificate(&session, &anchor(&[], &[])), None);
        assert_eq!(revoked_certificate(&session, &anchor(&[first], &[])), None);
        let both = anchor(&[first, again.serial_hex.as_str()], &[]);
        let (position, ca, _) = revoked_certificate(&session, &both).unwrap();
        assert_eq!((position, ca), (1, &session.issued_anchor_listings[0]));
        let leaf_revoked = anchor(&[], &[leaf.serial_hex.as_str()]);
        let (position, revoked, _) = revoked_certificate(&session, &leaf_revoked).unwrap();
        assert_eq!((position, revoked), (0, &session.certificates[0]));
    }

    /// A token of a newer claims layout, sealed under a key of the ring (by an upgraded replica),
    /// is told apart from a forged one: the replica that cannot read it must be upgraded.
    #[test]
    fn a_token_of_a_newer_layout_asks_for_an_upgrade() {
        let world = crate::bench::setup::World::create(&crate::bench::setup::WorldOptions {
            distinct_certs: 1,
            client_key: crate::pki::KeyType::EcdsaP256,
            cache_max_entries: 100,
            crl_entries: None,
            stopped: None,
        })
        .unwrap();
        let broker = super::super::Broker::new(Config::load(&world.config).unwrap());
        let config = broker.config();
        let refusal = |plaintext: &[u8]| {
            let token = crate::session::token::tests::seal_plaintext(&config.keyring, plaintext);
            broker.open_token(&config, &token).map(|_| ()).unwrap_err()
        };
        let newer = refusal(&[session::CLAIMS_VERSION + 1, 0, 0]);
        assert_eq!(
            (newer.code, newer.reason),
            (ErrorCode::InvalidClientTokenId, "newer-token-layout")
        );
        assert_eq!(
            newer.message,
            format!(
                "The security token included in the request is invalid. It was sealed by a newer rolegate (claims \
                 layout {}; this one reads 1 to {}): upgrade this replica. Every replica must read the tokens the \
                 others seal.",
                session::CLAIMS_VERSION + 1,
                session::CLAIMS_VERSION
            )
        );
        // Layout 0 was never written: no upgrade makes it readable.
        let zero = refusal(&[0, 0, 0]);
        assert_eq!(
            (zero.reason, zero.message.as_str()),
            ("bad-token", session::INVALID_TOKEN_MESSAGE)
        );
    }

    /// A revoked session is told where its holder renews it: the certificate's helpers, or the
    /// AssumeRole call a client caches.
    #[test]
    fn a_revoked_session_is_told_where_to_renew() {
        let chained = SessionOrigin::AssumeRole {
            source_role_arn: "arn:aws:iam::123456789012:role/app".into(),
            source_session_name: "s".into(),
        };
        assert!(renewal_hint(&chained).starts_with("this session came from AssumeRole: assume the role again"));
        let from_certificate = SessionOrigin::RolesAnywhere {
            trust_anchor_arn: String::new(),
            profile_arn: String::new(),
            certificate_serial: "01".into(),
        };
        assert!(
            renewal_hint(&from_certificate).contains(
                "rolegate credential-process, sidecar and update given --endpoint check theirs with the server"
            )
        );
    }

    /// A request signed outside the allowed skew, either way, is `clock-skew` with STS's
    /// code and the verifier's message; a presigned request past its expiry and a signature
    /// that does not verify keep theirs.
    #[test]
    fn signatures_outside_the_clock_skew_are_reason_clock_skew() {
        let skew = crate::sigv4::Skew(time::Duration::minutes(5));
        let expired = SigV4Error::SignatureExpired {
            amz_date: "20260101T000000Z".into(),
            earliest: "20260101T001000Z".into(),
            now: "20260101T001500Z".into(),
            skew,
        };
        let e = signature_error(expired);
        assert_eq!((e.code, e.reason), (ErrorCode::SignatureDoesNotMatch, "clock-skew"));
        assert_eq!(e.sts_wire(), (403, "SignatureDoesNotMatch"));
        assert_eq!(
            e.message,
            "Signature expired: 20260101T000000Z is now earlier than 20260101T001000Z (20260101T001500Z - 5 min.)"
        );
        let early = SigV4Error::SignatureNotYetCurrent {
            amz_date: "20260101T003000Z".into(),
            latest: "20260101T002000Z".into(),
            now: "20260101T001500Z".into(),
            skew,
        };
        let e = signature_error(early);
        assert_eq!((e.code, e.reason), (ErrorCode::SignatureDoesNotMatch, "clock-skew"));
        assert_eq!(
            e.message,
            "Signature not yet current: 20260101T003000Z is still later than 20260101T002000Z (20260101T001500Z + 5 min.)"
        );
        let presigned = SigV4Error::RequestExpired {
            expired_at: "20260101T000000Z".into(),
            now: "20260101T001500Z".into(),
        };
        let e = signature_error(presigned);
        assert_eq!((e.code, e.reason), (ErrorCode::RequestExpired, "signature"));
        let e = signature_error(SigV4Error::SignatureMismatch);
        assert_eq!((e.code, e.reason), (ErrorCode::SignatureDoesNotMatch, "signature"));
    }

    #[test]
    fn an_inline_session_policy_that_no_longer_parses_denies_everything() {
        let mut claims = sample_claims();
        let allow = claims.session_policies[0].clone();
        claims.session_policies = vec![allow.clone(), "{\"Version\":\"2012-10-17\"".into(), allow];
        let opened = OpenedSession::new(claims);
        let indexes: Vec<usize> = opened.inline_policies().iter().map(|(i, _)| *i).collect();
        assert_eq!(indexes, [0, 1, 2]);
        let effects = |i: usize| {
            let statements = opened.inline_policies()[i].1.statements();
            statements.iter().map(|s| s.effect()).collect::<Vec<_>>()
        };
        assert_eq!(effects(0), [Effect::Allow]);
        assert_eq!(effects(1), [Effect::Deny]);
        assert_eq!(opened.inline_policies()[1].1.source(), deny_all().source());
        // Evaluated with the others, the set denies what they allow.
        let docs: Vec<&PolicyDocument> = opened.inline_policies().iter().map(|(_, d)| d.as_ref()).collect();
        let principal = crate::policy::Principal::Service("example.amazonaws.com".into());
        let ctx = crate::policy::RequestContext::new(principal, "s3:GetObject", "arn:aws:s3:::bucket/key");
        assert_eq!(
            crate::policy::evaluate(&docs, &ctx).outcome,
            crate::policy::Outcome::ExplicitDeny
        );
    }
}
