//! The files a configuration was read from (the TOML file and every certificate, key, CRL and
//! policy file it names) with a digest of the bytes that were read, so the daemon can tell when
//! one of them changed on disk and reload (`[server] config_watch_seconds`).
//!
//! Content digests, not modification times: a Kubernetes volume swaps a symlink, `cp -p` keeps
//! the old mtime, and two writes within a second share one; only the bytes say whether the
//! configuration in force still matches the disk.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// What one file held: the SHA-256 of its bytes, or `None` when it could not be read.
pub(super) type Content = Option<[u8; 32]>;

/// The files one load read, in the order it read them, with what they held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceFiles {
    files: Vec<(PathBuf, Content)>,
}

/// What the same files hold now, in [`SourceFiles`] order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnDisk(Vec<Content>);

impl SourceFiles {
    /// Notes that `path` was read and held `bytes`. A file named twice (one CA bundle for two
    /// anchors) is kept once.
    pub fn record(&mut self, path: &Path, bytes: &[u8]) {
        self.note(path, Some(digest(bytes)));
    }

    /// Notes that `path` could not be read (a load fails on it; it is watched for appearing).
    pub fn record_unreadable(&mut self, path: &Path) {
        self.note(path, None);
    }

    fn note(&mut self, path: &Path, content: Content) {
        if !self.files.iter().any(|(p, _)| p == path) {
            self.files.push((path.to_owned(), content));
        }
    }

    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|(p, _)| p.as_path())
    }

    /// Reads every file again (blocking I/O: call it off the request threads).
    pub fn read_now(&self) -> OnDisk {
        OnDisk(
            self.files
                .iter()
                .map(|(path, _)| {
                    // Some of these files are secrets (token keys, the TLS key): their bytes
                    // are wiped once hashed, as the load wipes them.
                    crate::fsutil::read_bounded(path, crate::fsutil::MAX_CONFIG_FILE_BYTES)
                        .ok()
                        .map(|bytes| digest(&zeroize::Zeroizing::new(bytes)))
                })
                .collect(),
        )
    }

    /// The same files with what they hold now: what a reload that failed without reading
    /// files of its own (it panicked) leaves the file watch to compare with, so that it waits
    /// for a change instead of trying the same files again and again.
    pub fn as_on_disk_now(&self) -> SourceFiles {
        let OnDisk(now) = self.read_now();
        SourceFiles {
            files: self.files.iter().map(|(path, _)| path.clone()).zip(now).collect(),
        }
    }

    /// The files whose content on disk differs from what the load read (a file gone, or one
    /// that appeared since). Empty: the disk holds what the load saw.
    pub fn changed<'a>(&'a self, now: &OnDisk) -> Vec<&'a Path> {
        self.files
            .iter()
            .zip(&now.0)
            .filter(|((_, was), is)| was != *is)
            .map(|((path, _), _)| path.as_path())
            .collect()
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Decides, one look at the disk after another, when a change is worth a reload.
///
/// A change is reloaded once it has held still for one look (a file rewritten in place is read
/// whole, not halfway through a copy). After a reload failed, only a change to one of the files
/// that reload read is worth another try — the one it could not read or parse included, so a
/// key file a new configuration names is picked up when it appears — and a broken file is
/// reported once, not at every look.
#[derive(Debug, Default)]
pub struct ChangeWatch {
    /// What the previous look saw of the files it watched, when that was a change.
    pending: Option<OnDisk>,
}

/// What to do after a look at the disk.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing changed, or a change is still settling, or nothing changed since a failed reload.
    Wait,
    /// Reload now; these files changed.
    Reload(Vec<PathBuf>),
}

impl ChangeWatch {
    /// Looks at the files of `in_force` (the configuration in force) and, when the last reload
    /// failed, at those of `failed` (what that reload read).
    ///
    /// After a failure, files put back as they are in force are a change too: the reload they
    /// cause loads what is in force again and clears the failure the daemon reports.
    pub fn look(&mut self, in_force: &SourceFiles, failed: Option<&SourceFiles>) -> Verdict {
        let watched = failed.unwrap_or(in_force);
        let now = watched.read_now();
        let changed: Vec<PathBuf> = watched.changed(&now).into_iter().map(Path::to_owned).collect();
        if changed.is_empty() {
            self.pending = None;
            return Verdict::Wait;
        }
        if self.pending.as_ref() != Some(&now) {
            self.pending = Some(now);
            return Verdict::Wait;
        }
        self.pending = None;
        Verdict::Reload(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(dir: &Path, files: &[(&str, &str)]) -> SourceFiles {
        let mut s = SourceFiles::default();
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            s.record(&path, text.as_bytes());
        }
        s
    }

    fn reload(of: &[&Path]) -> Verdict {
        Verdict::Reload(of.iter().map(|p| p.to_path_buf()).collect())
    }

    #[test]
    fn unchanged_files_are_current_and_a_file_named_twice_is_kept_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sources(dir.path(), &[("a.pem", "A"), ("b.crl", "B")]);
        s.record(&dir.path().join("a.pem"), b"A");
        assert_eq!(s.paths().count(), 2);
        assert!(s.changed(&s.read_now()).is_empty());
    }

    #[test]
    fn rewritten_removed_and_appearing_files_are_changed() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sources(dir.path(), &[("a.pem", "A"), ("b.crl", "B"), ("c.toml", "C")]);
        s.record_unreadable(&dir.path().join("d.key"));
        assert!(s.changed(&s.read_now()).is_empty(), "d.key is still missing");
        std::fs::write(dir.path().join("a.pem"), "A2").unwrap();
        std::fs::remove_file(dir.path().join("c.toml")).unwrap();
        std::fs::write(dir.path().join("d.key"), "D").unwrap();
        let changed = s.changed(&s.read_now());
        let names: Vec<_> = ["a.pem", "c.toml", "d.key"]
            .iter()
            .map(|n| dir.path().join(n))
            .collect();
        assert_eq!(changed, names);
    }

    #[test]
    fn same_bytes_written_again_are_no_change() {
        let dir = tempfile::tempdir().unwrap();
        let s = sources(dir.path(), &[("a.pem", "A")]);
        std::fs::write(dir.path().join("a.pem"), "A").unwrap();
        assert!(s.changed(&s.read_now()).is_empty());
    }

    #[test]
    fn a_change_is_reloaded_once_it_held_still_for_one_look() {
        let dir = tempfile::tempdir().unwrap();
        let s = sources(dir.path(), &[("a.pem", "A")]);
        let a = dir.path().join("a.pem");
        let mut watch = ChangeWatch::default();
        assert_eq!(watch.look(&s, None), Verdict::Wait);
        std::fs::write(&a, "A, half").unwrap();
        assert_eq!(watch.look(&s, None), Verdict::Wait, "first sight of a change");
        std::fs::write(&a, "A, half and the rest").unwrap();
        assert_eq!(watch.look(&s, None), Verdict::Wait, "still being written");
        assert_eq!(watch.look(&s, None), reload(&[&a]), "held still");
    }

    #[test]
    fn after_a_failed_reload_only_a_change_to_what_it_read_is_tried() {
        let dir = tempfile::tempdir().unwrap();
        let in_force = sources(dir.path(), &[("config.toml", "v1"), ("k1.key", "K1")]);
        let config = dir.path().join("config.toml");
        let k2 = dir.path().join("k2.key");
        // The new configuration names k2.key, which is not there yet: the reload failed.
        std::fs::write(&config, "v2").unwrap();
        let mut failed = SourceFiles::default();
        failed.record(&config, b"v2");
        failed.record_unreadable(&k2);
        let mut watch = ChangeWatch::default();
        for _ in 0..3 {
            assert_eq!(
                watch.look(&in_force, Some(&failed)),
                Verdict::Wait,
                "nothing new to try"
            );
        }
        // The key arrives (a Secret updated after its ConfigMap): worth another try.
        std::fs::write(&k2, "K2").unwrap();
        assert_eq!(watch.look(&in_force, Some(&failed)), Verdict::Wait);
        assert_eq!(watch.look(&in_force, Some(&failed)), reload(&[&k2]));
    }

    #[test]
    fn a_failed_change_put_back_as_it_is_in_force_is_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let in_force = sources(dir.path(), &[("config.toml", "v1")]);
        let config = dir.path().join("config.toml");
        std::fs::write(&config, "v2, broken").unwrap();
        let mut failed = SourceFiles::default();
        failed.record(&config, b"v2, broken");
        let mut watch = ChangeWatch::default();
        assert_eq!(watch.look(&in_force, Some(&failed)), Verdict::Wait);
        // The operator reverts the file: the reload that follows clears the reported failure.
        std::fs::write(&config, "v1").unwrap();
        assert_eq!(watch.look(&in_force, Some(&failed)), Verdict::Wait);
        assert_eq!(watch.look(&in_force, Some(&failed)), reload(&[&config]));
    }

    #[test]
    fn a_file_put_back_as_it_was_needs_no_reload() {
        let dir = tempfile::tempdir().unwrap();
        let s = sources(dir.path(), &[("a.pem", "A")]);
        let a = dir.path().join("a.pem");
        let mut watch = ChangeWatch::default();
        std::fs::write(&a, "B").unwrap();
        assert_eq!(watch.look(&s, None), Verdict::Wait);
        std::fs::write(&a, "A").unwrap();
        assert_eq!(watch.look(&s, None), Verdict::Wait);
        std::fs::write(&a, "B").unwrap();
        assert_eq!(
            watch.look(&s, None),
            Verdict::Wait,
            "the earlier sighting was forgotten"
        );
        assert_eq!(watch.look(&s, None), reload(&[&a]));
    }
}
