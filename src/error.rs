//! The one error type every API returns, and its rendering on each wire: Roles Anywhere REST
//! (`X-Amzn-ErrorType` + JSON), STS Query (error XML) and gRPC status codes.
//!
//! Messages are written for the person who has to fix the request; they never contain a
//! secret, a session token or key material.

use std::fmt;

/// What went wrong, in the vocabulary shared by the three wires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Authenticated but not allowed: untrusted certificate, trust policy denial, disabled resource.
    AccessDenied,
    /// The request is well-formed but a parameter is out of range or inconsistent.
    Validation,
    /// A named profile, trust anchor or role does not exist.
    ResourceNotFound,
    /// A rate limit or concurrency limit refused the request.
    Throttling,
    /// The request signature does not verify.
    SignatureDoesNotMatch,
    /// The Authorization header or presigned query is incomplete or malformed.
    IncompleteSignature,
    /// No credentials at all were presented.
    MissingAuthenticationToken,
    /// The session token presented has expired.
    ExpiredToken,
    /// The session token or access key id is not one rolegate issued.
    InvalidClientTokenId,
    /// A parameter the model accepts that the operation refuses (STS: duplicate or
    /// conflicting session tag keys).
    InvalidParameterValue,
    /// A session policy is not a valid policy document.
    MalformedPolicyDocument,
    /// Session policies and tags exceed the packed size limit.
    PackedPolicyTooLarge,
    /// STS `ProvidedContexts`: a trusted context assertion rolegate cannot verify.
    InvalidContextAssertion,
    /// Unknown `Action` or `Version` on the STS Query API.
    InvalidAction,
    /// No `Action` on the STS Query API.
    MissingAction,
    /// The request date is outside the allowed clock skew.
    RequestExpired,
    /// The request body or headers exceed a size limit.
    PayloadTooLarge,
    /// The client did not send its whole request within `request_timeout_seconds` (a client's
    /// fault, not the server's: it must not read as an outage on dashboards and alerts).
    RequestTimeout,
    /// The server is not ready (no configuration loaded, shutting down).
    Unavailable,
    /// A bug or an environment failure; details are logged, not returned.
    Internal,
}

/// An error answer: a code, a message for the caller and a short reason for the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Stable short reason code (e.g. `cert-expired`) recorded in the audit log and appended to
    /// AccessDenied messages so operators can find the full explanation.
    pub reason: &'static str,
    /// For a throttling refusal whose limit knows it: how long until a retry can be admitted
    /// (`Retry-After` on HTTP, `google.rpc.RetryInfo` and `grpc-retry-pushback-ms` on gRPC).
    pub retry_after: Option<std::time::Duration>,
}

impl ApiError {
    pub fn new(code: ErrorCode, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            reason,
            retry_after: None,
        }
    }

    /// This refusal, saying a retry can be admitted after `delay`.
    #[must_use]
    pub fn with_retry_after(self, delay: std::time::Duration) -> Self {
        Self {
            retry_after: Some(delay),
            ..self
        }
    }

    pub fn access_denied(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::AccessDenied, reason, message)
    }

    pub fn validation(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Validation, reason, message)
    }

    pub fn not_found(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ResourceNotFound, reason, message)
    }

    pub fn internal(reason: &'static str) -> Self {
        Self::new(
            ErrorCode::Internal,
            reason,
            "An internal error occurred; the server log has the details.",
        )
    }

    /// Roles Anywhere REST: (HTTP status, `X-Amzn-ErrorType` value).
    pub fn rest_wire(&self) -> (u16, &'static str) {
        match self.code {
            ErrorCode::AccessDenied
            | ErrorCode::SignatureDoesNotMatch
            | ErrorCode::IncompleteSignature
            | ErrorCode::MissingAuthenticationToken
            | ErrorCode::RequestExpired
            | ErrorCode::ExpiredToken
            | ErrorCode::InvalidClientTokenId => (403, "AccessDeniedException"),
            ErrorCode::Validation
            | ErrorCode::InvalidParameterValue
            | ErrorCode::MalformedPolicyDocument
            | ErrorCode::PackedPolicyTooLarge
            | ErrorCode::InvalidContextAssertion
            | ErrorCode::InvalidAction
            | ErrorCode::MissingAction => (400, "ValidationException"),
            ErrorCode::PayloadTooLarge => (413, "ValidationException"),
            ErrorCode::ResourceNotFound => (404, "ResourceNotFoundException"),
            ErrorCode::Throttling => (429, "ThrottlingException"),
            // 408, and a name botocore's standard retry mode treats as transient.
            ErrorCode::RequestTimeout => (408, "RequestTimeoutException"),
            ErrorCode::Unavailable => (503, "ServiceUnavailableException"),
            ErrorCode::Internal => (500, "InternalServerException"),
        }
    }

    /// The message a client reads: an AccessDenied's carries its reason and the request id
    /// (the audit event to look up), on every API alike.
    pub fn client_message(&self, request_id: &str) -> std::borrow::Cow<'_, str> {
        match self.code {
            ErrorCode::AccessDenied => std::borrow::Cow::Owned(format!(
                "{} (reason: {}, request id: {request_id})",
                self.message, self.reason
            )),
            _ => std::borrow::Cow::Borrowed(&self.message),
        }
    }

    /// STS Query API: (HTTP status, `<Code>`), as AWS STS answers.
    pub fn sts_wire(&self) -> (u16, &'static str) {
        match self.code {
            ErrorCode::AccessDenied => (403, "AccessDenied"),
            ErrorCode::Validation => (400, "ValidationError"),
            ErrorCode::ResourceNotFound => (404, "NoSuchEntity"),
            // DESIGN §4: every API's per-client rate limit answers 429. AWS STS answers its
            // own throttling with 400; the SDKs retry either by the code.
            ErrorCode::Throttling => (429, "Throttling"),
            ErrorCode::SignatureDoesNotMatch => (403, "SignatureDoesNotMatch"),
            ErrorCode::IncompleteSignature => (400, "IncompleteSignature"),
            ErrorCode::MissingAuthenticationToken => (403, "MissingAuthenticationToken"),
            // DESIGN §2b fixes 400. AWS answers an expired session token with 403 (its common
            // errors); the SDKs decide by the code, which is AWS's.
            ErrorCode::ExpiredToken => (400, "ExpiredToken"),
            ErrorCode::InvalidClientTokenId => (403, "InvalidClientTokenId"),
            ErrorCode::InvalidParameterValue => (400, "InvalidParameterValue"),
            ErrorCode::MalformedPolicyDocument => (400, "MalformedPolicyDocument"),
            ErrorCode::PackedPolicyTooLarge => (400, "PackedPolicyTooLarge"),
            ErrorCode::InvalidContextAssertion => (400, "InvalidContextAssertion"),
            ErrorCode::InvalidAction => (400, "InvalidAction"),
            ErrorCode::MissingAction => (400, "MissingAction"),
            ErrorCode::RequestExpired => (400, "RequestExpired"),
            ErrorCode::PayloadTooLarge => (413, "RequestEntityTooLarge"),
            // AWS's code for a request the client was too slow to send (S3 and others).
            ErrorCode::RequestTimeout => (400, "RequestTimeout"),
            ErrorCode::Unavailable => (503, "ServiceUnavailable"),
            ErrorCode::Internal => (500, "InternalFailure"),
        }
    }

    /// gRPC status code for the same error.
    pub fn grpc_code(&self) -> tonic::Code {
        match self.code {
            ErrorCode::AccessDenied => tonic::Code::PermissionDenied,
            ErrorCode::Validation
            | ErrorCode::InvalidParameterValue
            | ErrorCode::MalformedPolicyDocument
            | ErrorCode::PackedPolicyTooLarge
            | ErrorCode::InvalidContextAssertion
            | ErrorCode::InvalidAction
            | ErrorCode::MissingAction => tonic::Code::InvalidArgument,
            ErrorCode::ResourceNotFound => tonic::Code::NotFound,
            // As grpc-core answers a message over its limit.
            ErrorCode::Throttling | ErrorCode::PayloadTooLarge => tonic::Code::ResourceExhausted,
            ErrorCode::SignatureDoesNotMatch
            | ErrorCode::IncompleteSignature
            | ErrorCode::MissingAuthenticationToken
            | ErrorCode::ExpiredToken
            | ErrorCode::InvalidClientTokenId
            | ErrorCode::RequestExpired => tonic::Code::Unauthenticated,
            ErrorCode::RequestTimeout => tonic::Code::DeadlineExceeded,
            ErrorCode::Unavailable => tonic::Code::Unavailable,
            ErrorCode::Internal => tonic::Code::Internal,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// `value` for a message when it has the shape of what it should be (at most `max` bytes, each
/// `allowed`), else `…`: a value out of its place may be a secret (a key pasted into the wrong
/// field), and text of any shape may carry what a log or terminal should not receive.
pub(crate) fn shown_if_shaped(value: &str, max: usize, allowed: fn(u8) -> bool) -> &str {
    match value.len() <= max && value.bytes().all(allowed) {
        true => value,
        false => "…",
    }
}

/// The name of `candidates` nearest to `typed` by edit distance (a transposition counting
/// as one edit), when it is within a third of `typed`'s length (at least 1 edit): a
/// misspelling, not another word. The first of equally near ones.
pub(crate) fn closest_name<'a>(typed: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let most = (typed.chars().count() / 3).max(1);
    candidates
        .map(|name| (strsim::damerau_levenshtein(typed, name), name))
        .filter(|(distance, _)| *distance <= most)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_wire_has_its_aws_code() {
        let e = ApiError::access_denied("trust-policy", "no");
        assert_eq!(e.rest_wire(), (403, "AccessDeniedException"));
        assert_eq!(e.sts_wire(), (403, "AccessDenied"));
        assert_eq!(e.grpc_code(), tonic::Code::PermissionDenied);
        let v = ApiError::validation("duration", "bad");
        assert_eq!(v.rest_wire(), (400, "ValidationException"));
        assert_eq!(v.sts_wire(), (400, "ValidationError"));
        let t = ApiError::new(ErrorCode::Throttling, "rate", "slow down");
        assert_eq!(t.rest_wire(), (429, "ThrottlingException"));
        assert_eq!(t.grpc_code(), tonic::Code::ResourceExhausted);
        let x = ApiError::new(ErrorCode::ExpiredToken, "expired", "old");
        assert_eq!(x.sts_wire(), (400, "ExpiredToken"));
        assert_eq!(t.sts_wire(), (429, "Throttling"));
    }
}
