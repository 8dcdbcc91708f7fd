//! Small file helpers for secrets and generated state: private (0600) creation, atomic writes,
//! and bounded reads of the files a configuration names.

use std::io::{Read, Write};
use std::path::Path;

/// The most a configuration file, or a file it names, may hold: the CRLs of large CAs run to
/// tens of megabytes, and nothing an operator means is larger.
pub const MAX_CONFIG_FILE_BYTES: u64 = 64 << 20;

/// Reads at most `limit` bytes from `path`: a larger file, or a device that never ends
/// (`/dev/zero` by a typo), is an error instead of exhausted memory. Pipes are read like
/// files (`rolegate check-config <(envsubst < template.toml)`).
pub fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let expected = file.metadata()?.len().min(limit);
    let mut bytes = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        let most = match limit >> 20 {
            0 => format!("{limit} bytes"),
            mib => format!("{mib} MiB"),
        };
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {most}"),
        ));
    }
    Ok(bytes)
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
        let endless = read_bounded(Path::new("/dev/zero"), 2 << 20).unwrap_err();
        assert_eq!(endless.to_string(), "larger than 2 MiB");
        assert!(read_bounded(dir.path(), 10).is_err(), "a directory");
        let missing = read_bounded(&dir.path().join("gone.pem"), 10).unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    }
}
