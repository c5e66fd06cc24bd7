//! `build go`: cgo builds (c-shared, c-archive or executables) against the C
//! libraries staged by dependencies, fully offline: module dependencies are
//! copied into `vendor/` from paths given by the recipe.

use std::path::{Path, PathBuf};

use super::{BuildCtx, BuildError};

/// `vendor "MODULE=PATH"`: PATH is inside the source tree, or, when absolute,
/// inside the package's sysroot (where dependencies' staged files are).
fn vendor_source(ctx: &BuildCtx, path: &str) -> PathBuf {
    match path.strip_prefix('/') {
        Some(inside) => ctx.dirs.sysroot.join(inside),
        None => ctx.dirs.src.join(path),
    }
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let ft = entry.file_type()?;
        let dest = to.join(entry.file_name());
        if ft.is_dir() {
            copy_tree(&entry.path(), &dest)?;
        } else if ft.is_symlink() {
            let link = std::fs::read_link(entry.path())?;
            let _ = std::fs::remove_file(&dest);
            std::os::unix::fs::symlink(link, dest)?;
        } else {
            std::fs::copy(entry.path(), dest)?;
        }
    }
    Ok(())
}

pub fn build(ctx: &BuildCtx) -> Result<(), BuildError> {
    let work = ctx.work_dir();
    let opts = &ctx.recipe.build;
    let vendor_dir = work.join("vendor");
    for spec in opts.list("vendor") {
        let Some((module, path)) = spec.split_once('=') else {
            return Err(BuildError::invalid(
                format!("vendor entry `{spec}` is not MODULE=PATH"),
                "write `vendor \"github.com/pkg/errors=/usr/share/gocode/src/github.com/pkg/errors\"`",
            ));
        };
        let from = vendor_source(ctx, path);
        if !from.is_dir() {
            return Err(BuildError::invalid(
                format!("vendored module {module}: {} does not exist", from.display()),
                "absolute paths are looked up in the package's sysroot (base + dependencies); add the package providing it to `depends`",
            ));
        }
        copy_tree(&from, &vendor_dir.join(module))
            .map_err(|e| BuildError::io(format!("cannot vendor {module} from {}", from.display()), e))?;
    }
    let modules_txt = work.join("vendor-modules.txt");
    if modules_txt.is_file() {
        std::fs::create_dir_all(&vendor_dir).map_err(|e| BuildError::io("cannot create vendor/", e))?;
        std::fs::copy(&modules_txt, vendor_dir.join("modules.txt"))
            .map_err(|e| BuildError::io("cannot install vendor/modules.txt", e))?;
    }
    let mode = opts.text("mode").unwrap_or("exe");
    let (subdir, default_name) = match mode {
        "c-shared" => ("usr/lib", format!("lib{}.so", ctx.recipe.name)),
        "c-archive" => ("usr/lib", format!("lib{}.a", ctx.recipe.name)),
        "exe" => ("usr/bin", ctx.recipe.name.clone()),
        other => {
            return Err(BuildError::invalid(
                format!("unknown go build mode `{other}`"),
                "use c-shared, c-archive or exe",
            ));
        }
    };
    let name = opts.text("output").map_or(default_name, str::to_string);
    let out_dir = ctx.dirs.dest.join(subdir);
    std::fs::create_dir_all(&out_dir).map_err(|e| BuildError::io("cannot create the output dir", e))?;
    let output = out_dir.join(&name);
    let mut args = vec!["build".to_string(), "-trimpath".to_string(), "-mod=vendor".to_string()];
    if mode != "exe" {
        args.push(format!("-buildmode={mode}"));
    }
    if !opts.list("tags").is_empty() {
        args.push(format!("-tags={}", opts.list("tags").join(",")));
    }
    // No build id: identical inputs give identical outputs.
    let mut ldflags = vec!["-buildid=".to_string()];
    ldflags.extend(opts.list("ldflags").iter().cloned());
    args.push(format!("-ldflags={}", ldflags.join(" ")));
    args.push("-o".into());
    args.push(output.display().to_string());
    args.push(opts.text("package").unwrap_or(".").to_string());
    ctx.run("go", args, &work)?;
    // c-shared/c-archive also write a header beside the library.
    let generated = output.with_extension("h");
    if generated.is_file() {
        let header = opts.text("header").map_or_else(
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
