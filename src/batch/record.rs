//! A job's result record: what one `recipe batch run` did, written into the
//! records directory as `jobs/<package>@<target>.json`, with its log and
//! artifacts copied next to it so the report needs nothing else (and, with a
//! remote cache, also put there: see `shared`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::BatchError;

pub const RECORD_FORMAT: u32 = 1;
/// Lines of the log kept in the record.
pub const LOG_TAIL_LINES: usize = 40;
/// Records are small; anything larger is not ours.
pub const MAX_RECORD_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Built,
    Cached,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// Relative to the records directory.
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    pub format: u32,
    pub id: String,
    pub status: JobStatus,
    /// Empty when it failed before its key was known.
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_digest: Option<String>,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Relative to the records directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<PathBuf>,
    /// sha256 of the log, when it was put into the shared cache's CAS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_sha256: Option<String>,
    #[serde(default)]
    pub log_tail: Vec<String>,
    #[serde(default)]
    pub artifacts: Vec<Artifact>,
    /// The machine that ran it.
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub finished_unix: u64,
}

pub fn records_subdir(dir: &Path) -> PathBuf {
    dir.join("jobs")
}

pub fn record_path(dir: &Path, id: &str) -> PathBuf {
    records_subdir(dir).join(format!("{id}.json"))
}

/// The last `n` lines of a log (lossy UTF-8), empty when there is none.
pub fn log_tail(log: &Path, n: usize) -> Vec<String> {
    let Ok(bytes) = std::fs::read(log) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

/// Copies `src` to `dir/rel` (replacing it) and returns `rel`.
pub fn copy_in(dir: &Path, src: &Path, rel: PathBuf) -> Result<PathBuf, BatchError> {
    let dest = dir.join(&rel);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(BatchError::io("create", parent))?;
    }
    let tmp = dest.with_extension("part");
    std::fs::copy(src, &tmp).map_err(BatchError::io("copy to", &tmp))?;
    std::fs::rename(&tmp, &dest).map_err(BatchError::io("replace", &dest))?;
    Ok(rel)
}

/// Writes the record atomically (a reader never sees half of one).
pub fn write_record(dir: &Path, record: &JobRecord) -> Result<PathBuf, BatchError> {
    let path = record_path(dir, &record.id);
    write_json(&path, record)?;
    Ok(path)
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), BatchError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(BatchError::io("create", parent))?;
    }
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| BatchError::Json {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let tmp = path.with_extension("json.part");
    std::fs::write(&tmp, bytes).map_err(BatchError::io("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(BatchError::io("replace", path))
}

/// Reads a JSON file of ours, refusing anything too large or malformed.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, BatchError> {
    read_json_sized(path, MAX_RECORD_BYTES)
}

/// [`read_json`] with another size limit.
pub fn read_json_sized<T: for<'de> Deserialize<'de>>(path: &Path, max: u64) -> Result<T, BatchError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(BatchError::io("open", path))?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(BatchError::io("read", path))?;
    if bytes.len() as u64 > max {
        return Err(BatchError::Json {
            path: path.to_path_buf(),
            reason: "too large to be ours".into(),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| BatchError::Json {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// The record of job `id`, if there is one; a record that is not readable
/// or names another job is an error (it must not pass for a success).
pub fn read_record(dir: &Path, id: &str) -> Result<Option<JobRecord>, BatchError> {
    let path = record_path(dir, id);
    if !path.exists() {
        return Ok(None);
    }
    let record: JobRecord = read_json(&path)?;
    if record.id != id || record.format != RECORD_FORMAT {
        return Err(BatchError::Json {
            path,
            reason: format!("record of `{}` (format {}), expected `{id}`", record.id, record.format),
        });
    }
    Ok(Some(record))
}

/// A path from a record, kept inside the records directory.
pub fn inside(dir: &Path, rel: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let plain = rel.components().all(|c| matches!(c, Component::Normal(_)));
    (plain && !rel.as_os_str().is_empty()).then(|| dir.join(rel))
}
