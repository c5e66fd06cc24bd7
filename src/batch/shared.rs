//! Job records in the shared cache, so the report needs no shared directory:
//! each job puts its record into the action cache under a key derived from
//! its batch and its id, and its log and artifacts into the CAS; `recipe
//! batch status` and `report` read them back where the records directory
//! has none.
//!
//! The batch id hashes the records directory and every job's id, own build
//! inputs and edges: planning the same batch again gives the same id (and
//! finds the records already written), a changed recipe or another night's
//! directory gives another.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::BatchError;
use super::record::{self, JobRecord, MAX_RECORD_BYTES, RECORD_FORMAT};
use crate::remote::RemoteCache;

/// The kind of document a record is stored as (covered by the entry's tag).
pub const RECORD_KIND: &str = "recipe-batch-record";
/// Largest log or artifact taken back from the cache.
const MAX_FILE_BYTES: u64 = 1 << 30;

/// One job as the batch id sees it: id, key of its own inputs, edges.
pub struct IdPart<'a> {
    pub id: String,
    pub own_key: String,
    pub deps: &'a [String],
}

/// The batch's id (64 hex digits).
pub fn batch_id(records: &Path, jobs: &[IdPart]) -> String {
    let mut h = Sha256::new();
    h.update(b"recipe-batch-v1\n");
    h.update(records.as_os_str().as_encoded_bytes());
    for j in jobs {
        h.update(format!("\n{} {} {}", j.id, j.own_key, j.deps.join(",")).as_bytes());
    }
    hex::encode(h.finalize())
}

/// The action-cache key of job `id`'s record in batch `batch_id`.
pub fn record_key(batch_id: &str, id: &str) -> String {
    hex::encode(Sha256::digest(
        format!("recipe-batch-record-v1\n{batch_id}\n{id}\n").as_bytes(),
    ))
}

/// Uploads the record's log (setting `log_sha256`) and artifacts into the
/// CAS; the caller writes the record afterwards. Returns what failed.
pub fn upload_files(cache: &RemoteCache, dir: &Path, rec: &mut JobRecord) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(log) = rec.log.as_deref().and_then(|l| record::inside(dir, l)) {
        match cache.put_file(&log) {
            Ok(sha) => rec.log_sha256 = Some(sha),
            Err(e) => warnings.push(format!("the log: {e}")),
        }
    }
    for a in &rec.artifacts {
        let Some(path) = record::inside(dir, &a.path) else {
            continue;
        };
        if let Err(e) = cache.put_file(&path) {
            warnings.push(format!("{}: {e}", a.path.display()));
        }
    }
    warnings
}

/// Puts the record itself into the cache.
pub fn upload_record(cache: &RemoteCache, batch_id: &str, rec: &JobRecord) -> Result<(), String> {
    let json = serde_json::to_string_pretty(rec).map_err(|e| e.to_string())?;
    cache
        .put_document(&record_key(batch_id, &rec.id), RECORD_KIND, &json)
        .map_err(|e| e.to_string())
}

/// Job `id`'s record from the cache (`None`: there is none), its log and
/// artifacts fetched into `dir` where missing there. A record that cannot be
/// read, is not trusted or names another job is an error: it must neither
/// pass for a success nor hide one. Files that cannot be fetched are warnings.
pub fn download(
    cache: &RemoteCache,
    batch_id: &str,
    dir: &Path,
    id: &str,
) -> Result<(Option<JobRecord>, Vec<String>), BatchError> {
    let key = record_key(batch_id, id);
    let fail = |reason: String| BatchError::Remote { id: id.into(), reason };
    let Some(body) = cache.get_document(&key, RECORD_KIND, MAX_RECORD_BYTES).map_err(fail)? else {
        return Ok((None, Vec::new()));
    };
    let rec: JobRecord = serde_json::from_str(&body).map_err(|e| fail(format!("not a job record: {e}")))?;
    if rec.id != id || rec.format != RECORD_FORMAT {
        return Err(fail(format!(
            "record of `{}` (format {}), expected `{id}`",
            rec.id, rec.format
        )));
    }
    let mut warnings = Vec::new();
    let mut wanted: Vec<(&Path, &str)> = rec
        .artifacts
        .iter()
        .map(|a| (a.path.as_path(), a.sha256.as_str()))
        .collect();
    if let (Some(log), Some(sha)) = (&rec.log, &rec.log_sha256) {
        wanted.push((log.as_path(), sha.as_str()));
    }
    for (rel, sha) in wanted {
        let Some(dest) = record::inside(dir, rel) else { continue };
        if dest.is_file() {
            continue;
        }
        if let Err(e) = cache.get_file(sha, MAX_FILE_BYTES, &dest) {
            warnings.push(format!("{id}: {}: {e}", rel.display()));
        }
    }
    Ok((Some(rec), warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_batch_and_job() {
        let deps = vec!["a@x".to_string()];
        let jobs = |own: &str| {
            vec![IdPart {
                id: "b@x".into(),
                own_key: own.into(),
                deps: &deps,
            }]
        };
        let one = batch_id(Path::new("/n/1"), &jobs("k"));
        assert_eq!(one, batch_id(Path::new("/n/1"), &jobs("k")), "stable");
        assert_ne!(one, batch_id(Path::new("/n/2"), &jobs("k")), "another night");
        assert_ne!(one, batch_id(Path::new("/n/1"), &jobs("k2")), "a changed recipe");
        assert_ne!(record_key(&one, "a@x"), record_key(&one, "b@x"));
        assert!(crate::remote::is_key(&record_key(&one, "a@x")));
    }
}
