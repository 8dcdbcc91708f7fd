//! `rolegate explain` and `rolegate simulate`: argument parsing, file loading and exit codes
//! (0 allowed, 1 denied, 2 usage or configuration error) around [`crate::explain`].

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::config::Config;
use crate::explain::{
    AssumeRoleQuestion, CreateSessionQuestion, SigningRegion, SimulateQuestion, explain_assume_role,
    explain_create_session, simulate,
};
use crate::helper::credential_process::trust_anchor_region;
use crate::helper::credentials::{IdentitySource, Passphrase, read_certificate_and_chain};

/// Exit code when the request would be allowed.
const ALLOWED: u8 = 0;
/// Exit code when it would be denied.
const DENIED: u8 = 1;
/// Exit code for a usage or configuration error (clap uses 2 for usage errors too).
const USAGE: u8 = 2;

/// `rolegate explain`: why a CreateSession (certificate mode) or an AssumeRole by a calling
/// role (`--caller-role-arn` mode) is allowed or denied.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("caller_identity").args(["caller_source_identity", "caller_certificate"])))]
pub(super) struct ExplainArgs {
    /// The TOML configuration file the daemon runs with.
    #[arg(long)]
    config: PathBuf,
    /// The client certificate as given to credential-process: PEM or DER (a PEM file may hold
    /// its chain after it), a PKCS#12 bundle (with the passphrase flags), or a `pkcs11:` URI
    /// (with --pkcs11-lib).
    #[arg(long, required_unless_present = "caller_role_arn")]
    certificate: Option<PathBuf>,
    /// Intermediate certificates (PEM bundle or DER), instead of those after the leaf in the
    /// certificate file.
    #[arg(long)]
    intermediates: Option<PathBuf>,
    /// The trust anchor the certificate is presented under (certificate mode).
    #[arg(long, required_unless_present = "caller_role_arn")]
    trust_anchor_arn: Option<String>,
    /// The profile the session is requested through (certificate mode).
    #[arg(long, required_unless_present = "caller_role_arn")]
    profile_arn: Option<String>,
    /// The role to assume.
    #[arg(long)]
    role_arn: String,
    /// Requested session duration (credential-process calls it --session-duration).
    #[arg(long, alias = "session-duration")]
    duration_seconds: Option<i64>,
    /// Requested role session name.
    #[arg(long)]
    role_session_name: Option<String>,
    /// The client address the daemon would see (`aws:SourceIp`).
    #[arg(long)]
    source_ip: Option<IpAddr>,
    /// Evaluate at this RFC 3339 time instead of now (e.g. 2026-06-01T12:00:00Z).
    #[arg(long, value_parser = parse_time)]
    at: Option<OffsetDateTime>,
    /// Instance property KEY=VALUE sent with CreateSession (repeatable).
    #[arg(long = "instance-property", value_parser = parse_pair, conflicts_with = "caller_role_arn")]
    instance_properties: Vec<(String, String)>,
    /// Explain AssumeRole (role chaining) by a session of this role instead of CreateSession
    /// (with --caller-source-identity).
    #[arg(
        long,
        conflicts_with_all = ["certificate", "intermediates", "trust_anchor_arn", "profile_arn"],
        requires = "caller_identity"
    )]
    caller_role_arn: Option<String>,
    /// The calling session's name.
    #[arg(long, default_value = "explain", requires = "caller_role_arn")]
    caller_session_name: String,
    /// The calling session's source identity, required with --caller-role-arn unless
    /// --caller-certificate gives it: every rolegate session has one, from the certificate it
    /// began with (`CN=` and its CN, or `ID=` and its serial), and it carries forward along a
    /// chain, so chaining needs sts:SetSourceIdentity.
    #[arg(long, requires = "caller_role_arn")]
    caller_source_identity: Option<String>,
    /// The certificate the calling session began with (PEM or DER; its leaf): its source
    /// identity and, through --caller-profile-arn's attribute_mappings, its tags are the
    /// calling session's, as CreateSession made them (instead of --caller-source-identity and
    /// --caller-tag).
    #[arg(
        long,
        value_name = "FILE",
        requires_all = ["caller_role_arn", "caller_profile_arn"],
        conflicts_with = "caller_tags"
    )]
    caller_certificate: Option<PathBuf>,
    /// The Roles Anywhere profile the calling session came from: its session_policy and
    /// managed_policy_arns are the caller's session policies, which limit what it may chain to.
    #[arg(long, requires = "caller_role_arn")]
    caller_profile_arn: Option<String>,
    /// A tag of the calling session, KEY=VALUE (repeatable): a Roles Anywhere session's are its
    /// certificate's mapped attributes (`x509Subject/CN=web-1`), `aws:PrincipalTag/*` to the
    /// trust policy.
    #[arg(long = "caller-tag", value_parser = parse_pair, requires = "caller_role_arn")]
    caller_tags: Vec<(String, String)>,
    /// The key of a --caller-tag that is transitive (repeatable): the calling session
    /// inherited it along a chain, and the new session inherits it in turn (so it needs
    /// sts:TagSession, and a --tag cannot set it again).
    #[arg(
        long = "caller-transitive-tag-key",
        requires = "caller_role_arn",
        conflicts_with = "caller_certificate"
    )]
    caller_transitive_tag_keys: Vec<String>,
    /// When the calling session was issued, RFC 3339 (default: --at, or now): its
    /// aws:TokenIssueTime, and what its role's revoke_sessions_issued_before is compared with.
    #[arg(long, value_parser = parse_time, requires = "caller_role_arn")]
    caller_issued_at: Option<OffsetDateTime>,
    /// AssumeRole ExternalId.
    #[arg(long, requires = "caller_role_arn")]
    external_id: Option<String>,
    /// AssumeRole SourceIdentity.
    #[arg(long, requires = "caller_role_arn")]
    source_identity: Option<String>,
    /// AssumeRole session tag KEY=VALUE (repeatable).
    #[arg(long = "tag", value_parser = parse_pair, requires = "caller_role_arn")]
    tags: Vec<(String, String)>,
    /// AssumeRole TransitiveTagKeys: the key of a --tag the new session passes on along the
    /// chain (repeatable).
    #[arg(long = "transitive-tag-key", requires = "caller_role_arn")]
    transitive_tag_keys: Vec<String>,
    /// AssumeRole Policy: an inline session policy (a JSON file). It limits the new session,
    /// not the call: explain checks that STS would accept it (`rolegate simulate --policy`
    /// says what the session may then do).
    #[arg(long, requires = "caller_role_arn")]
    policy: Option<PathBuf>,
    /// AssumeRole PolicyArns: a managed policy passed as a session policy (repeatable).
    #[arg(long = "policy-arn", requires = "caller_role_arn")]
    policy_arns: Vec<String>,
    #[command(flatten)]
    client_only: ClientOnlyFlags,
}

/// The flags of `credential-process` that say how the client reaches the server and holds its
/// key, accepted so that a client's command line can be pasted as it is. Two of them change
/// the decision as they change the signed request: `--region` (the scope) and `--endpoint`
/// (the signed host); the passphrase and PKCS#11 ones serve to read a certificate in a PKCS#12
/// bundle or on a token; the others are ignored. Hidden from `--help`.
#[derive(clap::Args)]
struct ClientOnlyFlags {
    #[arg(long, hide = true)]
    private_key: Option<PathBuf>,
    #[arg(long, hide = true)]
    private_key_passphrase_env: Option<String>,
    #[arg(long, hide = true)]
    private_key_passphrase_file: Option<PathBuf>,
    #[arg(long, hide = true)]
    region: Option<String>,
    #[arg(long, hide = true)]
    endpoint: Option<String>,
    #[arg(long, hide = true)]
    ca_bundle: Option<PathBuf>,
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = crate::helper::go_bool, action = clap::ArgAction::Set, default_value_t = false)]
    no_verify_ssl: bool,
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = crate::helper::go_bool, action = clap::ArgAction::Set, default_value_t = false)]
    with_proxy: bool,
    #[arg(long, hide = true)]
    pkcs11_lib: Option<PathBuf>,
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = crate::helper::go_bool, action = clap::ArgAction::Set, default_value_t = false)]
    reuse_pin: bool,
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = crate::helper::go_bool, action = clap::ArgAction::Set, default_value_t = false)]
    debug: bool,
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = crate::helper::go_bool, action = clap::ArgAction::Set, default_value_t = false)]
    no_cache: bool,
}

/// `rolegate simulate`: a role session's effective permissions for one action on one resource.
#[derive(clap::Args)]
pub(super) struct SimulateArgs {
    /// The TOML configuration file the daemon runs with.
    #[arg(long)]
    config: PathBuf,
    /// The role whose permission policies apply.
    #[arg(long)]
    role_arn: String,
    /// The action, e.g. s3:GetObject.
    #[arg(long)]
    action: String,
    /// The resource ARN, e.g. arn:aws:s3:::bucket/key.
    #[arg(long)]
    resource: String,
    /// An inline session policy (JSON file; repeatable).
    #[arg(long = "policy")]
    policies: Vec<PathBuf>,
    /// A managed policy ARN passed as a session policy (repeatable).
    #[arg(long = "policy-arn")]
    policy_arns: Vec<String>,
    /// Apply this Roles Anywhere profile's session policy and managed policies too.
    #[arg(long)]
    profile_arn: Option<String>,
    /// A context key KEY=VALUE (repeatable; repeating a key makes it multi-valued).
    /// aws:PrincipalTag/KEY and aws:SourceIdentity set the session's tags and source identity;
    /// other keys rolegate derives from the session (aws:CurrentTime: use --at) are refused.
    #[arg(long = "context", value_parser = parse_pair)]
    context: Vec<(String, String)>,
    /// The session name of the simulated principal.
    #[arg(long, default_value = "simulate")]
    role_session_name: String,
    /// Evaluate at this RFC 3339 time instead of now.
    #[arg(long, value_parser = parse_time)]
    at: Option<OffsetDateTime>,
    /// When the simulated session was issued, RFC 3339 (default: --at, or now): its
    /// aws:TokenIssueTime; a session its role revoked (revoke_sessions_issued_before) or that
    /// has expired is refused.
    #[arg(long, value_parser = parse_time)]
    session_issued_at: Option<OffsetDateTime>,
}

/// Runs `rolegate explain`.
pub(super) fn run_explain(args: ExplainArgs) -> ExitCode {
    let config = match load(&args.config) {
        Ok(c) => Arc::new(c),
        Err(code) => return code,
    };
    let now = args.at.unwrap_or_else(OffsetDateTime::now_utc);
    if let Err(e) = source_ip_given_if_read(&config, &args, args.source_ip) {
        return usage(&e);
    }
    let report = match &args.caller_role_arn {
        Some(caller) => {
            let policy = match &args.policy {
                Some(path) => match crate::fsutil::read_credential_text(path) {
                    Ok(text) => Some((path.display().to_string(), text)),
                    Err(e) => return usage(&format!("cannot read {}: {e}", path.display())),
                },
                None => None,
            };
            let (caller_source_identity, caller_tags) = match &args.caller_certificate {
                Some(path) => match caller_from_certificate(&config, path, args.caller_profile_arn.as_deref()) {
                    Ok((source_identity, tags)) => (Some(source_identity), tags),
                    Err(e) => return usage(&e),
                },
                None => (args.caller_source_identity, args.caller_tags),
            };
            let q = AssumeRoleQuestion {
                caller_role_arn: caller.clone(),
                caller_session_name: args.caller_session_name,
                caller_source_identity,
                caller_profile_arn: args.caller_profile_arn,
                caller_tags,
                caller_transitive_tag_keys: args.caller_transitive_tag_keys,
                caller_issued_at: args.caller_issued_at,
                role_arn: args.role_arn,
                role_session_name: args.role_session_name.unwrap_or_else(|| "explain".to_owned()),
                duration_seconds: args.duration_seconds,
                external_id: args.external_id,
                source_identity: args.source_identity,
                tags: args.tags,
                transitive_tag_keys: args.transitive_tag_keys,
                policy,
                policy_arns: args.policy_arns,
                source_ip: args.source_ip,
                region: args.client_only.region.clone(),
            };
            match explain_assume_role(config, &q, now) {
                Ok(report) => report,
                Err(e) => return usage(&e.to_string()),
            }
        }
        None => {
            let q = match create_session_question(args) {
                Ok(q) => q,
                Err(e) => return usage(&e),
            };
            explain_create_session(&config, &q, now)
        }
    };
    super::print_stdout(&report.to_string());
    ExitCode::from(match report.is_allowed() {
        true => ALLOWED,
        false => DENIED,
    })
}

/// The source identity and tags a session that began with the certificate at `path` holds,
/// as CreateSession gave them: its source identity, and its certificate's attributes through
/// the attribute mappings of the profile `profile_arn` (required with it by clap).
fn caller_from_certificate(
    config: &Config,
    path: &Path,
    profile_arn: Option<&str>,
) -> Result<(String, Vec<(String, String)>), String> {
    let profile_arn = profile_arn.ok_or("--caller-certificate needs --caller-profile-arn")?;
    let profile = config
        .profile(profile_arn)
        .ok_or_else(|| format!("--caller-profile-arn {profile_arn} is no profile of the configuration"))?;
    let (der, _) = read_certificate_and_chain(&IdentitySource {
        certificate: path.to_owned(),
        private_key: None,
        intermediates: None,
        passphrase: Passphrase::from_flags(None, None),
        pkcs11_lib: None,
    })?;
    let certificate = crate::identity::ClientCertificate::parse(der)
        .map_err(|e| format!("--caller-certificate {}: {e}", path.display()))?;
    let tags = profile
        .attribute_mapping
        .select(certificate.principal_tags())
        .into_owned();
    Ok((certificate.source_identity().to_owned(), tags))
}

/// `--source-ip` is required when a policy the decision evaluates reads `aws:SourceIp`: the
/// target role's trust policy and, for a calling session, its role's permission policies and
/// its profile's session policies, all evaluated with the request's context. Every request
/// the daemon decides holds the client's address, so an explanation without one would decide
/// a request the daemon never sees (a Deny on an address range would not apply).
fn source_ip_given_if_read(config: &Config, args: &ExplainArgs, source_ip: Option<IpAddr>) -> Result<(), String> {
    if source_ip.is_some() {
        return Ok(());
    }
    match policies_reading_source_ip(config, args).into_iter().next() {
        Some(which) => Err(format!(
            "{which} reads aws:SourceIp, which every request holds (the client's address): give --source-ip"
        )),
        None => Ok(()),
    }
}

/// The policies of the question's decision that read `aws:SourceIp`, named for the operator.
fn policies_reading_source_ip(config: &Config, args: &ExplainArgs) -> Vec<String> {
    let reads = |doc: &crate::policy::PolicyDocument| {
        doc.context_keys()
            .iter()
            .any(|(_, key)| crate::policy::fold_key(key) == "aws:sourceip")
    };
    let mut found = Vec::new();
    if config
        .role(&args.role_arn)
        .is_some_and(|role| reads(&role.trust_policy))
    {
        found.push(format!("the trust policy of {}", args.role_arn));
    }
    let Some(caller) = args.caller_role_arn.as_deref() else {
        return found;
    };
    if let Some(role) = config.role(caller) {
        found.extend(
            role.permission_policies
                .iter()
                .enumerate()
                .filter(|(_, doc)| reads(doc))
                .map(|(i, _)| format!("permission policy #{i} of the calling role {caller}")),
        );
    }
    if let Some(profile) = args.caller_profile_arn.as_deref().and_then(|arn| config.profile(arn)) {
        if profile.session_policy.as_deref().is_some_and(reads) {
            found.push(format!(
                "the session policy of the calling session's profile {}",
                profile.arn
            ));
        }
        found.extend(
            profile
                .managed_policy_arns
                .iter()
                .filter(|arn| config.managed_policies.get(*arn).is_some_and(|doc| reads(doc)))
                .map(|arn| format!("managed policy {arn}, a session policy of the calling session's profile")),
        );
    }
    found
}

/// Runs `rolegate simulate`.
pub(super) fn run_simulate(args: SimulateArgs) -> ExitCode {
    let config = match load(&args.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut session_policies = Vec::new();
    for path in &args.policies {
        match crate::fsutil::read_credential_text(path) {
            Ok(text) => session_policies.push((path.display().to_string(), text)),
            Err(e) => return usage(&format!("cannot read {}: {e}", path.display())),
        }
    }
    let q = SimulateQuestion {
        role_arn: args.role_arn,
        session_name: args.role_session_name,
        action: args.action,
        resource: args.resource,
        session_policies,
        policy_arns: args.policy_arns,
        profile_arn: args.profile_arn,
        context: args.context,
        session_issued_at: args.session_issued_at,
    };
    match simulate(&config, &q, args.at.unwrap_or_else(OffsetDateTime::now_utc)) {
        Ok(s) => {
            super::print_stdout(&s.to_string());
            ExitCode::from(match s.is_allowed() {
                true => ALLOWED,
                false => DENIED,
            })
        }
        Err(e) => usage(&e.to_string()),
    }
}

fn create_session_question(args: ExplainArgs) -> Result<CreateSessionQuestion, String> {
    // clap already requires these three without --caller-role-arn; checked, not unwrapped.
    let (Some(certificate), Some(trust_anchor_arn), Some(profile_arn)) =
        (args.certificate, args.trust_anchor_arn, args.profile_arn)
    else {
        return Err("give --certificate, --trust-anchor-arn and --profile-arn, or --caller-role-arn".into());
    };
    // The certificate only: a PKCS#12 bundle's with the passphrase flags, a token's with
    // --pkcs11-lib; the key is neither read nor used.
    let passphrase = Passphrase::from_flags(
        args.client_only.private_key_passphrase_env.as_ref(),
        args.client_only.private_key_passphrase_file.as_ref(),
    );
    let (certificate_der, intermediates) = read_certificate_and_chain(&IdentitySource {
        certificate,
        private_key: None,
        intermediates: args.intermediates,
        passphrase,
        pkcs11_lib: args.client_only.pkcs11_lib,
    })?;
    // The region credential-process signs for: --region, else the trust anchor ARN's. An ARN
    // without one names no trust anchor (every anchor's ARN has the server's region): the
    // anchor step refuses it, and no region step is shown.
    let region = match args.client_only.region {
        Some(region) => Some(SigningRegion::Given(region)),
        None => trust_anchor_region(&trust_anchor_arn)
            .ok()
            .map(SigningRegion::FromTrustAnchorArn),
    };
    // The host credential-process signs for: the --endpoint URL's (its port is not compared).
    let host = match &args.client_only.endpoint {
        Some(endpoint) => Some(
            endpoint
                .parse::<http::Uri>()
                .ok()
                .and_then(|uri| uri.host().map(str::to_owned))
                .ok_or_else(|| format!("--endpoint '{endpoint}' is not a URL like https://rolegate.internal:8443"))?,
        ),
        None => None,
    };
    Ok(CreateSessionQuestion {
        host,
        trust_anchor_arn,
        profile_arn,
        role_arn: args.role_arn,
        certificate_der,
        intermediates,
        duration_seconds: args.duration_seconds,
        role_session_name: args.role_session_name,
        instance_properties: (!args.instance_properties.is_empty())
            .then(|| args.instance_properties.into_iter().collect()),
        source_ip: args.source_ip,
        region,
    })
}

fn load(path: &Path) -> Result<Config, ExitCode> {
    Config::load_offline(path).map_err(|e| usage(&e.to_string()))
}

fn usage(message: &str) -> ExitCode {
    super::print_error(&message);
    ExitCode::from(USAGE)
}

/// An RFC 3339 time (`--at`).
fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|e| format!("not an RFC 3339 time such as 2026-06-01T12:00:00Z: {e}"))
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got '{s}'"))
}
