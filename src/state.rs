//! The daemon's shared state, handed to every request: the broker (configuration snapshot
//! and caches), the admission limiter, the TLS listener's connection limits, the reloadable
//! TLS certificate, readiness (which `/readyz` and the gRPC health service both report), and
//! what became of the last reload. Reload goes through here so SIGHUP, the file watch and
//! `Admin.Reload` take the same path.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;

use crate::broker::Broker;
use crate::config::succession::{KeyRetirements, RevocationsSeen};
use crate::config::{Config, ServerSettings, SourceFiles};
use crate::ratelimit::Limiter;
use crate::server::ReloadableCert;
use crate::server::connections::ConnectionAdmission;

pub struct State {
    pub broker: Arc<Broker>,
    /// The gRPC services, built once ([`crate::service::grpc::routes`]).
    pub grpc: tonic::service::Routes,
    pub cert: Arc<ReloadableCert>,
    /// The TLS listener's connection limits, which a reload changes.
    connections: Arc<ConnectionAdmission>,
    pub config_path: PathBuf,
    limiter: ArcSwap<Limiter>,
    /// The listen addresses the daemon started with: a reload cannot move the listeners, so
    /// every reload whose file names others says so, not only the first.
    listen_at_start: ListenAtStart,
    /// Held while a reload runs, so SIGHUP, `Admin.Reload` and the file watch never race to
    /// swap in configurations read in one order and stored in the other.
    reloading: Mutex<()>,
    /// The CRLs in force since the start, which no reload may go back on.
    revocations_seen: Mutex<RevocationsSeen>,
    /// When each token key stopped being active, for the warning of one retired too soon.
    key_retirements: Mutex<KeyRetirements>,
    last_reload: Mutex<LastReload>,
    /// When the server certificate a reload staged, not valid yet, may go in (Unix seconds):
    /// the daemon reloads then ([`State::staged_certificate_due`]).
    staged_certificate: Mutex<Option<i64>>,
    health: crate::service::grpc::Readiness,
}

/// What the last reload left: its status, and when it failed, the files it read (which the
/// file watch looks at until one changes).
struct LastReload {
    status: ReloadStatus,
    failed_sources: Option<SourceFiles>,
}

/// What a reload that succeeded did: its changes (as its log line lists them) and every
/// warning it logged — the new configuration's load warnings, listen addresses waiting for a
/// restart, and what the change from the configuration in force warns of
/// (`config::succession`: token keys retired while their sessions live, a new region or
/// account, revocations a newer CRL dropped, PROXY protocol turned on).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reloaded {
    pub changes: Vec<String>,
    pub warnings: Vec<String>,
}

/// When the configuration in force was loaded, and whether the last reload failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReloadStatus {
    /// Start, or the last successful reload; Unix seconds.
    pub loaded_unix: i64,
    /// The error of the last reload when it failed (the file on disk is not in force).
    pub last_error: Option<String>,
}

/// The listen addresses the daemon bound at start as the configuration file gave them
/// (`server.listen`, `server.metrics_listen`), each `None` when a command-line flag
/// (`--listen`, `--metrics-listen`) set it instead: the flag wins at every start, so an edit of
/// that setting in the file waits for no restart (a restart with the same command line would
/// not apply it either).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenAtStart {
    pub listen: Option<SocketAddr>,
    pub metrics_listen: Option<Option<SocketAddr>>,
}

impl ListenAtStart {
    /// The settings of `server` that differ from those the daemon started with, each as
    /// `(key, value in the file, value at start)`; addresses set on the command line are left
    /// out.
    fn changed_in(self, server: &ServerSettings) -> Vec<(&'static str, String, String)> {
        let shown = |a: Option<SocketAddr>| a.map_or_else(|| "off".to_owned(), |a| a.to_string());
        let mut changed = Vec::new();
        if let Some(listen) = self.listen.filter(|&at_start| at_start != server.listen) {
            changed.push(("server.listen", server.listen.to_string(), listen.to_string()));
        }
        if let Some(metrics_listen) = self
            .metrics_listen
            .filter(|&at_start| at_start != server.metrics_listen)
        {
            changed.push((
                "server.metrics_listen",
                shown(server.metrics_listen),
                shown(metrics_listen),
            ));
        }
        changed
    }
}

impl State {
    /// The daemon's state, serving `config`; `listen_at_start` says which listen addresses
    /// the configuration file set.
    pub fn new(
        config: Config,
        cert: Arc<ReloadableCert>,
        connections: Arc<ConnectionAdmission>,
        config_path: PathBuf,
        listen_at_start: ListenAtStart,
    ) -> Self {
        let (grpc, health) = crate::service::grpc::routes();
        let revocations_seen = RevocationsSeen::of(&config);
        Self {
            listen_at_start,
            limiter: ArcSwap::from_pointee(Limiter::new(&config.server)),
            broker: Arc::new(Broker::new(config)),
            grpc,
            cert,
            connections,
            config_path,
            reloading: Mutex::new(()),
            revocations_seen: Mutex::new(revocations_seen),
            key_retirements: Mutex::new(KeyRetirements::default()),
            last_reload: Mutex::new(LastReload {
                status: ReloadStatus {
                    loaded_unix: time::OffsetDateTime::now_utc().unix_timestamp(),
                    last_error: None,
                },
                failed_sources: None,
            }),
            staged_certificate: Mutex::new(None),
            health,
        }
    }

    /// Re-reads and validates the configuration (call it off the request path), then swaps it in
    /// atomically: requests in flight keep the snapshot they started with, caches are dropped,
    /// request and connection limits change in place (what is held and each rate-limit
    /// bucket's tokens are kept). On any error the running configuration stays in force. Every
    /// attempt is logged and counted in `rolegate_config_reloads_total{outcome}`.
    pub fn reload(&self) -> Result<Reloaded, String> {
        // A panic of another reload left nothing half done: the swap is the last step.
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(PoisonError::into_inner);
        let _watchdog = SlowReloadWarning::start(SLOW_RELOAD);
        // A bug that panics while loading fails the reload like any other error: counted,
        // reported, the configuration in force kept (the panic hook logs where it was).
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.try_reload())).unwrap_or_else(|_| {
                Err(ReloadFailure {
                    error: "rolegate panicked while loading the configuration (a bug: please report it)".to_owned(),
                    sources: self.broker.config().sources.as_on_disk_now(),
                })
            });
        let result = {
            let mut last = self.last_reload.lock().unwrap_or_else(PoisonError::into_inner);
            let LastReload { status, failed_sources } = &mut *last;
            match result {
                Ok(reloaded) => {
                    status.loaded_unix = time::OffsetDateTime::now_utc().unix_timestamp();
                    status.last_error = None;
                    *failed_sources = None;
                    Ok(reloaded)
                }
                Err(failed) => {
                    // A staged certificate is not tried again every second while reloads
                    // fail: the reload that mends the files stages it again.
                    let unstaged = self
                        .staged_certificate
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .take();
                    if unstaged.is_some() {
                        tracing::warn!(
                            "the staged server certificate is unstaged by this failed reload: it goes in only \
                             with the next reload that succeeds"
                        );
                    }
                    let message = failed.error;
                    status.last_error = Some(message.clone());
                    *failed_sources = Some(failed.sources);
                    Err(message)
                }
            }
        };
        // Counted last: a scrape that counts this reload shows its configuration and status.
        crate::metrics::record_reload(result.is_ok());
        crate::server::systemd::reloaded(result.as_ref().err().map(String::as_str));
        match &result {
            Ok(Reloaded { changes, .. }) if changes.is_empty() => {
                tracing::info!(path = %self.config_path.display(), "configuration reloaded")
            }
            Ok(Reloaded { changes, .. }) => tracing::info!(
                path = %self.config_path.display(),
                changes = changes.join("; ").as_str(),
                "configuration reloaded"
            ),
            Err(e) => tracing::error!(
                path = %self.config_path.display(),
                error = %e,
                "reload failed; keeping the previous configuration"
            ),
        }
        result
    }

    /// When the configuration in force was loaded, and the error of the last reload if it failed.
    pub fn reload_status(&self) -> ReloadStatus {
        self.last_reload
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .status
            .clone()
    }

    /// The files the last reload read, when it failed (see [`crate::config::ChangeWatch`]).
    pub fn failed_reload_sources(&self) -> Option<SourceFiles> {
        self.last_reload
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .failed_sources
            .clone()
    }

    /// Whether the configuration in force names other listen addresses than the daemon
    /// started with (`server.listen`, `server.metrics_listen`): a reload cannot move the
    /// listeners, so only a restart applies them.
    pub fn restart_pending(&self) -> bool {
        !self.awaiting_restart().is_empty()
    }

    /// The settings of the configuration in force that wait for a restart, each with the value
    /// the daemon started with: `server.listen 0.0.0.0:8443 (started with 127.0.0.1:8443)`.
    pub fn awaiting_restart(&self) -> Vec<String> {
        let changed = self.listen_at_start.changed_in(&self.broker.config().server);
        changed
            .into_iter()
            .map(|(key, now, at_start)| format!("{key} {now} (started with {at_start})"))
            .collect()
    }

    /// When a server certificate a reload staged goes in (Unix seconds), if one is staged.
    pub fn staged_certificate_goes_in(&self) -> Option<i64> {
        *self.staged_certificate.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a server certificate a reload staged may go in at `now` (Unix seconds).
    pub fn staged_certificate_due(&self, now: i64) -> bool {
        self.staged_certificate_goes_in().is_some_and(|at| now >= at)
    }

    /// The admission limiter of the configuration in force.
    pub fn limiter(&self) -> Arc<Limiter> {
        self.limiter.load_full()
    }

    pub fn is_ready(&self) -> bool {
        self.health.is_ready()
    }

    /// Sets readiness: `/readyz` answers 200 or 503, and the gRPC health service reports
    /// `SERVING` or `NOT_SERVING`, from this one call (they change together).
    pub fn set_ready(&self, ready: bool) {
        self.health.set(ready);
    }

    /// The reload: what it changed ([`crate::config::succession::changes`]), or why it failed
    /// and which files it read.
    fn try_reload(&self) -> Result<Reloaded, ReloadFailure> {
        let config = Config::load_tracked(&self.config_path).map_err(|failed| ReloadFailure {
            error: failed.error.to_string(),
            sources: failed.sources,
        })?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let in_force = self.broker.config();
        let staged = crate::config::succession::staged_server_certificate(&in_force, &config, now);
        let mut config = match staged {
            Some(_) => config.keeping_server_certificate_of(&in_force),
            None => config,
        };
        let mut revocations_seen = self.revocations_seen.lock().unwrap_or_else(PoisonError::into_inner);
        crate::config::succession::check(&in_force, &config, &revocations_seen, now).map_err(|refusal| {
            ReloadFailure {
                error: refusal.to_string(),
                sources: config.sources.clone(),
            }
        })?;
        let mut changes = crate::config::succession::changes(&in_force, &config);
        let mut key_retirements = self.key_retirements.lock().unwrap_or_else(PoisonError::into_inner);
        let retired = crate::config::succession::retired_live_keys(&in_force, &config, &key_retirements, now);
        let renamed = crate::config::succession::renamed_resources(&in_force, &config);
        let unrevoked = crate::config::succession::dropped_revocations(&in_force, &config);
        let proxied = crate::config::succession::proxy_protocol_turned_on(&in_force, &config);
        let removed_roles = crate::config::succession::removed_roles(&in_force, &config);
        let removed_anchors = crate::config::succession::removed_revoking_anchors(&in_force, &config);
        let removed_policies = crate::config::succession::removed_managed_policies(&in_force, &config);
        if let Some(at) = staged {
            changes.push(format!(
                "server certificate staged: not valid yet, it goes in at {} (the one in force is kept until then)",
                crate::session::format_expiration(at)
            ));
        }
        self.cert.replace(&config.server.tls).map_err(|e| ReloadFailure {
            error: format!("server certificate: {e}"),
            sources: config.sources.clone(),
        })?;
        let limiter = self.limiter.load();
        if !limiter.apply(&config.server) {
            self.limiter.store(Arc::new(limiter.rebuilt(&config.server)));
        }
        self.connections.apply(&config.server);
        let mut warnings = std::mem::take(&mut config.warnings);
        warnings.extend(warn_of_settings_read_at_start(
            self.listen_at_start,
            &config.server,
            &config.path,
        ));
        revocations_seen.record(&config, now);
        key_retirements.record(&in_force, &config, now);
        *self.staged_certificate.lock().unwrap_or_else(PoisonError::into_inner) = staged;
        self.broker.replace_config(config);
        let warned = (retired.into_iter().chain(renamed).chain(unrevoked))
            .chain(proxied)
            .chain(removed_roles)
            .chain(removed_anchors)
            .chain(removed_policies);
        for warning in warned {
            tracing::warn!("{warning}");
            warnings.push(warning);
        }
        let current = self.broker.config();
        crate::metrics::forget_roles(
            in_force
                .roles
                .keys()
                .filter(|arn| current.role(arn).is_none())
                .map(String::as_str),
        );
        Ok(Reloaded { changes, warnings })
    }
}

/// The listen addresses are bound once, at start: a reload that changes them applies
/// everything else, and says so (the warnings logged, returned).
fn warn_of_settings_read_at_start(
    at_start: ListenAtStart,
    reloaded: &ServerSettings,
    file: &std::path::Path,
) -> Vec<String> {
    let file = file.display();
    at_start
        .changed_in(reloaded)
        .into_iter()
        .map(|(key, now, at_start)| {
            let warning = format!(
                "{file}: {key}: changed from {at_start} to {now}: listen addresses are read at start only; restart to apply it"
            );
            tracing::warn!(key, "{warning}");
            warning
        })
        .collect()
}

/// Why a reload failed, and the files it read: the file watch tries again once one of them
/// changes.
struct ReloadFailure {
    error: String,
    sources: SourceFiles,
}

/// How long a reload runs before it is logged as slow.
const SLOW_RELOAD: std::time::Duration = std::time::Duration::from_secs(10);

/// Logs a warning once if the reload it was started for is still running after a while: a file
/// it reads may never answer (a hung network mount), and every later reload — SIGHUP, the file
/// watch, `Admin.Reload` — waits behind it, otherwise without a word.
struct SlowReloadWarning {
    /// Dropped with the guard, which ends the waiting thread at once.
    _done: std::sync::mpsc::Sender<()>,
}

impl SlowReloadWarning {
    fn start(after: std::time::Duration) -> SlowReloadWarning {
        let (done, finished) = std::sync::mpsc::channel::<()>();
        // No thread, no warning: the reload itself goes on either way.
        let _ = std::thread::Builder::new()
            .name("reload-watchdog".into())
            .spawn(move || {
                warn_if_still_running(&finished, after, || {
                    tracing::warn!(
                        "a reload has been running for {} s: a file it reads may not answer (a hung network mount); \
                     later reloads wait for it",
                        after.as_secs()
                    );
                });
            });
        SlowReloadWarning { _done: done }
    }
}

/// Calls `warn` if `finished` has not been told (its sender dropped) within `after`.
fn warn_if_still_running(finished: &std::sync::mpsc::Receiver<()>, after: std::time::Duration, warn: impl FnOnce()) {
    if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(after) {
        warn();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_reload_is_warned_of_once_and_a_quick_one_not() {
        let warned = std::cell::Cell::new(0);
        let (done, finished) = std::sync::mpsc::channel::<()>();
        drop(done);
        warn_if_still_running(&finished, std::time::Duration::from_secs(60), || {
            warned.set(warned.get() + 1)
        });
        assert_eq!(warned.get(), 0, "a reload that ended is not warned of");
        let (_running, finished) = std::sync::mpsc::channel::<()>();
        warn_if_still_running(&finished, std::time::Duration::from_millis(1), || {
            warned.set(warned.get() + 1)
        });
        assert_eq!(warned.get(), 1);
    }
}
