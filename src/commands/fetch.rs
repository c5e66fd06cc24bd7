//! `recipe fetch`: every source of the plan into the download cache, in parallel.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

use crate::error::Error;
use crate::fetch::progress::{Bars, Plain, human};
use crate::fetch::{
    FetchContext, FetchError, FetchOptions, LimitOverrides, ProgressSink, RecipeMismatch, cached_source,
    fetch_for_package,
};
use crate::graph::{NodeId, plan};
use crate::project::Project;
use crate::recipe::rendered::{Origin, Recipe, Source};
use crate::render::render_plan;
use crate::settings::Settings;

/// Every recipe of the plan for `names` on `targets`, rendered.
pub fn rendered_plan(project: &Project, names: &[String], targets: &[String]) -> Result<Vec<Recipe>, Error> {
    let plan = plan(project, names, targets)?;
    Ok(render_plan(project, &plan)?.into_values().collect())
}

/// One downloadable source of a plan, once however many packages use it.
pub struct PlannedSource {
    /// The first package that has it, and the source's place in its recipe.
    pub package: String,
    pub index: usize,
    pub source: Source,
    /// Every (package, target) that needs it.
    pub users: Vec<NodeId>,
}

/// Downloadable sources, each once (the same file may serve many targets).
pub fn unique_sources<'a>(recipes: impl IntoIterator<Item = &'a Recipe>) -> Vec<PlannedSource> {
    let mut out: Vec<PlannedSource> = Vec::new();
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for r in recipes {
        for (index, s) in r.sources.iter().enumerate() {
            if matches!(s.origin, Origin::Path { .. }) {
                continue;
            }
            let user = NodeId {
                name: r.name.clone(),
                target: r.target.clone(),
            };
            let key = (s.file.clone(), s.sha256.to_ascii_lowercase());
            if let Some(&i) = seen.get(&key) {
                out[i].users.push(user);
                continue;
            }
            seen.insert(key, out.len());
            out.push(PlannedSource {
                package: r.name.clone(),
                index,
                source: s.clone(),
                users: vec![user],
            });
        }
    }
    out
}

/// Fetches every source on a pool of `jobs` threads; results in order.
pub fn fetch_all(
    ctx: &FetchContext,
    project: &Project,
    sources: &[PlannedSource],
    jobs: usize,
) -> Result<Vec<Result<PathBuf, FetchError>>, Error> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|e| Error::Usage(format!("cannot start {jobs} download threads: {e}")))?;
    Ok(pool.install(|| {
        sources
            .par_iter()
            .map(|p| {
                fetch_for_package(ctx, &p.package, &p.source)
                    .map_err(|e| locate(project, p.package.as_str(), p.index, e))
            })
            .collect()
    }))
}

/// A sha256 mismatch pointing at the recipe's `sha256` line; other errors
/// unchanged. Rendered sources keep the raw ones' order, hence `index`.
fn locate(project: &Project, package: &str, index: usize, err: FetchError) -> FetchError {
    let FetchError::Source {
        file, source: inner, ..
    } = &err
    else {
        return err;
    };
    let (expected, actual, from, kept, size) = match inner.as_ref() {
        FetchError::HashMismatch { expected, mismatch, .. } => (
            expected,
            &mismatch.actual,
            mismatch.url.clone(),
            &mismatch.quarantined,
            mismatch.size,
        ),
        FetchError::KeptMismatch {
            expected, actual, kept, ..
        } => (
            expected,
            actual,
            "an earlier download of the same URL (no request made)".to_string(),
            kept,
            std::fs::metadata(kept).map_or(0, |m| m.len()),
        ),
        _ => return err,
    };
    let Some(raw) = project.recipes.get(package) else {
        return err;
    };
    let Some(sha) = raw.sources.get(index).and_then(|s| s.sha256.as_ref()) else {
        return err;
    };
    FetchError::RecipeMismatch(Box::new(RecipeMismatch {
        src: raw.file.named(),
        span: sha.span,
        package: package.to_string(),
        file: file.clone(),
        expected: expected.clone(),
        actual: actual.clone(),
        from,
        kept: kept.clone(),
        size,
    }))
}

pub fn run(
    settings: &Settings,
    names: &[String],
    all: bool,
    target: Option<&str>,
    offline: bool,
    jobs: Option<usize>,
    limits: &LimitOverrides,
) -> Result<(), Error> {
    let project = super::load(settings)?;
    let names: Vec<String> = if all {
        super::build::all_target_packages(&project)
    } else {
        names.to_vec()
    };
    let targets: Vec<String> = match target {
        Some(t) => vec![project.target(t)?.name.clone()],
        None => project.targets.keys().cloned().collect(),
    };
    if targets.is_empty() {
        return Err(Error::Usage("no targets defined (toolchains/*.kdl)".into()));
    }
    let recipes = rendered_plan(&project, &names, &targets)?;
    let sources = unique_sources(&recipes);

    let config = settings.config.clone();
    let progress: Arc<dyn ProgressSink> = if std::io::stderr().is_terminal() {
        Arc::new(Bars::new())
    } else {
        Arc::new(Plain)
    };
    let mut transfer_limits = config.limits;
    limits.apply(&mut transfer_limits);
    let ctx = FetchContext::new(
        &settings.cache,
        FetchOptions {
            offline,
            policy: config.policy,
            limits: transfer_limits,
            mirrors: config.mirrors,
            progress: progress.clone(),
        },
    )?;
    let cached = sources
        .iter()
        .filter(|p| cached_source(&ctx, &p.source).is_some())
        .count();
    let jobs = jobs.or(config.jobs).unwrap_or(4).max(1);
    let started = Instant::now();
    let results = fetch_all(&ctx, &project, &sources, jobs)?;
    let mut bytes = 0u64;
    let mut failures: Vec<FetchError> = Vec::new();
    for r in results {
        match r {
            Ok(p) => bytes += std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0),
            Err(e) => failures.push(e),
        }
    }
    let total = sources.len();
    progress.message(&format!(
        "{total} sources ({}): {cached} already cached, {} downloaded, {} failed; {} HTTP requests in {:.1}s",
        human(bytes),
        total - cached - failures.len(),
        failures.len(),
        ctx.requests(),
        started.elapsed().as_secs_f64()
    ));
    if failures.is_empty() && all {
        // `fetch --all` prepares offline batches, which need the toolchains
        // too: provision (or, offline, check) everything the targets use.
        let needs_go = recipes.iter().any(|r| r.build.kind == crate::recipe::BuildKind::Go);
        let provision = crate::provision::ProvisionContext::with_fetch(settings.cache.clone(), Arc::new(ctx));
        for t in &targets {
            let target = project.target(t)?;
            let def = crate::toolchain::sysroot_def_for(target, &project.sysroots)?;
            crate::toolchain::ensure_toolchain(&provision, target, def)?;
            if target.emulated() {
                crate::qemu::ensure_qemu(&provision)?;
            }
        }
        if needs_go {
            crate::gotool::ensure_go(&provision)?;
        }
    }
    match failures.len() {
        0 => Ok(()),
        1 => Err(failures.remove(0).into()),
        n => {
            for e in failures {
                eprintln!("{:?}", miette::Report::new(e));
            }
            Err(FetchError::Several { failed: n, total }.into())
        }
    }
}
