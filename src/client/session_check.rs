//! Whether the server that issued session credentials still accepts them: an STS
//! `GetCallerIdentity` signed with them, sent to the client's endpoint (rolegate serves STS
//! beside `POST /sessions`). The long-running helpers ask it now and then, so that credentials
//! the server stopped accepting — its role revoked the sessions issued before a time, or the
//! token key that sealed them was retired — are replaced at once instead of on schedule.

use bytes::Bytes;
use serde::Deserialize;
use time::OffsetDateTime;

use super::roles_anywhere::Resend;
use super::{ClientError, RolesAnywhereClient, SessionCredentials};
use crate::sigv4::{HttpRequest, sha256_hex, sign_hmac};

/// The STS request body: the action and its API version, nothing else.
const BODY: &str = "Action=GetCallerIdentity&Version=2011-06-15";

/// The STS error codes that refuse the credentials themselves. GetCallerIdentity needs no
/// permission, so an `AccessDenied` is a refusal of the session (rolegate: revoked by its
/// role), as `ExpiredToken` and `InvalidClientTokenId` (a token key the server no longer
/// holds, a role removed) are.
const REFUSING_CODES: [&str; 3] = ["AccessDenied", "ExpiredToken", "InvalidClientTokenId"];

/// What the server said of the credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionCheck {
    /// It answered GetCallerIdentity.
    Accepted,
    /// It refused them: the STS error code and message.
    Refused { code: String, message: String },
    /// Another STS error (throttled, an error of the server): nothing learned this time.
    Undecided(String),
    /// A client error that is no STS error document: no STS at the endpoint (an AWS Roles
    /// Anywhere endpoint given as `--endpoint`).
    NoSts(String),
}

/// `CODE: message` for a refusal, as the helpers log it; what was answered for the others.
impl std::fmt::Display for SessionCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionCheck::Accepted => f.write_str("accepted"),
            SessionCheck::Refused { code, message } => write!(f, "{code}: {message}"),
            SessionCheck::Undecided(what) | SessionCheck::NoSts(what) => f.write_str(what),
        }
    }
}

/// The JSON error document of STS (`Accept: application/json`).
#[derive(Deserialize)]
struct ErrorDocument {
    #[serde(rename = "Error")]
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(rename = "Code")]
    code: String,
    #[serde(rename = "Message", default)]
    message: String,
}

impl RolesAnywhereClient {
    /// Asks the endpoint's STS whether it accepts `credentials`, signing for `region` at
    /// `now`. A transport failure is an error; every answer is a [`SessionCheck`].
    pub async fn check_session(
        &self,
        credentials: &SessionCredentials,
        region: &str,
        now: OffsetDateTime,
    ) -> Result<SessionCheck, ClientError> {
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let base = [
            ("host", self.authority.as_str()),
            ("content-type", content_type),
            ("accept", "application/json"),
        ];
        let unsigned = HttpRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &base,
        };
        let signed = sign_hmac(
            &unsigned,
            &sha256_hex(BODY.as_bytes()),
            &credentials.access_key_id,
            &credentials.secret_access_key,
            Some(&credentials.session_token),
            region,
            "sts",
            now,
        );
        let headers: Vec<(String, String)> = base
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .chain(signed)
            .collect();
        let (status, _, body) = self
            .exchange(
                "/",
                &headers,
                Bytes::from_static(BODY.as_bytes()),
                Resend::OnceIfConnectionLost,
            )
            .await?;
        Ok(session_check(status, &body))
    }
}

/// What a GetCallerIdentity answer of `status` with `body` says of the credentials.
fn session_check(status: u16, body: &[u8]) -> SessionCheck {
    if (200..300).contains(&status) {
        return SessionCheck::Accepted;
    }
    match serde_json::from_slice::<ErrorDocument>(body) {
        Ok(ErrorDocument { error }) if REFUSING_CODES.contains(&error.code.as_str()) => SessionCheck::Refused {
            code: error.code,
            message: super::roles_anywhere::printable(&error.message),
        },
        Ok(ErrorDocument { error }) => SessionCheck::Undecided(format!(
            "HTTP {status}, {}",
            super::roles_anywhere::printable(&error.code)
        )),
        // A 4xx of another shape comes from a server that is not STS (AWS's Roles Anywhere
        // answers `POST /` so); a 5xx may be a balancer's while rolegate restarts.
        Err(_) if (400..500).contains(&status) => SessionCheck::NoSts(format!("HTTP {status}, not an STS answer")),
        Err(_) => SessionCheck::Undecided(format!("HTTP {status}, not an STS answer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_refusal_of_the_credentials_is_one() {
        assert_eq!(session_check(200, b"{}"), SessionCheck::Accepted);
        let refused = br#"{"Error":{"Code":"AccessDenied","Message":"Sessions of role r issued before t have been revoked","Type":"Sender"},"RequestId":"1"}"#;
        assert_eq!(
            session_check(403, refused),
            SessionCheck::Refused {
                code: "AccessDenied".into(),
                message: "Sessions of role r issued before t have been revoked".into()
            }
        );
        let expired = br#"{"Error":{"Code":"ExpiredToken","Message":"m\u001b[2J"}}"#;
        assert_eq!(
            session_check(400, expired),
            SessionCheck::Refused {
                code: "ExpiredToken".into(),
                message: "m\\u{1b}[2J".into()
            }
        );
        let throttled = br#"{"Error":{"Code":"Throttling","Message":"Rate exceeded"}}"#;
        assert_eq!(
            session_check(429, throttled),
            SessionCheck::Undecided("HTTP 429, Throttling".into())
        );
        assert_eq!(
            session_check(404, b"<html>not here</html>"),
            SessionCheck::NoSts("HTTP 404, not an STS answer".into())
        );
        assert_eq!(
            session_check(502, b"<html>Bad Gateway</html>"),
            SessionCheck::Undecided("HTTP 502, not an STS answer".into())
        );
    }
}
