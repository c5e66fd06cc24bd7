//! Storing an output: a deterministic gzip tar into the CAS (skipped when
//! the server has it), then the entry under the key.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::entry::{AcEntry, is_key};
use super::pack::{self, PackError};
use super::{RemoteCache, RemoteError, auth, io};

/// What a store did.
#[derive(Debug, Clone)]
pub struct Stored {
    pub tar_sha256: String,
    pub size: u64,
    /// False when the server already had the blob.
    pub uploaded_blob: bool,
}

impl RemoteCache {
    /// Stores `staged_dir` (whose tree digest is `output_digest`) under `key`:
    /// the archive into the CAS (skipped if already there), then the AC entry.
    pub fn store_output(&self, key: &str, staged_dir: &Path, output_digest: &str) -> Result<Stored, RemoteError> {
        if !is_key(key) {
            return Err(RemoteError::InvalidKey(key.into()));
        }
        if let Some(reason) = self.disabled() {
            return Err(RemoteError::Unavailable(reason));
        }
        let (blob, sha, size) = pack_to_temp(staged_dir, output_digest, None)?;

        let uploaded_blob = self.put_blob_if_absent(&sha, size, || {
            blob.reopen().map_err(io("cannot reopen a temporary file"))
        })?;
        let mut entry = AcEntry::packed(sha.clone(), output_digest, size);
        entry.hmac_sha256 = self.secret.as_ref().map(|s| auth::tag(s, key, &entry));
        let json = serde_json::to_vec(&entry).map_err(|e| RemoteError::Io {
            what: "cannot encode the AC entry".into(),
            source: std::io::Error::other(e),
        })?;
        crate::fault::point("upload-entry");
        self.put(self.url("ac", key)?, json.into(), self.timeout, "ac")?;
        Ok(Stored {
            tar_sha256: sha,
            size,
            uploaded_blob,
        })
    }
}

/// The deterministic gzip tar of `staged_dir` in a temporary file (in `dir`,
/// else the system's), with its sha256 and size. Refuses a tree that no
/// longer has the digest `output_digest` (it changed while being read).
pub(super) fn pack_to_temp(
    staged_dir: &Path,
    output_digest: &str,
    dir: Option<&Path>,
) -> Result<(tempfile::NamedTempFile, String, u64), RemoteError> {
    let builder = tempfile::Builder::new().prefix("recipe-upload-").clone();
    let blob = match dir {
        Some(d) => builder.tempfile_in(d),
        None => builder.tempfile(),
    }
    .map_err(io("cannot create a temporary file"))?;
    let hashing = HashingWriter {
        inner: std::io::BufWriter::new(blob.reopen().map_err(io("cannot open a temporary file"))?),
        hasher: Sha256::new(),
        count: 0,
    };
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(hashing, flate2::Compression::fast());
    let gz = pack::pack(staged_dir, gz).map_err(|e| match e {
        PackError::Unsafe(m) => RemoteError::Unsafe(m),
        PackError::Local { what, source } => RemoteError::Io { what, source },
        PackError::Archive(source) => RemoteError::Io {
            what: "cannot write the archive".into(),
            source,
        },
    })?;
    let mut hashing = gz.finish().map_err(io("cannot compress the archive"))?;
    hashing.inner.flush().map_err(io("cannot write a temporary file"))?;
    let (sha, size) = (hex::encode(hashing.hasher.finalize()), hashing.count);
    // The tree may have changed while we read it: never store a lie.
    let now = crate::outputs::key::tree_digest(staged_dir).map_err(io("cannot hash the staged output"))?;
    if now != output_digest {
        return Err(RemoteError::Changed {
            dir: staged_dir.to_path_buf(),
        });
    }
    Ok((blob, sha, size))
}

struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
