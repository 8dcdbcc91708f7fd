//! The last credentials of `rolegate sidecar`, kept in the credential cache of
//! `credential-process` (the same entry for the same flags and identity), so that a sidecar
//! restarted while the server cannot be reached serves them while they are valid, as EC2's
//! instance metadata never loses its credentials: SDKs reading IMDS fail on an empty answer
//! even with credentials of their own still good (botocore raises on an advisory refresh).

use std::path::PathBuf;
use std::sync::Arc;

use time::OffsetDateTime;

use super::cache::{self, CacheSlot};
use super::credential_process::SessionArgs;
use super::credentials::{IdentitySource, read_certificate_and_chain};
use crate::client::SessionCredentials;

/// Where the credentials are kept, and what names their entry.
#[derive(Clone)]
pub(super) struct KeptCredentials {
    dir: PathBuf,
    session: Arc<SessionArgs>,
    source: IdentitySource,
}

impl KeptCredentials {
    /// Keeping in the credential cache's folder, unless `off` (`--no-cache`,
    /// `ROLEGATE_NO_CACHE`) or the folder cannot be had (no home folder), which is logged once.
    pub(super) fn new(off: bool, session: Arc<SessionArgs>, source: IdentitySource) -> Option<KeptCredentials> {
        if off || cache::disabled_by_env() {
            return None;
        }
        match cache::default_dir() {
            Ok(dir) => Some(KeptCredentials { dir, session, source }),
            Err(e) => {
                tracing::warn!(error = %e, "credentials are not kept across restarts (no credential cache folder)");
                None
            }
        }
    }

    /// Keeps `credentials` (best effort: a folder that cannot be written, or an entry another
    /// process is writing, is passed over, logged at debug level).
    pub(super) fn keep(&self, credentials: &SessionCredentials) {
        let kept = self.key().and_then(|key| match CacheSlot::try_lock(&self.dir, &key)? {
            Some(slot) => slot.store(credentials),
            None => Ok(()),
        });
        if let Err(e) = kept {
            tracing::debug!(error = %e, "the credentials could not be kept");
        }
    }

    /// The credentials kept for the identity files as they are now, with more than a minute
    /// left at `now`.
    pub(super) fn kept(&self, now: OffsetDateTime) -> Option<SessionCredentials> {
        cache::read_unlocked_on_failure(&self.dir, &self.key().ok()?, now)
    }

    /// The entry's name: the flags and the identity files as they are now (a renewed
    /// certificate has its own).
    fn key(&self) -> Result<cache::CacheKey, String> {
        let (certificate_der, chain) = read_certificate_and_chain(&self.source)?;
        self.session.cache_key(&self.source, &certificate_der, &chain)
    }
}
