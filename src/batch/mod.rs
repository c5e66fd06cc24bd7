//! The nightly batch beyond one machine: the graph of (package, target) jobs
//! with their keys ([`graph`]), the record each job leaves in a shared
//! directory and the shared cache ([`record`], [`shared`]), and the report
//! rebuilt from those records
//! ([`merge`]); the sharded mode for CI matrices ([`shard`]). Running the jobs is left to a workload manager (or to
//! `recipe batch run` in a loop); outputs travel through the remote cache.

pub mod graph;
pub mod merge;
pub mod record;
pub mod shard;
pub mod shared;
pub mod slurm;

use std::path::{Path, PathBuf};

use miette::Diagnostic;
use thiserror::Error;

pub use graph::{BatchPlan, Lookup, NodeFacts, PLAN_FORMAT, compute, parse_id};
pub use merge::{reports_from_records, reports_with};
pub use record::{JobRecord, JobStatus, RECORD_FORMAT};
pub use shard::{Shard, merge_reports};

/// The batch's graph inside the records directory.
pub const PLAN_FILE: &str = "plan.json";

#[derive(Debug, Error, Diagnostic)]
pub enum BatchError {
    #[error("cannot {what} {}: {source}", path.display())]
    #[diagnostic(code(recipe::batch::io))]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the record of {id} in the remote cache: {reason}")]
    #[diagnostic(
        code(recipe::batch::remote),
        help(
            "records in the cache are written by `recipe batch run --batch-id`; an untrusted or damaged one is not read as a result"
        )
    )]
    Remote { id: String, reason: String },
    #[error("{}: {reason}", path.display())]
    #[diagnostic(
        code(recipe::batch::json),
        help("batch files are written by `recipe batch plan` and `recipe batch run`")
    )]
    Json { path: PathBuf, reason: String },
}

impl BatchError {
    pub(crate) fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BatchError {
        let path = path.to_path_buf();
        move |source| BatchError::Io { what, path, source }
    }
}

/// Reads `dir/plan.json`.
pub fn read_plan(dir: &Path) -> Result<BatchPlan, BatchError> {
    let path = dir.join(PLAN_FILE);
    let plan: BatchPlan = record::read_json(&path)?;
    if plan.format != PLAN_FORMAT {
        return Err(BatchError::Json {
            path,
            reason: format!("plan format {} (this recipe reads {PLAN_FORMAT})", plan.format),
        });
    }
    Ok(plan)
}
