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
pub type Content = Option<[u8; 32]>;

/// The files one configuration snapshot was built from, in the order they were read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceFiles {
    files: Vec<(PathBuf, [u8; 32])>,
}

/// What the same files hold now, in [`SourceFiles`] order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnDisk(Vec<Content>);

impl SourceFiles {
    /// Notes that `path` was read and held `bytes`. A file named twice (one CA bundle for two
    /// anchors) is kept once.
    pub fn record(&mut self, path: &Path, bytes: &[u8]) {
        if self.files.iter().any(|(p, _)| p == path) {
            return;
        }
        self.files.push((path.to_owned(), digest(bytes)));
    }

    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|(p, _)| p.as_path())
    }

    /// Reads every file again (blocking I/O: call it off the request threads).
    pub fn read_now(&self) -> OnDisk {
        OnDisk(
            self.files
                .iter()
                .map(|(path, _)| std::fs::read(path).ok().map(|bytes| digest(&bytes)))
                .collect(),
        )
    }

    /// The files whose content on disk differs from what this configuration was built from
    /// (including files that are gone or unreadable). Empty: the configuration is current.
    pub fn changed<'a>(&'a self, now: &OnDisk) -> Vec<&'a Path> {
        self.files
            .iter()
            .zip(&now.0)
            .filter(|((_, was), is)| is.as_ref() != Some(was))
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
/// whole, not halfway through a copy), and content whose reload failed is not tried again until
/// it changes once more (a broken file is reported once, not every interval).
#[derive(Debug, Default)]
pub struct ChangeWatch {
    /// What the previous look saw, when it differed from the configuration in force.
    pending: Option<OnDisk>,
    /// The content of the last reload that failed.
    failed: Option<OnDisk>,
}

/// What to do after a look at the disk.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The configuration in force matches the disk, or a change is still settling, or the
    /// change was tried and failed.
    Wait,
    /// Reload now.
    Reload,
}

impl ChangeWatch {
    /// `now` is what the files of `in_force` hold at this look.
    pub fn look(&mut self, in_force: &SourceFiles, now: OnDisk) -> Verdict {
        if in_force.changed(&now).is_empty() {
            *self = Self::default();
            return Verdict::Wait;
        }
        if self.failed.as_ref() == Some(&now) {
            return Verdict::Wait;
        }
        if self.pending.as_ref() != Some(&now) {
            self.pending = Some(now);
            return Verdict::Wait;
        }
        self.pending = None;
        Verdict::Reload
    }

    /// Records that the reload of what the last look saw failed.
    pub fn reload_failed(&mut self, tried: OnDisk) {
        self.failed = Some(tried);
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

    #[test]
    fn unchanged_files_are_current_and_a_file_named_twice_is_kept_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sources(dir.path(), &[("a.pem", "A"), ("b.crl", "B")]);
        s.record(&dir.path().join("a.pem"), b"A");
        assert_eq!(s.paths().count(), 2);
        assert!(s.changed(&s.read_now()).is_empty());
    }

    #[test]
    fn rewritten_and_removed_files_are_changed() {
        let dir = tempfile::tempdir().unwrap();
        let s = sources(dir.path(), &[("a.pem", "A"), ("b.crl", "B"), ("c.toml", "C")]);
        std::fs::write(dir.path().join("a.pem"), "A2").unwrap();
        std::fs::remove_file(dir.path().join("c.toml")).unwrap();
        let changed = s.changed(&s.read_now());
        assert_eq!(changed, vec![dir.path().join("a.pem"), dir.path().join("c.toml")]);
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
        let mut watch = ChangeWatch::default();
        assert_eq!(watch.look(&s, s.read_now()), Verdict::Wait);
        std::fs::write(dir.path().join("a.pem"), "A, half").unwrap();
        assert_eq!(watch.look(&s, s.read_now()), Verdict::Wait, "first sight of a change");
        std::fs::write(dir.path().join("a.pem"), "A, half and the rest").unwrap();
        assert_eq!(watch.look(&s, s.read_now()), Verdict::Wait, "still being written");
        assert_eq!(watch.look(&s, s.read_now()), Verdict::Reload, "held still");
    }

    #[test]
    fn content_that_failed_to_reload_is_not_tried_again_until_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let s = sources(dir.path(), &[("a.pem", "A")]);
        let mut watch = ChangeWatch::default();
        std::fs::write(dir.path().join("a.pem"), "broken").unwrap();
        assert_eq!(watch.look(&s, s.read_now()), Verdict::Wait);
        assert_eq!(watch.look(&s, s.read_now()), Verdict::Reload);
        watch.reload_failed(s.read_now());
        for _ in 0..3 {
            assert_eq!(watch.look(&s, s.read_now()), Verdict::Wait);
        }
        std::fs::write(dir.path().join("a.pem"), "fixed").unwrap();
        assert_eq!(watch.look(&s, s.read_now()), Verdict::Wait);
        assert_eq!(watch.look(&s, s.read_now()), Verdict::Reload);
    }

    #[test]
    fn a_file_put_back_as_it_was_needs_no_reload() {
        let dir = tempfile::tempdir().unwrap();
        let s = sources(dir.path(), &[("a.pem", "A")]);
        let mut watch = ChangeWatch::default();
        std::fs::write(dir.path().join("a.pem"), "B").unwrap();
        assert_eq!(watch.look(&s, s.read_now()), Verdict::Wait);
        std::fs::write(dir.path().join("a.pem"), "A").unwrap();
        assert_eq!(watch.look(&s, s.read_now()), Verdict::Wait);
        std::fs::write(dir.path().join("a.pem"), "B").unwrap();
        assert_eq!(
            watch.look(&s, s.read_now()),
            Verdict::Wait,
            "the earlier sighting was forgotten"
        );
        assert_eq!(watch.look(&s, s.read_now()), Verdict::Reload);
    }
}
