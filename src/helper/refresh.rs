//! The refresh state machine of the long-running helpers (`sidecar`, `update`): when to fetch
//! credentials again, how to back off after failures, and which credentials may still be
//! served. Pure (time passed in); [`run`] drives it with a fetch function.
//!
//! Rules: refresh once `refresh_fraction` of the lifetime has passed (default half), and early
//! enough that the credentials served always have [`SDK_MARGIN`] left, but no sooner than
//! [`MIN_REFRESH_INTERVAL`] after the last fetch; after a failure retry with exponential
//! backoff (1 s doubling up to `max_backoff`); keep serving the last good credentials while
//! they are valid; never serve expired ones. New identity files (a rotated certificate, a
//! revoked one replaced) force a fetch at once, ending the backoff the old identity's failures
//! earned ([`CredentialState::identity_changed`]).
//!
//! Both times are jittered, so that helpers started together (a rollout's replicas) do not
//! fetch together at every refresh, nor retry in step through an outage and all arrive when the
//! broker comes back: a refresh comes up to `refresh_jitter` of its delay early (never later,
//! which would eat into the margin), a retry after between half and all of its backoff ("equal
//! jitter"). The random draw is passed in ([`CredentialState::redraw`]), so the rules stay pure.
//!
//! The margin is what the AWS SDKs assume of a credential endpoint: botocore refreshes
//! credentials with less than 15 minutes left (`credentials.py`, advisory refresh), and its
//! IMDS provider takes credentials with less than 17 to 25 minutes left to last that long
//! ("static stability", `utils.py` `_evaluate_expiration`: `ec2_credential_refresh_window`,
//! which `credentials.py` sets to the advisory 15 minutes — the 10 of `utils.py` is only the
//! default of a fetcher built without it — plus a random 2 to 10), so it would use them past
//! their expiry. Sessions too short to keep the margin are warned about.
//!
//! Credentials the server stops accepting before they expire (a role's sessions revoked, the
//! token key that sealed them retired) are replaced at once: [`run`] asks the server now and
//! then whether it still accepts those it holds ([`SessionChecks`]), and a refusal forces a
//! fetch ([`CredentialState::record_refusal`]) whose credentials are checked as soon as they
//! come. When the server refuses those too (a revocation cutoff ahead of its clock, a replica
//! without the key), the next fetch waits as after a failure, and never less than
//! [`MIN_REFRESH_INTERVAL`]: a helper never fetches in a loop. The checks are jittered too: each
//! comes up to [`CHECK_JITTER`] of its interval early ([`check_interval`]), so that a fleet
//! started together drifts apart instead of asking the server in step every interval.

use std::sync::{Arc, RwLock};
use std::time::Duration as StdDuration;

use time::{Duration, OffsetDateTime};

use super::cache::parse_expiration;
use crate::client::SessionCredentials;

/// How long the credentials served should still be valid: more than the SDKs' refresh window
/// (15 minutes) and botocore's IMDS "static stability" window (15 + at most 10 minutes: 25),
/// by 5 minutes at least.
pub const SDK_MARGIN: Duration = Duration::minutes(30);

/// The shortest time between two fetches: longer than the server's default credential reuse
/// window (`credential_reuse_seconds = 60`), within which a refresh would get the same
/// credentials back.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::minutes(2);

/// Whether credentials lasting `lifetime` are too short for the helper to always serve them
/// with [`SDK_MARGIN`] left.
pub fn too_short_for_sdks(lifetime: Duration) -> bool {
    lifetime < SDK_MARGIN + MIN_REFRESH_INTERVAL
}

/// How the helper refreshes.
#[derive(Clone, Copy, Debug)]
pub struct RefreshPolicy {
    /// Fraction of the lifetime after which to refresh (0 < f < 1).
    pub refresh_fraction: f64,
    /// Treat credentials as expiring at most this long after they were obtained (tests use a
    /// few seconds; `None` = the server's expiration).
    pub max_lifetime: Option<Duration>,
    /// First retry delay after a failure; doubles per consecutive failure.
    pub min_backoff: Duration,
    /// Largest retry delay.
    pub max_backoff: Duration,
    /// The largest fraction of its delay by which a refresh comes early (0 ≤ j < 1).
    pub refresh_jitter: f64,
    /// Whether the credentials are served from an endpoint SDKs refresh them from (the
    /// sidecar's): those SDKs expect more than 15 minutes left, and short sessions are warned
    /// of ([`short_session_warning`]). `update`'s credentials file is read, not refreshed.
    pub serves_an_endpoint: bool,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            refresh_fraction: 0.5,
            max_lifetime: None,
            min_backoff: Duration::seconds(1),
            max_backoff: Duration::seconds(60),
            refresh_jitter: 0.1,
            serves_an_endpoint: false,
        }
    }
}

/// Credentials with the times that govern them.
#[derive(Clone, Debug)]
pub struct Held {
    pub credentials: SessionCredentials,
    pub obtained: OffsetDateTime,
    /// The effective expiry (the server's, or earlier under `max_lifetime`).
    pub expires: OffsetDateTime,
}

impl Held {
    /// How long the credentials last from when they were obtained.
    pub fn lifetime(&self) -> Duration {
        self.expires - self.obtained
    }
}

/// What the helper currently has.
#[derive(Debug, Default)]
pub struct CredentialState {
    held: Option<Held>,
    failures: u32,
    last_failure: Option<OffsetDateTime>,
    last_error: Option<String>,
    forced: Option<OffsetDateTime>,
    /// Why the server refused credentials, until a check does not refuse those held.
    refused: Option<String>,
    /// Refusals since a check last passed: each after the first defers the next fetch.
    refusals: u32,
    /// Credentials fetched after a refusal, not yet checked.
    recheck: bool,
    /// A uniform draw in `[0, 1)` that spreads the next attempt ([`CredentialState::redraw`]);
    /// 0 puts it at its latest.
    draw: f64,
}

/// Why no credentials can be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    #[error("no credentials yet: the first fetch has not succeeded ({0})")]
    NotYetFetched(String),
    #[error("the last credentials expired at {expired} and refreshing them failed: {error}")]
    Expired { expired: String, error: String },
}

impl CredentialState {
    /// The credentials to serve at `now`: only unexpired ones.
    pub fn current(&self, now: OffsetDateTime) -> Result<&Held, Unavailable> {
        let error = || {
            self.last_error
                .clone()
                .unwrap_or_else(|| "no attempt finished yet".to_owned())
        };
        match &self.held {
            Some(h) if now < h.expires => Ok(h),
            Some(h) => Err(Unavailable::Expired {
                expired: format_time(h.expires),
                error: error(),
            }),
            None => Err(Unavailable::NotYetFetched(error())),
        }
    }

    /// When the next fetch is due: at once with nothing held and no failure; after the
    /// backoff following a failure; else once `refresh_fraction` of the lifetime is gone or
    /// only [`SDK_MARGIN`] is left, whichever comes first, but not within
    /// [`MIN_REFRESH_INTERVAL`] of the last fetch (unless the credentials are so short-lived
    /// that the fraction comes first).
    pub fn next_attempt(&self, policy: &RefreshPolicy) -> Option<OffsetDateTime> {
        if let Some(failed) = self.last_failure {
            let full = backoff(policy, self.failures);
            return Some(failed + full - full * (0.5 * self.draw));
        }
        let h = self.held.as_ref()?;
        let lifetime = h.lifetime();
        let keep_margin = (lifetime - SDK_MARGIN).max(MIN_REFRESH_INTERVAL);
        let delay = (lifetime * policy.refresh_fraction).min(keep_margin);
        let early = delay * (policy.refresh_jitter * self.draw);
        let scheduled = h.obtained + (delay - early).max(delay.min(MIN_REFRESH_INTERVAL));
        Some(self.forced.map_or(scheduled, |f| f.min(scheduled)))
    }

    /// Sets the draw in `[0, 1)` that spreads the next attempt (out-of-range values are
    /// clamped); [`run`] draws afresh after every fetch.
    pub fn redraw(&mut self, draw: f64) {
        self.draw = unit_draw(draw);
    }

    /// Why the last fetch failed, when it did.
    pub fn last_error(&self) -> Option<&str> {
        self.last_failure.and(self.last_error.as_deref())
    }

    /// Why the server refuses credentials, when it did and no check has passed since.
    pub fn refused(&self) -> Option<&str> {
        self.refused.as_deref()
    }

    /// Whether the credentials held were fetched after a refusal and are yet to be checked.
    pub fn recheck_due(&self) -> bool {
        self.recheck && self.held.is_some()
    }

    /// The credentials to check with the server at `now`: those held, unless they expired or
    /// a fetch has failed since (the next fetch is due anyway).
    pub fn to_check(&self, now: OffsetDateTime) -> Option<SessionCredentials> {
        match (&self.held, self.last_failure) {
            (Some(h), None) if now < h.expires => Some(h.credentials.clone()),
            _ => None,
        }
    }

    /// Records that the server refused the credentials held (`reason`), and returns when the
    /// fetch that replaces them is due, when this refusal set it. The first refusal has them
    /// replaced at once; a refusal of credentials fetched after one defers the next fetch by
    /// the backoff of as many failures, and at least [`MIN_REFRESH_INTERVAL`]. The same
    /// credentials refused again change nothing: their replacement is due already. Only an
    /// accepting check ([`CredentialState::record_check_passed`]) starts the count again, so
    /// replicas that disagree cost at most a fetch per check. The credentials are served
    /// meanwhile: the server may be one replica of several, and they are what there is.
    pub fn record_refusal(
        &mut self,
        reason: String,
        now: OffsetDateTime,
        policy: &RefreshPolicy,
    ) -> Option<OffsetDateTime> {
        let again = self.refused.is_some() && !self.recheck;
        self.refused = Some(reason);
        if again {
            return None;
        }
        self.refusals = self.refusals.saturating_add(1);
        self.recheck = false;
        let due = match self.refusals {
            1 => now,
            n => now + backoff(policy, n - 1).max(MIN_REFRESH_INTERVAL),
        };
        self.request_refresh(due);
        Some(due)
    }

    /// When the fetch that replaces refused credentials is due, if one is.
    pub fn refetch_due(&self) -> Option<OffsetDateTime> {
        self.refused.as_ref().and(self.forced)
    }

    /// Records a check the server answered by accepting the credentials held.
    pub fn record_check_passed(&mut self) {
        self.refused = None;
        self.refusals = 0;
        self.recheck = false;
    }

    /// Whether there is an answer to serve: credentials (fetched, or kept before a restart) or
    /// the failure of a fetch.
    pub fn attempted(&self) -> bool {
        self.held.is_some() || self.last_failure.is_some()
    }

    /// Holds `credentials` kept before a restart, from `now`, in place of a first fetch, and
    /// has that fetch due at once: a success replaces them, a failure retries with backoff
    /// while they are served. Kept credentials that expired by this clock are not held.
    pub fn hold_kept(&mut self, credentials: SessionCredentials, now: OffsetDateTime) {
        let Ok(expires) = usable_expiry(&credentials, now) else {
            return;
        };
        self.held = Some(Held {
            credentials,
            obtained: now,
            expires,
        });
        self.request_refresh(now);
    }

    /// Records a successful fetch at `now`. Credentials whose expiration cannot be read, or is
    /// not after `now` (a clock ahead of the server's), are recorded as a failure: the first
    /// could be served past their expiry, the second never, and a refresh due at once would
    /// repeat without backoff.
    pub fn record_success(&mut self, credentials: SessionCredentials, now: OffsetDateTime, policy: &RefreshPolicy) {
        let server_expiry = match usable_expiry(&credentials, now) {
            Ok(expiry) => expiry,
            Err(msg) => return self.record_failure(msg, now),
        };
        let expires = match policy.max_lifetime {
            Some(max) => server_expiry.min(now + max),
            None => server_expiry,
        };
        self.held = Some(Held {
            credentials,
            obtained: now,
            expires,
        });
        self.failures = 0;
        self.last_failure = None;
        self.last_error = None;
        self.forced = None;
        self.recheck = self.refused.is_some();
    }

    /// Records a failed fetch at `now`; the held credentials stay (until they expire).
    pub fn record_failure(&mut self, error: String, now: OffsetDateTime) {
        self.failures = self.failures.saturating_add(1);
        self.last_failure = Some(now);
        self.last_error = Some(error);
    }

    /// Forces a fetch at the next wake-up after `now`, which the identity files changed at (a
    /// rotated certificate, or a revoked one replaced). The new identity starts afresh: a
    /// backoff earned by failures of the old one (its certificate revoked or expired) is
    /// dropped, and their count with it. The reason of the last failure is still told until a
    /// fetch succeeds. [`MIN_REFRESH_INTERVAL`] does not hold it back: the files change once
    /// per rotation, and are looked at every few seconds at most, so this is no loop.
    pub fn identity_changed(&mut self, now: OffsetDateTime) {
        self.failures = 0;
        self.last_failure = None;
        self.request_refresh(now);
    }

    /// Forces a fetch at `at`, or at the next wake-up after it.
    fn request_refresh(&mut self, at: OffsetDateTime) {
        self.forced = Some(at);
    }
}

/// `min_backoff * 2^(failures-1)`, capped at `max_backoff`.
pub fn backoff(policy: &RefreshPolicy, failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(20);
    (policy.min_backoff * 2_i32.pow(exp)).min(policy.max_backoff)
}

/// The expiry of credentials fetched at `now`: an error naming it when it cannot be read or is
/// not after `now` (a clock ahead of the server's), as such credentials can never be used.
pub(crate) fn usable_expiry(credentials: &SessionCredentials, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    let Some(expiry) = parse_expiration(&credentials.expiration) else {
        return Err(format!(
            "the server sent an unreadable expiration '{}'",
            credentials.expiration
        ));
    };
    if expiry <= now {
        return Err(format!(
            "the server sent credentials expiring at {}, which is not after this machine's clock ({}): \
             check the clocks",
            credentials.expiration,
            format_time(now)
        ));
    }
    Ok(expiry)
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the format of every AWS expiration.
pub fn format_time(t: OffsetDateTime) -> String {
    crate::session::format_expiration(t.unix_timestamp())
}

/// The warning for credentials that last `lifetime`, refreshed under `policy`, if they are too
/// short for the SDKs that refresh them from an endpoint ([`RefreshPolicy::serves_an_endpoint`];
/// not when tests shorten lifetimes themselves).
fn short_session_warning(policy: &RefreshPolicy, lifetime: Duration) -> Option<&'static str> {
    (policy.serves_an_endpoint && policy.max_lifetime.is_none() && too_short_for_sdks(lifetime)).then_some(
        "these credentials last less than 32 minutes: the AWS SDKs expect a credential endpoint's credentials to \
         have more than 15 minutes left (botocore's IMDS provider takes those with less than 17 to 25 minutes left to \
         last that long and may use them past their expiry); ask for a session of an hour or more \
         (--session-duration 3600)",
    )
}

/// Shared state read by the servers and written by [`run`].
pub type SharedState = Arc<RwLock<CredentialState>>;

/// How often, and how, [`run`] asks the server whether it still accepts the credentials
/// held ([`Checked`]). `every: None` never asks (a server without STS: AWS's Roles Anywhere).
pub struct SessionChecks<C> {
    pub every: Option<StdDuration>,
    pub check: C,
}

/// The largest fraction of `--check-session-seconds` by which a check comes early.
pub const CHECK_JITTER: f64 = 0.2;

/// The wait before the next check of the credentials held: `every`, up to [`CHECK_JITTER`] of
/// it early per the uniform `draw` in `[0, 1)` (clamped), never later (the interval is the
/// longest a revoked credential is served).
pub fn check_interval(every: StdDuration, draw: f64) -> StdDuration {
    every.mul_f64(1.0 - CHECK_JITTER * unit_draw(draw))
}

/// What a check of the credentials held found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Checked {
    /// The server accepted them.
    Accepted,
    /// The server refused them: its code and message.
    Refused(String),
    /// Nothing either way: no answer, another error, no STS there. Changes nothing.
    Unknown,
}

/// Fetches forever per `policy`, recording each result in `state`. `changed` is polled every
/// `check_every`; when it returns true (the identity files changed) a refresh is forced. The
/// credentials held are checked with the server per `checks`; a refusal forces a refresh.
pub async fn run<F, Fut, C, CheckFut>(
    state: SharedState,
    policy: RefreshPolicy,
    check_every: StdDuration,
    mut changed: impl FnMut() -> bool,
    mut fetch: F,
    mut checks: SessionChecks<C>,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<SessionCredentials, String>>,
    C: FnMut(SessionCredentials) -> CheckFut,
    CheckFut: std::future::Future<Output = Checked>,
{
    let mut warned_short = false;
    let next_check_after = |every| tokio::time::Instant::now() + check_interval(every, uniform_draw());
    let mut next_check = checks.every.map(next_check_after);
    loop {
        let now = OffsetDateTime::now_utc();
        let due = read(&state, |s| s.next_attempt(&policy)).unwrap_or(now);
        if due > now {
            let recheck = checks.every.is_some() && read(&state, CredentialState::recheck_due);
            let until_check = match recheck {
                true => Some(StdDuration::ZERO),
                false => next_check.map(|at| at.saturating_duration_since(tokio::time::Instant::now())),
            };
            let wait = StdDuration::try_from(due - now)
                .unwrap_or_default()
                .min(check_every)
                .min(until_check.unwrap_or(StdDuration::MAX));
            tokio::time::sleep(wait).await;
            let now = OffsetDateTime::now_utc();
            if changed() {
                tracing::info!("identity files changed: refreshing credentials");
                write(&state, |s| s.identity_changed(now));
            } else if recheck || next_check.is_some_and(|at| at <= tokio::time::Instant::now()) {
                next_check = checks.every.map(next_check_after);
                check_held(&state, &policy, &mut checks.check, now).await;
            }
            continue;
        }
        let result = fetch().await;
        let now = OffsetDateTime::now_utc();
        write(&state, |s| s.redraw(uniform_draw()));
        match result {
            Ok(c) => {
                tracing::info!(access_key_id = %c.access_key_id, expiration = %c.expiration, "credentials refreshed");
                write(&state, |s| s.record_success(c, now, &policy));
                let lifetime = read(&state, |s| s.held.as_ref().map(Held::lifetime));
                if let Some(lifetime) = lifetime
                    && let Some(warning) = short_session_warning(&policy, lifetime)
                    && !std::mem::replace(&mut warned_short, true)
                {
                    tracing::warn!(lifetime_seconds = lifetime.whole_seconds(), "{warning}");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "credential refresh failed; retrying with backoff");
                write(&state, |s| s.record_failure(e, now));
            }
        }
    }
}

/// Checks the credentials held at `now` with `check` (none after a failed fetch, or once
/// they expired), and records what the server said.
async fn check_held<C, CheckFut>(state: &SharedState, policy: &RefreshPolicy, check: &mut C, now: OffsetDateTime)
where
    C: FnMut(SessionCredentials) -> CheckFut,
    CheckFut: std::future::Future<Output = Checked>,
{
    let Some(credentials) = read(state, |s| s.to_check(now)) else {
        return;
    };
    match check(credentials).await {
        Checked::Refused(refusal) => {
            let now = OffsetDateTime::now_utc();
            match write(state, |s| s.record_refusal(refusal.clone(), now, policy)) {
                Some(due) => tracing::warn!(
                    refusal = %refusal,
                    next_fetch = %format_time(due),
                    "the server refuses the credentials held: fetching new ones"
                ),
                None => tracing::debug!(refusal = %refusal, "the server still refuses the credentials held"),
            }
        }
        Checked::Accepted => write(state, CredentialState::record_check_passed),
        Checked::Unknown => {}
    }
}

/// `draw` within `[0, 1]`: clamped, and 0 (no jitter) when it is no number.
fn unit_draw(draw: f64) -> f64 {
    match draw.is_finite() {
        true => draw.clamp(0.0, 1.0),
        false => 0.0,
    }
}

/// A uniform draw in `[0, 1)` from the system's random generator (0 if it fails: no jitter).
fn uniform_draw() -> f64 {
    let mut bytes = [0u8; 4];
    match aws_lc_rs::rand::fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0),
        Err(_) => 0.0,
    }
}

/// Reads the shared state (a poisoned lock still holds consistent data: every write is one
/// assignment sequence without panics).
pub fn read<T>(state: &SharedState, f: impl FnOnce(&CredentialState) -> T) -> T {
    match state.read() {
        Ok(g) => f(&g),
        Err(p) => f(&p.into_inner()),
    }
}

/// [`CredentialState::hold_kept`] on the shared state.
pub fn hold_kept(state: &SharedState, credentials: SessionCredentials, now: OffsetDateTime) {
    write(state, |s| s.hold_kept(credentials, now));
}

fn write<T>(state: &SharedState, f: impl FnOnce(&mut CredentialState) -> T) -> T {
    match state.write() {
        Ok(mut g) => f(&mut g),
        Err(p) => f(&mut p.into_inner()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Short sessions are warned of where an endpoint serves them (the sidecar), not for
    /// `update`'s credentials file, which SDKs read rather than refresh.
    #[test]
    fn short_sessions_are_warned_of_for_endpoints_only() {
        let endpoint = RefreshPolicy {
            serves_an_endpoint: true,
            ..RefreshPolicy::default()
        };
        assert!(short_session_warning(&endpoint, Duration::minutes(15)).is_some());
        assert!(short_session_warning(&endpoint, Duration::hours(1)).is_none());
        assert!(short_session_warning(&RefreshPolicy::default(), Duration::minutes(15)).is_none());
    }
    use time::macros::datetime;
    use zeroize::Zeroizing;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00:00 UTC);

    fn creds(key: &str, expiration: &str) -> SessionCredentials {
        SessionCredentials {
            access_key_id: key.into(),
            secret_access_key: Zeroizing::new("s".into()),
            session_token: Zeroizing::new("t".into()),
            expiration: expiration.into(),
        }
    }

    fn s(n: i64) -> Duration {
        Duration::seconds(n)
    }

    #[test]
    fn outage_keeps_serving_then_503_then_recovers() {
        let p = RefreshPolicy::default();
        let mut st = CredentialState::default();
        assert_eq!(st.next_attempt(&p), None, "nothing held: fetch at once");
        assert!(matches!(st.current(T0), Err(Unavailable::NotYetFetched(_))));
        st.record_success(creds("A", "2026-01-01T01:00:00Z"), T0, &p);
        assert_eq!(st.current(T0).unwrap().credentials.access_key_id, "A");
        assert_eq!(st.next_attempt(&p), Some(T0 + s(1800)), "half the lifetime");
        // The server goes away: retries back off 1, 2, 4 ... 60 s; A is served meanwhile.
        let mut now = T0 + s(1800);
        for want in [1, 2, 4, 8, 16, 32, 60, 60] {
            st.record_failure("cannot reach https://x: refused".into(), now);
            assert_eq!(st.next_attempt(&p), Some(now + s(want)));
            now += s(want);
        }
        assert_eq!(st.current(T0 + s(3599)).unwrap().credentials.access_key_id, "A");
        assert_eq!(
            st.current(T0 + s(3600)).unwrap_err(),
            Unavailable::Expired {
                expired: "2026-01-01T01:00:00Z".into(),
                error: "cannot reach https://x: refused".into()
            }
        );
        // The server is back.
        st.record_success(creds("B", "2026-01-01T02:00:00Z"), T0 + s(3700), &p);
        assert_eq!(st.current(T0 + s(3700)).unwrap().credentials.access_key_id, "B");
        // 3,500 s: refreshed with 30 minutes left, a little before half the lifetime.
        assert_eq!(st.next_attempt(&p), Some(T0 + s(3700 + 1700)));
    }

    #[test]
    fn kept_credentials_are_served_while_the_first_fetch_is_due_at_once_then_backs_off() {
        let p = RefreshPolicy::default();
        let mut st = CredentialState::default();
        st.hold_kept(creds("KEPT", "2026-01-01T00:50:00Z"), T0);
        assert!(st.attempted(), "an answer to serve from the start");
        assert_eq!(st.current(T0).unwrap().credentials.access_key_id, "KEPT");
        assert_eq!(st.next_attempt(&p), Some(T0), "the first fetch is due at once");
        // The server cannot be reached: retries back off from 1 s, not half the kept lifetime.
        st.record_failure("cannot reach https://x: refused".into(), T0);
        assert_eq!(st.next_attempt(&p), Some(T0 + s(1)));
        st.record_failure("cannot reach https://x: refused".into(), T0 + s(1));
        assert_eq!(st.next_attempt(&p), Some(T0 + s(3)));
        assert_eq!(st.current(T0 + s(3)).unwrap().credentials.access_key_id, "KEPT");
        // It is back: fetched credentials replace the kept ones, on the usual schedule.
        st.record_success(creds("NEW", "2026-01-01T01:00:10Z"), T0 + s(10), &p);
        assert_eq!(st.current(T0 + s(10)).unwrap().credentials.access_key_id, "NEW");
        assert_eq!(st.next_attempt(&p), Some(T0 + s(10 + 1800)));
    }

    #[test]
    fn kept_credentials_expired_by_this_clock_are_not_held() {
        let mut st = CredentialState::default();
        st.hold_kept(creds("KEPT", "2026-01-01T00:00:00Z"), T0);
        assert!(!st.attempted());
        assert_eq!(st.next_attempt(&RefreshPolicy::default()), None);
    }

    #[test]
    fn served_credentials_keep_the_sdk_margin_when_they_can() {
        let p = RefreshPolicy::default();
        // (session seconds, refreshed after, seconds left at the refresh)
        for (lifetime, after) in [(43200, 21600), (3600, 1800), (2400, 600), (1800, 120), (900, 120)] {
            let mut st = CredentialState::default();
            let expiry = format_time(T0 + s(lifetime));
            st.record_success(creds("A", &expiry), T0, &p);
            assert_eq!(st.next_attempt(&p), Some(T0 + s(after)), "{lifetime} s");
            assert_eq!(too_short_for_sdks(s(lifetime)), lifetime < 1920, "{lifetime} s");
        }
    }

    #[test]
    fn the_draw_brings_a_check_early_by_at_most_the_jitter() {
        let every = StdDuration::from_secs(60);
        assert_eq!(check_interval(every, 0.0), every);
        assert_eq!(check_interval(every, 0.5), StdDuration::from_secs(54));
        let nearly_one = check_interval(every, 0.999_999);
        assert!(nearly_one > StdDuration::from_secs(48) && nearly_one < StdDuration::from_millis(48_001));
        // Draws out of range are clamped, and one that is not a number is none: never later than
        // the interval, never sooner than 80 % of it.
        assert_eq!(check_interval(every, -1.0), every);
        assert_eq!(check_interval(every, 7.0), StdDuration::from_secs(48));
        assert_eq!(check_interval(every, f64::NAN), every);
    }

    #[test]
    fn the_draw_brings_a_refresh_early_and_shortens_a_retry() {
        let p = RefreshPolicy::default();
        // (session seconds, draw, refreshed after): at most a tenth early, never before the
        // minimum interval, never later than without jitter.
        for (lifetime, draw, after) in [
            (3600, 0.5, 1710),
            (3600, 0.999, 1620),
            (43200, 1.0, 19440),
            (900, 1.0, 120),
        ] {
            let mut st = CredentialState::default();
            st.record_success(creds("A", &format_time(T0 + s(lifetime))), T0, &p);
            st.redraw(draw);
            let due = st.next_attempt(&p).unwrap();
            assert_eq!((due - T0).whole_seconds(), after, "{lifetime} s, draw {draw}");
        }
        // A retry comes after half to all of its backoff.
        let mut st = CredentialState::default();
        for _ in 0..4 {
            st.record_failure("refused".into(), T0);
        }
        for (draw, after) in [(0.0, 8.0), (0.5, 6.0), (1.0, 4.0), (f64::NAN, 8.0), (7.0, 4.0)] {
            st.redraw(draw);
            let due = st.next_attempt(&p).unwrap();
            assert_eq!((due - T0).as_seconds_f64(), after, "draw {draw}");
        }
    }

    #[test]
    fn max_lifetime_and_fraction_shorten_the_schedule() {
        let p = RefreshPolicy {
            refresh_fraction: 0.25,
            max_lifetime: Some(s(8)),
            ..RefreshPolicy::default()
        };
        let mut st = CredentialState::default();
        st.record_success(creds("A", "2026-01-01T01:00:00Z"), T0, &p);
        assert_eq!(st.current(T0).unwrap().expires, T0 + s(8));
        assert_eq!(st.next_attempt(&p), Some(T0 + s(2)));
        assert!(st.current(T0 + s(8)).is_err());
    }

    #[test]
    fn credentials_expired_by_this_clock_are_a_failure() {
        let p = RefreshPolicy::default();
        let mut st = CredentialState::default();
        // This machine's clock is 20 minutes ahead of the server's, whose session lasts 15.
        st.record_success(creds("A", "2026-01-01T00:15:00Z"), T0 + s(1200), &p);
        assert_eq!(st.next_attempt(&p), Some(T0 + s(1201)), "backoff, not at once");
        let e = st.current(T0 + s(1200)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no credentials yet: the first fetch has not succeeded (the server sent credentials expiring at \
             2026-01-01T00:15:00Z, which is not after this machine's clock (2026-01-01T00:20:00Z): check the clocks)"
        );
    }

    #[test]
    fn unreadable_expiration_is_a_failure() {
        let p = RefreshPolicy::default();
        let mut st = CredentialState::default();
        st.record_success(creds("A", "tomorrow"), T0, &p);
        assert_eq!(
            st.current(T0).unwrap_err(),
            Unavailable::NotYetFetched("the server sent an unreadable expiration 'tomorrow'".into())
        );
        assert_eq!(st.next_attempt(&p), Some(T0 + s(1)));
    }

    #[test]
    fn file_change_forces_a_refresh() {
        let p = RefreshPolicy::default();
        let mut st = CredentialState::default();
        st.record_success(creds("A", "2026-01-01T01:00:00Z"), T0, &p);
        st.identity_changed(T0 + s(10));
        assert_eq!(st.next_attempt(&p), Some(T0 + s(10)));
        assert_eq!(st.current(T0 + s(10)).unwrap().expires, T0 + s(3600));
    }

    /// New identity files while a refresh backs off after failures (a revoked certificate
    /// replaced): the fetch is at once, and a failure of the new one backs off from the start.
    #[test]
    fn file_change_ends_the_backoff_of_failures() {
        let p = RefreshPolicy::default();
        let mut st = CredentialState::default();
        st.record_success(creds("A", "2026-01-01T01:00:00Z"), T0, &p);
        let mut now = T0 + s(1800);
        for _ in 0..7 {
            st.record_failure("AccessDeniedException: certificate-revoked".into(), now);
            now += s(1);
        }
        assert_eq!(st.next_attempt(&p), Some(now - s(1) + s(60)), "backing off 60 s");
        st.identity_changed(now);
        assert_eq!(
            st.next_attempt(&p),
            Some(T0 + s(1800)),
            "due since the refresh that failed: at once"
        );
        assert_eq!(st.current(now).unwrap().credentials.access_key_id, "A");
        st.record_failure("connection refused".into(), now + s(1));
        assert_eq!(st.next_attempt(&p), Some(now + s(2)), "backoff from 1 s");
        assert_eq!(st.last_error(), Some("connection refused"));
        // Nothing held: the reason of the last failure is still told until a fetch succeeds.
        let mut st = CredentialState::default();
        st.record_failure("AccessDeniedException: certificate-revoked".into(), T0);
        st.identity_changed(T0 + s(10));
        assert_eq!(st.next_attempt(&p), None, "nothing held, no backoff: at once");
        assert_eq!(
            st.current(T0 + s(10)).unwrap_err(),
            Unavailable::NotYetFetched("AccessDeniedException: certificate-revoked".into())
        );
    }

    #[test]
    fn credentials_the_server_refuses_are_replaced_at_once_and_served_meanwhile() {
        let p = RefreshPolicy::default();
        let mut st = CredentialState::default();
        st.record_success(creds("A", "2026-01-01T01:00:00Z"), T0, &p);
        assert!(!st.recheck_due());
        assert_eq!(st.to_check(T0 + s(60)).unwrap().access_key_id, "A");
        assert_eq!(
            st.record_refusal("AccessDenied: revoked".into(), T0 + s(60), &p),
            Some(T0 + s(60))
        );
        assert_eq!(st.refused(), Some("AccessDenied: revoked"));
        assert_eq!(
            st.next_attempt(&p),
            Some(T0 + s(60)),
            "within MIN_REFRESH_INTERVAL of the fetch"
        );
        assert_eq!(st.refetch_due(), Some(T0 + s(60)));
        // Refused again before the fetch: nothing changes, nothing is counted.
        assert_eq!(st.record_refusal("AccessDenied: revoked".into(), T0 + s(61), &p), None);
        assert_eq!(st.next_attempt(&p), Some(T0 + s(60)));
        assert_eq!(st.current(T0 + s(60)).unwrap().credentials.access_key_id, "A");
        // The fetch fails: still refused, the failure told, nothing to check until a fetch
        // succeeds (the retry is due anyway).
        st.record_failure("connection refused".into(), T0 + s(61));
        assert_eq!(
            (st.refused(), st.last_error()),
            (Some("AccessDenied: revoked"), Some("connection refused"))
        );
        assert!(st.to_check(T0 + s(62)).is_none());
        // New credentials: checked at once, refused until a check passes.
        st.record_success(creds("B", "2026-01-01T02:00:00Z"), T0 + s(63), &p);
        assert_eq!(
            (st.refused(), st.last_error(), st.recheck_due()),
            (Some("AccessDenied: revoked"), None, true)
        );
        assert_eq!(st.to_check(T0 + s(64)).unwrap().access_key_id, "B");
        st.record_check_passed();
        assert_eq!((st.refused(), st.recheck_due()), (None, false));
        // Expired credentials are not checked: there is nothing to keep.
        assert!(st.to_check(T0 + s(7200)).is_none());
    }

    #[test]
    fn credentials_refused_again_defer_the_next_fetch() {
        let p = RefreshPolicy::default();
        let mut st = CredentialState::default();
        st.record_success(creds("A", "2026-01-01T02:00:00Z"), T0, &p);
        st.record_refusal("AccessDenied: revoked".into(), T0 + s(60), &p);
        assert_eq!(st.next_attempt(&p), Some(T0 + s(60)));
        // The server refuses the new ones too (a cutoff ahead of its clock): each next fetch
        // waits as after as many failures, never less than MIN_REFRESH_INTERVAL.
        let mut fetched = T0 + s(61);
        for refusal in 2..=12 {
            st.record_success(creds("B", "2026-01-01T02:00:00Z"), fetched, &p);
            assert!(st.recheck_due(), "refusal {refusal}");
            let due = st.record_refusal("AccessDenied: revoked".into(), fetched, &p);
            assert_eq!(due, Some(fetched + s(120)), "refusal {refusal}");
            assert!(!st.recheck_due());
            // The periodic checks that refuse them again until then push nothing back.
            for later in [1, 60, 119] {
                assert_eq!(
                    st.record_refusal("AccessDenied: revoked".into(), fetched + s(later), &p),
                    None
                );
            }
            assert_eq!(st.next_attempt(&p), Some(fetched + s(120)), "refusal {refusal}");
            fetched += s(120);
        }
        // With a longer backoff than the floor, the backoff.
        let slow = RefreshPolicy {
            max_backoff: s(600),
            ..p
        };
        st.record_success(creds("B", "2026-01-01T02:00:00Z"), fetched, &slow);
        st.record_refusal("AccessDenied: revoked".into(), fetched, &slow);
        assert_eq!(st.next_attempt(&slow), Some(fetched + s(600)));
        // A check that passes ends it: the next refusal is replaced at once.
        st.record_check_passed();
        st.record_refusal("ExpiredToken: expired".into(), fetched + s(1), &slow);
        assert_eq!(st.next_attempt(&slow), Some(fetched + s(1)));
    }
}
