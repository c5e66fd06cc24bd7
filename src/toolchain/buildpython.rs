//! The build Python of crossenv-style extension builds: CPython of the
//! target's version *for the build machine* (Debian's `python3` of the
//! build architecture from the suite the target's Python comes from, run
//! through its own dynamic loader so a newer suite works on an older build
//! machine), the PEP 517 build requirements unpacked from the wheels a
//! hash-pinned lock file names, and the target's headers and
//! `_sysconfigdata_*` from a root of the target's `libpython3-dev`. The
//! compiler is never emulated: only the build-time variables are the
//! target's.

use std::path::{Path, PathBuf};

use crate::debian::Exclusions;
use crate::model::target::Target;
use crate::recipe::rendered::{Origin, Source};
use crate::toolchain::ToolchainError;
use crate::toolchain::provision::{
    ProvisionContext, Stamp, download_packages, extract_packages, install_checked, resolve_packages, short_hash,
};
use crate::toolchain::targetroot::{ensure_target_root, sysconfigdata_dir};

pub use crate::toolchain::pylock::{LOCK_FILE, Locked, parse_lock};

/// A provisioned build Python for one target.
#[derive(Debug, Clone)]
pub struct BuildPython {
    /// The build machine's Python root (checked for changes after use).
    pub root: PathBuf,
    /// The target's root with its headers and `_sysconfigdata_*`.
    pub target_root: PathBuf,
    /// The build requirements (unpacked wheels).
    pub site: PathBuf,
    /// `python3` launcher: the build Python through its own loader.
    pub launcher: PathBuf,
    /// The generated `_sysconfigdata_*` module's directory.
    pub sysconfig_dir: PathBuf,
    pub sysconfig_name: String,
    /// `patchelf` (through its own loader), for wheel repair.
    pub patchelf: PathBuf,
    /// `3.13`
    pub version: String,
    pub id: String,
}

/// `3.13` from a root's `usr/lib/python3.13/` holding the sysconfigdata of
/// `triple` (that of `wanted` when given, else the newest).
fn python_version(root: &Path, triple: &str, wanted: Option<&str>) -> Option<(String, PathBuf)> {
    let dir = match wanted {
        Some(v) => Some(root.join(format!("usr/lib/python{v}")))
            .filter(|d| d.join(format!("_sysconfigdata__linux_{triple}.py")).is_file())?,
        None => sysconfigdata_dir(root, triple)?,
    };
    let version = dir.file_name()?.to_str()?.strip_prefix("python")?.to_string();
    Some((version, dir))
}

/// Paths are written into generated Python and shell files: refuse the few
/// characters that would need quoting.
fn plain_path(p: &Path) -> Result<String, ToolchainError> {
    let s = p.display().to_string();
    if s.contains(['\'', '"', '\\', '\n', '$', '`']) {
        return Err(ToolchainError::Usage(format!(
            "the cache path {s} contains quote characters; use another RECIPE_CACHE"
        )));
    }
    Ok(s)
}

/// Provisions (once each) the build Python, the target's Python root, the
/// requirements of `lock` that fit it and the sysconfigdata overlay for
/// `target`: CPython `version` from `suite` (`libpython3.X-dev` and
/// `python3.X`), or with `None` the suite's default `python3`.
pub fn ensure_build_python(
    ctx: &ProvisionContext,
    target: &Target,
    suite: &str,
    version: Option<&str>,
    lock: &Path,
) -> Result<BuildPython, ToolchainError> {
    let (arch, loader, build_multiarch) = crate::toolchain::env::build_loader("build Python")?;
    let dev = match version {
        Some(v) => format!("libpython{v}-dev"),
        None => "libpython3-dev".to_string(),
    };
    let target_root = ensure_target_root(ctx, target, suite, &[dev])?;
    let found = python_version(&target_root, &target.triple, version);
    let Some((version, target_lib)) = found else {
        return Err(ToolchainError::Usage(format!(
            "the {suite} root of target {} has no python{}/_sysconfigdata__linux_{}.py",
            target.name,
            version.unwrap_or("3.*"),
            target.triple
        )));
    };
    let mut build_target = crate::toolchain::activate::host_target();
    build_target.debian_arch = arch.to_string();
    let root = ensure_target_root(ctx, &build_target, suite, &[format!("python{version}")])?;
    if python_version(&root, build_multiarch, Some(&version)).is_none() {
        return Err(ToolchainError::Usage(format!(
            "the {suite} build Python is not version {version} (the target's)"
        )));
    }
    let lock_text = std::fs::read_to_string(lock).map_err(ToolchainError::io(format!(
        "cannot read the build requirements lock file {}",
        lock.display()
    )))?;
    let locked = parse_lock(&lock_text).map_err(|e| ToolchainError::Usage(format!("{}: {e}", lock.display())))?;
    let minor = crate::model::target::minor_of(&version).unwrap_or(0);
    let selected = crate::toolchain::pylock::select(&locked, minor, std::env::consts::ARCH);
    let site = ensure_site(ctx, &version, &selected)?;
    let sysconfig_name = format!("_sysconfigdata__linux_{}", target.triple);
    let overlay = ensure_overlay(ctx, &target_root, &target_lib, &sysconfig_name)?;
    let launcher = ensure_launcher(ctx, &root, loader, build_multiarch, &version)?;
    let patchelf = ensure_patchelf(ctx, suite)?;
    let id = short_hash(&[
        &stamp_id(patchelf.parent().and_then(Path::parent).unwrap_or(&patchelf)),
        &stamp_id(&root),
        &stamp_id(&target_root),
        &stamp_id(&site),
        &stamp_id(&overlay),
        &stamp_id(&launcher),
    ]);
    Ok(BuildPython {
        root,
        target_root,
        site,
        launcher: launcher.join("bin/python3"),
        sysconfig_dir: overlay,
        sysconfig_name,
        patchelf,
        version,
        id,
    })
}

fn stamp_id(dir: &Path) -> String {
    Stamp::read(dir).map(|s| s.id).unwrap_or_default()
}

/// The lock's wheels that fit this build Python, downloaded from the
/// configured Python index through the download cache (sha256-verified)
/// and unpacked into one directory. Keyed by that selection only, so lines
/// added for another Python version leave this one's site (and the keys of
/// what it built) alone.
fn ensure_site(ctx: &ProvisionContext, version: &str, selected: &[Locked]) -> Result<PathBuf, ToolchainError> {
    let text = crate::toolchain::pylock::selection_text(selected);
    let key = short_hash(&["2", version, &text]);
    let dir = ctx.cache.join("python-build").join(format!("site-{version}-{key}"));
    install_checked(ctx, &dir, |tmp, _| {
        ctx.note(format!(
            "installing {} build requirements for Python {version}",
            selected.len()
        ));
        for l in selected {
            let source = Source {
                origin: Origin::Pypi {
                    project: l.project.clone(),
                },
                file: l.file.clone(),
                sha256: l.sha256.clone(),
                mirrors: Vec::new(),
                strip_components: 0,
                dest: String::new(),
                extract: false,
            };
            let wheel =
                crate::fetch::fetch_source(&ctx.fetch, &source).map_err(|e| ToolchainError::Fetch(Box::new(e)))?;
            crate::package::wheel::unpack_into(&wheel, tmp).map_err(|e| ToolchainError::Usage(e.to_string()))?;
        }
        let mut stamp = Stamp::new("python-site", &format!("python{version}-requirements"), "", &[]);
        stamp.compute_id(&[&text]);
        Ok(stamp)
    })?;
    Ok(dir)
}

/// `_sysconfigdata_*` of the target with its include and library
/// directories moved into the target root (the build-time values name the
/// target's own `/usr`, which on the build machine is the wrong tree).
fn ensure_overlay(
    ctx: &ProvisionContext,
    target_root: &Path,
    target_lib: &Path,
    name: &str,
) -> Result<PathBuf, ToolchainError> {
    let original = target_lib.join(format!("{name}.py"));
    let original_s = plain_path(&original)?;
    let root_s = plain_path(target_root)?;
    let content = format!(
        "# Generated by recipe: the target's build-time variables, with its\n\
         # headers inside the target root on the build machine.\n\
         import importlib.util as _u\n\
         _spec = _u.spec_from_file_location('_recipe_target_sysconfigdata', '{original_s}')\n\
         _mod = _u.module_from_spec(_spec)\n\
         _spec.loader.exec_module(_mod)\n\
         build_time_vars = dict(_mod.build_time_vars)\n\
         for _k in ('INCLUDEPY', 'CONFINCLUDEPY', 'INCLUDEDIR', 'CONFINCLUDEDIR'):\n\
         \x20   _v = build_time_vars.get(_k)\n\
         \x20   if isinstance(_v, str) and _v.startswith('/usr'):\n\
         \x20       build_time_vars[_k] = '{root_s}' + _v\n\
         # Library directories relative to the compiler's sysroot (`-L=/usr/lib/…`).\n\
         for _k in ('LIBDIR', 'LIBPL'):\n\
         \x20   _v = build_time_vars.get(_k)\n\
         \x20   if isinstance(_v, str) and _v.startswith('/usr'):\n\
         \x20       build_time_vars[_k] = '=' + _v\n"
    );
    let key = short_hash(&["1", &content]);
    let dir = ctx.cache.join("python-build").join(format!("sysconfig-{key}"));
    install_checked(ctx, &dir, |tmp, _| {
        let file = tmp.join(format!("{name}.py"));
        std::fs::write(&file, &content).map_err(ToolchainError::io(format!("cannot write {}", file.display())))?;
        let mut stamp = Stamp::new("python-sysconfig", name, "", &[]);
        stamp.compute_id(&[&content]);
        Ok(stamp)
    })?;
    Ok(dir)
}

/// `bin/python3`: the build Python through its root's loader and libraries,
/// with its own standard library (not the build machine's).
fn ensure_launcher(
    ctx: &ProvisionContext,
    root: &Path,
    loader: &str,
    multiarch: &str,
    version: &str,
) -> Result<PathBuf, ToolchainError> {
    let r = plain_path(root)?;
    let script = format!(
        "#!/bin/sh\n\
         PYTHONHOME='{r}/usr' exec '{r}/{loader}' --library-path '{r}/usr/lib/{multiarch}:{r}/lib/{multiarch}' '{r}/usr/bin/python{version}' \"$@\"\n"
    );
    let key = short_hash(&["1", &script]);
    let dir = ctx.cache.join("python-build").join(format!("launcher-{key}"));
    install_checked(ctx, &dir, |tmp, _| {
        let bin = tmp.join("bin");
        std::fs::create_dir_all(&bin).map_err(ToolchainError::io("cannot create the launcher dir"))?;
        let file = bin.join("python3");
        std::fs::write(&file, &script).map_err(ToolchainError::io(format!("cannot write {}", file.display())))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755))
            .map_err(ToolchainError::io("cannot make the launcher executable"))?;
        let mut stamp = Stamp::new("python-launcher", "python3", "", &[]);
        stamp.compute_id(&[&script]);
        Ok(stamp)
    })?;
    Ok(dir)
}

/// Debian's build-machine `patchelf` (from the build machine's own suite
/// family), for rewriting needed entries and run paths in repaired wheels.
pub fn ensure_patchelf(ctx: &ProvisionContext, suite: &str) -> Result<PathBuf, ToolchainError> {
    let (arch, loader, multiarch) = crate::toolchain::env::build_loader("build Python")?;
    let packages = [
        "patchelf".to_string(),
        "libc6".to_string(),
        "libstdc++6".to_string(),
        "libgcc-s1".to_string(),
    ];
    let key = short_hash(&["1", suite, arch, &packages.join(" ")]);
    let dir = ctx.cache.join("python-build").join(format!("patchelf-{suite}-{key}"));
    let r = plain_path(&dir)?;
    let script = format!(
        "#!/bin/sh\n\
         exec '{r}/{loader}' --library-path '{r}/usr/lib/{multiarch}:{r}/lib/{multiarch}' '{r}/usr/bin/patchelf' \"$@\"\n"
    );
    install_checked(ctx, &dir, |tmp, _| {
        ctx.note(format!("provisioning patchelf from {suite}/{arch}"));
        let pkgs = resolve_packages(ctx, suite, arch, &packages, &Exclusions::default(), false)?;
        let debs = download_packages(ctx, &pkgs)?;
        extract_packages(&debs, tmp, None)?;
        crate::toolchain::sysroot::fixup_root(tmp)?;
        // Through its own loader and libraries, like the build Python.
        let file = tmp.join("bin/recipe-patchelf");
        std::fs::write(&file, &script).map_err(ToolchainError::io(format!("cannot write {}", file.display())))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755))
            .map_err(ToolchainError::io("cannot make the patchelf launcher executable"))?;
        let mut stamp = Stamp::new("patchelf", "patchelf", suite, &pkgs);
        stamp.compute_id(&[&script]);
        Ok(stamp)
    })?;
    Ok(dir.join("bin/recipe-patchelf"))
}
