//! The broker: the decisions behind every API, independent of the wire. It owns the current
//! configuration snapshot (swapped atomically on reload) and the bounded in-memory caches that
//! keep repeated work off the hot path (DESIGN.md §3).
//!
//! - `create_session`: Roles Anywhere's certificate-for-credentials exchange.
//! - `assume_role`: STS AssumeRole (role chaining).
//! - `authenticate`: SigV4 requests signed with rolegate session credentials.
//! - `authorize`: effective-permission decisions and the trust checks of gRPC callers.
//! - `caches`: verified chains and issued credentials, invalidated on reload.

mod assume_role;
mod authenticate;
mod authorize;
mod caches;
mod create_session;

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::Config;

pub use assume_role::{AssumeRoleInput, AssumeRoleOutput, session_policy_documents};
pub use authenticate::{Caller, signature_error};
pub use authorize::{AuthorizeInput, AuthorizeOutput, MAX_CONTEXT_KEYS, authorization_context};
pub use caches::{CacheStats, Caches};
pub use create_session::{CreateSessionInput, CreateSessionOutput, ROLES_ANYWHERE_ACTIONS, ROLES_ANYWHERE_PRINCIPAL};

/// Shared state of a running daemon (or of an offline tool such as `explain`).
pub struct Broker {
    config: ArcSwap<Config>,
    caches: Caches,
}

impl Broker {
    pub fn new(config: Config) -> Self {
        let caches = Caches::new(&config.server);
        Self {
            config: ArcSwap::from_pointee(config),
            caches,
        }
    }

    /// The configuration snapshot in force now; hold it for the whole request.
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// Installs a new configuration and drops everything cached under the old one.
    pub fn replace_config(&self, config: Config) {
        self.config.store(Arc::new(config));
        self.caches.invalidate_all();
    }

    pub fn caches(&self) -> &Caches {
        &self.caches
    }
}
