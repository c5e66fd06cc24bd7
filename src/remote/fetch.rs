//! Restoring an output: the entry, then the blob (streamed to disk while
//! hashed, never past its announced size), then the unpacked tree's digest
//! and the caller's checks, before it replaces anything.

use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

use tempfile::{NamedTempFile, TempDir};

use super::blob::{StreamError, copy_checked};
use super::client::Get;
use super::entry::{AcEntry, ENCODING_TAR_GZIP, MAX_AC_BYTES, is_key, parse_ac, short};
use super::pack::{self, PackError};
use super::{RemoteCache, RemoteError, auth, io};

/// A verified output, moved into the requested directory.
#[derive(Debug, Clone)]
pub struct FetchedOutput {
    pub path: PathBuf,
    pub output_digest: String,
    pub tar_sha256: String,
    /// Bytes transferred.
    pub size: u64,
    pub duration_ms: u64,
}

/// The result of a lookup. Only `Hit` carries anything usable; the others say
/// why, for the report ("remote miss", "remote corrupt: …").
#[derive(Debug, Clone)]
pub enum Fetched {
    Hit(FetchedOutput),
    /// No entry, or an entry whose blob is gone (evicted).
    Miss {
        reason: String,
    },
    /// An entry that failed verification: ignored.
    Corrupt {
        reason: String,
    },
    /// The server could not be reached or answered with an error.
    Unavailable {
        reason: String,
    },
    /// An entry without a valid tag while a secret is set: ignored.
    Untrusted {
        reason: String,
    },
    /// A verified download that failed the caller's post-build checks.
    Rejected {
        reason: String,
    },
}

impl Fetched {
    pub fn hit(self) -> Option<FetchedOutput> {
        match self {
            Fetched::Hit(out) => Some(out),
            _ => None,
        }
    }

    /// One line for a report's reasons.
    pub fn describe(&self) -> String {
        self.describe_as("remote")
    }

    /// [`Self::describe`] for the cache called `what` ("local store hit …").
    pub fn describe_as(&self, what: &str) -> String {
        match self {
            Fetched::Hit(out) => format!("{what} hit ({} bytes, {} ms)", out.size, out.duration_ms),
            Fetched::Miss { reason } => format!("{what} miss: {reason}"),
            Fetched::Corrupt { reason } => format!("{what} corrupt: {reason}"),
            Fetched::Unavailable { reason } => format!("{what} unavailable: {reason}"),
            Fetched::Untrusted { reason } => format!("{what} untrusted: {reason}"),
            Fetched::Rejected { reason } => format!("{what} rejected: {reason}"),
        }
    }

    /// Something a person should hear about (a corrupt, unreachable or
    /// untrusted cache, or an output that failed verification).
    pub fn warning(&self) -> Option<String> {
        self.warning_as("remote")
    }

    pub fn warning_as(&self, what: &str) -> Option<String> {
        matches!(
            self,
            Fetched::Corrupt { .. }
                | Fetched::Unavailable { .. }
                | Fetched::Untrusted { .. }
                | Fetched::Rejected { .. }
        )
        .then(|| self.describe_as(what))
    }
}

impl RemoteCache {
    /// Looks `key` up and, when the entry verifies, moves the output into
    /// `dest_dir` (replacing it). Local I/O problems are errors; everything
    /// about the remote side is a `Fetched` with a reason.
    pub fn fetch_output(&self, key: &str, dest_dir: &Path) -> Result<Fetched, RemoteError> {
        self.fetch_output_checked(key, dest_dir, &|_| Ok(()))
    }

    /// [`Self::fetch_output`], with `accept` run on the unpacked and verified
    /// output before it replaces `dest_dir`: an error from it (the reason) is
    /// a `Fetched::Rejected` and nothing of the output is kept.
    pub fn fetch_output_checked(
        &self,
        key: &str,
        dest_dir: &Path,
        accept: &dyn Fn(&Path) -> Result<(), String>,
    ) -> Result<Fetched, RemoteError> {
        if !is_key(key) {
            return Err(RemoteError::InvalidKey(key.into()));
        }
        if let Some(reason) = self.disabled() {
            return Ok(Fetched::Unavailable { reason });
        }
        let started = Instant::now();
        let entry = match self.read_entry(key) {
            Ok(entry) => entry,
            Err(not_used) => return Ok(not_used),
        };
        let parent = dest_dir
            .parent()
            .ok_or_else(|| RemoteError::Unavailable(format!("{} has no parent", dest_dir.display())))?;
        std::fs::create_dir_all(parent).map_err(io(format!("cannot create {}", parent.display())))?;
        let blob = match self.download_blob(&entry, parent)? {
            Ok(blob) => blob,
            Err(not_used) => return Ok(not_used),
        };
        let file = blob.reopen().map_err(io("cannot reopen a temporary file"))?;
        let unpacked = match unpack_verified(&entry, file, parent)? {
            Ok(dir) => dir,
            Err(not_used) => return Ok(not_used),
        };
        install_verified(entry, unpacked, dest_dir, accept, started)
    }

    /// The checked entry under `key` (shape, and tag when a secret is set)
    /// without downloading its blob, or why it is not usable: a planner
    /// learns from it a dependency's output digest, so its dependents' keys.
    pub fn lookup(&self, key: &str) -> Result<AcEntry, Fetched> {
        if !is_key(key) {
            return Err(Fetched::Corrupt {
                reason: format!("`{}` is not a cache key", short(key)),
            });
        }
        if let Some(reason) = self.disabled() {
            return Err(Fetched::Unavailable { reason });
        }
        self.read_entry(key)
    }

    /// The entry under `key`, checked (shape, and tag when a secret is set:
    /// an untrusted entry costs one small GET), or why it is not used.
    fn read_entry(&self, key: &str) -> Result<AcEntry, Fetched> {
        let resp = match self.get("ac", key, self.timeout) {
            Err(reason) => return Err(Fetched::Unavailable { reason }),
            Ok(Get::NotFound) => {
                return Err(Fetched::Miss {
                    reason: "no entry".into(),
                });
            }
            Ok(Get::Found(resp)) => resp,
        };
        let mut body = Vec::new();
        if let Err(e) = resp.take(MAX_AC_BYTES + 1).read_to_end(&mut body) {
            self.failures.fetch_add(1, Ordering::Relaxed);
            return Err(Fetched::Unavailable {
                reason: format!("reading ac/{}: {e}", short(key)),
            });
        }
        let entry = parse_ac(&body).map_err(|reason| Fetched::Corrupt { reason })?;
        if let Some(secret) = &self.secret
            && let Err(reason) = auth::check(secret, key, &entry)
        {
            return Err(Fetched::Untrusted { reason });
        }
        Ok(entry)
    }

    /// The entry's blob in a temporary file in `parent`, streamed to disk
    /// while hashed and never read past its announced size; or why not.
    fn download_blob(&self, entry: &AcEntry, parent: &Path) -> Result<Result<NamedTempFile, Fetched>, RemoteError> {
        if entry.size > self.max_blob {
            return Ok(Err(Fetched::Corrupt {
                reason: format!(
                    "entry claims a blob of {} bytes, more than the {} accepted (--max-size)",
                    entry.size, self.max_blob
                ),
            }));
        }
        let mut blob = tempfile::Builder::new()
            .prefix(".remote-blob-")
            .tempfile_in(parent)
            .map_err(io("cannot create a temporary file"))?;
        let resp = match self.get("cas", &entry.tar_sha256, self.transfer_timeout(entry.size)) {
            Err(reason) => return Ok(Err(Fetched::Unavailable { reason })),
            Ok(Get::NotFound) => {
                return Ok(Err(Fetched::Miss {
                    reason: format!("entry points at blob {} which is gone", short(&entry.tar_sha256)),
                }));
            }
            Ok(Get::Found(resp)) => resp,
        };
        match copy_checked(resp, entry, &mut blob) {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => {
                self.mark_damaged(&entry.tar_sha256);
                return Ok(Err(Fetched::Corrupt { reason }));
            }
            Err(StreamError::Read(e)) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                return Ok(Err(Fetched::Unavailable {
                    reason: format!("reading cas/{}: {e}", short(&entry.tar_sha256)),
                }));
            }
            Err(StreamError::Write(e)) => return Err(io("cannot write a temporary file")(e)),
        }
        Ok(Ok(blob))
    }
}

/// The blob unpacked into a temporary directory in `parent`, whose tree
/// digest matches the entry's; or why not.
pub(super) fn unpack_verified(
    entry: &AcEntry,
    mut file: std::fs::File,
    parent: &Path,
) -> Result<Result<TempDir, Fetched>, RemoteError> {
    // Named like this, a killed run's leftover is removed (`Layout::remove_leftovers`).
    let unpacked = tempfile::Builder::new()
        .prefix(".remote-out-")
        .tempdir_in(parent)
        .map_err(io("cannot create a temporary directory"))?;
    file.rewind().map_err(io("cannot rewind a temporary file"))?;
    let file = std::io::BufReader::new(file);
    let result = if entry.encoding == ENCODING_TAR_GZIP {
        match crate::unpack::decompressor(crate::unpack::Compression::Gzip, Box::new(file)) {
            Ok(data) => pack::unpack(data, unpacked.path()),
            Err(e) => Err(PackError::Archive(e)),
        }
    } else {
        pack::unpack(file, unpacked.path())
    };
    match result {
        Ok(()) => {}
        Err(PackError::Local { what, source }) => return Err(RemoteError::Io { what, source }),
        Err(e) => return Ok(Err(Fetched::Corrupt { reason: e.to_string() })),
    }
    let digest = crate::outputs::key::tree_digest(unpacked.path()).map_err(io("cannot hash the fetched output"))?;
    if digest != entry.output_digest {
        return Ok(Err(Fetched::Corrupt {
            reason: format!(
                "unpacked output has digest {}, the entry says {}",
                short(&digest),
                short(&entry.output_digest)
            ),
        }));
    }
    Ok(Ok(unpacked))
}

/// Replaces `dest_dir` with the verified output.
/// The last step of a restore, from the remote cache or the local store: a
/// verified output the caller still accepts replaces `dest_dir`. A rejected
/// one is dropped and the entry left alone (it may suit another tree).
pub(super) fn install_verified(
    entry: AcEntry,
    unpacked: TempDir,
    dest_dir: &Path,
    accept: &dyn Fn(&Path) -> Result<(), String>,
    started: Instant,
) -> Result<Fetched, RemoteError> {
    if let Err(reason) = accept(unpacked.path()) {
        return Ok(Fetched::Rejected { reason });
    }
    put_in_place(unpacked, dest_dir)?;
    Ok(Fetched::Hit(FetchedOutput {
        path: dest_dir.to_path_buf(),
        output_digest: entry.output_digest,
        tar_sha256: entry.tar_sha256,
        size: entry.size,
        duration_ms: started.elapsed().as_millis() as u64,
    }))
}

pub(super) fn put_in_place(unpacked: TempDir, dest_dir: &Path) -> Result<(), RemoteError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(unpacked.path(), std::fs::Permissions::from_mode(0o755))
        .map_err(io("cannot set the mode of the fetched output"))?;
    crate::fault::point("restore-unpacked");
    match std::fs::remove_dir_all(dest_dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(io(format!("cannot replace {}", dest_dir.display()))(e));
        }
        _ => {}
    }
    let kept = unpacked.keep();
    if let Err(e) = std::fs::rename(&kept, dest_dir) {
        let _ = std::fs::remove_dir_all(&kept);
        return Err(io(format!("cannot move the fetched output to {}", dest_dir.display()))(
            e,
        ));
    }
    Ok(())
}
