//! `rolegate update --profile NAME [--once]`: writes fresh credentials into a profile of the
//! shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`),
//! atomically and with mode 0600, keeping every other profile, key and comment; then, unless
//! `--once`, keeps refreshing it ahead of expiry (per [`super::refresh`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use super::cache::write_atomic_private;
use super::credential_process::SessionArgs;
use super::credentials::WorkloadIdentity;
use super::refresh::{self, RefreshPolicy, SharedState};
use crate::client::SessionCredentials;

/// `rolegate update` flags.
#[derive(clap::Args, Clone, Debug)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub session: SessionArgs,
    /// Profile (section) of the credentials file to write.
    #[arg(long = "profile")]
    pub profile_name: String,
    /// Write once and exit instead of refreshing ahead of expiry forever.
    #[arg(long)]
    pub once: bool,
}

/// The keys this command owns in its profile.
const KEYS: [&str; 3] = ["aws_access_key_id", "aws_secret_access_key", "aws_session_token"];

/// Runs the command.
pub async fn run(args: UpdateArgs) -> Result<(), String> {
    let file = credentials_file()?;
    let source = args.session.identity_source();
    let client = args.session.client()?;
    // Unreadable certificate or key files are an error now, not a retry loop: the loop below
    // reads them again each time (rotation), and retries only what may recover by itself.
    let identity = WorkloadIdentity::load(&source)?;
    if args.once {
        let creds = args.session.fetch_with(&client, &identity).await?;
        return write_profile(&file, &args.profile_name, &creds);
    }
    drop(identity);
    drop(client);
    let state: SharedState = Arc::default();
    let session = Arc::new(args.session.clone());
    let profile = args.profile_name.clone();
    let target = file.clone();
    let fetch = move || {
        let (session, source, profile, target) = (session.clone(), source.clone(), profile.clone(), target.clone());
        // Identity and CA bundle are read afresh for each fetch: both rotate in place.
        async move {
            let identity = WorkloadIdentity::load(&source)?;
            let creds = session.fetch_with(&session.client()?, &identity).await?;
            write_profile(&target, &profile, &creds)?;
            eprintln!(
                "rolegate: wrote profile [{profile}] to {} (expires {})",
                target.display(),
                creds.expiration
            );
            Ok(creds)
        }
    };
    refresh::run(
        state,
        RefreshPolicy::default(),
        StdDuration::from_secs(30),
        || false,
        fetch,
    )
    .await;
    Ok(())
}

/// `AWS_SHARED_CREDENTIALS_FILE` (with `$VAR` and `~` expanded, as botocore does), else
/// `$HOME/.aws/credentials`.
pub fn credentials_file() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE").filter(|v| !v.is_empty()) {
        return Ok(match p.to_str() {
            Some(raw) => PathBuf::from(expand_path(raw, |name| std::env::var(name).ok())),
            None => PathBuf::from(p),
        });
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".aws").join("credentials"))
        .ok_or_else(|| "cannot find ~/.aws/credentials: HOME is not set (set AWS_SHARED_CREDENTIALS_FILE)".into())
}

/// Writes `creds` into `[profile]` of `file` (created with its directory if missing).
pub fn write_profile(file: &Path, profile: &str, creds: &SessionCredentials) -> Result<(), String> {
    let existing = match std::fs::read_to_string(file) {
        Ok(s) => zeroize::Zeroizing::new(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            zeroize::Zeroizing::new(String::new())
        }
        Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
    };
    let values = [
        creds.access_key_id.as_str(),
        creds.secret_access_key.as_str(),
        creds.session_token.as_str(),
    ];
    let updated = zeroize::Zeroizing::new(upsert_profile(&existing, profile, &values));
    write_atomic_private(file, updated.as_bytes())
}

/// The INI text with `[profile]`'s three credential keys set to `values` (replacing their old
/// lines in place, adding missing ones after the section's last key, or appending the section);
/// every other line is kept byte for byte.
pub fn upsert_profile(existing: &str, profile: &str, values: &[&str; 3]) -> String {
    let lines: Vec<&str> = existing.lines().collect();
    let start = lines.iter().position(|l| section_name(l) == Some(profile));
    let mut out = Vec::with_capacity(lines.len() + 4);
    let Some(start) = start else {
        out.extend(lines.iter().map(|l| (*l).to_owned()));
        if out.last().is_some_and(|l| !l.trim().is_empty()) {
            out.push(String::new());
        }
        out.push(format!("[{profile}]"));
        out.extend(KEYS.iter().zip(values).map(|(k, v)| format!("{k} = {v}")));
        return out.join("\n") + "\n";
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| section_name(l).is_some())
        .map_or(lines.len(), |i| start + 1 + i);
    out.extend(lines[..=start].iter().map(|l| (*l).to_owned()));
    let mut written = [false; 3];
    let mut last_key_at = out.len();
    for l in &lines[start + 1..end] {
        match key_of(l).and_then(|k| KEYS.iter().position(|want| *want == k)) {
            Some(i) if !written[i] => {
                out.push(format!("{} = {}", KEYS[i], values[i]));
                written[i] = true;
                last_key_at = out.len();
            }
            Some(_) => {} // a duplicate of a key we own: drop it
            None => {
                out.push((*l).to_owned());
                if key_of(l).is_some() {
                    last_key_at = out.len();
                }
            }
        }
    }
    let missing: Vec<String> = (0..3)
        .filter(|i| !written[*i])
        .map(|i| format!("{} = {}", KEYS[i], values[i]))
        .collect();
    let tail = out.split_off(last_key_at);
    out.extend(missing);
    out.extend(tail);
    out.extend(lines[end..].iter().map(|l| (*l).to_owned()));
    out.join("\n") + "\n"
}

/// The section a line opens, read as Python's `configparser` (what botocore parses the file
/// with) reads it: after `[`, everything up to the line's last `]`, spaces kept (`[ p ]` is
/// section `" p "`), whatever follows ignored (`[p] # note` is section `p`).
fn section_name(line: &str) -> Option<&str> {
    let inner = line.trim().strip_prefix('[')?;
    let end = inner.rfind(']')?;
    (end > 0).then(|| &inner[..end])
}

/// The key a line sets, read as `configparser` reads it: the text before the first `=` or `:`,
/// trimmed and lowercased; comment lines (`#`, `;`) set none.
fn key_of(line: &str) -> Option<String> {
    let line = line.trim();
    if line.starts_with(['#', ';']) {
        return None;
    }
    let at = line.find(['=', ':'])?;
    Some(line[..at].trim_end().to_ascii_lowercase())
}

/// `AWS_SHARED_CREDENTIALS_FILE` as botocore expands it (`os.path.expandvars`, then
/// `os.path.expanduser`): `$NAME` and `${NAME}` of set variables replaced, others left as
/// written; then a leading `~` or `~/` is the home folder.
fn expand_path(raw: &str, var: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, consumed) = match after.strip_prefix('{') {
            Some(braced) => match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            },
            None => {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], end)
            }
        };
        match (!name.is_empty()).then(|| var(name)).flatten() {
            Some(value) => out.push_str(&value),
            None => out.push_str(&rest[at..at + 1 + consumed]),
        }
        rest = &after[consumed..];
    }
    out.push_str(rest);
    match out.strip_prefix('~') {
        Some(tail) if tail.is_empty() || tail.starts_with('/') => match var("HOME") {
            Some(home) => format!("{home}{tail}"),
            None => out,
        },
        _ => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: [&str; 3] = ["AKID", "SECRET", "TOKEN"];

    #[test]
    fn upserts_keep_everything_else() {
        let cases = [
            (
                "",
                "[p]\naws_access_key_id = AKID\naws_secret_access_key = SECRET\naws_session_token = TOKEN\n",
            ),
            (
                "# mine\n[default]\naws_access_key_id = X\n",
                "# mine\n[default]\naws_access_key_id = X\n\n[p]\naws_access_key_id = AKID\naws_secret_access_key = SECRET\naws_session_token = TOKEN\n",
            ),
            (
                "[p]\n# keep\nregion = eu-west-1\naws_access_key_id = OLD\nAWS_SESSION_TOKEN=OLD\naws_access_key_id = DUP\n\n[q]\naws_access_key_id = Q\n",
                "[p]\n# keep\nregion = eu-west-1\naws_access_key_id = AKID\naws_session_token = TOKEN\naws_secret_access_key = SECRET\n\n[q]\naws_access_key_id = Q\n",
            ),
            // configparser's reading: `[ p ]` is another section, `[p] # note` is `p`, and
            // `key: value` sets `key`.
            (
                "[ p ]\nregion = x\n",
                "[ p ]\nregion = x\n\n[p]\naws_access_key_id = AKID\naws_secret_access_key = SECRET\naws_session_token = TOKEN\n",
            ),
            (
                "[p] # managed by rolegate\naws_access_key_id: OLD\n; aws_session_token = comment\n",
                "[p] # managed by rolegate\naws_access_key_id = AKID\naws_secret_access_key = SECRET\naws_session_token = TOKEN\n; aws_session_token = comment\n",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(upsert_profile(input, "p", &V), want, "input {input:?}");
        }
    }

    #[test]
    fn the_file_variable_is_expanded_as_botocore_expands_it() {
        let var = |name: &str| match name {
            "HOME" => Some("/home/w".to_owned()),
            "DIR" => Some("/srv/aws".to_owned()),
            _ => None,
        };
        for (raw, want) in [
            ("~/.aws/alt", "/home/w/.aws/alt"),
            ("~", "/home/w"),
            ("~other/x", "~other/x"),
            ("$DIR/creds", "/srv/aws/creds"),
            ("${DIR}/creds", "/srv/aws/creds"),
            ("$HOME/x/$UNSET/y", "/home/w/x/$UNSET/y"),
            ("${UNCLOSED", "${UNCLOSED"),
            ("/plain/path", "/plain/path"),
            ("a$", "a$"),
        ] {
            assert_eq!(expand_path(raw, var), want, "{raw}");
        }
    }

    #[test]
    fn writes_atomically_with_0600() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("aws").join("credentials");
        let c = SessionCredentials {
            access_key_id: "AKID".into(),
            secret_access_key: zeroize::Zeroizing::new("SECRET".into()),
            session_token: zeroize::Zeroizing::new("TOKEN".into()),
            expiration: "2026-01-01T00:00:00Z".into(),
        };
        write_profile(&file, "p", &c).unwrap();
        write_profile(&file, "q", &c).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text.matches("aws_session_token = TOKEN").count(), 2, "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(
            std::fs::read_dir(file.parent().unwrap()).unwrap().count(),
            1,
            "no temp files left"
        );
    }
}
