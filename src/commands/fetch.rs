//! `recipe fetch`: every source of the plan into the download cache, in parallel.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

use crate::error::Error;
use crate::fetch::progress::{Bars, Plain, human};
use crate::fetch::{
    FetchContext, FetchError, FetchOptions, LimitOverrides, ProgressSink, cached_source, fetch_for_package,
};
use crate::graph::plan;
use crate::project::Project;
use crate::recipe::rendered::{Origin, Recipe, Source};
use crate::render::render_plan;
use crate::settings::Settings;

/// Every recipe of the plan for `names` on `targets`, rendered.
pub fn rendered_plan(project: &Project, names: &[String], targets: &[String]) -> Result<Vec<Recipe>, Error> {
    let plan = plan(project, names, targets)?;
    Ok(render_plan(project, &plan)?.into_values().collect())
}

/// Downloadable sources, each once (the same file may serve many targets).
fn unique_sources(recipes: &[Recipe]) -> Vec<(String, Source)> {
    let mut seen = std::collections::HashSet::new();
    recipes
        .iter()
        .flat_map(|r| r.sources.iter().map(move |s| (r.name.clone(), s.clone())))
        .filter(|(_, s)| !matches!(s.origin, Origin::Path { .. }))
        .filter(|(_, s)| seen.insert((s.file.clone(), s.sha256.to_ascii_lowercase())))
        .collect()
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

    let config = crate::fetch::UserConfig::load()?;
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
    let cached = sources.iter().filter(|(_, s)| cached_source(&ctx, s).is_some()).count();
    let jobs = jobs.or(config.jobs).unwrap_or(4).max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|e| Error::Usage(format!("cannot start {jobs} download threads: {e}")))?;
    let started = Instant::now();
    let results: Vec<Result<std::path::PathBuf, FetchError>> = pool.install(|| {
        sources
            .par_iter()
            .map(|(package, source)| fetch_for_package(&ctx, package, source))
            .collect()
    });
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
