//! The daemon's shared state, handed to every request: the broker (configuration snapshot
//! and caches), the reloadable TLS certificate, and readiness. Reload goes through here so
//! SIGHUP and `Admin.Reload` take the same path.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::broker::Broker;
use crate::config::Config;
use crate::server::ReloadableCert;

pub struct State {
    pub broker: Arc<Broker>,
    /// The gRPC services, built once ([`crate::service::grpc::routes`]).
    pub grpc: tonic::service::Routes,
    pub cert: Arc<ReloadableCert>,
    pub config_path: PathBuf,
    ready: AtomicBool,
}

impl State {
    pub fn new(config: Config, cert: Arc<ReloadableCert>, config_path: PathBuf) -> Self {
        Self {
            broker: Arc::new(Broker::new(config)),
            grpc: crate::service::grpc::routes(),
            cert,
            config_path,
            ready: AtomicBool::new(false),
        }
    }

    /// Re-reads the configuration; on any error the running configuration stays in force.
    pub fn reload(&self) -> Result<(), String> {
        let config = Config::load(&self.config_path).map_err(|e| e.to_string())?;
        self.cert
            .replace(&config.server.tls)
            .map_err(|e| format!("server certificate: {e}"))?;
        self.broker.replace_config(config);
        Ok(())
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }
}
