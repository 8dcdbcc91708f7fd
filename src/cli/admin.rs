//! `rolegate admin status|reload`: the gRPC `Admin` API from the command line, over mTLS with
//! a certificate whose subject is listed in the daemon's `[server] admin_subjects` (the same
//! calls `grpcurl` makes, with a readable answer and an exit code).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::client::TlsOptions;
use crate::client::grpc::GrpcClient;
use crate::helper::credentials::{IdentitySource, Passphrase, tls_client_identity};
use crate::identity::StaleCrls;
use crate::proto::{ReloadRequest, ReloadResponse, StatusRequest, StatusResponse};
use crate::session::format_expiration;

#[derive(Subcommand)]
pub(super) enum AdminCommand {
    /// Show what the daemon serves: configuration, trust anchors, profiles, roles, token keys,
    /// caches.
    Status {
        #[command(flatten)]
        args: AdminArgs,
        /// Print the answer as JSON (the proto3 JSON mapping of `StatusResponse`, as grpcurl
        /// prints it, with every field: 64-bit integers as strings).
        #[arg(long)]
        json: bool,
    },
    /// Make the daemon re-read its configuration (as SIGHUP does); exits 1 when it keeps the
    /// previous one, printing why.
    Reload(AdminArgs),
}

/// Where the daemon is and the admin identity that calls it.
#[derive(clap::Args)]
pub(super) struct AdminArgs {
    /// The daemon's TLS listener, e.g. `https://rolegate.example.com:8443` (`https://` may be
    /// left out, as credential-process's --endpoint).
    #[arg(long)]
    endpoint: String,
    /// Admin client certificate (PEM or DER), or a PKCS#12 bundle with its key and chain.
    #[arg(long)]
    certificate: PathBuf,
    /// Its private key (PKCS#8, SEC1 or PKCS#1; PEM or DER; encrypted PKCS#8 with a passphrase).
    #[arg(long)]
    private_key: Option<PathBuf>,
    /// Intermediate CA certificates sent with the certificate (PEM bundle or DER), instead of
    /// those after it in the certificate file.
    #[arg(long)]
    intermediates: Option<PathBuf>,
    /// Name of an environment variable holding the passphrase of the key or bundle.
    #[arg(long, value_name = "VAR", conflicts_with = "private_key_passphrase_file")]
    private_key_passphrase_env: Option<String>,
    /// File whose first line is the passphrase of the key or bundle.
    #[arg(long, value_name = "FILE")]
    private_key_passphrase_file: Option<PathBuf>,
    /// Extra CA certificates (PEM) to trust for the endpoint.
    #[arg(long)]
    ca_bundle: Option<PathBuf>,
    /// Do not verify the server certificate (development only).
    #[arg(long)]
    no_verify_ssl: bool,
}

pub(super) fn run(cmd: AdminCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            super::print_error(&format_args!("cannot start the runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        tokio::time::timeout(ADMIN_CALL_TIMEOUT, call(cmd))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "no answer within {} s (is the endpoint a rolegate TLS listener? a reload reading a file that never answers also takes this long)",
                    ADMIN_CALL_TIMEOUT.as_secs()
                ))
            })
    });
    result.unwrap_or_else(|e: String| {
        super::print_error(&e);
        ExitCode::FAILURE
    })
}

/// How long one admin command may take, connecting included: a peer that accepts and never
/// answers must not hold a script for ever. Longer than the server's default
/// `request_timeout_seconds` (30), so that a call the server gives up on gets its answer
/// (UNAVAILABLE, saying why) rather than this command's own.
const ADMIN_CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(40);

async fn call(cmd: AdminCommand) -> Result<ExitCode, String> {
    match cmd {
        AdminCommand::Status { args, json } => {
            let status = connect(&args).await?.admin().status(StatusRequest {}).await;
            let status = status.map_err(|s| call_error("Admin.Status", &s))?.into_inner();
            match json {
                true => super::print_stdout(&format!("{:#}\n", status_json(&status))),
                false => {
                    let now = time::OffsetDateTime::now_utc().unix_timestamp();
                    super::print_stdout(&describe(&status, now))
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::Reload(args) => {
            let reload = connect(&args).await?.admin().reload(ReloadRequest {}).await;
            let answer = reload.map_err(|s| call_error("Admin.Reload", &s))?.into_inner();
            if answer.reloaded {
                super::print_stdout(&describe_reload(&answer));
                Ok(ExitCode::SUCCESS)
            } else {
                super::print_error(&format_args!(
                    "reload failed; the daemon keeps its previous configuration: {}",
                    answer.error
                ));
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

/// A reload that went into force: that it did, each change, and each warning.
fn describe_reload(answer: &ReloadResponse) -> String {
    let mut out = String::from("reloaded: the new configuration is in force\n");
    if answer.changes.is_empty() {
        out += "  no changes to apply (the config watch or a SIGHUP may have applied the files already)\n";
    }
    for change in &answer.changes {
        out += &format!("  changed: {change}\n");
    }
    for warning in &answer.warnings {
        out += &format!("  warning: {warning}\n");
    }
    out
}

async fn connect(args: &AdminArgs) -> Result<GrpcClient, String> {
    let source = IdentitySource {
        pkcs11_lib: None,
        certificate: args.certificate.clone(),
        private_key: args.private_key.clone(),
        intermediates: args.intermediates.clone(),
        passphrase: Passphrase::from_flags(
            args.private_key_passphrase_env.as_ref(),
            args.private_key_passphrase_file.as_ref(),
        ),
    };
    let (chain, key) = tls_client_identity(&source)?;
    let tls = TlsOptions {
        ca_bundle: args.ca_bundle.clone(),
        no_verify: args.no_verify_ssl,
        client_identity: Some((chain, std::sync::Arc::new(key))),
    };
    GrpcClient::connect(&crate::client::endpoint::with_scheme(&args.endpoint), &tls)
        .await
        .map_err(|e| e.to_string())
}

fn call_error(call: &str, status: &tonic::Status) -> String {
    format!("{call}: {:?}: {}", status.code(), status.message())
}

/// The status in the proto3 JSON mapping (lowerCamelCase names, 64-bit integers as strings),
/// every field present, for scripts.
fn status_json(s: &StatusResponse) -> serde_json::Value {
    use serde_json::json;
    let anchors: Vec<_> = s
        .anchors
        .iter()
        .map(|a| {
            json!({
                "arn": a.arn,
                "enabled": a.enabled,
                "certificates": a.certificates.iter().map(|c| json!({
                    "subject": c.subject,
                    "notAfterUnix": c.not_after_unix.to_string(),
                })).collect::<Vec<_>>(),
                "crls": a.crls.iter().map(|c| json!({
                    "issuer": c.issuer,
                    "nextUpdateUnix": c.next_update_unix.to_string(),
                })).collect::<Vec<_>>(),
                "refusesStaleCrls": a.refuses_stale_crls,
            })
        })
        .collect();
    let profiles: Vec<_> = s
        .profiles
        .iter()
        .map(|p| {
            json!({
                "arn": p.arn,
                "enabled": p.enabled,
                "roleArns": p.role_arns,
                "durationSeconds": p.duration_seconds,
                "attributeMappings": p.attribute_mappings.iter().map(|m| json!({
                    "certificateField": m.certificate_field,
                    "specifiers": m.specifiers,
                })).collect::<Vec<_>>(),
                "acceptRoleSessionName": p.accept_role_session_name,
                "requireInstanceProperties": p.require_instance_properties,
                "hasSessionPolicy": p.has_session_policy,
                "managedPolicyArns": p.managed_policy_arns,
            })
        })
        .collect();
    let roles: Vec<_> = s
        .roles
        .iter()
        .map(|r| {
            json!({
                "arn": r.arn,
                "roleId": r.role_id,
                "maxSessionDuration": r.max_session_duration,
                "revokeSessionsIssuedBeforeUnix": r.revoke_sessions_issued_before_unix.to_string(),
            })
        })
        .collect();
    let caches: Vec<_> = s
        .caches
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "entries": c.entries.to_string(),
                "hits": c.hits.to_string(),
                "misses": c.misses.to_string(),
            })
        })
        .collect();
    let config = s.config.as_ref().map(|c| {
        json!({
            "path": c.path,
            "loadedUnix": c.loaded_unix.to_string(),
            "lastReloadError": c.last_reload_error,
            "watchSeconds": c.watch_seconds,
            "files": c.files,
            "awaitingRestart": c.awaiting_restart,
        })
    });
    let server_certificate = s.server_certificate.as_ref().map(|c| {
        json!({
            "notAfterUnix": c.not_after_unix.to_string(),
            "names": c.names,
            "stagedGoesInUnix": c.staged_goes_in_unix.to_string(),
        })
    });
    let token_keys: Vec<_> = s
        .token_keys
        .iter()
        .map(|k| json!({"id": k.id, "checkValue": k.check_value}))
        .collect();
    json!({
        "version": s.version,
        "serverCertificate": server_certificate,
        "anchors": anchors,
        "profiles": profiles,
        "roles": roles,
        "tokenKeyIds": s.token_key_ids,
        "activeTokenKeyId": s.active_token_key_id,
        "tokenKeys": token_keys,
        "sealClaimsLayout": s.seal_claims_layout,
        "caches": caches,
        "config": config,
    })
}

/// ` — {mark}` when the time `at` (Unix seconds; 0: none) has come by `now`, as the clock of the
/// host running `rolegate admin` has it.
fn ran_out(at: i64, now: i64, mark: &str) -> String {
    match at != 0 && at <= now {
        true => format!(" — {mark}"),
        false => String::new(),
    }
}

/// The status as an operator reads it, one line per thing.
fn describe(s: &StatusResponse, now: i64) -> String {
    let mut out = format!("rolegate {}\n", s.version);
    if let Some(c) = &s.config {
        let watch = match c.watch_seconds {
            0 => "not watched for changes".to_owned(),
            n => format!("{} files watched every {n} s", c.files.len()),
        };
        let _ = writeln!(
            out,
            "configuration {}: loaded {}, {watch}",
            c.path,
            format_expiration(c.loaded_unix)
        );
        if !c.last_reload_error.is_empty() {
            let _ = writeln!(
                out,
                "  LAST RELOAD FAILED (the file on disk is not in force): {}",
                c.last_reload_error
            );
        }
        for setting in &c.awaiting_restart {
            let _ = writeln!(out, "  RESTART PENDING (a reload cannot apply it): {setting}");
        }
    }
    if let Some(c) = &s.server_certificate {
        let expires = match c.not_after_unix {
            0 => "expiry unknown".to_owned(),
            t => format!("expires {}", format_expiration(t)),
        };
        let _ = writeln!(
            out,
            "server certificate [{}]: {expires}{}",
            c.names.join(", "),
            ran_out(c.not_after_unix, now, "EXPIRED")
        );
        if c.staged_goes_in_unix != 0 {
            let _ = writeln!(
                out,
                "  staged: a new server certificate goes in at {}",
                format_expiration(c.staged_goes_in_unix)
            );
        }
    }
    for a in &s.anchors {
        let state = if a.enabled { "enabled" } else { "disabled" };
        let _ = writeln!(out, "trust anchor {} ({state})", a.arn);
        for c in &a.certificates {
            let _ = writeln!(
                out,
                "  CA {}: expires {}{}",
                c.subject,
                format_expiration(c.not_after_unix),
                ran_out(c.not_after_unix, now, "EXPIRED")
            );
        }
        for crl in &a.crls {
            let next = match crl.next_update_unix {
                0 => "no nextUpdate".to_owned(),
                t => format!("next update {}", format_expiration(t)),
            };
            let policy = if a.refuses_stale_crls {
                StaleCrls::Refuse
            } else {
                StaleCrls::Honour
            };
            let _ = writeln!(
                out,
                "  CRL of {}: {next} ({}){}",
                crl.issuer,
                policy.when_stale(),
                ran_out(crl.next_update_unix, now, "STALE")
            );
        }
    }
    for p in &s.profiles {
        let state = if p.enabled { "enabled" } else { "disabled" };
        let mappings: Vec<String> = p
            .attribute_mappings
            .iter()
            .map(|m| format!("{} [{}]", m.certificate_field, m.specifiers.join(", ")))
            .collect();
        // Settings shown when they differ from the defaults.
        let settings = [
            p.accept_role_session_name
                .then(|| "role session name accepted".to_owned()),
            p.require_instance_properties
                .then(|| "instance properties required".to_owned()),
            p.has_session_policy.then(|| "session policy".to_owned()),
            (!p.managed_policy_arns.is_empty())
                .then(|| format!("managed session policies [{}]", p.managed_policy_arns.join(", "))),
        ];
        let settings: String = settings.into_iter().flatten().map(|s| format!(", {s}")).collect();
        let _ = writeln!(
            out,
            "profile {} ({state}): roles [{}], default duration {} s, attribute mappings {}{settings}",
            p.arn,
            p.role_arns.join(", "),
            p.duration_seconds,
            mappings.join(", ")
        );
    }
    for r in &s.roles {
        let revoked = match r.revoke_sessions_issued_before_unix {
            0 => String::new(),
            at => format!(", sessions issued before {} revoked", format_expiration(at)),
        };
        let _ = writeln!(
            out,
            "role {} ({}): max session {} s{revoked}",
            r.arn, r.role_id, r.max_session_duration
        );
    }
    let _ = writeln!(out, "{}", describe_token_keys(s));
    for c in &s.caches {
        let _ = writeln!(
            out,
            "cache {}: {} entries, {} hits, {} misses",
            c.name, c.entries, c.hits, c.misses
        );
    }
    out
}

/// The token keys line: each id with its check value (compare them between replicas), the
/// active one named.
fn describe_token_keys(s: &StatusResponse) -> String {
    let keys: Vec<String> = match s.token_keys.is_empty() {
        // A daemon older than the check values lists the ids only.
        true => s.token_key_ids.clone(),
        false => s
            .token_keys
            .iter()
            .map(|k| format!("{} (check value {})", k.id, k.check_value))
            .collect(),
    };
    // Named when it is not the default: a rolling upgrade left half done.
    let layout = match s.seal_claims_layout {
        1 => ", sealing claims layout 1 (what earlier releases read: sessions carry no certificate chain)",
        _ => "",
    };
    format!(
        "token keys: {} (active {}){layout}",
        keys.join(", "),
        s.active_token_key_id
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{
        AnchorStatus, AttributeMapping, CacheStatus, CertificateStatus, ConfigStatus, CrlStatus, ProfileStatus,
        RoleStatus, ServerCertificateStatus, TokenKeyStatus,
    };

    /// The field names of the proto3 JSON mapping (lowerCamelCase) of every message declared
    /// in admin.proto that the status is made of.
    fn status_field_names() -> std::collections::BTreeSet<String> {
        let proto = include_str!("../../proto/rolegate/v1/admin.proto");
        let mut names = std::collections::BTreeSet::new();
        let mut in_status = false;
        for line in proto.lines().map(str::trim) {
            if let Some(message) = line.strip_prefix("message ") {
                in_status = message.contains("Status") && !message.starts_with("StatusRequest");
                in_status |= message.starts_with("AttributeMapping");
            } else if line == "}" {
                in_status = false;
            } else if in_status && !line.starts_with("//") && line.ends_with(';') && line.contains(" = ") {
                let declaration = line.split(" = ").next().unwrap_or_default();
                let field = declaration.split_whitespace().last().unwrap_or_default();
                let mut camel = String::new();
                let mut upper = false;
                for c in field.chars() {
                    match c {
                        '_' => upper = true,
                        c if upper => {
                            camel.push(c.to_ascii_uppercase());
                            upper = false;
                        }
                        c => camel.push(c),
                    }
                }
                names.insert(camel);
            }
        }
        names
    }

    fn json_keys(value: &serde_json::Value, keys: &mut std::collections::BTreeSet<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, member) in map {
                    keys.insert(key.clone());
                    json_keys(member, keys);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|item| json_keys(item, keys)),
            _ => {}
        }
    }

    #[test]
    fn status_json_has_every_field_of_the_proto() {
        let status = StatusResponse {
            version: "1".into(),
            anchors: vec![AnchorStatus {
                certificates: vec![CertificateStatus::default()],
                crls: vec![CrlStatus::default()],
                ..Default::default()
            }],
            profiles: vec![ProfileStatus {
                attribute_mappings: vec![AttributeMapping::default()],
                ..Default::default()
            }],
            roles: vec![RoleStatus::default()],
            caches: vec![CacheStatus::default()],
            config: Some(ConfigStatus {
                awaiting_restart: vec!["server.listen 0.0.0.0:8443 (started with 127.0.0.1:8443)".into()],
                ..Default::default()
            }),
            server_certificate: Some(ServerCertificateStatus::default()),
            token_keys: vec![TokenKeyStatus::default()],
            ..Default::default()
        };
        let json = status_json(&status);
        let mut keys = std::collections::BTreeSet::new();
        json_keys(&json, &mut keys);
        let expected = status_field_names();
        assert!(expected.len() > 30, "the proto's fields were not found: {expected:?}");
        let missing: Vec<_> = expected.difference(&keys).collect();
        assert!(missing.is_empty(), "admin status --json leaves out {missing:?}");
        assert_eq!(
            json["config"]["awaitingRestart"][0],
            "server.listen 0.0.0.0:8443 (started with 127.0.0.1:8443)"
        );
    }

    /// Each token key is shown with its check value, in the text and in the JSON, so that
    /// replicas can be compared.
    #[test]
    fn token_keys_are_shown_with_their_check_values() {
        let status = StatusResponse {
            token_key_ids: vec!["k1".into(), "k2".into()],
            active_token_key_id: "k2".into(),
            token_keys: vec![
                TokenKeyStatus {
                    id: "k1".into(),
                    check_value: "76ebd004".into(),
                },
                TokenKeyStatus {
                    id: "k2".into(),
                    check_value: "0a1b2c3d".into(),
                },
            ],
            ..Default::default()
        };
        assert!(
            describe(&status, 0)
                .contains("token keys: k1 (check value 76ebd004), k2 (check value 0a1b2c3d) (active k2)\n"),
            "{}",
            describe(&status, 0)
        );
        assert_eq!(
            status_json(&status)["tokenKeys"],
            serde_json::json!([{"id": "k1", "checkValue": "76ebd004"}, {"id": "k2", "checkValue": "0a1b2c3d"}])
        );
        // Sealing the layout earlier releases read is named; the default, or a daemon older
        // than the field (0), is not.
        let upgrading = StatusResponse {
            seal_claims_layout: 1,
            ..status.clone()
        };
        assert!(describe(&upgrading, 0).contains(
            "(active k2), sealing claims layout 1 (what earlier releases read: sessions carry no certificate chain)\n"
        ));
        assert_eq!(status_json(&upgrading)["sealClaimsLayout"], 1);
        let older = StatusResponse {
            token_keys: Vec::new(),
            ..status
        };
        assert!(describe(&older, 0).contains("token keys: k1, k2 (active k2)\n"));
    }

    /// What has run out by the admin's clock is marked: a stale CRL, an expired CA or server
    /// certificate; what has not, or has no time, is not.
    #[test]
    fn what_has_run_out_is_marked() {
        let status = StatusResponse {
            anchors: vec![AnchorStatus {
                arn: "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/a".into(),
                enabled: true,
                certificates: vec![CertificateStatus {
                    subject: "CN=root".into(),
                    not_after_unix: 2_000,
                }],
                crls: vec![
                    CrlStatus {
                        issuer: "CN=root".into(),
                        next_update_unix: 1_000,
                    },
                    CrlStatus {
                        issuer: "CN=other".into(),
                        next_update_unix: 0,
                    },
                ],
                ..Default::default()
            }],
            server_certificate: Some(ServerCertificateStatus {
                names: vec!["localhost".into()],
                not_after_unix: 1_500,
                ..Default::default()
            }),
            ..Default::default()
        };
        let at = |now| describe(&status, now);
        let early = at(999);
        assert!(!early.contains("STALE") && !early.contains("EXPIRED"), "{early}");
        let later = at(1_600);
        assert!(
            later.contains("  CRL of CN=root: next update 1970-01-01T00:16:40Z (honoured when stale) — STALE\n"),
            "{later}"
        );
        assert!(
            later.contains("  CRL of CN=other: no nextUpdate (honoured when stale)\n"),
            "{later}"
        );
        assert!(
            later.contains("server certificate [localhost]: expires 1970-01-01T00:25:00Z — EXPIRED\n"),
            "{later}"
        );
        assert!(
            later.contains("  CA CN=root: expires 1970-01-01T00:33:20Z\n"),
            "{later}"
        );
        assert!(at(2_000).contains("  CA CN=root: expires 1970-01-01T00:33:20Z — EXPIRED\n"));
    }
}
