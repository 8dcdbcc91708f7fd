//! `rolegate update --profile NAME [--once]`: writes fresh credentials, with the role's account
//! (`aws_account_id`), into a profile of the shared credentials file
//! (`AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`, `~` being `HOME` or, where it is
//! not set, the user database's home folder, as for botocore), atomically and with mode 0600,
//! keeping every other profile, key and comment; then, unless `--once`, keeps refreshing it
//! ahead of expiry (per [`super::refresh`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use super::credential_process::{SessionArgs, role_account};
use super::credentials::WorkloadIdentity;
use super::home::Home;
use super::refresh::{self, RefreshPolicy, SharedState};
use crate::arn::AccountId;
use crate::client::SessionCredentials;

/// `rolegate update` flags.
// The usage names --certificate as required, which it is: clap would show it as optional,
// since the aws_signing_helper flags that stand for it (refused with their reason) lift it.
#[derive(clap::Args, Clone, Debug)]
#[command(
    override_usage = "rolegate update [OPTIONS] --certificate <CERTIFICATE> --trust-anchor-arn <TRUST_ANCHOR_ARN> --profile-arn <PROFILE_ARN> --role-arn <ROLE_ARN>"
)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub session: SessionArgs,
    /// Profile (section) of the credentials file to write (`default`, as aws_signing_helper).
    #[arg(long = "profile", value_parser = profile_name, default_value = "default")]
    pub profile_name: String,
    /// Write once and exit instead of refreshing ahead of expiry forever.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", value_parser = crate::helper::go_bool, action = clap::ArgAction::Set, default_value_t = false, hide_default_value = true)]
    pub once: bool,
    /// Accepted for `aws_signing_helper update --retry-errors`: without --once, rolegate always
    /// retries a failed refresh, with backoff, while it keeps the profile's last credentials.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", value_parser = crate::helper::go_bool, action = clap::ArgAction::Set, default_value_t = false, hide_default_value = true)]
    pub retry_errors: bool,
    /// How often to ask the server whether it still accepts the credentials written (an STS
    /// GetCallerIdentity at --endpoint), in seconds: refused ones (a role's sessions revoked,
    /// a token key retired) are replaced at once. Each check comes up to a fifth early, so a
    /// fleet does not ask in step. 0: never; never without --endpoint.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub check_session_seconds: u32,
}

/// A profile name that can head a section `configparser` reads back as that name: not empty,
/// no brackets, no line breaks or other control characters, no spaces around it; and not
/// [`DEFAULT_SECTION`].
fn profile_name(name: &str) -> Result<String, String> {
    let valid =
        !name.is_empty() && name.trim() == name && !name.chars().any(|c| c == '[' || c == ']' || c.is_control());
    match valid {
        _ if name == DEFAULT_SECTION => Err(format!(
            "a profile cannot be named {DEFAULT_SECTION}: configparser reads [{DEFAULT_SECTION}] as the defaults of \
             every other section, so botocore would give its credentials to every profile without keys of its \
             own and finds no profile {DEFAULT_SECTION}; choose another name (the default profile is `default`)"
        )),
        true => Ok(name.to_owned()),
        false => {
            Err("a profile name must not be empty, nor hold brackets, line breaks or surrounding spaces".to_owned())
        }
    }
}

/// The section Python's `configparser` reads as the defaults of every other section rather
/// than as a section of its own: `default_section`, `"DEFAULT"` (`configparser.DEFAULTSECT`),
/// compared case-sensitively (`sectname == self.default_section` in `RawConfigParser._read`;
/// <https://docs.python.org/3/library/configparser.html#customizing-parser-behaviour>). botocore reads the
/// credentials file with a `RawConfigParser` and lists `sections()`, which leaves it out, with
/// every option of it in each section's `items()`: `[default]` and `[Default]` are profiles.
const DEFAULT_SECTION: &str = "DEFAULT";

/// The keys this command owns in its profile: the credentials, and the account of the role
/// they are of (`aws_account_id`, which botocore's shared-credentials provider reads beside
/// them since 1.35, for account-based endpoints; so do the other SDKs).
const KEYS: [&str; 4] = [
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_account_id",
];

/// Every key this command rewrites where the profile has it, with the index of the value it
/// takes: [`KEYS`] (added when missing), then the session token's legacy name, which botocore
/// reads *before* `aws_session_token` (its shared-credentials provider tries
/// `aws_security_token` first). Some tools still write both: where a profile holds it, it is
/// set to the new token too — never added — so an SDK does not pair the new key with an old
/// token.
const OWNED_KEYS: [(&str, usize); 5] = [
    (KEYS[0], 0),
    (KEYS[1], 1),
    (KEYS[2], 2),
    (KEYS[3], 3),
    ("aws_security_token", 2),
];

/// Runs the command.
pub async fn run(args: UpdateArgs) -> Result<(), String> {
    let file = credentials_file()?;
    let source = args.session.identity_source()?;
    let client = args.session.client()?;
    let account = profile_account(&args.session.role_arn)?;
    // Unreadable certificate or key files are an error now, not a retry loop: the loop below
    // reads them again each time (rotation), and retries only what may recover by itself.
    let identity = WorkloadIdentity::load(&source)?;
    if args.once {
        let creds = args.session.fetch_with(&client, &identity).await?;
        write_profile(&file, &args.profile_name, &creds, &account)?;
        report_written(&args.profile_name, &file, &creds);
        return Ok(());
    }
    drop(identity);
    drop(client);
    // From here it runs for good, holding the workload's key and credentials.
    crate::process::forbid_core_dumps();
    if let Some(warning) = args.session.pin_in_command_line() {
        tracing::warn!("{warning}");
    }
    let state: SharedState = Arc::default();
    let session = Arc::new(args.session.clone());
    let checks = session.session_checks(args.check_session_seconds);
    let profile = args.profile_name.clone();
    let target = file.clone();
    let fetch = move || {
        let (session, source, profile, target, account) = (
            session.clone(),
            source.clone(),
            profile.clone(),
            target.clone(),
            account.clone(),
        );
        // Identity and CA bundle are read afresh for each fetch: both rotate in place.
        async move {
            let identity = WorkloadIdentity::load(&source)?;
            let creds = session.fetch_with(&session.client()?, &identity).await?;
            write_profile(&target, &profile, &creds, &account)?;
            report_written(&profile, &target, &creds);
            Ok(creds)
        }
    };
    let mut stop = crate::server::ShutdownSignals::install().map_err(|e| format!("cannot handle signals: {e}"))?;
    // A profile is written whole between two awaits, so stopping at any await leaves the
    // file as it was or as written.
    tokio::select! {
        () = refresh::run(state, RefreshPolicy::default(), StdDuration::from_secs(30), || false, fetch, checks) => {}
        () = stop.next() => tracing::info!("stopping on a signal"),
    }
    Ok(())
}

/// The account `update` writes as `aws_account_id`: `--role-arn`'s ([`role_account`]). A role
/// ARN without one is refused at start, as the sidecar refuses it: no server issues credentials
/// for such a role, and a profile's account is not left to an earlier run's.
fn profile_account(role_arn: &str) -> Result<AccountId, String> {
    role_account(role_arn).ok_or_else(|| {
        format!(
            "--role-arn '{role_arn}' has no account id (12 digits): expected arn:partition:iam::account-id:role/name"
        )
    })
}

/// Says on stderr which profile of which file now holds credentials until when.
fn report_written(profile: &str, file: &Path, creds: &SessionCredentials) {
    crate::cli::print_stderr(&format!(
        "rolegate: wrote profile [{profile}] to {} (expires {})\n",
        file.display(),
        creds.expiration
    ));
}

/// `AWS_SHARED_CREDENTIALS_FILE` (with `$VAR` and `~` expanded, as botocore does), else
/// `.aws/credentials` under the home folder botocore reads it in: `HOME`, or this user's in the
/// user database where `HOME` is not set ([`Home`]).
pub fn credentials_file() -> Result<PathBuf, String> {
    let home = Home::of_this_user();
    if let Some(p) = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE").filter(|v| !v.is_empty()) {
        let tilde = || home.folder().and_then(Path::to_str).map(str::to_owned);
        return Ok(match p.to_str() {
            Some(raw) => PathBuf::from(expand_path(raw, |name| std::env::var(name).ok(), tilde)),
            None => PathBuf::from(p),
        });
    }
    credentials_file_in(&home)
}

/// `~/.aws/credentials` for this home folder, which must be an absolute path: an empty or
/// relative one would put the credentials in whatever folder `update` runs in (which another
/// user may own, and where no SDK looks).
fn credentials_file_in(home: &Home) -> Result<PathBuf, String> {
    match home.absolute() {
        Ok(home) => Ok(home.join(".aws").join("credentials")),
        Err(why) if home.folder().is_none() => Err(format!(
            "cannot find ~/.aws/credentials: {why} (set AWS_SHARED_CREDENTIALS_FILE)"
        )),
        Err(why) => Err(format!(
            "{why}: not writing credentials under it (that is the folder this runs in); set HOME, or \
             AWS_SHARED_CREDENTIALS_FILE to the file"
        )),
    }
}

/// Writes `creds`, of a role of `account`, into `[profile]` of `file` (created with its
/// directory if missing).
pub fn write_profile(
    file: &Path,
    profile: &str,
    creds: &SessionCredentials,
    account: &AccountId,
) -> Result<(), String> {
    let target = write_target(file)?;
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // A folder made here (~/.aws) is the user's alone, as the AWS CLI makes it.
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // Two `update`s of one file (one per profile, started together at boot) would each read
    // the file before the other wrote it, and the later write would drop the other's profile.
    // Written without the lock when it cannot be had: the credentials must be written.
    let _lock = crate::fsutil::lock_beside(&target)
        .inspect_err(|why| tracing::warn!(%why, "writing the credentials file without its lock"))
        .ok();
    let existing = match std::fs::read_to_string(&target) {
        Ok(s) => zeroize::Zeroizing::new(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => zeroize::Zeroizing::new(String::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
    };
    let values = [
        creds.access_key_id.as_str(),
        creds.secret_access_key.as_str(),
        creds.session_token.as_str(),
        account.as_str(),
    ];
    // The client refuses such answers; here too, since a line break written into the file
    // would add lines of the answer's choosing.
    if !values.iter().all(|v| crate::client::is_visible_ascii(v)) {
        return Err(format!(
            "not written to {}: a credential holds a space or a control character",
            file.display()
        ));
    }
    let updated = zeroize::Zeroizing::new(upsert_profile(&existing, profile, &values));
    write_credentials_file(&target, updated.as_bytes())
}

/// Replaces `target` by `data` atomically (a new 0600 file renamed over it), owned by the
/// existing file's owner when that is another user (root updating a user's file leaves it
/// the user's, as `aws_signing_helper update`, which rewrites the file, does). A file mounted
/// on its own — a container's single-file bind mount, a Kubernetes `subPath` — cannot be
/// renamed over (`EBUSY`, `EXDEV`), nor can a file in a folder no file can be created in (a
/// read-only root file system: `EROFS`, `EACCES`, `EPERM`), nor can another user's file be
/// given away by anyone but root (`EPERM`): an existing file is then rewritten in place (which
/// refuses another user's file).
fn write_credentials_file(target: &Path, data: &[u8]) -> Result<(), String> {
    let cannot = |e: std::io::Error| format!("cannot write {}: {e}", target.display());
    let previous = Previous::of(target);
    let written = match crate::fsutil::replace_file(target, data, 0o600, previous.foreign_owner) {
        // An owner this user namespace does not map (root of a rootless container, a file of
        // a user the namespace leaves out): it cannot be given, so the file becomes this
        // user's, as it did before owners were kept.
        Err(e) if previous.foreign_owner.is_some() && e.raw_os_error() == Some(libc::EINVAL) => {
            crate::fsutil::replace_file(target, data, 0o600, None)
        }
        other => other,
    };
    let written = match written {
        Ok(()) => Ok(()),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EBUSY | libc::EXDEV | libc::EROFS | libc::EACCES | libc::EPERM)
            ) && target.is_file() =>
        {
            write_in_place(target, data)
        }
        Err(e) => Err(cannot(e)),
    };
    if let (Ok(()), Some(mode)) = (&written, previous.loose_mode) {
        tracing::warn!(
            file = %target.display(),
            mode = format_args!("{mode:04o}"),
            "the credentials file was readable by others than its owner; it is written private (mode 0600)"
        );
    }
    written
}

/// What of the credentials file at `target` its rewrite keeps or changes.
#[derive(Default)]
struct Previous {
    /// Its user and group, when it is another user's: the new file is given to them.
    foreign_owner: Option<(u32, u32)>,
    /// Its permission bits, when others than its owner could read it: the new file is private.
    loose_mode: Option<u32>,
}

impl Previous {
    fn of(target: &Path) -> Previous {
        #[cfg(unix)]
        {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            let Some(meta) = std::fs::symlink_metadata(target)
                .ok()
                .filter(std::fs::Metadata::is_file)
            else {
                return Previous::default();
            };
            let mode = meta.permissions().mode() & 0o777;
            Previous {
                foreign_owner: crate::fsutil::foreign_owner(&meta).map(|_| (meta.uid(), meta.gid())),
                loose_mode: (mode & 0o077 != 0).then_some(mode),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = target;
            Previous::default()
        }
    }
}

/// Rewrites the existing file `target` with `data`, once it is this user's and private (made
/// 0600 if it was not): a file of another user's, or one others could still read, gets no
/// credentials.
fn write_in_place(target: &Path, data: &[u8]) -> Result<(), String> {
    let cannot = |e: std::io::Error| format!("cannot write {}: {e}", target.display());
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    // `write_target` resolved the user's own link; a link here now was put in after that.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    let mut file = options.open(target).map_err(cannot)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = file.metadata().map_err(cannot)?;
        if let Some((owner, me)) = crate::fsutil::foreign_owner(&meta) {
            return Err(format!(
                "{} belongs to user id {owner}, not to this user ({me}), and cannot be replaced: not writing credentials into it",
                target.display()
            ));
        }
        if meta.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(|e| format!("cannot make {} private (mode 0600): {e}", target.display()))?;
        }
    }
    file.set_len(0).map_err(cannot)?;
    std::io::Write::write_all(&mut file, data).map_err(cannot)?;
    file.sync_all().map_err(cannot)
}

/// The file [`write_profile`] replaces for `file`: `file` itself, or — when it is a symbolic
/// link of this user's (a credentials file kept with one's dotfiles) — the file it points to,
/// as the AWS CLI writes through it (a link to a file not there yet included). A link another
/// user made is refused: whoever made it chooses where the credentials would go.
fn write_target(file: &Path) -> Result<PathBuf, String> {
    let Ok(meta) = std::fs::symlink_metadata(file) else {
        return Ok(file.to_owned());
    };
    if !meta.file_type().is_symlink() {
        return Ok(file.to_owned());
    }
    #[cfg(unix)]
    if let Some((owner, me)) = crate::fsutil::foreign_owner(&meta) {
        return Err(format!(
            "{} is a symbolic link of user id {owner}, not of this user ({me}): not writing credentials through it",
            file.display()
        ));
    }
    match std::fs::canonicalize(file) {
        Ok(target) => Ok(target),
        Err(_) => {
            let points_to =
                std::fs::read_link(file).map_err(|e| format!("cannot read the link {}: {e}", file.display()))?;
            Ok(file.parent().unwrap_or(Path::new(".")).join(points_to))
        }
    }
}

/// The INI text with `[profile]`'s keys ([`KEYS`]) set to `values` (replacing their old
/// lines in place, adding missing ones after the section's last key, or appending the section);
/// every other line is kept as it was, in the file's line ending (`\r\n` when its first line
/// ends so). A value's continuation lines (indented lines after a key, as `configparser` reads
/// them) go with their key: dropped with an old credential, kept with any other key.
pub fn upsert_profile(existing: &str, profile: &str, values: &[&str; KEYS.len()]) -> String {
    let newline = line_ending(existing);
    let lines = lines_of(existing, newline);
    let continues = continuation_lines(&lines);
    // configparser asks whether a line continues a value before whether it opens a section.
    let header = |i: usize| (!continues[i]).then(|| section_name(lines[i])).flatten();
    let start = (0..lines.len()).find(|i| header(*i) == Some(profile));
    let mut out = Vec::with_capacity(lines.len() + 4);
    let Some(start) = start else {
        out.extend(lines.iter().map(|l| (*l).to_owned()));
        if out.last().is_some_and(|l| !l.trim().is_empty()) {
            out.push(String::new());
        }
        out.push(format!("[{profile}]"));
        out.extend(KEYS.iter().zip(values).map(|(k, v)| format!("{k} = {v}")));
        return out.join(newline) + newline;
    };
    let end = (start + 1..lines.len())
        .find(|i| header(*i).is_some())
        .unwrap_or(lines.len());
    out.extend(lines[..=start].iter().map(|l| (*l).to_owned()));
    // Per key of OWNED_KEYS.
    let mut written = [false; OWNED_KEYS.len()];
    let mut last_key_at = out.len();
    // Whether the current value is one of ours (its continuation lines are dropped with it).
    let mut dropping_value = false;
    for (l, continues) in lines[start + 1..end].iter().zip(&continues[start + 1..end]) {
        if *continues {
            if !dropping_value {
                out.push((*l).to_owned());
                last_key_at = out.len();
            }
            continue;
        }
        let text = l.trim_start();
        if text.is_empty() || text.starts_with(['#', ';']) {
            // Skipped by configparser, even inside a value: kept, and the value goes on.
            out.push((*l).to_owned());
            continue;
        }
        dropping_value = false;
        let key = key_of(l);
        match key
            .as_deref()
            .and_then(|k| OWNED_KEYS.iter().position(|(owned, _)| *owned == k))
        {
            Some(slot) => {
                if !written[slot] {
                    // Indented as the line it replaces: a shallower line would make the lines
                    // indented below it continue its value.
                    let (name, value) = OWNED_KEYS[slot];
                    let indent = &l[..l.len() - text.len()];
                    out.push(format!("{indent}{name} = {}", values[value]));
                    written[slot] = true;
                    last_key_at = out.len();
                }
                // A duplicate of a key we own is dropped, as is every old value's continuation.
                dropping_value = true;
            }
            None => {
                out.push((*l).to_owned());
                if key.is_some() {
                    last_key_at = out.len();
                }
            }
        }
    }
    let missing: Vec<String> = (0..KEYS.len())
        .filter(|i| !written[*i])
        .map(|i| format!("{} = {}", KEYS[i], values[i]))
        .collect();
    let tail = out.split_off(last_key_at);
    out.extend(missing);
    out.extend(tail);
    out.extend(lines[end..].iter().map(|l| (*l).to_owned()));
    out.join(newline) + newline
}

/// For each of the file's `lines`, whether it continues the value of the key above it, as
/// `configparser` reads it (`RawConfigParser._read`): a line indented deeper than the last key
/// line is part of that key's value — asked first, so an indented `[name]` there is value
/// text, not a section header; a section header ends the value (a section's first line
/// continues nothing); blank and comment lines between change nothing
/// (`empty_lines_in_values`).
fn continuation_lines(lines: &[&str]) -> Vec<bool> {
    let mut continues = vec![false; lines.len()];
    let mut key_indent: Option<usize> = None;
    for (i, line) in lines.iter().enumerate() {
        let text = line.trim_start();
        if text.is_empty() || text.starts_with(['#', ';']) {
            continue;
        }
        let indent = line.len() - text.len();
        if key_indent.is_some_and(|k| indent > k) {
            continues[i] = true;
        } else if section_name(line).is_some() {
            key_indent = None;
        } else {
            key_indent = key_of(line).map(|_| indent);
        }
    }
    continues
}

/// The line ending of `text`: that of its first line (`\r\n`, `\n` or a lone `\r`), `\n`
/// when it has one line or none.
fn line_ending(text: &str) -> &'static str {
    match text.find(['\r', '\n']).map(|at| &text[at..]) {
        Some(rest) if rest.starts_with("\r\n") => "\r\n",
        Some(rest) if rest.starts_with('\r') => "\r",
        _ => "\n",
    }
}

/// The lines of `text` ending in `newline` (a lone `\r` included, which `str::lines` leaves
/// in the line), without the ending.
fn lines_of<'a>(text: &'a str, newline: &str) -> Vec<&'a str> {
    match newline {
        "\r" => text
            .strip_suffix('\r')
            .unwrap_or(text)
            .split('\r')
            .filter(|_| !text.is_empty())
            .collect(),
        _ => text.lines().collect(),
    }
}

/// The section a line opens, read as Python's `configparser` (what botocore parses the file
/// with) reads it: after `[`, everything up to the line's last `]`, spaces kept (`[ p ]` is
/// section `" p "`), whatever follows ignored (`[p] # note` is section `p`). Only a line that
/// does not continue a value ([`continuation_lines`]) opens one.
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
/// `os.path.expanduser`): `$NAME` and `${NAME}` of set variables (`var`) replaced, others left
/// as written; then a leading `~` or `~/` is the home folder (`home`: `HOME`, or the user
/// database's where it is not set, as `expanduser` reads it — `$HOME` is `HOME` alone).
fn expand_path(raw: &str, var: impl Fn(&str) -> Option<String>, home: impl FnOnce() -> Option<String>) -> String {
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
    super::home::expand_leading_tilde(&out, home).unwrap_or(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: [&str; 4] = ["AKID", "SECRET", "TOKEN", "ACCOUNT"];

    #[test]
    fn upserts_keep_everything_else() {
        let cases = [
            (
                "",
                "[p]\naws_access_key_id = AKID\naws_secret_access_key = SECRET\naws_session_token = TOKEN\naws_account_id = ACCOUNT\n",
            ),
            (
                "# mine\n[default]\naws_access_key_id = X\n",
                "# mine\n[default]\naws_access_key_id = X\n\n[p]\naws_access_key_id = AKID\naws_secret_access_key = SECRET\naws_session_token = TOKEN\naws_account_id = ACCOUNT\n",
            ),
            (
                "[p]\n# keep\nregion = eu-west-1\naws_access_key_id = OLD\nAWS_SESSION_TOKEN=OLD\naws_access_key_id = DUP\n\n[q]\naws_access_key_id = Q\n",
                "[p]\n# keep\nregion = eu-west-1\naws_access_key_id = AKID\naws_session_token = TOKEN\naws_secret_access_key = SECRET\naws_account_id = ACCOUNT\n\n[q]\naws_access_key_id = Q\n",
            ),
            // configparser's reading: `[ p ]` is another section, `[p] # note` is `p`, and
            // `key: value` sets `key`.
            (
                "[ p ]\nregion = x\n",
                "[ p ]\nregion = x\n\n[p]\naws_access_key_id = AKID\naws_secret_access_key = SECRET\naws_session_token = TOKEN\naws_account_id = ACCOUNT\n",
            ),
            (
                "[p] # managed by rolegate\naws_access_key_id: OLD\n; aws_session_token = comment\n",
                "[p] # managed by rolegate\naws_access_key_id = AKID\naws_secret_access_key = SECRET\naws_session_token = TOKEN\naws_account_id = ACCOUNT\n; aws_session_token = comment\n",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(upsert_profile(input, "p", &V), want, "input {input:?}");
        }
    }

    /// The profile carries the role's account as `aws_account_id`, which botocore reads beside
    /// the credentials: written with them, an old one (another role's) replaced in place.
    #[test]
    fn the_profile_carries_the_roles_account() {
        assert_eq!(
            upsert_profile("[p]\naws_account_id = 999999999999\nregion = x\n", "p", &V),
            "[p]\naws_account_id = ACCOUNT\nregion = x\naws_access_key_id = AKID\naws_secret_access_key = SECRET\naws_session_token = TOKEN\n"
        );
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("credentials");
        let account = profile_account("arn:aws:iam::123456789012:role/path/app").unwrap();
        write_profile(&file, "p", &credentials(), &account).unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "[p]\naws_access_key_id = AKID\naws_secret_access_key = SECRET\naws_session_token = TOKEN\naws_account_id = 123456789012\n"
        );
        assert_eq!(
            profile_account("arn:aws:iam::12345:role/app").unwrap_err(),
            "--role-arn 'arn:aws:iam::12345:role/app' has no account id (12 digits): expected \
             arn:partition:iam::account-id:role/name"
        );
    }

    #[test]
    fn a_legacy_security_token_is_replaced_never_added() {
        // botocore reads aws_security_token before aws_session_token: left old, it would be
        // paired with the new key.
        assert_eq!(
            upsert_profile(
                "[p]\naws_access_key_id = OLD\naws_secret_access_key = OLD\naws_session_token = OLD\naws_security_token = OLD\n  more\nregion = x\nAWS_SECURITY_TOKEN = DUP\n",
                "p",
                &V
            ),
            "[p]\naws_access_key_id = AKID\naws_secret_access_key = SECRET\naws_session_token = TOKEN\naws_security_token = TOKEN\nregion = x\naws_account_id = ACCOUNT\n"
        );
        assert_eq!(
            upsert_profile("[p]\naws_security_token = OLD\n", "p", &V),
            "[p]\naws_security_token = TOKEN\naws_access_key_id = AKID\naws_secret_access_key = SECRET\naws_session_token = TOKEN\naws_account_id = ACCOUNT\n"
        );
    }

    #[test]
    fn continuation_lines_go_with_their_key() {
        let cases = [
            // An old token's continuation goes with it, past blank and comment lines (which
            // configparser skips, so they stay).
            (
                "[p]\nregion = eu-west-1\naws_session_token = OLD\n    continued\n\n# note\n  more\naws_access_key_id = OLD\n",
                "[p]\nregion = eu-west-1\naws_session_token = TOKEN\n\n# note\naws_access_key_id = AKID\naws_secret_access_key = SECRET\naws_account_id = ACCOUNT\n",
            ),
            // An indented key's value goes on while lines are indented deeper than it.
            (
                "[p]\n  aws_session_token = OLD\n      more\n  region = x\n",
                "[p]\n  aws_session_token = TOKEN\n  region = x\naws_access_key_id = AKID\naws_secret_access_key = SECRET\naws_account_id = ACCOUNT\n",
            ),
            // An indented `[name]` inside a value continues it (configparser asks that first):
            // it opens no section, and the section's keys after it are the section's.
            (
                "[p]\nregion = x\n  [q]\naws_access_key_id = OLD\n",
                "[p]\nregion = x\n  [q]\naws_access_key_id = AKID\naws_secret_access_key = SECRET\naws_session_token = TOKEN\naws_account_id = ACCOUNT\n",
            ),
            (
                "[q]\nfoo = bar\n  [p]\n  x\n",
                "[q]\nfoo = bar\n  [p]\n  x\n\n[p]\naws_access_key_id = AKID\naws_secret_access_key = SECRET\naws_session_token = TOKEN\naws_account_id = ACCOUNT\n",
            ),
            // Not inside a value, an indented `[p]` is a header (it is read stripped).
            (
                "[q]\n  [p]\nregion = x\n",
                "[q]\n  [p]\nregion = x\naws_access_key_id = AKID\naws_secret_access_key = SECRET\naws_session_token = TOKEN\naws_account_id = ACCOUNT\n",
            ),
            // Another key's nested values stay, even one named like ours.
            (
                "[p]\ns3 =\n    aws_session_token = nested\n    max_concurrent_requests = 20\n\n[q]\n",
                "[p]\ns3 =\n    aws_session_token = nested\n    max_concurrent_requests = 20\naws_access_key_id = AKID\naws_secret_access_key = SECRET\naws_session_token = TOKEN\naws_account_id = ACCOUNT\n\n[q]\n",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(upsert_profile(input, "p", &V), want, "input {input:?}");
        }
    }

    #[test]
    fn a_file_of_lone_carriage_returns_keeps_them() {
        let input = "[p]\raws_access_key_id = OLD\r[q]\rregion = x\r";
        assert_eq!(
            upsert_profile(input, "p", &V),
            "[p]\raws_access_key_id = AKID\raws_secret_access_key = SECRET\raws_session_token = TOKEN\raws_account_id = ACCOUNT\r[q]\rregion = x\r"
        );
        assert_eq!(lines_of("", "\r"), Vec::<&str>::new());
    }

    #[test]
    fn a_crlf_file_stays_crlf() {
        let input = "[default]\r\nregion = x\r\n\r\n[p]\r\naws_access_key_id = OLD\r\n";
        assert_eq!(
            upsert_profile(input, "p", &V),
            "[default]\r\nregion = x\r\n\r\n[p]\r\naws_access_key_id = AKID\r\naws_secret_access_key = SECRET\r\naws_session_token = TOKEN\r\naws_account_id = ACCOUNT\r\n"
        );
    }

    #[test]
    fn profile_names_configparser_cannot_read_back_are_refused() {
        for bad in ["", "a]b", "[p", "p\nq", " p", "p\t"] {
            assert!(profile_name(bad).is_err(), "{bad:?}");
        }
        for good in ["p", "default", "Default", "prod account", "team-a.ci"] {
            assert_eq!(profile_name(good).unwrap(), good);
        }
        // configparser's defaults section, inherited by every other section (case-sensitive).
        assert_eq!(
            profile_name("DEFAULT").unwrap_err(),
            "a profile cannot be named DEFAULT: configparser reads [DEFAULT] as the defaults of every other \
             section, so botocore would give its credentials to every profile without keys of its own and finds \
             no profile DEFAULT; choose another name (the default profile is `default`)"
        );
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
            assert_eq!(expand_path(raw, var, || var("HOME")), want, "{raw}");
        }
        // Without HOME, `~` is the user database's home folder, as `os.path.expanduser` reads
        // it; `$HOME` stays as written (`os.path.expandvars` reads the environment only).
        let no_home = |name: &str| var(name).filter(|_| name != "HOME");
        let database = || Some("/var/lib/app".to_owned());
        assert_eq!(expand_path("~/.aws/alt", no_home, database), "/var/lib/app/.aws/alt");
        assert_eq!(expand_path("$HOME/alt", no_home, database), "$HOME/alt");
        assert_eq!(expand_path("~/.aws/alt", no_home, || None), "~/.aws/alt");
    }

    /// The names in `dir`, sorted.
    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_to_the_credentials_is_written_through() {
        let d = tempfile::tempdir().unwrap();
        let dotfiles = d.path().join("dotfiles");
        std::fs::create_dir(&dotfiles).unwrap();
        let target = dotfiles.join("credentials");
        let link = d.path().join("credentials");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let c = credentials();
        // The target not there yet: created, the link kept.
        write_profile(&link, "p", &c, &account()).unwrap();
        write_profile(&link, "q", &c, &account()).unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        let text = std::fs::read_to_string(&target).unwrap();
        assert!(text.contains("[p]") && text.contains("[q]"), "{text}");
        assert_eq!(
            names_in(&dotfiles),
            [".credentials.rolegate-lock", "credentials"],
            "no temp files left"
        );
    }

    /// A link another user made is refused, and nothing is written through it. Making one
    /// needs root (to give the link away); elsewhere the test says it is skipped.
    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_of_another_user_is_refused() {
        if rustix::process::geteuid().as_raw() != 0 {
            println!("SKIP: a_symbolic_link_of_another_user_is_refused needs root to chown a link");
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("elsewhere");
        let link = d.path().join("credentials");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        if let Err(e) = std::os::unix::fs::lchown(&link, Some(65534), Some(65534)) {
            println!("SKIP: a_symbolic_link_of_another_user_is_refused: cannot give a link to user 65534 ({e})");
            return;
        }
        let c = credentials();
        assert_eq!(
            write_profile(&link, "p", &c, &account()).unwrap_err(),
            format!(
                "{} is a symbolic link of user id 65534, not of this user (0): not writing credentials through it",
                link.display()
            )
        );
        assert!(!target.exists(), "nothing written through it");
    }

    /// The account of the role of [`credentials`].
    fn account() -> AccountId {
        AccountId::parse("123456789012").unwrap()
    }

    /// Credentials to write.
    fn credentials() -> SessionCredentials {
        SessionCredentials {
            access_key_id: "AKID".into(),
            secret_access_key: zeroize::Zeroizing::new("SECRET".into()),
            session_token: zeroize::Zeroizing::new("TOKEN".into()),
            expiration: "2026-01-01T00:00:00Z".into(),
        }
    }

    /// An empty or relative HOME is refused: the file would land in the folder `update` runs in.
    #[test]
    fn the_credentials_file_needs_an_absolute_home() {
        assert_eq!(
            credentials_file_in(&Home::Variable("/home/app".into())).unwrap(),
            Path::new("/home/app/.aws/credentials")
        );
        for (home, shown) in [("", "empty"), ("home/app", "'home/app'")] {
            assert_eq!(
                credentials_file_in(&Home::Variable(home.into())).unwrap_err(),
                format!(
                    "HOME ({shown}) is not an absolute path: not writing credentials under it (that is the folder \
                     this runs in); set HOME, or AWS_SHARED_CREDENTIALS_FILE to the file"
                )
            );
        }
    }

    /// Without HOME, the file is under this user's home folder in the user database, where
    /// botocore reads `~/.aws/credentials` then: it was refused.
    #[test]
    fn without_home_the_credentials_file_is_under_the_user_databases_home_folder() {
        assert_eq!(
            credentials_file_in(&Home::UserDatabase("/var/lib/app".into())).unwrap(),
            Path::new("/var/lib/app/.aws/credentials")
        );
        assert_eq!(
            credentials_file_in(&Home::UserDatabase("".into())).unwrap_err(),
            "HOME is not set, and this user's home folder in the user database (empty) is not an absolute path: \
             not writing credentials under it (that is the folder this runs in); set HOME, or \
             AWS_SHARED_CREDENTIALS_FILE to the file"
        );
        assert_eq!(
            credentials_file_in(&Home::Unknown).unwrap_err(),
            "cannot find ~/.aws/credentials: HOME is not set, and the user database has no entry for this user \
             (set AWS_SHARED_CREDENTIALS_FILE)"
        );
    }

    /// The folder a first write creates is the user's alone.
    #[test]
    fn a_folder_made_for_the_credentials_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join(".aws").join("credentials");
        write_profile(&file, "p", &credentials(), &account()).unwrap();
        let mode = std::fs::metadata(d.path().join(".aws")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    /// A credential with a line break is not written: it would add lines of its own.
    #[test]
    fn a_credential_with_a_line_break_is_not_written() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("credentials");
        std::fs::write(&file, "[default]\naws_access_key_id = KEEP\n").unwrap();
        let mut c = credentials();
        c.session_token = zeroize::Zeroizing::new("tok\n[prod]\ncredential_process = sh".into());
        let e = write_profile(&file, "p", &c, &account()).unwrap_err();
        assert_eq!(
            e,
            format!(
                "not written to {}: a credential holds a space or a control character",
                file.display()
            )
        );
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "[default]\naws_access_key_id = KEEP\n"
        );
    }

    /// Root updating another user's file (a root unit keeping `/home/app/.aws/credentials`
    /// fresh) leaves it that user's, private, with their other profiles: it became root's, and
    /// the user's SDK could no longer read it. Needs root; elsewhere the test says it is skipped.
    #[cfg(unix)]
    #[test]
    fn root_leaves_another_users_file_theirs() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        if rustix::process::geteuid().as_raw() != 0 {
            println!("SKIP: root_leaves_another_users_file_theirs needs root to chown a file");
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("credentials");
        std::fs::write(&file, "[theirs]\nregion = eu-west-1\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::chown(&file, Some(65534), Some(65533)).unwrap();
        write_profile(&file, "p", &credentials(), &account()).unwrap();
        let meta = std::fs::metadata(&file).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid(), meta.permissions().mode() & 0o777),
            (65534, 65533, 0o600)
        );
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("[theirs]\nregion = eu-west-1\n"), "{text}");
        assert!(text.contains("aws_session_token = TOKEN"), "{text}");
    }

    #[test]
    fn writes_atomically_with_0600() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("aws").join("credentials");
        let c = credentials();
        write_profile(&file, "p", &c, &account()).unwrap();
        write_profile(&file, "q", &c, &account()).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text.matches("aws_session_token = TOKEN").count(), 2, "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(
            names_in(file.parent().unwrap()),
            [".credentials.rolegate-lock", "credentials"],
            "no temp files left"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let lock = file.with_file_name(".credentials.rolegate-lock");
            assert_eq!(std::fs::metadata(lock).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
