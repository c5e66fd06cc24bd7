//! The sources of a plan: each file once, fetched in parallel, a wrong
//! sha256 reported at the recipe's line.

use std::collections::HashMap;
use std::path::PathBuf;

use rayon::prelude::*;

use crate::error::Error;
use crate::fetch::{FetchContext, FetchError, RecipeMismatch, fetch_for_package};
use crate::model::project::Project;
use crate::plan::graph::{NodeId, plan};
use crate::plan::render::render_plan;
use crate::recipe::rendered::{Origin, Recipe, Source};

/// Every recipe of the plan for `names` on `targets`, rendered.
pub fn rendered_plan(project: &Project, names: &[String], targets: &[String]) -> Result<Vec<Recipe>, Error> {
    let plan = plan(project, names, targets)?;
    Ok(render_plan(project, &plan, &crate::toolchain::activate::host_target())?
        .into_values()
        .collect())
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

/// Provisions (or, offline, checks) everything the targets of `recipes`
/// use: toolchains and sysroots, qemu for emulated targets, Go when a
/// recipe builds Go, and the sysroots extended by `sysroot-packages`.
pub fn provision_targets(
    cache: &std::path::Path,
    project: &crate::model::project::Project,
    recipes: &[crate::recipe::Recipe],
    targets: &[String],
    fetch: std::sync::Arc<crate::fetch::FetchContext>,
) -> Result<(), crate::error::Error> {
    let needs_go = recipes.iter().any(|r| r.build.kind == crate::recipe::BuildKind::Go);
    let provision = crate::toolchain::provision::ProvisionContext::with_fetch(cache.to_path_buf(), fetch);
    for t in targets {
        let target = project.target(t)?;
        let def = crate::toolchain::sysroot_def_for(target, &project.sysroots)?;
        crate::toolchain::ensure_toolchain(&provision, target, def)?;
        if target.emulated() {
            crate::toolchain::qemu::ensure_qemu(&provision)?;
        }
    }
    if needs_go {
        crate::toolchain::gotool::ensure_go(&provision)?;
    }
    for r in recipes.iter().filter(|r| !r.sysroot_packages.is_empty()) {
        if let Ok(target) = project.target(&r.target) {
            crate::toolchain::activate::package_sysroot(project, target, &r.sysroot_packages, &provision)?;
        }
    }
    Ok(())
}
