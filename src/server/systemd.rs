//! The service manager's view of the daemon (`sd_notify`, for a systemd unit of
//! `Type=notify`): ready once both listeners are bound, a status line after each reload, and
//! stopping from the first SIGTERM. Without `NOTIFY_SOCKET` (not started by systemd) each call
//! does nothing.

use std::net::SocketAddr;

use sd_notify::NotifyState;

/// Both listeners are bound and the configuration is loaded: units ordered after this one
/// may start.
pub(crate) fn ready(listening_on: SocketAddr) {
    let status = format!("serving on {listening_on}");
    notify(&[NotifyState::Ready, NotifyState::Status(&status)]);
}

/// The outcome of a reload, its error if it failed, shown by `systemctl status`.
pub(crate) fn reloaded(error: Option<&str>) {
    let status = match error {
        None => "serving; configuration reloaded".to_owned(),
        Some(e) => format!("serving the previous configuration; reload failed: {e}"),
    };
    notify(&[NotifyState::Status(&status)]);
}

/// Shutting down: not ready, serving on through the shutdown delay, then draining.
pub(crate) fn stopping() {
    notify(&[
        NotifyState::Stopping,
        NotifyState::Status("shutting down: not ready, then draining connections"),
    ]);
}

fn notify(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!(error = %e, "cannot notify the service manager");
    }
}
