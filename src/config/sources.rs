//! The files a configuration was read from (the TOML file and every certificate, key, CRL and
//! policy file it names) with a digest of the bytes that were read, so the daemon can tell when
//! one of them changed on disk and reload (`[server] config_watch_seconds`).
//!
//! Content digests, not modification times: a Kubernetes volume swaps a symlink, `cp -p` keeps
//! the old mtime, and two writes within a second share one; only the bytes say whether the
//! configuration in force still matches the disk.
//!
//! The watch does not read every file at every look, though (a CRL can be tens of MiB): it
//! keeps each file's digest with what `stat` said of it when it was read ([`Stamp`]), and reads
//! again only a file whose stamp differs now. No write leaves a stamp as it was — whatever a
//! tool does to the mtime, the kernel sets the ctime to the time of the change, and a renamed
//! or swapped-in file has another inode — except a second write within the same tick of the
//! file system's clock. So, as git does with its index, a stamp is trusted only once it is
//! older than [`SETTLED_AFTER`] when taken; younger files are read at every look. Every
//! [`READ_ALL_EVERY`], every file is read whatever its stamp (a clock that jumped, a file
//! system without a real ctime).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

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
        OnDisk(self.paths().map(read_digest).collect())
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

/// How old a file's last change must be, when its [`Stamp`] is taken, for the stamp to stand
/// for its bytes: more than the coarsest clock tick of the file systems a configuration lives
/// on (ext4 and XFS stamp in jiffies, a few milliseconds; some network and FAT file systems in
/// whole seconds).
const SETTLED_AFTER: Duration = Duration::from_secs(3);

/// How often the watch reads every file, stamps or not.
const READ_ALL_EVERY: Duration = Duration::from_secs(300);

/// What `stat` (following symlinks) says of a file: which file it is and when it last changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    device: u64,
    inode: u64,
    len: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(Stamp {
            device: m.dev(),
            inode: m.ino(),
            len: m.len(),
            modified: (m.mtime(), m.mtime_nsec()),
            changed: (m.ctime(), m.ctime_nsec()),
        })
    }

    /// Whether the file's last change (its ctime) was at least [`SETTLED_AFTER`] before `now`:
    /// a write after `now` cannot then leave the stamp as it is.
    fn settled_at(&self, now: SystemTime) -> bool {
        let Ok(since_epoch) = now.duration_since(SystemTime::UNIX_EPOCH) else {
            return false;
        };
        let settled_before = since_epoch.saturating_sub(SETTLED_AFTER);
        let (secs, nanos) = self.changed;
        match (u64::try_from(secs), u32::try_from(nanos)) {
            (Ok(secs), Ok(nanos)) => Duration::new(secs, nanos.min(999_999_999)) <= settled_before,
            _ => false,
        }
    }
}

/// A file's digest, as the watch last read it, with its settled stamp from just before.
#[derive(Clone, Debug)]
struct Read {
    stamp: Stamp,
    digest: [u8; 32],
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
    /// The files of the last look whose stamp had settled, with what they held.
    read: HashMap<PathBuf, Read>,
    /// When the watch last read every file.
    read_all_at: Option<SystemTime>,
    /// How many files the last look read (the others' stamps stood for them).
    files_read: usize,
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
    ///
    /// `now` is the wall-clock time of the look, which file stamps are compared with.
    pub fn look(&mut self, in_force: &SourceFiles, failed: Option<&SourceFiles>, now: SystemTime) -> Verdict {
        let watched = failed.unwrap_or(in_force);
        let now = self.read_changed(watched, now);
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

    /// What `files` hold now: the digest of each file read again, but for a file whose settled
    /// stamp is as the last look saw it (every file, every [`READ_ALL_EVERY`]).
    fn read_changed(&mut self, files: &SourceFiles, now: SystemTime) -> OnDisk {
        let read_all = self
            .read_all_at
            .is_none_or(|at| now.duration_since(at).map_or(true, |since| since >= READ_ALL_EVERY));
        if read_all {
            self.read_all_at = Some(now);
        }
        let mut last = std::mem::take(&mut self.read);
        self.files_read = 0;
        let contents = files
            .paths()
            .map(|path| {
                // Stat first: a write during the read then shows as another stamp next time.
                let stamp = Stamp::of(path);
                if let (false, Some(stamp), Some(was)) = (read_all, stamp, last.remove(path))
                    && was.stamp == stamp
                {
                    let digest = was.digest;
                    self.read.insert(path.to_owned(), was);
                    return Some(digest);
                }
                self.files_read += 1;
                let content = read_digest(path);
                if let (Some(stamp), Some(digest)) = (stamp, content)
                    && stamp.settled_at(now)
                {
                    self.read.insert(path.to_owned(), Read { stamp, digest });
                }
                content
            })
            .collect();
        OnDisk(contents)
    }
}

/// The digest of what `path` holds now (blocking I/O), `None` when it cannot be read. Some of
/// these files are secrets (token keys, the TLS key): their bytes are wiped once hashed, as the
/// load wipes them.
fn read_digest(path: &Path) -> Content {
    crate::fsutil::read_bounded(path, crate::fsutil::MAX_CONFIG_FILE_BYTES)
        .ok()
        .map(|bytes| digest(&zeroize::Zeroizing::new(bytes)))
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
        assert_eq!(watch.look(&s, None, SystemTime::now()), Verdict::Wait);
        std::fs::write(&a, "A, half").unwrap();
        assert_eq!(
            watch.look(&s, None, SystemTime::now()),
            Verdict::Wait,
            "first sight of a change"
        );
        std::fs::write(&a, "A, half and the rest").unwrap();
        assert_eq!(
            watch.look(&s, None, SystemTime::now()),
            Verdict::Wait,
            "still being written"
        );
        assert_eq!(watch.look(&s, None, SystemTime::now()), reload(&[&a]), "held still");
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
                watch.look(&in_force, Some(&failed), SystemTime::now()),
                Verdict::Wait,
                "nothing new to try"
            );
        }
        // The key arrives (a Secret updated after its ConfigMap): worth another try.
        std::fs::write(&k2, "K2").unwrap();
        assert_eq!(watch.look(&in_force, Some(&failed), SystemTime::now()), Verdict::Wait);
        assert_eq!(watch.look(&in_force, Some(&failed), SystemTime::now()), reload(&[&k2]));
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
        assert_eq!(watch.look(&in_force, Some(&failed), SystemTime::now()), Verdict::Wait);
        // The operator reverts the file: the reload that follows clears the reported failure.
        std::fs::write(&config, "v1").unwrap();
        assert_eq!(watch.look(&in_force, Some(&failed), SystemTime::now()), Verdict::Wait);
        assert_eq!(
            watch.look(&in_force, Some(&failed), SystemTime::now()),
            reload(&[&config])
        );
    }

    /// A time at which the files a test just wrote have settled stamps.
    fn settled() -> SystemTime {
        SystemTime::now() + SETTLED_AFTER + Duration::from_secs(1)
    }

    #[test]
    fn files_whose_settled_stamp_stands_are_not_read_again_until_read_all_is_due() {
        let dir = tempfile::tempdir().unwrap();
        let s = sources(dir.path(), &[("a.pem", "A"), ("b.crl", "B")]);
        let mut watch = ChangeWatch::default();
        let at = settled();
        assert_eq!(watch.look(&s, None, at), Verdict::Wait);
        assert_eq!(watch.files_read, 2, "the first look reads everything");
        assert_eq!(watch.look(&s, None, at + Duration::from_secs(1)), Verdict::Wait);
        assert_eq!(watch.files_read, 0, "both stamps stand");
        std::fs::write(dir.path().join("b.crl"), "B2").unwrap();
        let after_write = settled();
        assert_eq!(watch.look(&s, None, after_write), Verdict::Wait);
        assert_eq!(watch.files_read, 1, "only the rewritten file");
        assert_eq!(watch.look(&s, None, after_write), reload(&[&dir.path().join("b.crl")]));
        // (No reload happened here, so the change is seen afresh.)
        assert_eq!(watch.look(&s, None, at + READ_ALL_EVERY), Verdict::Wait);
        assert_eq!(watch.files_read, 2, "every file, once READ_ALL_EVERY has passed");
    }

    #[test]
    fn a_file_changed_too_recently_is_read_at_every_look() {
        let dir = tempfile::tempdir().unwrap();
        let s = sources(dir.path(), &[("a.pem", "A")]);
        let mut watch = ChangeWatch::default();
        for _ in 0..3 {
            assert_eq!(watch.look(&s, None, SystemTime::now()), Verdict::Wait);
            assert_eq!(watch.files_read, 1, "its stamp is younger than SETTLED_AFTER");
        }
    }

    #[test]
    fn a_rewrite_that_keeps_the_size_and_the_mtime_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let s = sources(dir.path(), &[("a.crl", "AAAA")]);
        let a = dir.path().join("a.crl");
        let mtime = std::fs::metadata(&a).unwrap().modified().unwrap();
        let mut watch = ChangeWatch::default();
        assert_eq!(watch.look(&s, None, settled()), Verdict::Wait);
        // As `cp -p` or `rsync -t` leave it: same length, the old mtime; only the ctime moves.
        std::fs::write(&a, "BBBB").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&a)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        assert_eq!(std::fs::metadata(&a).unwrap().modified().unwrap(), mtime);
        let at = settled();
        assert_eq!(watch.look(&s, None, at), Verdict::Wait);
        assert_eq!(watch.look(&s, None, at), reload(&[&a]));
    }

    #[test]
    fn a_symlink_swapped_to_another_file_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        // As a Kubernetes volume updates: the named path is a symlink to a new file.
        std::fs::write(dir.path().join("v1"), "A").unwrap();
        std::fs::write(dir.path().join("v2"), "B").unwrap();
        let link = dir.path().join("ca.pem");
        std::os::unix::fs::symlink("v1", &link).unwrap();
        let mut s = SourceFiles::default();
        s.record(&link, b"A");
        let mut watch = ChangeWatch::default();
        assert_eq!(watch.look(&s, None, settled()), Verdict::Wait);
        let swapped = dir.path().join("ca.pem.new");
        std::os::unix::fs::symlink("v2", &swapped).unwrap();
        std::fs::rename(&swapped, &link).unwrap();
        let at = settled();
        assert_eq!(watch.look(&s, None, at), Verdict::Wait);
        assert_eq!(watch.look(&s, None, at), reload(&[&link]));
    }

    #[test]
    fn a_file_put_back_as_it_was_needs_no_reload() {
        let dir = tempfile::tempdir().unwrap();
        let s = sources(dir.path(), &[("a.pem", "A")]);
        let a = dir.path().join("a.pem");
        let mut watch = ChangeWatch::default();
        std::fs::write(&a, "B").unwrap();
        assert_eq!(watch.look(&s, None, SystemTime::now()), Verdict::Wait);
        std::fs::write(&a, "A").unwrap();
        assert_eq!(watch.look(&s, None, SystemTime::now()), Verdict::Wait);
        std::fs::write(&a, "B").unwrap();
        assert_eq!(
            watch.look(&s, None, SystemTime::now()),
            Verdict::Wait,
            "the earlier sighting was forgotten"
        );
        assert_eq!(watch.look(&s, None, SystemTime::now()), reload(&[&a]));
    }
}
