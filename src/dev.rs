//! `rolegate serve --dev`: the embedded default. Creates once, in a state folder, a complete
//! development setup — root CA, server certificate for localhost/127.0.0.1/::1, an ECDSA and an
//! RSA client certificate, a token key and a config with one anchor, profile and role (plus a
//! second role to chain into) — and reuses it on later starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use time::{Duration, OffsetDateTime};

use crate::fsutil::{write_new_private, write_new_public};
use crate::pki::{Authority, ClientSpec, Issued, KeyType};
use crate::session::TokenKey;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/dev";
pub const CHAINED_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/dev-reader";
pub const TRUST_ANCHOR_ARN: &str = "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/dev";
pub const PROFILE_ARN: &str = "arn:aws:rolesanywhere:us-east-1:123456789012:profile/dev";
const CONFIG_FILE: &str = "rolegate.toml";
/// The subject O of every dev client certificate, which the dev role's trust policy requires.
const DEV_ORGANIZATION: &str = "rolegate dev";
/// The CN of the dev operator's certificate (`admin.pem`), listed in `admin_subjects`.
const DEV_ADMIN_CN: &str = "dev-admin";

/// The files [`prepare`] writes besides the configuration.
const DEV_FILES: [&str; 11] = [
    "ca.pem",
    "ca.key",
    "server.pem",
    "server.key",
    "client-ecdsa.pem",
    "client-ecdsa.key",
    "client-rsa.pem",
    "client-rsa.key",
    "admin.pem",
    "admin.key",
    "token-k1.key",
];

/// Makes sure the state folder holds a complete dev setup; returns the config path. The
/// folder is created 0700; an existing one must be this user's own and writable by nobody else,
/// since whoever can write there chooses the CA, the token key and the configuration served
/// (a `.rolegate-dev` another user made in a shared folder such as `/tmp`).
pub fn prepare(dir: &Path) -> Result<PathBuf, Box<dyn std::error::Error>> {
    // Made first (a folder already there is kept), then checked: a check before the making
    // would leave a moment for someone else's folder to appear in its place. Something else
    // in its place (a file, a dangling link) fails the making; the check says what it is.
    let made = crate::fsutil::create_private_dir(dir);
    // Nothing there after the making failed (a working folder not writable, a read-only file
    // system): the making's error is the one to tell.
    if let Err(e) = &made
        && std::fs::symlink_metadata(dir).is_err()
    {
        return Err(format!(
            "cannot create the dev state folder {}: {e}; name a writable one with --state-dir",
            dir.display()
        )
        .into());
    }
    crate::fsutil::check_own_dir(
        dir,
        "the dev state folder",
        0o022,
        "not using it (name another with --state-dir)",
    )?;
    made?;
    let config = dir.join(CONFIG_FILE);
    if holds_setup(dir) {
        tracing::info!(state_dir = %dir.display(), "reusing the dev setup");
        return Ok(config);
    }
    // The configuration is written last: files of the setup without it are a first run that
    // stopped half-way, which nothing here overwrites (other files do not matter).
    let leftovers: Vec<&str> = DEV_FILES.into_iter().filter(|name| dir.join(name).exists()).collect();
    if !leftovers.is_empty() {
        return Err(format!(
            "{} holds {} but no {CONFIG_FILE} (a first run that was interrupted?): delete those files to start over, or name another folder with --state-dir",
            dir.display(),
            leftovers.join(", ")
        )
        .into());
    }
    let now = OffsetDateTime::now_utc();
    let start = now - Duration::minutes(5);
    let ca = Authority::new_root(
        "rolegate dev root CA",
        KeyType::EcdsaP256,
        start,
        now + Duration::days(3650),
    )?;
    write_pair(dir, "ca", ca.issued())?;
    let server = ca.server(
        &["localhost", "127.0.0.1", "::1"],
        KeyType::EcdsaP256,
        start,
        now + Duration::days(825),
    )?;
    write_pair(dir, "server", &server)?;
    for (name, key) in [("client-ecdsa", KeyType::EcdsaP256), ("client-rsa", KeyType::Rsa2048)] {
        let mut spec = ClientSpec::new(&format!("dev-workload-{name}"), key, start, now + Duration::days(365));
        spec.organization = Some(DEV_ORGANIZATION.into());
        spec.dns_names = vec!["workload.dev.local".into()];
        write_pair(dir, name, &ca.client(&spec)?)?;
    }
    // The operator's certificate: listed in admin_subjects, for `rolegate admin`.
    let mut admin = ClientSpec::new(DEV_ADMIN_CN, KeyType::EcdsaP256, start, now + Duration::days(365));
    admin.organization = Some(DEV_ORGANIZATION.into());
    write_pair(dir, "admin", &ca.client(&admin)?)?;
    write_new_private(
        &dir.join("token-k1.key"),
        format!("{}\n", TokenKey::generate().to_base64().as_str()).as_bytes(),
    )?;
    // Whole or not at all: a configuration cut short by a kill would be reused as it is.
    let partial = dir.join(format!(".{CONFIG_FILE}.partial"));
    let _ = std::fs::remove_file(&partial);
    write_new_public(&partial, dev_config().as_bytes())?;
    std::fs::rename(&partial, &config)?;
    tracing::info!(state_dir = %dir.display(), "created a dev PKI, token key and configuration");
    Ok(config)
}

/// `word` as one word of a POSIX shell command line (and of botocore's `credential_process`,
/// which splits with `shlex`): as it is when it holds only characters no shell treats
/// specially, else in single quotes (a `'` in it written `'\''`).
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c));
    match plain {
        true => word.to_owned(),
        false => format!("'{}'", word.replace('\'', "'\\''")),
    }
}

/// Prints ready-to-paste commands once the listener is up.
pub fn print_instructions(dir: &Path, listen: SocketAddr) {
    let d = dir.display();
    // Listening on every address: the commands use the loopback one, which the dev server
    // certificate names (it names no other).
    let shown = match listen.ip().is_unspecified() {
        true => SocketAddr::new(
            match listen {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            },
            listen.port(),
        ),
        false => listen,
    };
    let endpoint = format!("https://{shown}");
    let exe = shell_word(&std::env::current_exe().map_or_else(|_| "rolegate".to_owned(), |p| p.display().to_string()));
    let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    // Files of the state folder as the commands name them: as given, and absolute (for
    // ~/.aws/config, read from any folder), each one shell word.
    let f = |name: &str| shell_word(&dir.join(name).display().to_string());
    let a = |name: &str| shell_word(&abs.join(name).display().to_string());
    let ca = f("ca.pem");
    let lines = [
        String::new(),
        format!("rolegate dev server ready on {endpoint} (state in {d})"),
        String::new(),
        "1. Get credentials for role dev with an ECDSA client certificate:".to_owned(),
        format!("   {exe} credential-process \\"),
        format!(
            "     --certificate {} --private-key {} \\",
            f("client-ecdsa.pem"),
            f("client-ecdsa.key")
        ),
        format!("     --trust-anchor-arn {TRUST_ANCHOR_ARN} \\"),
        format!("     --profile-arn {PROFILE_ARN} \\"),
        format!("     --role-arn {ROLE_ARN} \\"),
        format!("     --endpoint {endpoint} --ca-bundle {ca}"),
        String::new(),
        format!(
            "   (the RSA certificate works the same: {} and {})",
            f("client-rsa.pem"),
            f("client-rsa.key")
        ),
        String::new(),
        "2. Use it from the AWS CLI and SDKs: add to ~/.aws/config".to_owned(),
        "   [profile rolegate-dev]".to_owned(),
        format!("   region = {REGION}"),
        format!(
            "   credential_process = {exe} credential-process --certificate {} --private-key {} --trust-anchor-arn {TRUST_ANCHOR_ARN} --profile-arn {PROFILE_ARN} --role-arn {ROLE_ARN} --endpoint {endpoint} --ca-bundle {}",
            a("client-ecdsa.pem"),
            a("client-ecdsa.key"),
            a("ca.pem")
        ),
        String::new(),
        "   then ask rolegate's STS API who you are, and chain into the second role:".to_owned(),
        format!("   aws sts get-caller-identity --profile rolegate-dev --endpoint-url {endpoint} --ca-bundle {ca}"),
        format!("   aws sts assume-role --profile rolegate-dev --endpoint-url {endpoint} --ca-bundle {ca} \\"),
        format!("     --role-arn {CHAINED_ROLE_ARN} --role-session-name demo"),
        String::new(),
        format!(
            "3. Edit {} (trust policies, profiles, roles): the server reloads it",
            f("rolegate.toml")
        ),
        "   within seconds and logs the outcome (the commands above name the ARNs it was generated".to_owned(),
        "   with; after changing its region, account or ids, use the new ones). credential-process".to_owned(),
        "   reuses cached credentials while they last: add --no-cache to see a change at once.".to_owned(),
        "   See what it serves:".to_owned(),
        format!("   {exe} admin status --endpoint {endpoint} \\"),
        format!(
            "     --certificate {} --private-key {} --ca-bundle {ca}",
            f("admin.pem"),
            f("admin.key")
        ),
        String::new(),
    ];
    // Nobody reading stdout (`serve --dev | head -1`) is no reason for the server to stop.
    crate::cli::print_stdout(&format!("{}\n", lines.join("\n")));
}

/// Whether `dir` holds a dev setup (its configuration, written last) that [`prepare`] reuses.
pub fn holds_setup(dir: &Path) -> bool {
    dir.join(CONFIG_FILE).exists()
}

/// Appended to the error of a reused dev setup that does not load (a file of it deleted or
/// edited): how to start over. A fresh setup has a new CA and token key.
pub fn start_over_hint(dir: &Path) -> String {
    format!("(delete {} to create a fresh dev setup)", dir.display())
}

fn write_pair(dir: &Path, name: &str, issued: &Issued) -> std::io::Result<()> {
    write_new_public(&dir.join(format!("{name}.pem")), issued.cert_pem.as_bytes())?;
    write_new_private(&dir.join(format!("{name}.key")), issued.key_pem.as_bytes())
}

/// The dev configuration: a local listener and metrics endpoint, then [`workloads_toml`].
fn dev_config() -> String {
    let server = format!(
        r#"# rolegate development configuration, created by `rolegate serve --dev`.
# Every key is documented in the README's configuration reference.

[server]
listen = "127.0.0.1:8443"
tls_cert = "server.pem"
tls_key = "server.key"
metrics_listen = "127.0.0.1:9464"
region = "{REGION}"
account_id = "{ACCOUNT}"
max_clock_skew_seconds = 300
# The subject of admin.pem, which may call the Admin API (`rolegate admin status`).
admin_subjects = ["CN={DEV_ADMIN_CN},O={DEV_ORGANIZATION}"]
# ...when issued by the CA of this trust anchor (any other anchor's CA could issue that name).
admin_trust_anchors = ["dev"]
# Edits to this file (and the files it names) apply within seconds, without a restart.
config_watch_seconds = 2
"#
    );
    server
        + &workloads_toml(&Workloads {
            id: "dev",
            trust_anchor_arn: TRUST_ANCHOR_ARN,
            role_arn: ROLE_ARN,
            chained_role_arn: CHAINED_ROLE_ARN,
            max_session_duration: 43200,
            organization: DEV_ORGANIZATION,
            common_name_like: None,
            crl: None,
        })
}

/// The workload side of a generated configuration (`serve --dev`, `rolegate bench`).
pub struct Workloads<'a> {
    /// Id of the trust anchor and of the profile; its capitalised form names the statements.
    pub id: &'a str,
    /// The ARN of the trust anchor `id`, which the role's trust policy requires.
    pub trust_anchor_arn: &'a str,
    /// The role the profile grants.
    pub role_arn: &'a str,
    /// A role trusting `role_arn` (role chaining), allowed only `s3:Get*` and `s3:List*`.
    pub chained_role_arn: &'a str,
    /// `max_session_duration` of `role_arn`.
    pub max_session_duration: u32,
    /// The organization (`O`) the workload certificates' subject must have.
    pub organization: &'a str,
    /// A pattern the subject's common name (`CN`) must match too, if set.
    pub common_name_like: Option<&'a str>,
    /// The trust anchor's CRL file, if it has one.
    pub crl: Option<&'a str>,
}

/// The token key file `token-k1.key`, the trust anchor `ca.pem`, one profile accepting session
/// names, the role it grants — trusting Roles Anywhere sessions of that anchor whose certificate
/// subject matches — and a role to chain into. Appended to a `[server]` table.
pub fn workloads_toml(w: &Workloads<'_>) -> String {
    let Workloads {
        id,
        trust_anchor_arn,
        role_arn,
        chained_role_arn,
        max_session_duration,
        organization,
        common_name_like,
        crl,
    } = w;
    let crls = crl.map_or_else(String::new, |file| format!("crls = [\"{file}\"]\n"));
    let title = capitalised(id);
    let common_name = common_name_like.map_or_else(String::new, |cn| {
        format!(",\n      \"StringLike\": {{\"aws:PrincipalTag/x509Subject/CN\": \"{cn}\"}}")
    });
    format!(
        r#"
[tokens]
active = "k1"

[[tokens.keys]]
id = "k1"
file = "token-k1.key"

[[trust_anchor]]
id = "{id}"
certificates = "ca.pem"
{crls}enabled = true

[[profile]]
id = "{id}"
role_arns = ["{role_arn}"]
duration_seconds = 3600
accept_role_session_name = true
enabled = true

[[role]]
arn = "{role_arn}"
max_session_duration = {max_session_duration}
trust_policy = '''
{{
  "Version": "2012-10-17",
  "Statement": [{{
    "Sid": "{title}Workloads",
    "Effect": "Allow",
    "Principal": {{"Service": "rolesanywhere.amazonaws.com"}},
    "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
    "Condition": {{
      "ArnEquals": {{"aws:SourceArn": "{trust_anchor_arn}"}},
      "StringEquals": {{"aws:PrincipalTag/x509Subject/O": "{organization}"}}{common_name}
    }}
  }}]
}}
'''
permission_policies = ['''{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": "*", "Resource": "*"}}]}}''']

[[role]]
arn = "{chained_role_arn}"
max_session_duration = 3600
trust_policy = '''
{{
  "Version": "2012-10-17",
  "Statement": [{{
    "Sid": "ChainFrom{title}",
    "Effect": "Allow",
    "Principal": {{"AWS": "{role_arn}"}},
    "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]
  }}]
}}
'''
permission_policies = ['''{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "*"}}]}}''']
"#
    )
}

/// `id` with its first character in upper case (`dev` → `Dev`).
fn capitalised(id: &str) -> String {
    let mut chars = id.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// Paths the printed commands name are one shell word each, as `sh` and botocore's `shlex`
    /// split them.
    #[test]
    fn printed_paths_are_one_shell_word() {
        assert_eq!(shell_word(".rolegate-dev/ca.pem"), ".rolegate-dev/ca.pem");
        assert_eq!(shell_word("/tmp/my dev/ca.pem"), "'/tmp/my dev/ca.pem'");
        assert_eq!(shell_word("/tmp/it's/ca.pem"), "'/tmp/it'\\''s/ca.pem'");
        assert_eq!(shell_word("$HOME"), "'$HOME'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn the_dev_setup_is_a_valid_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let path = prepare(dir.path()).unwrap();
        let config = Config::load(&path).unwrap();
        assert!(config.anchor(TRUST_ANCHOR_ARN).is_some_and(|a| a.enabled));
        assert!(config.profile(PROFILE_ARN).is_some());
        assert_eq!(config.role(ROLE_ARN).unwrap().max_session_duration, 43200);
        assert_eq!(config.role(CHAINED_ROLE_ARN).unwrap().max_session_duration, 3600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"Sid\": \"DevWorkloads\""), "{text}");
        assert!(!text.contains("StringLike"), "{text}");
    }

    #[test]
    fn workloads_may_also_require_a_common_name() {
        let w = Workloads {
            id: "bench",
            trust_anchor_arn: "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/bench",
            role_arn: "arn:aws:iam::123456789012:role/b",
            chained_role_arn: "arn:aws:iam::123456789012:role/c",
            max_session_duration: 3600,
            organization: "o",
            common_name_like: Some("w-*"),
            crl: Some("ca.crl"),
        };
        let text = workloads_toml(&w);
        assert!(
            text.contains("certificates = \"ca.pem\"\ncrls = [\"ca.crl\"]\nenabled = true\n"),
            "{text}"
        );
        assert!(text.contains(
            "\"StringEquals\": {\"aws:PrincipalTag/x509Subject/O\": \"o\"},\n      \"StringLike\": {\"aws:PrincipalTag/x509Subject/CN\": \"w-*\"}\n    }"
        ), "{text}");
        assert!(text.contains("\"Sid\": \"ChainFromBench\""), "{text}");
        assert_eq!(capitalised(""), "");
    }

    #[cfg(unix)]
    #[test]
    fn the_state_folder_is_made_private_and_a_shared_one_refused() {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().unwrap();
        let fresh = parent.path().join("state");
        prepare(&fresh).unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // A folder anyone may write to (another user's `/tmp/.rolegate-dev`, say).
        let shared = parent.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        let error = prepare(&shared).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "the dev state folder {} is open to other users (mode 777): not using it (name another with --state-dir); `chmod 700` it",
                shared.display()
            )
        );
        assert!(!shared.join(CONFIG_FILE).exists());
        // A file where the folder should be is named as such, not as "File exists".
        let file = parent.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert_eq!(
            prepare(&file).unwrap_err().to_string(),
            format!(
                "the dev state folder {} is not a folder: not using it (name another with --state-dir)",
                file.display()
            )
        );
        // A folder that cannot be made (here under a file; a working folder not writable, a
        // read-only file system) is named with the making's error.
        let under_file = file.join("state");
        assert_eq!(
            prepare(&under_file).unwrap_err().to_string(),
            format!(
                "cannot create the dev state folder {}: Not a directory (os error 20); name a writable one with --state-dir",
                under_file.display()
            )
        );
    }

    #[test]
    fn a_folder_with_other_files_is_used_and_a_half_made_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        // A volume's lost+found, a .gitkeep: not the dev setup's files.
        std::fs::create_dir(dir.path().join("lost+found")).unwrap();
        std::fs::write(dir.path().join(".gitkeep"), "").unwrap();
        let config = prepare(dir.path()).unwrap();
        assert!(crate::config::Config::load(&config).is_ok());
        assert!(!dir.path().join(".rolegate.toml.partial").exists());

        let half = tempfile::tempdir().unwrap();
        std::fs::write(half.path().join("ca.pem"), "").unwrap();
        std::fs::write(half.path().join("ca.key"), "").unwrap();
        let error = prepare(half.path()).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "{} holds ca.pem, ca.key but no rolegate.toml (a first run that was interrupted?): delete those files to start over, or name another folder with --state-dir",
                half.path().display()
            )
        );
    }
}
