//! `rolegate.v1.Sessions`: each RPC translates its message into a broker input, runs the same
//! decision as the REST and STS edges, and renders the answer or the one [`ApiError`] as a
//! gRPC status.
//!
//! - CreateSession: the identity is the mTLS client chain (leaf + intermediates); it must chain
//!   to the anchor named in the request, checked first, as for REST.
//! - AssumeRole: SigV4 in metadata over the canonical request described in `sessions.proto`
//!   (method `POST`, path [`ASSUME_ROLE_PATH`], `host` = `:authority`, payload = the encoded
//!   message).
//! - VerifyRequest / Authorize: for callers whose mTLS chain is trusted. A request that does
//!   not verify, or a decision that denies, is a successful call whose answer says so; the
//!   audit event and the metrics count it as a denial.

use time::OffsetDateTime;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use super::peer::{peer_chain, trusted_peer};
use super::{GrpcContext, audited, audited_answer, context, message_sha256, one_message, record};
use crate::audit::{Decision as AuditDecision, Record};
use crate::broker::{
    AssumeRoleInput, AuthorizeInput, AuthorizeOutput, Caller, CreateSessionInput, MAX_CONTEXT_KEY_VALUES,
    MAX_CONTEXT_KEYS, PAYLOAD_HASH_MISMATCH, Payload, check_arn_lengths, validate_authorize_input,
};
use crate::error::ApiError;
use crate::policy::Outcome;
use crate::proto::authorize_response::Decision;
use crate::proto::sessions_server::Sessions;
use crate::proto::{
    AssumeRoleRequest, AssumeRoleResponse, AuthorizeRequest, AuthorizeResponse, ContextValues, CreateSessionRequest,
    CreateSessionResponse, Credentials, Tag, VerifyRequestRequest, VerifyRequestResponse,
};
use crate::ratelimit::{ClientKey, ClientLimit};
use crate::session::{self, format_expiration};
use crate::sigv4::{HttpRequest, SigV4Error, unsigned_marker};

/// The HTTP/2 path of AssumeRole: the SigV4 canonical URI its signature covers.
pub const ASSUME_ROLE_PATH: &str = "/rolegate.v1.Sessions/AssumeRole";

/// Most headers a VerifyRequest may carry.
const MAX_VERIFY_HEADERS: usize = 100;

/// The stateless `Sessions` service; state comes with each request's [`GrpcContext`].
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct SessionsService;

#[tonic::async_trait]
impl Sessions for SessionsService {
    async fn create_session(
        &self,
        req: Request<CreateSessionRequest>,
    ) -> Result<Response<CreateSessionResponse>, Status> {
        let ctx = context(&req)?;
        let mut record = record(&ctx, "CreateSession");
        let result = one_message(&req, "CreateSession")
            .and_then(|_| create_session(&ctx, req.into_inner(), OffsetDateTime::now_utc(), &mut record));
        audited(&ctx, &record, result)
    }

    async fn assume_role(&self, req: Request<AssumeRoleRequest>) -> Result<Response<AssumeRoleResponse>, Status> {
        let ctx = context(&req)?;
        let mut record = record(&ctx, "AssumeRole");
        // The digest outlives the request it borrows from: only AssumeRole's signature needs it.
        let result = message_sha256(&req, "AssumeRole")
            .map(str::to_owned)
            .and_then(|sha256| {
                let (metadata, _, message) = req.into_parts();
                assume_role(
                    &ctx,
                    &metadata,
                    message,
                    &sha256,
                    OffsetDateTime::now_utc(),
                    &mut record,
                )
            });
        audited(&ctx, &record, result)
    }

    async fn verify_request(
        &self,
        req: Request<VerifyRequestRequest>,
    ) -> Result<Response<VerifyRequestResponse>, Status> {
        let ctx = context(&req)?;
        let mut record = record(&ctx, "VerifyRequest");
        let result = one_message(&req, "VerifyRequest")
            .and_then(|_| verify_request(&ctx, req.into_inner(), OffsetDateTime::now_utc(), &mut record));
        audited_answer(&ctx, &record, result)
    }

    async fn authorize(&self, req: Request<AuthorizeRequest>) -> Result<Response<AuthorizeResponse>, Status> {
        let ctx = context(&req)?;
        let mut record = record(&ctx, "Authorize");
        let result = one_message(&req, "Authorize")
            .and_then(|_| authorize(&ctx, req.into_inner(), OffsetDateTime::now_utc(), &mut record));
        audited_answer(&ctx, &record, result)
    }
}

fn create_session(
    ctx: &GrpcContext,
    mut r: CreateSessionRequest,
    now: OffsetDateTime,
    record: &mut Record,
) -> Result<CreateSessionResponse, ApiError> {
    let broker = &ctx.state.broker;
    let chain = peer_chain(broker, &ctx.conn, "CreateSession")?;
    record.set_certificate(chain.leaf.clone());
    let (profile_arn, role_arn, trust_anchor_arn) = required_arns(&mut r)?;
    record.trust_anchor = Some(trust_anchor_arn.clone());
    record.profile = Some(profile_arn.clone());
    record.role = Some(role_arn.clone());
    ctx.state.limiter().check_client(
        ClientKey::Certificate(*chain.leaf.fingerprint()),
        std::time::Instant::now(),
    )?;
    let input = CreateSessionInput {
        profile_arn,
        role_arn,
        trust_anchor_arn,
        duration_seconds: r.duration_seconds.map(i64::from),
        role_session_name: r.role_session_name,
        instance_properties: (!r.instance_properties.is_empty()).then(|| r.instance_properties.into_iter().collect()),
        certificate: chain.leaf,
        intermediates: chain.intermediates,
        source_ip: Some(ctx.conn.remote.ip()),
    };
    // The broker checks the chain against the anchor the request names before it looks up
    // anything else, with REST's errors.
    let out = broker.create_session(input, now)?;
    // Its chain verified: the next connection with these bytes skips the parse.
    broker.caches().keep_certificate(&chain.sent);
    record.merge(AuditDecision {
        role_arn: Some(out.role_arn.clone()),
        session_name: Some(out.session_name.clone()),
        source_identity: Some(out.source_identity.clone()),
        issued_access_key_id: Some(out.credentials.access_key_id.clone()),
        expiration: Some(out.credentials.expiration),
    });
    Ok(CreateSessionResponse {
        credentials: Some(credentials(&out.credentials)),
        assumed_role_arn: out.assumed_role_arn.clone(),
        assumed_role_id: out.assumed_role_id.clone(),
        role_arn: out.role_arn.clone(),
        source_identity: out.source_identity.clone(),
        packed_policy_size: out.packed_policy_size,
        subject_arn: out.subject_arn.clone(),
    })
}

/// AssumeRole of a session's SigV4 signature over the call: its metadata, and `sha256`, the
/// digest of the message as the client sent it.
fn assume_role(
    ctx: &GrpcContext,
    metadata: &MetadataMap,
    r: AssumeRoleRequest,
    sha256: &str,
    now: OffsetDateTime,
    record: &mut Record,
) -> Result<AssumeRoleResponse, ApiError> {
    let broker = &ctx.state.broker;
    let pairs = signed_metadata(metadata, &ctx.authority);
    let http = HttpRequest {
        method: "POST",
        path: ASSUME_ROLE_PATH,
        query: "",
        headers: &pairs,
    };
    // The access key's bucket, as for STS: checked now, charged once the signature proved it.
    // Before the signature verifies, the audit event names the key the request claims and
    // what it asks for, as STS's does.
    record.access_key_id = claimed_access_key_id(pairs.iter().copied(), "");
    let claimed = record.access_key_id.clone().map(ClientKey::AccessKey);
    record.role = Some(r.role_arn.clone());
    record.session_name = Some(r.role_session_name.clone());
    let limiter = ctx.state.limiter();
    let client_limit = ClientLimit::new(&limiter, claimed, ctx.started);
    client_limit.check()?;
    let (caller, _) = broker.authenticate(&http, Payload::Hash(sha256), "sts", None, now)?;
    record.set_caller(&caller);
    client_limit.charge(ClientKey::AccessKey(caller.claims.access_key_id.clone()))?;
    let input_role_arn = r.role_arn.clone();
    let input = assume_role_input(r, ctx.conn.remote.ip());
    let out = broker
        .assume_role(&caller, input, now)
        .map_err(with_proto_field_names)?;
    record.merge(AuditDecision {
        role_arn: Some(input_role_arn),
        session_name: None,
        source_identity: out.source_identity.clone(),
        issued_access_key_id: Some(out.credentials.access_key_id.clone()),
        expiration: Some(out.credentials.expiration),
    });
    Ok(AssumeRoleResponse {
        credentials: Some(credentials(&out.credentials)),
        assumed_role_arn: out.assumed_role_arn,
        assumed_role_id: out.assumed_role_id,
        packed_policy_size: out.packed_policy_size.unwrap_or(0),
        source_identity: out.source_identity.unwrap_or_default(),
        session_token_size: u32::try_from(out.credentials.session_token.len()).unwrap_or(u32::MAX),
    })
}

fn verify_request(
    ctx: &GrpcContext,
    r: VerifyRequestRequest,
    now: OffsetDateTime,
    record: &mut Record,
) -> Result<(VerifyRequestResponse, Option<ApiError>), ApiError> {
    let broker = &ctx.state.broker;
    // One snapshot for the whole call: the peer's anchor and the caller's session alike.
    let config = broker.config();
    let chain = peer_chain(broker, &ctx.conn, "VerifyRequest")?;
    record.set_certificate(chain.leaf.clone());
    record.trust_anchor = Some(trusted_peer(broker, &config, &chain, now)?);
    // Before the signature verifies, the event names the key the request claims and what it
    // asks about, as STS's does.
    let headers = r.headers.iter().map(|h| (h.name.as_str(), h.value.as_str()));
    record.access_key_id = claimed_access_key_id(headers, &r.query);
    if let Some(action) = &r.action {
        record.action = Some(action.clone());
        record.resource = Some(
            r.resource
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "*".to_owned()),
        );
    }
    let checked = checked_verify_request(r)?;
    let pairs: Vec<(&str, &str)> = checked
        .headers
        .iter()
        .map(|h| (h.name.as_str(), h.value.as_str()))
        .collect();
    let http = HttpRequest {
        method: &checked.method,
        path: &checked.path,
        query: &checked.query,
        headers: &pairs,
    };
    let (service, payload_hash, question) = (checked.service, checked.payload_hash, checked.question);
    let region = checked.region.as_deref();
    let verified = broker.authenticate_for_caller(config, &http, Payload::Hash(&payload_hash), &service, region, now);
    let (caller, signed) = match verified {
        Ok(verified) => verified,
        Err(e) => {
            let error_code = match e.reason {
                PAYLOAD_HASH_MISMATCH => "XAmzContentSHA256Mismatch",
                _ => e.sts_wire().1,
            };
            let answer = VerifyRequestResponse {
                valid: false,
                reason: e.message.clone(),
                error_code: error_code.to_owned(),
                ..Default::default()
            };
            return Ok((answer, Some(e)));
        }
    };
    record.set_caller(&caller);
    let (authorization, verdict) = match question {
        Some(input) => {
            let out = broker.authorize(&caller, &input, now)?;
            let verdict = denial(&caller, &input, &out);
            // The answer's `caller` names the session already.
            (Some(authorize_response(out, None)), verdict)
        }
        None => (None, None),
    };
    let answer = VerifyRequestResponse {
        valid: true,
        caller: Some(caller_message(&caller)),
        authorization,
        signed_headers: signed.signed_headers,
        ..Default::default()
    };
    Ok((answer, verdict))
}

/// A VerifyRequest whose arguments passed the checks made before its signature: the request
/// to verify as HTTP could have carried it, and the authorization question, if any.
struct CheckedVerifyRequest {
    method: String,
    /// `/` when the message left it empty.
    path: String,
    query: String,
    headers: Vec<crate::proto::Header>,
    service: String,
    region: Option<String>,
    payload_hash: String,
    question: Option<AuthorizeInput>,
}

/// Checks what a VerifyRequest carries before its signature is verified: arguments the
/// platform got wrong are INVALID_ARGUMENT for every request, not only for those that verify.
fn checked_verify_request(r: VerifyRequestRequest) -> Result<CheckedVerifyRequest, ApiError> {
    let method = required(r.method, "method")?;
    // What HTTP could have carried, as for the headers below: a method that is a token, an
    // origin-form path (a line feed in either could make two canonical forms alike).
    if http::Method::from_bytes(method.as_bytes()).is_err() {
        return Err(ApiError::validation(
            "bad-method",
            "method is no HTTP method: it must be a token (letters, digits and !#$%&'*+-.^_`|~).",
        ));
    }
    // '?' ends a path and '#' is never sent: a path holding either is a request target
    // passed whole (Go's RequestURI), whose signature could only fail.
    if !(r.path.is_empty() || r.path.starts_with('/'))
        || r.path.contains(|c: char| c.is_ascii_control() || c == '?' || c == '#')
    {
        return Err(ApiError::validation(
            "bad-path",
            "path is no HTTP path: it starts with '/' and holds no control characters, '?' or '#' (empty means '/'); \
             give the query string in query, without its '?'.",
        ));
    }
    let service = required(r.service, "service")?;
    // AWS's signing names and regions are lower case, and SigV4 compares them as written.
    let signing_name_byte = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
    scope_part(&service, "service", signing_name_byte)?;
    if !r.region.is_empty() {
        scope_part(&r.region, "region", signing_name_byte)?;
    }
    let payload_hash = payload_hash(&r.payload_hash, &service)?;
    if r.headers.len() > MAX_VERIFY_HEADERS {
        return Err(ApiError::validation(
            "too-many-headers",
            format!("A request to verify may carry at most {MAX_VERIFY_HEADERS} headers."),
        ));
    }
    // What HTTP could have carried: a name that is a token, a value without control characters
    // (a line feed in a value could make two requests' canonical forms alike).
    if let Some((i, _)) = r.headers.iter().enumerate().find(|(_, h)| {
        http::HeaderName::from_bytes(h.name.as_bytes()).is_err()
            || http::HeaderValue::from_bytes(h.value.as_bytes()).is_err()
    }) {
        return Err(ApiError::validation(
            "bad-header",
            format!(
                "headers[{i}] is no HTTP header: its name must be a token and its value free of control characters."
            ),
        ));
    }
    let region = (!r.region.is_empty()).then_some(r.region);
    // The authorization question is checked before the signature.
    let question = match r.action {
        Some(action) => {
            let input = AuthorizeInput {
                action,
                resource: r.resource.filter(|s| !s.is_empty()).unwrap_or_else(|| "*".to_owned()),
                context: context_pairs(r.context, r.context_values)?,
                // The request was made to the region its signature is scoped to (IAM's
                // aws:RequestedRegion), verified below: the default, unless the caller says.
                requested_region: region.clone(),
            };
            validate_authorize_input(&input)?;
            Some(input)
        }
        None => None,
    };
    Ok(CheckedVerifyRequest {
        method,
        path: match r.path.is_empty() {
            true => "/".to_owned(),
            false => r.path,
        },
        query: r.query,
        headers: r.headers,
        service,
        region,
        payload_hash,
        question,
    })
}

/// The three ARNs CreateSession requires (taken from `r`), checked as REST checks them.
fn required_arns(r: &mut CreateSessionRequest) -> Result<(String, String, String), ApiError> {
    let profile_arn = required_parameter(std::mem::take(&mut r.profile_arn), "profileArn", "profile_arn")?;
    let role_arn = required_parameter(std::mem::take(&mut r.role_arn), "roleArn", "role_arn")?;
    let trust_anchor_arn = required_parameter(
        std::mem::take(&mut r.trust_anchor_arn),
        "trustAnchorArn",
        "trust_anchor_arn",
    )?;
    check_arn_lengths(&profile_arn, &role_arn, &trust_anchor_arn)?;
    Ok((profile_arn, role_arn, trust_anchor_arn))
}

/// `e` with the `AssumeRoleRequest` field of each STS member its message cites (`Value '…' at
/// 'tags.2.member.key' …`, AWS's words, which STS clients read) named after it: a gRPC client
/// knows `tags[1].key`.
fn with_proto_field_names(mut e: ApiError) -> ApiError {
    let fields: Vec<String> = cited_members(&e.message)
        .filter_map(|member| Some(format!("'{member}' is {}", proto_field_of(member)?)))
        .collect();
    if !fields.is_empty() {
        e.message = format!("{} (AssumeRoleRequest fields: {}.)", e.message, fields.join(", "));
    }
    e
}

/// The members an STS validation message cites (`at 'roleSessionName'`), each once, in order.
fn cited_members(message: &str) -> impl Iterator<Item = &str> {
    let mut seen = Vec::new();
    message.split(" at '").skip(1).filter_map(move |rest| {
        let member = rest.split('\'').next()?;
        (!seen.contains(&member)).then(|| {
            seen.push(member);
            member
        })
    })
}

/// The `AssumeRoleRequest` field an STS member name stands for: `roleArn` → `role_arn`,
/// `tags.2.member.key` → `tags[1].key` (STS lists count from 1, proto's from 0).
fn proto_field_of(member: &str) -> Option<String> {
    // `2.member.key` of `tags`: `tags[1].key`.
    let listed = |rest: &str, field: &str| -> Option<String> {
        let (index, tail) = rest.split_once('.').unwrap_or((rest, ""));
        let position = index.parse::<usize>().ok()?.checked_sub(1)?;
        let name = tail.strip_prefix("member").unwrap_or(tail);
        Some(format!("{field}[{position}]{name}"))
    };
    Some(match member {
        "roleArn" => "role_arn".to_owned(),
        "roleSessionName" => "role_session_name".to_owned(),
        "durationSeconds" => "duration_seconds".to_owned(),
        "policy" => "policy".to_owned(),
        "externalId" => "external_id".to_owned(),
        "sourceIdentity" => "source_identity".to_owned(),
        "tags" => "tags".to_owned(),
        "policyArns" => "policy_arns".to_owned(),
        "transitiveTagKeys" => "transitive_tag_keys".to_owned(),
        _ => {
            if let Some(rest) = member.strip_prefix("tags.") {
                listed(rest, "tags")?
            } else if let Some(rest) = member.strip_prefix("policyArns.") {
                // `policyArns.1.member.arn` is the ARN itself: `policy_arns[0]`.
                listed(rest.trim_end_matches(".arn"), "policy_arns")?
            } else if let Some(rest) = member.strip_prefix("transitiveTagKeys.") {
                listed(rest, "transitive_tag_keys")?
            } else {
                return None;
            }
        }
    })
}

/// The broker input of an AssumeRole message from a client at `source_ip`.
fn assume_role_input(r: AssumeRoleRequest, source_ip: std::net::IpAddr) -> AssumeRoleInput {
    // proto3 cannot tell an empty string from a missing one: both are the member left out.
    let missing_members = [("roleArn", &r.role_arn), ("roleSessionName", &r.role_session_name)]
        .into_iter()
        .filter(|(_, value)| value.is_empty())
        .map(|(member, _)| member.to_owned())
        .collect();
    AssumeRoleInput {
        role_arn: r.role_arn,
        role_session_name: r.role_session_name,
        duration_seconds: r.duration_seconds.map(i64::from),
        policy: r.policy,
        policy_arns: r.policy_arns,
        tags: r.tags.into_iter().map(|t| (t.key, t.value)).collect(),
        transitive_tag_keys: r.transitive_tag_keys,
        external_id: r.external_id,
        serial_number: None,
        token_code: None,
        source_identity: r.source_identity,
        provided_contexts: Vec::new(),
        minimum_session_token_size: r.minimum_session_token_size.map(i64::from),
        source_ip: Some(source_ip),
        missing_members,
    }
}

/// Decodes `message` as the request of one `Sessions` method (`method` modulo 4:
/// CreateSession, AssumeRole, VerifyRequest, Authorize) and makes the checks of it that come
/// before a caller, a lookup or a signature is needed (the handlers' own, and the broker's
/// parameter checks): the entry point of the fuzz targets and property tests
/// ([`crate::fuzzing`]). Bytes that are no such message are refused as `undecodable-message`.
#[doc(hidden)]
pub(crate) fn check_untrusted(method: u8, message: &[u8]) -> Result<(), ApiError> {
    use prost::Message;
    let undecodable = |e: prost::DecodeError| ApiError::validation("undecodable-message", e.to_string());
    match method % 4 {
        0 => {
            let mut r = CreateSessionRequest::decode(message).map_err(undecodable)?;
            required_arns(&mut r).map(|_| ())
        }
        1 => {
            let r = AssumeRoleRequest::decode(message).map_err(undecodable)?;
            let input = assume_role_input(r, std::net::Ipv4Addr::LOCALHOST.into());
            crate::broker::steps::validate_assume_role_parameters(&input)
        }
        2 => checked_verify_request(VerifyRequestRequest::decode(message).map_err(undecodable)?).map(|_| ()),
        _ => {
            let r = AuthorizeRequest::decode(message).map_err(undecodable)?;
            required(r.session_token, "session_token")?;
            let input = AuthorizeInput {
                action: r.action,
                resource: match r.resource.is_empty() {
                    true => "*".to_owned(),
                    false => r.resource,
                },
                context: context_pairs(r.context, r.context_values)?,
                requested_region: None,
            };
            // What `Broker::authorize` checks first (in `authorization_context`).
            validate_authorize_input(&input)
        }
    }
}

/// The refusal an authorization decision is, for the audit trail and the metrics, in the
/// words AWS uses for an AccessDenied of the same kind; `None` when it allows.
fn denial(caller: &Caller, input: &AuthorizeInput, out: &AuthorizeOutput) -> Option<ApiError> {
    let who = caller.assumed_role_arn();
    let (action, resource) = (&input.action, &input.resource);
    let (reason, because) = match out.outcome {
        Outcome::Allow => return None,
        Outcome::ExplicitDeny => ("explicit-deny", format!("with an explicit deny in {}", out.policy)),
        // `Broker::authorize` answers this one with an error; refused all the same.
        Outcome::TooMuchMatching => ("too-much-matching", out.outcome.to_string()),
        Outcome::ImplicitDeny => (
            "implicit-deny",
            format!("because no identity-based policy allows the {action} action"),
        ),
    };
    Some(ApiError::access_denied(
        reason,
        format!("User: {who} is not authorized to perform: {action} on resource: {resource} {because}"),
    ))
}

fn authorize(
    ctx: &GrpcContext,
    r: AuthorizeRequest,
    now: OffsetDateTime,
    record: &mut Record,
) -> Result<(AuthorizeResponse, Option<ApiError>), ApiError> {
    let broker = &ctx.state.broker;
    // One snapshot for the whole call: the peer's anchor and the session alike.
    let config = broker.config();
    let chain = peer_chain(broker, &ctx.conn, "Authorize")?;
    record.set_certificate(chain.leaf.clone());
    record.trust_anchor = Some(trusted_peer(broker, &config, &chain, now)?);
    let resource = if r.resource.is_empty() {
        "*".to_owned()
    } else {
        r.resource
    };
    record.action = Some(r.action.clone());
    record.resource = Some(resource.clone());
    let token = required(r.session_token, "session_token")?;
    let caller = broker.session_caller_on(config, &token, now)?;
    record.set_caller(&caller);
    let input = AuthorizeInput {
        action: r.action,
        resource,
        context: context_pairs(r.context, r.context_values)?,
        requested_region: None,
    };
    let out = broker.authorize(&caller, &input, now)?;
    let verdict = denial(&caller, &input, &out);
    Ok((authorize_response(out, Some(caller_message(&caller))), verdict))
}

/// The access key id a request claims (an AssumeRole call, a request to verify): of its
/// `Authorization` header, or of the `X-Amz-Credential` of its query (presigned).
fn claimed_access_key_id<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>, query: &str) -> Option<String> {
    let authorization = headers
        .into_iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .map(|(_, value)| value);
    crate::sigv4::claimed_access_key_id(authorization, query)
}

/// The metadata as SigV4 headers: every ASCII entry, plus `host` = the `:authority` when the
/// client sent no `host` entry (HTTP/2 carries the host in `:authority`).
fn signed_metadata<'a>(metadata: &'a MetadataMap, authority: &'a str) -> Vec<(&'a str, &'a str)> {
    let headers: &http::HeaderMap = metadata.as_ref();
    let mut out: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
        .collect();
    if !out.iter().any(|(k, _)| *k == "host") {
        out.push(("host", authority));
    }
    out
}

/// A required CreateSession parameter; InvalidArgument when empty, in REST's words with the
/// protobuf field's name.
fn required_parameter(value: String, parameter: &str, field: &str) -> Result<String, ApiError> {
    non_empty(value, || {
        format!("Missing required parameter {parameter} (field {field}).")
    })
}

/// A required string field; InvalidArgument naming the field when empty.
fn required(value: String, field: &str) -> Result<String, ApiError> {
    non_empty(value, || format!("Missing required field {field}."))
}

/// A credential scope part the platform names (`service`, `region`): at most 64 bytes that
/// `allowed` accepts, else InvalidArgument naming the field — a wildcard or a misspelt region is the
/// caller's mistake, not a signature that does not match.
fn scope_part(value: &str, field: &str, allowed: impl Fn(u8) -> bool) -> Result<(), ApiError> {
    if value.len() <= 64 && value.bytes().all(allowed) {
        return Ok(());
    }
    Err(ApiError::validation(
        "bad-scope",
        format!(
            "{field} must be a signing name as requests are scoped to it (such as {}: lower-case letters, digits and \
             hyphens), of at most 64 characters.",
            match field {
                "region" => "us-east-1",
                _ => "execute-api",
            }
        ),
    ))
}

/// `value`, or InvalidArgument with `missing()` when it is empty (proto3's "not sent").
fn non_empty(value: String, missing: impl FnOnce() -> String) -> Result<String, ApiError> {
    match value.is_empty() {
        true => Err(ApiError::validation("missing-parameter", missing())),
        false => Ok(value),
    }
}

/// 64 hex digits (lower-cased, as in the canonical request), `UNSIGNED-PAYLOAD` or
/// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: the values whose signature covers the whole request
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html>). The
/// signed-chunk forms are refused, since their chunks' signatures are not verified here.
fn payload_hash(value: &str, service: &str) -> Result<String, ApiError> {
    if let Some(marker) = unsigned_marker(value) {
        return match crate::sigv4::is_s3_family(service) {
            true => Ok(marker.to_owned()),
            // The platform's own two fields say it: refused before any signature is checked.
            false => Err(ApiError::validation(
                "bad-payload-hash",
                SigV4Error::UnsignedPayloadOutsideS3 {
                    marker,
                    service: service.to_owned(),
                }
                .to_string(),
            )),
        };
    }
    if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(value.to_ascii_lowercase());
    }
    if value.starts_with("STREAMING-") {
        // Named when it has the shape of one of those markers (it is echoed in the status).
        let shown = match value.len() <= 64
            && value
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
        {
            true => value,
            false => "STREAMING-…",
        };
        return Err(ApiError::validation(
            "bad-payload-hash",
            format!(
                "payload_hash {shown} is a body sent in signed chunks; VerifyRequest does not verify chunk signatures, so it cannot vouch for such a request."
            ),
        ));
    }
    Err(ApiError::validation(
        "bad-payload-hash",
        "payload_hash must be the hex SHA-256 of the body (64 hex digits), UNSIGNED-PAYLOAD or STREAMING-UNSIGNED-PAYLOAD-TRAILER.",
    ))
}

/// The context keys of a request, one pair per value, in a stable order: the single-valued
/// `context` and the multi-valued `context_values`. A key in both maps is refused here (in
/// another spelling, [`crate::broker::authorization_context`] refuses it), and a key without
/// values: an empty set is not a context key's value.
fn context_pairs(
    context: std::collections::HashMap<String, String>,
    context_values: std::collections::HashMap<String, ContextValues>,
) -> Result<Vec<(String, String)>, ApiError> {
    // Bounded before anything compares keys with each other (in another spelling they are one
    // key, which the broker counts again).
    if context.len() + context_values.len() > MAX_CONTEXT_KEYS {
        return Err(ApiError::validation(
            "too-many-context-keys",
            format!("At most {MAX_CONTEXT_KEYS} context keys may be supplied."),
        ));
    }
    if let Some((key, values)) = context_values
        .iter()
        .find(|(_, v)| v.values.len() > MAX_CONTEXT_KEY_VALUES)
    {
        return Err(ApiError::validation(
            "too-many-context-values",
            format!(
                "The context key '{key}' has {} values; at most {MAX_CONTEXT_KEY_VALUES} are accepted.",
                values.values.len()
            ),
        ));
    }
    let mut pairs: Vec<(String, String)> = context.into_iter().collect();
    pairs.sort();
    let mut multi: Vec<(String, ContextValues)> = context_values.into_iter().collect();
    multi.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, values) in multi {
        if pairs.iter().any(|(k, _)| *k == key) {
            return Err(ApiError::validation(
                "context-key-twice",
                format!("The context key '{key}' is in both context and context_values."),
            ));
        }
        if values.values.is_empty() {
            return Err(ApiError::validation(
                "empty-context-values",
                format!("The context key '{key}' in context_values has no values; give at least one."),
            ));
        }
        pairs.extend(values.values.into_iter().map(|v| (key.clone(), v)));
    }
    Ok(pairs)
}

fn credentials(c: &session::Credentials) -> Credentials {
    Credentials {
        access_key_id: c.access_key_id.clone(),
        secret_access_key: c.secret_access_key.as_str().to_owned(),
        session_token: c.session_token.clone(),
        expiration: format_expiration(c.expiration),
    }
}

fn caller_message(caller: &Caller) -> crate::proto::Caller {
    crate::proto::Caller {
        role_arn: caller.role.arn.as_str().to_owned(),
        assumed_role_arn: caller.assumed_role_arn(),
        session_name: caller.claims.session_name.clone(),
        account: caller.role.arn.account().as_str().to_owned(),
        tags: caller
            .claims
            .tags
            .iter()
            .map(|(key, value)| Tag {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
        source_identity: caller.claims.source_identity.clone().unwrap_or_default(),
        expiration: format_expiration(caller.claims.expires_at),
        access_key_id: caller.claims.access_key_id.clone(),
    }
}

/// The answer of a decision `out`, naming `caller` when given.
fn authorize_response(out: AuthorizeOutput, caller: Option<crate::proto::Caller>) -> AuthorizeResponse {
    let decision = match out.outcome {
        Outcome::Allow => Decision::Allow,
        Outcome::ExplicitDeny => Decision::ExplicitDeny,
        Outcome::ImplicitDeny | Outcome::TooMuchMatching => Decision::ImplicitDeny,
    };
    AuthorizeResponse {
        decision: decision.into(),
        policy: out.policy,
        statement_index: out.statement_index.and_then(|i| i32::try_from(i).ok()).unwrap_or(-1),
        statement_sid: out.statement_sid.unwrap_or_default(),
        explanation: out.explanation,
        caller,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_hash_rules() {
        let hex = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        assert_eq!(payload_hash(hex, "s3").unwrap(), hex.to_ascii_lowercase());
        assert_eq!(payload_hash("UNSIGNED-PAYLOAD", "s3").unwrap(), "UNSIGNED-PAYLOAD");
        let trailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
        assert_eq!(payload_hash(trailer, "s3").unwrap(), trailer);
        assert_eq!(
            payload_hash("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "s3")
                .unwrap_err()
                .message,
            "payload_hash STREAMING-AWS4-HMAC-SHA256-PAYLOAD is a body sent in signed chunks; VerifyRequest does not verify chunk signatures, so it cannot vouch for such a request."
        );
        assert_eq!(
            payload_hash("STREAMING-secret/value", "s3").unwrap_err().message,
            "payload_hash STREAMING-… is a body sent in signed chunks; VerifyRequest does not verify chunk signatures, so it cannot vouch for such a request."
        );
        // Outside the S3 family an unsigned payload would leave the body unauthenticated.
        assert_eq!(
            payload_hash(trailer, "execute-api").unwrap_err().message,
            "payload_hash STREAMING-UNSIGNED-PAYLOAD-TRAILER is accepted for the S3 family only (s3, s3-object-lambda, \
             s3-outposts, s3express), not for 'execute-api': the body would go unauthenticated; give the SHA-256 of the \
             body."
        );
        assert_eq!(payload_hash(hex, "execute-api").unwrap(), hex.to_ascii_lowercase());
        for bad in ["", "unsigned-payload", "abc", &hex[1..]] {
            assert_eq!(payload_hash(bad, "s3").unwrap_err().reason, "bad-payload-hash", "{bad}");
        }
    }

    #[test]
    fn metadata_gets_host_from_authority_unless_sent() {
        let mut m = MetadataMap::new();
        m.insert("x-amz-date", "20250101T000000Z".parse().unwrap());
        let h = signed_metadata(&m, "127.0.0.1:8443");
        assert!(h.contains(&("host", "127.0.0.1:8443")));
        m.insert("host", "example".parse().unwrap());
        let h = signed_metadata(&m, "127.0.0.1:8443");
        assert_eq!(h.iter().filter(|(k, _)| *k == "host").count(), 1);
        assert!(h.contains(&("host", "example")));
    }

    /// An STS validation message names each member it cites with its proto field.
    #[test]
    fn validation_messages_name_the_proto_fields() {
        let e = ApiError::validation(
            "validation",
            "3 validation errors detected: Value 'a b' at 'roleSessionName' failed to satisfy constraint: x; \
             Value null at 'tags.2.member.key' failed to satisfy constraint: y; \
             Value 'z' at 'roleSessionName' failed to satisfy constraint: w",
        );
        let named = with_proto_field_names(e);
        assert!(
            named.message.ends_with(
                " (AssumeRoleRequest fields: 'roleSessionName' is role_session_name, 'tags.2.member.key' is tags[1].key.)"
            ),
            "{}",
            named.message
        );
        for (member, field) in [
            ("policyArns.3.member.arn", "policy_arns[2]"),
            ("transitiveTagKeys.1.member", "transitive_tag_keys[0]"),
            ("tags.1.member.value", "tags[0].value"),
            ("durationSeconds", "duration_seconds"),
        ] {
            assert_eq!(proto_field_of(member).as_deref(), Some(field), "{member}");
        }
        assert_eq!(proto_field_of("policyArns").as_deref(), Some("policy_arns"));
        assert_eq!(proto_field_of("tags.0.member.key"), None);
        assert_eq!(proto_field_of("providedContexts"), None);
        // A message citing nothing is left as it is.
        let plain = with_proto_field_names(ApiError::validation(
            "duration",
            "The requested DurationSeconds exceeds",
        ));
        assert_eq!(plain.message, "The requested DurationSeconds exceeds");
    }

    #[test]
    fn implicit_deny_without_statement_is_index_minus_one() {
        let r = authorize_response(
            AuthorizeOutput {
                outcome: Outcome::ImplicitDeny,
                policy: String::new(),
                statement_index: None,
                statement_sid: None,
                explanation: "x".into(),
            },
            None,
        );
        assert_eq!((r.decision(), r.statement_index), (Decision::ImplicitDeny, -1));
    }
}
