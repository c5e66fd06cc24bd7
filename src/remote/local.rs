//! The local store: package outputs kept in the cache directory in the
//! remote cache's format (`store/ac/<key>` holds an [`AcEntry`],
//! `store/cas/<sha256>` the deterministic gzip tar), so another build
//! directory on this machine (a second checkout, `--build-dir`) restores an
//! unchanged package instead of building it.
//!
//! The store is trusted no more than a remote: the blob's sha256 and the
//! unpacked tree's digest are checked and the caller's post-build checks
//! run before anything replaces the staged output. An entry that fails is
//! removed (and its blob, when the blob is what is damaged), so the rebuild
//! that follows stores a good one in its place. Writers rename complete
//! files into place: concurrent runs sharing a cache see whole entries or
//! none.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::blob::{StreamError, copy_checked};
use super::entry::{AcEntry, MAX_AC_BYTES, is_key, parse_ac, short};
use super::fetch::{install_verified, unpack_verified};
use super::store::pack_to_temp;
use super::{Fetched, RemoteError, Stored, io};

/// The word reports use for this cache ("local store hit …").
pub const LOCAL_STORE: &str = "local store";

pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// The store under the cache directory `cache`.
    pub fn new(cache: &Path) -> LocalStore {
        LocalStore {
            root: cache.join("store"),
        }
    }

    /// Removes what killed runs left in `store/tmp/`: files older than an
    /// hour (a younger one may be another run's, being written now).
    /// Returns how many were removed.
    pub fn remove_stale_temporaries(&self) -> usize {
        let Ok(entries) = std::fs::read_dir(self.root.join("tmp")) else {
            return 0;
        };
        let hour = std::time::Duration::from_secs(3600);
        let stale = |e: &std::fs::DirEntry| {
            e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > hour))
        };
        entries
            .flatten()
            .filter(|e| stale(e) && std::fs::remove_file(e.path()).is_ok())
            .count()
    }

    fn ac(&self, key: &str) -> PathBuf {
        self.root.join("ac").join(key)
    }

    fn cas(&self, sha: &str) -> PathBuf {
        self.root.join("cas").join(sha)
    }

    fn tmp(&self) -> Result<PathBuf, RemoteError> {
        let dir = self.root.join("tmp");
        std::fs::create_dir_all(&dir).map_err(io(format!("cannot create {}", dir.display())))?;
        Ok(dir)
    }

    /// Whether an entry for `key` is there (not whether it verifies).
    pub fn has_entry(&self, key: &str) -> bool {
        is_key(key) && self.ac(key).is_file()
    }

    /// The output digest the entry for `key` names, if there is a readable
    /// one (not verified: a guess for planning, see `scheduler::predict`).
    pub fn entry_digest(&self, key: &str) -> Option<String> {
        if !is_key(key) {
            return None;
        }
        self.read_entry(key).ok().map(|e| e.output_digest)
    }

    /// Stores `staged_dir` (whose tree digest is `output_digest`) under
    /// `key`: the blob first (kept when an identical one is there), then
    /// the entry, each renamed into place whole.
    pub fn store_output(&self, key: &str, staged_dir: &Path, output_digest: &str) -> Result<Stored, RemoteError> {
        if !is_key(key) {
            return Err(RemoteError::InvalidKey(key.into()));
        }
        let tmp = self.tmp()?;
        let (blob, sha, size) = pack_to_temp(staged_dir, output_digest, Some(&tmp))?;
        let cas = self.cas(&sha);
        let exists = std::fs::metadata(&cas).is_ok_and(|m| m.is_file() && m.len() == size);
        if !exists {
            create_parent(&cas)?;
            blob.persist(&cas)
                .map_err(|e| io(format!("cannot store {}", cas.display()))(e.error))?;
        }
        let entry = AcEntry::packed(sha.clone(), output_digest, size);
        let json = serde_json::to_vec(&entry).map_err(|e| RemoteError::Io {
            what: "cannot encode the store entry".into(),
            source: std::io::Error::other(e),
        })?;
        let ac = self.ac(key);
        create_parent(&ac)?;
        let mut file = tempfile::Builder::new()
            .prefix(".entry-")
            .tempfile_in(&tmp)
            .map_err(io("cannot create a temporary file"))?;
        std::io::Write::write_all(&mut file, &json).map_err(io("cannot write the store entry"))?;
        file.persist(&ac)
            .map_err(|e| io(format!("cannot store {}", ac.display()))(e.error))?;
        Ok(Stored {
            tar_sha256: sha,
            size,
            uploaded_blob: !exists,
        })
    }

    /// Looks `key` up and, when the entry verifies and `accept` takes the
    /// unpacked output, moves it into `dest_dir` (replacing it). Local I/O
    /// problems outside the store are errors; a missing or damaged entry is
    /// a `Fetched` with the reason (a damaged one is removed).
    pub fn fetch_output_checked(
        &self,
        key: &str,
        dest_dir: &Path,
        accept: &dyn Fn(&Path) -> Result<(), String>,
    ) -> Result<Fetched, RemoteError> {
        if !is_key(key) {
            return Err(RemoteError::InvalidKey(key.into()));
        }
        let started = Instant::now();
        let entry = match self.read_entry(key) {
            Ok(entry) => entry,
            Err(not_used) => return Ok(self.forget(key, None, not_used)),
        };
        let parent = dest_dir
            .parent()
            .ok_or_else(|| RemoteError::Unavailable(format!("{} has no parent", dest_dir.display())))?;
        std::fs::create_dir_all(parent).map_err(io(format!("cannot create {}", parent.display())))?;
        let blob = match self.open_blob(&entry) {
            Ok(file) => file,
            Err(not_used) => return Ok(self.forget(key, Some(&entry), not_used)),
        };
        let unpacked = match unpack_verified(&entry, blob, parent)? {
            Ok(dir) => dir,
            Err(not_used) => return Ok(self.forget(key, Some(&entry), not_used)),
        };
        // Verified but maybe unusable here (a host tool that cannot be
        // relocated into this tree): then the entry stays for others.
        install_verified(entry, unpacked, dest_dir, accept, started)
    }

    fn read_entry(&self, key: &str) -> Result<AcEntry, Fetched> {
        let path = self.ac(key);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Fetched::Miss {
                    reason: "no entry".into(),
                });
            }
            Err(e) => {
                return Err(Fetched::Unavailable {
                    reason: format!("cannot read {}: {e}", path.display()),
                });
            }
        };
        let mut body = Vec::new();
        if let Err(e) = file.take(MAX_AC_BYTES + 1).read_to_end(&mut body) {
            return Err(Fetched::Unavailable {
                reason: format!("cannot read {}: {e}", path.display()),
            });
        }
        parse_ac(&body).map_err(|reason| Fetched::Corrupt { reason })
    }

    /// The entry's blob, open at its start, after checking its size and
    /// sha256 (one read; blobs are local and small next to a build).
    fn open_blob(&self, entry: &AcEntry) -> Result<std::fs::File, Fetched> {
        let path = self.cas(&entry.tar_sha256);
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Fetched::Miss {
                    reason: format!("entry points at blob {} which is gone", short(&entry.tar_sha256)),
                });
            }
            Err(e) => {
                return Err(Fetched::Unavailable {
                    reason: format!("cannot read {}: {e}", path.display()),
                });
            }
        };
        match copy_checked(&mut file, entry, &mut std::io::sink()) {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => return Err(Fetched::Corrupt { reason }),
            Err(StreamError::Read(e) | StreamError::Write(e)) => {
                return Err(Fetched::Unavailable {
                    reason: format!("cannot read {}: {e}", path.display()),
                });
            }
        }
        Ok(file)
    }

    /// Removes what a failed lookup showed to be damaged, so the rebuild's
    /// output takes its place: the entry always, the blob when its bytes
    /// are wrong (any entry naming it would fail the same way). A miss
    /// whose blob is gone drops the dangling entry.
    fn forget(&self, key: &str, entry: Option<&AcEntry>, why: Fetched) -> Fetched {
        let dangling = matches!(&why, Fetched::Miss { reason } if reason.contains("gone"));
        if matches!(why, Fetched::Corrupt { .. }) || dangling {
            let _ = std::fs::remove_file(self.ac(key));
            if let Some(e) = entry.filter(|_| !dangling) {
                let bad_blob = self.open_blob(e).is_err();
                if bad_blob {
                    let _ = std::fs::remove_file(self.cas(&e.tar_sha256));
                }
            }
        }
        why
    }
}

fn create_parent(path: &Path) -> Result<(), RemoteError> {
    match path.parent() {
        Some(dir) => std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display()))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged(root: &Path) -> String {
        std::fs::create_dir_all(root.join("usr/lib")).expect("mkdir");
        std::fs::write(root.join("usr/lib/libx.so.1"), b"\x7fELF").expect("write");
        crate::outputs::key::tree_digest(root).expect("digest")
    }

    #[test]
    fn round_trip_then_a_damaged_blob_is_corrupt_and_removed() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = LocalStore::new(&tmp.path().join("cache"));
        let digest = staged(&tmp.path().join("a"));
        let key = "a".repeat(64);
        let stored = store.store_output(&key, &tmp.path().join("a"), &digest).expect("store");
        assert!(stored.uploaded_blob && store.has_entry(&key));
        // Stored again: the identical blob is kept.
        assert!(
            !store
                .store_output(&key, &tmp.path().join("a"), &digest)
                .expect("again")
                .uploaded_blob
        );

        let dest = tmp.path().join("b/dest");
        let hit = store.fetch_output_checked(&key, &dest, &|_| Ok(())).expect("fetch");
        assert!(matches!(hit, Fetched::Hit(_)), "{hit:?}");
        assert!(hit.describe_as(LOCAL_STORE).starts_with("local store hit"));
        assert_eq!(crate::outputs::key::tree_digest(&dest).expect("digest"), digest);

        // A rejected output keeps the entry.
        let no = store
            .fetch_output_checked(&key, &tmp.path().join("c/dest"), &|_| Err("no".into()))
            .expect("fetch");
        assert!(matches!(no, Fetched::Rejected { .. }) && store.has_entry(&key));

        let blob = store.cas(&stored.tar_sha256);
        let mut bytes = std::fs::read(&blob).expect("blob");
        bytes[10] ^= 1;
        std::fs::write(&blob, bytes).expect("damage");
        let bad = store
            .fetch_output_checked(&key, &tmp.path().join("d/dest"), &|_| Ok(()))
            .expect("fetch");
        assert!(matches!(bad, Fetched::Corrupt { .. }), "{bad:?}");
        assert!(!store.has_entry(&key) && !blob.exists(), "the damaged entry is gone");
        assert!(!tmp.path().join("d/dest").exists());
    }

    #[test]
    fn only_old_temporaries_are_removed() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = LocalStore::new(tmp.path());
        let dir = store.tmp().expect("tmp dir");
        std::fs::write(dir.join("young"), "x").expect("write");
        let old = std::fs::File::create(dir.join("old")).expect("create");
        let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        old.set_modified(long_ago).expect("set mtime");
        assert_eq!(store.remove_stale_temporaries(), 1);
        assert!(dir.join("young").exists() && !dir.join("old").exists());
    }

    #[test]
    fn hostile_entries_are_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = LocalStore::new(tmp.path());
        assert!(store.fetch_output_checked("../x", tmp.path(), &|_| Ok(())).is_err());
        let key = "b".repeat(64);
        std::fs::create_dir_all(tmp.path().join("store/ac")).expect("mkdir");
        std::fs::write(store.ac(&key), "x".repeat(MAX_AC_BYTES as usize + 10)).expect("write");
        let got = store
            .fetch_output_checked(&key, &tmp.path().join("o/dest"), &|_| Ok(()))
            .expect("fetch");
        assert!(matches!(got, Fetched::Corrupt { .. }), "{got:?}");
        assert!(!store.has_entry(&key));
    }
}
