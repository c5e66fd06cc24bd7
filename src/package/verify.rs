//! Post-build checks on every staged file and artifact: the binaries are for
//! the target (machine, class, float ABI), carry no run path or string that
//! points into this build machine, and wheels are internally consistent.

use std::path::{Path, PathBuf};

use miette::Diagnostic;
use thiserror::Error;

use crate::elf::{self, ElfInfo};
use crate::model::target::Target;
use crate::package::wheel;

#[derive(Debug, Error, Diagnostic)]
#[error("{file}: {problem}")]
#[diagnostic(code(recipe::verify), help("{help}"))]
pub struct VerifyError {
    pub file: String,
    pub problem: String,
    pub help: String,
}

fn fail(file: &Path, problem: impl Into<String>, help: impl Into<String>) -> VerifyError {
    VerifyError {
        file: file.display().to_string(),
        problem: problem.into(),
        help: help.into(),
    }
}

/// Paths of this machine that must not appear inside outputs.
pub struct Forbidden {
    pub paths: Vec<String>,
}

impl Forbidden {
    fn find_in(&self, bytes: &[u8]) -> Option<&str> {
        self.paths
            .iter()
            .filter(|p| p.len() > 4)
            .find(|p| bytes.windows(p.len()).any(|w| w == p.as_bytes()))
            .map(String::as_str)
    }
}

pub fn check_elf(
    path: &Path,
    info: &ElfInfo,
    target: &Target,
    bytes: &[u8],
    forbidden: &Forbidden,
) -> Result<(), VerifyError> {
    if info.machine != target.elf.machine || info.class != target.elf.class {
        return Err(fail(
            path,
            format!(
                "built for {} ({}-bit), but target {} is {} ({}-bit)",
                info.machine, info.class, target.name, target.elf.machine, target.elf.class
            ),
            "the build used the wrong compiler: check that it honours $CC (and $CGO_ENABLED/$GOARCH for Go)",
        ));
    }
    if target.elf.machine == "arm" && target.triple.ends_with("hf") && info.hard_float == Some(false) {
        return Err(fail(
            path,
            "soft-float ARM binary on a hard-float target",
            "pass the target's CFLAGS (-mfloat-abi=hard) through to the compiler",
        ));
    }
    for rp in info.rpaths.iter().chain(info.runpaths.iter()) {
        for entry in rp.split(':') {
            let ok = entry.starts_with("$ORIGIN")
                || entry.starts_with("${ORIGIN}")
                || entry.starts_with("/usr/")
                || entry.starts_with("/lib");
            if !ok {
                return Err(fail(
                    path,
                    format!("run path `{entry}` points outside the target's file system"),
                    "use `rpath-origin #true` (a run path of $ORIGIN) or no run path at all",
                ));
            }
        }
    }
    if let Some(leak) = forbidden.find_in(bytes) {
        return Err(fail(
            path,
            format!("contains the build machine path `{leak}`"),
            "something embeds build paths: use -ffile-prefix-map (set for C builds) or -trimpath (Go)",
        ));
    }
    Ok(())
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let ft = e.file_type()?;
        if ft.is_dir() {
            walk(&e.path(), out)?;
        } else if ft.is_file() {
            out.push(e.path());
        }
    }
    Ok(())
}

/// Checks every ELF file and wheel under `staged`.
pub fn verify_staged(staged: &Path, target: &Target, forbidden: &Forbidden) -> Result<usize, VerifyError> {
    let mut files = Vec::new();
    walk(staged, &mut files).map_err(|e| fail(staged, e.to_string(), "check permissions"))?;
    let mut checked = 0;
    for f in files {
        let bytes = std::fs::read(&f).map_err(|e| fail(&f, e.to_string(), "check permissions"))?;
        if let Some(info) = elf::inspect_bytes(&bytes) {
            check_elf(&f, &info, target, &bytes, forbidden)?;
            checked += 1;
        } else if f.extension().is_some_and(|e| e == "whl") {
            verify_wheel(&f, target, forbidden)?;
            checked += 1;
        }
    }
    Ok(checked)
}

/// RECORD hashes, binaries inside, and the platform tag against them.
pub fn verify_wheel(path: &Path, target: &Target, forbidden: &Forbidden) -> Result<(), VerifyError> {
    let entries = wheel::read_entries(path).map_err(|e| fail(path, e.to_string(), "the wheel is damaged"))?;
    wheel::check_record(path, &entries).map_err(|e| fail(path, e.to_string(), "the wheel is damaged; rebuild it"))?;
    let tag = path
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.rsplit('-').next())
        .unwrap_or("")
        .to_string();
    let mut max_glibc = (2, 17);
    let mut any_binary = false;
    for (name, data, _) in &entries {
        if let Some(info) = elf::inspect_bytes(data) {
            let inner = path.join(name);
            check_elf(&inner, &info, target, data, forbidden)?;
            any_binary = true;
            if let Some(g) = info.glibc {
                max_glibc = max_glibc.max(g);
            }
        }
    }
    if !any_binary {
        return Ok(());
    }
    let machine = &target.python.machine;
    if let Some(rest) = tag.strip_prefix("manylinux_") {
        let expected = format!("{}_{}_{machine}", max_glibc.0, max_glibc.1);
        if rest != expected {
            return Err(fail(
                path,
                format!("platform tag manylinux_{rest} does not match its binaries (they need manylinux_{expected})"),
                "the tag must name the highest glibc version the binaries need",
            ));
        }
    } else if tag != format!("linux_{machine}") {
        return Err(fail(
            path,
            format!("platform tag `{tag}` is not for {machine}"),
            "the wheel's platform tag must match the target",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_paths_are_found() {
        let f = Forbidden {
            paths: vec!["/work/main/build".into()],
        };
        assert_eq!(f.find_in(b"xx/work/main/build/armv7hf/yy"), Some("/work/main/build"));
        assert_eq!(f.find_in(b"/usr/lib"), None);
    }
}
