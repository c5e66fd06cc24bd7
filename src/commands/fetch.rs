//! `recipe fetch`: every source of the plan into the download cache, in parallel.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Instant;

use crate::error::Error;
use crate::fetch::progress::{Bars, Plain};
use crate::fetch::{FetchContext, FetchError, FetchOptions, LimitOverrides, ProgressSink, cached_source};
use crate::pipeline::{all_target_packages, fetch_all, rendered_plan, unique_sources};
use crate::settings::Settings;
use crate::units::human_bytes as human;

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
        all_target_packages(&project)
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
        crate::pipeline::provision_targets(&settings.cache, &project, &recipes, &targets, Arc::new(ctx))?;
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
