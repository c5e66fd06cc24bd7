//! The batch as jobs: plan the graph with keys (`recipe batch plan`), run
//! one job (`recipe batch run`), and rebuild the report from the records
//! the jobs left (`recipe batch report`). See docs/batch.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::batch::{self, BatchPlan, JobRecord, JobStatus, Lookup, NodeFacts};
use crate::build::scheduler::{NodeReport, Outcome};
use crate::error::Error;
use crate::outputs::key;
use crate::plan::graph::{HOST, NodeId, plan};
use crate::plan::render::render_plan;
use crate::toolchain::provision::ProvisionContext;

use super::Session;
use super::build::{BuildRequest, activate_plan, all_target_packages, layout};

/// `recipe batch plan`'s arguments.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    pub names: Vec<String>,
    pub all: bool,
    pub targets: Vec<String>,
    pub build_dir: Option<PathBuf>,
    pub remote_cache: Option<String>,
    /// Where the jobs write their records (and where plan.json is kept).
    pub records: PathBuf,
}

/// `recipe batch run`'s arguments.
#[derive(Debug, Clone, Default)]
pub struct JobRequest {
    pub id: String,
    pub records: PathBuf,
    /// Where the record also goes in the remote cache (`recipe batch plan`
    /// puts it into each job's command).
    pub batch_id: Option<String>,
    pub remote_cache: Option<String>,
    pub build_dir: Option<PathBuf>,
    pub out_dir: Option<PathBuf>,
    pub jobs: Option<usize>,
}

/// The batch's id (see `batch::shared`): its records directory, every job's
/// id, own inputs and edges.
fn batch_id_of(plan: &crate::plan::graph::Plan, records: &Path, owns: &BTreeMap<NodeId, key::KeyInputs>) -> String {
    let deps: Vec<(NodeId, Vec<String>)> = plan
        .order
        .iter()
        .map(|ix| {
            let d = plan.deps(*ix).into_iter().map(|d| plan.node(d).to_string()).collect();
            (plan.node(*ix).clone(), d)
        })
        .collect();
    let parts: Vec<batch::shared::IdPart> = deps
        .iter()
        .filter_map(|(id, d)| {
            owns.get(id).map(|own| batch::shared::IdPart {
                id: id.to_string(),
                own_key: own.key(),
                deps: d,
            })
        })
        .collect();
    batch::shared::batch_id(records, &parts)
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

impl Session<'_> {
    /// The graph of jobs with their keys, also written to `records/plan.json`.
    pub fn batch_plan(&self, request: &PlanRequest) -> Result<BatchPlan, Error> {
        let (settings, project) = (self.settings, &self.project);
        let names = if request.all {
            all_target_packages(project)
        } else {
            request.names.clone()
        };
        if names.is_empty() {
            return Err(Error::Usage("name at least one package, or pass --all".into()));
        }
        for t in request.targets.iter().filter(|t| *t != HOST) {
            project.target(t)?;
        }
        let plan = plan(project, &names, &request.targets)?;
        let recipes = render_plan(project, &plan, &crate::toolchain::activate::host_target())?;
        let layout = layout(settings, request.build_dir.as_deref(), None);
        let remote = super::build::open_remote(settings, request.remote_cache.as_deref(), &Default::default())?;
        let fetch = std::sync::Arc::new(crate::fetch::FetchContext::new(
            &settings.cache,
            settings.fetch_options(false, &Default::default()),
        )?);
        let provision = ProvisionContext::with_fetch(settings.cache.clone(), fetch);
        let envs = activate_plan(project, &plan, &recipes, &layout, &provision)?;
        let records = absolute(&request.records);
        let mut owns = BTreeMap::new();
        for (id, recipe) in &recipes {
            let own = crate::build::job::key_inputs(recipe, &envs[&id.target], BTreeMap::new())
                .map_err(|e| Error::io(format!("cannot hash the inputs of {id}"), e))?;
            owns.insert(id.clone(), own);
        }
        let batch_id = match &remote {
            Some(_) => batch_id_of(&plan, &records, &owns),
            None => String::new(),
        };
        let mut facts = BTreeMap::new();
        for (id, own) in owns {
            let stamp = key::read_stamp(&key::stamp_path(&layout.build_root, &id.target, &id.name));
            let command = self.job_command(&id, &records, &batch_id, request);
            let cpus = recipes.get(&id).map_or(1, |r| r.resources.cores);
            facts.insert(
                id,
                NodeFacts {
                    own,
                    stamp,
                    cpus,
                    command,
                },
            );
        }
        let lookup = |k: &str| match remote.as_ref().map(|r| r.lookup(k)) {
            Some(Ok(entry)) => Lookup::Hit {
                output_digest: entry.output_digest,
            },
            Some(Err(why)) => Lookup::Miss(why.describe()),
            None => Lookup::Miss("no remote cache".into()),
        };
        let jobs = batch::compute(
            &plan,
            facts,
            remote.as_ref().map(|_| &lookup as &dyn Fn(&str) -> Lookup),
        );
        let out = BatchPlan {
            format: batch::PLAN_FORMAT,
            targets: request.targets.clone(),
            remote_cache: remote.as_ref().map(|r| r.display_url()),
            batch_id,
            jobs,
        };
        batch::record::write_json(&records.join(batch::PLAN_FILE), &out)?;
        Ok(out)
    }

    /// The command line of one job: this binary, this project, the same
    /// sandbox setting, the records directory and the remote cache (unless
    /// its URL holds credentials: those stay in the job's environment).
    fn job_command(&self, id: &NodeId, records: &Path, batch_id: &str, request: &PlanRequest) -> Vec<String> {
        let exe = std::env::current_exe().map_or_else(|_| "recipe".to_string(), |p| p.display().to_string());
        let mut cmd = vec![
            exe,
            "--recipes".into(),
            self.settings.paths.recipes.display().to_string(),
        ];
        if !self.settings.sandbox {
            cmd.push("--no-sandbox".into());
        }
        cmd.extend(["batch".into(), "run".into(), id.to_string()]);
        cmd.extend(["--records".into(), records.display().to_string()]);
        if !batch_id.is_empty() {
            cmd.extend(["--batch-id".into(), batch_id.to_string()]);
        }
        if let Some(url) = &request.remote_cache
            && !crate::remote::has_credentials(url)
        {
            cmd.extend(["--remote-cache".into(), url.clone()]);
        }
        if let Some(dir) = &request.build_dir {
            cmd.extend(["--build-dir".into(), absolute(dir).display().to_string()]);
        }
        cmd
    }

    /// Runs one job: builds exactly `id`, its dependencies restored (never
    /// built), uploads the output and writes the job's record. An error when
    /// the job failed, so a workload manager holds back its dependents.
    pub fn batch_run(&self, request: &JobRequest) -> Result<JobRecord, Error> {
        let id = batch::parse_id(&request.id)
            .ok_or_else(|| Error::Usage(format!("`{}` is not a job id (package@target)", request.id)))?;
        if let Some(b) = request.batch_id.as_deref().filter(|b| !crate::remote::is_key(b)) {
            return Err(Error::Usage(format!(
                "`{b}` is not a batch id (64 hex digits, from the plan)"
            )));
        }
        let remote = super::build::open_remote(self.settings, request.remote_cache.as_deref(), &Default::default())?;
        if remote.is_none() {
            return Err(Error::Usage(
                "a batch job needs a remote cache (--remote-cache URL or $RECIPE_REMOTE_CACHE): its dependencies come from there and its output goes there".into(),
            ));
        }
        let started = std::time::Instant::now();
        let outcome = self.build_outcome(BuildRequest {
            names: vec![id.name.clone()],
            targets: vec![id.target.clone()],
            jobs: request.jobs,
            build_dir: request.build_dir.clone(),
            out_dir: request.out_dir.clone(),
            remote_cache: request.remote_cache.clone(),
            restore_deps_only: true,
            ..BuildRequest::default()
        })?;
        let records = absolute(&request.records);
        let mut record = job_record(&records, &id, &outcome.reports)?;
        if let Some(up) = &outcome.uploaded
            && record.status != JobStatus::Failed
            && !up.warnings.is_empty()
        {
            // Dependents would not find the output: the job did not do its part.
            record.status = JobStatus::Failed;
            record.error = Some(format!("the output could not be uploaded: {}", up.warnings.join("; ")));
        }
        if record.duration_ms == 0 {
            record.duration_ms = started.elapsed().as_millis() as u64;
        }
        let shared = remote.as_deref().zip(request.batch_id.as_deref());
        if let Some((cache, _)) = shared {
            for w in batch::shared::upload_files(cache, &records, &mut record) {
                eprintln!("warning: not in the remote cache: {w}");
            }
        }
        let path = batch::record::write_record(&records, &record)?;
        eprintln!("record: {}", path.display());
        if let Some((cache, batch_id)) = shared {
            // The record in the directory stands; a report reading only the
            // cache will call this job lost (docs/batch.md, cache outage).
            match batch::shared::upload_record(cache, batch_id, &record) {
                Ok(()) => eprintln!("record: in the remote cache (batch {})", &batch_id[..12]),
                Err(e) => eprintln!("warning: the record could not be put into the remote cache: {e}"),
            }
        }
        if record.status == JobStatus::Failed {
            return Err(Error::BuildFailed { count: 1 });
        }
        Ok(record)
    }
}

/// The record of job `id` from the run's reports; a job skipped for a
/// dependency takes that dependency's error (the missing key).
fn job_record(records: &Path, id: &NodeId, reports: &[NodeReport]) -> Result<JobRecord, Error> {
    let find = |n: &NodeId| reports.iter().find(|r| r.name == n.name && r.target == n.target);
    let report = find(id).ok_or_else(|| Error::Usage(format!("{id} is not in its own plan")))?;
    let label = id.to_string();
    let log = if report.log.is_file() {
        Some(batch::record::copy_in(
            records,
            &report.log,
            PathBuf::from("logs").join(format!("{label}.log")),
        )?)
    } else {
        None
    };
    let mut artifacts = Vec::new();
    for a in &report.artifacts {
        let Some(file) = a.file_name() else { continue };
        let rel = batch::record::copy_in(records, a, PathBuf::from("artifacts").join(&id.target).join(file))?;
        let full = records.join(&rel);
        let size = std::fs::metadata(&full).map(|m| m.len()).unwrap_or_default();
        let sha256 = key::sha256_file(&full).map_err(|e| Error::io(format!("cannot hash {}", full.display()), e))?;
        artifacts.push(batch::record::Artifact {
            path: rel,
            sha256,
            size,
        });
    }
    let (status, output_digest, error) = match &report.outcome {
        Outcome::Built { digest } => (JobStatus::Built, Some(digest.clone()), None),
        // From this machine's local store: as good as a remote hit.
        Outcome::Cached { digest } | Outcome::Restored { digest } => (JobStatus::Cached, Some(digest.clone()), None),
        Outcome::Failed { error } => (JobStatus::Failed, None, Some(error.clone())),
        Outcome::Skipped { because } => {
            // The first failed dependency says what is missing.
            let cause = reports
                .iter()
                .find_map(|r| match &r.outcome {
                    Outcome::Failed { error } => Some(error.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| because.clone());
            (JobStatus::Failed, None, Some(cause))
        }
    };
    Ok(JobRecord {
        format: batch::RECORD_FORMAT,
        id: label,
        status,
        key: report.key.clone(),
        output_digest,
        duration_ms: report.duration_ms,
        error,
        reasons: report.reasons.clone(),
        log_sha256: None,
        log_tail: log
            .as_ref()
            .map(|l| batch::record::log_tail(&records.join(l), batch::record::LOG_TAIL_LINES))
            .unwrap_or_default(),
        log,
        artifacts,
        host: crate::report::hostname(),
        finished_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    })
}

/// Writes report.json / junit.xml / report.html into `out` from the records
/// in `records` (the same directory by default), and those in the remote
/// cache when given.
pub fn batch_report(
    records: &Path,
    out: &Path,
    previous: Option<&Path>,
    cache: Option<&crate::remote::RemoteCache>,
) -> Result<Vec<NodeReport>, Error> {
    let plan = batch::read_plan(records)?;
    let reports = read_reports(records, &plan, cache)?;
    let meta = crate::report::RunMeta {
        remote_cache: plan.remote_cache.clone(),
        ..Default::default()
    };
    write(out, reports, previous, &meta)
}

/// The jobs' reports: each record from the directory, else (with a cache and
/// a batch id) from the cache, its log and artifacts copied into `records`.
fn read_reports(
    records: &Path,
    plan: &BatchPlan,
    cache: Option<&crate::remote::RemoteCache>,
) -> Result<Vec<NodeReport>, Error> {
    let shared = cache.filter(|_| !plan.batch_id.is_empty());
    let mut warnings = Vec::new();
    let mut read = |id: &str| -> Result<Option<JobRecord>, batch::BatchError> {
        if let Some(rec) = batch::record::read_record(records, id)? {
            return Ok(Some(rec));
        }
        let Some(cache) = shared else { return Ok(None) };
        let (rec, w) = batch::shared::download(cache, &plan.batch_id, records, id)?;
        warnings.extend(w);
        Ok(rec)
    };
    let reports = batch::reports_with(records, plan, &mut read)?;
    for w in &warnings {
        eprintln!("warning: not taken from the remote cache: {w}");
    }
    Ok(reports)
}

/// Writes the reports into `out` from shards' `report.json` files.
pub fn merge_shard_reports(shards: &[PathBuf], out: &Path, previous: Option<&Path>) -> Result<Vec<NodeReport>, Error> {
    let paths: Vec<&Path> = shards.iter().map(PathBuf::as_path).collect();
    let reports = batch::merge_reports(&paths)?;
    write(out, reports, previous, &crate::report::RunMeta::default())
}

fn write(
    out: &Path,
    reports: Vec<NodeReport>,
    previous: Option<&Path>,
    meta: &crate::report::RunMeta,
) -> Result<Vec<NodeReport>, Error> {
    let paths = crate::report::write_reports(out, &reports, previous, meta)?;
    for w in &paths.warnings {
        eprintln!("warning: {w}");
    }
    eprintln!("report: {}", paths.html.display());
    Ok(reports)
}

/// The jobs' states from the records in `records` and in the remote cache
/// when given (no report written).
pub fn batch_reports(records: &Path, cache: Option<&crate::remote::RemoteCache>) -> Result<Vec<NodeReport>, Error> {
    let plan = batch::read_plan(records)?;
    read_reports(records, &plan, cache)
}

/// The remote cache where a batch's records are read: `--remote-cache`, else
/// $RECIPE_REMOTE_CACHE, else the one the plan names (unless its URL held
/// credentials, which the plan does not keep).
pub fn records_cache(
    settings: &crate::settings::Settings,
    records: &Path,
    arg_url: Option<&str>,
) -> Result<Option<std::sync::Arc<crate::remote::RemoteCache>>, Error> {
    if let Some(cache) = super::build::open_remote(settings, arg_url, &Default::default())? {
        return Ok(Some(cache));
    }
    let plan = batch::read_plan(records)?;
    match plan.remote_cache.filter(|u| !u.contains("***")) {
        Some(url) => super::build::open_remote(settings, Some(&url), &Default::default()),
        None => Ok(None),
    }
}
