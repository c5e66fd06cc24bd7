//! The content-addressed download cache.
//!
//! ```text
//! <cache>/downloads/sha256/<hex>/<file>   verified files only, under their final name
//! <cache>/downloads/tmp/                  downloads in progress (same filesystem: rename is atomic)
//! <cache>/quarantine/<hex>-<file>         downloads that failed verification, never used
//! <cache>/quarantine/<hex>-<file>.from    the URL that served it (a later run reports
//!                                         the mismatch from it without a request)
//! ```
//!
//! A file appears under `sha256/` only by an atomic rename after its hash was
//! checked, so its presence is proof of verification: a hit needs no re-hash.
//!
//! Each file under `tmp/` is `<file>.<pid>.<n>.part` and its writer holds an
//! exclusive `flock` on it until the file is renamed or removed. The kernel
//! drops that lock when the writer dies, even by SIGKILL, so "nobody holds
//! the lock" means "nobody will finish this file": a starting run removes
//! such files. A lock is immune to pid reuse and works across machines
//! sharing the cache over a filesystem with lock support, where "is pid N
//! alive" would not.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::FetchError;

#[derive(Debug, Clone)]
pub struct DownloadCache {
    root: PathBuf,
}

/// A file being written under `tmp/`, locked by this process; removed on
/// drop unless persisted.
pub struct TempFile {
    pub path: PathBuf,
    pub file: File,
    persisted: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl TempFile {
    /// Syncs the data and renames the file to `dest` (its directory created),
    /// so a crash cannot leave a short file under the final name.
    fn persist(mut self, dest: &Path) -> Result<(), FetchError> {
        self.file
            .flush()
            .map_err(|e| FetchError::io("cannot write", &self.path, e))?;
        self.file
            .sync_all()
            .map_err(|e| FetchError::io("cannot sync", &self.path, e))?;
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(|e| FetchError::io("cannot create", dir, e))?;
        }
        std::fs::rename(&self.path, dest).map_err(|e| FetchError::io("cannot move into place", dest, e))?;
        self.persisted = true;
        Ok(())
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Checks an expected sha256 and returns it in lower case.
pub fn normalize_sha256(file: &str, value: &str) -> Result<String, FetchError> {
    let v = value.trim().to_ascii_lowercase();
    if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(v)
    } else {
        Err(FetchError::BadSha256 {
            file: file.to_string(),
            value: value.to_string(),
        })
    }
}

/// A file name must stay inside its cache directory.
pub fn check_file_name(file: &str) -> Result<(), FetchError> {
    if file.is_empty() || file == "." || file == ".." || file.contains('/') || file.contains('\0') {
        return Err(FetchError::BadFileName { file: file.to_string() });
    }
    Ok(())
}

impl DownloadCache {
    /// `cache_dir` is the tool's cache directory (the one holding `downloads/`).
    pub fn new(cache_dir: &Path) -> DownloadCache {
        DownloadCache {
            root: cache_dir.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn downloads(&self) -> PathBuf {
        self.root.join("downloads")
    }

    /// Final place of a verified file (whether or not it exists yet).
    pub fn path_for(&self, sha256: &str, file: &str) -> PathBuf {
        self.downloads().join("sha256").join(sha256).join(file)
    }

    /// The verified file, if it is cached.
    pub fn lookup(&self, sha256: &str, file: &str) -> Option<PathBuf> {
        let p = self.path_for(sha256, file);
        p.is_file().then_some(p)
    }

    /// A quarantined download of `file` under a hash other than `expected`,
    /// when every one of `urls` is known that way: what they serve is known,
    /// so the mismatch needs no new request. One URL left unknown (a mirror
    /// that failed for another reason) may still serve the right file, and
    /// only downloads from these URLs count: two recipes may well fetch
    /// different files under one name. Returns the newest copy's real hash
    /// and path.
    pub fn kept_copy(&self, file: &str, expected: &str, urls: &[String]) -> Option<(String, PathBuf)> {
        let is_hash = |h: &str| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let suffix = format!("-{file}");
        let kept: Vec<(String, PathBuf, String)> = std::fs::read_dir(self.quarantine_dir())
            .ok()?
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let hex = name.strip_suffix(&suffix).filter(|h| is_hash(h) && *h != expected)?;
                let from = std::fs::read_to_string(origin_note(&e.path())).ok()?;
                e.path().is_file().then(|| (hex.to_string(), e.path(), from))
            })
            .collect();
        if urls.is_empty() || !urls.iter().all(|u| kept.iter().any(|(_, _, from)| from == u)) {
            return None;
        }
        kept.into_iter()
            .filter(|(_, _, from)| urls.contains(from))
            .max_by_key(|(_, path, _)| std::fs::metadata(path).and_then(|m| m.modified()).ok())
            .map(|(hex, path, _)| (hex, path))
    }

    pub fn quarantine_dir(&self) -> PathBuf {
        self.root.join("quarantine")
    }

    fn tmp_dir(&self) -> PathBuf {
        self.downloads().join("tmp")
    }

    /// A fresh, uniquely named temporary file for a download of `file`,
    /// locked for as long as the returned value lives.
    pub fn temp_file(&self, file: &str) -> Result<TempFile, FetchError> {
        let dir = self.tmp_dir();
        std::fs::create_dir_all(&dir).map_err(|e| FetchError::io("cannot create", &dir, e))?;
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("{file}.{}.{n}.part", std::process::id()));
            let file = File::options()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| FetchError::io("cannot create", &path, e))?;
            file.lock().map_err(|e| FetchError::io("cannot lock", &path, e))?;
            // A starting run may have removed the file between its creation
            // and the lock (it was unlocked then): the name must still lead
            // to the file we hold, else take another name.
            if same_file(&file, &path) {
                return Ok(TempFile {
                    path,
                    file,
                    persisted: false,
                });
            }
        }
    }

    /// Removes the partial downloads under `tmp/` that no live process has
    /// locked (left by a killed run). Returns how many were removed.
    pub fn clean_stale_temp(&self) -> usize {
        let Ok(entries) = std::fs::read_dir(self.tmp_dir()) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "part") {
                continue;
            }
            let Ok(file) = File::open(&path) else { continue };
            // Held by a live download: not ours to touch.
            if file.try_lock().is_err() {
                continue;
            }
            // We hold its lock: no writer is using it, and one that created
            // it a moment ago will find the name gone and pick another.
            if std::fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
        removed
    }

    /// Moves a temporary file whose content the caller checks itself (a
    /// signed index) to `dest`, synced first like [`DownloadCache::commit`].
    pub fn deliver(&self, tmp: TempFile, dest: &Path) -> Result<(), FetchError> {
        tmp.persist(dest)
    }

    /// Moves a verified temporary file to its final name. The data is synced
    /// first so a crash cannot leave a short file under a verified name.
    pub fn commit(&self, tmp: TempFile, sha256: &str, file: &str) -> Result<PathBuf, FetchError> {
        let dest = self.path_for(sha256, file);
        tmp.persist(&dest)?;
        Ok(dest)
    }

    /// Moves a download that failed verification (or had nothing to be
    /// verified against) out of the way, where nothing will use it.
    /// `url` is noted beside it, so a later run can tell what that URL serves.
    pub fn quarantine(&self, mut tmp: TempFile, actual: &str, file: &str, url: &str) -> Result<PathBuf, FetchError> {
        let dir = self.quarantine_dir();
        std::fs::create_dir_all(&dir).map_err(|e| FetchError::io("cannot create", &dir, e))?;
        let dest = dir.join(format!("{actual}-{file}"));
        std::fs::rename(&tmp.path, &dest).map_err(|e| FetchError::io("cannot move to quarantine", &dest, e))?;
        tmp.persisted = true;
        // Best effort: without the note the copy is only not recognised later.
        let _ = std::fs::write(origin_note(&dest), url);
        Ok(dest)
    }
}

/// Where the URL of a quarantined file is noted.
fn origin_note(quarantined: &Path) -> PathBuf {
    let mut name = quarantined.as_os_str().to_owned();
    name.push(".from");
    PathBuf::from(name)
}

fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_is_checked_and_lowercased() {
        let upper = "AB".repeat(32);
        assert_eq!(normalize_sha256("f", &upper).ok(), Some("ab".repeat(32)));
        assert!(normalize_sha256("f", "").is_err());
        assert!(normalize_sha256("f", &"g".repeat(64)).is_err());
        assert!(normalize_sha256("f", &"a".repeat(63)).is_err());
    }

    #[test]
    fn file_names_cannot_escape() {
        for bad in ["", ".", "..", "a/b", "../x"] {
            assert!(check_file_name(bad).is_err(), "{bad}");
        }
        assert!(check_file_name("x-1.0.tar.gz").is_ok());
    }

    #[test]
    fn temp_files_vanish_unless_committed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DownloadCache::new(dir.path());
        let t = cache.temp_file("a.tar").unwrap();
        let p = t.path.clone();
        assert!(p.exists());
        drop(t);
        assert!(!p.exists());
        let t = cache.temp_file("a.tar").unwrap();
        let hex = "0".repeat(64);
        let dest = cache.commit(t, &hex, "a.tar").unwrap();
        assert_eq!(cache.lookup(&hex, "a.tar"), Some(dest));
    }

    #[test]
    fn a_kept_copy_answers_only_when_every_url_served_it() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DownloadCache::new(dir.path());
        let (actual, expected) = ("1".repeat(64), "2".repeat(64));
        let t = cache.temp_file("a.tar").unwrap();
        let kept = cache.quarantine(t, &actual, "a.tar", "http://origin/a.tar").unwrap();
        let origin = ["http://origin/a.tar".to_string()];
        assert_eq!(
            cache.kept_copy("a.tar", &expected, &origin),
            Some((actual.clone(), kept))
        );
        // A mirror never asked may serve the right file; another URL serves another file.
        let with_mirror = [origin[0].clone(), "http://mirror/a.tar".to_string()];
        assert_eq!(cache.kept_copy("a.tar", &expected, &with_mirror), None);
        assert_eq!(
            cache.kept_copy("a.tar", &expected, &["http://other/a.tar".into()]),
            None
        );
        // The right hash is not a mismatch, and another name is another file.
        assert_eq!(cache.kept_copy("a.tar", &actual, &origin), None);
        assert_eq!(cache.kept_copy("b.tar", &expected, &origin), None);
    }

    #[test]
    fn only_unlocked_partial_files_are_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DownloadCache::new(dir.path());
        let live = cache.temp_file("live.tar").unwrap();
        let mut stale = cache.temp_file("stale.tar").unwrap();
        let stale_path = stale.path.clone();
        // A killed writer: its lock is gone but its file stayed.
        stale.persisted = true;
        drop(stale);
        assert_eq!(cache.clean_stale_temp(), 1);
        assert!(!stale_path.exists());
        assert!(live.path.exists());
        assert_eq!(cache.clean_stale_temp(), 0);
    }
}
