//! `recipe new`: arguments → scaffold → a summary of what was guessed.

use std::sync::Arc;

use crate::cli::NewCmd;
use crate::error::Error;
use crate::fetch::FetchContext;
use crate::fetch::progress::Plain;
use crate::scaffold::{self, Origin, Request, needs_attention};
use crate::settings::Settings;
use crate::units::human_bytes as human;

pub fn run(settings: &Settings, cmd: NewCmd) -> Result<(), Error> {
    // Destructure so a new flag cannot be silently ignored.
    let NewCmd {
        name,
        url,
        pypi,
        debian,
        suite,
        version,
        limits,
    } = cmd;
    let origin = match (url, pypi, debian) {
        (Some(u), None, None) => Origin::Url(u),
        (None, Some(p), None) => Origin::pypi(&p),
        (None, None, Some(d)) => Origin::debian(&d),
        _ => return Err(Error::Usage("give exactly one of --url, --pypi and --debian".into())),
    };
    // The suite the project's sysroots come from is the natural default.
    let suite = match (&origin, suite) {
        (Origin::Debian { .. }, None) => super::load(settings)
            .ok()
            .and_then(|p| p.sysroots.values().next().map(|s| s.suite.clone())),
        (_, s) => s,
    };
    let paths = &settings.paths;
    let request = Request {
        name,
        origin,
        version,
        recipes_dir: paths.recipes.clone(),
        known_recipes: names_in(&paths.recipes, |p| p.join("recipe.kdl").is_file()),
        suite,
    };
    // Refuse before downloading anything.
    scaffold::recipe_path(&request)?;

    let mut options = settings.fetch_options(false, &limits.into());
    options.progress = Arc::new(Plain);
    let ctx = FetchContext::new(&settings.cache, options)?;
    let made = scaffold::create(&ctx, &request)?;

    let d = &made.draft;
    let shown = made
        .path
        .strip_prefix(&paths.root)
        .unwrap_or(&made.path)
        .display()
        .to_string();
    println!("wrote {shown}");
    println!("  version  {}  (from {})", d.version, made.version_from);
    println!("  build    {}  ({})", d.build.kind.name(), d.build.evidence);
    match (&d.license, &made.license_from) {
        (Some(l), Some(from)) => println!("  license  {l}  (guessed from {from}: check it)"),
        _ => println!("  license  not recognised: add `license \"SPDX\"` to the package"),
    }
    println!("  sha256   {}  ({}, from {})", d.sha256, human(made.size), made.url);
    let mut todo: Vec<String> = needs_attention(d).into_iter().map(String::from).collect();
    // The kind's host tools come from the project's recipes of those names.
    let known = names_in(&paths.recipes, |p| p.join("recipe.kdl").is_file());
    for tool in d
        .build
        .kind
        .host_tools()
        .iter()
        .filter(|t| !known.iter().any(|k| k == *t))
    {
        todo.push(format!(
            "recipes/{tool}/recipe.kdl (the host tool `{tool}` that `build {}` runs; the recipe repository ships one)",
            d.build.kind.name()
        ));
    }
    if !todo.is_empty() {
        println!("fill in before building: {}", todo.join(", "));
    }
    let targets = names_in(&paths.toolchains, |p| p.is_file())
        .into_iter()
        .filter_map(|f| f.strip_suffix(".kdl").map(String::from))
        .collect::<Vec<_>>();
    let target = targets.first().map_or("TARGET", String::as_str);
    println!(
        "next:\n  recipe lint {}\n  recipe build {} --target {target}",
        d.name, d.name
    );
    Ok(())
}

/// Sorted names of the entries of `dir` whose path passes `keep`.
fn names_in(dir: &std::path::Path, keep: impl Fn(&std::path::Path) -> bool) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| keep(&e.path()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}
