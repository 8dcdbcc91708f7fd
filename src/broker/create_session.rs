//! Roles Anywhere CreateSession, after the caller has proven possession of the certificate's
//! private key (a verified AWS4-X509 request signature, or a TLS handshake):
//!
//! 1. the trust anchor exists and is enabled, and the chain verifies against it (cached);
//! 2. the profile exists, is enabled and lists the role; the role exists;
//! 3. session name, instance properties and duration follow the profile and role
//!    (<https://docs.aws.amazon.com/rolesanywhere/latest/APIReference/API_CreateSession.html>);
//! 4. the role's trust policy allows `sts:AssumeRole`, `sts:TagSession` and
//!    `sts:SetSourceIdentity` for principal `rolesanywhere.amazonaws.com` with the certificate's
//!    attributes as principal tags (an allow is kept per anchor, profile, role and certificate
//!    when the policy reads no key a request can change);
//! 5. credentials are minted, or reused for an identical request seen moments ago (and just
//!    allowed by every check above).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use time::OffsetDateTime;

use super::Broker;
use super::caches::{CacheKey, IssuedSession, KeyDigest};
use super::violations::Violations;
use crate::arn::{RoleArn, RolesAnywhereArn, RolesAnywhereKind};
use crate::config::{Anchor, Config, Profile, Role};
use crate::error::{ApiError, ErrorCode};
use crate::identity::{CertificateError, ClientCertificate, VerifiedChain, verify_chain};
use crate::policy::{self, Principal, RequestContext};
use crate::session::{self, Credentials, SessionChain, SessionClaimsDraft, SessionOrigin};

/// The service principal Roles Anywhere sessions are assumed by.
pub const ROLES_ANYWHERE_PRINCIPAL: &str = "rolesanywhere.amazonaws.com";

/// Every action a Roles Anywhere trust policy must allow.
pub const ROLES_ANYWHERE_ACTIONS: [&str; 3] = ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"];

/// A CreateSession request, wire-independent.
pub struct CreateSessionInput {
    pub profile_arn: String,
    pub role_arn: String,
    pub trust_anchor_arn: String,
    pub duration_seconds: Option<i64>,
    pub role_session_name: Option<String>,
    pub instance_properties: Option<BTreeMap<String, String>>,
    /// The leaf whose key the caller proved possession of.
    pub certificate: Arc<ClientCertificate>,
    pub intermediates: Vec<Vec<u8>>,
    pub source_ip: Option<IpAddr>,
}

/// What CreateSession answers (one `credentialSet` entry plus the subject).
pub struct CreateSessionOutput {
    pub credentials: Credentials,
    pub assumed_role_arn: String,
    pub assumed_role_id: String,
    pub role_arn: String,
    pub source_identity: String,
    pub packed_policy_size: u32,
    pub subject_arn: String,
    pub session_name: String,
}

impl Broker {
    /// Runs the CreateSession decision at `now`, on the configuration in force, and returns
    /// credentials.
    pub fn create_session(
        &self,
        input: CreateSessionInput,
        now: OffsetDateTime,
    ) -> Result<Arc<CreateSessionOutput>, ApiError> {
        self.create_session_on(&self.config(), input, now)
    }

    /// [`Broker::create_session`] on `config`, the snapshot the caller already judged the
    /// request's signature by: a reload in between does not split one request over two
    /// configurations (what is cached is keyed by the snapshot's generation).
    pub fn create_session_on(
        &self,
        config: &Config,
        input: CreateSessionInput,
        now: OffsetDateTime,
    ) -> Result<Arc<CreateSessionOutput>, ApiError> {
        check_arn_lengths(&input.profile_arn, &input.role_arn, &input.trust_anchor_arn)?;
        let anchor = find_anchor(config, &input.trust_anchor_arn)?;
        let chain = self.verify_chain_cached(config, anchor, &input.certificate, &input.intermediates, now)?;
        check_certificate_names(&input.certificate)?;
        let profile = find_profile(config, &input.profile_arn)?;
        let role = find_role_in_profile(config, profile, &input.role_arn)?;
        let session_name = session_name(profile, input.role_session_name.as_deref(), &input.certificate)?;
        check_instance_properties(profile, input.instance_properties.as_ref())?;
        let duration = session::create_session_duration(
            input.duration_seconds,
            profile.duration_seconds,
            role.max_session_duration,
        )
        .map_err(|e| ApiError::validation("duration", e.to_string()))?;

        let tags = profile.attribute_mapping.select(input.certificate.principal_tags());
        check_mapped_tags(&tags)?;
        let source_identity = input.certificate.source_identity().to_owned();
        let packed_policy_size = check_packed_policy_size(profile, &tags)?;
        let requester = SessionRequester {
            certificate: &input.certificate,
            tags: &tags,
            session_name: &session_name,
        };
        self.check_trust_policy_cached(config, anchor, profile, role, &input.certificate, || {
            trust_context(config, anchor, role, requester, input.source_ip, now)
        })?;

        // Reuse comes after every check: the trust policy may depend on the client's address
        // or the time, which the reuse key does not hold. `credential_reuse_seconds = 0` turns
        // reuse off: no lookup, nothing kept.
        let reuse_key = (!config.server.credential_reuse.is_zero())
            .then(|| issued_key(config, &input, &chain, &session_name, duration));
        let mint = || {
            mint_session(
                config,
                MintedFor {
                    input: &input,
                    anchor,
                    chain: &chain,
                    profile,
                    role,
                    session_name,
                    source_identity,
                    tags: tags.into_owned(),
                    packed_policy_size,
                    duration,
                },
                now,
            )
        };
        let issued = match reuse_key {
            Some(key) => self
                .caches()
                .issued_session(key, |hit| reusable(hit, role, duration, now), mint)?,
            None => mint()?,
        };
        Ok(issued.output)
    }

    /// Verifies leaf + intermediates against `anchor` of `config`, remembering success until
    /// the earliest notAfter of the chain (and at most the cache TTL).
    pub fn verify_chain_cached(
        &self,
        config: &Config,
        anchor: &Anchor,
        leaf: &ClientCertificate,
        intermediates: &[Vec<u8>],
        now: OffsetDateTime,
    ) -> Result<Arc<VerifiedChain>, ApiError> {
        self.chain_verified_cached(config, anchor, leaf, intermediates, now)
            .map_err(|e| chain_refusal(&e))
    }

    /// [`Broker::verify_chain_cached`], refused with the verification's own error (which
    /// tells "no path to this anchor" from the other causes).
    pub(crate) fn chain_verified_cached(
        &self,
        config: &Config,
        anchor: &Anchor,
        leaf: &ClientCertificate,
        intermediates: &[Vec<u8>],
        now: OffsetDateTime,
    ) -> Result<Arc<VerifiedChain>, CertificateError> {
        let key = chain_key(config, anchor, leaf, intermediates);
        self.caches().verified_chain(key, now.unix_timestamp(), || {
            verify_chain_against(anchor, leaf, intermediates, now)
        })
    }
}

/// What a CreateSession that passed every check mints a session for.
struct MintedFor<'a> {
    input: &'a CreateSessionInput,
    anchor: &'a Anchor,
    /// The verified chain from the leaf to the anchor.
    chain: &'a VerifiedChain,
    profile: &'a Profile,
    role: &'a Role,
    session_name: String,
    source_identity: String,
    tags: Vec<(String, String)>,
    packed_policy_size: u32,
    duration: u32,
}

/// Mints the session a CreateSession decided on at `now`, sealed with `config`'s key ring.
fn mint_session(config: &Config, m: MintedFor<'_>, now: OffsetDateTime) -> Result<IssuedSession, ApiError> {
    let MintedFor {
        input,
        anchor,
        chain,
        profile,
        role,
        session_name,
        source_identity,
        tags,
        packed_policy_size,
        duration,
    } = m;
    let mut session_policies = Vec::new();
    if let Some(p) = &profile.session_policy {
        session_policies.push(p.source().to_owned());
    }
    let issued_at = now.unix_timestamp();
    let draft = SessionClaimsDraft {
        role_arn: role.arn.as_str().to_owned(),
        role_id: role.role_id.clone(),
        session_name: session_name.clone(),
        issued_at,
        expires_at: issued_at + i64::from(duration),
        source_identity: Some(source_identity.clone()),
        tags,
        transitive_tag_keys: Vec::new(),
        session_policies,
        policy_arns: profile.managed_policy_arns.clone(),
        origin: SessionOrigin::RolesAnywhere {
            trust_anchor_arn: anchor.arn.as_str().to_owned(),
            profile_arn: profile.arn.as_str().to_owned(),
            certificate_serial: input.certificate.serial_hex().to_owned(),
        },
        chain: Some(SessionChain {
            trust_anchor_arn: anchor.arn.as_str().to_owned(),
            certificates: std::iter::once(input.certificate.issuer_serial())
                .chain(&chain.intermediates_on_path)
                .cloned()
                .collect(),
            issued_anchor_listings: chain.issued_anchor_listings.clone(),
        }),
    };
    let (credentials, _claims) = session::mint(&config.keyring, draft, 0).map_err(super::seal_refusal)?;
    // Counted here, where a session is minted: a reused answer hands out no new session.
    crate::metrics::record_session(role.arn.as_str());
    let output = Arc::new(CreateSessionOutput {
        credentials,
        assumed_role_arn: role.arn.assumed_role_arn(&session_name),
        assumed_role_id: format!("{}:{}", role.role_id, session_name),
        role_arn: role.arn.as_str().to_owned(),
        source_identity,
        packed_policy_size,
        subject_arn: subject_arn(config, &input.certificate),
        session_name,
    });
    Ok(IssuedSession { output, issued_at })
}

/// Verifies leaf + intermediates against the anchor's certificates and CRLs at `now`, uncached
/// (shared with `rolegate explain`).
pub(crate) fn verify_chain_at(
    anchor: &Anchor,
    leaf: &ClientCertificate,
    intermediates: &[Vec<u8>],
    now: OffsetDateTime,
) -> Result<VerifiedChain, ApiError> {
    verify_chain_against(anchor, leaf, intermediates, now).map_err(|e| chain_refusal(&e))
}

/// [`verify_chain_at`] with the verification's own error.
fn verify_chain_against(
    anchor: &Anchor,
    leaf: &ClientCertificate,
    intermediates: &[Vec<u8>],
    now: OffsetDateTime,
) -> Result<VerifiedChain, CertificateError> {
    let unix = rustls::pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(now.unix_timestamp()).unwrap_or(0),
    ));
    verify_chain(&anchor.trust, leaf, intermediates, unix)
}

/// The AccessDenied of a chain refused for `e`.
pub(crate) fn chain_refusal(e: &CertificateError) -> ApiError {
    ApiError::access_denied(chain_refusal_reason(e), format!("Untrusted certificate: {e}"))
}

/// The reason of a chain refused for a CRL past its nextUpdate, under `stale_crls = "refuse"`.
pub(crate) const STALE_CRL_REASON: &str = "stale-crl";

/// The reason of a chain refused for any cause without a reason of its own.
pub(crate) const UNTRUSTED_CERTIFICATE: &str = "untrusted-certificate";

/// The reason a chain refused for `e` is counted and audited under. The causes an operator
/// acts on apart have their own: a certificate of the chain expired or not valid yet (the
/// leaf: renew it; an intermediate: every workload under it is refused), one revoked, a CRL
/// past its nextUpdate under `stale_crls = "refuse"` (import the fresh one: every certificate
/// it covers is refused), the anchor's own CA certificate expired or not valid yet (renew it,
/// or check the clock). Every other failure is `untrusted-certificate`. Listed whole, so that
/// a new cause is given its reason on purpose.
pub(crate) fn chain_refusal_reason(e: &CertificateError) -> &'static str {
    use CertificateError as E;
    match e {
        E::Expired { .. } | E::IntermediateExpired { .. } | E::ExpiredWithIntermediate { .. } => "certificate-expired",
        E::NotYetValid { .. } => "certificate-not-yet-valid",
        E::Revoked => "certificate-revoked",
        E::StaleCrl { .. } | E::StaleCrlOf { .. } => STALE_CRL_REASON,
        E::AnchorExpired { .. } => "trust-anchor-expired",
        E::AnchorNotYetValid { .. } => "trust-anchor-not-yet-valid",
        E::Malformed(_)
        | E::MalformedIntermediate { .. }
        | E::RepeatedChainCertificate { .. }
        | E::TooManyChainPaths { .. }
        | E::CommonNameTooLong { .. }
        | E::CommonNameTakesAnotherIdentity
        | E::CommonNameControlCharacter(_)
        | E::NegativeSerial
        | E::SerialTooLong { .. }
        | E::TagControlCharacter { .. }
        | E::TagTooLong { .. }
        | E::UnsupportedVersion
        | E::CaUsedAsLeaf
        | E::MissingDigitalSignature
        | E::ClientAuthNotAllowed
        | E::UnsupportedSignatureAlgorithm { .. }
        | E::RsaKeyTooSmall { .. }
        | E::RsaKeyTooLarge { .. }
        | E::UnsupportedPublicKey { .. }
        | E::TooManyChainCertificates { .. }
        | E::UnknownIssuer
        | E::BadSignature
        | E::UnsupportedChainAlgorithm
        | E::IntermediateNotCa
        | E::IntermediateLacksKeyCertSign
        | E::ConstraintViolation
        | E::AnchorPathLength { .. }
        | E::AnchorClientAuth { .. }
        | E::RevocationCheckFailed(_)
        | E::InvalidChain(_) => UNTRUSTED_CERTIFICATE,
    }
}

/// DESIGN §1: at most [`crate::identity::MAX_INTERMEDIATES`] intermediates, each once (a
/// repeated certificate only serves to make path building do more work): the REST edge's
/// rule for `X-Amz-X509-Chain`, which `rolegate explain` applies to its intermediates file.
/// (A gRPC peer's chain, from the TLS handshake, meets the same rules in `identity`.)
pub(crate) fn check_chain_shape(intermediates: &[Vec<u8>]) -> Result<(), ApiError> {
    if intermediates.len() > crate::identity::MAX_INTERMEDIATES {
        return Err(chain_too_long(intermediates.len()));
    }
    let repeated = intermediates
        .iter()
        .enumerate()
        .any(|(i, c)| intermediates[i + 1..].contains(c));
    match repeated {
        true => Err(ApiError::access_denied(
            "chain-duplicate",
            "X-Amz-X509-Chain contains the same certificate more than once; send each intermediate once.",
        )),
        false => Ok(()),
    }
}

/// The refusal of a chain of `count` certificates, more intermediates than DESIGN §1 allows
/// (a copy of the leaf among them is dropped, not counted).
pub(crate) fn chain_too_long(count: usize) -> ApiError {
    let max = crate::identity::MAX_INTERMEDIATES;
    ApiError::access_denied(
        "chain-too-long",
        format!(
            "X-Amz-X509-Chain has {count} certificates; at most {max} intermediates are allowed, plus a copy of the client certificate."
        ),
    )
}

/// A session is made of the certificate's names only when they give it a source identity of
/// its own ([`ClientCertificate::session_refusal`]).
pub(crate) fn check_certificate_names(certificate: &ClientCertificate) -> Result<(), ApiError> {
    match certificate.session_refusal() {
        Some(e) => Err(ApiError::access_denied(
            "bad-certificate",
            format!("Invalid client certificate for a session: {e}"),
        )),
        None => Ok(()),
    }
}

/// The principal tags a profile maps must fit a session ([`crate::identity::mapped_tag_refusal`]).
pub(crate) fn check_mapped_tags(tags: &[(String, String)]) -> Result<(), ApiError> {
    match crate::identity::mapped_tag_refusal(tags) {
        Some(e) => Err(ApiError::access_denied(
            "bad-certificate",
            format!("Invalid client certificate for a session: {e}"),
        )),
        None => Ok(()),
    }
}

/// The trust anchor named by `arn`; it must exist and be enabled.
pub(crate) fn find_anchor<'a>(config: &'a Config, arn: &str) -> Result<&'a Anchor, ApiError> {
    let anchor = config.anchor(arn).ok_or_else(|| {
        unknown_roles_anywhere_arn(arn, RolesAnywhereKind::TrustAnchor, "trustAnchorArn", || {
            ApiError::not_found("unknown-trust-anchor", format!("Trust anchor {arn} was not found."))
        })
    })?;
    if !anchor.enabled {
        return Err(ApiError::access_denied(
            "trust-anchor-disabled",
            format!("Trust anchor {arn} is disabled; enable it to create sessions with it."),
        ));
    }
    Ok(anchor)
}

/// The profile named by `arn`; it must exist and be enabled.
pub(crate) fn find_profile<'a>(config: &'a Config, arn: &str) -> Result<&'a Profile, ApiError> {
    let profile = config.profile(arn).ok_or_else(|| {
        unknown_roles_anywhere_arn(arn, RolesAnywhereKind::Profile, "profileArn", || {
            ApiError::not_found("unknown-profile", format!("Profile {arn} was not found."))
        })
    })?;
    if !profile.enabled {
        return Err(ApiError::access_denied(
            "profile-disabled",
            format!("Profile {arn} is disabled; enable it to create sessions with it."),
        ));
    }
    Ok(profile)
}

/// The role `role_arn`: the profile must list it and the configuration define it.
pub(crate) fn find_role_in_profile<'a>(
    config: &'a Config,
    profile: &Profile,
    role_arn: &str,
) -> Result<&'a Role, ApiError> {
    if !profile.role_arns.iter().any(|r| r == role_arn) {
        if RoleArn::parse(role_arn).is_err() {
            return Err(malformed_arn(
                role_arn,
                "roleArn",
                "a role ARN, arn:aws:iam::ACCOUNT:role/NAME",
            ));
        }
        return Err(ApiError::access_denied(
            "role-not-in-profile",
            format!("Role {role_arn} is not one of the roles of profile {}.", profile.arn),
        ));
    }
    config
        .role(role_arn)
        .map(Arc::as_ref)
        .ok_or_else(|| ApiError::not_found("unknown-role", format!("Role {role_arn} was not found.")))
}

/// The refusal of `arn`, which names no configured trust anchor or profile (`kind`): when it is
/// not even an ARN of that kind, the [`malformed_arn`] of `member`, else `not_found`. Only asked
/// once a lookup missed, so the requests that name configured resources parse nothing.
fn unknown_roles_anywhere_arn(
    arn: &str,
    kind: RolesAnywhereKind,
    member: &str,
    not_found: impl FnOnce() -> ApiError,
) -> ApiError {
    match RolesAnywhereArn::parse(arn, kind) {
        Ok(_) => not_found(),
        Err(_) => malformed_arn(
            arn,
            member,
            &format!(
                "a {} ARN, arn:aws:rolesanywhere:REGION:ACCOUNT:{}ID",
                kind.label(),
                kind.prefix()
            ),
        ),
    }
}

/// The refusal of `value`, given for `member` and no ARN of the kind it takes (`must_be`): a
/// ValidationError, as AWS's request model gives one, instead of "not found" or "not one of the
/// profile's roles".
fn malformed_arn(value: &str, member: &str, must_be: &str) -> ApiError {
    Violations::one(Some(value), member, format_args!("Member must be {must_be}"))
}

/// The session name: the caller's `roleSessionName` when the profile accepts one, else the
/// certificate serial in hex (AWS's default).
pub(crate) fn session_name(
    profile: &Profile,
    requested: Option<&str>,
    certificate: &ClientCertificate,
) -> Result<String, ApiError> {
    match requested {
        None => Ok(certificate.serial_hex().to_owned()),
        Some(_) if !profile.accept_role_session_name => Err(ApiError::validation(
            "session-name-not-accepted",
            format!(
                "Profile {} does not accept roleSessionName; set accept_role_session_name = true on the profile or omit it.",
                profile.arn
            ),
        )),
        Some(name) => validate_role_session_name(name).map(|()| name.to_owned()),
    }
}

/// AWS RoleSessionName: 2..=64 characters of `[\w+=,.@-]`.
pub(crate) fn validate_role_session_name(name: &str) -> Result<(), ApiError> {
    let ok = (2..=64).contains(&name.len()) && name.chars().all(crate::arn::is_iam_name_char);
    if ok {
        return Ok(());
    }
    let mut v = Violations::default();
    v.push(
        Some(name),
        "roleSessionName",
        "Member must have length between 2 and 64 and satisfy regular expression pattern: [\\w+=,.@-]*",
    );
    v.into_result().map_err(|e| ApiError {
        reason: "bad-session-name",
        ..e
    })
}

/// The longest ARN the Roles Anywhere model allows (`AmazonResourceName`, `RoleArn`).
const MAX_ARN_CHARACTERS: usize = 1011;

/// Whether credentials issued earlier for the identical request may be handed out again at
/// `now`: they still have at least 90 % of the lifetime asked for (DESIGN §3), and were
/// issued at or after the role's `revoke_sessions_issued_before` — a cutoff set ahead of the
/// clock becomes due while the configuration stays, and credentials it revokes must not be
/// handed to the client that asks again because they were refused.
fn reusable(hit: &IssuedSession, role: &Role, duration: u32, now: OffsetDateTime) -> bool {
    let remaining = hit.output.credentials.expiration - now.unix_timestamp();
    remaining * 10 >= i64::from(duration) * 9
        && role
            .revoke_sessions_issued_before
            .is_none_or(|cutoff| hit.issued_at >= cutoff)
}

/// The session's packed size: the profile's session policy and managed policy ARNs and the
/// certificate attributes it maps to tags, refused above 100 % as STS refuses the AssumeRole
/// Roles Anywhere makes of them (`PackedPolicyTooLarge`, a 400 `ValidationException` here).
/// Tags come from whoever holds a certificate of the anchor, so without the bound a session
/// could carry more than a token is sized for.
pub(crate) fn check_packed_policy_size(profile: &Profile, tags: &[(String, String)]) -> Result<u32, ApiError> {
    let policy = profile.session_policy.as_ref().map(|p| p.source());
    session::check_packed_policy_size(policy.as_slice(), profile.managed_policy_arns.len(), tags)
        .map_err(|e| ApiError::new(ErrorCode::PackedPolicyTooLarge, "packed-policy", e.to_string()))
}

/// The lengths of CreateSession's ARNs, checked before anything is looked up: a longer value
/// names nothing, and would otherwise be quoted whole in the not-found message.
pub fn check_arn_lengths(profile_arn: &str, role_arn: &str, trust_anchor_arn: &str) -> Result<(), ApiError> {
    let mut v = Violations::default();
    v.length(profile_arn, "profileArn", 1, MAX_ARN_CHARACTERS);
    v.length(role_arn, "roleArn", 1, MAX_ARN_CHARACTERS);
    v.length(trust_anchor_arn, "trustAnchorArn", 1, MAX_ARN_CHARACTERS);
    v.into_result()
}

/// Instance properties: required when the profile says so; at most 50 string pairs, bounded sizes.
pub(crate) fn check_instance_properties(
    profile: &Profile,
    props: Option<&BTreeMap<String, String>>,
) -> Result<(), ApiError> {
    let given = props.filter(|p| !p.is_empty());
    if profile.require_instance_properties && given.is_none() {
        return Err(ApiError::validation(
            "instance-properties-required",
            format!("Profile {} requires instanceProperties in the request.", profile.arn),
        ));
    }
    match given {
        Some(p)
            if p.len() > 50
                || p.iter()
                    .any(|(k, v)| k.is_empty() || k.chars().count() > 200 || v.chars().count() > 200) =>
        {
            Err(ApiError::validation(
                "bad-instance-properties",
                "instanceProperties must have at most 50 entries with keys of 1 to 200 and values of at most 200 characters.",
            ))
        }
        _ => Ok(()),
    }
}

/// Who a CreateSession asks a role's trust for: the certificate, the attributes of it the
/// profile maps (as tags), and the session name.
#[derive(Clone, Copy)]
pub struct SessionRequester<'a> {
    pub certificate: &'a ClientCertificate,
    pub tags: &'a [(String, String)],
    pub session_name: &'a str,
}

/// The trust-policy request context of a CreateSession (action left empty: it is set to each
/// of [`ROLES_ANYWHERE_ACTIONS`] in turn): principal `rolesanywhere.amazonaws.com` (also as
/// `aws:PrincipalServiceName` and `aws:PrincipalServiceNamesList`, which IAM sets when a
/// service principal calls, with `aws:PrincipalIsAWSService`), the anchor
/// as `aws:SourceArn`, the account, the region (`aws:RequestedRegion`), the certificate
/// attributes the profile maps (`tags`) as
/// principal and request tags (and `aws:TagKeys`), its source identity, the session name
/// (`sts:RoleSessionName`, as on every AssumeRole: a policy can tie a name the profile lets
/// clients choose to the certificate), the time and the client address.
pub fn trust_context(
    config: &Config,
    anchor: &Anchor,
    role: &Role,
    requester: SessionRequester<'_>,
    source_ip: Option<IpAddr>,
    now: OffsetDateTime,
) -> RequestContext {
    let SessionRequester {
        certificate,
        tags,
        session_name,
    } = requester;
    let mut ctx = RequestContext::new(
        Principal::Service(ROLES_ANYWHERE_PRINCIPAL.to_owned()),
        "",
        role.arn.as_str(),
    );
    ctx.insert("aws:SourceArn", anchor.arn.as_str());
    ctx.insert("aws:SourceAccount", config.server.account.as_str());
    // IAM holds it in every request's context: the region the request is made in.
    ctx.insert("aws:RequestedRegion", config.server.region.as_str());
    ctx.insert("aws:SecureTransport", "true");
    // The caller is the Roles Anywhere service principal.
    ctx.insert("aws:PrincipalIsAWSService", "true");
    ctx.insert("aws:PrincipalServiceName", ROLES_ANYWHERE_PRINCIPAL);
    ctx.insert_multi(
        "aws:PrincipalServiceNamesList",
        vec![ROLES_ANYWHERE_PRINCIPAL.to_owned()],
    );
    // ISO 8601 UTC with whole seconds, as AWS's expirations.
    ctx.insert("aws:CurrentTime", session::format_expiration(now.unix_timestamp()));
    ctx.insert("aws:EpochTime", now.unix_timestamp().to_string());
    ctx.insert("sts:SourceIdentity", certificate.source_identity());
    ctx.insert("sts:RoleSessionName", session_name);
    if let Some(ip) = source_ip {
        ctx.insert("aws:SourceIp", ip.to_string());
    }
    ctx.reserve(2 * tags.len() + 1);
    let mut tag_keys = Vec::with_capacity(tags.len());
    for (k, v) in tags {
        ctx.insert(format!("aws:PrincipalTag/{k}"), v.as_str());
        ctx.insert(format!("aws:RequestTag/{k}"), v.as_str());
        tag_keys.push(k.clone());
    }
    ctx.insert_multi("aws:TagKeys", tag_keys);
    ctx
}

/// The keys of a CreateSession trust evaluation ([`trust_context`]) that change from one
/// request to the next: the clock, the client's address and the session name. Every other
/// key is fixed by the configuration, the trust anchor, the profile and the certificate.
const PER_REQUEST_TRUST_KEYS: [&str; 4] = [
    "aws:currenttime",
    "aws:epochtime",
    "aws:sourceip",
    "sts:rolesessionname",
];

/// Whether `trust_policy` decides a CreateSession alike for every request with one
/// configuration, trust anchor, profile and certificate: no condition or policy variable of
/// it reads a key of [`PER_REQUEST_TRUST_KEYS`]. Its allow may then be kept and reused.
pub(crate) fn trust_decided_per_certificate(trust_policy: &policy::PolicyDocument) -> bool {
    per_request_trust_keys(trust_policy).is_empty()
}

/// The keys of [`PER_REQUEST_TRUST_KEYS`] `trust_policy` reads (lowercased, each once), in
/// document order.
pub(crate) fn per_request_trust_keys(trust_policy: &policy::PolicyDocument) -> Vec<&'static str> {
    let mut read = Vec::new();
    for (_, key) in trust_policy.context_keys() {
        let folded = policy::fold_key(key);
        if let Some(known) = PER_REQUEST_TRUST_KEYS.iter().find(|k| **k == folded)
            && !read.contains(known)
        {
            read.push(*known);
        }
    }
    read
}

impl Broker {
    /// [`check_trust_policy`] on the context `context` makes, skipped when the role's trust
    /// policy allowed this anchor, profile and certificate before under this configuration
    /// and reads nothing a request can change ([`Role::trust_decided_per_certificate`]).
    fn check_trust_policy_cached(
        &self,
        config: &Config,
        anchor: &Anchor,
        profile: &Profile,
        role: &Role,
        certificate: &ClientCertificate,
        context: impl FnOnce() -> RequestContext,
    ) -> Result<(), ApiError> {
        if !role.trust_decided_per_certificate {
            return check_trust_policy(role, context());
        }
        let key = trust_key(config, anchor, profile, role, certificate);
        self.caches().trust_allowed(key, || check_trust_policy(role, context()))
    }
}

/// The role's trust policy must allow every one of [`ROLES_ANYWHERE_ACTIONS`] in `ctx`.
fn check_trust_policy(role: &Role, mut ctx: RequestContext) -> Result<(), ApiError> {
    for action in ROLES_ANYWHERE_ACTIONS {
        ctx.set_action(action);
        let decision = policy::evaluate(&[&role.trust_policy], &ctx);
        if !decision.is_allowed() {
            return Err(trust_denied(role, action, &decision));
        }
    }
    Ok(())
}

/// The AccessDenied a CreateSession answers when the trust policy does not allow `action`.
pub(crate) fn trust_denied(role: &Role, action: &str, decision: &policy::Decision) -> ApiError {
    let why = match (&decision.deciding, decision.outcome) {
        (_, policy::Outcome::TooMuchMatching) => decision.outcome.to_string(),
        (Some(s), _) => format!("statement {} explicitly denies it", describe_statement(s)),
        (None, _) => "no statement allows it with this certificate's attributes".to_owned(),
    };
    let reason = match decision.outcome {
        policy::Outcome::TooMuchMatching => "too-much-matching",
        _ => "trust-policy",
    };
    ApiError::access_denied(
        reason,
        format!(
            "The trust policy of role {} does not allow {ROLES_ANYWHERE_PRINCIPAL} to perform {action}: {why}.",
            role.arn
        ),
    )
}

fn describe_statement(s: &policy::StatementRef) -> String {
    match &s.sid {
        Some(sid) => format!("{} (Sid \"{sid}\")", s.index),
        None => s.index.to_string(),
    }
}

/// Roles Anywhere names the authenticated certificate subject with an ARN of its own.
fn subject_arn(config: &Config, cert: &ClientCertificate) -> String {
    format!(
        "arn:aws:rolesanywhere:{}:{}:subject/{}",
        config.server.region,
        config.server.account,
        cert.subject_id()
    )
}

/// The digest of what a chain verification depends on: the configuration, the trust anchor,
/// the leaf and the intermediates sent, in their order.
fn chain_key(config: &Config, anchor: &Anchor, leaf: &ClientCertificate, intermediates: &[Vec<u8>]) -> CacheKey {
    let key = KeyDigest::new(config.generation)
        .part(anchor.arn.as_str().as_bytes())
        .part(leaf.fingerprint());
    intermediates.iter().fold(key, |key, der| key.part(der)).finish()
}

/// The digest of what a per-certificate trust decision depends on: the configuration (roles,
/// policies, the account), the trust anchor (`aws:SourceArn`), the profile (which attributes
/// become tags), the role and the certificate (its attributes and source identity).
fn trust_key(
    config: &Config,
    anchor: &Anchor,
    profile: &Profile,
    role: &Role,
    certificate: &ClientCertificate,
) -> CacheKey {
    KeyDigest::new(config.generation)
        .part(anchor.arn.as_str().as_bytes())
        .part(profile.arn.as_str().as_bytes())
        .part(role.arn.as_str().as_bytes())
        .part(certificate.fingerprint())
        .finish()
}

/// The digest of what makes two CreateSessions ask for the same session: the configuration,
/// the ARNs, the session name, the certificate, the duration and the instance properties.
fn issued_key(
    config: &Config,
    input: &CreateSessionInput,
    chain: &VerifiedChain,
    session_name: &str,
    duration: u32,
) -> CacheKey {
    let key = KeyDigest::new(config.generation)
        .part(input.trust_anchor_arn.as_bytes())
        .part(input.profile_arn.as_bytes())
        .part(input.role_arn.as_bytes())
        .part(session_name.as_bytes())
        .part(input.certificate.fingerprint())
        .part(&duration.to_be_bytes());
    // The CA certificates the session carries: a request through another path gets a
    // session that names that path's.
    let cas = [&chain.intermediates_on_path, &chain.issued_anchor_listings];
    let key = cas.into_iter().fold(key, |key, list| {
        let key = key.part(&list.len().to_be_bytes());
        list.iter()
            .fold(key, |key, ca| key.part(&ca.issuer_digest).part(&ca.serial))
    });
    let properties = input.instance_properties.iter().flatten();
    properties
        .fold(key, |key, (k, v)| key.part(k.as_bytes()).part(v.as_bytes()))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::setup::{PROFILE_ARN, ROLE_ARN, TRUST_ANCHOR_ARN, World, WorldOptions};
    use crate::pki::KeyType;

    /// A broker on the bench world's configuration with `credential_reuse_seconds = reuse`,
    /// the world (which owns the files) and its client certificate.
    fn world_broker(reuse: u64) -> (Broker, World, Arc<ClientCertificate>) {
        let world = world_of(1);
        let text = std::fs::read_to_string(&world.config).unwrap();
        let text = text.replacen(
            "[server]\n",
            &format!("[server]\ncredential_reuse_seconds = {reuse}\n"),
            1,
        );
        std::fs::write(&world.config, text).unwrap();
        let broker = Broker::new(Config::load(&world.config).unwrap());
        let certificate = Arc::new(ClientCertificate::parse(world.clients[0].cert_der.clone()).unwrap());
        (broker, world, certificate)
    }

    fn input(certificate: &Arc<ClientCertificate>) -> CreateSessionInput {
        CreateSessionInput {
            profile_arn: PROFILE_ARN.to_owned(),
            role_arn: ROLE_ARN.to_owned(),
            trust_anchor_arn: TRUST_ANCHOR_ARN.to_owned(),
            duration_seconds: None,
            role_session_name: None,
            instance_properties: None,
            certificate: certificate.clone(),
            intermediates: Vec::new(),
            source_ip: None,
        }
    }

    /// (hits, misses) of cache `name`.
    fn lookups(broker: &Broker, name: &str) -> (u64, u64) {
        let s = broker.caches().stats().into_iter().find(|s| s.name == name).unwrap();
        (s.hits, s.misses)
    }

    /// The access key id of a CreateSession of the bench world's profile and role, now.
    fn access_key_id(broker: &Broker, certificate: &Arc<ClientCertificate>) -> String {
        access_key_id_at(broker, certificate, OffsetDateTime::now_utc())
    }

    /// The access key id of a CreateSession of the bench world's profile and role at `at`.
    fn access_key_id_at(broker: &Broker, certificate: &Arc<ClientCertificate>, at: OffsetDateTime) -> String {
        let output = broker.create_session(input(certificate), at).unwrap();
        output.credentials.access_key_id.clone()
    }

    /// The access key ids of two identical CreateSessions, with `credential_reuse_seconds`
    /// set to `reuse` in the bench world's configuration.
    fn two_identical_sessions(reuse: u64) -> (String, String, u64) {
        let (broker, _world, certificate) = world_broker(reuse);
        let (first, second) = (
            access_key_id(&broker, &certificate),
            access_key_id(&broker, &certificate),
        );
        let (hits, misses) = lookups(&broker, "credentials");
        (first, second, hits + misses)
    }

    #[test]
    fn instance_property_sizes_count_characters() {
        let (broker, _world, certificate) = world_broker(0);
        let now = OffsetDateTime::now_utc();
        let with = |key: String, value: String| CreateSessionInput {
            instance_properties: Some(BTreeMap::from([(key, value)])),
            ..input(&certificate)
        };
        // 200 characters of two bytes each: within the limit.
        assert!(
            broker
                .create_session(with("é".repeat(200), "ü".repeat(200)), now)
                .is_ok()
        );
        let e = broker
            .create_session(with("é".repeat(201), "v".into()), now)
            .err()
            .unwrap();
        assert_eq!(e.reason, "bad-instance-properties");
    }

    /// Credentials are reused for a request through the same path only: the session names its
    /// path's CA certificates, whose revocation ends it.
    #[test]
    fn reused_credentials_are_those_of_the_same_path() {
        let (broker, _world, certificate) = world_broker(60);
        let config = broker.config();
        let input = input(&certificate);
        let direct = VerifiedChain {
            not_after: 0,
            intermediates_used: 0,
            intermediates_on_path: Vec::new(),
            issued_anchor_listings: Vec::new(),
        };
        let ca = crate::identity::IssuerSerial::new(b"root", &[1]);
        let via = VerifiedChain {
            intermediates_used: 1,
            intermediates_on_path: vec![ca.clone()],
            ..direct.clone()
        };
        let ending_at_issuing_ca = VerifiedChain {
            issued_anchor_listings: vec![ca],
            ..direct.clone()
        };
        let [a, b, c] =
            [&direct, &via, &ending_at_issuing_ca].map(|chain| issued_key(&config, &input, chain, "s", 3600));
        assert!(a != b && b != c && a != c);
        assert_eq!(a, issued_key(&config, &input, &direct.clone(), "s", 3600));
    }

    #[test]
    fn identical_requests_reuse_credentials_unless_reuse_is_off() {
        let (first, second, lookups) = two_identical_sessions(60);
        assert_eq!(first, second);
        assert_eq!(lookups, 2);
        let (first, second, lookups) = two_identical_sessions(0);
        assert_ne!(first, second, "credential_reuse_seconds = 0 mints every time");
        assert_eq!(lookups, 0, "and does not look in the reuse cache");
    }

    #[test]
    fn reused_credentials_still_need_the_trust_policy() {
        let (_, world, certificate) = world_broker(60);
        // The role's trust policy admits one client address only.
        let text = std::fs::read_to_string(&world.config).unwrap();
        let text = text.replacen(
            "\"ArnEquals\": {",
            "\"IpAddress\": {\"aws:SourceIp\": \"127.0.0.1/32\"}, \"ArnEquals\": {",
            1,
        );
        std::fs::write(&world.config, text).unwrap();
        let broker = Broker::new(Config::load(&world.config).unwrap());
        let now = OffsetDateTime::now_utc();
        let from = |ip: &str| {
            let mut request = input(&certificate);
            request.source_ip = Some(ip.parse().unwrap());
            broker.create_session(request, now)
        };
        let first = from("127.0.0.1").unwrap();
        // The identical request from another address is denied, not served the first one's
        // credentials...
        let denied = from("127.0.0.2").map(|_| ()).unwrap_err();
        assert_eq!(
            (denied.code, denied.reason),
            (crate::error::ErrorCode::AccessDenied, "trust-policy")
        );
        // ...while the allowed address still gets them again.
        let again = from("127.0.0.1").unwrap();
        assert_eq!(again.credentials.access_key_id, first.credentials.access_key_id);
        // A trust policy that reads the client's address is evaluated every time, and
        // check-config's summary says so.
        assert_eq!(lookups(&broker, "trust_decisions"), (0, 0));
        let summary = broker.config().summary();
        assert!(
            summary.contains("; CreateSession evaluates its trust policy every time (it reads aws:sourceip)\n"),
            "{summary}"
        );
    }

    /// A trust policy that reads nothing a request can change is evaluated once per anchor,
    /// profile, role and certificate under one configuration; its denials are not kept.
    #[test]
    fn a_per_certificate_trust_allow_is_kept() {
        let (broker, _world, certificate) = world_broker(0);
        let config = broker.config();
        assert!(config.role(ROLE_ARN).unwrap().trust_decided_per_certificate);
        assert!(!config.summary().contains("evaluates its trust policy every time"));
        access_key_id(&broker, &certificate);
        access_key_id(&broker, &certificate);
        assert_eq!(lookups(&broker, "trust_decisions"), (1, 1));
        // A reload is a new configuration: decided afresh.
        broker.replace_config(Config::load(&_world.config).unwrap());
        access_key_id(&broker, &certificate);
        assert_eq!(lookups(&broker, "trust_decisions"), (1, 2));

        // A trust policy that denies this certificate denies it every time.
        let (broker, _world, certificate) = edited_broker(0, |text| {
            let denied = text.replacen("\"Effect\": \"Allow\"", "\"Effect\": \"Deny\"", 1);
            assert_ne!(denied, text);
            denied
        });
        for _ in 0..2 {
            let e = broker
                .create_session(input(&certificate), OffsetDateTime::now_utc())
                .map(|_| ())
                .unwrap_err();
            assert_eq!(e.reason, "trust-policy");
        }
        assert_eq!(lookups(&broker, "trust_decisions"), (0, 2));
    }

    /// A request judged on one snapshot is decided on it to the end, whatever a reload put in
    /// force meanwhile (here: a configuration whose profile is disabled).
    #[test]
    fn a_request_is_decided_on_the_snapshot_it_started_on() {
        let (broker, world, certificate) = world_broker(0);
        let started_on = broker.config();
        let text = std::fs::read_to_string(&world.config).unwrap();
        let disabled = text.replacen(
            "accept_role_session_name = true\nenabled = true",
            "accept_role_session_name = true\nenabled = false",
            1,
        );
        assert_ne!(disabled, text);
        std::fs::write(&world.config, disabled).unwrap();
        broker.replace_config(Config::load(&world.config).unwrap());
        let now = OffsetDateTime::now_utc();
        assert!(broker.create_session_on(&started_on, input(&certificate), now).is_ok());
        let e = broker.create_session(input(&certificate), now).map(|_| ()).unwrap_err();
        assert_eq!(e.reason, "profile-disabled");
    }

    /// The bench world with `distinct_certs` client certificates (ECDSA).
    fn world_of(distinct_certs: usize) -> World {
        World::create(&WorldOptions {
            distinct_certs,
            client_key: KeyType::EcdsaP256,
            cache_max_entries: 100,
            crl_entries: None,
            stopped: None,
        })
        .unwrap()
    }

    /// A kept allow is one certificate's: another certificate, whose attributes the trust
    /// policy refuses, is denied after the first was allowed; and an allow an in-flight
    /// request of the previous configuration keeps is not a hit for the new one.
    #[test]
    fn a_kept_trust_allow_is_the_certificates_and_the_configurations() {
        let world = world_of(2);
        let text = std::fs::read_to_string(&world.config).unwrap();
        let only_first = text.replacen("\"bench-workload-*\"", "\"bench-workload-0\"", 1);
        assert_ne!(only_first, text);
        std::fs::write(&world.config, &only_first).unwrap();
        let broker = Broker::new(Config::load(&world.config).unwrap());
        let certificate = |i: usize| Arc::new(ClientCertificate::parse(world.clients[i].cert_der.clone()).unwrap());
        let (first, second) = (certificate(0), certificate(1));
        let now = OffsetDateTime::now_utc();
        assert!(broker.create_session(input(&first), now).is_ok());
        let e = broker.create_session(input(&second), now).map(|_| ()).unwrap_err();
        assert_eq!(e.reason, "trust-policy");
        assert_eq!(lookups(&broker, "trust_decisions"), (0, 2));

        // The previous configuration allowed the second certificate; a request still on it
        // keeps that allow as the new configuration, which refuses it, comes into force.
        std::fs::write(&world.config, &text).unwrap();
        let broker = Broker::new(Config::load(&world.config).unwrap());
        let old = broker.config();
        std::fs::write(&world.config, &only_first).unwrap();
        broker.replace_config(Config::load(&world.config).unwrap());
        let config = broker.config();
        let in_flight = |config: &Config| {
            let anchor = find_anchor(config, TRUST_ANCHOR_ARN).unwrap();
            let profile = find_profile(config, PROFILE_ARN).unwrap();
            let role = find_role_in_profile(config, profile, ROLE_ARN).unwrap();
            let tags = profile.attribute_mapping.select(second.principal_tags());
            let requester = SessionRequester {
                certificate: &second,
                tags: &tags,
                session_name: "late",
            };
            broker.check_trust_policy_cached(config, anchor, profile, role, &second, || {
                trust_context(config, anchor, role, requester, None, now)
            })
        };
        assert!(in_flight(&old).is_ok());
        assert_eq!(in_flight(&config).unwrap_err().reason, "trust-policy");
        let e = broker.create_session(input(&second), now).map(|_| ()).unwrap_err();
        assert_eq!(e.reason, "trust-policy");
    }

    /// The keys [`PER_REQUEST_TRUST_KEYS`] names are all that differ between two trust
    /// contexts of one anchor, role, profile and certificate: any other key a request could
    /// change would make a kept decision wrong.
    #[test]
    fn only_the_per_request_keys_change_from_request_to_request() {
        let (broker, _world, certificate) = world_broker(0);
        let config = broker.config();
        let anchor = find_anchor(&config, TRUST_ANCHOR_ARN).unwrap();
        let profile = find_profile(&config, PROFILE_ARN).unwrap();
        let role = find_role_in_profile(&config, profile, ROLE_ARN).unwrap();
        let tags = profile.attribute_mapping.select(certificate.principal_tags());
        let context = |session_name: &str, ip: Option<&str>, now: OffsetDateTime| {
            let requester = SessionRequester {
                certificate: &certificate,
                tags: &tags,
                session_name,
            };
            let ctx = trust_context(&config, anchor, role, requester, ip.map(|ip| ip.parse().unwrap()), now);
            ctx.keys()
                .map(|(k, v)| (k.to_owned(), format!("{v:?}")))
                .collect::<BTreeMap<_, _>>()
        };
        let now = OffsetDateTime::now_utc();
        let a = context("one", None, now);
        let b = context("two", Some("10.0.0.1"), now + time::Duration::seconds(1));
        assert!(a.len() > PER_REQUEST_TRUST_KEYS.len(), "{a:?}");
        let differing: Vec<&String> = a.keys().chain(b.keys()).filter(|k| a.get(*k) != b.get(*k)).collect();
        assert!(!differing.is_empty());
        for key in differing {
            assert!(
                PER_REQUEST_TRUST_KEYS.contains(&key.as_str()),
                "{key} changes per request"
            );
        }
    }

    /// IAM's keys of a call by a service principal hold `rolesanywhere.amazonaws.com`: trust
    /// policies that name the service in a condition, as data-perimeter policies do, allow.
    #[test]
    fn the_caller_is_the_roles_anywhere_service_principal() {
        let (broker, _world, certificate) = world_broker(0);
        let config = broker.config();
        let anchor = find_anchor(&config, TRUST_ANCHOR_ARN).unwrap();
        let profile = find_profile(&config, PROFILE_ARN).unwrap();
        let role = find_role_in_profile(&config, profile, ROLE_ARN).unwrap();
        let requester = SessionRequester {
            certificate: &certificate,
            tags: &[],
            session_name: "s",
        };
        let mut ctx = trust_context(&config, anchor, role, requester, None, OffsetDateTime::now_utc());
        let policy = |condition: &str| {
            let text = format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Service":"rolesanywhere.amazonaws.com"}},"Action":"sts:*","Condition":{{{condition}}}}}]}}"#
            );
            policy::PolicyDocument::parse(&text, policy::PolicyKind::Trust).unwrap()
        };
        let cases = [
            (
                r#""StringEquals":{"aws:PrincipalServiceName":"rolesanywhere.amazonaws.com"}"#,
                true,
            ),
            (
                r#""ForAnyValue:StringEquals":{"aws:PrincipalServiceNamesList":"rolesanywhere.amazonaws.com"}"#,
                true,
            ),
            (r#""Bool":{"aws:PrincipalIsAWSService":"true"}"#, true),
            // The region the request is made in, as IAM sets it on every request.
            (r#""StringEquals":{"aws:RequestedRegion":"us-east-1"}"#, true),
            (r#""StringNotEquals":{"aws:RequestedRegion":"us-east-1"}"#, false),
            (
                r#""StringEquals":{"aws:PrincipalServiceName":"ec2.amazonaws.com"}"#,
                false,
            ),
            (
                r#""ForAnyValue:StringEquals":{"aws:PrincipalServiceNamesList":"ec2.amazonaws.com"}"#,
                false,
            ),
        ];
        for action in ROLES_ANYWHERE_ACTIONS {
            ctx.set_action(action);
            for (condition, allowed) in cases {
                let outcome = policy::evaluate(&[policy(condition)], &ctx).outcome;
                assert_eq!(outcome == policy::Outcome::Allow, allowed, "{action} {condition}");
            }
        }
    }

    #[test]
    fn trust_policies_reading_request_keys_are_decided_per_request() {
        let policy = |condition: &str| {
            let text = format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Service":"rolesanywhere.amazonaws.com"}},"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"]{condition}}}]}}"#
            );
            policy::PolicyDocument::parse(&text, policy::PolicyKind::Trust).unwrap()
        };
        assert!(trust_decided_per_certificate(&policy("")));
        assert!(trust_decided_per_certificate(&policy(
            r#","Condition":{"StringEquals":{"aws:PrincipalTag/x509Subject/CN":"a"}}"#
        )));
        for condition in [
            r#","Condition":{"DateLessThan":{"AWS:CurrentTime":"2030-01-01T00:00:00Z"}}"#,
            r#","Condition":{"NumericLessThan":{"aws:EpochTime":"1900000000"}}"#,
            r#","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#,
            r#","Condition":{"StringLike":{"sts:RoleSessionName":"web-*"}}"#,
            r#","Condition":{"StringEquals":{"aws:PrincipalTag/x509Subject/CN":"${sts:RoleSessionName}"}}"#,
            r#","Condition":{"StringEquals":{"aws:PrincipalTag/x509Subject/CN":"${ AWS:SourceIp , 'none'}"}}"#,
            r#","Condition":{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}"#,
            r#","Condition":{"Null":{"aws:SourceIp":"true"}}"#,
            r#","Condition":{"ForAnyValue:StringLike":{"sts:rolesessionname":["a*"]}}"#,
        ] {
            assert!(!trust_decided_per_certificate(&policy(condition)), "{condition}");
        }
    }

    /// A broker of the bench world (with `reuse`) whose configuration `edit` changed.
    fn edited_broker(reuse: u64, edit: impl FnOnce(String) -> String) -> (Broker, World, Arc<ClientCertificate>) {
        let (_, world, certificate) = world_broker(reuse);
        let text = edit(std::fs::read_to_string(&world.config).unwrap());
        std::fs::write(&world.config, text).unwrap();
        let broker = Broker::new(Config::load(&world.config).unwrap());
        (broker, world, certificate)
    }

    #[test]
    fn reused_credentials_keep_nine_tenths_of_their_lifetime() {
        let (broker, _world, certificate) = world_broker(3600);
        let t0 = OffsetDateTime::now_utc();
        let at = |seconds: i64| access_key_id_at(&broker, &certificate, t0 + time::Duration::seconds(seconds));
        let first = at(0);
        // One-hour sessions: reused while 3,240 seconds remain, minted anew after.
        assert_eq!(at(360), first);
        let later = at(361);
        assert_ne!(later, first);
        assert_eq!(at(400), later);
    }

    #[test]
    fn credentials_a_revocation_cutoff_reached_are_not_reused() {
        let t0 = OffsetDateTime::now_utc();
        let cutoff = t0 + time::Duration::seconds(30);
        let cutoff_text = crate::session::format_expiration(cutoff.unix_timestamp());
        let (broker, _world, certificate) = edited_broker(3600, |text| {
            text.replacen(
                "max_session_duration = 3600\n",
                &format!("max_session_duration = 3600\nrevoke_sessions_issued_before = \"{cutoff_text}\"\n"),
                1,
            )
        });
        let at = |seconds: i64| access_key_id_at(&broker, &certificate, t0 + time::Duration::seconds(seconds));
        // Issued before the cutoff (which was ahead of the clock at load): revoked once it is
        // reached, so the client that asks again is given new credentials...
        let before = at(0);
        let after = at(40);
        assert_ne!(after, before, "revoked by the cutoff: minted anew");
        // ...which are reused as usual.
        assert_eq!(at(50), after);
    }

    #[test]
    fn a_trust_policy_can_tie_the_session_name_to_the_certificate() {
        let (broker, _world, certificate) = edited_broker(0, |text| {
            text.replacen(
                "\"ArnEquals\": {",
                "\"StringEqualsIgnoreCase\": {\"sts:RoleSessionName\": \"${aws:PrincipalTag/x509Subject/CN}\"}, \"ArnEquals\": {",
                1,
            )
        });
        let now = OffsetDateTime::now_utc();
        let named = |name: &str| CreateSessionInput {
            role_session_name: Some(name.to_owned()),
            ..input(&certificate)
        };
        let own = broker.create_session(named("bench-workload-0"), now).unwrap();
        assert!(
            own.assumed_role_arn.ends_with("/bench-workload-0"),
            "{}",
            own.assumed_role_arn
        );
        let other = broker
            .create_session(named("bench-workload-1"), now)
            .map(|_| ())
            .unwrap_err();
        assert_eq!((other.code, other.reason), (ErrorCode::AccessDenied, "trust-policy"));
    }

    #[test]
    fn a_session_over_the_packed_size_is_refused() {
        // A session policy of about 4,150 minified characters (102 % by itself) and the
        // certificate's tags.
        let resources: Vec<String> = (0..38)
            .map(|i| format!("\"arn:aws:s3:::bucket-{i:02}/{}\"", "k".repeat(80)))
            .collect();
        let policy = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":[{}]}}]}}"#,
            resources.join(",")
        );
        let (broker, _world, certificate) = edited_broker(0, |text| {
            text.replacen(
                "accept_role_session_name = true\n",
                &format!("accept_role_session_name = true\nsession_policy = '''{policy}'''\n"),
                1,
            )
        });
        let e = broker
            .create_session(input(&certificate), OffsetDateTime::now_utc())
            .map(|_| ())
            .unwrap_err();
        assert_eq!((e.code, e.reason), (ErrorCode::PackedPolicyTooLarge, "packed-policy"));
        assert_eq!(
            e.message,
            "Packed policy consumes 107% of allotted space, please use smaller policy."
        );
    }

    /// A broker on the bench world's configuration whose trust anchor is `root`, with
    /// `refused_when_stale` as its CRL (`stale_crls = "refuse"`) when given.
    fn broker_trusting(root: &crate::pki::Authority, refused_when_stale: Option<String>) -> (Broker, World) {
        let world = world_of(1);
        std::fs::write(&world.ca_pem, &root.issued().cert_pem).unwrap();
        let anchor_lines = match refused_when_stale {
            Some(crl) => {
                std::fs::write(world.dir.join("cache.crl"), crl).unwrap();
                "crls = [\"cache.crl\"]\nstale_crls = \"refuse\"\n"
            }
            None => "",
        };
        let text = std::fs::read_to_string(&world.config).unwrap();
        assert!(text.contains("certificates = \"ca.pem\"\n"), "{text}");
        let text = text.replacen(
            "certificates = \"ca.pem\"\n",
            &format!("certificates = \"ca.pem\"\n{anchor_lines}"),
            1,
        );
        std::fs::write(&world.config, text).unwrap();
        (Broker::new(Config::load(&world.config).unwrap()), world)
    }

    /// [`Broker::verify_chain_cached`] of `leaf` and `chain` against the world's anchor at `at`.
    fn verify_cached_at(
        broker: &Broker,
        leaf: &crate::pki::Issued,
        chain: &[&crate::pki::Issued],
        at: OffsetDateTime,
    ) -> Result<(), ApiError> {
        let config = broker.config();
        let anchor = find_anchor(&config, TRUST_ANCHOR_ARN).unwrap();
        let certificate = ClientCertificate::parse(leaf.cert_der.clone()).unwrap();
        let intermediates: Vec<Vec<u8>> = chain.iter().map(|c| c.cert_der.clone()).collect();
        broker
            .verify_chain_cached(&config, anchor, &certificate, &intermediates, at)
            .map(drop)
    }

    fn assert_untrusted(result: Result<(), ApiError>, reason: &str, message: &str) {
        let e = result.unwrap_err();
        assert_eq!(
            (e.code, e.reason, e.message.as_str()),
            (ErrorCode::AccessDenied, reason, message)
        );
    }

    /// A chain verified once is kept until the leaf's notAfter, not past it: a second after,
    /// the cache is missed and the chain refused as expired.
    #[test]
    fn a_cached_chain_is_refused_once_the_leaf_expires() {
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let day = time::Duration::days(1);
        let root =
            crate::pki::Authority::new_root("cache root", KeyType::EcdsaP256, now - day, now + 30 * day).unwrap();
        let leaf_not_after = now + day;
        let leaf = root
            .client(&crate::pki::ClientSpec::new(
                "short-lived",
                KeyType::EcdsaP256,
                now - day,
                leaf_not_after,
            ))
            .unwrap();
        let (broker, _world) = broker_trusting(&root, None);
        verify_cached_at(&broker, &leaf, &[], now).unwrap();
        assert_eq!(lookups(&broker, "chains"), (0, 1));
        let last_second = leaf_not_after - time::Duration::seconds(1);
        verify_cached_at(&broker, &leaf, &[], last_second).unwrap();
        assert_eq!(lookups(&broker, "chains"), (1, 1), "kept while the leaf is valid");
        let after = leaf_not_after + time::Duration::seconds(1);
        assert_untrusted(
            verify_cached_at(&broker, &leaf, &[], after),
            "certificate-expired",
            &format!(
                "Untrusted certificate: certificate has expired (notAfter {})",
                crate::identity::Timestamp(leaf_not_after.unix_timestamp())
            ),
        );
        assert_eq!(
            lookups(&broker, "chains"),
            (1, 2),
            "verified again, not served from the cache"
        );
    }

    /// An intermediate that expires before the leaf bounds the cached verdict: a second after
    /// the intermediate's notAfter the chain is refused, naming the intermediate's notAfter.
    #[test]
    fn a_cached_chain_does_not_outlive_its_intermediate() {
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let day = time::Duration::days(1);
        let root =
            crate::pki::Authority::new_root("cache root", KeyType::EcdsaP256, now - day, now + 30 * day).unwrap();
        let inter_not_after = now + day;
        let inter = root
            .new_intermediate("cache intermediate", KeyType::EcdsaP256, now - day, inter_not_after)
            .unwrap();
        let leaf = inter
            .client(&crate::pki::ClientSpec::new(
                "long-lived",
                KeyType::EcdsaP256,
                now - day,
                now + 10 * day,
            ))
            .unwrap();
        let (broker, _world) = broker_trusting(&root, None);
        verify_cached_at(&broker, &leaf, &[inter.issued()], now).unwrap();
        verify_cached_at(
            &broker,
            &leaf,
            &[inter.issued()],
            inter_not_after - time::Duration::seconds(1),
        )
        .unwrap();
        assert_eq!(lookups(&broker, "chains"), (1, 1));
        let after = inter_not_after + time::Duration::seconds(1);
        assert_untrusted(
            verify_cached_at(&broker, &leaf, &[inter.issued()], after),
            "certificate-expired",
            &format!(
                "Untrusted certificate: the intermediate CA certificate CN=cache intermediate of the chain has expired \
                 (notAfter {}); the client must send its CA's renewed certificate",
                crate::identity::Timestamp(inter_not_after.unix_timestamp())
            ),
        );
        assert_eq!(lookups(&broker, "chains"), (1, 2));
    }

    /// With `stale_crls = "refuse"`, the cached verdict ends at the CRL's nextUpdate: a second
    /// after it the chain is refused for the stale CRL, though every certificate is valid.
    #[test]
    fn a_cached_chain_does_not_outlive_a_crl_the_anchor_refuses_when_stale() {
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let day = time::Duration::days(1);
        let root =
            crate::pki::Authority::new_root("cache root", KeyType::EcdsaP256, now - day, now + 30 * day).unwrap();
        let leaf = root
            .client(&crate::pki::ClientSpec::new(
                "crl-covered",
                KeyType::EcdsaP256,
                now - day,
                now + 10 * day,
            ))
            .unwrap();
        let next_update = now + day;
        let (broker, _world) = broker_trusting(&root, Some(root.crl(&[], now - day, next_update).unwrap()));
        assert_eq!(broker.config().anchor(TRUST_ANCHOR_ARN).unwrap().trust.crls().len(), 1);
        verify_cached_at(&broker, &leaf, &[], now).unwrap();
        verify_cached_at(&broker, &leaf, &[], next_update - time::Duration::seconds(1)).unwrap();
        assert_eq!(lookups(&broker, "chains"), (1, 1));
        assert_untrusted(
            verify_cached_at(&broker, &leaf, &[], next_update + time::Duration::seconds(1)),
            "stale-crl",
            &format!(
                "Untrusted certificate: the CRL of CN=cache root, which covers the certificate chain, is past its nextUpdate \
                 ({}) and the trust anchor refuses stale CRLs",
                crate::identity::Timestamp(next_update.unix_timestamp())
            ),
        );
        assert_eq!(lookups(&broker, "chains"), (1, 2));
    }

    #[test]
    fn a_chain_verified_under_the_previous_configuration_is_not_a_hit_after_reload() {
        let (broker, world, certificate) = world_broker(60);
        let now = OffsetDateTime::now_utc();
        let previous = broker.config();
        broker.replace_config(Config::load(&world.config).unwrap());
        // A request that began before the reload finishes after it and caches its verdict...
        let anchor = find_anchor(&previous, TRUST_ANCHOR_ARN).unwrap();
        broker
            .verify_chain_cached(&previous, anchor, &certificate, &[], now)
            .unwrap();
        // ...which the new configuration, whose anchors and CRLs may differ, must not reuse.
        let current = broker.config();
        let anchor = find_anchor(&current, TRUST_ANCHOR_ARN).unwrap();
        broker
            .verify_chain_cached(&current, anchor, &certificate, &[], now)
            .unwrap();
        assert_eq!(lookups(&broker, "chains"), (0, 2));
        broker
            .verify_chain_cached(&current, anchor, &certificate, &[], now)
            .unwrap();
        assert_eq!(lookups(&broker, "chains"), (1, 2));
    }

    #[test]
    fn a_reload_that_changes_the_cache_settings_builds_the_caches_anew() {
        let (broker, world, certificate) = world_broker(0);
        let mint = || access_key_id(&broker, &certificate);
        mint();
        let chains_before = lookups(&broker, "chains");
        // The same settings: the caches stay (emptied).
        let same = Arc::as_ptr(&*broker.caches());
        broker.replace_config(Config::load(&world.config).unwrap());
        assert_eq!(Arc::as_ptr(&*broker.caches()), same);
        // Reuse turned on (its window is fixed when the cache is built): built anew, and the
        // identical request is now served the credentials of the first.
        let text = std::fs::read_to_string(&world.config).unwrap();
        let text = text.replacen("credential_reuse_seconds = 0", "credential_reuse_seconds = 60", 1);
        std::fs::write(&world.config, &text).unwrap();
        broker.replace_config(Config::load(&world.config).unwrap());
        assert_ne!(Arc::as_ptr(&*broker.caches()), same);
        assert_eq!(mint(), mint());
        // Hits and misses count on across the rebuild.
        let (hits, misses) = lookups(&broker, "chains");
        assert_eq!((hits, misses), (chains_before.0 + 1, chains_before.1 + 1));
        // A new bound: built anew again.
        let rebuilt = Arc::as_ptr(&*broker.caches());
        assert!(text.contains("cache_max_entries = 100\n"), "{text}");
        let text = text.replacen("cache_max_entries = 100\n", "cache_max_entries = 2000\n", 1);
        std::fs::write(&world.config, &text).unwrap();
        broker.replace_config(Config::load(&world.config).unwrap());
        assert_ne!(Arc::as_ptr(&*broker.caches()), rebuilt);
        assert!(broker.caches().fit_for(&broker.config().server));
    }

    /// A token whose key id the ring holds under another key (the key file of `k1` replaced,
    /// as a chart generating a new Secret on upgrade does) is refused as InvalidClientTokenId
    /// with the reason `token-key-mismatch` and a message that says what to check; a forged
    /// one under a known id alike; a token of an id the ring lacks stays `unknown-token-key`.
    #[test]
    fn a_token_of_a_key_replaced_under_its_id_is_a_key_mismatch() {
        let (broker, world, certificate) = world_broker(0);
        let now = OffsetDateTime::now_utc();
        let minted = broker.create_session(input(&certificate), now).unwrap();
        let token = minted.credentials.session_token.clone();
        assert!(token.starts_with("rg2.k1."), "{token}");
        let key = crate::session::TokenKey::generate().to_base64();
        std::fs::write(world.dir.join("token-k1.key"), format!("{}\n", key.as_str())).unwrap();
        broker.replace_config(Config::load(&world.config).unwrap());

        let e = broker
            .session_caller_on(broker.config(), &token, now)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(e.code, crate::error::ErrorCode::InvalidClientTokenId);
        assert_eq!(e.sts_wire(), (403, "InvalidClientTokenId"));
        assert_eq!(e.reason, "token-key-mismatch");
        assert_eq!(
            e.message,
            "The security token included in the request is invalid. It names token key 'k1', which this server \
             holds, but does not open with it: it was sealed under a different key with the same id, or it was \
             truncated, altered or forged. Every replica must share the same key files, and a key file must not be replaced \
             under an id it already had."
        );
        assert!(!e.message.contains(key.as_str()));

        // Forged under a known id: the same reason (the key id is read before authentication).
        let forged = format!("rg2.k1.{}", "A".repeat(80));
        let e = broker
            .session_caller_on(broker.config(), &forged, now)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(e.reason, "token-key-mismatch");
        // An id the ring lacks is named; no token at all gets STS's bare message.
        let refused = |token: &str| {
            let e = broker
                .session_caller_on(broker.config(), token, now)
                .map(|_| ())
                .unwrap_err();
            (e.reason, e.message)
        };
        let (reason, message) = refused(&format!("rg2.k9.{}", "A".repeat(80)));
        assert_eq!(reason, "unknown-token-key");
        assert!(
            message.starts_with(&format!(
                "{} It names token key 'k9', which this server does not hold:",
                crate::session::INVALID_TOKEN_MESSAGE
            )),
            "{message}"
        );
        assert_eq!(
            refused("hello"),
            ("bad-token", crate::session::INVALID_TOKEN_MESSAGE.to_owned())
        );
    }

    #[test]
    fn opened_tokens_are_cached_per_configuration() {
        let (broker, world, certificate) = world_broker(0);
        let now = OffsetDateTime::now_utc();
        let token = broker
            .create_session(input(&certificate), now)
            .unwrap()
            .credentials
            .session_token
            .clone();
        let first = broker.session_caller_on(broker.config(), &token, now).unwrap();
        let second = broker.session_caller_on(broker.config(), &token, now).unwrap();
        assert!(Arc::ptr_eq(&first.claims, &second.claims), "the second lookup is a hit");
        assert_eq!(lookups(&broker, "tokens"), (1, 1));

        let previous = broker.config();
        broker.replace_config(Config::load(&world.config).unwrap());
        broker
            .caches()
            .opened_token(previous.generation, &token, |t| session::open(&previous.keyring, t))
            .unwrap();
        broker.session_caller_on(broker.config(), &token, now).unwrap();
        assert_eq!(
            lookups(&broker, "tokens"),
            (1, 3),
            "an entry of the previous configuration is not a hit"
        );

        let huge = "A".repeat(session::MAX_TOKEN_LEN + 1);
        assert_eq!(
            broker
                .session_caller_on(broker.config(), &huge, now)
                .err()
                .map(|e| e.reason),
            Some("bad-token")
        );
        assert_eq!(
            lookups(&broker, "tokens"),
            (1, 3),
            "a token too large is refused before any lookup"
        );

        let bad = format!("{token}x");
        assert!(broker.session_caller_on(broker.config(), &bad, now).is_err());
        assert!(broker.session_caller_on(broker.config(), &bad, now).is_err());
        assert_eq!(lookups(&broker, "tokens"), (1, 5), "failures are not cached");
    }

    /// The chain failures an operator acts on apart are counted apart; the rest are one reason.
    #[test]
    fn chain_refusals_have_the_reason_of_their_cause() {
        let at = crate::identity::Timestamp(1_767_225_600);
        let cases = [
            (CertificateError::Expired { not_after: at }, "certificate-expired"),
            (
                CertificateError::NotYetValid { not_before: at },
                "certificate-not-yet-valid",
            ),
            (CertificateError::Revoked, "certificate-revoked"),
            (CertificateError::StaleCrl { next_update: at }, "stale-crl"),
            (
                CertificateError::AnchorExpired { not_after: at },
                "trust-anchor-expired",
            ),
            (
                CertificateError::AnchorNotYetValid { not_before: at },
                "trust-anchor-not-yet-valid",
            ),
            (CertificateError::UnknownIssuer, "untrusted-certificate"),
            (CertificateError::BadSignature, "untrusted-certificate"),
            (
                CertificateError::RevocationCheckFailed("x".into()),
                "untrusted-certificate",
            ),
        ];
        for (error, reason) in cases {
            assert_eq!(chain_refusal_reason(&error), reason, "{error}");
        }
    }

    #[test]
    fn a_certificate_of_another_ca_is_verified_once_and_refused_with_the_anchors_reason() {
        let (broker, _world, _) = world_broker(0);
        let (_, _other_world, stranger) = world_broker(0);
        let now = OffsetDateTime::now_utc();
        let err = broker
            .trusted_anchor(&broker.config(), &stranger, &[], now)
            .err()
            .map(|e| e.reason);
        assert_eq!(err, Some("untrusted-certificate"), "REST's reason");
        assert_eq!(lookups(&broker, "chains"), (0, 1), "one verification, not one per try");
    }

    /// Of several anchors, each refusing the certificate: the cause the anchors with a path to
    /// it give (it expired; the first anchor's CRL revokes it) is named, as one anchor would
    /// name it, the others (another CA's) saying nothing of it; a certificate no anchor's CAs
    /// issued is said to chain to none of them.
    #[test]
    fn several_anchors_name_a_cause_they_all_give() {
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let day = time::Duration::days(1);
        let root = |name: &str| {
            crate::pki::Authority::new_root(name, KeyType::EcdsaP256, now - 30 * day, now + 30 * day).unwrap()
        };
        let (first, second, stranger) = (root("first root"), root("second root"), root("stranger root"));
        let spec = |not_after| crate::pki::ClientSpec::new("workload", KeyType::EcdsaP256, now - 2 * day, not_after);
        let revoked = first.client(&spec(now + day)).unwrap();
        let crl = first
            .crl(&[revoked.serial_hex.as_str()], now - day, now + 7 * day)
            .unwrap();
        let (broker, world) = broker_trusting(&first, Some(crl));
        std::fs::write(world.dir.join("second.pem"), &second.issued().cert_pem).unwrap();
        let mut text = std::fs::read_to_string(&world.config).unwrap();
        text += "\n[[trust_anchor]]\nid = \"second\"\ncertificates = \"second.pem\"\n";
        std::fs::write(&world.config, text).unwrap();
        broker.replace_config(Config::load(&world.config).unwrap());
        assert_eq!(broker.config().anchors.len(), 2);
        let leaf = |ca: &crate::pki::Authority, not_after: OffsetDateTime| {
            ClientCertificate::parse(ca.client(&spec(not_after)).unwrap().cert_der).unwrap()
        };
        let refused = |certificate: &ClientCertificate| {
            let e = broker
                .trusted_anchor(&broker.config(), certificate, &[], now)
                .unwrap_err();
            (e.reason, e.message)
        };

        let expired_at = now - day;
        assert_eq!(
            refused(&leaf(&second, expired_at)),
            (
                "certificate-expired",
                format!(
                    "Untrusted certificate: certificate has expired (notAfter {})",
                    crate::identity::Timestamp(expired_at.unix_timestamp())
                )
            )
        );
        assert_eq!(
            refused(&leaf(&stranger, now + day)),
            (
                "untrusted-certificate",
                "The client certificate CN=workload does not chain to any enabled trust anchor.".to_owned()
            )
        );
        assert_eq!(
            refused(&ClientCertificate::parse(revoked.cert_der).unwrap()),
            (
                "certificate-revoked",
                "Untrusted certificate: certificate is revoked by a CRL of the trust anchor".to_owned()
            )
        );
        let valid = leaf(&second, now + day);
        assert!(broker.trusted_anchor(&broker.config(), &valid, &[], now).is_ok());
    }

    /// Every key either trust context holds — CreateSession's and AssumeRole's, each with
    /// every optional part present — is one the configuration's misspelt-key warning knows.
    #[test]
    fn every_trust_context_key_is_known_to_the_load_warning() {
        let (broker, _world, certificate) = world_broker(0);
        let config = broker.config();
        let anchor = find_anchor(&config, TRUST_ANCHOR_ARN).unwrap();
        let role = config.role(ROLE_ARN).unwrap().clone();
        let tags = [("team".to_owned(), "blue".to_owned())];
        let now = OffsetDateTime::now_utc();
        let ip = Some("192.0.2.1".parse().unwrap());
        let requester = SessionRequester {
            certificate: &certificate,
            tags: &tags,
            session_name: "web-1",
        };
        let create = trust_context(&config, anchor, &role, requester, ip, now);

        let issued_at = now.unix_timestamp();
        let claims = crate::session::SessionClaims {
            access_key_id: String::new(),
            secret_access_key: zeroize::Zeroizing::new(String::new()),
            role_arn: role.arn.as_str().to_owned(),
            role_id: role.role_id.clone(),
            session_name: "s".to_owned(),
            issued_at,
            expires_at: issued_at + 3600,
            source_identity: Some("CN=a".to_owned()),
            tags: tags.to_vec(),
            transitive_tag_keys: vec!["team".to_owned()],
            session_policies: Vec::new(),
            policy_arns: Vec::new(),
            origin: crate::session::SessionOrigin::AssumeRole {
                source_role_arn: role.arn.as_str().to_owned(),
                source_session_name: "s".to_owned(),
            },
            chain: None,
        };
        let caller = crate::broker::Caller {
            claims: Arc::new(crate::broker::OpenedSession::new(claims)),
            role: role.clone(),
            config: config.clone(),
        };
        let input = crate::broker::AssumeRoleInput {
            role_arn: ROLE_ARN.to_owned(),
            role_session_name: "next".to_owned(),
            duration_seconds: None,
            policy: None,
            policy_arns: Vec::new(),
            tags: tags.to_vec(),
            transitive_tag_keys: vec!["team".to_owned()],
            external_id: Some("x".to_owned()),
            serial_number: None,
            token_code: None,
            source_identity: Some("CN=a".to_owned()),
            source_ip: ip,
            ..Default::default()
        };
        let assume = super::super::assume_role::trust_context(&caller, &role, &input, &tags, Some("CN=a"), now);
        for ctx in [&create, &assume] {
            let keys: Vec<&str> = ctx.keys().map(|(k, _)| k).collect();
            assert!(keys.len() >= 10, "{keys:?}");
            for key in keys {
                assert!(
                    super::super::is_trust_policy_key(key),
                    "{key} is not a known trust policy key"
                );
            }
        }
        for unknown in [
            "aws:PrincipleTag/team",
            "aws:PrincipalTag/",
            "aws:username",
            "sts:RoleSessionNames",
        ] {
            assert!(!super::super::is_trust_policy_key(unknown), "{unknown}");
        }
        assert!(super::super::is_trust_policy_key("AWS:PrincipalTag/x509Subject/CN"));
    }
}
