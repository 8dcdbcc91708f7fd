//! The broker: the decisions behind every API, independent of the wire. It owns the current
//! configuration snapshot (swapped atomically on reload) and the bounded in-memory caches that
//! keep repeated work off the hot path (DESIGN.md §3).
//!
//! - `create_session`: Roles Anywhere's certificate-for-credentials exchange.
//! - `assume_role`: STS AssumeRole (role chaining); `assume_role_parameters`: its parameters,
//!   validated as AWS does.
//! - `authenticate`: SigV4 requests signed with rolegate session credentials.
//! - `authorize`: effective-permission decisions and the trust checks of gRPC callers.
//! - `caches`: parsed certificates, verified chains, opened tokens, signing keys and issued
//!   credentials, keyed per configuration and invalidated on reload.
//! - `context`: the request context keys derived from a role session (AssumeRole trust,
//!   Authorize, `rolegate simulate`).
//! - `violations`: AWS request-model validation (lengths, patterns, ranges), every failure
//!   of a request reported in one `ValidationError`.

mod assume_role;
mod assume_role_parameters;
mod authenticate;
mod authorize;
mod caches;
mod context;
mod create_session;
mod violations;

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::Config;

pub use assume_role::{AssumeRoleInput, AssumeRoleOutput, ProvidedContext};
pub use assume_role_parameters::IamUserTokenInput;
pub(crate) use assume_role_parameters::{validate_get_federation_token, validate_get_session_token};
pub use authenticate::{CLOCK_SKEW, Caller, OpenedSession, PAYLOAD_HASH_MISMATCH, Payload, signature_error};
pub use authorize::{
    AuthorizeInput, AuthorizeOutput, MAX_CONTEXT_KEY_VALUES, MAX_CONTEXT_KEYS, authorization_context,
    untrusted_client_certificate,
};
pub(crate) use authorize::{
    SESSION_KEY_PREFIXES, SESSION_KEYS, never_in_session_requests, validate_input as validate_authorize_input,
};
pub use caches::{Caches, SentCertificate};
pub use context::SessionSubject;
pub(crate) use context::{TRUST_POLICY_KEY_PREFIXES, TRUST_POLICY_KEYS, is_trust_policy_key};
pub use create_session::{
    CreateSessionInput, CreateSessionOutput, ROLES_ANYWHERE_ACTIONS, ROLES_ANYWHERE_PRINCIPAL, SessionRequester,
    check_arn_lengths, trust_context as create_session_trust_context,
};

pub(crate) use create_session::{
    STALE_CRL_REASON, UNTRUSTED_CERTIFICATE, chain_refusal, chain_refusal_reason, chain_too_long, check_chain_shape,
    per_request_trust_keys, trust_decided_per_certificate, validate_role_session_name,
};

/// The decision steps `rolegate explain` replays offline, shared so that it explains exactly
/// what the broker decides.
pub(crate) mod steps {
    pub(crate) use super::assume_role::{
        CallerPolicies, CallerRefusal, TrustedAs, check_trust as check_assume_role_trust, not_authorized,
        parse_session_policy, required_actions as assume_role_required_actions, resolve_policy_arns,
        resolve_source_identity, session_tags as assume_role_session_tags, target_role as assume_role_target_role,
        trust_context as assume_role_trust_context,
    };
    pub(crate) use super::assume_role_parameters::validate_parameters as validate_assume_role_parameters;
    pub(crate) use super::authenticate::current_role;
    pub(crate) use super::create_session::{
        SessionRequester, check_arn_lengths, check_certificate_names, check_chain_shape, check_instance_properties,
        check_mapped_tags, check_packed_policy_size, find_anchor, find_profile, find_role_in_profile, session_name,
        trust_denied, verify_chain_at,
    };
}

/// The answer to a session that could not be sealed into a token. Claims too large for a token
/// come from the request's tags and session policies, or the profile's session policy:
/// `PackedPolicyTooLarge`, 400, as STS answers for a session too large, and a warning for the
/// operator. A failure of the cryptographic library is ours: logged.
fn seal_refusal(e: crate::session::TokenError) -> crate::error::ApiError {
    use crate::error::{ApiError, ErrorCode};
    use crate::session::TokenError;
    match e {
        TokenError::ClaimsTooLarge { .. } => {
            tracing::warn!(error = %e, "a session was refused: too large for a session token");
            ApiError::new(ErrorCode::PackedPolicyTooLarge, "token-too-large", e.to_string())
        }
        other => {
            tracing::error!(error = %other, "a session token could not be sealed");
            ApiError::internal("token-seal")
        }
    }
}

/// Shared state of a running daemon (or of an offline tool such as `explain`).
pub struct Broker {
    config: ArcSwap<Config>,
    caches: ArcSwap<Caches>,
}

impl Broker {
    pub fn new(config: Config) -> Self {
        let caches = Caches::new(&config.server);
        Self {
            config: ArcSwap::from_pointee(config),
            caches: ArcSwap::from_pointee(caches),
        }
    }

    /// The configuration snapshot in force now; hold it for the whole request.
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// Installs a new configuration and drops everything cached under the old one; caches
    /// whose bound or reuse window it changes are built anew (a lower bound frees memory, a
    /// shorter reuse window applies to what was issued before).
    pub fn replace_config(&self, config: Config) {
        let caches = self.caches.load_full();
        let rebuilt = (!caches.fit_for(&config.server)).then(|| caches.rebuilt_for(&config.server));
        self.config.store(Arc::new(config));
        match rebuilt {
            Some(fresh) => self.caches.store(Arc::new(fresh)),
            None => caches.invalidate_all(),
        }
    }

    /// The caches in force (for the duration of one step: a reload may replace them).
    pub fn caches(&self) -> arc_swap::Guard<Arc<Caches>> {
        self.caches.load()
    }
}
