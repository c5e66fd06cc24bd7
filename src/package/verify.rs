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
            .find(|p| memchr::memmem::find(bytes, p.as_bytes()).is_some())
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
        return Err(soft_float(path));
    }
    check_portable(path, info, bytes, forbidden)
}

fn soft_float(path: &Path) -> VerifyError {
    fail(
        path,
        "soft-float ARM binary on a hard-float target",
        "pass the target's CFLAGS (-mfloat-abi=hard) through to the compiler",
    )
}

/// What holds for a binary of any target: no run path outside the target's
/// file system, no path of this build machine.
fn check_portable(path: &Path, info: &ElfInfo, bytes: &[u8], forbidden: &Forbidden) -> Result<(), VerifyError> {
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
    if tag.contains('.') {
        return verify_fat_wheel(path, &entries, &tag, target, forbidden);
    }
    let mut max_glibc = (2, 17);
    let mut any_binary = false;
    for (name, data, _) in &entries {
        if let Some(info) = elf::inspect_bytes(data) {
            let inner = path.join(name);
            check_elf(&inner, &info, target, data, forbidden)?;
            any_binary = true;
            if info.glibc.is_some() || info.glibcxx.is_some() {
                max_glibc = max_glibc.max(elf::manylinux_glibc(&info));
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

/// The ELF machine and class of a wheel platform's machine (PEP 600's
/// architecture names).
fn elf_of(machine: &str) -> Option<(&'static str, u8)> {
    Some(match machine {
        "x86_64" => ("x86_64", 64),
        "aarch64" => ("aarch64", 64),
        "armv7l" => ("arm", 32),
        "i686" => ("i386", 32),
        "riscv64" => ("riscv", 64),
        _ => return None,
    })
}

/// One platform of a fat wheel's compressed tag set.
struct Platform<'a> {
    tag: &'a str,
    machine: String,
    elf: (&'static str, u8),
    /// The glibc version of a `manylinux_` tag; `None` for `linux_`.
    glibc: Option<(u32, u32)>,
}

/// One platform tag of a fat wheel: `manylinux_X_Y_<arch>` or `linux_<arch>`.
fn parse_platform<'a>(path: &Path, p: &'a str) -> Result<Platform<'a>, VerifyError> {
    let (glibc_tag, machine) = match p.strip_prefix("manylinux_") {
        Some(rest) => {
            let mut parts = rest.splitn(3, '_');
            let (maj, min, m) = (parts.next(), parts.next(), parts.next());
            match (maj.and_then(|v| v.parse().ok()), min.and_then(|v| v.parse().ok()), m) {
                (Some(a), Some(b), Some(m)) => (Some((a, b)), m.to_string()),
                _ => {
                    return Err(fail(
                        path,
                        format!("platform tag `{p}` is malformed"),
                        "manylinux_X_Y_<arch>",
                    ));
                }
            }
        }
        None => match p.strip_prefix("linux_") {
            Some(m) => (None, m.to_string()),
            None => {
                return Err(fail(
                    path,
                    format!("platform tag `{p}` is not a Linux platform"),
                    "fat wheels carry Linux platforms only",
                ));
            }
        },
    };
    let elf = elf_of(&machine).ok_or_else(|| {
        fail(
            path,
            format!("platform tag `{p}` names an unknown architecture"),
            "x86_64, aarch64, armv7l, i686, riscv64",
        )
    })?;
    Ok(Platform {
        tag: p,
        machine,
        elf,
        glibc: glibc_tag,
    })
}

/// A fat wheel (`…-manylinux_2_17_aarch64.manylinux_2_17_armv7l…`): every
/// binary belongs to exactly one platform of the tag (by its ELF machine),
/// the binaries for this target pass the target's checks, the others the
/// checks that hold everywhere, and each platform's tag names the highest
/// glibc version its own binaries need.
fn verify_fat_wheel(
    path: &Path,
    entries: &[(String, Vec<u8>, u32)],
    tag: &str,
    target: &Target,
    forbidden: &Forbidden,
) -> Result<(), VerifyError> {
    let platforms = tag
        .split('.')
        .map(|p| parse_platform(path, p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut needed: Vec<((u32, u32), bool)> = vec![((2, 17), false); platforms.len()];
    for (name, data, _) in entries {
        let Some(info) = elf::inspect_bytes(data) else { continue };
        let inner = path.join(name);
        let Some(i) = platforms
            .iter()
            .position(|p| p.elf == (info.machine.as_str(), info.class))
        else {
            return Err(fail(
                &inner,
                format!(
                    "a {} ({}-bit) binary, for no platform of the tag `{tag}`",
                    info.machine, info.class
                ),
                "a fat wheel's tag must name the platform of every binary it carries",
            ));
        };
        if info.machine == target.elf.machine && info.class == target.elf.class {
            check_elf(&inner, &info, target, data, forbidden)?;
        } else {
            if info.machine == "arm" && info.hard_float == Some(false) {
                return Err(soft_float(&inner));
            }
            check_portable(&inner, &info, data, forbidden)?;
        }
        needed[i].1 = true;
        if info.glibc.is_some() || info.glibcxx.is_some() {
            needed[i].0 = needed[i].0.max(crate::elf::manylinux_glibc(&info));
        }
    }
    for (
        Platform {
            tag: p, machine, glibc, ..
        },
        (need, any),
    ) in platforms.iter().zip(&needed)
    {
        if !any {
            return Err(fail(
                path,
                format!("platform tag `{p}` has no binary for {machine} in the wheel"),
                "a fat wheel names only the platforms whose libraries it carries",
            ));
        }
        if glibc.is_some_and(|g| g != *need) {
            return Err(fail(
                path,
                format!(
                    "platform tag `{p}` does not match its binaries (they need manylinux_{}_{}_{machine})",
                    need.0, need.1
                ),
                "the tag must name the highest glibc version the binaries need",
            ));
        }
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

    /// A fat wheel holding this test binary (a real x86_64 ELF file) under
    /// the given platform tag; the error, if any.
    fn fat_wheel_error(platforms: &str) -> Option<String> {
        let tmp = tempfile::tempdir().expect("tempdir");
        let exe = std::fs::read(std::env::current_exe().expect("exe")).expect("read exe");
        let entries = vec![
            wheel::WheelEntry {
                path: "p/_lib/linux-amd64/libp.so".into(),
                data: exe,
                executable: true,
            },
            wheel::WheelEntry {
                path: "p/__init__.py".into(),
                data: b"".to_vec(),
                executable: false,
            },
        ];
        let tag = format!("py3-none-{platforms}");
        let path = wheel::write(tmp.path(), "p", "1", &tag, "Name: p\nVersion: 1\n", entries).expect("write");
        let file = crate::recipe::SourceFile::new(
            "x86_64.kdl",
            "target x86_64 {\n triple \"x86_64-linux-gnu\"\n arch \"x86_64\"\n debian-arch \"amd64\"\n go arch=\"amd64\"\n python platform=\"linux_x86_64\" machine=\"x86_64\" lib-dir=\"linux-amd64\"\n toolchain host\n sysroot \"s\"\n elf machine=\"x86_64\" class=64\n}\n",
        );
        let target = Target::parse(&file).expect("target");
        verify_wheel(&path, &target, &Forbidden { paths: vec![] })
            .err()
            .map(|e| e.to_string())
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn a_fat_wheel_tag_must_match_its_binaries() {
        // The binaries of x86_64 only, but a tag that also names aarch64.
        let err = fat_wheel_error("linux_aarch64.linux_x86_64").expect("refused");
        assert!(err.contains("`linux_aarch64` has no binary for aarch64"), "{err}");
        // An x86_64 binary under a tag without x86_64.
        let err = fat_wheel_error("linux_aarch64.linux_armv7l").expect("refused");
        assert!(err.contains("for no platform of the tag"), "{err}");
        let err = fat_wheel_error("linux_x86_64.macosx_11_0_arm64").expect("refused");
        assert!(err.contains("is not a Linux platform"), "{err}");
    }
}
