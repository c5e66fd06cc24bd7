//! Target sysroots: a sysroot definition's Debian packages for the target's
//! architecture, extracted and fixed up so a cross gcc (`--sysroot`) and qemu
//! (`-L`) can use them.

use std::path::{Component, Path, PathBuf};

use crate::debian::Exclusions;
use crate::model::sysroot_def::SysrootDef;
use crate::model::target::Target;
use crate::toolchain::ToolchainError;
use crate::toolchain::provision::{
    ProvisionContext, Stamp, download_packages, install_checked, resolve_packages, short_hash,
};

/// Bump when the fix-ups change, so existing sysroots are rebuilt.
const FIXUP_VERSION: &str = "1";

#[derive(Debug, Clone)]
pub struct Sysroot {
    pub path: PathBuf,
    /// Identity: the packages' names, versions and hashes.
    pub id: String,
    pub stamp: Stamp,
}

/// The cache directory of a sysroot, named from its definition.
pub fn sysroot_dir(ctx: &ProvisionContext, def: &SysrootDef, debian_arch: &str) -> PathBuf {
    let key = short_hash(&[FIXUP_VERSION, &def.suite, debian_arch, &def.packages.join(" ")]);
    ctx.cache
        .join("sysroots")
        .join(format!("{}-{debian_arch}-{key}", def.name))
}

/// Provisions (once) the sysroot `def` for `target`'s architecture. Package
/// sysroots hard-link into it, so a build step writing into `$SYSROOT` would
/// change it for every later build: the check of [`install_checked`] applies.
pub fn ensure_sysroot(ctx: &ProvisionContext, target: &Target, def: &SysrootDef) -> Result<Sysroot, ToolchainError> {
    let dir = sysroot_dir(ctx, def, &target.debian_arch);
    install_sysroot(ctx, target, def, &dir)
}

fn install_sysroot(
    ctx: &ProvisionContext,
    target: &Target,
    def: &SysrootDef,
    dir: &std::path::Path,
) -> Result<Sysroot, ToolchainError> {
    let label = format!("{}-{}", def.name, target.debian_arch);
    let stamp = install_checked(ctx, dir, |tmp, _final| {
        ctx.note(format!("provisioning sysroot {label}"));
        let pkgs = resolve_packages(
            ctx,
            &def.suite,
            &target.debian_arch,
            &def.packages,
            &Exclusions::default(),
            true,
        )?;
        let debs = download_packages(ctx, &pkgs)?;
        crate::toolchain::provision::extract_packages(&debs, tmp, None)?;
        let fixed = fixup_root(tmp)?;
        let mut stamp = Stamp::new("sysroot", &label, &def.suite, &pkgs);
        stamp.compute_id(&[FIXUP_VERSION]);
        stamp.info.insert("absolute-links-fixed".into(), fixed.to_string());
        stamp.info.insert("target".into(), target.name.clone());
        Ok(stamp)
    })?;
    Ok(Sysroot {
        path: dir.to_path_buf(),
        id: stamp.id.clone(),
        stamp,
    })
}

/// Makes an extracted package tree usable as a sysroot or qemu `-L` root:
/// merged-/usr links (`lib`, `bin`, `sbin`, `lib64` → `usr/…`, needed because
/// `libc.so` and PT_INTERP name `/lib/…`), `usr/local/include` (gcc probes it
/// and `-Wmissing-include-dirs -Werror` builds fail without it), and absolute
/// symlinks made relative so they resolve inside the root, never on the host.
/// Returns how many absolute links were rewritten.
pub fn fixup_root(root: &Path) -> Result<usize, ToolchainError> {
    let io = |what: String| move |source| ToolchainError::Io { what, source };
    for d in ["lib", "bin", "sbin", "lib32", "lib64", "libx32"] {
        let link = root.join(d);
        if root.join("usr").join(d).is_dir() && std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(format!("usr/{d}"), &link)
                .map_err(io(format!("cannot link {}", link.display())))?;
        }
    }
    let inc = root.join("usr/local/include");
    std::fs::create_dir_all(&inc).map_err(io(format!("cannot create {}", inc.display())))?;
    relativize_links(root, root)
}

fn relativize_links(root: &Path, dir: &Path) -> Result<usize, ToolchainError> {
    let io = |what: String| move |source| ToolchainError::Io { what, source };
    let mut fixed = 0;
    let entries = std::fs::read_dir(dir).map_err(io(format!("cannot read {}", dir.display())))?;
    for e in entries.flatten() {
        let path = e.path();
        let ft = e.file_type().map_err(io(format!("cannot stat {}", path.display())))?;
        if ft.is_dir() {
            fixed += relativize_links(root, &path)?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&path).map_err(io(format!("cannot read link {}", path.display())))?;
            if let Some(rel) = relative_target(root, &path, &target) {
                std::fs::remove_file(&path).map_err(io(format!("cannot replace {}", path.display())))?;
                std::os::unix::fs::symlink(&rel, &path).map_err(io(format!("cannot link {}", path.display())))?;
                fixed += 1;
            }
        }
    }
    Ok(fixed)
}

/// For an absolute link target, the equivalent path relative to the link's
/// directory inside `root` (`root/a/b/l -> /c/d` becomes `../../c/d`).
pub fn relative_target(root: &Path, link: &Path, target: &Path) -> Option<PathBuf> {
    if !target.is_absolute() {
        return None;
    }
    let depth = link.parent()?.strip_prefix(root).ok()?.components().count();
    let mut rel = PathBuf::new();
    for _ in 0..depth {
        rel.push("..");
    }
    for c in target.components() {
        if let Component::Normal(n) = c {
            rel.push(n);
        }
    }
    if rel.as_os_str().is_empty() {
        rel.push(".");
    }
    Some(rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_links_become_relative() {
        let r = Path::new("/c/root");
        assert_eq!(
            relative_target(r, &r.join("usr/share/zoneinfo/localtime"), Path::new("/etc/localtime")),
            Some(PathBuf::from("../../../etc/localtime"))
        );
        assert_eq!(
            relative_target(r, &r.join("lib64"), Path::new("/usr/lib64")),
            Some(PathBuf::from("usr/lib64"))
        );
        assert_eq!(relative_target(r, &r.join("a/l"), Path::new("x")), None);
    }

    #[test]
    fn fixup_creates_merged_usr_links() {
        let t = tempfile::tempdir().expect("tempdir");
        let root = t.path();
        std::fs::create_dir_all(root.join("usr/lib/arm-linux-gnueabihf")).expect("mkdir");
        std::fs::create_dir_all(root.join("usr/share/zoneinfo")).expect("mkdir");
        std::fs::create_dir_all(root.join("etc")).expect("mkdir");
        std::fs::write(root.join("etc/localtime"), "tz").expect("write");
        std::os::unix::fs::symlink("/etc/localtime", root.join("usr/share/zoneinfo/localtime")).expect("link");
        assert_eq!(fixup_root(root).expect("fixup"), 1);
        assert_eq!(
            std::fs::read_link(root.join("lib")).expect("lib link"),
            PathBuf::from("usr/lib")
        );
        assert!(
            std::fs::symlink_metadata(root.join("bin")).is_err(),
            "no usr/bin, no bin link"
        );
        assert!(root.join("usr/local/include").is_dir());
        assert_eq!(
            std::fs::read_to_string(root.join("usr/share/zoneinfo/localtime")).expect("resolves inside the root"),
            "tz"
        );
    }
}
