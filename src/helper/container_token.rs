//! The container credentials endpoint's auth token file (`sidecar --auth-token-file`): made
//! with a random token when missing, read whole (at most [`MAX_TOKEN_FILE_BYTES`]) on every
//! request to the endpoint, and refused when another user could have chosen or can replace it;
//! a file every local user can read is warned about.

use zeroize::Zeroizing;

/// The token guards the credentials: a file every local user can read hands them to every
/// local user. (The workload reads it too, so group access can be intended.)
fn warn_if_world_readable(path: &std::path::Path) {
    if crate::fsutil::world_readable_mode(path).is_some() {
        tracing::warn!(
            file = %path.display(),
            "the auth token file is readable by every local user, and with it the container credentials \
             endpoint's credentials; chmod 600 it (or 640 with a group the workload shares)"
        );
    }
}

/// Warns when another user (not root) can replace or remove the token file: its folder is that
/// user's, or is writable by others without the sticky bit and is not root's. They could not
/// choose the token (the file must be this user's or root's), but could make the container
/// endpoint refuse every SDK. A root folder open to all, as a Kubernetes `emptyDir` is, is
/// the pod's and not warned about.
#[cfg(unix)]
fn warn_if_folder_open(path: &std::path::Path) {
    use std::os::unix::fs::MetadataExt;
    let Some(dir) = path.parent().map(|d| {
        if d.as_os_str().is_empty() {
            std::path::Path::new(".")
        } else {
            d
        }
    }) else {
        return;
    };
    let Ok(meta) = std::fs::metadata(dir) else {
        return;
    };
    let whose = match crate::fsutil::foreign_owner(&meta) {
        _ if meta.uid() == 0 => None,
        Some((owner, _)) => Some(format!("belongs to user {owner}")),
        None if meta.mode() & 0o1002 == 0o002 => Some("is writable by every user".to_owned()),
        None => None,
    };
    if let Some(whose) = whose {
        tracing::warn!(
            folder = %dir.display(),
            "the auth token file's folder {whose}: another user can replace or remove the token file, and \
             the container endpoint then refuses every SDK; keep it in a folder only this user or root can write"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_folder_open(_path: &std::path::Path) {}

/// The token file's bytes, once it is known whose they are: the file (and a symbolic link in
/// its place) must be this user's or root's (a Kubernetes Secret volume's are root's), and not
/// writable by every user — whoever controls it chooses the token the container endpoint
/// accepts (another user who made it, or a link to a file of known contents, in a shared folder
/// before the sidecar started, say). The checks are made on the file opened, which is the one
/// read.
#[cfg(unix)]
fn read_token_file(path: &std::path::Path) -> Result<Zeroizing<Vec<u8>>, String> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let cannot = |e: std::io::Error| format!("cannot read the auth token file {}: {e}", path.display());
    let not_ours = |what: &str, (owner, me): (u32, u32)| {
        format!(
            "the auth token file {} is {what} user {owner}, not to this user ({me}) or root: another user \
             could choose the token; remove it (the sidecar writes a new one) or give it to this user",
            path.display()
        )
    };
    let link = std::fs::symlink_metadata(path).map_err(cannot)?;
    if link.file_type().is_symlink()
        && let Some(owners) = crate::fsutil::foreign_owner(&link).filter(|(owner, _)| *owner != 0)
    {
        return Err(not_ours("a symbolic link belonging to", owners));
    }
    // Without waiting: a FIFO put there would block the request's thread on open until
    // something wrote to it. Only a regular file is read.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if !meta.is_file() {
        return Err(format!(
            "the auth token file {} is not a regular file; write the token to a file",
            path.display()
        ));
    }
    if let Some(owners) = crate::fsutil::foreign_owner(&meta).filter(|(owner, _)| *owner != 0) {
        return Err(not_ours("a file belonging to", owners));
    }
    // Root's file, under another name too: in a folder another user can write, that user can
    // hard-link any file of root's whose contents are known (/etc/hostname) into place.
    if crate::fsutil::foreign_owner(&meta).is_some() && std::os::unix::fs::MetadataExt::nlink(&meta) > 1 {
        return Err(format!(
            "the auth token file {} is root's and has {} names (hard links): another user may have linked a \
             file of known contents there; write the token to a file of its own",
            path.display(),
            std::os::unix::fs::MetadataExt::nlink(&meta)
        ));
    }
    if meta.permissions().mode() & 0o002 != 0 {
        return Err(format!(
            "the auth token file {} is writable by every user, who could choose the token; chmod 600 it",
            path.display()
        ));
    }
    read_whole_token(file, path)
}

#[cfg(not(unix))]
fn read_token_file(path: &std::path::Path) -> Result<Zeroizing<Vec<u8>>, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot read the auth token file {}: {e}", path.display()))?;
    read_whole_token(file, path)
}

/// The largest token file the sidecar takes: 16 KiB. A token is a line of text — the
/// sidecar's own are 43 bytes, a Kubernetes projected service account token (a JWT) a few
/// KiB — which the SDKs send whole as the `Authorization` header; hyper, which serves the
/// sidecar, takes request heads of up to about 400 KB (`http1::Builder::max_buf_size`), so
/// one this long fits.
pub(super) const MAX_TOKEN_FILE_BYTES: u64 = 16 * 1024;

/// All the bytes of the token file `path` opened as `file`, or an error when it holds more
/// than [`MAX_TOKEN_FILE_BYTES`]: never a part of it. The SDKs send the whole file as the
/// `Authorization` header, so a sidecar that kept a prefix would refuse them all (403) while
/// accepting the prefix.
fn read_whole_token(file: impl std::io::Read, path: &std::path::Path) -> Result<Zeroizing<Vec<u8>>, String> {
    use std::io::Read;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_TOKEN_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the auth token file {}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_TOKEN_FILE_BYTES {
        return Err(format!(
            "the auth token file {} is longer than {MAX_TOKEN_FILE_BYTES} bytes: the SDKs send all of it as the \
             Authorization header; write a shorter token",
            path.display()
        ));
    }
    Ok(bytes)
}

/// Makes sure `path` holds the container endpoint's token: an existing file is read (and must
/// hold one); a missing one is written with a new random token, readable by this user only —
/// so a sidecar and its application can share a fresh in-memory volume and no token is ever
/// configured by hand.
pub(super) fn ensure_token(path: &std::path::Path) -> Result<(), String> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => {
            let raw = read_token_file(path)?;
            token_of(&raw, path)?;
            if raw.trim_ascii() != raw.as_slice() {
                tracing::warn!(
                    file = %path.display(),
                    "the auth token file has white space around the token (a final newline, say): the sidecar \
                     ignores it, but botocore sends the file as it is and refuses it (\"Auth token value is not a \
                     legal header value\"); write the token alone, e.g. with printf '%s'"
                );
            }
            warn_if_world_readable(path);
            warn_if_folder_open(path);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token =
                new_token().map_err(|e| format!("cannot create the auth token file {}: {e}", path.display()))?;
            // Its folder is created private, like the file: `/run/rolegate` need not exist.
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                crate::fsutil::create_private_dir(dir)
                    .map_err(|e| format!("cannot create the folder of the auth token file {}: {e}", dir.display()))?;
            }
            warn_if_folder_open(path);
            // No newline: botocore sends the file's bytes as the header, and refuses one.
            super::cache::write_atomic_private(path, token.as_bytes())
        }
        Err(e) => Err(format!("cannot read the auth token file {}: {e}", path.display())),
    }
}

/// 32 bytes of the system's random number generator, base64url: a bearer token for the
/// container endpoint. A failing generator is an error, never a guessable token.
fn new_token() -> Result<Zeroizing<String>, String> {
    let mut raw = Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::fill(raw.as_mut()).map_err(|_| "the system random number generator failed".to_owned())?;
    Ok(Zeroizing::new(base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        raw.as_ref(),
    )))
}

pub(super) fn read_token(path: &std::path::Path) -> Result<Zeroizing<String>, String> {
    token_of(&read_token_file(path)?, path)
}

/// The token the bytes of the token file at `path` hold, without the white space around it.
fn token_of(bytes: &[u8], path: &std::path::Path) -> Result<Zeroizing<String>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| format!("the auth token file {} is not text", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!("the auth token file {} is empty", path.display()));
    }
    Ok(Zeroizing::new(token.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_token_file_is_created_with_a_random_private_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        ensure_token(&path).unwrap();
        let first = read_token(&path).unwrap();
        let raw = std::fs::read(&path).unwrap();
        assert_eq!(
            raw,
            first.as_bytes(),
            "the token alone, no newline (a header value as is)"
        );
        assert_eq!(first.len(), 43, "32 bytes, base64url: {}", first.as_str());
        assert!(
            first
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A restarted sidecar keeps the token the application already read.
        ensure_token(&path).unwrap();
        assert_eq!(read_token(&path).unwrap(), first);
        // In a folder that does not exist yet (`/run/rolegate/token`): created, private.
        let other = dir.path().join("run").join("rolegate").join("token");
        ensure_token(&other).unwrap();
        assert_ne!(read_token(&other).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for folder in [dir.path().join("run"), dir.path().join("run").join("rolegate")] {
                let mode = std::fs::metadata(&folder).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o700, "{}", folder.display());
            }
        }
    }

    #[test]
    fn an_unusable_token_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        assert_eq!(
            ensure_token(&empty).unwrap_err(),
            format!("the auth token file {} is empty", empty.display())
        );
        // A FIFO is refused at once, not waited on until something writes to it.
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        assert_eq!(
            ensure_token(&fifo).unwrap_err(),
            format!(
                "the auth token file {} is not a regular file; write the token to a file",
                fifo.display()
            )
        );
        // A folder that cannot be created: a dangling symbolic link holds its name.
        let blocked = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("gone").join("x"), &blocked).unwrap();
        let nowhere = blocked.join("token");
        let error = ensure_token(&nowhere).unwrap_err();
        assert!(
            error.starts_with(&format!(
                "cannot create the folder of the auth token file {}: ",
                blocked.display()
            )),
            "{error}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_token_file_every_user_may_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "chosen-by-someone").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(
            ensure_token(&file).unwrap_err(),
            format!(
                "the auth token file {} is writable by every user, who could choose the token; chmod 600 it",
                file.display()
            )
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(ensure_token(&file).is_ok());
    }

    /// A token file, or a link in its place, that another user made is refused. Giving them
    /// away needs root; elsewhere the test says it is skipped.
    #[cfg(unix)]
    #[test]
    fn a_token_file_or_link_of_another_user_is_refused() {
        if rustix::process::geteuid().as_raw() != 0 {
            println!("SKIP: a_token_file_or_link_of_another_user_is_refused needs root to chown");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "chosen-by-someone").unwrap();
        if let Err(e) = std::os::unix::fs::lchown(&file, Some(65534), None) {
            println!("SKIP: a_token_file_or_link_of_another_user_is_refused: cannot give a file to user 65534 ({e})");
            return;
        }
        assert_eq!(
            ensure_token(&file).unwrap_err(),
            format!(
                "the auth token file {} is a file belonging to user 65534, not to this user (0) or root: another \
                 user could choose the token; remove it (the sidecar writes a new one) or give it to this user",
                file.display()
            )
        );
        // A link another user put in its place, to a file whose contents anyone knows.
        let link = dir.path().join("linked-token");
        std::os::unix::fs::symlink("/proc/sys/kernel/ostype", &link).unwrap();
        std::os::unix::fs::lchown(&link, Some(65534), None).unwrap();
        assert!(
            ensure_token(&link)
                .unwrap_err()
                .contains("is a symbolic link belonging to user 65534"),
        );
    }
}
