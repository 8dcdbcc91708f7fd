//! Small file helpers for secrets and generated state: private (0600) creation, atomic writes,
//! and bounded reads of the files a configuration names.

use std::io::{ErrorKind, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// The most a configuration file, or a file it names, may hold: the CRLs of large CAs run to
/// tens of megabytes, and nothing an operator means is larger.
pub const MAX_CONFIG_FILE_BYTES: u64 = 64 << 20;

/// How long a pipe a configuration names may take to deliver all its data.
const PIPE_WAIT: Duration = Duration::from_secs(10);

/// Reads at most `limit` bytes from `path`: a larger file is an error instead of exhausted
/// memory, and so is a device (`/dev/zero` by a typo, or one whose reads never return, such as
/// a terminal), which is not opened at all. Pipes are read like files (`rolegate check-config
/// <(envsubst < template.toml)`), but never waited on forever: a named pipe with no writer
/// reads as empty, and one whose writer does not finish within `PIPE_WAIT` (10 s) is an
/// error. Opening one would otherwise block the reading thread for good (a reload stuck on a
/// FIFO put in place of a CRL).
pub fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let file = open_without_waiting(path)?;
    let meta = file.metadata()?;
    // A regular file says its size: one over the limit is refused unread.
    if meta.is_file() && meta.len() > limit {
        return Err(too_large(limit));
    }
    let expected = meta.len().min(limit);
    let mut bytes = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    let mut reader = file.take(limit + 1);
    let deadline = Instant::now() + PIPE_WAIT;
    loop {
        // On an error, what was read so far stays in `bytes` and the limit counts it.
        match reader.read_to_end(&mut bytes) {
            Ok(_) => break,
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                return Err(std::io::Error::new(
                    ErrorKind::TimedOut,
                    format!("a pipe whose writer did not finish within {} s", PIPE_WAIT.as_secs()),
                ));
            }
            Err(e) => return Err(e),
        }
    }
    if bytes.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(bytes)
}

/// The refusal of a file larger than `limit` bytes.
fn too_large(limit: u64) -> std::io::Error {
    let most = match limit >> 20 {
        0 => format!("{limit} bytes"),
        mib => format!("{mib} MiB"),
    };
    std::io::Error::new(ErrorKind::InvalidData, format!("larger than {most}"))
}

/// The most a file a command reads for a client — a certificate, chain, key, PKCS#12 bundle,
/// passphrase or policy — may hold: far more than any of them, and a typo naming a device or
/// a pipe fails at once instead of exhausting memory or hanging.
pub const MAX_CREDENTIAL_FILE_BYTES: u64 = 4 << 20;

/// [`read_bounded`] at [`MAX_CREDENTIAL_FILE_BYTES`].
pub fn read_credential_file(path: &Path) -> std::io::Result<Vec<u8>> {
    read_bounded(path, MAX_CREDENTIAL_FILE_BYTES)
}

/// [`read_credential_file`] as UTF-8 text.
pub fn read_credential_text(path: &Path) -> std::io::Result<String> {
    String::from_utf8(read_credential_file(path)?)
        .map_err(|_| std::io::Error::new(ErrorKind::InvalidData, "not UTF-8 text"))
}

/// Opens `path` for reading without blocking (see [`read_bounded`]): a regular file or a pipe,
/// as it is both before it is opened and once open (it may have been swapped in between).
fn open_without_waiting(path: &Path) -> std::io::Result<std::fs::File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        refuse_unreadable_kind(&std::fs::metadata(path)?.file_type())?;
        // O_NONBLOCK: opening a pipe without a writer returns at once; a regular file ignores it.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)?;
        refuse_unreadable_kind(&file.metadata()?.file_type())?;
        Ok(file)
    }
    #[cfg(not(unix))]
    std::fs::File::open(path)
}

/// A file kind a configuration may not name: a directory, a socket, or a device, whose reads
/// may never end or never return (`/dev/zero`, a terminal, `/dev/ptmx`).
#[cfg(unix)]
fn refuse_unreadable_kind(kind: &std::fs::FileType) -> std::io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let what = match () {
        () if kind.is_file() || kind.is_fifo() => return Ok(()),
        () if kind.is_dir() => "a directory",
        () if kind.is_char_device() => "a character device",
        () if kind.is_block_device() => "a block device",
        () if kind.is_socket() => "a socket",
        () => "not a regular file",
    };
    Err(std::io::Error::new(
        ErrorKind::InvalidInput,
        format!("{what}, not a file: give the path of a regular file (or a pipe)"),
    ))
}

/// Creates `path` with mode 0600 and writes `data`; fails if it already exists.
pub fn write_new_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display())))?;
    f.write_all(data)?;
    f.sync_all()
}

/// Creates `path` (world-readable, e.g. a certificate) and writes `data`; fails if it exists.
pub fn write_new_public(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display())))?;
    f.write_all(data)?;
    f.sync_all()
}

/// Replaces `path` by a file holding `data` (mode `mode` on Unix), atomically: a new temporary
/// file with an unpredictable name beside it (created exclusively, so nothing planted under
/// that name — a symbolic link included — is opened), fsync, rename. Other processes see
/// either the old or the new file; a symbolic link at `path` is replaced, not followed. With
/// `owner` (user and group ids), the new file is given to them before it is written (root
/// replacing another user's file leaves it theirs); a process that may not is refused
/// (`EPERM`) and `path` is left as it was.
pub fn replace_file(path: &Path, data: &[u8], mode: u32, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let mut random = [0u8; 12];
    aws_lc_rs::rand::fill(&mut random).map_err(|_| std::io::Error::other("no system randomness"))?;
    let tmp = dir.join(format!(".{name}.{}.tmp", hex::encode(random)));
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
        #[cfg(not(unix))]
        let _ = mode;
        let mut f = options.open(&tmp)?;
        #[cfg(unix)]
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
        }
        #[cfg(not(unix))]
        let _ = owner;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Checks that `dir` (`what`, for the messages) is a folder and this user's own, not a symbolic link
/// another user made (it could be pointed elsewhere after the check), and that no mode bit of
/// `forbidden_mode` is set: a folder others can write to lets them swap what is kept there.
/// The error says what is wrong and `consequence`.
pub fn check_own_dir(dir: &Path, what: &str, forbidden_mode: u32, consequence: &str) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let unreadable = |e: std::io::Error| format!("cannot read {what} {}: {e}", dir.display());
        let link = std::fs::symlink_metadata(dir).map_err(unreadable)?;
        if let Some((owner, me)) = foreign_owner(&link).filter(|_| link.file_type().is_symlink()) {
            return Err(format!(
                "{what} {} is a symbolic link of user id {owner}, not of this user ({me}): {consequence}",
                dir.display()
            ));
        }
        let meta = std::fs::metadata(dir).map_err(unreadable)?;
        if !meta.is_dir() {
            return Err(format!("{what} {} is not a folder: {consequence}", dir.display()));
        }
        if let Some((owner, me)) = foreign_owner(&meta) {
            return Err(format!(
                "{what} {} belongs to user id {owner}, not to this user ({me}): {consequence}",
                dir.display()
            ));
        }
        if meta.mode() & forbidden_mode != 0 {
            return Err(format!(
                "{what} {} is open to other users (mode {:o}): {consequence}; `chmod 700` it",
                dir.display(),
                meta.mode() & 0o777
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = (dir, what, forbidden_mode, consequence);
    Ok(())
}

/// Creates `dir` and any missing parents, each new one with mode 0700.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

/// The owner of the file `meta` describes when that is not this process's effective user:
/// `(its owner, this user)`. Files another user controls are not trusted with secrets.
#[cfg(unix)]
pub fn foreign_owner(meta: &std::fs::Metadata) -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    (meta.uid() != me).then_some((meta.uid(), me))
}

/// The permission bits of `path` (`0o777`) when every local user may read it; `None` when
/// not, when it cannot be read, and where there are no such bits. The client commands warn
/// of a secret file so exposed (a private key, the sidecar's auth token).
pub fn world_readable_mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o004 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// How long a writer waits for another's lock before it writes without it.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// An exclusive lock on `.{name}.rolegate-lock` beside `target` (mode 0600, kept), held until
/// dropped, for writers that read `target`, change it and replace it (`update`'s credentials
/// file, `certs crl`'s CRL): two at once would lose one's change. An error saying why when it
/// cannot be had within [`LOCK_WAIT`] (a folder this user cannot write to, a stuck holder, a
/// lock file of another user's): the caller decides whether to write without it. A symbolic
/// link at the lock's path is not followed: in a folder others can write to, it could point
/// the lock file's creation anywhere.
pub fn lock_beside(target: &Path) -> Result<std::fs::File, String> {
    let name = target
        .file_name()
        .ok_or_else(|| format!("{} names no file", target.display()))?
        .to_string_lossy();
    let path = target.with_file_name(format!(".{name}.rolegate-lock"));
    let cannot = |why: String| format!("cannot lock {}: {why}", path.display());
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let file = options.open(&path).map_err(|e| cannot(e.to_string()))?;
    #[cfg(unix)]
    if let Some((owner, me)) = file.metadata().ok().as_ref().and_then(crate::fsutil::foreign_owner) {
        return Err(cannot(format!(
            "it belongs to user id {owner}, not to this user ({me})"
        )));
    }
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(cannot(format!(
                    "another writer has held it for {} s",
                    LOCK_WAIT.as_secs()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(cannot(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_reads_stop_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, b"0123456789").unwrap();
        assert_eq!(read_bounded(&file, 10).unwrap(), b"0123456789");
        assert_eq!(read_bounded(&file, 9).unwrap_err().to_string(), "larger than 9 bytes");
        // Devices are not opened: /dev/zero never ends, /dev/ptmx never answers a read.
        for device in ["/dev/zero", "/dev/ptmx"] {
            let refused = read_bounded(Path::new(device), 2 << 20).unwrap_err();
            assert_eq!(
                refused.to_string(),
                "a character device, not a file: give the path of a regular file (or a pipe)"
            );
        }
        // ...nor through a link.
        let link = dir.path().join("ca.crl");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(read_bounded(&link, 10).is_err(), "a link to a device");
        assert_eq!(
            read_bounded(dir.path(), 10).unwrap_err().to_string(),
            "a directory, not a file: give the path of a regular file (or a pipe)"
        );
        let missing = read_bounded(&dir.path().join("gone.pem"), 10).unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn pipes_are_read_without_waiting_for_a_writer() {
        use std::os::fd::AsRawFd;
        // A named pipe nobody writes: empty at once, where a plain open would never return.
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("ca.crl");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        assert_eq!(read_bounded(&fifo, 10).unwrap(), b"");

        // A pipe with a writer (process substitution): read to its end, however it arrives.
        let (reader, mut writer) = std::io::pipe().unwrap();
        let path = std::path::PathBuf::from(format!("/proc/self/fd/{}", reader.as_raw_fd()));
        let feeder = std::thread::spawn(move || {
            writer.write_all(b"first ").unwrap();
            std::thread::sleep(Duration::from_millis(50));
            writer.write_all(b"second").unwrap();
        });
        assert_eq!(read_bounded(&path, 100).unwrap(), b"first second");
        feeder.join().unwrap();
    }
}
