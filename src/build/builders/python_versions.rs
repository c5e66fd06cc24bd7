//! A PEP 517 wheel per Python version of the target: one job builds them
//! all, each with its own build Python, lowest version first. Each wheel is
//! kept under its own key (the package's key with only its Python's
//! identity) in `build/<target>/<name>/python-wheels/<key>/`, so a version
//! added to the target rebuilds nothing for the versions already built.
//! When the lowest version's wheel uses the stable ABI (`abi3`, from
//! `py_limited_api`), it serves every later version and no other is built.

use std::path::{Path, PathBuf};

use super::{BuildCtx, BuildError, python_pep517};
use crate::recipe::options::PythonWheelOptions;

const CACHE_DIR: &str = "python-wheels";

fn io(what: &str) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |e| BuildError::io(what, e)
}

pub fn build(ctx: &BuildCtx, opts: &PythonWheelOptions) -> Result<(), BuildError> {
    if ctx.pythons.is_empty() {
        // No build Python provisioned: the single build says what is missing.
        return python_pep517::build(ctx, opts).map(|_| ());
    }
    let cache = ctx.dirs.root.join(CACHE_DIR);
    let wheels_dir = ctx.dirs.dest.join("usr/share/wheels");
    let mut used = Vec::new();
    for p in ctx.pythons {
        let version = &p.python.version;
        let entry = cache.join(&p.key);
        used.push(p.key.clone());
        let wheel = match cached_wheel(&entry) {
            Some(cached) => {
                std::fs::create_dir_all(&wheels_dir).map_err(io("cannot create the wheel dir"))?;
                let name = cached.file_name().unwrap_or_default();
                std::fs::copy(&cached, wheels_dir.join(name)).map_err(io("cannot copy a kept wheel"))?;
                ctx.log.note(&format!(
                    "# python {version}: inputs unchanged, wheel kept from an earlier build: {}",
                    cached.display()
                ))?;
                cached
            }
            None => {
                ctx.log.note(&format!("# python {version}: building the wheel"))?;
                let mut env = ctx.env.clone();
                env.extend(crate::toolchain::activate::python_vars(&p.python));
                let one = BuildCtx { env, ..*ctx };
                let built = python_pep517::build(&one, opts)?;
                keep(&built, &entry)?;
                built
            }
        };
        if is_abi3(&wheel) {
            ctx.log.note(&format!(
                "# python {version}: an abi3 wheel, which serves every later version: no other is built"
            ))?;
            break;
        }
    }
    prune(&cache, &used);
    Ok(())
}

/// The one wheel a cache entry holds.
fn cached_wheel(entry: &Path) -> Option<PathBuf> {
    let mut wheels = std::fs::read_dir(entry)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "whl") && p.is_file());
    let first = wheels.next()?;
    wheels.next().is_none().then_some(first)
}

/// Copies `wheel` into a fresh `entry` (complete or absent: written aside,
/// then renamed).
fn keep(wheel: &Path, entry: &Path) -> Result<(), BuildError> {
    let name = wheel
        .file_name()
        .ok_or_else(|| BuildError::invalid("the wheel has no file name", "see the build log"))?;
    let tmp = entry.with_extension("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    let _ = std::fs::remove_dir_all(entry);
    std::fs::create_dir_all(&tmp).map_err(io("cannot create the wheel cache entry"))?;
    std::fs::copy(wheel, tmp.join(name)).map_err(io("cannot keep the wheel"))?;
    std::fs::rename(&tmp, entry).map_err(io("cannot keep the wheel"))
}

/// Entries of versions the target no longer lists (or of older inputs).
fn prune(cache: &Path, used: &[String]) {
    let Ok(entries) = std::fs::read_dir(cache) else {
        return;
    };
    for e in entries.flatten() {
        if !used.iter().any(|k| e.file_name() == k.as_str()) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Whether a wheel file name's ABI tag is the stable ABI.
pub fn is_abi3(wheel: &Path) -> bool {
    let stem = wheel.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    let parts: Vec<&str> = stem.split('-').collect();
    parts.len() >= 5 && parts[parts.len() - 2].split('.').any(|a| a == "abi3")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abi3_is_read_from_the_tag() {
        assert!(is_abi3(Path::new(
            "/o/argon2_cffi_bindings-21.2.0-cp311-abi3-manylinux_2_17_armv7l.whl"
        )));
        assert!(!is_abi3(Path::new(
            "MarkupSafe-3.0.4-cp311-cp311-manylinux_2_17_armv7l.whl"
        )));
        assert!(!is_abi3(Path::new("abi3-1.0-py3-none-any.whl")));
    }

    #[test]
    fn a_cache_entry_holds_exactly_one_wheel() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wheel = dir.path().join("x-1.0-cp311-cp311-linux_armv7l.whl");
        std::fs::write(&wheel, b"zip").expect("write");
        let entry = dir.path().join("cache/abc");
        keep(&wheel, &entry).expect("keep");
        assert_eq!(
            cached_wheel(&entry),
            Some(entry.join("x-1.0-cp311-cp311-linux_armv7l.whl"))
        );
        std::fs::write(entry.join("y-1.0-py3-none-any.whl"), b"zip").expect("write");
        assert_eq!(cached_wheel(&entry), None, "ambiguous entries are not used");
        prune(&dir.path().join("cache"), &[]);
        assert!(!entry.exists());
    }
}
