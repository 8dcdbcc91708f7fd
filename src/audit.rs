//! The audit trail (DESIGN.md §4): exactly one structured `tracing` event, target `audit`, per
//! decision the daemon makes: who asked (certificate, access key id, client address), for what
//! (anchor, profile, role, session name, source identity, the calling session), and what was
//! decided (outcome, error code and reason, issued access key id and its expiry) and how long
//! deciding took (`elapsed_seconds`).
//!
//! Only identifiers go in: never a secret access key, session token, signature or private key.
//! The access key id is an identifier (AWS logs it in CloudTrail too); the session token that
//! carries the sealed claims is not, and no field here can hold it.
//!
//! One exception to one event a request: throttling refusals come in floods — that is why
//! they are refused — so at most [`THROTTLED_EVENTS_PER_SECOND`] of them are logged one by
//! one each second; the others are counted in the metrics as ever, and in one line, the
//! next time one is logged or within [`SKIPPED_REPORT_INTERVAL`] (`report_skipped_throttling`).

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::error::{ApiError, ErrorCode};
use crate::identity::ClientCertificate;

/// What a handler learned while deciding, merged into the call's [`Record`] so the one audit
/// event can carry it. Identifiers only.
#[derive(Clone, Debug, Default)]
pub struct Decision {
    pub role_arn: Option<String>,
    pub session_name: Option<String>,
    pub source_identity: Option<String>,
    /// The access key id of credentials issued by this decision.
    pub issued_access_key_id: Option<String>,
    /// When those credentials expire (Unix seconds).
    pub expiration: Option<i64>,
}

/// One audit event under construction.
#[derive(Clone, Debug, Default)]
pub struct Record {
    pub request_id: String,
    pub api: &'static str,
    pub operation: &'static str,
    pub client: Option<SocketAddr>,
    /// The client certificate (serial, subject and issuer are logged), shared with the handler.
    pub certificate: Option<Arc<ClientCertificate>>,
    pub trust_anchor: Option<String>,
    pub profile: Option<String>,
    pub role: Option<String>,
    pub session_name: Option<String>,
    pub source_identity: Option<String>,
    /// The access key id the caller signed with (STS).
    pub access_key_id: Option<String>,
    /// The session that signed (STS, gRPC AssumeRole), as its assumed-role ARN.
    pub caller: Option<String>,
    pub issued_access_key_id: Option<String>,
    /// When the issued credentials expire (Unix seconds).
    pub expiration: Option<i64>,
    /// The action and resource an authorization decision was asked about (gRPC Authorize,
    /// VerifyRequest with an action).
    pub action: Option<String>,
    pub resource: Option<String>,
}

impl Record {
    pub fn new(request_id: &str, api: &'static str, operation: &'static str, client: SocketAddr) -> Record {
        Record {
            request_id: request_id.to_owned(),
            api,
            operation,
            client: Some(client),
            ..Record::default()
        }
    }

    /// Names the client certificate of the request.
    pub fn set_certificate(&mut self, certificate: Arc<ClientCertificate>) {
        self.certificate = Some(certificate);
    }

    /// Names the session that signed the request, once its signature verified: its access
    /// key id, its assumed-role ARN, and its source identity if it has one (which carries over
    /// to every session it assumes, so it is the request's too, allowed or denied).
    pub fn set_caller(&mut self, caller: &crate::broker::Caller) {
        self.access_key_id = Some(caller.claims.access_key_id.clone());
        self.caller = Some(caller.assumed_role_arn());
        if caller.claims.source_identity.is_some() {
            self.source_identity = caller.claims.source_identity.clone();
        }
    }

    /// Merges what the handler reported; the handler's values win (they are the decided ones).
    /// (Sessions are counted where they are minted, in the broker.)
    pub fn merge(&mut self, d: Decision) {
        fn pick(slot: &mut Option<String>, v: Option<String>) {
            if v.is_some() {
                *slot = v;
            }
        }
        pick(&mut self.role, d.role_arn);
        pick(&mut self.session_name, d.session_name);
        pick(&mut self.source_identity, d.source_identity);
        pick(&mut self.issued_access_key_id, d.issued_access_key_id);
        if d.expiration.is_some() {
            self.expiration = d.expiration;
        }
    }

    /// Ends the record of the call: its audit event (allowed, or refused with `refusal`) and
    /// its count in `rolegate_requests_total` (and, refused, in `rolegate_refusals_total` by
    /// its reason).
    pub fn finish(&self, refusal: Option<&ApiError>, elapsed: Duration) {
        let outcome = match refusal {
            None => {
                self.allow(elapsed);
                "allow"
            }
            Some(e) if e.code == ErrorCode::Throttling => {
                if let Some(skipped) = THROTTLED_EVENTS.log_one(seconds_since_start()) {
                    log_skipped(skipped);
                    self.deny(e, elapsed);
                }
                e.sts_wire().1
            }
            Some(e) => {
                self.deny(e, elapsed);
                e.sts_wire().1
            }
        };
        if let Some(e) = refusal {
            crate::metrics::record_refusal(self.api, self.operation, e.reason);
        }
        crate::metrics::record_request(
            crate::metrics::RequestLabels {
                api: self.api,
                operation: self.operation,
                outcome,
            },
            elapsed.as_secs_f64(),
        );
    }

    /// Emits the event for an allowed request.
    pub fn allow(&self, elapsed: Duration) {
        self.emit("allow", None, elapsed);
    }

    /// Emits the event for a refused or failed request.
    pub fn deny(&self, error: &ApiError, elapsed: Duration) {
        self.emit("deny", Some(error), elapsed);
    }

    /// One event per request: the fields are borrowed, never copied (this runs on every request).
    ///
    /// Every text field is recorded as a string, so the text log format quotes and escapes it
    /// (`subject="CN=a b"`): values a client chose (certificate names, session names) stay one
    /// token and cannot add a field or a line. The JSON format escapes them either way.
    fn emit(&self, outcome: &'static str, error: Option<&ApiError>, elapsed: Duration) {
        fn s(v: &Option<String>) -> Cow<'_, str> {
            without_tokens(bounded(v.as_deref().unwrap_or("")))
        }
        let certificate = self.certificate.as_deref();
        let of_certificate = |field: fn(&ClientCertificate) -> &str| bounded(certificate.map_or("", field));
        tracing::info!(
            target: "audit",
            request_id = self.request_id.as_str(),
            api = self.api,
            operation = self.operation,
            outcome,
            error_code = error.map_or("", |e| e.sts_wire().1),
            reason = error.map_or("", |e| e.reason),
            error_message = &*error.map_or(Cow::Borrowed(""), |e| without_tokens(bounded(&e.message))),
            certificate_serial = of_certificate(ClientCertificate::serial_hex),
            certificate_subject = of_certificate(ClientCertificate::subject_string),
            certificate_issuer = of_certificate(ClientCertificate::issuer_string),
            trust_anchor = &*s(&self.trust_anchor),
            profile = &*s(&self.profile),
            role = &*s(&self.role),
            session_name = &*s(&self.session_name),
            source_identity = &*s(&self.source_identity),
            access_key_id = &*s(&self.access_key_id),
            caller = &*s(&self.caller),
            action = &*s(&self.action),
            resource = &*s(&self.resource),
            issued_access_key_id = &*s(&self.issued_access_key_id),
            expiration = %Expiration(self.expiration),
            elapsed_seconds = elapsed.as_secs_f64(),
            client = %Client(self.client),
            "decision"
        );
    }
}

/// The most throttling refusals logged one by one in a second.
pub const THROTTLED_EVENTS_PER_SECOND: u32 = 20;

/// The budget of throttling refusals' events: the second it counts, how many it logged in
/// it, and how many it skipped since the last one logged. Counted without a lock; two
/// requests racing at a second's turn may log one event more than the budget.
struct ThrottledEvents {
    second: AtomicU64,
    logged: AtomicU32,
    skipped: AtomicU64,
}

static THROTTLED_EVENTS: ThrottledEvents = ThrottledEvents {
    second: AtomicU64::new(0),
    logged: AtomicU32::new(0),
    skipped: AtomicU64::new(0),
};

impl ThrottledEvents {
    /// Whether a throttling refusal in `second` is logged: `Some(skipped)`, the refusals not
    /// logged since the last one, while the second's budget lasts; `None` past it.
    fn log_one(&self, second: u64) -> Option<u64> {
        let counted = self.second.load(Ordering::Relaxed);
        if counted != second
            && self
                .second
                .compare_exchange(counted, second, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.logged.store(0, Ordering::Relaxed);
        }
        match self.logged.fetch_add(1, Ordering::Relaxed) < THROTTLED_EVENTS_PER_SECOND {
            true => Some(self.skipped.swap(0, Ordering::Relaxed)),
            false => {
                self.skipped.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }
}

/// How often the daemon logs the throttling refusals skipped since the last report, so that
/// the count of a flood that ended is not held until the next one.
pub const SKIPPED_REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// Logs the throttling refusals skipped since the last one logged or reported, if any.
pub fn report_skipped_throttling() {
    log_skipped(THROTTLED_EVENTS.skipped.swap(0, Ordering::Relaxed));
}

fn log_skipped(skipped: u64) {
    if skipped > 0 {
        tracing::info!(
            target: "audit",
            skipped,
            "throttling refusals not logged one by one (each is counted in rolegate_requests_total)"
        );
    }
}

/// Whole seconds since the first call: the clock of [`ThrottledEvents`].
fn seconds_since_start() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs()
}

/// The longest field an audit event carries, in bytes: whatever a request sends, one event
/// stays one readable line (the values themselves are validated far below this).
const MAX_FIELD_BYTES: usize = 4096;

/// `value`, cut at a character boundary to at most [`MAX_FIELD_BYTES`].
fn bounded(value: &str) -> &str {
    prefix_within(value, MAX_FIELD_BYTES)
}

/// `value` with every rolegate session token in it (`rg2.{key id}.{sealed}`, or an older
/// `rg1.` one) cut to its prefix: a client that sends its token where a name belongs (a
/// session name, a role ARN) must not have it written to the audit log. Values without a
/// token prefix are borrowed as they are.
fn without_tokens(value: &str) -> Cow<'_, str> {
    if next_token(value).is_none() {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some((at, mark)) = next_token(rest) {
        let after = &rest[at + mark.len()..];
        let sealed = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
            .unwrap_or(after.len());
        out.push_str(&rest[..at]);
        out.push_str(mark);
        if sealed > 0 {
            out.push_str("<redacted>");
        }
        rest = &after[sealed..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// What every session token prefix begins with.
const TOKEN_PREFIX_START: &str = "rg";

/// Where the first session token prefix ([`crate::session::TOKEN_PREFIXES`]) in `value` is,
/// and which. One pass over `value` (the redaction loop resumes after each token, so the whole
/// redaction is linear; searching for each prefix from the start again was quadratic in a
/// value of alternating prefixes).
fn next_token(value: &str) -> Option<(usize, &'static str)> {
    value.match_indices(TOKEN_PREFIX_START).find_map(|(at, _)| {
        let rest = &value[at..];
        crate::session::TOKEN_PREFIXES
            .iter()
            .find(|mark| rest.starts_with(**mark))
            .map(|mark| (at, *mark))
    })
}

/// The longest prefix of `value` of at most `max_bytes` that ends at a character boundary.
pub(crate) fn prefix_within(value: &str, max_bytes: usize) -> &str {
    if value.len() <= max_bytes {
        return value;
    }
    let mut cut = max_bytes;
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    &value[..cut]
}

/// The issued credentials' expiry (RFC 3339, UTC, as in the answer), or the empty string;
/// formatted only when the event is written.
struct Expiration(Option<i64>);

impl fmt::Display for Expiration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(unix_seconds) => f.write_str(&crate::session::format_expiration(unix_seconds)),
            None => Ok(()),
        }
    }
}

/// The client's address, or the empty string.
struct Client(Option<SocketAddr>);

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(address) => address.fmt(f),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn throttling_refusals_are_logged_within_a_budget_a_second() {
        let events = super::ThrottledEvents {
            second: std::sync::atomic::AtomicU64::new(0),
            logged: std::sync::atomic::AtomicU32::new(0),
            skipped: std::sync::atomic::AtomicU64::new(0),
        };
        let budget = super::THROTTLED_EVENTS_PER_SECOND;
        for _ in 0..budget {
            assert_eq!(events.log_one(7), Some(0));
        }
        for _ in 0..5 {
            assert_eq!(events.log_one(7), None);
        }
        // The next second logs again, and says how many it skipped.
        assert_eq!(events.log_one(8), Some(5));
        assert_eq!(events.log_one(8), Some(0));
    }

    use super::*;

    #[test]
    fn fields_are_bounded_at_a_character_boundary() {
        assert_eq!(bounded("short"), "short");
        assert!(matches!(without_tokens("arn:aws:iam::1:role/app"), Cow::Borrowed(_)));
        let long = "é".repeat(MAX_FIELD_BYTES);
        let cut = bounded(&long);
        assert_eq!(cut.len(), MAX_FIELD_BYTES, "2-byte characters fill it exactly");
        let odd = format!("x{long}");
        assert_eq!(bounded(&odd).len(), MAX_FIELD_BYTES - 1, "never half a character");
    }

    #[test]
    fn merge_prefers_decided_values() {
        let mut r = Record {
            role: Some("asked".into()),
            session_name: Some("asked".into()),
            ..Record::default()
        };
        r.merge(Decision {
            session_name: Some("decided".into()),
            issued_access_key_id: Some("ASIAX".into()),
            ..Decision::default()
        });
        assert_eq!(r.role.as_deref(), Some("asked"));
        assert_eq!(r.session_name.as_deref(), Some("decided"));
        assert_eq!(r.issued_access_key_id.as_deref(), Some("ASIAX"));
    }

    #[test]
    fn session_tokens_are_cut_to_their_prefix() {
        let token = "rg1.k1.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd-_x";
        assert_eq!(without_tokens(token), "rg1.<redacted>");
        let message = format!("1 validation error detected: Value '{token}' at 'roleSessionName' failed");
        assert_eq!(
            without_tokens(&message),
            "1 validation error detected: Value 'rg1.<redacted>' at 'roleSessionName' failed"
        );
        assert_eq!(
            without_tokens(&format!("{token} {token}")),
            "rg1.<redacted> rg1.<redacted>"
        );
        // Both layouts, in either order.
        let rg2 = token.replacen("rg1.", "rg2.", 1);
        assert_eq!(
            without_tokens(&format!("{rg2} and {token} and {rg2}")),
            "rg2.<redacted> and rg1.<redacted> and rg2.<redacted>"
        );
        assert_eq!(without_tokens("a rg1. b"), "a rg1. b");
        assert_eq!(without_tokens("ends with rg1."), "ends with rg1.");
        // The one-pass search finds every layout's prefix.
        for prefix in crate::session::TOKEN_PREFIXES {
            assert!(prefix.starts_with(TOKEN_PREFIX_START), "{prefix}");
        }
        // Prefixes with nothing sealed after them, alternating: kept as they are.
        let alternating = "rg1.!rg2.!".repeat(400);
        assert_eq!(without_tokens(&alternating), alternating);
        assert_eq!(without_tokens("xrg2.abc rg"), "xrg2.<redacted> rg");
    }
}
