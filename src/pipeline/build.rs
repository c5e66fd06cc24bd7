//! Building: plan, render, fetch every source first, activate the targets,
//! schedule, write the reports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use std::sync::Arc;

use crate::build::builders::BuildError;
use crate::build::job::Layout;
use crate::build::process::Log;
use crate::build::progress::Progress;
use crate::build::scheduler::{NodeReport, Options, Outcome, Run};
use crate::error::Error;
use crate::fetch::progress::Plain;
use crate::fetch::{FetchContext, FetchError, FetchOptions, LimitOverrides};
use crate::plan::graph::{HOST, NodeId, plan};
use crate::plan::render::render_plan;
use crate::prepare::prepare_tree;
use crate::recipe::Recipe;
use crate::settings::Settings;
use crate::toolchain::activate::{self, TargetEnv};
use crate::toolchain::provision::ProvisionContext;

use super::Session;
use super::sources::{PlannedSource, fetch_all, unique_sources};

/// What to build and how; each field is a `recipe build` flag.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    pub names: Vec<String>,
    pub all: bool,
    pub targets: Vec<String>,
    pub jobs: Option<usize>,
    pub keep_going: bool,
    pub offline: bool,
    pub force: Vec<String>,
    pub explain: bool,
    pub build_dir: Option<PathBuf>,
    pub out_dir: Option<PathBuf>,
    pub report: Option<PathBuf>,
    pub remote_cache: Option<String>,
    pub no_remote_cache: bool,
    pub remote_read_only: bool,
    /// Neither restore from nor add to the local store.
    pub no_local_store: bool,
    /// Download limits from the command line.
    pub limits: LimitOverrides,
    /// A batch job: build only the named packages; every dependency comes
    /// from the build tree or the remote cache, or the run fails naming it.
    pub restore_deps_only: bool,
    /// Only this shard's share of the named packages.
    pub shard: Option<crate::batch::Shard>,
}

/// What a build did: the node reports, and the uploads when there were any.
pub(crate) struct BuildOutcome {
    pub reports: Vec<NodeReport>,
    pub uploaded: Option<crate::remote::UploadSummary>,
}

pub fn layout(settings: &Settings, build_dir: Option<&Path>, out_dir: Option<&Path>) -> Layout {
    let root = &settings.paths.root;
    // Absolute: steps run in other directories and receive these paths.
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let build_root = build_dir.map_or_else(|| root.join("build"), absolute);
    Layout {
        host_prefix: crate::outputs::relocate::host_prefix(&build_root),
        out_root: out_dir.map_or_else(|| root.join("out"), absolute),
        build_root,
        confine_steps: settings.sandbox,
        timings: Some(settings.cache.join("timings")),
    }
}

impl Session<'_> {
    /// Builds the requested packages and their dependencies for each target.
    pub fn build(&self, request: BuildRequest) -> Result<Vec<NodeReport>, Error> {
        build(self, request).map(|o| o.reports)
    }

    pub(crate) fn build_outcome(&self, request: BuildRequest) -> Result<BuildOutcome, Error> {
        build(self, request)
    }
}

fn build(session: &Session, request: BuildRequest) -> Result<BuildOutcome, Error> {
    let (settings, project) = (session.settings, &session.project);
    let started = std::time::Instant::now();
    let Some(names) = selected_names(project, &request)? else {
        // A shard can be empty: a success with an empty report.
        eprintln!("this shard has no packages to build");
        if let Some(dir) = &request.report {
            write_report(dir, &[], &crate::report::RunMeta::default())?;
        }
        return Ok(BuildOutcome {
            reports: Vec::new(),
            uploaded: None,
        });
    };
    let targets = &request.targets;
    for t in targets {
        if t != HOST {
            project.target(t)?;
        }
    }
    let plan = plan(project, &names, targets)?;
    let recipes = render_plan(project, &plan, &crate::toolchain::activate::host_target())?;
    let restore_only: BTreeSet<NodeId> = if request.restore_deps_only {
        let wanted = |id: &NodeId| names.contains(&id.name) && targets.contains(&id.target);
        recipes.keys().filter(|id| !wanted(id)).cloned().collect()
    } else {
        BTreeSet::new()
    };
    let layout = layout(settings, request.build_dir.as_deref(), request.out_dir.as_deref());
    // Before provisioning: a refused remote (plain http without a secret)
    // stops the run at once.
    // Offline means no network at all, the remote cache included (an
    // explicit --remote-cache with --offline is refused by the parser).
    let remote = if request.offline || request.no_remote_cache {
        None
    } else {
        open_remote(settings, request.remote_cache.as_deref(), &request.limits)?
    };
    let _lock = lock_build_dir(&layout)?;

    let fetch = Arc::new(FetchContext::new(
        &settings.cache,
        FetchOptions {
            progress: Arc::new(Plain),
            ..settings.fetch_options(request.offline, &request.limits)
        },
    )?);
    // Every source first: a wrong hash must not wait for dependencies (host
    // tools take minutes) or toolchains to build.
    // What is only restored needs no sources.
    let to_build: BTreeMap<NodeId, Recipe> = recipes
        .iter()
        .filter(|(id, _)| !restore_only.contains(*id))
        .map(|(id, r)| (id.clone(), r.clone()))
        .collect();
    let failed = fetch_sources_first(&fetch, project, &to_build, settings.config.jobs, request.keep_going)?;
    let provision = ProvisionContext::with_fetch(settings.cache.clone(), fetch.clone());
    let envs = activate_plan(project, &plan, &recipes, &layout, &provision)?;
    let options = Options {
        jobs: request
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        keep_going: request.keep_going,
        force: request.force.iter().cloned().collect(),
        explain: request.explain,
        failed,
        restore_only,
    };
    let progress = Progress::new().in_build_dir(request.build_dir.as_ref().map(|_| layout.build_root.clone()));
    let stores = Stores::open(settings, remote.clone(), &request, progress);
    let scheduled = stores.run(&fetch, &plan, &recipes, &envs, &layout, &options)?;
    super::provenance::publish_all(&scheduled.reports, &recipes, &layout, fetch.debian_archive())?;
    super::summary::print_summary(&scheduled.reports);
    if let Some(dir) = &request.report {
        let meta = crate::report::RunMeta {
            wall_ms: Some(started.elapsed().as_millis() as u64),
            command: None,
            remote_cache: remote.as_ref().map(|r| r.display_url()),
            warnings: scheduled.warnings,
            outdated: super::provenance::upstream_versions(&fetch, project, &recipes),
        };
        write_report(dir, &scheduled.reports, &meta)?;
    }
    Ok(BuildOutcome {
        reports: scheduled.reports,
        uploaded: scheduled.uploaded,
    })
}

/// The packages a request names (`--all`, then the shard's share); `None`
/// when the shard's share is empty.
fn selected_names(
    project: &crate::model::project::Project,
    request: &BuildRequest,
) -> Result<Option<Vec<String>>, Error> {
    let names: Vec<String> = if request.all {
        all_target_packages(project)
    } else {
        request.names.clone()
    };
    if names.is_empty() {
        return Err(Error::Usage("name at least one package to build, or pass --all".into()));
    }
    let names = match &request.shard {
        Some(s) => s.select(&names),
        None => names,
    };
    Ok((!names.is_empty()).then_some(names))
}

/// Where outputs are restored from and added to besides the build tree: the
/// remote cache (uploads unless read-only) and the local store; and where
/// the run's progress goes.
struct Stores {
    progress: Progress,
    remote: Option<Arc<crate::remote::RemoteCache>>,
    uploads: Option<crate::remote::RemoteWriter>,
    local: Option<Arc<crate::remote::LocalStore>>,
    local_writes: Option<crate::remote::RemoteWriter>,
}

/// What the scheduler did, with the stores' warnings.
struct Scheduled {
    reports: Vec<NodeReport>,
    uploaded: Option<crate::remote::UploadSummary>,
    warnings: Vec<String>,
}

impl Stores {
    fn open(
        settings: &Settings,
        remote: Option<Arc<crate::remote::RemoteCache>>,
        request: &BuildRequest,
        progress: Progress,
    ) -> Stores {
        let uploads = remote
            .clone()
            .filter(|_| !request.remote_read_only)
            .map(crate::remote::RemoteWriter::spawn);
        // The local store: outputs of other build directories on this machine.
        let local = (!request.no_local_store).then(|| Arc::new(crate::remote::LocalStore::new(&settings.cache)));
        if let Some(store) = &local {
            store.remove_stale_temporaries();
        }
        let local_writes = local.clone().map(crate::remote::RemoteWriter::spawn_local);
        Stores {
            progress,
            remote,
            uploads,
            local,
            local_writes,
        }
    }

    /// Runs the scheduler over the plan, then waits for the stores' writes.
    fn run(
        self,
        fetch: &FetchContext,
        plan: &crate::plan::graph::Plan,
        recipes: &BTreeMap<NodeId, Recipe>,
        envs: &BTreeMap<String, TargetEnv>,
        layout: &Layout,
        options: &Options,
    ) -> Result<Scheduled, Error> {
        let progress = self.progress;
        let prepare = |recipe: &Recipe, dest: &Path, log: &Log| -> Result<(), BuildError> {
            Ok(prepare_tree(fetch, recipe, dest, &log.path)?)
        };
        let reports = Run {
            plan,
            recipes,
            envs,
            layout,
            prepare: &prepare,
            options,
            remote: self.remote.as_deref(),
            uploads: self.uploads.as_ref(),
            local: self.local.as_deref(),
            local_writes: self.local_writes.as_ref(),
        }
        .execute(&progress)
        .map_err(|e| Error::io("build scheduler", e))?;
        let uploaded = self.uploads.map(crate::remote::RemoteWriter::finish);
        let stored = self.local_writes.map(crate::remote::RemoteWriter::finish);
        progress.finish();
        let mut warnings = uploaded.as_ref().map(|u| u.warnings.clone()).unwrap_or_default();
        for w in stored.map(|s| s.warnings).unwrap_or_default() {
            // A store that cannot be written costs the next build dir a build.
            eprintln!("warning: {w}");
            warnings.push(w);
        }
        Ok(Scheduled {
            reports,
            uploaded,
            warnings,
        })
    }
}

fn write_report(dir: &Path, reports: &[NodeReport], meta: &crate::report::RunMeta) -> Result<(), Error> {
    let paths = crate::report::write_reports(dir, reports, None, meta)?;
    for w in &paths.warnings {
        eprintln!("warning: {w}");
    }
    match &paths.previous {
        Some(previous) => eprintln!(
            "report: {} (compared with {})",
            paths.html.display(),
            previous.display()
        ),
        None => eprintln!("report: {}", paths.html.display()),
    }
    Ok(())
}

/// Fetches and verifies every source of the plan in parallel. Without
/// `keep_going` any failure ends the run; with it, the errors are printed
/// and the packages needing a failed source are returned (with why) for the
/// scheduler to report as failed. A file missing offline is left to the
/// package's turn: an up-to-date package does not need its sources.
fn fetch_sources_first(
    ctx: &FetchContext,
    project: &crate::model::project::Project,
    recipes: &BTreeMap<NodeId, Recipe>,
    jobs: Option<usize>,
    keep_going: bool,
) -> Result<BTreeMap<NodeId, String>, Error> {
    let sources = unique_sources(recipes.values());
    let results = fetch_all(ctx, project, &sources, jobs.unwrap_or(4).max(1))?;
    let mut failures: Vec<(&PlannedSource, FetchError)> = sources
        .iter()
        .zip(results)
        .filter_map(|(p, r)| r.err().map(|e| (p, e)))
        .filter(|(_, e)| !matches!(e, FetchError::OfflineMissing { .. }))
        .collect();
    if failures.is_empty() {
        return Ok(BTreeMap::new());
    }
    if !keep_going && failures.len() == 1 {
        let (_, e) = failures.remove(0);
        return Err(e.into());
    }
    let mut failed = BTreeMap::new();
    let count = failures.len();
    for (planned, e) in failures {
        let why = first_line(&e.to_string());
        for user in &planned.users {
            failed.entry(user.clone()).or_insert_with(|| why.clone());
        }
        eprintln!("{:?}", miette::Report::new(e));
    }
    if !keep_going {
        return Err(FetchError::Several {
            failed: count,
            total: sources.len(),
        }
        .into());
    }
    Ok(failed)
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

/// The remote cache of this run, if any; blobs above the download limit
/// are not restored.
pub(super) fn open_remote(
    settings: &Settings,
    arg_url: Option<&str>,
    limits: &LimitOverrides,
) -> Result<Option<Arc<crate::remote::RemoteCache>>, Error> {
    let mut transfer = settings.config.limits.clone();
    limits.apply(&mut transfer);
    let max_blob = transfer.max_size;
    let settings = settings.remote(arg_url)?;
    for w in &settings.warnings {
        eprintln!("warning: {w}");
    }
    let Some(url) = settings.url else { return Ok(None) };
    let cache = crate::remote::RemoteCache::with_secret(&url, std::time::Duration::from_secs(10), settings.secret)?
        .with_max_blob(max_blob);
    Ok(Some(Arc::new(cache)))
}

/// Provisions and activates every target the plan uses (Go only where a
/// recipe builds with it).
pub fn activate_plan(
    project: &crate::model::project::Project,
    plan: &crate::plan::graph::Plan,
    recipes: &BTreeMap<NodeId, Recipe>,
    layout: &Layout,
    provision: &ProvisionContext,
) -> Result<BTreeMap<String, TargetEnv>, Error> {
    let home = layout.build_root.join(HOST).join("home");
    std::fs::create_dir_all(&home).map_err(|e| Error::io("cannot create the build home", e))?;
    let used_targets: BTreeSet<String> = plan.order.iter().map(|ix| plan.node(*ix).target.clone()).collect();
    let mut envs: BTreeMap<String, TargetEnv> = BTreeMap::new();
    for t in used_targets {
        let need_go = recipes
            .iter()
            .any(|(id, r)| id.target == t && r.build.kind == crate::recipe::BuildKind::Go);
        let need_python = recipes.iter().any(|(id, r)| {
            id.target == t && matches!(&r.build.typed, crate::recipe::options::KindOptions::PythonWheel(o) if o.pep517)
        });
        let mut env = activate::activate(project, &t, &layout.host_prefix, &home, provision, need_go, need_python)?;
        if t != HOST {
            for (id, r) in recipes
                .iter()
                .filter(|(id, r)| id.target == t && !r.sysroot_packages.is_empty())
            {
                let sysroot = activate::package_sysroot(project, &env.target, &r.sysroot_packages, provision)?;
                env.package_sysroots.insert(id.name.clone(), sysroot);
            }
        }
        envs.insert(t, env);
    }
    Ok(envs)
}

/// One build at a time per build directory; a second one waits. Under the
/// lock, what a killed run left behind is removed.
fn lock_build_dir(layout: &Layout) -> Result<std::fs::File, Error> {
    let root = &layout.build_root;
    std::fs::create_dir_all(root).map_err(|e| Error::io("cannot create the build directory", e))?;
    let path = root.join(".lock");
    let file = std::fs::File::create(&path).map_err(|e| Error::io(format!("cannot create {}", path.display()), e))?;
    if file.try_lock().is_err() {
        eprintln!(
            "waiting for another `recipe build` using {} (or what it left running) …",
            root.display()
        );
        file.lock()
            .map_err(|e| Error::io(format!("cannot lock {}", path.display()), e))?;
    }
    crate::build::process::inherit_lock(&file);
    let leftovers = layout.remove_leftovers();
    if leftovers > 0 {
        eprintln!("removed {leftovers} leftover(s) of an interrupted run");
    }
    Ok(file)
}

/// An error when any package failed or was skipped.
pub fn ensure_success(reports: &[NodeReport]) -> Result<(), Error> {
    let failed = reports
        .iter()
        .filter(|r| {
            !matches!(
                r.outcome,
                Outcome::Built { .. } | Outcome::Cached { .. } | Outcome::Restored { .. }
            )
        })
        .count();
    if failed > 0 {
        return Err(Error::BuildFailed { count: failed });
    }
    Ok(())
}

/// Every recipe, except host tools: recipes that are only ever named in
/// `host-depends` (or run by a build kind, as cmake, meson and ninja are)
/// are built for the build machine when something needs them, never for a
/// target.
pub fn all_target_packages(project: &crate::model::project::Project) -> Vec<String> {
    let host_only = |name: &str| {
        let kind_tool = crate::recipe::BuildKind::ALL
            .iter()
            .any(|k| k.host_tools().contains(&name));
        let as_host = kind_tool
            || project
                .recipes
                .values()
                .any(|r| r.host_depends.iter().any(|d| d.value == name));
        let as_target = project
            .recipes
            .values()
            .any(|r| r.depends.iter().any(|d| d.value == name));
        as_host && !as_target
    };
    project.recipes.keys().filter(|n| !host_only(n)).cloned().collect()
}
