//! Unpacking `.deb` packages as a root filesystem (sysroots, compiler
//! prefixes, qemu, Go). Unlike source archives (`crate::archive`), packages
//! legitimately carry absolute symlinks (`/lib64/ld-linux-x86-64.so.2 →
//! /lib/…`) and link across packages, and many of them share directories; so
//! here absolute link targets are rebased onto the root (made relative), and
//! links may point to files of other packages — but every entry must stay
//! inside the root, nothing is written through a symlink, device nodes are
//! skipped, and a link whose target leaves the root lexically is refused.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};

use crate::sysroot::relative_target;
use crate::toolchain::ToolchainError;

fn bad(deb: &Path, message: impl Into<String>) -> ToolchainError {
    ToolchainError::Extract {
        file: deb.display().to_string(),
        message: message.into(),
    }
}

/// Extracts `deb`'s data member into `root` (created if needed). With `only`,
/// extracts just those paths (relative, e.g. `usr/bin/qemu-arm`).
pub fn extract_deb(deb: &Path, root: &Path, only: Option<&[&str]>) -> Result<(), ToolchainError> {
    let f = File::open(deb).map_err(ToolchainError::io(format!("cannot open {}", deb.display())))?;
    let mut r = BufReader::with_capacity(256 * 1024, f);
    let (member, size) = data_member(deb, &mut r)?;
    let limited = r.take(size);
    let data: Box<dyn Read> = if member.ends_with(".xz") {
        Box::new(lzma_rust2::XzReader::new(limited, true))
    } else if member.ends_with(".zst") {
        Box::new(ruzstd::decoding::StreamingDecoder::new(limited).map_err(|e| bad(deb, e.to_string()))?)
    } else if member.ends_with(".gz") {
        Box::new(flate2::read::GzDecoder::new(limited))
    } else if member == "data.tar" {
        Box::new(limited)
    } else {
        return Err(bad(deb, format!("unsupported member {member}")));
    };
    std::fs::create_dir_all(root).map_err(ToolchainError::io(format!("cannot create {}", root.display())))?;
    let mut ar = tar::Archive::new(data);
    let entries = ar.entries().map_err(|e| bad(deb, e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(deb, e.to_string()))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(rel) = clean(&raw) else {
            return Err(bad(deb, format!("entry `{raw}` leaves the root")));
        };
        if rel.as_os_str().is_empty() {
            continue;
        }
        if let Some(only) = only
            && !only.iter().any(|o| Path::new(o) == rel)
        {
            continue;
        }
        let path = root.join(&rel);
        // Never write through a symlink, ours or another package's.
        for anc in rel.ancestors().skip(1).filter(|a| !a.as_os_str().is_empty()) {
            if root.join(anc).is_symlink() {
                return Err(bad(
                    deb,
                    format!("entry `{raw}` goes through the symlink `{}`", anc.display()),
                ));
            }
        }
        let kind = entry.header().entry_type();
        let mode = entry.header().mode().unwrap_or(0o644);
        let io =
            |what: &str| ToolchainError::io(format!("{deb}: cannot {what} {}", path.display(), deb = deb.display()));
        if kind.is_dir() {
            std::fs::create_dir_all(&path).map_err(io("create"))?;
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io("create the parent of"))?;
        }
        if let Ok(m) = std::fs::symlink_metadata(&path) {
            if m.is_dir() {
                return Err(bad(deb, format!("`{raw}` would replace a directory")));
            }
            std::fs::remove_file(&path).map_err(io("replace"))?;
        }
        if kind.is_file() {
            use std::os::unix::fs::PermissionsExt;
            let mut out = File::create_new(&path).map_err(io("create"))?;
            std::io::copy(&mut entry, &mut out).map_err(|e| bad(deb, format!("`{raw}`: {e}")))?;
            // No setuid/setgid; always owner-writable so the cache can be cleaned.
            out.set_permissions(std::fs::Permissions::from_mode((mode & 0o777) | 0o600))
                .map_err(io("set the mode of"))?;
        } else if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name()
                .ok()
                .flatten()
                .map(|t| t.into_owned())
                .ok_or_else(|| bad(deb, format!("`{raw}` has no link target")))?;
            if kind.is_hard_link() {
                let src = clean(&target.to_string_lossy())
                    .filter(|s| !s.as_os_str().is_empty())
                    .ok_or_else(|| bad(deb, format!("hard link `{raw}` leaves the root")))?;
                std::fs::hard_link(root.join(src), &path).map_err(io("hard-link"))?;
                continue;
            }
            let target = relative_target(root, &path, &target).unwrap_or(target);
            if !stays_inside(&rel, &target) {
                return Err(bad(
                    deb,
                    format!("symlink `{raw}` → `{}` leaves the root", target.display()),
                ));
            }
            std::os::unix::fs::symlink(&target, &path).map_err(io("create the symlink"))?;
        }
        // Device nodes and fifos have no place in a sysroot: skipped.
    }
    Ok(())
}

/// Name and size of the `data.tar*` member of the ar archive.
fn data_member(deb: &Path, r: &mut impl Read) -> Result<(String, u64), ToolchainError> {
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic).map_err(|e| bad(deb, e.to_string()))?;
    if &magic != b"!<arch>\n" {
        return Err(bad(deb, "not a Debian package (bad ar magic)"));
    }
    loop {
        let mut h = [0u8; 60];
        r.read_exact(&mut h).map_err(|_| bad(deb, "no data.tar member"))?;
        let name = String::from_utf8_lossy(&h[..16])
            .trim_end()
            .trim_end_matches('/')
            .to_string();
        let size: u64 = String::from_utf8_lossy(&h[48..58])
            .trim()
            .parse()
            .map_err(|_| bad(deb, "bad ar member size"))?;
        if name.starts_with("data.tar") {
            return Ok((name, size));
        }
        let skip = size + size % 2;
        let n = std::io::copy(&mut r.take(skip), &mut std::io::sink()).map_err(|e| bad(deb, e.to_string()))?;
        if n != skip {
            return Err(bad(deb, "truncated ar member"));
        }
    }
}

/// `./usr/lib/x` → `usr/lib/x`; `None` for absolute paths or `..`.
fn clean(raw: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(raw).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

/// Whether `target`, read from the directory of `link` (both relative to the
/// root), stays inside the root lexically.
fn stays_inside(link: &Path, target: &Path) -> bool {
    let mut depth = link.components().count().saturating_sub(1) as i64;
    for c in target.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            _ => return false,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_must_stay_inside() {
        assert!(stays_inside(
            Path::new("usr/lib/gcc-cross/t/12/libstdc++.so"),
            Path::new("../../../../t/lib/x")
        ));
        assert!(!stays_inside(Path::new("usr/bin/x"), Path::new("../../../etc/passwd")));
        assert!(stays_inside(Path::new("lib64"), Path::new("usr/lib64")));
        assert!(!stays_inside(Path::new("a"), Path::new("/etc")));
        assert_eq!(clean("./usr/bin/"), Some(PathBuf::from("usr/bin")));
        assert_eq!(clean("../x"), None);
    }
}
