//! Go's build cache warmed in the early phase. A cgo package usually waits
//! for the C libraries it links (dqlitepy-shim for dqlite), yet most of its
//! compile time is the standard library, which needs none of them. While
//! the dependencies still build, this compiles the standard packages the
//! module imports, with the build's own mode, tags and environment, into
//! the package's Go cache; the build then finds them there.
//!
//! Only a warm-up: the build's result does not depend on it (Go's cache is
//! keyed by content and flags), so a failure is noted in the log and the
//! build compiles everything itself.

use super::go::{Vendoring, vendor};
use super::{BuildCtx, BuildError};
use crate::build::process::Step;
use crate::recipe::options::{GoMode, GoOptions};

/// `$TMPDIR/go-warm`: the list and the throwaway main package.
const WARM_DIR: &str = "go-warm";

/// Standard-library import paths a program outside the standard library may
/// import: internal and vendored packages come with the public ones.
fn importable(std_packages: &str) -> Vec<&str> {
    std_packages
        .lines()
        .map(str::trim)
        .filter(|p| !p.is_empty() && *p != "C" && *p != "unsafe")
        .filter(|p| !p.starts_with("vendor/") && !p.split('/').any(|part| part == "internal"))
        .collect()
}

/// A main package importing `packages`; `import "C"` where the build mode
/// is cgo's own (c-shared, c-archive need a cgo main).
fn warm_main(packages: &[&str], mode: GoMode) -> String {
    let mut text = String::from("// Written by recipe: warms Go's build cache (see go_warm.rs).\npackage main\n\n");
    if mode != GoMode::Exe {
        text.push_str("import \"C\"\n\n");
    }
    text.push_str("import (\n");
    for p in packages {
        text.push_str(&format!("\t_ {p:?}\n"));
    }
    text.push_str(")\n\nfunc main() {}\n");
    text
}

/// Warms the cache; notes in the log what it did or why it could not.
pub fn warm_cache(ctx: &BuildCtx, opts: &GoOptions) -> Result<(), BuildError> {
    let vendor_dir = ctx.work_dir().join("vendor");
    // A source tree that ships its own vendor/ is used as it is.
    let made_vendor = !vendor_dir.exists() && !opts.vendor.is_empty();
    let result = warm(ctx, opts, made_vendor);
    let warm_dir = ctx.dirs.root.join(crate::build::jobenv::TMP).join(WARM_DIR);
    let _ = std::fs::remove_dir_all(&warm_dir);
    if made_vendor {
        // The build vendors again, from the complete package sysroot.
        let _ = std::fs::remove_dir_all(&vendor_dir);
    }
    let note = match result {
        Ok(n) => format!(
            "# warmed: {n} standard-library packages in Go's build cache, compiled while the dependencies built"
        ),
        Err(e) => format!("# Go's build cache was not warmed ({e}); the build compiles everything itself"),
    };
    Ok(ctx.log.note(&note)?)
}

fn warm(ctx: &BuildCtx, opts: &GoOptions, make_vendor: bool) -> Result<usize, BuildError> {
    if make_vendor {
        vendor(ctx, opts, &Vendoring::AsFarAsBuilt)?;
    }
    let warm_dir = ctx.dirs.root.join(crate::build::jobenv::TMP).join(WARM_DIR);
    std::fs::create_dir_all(&warm_dir).map_err(|e| BuildError::io("cannot create the warm-up dir", e))?;
    let env = &ctx.env;
    let tags = (!opts.tags.is_empty()).then(|| format!("-tags={}", opts.tags.join(",")));
    let list = warm_dir.join("std.txt");
    let mut args = vec![
        "list".to_string(),
        "-e".into(),
        "-deps".into(),
        "-f".into(),
        "{{if .Standard}}{{.ImportPath}}{{end}}".into(),
    ];
    args.extend(tags.clone());
    args.push(opts.package.clone());
    let script = format!(
        "go {} > {}",
        args.iter()
            .map(|a| crate::toolchain::env::shell_quote(a))
            .collect::<Vec<_>>()
            .join(" "),
        crate::toolchain::env::shell_quote(&list.display().to_string())
    );
    let cwd = ctx.work_dir();
    run(ctx, Step::shell(&script, &cwd, env))?;
    let listed = std::fs::read_to_string(&list).map_err(|e| BuildError::io("cannot read the package list", e))?;
    let packages = importable(&listed);
    if packages.is_empty() {
        return Ok(0);
    }
    std::fs::write(warm_dir.join("go.mod"), "module recipe.invalid/gowarm\n\ngo 1.21\n")
        .and_then(|()| std::fs::write(warm_dir.join("main.go"), warm_main(&packages, opts.mode)))
        .map_err(|e| BuildError::io("cannot write the warm-up package", e))?;
    let mut args = vec!["build".to_string(), "-trimpath".into(), "-buildvcs=false".into()];
    if let Some(mode) = opts.mode.build_mode() {
        args.push(format!("-buildmode={mode}"));
    }
    args.extend(tags);
    args.extend(["-o".into(), warm_dir.join("out").display().to_string(), ".".into()]);
    run(
        ctx,
        Step {
            program: "go",
            args,
            cwd: &warm_dir,
            env,
            sandbox: None,
        },
    )?;
    Ok(packages.len())
}

fn run(ctx: &BuildCtx, step: Step) -> Result<(), BuildError> {
    let step = step.sandboxed(ctx.sandbox);
    Ok(ctx.log.run(&step, |cmd| ctx.jobserver.configure_make(cmd))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_standard_packages_are_imported() {
        let listed = "errors\ninternal/abi\nunsafe\nC\nvendor/golang.org/x/net/dns/dnsmessage\ncrypto/internal/fips140/aes\nnet\ncrypto/tls\n\n";
        assert_eq!(importable(listed), ["errors", "net", "crypto/tls"]);
    }

    #[test]
    fn a_cgo_build_mode_gets_a_cgo_main() {
        let shared = warm_main(&["net", "crypto/tls"], GoMode::CShared);
        assert!(shared.contains("import \"C\"\n"));
        assert!(shared.contains("\t_ \"net\"\n\t_ \"crypto/tls\"\n"));
        assert!(shared.ends_with("func main() {}\n"));
        assert!(!warm_main(&["net"], GoMode::Exe).contains("import \"C\""));
    }
}
