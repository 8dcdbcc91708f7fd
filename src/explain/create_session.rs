//! Explaining a Roles Anywhere CreateSession: the broker's steps, in the broker's order, run
//! against a configuration without a network or a private key.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;

use time::OffsetDateTime;

use super::{Api, Recorder, Report, explain_trust_policy, trace_lines};
use crate::broker::steps;
use crate::broker::{ROLES_ANYWHERE_ACTIONS, ROLES_ANYWHERE_PRINCIPAL};
use crate::config::{Anchor, Config, Profile, Role, counted};
use crate::error::ApiError;
use crate::identity::{self, ClientCertificate, CrlInfo, VerifiedChain};
use crate::policy::StatementTrace;
use crate::session::{self, format_expiration};

/// A CreateSession to explain: what a client would send, minus the signature.
#[derive(Clone, Debug, Default)]
pub struct CreateSessionQuestion {
    pub trust_anchor_arn: String,
    pub profile_arn: String,
    pub role_arn: String,
    /// The leaf certificate, DER.
    pub certificate_der: Vec<u8>,
    /// Intermediate certificates, DER, leaf-side first.
    pub intermediates: Vec<Vec<u8>>,
    pub duration_seconds: Option<i64>,
    pub role_session_name: Option<String>,
    pub instance_properties: Option<BTreeMap<String, String>>,
    /// `aws:SourceIp` as the daemon would see it.
    pub source_ip: Option<IpAddr>,
    /// The region the client signs for, when known.
    pub region: Option<SigningRegion>,
    /// The host the client signs for (its `--endpoint`'s), when known.
    pub host: Option<String>,
}

/// The region a client signs its request for, and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SigningRegion {
    /// Given (`--region`).
    Given(String),
    /// credential-process's default: the region of the trust anchor ARN.
    FromTrustAnchorArn(String),
}

impl SigningRegion {
    /// The region's name, e.g. `us-east-1`.
    pub fn name(&self) -> &str {
        match self {
            Self::Given(name) | Self::FromTrustAnchorArn(name) => name,
        }
    }
}

impl core::fmt::Display for SigningRegion {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Given(name) => f.write_str(name),
            Self::FromTrustAnchorArn(name) => write!(
                f,
                "{name} (the trust anchor ARN's region: credential-process signs for it when not given --region)"
            ),
        }
    }
}

/// The parameters the REST edge requires, each present and not empty, in the order it checks
/// them.
fn check_required_parameters(q: &CreateSessionQuestion) -> Result<(), ApiError> {
    let required = [
        (&q.profile_arn, "profileArn"),
        (&q.role_arn, "roleArn"),
        (&q.trust_anchor_arn, "trustAnchorArn"),
    ];
    match required.into_iter().find(|(value, _)| value.is_empty()) {
        Some((_, name)) => Err(crate::service::rest::missing_parameter(name)),
        None => Ok(()),
    }
}

/// Which CRL each certificate of the accepted path was checked against. webpki checks a
/// certificate against the anchor's CRLs of its issuer that cover it (an issuing distribution
/// point can leave it out), and no certificate that is not on the path: one whose issuer has
/// no such CRL is not checked for revocation at all, which a CRL of the root alone does not
/// reveal.
fn revocation_lines(
    anchor: &Anchor,
    leaf: &ClientCertificate,
    intermediates: &[Vec<u8>],
    verified: &VerifiedChain,
) -> Vec<String> {
    if anchor.trust.crls().is_empty() {
        return vec!["revocation: not checked (the trust anchor lists no CRLs)".to_owned()];
    }
    let leaf = identity::certificate_names(leaf.der()).map(|names| identity::CertificateNames {
        subject: "the certificate".to_owned(),
        ..names
    });
    let mut lines: Vec<String> = leaf
        .iter()
        .map(|names| {
            format!(
                "revocation of {}: {}",
                names.subject,
                revocation_of(anchor, names, true)
            )
        })
        .collect();
    for (i, der) in intermediates.iter().enumerate() {
        let Ok(names) = identity::certificate_names(der) else {
            continue;
        };
        let checked = match verified.intermediates_used & (1 << i) {
            0 => "not on the path to the trust anchor (not used, not checked)".to_owned(),
            _ => revocation_of(anchor, &names, false),
        };
        lines.push(format!("revocation of {}: {checked}", names.subject));
    }
    lines
}

/// How a certificate on the path (`end_entity` or a CA) is checked for revocation.
fn revocation_of(anchor: &Anchor, names: &identity::CertificateNames, end_entity: bool) -> String {
    let crls: Vec<&CrlInfo> = anchor.trust.crls_issued_by(&names.issuer_contents).collect();
    if crls.is_empty() {
        return format!(
            "not checked: the trust anchor has no CRL of its issuer {}",
            names.issuer
        );
    }
    let uris = names.crl_distribution_uris.as_deref();
    let covering = crls
        .iter()
        .filter(|crl| crl.scope.as_ref().is_none_or(|scope| scope.covers(end_entity, uris)))
        .count();
    match covering {
        0 => format!(
            "not checked: the CRL of {} leaves it out (its issuing distribution point {})",
            names.issuer,
            match crls[0].scope.as_ref() {
                Some(s) if s.only_cas && end_entity => "covers CA certificates only".to_owned(),
                Some(s) if s.only_end_entities && !end_entity => "covers end-entity certificates only".to_owned(),
                _ => "names none of the certificate's CRL distribution points".to_owned(),
            }
        ),
        1 => format!("checked against the CRL of {}", names.issuer),
        n => format!(
            "checked against the CRL of {} that its key signed (one of {n}, a CRL per key of the CA)",
            names.issuer
        ),
    }
}

/// Which certificates of the chain a CRL of the anchor lists, when the chain was refused as
/// revoked: the daemon's message does not say, the explanation does (the leaf, intermediate
/// #n in the order given, or a CA certificate of the bundle another CA of it revoked).
fn revoked_lines(anchor: &Anchor, leaf: &ClientCertificate, intermediates: &[Vec<u8>]) -> Vec<String> {
    let trust = &anchor.trust;
    let mut lines: Vec<String> = trust
        .revoked_by(leaf.der(), true)
        .map(|issuer| {
            format!(
                "revoked: the certificate (serial {}), listed by the CRL of {issuer}",
                leaf.serial_hex()
            )
        })
        .into_iter()
        .collect();
    for (i, der) in intermediates.iter().enumerate() {
        if let Some(issuer) = trust.revoked_by(der, false) {
            let subject = identity::certificate_names(der).map_or_else(|_| "?".to_owned(), |n| n.subject);
            lines.push(format!(
                "revoked: intermediate #{} ({subject}), listed by the CRL of {issuer}",
                i + 1
            ));
        }
    }
    if lines.is_empty() {
        lines.extend(trust.certificates().iter().filter_map(|c| {
            c.revoked_by.as_ref().map(|issuer| {
                format!(
                    "revoked: the trust anchor's CA certificate {}, listed by the CRL of {issuer}",
                    c.subject
                )
            })
        }));
    }
    lines
}

/// Runs every CreateSession step that can be evaluated at `now` and reports each, the trust
/// policy with a full statement and condition trace per action. The verdict is the first
/// failure in the broker's order, i.e. exactly the error the daemon would answer.
pub fn explain_create_session(config: &Config, q: &CreateSessionQuestion, now: OffsetDateTime) -> Report {
    let mut r = Recorder::default();
    signing_steps(&mut r, config, q);
    let certificate = r.check(
        "certificate parses and follows the leaf certificate rules",
        ClientCertificate::parse(q.certificate_der.clone())
            .map_err(|e| ApiError::access_denied("bad-certificate", format!("Invalid certificate in X-Amz-X509: {e}"))),
        certificate_details,
    );
    let chain_shape = chain_shape_step(&mut r, q);
    r.check("required parameters given", check_required_parameters(q), |()| {
        Vec::new()
    });
    r.check(
        "ARNs within AWS's lengths",
        steps::check_arn_lengths(&q.profile_arn, &q.role_arn, &q.trust_anchor_arn),
        |_| Vec::new(),
    );
    let anchor = r.check(
        "trust anchor found and enabled",
        steps::find_anchor(config, &q.trust_anchor_arn),
        |a: &&Anchor| {
            vec![format!(
                "{} ({})",
                a.arn,
                counted(a.trust.certificates().len(), "CA certificate", "CA certificates")
            )]
        },
    );
    let chain = certificate.as_ref().zip(anchor).filter(|_| chain_shape);
    chain_step(&mut r, q, chain, now);
    certificate_names_step(&mut r, certificate.as_ref());
    let profile = r.check(
        "profile found and enabled",
        steps::find_profile(config, &q.profile_arn),
        |p: &&Profile| profile_details(p, certificate.as_ref()),
    );
    let role = role_step(&mut r, config, q, profile);
    session_steps(&mut r, q, certificate.as_ref(), profile, role);
    mapped_tags_steps(&mut r, profile.zip(certificate.as_ref()));
    let inputs = trust_inputs(q, certificate.as_ref(), anchor, profile, role);
    trust_policy_steps(&mut r, config, q, inputs.as_ref(), now);
    r.finish(Api::RolesAnywhere, create_session_question(q, now))
}

/// What was asked: when, and the ARNs.
fn create_session_question(q: &CreateSessionQuestion, now: OffsetDateTime) -> Vec<String> {
    vec![
        format!("CreateSession at {}", format_expiration(now.unix_timestamp())),
        format!("  trust anchor: {}", q.trust_anchor_arn),
        format!("  profile:      {}", q.profile_arn),
        format!("  role:         {}", q.role_arn),
    ]
}

/// The region and the host the request is signed for, when the question gives them: the
/// server's region, and one of the server's names.
fn signing_steps(r: &mut Recorder, config: &Config, q: &CreateSessionQuestion) {
    if let Some(region) = &q.region {
        let title = "request is signed for the server's region";
        match region.name() == config.server.region {
            true => r.pass(title, vec![region.to_string()]),
            false => r.fail(
                title,
                crate::service::rest::wrong_region(&config.server.region, region.name()),
                vec![region.to_string()],
            ),
        }
    }
    if let Some(host) = &q.host {
        let title = "request is signed for one of the server's names";
        match config.server.names.admits(host) {
            _ if config.server.names_unknown() => r.skip(
                title,
                "the server certificate (server.tls_cert), whose names these are, or server.hostnames",
            ),
            true => r.pass(title, vec![host.clone()]),
            false => r.fail(
                title,
                crate::service::rest::wrong_host(host),
                vec![format!("{host} (the --endpoint's host)")],
            ),
        }
    }
}

/// The chain's shape (at most 5 certificates, each once), which the REST edge checks as it
/// reads X-Amz-X509-Chain, before the parameters are looked at. Whether it held.
fn chain_shape_step(r: &mut Recorder, q: &CreateSessionQuestion) -> bool {
    let given = vec![format!(
        "{} given",
        counted(
            q.intermediates.len(),
            "intermediate certificate",
            "intermediate certificates"
        )
    )];
    let title = "chain certificates: at most 5, each once";
    match steps::check_chain_shape(&q.intermediates) {
        Ok(()) => {
            r.pass(title, given);
            true
        }
        Err(e) => {
            r.fail(title, e, given);
            false
        }
    }
}

/// The certificate chains to the trust anchor (`chain`: the parsed certificate and the enabled
/// anchor, when the chain has the accepted shape): until when, and which CRLs were checked; or
/// which certificates were revoked.
fn chain_step(
    r: &mut Recorder,
    q: &CreateSessionQuestion,
    chain: Option<(&ClientCertificate, &Anchor)>,
    now: OffsetDateTime,
) {
    let title = "certificate chains to the trust anchor (signatures, validity, CRLs)";
    let Some((cert, anchor)) = chain else {
        r.skip(
            title,
            "a parsed certificate, a chain of the accepted shape and an enabled trust anchor",
        );
        return;
    };
    match steps::verify_chain_at(anchor, cert, &q.intermediates, now) {
        Ok(v) => {
            let mut details = vec![format!("chain valid until {}", format_expiration(v.not_after))];
            details.extend(revocation_lines(anchor, cert, &q.intermediates, &v));
            r.pass(title, details);
        }
        Err(e) => {
            let details = match e.message.ends_with(&identity::CertificateError::Revoked.to_string()) {
                true => revoked_lines(anchor, cert, &q.intermediates),
                false => Vec::new(),
            };
            r.fail(title, e, details);
        }
    }
}

/// The certificate's names give a source identity of its own.
fn certificate_names_step(r: &mut Recorder, certificate: Option<&ClientCertificate>) {
    let title = "certificate names give a source identity of its own";
    match certificate {
        Some(cert) => {
            r.check(title, steps::check_certificate_names(cert), |_| Vec::new());
        }
        None => r.skip(title, "a parsed certificate"),
    }
}

/// The role is one of the profile's roles, and exists.
fn role_step<'a>(
    r: &mut Recorder,
    config: &'a Config,
    q: &CreateSessionQuestion,
    profile: Option<&Profile>,
) -> Option<&'a Role> {
    let title = "role is one of the profile's roles and exists";
    match profile {
        Some(profile) => r.check(title, steps::find_role_in_profile(config, profile, &q.role_arn), |_| {
            vec![format!("profile roles: {}", profile.role_arns.join(", "))]
        }),
        None => {
            r.skip(title, "the profile");
            None
        }
    }
}

/// The tags the profile maps from the certificate (`mapping`: the profile and the parsed
/// certificate) fit a session, and with the profile's session policies its packed size.
fn mapped_tags_steps(r: &mut Recorder, mapping: Option<(&Profile, &ClientCertificate)>) {
    let title = "the tags the profile maps fit a session (at most 256 characters, no control character)";
    match mapping {
        Some((profile, cert)) => {
            let tags = profile.attribute_mapping.select(cert.principal_tags());
            r.check(title, steps::check_mapped_tags(&tags), |_| Vec::new());
        }
        None => r.skip(title, "the profile and a parsed certificate"),
    }
    let title = "packed size: the profile's session policies and the tags it maps";
    match mapping {
        Some((profile, cert)) => {
            let tags = profile.attribute_mapping.select(cert.principal_tags());
            r.check(title, steps::check_packed_policy_size(profile, &tags), |percent| {
                vec![format!("{percent} % of what a session may carry")]
            });
        }
        None => r.skip(title, "the profile and a parsed certificate"),
    }
}

/// What the trust policy is asked with, computed once for the three actions.
struct TrustInputs<'a> {
    certificate: &'a ClientCertificate,
    anchor: &'a Anchor,
    role: &'a Role,
    /// The tags the profile maps from the certificate.
    tags: Cow<'a, [(String, String)]>,
    session_name: String,
}

/// The [`TrustInputs`], when the steps they come from passed: a parsed certificate, an enabled
/// trust anchor, the profile, the role and a session name.
fn trust_inputs<'a>(
    q: &CreateSessionQuestion,
    certificate: Option<&'a ClientCertificate>,
    anchor: Option<&'a Anchor>,
    profile: Option<&'a Profile>,
    role: Option<&'a Role>,
) -> Option<TrustInputs<'a>> {
    let (((certificate, anchor), profile), role) = certificate.zip(anchor).zip(profile).zip(role)?;
    let session_name = steps::session_name(profile, q.role_session_name.as_deref(), certificate).ok()?;
    let tags = profile.attribute_mapping.select(certificate.principal_tags());
    Some(TrustInputs {
        certificate,
        anchor,
        role,
        tags,
        session_name,
    })
}

/// The role's trust policy for each of [`ROLES_ANYWHERE_ACTIONS`], traced statement by
/// statement (a trace the same as an earlier action's is not repeated).
fn trust_policy_steps(
    r: &mut Recorder,
    config: &Config,
    q: &CreateSessionQuestion,
    inputs: Option<&TrustInputs<'_>>,
    now: OffsetDateTime,
) {
    let mut first: Option<(&str, Vec<StatementTrace>)> = None;
    for action in ROLES_ANYWHERE_ACTIONS {
        let title = format!("trust policy allows {ROLES_ANYWHERE_PRINCIPAL} to perform {action}");
        let Some(inputs) = inputs else {
            r.skip(
                title,
                "a parsed certificate, an enabled trust anchor, the role and a session name",
            );
            continue;
        };
        let requester = steps::SessionRequester {
            certificate: inputs.certificate,
            tags: &inputs.tags,
            session_name: &inputs.session_name,
        };
        let role = inputs.role;
        let mut ctx =
            crate::broker::create_session_trust_context(config, inputs.anchor, role, requester, q.source_ip, now);
        ctx.action = action.to_owned();
        let (decision, traces, mut details) = explain_trust_policy(role, &ctx);
        match &first {
            Some((earlier, same)) if *same == traces => {
                details.push(format!("every statement and condition as for {earlier} above"));
            }
            _ => details.extend(trace_lines(&traces)),
        }
        first.get_or_insert((action, traces));
        match decision.is_allowed() {
            true => r.pass(title, details),
            false => r.fail(title, steps::trust_denied(role, action, &decision), details),
        }
    }
}

/// Session name, instance properties and duration.
fn session_steps(
    r: &mut Recorder,
    q: &CreateSessionQuestion,
    certificate: Option<&ClientCertificate>,
    profile: Option<&Profile>,
    role: Option<&Role>,
) {
    let title = "session name";
    match profile.zip(certificate) {
        Some((profile, cert)) => {
            let origin = match q.role_session_name {
                Some(_) => "requested roleSessionName",
                None => "the certificate serial in hex",
            };
            r.check(
                title,
                steps::session_name(profile, q.role_session_name.as_deref(), cert),
                |name| vec![format!("{name} ({origin})")],
            );
        }
        None => r.skip(title, "the profile and a parsed certificate"),
    }
    let title = "instance properties";
    match profile {
        Some(profile) => {
            r.check(
                title,
                steps::check_instance_properties(profile, q.instance_properties.as_ref()),
                |()| {
                    vec![format!(
                        "{} given; profile requires them: {}",
                        q.instance_properties.as_ref().map_or(0, BTreeMap::len),
                        profile.require_instance_properties
                    )]
                },
            );
        }
        None => r.skip(title, "the profile"),
    }
    let title = "session duration";
    match profile.zip(role) {
        Some((profile, role)) => {
            let (origin, asked) = match q.duration_seconds {
                Some(d) => ("requested durationSeconds", d),
                None => ("the profile's duration_seconds", i64::from(profile.duration_seconds)),
            };
            let max = role.max_session_duration;
            match session::create_session_duration(q.duration_seconds, profile.duration_seconds, max) {
                Ok(d) => r.pass(
                    title,
                    vec![format!("{d} seconds ({origin}); role max_session_duration {max}")],
                ),
                // AWS's sentence on the wire names no number; the report does.
                Err(e) => r.fail(
                    title,
                    ApiError::validation("duration", e.to_string()),
                    vec![format!(
                        "{asked} seconds ({origin}); sessions last 900 to 43200 seconds, and at most the role's max_session_duration, {max}"
                    )],
                ),
            }
        }
        None => r.skip(title, "the profile and the role"),
    }
}

/// One principal tag as `explain` prints it. A value may hold control characters (refused
/// once a profile maps it): they are escaped (`\u{1b}`), so that a certificate cannot drive
/// the terminal the report is printed to.
pub(super) fn tag_line(key: &str, value: &str) -> String {
    let mut line = format!("  aws:PrincipalTag/{key} = ");
    for c in value.chars() {
        match c.is_control() {
            true => line.extend(c.escape_unicode()),
            false => line.push(c),
        }
    }
    line
}

/// The profile, and when it maps certificate attributes its own way, the mapping and the
/// principal tags its sessions get.
fn profile_details(profile: &Profile, certificate: Option<&ClientCertificate>) -> Vec<String> {
    let mut lines = vec![profile.arn.to_string()];
    if profile.attribute_mapping.is_default() {
        return lines;
    }
    lines.push(format!("attribute mappings: {}", profile.attribute_mapping));
    if let Some(cert) = certificate {
        lines.push("principal tags with this profile:".to_owned());
        let tags = profile.attribute_mapping.select(cert.principal_tags());
        lines.extend(tags.iter().map(|(k, v)| tag_line(k, v)));
    }
    lines
}

/// What the certificate contributes: names, serial, validity and the principal tags (AWS's
/// default mapping; a profile may map fewer).
fn certificate_details(cert: &ClientCertificate) -> Vec<String> {
    let mut lines = vec![
        format!("subject: {}", cert.subject_string()),
        format!("issuer: {}", cert.issuer_string()),
        format!("serial: {}", cert.serial_hex()),
        format!(
            "valid: {} to {}",
            format_expiration(cert.not_before()),
            format_expiration(cert.not_after())
        ),
        format!("source identity: {}", cert.source_identity()),
        "principal tags (AWS default mapping):".to_owned(),
    ];
    lines.extend(cert.principal_tags().iter().map(|(k, v)| tag_line(k, v)));
    lines
}

#[cfg(test)]
mod tests {
    use super::tag_line;

    #[test]
    fn control_characters_of_a_tag_are_escaped() {
        assert_eq!(
            tag_line("x509Subject/O", "x\u{1b}]2;owned\u{7}"),
            "  aws:PrincipalTag/x509Subject/O = x\\u{1b}]2;owned\\u{7}"
        );
        assert_eq!(
            tag_line("x509Subject/CN", "Zoë (EMP1)"),
            "  aws:PrincipalTag/x509Subject/CN = Zoë (EMP1)"
        );
    }
}
