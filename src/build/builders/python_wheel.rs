//! `build python-wheel`: a wheel from an sdist's Python sources plus the
//! shared libraries of `bundle` packages (and what they need), copied into
//! `lib-dir` (auditwheel style), tagged with the manylinux policy the
//! binaries really satisfy.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::{BuildCtx, BuildError};
use crate::elf::{self, ElfInfo};
use crate::package::wheel::{self, WheelEntry};
use crate::recipe::options::PythonWheelOptions;

/// `Name:` and `Version:` from the sdist's PKG-INFO, which is also the
/// wheel's METADATA.
pub(super) fn read_pkg_info(src: &Path) -> Result<(String, String, String), BuildError> {
    let path = src.join("PKG-INFO");
    let text =
        std::fs::read_to_string(&path).map_err(|e| BuildError::io(format!("cannot read {}", path.display()), e))?;
    let field = |key: &str| {
        text.lines()
            .take_while(|l| !l.is_empty())
            .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
    };
    match (field("Name:"), field("Version:")) {
        (Some(n), Some(v)) => Ok((n, v, text.clone())),
        _ => Err(BuildError::invalid(
            format!("{} lacks Name or Version", path.display()),
            "python-wheel builds from an sdist (a source with PKG-INFO at its root)",
        )),
    }
}

/// Top-level import packages: directories with `__init__.py` at the root or
/// under `src/`.
pub(super) fn find_packages(src: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for base in [src.to_path_buf(), src.join("src")] {
        let Ok(entries) = std::fs::read_dir(&base) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.join("__init__.py").is_file() {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

pub(super) fn collect_python(
    root: &Path,
    dir: &Path,
    skip: &Path,
    out: &mut Vec<WheelEntry>,
) -> Result<(), BuildError> {
    let entries = std::fs::read_dir(dir).map_err(|e| BuildError::io(format!("cannot read {}", dir.display()), e))?;
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        if name == "__pycache__" || p.extension().is_some_and(|x| x == "pyc") {
            continue;
        }
        if p.is_dir() {
            // Other platforms' library directories do not belong in this wheel.
            if p.parent() == Some(skip) {
                continue;
            }
            collect_python(root, &p, skip, out)?;
        } else if p.is_file() {
            let rel = p.strip_prefix(root).unwrap_or(&p).to_string_lossy().into_owned();
            let data = std::fs::read(&p).map_err(|e| BuildError::io(format!("cannot read {}", p.display()), e))?;
            out.push(WheelEntry {
                path: rel,
                data,
                executable: false,
            });
        }
    }
    Ok(())
}

/// A shared library found in a dependency's staged tree.
pub(super) struct Lib {
    pub soname: String,
    pub path: PathBuf,
    pub info: ElfInfo,
}

fn find_in_deps(deps: &[(String, PathBuf)], soname: &str) -> Option<PathBuf> {
    deps.iter().find_map(|(_, dir)| {
        ["usr/lib", "usr/local/lib", "lib"]
            .iter()
            .map(|sub| dir.join(sub).join(soname))
            .find(|p| p.exists())
    })
}

fn load_lib(soname: &str, path: &Path) -> Result<Lib, BuildError> {
    let real =
        std::fs::canonicalize(path).map_err(|e| BuildError::io(format!("cannot resolve {}", path.display()), e))?;
    let info = elf::inspect(&real)
        .map_err(|e| BuildError::io(format!("cannot read {}", real.display()), e))?
        .ok_or_else(|| {
            BuildError::invalid(
                format!("{} is not an ELF file", real.display()),
                "bundle only shared libraries",
            )
        })?;
    Ok(Lib {
        soname: soname.to_string(),
        path: real,
        info,
    })
}

/// The libraries of `bundle` packages plus every non-system library they
/// need, found in the dependencies' staged trees (`deps`, of one target).
pub(super) fn bundle_closure(deps: &[(String, PathBuf)], bundle: &[String]) -> Result<Vec<Lib>, BuildError> {
    let mut libs: BTreeMap<String, Lib> = BTreeMap::new();
    let mut queue: Vec<String> = Vec::new();
    for pkg in bundle {
        let Some((_, dir)) = deps.iter().find(|(n, _)| n == pkg) else {
            return Err(BuildError::invalid(
                format!("bundle names `{pkg}`, which is not a dependency"),
                format!("add `depends {pkg}`"),
            ));
        };
        let lib_dir = dir.join("usr/lib");
        let entries =
            std::fs::read_dir(&lib_dir).map_err(|e| BuildError::io(format!("cannot read {}", lib_dir.display()), e))?;
        let mut found = false;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let p = e.path();
            if !name.contains(".so") || p.is_symlink() {
                continue;
            }
            let lib = load_lib(&name, &p)?;
            let soname = lib.info.soname.clone().unwrap_or(name);
            queue.extend(lib.info.needed.iter().cloned());
            libs.insert(soname.clone(), Lib { soname, ..lib });
            found = true;
        }
        if !found {
            return Err(BuildError::invalid(
                format!("package `{pkg}` staged no shared library in usr/lib"),
                "bundle names packages that install lib*.so files",
            ));
        }
    }
    while let Some(needed) = queue.pop() {
        if libs.contains_key(&needed) || elf::is_system_library(&needed) {
            continue;
        }
        let path = find_in_deps(deps, &needed).ok_or_else(|| {
            BuildError::invalid(
                format!("{needed} is needed by a bundled library but no dependency provides it"),
                "add the package that builds it to `depends`",
            )
        })?;
        let lib = load_lib(&needed, &path)?;
        queue.extend(lib.info.needed.iter().cloned());
        libs.insert(needed, lib);
    }
    Ok(libs.into_values().collect())
}

/// The loader resolves a library's NEEDED through *that library's* run path,
/// or finds it already loaded. Simulate the breadth-first load from the top
/// libraries and report anything that would not be found.
pub(super) fn check_loadable(libs: &[Lib], top: &BTreeSet<String>) -> Result<(), BuildError> {
    let by_name: BTreeMap<&str, &Lib> = libs.iter().map(|l| (l.soname.as_str(), l)).collect();
    let mut loaded: Vec<&str> = top.iter().map(String::as_str).collect();
    let mut i = 0;
    while i < loaded.len() {
        let Some(lib) = by_name.get(loaded[i]) else {
            i += 1;
            continue;
        };
        let origin = lib
            .info
            .runpaths
            .iter()
            .chain(lib.info.rpaths.iter())
            .any(|r| r.split(':').any(|p| p == "$ORIGIN"));
        for n in &lib.info.needed {
            if elf::is_system_library(n) || loaded.contains(&n.as_str()) {
                continue;
            }
            if !origin {
                return Err(BuildError::invalid(
                    format!(
                        "{} needs {n} but has no $ORIGIN run path, so it would not be found inside the wheel",
                        lib.soname
                    ),
                    format!(
                        "link {} with -Wl,-rpath,'$ORIGIN', or make a top library load {n} first (-Wl,--no-as-needed -l…)",
                        lib.soname
                    ),
                ));
            }
            loaded.push(n);
        }
        i += 1;
    }
    Ok(())
}

/// `manylinux_2_N_<machine>` for the highest glibc version any binary
/// needs (never below the oldest policy, 2.17); `linux_<machine>` when a
/// binary needs a non-system library that is not bundled.
pub(super) fn platform_tag(machine: &str, libs: &[Lib]) -> String {
    let glibc = libs
        .iter()
        .filter_map(|l| l.info.glibc)
        .max()
        .unwrap_or((2, 17))
        .max((2, 17));
    let bundled: BTreeSet<&str> = libs.iter().map(|l| l.soname.as_str()).collect();
    let self_contained = libs.iter().all(|l| {
        l.info
            .needed
            .iter()
            .all(|n| elf::is_system_library(n) || bundled.contains(n.as_str()))
    });
    if self_contained {
        format!("manylinux_{}_{}_{machine}", glibc.0, glibc.1)
    } else {
        format!("linux_{machine}")
    }
}

/// The library without debug information (as distributions ship them),
/// stripped with the target's own `strip` on a copy; the staged original
/// keeps its symbols for debugging.
fn stripped(ctx: &BuildCtx, lib: &Lib) -> Result<Vec<u8>, BuildError> {
    let copy = ctx.dirs.root.join("wheel-strip").join(&lib.soname);
    if let Some(parent) = copy.parent() {
        std::fs::create_dir_all(parent).map_err(|e| BuildError::io("cannot create the strip dir", e))?;
    }
    std::fs::copy(&lib.path, &copy).map_err(|e| BuildError::io(format!("cannot copy {}", lib.path.display()), e))?;
    let strip = ctx.env.get("STRIP").cloned().unwrap_or_else(|| "strip".into());
    ctx.run(
        &strip,
        vec!["--strip-debug".into(), copy.display().to_string()],
        &ctx.dirs.root,
    )?;
    std::fs::read(&copy).map_err(|e| BuildError::io(format!("cannot read {}", copy.display()), e))
}

/// The libraries of `bundle` that Python loads itself (those of the
/// bundled packages, not what they need).
pub(super) fn top_libraries(deps: &[(String, PathBuf)], bundle: &[String], libs: &[Lib]) -> BTreeSet<String> {
    libs.iter()
        .filter(|l| {
            bundle.iter().any(|pkg| {
                deps.iter()
                    .any(|(n, d)| n == pkg && l.path.starts_with(std::fs::canonicalize(d).unwrap_or(d.clone())))
            })
        })
        .map(|l| l.soname.clone())
        .collect()
}

/// The sdist's metadata and Python files (without any platform's library
/// directory beside `lib-dir`), and `lib-dir`'s parent inside the wheel.
pub(super) struct PythonPart {
    pub name: String,
    pub version: String,
    pub metadata: String,
    pub entries: Vec<WheelEntry>,
}

fn python_part(ctx: &BuildCtx, lib_dir: &str) -> Result<PythonPart, BuildError> {
    let src = &ctx.dirs.src;
    let (name, version, metadata) = read_pkg_info(src)?;
    let lib_parent = src
        .join(lib_dir)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| src.clone());
    let mut entries = Vec::new();
    let packages = find_packages(src);
    if packages.is_empty() {
        return Err(BuildError::invalid(
            format!("no Python package (a directory with __init__.py) in {}", src.display()),
            "python-wheel expects an sdist layout",
        ));
    }
    for p in &packages {
        let root = p.parent().unwrap_or(src);
        collect_python(root, p, &lib_parent, &mut entries)?;
    }
    Ok(PythonPart {
        name,
        version,
        metadata,
        entries,
    })
}

pub fn build(ctx: &BuildCtx, opts: &PythonWheelOptions) -> Result<(), BuildError> {
    let lib_dir = opts.lib_dir.as_deref().ok_or_else(|| {
        BuildError::invalid(
            "python-wheel needs `lib-dir`",
            "e.g. `lib-dir \"pkg/_lib/{{ target.python.lib_dir }}\"`",
        )
    })?;
    let part = python_part(ctx, lib_dir)?;
    if opts.fat {
        super::python_fat_wheel::build(ctx, opts, lib_dir, &part)?;
    }
    if opts.per_platform {
        per_platform(ctx, opts, lib_dir, part)?;
    }
    Ok(())
}

/// The wheel of this target: its Python files and its bundled libraries.
fn per_platform(ctx: &BuildCtx, opts: &PythonWheelOptions, lib_dir: &str, part: PythonPart) -> Result<(), BuildError> {
    let PythonPart {
        name,
        version,
        metadata,
        mut entries,
    } = part;
    let libs = bundle_closure(ctx.deps, &opts.bundle)?;
    let top = top_libraries(ctx.deps, &opts.bundle, &libs);
    check_loadable(&libs, &top)?;
    for lib in &libs {
        let data = stripped(ctx, lib)?;
        entries.push(WheelEntry {
            path: format!("{}/{}", lib_dir.trim_end_matches('/'), lib.soname),
            data,
            executable: true,
        });
    }
    let machine = if ctx.host_build {
        std::env::consts::ARCH
    } else {
        ctx.target.python.machine.as_str()
    };
    let tag = format!("{}-{}-{}", opts.python_tag, opts.abi_tag, platform_tag(machine, &libs));
    let wheel_dir = ctx.dirs.dest.join("usr/share/wheels");
    let path = wheel::write(&wheel_dir, &name, &version, &tag, &metadata, entries)
        .map_err(|e| BuildError::invalid(e.to_string(), "check free disk space and permissions"))?;
    ctx.log.note(&format!("wheel: {}", path.display()))?;
    Ok(())
}
