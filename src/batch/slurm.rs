//! Slurm as the batch's engine: one `sbatch` per job that is not in the
//! remote cache, with `afterok` edges from the graph, so Slurm holds back
//! (and with `--kill-on-invalid-dep`, cancels) the dependents of a failure.

use crate::toolchain::env::shell_quote;
use std::collections::BTreeMap;
use std::path::Path;

use super::graph::{BatchPlan, Job};

/// Where and as whom to submit.
#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    pub account: Option<String>,
}

/// The `sbatch` arguments of `job` (the program name excluded), given the
/// Slurm ids of its dependencies that were submitted. The job's log goes to
/// `records/slurm/<id>.out`; `-j` comes from the allocation (what Slurm
/// granted, which a site's defaults may raise above what was asked), read by
/// the job's shell so `recipe` itself never looks at Slurm's variables.
pub fn sbatch_args(job: &Job, dep_ids: &[String], records: &Path, options: &SlurmOptions) -> Vec<String> {
    let mut args = vec![
        "--parsable".to_string(),
        format!("--job-name=recipe:{}", job.id),
        format!("--cpus-per-task={}", job.cpus.max(1)),
        format!(
            "--output={}",
            records.join("slurm").join(format!("{}.out", job.id)).display()
        ),
    ];
    if let Some(p) = &options.partition {
        args.push(format!("--partition={p}"));
    }
    if let Some(a) = &options.account {
        args.push(format!("--account={a}"));
    }
    if !dep_ids.is_empty() {
        args.push(format!("--dependency=afterok:{}", dep_ids.join(":")));
        args.push("--kill-on-invalid-dep=yes".into());
    }
    let mut command: Vec<String> = job.command.iter().map(|w| shell_quote(w)).collect();
    command.push("-j".into());
    command.push(format!("\"${{SLURM_CPUS_PER_TASK:-{}}}\"", job.cpus.max(1)));
    args.push(format!("--wrap={}", command.join(" ")));
    args
}

/// Submits one job with these `sbatch` arguments: its Slurm id, or why not.
pub type Submit<'a> = dyn FnMut(&Job, Vec<String>) -> Result<String, String> + 'a;

/// The jobs to submit, in plan order, each with the ids of its submitted
/// dependencies: a dependency already in the remote cache is not submitted
/// and so not waited for. `submit` returns the Slurm id or why it failed.
pub fn submit_all(
    plan: &BatchPlan,
    records: &Path,
    options: &SlurmOptions,
    submit: &mut Submit,
) -> Result<BTreeMap<String, String>, String> {
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    for job in plan.jobs.iter().filter(|j| !j.in_remote_cache) {
        let deps: Vec<String> = job.deps.iter().filter_map(|d| ids.get(d).cloned()).collect();
        let args = sbatch_args(job, &deps, records, options);
        let id = submit(job, args).map_err(|e| format!("sbatch {}: {e}", job.id))?;
        ids.insert(job.id.clone(), id);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cores_become_cpus_per_task_and_j() {
        let job = Job {
            id: "dqlite@armv7hf".into(),
            package: "dqlite".into(),
            target: "armv7hf".into(),
            key: None,
            key_unknown_because: None,
            deps: vec!["libuv@armv7hf".into()],
            in_remote_cache: false,
            remote_miss: None,
            output_digest: None,
            cpus: 2,
            command: vec![
                "/bin/recipe".into(),
                "batch".into(),
                "run".into(),
                "dqlite@armv7hf".into(),
            ],
        };
        let args = sbatch_args(&job, &["7".into()], Path::new("/n"), &SlurmOptions::default());
        assert!(args.contains(&"--cpus-per-task=2".to_string()), "{args:?}");
        assert!(args.contains(&"--dependency=afterok:7".to_string()), "{args:?}");
        assert_eq!(
            args.last().map(String::as_str),
            Some("--wrap=/bin/recipe batch run dqlite@armv7hf -j \"${SLURM_CPUS_PER_TASK:-2}\"")
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/usr/bin/recipe"), "/usr/bin/recipe");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(shell_quote(""), "''");
    }
}
