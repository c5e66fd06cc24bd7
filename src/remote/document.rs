//! Small documents and plain files in the cache, beside package outputs: a
//! batch job's result record goes into the action cache under a key its
//! batch derives (the document inline, tagged like output entries when a
//! fleet secret is set), its log and artifacts into the CAS by sha256.
//! A document that is not ours, too large or wrongly tagged is refused with
//! the reason; a file is accepted only if its sha256 is the one asked for.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::client::{Get, RemoteCache};
use super::entry::{is_key, short};
use super::{RemoteError, auth, io};

pub const DOCUMENT_FORMAT: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct DocumentEntry {
    format: u32,
    /// What the body is (`batch-record`): covered by the tag, so a document
    /// of one kind cannot pass for another.
    kind: String,
    body_sha256: String,
    body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hmac_sha256: Option<String>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl RemoteCache {
    /// Stores `body` (UTF-8 text, typically JSON) under the AC key `key`.
    pub fn put_document(&self, key: &str, kind: &str, body: &str) -> Result<(), RemoteError> {
        if !is_key(key) {
            return Err(RemoteError::InvalidKey(key.into()));
        }
        if let Some(reason) = self.disabled() {
            return Err(RemoteError::Unavailable(reason));
        }
        let body_sha256 = sha256_hex(body.as_bytes());
        let entry = DocumentEntry {
            format: DOCUMENT_FORMAT,
            kind: kind.into(),
            hmac_sha256: self
                .secret
                .as_ref()
                .map(|s| auth::tag_document(s, key, kind, &body_sha256)),
            body_sha256,
            body: body.into(),
        };
        let json = serde_json::to_vec(&entry).map_err(|e| RemoteError::Io {
            what: "cannot encode a document".into(),
            source: std::io::Error::other(e),
        })?;
        self.put(self.url("ac", key)?, json.into(), self.timeout, "ac")
    }

    /// The document of `kind` under `key`: `Ok(None)` when there is none,
    /// `Err(why)` when the server fails or the entry is not a trusted one.
    pub fn get_document(&self, key: &str, kind: &str, max_bytes: u64) -> Result<Option<String>, String> {
        if !is_key(key) {
            return Err(format!("`{}` is not a cache key", short(key)));
        }
        if let Some(reason) = self.disabled() {
            return Err(reason);
        }
        let resp = match self.get("ac", key, self.timeout)? {
            Get::NotFound => return Ok(None),
            Get::Found(resp) => resp,
        };
        // JSON escaping at most doubles printable text; a margin for the rest.
        let limit = max_bytes.saturating_mul(2).saturating_add(4096);
        let mut raw = Vec::new();
        if let Err(e) = resp.take(limit + 1).read_to_end(&mut raw) {
            self.failures.fetch_add(1, Ordering::Relaxed);
            return Err(format!("reading ac/{}: {e}", short(key)));
        }
        if raw.len() as u64 > limit {
            return Err(format!("ac/{}: too large to be ours", short(key)));
        }
        let entry: DocumentEntry =
            serde_json::from_slice(&raw).map_err(|e| format!("ac/{}: not a document of ours: {e}", short(key)))?;
        if entry.format != DOCUMENT_FORMAT || entry.kind != kind {
            return Err(format!(
                "ac/{}: a `{}` document of format {}, expected `{kind}` of format {DOCUMENT_FORMAT}",
                short(key),
                entry.kind,
                entry.format
            ));
        }
        if entry.body.len() as u64 > max_bytes || sha256_hex(entry.body.as_bytes()) != entry.body_sha256 {
            return Err(format!("ac/{}: document too large or damaged", short(key)));
        }
        if let Some(secret) = &self.secret {
            auth::check_document(secret, key, kind, &entry.body_sha256, entry.hmac_sha256.as_deref())
                .map_err(|why| format!("ac/{}: {why}", short(key)))?;
        }
        Ok(Some(entry.body))
    }

    /// Uploads the file at `path` into the CAS (unless the server has it) and
    /// returns its sha256.
    pub fn put_file(&self, path: &Path) -> Result<String, RemoteError> {
        if let Some(reason) = self.disabled() {
            return Err(RemoteError::Unavailable(reason));
        }
        let sha = crate::digest::sha256_file(path).map_err(io(format!("cannot hash {}", path.display())))?;
        let size = std::fs::metadata(path)
            .map_err(io(format!("cannot stat {}", path.display())))?
            .len();
        self.put_blob_if_absent(&sha, size, || {
            std::fs::File::open(path).map_err(io(format!("cannot open {}", path.display())))
        })?;
        Ok(sha)
    }

    /// Downloads CAS blob `sha256` (at most `max_bytes`) to `dest`, which is
    /// replaced only once the content is whole and has that sha256.
    pub fn get_file(&self, sha256: &str, max_bytes: u64, dest: &Path) -> Result<(), String> {
        if !is_key(sha256) {
            return Err(format!("`{}` is not a sha256", short(sha256)));
        }
        if let Some(reason) = self.disabled() {
            return Err(reason);
        }
        let parent = dest.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".remote-file-")
            .tempfile_in(parent)
            .map_err(|e| format!("cannot create a temporary file in {}: {e}", parent.display()))?;
        let resp = match self.get("cas", sha256, self.transfer_timeout(max_bytes))? {
            Get::NotFound => return Err(format!("cas/{} is not in the cache", short(sha256))),
            Get::Found(resp) => resp,
        };
        let mut hasher = Sha256::new();
        let mut got = 0u64;
        let mut reader = resp.take(max_bytes + 1);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| format!("reading cas/{}: {e}", short(sha256)))?;
            if n == 0 {
                break;
            }
            got += n as u64;
            if got > max_bytes {
                return Err(format!("cas/{}: larger than {max_bytes} bytes", short(sha256)));
            }
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n])
                .map_err(|e| format!("cannot write {}: {e}", tmp.path().display()))?;
        }
        let actual = hex::encode(hasher.finalize());
        if actual != sha256 {
            self.mark_damaged(sha256);
            return Err(format!("cas/{} has sha256 {actual}", short(sha256)));
        }
        tmp.persist(dest)
            .map_err(|e| format!("cannot replace {}: {}", dest.display(), e.error))?;
        Ok(())
    }
}
