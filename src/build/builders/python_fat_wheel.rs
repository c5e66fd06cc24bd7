//! `build python-wheel { layout "fat" platforms … }`: one wheel carrying
//! the bundled libraries of every listed target, each in its own
//! `<lib-dir's parent>/<target.python.lib_dir>/` (helmpy's `_lib/<platform>/`
//! layout), tagged with the compressed set of those targets' platform tags.
//! The other targets' libraries come from the plan's `Platform` edges; the
//! package's Python code picks its platform's directory at import.

use std::path::PathBuf;

use super::python_wheel::{PythonPart, bundle_closure, check_loadable, platform_tag, top_libraries};
use super::{BuildCtx, BuildError};
use crate::package::wheel::{self, WheelEntry};
use crate::recipe::options::PythonWheelOptions;

/// `lib-dir` without its last component, which must be this target's
/// `python.lib_dir` (the fat wheel puts every target's beside it).
fn lib_parent<'a>(ctx: &BuildCtx, lib_dir: &'a str) -> Result<&'a str, BuildError> {
    let own = &ctx.target.python.lib_dir;
    let trimmed = lib_dir.trim_end_matches('/');
    match trimmed.rsplit_once('/') {
        Some((parent, last)) if last == own => Ok(parent),
        _ => Err(BuildError::invalid(
            format!("with `layout \"fat\"`, lib-dir `{lib_dir}` must end in the target's lib dir (`{own}`)"),
            "write `lib-dir \"pkg/_lib/{{ target.python.lib_dir }}\"`: the fat wheel carries one such directory per platform",
        )),
    }
}

/// The staged dependencies of `platform`: this build's own for its target,
/// else what the plan's `Platform` edges brought.
fn deps_of<'a>(
    ctx: &'a BuildCtx,
    platform: &str,
) -> Option<(&'a crate::model::target::Target, &'a [(String, PathBuf)])> {
    if platform == ctx.target.name {
        return Some((ctx.target, ctx.deps));
    }
    ctx.platforms
        .iter()
        .find(|p| p.target.name == platform)
        .map(|p| (&p.target, p.deps.as_slice()))
}

pub fn build(ctx: &BuildCtx, opts: &PythonWheelOptions, lib_dir: &str, part: &PythonPart) -> Result<(), BuildError> {
    if ctx.host_build {
        return Err(BuildError::invalid(
            "a fat wheel is built for targets, not for the build machine",
            "build the package with --target",
        ));
    }
    let parent = lib_parent(ctx, lib_dir)?;
    let mut entries: Vec<WheelEntry> = part.entries.clone();
    let mut tags: Vec<String> = Vec::new();
    let mut dirs: Vec<(&str, &str)> = Vec::new();
    for platform in &opts.platforms {
        let (target, deps) = deps_of(ctx, platform).ok_or_else(|| {
            BuildError::invalid(
                format!("the fat wheel lists platform `{platform}`, whose libraries this build did not get"),
                "the plan adds every listed platform; run the build through `recipe build`",
            )
        })?;
        match dirs.iter().find(|(_, d)| *d == target.python.lib_dir) {
            Some((other, _)) if *other == platform => continue,
            Some((other, dir)) => {
                return Err(BuildError::invalid(
                    format!("platforms `{other}` and `{platform}` both put their libraries in `{parent}/{dir}`"),
                    "list one target per python lib-dir in `platforms`",
                ));
            }
            None => dirs.push((platform, &target.python.lib_dir)),
        }
        let libs = bundle_closure(deps, &opts.bundle)?;
        let top = top_libraries(deps, &opts.bundle, &libs);
        check_loadable(&libs, &top)?;
        for lib in &libs {
            // As staged, not stripped here: the other targets' `strip` is
            // not this build's, and every node must make the same bytes.
            let data = std::fs::read(&lib.path)
                .map_err(|e| BuildError::io(format!("cannot read {}", lib.path.display()), e))?;
            entries.push(WheelEntry {
                path: format!("{parent}/{}/{}", target.python.lib_dir, lib.soname),
                data,
                executable: true,
            });
        }
        let tag = platform_tag(&target.python.machine, &libs);
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    tags.sort();
    let tag = format!("{}-{}-{}", opts.python_tag, opts.abi_tag, tags.join("."));
    let wheel_dir = ctx.dirs.dest.join("usr/share/wheels");
    let path = wheel::write(&wheel_dir, &part.name, &part.version, &tag, &part.metadata, entries)
        .map_err(|e| BuildError::invalid(e.to_string(), "check free disk space and permissions"))?;
    ctx.log.note(&format!("fat wheel: {}", path.display()))?;
    Ok(())
}
