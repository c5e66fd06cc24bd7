//! `recipe source NAME --target T`: the patched source tree, for authors.

use std::sync::Arc;

use crate::error::Error;
use crate::fetch::progress::Plain;
use crate::fetch::{FetchContext, FetchOptions};
use crate::plan::graph::check_requested;
use crate::plan::render::render;
use crate::prepare::prepare_tree;
use crate::settings::Settings;

pub fn run(settings: &Settings, name: &str, target: &str, offline: bool) -> Result<(), Error> {
    let project = super::load(settings)?;
    check_requested(&project, &[name.to_string()])?;
    let target = project.target(target)?;
    let recipe = render(&project.recipes[name], target)?;
    let options = FetchOptions {
        progress: Arc::new(Plain),
        ..settings.fetch_options(offline, &Default::default())
    };
    let ctx = FetchContext::new(&settings.cache, options)?;
    // The same tree `recipe build` uses, so `recipe shell NAME` lands in it.
    let layout = crate::pipeline::layout(settings, None, None);
    let dir = layout.package_dir(&target.name, name);
    let dest = dir.join("src");
    let log = dir.join("prepare.log");
    // One log per preparation: stale output from an earlier run misleads.
    let _ = std::fs::remove_file(&log);
    prepare_tree(&ctx, &recipe, &dest, &log)?;
    println!("{}", dest.display());
    Ok(())
}
