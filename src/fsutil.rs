//! Small file helpers for secrets and generated state: private (0600) creation, atomic writes.

use std::io::Write;
use std::path::Path;

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
