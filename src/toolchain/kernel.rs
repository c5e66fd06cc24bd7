//! Kernels for booting target images: the target's Debian kernel package
//! (the flavour metapackage its file names: armhf `linux-image-armmp`,
//! arm64 `linux-image-arm64`), found through that metapackage in the suite and extracted into the cache,
//! and the modules an image needs with their dependencies. Debian's package
//! has no `modules.dep` (depmod runs at install), so dependencies are read
//! from each module's own `.modinfo` (`depends=`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::debian::Exclusions;
use crate::debian::control::relations;
use crate::model::target::Target;
use crate::toolchain::ToolchainError;
use crate::toolchain::provision::{
    ProvisionContext, Stamp, download_packages, extract_packages, install_checked, resolve_packages, short_hash,
};

#[derive(Debug, Clone)]
pub struct Kernel {
    pub root: PathBuf,
    /// `boot/vmlinuz-<release>` inside the root.
    pub image: PathBuf,
    /// `uname -r`, e.g. `6.12.57+deb13-armmp`.
    pub release: String,
    /// The versioned package, e.g. `linux-image-6.12.57+deb13-armmp`.
    pub package: String,
    pub id: String,
}

/// A module to load, in load order (dependencies first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// `virtio_net` (dashes as underscores, as the kernel names them).
    pub name: String,
    pub path: PathBuf,
}

/// The flavour metapackage of the target's kernel (its `image { kernel … }`).
pub fn kernel_metapackage(target: &Target) -> Result<&str, ToolchainError> {
    match &target.image {
        Some(image) => Ok(&image.kernel),
        None => Err(no_image(target)),
    }
}

/// A target without `image { … }` in its file cannot boot images.
pub fn no_image(target: &Target) -> ToolchainError {
    ToolchainError::Usage(format!(
        "target {} cannot boot images: toolchains/{}.kdl has no `image {{ kernel …; qemu-system …; machine …; cpu …; console … }}`",
        target.name, target.name
    ))
}

/// A kernel the suite does not have, named with the closest one it has.
fn unknown_kernel(target: &Target, meta: &str, index: &crate::debian::index::PackageIndex) -> ToolchainError {
    let flavours = index
        .packages
        .keys()
        .filter(|n| n.starts_with("linux-image-") && !n.bytes().any(|b| b.is_ascii_digit()));
    let hint = match crate::recipe::error::closest(meta, flavours.map(String::as_str)) {
        Some(c) => format!("; did you mean `{c}`?"),
        None => String::new(),
    };
    ToolchainError::Usage(format!(
        "kernel `{meta}` of target {} (toolchains/{}.kdl, `image {{ kernel … }}`) is not a package of {}/{}{hint}",
        target.name, target.name, index.suite, index.arch
    ))
}

/// Provisions (once) the kernel of `target`'s architecture from `suite`.
pub fn ensure_kernel(ctx: &ProvisionContext, target: &Target, suite: &str) -> Result<Kernel, ToolchainError> {
    let arch = target.debian_arch.as_str();
    let meta = kernel_metapackage(target)?;
    let dir = ctx
        .cache
        .join("kernels")
        .join(format!("{arch}-{suite}-{}", short_hash(&["1", suite, arch, meta])));
    let stamp = install_checked(ctx, &dir, |tmp, _| {
        let index = ctx.index(suite, arch)?;
        let entry = index.best(meta).ok_or_else(|| unknown_kernel(target, meta, &index))?;
        let name = relations(&entry.depends)
            .into_iter()
            .flatten()
            .map(|r| r.name)
            .find(|n| n.starts_with("linux-image-") && n != meta)
            .ok_or_else(|| ToolchainError::Usage(format!("{meta} in {suite}/{arch} depends on no linux-image-*")))?;
        ctx.note(format!("provisioning kernel {name} from {suite}/{arch}"));
        let pkgs = resolve_packages(
            ctx,
            suite,
            arch,
            std::slice::from_ref(&name),
            &Exclusions::default(),
            false,
        )?;
        let debs = download_packages(ctx, &pkgs)?;
        extract_packages(&debs, tmp, None)?;
        let release = find_release(tmp)?;
        let mut stamp = Stamp::new("kernel", &name, suite, &pkgs);
        stamp.compute_id(&[]);
        stamp.info.insert("release".into(), release);
        stamp.info.insert("package".into(), name);
        Ok(stamp)
    })?;
    let release = stamp.info.get("release").cloned().unwrap_or_default();
    Ok(Kernel {
        image: dir.join("boot").join(format!("vmlinuz-{release}")),
        package: stamp.info.get("package").cloned().unwrap_or_default(),
        release,
        id: stamp.id,
        root: dir,
    })
}

/// The release of the one `boot/vmlinuz-*` with a modules directory.
fn find_release(root: &Path) -> Result<String, ToolchainError> {
    let boot = root.join("boot");
    let mut found: Vec<String> = std::fs::read_dir(&boot)
        .map_err(ToolchainError::io(format!(
            "the kernel package has no {}",
            boot.display()
        )))?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("vmlinuz-").map(str::to_string))
        .filter(|r| modules_dir_in(root, r).is_some())
        .collect();
    found.sort();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(ToolchainError::Usage(format!(
            "expected one boot/vmlinuz-* with its modules in the kernel package, found {found:?}"
        ))),
    }
}

fn modules_dir_in(root: &Path, release: &str) -> Option<PathBuf> {
    ["usr/lib/modules", "lib/modules"]
        .iter()
        .map(|d| root.join(d).join(release))
        .find(|d| d.join("kernel").is_dir())
}

impl Kernel {
    pub fn modules_dir(&self) -> Result<PathBuf, ToolchainError> {
        modules_dir_in(&self.root, &self.release)
            .ok_or_else(|| ToolchainError::Usage(format!("kernel {} has no modules directory", self.release)))
    }

    /// The modules `wanted` and their dependencies, in load order. A wanted
    /// module built into the kernel is skipped; one that is neither a module
    /// nor built in is an error naming it.
    pub fn modules(&self, wanted: &[String]) -> Result<Vec<Module>, ToolchainError> {
        let dir = self.modules_dir()?;
        let mut files = BTreeMap::new();
        index_modules(&dir.join("kernel"), &mut files, 0)?;
        let builtin: BTreeSet<String> = std::fs::read_to_string(dir.join("modules.builtin"))
            .unwrap_or_default()
            .lines()
            .filter_map(module_name)
            .collect();
        let mut order = Vec::new();
        let mut seen = BTreeSet::new();
        let mut deps = |name: &str| -> Result<Vec<String>, ToolchainError> {
            match files.get(name) {
                Some(p) => Ok(modinfo_depends(&read_module(p)?)),
                None => Err(ToolchainError::Usage(format!(
                    "kernel {}: module {name} not found",
                    self.release
                ))),
            }
        };
        for w in wanted {
            let name = w.replace('-', "_");
            if files.contains_key(&name) {
                visit(&name, &mut deps, &mut seen, &mut order, 0)?;
            } else if !builtin.contains(&name) {
                return Err(ToolchainError::Usage(format!(
                    "kernel {} has no module `{w}` (neither loadable nor built in)",
                    self.release
                )));
            }
        }
        Ok(order
            .into_iter()
            .filter_map(|n| {
                files.get(&n).map(|p| Module {
                    name: n,
                    path: p.clone(),
                })
            })
            .collect())
    }
}

/// Every `*.ko*` under `dir` by module name (real files only, no links followed).
fn index_modules(dir: &Path, out: &mut BTreeMap<String, PathBuf>, depth: usize) -> Result<(), ToolchainError> {
    if depth > 16 {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(ToolchainError::io(format!("cannot read {}", dir.display())))?;
    for e in entries.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        let path = e.path();
        if ft.is_dir() {
            index_modules(&path, out, depth + 1)?;
        } else if ft.is_file()
            && let Some(name) = module_name(&e.file_name().to_string_lossy())
        {
            out.insert(name, path);
        }
    }
    Ok(())
}

fn visit<F>(
    name: &str,
    deps: &mut F,
    seen: &mut BTreeSet<String>,
    order: &mut Vec<String>,
    depth: usize,
) -> Result<(), ToolchainError>
where
    F: FnMut(&str) -> Result<Vec<String>, ToolchainError>,
{
    if seen.contains(name) {
        return Ok(());
    }
    if depth > 32 {
        return Err(ToolchainError::Usage(format!("the dependencies of module {name} loop")));
    }
    for d in deps(name)? {
        visit(&d, deps, seen, order, depth + 1)?;
    }
    if seen.insert(name.to_string()) {
        order.push(name.to_string());
    }
    Ok(())
}

/// `kernel/drivers/net/virtio_net.ko.xz` → `virtio_net`.
fn module_name(path: &str) -> Option<String> {
    let file = path.trim().rsplit('/').next()?;
    let (stem, _) = file.split_once(".ko")?;
    (!stem.is_empty()).then(|| stem.replace('-', "_"))
}

/// The `depends=` entry of a module's `.modinfo` strings (NUL-separated).
fn modinfo_depends(ko: &[u8]) -> Vec<String> {
    ko.split(|b| *b == 0)
        .find_map(|s| s.strip_prefix(b"depends="))
        .map(|v| {
            String::from_utf8_lossy(v)
                .split(',')
                .map(|d| d.trim().replace('-', "_"))
                .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
                .collect()
        })
        .unwrap_or_default()
}

/// A module's bytes, decompressed: busybox `insmod` reads only plain `.ko`.
pub fn read_module(path: &Path) -> Result<Vec<u8>, ToolchainError> {
    let f = std::fs::File::open(path).map_err(ToolchainError::io(format!("cannot open {}", path.display())))?;
    let name = path.to_string_lossy();
    let mut out = Vec::new();
    let result = if name.ends_with(".ko.xz") {
        lzma_rust2::XzReader::new(std::io::BufReader::new(f), true).read_to_end(&mut out)
    } else if name.ends_with(".ko") {
        std::io::BufReader::new(f).read_to_end(&mut out)
    } else {
        return Err(ToolchainError::Usage(format!(
            "unsupported module compression: {}",
            path.display()
        )));
    };
    result.map_err(ToolchainError::io(format!("cannot decompress {}", path.display())))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_come_first_and_loops_end() {
        let table: BTreeMap<&str, Vec<String>> = [
            ("failover", vec![]),
            ("net_failover", vec!["failover".to_string()]),
            ("virtio_net", vec!["net_failover".to_string(), "failover".to_string()]),
            ("a", vec!["b".to_string()]),
            ("b", vec!["a".to_string()]),
        ]
        .into();
        let mut deps = |n: &str| Ok(table.get(n).cloned().unwrap_or_default());
        let (mut seen, mut order) = (BTreeSet::new(), Vec::new());
        visit("virtio_net", &mut deps, &mut seen, &mut order, 0).expect("no loop");
        assert_eq!(order, ["failover", "net_failover", "virtio_net"]);
        assert!(visit("a", &mut deps, &mut BTreeSet::new(), &mut Vec::new(), 0).is_err());
        assert_eq!(
            module_name("kernel/a/virtio-mmio.ko.zst").as_deref(),
            Some("virtio_mmio")
        );
        let modinfo = b"\x7fELF...\0license=GPL\0depends=net_failover,virtio-ring\0name=virtio_net\0";
        assert_eq!(modinfo_depends(modinfo), ["net_failover", "virtio_ring"]);
        assert!(modinfo_depends(b"\0depends=\0").is_empty());
    }
}
