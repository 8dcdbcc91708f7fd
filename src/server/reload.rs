//! What starts a reload: SIGHUP, and (with `[server] config_watch_seconds`) a change on disk to
//! the configuration file or any file it names. Both go through [`State::reload`], as
//! `Admin.Reload` does; this module only decides when.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{ChangeWatch, Verdict};
use crate::state::State;

/// How often the watch reads `config_watch_seconds` of the configuration in force: a reload
/// that turns watching on, or shortens the interval, takes effect within this long.
const WATCH_SETTING_RECHECK: Duration = Duration::from_secs(1);

#[cfg(unix)]
pub(super) type ReloadSignal = tokio::signal::unix::Signal;
#[cfg(not(unix))]
pub type ReloadSignal = ();

/// Installs the SIGHUP handler (before the configuration is read, so no early SIGHUP kills us).
pub(super) fn reload_signal() -> std::io::Result<ReloadSignal> {
    #[cfg(unix)]
    {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    }
    #[cfg(not(unix))]
    Ok(())
}

/// Reloads the configuration on every SIGHUP; a bad file keeps the running configuration.
pub(super) async fn reload_on_signal(signal: ReloadSignal, state: Arc<State>) {
    #[cfg(unix)]
    {
        let mut hup = signal;
        while hup.recv().await.is_some() {
            // Parsing and validation read files: keep them off the runtime's request threads.
            // `State::reload` logs and counts the outcome.
            let state = state.clone();
            let _ = tokio::task::spawn_blocking(move || {
                tracing::info!("SIGHUP received; reloading the configuration");
                state.reload()
            })
            .await;
        }
    }
    #[cfg(not(unix))]
    let _ = (signal, state);
}

/// Reloads once a server certificate a reload staged is valid. Every `config_watch_seconds`,
/// reads the files of the configuration in force (and, after a
/// failed reload, those that reload read) again and reloads once a change has held still for
/// one look ([`ChangeWatch`]). The interval is read from the configuration in force every
/// [`WATCH_SETTING_RECHECK`], so a reload can start, change or stop the watching (a shorter
/// interval does not wait out the longer one).
pub(super) async fn reload_on_change(state: Arc<State>) {
    let mut watch = ChangeWatch::default();
    let mut last_look = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(WATCH_SETTING_RECHECK).await;
        // A server certificate a reload staged goes in once valid, watch or no watch.
        if state.staged_certificate_due(time::OffsetDateTime::now_utc().unix_timestamp()) {
            let state = state.clone();
            let _ = tokio::task::spawn_blocking(move || {
                tracing::info!("a staged server certificate goes in now; reloading");
                state.reload()
            })
            .await;
            continue;
        }
        let Some(interval) = state.broker.config().server.config_watch else {
            continue;
        };
        if last_look.elapsed() < interval {
            continue;
        }
        last_look = tokio::time::Instant::now();
        let state = state.clone();
        // Reading the files (and reloading) is blocking I/O.
        let looked = tokio::task::spawn_blocking(move || {
            look_and_reload(&state, &mut watch);
            watch
        })
        .await;
        match looked {
            Ok(w) => watch = w,
            // The watch state went with the failed task: look afresh, as at start.
            Err(e) => {
                tracing::error!(error = %e, "looking at the configuration files failed; looking again from scratch");
                watch = ChangeWatch::default();
            }
        }
    }
}

fn look_and_reload(state: &State, watch: &mut ChangeWatch) {
    let config = state.broker.config();
    let failed = state.failed_reload_sources();
    let Verdict::Reload(changed) = watch.look(&config.sources, failed.as_ref(), std::time::SystemTime::now()) else {
        return;
    };
    let changed: Vec<String> = changed.iter().map(|p| p.display().to_string()).collect();
    tracing::info!(files = %changed.join(", "), "configuration files changed; reloading");
    // `State::reload` logs and counts the outcome, and keeps the files a failed reload read.
    let _ = state.reload();
}
