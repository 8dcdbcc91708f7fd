//! The STS Query API (<https://docs.aws.amazon.com/STS/latest/APIReference/>): `POST /` with a
//! form body, or `GET /?Action=…` (plain or presigned), `Version=2011-06-15`, authenticated by
//! SigV4 with rolegate session credentials. Answers are the XML AWS STS sends, in namespace
//! `https://sts.amazonaws.com/doc/2011-06-15/`, with `x-amzn-RequestId` — or, for a client that
//! sends `Accept: application/json` (aws-iam-authenticator-style verifiers of presigned
//! GetCallerIdentity URLs), the same documents as STS writes them in JSON.

use std::borrow::Cow;
use std::fmt::Write as _;

use bytes::Bytes;
use time::OffsetDateTime;

use super::http::{HttpResponse, RequestParts, json_response, response, with_reason};
use crate::audit::Record;
use crate::broker::{
    AssumeRoleInput, AssumeRoleOutput, Broker, Caller, IamUserTokenInput, Payload, ProvidedContext,
    validate_get_federation_token, validate_get_session_token,
};
use crate::error::{ApiError, ErrorCode, shown_if_shaped};
use crate::ratelimit::{ClientKey, ClientLimit};
use crate::session::format_expiration;
use crate::sigv4::HttpRequest;

/// The XML namespace of every STS answer.
pub const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// The one API version STS has.
pub const VERSION: &str = "2011-06-15";
/// The SigV4 service name in the credential scope.
pub const SERVICE: &str = "sts";

/// How an answer is written: STS's XML, or its JSON rendering of the same document for a
/// client whose `Accept` names `application/json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Xml,
    Json,
}

impl Format {
    /// The format `req` asks for ([`Format::from_accept`] of its `Accept` header).
    pub fn of(req: &RequestParts) -> Format {
        Format::from_accept(req.header("accept"))
    }

    /// JSON when a media range of `accept` is `application/json` with a weight above 0
    /// (RFC 9110 §12.5.1: `q=0` means "not acceptable"), else XML.
    pub fn from_accept(accept: Option<&str>) -> Format {
        let acceptable_json = |range: &str| {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default();
            let weight = parts
                .filter_map(|p| p.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
                .map_or(Some(1.0), |(_, q)| q.trim().parse::<f32>().ok());
            media.eq_ignore_ascii_case("application/json") && weight.is_some_and(|q| q > 0.0)
        };
        match accept.is_some_and(|a| a.split(',').any(acceptable_json)) {
            true => Format::Json,
            false => Format::Xml,
        }
    }
}

/// Most form parameters accepted in one request (50 tags × 2 + policies + the rest).
const MAX_PARAMETERS: usize = 256;

/// An STS Query request read once, before anything is authenticated: its parameters. The
/// edge names the client and fills the audit record from it, then [`handle`] decides on it.
pub struct StsRequest {
    params: Result<Params, ApiError>,
}

impl StsRequest {
    pub fn read(req: &RequestParts, body: &Bytes) -> Self {
        Self {
            params: Params::parse(req, body),
        }
    }

    /// The request's `Action` when it is one STS takes unsigned ([`UNSIGNED_STS_ACTIONS`]).
    fn unsigned_action(&self) -> Option<&'static str> {
        let action = self.params.as_ref().ok()?.get("Action")?;
        UNSIGNED_STS_ACTIONS.into_iter().find(|a| *a == action)
    }

    /// The `Action` parameter, when the parameters parse.
    pub fn action(&self) -> Option<&str> {
        self.params.as_ref().ok()?.get("Action")
    }

    /// Fills the audit record with what the request asks for and names the client whose
    /// per-client bucket it draws from: the access key id it is signed with.
    pub fn describe(&self, req: &RequestParts, record: &mut Record) -> Option<ClientKey> {
        if let Ok(params) = &self.params {
            let param = |name| params.get(name).map(str::to_owned);
            record.role = param("RoleArn");
            record.session_name = param("RoleSessionName");
            record.source_identity = param("SourceIdentity");
        }
        let akid = crate::sigv4::claimed_access_key_id(req.header("authorization"), &req.query)?;
        record.access_key_id = Some(akid.clone());
        Some(ClientKey::AccessKey(akid))
    }
}

/// Whether the body is `application/x-www-form-urlencoded` (parameters may follow).
fn is_form(req: &RequestParts) -> bool {
    is_form_content_type(req.header("content-type"))
}

/// Whether `content_type`'s media type is `application/x-www-form-urlencoded` (parameters
/// may follow; `; charset=utf-8` and other parameters aside, RFC 9110 §8.3.1).
pub(super) fn is_form_content_type(content_type: Option<&str>) -> bool {
    const FORM: &str = "application/x-www-form-urlencoded";
    content_type
        .map(|c| c.split(';').next().unwrap_or_default().trim_matches([' ', '\t']))
        .is_some_and(|media_type| media_type.eq_ignore_ascii_case(FORM))
}

/// One STS Query request: authenticate, dispatch on `Action`, render XML.
pub fn handle(
    broker: &Broker,
    req: &RequestParts,
    body: &Bytes,
    request: StsRequest,
    client_limit: &ClientLimit,
    record: &mut Record,
    now: OffsetDateTime,
) -> Result<HttpResponse, ApiError> {
    let headers = req.header_pairs();
    let http = HttpRequest {
        method: req.method.as_str(),
        path: &req.path,
        query: &req.query,
        headers: &headers,
    };
    // The parameters travel in the body, so it must be signed: no UNSIGNED-PAYLOAD.
    let authenticated = broker.authenticate(
        &http,
        Payload::Body {
            bytes: body,
            allow_unsigned: false,
        },
        SERVICE,
        None,
        now,
    );
    let (caller, _) = match authenticated {
        // STS answers these without a signature: "sign the request" would mislead.
        Err(e) if e.code == ErrorCode::MissingAuthenticationToken => match request.unsigned_action() {
            Some(action) => return Err(unsupported_action(action)),
            None => return Err(e),
        },
        other => other?,
    };
    record.set_caller(&caller);
    // The signature proved the access key: its bucket pays for the request from here on.
    client_limit.charge(ClientKey::AccessKey(caller.claims.access_key_id.clone()))?;
    // Parameters are judged once the caller is authenticated, as AWS does.
    let params = request.params?;
    match params.get("Version") {
        Some(VERSION) => {}
        Some(v) => return Err(invalid_action(params.get("Action").unwrap_or(""), v)),
        None => {
            return Err(ApiError::new(
                ErrorCode::InvalidAction,
                "missing-version",
                format!(
                    "The parameter Version is required; use 2011-06-15.{}",
                    unread_body_hint(req, body)
                ),
            ));
        }
    }
    let format = Format::of(req);
    match params.get("Action") {
        Some("GetCallerIdentity") => {
            record.merge(crate::audit::Decision {
                role_arn: Some(caller.claims.role_arn.clone()),
                session_name: Some(caller.claims.session_name.clone()),
                source_identity: caller.claims.source_identity.clone(),
                issued_access_key_id: None,
                expiration: None,
            });
            Ok(match format {
                Format::Xml => xml_ok(get_caller_identity_xml(&caller, &req.request_id)),
                Format::Json => json_ok(get_caller_identity_json(&caller, &req.request_id)),
            })
        }
        Some("AssumeRole") => {
            let input = assume_role_input(&params, req)?;
            let role_arn = input.role_arn.clone();
            let session_name = input.role_session_name.clone();
            let out = broker.assume_role(&caller, input, now)?;
            record.merge(crate::audit::Decision {
                role_arn: Some(role_arn),
                session_name: Some(session_name),
                source_identity: out.source_identity.clone(),
                issued_access_key_id: Some(out.credentials.access_key_id.clone()),
                expiration: Some(out.credentials.expiration),
            });
            Ok(match format {
                Format::Xml => xml_ok(assume_role_xml(&out, &req.request_id)),
                Format::Json => json_ok(assume_role_json(&out, &req.request_id)),
            })
        }
        // What STS answers any session credentials (every rolegate credential is one).
        // validated first, as STS does.
        Some(action @ ("GetSessionToken" | "GetFederationToken")) => {
            validate_iam_user_token(action, &params)?;
            Err(ApiError::access_denied(
                "session-credentials",
                format!("Cannot call {action} with session credentials"),
            ))
        }
        Some(other) if OTHER_STS_ACTIONS.contains(&other) => Err(unsupported_action(other)),
        Some(other) => Err(invalid_action(other, VERSION)),
        None => Err(ApiError::new(
            ErrorCode::MissingAction,
            "missing-action",
            format!("The parameter Action is required.{}", unread_body_hint(req, body)),
        )),
    }
}

/// When a parameter is missing and the request has a body that was not read for parameters
/// (not form-encoded), the reason: the parameters are likely in it.
fn unread_body_hint(req: &RequestParts, body: &Bytes) -> &'static str {
    match body.is_empty() || is_form(req) {
        true => "",
        false => {
            " The request body was not read: parameters in a body need Content-Type: application/x-www-form-urlencoded."
        }
    }
}

/// An action of STS that rolegate does not implement, named as such rather than as unknown.
fn unsupported_action(action: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidAction,
        "unsupported-action",
        format!("rolegate does not implement the STS action {action}; it serves AssumeRole and GetCallerIdentity."),
    )
}

/// The actions STS takes without a signature (the identity provider's assertion or token is
/// the proof): a client sends them unsigned.
const UNSIGNED_STS_ACTIONS: [&str; 2] = ["AssumeRoleWithSAML", "AssumeRoleWithWebIdentity"];

/// The actions of STS 2011-06-15 that rolegate serves.
const SERVED_STS_ACTIONS: [&str; 4] = [
    "AssumeRole",
    "GetCallerIdentity",
    "GetFederationToken",
    "GetSessionToken",
];

/// The actions of STS 2011-06-15 that rolegate does not implement: named as such rather than
/// as unknown.
const OTHER_STS_ACTIONS: [&str; 8] = [
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "AssumeRoot",
    "DecodeAuthorizationMessage",
    "GetAccessKeyInfo",
    "GetDelegatedAccessToken",
    "GetScopedCredentials",
    "GetWebIdentityToken",
];

/// The `operation` label of an STS request: an action of STS 2011-06-15 (served or not), or
/// `Other` (the label set must stay bounded whatever clients send).
pub fn operation_label(action: Option<&str>) -> &'static str {
    action
        .and_then(|a| SERVED_STS_ACTIONS.iter().chain(&OTHER_STS_ACTIONS).find(|k| **k == a))
        .copied()
        .unwrap_or("Other")
}

/// AWS's answer to an unknown `Action` or `Version`, naming both as far as they have the
/// shape of one (a stray value may be a secret, and the message reaches the audit log).
fn invalid_action(action: &str, version: &str) -> ApiError {
    let version = match version.len() <= 16 && version.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        true => version,
        false => "…",
    };
    ApiError::new(
        ErrorCode::InvalidAction,
        "invalid-action",
        format!(
            "Could not find operation {} for version {version}",
            shown_action(action)
        ),
    )
}

/// An action for a message: as sent when it has the shape of one (letters only, as every STS
/// action is), else `…`: a stray value there may be a secret key, which holds digits.
fn shown_action(action: &str) -> &str {
    shown_if_shaped(action, 64, |b| b.is_ascii_alphabetic())
}

/// A parameter name for a message: as sent when it has the shape of one (letters, digits and
/// dots, at most 64), else `…` (a client's stray value may be a secret).
fn shown_name(name: &str) -> &str {
    shown_if_shaped(name, 64, |b| b.is_ascii_alphanumeric() || b == b'.')
}

/// The list parameters of `AssumeRole`, with their members' fields (none: a list of strings).
const ASSUME_ROLE_LISTS: [(&str, &[&str]); 4] = [
    ("PolicyArns", &["arn"]),
    ("Tags", &["Key", "Value"]),
    ("TransitiveTagKeys", &[]),
    ("ProvidedContexts", &["ProviderArn", "ContextAssertion"]),
];

/// The list parameters of `GetFederationToken` (`GetSessionToken` takes none).
const FEDERATION_TOKEN_LISTS: [(&str, &[&str]); 2] = [("PolicyArns", &["arn"]), ("Tags", &["Key", "Value"])];

/// The query-string and form-body parameters, signature parameters excluded.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(req: &RequestParts, body: &Bytes) -> Result<Self, ApiError> {
        let mut out = Vec::new();
        let sources: [&[u8]; 2] = [req.query.as_bytes(), if is_form(req) { body } else { &[] }];
        for source in sources {
            super::form::check_syntax(source)?;
            for (k, v) in form_urlencoded::parse(source) {
                if k.starts_with("X-Amz-") {
                    continue;
                }
                if out.len() == MAX_PARAMETERS {
                    return Err(ApiError::validation(
                        "too-many-parameters",
                        format!("The request has more than {MAX_PARAMETERS} parameters."),
                    ));
                }
                out.push((k.into_owned(), v.into_owned()));
            }
        }
        // One name with two values is ambiguous (`Action=GetCallerIdentity&Action=AssumeRole`):
        // refused rather than resolved by order. The same value twice is harmless.
        let conflicting = out
            .iter()
            .enumerate()
            .find(|(i, (k, v))| out[..*i].iter().any(|(k2, v2)| k2 == k && v2 != v));
        if let Some((_, (name, _))) = conflicting {
            return Err(ApiError::validation(
                "conflicting-parameter",
                format!(
                    "The parameter {} is given more than once, with different values.",
                    shown_name(name)
                ),
            ));
        }
        Ok(Self(out))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Refuses a parameter under `list.` that names no member of the list: a list of
    /// structures takes `list.member.N.Field` for each of `fields`, a list of strings (`fields`
    /// empty) `list.member.N`. A misspelt field (`PolicyArns.member.1.Arn`) would otherwise be
    /// dropped in silence, and with it a session policy the caller asked for. `list` alone is
    /// an empty list, as the SDKs send one.
    fn check_member_names(&self, list: &str, fields: &[&str]) -> Result<(), ApiError> {
        let named_member = |rest: &str| {
            let Some(member) = rest.strip_prefix("member.") else {
                return false;
            };
            match member.split_once('.') {
                Some((_, field)) => fields.contains(&field),
                None => fields.is_empty(),
            }
        };
        let stray = self
            .0
            .iter()
            .filter_map(|(k, _)| k.strip_prefix(list)?.strip_prefix('.').map(|rest| (k, rest)))
            .find(|(_, rest)| !named_member(rest));
        let Some((name, _)) = stray else {
            return Ok(());
        };
        let form = match fields {
            [] => format!("{list}.member.N"),
            [field] => format!("{list}.member.N.{field}"),
            [first @ .., last] => {
                let first: Vec<String> = first.iter().map(|f| format!("{list}.member.N.{f}")).collect();
                format!("{} and {list}.member.N.{last}", first.join(", "))
            }
        };
        Err(ApiError::validation(
            "bad-member",
            format!(
                "Invalid parameter name {}: the members of {list} are written {form}.",
                shown_name(name)
            ),
        ))
    }

    /// [`Params::check_member_names`] of each of `lists`, the list parameters an action takes
    /// ([`ASSUME_ROLE_LISTS`], [`FEDERATION_TOKEN_LISTS`]).
    fn check_list_members(&self, lists: &[(&str, &[&str])]) -> Result<(), ApiError> {
        lists
            .iter()
            .try_for_each(|(list, fields)| self.check_member_names(list, fields))
    }

    /// The values of [`Params::members`], in order.
    fn values(&self, prefix: &str, suffix: Option<&str>) -> Result<Vec<String>, ApiError> {
        Ok(self.members(prefix, suffix)?.into_iter().map(|(_, v)| v).collect())
    }

    /// `Prefix.member.N` (and `Prefix.member.N.Suffix`) values ordered by N; of a repeated
    /// name, the first value, as [`Params::get`] takes it.
    fn members(&self, prefix: &str, suffix: Option<&str>) -> Result<Vec<(u32, String)>, ApiError> {
        let mut found = Vec::new();
        let head = format!("{prefix}.member.");
        for (k, v) in &self.0 {
            let Some(rest) = k.strip_prefix(&head) else { continue };
            let (index, tail) = match rest.split_once('.') {
                Some((i, t)) => (i, Some(t)),
                None => (rest, None),
            };
            if tail != suffix {
                continue;
            }
            // Written as AWS writes them: `01` or `+1` would be a second name for member 1.
            let n: u32 = index
                .parse()
                .ok()
                .filter(|n: &u32| *n >= 1 && n.to_string() == index)
                .ok_or_else(|| {
                    ApiError::validation(
                        "bad-member",
                        format!(
                            "Invalid parameter name {}: member indexes start at 1, with no sign or leading zero.",
                            shown_name(k)
                        ),
                    )
                })?;
            if !found.iter().any(|(m, _)| *m == n) {
                found.push((n, v.clone()));
            }
        }
        found.sort_by_key(|(n, _)| *n);
        Ok(found)
    }
}

fn assume_role_input(params: &Params, req: &RequestParts) -> Result<AssumeRoleInput, ApiError> {
    params.check_list_members(&ASSUME_ROLE_LISTS)?;
    let mut missing_members = Vec::new();
    let mut required = |name: &str| match params.get(name) {
        Some(value) => value.to_owned(),
        None => {
            missing_members.push(lower_first(name));
            String::new()
        }
    };
    let role_arn = required("RoleArn");
    let role_session_name = required("RoleSessionName");
    let duration_seconds = integer(params, "DurationSeconds", "bad-duration")?;
    let minimum_session_token_size = integer(params, "MinimumSessionTokenSize", "bad-token-size")?;
    let tags = tags(params, &mut missing_members)?;
    Ok(AssumeRoleInput {
        role_arn,
        role_session_name,
        duration_seconds,
        policy: params.get("Policy").map(str::to_owned),
        policy_arns: params.values("PolicyArns", Some("arn"))?,
        tags,
        transitive_tag_keys: params.values("TransitiveTagKeys", None)?,
        external_id: params.get("ExternalId").map(str::to_owned),
        serial_number: params.get("SerialNumber").map(str::to_owned),
        token_code: params.get("TokenCode").map(str::to_owned),
        source_identity: params.get("SourceIdentity").map(str::to_owned),
        provided_contexts: provided_contexts(params)?,
        minimum_session_token_size,
        source_ip: Some(req.remote.ip()),
        missing_members,
    })
}

/// Validates the parameters of `GetSessionToken` or `GetFederationToken` (`action`) as AWS's
/// model says.
fn validate_iam_user_token(action: &str, params: &Params) -> Result<(), ApiError> {
    // GetSessionToken takes no list: what a request sends under those names is ignored, as
    // any parameter an action does not take.
    let federation = action == "GetFederationToken";
    if federation {
        params.check_list_members(&FEDERATION_TOKEN_LISTS)?;
    }
    let mut missing_members = Vec::new();
    let tags = match federation {
        true => tags(params, &mut missing_members)?,
        false => Vec::new(),
    };
    let input = IamUserTokenInput {
        name: params.get("Name").map(str::to_owned),
        duration_seconds: integer(params, "DurationSeconds", "bad-duration")?,
        serial_number: params.get("SerialNumber").map(str::to_owned),
        token_code: params.get("TokenCode").map(str::to_owned),
        policy: params.get("Policy").map(str::to_owned),
        policy_arns: match federation {
            true => params.values("PolicyArns", Some("arn"))?,
            false => Vec::new(),
        },
        tags,
        minimum_session_token_size: integer(params, "MinimumSessionTokenSize", "bad-token-size")?,
        missing_members,
    };
    match action {
        "GetSessionToken" => validate_get_session_token(&input),
        _ => validate_get_federation_token(&input),
    }
}

/// `ProvidedContexts.member.N.ProviderArn` and `.ContextAssertion`, in the order of N (both
/// members are optional in the model).
fn provided_contexts(params: &Params) -> Result<Vec<ProvidedContext>, ApiError> {
    let arns = params.members("ProvidedContexts", Some("ProviderArn"))?;
    let assertions = params.members("ProvidedContexts", Some("ContextAssertion"))?;
    let mut indexes: Vec<u32> = arns.iter().chain(&assertions).map(|(n, _)| *n).collect();
    indexes.sort_unstable();
    indexes.dedup();
    let at = |list: &[(u32, String)], n: u32| list.iter().find(|(m, _)| *m == n).map(|(_, v)| v.clone());
    Ok(indexes
        .into_iter()
        .map(|n| ProvidedContext {
            provider_arn: at(&arns, n),
            context_assertion: at(&assertions, n),
        })
        .collect())
}

/// An integer parameter, when given. A value that is not one is quoted only when it is no
/// longer than an integer can be (20 characters).
fn integer(params: &Params, name: &str, reason: &'static str) -> Result<Option<i64>, ApiError> {
    let Some(value) = params.get(name) else {
        return Ok(None);
    };
    value.parse::<i64>().map(Some).map_err(|_| {
        let shown = if value.chars().count() <= 20 { value } else { "…" };
        ApiError::validation(
            reason,
            format!("Value '{shown}' for parameter {name} is invalid: not an integer."),
        )
    })
}

/// `Tags.member.N.Key` and `.Value`, in the order of N. A tag needs both (`Tag` requires
/// them): a missing one is left empty and added to `missing` at the tag's position in the
/// list, as AWS reports it.
fn tags(params: &Params, missing: &mut Vec<String>) -> Result<Vec<(String, String)>, ApiError> {
    let keys = params.members("Tags", Some("Key"))?;
    let values = params.members("Tags", Some("Value"))?;
    let mut indexes: Vec<u32> = keys.iter().chain(&values).map(|(n, _)| *n).collect();
    indexes.sort_unstable();
    indexes.dedup();
    let mut tags = Vec::with_capacity(indexes.len());
    for (position, n) in (1..).zip(indexes) {
        let mut find = |list: &[(u32, String)], member: &str| match list.iter().find(|(m, _)| *m == n) {
            Some((_, v)) => v.clone(),
            None => {
                missing.push(format!("tags.{position}.member.{member}"));
                String::new()
            }
        };
        tags.push((find(&keys, "key"), find(&values, "value")));
    }
    Ok(tags)
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `s` as XML character data: markup characters escaped, and each character XML 1.0 does not
/// allow in a document at all, even as a reference (the C0 controls but tab, line feed and
/// carriage return; U+FFFE and U+FFFF; XML 1.0 §2.2 `Char`), written as the text `\uXXXX`. A
/// client's value quoted in an error message can hold any of them, and one would make the
/// whole response unparseable.
fn esc(s: &str) -> Cow<'_, str> {
    // Printable ASCII without markup, the common case (ARNs, names), in one pass.
    if s.bytes().all(|b| (0x20..0x7f).contains(&b) && !b"<>&'\"".contains(&b)) {
        return Cow::Borrowed(s);
    }
    if s.chars().all(is_xml_char) {
        return quick_xml::escape::escape(s);
    }
    let mut shown = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_xml_char(c) {
            shown.push(c);
        } else {
            // Writing to a String cannot fail.
            let _ = write!(shown, "\\u{:04X}", u32::from(c));
        }
    }
    Cow::Owned(quick_xml::escape::escape(&shown).into_owned())
}

/// XML 1.0 §2.2: `Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]`
/// (a Rust `char` is never a surrogate).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

fn xml_ok(xml: String) -> HttpResponse {
    response(200, "text/xml", Bytes::from(xml))
}

fn json_ok(json: serde_json::Value) -> HttpResponse {
    json_response(200, &json)
}

/// GetCallerIdentity's document in JSON, as STS writes it for `Accept: application/json`.
fn get_caller_identity_json(caller: &Caller, request_id: &str) -> serde_json::Value {
    serde_json::json!({
        "GetCallerIdentityResponse": {
            "GetCallerIdentityResult": {
                "Account": caller.role.arn.account().as_str(),
                "Arn": caller.assumed_role_arn(),
                "UserId": format!("{}:{}", caller.claims.role_id, caller.claims.session_name),
            },
            "ResponseMetadata": { "RequestId": request_id },
        }
    })
}

/// AssumeRole's document in JSON: the members of [`assume_role_xml`], the expiration in epoch
/// seconds (as AWS's JSON protocols write timestamps), absent optional members as `null`.
fn assume_role_json(out: &AssumeRoleOutput, request_id: &str) -> serde_json::Value {
    let credentials = &out.credentials;
    serde_json::json!({
        "AssumeRoleResponse": {
            "AssumeRoleResult": {
                "SourceIdentity": out.source_identity,
                "AssumedRoleUser": { "Arn": out.assumed_role_arn, "AssumedRoleId": out.assumed_role_id },
                "Credentials": {
                    "AccessKeyId": credentials.access_key_id,
                    "SecretAccessKey": credentials.secret_access_key.as_str(),
                    "SessionToken": credentials.session_token,
                    "Expiration": credentials.expiration,
                },
                "PackedPolicySize": out.packed_policy_size,
                "SessionTokenUtilization": out.packed_policy_size,
                "SessionTokenSize": credentials.session_token.len(),
            },
            "ResponseMetadata": { "RequestId": request_id },
        }
    })
}

fn get_caller_identity_xml(caller: &Caller, request_id: &str) -> String {
    format!(
        "<GetCallerIdentityResponse xmlns=\"{NAMESPACE}\">\n  <GetCallerIdentityResult>\n    <Arn>{}</Arn>\n    <UserId>{}:{}</UserId>\n    <Account>{}</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
        esc(&caller.assumed_role_arn()),
        esc(&caller.claims.role_id),
        esc(&caller.claims.session_name),
        caller.role.arn.account()
    )
}

/// `AssumeRoleResult` in the API reference's example order, then the members STS added in 2026:
/// `SessionTokenUtilization`, the `PackedPolicySize` under its new name (both are sent, with
/// the same value), and `SessionTokenSize`, the token's length.
///
/// The secret access key (`[A-Za-z0-9+/]`) and the session token (`[A-Za-z0-9._-]`) are written
/// as they are: nothing in them needs escaping, and the token is the longest text here.
fn assume_role_xml(out: &AssumeRoleOutput, request_id: &str) -> String {
    let credentials = &out.credentials;
    debug_assert!(
        (credentials
            .session_token
            .bytes()
            .chain(credentials.secret_access_key.bytes()))
        .all(|b| b.is_ascii_alphanumeric() || b"._-+/".contains(&b))
    );
    let mut x = String::with_capacity(1024 + credentials.session_token.len());
    // Writing to a String cannot fail.
    let _ = write!(x, "<AssumeRoleResponse xmlns=\"{NAMESPACE}\">\n  <AssumeRoleResult>\n");
    if let Some(s) = &out.source_identity {
        let _ = writeln!(x, "    <SourceIdentity>{}</SourceIdentity>", esc(s));
    }
    let _ = write!(
        x,
        "    <AssumedRoleUser>\n      <Arn>{}</Arn>\n      <AssumedRoleId>{}</AssumedRoleId>\n    </AssumedRoleUser>\n    <Credentials>\n      <AccessKeyId>{}</AccessKeyId>\n      <SecretAccessKey>{}</SecretAccessKey>\n      <SessionToken>{}</SessionToken>\n      <Expiration>{}</Expiration>\n    </Credentials>\n",
        esc(&out.assumed_role_arn),
        esc(&out.assumed_role_id),
        credentials.access_key_id,
        credentials.secret_access_key.as_str(),
        credentials.session_token,
        format_expiration(credentials.expiration)
    );
    if let Some(p) = out.packed_policy_size {
        let _ = write!(
            x,
            "    <PackedPolicySize>{p}</PackedPolicySize>\n    <SessionTokenUtilization>{p}</SessionTokenUtilization>\n"
        );
    }
    let _ = write!(
        x,
        "    <SessionTokenSize>{}</SessionTokenSize>\n  </AssumeRoleResult>\n  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</AssumeRoleResponse>\n",
        credentials.session_token.len()
    );
    x
}

/// The STS error document
/// (<https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html>).
///
/// The message is sent verbatim, without the reason suffix the REST wire appends: AWS
/// documents STS messages such as AccessDenied's "User: … is not authorized to perform:
/// sts:AssumeRole on resource: …" exactly, and clients match on them. The reason is in the
/// audit log under the same request id (`x-amzn-RequestId` and `<RequestId>`).
///
/// In JSON (`format`): `{"Error":{"Code","Message","Type"},"RequestId"}`, as STS writes it.
pub fn error_response(e: &ApiError, request_id: &str, format: Format) -> HttpResponse {
    let (status, code) = e.sts_wire();
    let kind = if status >= 500 { "Receiver" } else { "Sender" };
    if format == Format::Json {
        let json = serde_json::json!({
            "Error": { "Code": code, "Message": e.message, "Type": kind },
            "RequestId": request_id,
        });
        return with_reason(json_response(status, &json), e);
    }
    let xml = format!(
        "<ErrorResponse xmlns=\"{NAMESPACE}\">\n  <Error>\n    <Type>{kind}</Type>\n    <Code>{code}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
        esc(&e.message)
    );
    with_reason(response(status, "text/xml", Bytes::from(xml)), e)
}

/// Parses only the STS form parameters of a request (query string and form body) into an
/// `AssumeRole` input, without authenticating anything: the entry point of the fuzz targets
/// and property tests ([`crate::fuzzing`]).
#[doc(hidden)]
pub fn parse_untrusted(req: &RequestParts, body: &Bytes) -> Result<AssumeRoleInput, ApiError> {
    let params = Params::parse(req, body)?;
    assume_role_input(&params, req)
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use zeroize::Zeroizing;

    use super::*;
    use crate::session::Credentials;

    fn body_text(r: HttpResponse) -> (u16, String, String) {
        let status = r.status().as_u16();
        let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
        let bytes = collect_bytes(r);
        (status, content_type, String::from_utf8(bytes).unwrap())
    }

    fn collect_bytes(r: HttpResponse) -> Vec<u8> {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(r.into_body().collect()).unwrap().to_bytes().to_vec()
    }

    /// Every action of STS 2011-06-15, served or not, is its own operation label; anything
    /// else is `Other`, so a client cannot grow the label set.
    #[test]
    fn operation_labels_are_the_actions_of_sts() {
        for action in SERVED_STS_ACTIONS.iter().chain(&OTHER_STS_ACTIONS) {
            assert_eq!(operation_label(Some(action)), *action);
        }
        assert_eq!(operation_label(Some("AssumeRoot")), "AssumeRoot");
        assert_eq!(operation_label(Some("assumerole")), "Other");
        assert_eq!(operation_label(None), "Other");
    }

    #[test]
    fn the_form_content_type_is_its_media_type_parameters_aside() {
        for form in [
            "application/x-www-form-urlencoded",
            "Application/X-WWW-Form-Urlencoded",
            "application/x-www-form-urlencoded; charset=utf-8",
            "application/x-www-form-urlencoded;charset=UTF-8",
            "application/x-www-form-urlencoded ; charset=utf-8",
        ] {
            assert!(is_form_content_type(Some(form)), "{form}");
        }
        for other in [
            "application/x-www-form-urlencodedXYZ",
            "application/x-www-form-urlencoded-extra; charset=utf-8",
            "application/json",
            "",
        ] {
            assert!(!is_form_content_type(Some(other)), "{other}");
        }
        assert!(!is_form_content_type(None));
    }

    #[test]
    fn error_document_is_aws_shaped_and_carries_the_message_verbatim() {
        let e = ApiError::access_denied(
            "trust-policy",
            "User: arn:aws:sts::1:assumed-role/a/s is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::1:role/b<&>",
        );
        let (status, content_type, body) = body_text(error_response(&e, "req-1", Format::Xml));
        assert_eq!((status, content_type.as_str()), (403, "text/xml"));
        assert_eq!(
            body,
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <Error>\n    <Type>Sender</Type>\n    <Code>AccessDenied</Code>\n    <Message>User: arn:aws:sts::1:assumed-role/a/s is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::1:role/b&lt;&amp;&gt;</Message>\n  </Error>\n  <RequestId>req-1</RequestId>\n</ErrorResponse>\n"
        );
        let (status, _, body) = body_text(error_response(&ApiError::internal("bug"), "req-2", Format::Xml));
        assert_eq!(status, 500);
        assert!(
            body.contains("<Type>Receiver</Type>\n    <Code>InternalFailure</Code>"),
            "{body}"
        );
    }

    #[test]
    fn accept_headers() {
        for (accept, want) in [
            (None, Format::Xml),
            (Some("application/json"), Format::Json),
            (Some("Application/JSON; charset=utf-8"), Format::Json),
            (Some("text/xml, application/json;q=0.5"), Format::Json),
            (Some("application/json;q=0"), Format::Xml),
            (Some("application/json; q=0.000"), Format::Xml),
            (Some("application/json;q=x"), Format::Xml),
            (Some("*/*"), Format::Xml),
            (Some("text/xml"), Format::Xml),
        ] {
            assert_eq!(Format::from_accept(accept), want, "{accept:?}");
        }
    }

    /// For `Accept: application/json`, STS's JSON error document, the message verbatim.
    #[test]
    fn error_document_in_json() {
        let e = ApiError::access_denied("trust-policy", "User: a is not authorized \"<&>\"");
        let (status, content_type, body) = body_text(error_response(&e, "req-3", Format::Json));
        assert_eq!((status, content_type.as_str()), (403, "application/json"));
        assert_eq!(
            body,
            r#"{"Error":{"Code":"AccessDenied","Message":"User: a is not authorized \"<&>\"","Type":"Sender"},"RequestId":"req-3"}"#
        );
    }

    #[test]
    fn characters_xml_cannot_carry_are_shown_as_escapes() {
        // Each would make the document unparseable, even as a character reference.
        assert_eq!(
            esc("a\u{1}b\u{b}<\u{FFFF}\u{FFFE}"),
            "a\\u0001b\\u000B&lt;\\uFFFF\\uFFFE"
        );
        // What XML allows is kept as it is, but a carriage return, which a parser would read
        // back as a line feed (XML 1.0 §2.11), travels as a reference.
        let allowed = "tab\tlf\n é \u{D7FF}\u{E000}\u{FFFD}\u{10000}\u{10FFFF}";
        assert_eq!(esc(allowed), allowed);
        assert_eq!(esc("cr\r"), "cr&#13;");
    }

    #[test]
    fn assume_role_document_follows_the_api_reference_order() {
        let out = AssumeRoleOutput {
            credentials: Credentials {
                access_key_id: "ASIAAAAAAAAAAAAAAAAA".into(),
                secret_access_key: Zeroizing::new("s".repeat(40)),
                session_token: "tok".into(),
                expiration: 1_767_323_045,
            },
            assumed_role_arn: "arn:aws:sts::123456789012:assumed-role/demo/TestAR".into(),
            assumed_role_id: "AROAEXAMPLE:TestAR".into(),
            packed_policy_size: Some(6),
            source_identity: Some("Alice".into()),
        };
        let s40 = "s".repeat(40);
        assert_eq!(
            assume_role_xml(&out, "rid"),
            format!(
                "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <AssumeRoleResult>\n    <SourceIdentity>Alice</SourceIdentity>\n    <AssumedRoleUser>\n      <Arn>arn:aws:sts::123456789012:assumed-role/demo/TestAR</Arn>\n      <AssumedRoleId>AROAEXAMPLE:TestAR</AssumedRoleId>\n    </AssumedRoleUser>\n    <Credentials>\n      <AccessKeyId>ASIAAAAAAAAAAAAAAAAA</AccessKeyId>\n      <SecretAccessKey>{s40}</SecretAccessKey>\n      <SessionToken>tok</SessionToken>\n      <Expiration>2026-01-02T03:04:05Z</Expiration>\n    </Credentials>\n    <PackedPolicySize>6</PackedPolicySize>\n    <SessionTokenUtilization>6</SessionTokenUtilization>\n    <SessionTokenSize>3</SessionTokenSize>\n  </AssumeRoleResult>\n  <ResponseMetadata>\n    <RequestId>rid</RequestId>\n  </ResponseMetadata>\n</AssumeRoleResponse>\n"
            )
        );
    }
}
