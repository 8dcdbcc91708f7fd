//! `rolegate.v1.Admin`: Status (what the daemon serves now) and Reload (the SIGHUP path,
//! [`crate::state::State::reload`]), for mTLS callers whose certificate chains to an enabled
//! trust anchor and whose subject is listed in `[server] admin_subjects`.

use time::OffsetDateTime;
use tonic::{Request, Response, Status};

use super::peer::admin_peer;
use super::{GrpcContext, audited, audited_answer, context, one_message, record};
use crate::audit::Record;
use crate::config::Config;
use crate::error::ApiError;
use crate::proto::admin_server::Admin;
use crate::proto::{
    AnchorStatus, AttributeMapping, CacheStatus, CertificateStatus, ConfigStatus, CrlStatus, ProfileStatus,
    ReloadRequest, ReloadResponse, RoleStatus, ServerCertificateStatus, StatusRequest, StatusResponse, TokenKeyStatus,
};
use crate::state::{Reloaded, State};

/// The stateless `Admin` service; state comes with each request's [`GrpcContext`].
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct AdminService;

#[tonic::async_trait]
impl Admin for AdminService {
    async fn reload(&self, req: Request<ReloadRequest>) -> Result<Response<ReloadResponse>, Status> {
        let ctx = context(&req)?;
        let mut record = record(&ctx, "Admin.Reload");
        let result = match one_message(&req, "Admin.Reload") {
            Ok(_) => reload(&ctx, &mut record).await,
            Err(e) => Err(e),
        };
        audited_answer(
            &ctx,
            &record,
            result.map(|answer| {
                let failed = failed_reload(&answer);
                (answer, failed)
            }),
        )
    }

    async fn status(&self, req: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let ctx = context(&req)?;
        let mut record = record(&ctx, "Admin.Status");
        let result = one_message(&req, "Admin.Status").and_then(|_| status(&ctx, &mut record));
        audited(&ctx, &record, result)
    }
}

/// A reload that failed, as its audit event and metrics record it: the call succeeds (its
/// answer says the reload failed, and why), but the configuration in force did not change, so
/// it is no `allow` (reason `reload-failed`, error code `ValidationError`: the files read do
/// not make a configuration).
fn failed_reload(answer: &ReloadResponse) -> Option<ApiError> {
    (!answer.reloaded).then(|| ApiError::validation("reload-failed", answer.error.clone()))
}

async fn reload(ctx: &GrpcContext, record: &mut Record) -> Result<ReloadResponse, ApiError> {
    let admin = admin_peer(
        &ctx.state.broker,
        &ctx.conn,
        "Admin.Reload",
        record,
        OffsetDateTime::now_utc(),
    )?;
    let principal = admin.subject_string();
    // Reading files (and waiting for a reload already running) is blocking work: keep it off
    // the runtime's request threads, as the SIGHUP and file-watch reloads do. The outcome is
    // logged, naming the admin, by the reload's own task, and once the reload runs it goes on
    // whatever becomes of the call. A call that ended before its answer — its client
    // cancelled it, or `request_timeout_seconds` answered it — no longer writes the audit
    // event: the reload's task writes it, with the outcome that went into force (the metrics
    // counted the call as it ended).
    let state = ctx.state.clone();
    let by = principal.to_owned();
    let (answer, answered) = tokio::sync::oneshot::channel();
    let (late, started) = (record.clone(), ctx.started);
    tokio::task::spawn_blocking(move || {
        let outcome = state.reload();
        match &outcome {
            Ok(_) => tracing::info!(%by, "configuration reloaded (Admin.Reload)"),
            Err(error) => tracing::error!(%by, %error, "reload failed; keeping the previous configuration"),
        }
        if let Err(unanswered) = answer.send(reload_response(outcome)) {
            // The audit event only: the call was counted in the metrics when it was answered.
            match failed_reload(&unanswered) {
                None => late.allow(started.elapsed()),
                Some(failed) => late.deny(&failed, started.elapsed()),
            }
        }
    });
    Ok(answered
        .await
        .unwrap_or_else(|_| reload_response(Err("the reload stopped".to_owned()))))
}

/// The answer of a reload that ended with `outcome`.
fn reload_response(outcome: Result<Reloaded, String>) -> ReloadResponse {
    match outcome {
        Ok(Reloaded { changes, warnings }) => ReloadResponse {
            reloaded: true,
            error: String::new(),
            changes,
            warnings,
        },
        Err(error) => ReloadResponse {
            reloaded: false,
            error,
            ..ReloadResponse::default()
        },
    }
}

fn status(ctx: &GrpcContext, record: &mut Record) -> Result<StatusResponse, ApiError> {
    let broker = &ctx.state.broker;
    admin_peer(broker, &ctx.conn, "Admin.Status", record, OffsetDateTime::now_utc())?;
    let config = broker.config();
    let mut anchors: Vec<AnchorStatus> = config
        .anchors
        .values()
        .map(|a| AnchorStatus {
            arn: a.arn.as_str().to_owned(),
            enabled: a.enabled,
            certificates: a
                .trust
                .certificates()
                .iter()
                .map(|c| CertificateStatus {
                    subject: c.subject.clone(),
                    not_after_unix: c.not_after,
                })
                .collect(),
            crls: a
                .trust
                .crls()
                .iter()
                .map(|c| CrlStatus {
                    issuer: c.issuer.clone(),
                    next_update_unix: c.next_update.unwrap_or(0),
                })
                .collect(),
            refuses_stale_crls: a.trust.stale_crls() == crate::identity::StaleCrls::Refuse,
        })
        .collect();
    anchors.sort_by(|a, b| a.arn.cmp(&b.arn));
    let mut profiles: Vec<ProfileStatus> = config
        .profiles
        .values()
        .map(|p| ProfileStatus {
            arn: p.arn.as_str().to_owned(),
            enabled: p.enabled,
            role_arns: p.role_arns.clone(),
            duration_seconds: p.duration_seconds,
            attribute_mappings: p
                .attribute_mapping
                .effective()
                .into_iter()
                .map(|(field, specifiers)| AttributeMapping {
                    certificate_field: field.name().to_owned(),
                    specifiers: specifiers.into_iter().map(str::to_owned).collect(),
                })
                .collect(),
            accept_role_session_name: p.accept_role_session_name,
            require_instance_properties: p.require_instance_properties,
            has_session_policy: p.session_policy.is_some(),
            managed_policy_arns: p.managed_policy_arns.clone(),
        })
        .collect();
    profiles.sort_by(|a, b| a.arn.cmp(&b.arn));
    let mut roles: Vec<RoleStatus> = config
        .roles
        .values()
        .map(|r| RoleStatus {
            arn: r.arn.as_str().to_owned(),
            role_id: r.role_id.clone(),
            max_session_duration: r.max_session_duration,
            revoke_sessions_issued_before_unix: r.revoke_sessions_issued_before.unwrap_or(0),
        })
        .collect();
    roles.sort_by(|a, b| a.arn.cmp(&b.arn));
    Ok(StatusResponse {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        anchors,
        profiles,
        roles,
        token_key_ids: config.keyring.key_ids().into_iter().map(str::to_owned).collect(),
        active_token_key_id: config.keyring.active_id().to_owned(),
        caches: broker
            .caches()
            .stats()
            .into_iter()
            .map(|c| CacheStatus {
                name: c.name.to_owned(),
                entries: c.entries,
                hits: c.hits,
                misses: c.misses,
            })
            .collect(),
        config: Some(config_status(&ctx.state, &config)),
        server_certificate: Some(ServerCertificateStatus {
            not_after_unix: config.server.tls.not_after.unwrap_or(0),
            names: config.server.tls.names.clone(),
            staged_goes_in_unix: ctx.state.staged_certificate_goes_in().unwrap_or(0),
        }),
        token_keys: token_keys(&config),
        seal_claims_layout: u32::from(config.keyring.seal_layout()),
    })
}

/// Each token key's id and public check value (never the key), sorted by id.
fn token_keys(config: &Config) -> Vec<TokenKeyStatus> {
    config
        .keyring
        .check_values()
        .into_iter()
        .map(|(id, check_value)| TokenKeyStatus {
            id: id.to_owned(),
            check_value: check_value.to_owned(),
        })
        .collect()
}

/// The configuration in force, where it came from, and the last reload's error.
fn config_status(state: &State, config: &Config) -> ConfigStatus {
    let reload = state.reload_status();
    ConfigStatus {
        path: state.config_path.display().to_string(),
        loaded_unix: reload.loaded_unix,
        last_reload_error: reload.last_error.unwrap_or_default(),
        watch_seconds: config
            .server
            .config_watch
            .map_or(0, |every| u32::try_from(every.as_secs()).unwrap_or(u32::MAX)),
        files: config.sources.paths().map(|p| p.display().to_string()).collect(),
        awaiting_restart: state.awaiting_restart(),
    }
}
