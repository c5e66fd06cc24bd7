//! Target root filesystems for running target programs under qemu (e.g. the
//! target's CPython + cffi for wheel tests): a package closure for the
//! target's architecture, extracted with the sysroot fix-ups.

use std::path::{Path, PathBuf};

use crate::debian::Exclusions;
use crate::model::target::Target;
use crate::toolchain::ToolchainError;
use crate::toolchain::provision::{
    ProvisionContext, Stamp, download_packages, extract_packages, install_checked, resolve_packages, short_hash,
};
use crate::toolchain::sysroot::fixup_root;

/// Provisions (once) a root with the closure of `packages` from `suite` for
/// `target`'s architecture. The closure brings its own C library, so the root
/// works as qemu's `-L` directory. Maintainer scripts never run: no `.pyc`
/// files exist, so run Python in it with `PYTHONDONTWRITEBYTECODE=1` to keep
/// the cached root unchanged.
pub fn ensure_target_root(
    ctx: &ProvisionContext,
    target: &Target,
    suite: &str,
    packages: &[String],
) -> Result<PathBuf, ToolchainError> {
    let mut sorted = packages.to_vec();
    sorted.sort();
    sorted.dedup();
    let key = short_hash(&["1", suite, &target.debian_arch, &sorted.join(" ")]);
    let dir = ctx
        .cache
        .join("roots")
        .join(format!("{}-{suite}-{key}", target.debian_arch));
    install_checked(ctx, &dir, |tmp, _| {
        ctx.note(format!(
            "provisioning a {suite}/{} root with {}",
            target.debian_arch,
            sorted.join(" ")
        ));
        let pkgs = resolve_packages(ctx, suite, &target.debian_arch, &sorted, &Exclusions::default(), true)?;
        let debs = download_packages(ctx, &pkgs)?;
        extract_packages(&debs, tmp, None)?;
        let fixed = fixup_root(tmp)?;
        let mut stamp = Stamp::new("root", &format!("{}-{suite}", target.debian_arch), suite, &pkgs);
        stamp.compute_id(&[]);
        stamp.info.insert("requested".into(), sorted.join(" "));
        stamp.info.insert("absolute-links-fixed".into(), fixed.to_string());
        Ok(stamp)
    })?;
    Ok(dir)
}

/// The directory holding `_sysconfigdata__linux_<triple>.py` in a root with
/// the target's Python, if any (`usr/lib/python3.X/`).
pub fn sysconfigdata_dir(root: &Path, triple: &str) -> Option<PathBuf> {
    let lib = root.join("usr/lib");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&lib)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("python3."))
        })
        .collect();
    dirs.sort();
    dirs.into_iter()
        .rev()
        .find(|d| d.join(format!("_sysconfigdata__linux_{triple}.py")).is_file())
}
