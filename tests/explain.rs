//! `rolegate explain` and `rolegate simulate`, run as the real binary against a real
//! configuration and PKI. Explain output is compared with golden files in tests/golden/
//! (`ROLEGATE_BLESS=1 cargo test --test explain` rewrites them); certificates have fixed
//! serials and validity and `--at` fixes the clock, so the output is deterministic.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{ACCOUNT, Pki, ROLE, ROLE_CHAINED, ROLE_OTHER, Setup, anchor_arn, profile_arn};
use rolegate::pki::{Authority, ClientSpec, KeyType};
use time::macros::datetime;

/// Inside every certificate's validity.
const AT: &str = "2026-06-01T12:00:00Z";

/// A PKI valid from 2026-01-01 to 2030-01-01, so that `--at` is inside it forever.
fn fixed_pki() -> Pki {
    let (nb, na) = (datetime!(2026-01-01 0:00 UTC), datetime!(2030-01-01 0:00 UTC));
    let root = Authority::new_root("test root", KeyType::EcdsaP256, nb, na).unwrap();
    let intermediate = root
        .new_intermediate("test intermediate", KeyType::EcdsaP256, nb, na)
        .unwrap();
    let foreign = Authority::new_root("foreign root", KeyType::EcdsaP256, nb, na).unwrap();
    Pki {
        root,
        intermediate,
        foreign,
    }
}

/// Writes a client certificate with a fixed serial into `dir`.
fn client(dir: &Path, ca: &Authority, cn: &str, serial: u8) -> PathBuf {
    let mut spec = ClientSpec::new(
        cn,
        KeyType::EcdsaP256,
        datetime!(2026-01-01 0:00 UTC),
        datetime!(2029-01-01 0:00 UTC),
    );
    spec.organization = Some("Example".into());
    spec.serial = Some(vec![0x1e, 0x57, serial]);
    let path = dir.join(format!("{cn}-{serial}.pem"));
    std::fs::write(&path, ca.client(&spec).unwrap().cert_pem).unwrap();
    path
}

const MANAGED: &str = "arn:aws:iam::123456789012:policy/public-read";
/// A managed policy of another account: AssumeRole attaches it to no session of this account.
const MANAGED_ELSEWHERE: &str = "arn:aws:iam::210987654321:policy/public-read";
const ROLE_LEGACY: &str = "arn:aws:iam::123456789012:role/legacy";
const ROLE_PAYMENTS: &str = "arn:aws:iam::123456789012:role/payments";
const ROLE_OFFICE: &str = "arn:aws:iam::123456789012:role/office";

/// The `chained` role: assumable by the `app` role, with permission policies that use a
/// policy variable and an explicit deny; the `legacy` role, whose trust policy allows the
/// `app` role sts:AssumeRole only (not the sts:SetSourceIdentity every chain needs); the
/// `payments` role, which trusts sessions of `app` whose certificate's OU is `payments`; the
/// `office` role (profile `office`), which trusts Roles Anywhere from 10.0.0.0/8 only; the
/// `s3-only` profile, whose session policy allows nothing but S3; a managed policy to use as a
/// session policy.
fn extra_toml() -> String {
    format!(
        r#"
[[role]]
arn = "{ROLE_CHAINED}"
trust_policy = '''{{"Version":"2012-10-17","Statement":[{{"Sid":"FromApp","Effect":"Allow","Principal":{{"AWS":"{ROLE}"}},"Action":["sts:AssumeRole","sts:SetSourceIdentity"],"Condition":{{"StringEquals":{{"sts:ExternalId":"blue-team"}}}}}}]}}'''
permission_policies = ['''{{"Version":"2012-10-17","Statement":[{{"Sid":"ReadTeam","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::data/${{aws:PrincipalTag/team}}/*"}},{{"Sid":"NoSecrets","Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::data/*/secret*"}}]}}''']

[[role]]
arn = "{ROLE_LEGACY}"
trust_policy = '''{{"Version":"2012-10-17","Statement":[{{"Sid":"FromApp","Effect":"Allow","Principal":{{"AWS":"{ROLE}"}},"Action":"sts:AssumeRole"}}]}}'''

[[role]]
arn = "{ROLE_PAYMENTS}"
trust_policy = '''{{"Version":"2012-10-17","Statement":[{{"Sid":"PaymentsApp","Effect":"Allow","Principal":{{"AWS":"{ROLE}"}},"Action":["sts:AssumeRole","sts:SetSourceIdentity"],"Condition":{{"StringEquals":{{"aws:PrincipalTag/x509Subject/OU":"payments"}}}}}}]}}'''

[[role]]
arn = "{ROLE_OFFICE}"
trust_policy = '''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Service":"rolesanywhere.amazonaws.com"}},"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"],"Condition":{{"IpAddress":{{"aws:SourceIp":"10.0.0.0/8"}}}}}}]}}'''

[[profile]]
id = "office"
role_arns = ["{ROLE_OFFICE}"]

[[profile]]
id = "s3-only"
role_arns = ["{ROLE}"]
session_policy = '''{{"Version":"2012-10-17","Statement":[{{"Sid":"S3Only","Effect":"Allow","Action":"s3:*","Resource":"*"}}]}}'''

[[profile]]
id = "office-net"
role_arns = ["{ROLE}"]
session_policy = '''{{"Version":"2012-10-17","Statement":[{{"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"}},{{"Sid":"OfficeOnly","Effect":"Deny","Action":"*","Resource":"*","Condition":{{"NotIpAddress":{{"aws:SourceIp":"10.0.0.0/8"}}}}}}]}}'''

[[profile]]
id = "org-only"
role_arns = ["{ROLE}"]
attribute_mappings = {{ x509Subject = ["O"], x509SAN = [] }}

[[managed_policy]]
arn = "{MANAGED}"
document = '''{{"Version":"2012-10-17","Statement":[{{"Sid":"PublicOnly","Effect":"Allow","Action":"s3:Get*","Resource":"arn:aws:s3:::data/public/*"}}]}}'''

[[managed_policy]]
arn = "{MANAGED_ELSEWHERE}"
document = '''{{"Version":"2012-10-17","Statement":[{{"Sid":"PublicOnly","Effect":"Allow","Action":"s3:Get*","Resource":"arn:aws:s3:::data/public/*"}}]}}'''
"#
    )
}

struct Fixture {
    dir: tempfile::TempDir,
    config: PathBuf,
    pki: Pki,
}

fn fixture() -> Fixture {
    fixture_with_crl(|_| None)
}

/// The fixture, its anchor listing the CRL `crl` makes of the PKI, if any.
fn fixture_with_crl(crl: impl FnOnce(&Pki) -> Option<String>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let pki = fixed_pki();
    let crl_pem = crl(&pki);
    let config = common::write_config(
        dir.path(),
        &Setup {
            pki: &pki,
            extra_toml: extra_toml(),
            crl_pem,
            app_trust_condition: r#","StringLike":{"aws:PrincipalTag/x509Subject/CN":"web-*"}"#,
        },
    );
    Fixture { dir, config, pki }
}

fn rolegate(args: &[&str]) -> Output {
    Command::new(common::binary())
        .args(args)
        .env("RUST_LOG", "off")
        .output()
        .expect("run rolegate")
}

impl Fixture {
    fn explain(&self, cert: &Path, profile: &str, role: &str) -> Output {
        rolegate(&[
            "explain",
            "--config",
            self.config.to_str().unwrap(),
            "--certificate",
            cert.to_str().unwrap(),
            "--trust-anchor-arn",
            &anchor_arn("main"),
            "--profile-arn",
            &profile_arn(profile),
            "--role-arn",
            role,
            "--at",
            AT,
        ])
    }

    fn simulate(&self, extra: &[&str]) -> Output {
        let mut args = vec!["simulate", "--config", self.config.to_str().unwrap(), "--at", AT];
        args.extend_from_slice(extra);
        rolegate(&args)
    }

    /// Stdout with the temp dir replaced by `<DIR>`.
    fn normalized(&self, out: &Output) -> String {
        String::from_utf8(out.stdout.clone())
            .unwrap()
            .replace(self.dir.path().to_str().unwrap(), "<DIR>")
    }
}

/// Compares `actual` with tests/golden/{name}.txt, or rewrites it when ROLEGATE_BLESS=1.
fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.txt"));
    if std::env::var_os("ROLEGATE_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with ROLEGATE_BLESS=1 to create it)", path.display()));
    assert!(
        expected == actual,
        "{} differs (ROLEGATE_BLESS=1 rewrites it)\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

#[test]
fn explain_allowed() {
    let f = fixture();
    let cert = client(f.dir.path(), &f.pki.root, "web-1", 1);
    let out = f.explain(&cert, "main", ROLE);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    golden("explain_allowed", &f.normalized(&out));
}

/// `simulate` of a session `reporter` of the chained role reading a report.
const REPORTER_READS_REPORT: [&str; 8] = [
    "--role-arn",
    ROLE_CHAINED,
    "--role-session-name",
    "reporter",
    "--action",
    "s3:GetObject",
    "--resource",
    "arn:aws:s3:::data/blue/report.csv",
];

/// A CI job without the secrets: explain and simulate decide without the TLS key, the
/// server certificate and the token keys, and give the same answer. `check-config` and
/// `serve` still need them.
#[test]
fn explain_and_simulate_need_no_secret_files() {
    let f = fixture();
    let cert = client(f.dir.path(), &f.pki.root, "web-1", 1);
    let before = f.normalized(&f.explain(&cert, "main", ROLE));
    for secret in ["server.key", "server.pem", "k1.key"] {
        std::fs::remove_file(f.dir.path().join(secret)).unwrap();
    }
    let out = f.explain(&cert, "main", ROLE);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(f.normalized(&out), before);
    // Without the server certificate its names are not known: the --endpoint's host is not
    // checked (the request may well be signed for one of them), rather than denied.
    #[rustfmt::skip]
    let out = rolegate(&[
        "explain", "--config", f.config.to_str().unwrap(), "--at", AT, "--certificate", cert.to_str().unwrap(),
        "--trust-anchor-arn", &anchor_arn("main"), "--profile-arn", &profile_arn("main"), "--role-arn", ROLE,
        "--endpoint", "https://rolegate.test:8443",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        f.normalized(&out).contains(
            "- request is signed for one of the server's names (skipped)\n    needs: the server certificate \
             (server.tls_cert), whose names these are, or server.hostnames\n"
        ),
        "{}",
        f.normalized(&out)
    );
    let simulated = f.simulate(&REPORTER_READS_REPORT);
    assert!(
        String::from_utf8_lossy(&simulated.stdout).contains("Decision: "),
        "{}",
        String::from_utf8_lossy(&simulated.stderr)
    );
    let checked = rolegate(&["check-config", f.config.to_str().unwrap()]);
    assert_eq!(checked.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&checked.stderr).contains("server.tls_cert (line 4, column 12): cannot read"),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
}

/// A credential-process command line, pasted after `explain --config …`: the flags that only
/// say how the client reaches the server are accepted and change nothing.
#[test]
fn explain_takes_a_credential_process_command_line() {
    let f = fixture();
    let cert = client(f.dir.path(), &f.pki.root, "web-1", 1);
    let (config, cert) = (f.config.to_str().unwrap(), cert.to_str().unwrap());
    let (anchor, profile) = (anchor_arn("main"), profile_arn("main"));
    let explain = |client_flags: &[&str]| {
        #[rustfmt::skip]
        let mut args = vec![
            "explain", "--config", config, "--at", AT, "--certificate", cert,
            "--trust-anchor-arn", &anchor, "--profile-arn", &profile, "--role-arn", ROLE,
        ];
        args.extend_from_slice(client_flags);
        rolegate(&args)
    };
    #[rustfmt::skip]
    let out = explain(&[
        "--private-key", "/nonexistent/client.key", "--private-key-passphrase-env", "KEY_PASSPHRASE",
        "--session-duration", "3600", "--region", "us-east-1", "--endpoint", "https://rolegate.test:8443",
        "--ca-bundle", "/nonexistent/ca.pem", "--no-verify-ssl", "--with-proxy", "--debug", "--no-cache",
        // As aws_signing_helper's (Go pflag) booleans take them, and a flag given again.
        "--with-proxy=false", "--no-verify-ssl=true", "--reuse-pin=0", "--region", "us-east-1",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    // The same report as without the client's flags, but for where its region came from.
    let region_step = "✔ request is signed for the server's region\n    us-east-1\n";
    let stdout = f.normalized(&out);
    assert!(stdout.contains(region_step), "{stdout}");
    let default_region_step = "✔ request is signed for the server's region\n    us-east-1 (the trust anchor ARN's region: credential-process signs for it when not given --region)\n";
    // The --endpoint's host, one of the server certificate's names, is checked too.
    let host_step = "✔ request is signed for one of the server's names\n    rolegate.test\n";
    assert!(stdout.contains(host_step), "{stdout}");
    let normalized = stdout
        .replace(region_step, default_region_step)
        .replace(host_step, "")
        .replace(
            "3600 seconds (requested durationSeconds)",
            "3600 seconds (the profile's duration_seconds)",
        );
    golden("explain_allowed", &normalized);
    // An endpoint by a name the server does not answer to: its signed host is refused.
    let out = explain(&["--endpoint", "https://staging.internal:8443"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = f.normalized(&out);
    assert!(
        stdout.contains(
            "The request is signed for host 'staging.internal', which is not a name of this server: sign it for the name you reach this server by (its certificate's names, or those of server.hostnames)."
        ),
        "{stdout}"
    );
    // A region the server does not serve: the real request would not get this far.
    let out = explain(&["--region", "eu-west-1"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = f.normalized(&out);
    assert!(
        stdout.contains("Credential should be scoped to a valid region: 'us-east-1', not 'eu-west-1'."),
        "{stdout}"
    );
}

/// A profile that maps only the subject's O: the explanation shows the mapping and the tags
/// it leaves, and the trust policy's CN condition failing for want of the CN tag.
#[test]
fn explain_profile_attribute_mapping() {
    let f = fixture();
    let cert = client(f.dir.path(), &f.pki.root, "web-5", 5);
    let out = f.explain(&cert, "org-only", ROLE);
    assert_eq!(out.status.code(), Some(1));
    let stdout = f.normalized(&out);
    assert!(stdout.contains("attribute mappings: x509Subject [O], x509SAN [] (x509Issuer by default)"));
    assert!(stdout.contains("condition StringLike aws:PrincipalTag/x509Subject/CN: fails"));
    golden("explain_profile_attribute_mapping", &stdout);
}

#[test]
fn explain_untrusted_certificate() {
    let f = fixture();
    let cert = client(f.dir.path(), &f.pki.foreign, "web-2", 2);
    let out = f.explain(&cert, "main", ROLE);
    assert_eq!(out.status.code(), Some(1));
    let stdout = f.normalized(&out);
    assert!(stdout.contains("Verdict: DENIED — AccessDeniedException (HTTP 403, reason: untrusted-certificate)"));
    golden("explain_untrusted_certificate", &stdout);
}

#[test]
fn explain_role_not_in_profile() {
    let f = fixture();
    let cert = client(f.dir.path(), &f.pki.root, "web-3", 3);
    let out = f.explain(&cert, "other", ROLE);
    assert_eq!(out.status.code(), Some(1));
    let stdout = f.normalized(&out);
    assert!(stdout.contains("Verdict: DENIED — AccessDeniedException (HTTP 403, reason: role-not-in-profile)"));
    golden("explain_role_not_in_profile", &stdout);
}

#[test]
fn explain_trust_policy_condition_mismatch() {
    let f = fixture();
    let cert = client(f.dir.path(), &f.pki.root, "db-1", 4);
    let out = f.explain(&cert, "main", ROLE);
    assert_eq!(out.status.code(), Some(1));
    let stdout = f.normalized(&out);
    assert!(stdout.contains("Verdict: DENIED — AccessDeniedException (HTTP 403, reason: trust-policy)"));
    assert!(stdout.contains("condition StringLike aws:PrincipalTag/x509Subject/CN: fails"));
    golden("explain_trust_policy_mismatch", &stdout);
}

#[test]
fn explain_role_chaining() {
    let f = fixture();
    let config = f.config.to_str().unwrap();
    let base = [
        "explain",
        "--config",
        config,
        "--caller-role-arn",
        ROLE,
        "--caller-source-identity",
        "CN=app",
        "--role-arn",
        ROLE_CHAINED,
        "--at",
        AT,
    ];
    let mut allowed = base.to_vec();
    allowed.extend(["--external-id", "blue-team"]);
    let out = rolegate(&allowed);
    assert_eq!(out.status.code(), Some(0), "{}", f.normalized(&out));
    golden("explain_chain_allowed", &f.normalized(&out));

    // Every session carries its source identity forward: a trust policy that allows only
    // sts:AssumeRole must also allow sts:SetSourceIdentity.
    let legacy = base.map(|a| if a == ROLE_CHAINED { ROLE_LEGACY } else { a });
    let out = rolegate(&legacy);
    assert_eq!(out.status.code(), Some(1));
    let stdout = f.normalized(&out);
    assert!(
        stdout.contains("CN=app (the session will carry it: sts:SetSourceIdentity is needed)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "User: arn:aws:sts::{ACCOUNT}:assumed-role/app/explain is not authorized to perform: sts:SetSourceIdentity on resource: {ROLE_LEGACY}"
        )),
        "{stdout}"
    );
    let mut changed = allowed.clone();
    changed.extend(["--source-identity", "CN=other"]);
    let stdout = f.normalized(&rolegate(&changed));
    assert!(
        stdout.contains("it is 'CN=app' and cannot change along a role chain"),
        "{stdout}"
    );
    // The caller's tags (its certificate's attributes) decide a trust policy that reads them.
    let payments = base.map(|a| if a == ROLE_CHAINED { ROLE_PAYMENTS } else { a });
    assert_eq!(rolegate(&payments).status.code(), Some(1));
    let mut tagged = payments.to_vec();
    tagged.extend(["--caller-tag", "x509Subject/OU=payments"]);
    let out = rolegate(&tagged);
    assert_eq!(out.status.code(), Some(0), "{}", f.normalized(&out));
    // The session policy of the caller's profile limits a chain the trust policy allows by
    // role, as the broker limits it.
    let s3_only = profile_arn("s3-only");
    let mut limited = allowed.clone();
    limited.extend(["--caller-profile-arn", &s3_only]);
    let out = rolegate(&limited);
    assert_eq!(out.status.code(), Some(1));
    let stdout = f.normalized(&out);
    assert!(
        stdout.contains("✔ calling session's profile exists and lists its role\n    1 session policy"),
        "{stdout}"
    );
    assert!(stdout.contains("reason: caller-session-policy"), "{stdout}");
    // One tag is counted as one.
    let mut one_tag = allowed.clone();
    one_tag.extend(["--tag", "team=blue"]);
    let stdout = f.normalized(&rolegate(&one_tag));
    assert!(
        stdout.contains("✔ session tags fit the packed size\n    1 tag, 1 % of the packed size\n"),
        "{stdout}"
    );
    // Tags past the packed size are refused before the trust policy, as STS refuses them.
    let big: Vec<String> = (0..10)
        .map(|i| format!("{}{i}={}", "k".repeat(49), "v".repeat(200)))
        .collect();
    let mut packed = allowed.clone();
    for tag in &big {
        packed.extend(["--tag", tag.as_str()]);
    }
    let out = rolegate(&packed);
    assert_eq!(out.status.code(), Some(1));
    let stdout = f.normalized(&out);
    assert!(stdout.contains("✘ session tags fit the packed size"), "{stdout}");
    assert!(stdout.contains("PackedPolicyTooLarge"), "{stdout}");
    // A target role the configuration lacks (a typo in the ARN): STS's AccessDenied, with its
    // own reason, not a policy's.
    let typo = base.map(|a| {
        if a == ROLE_CHAINED {
            "arn:aws:iam::123456789012:role/chianed"
        } else {
            a
        }
    });
    let out = rolegate(&typo);
    assert_eq!(out.status.code(), Some(1));
    let stdout = f.normalized(&out);
    assert!(stdout.contains("✘ role exists"), "{stdout}");
    assert!(
        stdout.contains("Verdict: DENIED — AccessDenied (HTTP 403, reason: unknown-role)"),
        "{stdout}"
    );
    // The calling session is checked as the broker checks it: a role gone, a revocation.
    let gone = base.map(|a| {
        if a == ROLE {
            "arn:aws:iam::123456789012:role/gone"
        } else {
            a
        }
    });
    let out = rolegate(&gone);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: --caller-role-arn arn:aws:iam::123456789012:role/gone: no [[role]] of the configuration has this ARN, so no session of it can make a request\n"
    );
    let text = std::fs::read_to_string(&f.config).unwrap();
    let role_line = format!("arn = \"{ROLE}\"\n");
    assert_eq!(text.matches(&role_line).count(), 1);
    let revoked_config = f.dir.path().join("revoked.toml");
    let revoked_text = text.replace(
        &role_line,
        &format!("{role_line}revoke_sessions_issued_before = \"2026-07-01T00:00:00Z\"\n"),
    );
    std::fs::write(&revoked_config, revoked_text).unwrap();
    let revoked = base.map(|a| {
        if a == config {
            revoked_config.to_str().unwrap()
        } else {
            a
        }
    });
    let out = rolegate(&revoked);
    assert_eq!(out.status.code(), Some(1));
    let stdout = f.normalized(&out);
    assert!(stdout.contains("reason: session-revoked"), "{stdout}");
    // A disabled profile creates no sessions, but the live ones it created still chain: the
    // explanation finds it, says so, and still applies its session policy.
    let profile_line = "id = \"s3-only\"\n";
    assert_eq!(text.matches(profile_line).count(), 1);
    let disabled_config = f.dir.path().join("disabled.toml");
    std::fs::write(
        &disabled_config,
        text.replace(profile_line, &format!("{profile_line}enabled = false\n")),
    )
    .unwrap();
    let disabled: Vec<&str> = limited
        .iter()
        .map(|a| {
            if *a == config {
                disabled_config.to_str().unwrap()
            } else {
                *a
            }
        })
        .collect();
    let out = rolegate(&disabled);
    assert_eq!(out.status.code(), Some(1));
    let stdout = f.normalized(&out);
    assert!(
        stdout.contains("    1 session policy\n    disabled: no new sessions, but live ones still chain"),
        "{stdout}"
    );
    assert!(stdout.contains("reason: caller-session-policy"), "{stdout}");
    // Without the caller's source identity the question describes no session there can be.
    let out = rolegate(&[
        "explain",
        "--config",
        config,
        "--caller-role-arn",
        ROLE,
        "--role-arn",
        ROLE_CHAINED,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--caller-source-identity"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut wrong = base.to_vec();
    wrong.extend(["--external-id", "red-team"]);
    let out = rolegate(&wrong);
    assert_eq!(out.status.code(), Some(1));
    let stdout = f.normalized(&out);
    // AssumeRole is answered by STS, which spells the code its own way.
    assert!(
        stdout.contains("Verdict: DENIED — AccessDenied (HTTP 403, reason: trust-policy)"),
        "{stdout}"
    );
    assert!(stdout.contains(r#"policy values: ["blue-team"]"#), "{stdout}");
    assert!(stdout.contains(r#"request values: ["red-team"]"#), "{stdout}");

    // The other role trusts only Roles Anywhere: a caller role is not a principal of it.
    let out = rolegate(&[
        "explain",
        "--config",
        config,
        "--caller-role-arn",
        ROLE,
        "--caller-source-identity",
        "CN=app",
        "--role-arn",
        ROLE_OTHER,
        "--at",
        AT,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(f.normalized(&out).contains("principal: did not match"));
}

/// `--caller-certificate` gives the calling session what CreateSession gave it from that
/// certificate: its source identity, and its attributes as tags through the calling profile's
/// attribute_mappings; no --caller-source-identity or --caller-tag to type by hand.
#[test]
fn explain_role_chaining_from_the_caller_certificate() {
    let f = fixture();
    let config = f.config.to_str().unwrap();
    let with_ou = |ou: &str| {
        let mut spec = ClientSpec::new(
            "web-7",
            KeyType::EcdsaP256,
            datetime!(2026-01-01 0:00 UTC),
            datetime!(2029-01-01 0:00 UTC),
        );
        spec.organizational_unit = Some(ou.into());
        let path = f.dir.path().join(format!("web-7-{ou}.pem"));
        std::fs::write(&path, f.pki.root.client(&spec).unwrap().cert_pem).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let (payments, other) = (with_ou("payments"), with_ou("other"));
    let main = profile_arn("main");
    // explain by a caller of role ROLE that began with `certificate`, for ROLE_PAYMENTS.
    let chain = |certificate: &str, extra: &[&str]| {
        let mut args = vec!["explain", "--config", config, "--caller-role-arn", ROLE];
        args.extend([
            "--caller-certificate",
            certificate,
            "--role-arn",
            ROLE_PAYMENTS,
            "--at",
            AT,
        ]);
        args.extend(extra);
        rolegate(&args)
    };
    let with_profile = ["--caller-profile-arn", main.as_str()];
    let out = chain(&payments, &with_profile);
    assert_eq!(out.status.code(), Some(0), "{}", f.normalized(&out));
    assert!(f.normalized(&out).contains("CN=web-7"), "{}", f.normalized(&out));
    let out = chain(&other, &with_profile);
    assert_eq!(out.status.code(), Some(1), "{}", f.normalized(&out));

    // The profile is what maps the attributes: required; and the tags are the certificate's.
    let usage_error = |out: Output, names: &str| {
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(names), "{stderr}");
    };
    usage_error(chain(&payments, &[]), "--caller-profile-arn");
    let tagged = [with_profile[0], with_profile[1], "--caller-tag", "team=blue"];
    usage_error(chain(&payments, &tagged), "cannot be used with");
    // A session CreateSession made carries no transitive tag keys.
    let transitive = [
        with_profile[0],
        with_profile[1],
        "--caller-transitive-tag-key",
        "x509Subject/OU",
    ];
    usage_error(chain(&payments, &transitive), "cannot be used with");
}

#[test]
fn explain_usage_errors_exit_2() {
    let f = fixture();
    let cert = client(f.dir.path(), &f.pki.root, "web-1", 5);
    let missing = f.dir.path().join("missing.toml");
    let out = rolegate(&[
        "explain",
        "--config",
        missing.to_str().unwrap(),
        "--certificate",
        cert.to_str().unwrap(),
        "--trust-anchor-arn",
        &anchor_arn("main"),
        "--profile-arn",
        &profile_arn("main"),
        "--role-arn",
        ROLE,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
    // No certificate and no caller role.
    let out = rolegate(&["explain", "--config", f.config.to_str().unwrap(), "--role-arn", ROLE]);
    assert_eq!(out.status.code(), Some(2));
    let out = rolegate(&[
        "explain",
        "--config",
        f.config.to_str().unwrap(),
        "--caller-role-arn",
        ROLE,
        "--caller-source-identity",
        "CN=app",
        "--role-arn",
        ROLE,
        "--at",
        "yesterday",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn simulate_allowed_by_policy_variable() {
    let f = fixture();
    let out = f.simulate(&[
        "--role-arn",
        ROLE_CHAINED,
        "--action",
        "s3:GetObject",
        "--resource",
        "arn:aws:s3:::data/blue/report.csv",
        "--context",
        "aws:PrincipalTag/team=blue",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", f.normalized(&out));
    let stdout = f.normalized(&out);
    assert!(stdout.contains("Decision: allowed"), "{stdout}");
    assert!(stdout.contains(r#"decided by role permission policy #0, Statement[0] (Sid "ReadTeam")"#));
    golden("simulate_allowed", &stdout);

    // Another team's prefix: the variable resolves to blue, the resource says red.
    let out = f.simulate(&[
        "--role-arn",
        ROLE_CHAINED,
        "--action",
        "s3:GetObject",
        "--resource",
        "arn:aws:s3:::data/red/report.csv",
        "--context",
        "aws:PrincipalTag/team=blue",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = f.normalized(&out);
    assert!(stdout.contains("Decision: implicitDeny"), "{stdout}");
    assert!(
        stdout.contains("no role permission policy statement allows it"),
        "{stdout}"
    );
}

#[test]
fn simulate_explicit_deny_wins() {
    let f = fixture();
    let out = f.simulate(&[
        "--role-arn",
        ROLE_CHAINED,
        "--action",
        "s3:GetObject",
        "--resource",
        "arn:aws:s3:::data/blue/secret.txt",
        "--context",
        "aws:PrincipalTag/team=blue",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = f.normalized(&out);
    assert!(stdout.contains("Decision: explicitDeny"), "{stdout}");
    assert!(stdout.contains(r#"decided by role permission policy #0, Statement[1] (Sid "NoSecrets")"#));
}

#[test]
fn simulate_session_policies_intersect() {
    let f = fixture();
    let blue = [
        "--role-arn",
        ROLE_CHAINED,
        "--action",
        "s3:GetObject",
        "--resource",
        "arn:aws:s3:::data/blue/report.csv",
        "--context",
        "aws:PrincipalTag/team=blue",
    ];
    // The role allows it; the managed session policy allows only data/public/*.
    let mut args = blue.to_vec();
    args.extend(["--policy-arn", MANAGED]);
    let out = f.simulate(&args);
    assert_eq!(out.status.code(), Some(1));
    let stdout = f.normalized(&out);
    assert!(stdout.contains("Decision: implicitDeny"), "{stdout}");
    assert!(stdout.contains("no session policy statement allows it"), "{stdout}");
    assert!(
        stdout.contains(&format!("policy 0: managed session policy {MANAGED}")),
        "{stdout}"
    );
    // Named twice, it is one policy.
    args.extend(["--policy-arn", MANAGED]);
    let twice = f.normalized(&f.simulate(&args));
    assert_eq!(twice, stdout);
    assert!(!twice.contains("policy 1:"), "{twice}");

    // An inline session policy that allows it keeps the role's allow.
    let policy = f.dir.path().join("session.json");
    std::fs::write(
        &policy,
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"Team","Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
    )
    .unwrap();
    let mut args = blue.to_vec();
    args.extend(["--policy", policy.to_str().unwrap()]);
    let out = f.simulate(&args);
    assert_eq!(out.status.code(), Some(0), "{}", f.normalized(&out));
}

/// The simulated session has the request context `Sessions.Authorize` builds for a session:
/// keys derived from the session (`aws:TokenIssueTime`, `aws:MultiFactorAuthPresent`,
/// `aws:userid`, `aws:PrincipalTagKeys`, default `aws:RequestedRegion`), its tags and source
/// identity from `--context`, repeated caller keys multi-valued (other derived keys are refused:
/// `simulate_errors_exit_2`).
#[test]
fn simulate_uses_the_authorize_request_context() {
    let f = fixture();
    let policy = f.dir.path().join("session-keys.json");
    std::fs::write(
        &policy,
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"SessionKeys","Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{
            "StringEquals":{"aws:RequestedRegion":"us-east-1","aws:MultiFactorAuthPresent":"false","aws:SourceIdentity":"CN=web-1","aws:TokenIssueTime":"2026-06-01T12:00:00Z","aws:PrincipalType":"AssumedRole","aws:PrincipalIsAWSService":"false","aws:SecureTransport":"true","aws:ViaAWSService":"false"},
            "StringLike":{"aws:userid":"AROA*:reporter"},
            "ForAnyValue:StringEquals":{"aws:PrincipalTagKeys":"team","s3:prefix":"a/"}}}]}"#,
    )
    .unwrap();
    let args = [
        REPORTER_READS_REPORT.as_slice(),
        &[
            "--policy",
            policy.to_str().unwrap(),
            "--context",
            "aws:PrincipalTag/team=blue",
            "--context",
            "aws:SourceIdentity=CN=web-1",
            "--context",
            "s3:prefix=a/",
            "--context",
            "s3:prefix=b/",
        ],
    ]
    .concat();
    let out = f.simulate(&args);
    let stdout = f.normalized(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("Decision: allowed"), "{stdout}");
    assert!(stdout.contains(r#"(Sid "SessionKeys"): Allow, applies"#), "{stdout}");
    assert!(stdout.contains(r#"request values: ["a/", "b/"]"#), "{stdout}");

    // Without the source identity, the session has none: its condition fails.
    let mut without = args.to_vec();
    let at = without
        .iter()
        .position(|a| a.starts_with("aws:SourceIdentity="))
        .unwrap();
    without.drain(at - 1..=at);
    let out = f.simulate(&without);
    let stdout = f.normalized(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("Decision: implicitDeny"), "{stdout}");

    // The caller says the request it authorizes came without TLS (rolegate assumes TLS).
    let mut plain = args.to_vec();
    plain.extend(["--context", "aws:SecureTransport=false"]);
    let out = f.simulate(&plain);
    let stdout = f.normalized(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("Decision: implicitDeny"), "{stdout}");
}

#[test]
fn simulate_errors_exit_2() {
    let f = fixture();
    let simulate = |extra: &[&str]| {
        let mut args = vec![
            "--role-arn",
            ROLE_CHAINED,
            "--action",
            "s3:GetObject",
            "--resource",
            "*",
        ];
        args.extend_from_slice(extra);
        f.simulate(&args)
    };
    // The chained role is in no profile: no session of it came from one.
    let out = simulate(&["--profile-arn", &profile_arn("s3-only")]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "error: Profile {} does not list role {ROLE_CHAINED}, so no session of that role came from it.\n",
            profile_arn("s3-only")
        )
    );
    let out = simulate(&["--policy-arn", &format!("arn:aws:iam::{ACCOUNT}:policy/nope")]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: Managed policy arn:aws:iam::123456789012:policy/nope is not defined in the configuration (no [[managed_policy]] with this arn).\n"
    );
    // A managed policy of another account is configured, but STS attaches it to no session of
    // this account's roles: no such session exists to simulate.
    let out = simulate(&["--policy-arn", MANAGED_ELSEWHERE]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: Managed policy arn:aws:iam::210987654321:policy/public-read cannot be a session policy of role arn:aws:iam::123456789012:role/chained: AssumeRole attaches only managed policies of the role's own account, or AWS managed ones (account \"aws\"), of its partition (STS answers \"Policy arn:aws:iam::210987654321:policy/public-read does not exist or is not attachable.\").\n"
    );
    // Keys rolegate derives from the session are refused, as by Authorize (`--at` sets the time).
    for key in ["aws:CurrentTime", "aws:userid", "aws:PrincipalTagKeys"] {
        let out = simulate(&["--context", &format!("{key}=x")]);
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("error: The context key '{key}' is derived from the session by rolegate and cannot be supplied.\n")
        );
    }
    // A key of those namespaces that rolegate does not derive says so.
    let out = simulate(&["--context", "aws:PrincipalTags/team=a"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: The context key 'aws:PrincipalTags/team' is in a namespace of keys rolegate derives from the \
         session, and cannot be supplied; rolegate derives no such key, so it is most likely misspelt.\n"
    );
    // A key in two spellings is not one key of two values, a session holds one value of each
    // tag, aws:SecureTransport is a boolean and aws:SourceIp an IP address.
    let refused: [(&[&str], &str); 5] = [
        (
            &["aws:SourceIp=10.1.2.3", "AWS:SOURCEIP=198.51.100.7"],
            "The context key 'aws:SourceIp' is given twice, also as 'AWS:SOURCEIP': context key names are case-insensitive.",
        ),
        (
            &["aws:PrincipalTag/Team=a", "aws:principaltag/team=b"],
            "The session key 'aws:principaltag/team' is given twice: a session holds one value of it (tag keys compare case-insensitively).",
        ),
        (
            &["aws:SecureTransport=maybe"],
            "The context key 'aws:SecureTransport' is true or false, not 'maybe'.",
        ),
        (
            &["aws:sourceip=ci-runner-7.example.com"],
            "The context key 'aws:sourceip' is an IP address (such as 203.0.113.7 or 2001:db8::7), not 'ci-runner-7.example.com'.",
        ),
        (
            &["aws:SourceIp=10.1.2.3:443"],
            "The context key 'aws:SourceIp' is an IP address (such as 203.0.113.7 or 2001:db8::7), not '10.1.2.3:443'.",
        ),
    ];
    for (keys, message) in refused {
        let args: Vec<&str> = keys.iter().flat_map(|k| ["--context", *k]).collect();
        let out = simulate(&args);
        assert_eq!(out.status.code(), Some(2), "{keys:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), format!("error: {message}\n"));
    }
    // Sessions that cannot exist: a session name STS refuses, a tag without a key, an empty
    // source identity.
    let out = simulate(&["--role-session-name", "bad name!"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: 1 validation error detected: Value 'bad name!' at 'roleSessionName' failed to satisfy constraint: Member must have length between 2 and 64 and satisfy regular expression pattern: [\\w+=,.@-]*\n"
    );
    for (key, message) in [
        (
            "aws:PrincipalTag/=x",
            "The session key 'aws:PrincipalTag/' names no tag: a session tag key has 1 to 128 characters.",
        ),
        (
            "aws:SourceIdentity=",
            "The session key 'aws:SourceIdentity' is '': a source identity has at least 2 characters.",
        ),
    ] {
        let out = simulate(&["--context", key]);
        assert_eq!(out.status.code(), Some(2), "{key}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), format!("error: {message}\n"));
    }
    // A policy file that never ends (a device named by a typo) is refused, not read to the end
    // of memory.
    let out = simulate(&["--policy", "/dev/zero"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: cannot read /dev/zero: a character device, not a file: give the path of a regular file (or a pipe)\n"
    );
    // ...and `aws:username`, which a role session does not have (`${aws:username}` never matches).
    let out = simulate(&["--context", "AWS:UserName=alice"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: The context key 'AWS:UserName' is not present for role sessions (IAM sets it for IAM users only) and cannot be supplied.\n"
    );
    let out = f.simulate(&[
        "--role-arn",
        "arn:aws:iam::123456789012:role/ghost",
        "--action",
        "s3:GetObject",
        "--resource",
        "*",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("role/ghost is not defined"));
}

/// The chain step names the CRL each certificate was checked against, and says so of a
/// certificate whose issuer has none in the anchor: a CRL of the root alone leaves the
/// certificates an intermediate issued unchecked.
#[test]
fn explain_names_the_crl_each_certificate_is_checked_against() {
    let (this_update, next_update) = (datetime!(2026-05-01 0:00 UTC), datetime!(2026-07-01 0:00 UTC));
    let f = fixture_with_crl(|pki| Some(pki.root.crl(&[], this_update, next_update).unwrap()));
    let cert = client(f.dir.path(), &f.pki.intermediate, "web-7", 7);
    let chain = f.dir.path().join("chain.pem");
    std::fs::write(&chain, &f.pki.intermediate.issued().cert_pem).unwrap();
    let explain_of = |config: &Path, cert: &Path| {
        let out = rolegate(&[
            "explain",
            "--config",
            config.to_str().unwrap(),
            "--certificate",
            cert.to_str().unwrap(),
            "--intermediates",
            chain.to_str().unwrap(),
            "--trust-anchor-arn",
            &anchor_arn("main"),
            "--profile-arn",
            &profile_arn("main"),
            "--role-arn",
            ROLE,
            "--at",
            AT,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", f.normalized(&out));
        f.normalized(&out)
    };
    let explain = |config: &Path| explain_of(config, &cert);
    let stdout = explain(&f.config);
    assert!(
        stdout.contains(
            "    revocation of the certificate: not checked: the trust anchor has no CRL of its issuer CN=test intermediate\n    revocation of CN=test intermediate: checked against the CRL of CN=test root\n"
        ),
        "{stdout}"
    );
    // With the intermediate's CRL in the anchor (its certificate in the bundle, as a CRL is
    // checked against the bundle's certificates), the leaf is checked too.
    let dir = f.dir.path();
    let intermediate_crl = f.pki.intermediate.crl(&[], this_update, next_update).unwrap();
    std::fs::write(dir.join("intermediate.crl"), intermediate_crl).unwrap();
    let text = std::fs::read_to_string(&f.config).unwrap();
    let bundle_line = text
        .lines()
        .find(|l| l.starts_with("certificates = "))
        .expect("the anchor's bundle");
    let bundle = dir.join(bundle_line.trim_start_matches("certificates = ").trim_matches('"'));
    let mut pem = std::fs::read_to_string(&bundle).unwrap();
    pem.push_str(&f.pki.intermediate.issued().cert_pem);
    std::fs::write(dir.join("both.pem"), pem).unwrap();
    let both = text.replacen(bundle_line, "certificates = \"both.pem\"", 1).replacen(
        r#"crls = ["root.crl"]"#,
        r#"crls = ["root.crl", "intermediate.crl"]"#,
        1,
    );
    let both_config = dir.join("both.toml");
    std::fs::write(&both_config, both).unwrap();
    let stdout = explain(&both_config);
    assert!(
        stdout.contains("    revocation of the certificate: checked against the CRL of CN=test intermediate\n"),
        "{stdout}"
    );
    // An intermediate the path does not go through (the root issued the leaf) is not
    // checked, whatever CRL would cover it.
    let direct = client(dir, &f.pki.root, "web-8", 8);
    let stdout = explain_of(&both_config, &direct);
    assert!(
        stdout.contains(
            "    revocation of the certificate: checked against the CRL of CN=test root\n    revocation of CN=test intermediate: not on the path to the trust anchor (not used, not checked)\n"
        ),
        "{stdout}"
    );
    // A root CRL scoped to a distribution point leaves out a certificate that names another.
    let scoped = f
        .pki
        .root
        .crl_for_distribution_point(&[], this_update, next_update, Some("http://crl.example/root.crl"))
        .unwrap();
    std::fs::write(dir.join("root.crl"), scoped).unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name.push(rcgen::DnType::CommonName, "web-9");
    params.not_before = datetime!(2026-01-01 0:00 UTC);
    params.not_after = datetime!(2029-01-01 0:00 UTC);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    params.crl_distribution_points = vec![rcgen::CrlDistributionPoint {
        uris: vec!["http://crl.example/other.crl".to_owned()],
    }];
    let pointing = dir.join("web-9.pem");
    std::fs::write(
        &pointing,
        f.pki.root.issue(&params, KeyType::EcdsaP256).unwrap().cert_pem,
    )
    .unwrap();
    let stdout = explain_of(&both_config, &pointing);
    assert!(
        stdout.contains(
            "    revocation of the certificate: not checked: the CRL of CN=test root leaves it out (its issuing distribution point names none of the certificate's CRL distribution points)\n"
        ),
        "{stdout}"
    );
}

#[test]
fn explain_intermediates_and_time() {
    let f = fixture();
    let cert = client(f.dir.path(), &f.pki.intermediate, "web-6", 6);
    let chain = f.dir.path().join("chain.pem");
    std::fs::write(&chain, &f.pki.intermediate.issued().cert_pem).unwrap();
    let config = f.config.to_str().unwrap();
    let anchor = anchor_arn("main");
    let profile = profile_arn("main");
    let args = |at: &'static str, with_chain: bool| {
        let mut v = vec![
            "explain".to_owned(),
            "--config".into(),
            config.into(),
            "--certificate".into(),
            cert.to_str().unwrap().into(),
            "--trust-anchor-arn".into(),
            anchor.clone(),
            "--profile-arn".into(),
            profile.clone(),
            "--role-arn".into(),
            ROLE.into(),
            "--at".into(),
            at.into(),
        ];
        if with_chain {
            v.extend(["--intermediates".into(), chain.to_str().unwrap().into()]);
        }
        v
    };
    let run = |v: Vec<String>| rolegate(&v.iter().map(String::as_str).collect::<Vec<_>>());

    let out = run(args(AT, true));
    assert_eq!(out.status.code(), Some(0), "{}", f.normalized(&out));
    assert!(f.normalized(&out).contains("1 intermediate certificate given"));

    let out = run(args(AT, false));
    assert_eq!(out.status.code(), Some(1));
    assert!(f.normalized(&out).contains("(HTTP 403, reason: untrusted-certificate)"));

    // A client signing for another region is refused before anything else, as the server
    // refuses it; its own region passes.
    let mut elsewhere = args(AT, true);
    elsewhere.extend(["--region".into(), "eu-west-1".into()]);
    let out = run(elsewhere);
    assert_eq!(out.status.code(), Some(1));
    let stdout = f.normalized(&out);
    assert!(
        stdout.contains("✘ request is signed for the server's region"),
        "{stdout}"
    );
    assert!(stdout.contains("(HTTP 403, reason: wrong-region)"), "{stdout}");
    let mut home = args(AT, true);
    home.extend(["--region".into(), "us-east-1".into()]);
    assert_eq!(run(home).status.code(), Some(0));

    // A duration past the role's maximum: the report names both numbers.
    let mut long = args(AT, true);
    long.extend(["--duration-seconds".into(), "7201".into()]);
    let out = run(long);
    assert_eq!(out.status.code(), Some(1));
    let stdout = f.normalized(&out);
    assert!(
        stdout.contains("7201 seconds (requested durationSeconds); sessions last 900 to 43200 seconds, and at most the role's max_session_duration, 7200"),
        "{stdout}"
    );
    assert!(
        stdout.contains("The requested DurationSeconds exceeds the MaxSessionDuration set for this role."),
        "{stdout}"
    );

    // A chain file that lists the intermediate twice is refused as the server refuses it.
    let pem = f.pki.intermediate.issued().cert_pem.clone();
    std::fs::write(&chain, [pem.as_str(), pem.as_str()].concat()).unwrap();
    let out = run(args(AT, true));
    assert_eq!(out.status.code(), Some(1));
    let stdout = f.normalized(&out);
    assert!(stdout.contains("(HTTP 403, reason: chain-duplicate)"), "{stdout}");
    // A full-chain file (the leaf, then its issuer) as the intermediates: the copy of the leaf
    // is left out, as the daemon leaves it out.
    let leaf_pem = std::fs::read_to_string(&cert).unwrap();
    std::fs::write(&chain, [leaf_pem.as_str(), pem.as_str()].concat()).unwrap();
    let out = run(args(AT, true));
    assert_eq!(out.status.code(), Some(0), "{}", f.normalized(&out));
    assert!(f.normalized(&out).contains("1 intermediate certificate given"));
    std::fs::write(&chain, &pem).unwrap();

    // After the leaf's notAfter (2029-01-01).
    let out = run(args("2029-06-01T00:00:00Z", true));
    assert_eq!(out.status.code(), Some(1));
    let stdout = f.normalized(&out);
    assert!(stdout.contains("✘ certificate chains to the trust anchor"), "{stdout}");
    assert!(stdout.contains("(HTTP 403, reason: certificate-expired)"), "{stdout}");
}

/// A trust policy that reads aws:SourceIp needs `--source-ip`: the daemon always holds the
/// client's address, so without one explain would decide a request it never sees.
#[test]
fn a_trust_policy_reading_the_source_ip_needs_one() {
    let f = fixture();
    let cert = client(f.dir.path(), &f.pki.root, "web-7", 7);
    let config = f.config.to_str().unwrap();
    let (anchor, profile) = (anchor_arn("main"), profile_arn("office"));
    let run = |source_ip: Option<&str>| {
        let mut v = vec![
            "explain",
            "--config",
            config,
            "--certificate",
            cert.to_str().unwrap(),
            "--trust-anchor-arn",
            &anchor,
            "--profile-arn",
            &profile,
            "--role-arn",
            ROLE_OFFICE,
            "--at",
            AT,
        ];
        if let Some(ip) = source_ip {
            v.extend(["--source-ip", ip]);
        }
        rolegate(&v)
    };
    let out = run(None);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        format!(
            "error: the trust policy of {ROLE_OFFICE} reads aws:SourceIp, which every request holds (the client's address): give --source-ip"
        )
    );
    let inside = run(Some("10.1.2.3"));
    assert_eq!(inside.status.code(), Some(0), "{}", f.normalized(&inside));
    assert_eq!(run(Some("192.0.2.1")).status.code(), Some(1));
}

/// `explain --caller-role-arn ROLE --caller-source-identity CN=app --role-arn ROLE_CHAINED
/// --external-id blue-team --at AT` on `config`, plus `extra`.
fn explain_chain(config: &Path, extra: &[&str]) -> Output {
    #[rustfmt::skip]
    let mut args = vec![
        "explain", "--config", config.to_str().unwrap(), "--caller-role-arn", ROLE,
        "--caller-source-identity", "CN=app", "--role-arn", ROLE_CHAINED, "--external-id", "blue-team",
        "--at", AT,
    ];
    args.extend_from_slice(extra);
    rolegate(&args)
}

/// The fixture's configuration with `line` added after the `app` role's ARN, in a file of
/// its own.
fn with_app_role_line(f: &Fixture, name: &str, line: &str) -> PathBuf {
    let text = std::fs::read_to_string(&f.config).unwrap();
    let role_line = format!("arn = \"{ROLE}\"\n");
    assert_eq!(text.matches(&role_line).count(), 1);
    let path = f.dir.path().join(name);
    std::fs::write(&path, text.replace(&role_line, &format!("{role_line}{line}\n"))).unwrap();
    path
}

/// A calling session issued before its role's revocation cutoff is refused as the server
/// refuses it; without its issue time, the verdict says it holds only for sessions issued at
/// or after the cutoff. The issue time is also the session's aws:TokenIssueTime.
#[test]
fn explain_a_caller_session_revoked_by_its_role() {
    let f = fixture();
    let config = with_app_role_line(
        &f,
        "cutoff.toml",
        r#"revoke_sessions_issued_before = "2026-06-01T11:30:00Z""#,
    );
    let out = explain_chain(&config, &["--caller-issued-at", "2026-06-01T11:15:00Z"]);
    assert_eq!(out.status.code(), Some(1), "{}", f.normalized(&out));
    let stdout = f.normalized(&out);
    assert!(
        stdout.contains(
            "✘ calling session is valid (not expired, not revoked by its role)\n    issued at 2026-06-01T11:15:00Z (--caller-issued-at)\n    Sessions of role arn:aws:iam::123456789012:role/app issued before 2026-06-01T11:30:00Z have been revoked;"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("Verdict: DENIED — AccessDenied (HTTP 403, reason: session-revoked)"),
        "{stdout}"
    );
    let out = explain_chain(&config, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", f.normalized(&out));
    assert!(
        f.normalized(&out).contains(
            "    issued at 2026-06-01T12:00:00Z (assumed: the time of the question; --caller-issued-at sets it)\n    the role revokes sessions issued before 2026-06-01T11:30:00Z: this verdict holds only for sessions issued at or after it (an older session is refused, reason session-revoked; give --caller-issued-at to explain one)\n"
        ),
        "{}",
        f.normalized(&out)
    );
    let out = explain_chain(&config, &["--caller-issued-at", "2026-06-01T11:45:00Z"]);
    assert_eq!(out.status.code(), Some(0), "{}", f.normalized(&out));
    assert!(
        f.normalized(&out).contains(
            "    issued at 2026-06-01T11:45:00Z (--caller-issued-at)\n    issued at or after the role's revoke_sessions_issued_before, 2026-06-01T11:30:00Z\n"
        ),
        "{}",
        f.normalized(&out)
    );
    // A session issued after the question, or expired by then, is no session that can call.
    for (issued, message) in [
        (
            "2026-06-01T12:00:01Z",
            "error: --caller-issued-at 2026-06-01T12:00:01Z: after the time of the question, 2026-06-01T12:00:00Z\n",
        ),
        (
            "2026-06-01T10:00:00Z",
            "error: --caller-issued-at 2026-06-01T10:00:00Z: a session of arn:aws:iam::123456789012:role/app lasts at most its max_session_duration, 7200 seconds, so it has expired by 2026-06-01T12:00:00Z\n",
        ),
    ] {
        let out = explain_chain(&config, &["--caller-issued-at", issued]);
        assert_eq!(out.status.code(), Some(2), "{issued}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), message);
    }
}

/// aws:TokenIssueTime is the calling session's issue time, in explain and in simulate.
#[test]
fn the_session_issue_time_is_the_token_issue_time() {
    let f = fixture();
    let policy = f.dir.path().join("issued.json");
    std::fs::write(
        &policy,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-06-01T11:50:00Z"}}}]}"#,
    )
    .unwrap();
    let mut args = REPORTER_READS_REPORT.to_vec();
    args.extend([
        "--policy",
        policy.to_str().unwrap(),
        "--context",
        "aws:PrincipalTag/team=blue",
    ]);
    let out = f.simulate(&args);
    assert_eq!(out.status.code(), Some(1), "{}", f.normalized(&out));
    assert!(
        f.normalized(&out).contains("Decision: implicitDeny"),
        "{}",
        f.normalized(&out)
    );
    args.extend(["--session-issued-at", "2026-06-01T11:40:00Z"]);
    let out = f.simulate(&args);
    let stdout = f.normalized(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("  session issued at 2026-06-01T11:40:00Z\n"),
        "{stdout}"
    );
    assert!(stdout.contains("Decision: allowed"), "{stdout}");
    // A session its role revoked is refused before any policy, as the broker refuses it.
    let config = with_app_role_line(
        &f,
        "cutoff.toml",
        r#"revoke_sessions_issued_before = "2026-06-01T11:30:00Z""#,
    );
    let out = rolegate(&[
        "simulate",
        "--config",
        config.to_str().unwrap(),
        "--at",
        AT,
        "--role-arn",
        ROLE,
        "--action",
        "s3:GetObject",
        "--resource",
        "*",
        "--session-issued-at",
        "2026-06-01T11:00:00Z",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: A session of arn:aws:iam::123456789012:role/app issued at 2026-06-01T11:00:00Z is revoked (revoke_sessions_issued_before = 2026-06-01T11:30:00Z): rolegate refuses it before any policy is evaluated.\n"
    );
    // explain: the trust policy of `chained` allows only sessions issued before 11:50.
    let text = std::fs::read_to_string(&f.config).unwrap();
    let condition = r#""Condition":{"StringEquals":{"sts:ExternalId":"blue-team"}}"#;
    assert_eq!(text.matches(condition).count(), 1);
    let dated = f.dir.path().join("dated.toml");
    std::fs::write(
        &dated,
        text.replace(
            condition,
            r#""Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-06-01T11:50:00Z"}}"#,
        ),
    )
    .unwrap();
    assert_eq!(explain_chain(&dated, &[]).status.code(), Some(1));
    let out = explain_chain(&dated, &["--caller-issued-at", "2026-06-01T11:40:00Z"]);
    assert_eq!(out.status.code(), Some(0), "{}", f.normalized(&out));
}

/// Transitive tags of the caller are inherited: the new session carries them (sts:TagSession
/// is needed), and a request tag cannot set one again.
#[test]
fn explain_a_caller_with_transitive_tags() {
    let f = fixture();
    let tagged = ["--caller-tag", "team=blue"];
    assert_eq!(explain_chain(&f.config, &tagged).status.code(), Some(0));
    let transitive = [tagged.as_slice(), &["--caller-transitive-tag-key", "Team"]].concat();
    let out = explain_chain(&f.config, &transitive);
    assert_eq!(out.status.code(), Some(1), "{}", f.normalized(&out));
    let stdout = f.normalized(&out);
    assert!(
        stdout.contains("✔ session tags fit the packed size\n    1 tag, "),
        "{stdout}"
    );
    assert!(
        stdout.contains("Verdict: DENIED — AccessDenied (HTTP 403, reason: trust-policy-tag-session)\n  User: arn:aws:sts::123456789012:assumed-role/app/explain is not authorized to perform: sts:TagSession on resource: arn:aws:iam::123456789012:role/chained\n"),
        "{stdout}"
    );
    let overriding = [transitive.as_slice(), &["--tag", "team=red"]].concat();
    let stdout = f.normalized(&explain_chain(&f.config, &overriding));
    assert!(
        stdout.contains("Verdict: DENIED — InvalidParameterValue (HTTP 400, reason: transitive-tag-override)\n  One of the specified transitive tag keys can't be set because it conflicts with a transitive tag key from the calling session. Key: 'team'.\n"),
        "{stdout}"
    );
    let out = explain_chain(
        &f.config,
        &[tagged.as_slice(), &["--caller-transitive-tag-key", "project"]].concat(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: --caller-transitive-tag-key project: no --caller-tag has this key\n"
    );
}

/// The request's transitive tag keys and session policies are checked as STS checks them: a
/// transitive key among the request's tags (which then needs sts:TagSession), a policy STS
/// would parse, managed policies the role can have attached.
#[test]
fn explain_a_chain_with_transitive_tags_and_session_policies() {
    let f = fixture();
    let out = explain_chain(&f.config, &["--tag", "team=blue", "--transitive-tag-key", "team"]);
    assert_eq!(out.status.code(), Some(1), "{}", f.normalized(&out));
    assert!(
        f.normalized(&out)
            .contains("Verdict: DENIED — AccessDenied (HTTP 403, reason: trust-policy-tag-session)\n"),
        "{}",
        f.normalized(&out)
    );
    let out = explain_chain(&f.config, &["--tag", "team=blue", "--transitive-tag-key", "project"]);
    assert_eq!(out.status.code(), Some(1), "{}", f.normalized(&out));
    let stdout = f.normalized(&out);
    assert!(stdout.contains("✘ request parameters are valid"), "{stdout}");
    assert!(
        stdout.contains("The specified transitive tag key must be included in the requested tags. Key: 'project'."),
        "{stdout}"
    );

    let policy = f.dir.path().join("session.json");
    std::fs::write(
        &policy,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
    )
    .unwrap();
    let policy_arg = policy.to_str().unwrap();
    let out = explain_chain(&f.config, &["--policy", policy_arg, "--policy-arn", MANAGED]);
    assert_eq!(out.status.code(), Some(0), "{}", f.normalized(&out));
    let stdout = f.normalized(&out);
    assert!(
        stdout.contains("          session policy <DIR>/session.json\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("          session policy {MANAGED}\n")),
        "{stdout}"
    );
    assert!(
        stdout.contains("✔ session policies are valid and attachable to the role\n    2 session policies: they limit what the new session may do"),
        "{stdout}"
    );

    let out = explain_chain(&f.config, &["--policy-arn", MANAGED_ELSEWHERE]);
    assert_eq!(out.status.code(), Some(1), "{}", f.normalized(&out));
    assert!(
        f.normalized(&out).contains(&format!(
            "Verdict: DENIED — ValidationError (HTTP 400, reason: unknown-policy-arn)\n  Policy {MANAGED_ELSEWHERE} does not exist or is not attachable. rolegate attaches only policies its configuration lists as [[managed_policy]]: of the role's account, or AWS managed (arn:aws:iam::aws:policy/...).\n"
        )),
        "{}",
        f.normalized(&out)
    );

    std::fs::write(
        &policy,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject"}]}"#,
    )
    .unwrap();
    let out = explain_chain(&f.config, &["--policy", policy_arg]);
    assert_eq!(out.status.code(), Some(1), "{}", f.normalized(&out));
    let stdout = f.normalized(&out);
    assert!(
        stdout.contains("✘ session policies are valid and attachable to the role"),
        "{stdout}"
    );
    assert!(
        stdout.contains("MalformedPolicyDocument (HTTP 400, reason: malformed-policy)"),
        "{stdout}"
    );

    let out = explain_chain(&f.config, &["--policy", "/nonexistent/session.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("error: cannot read /nonexistent/session.json: "),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The caller's own policies are evaluated with the request's aws:SourceIp too: a session
/// policy that reads it needs --source-ip, and decides by it.
#[test]
fn a_caller_policy_reading_the_source_ip_needs_one() {
    let f = fixture();
    let profile = profile_arn("office-net");
    let from = ["--caller-profile-arn", profile.as_str()];
    let out = explain_chain(&f.config, &from);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "error: the session policy of the calling session's profile {profile} reads aws:SourceIp, which every request holds (the client's address): give --source-ip\n"
        )
    );
    let out = explain_chain(&f.config, &[from.as_slice(), &["--source-ip", "192.0.2.1"]].concat());
    assert_eq!(out.status.code(), Some(1), "{}", f.normalized(&out));
    assert!(
        f.normalized(&out).contains("reason: caller-explicit-deny"),
        "{}",
        f.normalized(&out)
    );
    let out = explain_chain(&f.config, &[from.as_slice(), &["--source-ip", "10.1.2.3"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", f.normalized(&out));
}

/// Without --region, a pasted credential-process command line signs for the trust anchor
/// ARN's region, as credential-process does.
#[test]
fn explain_signs_for_the_trust_anchor_region_by_default() {
    let f = fixture();
    let cert = client(f.dir.path(), &f.pki.root, "web-1", 1);
    let elsewhere = anchor_arn("main").replace(":us-east-1:", ":eu-west-1:");
    let out = rolegate(&[
        "explain",
        "--config",
        f.config.to_str().unwrap(),
        "--certificate",
        cert.to_str().unwrap(),
        "--trust-anchor-arn",
        &elsewhere,
        "--profile-arn",
        &profile_arn("main"),
        "--role-arn",
        ROLE,
        "--at",
        AT,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = f.normalized(&out);
    assert!(
        stdout.contains("✘ request is signed for the server's region\n    eu-west-1 (the trust anchor ARN's region: credential-process signs for it when not given --region)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Verdict: DENIED — AccessDeniedException (HTTP 403, reason: wrong-region)\n  Credential should be scoped to a valid region: 'us-east-1', not 'eu-west-1'.\n"),
        "{stdout}"
    );
}

/// The chain's shape is refused where the REST edge refuses it, before the trust anchor is
/// looked up; an empty ARN is a missing parameter.
#[test]
fn explain_checks_the_chain_shape_and_parameters_first() {
    let f = fixture();
    let cert = client(f.dir.path(), &f.pki.root, "web-1", 1);
    let chain = f.dir.path().join("six.pem");
    let six: String = (10..16)
        .map(|serial| std::fs::read_to_string(client(f.dir.path(), &f.pki.root, "x", serial)).unwrap())
        .collect();
    std::fs::write(&chain, six).unwrap();
    let explain = |anchor: &str, profile: &str| {
        rolegate(&[
            "explain",
            "--config",
            f.config.to_str().unwrap(),
            "--certificate",
            cert.to_str().unwrap(),
            "--intermediates",
            chain.to_str().unwrap(),
            "--trust-anchor-arn",
            anchor,
            "--profile-arn",
            profile,
            "--role-arn",
            ROLE,
            "--at",
            AT,
        ])
    };
    let unknown = format!("{}-typo", anchor_arn("main"));
    let stdout = f.normalized(&explain(&unknown, &profile_arn("main")));
    assert!(
        stdout.contains("Verdict: DENIED — AccessDeniedException (HTTP 403, reason: chain-too-long)\n  X-Amz-X509-Chain has 6 certificates; at most 5 intermediates are allowed, plus a copy of the client certificate.\n"),
        "{stdout}"
    );
    let pem = f.pki.intermediate.issued().cert_pem.clone();
    std::fs::write(&chain, [pem.as_str(), pem.as_str()].concat()).unwrap();
    let stdout = f.normalized(&explain(&unknown, &profile_arn("main")));
    assert!(
        stdout.contains("✘ chain certificates: at most 5, each once\n    2 intermediate certificates given\n"),
        "{stdout}"
    );
    assert!(stdout.contains("(HTTP 403, reason: chain-duplicate)"), "{stdout}");
    assert!(
        stdout.contains("- certificate chains to the trust anchor (signatures, validity, CRLs) (skipped)"),
        "{stdout}"
    );
    std::fs::write(&chain, &pem).unwrap();
    let out = explain(&anchor_arn("main"), "");
    assert_eq!(out.status.code(), Some(1));
    let stdout = f.normalized(&out);
    assert!(
        stdout.contains("Verdict: DENIED — ValidationException (HTTP 400, reason: missing-parameter)\n  Missing required parameter profileArn (query string or JSON body).\n"),
        "{stdout}"
    );
}

/// A question about a calling session that cannot exist is a usage error (exit 2), not a
/// denial with an error the server never sends.
#[test]
fn explain_refuses_a_caller_that_cannot_exist() {
    let f = fixture();
    let cases: [(&[&str], String); 5] = [
        (
            &["--caller-role-arn", "garbage"],
            "error: --caller-role-arn garbage: no [[role]] of the configuration has this ARN, so no session of it can make a request\n".to_owned(),
        ),
        (
            &["--caller-profile-arn", "arn:aws:rolesanywhere:us-east-1:123456789012:profile/nope"],
            "error: --caller-profile-arn arn:aws:rolesanywhere:us-east-1:123456789012:profile/nope: no [[profile]] of the configuration has this ARN\n".to_owned(),
        ),
        (
            &["--caller-profile-arn", "arn:aws:rolesanywhere:us-east-1:123456789012:profile/office"],
            format!("error: --caller-profile-arn arn:aws:rolesanywhere:us-east-1:123456789012:profile/office: the profile does not list the calling role {ROLE}, so no session of that role came from it\n"),
        ),
        (
            &["--caller-source-identity", ""],
            "error: --caller-source-identity '': a source identity has at least 2 characters\n".to_owned(),
        ),
        (
            &["--caller-session-name", "bad name!"],
            "error: --caller-session-name: 1 validation error detected: Value 'bad name!' at 'roleSessionName' failed to satisfy constraint: Member must have length between 2 and 64 and satisfy regular expression pattern: [\\w+=,.@-]*\n".to_owned(),
        ),
    ];
    for (extra, message) in cases {
        let mut args = vec![
            "explain",
            "--config",
            f.config.to_str().unwrap(),
            "--role-arn",
            ROLE_CHAINED,
        ];
        for (flag, default) in [("--caller-role-arn", ROLE), ("--caller-source-identity", "CN=app")] {
            if !extra.contains(&flag) {
                args.extend([flag, default]);
            }
        }
        args.extend_from_slice(extra);
        let out = rolegate(&args);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", f.normalized(&out));
        assert_eq!(String::from_utf8_lossy(&out.stderr), message, "{extra:?}");
    }
}

/// A chain refused as revoked: the explanation names the certificate a CRL lists (the
/// server's message does not).
#[test]
fn explain_names_the_revoked_certificate() {
    let (this_update, next_update) = (datetime!(2026-05-01 0:00 UTC), datetime!(2026-07-01 0:00 UTC));
    let f = fixture_with_crl(|pki| {
        let intermediate = pki.intermediate.issued().serial_hex.clone();
        Some(
            pki.root
                .crl(&["1e5707", &intermediate], this_update, next_update)
                .unwrap(),
        )
    });
    let leaf = client(f.dir.path(), &f.pki.root, "web-7", 7);
    let out = f.explain(&leaf, "main", ROLE);
    assert_eq!(out.status.code(), Some(1));
    let stdout = f.normalized(&out);
    assert!(
        stdout.contains("    revoked: the certificate (serial 1e5707), listed by the CRL of CN=test root\n    Untrusted certificate: certificate is revoked by a CRL of the trust anchor\n"),
        "{stdout}"
    );
    let leaf = client(f.dir.path(), &f.pki.intermediate, "web-8", 8);
    let chain = f.dir.path().join("chain.pem");
    std::fs::write(&chain, &f.pki.intermediate.issued().cert_pem).unwrap();
    let out = rolegate(&[
        "explain",
        "--config",
        f.config.to_str().unwrap(),
        "--certificate",
        leaf.to_str().unwrap(),
        "--intermediates",
        chain.to_str().unwrap(),
        "--trust-anchor-arn",
        &anchor_arn("main"),
        "--profile-arn",
        &profile_arn("main"),
        "--role-arn",
        ROLE,
        "--at",
        AT,
    ]);
    let stdout = f.normalized(&out);
    assert!(
        stdout.contains("    revoked: intermediate #1 (CN=test intermediate), listed by the CRL of CN=test root\n"),
        "{stdout}"
    );
}
