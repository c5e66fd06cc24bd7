//! From the per-job records back to node reports, the input of the same
//! report.json / junit.xml / report.html a local batch writes.
//!
//! A job with a record is what the record says. A job without one did not
//! run: skipped when a dependency failed or was skipped (what Slurm calls
//! `DependencyNeverSatisfied`), cached when the plan found it in the remote
//! cache (never submitted), failed otherwise (its job was lost: node failure,
//! time limit, cancelled — the record is written last, so a job that died
//! leaves none).

use std::collections::BTreeMap;
use std::path::Path;

use super::BatchError;
use super::graph::BatchPlan;
use super::record::{self, JobStatus};
use crate::build::scheduler::{NodeReport, Outcome};

pub const NO_RECORD: &str = "no record: the job did not run to completion (cancelled, timed out, or its node was lost)";

/// Where a job's record is looked up: its id → the record, if any.
pub type ReadRecord<'a> = dyn FnMut(&str) -> Result<Option<record::JobRecord>, BatchError> + 'a;

/// The node reports of a batch from `dir/plan.json`'s jobs and `dir/jobs/`.
pub fn reports_from_records(dir: &Path, plan: &BatchPlan) -> Result<Vec<NodeReport>, BatchError> {
    reports_with(dir, plan, &mut |id| record::read_record(dir, id))
}

/// The node reports of a batch whose records `read` finds (paths in them
/// are relative to `dir`).
pub fn reports_with(dir: &Path, plan: &BatchPlan, read: &mut ReadRecord) -> Result<Vec<NodeReport>, BatchError> {
    let mut ok: BTreeMap<&str, bool> = BTreeMap::new();
    let mut out = Vec::new();
    for job in &plan.jobs {
        let node = job.node();
        let log_of = |rel: Option<&Path>| rel.and_then(|r| record::inside(dir, r)).unwrap_or_default();
        let report = match read(&job.id)? {
            Some(rec) => {
                let outcome = match (rec.status, rec.output_digest.clone()) {
                    (JobStatus::Built, Some(digest)) => Outcome::Built { digest },
                    (JobStatus::Cached, Some(digest)) => Outcome::Cached { digest },
                    (JobStatus::Failed, _) => Outcome::Failed {
                        error: rec.error.clone().unwrap_or_else(|| "failed".into()),
                    },
                    (_, None) => Outcome::Failed {
                        error: "the record names no output digest".into(),
                    },
                };
                NodeReport {
                    name: node.name.clone(),
                    target: node.target.clone(),
                    outcome,
                    duration_ms: rec.duration_ms,
                    key: rec.key.clone(),
                    reasons: rec.reasons.clone(),
                    log: log_of(rec.log.as_deref()),
                    // Only what is there: a file the cache could not give is not linked.
                    artifacts: rec
                        .artifacts
                        .iter()
                        .filter_map(|a| record::inside(dir, &a.path))
                        .filter(|p| p.is_file())
                        .collect(),
                    spans: Vec::new(),
                    critical: false,
                }
            }
            None => without_record(job, &ok),
        };
        ok.insert(
            &job.id,
            matches!(
                report.outcome,
                Outcome::Built { .. } | Outcome::Cached { .. } | Outcome::Restored { .. }
            ),
        );
        out.push(report);
    }
    Ok(out)
}

fn without_record(job: &super::graph::Job, ok: &BTreeMap<&str, bool>) -> NodeReport {
    let node = job.node();
    let failed_dep = job.deps.iter().find(|d| ok.get(d.as_str()) == Some(&false));
    let (outcome, reasons) = match (failed_dep, &job.output_digest) {
        (Some(dep), _) => (
            Outcome::Skipped {
                because: format!("dependency {dep} failed"),
            },
            vec![],
        ),
        (None, Some(digest)) if job.in_remote_cache => (
            Outcome::Cached { digest: digest.clone() },
            vec!["in the remote cache when planned".to_string()],
        ),
        (None, _) => (
            Outcome::Failed {
                error: NO_RECORD.to_string(),
            },
            vec![],
        ),
    };
    NodeReport {
        name: node.name,
        target: node.target,
        outcome,
        duration_ms: 0,
        key: job.key.clone().unwrap_or_default(),
        reasons,
        log: Default::default(),
        artifacts: Vec::new(),
        spans: Vec::new(),
        critical: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::graph::Job;

    fn job(id: &str, deps: &[&str], cached: bool) -> Job {
        let (package, target) = id.split_once('@').unwrap_or((id, "host"));
        Job {
            id: id.into(),
            package: package.into(),
            target: target.into(),
            key: Some("a".repeat(64)),
            key_unknown_because: None,
            deps: deps.iter().map(|d| d.to_string()).collect(),
            in_remote_cache: cached,
            remote_miss: None,
            output_digest: cached.then(|| "b".repeat(64)),
            cpus: 1,
            command: vec![],
        }
    }

    /// Node loss: a job that left no record failed, its dependents are
    /// skipped, a job never submitted because it was cached is cached; a
    /// record naming another job is refused.
    #[test]
    fn jobs_without_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plan = BatchPlan {
            format: crate::batch::PLAN_FORMAT,
            targets: vec!["host".into()],
            remote_cache: None,
            batch_id: String::new(),
            jobs: vec![
                job("lost@host", &[], false),
                job("after@host", &["lost@host"], false),
                job("done@host", &[], true),
            ],
        };
        let reports = reports_from_records(dir.path(), &plan).expect("reports");
        assert!(matches!(&reports[0].outcome, Outcome::Failed { error } if error == NO_RECORD));
        assert!(
            matches!(&reports[1].outcome, Outcome::Skipped { because } if because == "dependency lost@host failed")
        );
        assert!(matches!(&reports[2].outcome, Outcome::Cached { .. }));

        let forged = record::JobRecord {
            format: record::RECORD_FORMAT,
            id: "done@host".into(),
            status: JobStatus::Built,
            key: String::new(),
            output_digest: Some("c".repeat(64)),
            duration_ms: 1,
            error: None,
            reasons: vec![],
            log: Some("../../etc/passwd".into()),
            log_sha256: None,
            log_tail: vec![],
            artifacts: vec![],
            host: String::new(),
            finished_unix: 0,
        };
        record::write_json(&record::record_path(dir.path(), "lost@host"), &forged).expect("write");
        assert!(
            reports_from_records(dir.path(), &plan).is_err(),
            "a record of another job"
        );
        let own = record::JobRecord {
            id: "lost@host".into(),
            ..forged
        };
        record::write_record(dir.path(), &own).expect("write");
        let reports = reports_from_records(dir.path(), &plan).expect("reports");
        assert!(matches!(reports[0].outcome, Outcome::Built { .. }));
        assert_eq!(
            reports[0].log,
            std::path::PathBuf::new(),
            "a path out of the records dir is dropped"
        );
        assert!(
            matches!(reports[1].outcome, Outcome::Failed { .. }),
            "now it did not run"
        );
    }
}
