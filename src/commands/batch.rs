//! `recipe batch plan|run|report|status`: arguments to requests, results
//! printed.

use crate::build::scheduler::Outcome;
use crate::cli::BatchCommand;
use crate::error::Error;
use crate::pipeline::{JobRequest, PlanRequest, Session, batch_report, ensure_success};
use crate::settings::Settings;

pub fn run(settings: &Settings, cmd: BatchCommand) -> Result<(), Error> {
    match cmd {
        BatchCommand::Plan {
            names,
            all,
            target,
            records,
            remote_cache,
            build_dir,
        } => {
            let session = Session::open(settings)?;
            let plan = session.batch_plan(&PlanRequest {
                names,
                all,
                targets: target,
                build_dir,
                remote_cache,
                records,
            })?;
            let json = serde_json::to_string_pretty(&plan).map_err(|e| Error::io("cannot print the plan", e.into()))?;
            println!("{json}");
            Ok(())
        }
        BatchCommand::Submit {
            slurm: _,
            partition,
            account,
            names,
            all,
            target,
            records,
            remote_cache,
        } => {
            let session = Session::open(settings)?;
            let options = crate::batch::slurm::SlurmOptions { partition, account };
            let request = PlanRequest {
                names,
                all,
                targets: target,
                build_dir: None,
                remote_cache,
                records,
            };
            session.batch_submit_slurm(&request, &options).map(|_| ())
        }
        BatchCommand::Run {
            id,
            records,
            batch_id,
            remote_cache,
            build_dir,
            out_dir,
            jobs,
        } => {
            let session = Session::open(settings)?;
            session
                .batch_run(&JobRequest {
                    id,
                    records,
                    batch_id,
                    remote_cache,
                    build_dir,
                    out_dir,
                    jobs,
                })
                .map(|_| ())
        }
        BatchCommand::Report {
            dir,
            shard_report,
            out,
            previous,
            remote_cache,
        } => {
            let out = out.unwrap_or_else(|| dir.clone());
            let reports = if shard_report.is_empty() {
                let cache = crate::pipeline::records_cache(settings, &dir, remote_cache.as_deref())?;
                batch_report(&dir, &out, previous.as_deref(), cache.as_deref())?
            } else {
                crate::pipeline::merge_shard_reports(&shard_report, &out, previous.as_deref())?
            };
            ensure_success(&reports)
        }
        BatchCommand::Status { dir, remote_cache } => {
            let cache = crate::pipeline::records_cache(settings, &dir, remote_cache.as_deref())?;
            let reports = crate::pipeline::batch_reports(&dir, cache.as_deref())?;
            for r in &reports {
                let (state, detail) = match &r.outcome {
                    Outcome::Built { .. } => ("built", String::new()),
                    Outcome::Cached { .. } => ("cached", String::new()),
                    Outcome::Restored { .. } => ("restored", String::new()),
                    Outcome::Failed { error } => ("failed", error.clone()),
                    Outcome::Skipped { because } => ("skipped", because.clone()),
                };
                println!("{state:8} {}@{}  {detail}", r.name, r.target);
            }
            Ok(())
        }
    }
}
