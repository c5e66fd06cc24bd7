//! `recipe patch NAME [--target T]`: arguments → the maintain layer → a
//! summary of what was written and what was left out.

use std::sync::Arc;

use crate::cli::PatchCmd;
use crate::error::Error;
use crate::fetch::FetchContext;
use crate::fetch::progress::Plain;
use crate::maintain::{MaintainError, PatchOutcome, PatchRequest, make_patch, new_patch::today};
use crate::model::project::Project;
use crate::plan::graph::check_requested;
use crate::plan::render::render;
use crate::settings::Settings;

pub fn run(settings: &Settings, cmd: PatchCmd) -> Result<(), Error> {
    // Destructure so a new flag cannot be silently ignored.
    let PatchCmd {
        name,
        target,
        slug,
        message,
        exclude,
        offline,
    } = cmd;
    let project = super::load(settings)?;
    check_requested(&project, std::slice::from_ref(&name))?;
    let layout = crate::pipeline::layout(settings, None, None);
    let target = match target {
        Some(t) => t,
        None => only_prepared_target(&project, &layout.build_root, &name)?,
    };
    let target = project.target(&target)?;
    let work = layout.package_dir(&target.name, &name);
    let tree = work.join("src");
    if !tree.is_dir() {
        return Err(MaintainError::NoTree {
            name,
            target: target.name.clone(),
            path: tree,
        }
        .into());
    }
    let raw = &project.recipes[&name];
    let recipe = render(raw, target)?;
    let options = crate::fetch::FetchOptions {
        progress: Arc::new(Plain),
        ..settings.fetch_options(offline, &Default::default())
    };
    let ctx = FetchContext::new(&settings.cache, options)?;
    let request = PatchRequest {
        raw,
        recipe: &recipe,
        target: &target.name,
        tree,
        work,
        name: slug,
        message,
        exclude,
        today: today(std::time::SystemTime::now()),
    };
    let outcome = make_patch(&ctx, &request)?;
    let shown = |p: &std::path::Path| p.strip_prefix(&settings.paths.root).unwrap_or(p).display().to_string();
    let diff = match &outcome {
        PatchOutcome::NoChange(diff) => {
            println!(
                "no difference from the pristine tree of {name} for {}: nothing written",
                target.name
            );
            diff
        }
        PatchOutcome::Written { patch, line, diff, .. } => {
            println!("wrote {} ({} file(s))", shown(patch), diff.changed.len());
            for c in &diff.changed {
                println!("  {c}");
            }
            println!("added `{line}` to {}", shown(&raw.dir.join("recipe.kdl")));
            diff
        }
    };
    report_left_out(diff);
    if let PatchOutcome::Written { regenerated, .. } = &outcome
        && !regenerated.is_empty()
    {
        eprintln!(
            "warning: the tree was built in, and these changed files are ones a build regenerates: {}\n  if you did not edit them, remove the patch, prepare a fresh tree with `recipe source`, and redo your edit (or pass --exclude)",
            regenerated.join(", ")
        );
    }
    Ok(())
}

fn report_left_out(diff: &crate::maintain::tree_diff::TreeDiff) {
    if !diff.products.is_empty() {
        let mut shown: Vec<&str> = diff.products.iter().map(String::as_str).take(5).collect();
        if diff.products.len() > 5 {
            shown.push("…");
        }
        println!(
            "left out {} new file(s) taken for build products: {}",
            diff.products.len(),
            shown.join(", ")
        );
    }
    if !diff.excluded.is_empty() {
        println!("left out {} path(s) matching --exclude", diff.excluded.len());
    }
    for (path, why) in &diff.skipped {
        eprintln!("warning: {path} is not in the patch ({why}: a text patch cannot carry it)");
    }
}

/// The one target with a prepared tree of `name`, when `--target` is not given.
fn only_prepared_target(project: &Project, build_root: &std::path::Path, name: &str) -> Result<String, Error> {
    let found: Vec<String> = project
        .targets
        .keys()
        .filter(|t| build_root.join(t).join(name).join("src").is_dir())
        .cloned()
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(MaintainError::NoTreeAnyTarget {
            name: name.to_string(),
            build: build_root.to_path_buf(),
        }
        .into()),
        _ => Err(MaintainError::WhichTarget {
            name: name.to_string(),
            targets: found,
        }
        .into()),
    }
}
