//! `build go`: cgo builds (c-shared, c-archive or executables) against the C
//! libraries staged by dependencies, fully offline: module dependencies are
//! copied into `vendor/` from paths given by the recipe.

use std::path::{Path, PathBuf};

use super::{BuildCtx, BuildError};
use crate::recipe::options::{GoMode, GoOptions};

/// `vendor "MODULE=PATH"`: PATH is inside the source tree, or, when absolute,
/// inside the package's sysroot (where dependencies' staged files are).
fn vendor_source(ctx: &BuildCtx, path: &str) -> PathBuf {
    match path.strip_prefix('/') {
        Some(inside) => ctx.dirs.sysroot.join(inside),
        None => ctx.dirs.src.join(path),
    }
}

/// Copies one Go package's own files (not subpackages, not tests, not
/// go.mod) into the vendor tree.
fn copy_package(from: &Path, to: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(to)?;
    let mut n = 0;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let wanted =
            [".go", ".c", ".h", ".s", ".S"].iter().any(|ext| name.ends_with(ext)) && !name.ends_with("_test.go");
        if wanted && entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(&name))?;
            n += 1;
        }
    }
    Ok(n)
}

/// `vendor-modules.txt` (the future `vendor/modules.txt`): module → packages.
fn vendored_packages(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let module = rest.split_whitespace().next().unwrap_or("").to_string();
            out.push((module, Vec::new()));
        } else if !line.starts_with('#')
            && !line.trim().is_empty()
            && let Some((_, pkgs)) = out.last_mut()
        {
            pkgs.push(line.trim().to_string());
        }
    }
    out
}

/// How thoroughly to vendor: the build needs every module (a missing one
/// is the recipe's mistake); the early phase's cache warm-up takes what its
/// partial sysroot (the dependencies built so far) has.
#[derive(PartialEq, Eq)]
pub(super) enum Vendoring {
    Complete,
    AsFarAsBuilt,
}

/// Fills `vendor/` from the recipe's `vendor` entries and
/// `vendor-modules.txt`.
pub(super) fn vendor(ctx: &BuildCtx, opts: &GoOptions, how: &Vendoring) -> Result<(), BuildError> {
    let work = ctx.work_dir();
    let vendor_dir = work.join("vendor");
    let complete = *how == Vendoring::Complete;
    let mut sources = std::collections::BTreeMap::new();
    for spec in &opts.vendor {
        let Some((module, path)) = spec.split_once('=') else {
            return Err(BuildError::invalid(
                format!("vendor entry `{spec}` is not MODULE=PATH"),
                "write `vendor \"github.com/pkg/errors=/usr/share/gocode/src/github.com/pkg/errors\"`",
            ));
        };
        let from = vendor_source(ctx, path);
        if !from.is_dir() {
            if !complete {
                continue;
            }
            return Err(BuildError::invalid(
                format!("vendored module {module}: {} does not exist", from.display()),
                "absolute paths are looked up in the package's sysroot (base + dependencies); add the package providing it to `depends`",
            ));
        }
        sources.insert(module.to_string(), from);
    }
    if opts.vendor.is_empty() {
        return Ok(());
    }
    let modules_txt = work.join("vendor-modules.txt");
    let text = std::fs::read_to_string(&modules_txt).map_err(|e| {
        BuildError::io(
            format!(
                "vendoring needs {} (the vendor/modules.txt to use)",
                modules_txt.display()
            ),
            e,
        )
    })?;
    for (module, packages) in vendored_packages(&text) {
        let Some(root) = sources.get(&module) else {
            if !complete {
                continue;
            }
            return Err(BuildError::invalid(
                format!("vendor-modules.txt lists {module}, but no `vendor` entry says where it is"),
                format!("add `vendor \"{module}=PATH\"` to the build node"),
            ));
        };
        for pkg in packages {
            let rel = pkg.strip_prefix(&module).unwrap_or("").trim_start_matches('/');
            let copied = copy_package(&root.join(rel), &vendor_dir.join(&pkg));
            match copied {
                Ok(n) if n > 0 => {}
                _ if !complete => {}
                Ok(_) => {
                    return Err(BuildError::invalid(
                        format!("vendored package {pkg} has no Go files in {}", root.join(rel).display()),
                        "check the module path in the `vendor` entry",
                    ));
                }
                Err(e) => return Err(BuildError::io(format!("cannot vendor package {pkg}"), e)),
            }
        }
    }
    std::fs::create_dir_all(&vendor_dir).map_err(|e| BuildError::io("cannot create vendor/", e))?;
    std::fs::copy(&modules_txt, vendor_dir.join("modules.txt"))
        .map_err(|e| BuildError::io("cannot install vendor/modules.txt", e))?;
    Ok(())
}

pub fn build(ctx: &BuildCtx, opts: &GoOptions) -> Result<(), BuildError> {
    let work = ctx.work_dir();
    vendor(ctx, opts, &Vendoring::Complete)?;
    let (subdir, default_name) = match opts.mode {
        GoMode::CShared => ("usr/lib", format!("lib{}.so", ctx.recipe.name)),
        GoMode::CArchive => ("usr/lib", format!("lib{}.a", ctx.recipe.name)),
        GoMode::Exe => ("usr/bin", ctx.recipe.name.clone()),
    };
    let name = opts.output.clone().unwrap_or(default_name);
    let out_dir = ctx.dirs.dest.join(subdir);
    std::fs::create_dir_all(&out_dir).map_err(|e| BuildError::io("cannot create the output dir", e))?;
    let output = out_dir.join(&name);
    // No VCS stamp: the project's checkout is not the package's source.
    let mut args = vec![
        "build".to_string(),
        "-trimpath".to_string(),
        "-buildvcs=false".to_string(),
        "-mod=vendor".to_string(),
    ];
    if let Some(mode) = opts.mode.build_mode() {
        args.push(format!("-buildmode={mode}"));
    }
    if !opts.tags.is_empty() {
        args.push(format!("-tags={}", opts.tags.join(",")));
    }
    // No build id: identical inputs give identical outputs.
    let mut ldflags = vec!["-buildid=".to_string()];
    if ctx.recipe.build.common.rpath_origin {
        ldflags.push("-extldflags=-Wl,-rpath,$ORIGIN".to_string());
    }
    ldflags.extend(opts.ldflags.iter().cloned());
    args.push(format!("-ldflags={}", ldflags.join(" ")));
    args.push("-o".into());
    args.push(output.display().to_string());
    args.push(opts.package.clone());
    ctx.run("go", args, &work)?;
    // c-shared/c-archive also write a header beside the library.
    let generated = output.with_extension("h");
    if generated.is_file() {
        let header = opts.header.as_ref().map_or_else(
            || generated.file_name().map(|f| f.to_os_string()).unwrap_or_default(),
            |h| h.into(),
        );
        let include = ctx.dirs.dest.join("usr/include");
        std::fs::create_dir_all(&include).map_err(|e| BuildError::io("cannot create usr/include", e))?;
        std::fs::rename(&generated, include.join(header))
            .map_err(|e| BuildError::io("cannot install the header", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn modules_txt_is_read_per_module() {
        let text = "# github.com/a/b v1.0.0\n## explicit; go 1.13\ngithub.com/a/b\ngithub.com/a/b/c\n# x.org/y v0.1.0\n## explicit\nx.org/y\n";
        let got = super::vendored_packages(text);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1, ["github.com/a/b", "github.com/a/b/c"]);
        assert_eq!(got[1].0, "x.org/y");
    }
}
