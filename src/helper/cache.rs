//! The private on-disk credential cache of `credential-process`: many SDK processes starting at
//! once share one CreateSession. Entries live in `$XDG_CACHE_HOME/rolegate/` (else
//! `~/.cache/rolegate/`, directory 0700, files 0600), named by the SHA-256 of the request
//! parameters, the certificate and the arguments that choose its key. A per-entry lock file
//! serialises the processes that miss, and entries are replaced by atomic rename, so readers
//! never see half-written files.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::home::Home;
use crate::client::SessionCredentials;

/// Cached credentials are reused only with more than this much lifetime left (botocore
/// refreshes credentials within 15 minutes of expiry, so it must never receive such ones).
pub const MIN_REMAINING: time::Duration = time::Duration::minutes(15);

/// What an entry written while a process waited for its lock must have left for that process
/// to reuse it. With sessions too short to ever keep [`MIN_REMAINING`] (`--session-duration
/// 900`), each process queued behind a fetch would otherwise fetch again in turn, and the last
/// would give up at the timeout; the credentials the holder just fetched are as fresh as its
/// own would be (botocore only refuses credentials already expired).
pub const MIN_REMAINING_AFTER_WAIT: time::Duration = time::Duration::minutes(1);

/// What cached credentials must have left to stand in for a fetch that failed (the server down
/// or refusing): as fresh credentials go, they are the best there is, and botocore only refuses
/// credentials already expired.
pub const MIN_REMAINING_ON_FAILURE: time::Duration = time::Duration::minutes(1);

/// The most a cache entry may hold (one holds some 2 KiB): anything larger, or not a regular
/// file, is no entry of ours and is not read whole.
const MAX_ENTRY_BYTES: u64 = 64 << 10;

/// The credentials cached for `key` in `dir` if they have more than [`MIN_REMAINING`] left at
/// `now`, read without the lock: entries are replaced by atomic rename, so a reader sees a
/// whole one, and a hit need not wait for a process that holds the lock (stopped, or fetching
/// for another reason). Only from a directory of this user's that no one else may write (as
/// [`CacheSlot::try_lock`] checks, which warns of one that is not).
pub fn read_unlocked(dir: &Path, key: &CacheKey, now: OffsetDateTime) -> Option<SessionCredentials> {
    check_private_dir(dir).ok()?;
    read_entry(&entry_path(dir, key), MIN_REMAINING, now)
}

/// The credentials cached for `key` in `dir` if they have more than
/// [`MIN_REMAINING_ON_FAILURE`] left at `now`, read without the lock ([`read_unlocked`]): what
/// a fetch that failed may hand out instead.
pub fn read_unlocked_on_failure(dir: &Path, key: &CacheKey, now: OffsetDateTime) -> Option<SessionCredentials> {
    check_private_dir(dir).ok()?;
    read_entry(&entry_path(dir, key), MIN_REMAINING_ON_FAILURE, now)
}

/// Whether the entry for `key` in `dir` was written, or checked with the server
/// ([`mark_checked`]), less than `interval` ago.
pub fn checked_within(dir: &Path, key: &CacheKey, interval: std::time::Duration) -> bool {
    std::fs::metadata(entry_path(dir, key))
        .and_then(|m| m.modified())
        .is_ok_and(|at| at.elapsed().is_ok_and(|age| age < interval))
}

/// Marks the entry for `key` in `dir` checked now (its modification time; best effort: an
/// entry not marked is checked again by the next run).
pub fn mark_checked(dir: &Path, key: &CacheKey) {
    let opened = OpenOptions::new().write(true).open(entry_path(dir, key));
    if let Ok(file) = opened {
        let _ = file.set_modified(std::time::SystemTime::now());
    }
}

/// The file of the entry for `key` in `dir`.
fn entry_path(dir: &Path, key: &CacheKey) -> PathBuf {
    dir.join(format!("{}.json", key.0))
}

/// The entry at `path` if it has more than `min_remaining` left at `now`.
fn read_entry(path: &Path, min_remaining: time::Duration, now: OffsetDateTime) -> Option<SessionCredentials> {
    let bytes = Zeroizing::new(crate::fsutil::read_bounded(path, MAX_ENTRY_BYTES).ok()?);
    let entry: Entry = serde_json::from_slice(&bytes).ok()?;
    let expiry = parse_expiration(&entry.expiration)?;
    (expiry - now > min_remaining).then(|| SessionCredentials {
        access_key_id: entry.access_key_id,
        secret_access_key: Zeroizing::new(entry.secret_access_key),
        session_token: Zeroizing::new(entry.session_token),
        expiration: entry.expiration,
    })
}

/// Environment variable that disables the cache when set to a non-empty value other than `0`.
pub const DISABLE_ENV: &str = "ROLEGATE_NO_CACHE";

/// One cache entry: a locked slot for one request key.
pub struct CacheSlot {
    path: PathBuf,
    // Held (locked) for the slot's lifetime; the lock is released when the file is closed.
    _lock: File,
}

impl CacheSlot {
    /// Opens and exclusively locks the slot for `key`, creating the cache directory if needed;
    /// `None` while another process holds it (it is fetching the same credentials).
    pub fn try_lock(dir: &Path, key: &CacheKey) -> Result<Option<Self>, String> {
        crate::fsutil::create_private_dir(dir)
            .map_err(|e| format!("cannot create the cache directory {}: {e}", dir.display()))?;
        check_private_dir(dir)?;
        let lock_path = dir.join(format!("{}.lock", key.0));
        let lock = private_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| format!("cannot open the cache lock {}: {e}", lock_path.display()))?;
        match lock.try_lock() {
            Ok(()) => Ok(Some(Self {
                path: entry_path(dir, key),
                _lock: lock,
            })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", lock_path.display())),
        }
    }

    /// The cached credentials if they have more than [`MIN_REMAINING`] left at `now` — or,
    /// for a process that has waited for the lock since `waited_since`, more than
    /// [`MIN_REMAINING_AFTER_WAIT`] when they were written while it waited.
    pub fn read_valid(
        &self,
        now: OffsetDateTime,
        waited_since: Option<std::time::SystemTime>,
    ) -> Option<SessionCredentials> {
        let min_remaining = match waited_since.is_some_and(|since| self.written_since(since)) {
            true => MIN_REMAINING_AFTER_WAIT,
            false => MIN_REMAINING,
        };
        self.read_with_more_than(min_remaining, now)
    }

    /// The cached credentials if they were written at `since` or later (by a process this one
    /// waited for) and have more than [`MIN_REMAINING_AFTER_WAIT`] left at `now`.
    pub fn read_written_since(&self, since: std::time::SystemTime, now: OffsetDateTime) -> Option<SessionCredentials> {
        match self.written_since(since) {
            true => self.read_with_more_than(MIN_REMAINING_AFTER_WAIT, now),
            false => None,
        }
    }

    /// The cached credentials if they have more than [`MIN_REMAINING_ON_FAILURE`] left at
    /// `now`: what a process whose fetch failed hands out instead.
    pub fn read_on_failure(&self, now: OffsetDateTime) -> Option<SessionCredentials> {
        self.read_with_more_than(MIN_REMAINING_ON_FAILURE, now)
    }

    /// The cached credentials if they have more than `min_remaining` left at `now`.
    fn read_with_more_than(&self, min_remaining: time::Duration, now: OffsetDateTime) -> Option<SessionCredentials> {
        read_entry(&self.path, min_remaining, now)
    }

    /// Whether the entry was written at `since` or later (a second earlier included: file
    /// times are coarser than the clock, and an entry that young is as fresh).
    fn written_since(&self, since: std::time::SystemTime) -> bool {
        let since = since.checked_sub(std::time::Duration::from_secs(1)).unwrap_or(since);
        std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .is_ok_and(|written| written >= since)
    }

    /// Stores `creds` (private temporary file, then atomic rename over the entry).
    pub fn store(&self, creds: &SessionCredentials) -> Result<(), String> {
        let entry = Entry {
            access_key_id: creds.access_key_id.clone(),
            secret_access_key: creds.secret_access_key.to_string(),
            session_token: creds.session_token.to_string(),
            expiration: creds.expiration.clone(),
        };
        let json = Zeroizing::new(serde_json::to_vec(&entry).map_err(|e| e.to_string())?);
        drop(entry);
        write_atomic_private(&self.path, &json)?;
        if let Some(dir) = self.path.parent() {
            prune(dir, std::time::SystemTime::now());
        }
        Ok(())
    }
}

/// No cached credentials outlive this: the longest session (12 hours), and an hour more.
const ENTRY_LIFETIME: std::time::Duration = std::time::Duration::from_secs(13 * 3600);

/// A temporary file older than this was left by a writer that died before its rename.
const TEMPORARY_LIFETIME: std::time::Duration = std::time::Duration::from_secs(60);

/// Deletes what no process can use any more (best effort): entries (and their locks) last
/// written longer ago than [`ENTRY_LIFETIME`], and temporary files left by a writer that died.
/// Each certificate renewal starts new entries, so the folder would otherwise grow for good.
fn prune(dir: &Path, now: std::time::SystemTime) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let age = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|written| now.duration_since(written).ok());
        let entry_exists = |stem: &str| dir.join(format!("{stem}.json")).exists();
        if age.is_some_and(|age| is_stale(name, age, entry_exists)) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether the cache file `name`, last written `age` ago, can be deleted: an entry
/// (`{64 hex}.json`) older than [`ENTRY_LIFETIME`]; a lock (`{64 hex}.lock`, created once and
/// never written) of that age whose entry is gone (`entry_exists` says, by the key) — a lock
/// deleted while a process holds it would cost one more fetch; or a temporary file
/// (`.{name}.{hex}.tmp`) older than [`TEMPORARY_LIFETIME`].
fn is_stale(name: &str, age: std::time::Duration, entry_exists: impl Fn(&str) -> bool) -> bool {
    let is_key = |stem: &str| stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_hexdigit());
    if let Some(stem) = name.strip_suffix(".json") {
        return is_key(stem) && age > ENTRY_LIFETIME;
    }
    if let Some(stem) = name.strip_suffix(".lock") {
        return is_key(stem) && age > ENTRY_LIFETIME && !entry_exists(stem);
    }
    name.starts_with('.') && name.ends_with(".tmp") && age > TEMPORARY_LIFETIME
}

/// The SHA-256 (hex) naming one cache entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheKey(String);

impl CacheKey {
    /// Hashes every input that changes the answer: endpoint, region, ARNs, duration, session
    /// name, the key arguments, the certificate and chain (each length-prefixed, so fields
    /// cannot run together).
    pub fn new(fields: &[&str], certificate_der: &[u8], chain_der: &[Vec<u8>]) -> Self {
        let mut h = Sha256::new();
        h.update(b"rolegate-credential-cache-v1");
        for part in fields
            .iter()
            .map(|f| f.as_bytes())
            .chain([certificate_der])
            .chain(chain_der.iter().map(Vec::as_slice))
        {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        Self(hex::encode(h.finalize()))
    }
}

/// The cache directory: `$XDG_CACHE_HOME/rolegate`, else `~/.cache/rolegate` — the home
/// folder being `HOME`, or this user's in the user database where `HOME` is not set, as
/// botocore finds it ([`Home`]). A relative `XDG_CACHE_HOME` is ignored, as the XDG Base
/// Directory specification says (it would put credentials in whatever folder the SDK runs in).
/// Without an absolute home folder to fall back on, why there is no cache directory (the
/// caller warns and fetches directly).
pub fn default_dir() -> Result<PathBuf, String> {
    dir_from(std::env::var_os("XDG_CACHE_HOME"), &Home::of_this_user())
}

/// [`default_dir`] for this value of `XDG_CACHE_HOME` and this home folder.
fn dir_from(xdg_cache_home: Option<std::ffi::OsString>, home: &Home) -> Result<PathBuf, String> {
    if let Some(xdg) = xdg_cache_home.map(PathBuf::from).filter(|v| v.is_absolute()) {
        return Ok(xdg.join("rolegate"));
    }
    match home.absolute() {
        Ok(home) => Ok(home.join(".cache").join("rolegate")),
        Err(why) if home.folder().is_none() => Err(format!("{why}: set HOME or XDG_CACHE_HOME to an absolute path")),
        Err(why) => Err(format!(
            "{why}: not keeping credentials under it (that is whatever folder the SDK runs in); set HOME or \
             XDG_CACHE_HOME to an absolute path"
        )),
    }
}

/// Whether [`DISABLE_ENV`] asks for no cache.
pub fn disabled_by_env() -> bool {
    std::env::var(DISABLE_ENV).is_ok_and(|v| asks_for_no_cache(&v))
}

/// Whether a value of [`DISABLE_ENV`] asks for no cache: any but the empty one and the usual
/// spellings of false (`0`, `false`, `no`, `off`, in any case), as the SDKs read their boolean
/// variables.
fn asks_for_no_cache(value: &str) -> bool {
    let value = value.trim();
    !(value.is_empty()
        || ["0", "false", "no", "off"]
            .iter()
            .any(|off| value.eq_ignore_ascii_case(off)))
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339).
pub fn parse_expiration(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// Writes `data` to `path` atomically, readable by this user only (see
/// [`crate::fsutil::replace_file`]).
pub fn write_atomic_private(path: &Path, data: &[u8]) -> Result<(), String> {
    crate::fsutil::replace_file(path, data, 0o600, None).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The cache directory must be the user's own and open to nobody else: in a folder others
/// can write to, they could swap an entry for credentials of their choosing, or read what is
/// written there (a folder the user did not create, e.g. a shared `XDG_CACHE_HOME`).
fn check_private_dir(dir: &Path) -> Result<(), String> {
    crate::fsutil::check_own_dir(dir, "the cache directory", 0o077, "not keeping credentials there")
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    expiration: String,
}

fn private_options() -> OpenOptions {
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}

#[cfg(test)]
mod tests {

    #[test]
    fn only_what_no_process_can_use_is_pruned() {
        let key = "ab".repeat(32);
        let hour = std::time::Duration::from_secs(3600);
        let (json, lock) = (format!("{key}.json"), format!("{key}.lock"));
        let gone = |_: &str| false;
        let there = |_: &str| true;
        assert!(
            !is_stale(&json, 12 * hour, gone),
            "a 12-hour session may still be valid"
        );
        assert!(is_stale(&json, 14 * hour, gone));
        assert!(is_stale(&lock, 14 * hour, gone));
        assert!(!is_stale(&lock, 14 * hour, there), "an old lock of a live entry stays");
        assert!(!is_stale(&lock, hour, gone));
        let tmp = format!(".{key}.json.0011aabb.tmp");
        assert!(!is_stale(&tmp, std::time::Duration::from_secs(30), gone));
        assert!(is_stale(&tmp, std::time::Duration::from_secs(120), gone));
        // Anything else in the folder is not the cache's.
        assert!(!is_stale("notes.json", 100 * hour, gone));
        assert!(!is_stale("README", 100 * hour, gone));
    }

    #[test]
    fn storing_prunes_the_folder() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("rolegate");
        let old = dir.join(format!("{}.json", "cd".repeat(32)));
        let old_lock = dir.join(format!("{}.lock", "cd".repeat(32)));
        let key = CacheKey::new(&["x"], b"cert", &[]);
        let slot = CacheSlot::try_lock(&dir, &key).unwrap().unwrap();
        for f in [&old, &old_lock] {
            std::fs::write(f, b"{}").unwrap();
            let day_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
            std::fs::File::options()
                .write(true)
                .open(f)
                .unwrap()
                .set_modified(day_ago)
                .unwrap();
        }
        let creds = SessionCredentials {
            access_key_id: "ASIA".into(),
            secret_access_key: Zeroizing::new("s".into()),
            session_token: Zeroizing::new("t".into()),
            expiration: "2099-01-01T00:00:00Z".into(),
        };
        slot.store(&creds).unwrap();
        assert!(!old.exists());
        // Its lock goes at the latest with the next store (the entry may have been looked at
        // after the lock).
        slot.store(&creds).unwrap();
        assert!(!old_lock.exists());
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .collect();
        assert_eq!(names, [format!("{}.json", key.0)]);
    }
    use super::*;

    #[test]
    fn the_cache_is_off_for_any_value_but_a_false_one() {
        for on in ["", "0", "false", "FALSE", "no", "off", " 0 "] {
            assert!(!asks_for_no_cache(on), "{on:?}");
        }
        for off in ["1", "true", "yes", "on", "please"] {
            assert!(asks_for_no_cache(off), "{off:?}");
        }
    }
    use time::macros::datetime;

    fn creds(expiration: &str) -> SessionCredentials {
        SessionCredentials {
            access_key_id: "ASIAAAAAAAAAAAAAAAAA".into(),
            secret_access_key: Zeroizing::new("s".repeat(40)),
            session_token: Zeroizing::new("tok".into()),
            expiration: expiration.into(),
        }
    }

    /// A hit needs no lock: credentials cached are read while another process holds it (one
    /// stopped with Ctrl-Z in the middle of its `aws` command held every other one 30 s).
    #[test]
    fn a_hit_is_read_while_another_process_holds_the_lock() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("rolegate");
        let key = CacheKey::new(&["x"], b"cert", &[]);
        let now = datetime!(2026-12-06 12:00 UTC);
        let holder = CacheSlot::try_lock(&dir, &key).unwrap().unwrap();
        assert!(read_unlocked(&dir, &key, now).is_none(), "nothing cached yet");
        holder.store(&creds("2026-12-06T13:00:00Z")).unwrap();
        assert!(CacheSlot::try_lock(&dir, &key).unwrap().is_none(), "still held");
        let hit = read_unlocked(&dir, &key, now).unwrap();
        assert_eq!(hit.expiration, "2026-12-06T13:00:00Z");
        // ...with more than 15 minutes left, as a locked read would want.
        assert!(read_unlocked(&dir, &key, datetime!(2026-12-06 12:50 UTC)).is_none());
    }

    /// An entry that is no file of ours (a device, a pipe) is a miss, not read whole or waited on.
    #[cfg(unix)]
    #[test]
    fn an_entry_that_is_not_a_file_is_a_miss() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("rolegate");
        let key = CacheKey::new(&["x"], b"cert", &[]);
        drop(CacheSlot::try_lock(&dir, &key).unwrap());
        let entry = dir.join(format!("{}.json", key.0));
        std::os::unix::fs::symlink("/dev/zero", &entry).unwrap();
        assert!(read_unlocked(&dir, &key, datetime!(2026-12-06 12:00 UTC)).is_none());
        std::fs::remove_file(&entry).unwrap();
        let made = std::process::Command::new("mkfifo").arg(&entry).status().unwrap();
        assert!(made.success());
        assert!(read_unlocked(&dir, &key, datetime!(2026-12-06 12:00 UTC)).is_none());
    }

    #[test]
    fn a_relative_xdg_cache_home_is_ignored() {
        let home = Home::Variable("/home/u".into());
        let dir = |xdg: Option<&str>| dir_from(xdg.map(Into::into), &home);
        assert_eq!(dir(Some("/var/cache/u")), Ok(PathBuf::from("/var/cache/u/rolegate")));
        for ignored in [None, Some(""), Some("relcache"), Some("./c")] {
            assert_eq!(
                dir(ignored),
                Ok(PathBuf::from("/home/u/.cache/rolegate")),
                "{ignored:?}"
            );
        }
        // Nor a relative or empty HOME: no cache then, rather than one in the working folder,
        // and a reason for the warning.
        let advice = "is not an absolute path: not keeping credentials under it (that is whatever folder the SDK \
                      runs in); set HOME or XDG_CACHE_HOME to an absolute path";
        assert_eq!(
            dir_from(Some("relcache".into()), &Home::Variable("relhome".into())),
            Err(format!("HOME ('relhome') {advice}"))
        );
        assert_eq!(
            dir_from(None, &Home::Variable("".into())),
            Err(format!("HOME (empty) {advice}"))
        );
        assert_eq!(
            dir_from(Some("/c".into()), &Home::Unknown),
            Ok(PathBuf::from("/c/rolegate"))
        );
    }

    /// Without `HOME`, the cache is under this user's home folder in the user database, as
    /// botocore finds `~` (a systemd service, a cron job): it was off. One that is not an
    /// absolute path, or none, leaves it off, saying so.
    #[test]
    fn without_home_the_cache_is_under_the_user_databases_home_folder() {
        assert_eq!(
            dir_from(None, &Home::UserDatabase("/var/lib/app".into())),
            Ok(PathBuf::from("/var/lib/app/.cache/rolegate"))
        );
        assert_eq!(
            dir_from(Some("relcache".into()), &Home::UserDatabase("/var/lib/app".into())),
            Ok(PathBuf::from("/var/lib/app/.cache/rolegate"))
        );
        assert_eq!(
            dir_from(None, &Home::UserDatabase("".into())),
            Err(
                "HOME is not set, and this user's home folder in the user database (empty) is not an absolute path: \
                 not keeping credentials under it (that is whatever folder the SDK runs in); set HOME or \
                 XDG_CACHE_HOME to an absolute path"
                    .to_owned()
            )
        );
        assert_eq!(
            dir_from(None, &Home::Unknown),
            Err(
                "HOME is not set, and the user database has no entry for this user: set HOME or XDG_CACHE_HOME to \
                 an absolute path"
                    .to_owned()
            )
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_cache_directory_others_may_write_to_is_not_used() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let open = d.path().join("rolegate");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let key = CacheKey::new(&["x"], b"cert", &[]);
        let error = CacheSlot::try_lock(&open, &key).err().unwrap();
        assert_eq!(
            error,
            format!(
                "the cache directory {} is open to other users (mode 777): not keeping credentials there; `chmod 700` it",
                open.display()
            )
        );
        assert_eq!(std::fs::read_dir(&open).unwrap().count(), 0, "nothing written there");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(CacheSlot::try_lock(&open, &key).unwrap().is_some());
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_is_replaced_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let elsewhere = d.path().join("elsewhere");
        std::fs::write(&elsewhere, "theirs").unwrap();
        let entry = d.path().join("entry.json");
        std::os::unix::fs::symlink(&elsewhere, &entry).unwrap();
        write_atomic_private(&entry, b"mine").unwrap();
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "theirs");
        assert!(!std::fs::symlink_metadata(&entry).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(&entry).unwrap(), "mine");
    }

    #[test]
    fn keys_separate_every_field() {
        let a = CacheKey::new(&["ab", "c"], b"cert", &[]);
        assert_ne!(a, CacheKey::new(&["a", "bc"], b"cert", &[]));
        assert_ne!(a, CacheKey::new(&["ab", "c"], b"cert2", &[]));
        assert_ne!(a, CacheKey::new(&["ab", "c"], b"cert", &[b"i".to_vec()]));
        assert_eq!(a, CacheKey::new(&["ab", "c"], b"cert", &[]));
        assert_eq!(a.0.len(), 64);
    }

    #[test]
    fn reuses_only_with_more_than_15_minutes_left() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("rolegate");
        let key = CacheKey::new(&["x"], b"c", &[]);
        let slot = CacheSlot::try_lock(&d, &key).unwrap().unwrap();
        // Held: another process (here, another handle) waits.
        assert!(CacheSlot::try_lock(&d, &key).unwrap().is_none());
        let now = datetime!(2026-01-01 00:00:00 UTC);
        assert!(slot.read_valid(now, None).is_none());
        slot.store(&creds("2026-01-01T00:15:01Z")).unwrap();
        assert_eq!(
            slot.read_valid(now, None).unwrap().access_key_id,
            "ASIAAAAAAAAAAAAAAAAA"
        );
        assert!(slot.read_valid(now + time::Duration::seconds(1), None).is_none());
        // A process that waited while they were written takes them down to a minute left;
        // written before it waited, they need the 15 minutes.
        let waited = Some(std::time::SystemTime::now() - std::time::Duration::from_millis(1));
        let later = now + time::Duration::minutes(14);
        assert!(slot.read_valid(later, waited).is_some());
        assert!(slot.read_valid(later + time::Duration::seconds(1), waited).is_none());
        let long_ago = Some(std::time::SystemTime::now() - std::time::Duration::from_secs(3600));
        assert!(slot.read_valid(now + time::Duration::seconds(1), long_ago).is_some());
        let after = Some(std::time::SystemTime::now() + std::time::Duration::from_secs(3600));
        assert!(slot.read_valid(now + time::Duration::seconds(1), after).is_none());
        // A process whose fetch failed takes them down to a minute left, whoever wrote them.
        assert!(slot.read_on_failure(later).is_some());
        assert!(slot.read_on_failure(later + time::Duration::seconds(1)).is_none());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&d), 0o700);
            assert_eq!(mode(&d.join(format!("{}.json", key.0))), 0o600);
            assert_eq!(mode(&d.join(format!("{}.lock", key.0))), 0o600);
        }
    }
}
