//! The action-cache entry: what a key maps to, and how a read one is
//! checked before anything is downloaded for it.

use serde::{Deserialize, Serialize};

pub const AC_FORMAT: u32 = 1;
pub const ENCODING_TAR_GZIP: &str = "tar+gzip";
pub const ENCODING_TAR: &str = "tar";
/// AC entries are tiny; anything bigger is not ours.
pub(super) const MAX_AC_BYTES: u64 = 64 * 1024;

/// The AC entry: what a key maps to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcEntry {
    pub format: u32,
    /// sha256 of the CAS blob.
    pub tar_sha256: String,
    /// `outputs::key::tree_digest` of the unpacked output.
    pub output_digest: String,
    /// Size of the CAS blob in bytes.
    pub size: u64,
    /// `tar+gzip` (what we write) or `tar`.
    #[serde(default = "default_encoding")]
    pub encoding: String,
    /// HMAC-SHA256 of the entry and its key with the fleet's secret (hex);
    /// absent when written without a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac_sha256: Option<String>,
}

impl AcEntry {
    /// An entry for a blob we packed (tar+gzip), untagged.
    pub(super) fn packed(tar_sha256: String, output_digest: &str, size: u64) -> AcEntry {
        AcEntry {
            format: AC_FORMAT,
            tar_sha256,
            output_digest: output_digest.into(),
            size,
            encoding: ENCODING_TAR_GZIP.into(),
            hmac_sha256: None,
        }
    }
}

fn default_encoding() -> String {
    ENCODING_TAR.into()
}

pub fn is_key(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub(super) fn parse_ac(body: &[u8]) -> Result<AcEntry, String> {
    if body.len() as u64 > MAX_AC_BYTES {
        return Err("entry is too large to be ours".into());
    }
    let entry: AcEntry = serde_json::from_slice(body).map_err(|e| format!("entry is not ours or damaged: {e}"))?;
    if entry.format != AC_FORMAT {
        return Err(format!("entry format {} (this recipe reads {AC_FORMAT})", entry.format));
    }
    if !is_key(&entry.tar_sha256) || !is_key(&entry.output_digest) {
        return Err("entry holds a malformed digest".into());
    }
    if entry.encoding != ENCODING_TAR && entry.encoding != ENCODING_TAR_GZIP {
        return Err(format!("entry has unknown encoding `{}`", entry.encoding));
    }
    Ok(entry)
}

pub(super) fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
