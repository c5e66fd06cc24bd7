//! Wheel repair as auditwheel does it, for a wheel a PEP 517 backend built
//! for the target: every shared library the binaries need that is neither
//! in the wheel nor on the manylinux allow-list is taken from the build
//! graph and vendored into `<name>.libs/` under a content-hashed name, the
//! needed entries are rewritten and `$ORIGIN` run paths set (patchelf); the
//! platform tag is `manylinux_2_N_<machine>` for the highest glibc symbol
//! version any binary needs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::Digest;

use super::{BuildCtx, BuildError};
use crate::elf::{self, ElfInfo};
use crate::package::wheel::{self, WheelEntry};

/// A backend's wheel taken apart: its files (the `.dist-info` files other
/// than METADATA, WHEEL and RECORD kept, under the name `wheel::write`
/// gives the directory) and its tag.
pub struct WheelParts {
    pub name: String,
    pub version: String,
    pub metadata: String,
    pub tag: String,
    pub python_tag: String,
    pub abi_tag: String,
    pub files: Vec<WheelEntry>,
}

fn bad(path: &Path, what: impl Into<String>) -> BuildError {
    BuildError::invalid(
        format!("{}: {}", path.display(), what.into()),
        "the PEP 517 backend wrote an unusual wheel; see the build log",
    )
}

pub fn split_wheel(path: &Path, entries: Vec<(String, Vec<u8>, u32)>) -> Result<WheelParts, BuildError> {
    let dist_info = entries
        .iter()
        .find_map(|(n, _, _)| {
            n.strip_suffix("/WHEEL")
                .filter(|d| d.ends_with(".dist-info") && !d.contains('/'))
        })
        .map(str::to_string)
        .ok_or_else(|| bad(path, "no .dist-info/WHEEL"))?;
    let text = |file: &str| {
        entries
            .iter()
            .find(|(n, _, _)| *n == format!("{dist_info}/{file}"))
            .map(|(_, d, _)| String::from_utf8_lossy(d).into_owned())
            .ok_or_else(|| bad(path, format!("no {dist_info}/{file}")))
    };
    let metadata = text("METADATA")?;
    let field = |src: &str, key: &str| {
        src.lines()
            .take_while(|l| !l.is_empty())
            .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
    };
    let (Some(name), Some(version)) = (field(&metadata, "Name:"), field(&metadata, "Version:")) else {
        return Err(bad(path, "METADATA lacks Name or Version"));
    };
    let tag = field(&text("WHEEL")?, "Tag:").ok_or_else(|| bad(path, "WHEEL has no Tag"))?;
    let mut tag_parts = tag.splitn(3, '-');
    let (Some(python_tag), Some(abi_tag), Some(_)) = (tag_parts.next(), tag_parts.next(), tag_parts.next()) else {
        return Err(bad(path, format!("tag `{tag}` is not PYTHON-ABI-PLATFORM")));
    };
    let ours = format!("{}-{}.dist-info", wheel::escape_name(&name), version);
    let mut files = Vec::new();
    for (n, data, mode) in entries {
        let rel = match n.strip_prefix(&format!("{dist_info}/")) {
            Some(f) if ["METADATA", "WHEEL", "RECORD"].contains(&f) => continue,
            Some(f) => format!("{ours}/{f}"),
            None => n,
        };
        if rel.starts_with('/') || rel.split('/').any(|c| c == "..") {
            return Err(bad(path, format!("unsafe path {rel}")));
        }
        files.push(WheelEntry {
            path: rel,
            data,
            executable: mode & 0o111 != 0,
        });
    }
    Ok(WheelParts {
        python_tag: python_tag.to_string(),
        abi_tag: abi_tag.to_string(),
        name,
        version,
        metadata,
        tag,
        files,
    })
}

pub struct Repair<'a, 'b> {
    pub ctx: &'a BuildCtx<'b>,
    pub patchelf: PathBuf,
    pub work: PathBuf,
}

/// A library to vendor: where it was found and its name inside the wheel.
struct Vendored {
    path: PathBuf,
    info: ElfInfo,
    new_name: String,
}

/// `libyaml-0.so.2` → `libyaml-0-<hash8>.so.2` (auditwheel's naming).
fn hashed_name(soname: &str, data: &[u8]) -> String {
    let hash = &hex::encode(sha2::Sha256::digest(data))[..8];
    match soname.split_once(".so") {
        Some((stem, rest)) => format!("{stem}-{hash}.so{rest}"),
        None => format!("{soname}-{hash}"),
    }
}

fn find_in_deps(ctx: &BuildCtx, soname: &str) -> Option<PathBuf> {
    let triple = &ctx.target.triple;
    ctx.deps.iter().find_map(|(_, dir)| {
        [
            "usr/lib".to_string(),
            format!("usr/lib/{triple}"),
            "usr/local/lib".into(),
            "lib".into(),
        ]
        .iter()
        .map(|sub| dir.join(sub).join(soname))
        .find(|p| p.exists())
    })
}

impl Repair<'_, '_> {
    /// The repaired files and the platform tag (`None`: no binaries, the
    /// backend's tag stands).
    pub fn run(&self, parts: &WheelParts) -> Result<(Vec<WheelEntry>, Option<String>), BuildError> {
        let ctx = self.ctx;
        let binaries: Vec<(usize, ElfInfo)> = parts
            .files
            .iter()
            .enumerate()
            .filter_map(|(i, f)| elf::inspect_bytes(&f.data).map(|info| (i, info)))
            .collect();
        if binaries.is_empty() {
            return Ok((parts.files.clone(), None));
        }
        for (i, info) in &binaries {
            self.check_for_target(&parts.files[*i].path, info)?;
        }
        let inside: Vec<String> = binaries
            .iter()
            .flat_map(|(i, info)| {
                let base = parts.files[*i].path.rsplit('/').next().unwrap_or_default().to_string();
                std::iter::once(base).chain(info.soname.clone())
            })
            .collect();
        let vendored = self.vendor_closure(parts, &binaries, &inside)?;
        let libs_dir = format!("{}.libs", wheel::escape_name(&parts.name));
        let renames: BTreeMap<String, String> = vendored.iter().map(|(k, v)| (k.clone(), v.new_name.clone())).collect();
        let _ = std::fs::remove_dir_all(&self.work);
        std::fs::create_dir_all(&self.work).map_err(|e| BuildError::io("cannot create the repair dir", e))?;
        let mut files = parts.files.clone();
        let mut glibc = (2, 17);
        for (n, (i, info)) in binaries.iter().enumerate() {
            let path = files[*i].path.clone();
            let depth = path.matches('/').count();
            let runpath = format!("$ORIGIN/{}{libs_dir}", "../".repeat(depth));
            let needs_vendored = info.needed.iter().any(|x| renames.contains_key(x));
            let file = self.work.join(format!("bin-{n}"));
            let data = self.patch(
                &file,
                &files[*i].data,
                info,
                &renames,
                needs_vendored.then_some(runpath.as_str()),
                None,
            )?;
            glibc = glibc.max(elf::inspect_bytes(&data).map_or((2, 17), |i| elf::manylinux_glibc(&i)));
            files[*i].data = data;
        }
        for (soname, lib) in &vendored {
            let original = std::fs::read(&lib.path)
                .map_err(|e| BuildError::io(format!("cannot read {}", lib.path.display()), e))?;
            let file = self.work.join(&lib.new_name);
            let data = self.patch(
                &file,
                &original,
                &lib.info,
                &renames,
                Some("$ORIGIN"),
                Some(&lib.new_name),
            )?;
            glibc = glibc.max(elf::inspect_bytes(&data).map_or((2, 17), |i| elf::manylinux_glibc(&i)));
            ctx.log
                .note(&format!("# vendored {soname} as {libs_dir}/{}", lib.new_name))?;
            files.push(WheelEntry {
                path: format!("{libs_dir}/{}", lib.new_name),
                data,
                executable: true,
            });
        }
        let machine = &ctx.target.python.machine;
        Ok((files, Some(format!("manylinux_{}_{}_{machine}", glibc.0, glibc.1))))
    }

    /// A binary for another machine, or an extension named for another
    /// platform, is a host leak (the build Python's own values were used).
    fn check_for_target(&self, path: &str, info: &ElfInfo) -> Result<(), BuildError> {
        let t = self.ctx.target;
        if info.machine != t.elf.machine {
            return Err(BuildError::invalid(
                format!(
                    "{path} in the wheel is a {} binary, not {} (target {})",
                    info.machine, t.elf.machine, t.name
                ),
                "the backend compiled with the build machine's compiler: it must use $CC (the target's)",
            ));
        }
        let base = path.rsplit('/').next().unwrap_or(path);
        if base.contains(".cpython-") && !base.ends_with(&format!("-{}.so", t.triple)) {
            return Err(BuildError::invalid(
                format!("{path} is named for another platform than {}", t.triple),
                "the backend did not read the target's sysconfigdata (_PYTHON_SYSCONFIGDATA_NAME)",
            ));
        }
        Ok(())
    }

    /// Every library the binaries need, transitively, that must travel
    /// with the wheel; a library nobody provides is an error naming it.
    fn vendor_closure(
        &self,
        parts: &WheelParts,
        binaries: &[(usize, ElfInfo)],
        inside: &[String],
    ) -> Result<BTreeMap<String, Vendored>, BuildError> {
        let mut out: BTreeMap<String, Vendored> = BTreeMap::new();
        let mut queue: Vec<(String, String)> = binaries
            .iter()
            .flat_map(|(i, info)| info.needed.iter().map(|n| (n.clone(), parts.files[*i].path.clone())))
            .collect();
        while let Some((needed, by)) = queue.pop() {
            if elf::is_system_library(&needed) || inside.contains(&needed) || out.contains_key(&needed) {
                continue;
            }
            let Some(found) = find_in_deps(self.ctx, &needed) else {
                return Err(BuildError::invalid(
                    format!(
                        "{by} needs {needed}, which is neither in the wheel, nor on the manylinux allow-list, nor built by a dependency"
                    ),
                    format!("add the recipe that builds {needed} to `depends`, so it is vendored into the wheel"),
                ));
            };
            let real = std::fs::canonicalize(&found)
                .map_err(|e| BuildError::io(format!("cannot resolve {}", found.display()), e))?;
            let data =
                std::fs::read(&real).map_err(|e| BuildError::io(format!("cannot read {}", real.display()), e))?;
            let info = elf::inspect_bytes(&data).ok_or_else(|| {
                BuildError::invalid(
                    format!("{} is not an ELF library", real.display()),
                    "check the dependency",
                )
            })?;
            self.check_for_target(&needed, &info)?;
            queue.extend(info.needed.iter().map(|n| (n.clone(), needed.clone())));
            out.insert(
                needed.clone(),
                Vendored {
                    new_name: hashed_name(&needed, &data),
                    path: real,
                    info,
                },
            );
        }
        Ok(out)
    }

    /// Strips debug information (it names build paths) and rewrites needed
    /// entries, run path and soname.
    fn patch(
        &self,
        file: &Path,
        data: &[u8],
        info: &ElfInfo,
        renames: &BTreeMap<String, String>,
        runpath: Option<&str>,
        soname: Option<&str>,
    ) -> Result<Vec<u8>, BuildError> {
        let ctx = self.ctx;
        std::fs::write(file, data).map_err(|e| BuildError::io(format!("cannot write {}", file.display()), e))?;
        let f = file.display().to_string();
        let strip = ctx.env.get("STRIP").cloned().unwrap_or_else(|| "strip".into());
        ctx.run(&strip, vec!["--strip-debug".into(), f.clone()], &self.work)?;
        let mut args = Vec::new();
        for n in &info.needed {
            if let Some(new) = renames.get(n) {
                args.extend(["--replace-needed".to_string(), n.clone(), new.clone()]);
            }
        }
        if let Some(r) = runpath {
            args.extend(["--set-rpath".to_string(), r.to_string()]);
        }
        if let Some(s) = soname {
            args.extend(["--set-soname".to_string(), s.to_string()]);
        }
        if !args.is_empty() {
            args.push(f);
            ctx.run(&self.patchelf.display().to_string(), args, &self.work)?;
        }
        std::fs::read(file).map_err(|e| BuildError::io(format!("cannot read {}", file.display()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendored_names_carry_a_content_hash() {
        let a = hashed_name("libyaml-0.so.2", b"one");
        let b = hashed_name("libyaml-0.so.2", b"two");
        assert!(a.starts_with("libyaml-0-") && a.ends_with(".so.2"), "{a}");
        assert_ne!(a, b);
        assert_eq!(a.len(), "libyaml-0-12345678.so.2".len());
    }
}
