//! `recipe batch submit --slurm`: the plan, then one `sbatch` per job not in
//! the remote cache (see `batch::slurm` for the arguments).

use std::collections::BTreeMap;

use crate::batch;
use crate::error::Error;

use super::Session;
use super::batch::PlanRequest;

impl Session<'_> {
    /// Plans the batch and submits one Slurm job per job not in the remote
    /// cache; returns job id → Slurm id (also kept in `records/slurm/jobs.json`).
    pub fn batch_submit_slurm(
        &self,
        request: &PlanRequest,
        options: &batch::slurm::SlurmOptions,
    ) -> Result<BTreeMap<String, String>, Error> {
        let plan = self.batch_plan(request)?;
        let records = std::path::absolute(&request.records).unwrap_or_else(|_| request.records.clone());
        let slurm_dir = records.join("slurm");
        std::fs::create_dir_all(&slurm_dir)
            .map_err(|e| Error::io(format!("cannot create {}", slurm_dir.display()), e))?;
        let env = self.settings.job_environment();
        let root = self.settings.paths.root.clone();
        let mut submit = |job: &batch::graph::Job, args: Vec<String>| -> Result<String, String> {
            let out = std::process::Command::new("sbatch")
                .env_clear()
                .envs(&env)
                .current_dir(&root)
                .args(&args)
                .output()
                .map_err(|e| format!("cannot run sbatch: {e}"))?;
            let text = String::from_utf8_lossy(&out.stdout);
            // --parsable prints `id` or `id;cluster`.
            let id = text.trim().split(';').next().unwrap_or_default().to_string();
            if !out.status.success() || id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
            }
            eprintln!("submitted {} as Slurm job {id}", job.id);
            Ok(id)
        };
        let ids = batch::slurm::submit_all(&plan, &records, options, &mut submit).map_err(Error::Usage)?;
        batch::record::write_json(&slurm_dir.join("jobs.json"), &ids)?;
        let skipped = plan.jobs.iter().filter(|j| j.in_remote_cache).count();
        eprintln!("{} job(s) submitted, {skipped} already in the remote cache", ids.len());
        Ok(ids)
    }
}
