//! The link graph, resolved against the real tree: a link is safe when
//! following it as the kernel would never leaves the root. Read-only, on a
//! tree the unpacker just built, so path-based `lstat` is enough here: the
//! walk keeps only real directories on its stack (links are replaced by
//! where they lead), so `..` is always the real parent.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// Hops before a chain counts as a loop (the kernel's own limit).
const MAX_HOPS: u32 = 40;

/// Checks the link at `rel` (relative to `root`).
pub fn resolve_inside(root: &Path, rel: &Path) -> Result<(), String> {
    let parts: Vec<OsString> = rel.iter().map(OsString::from).collect();
    resolve(root, &parts, &mut 0).map(drop)
}

fn resolve(root: &Path, link: &[OsString], hops: &mut u32) -> Result<Vec<OsString>, String> {
    let path: PathBuf = root.join(link.iter().collect::<PathBuf>());
    let target = std::fs::read_link(&path).map_err(|e| format!("cannot be read: {e}"))?;
    let mut cur = link[..link.len().saturating_sub(1)].to_vec();
    for c in target.components() {
        match c {
            Component::Normal(n) => {
                cur.push(n.to_os_string());
                let here = root.join(cur.iter().collect::<PathBuf>());
                if std::fs::symlink_metadata(&here).is_ok_and(|m| m.file_type().is_symlink()) {
                    *hops += 1;
                    if *hops > MAX_HOPS {
                        // A loop never resolves anywhere: the kernel says ELOOP.
                        return Ok(cur);
                    }
                    cur = resolve(root, &cur, hops)?;
                }
            }
            Component::ParentDir => {
                if cur.pop().is_none() {
                    return Err("resolves outside the tree".into());
                }
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err("is absolute".into()),
        }
    }
    Ok(cur)
}

/// Checks every link under `root`: the first one leading out, and why.
/// For roots filled by several archives, whose links may combine.
pub fn check_all(root: &Path) -> Result<(), (PathBuf, String)> {
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let rd = std::fs::read_dir(&dir).map_err(|e| (rel.clone(), format!("cannot be listed: {e}")))?;
        for e in rd {
            let e = e.map_err(|e| (rel.clone(), format!("cannot be listed: {e}")))?;
            let rel = rel.join(e.file_name());
            let ft = e.file_type().map_err(|e| (rel.clone(), e.to_string()))?;
            if ft.is_symlink() {
                resolve_inside(root, &rel).map_err(|why| (rel.clone(), why))?;
            } else if ft.is_dir() {
                stack.push(rel);
            }
        }
    }
    Ok(())
}

/// Removes every link under `root` (best effort), leaving a refused tree
/// inert. Directories on the walk's stack are real ones, so removing by
/// path removes the link itself.
pub fn remove_all(root: &Path) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            match e.file_type() {
                Ok(t) if t.is_symlink() => {
                    let _ = std::fs::remove_file(e.path());
                }
                Ok(t) if t.is_dir() => stack.push(e.path()),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn chains_are_followed_on_disk() {
        let t = tempfile::tempdir().expect("tempdir");
        let r = t.path();
        std::fs::create_dir_all(r.join("a/b/c")).expect("mkdir");
        symlink(".", r.join("x")).expect("link");
        symlink("x/..", r.join("y")).expect("link");
        symlink("a/b/c", r.join("deep")).expect("link");
        symlink("deep/../..", r.join("ok")).expect("link");
        symlink("deep/../../../..", r.join("out")).expect("link");
        symlink("loop", r.join("loop")).expect("link");
        assert!(resolve_inside(r, Path::new("x")).is_ok());
        assert!(resolve_inside(r, Path::new("y")).is_err());
        assert!(resolve_inside(r, Path::new("ok")).is_ok());
        assert!(resolve_inside(r, Path::new("out")).is_err());
        assert!(resolve_inside(r, Path::new("loop")).is_ok());
        assert!(check_all(r).is_err());
        remove_all(r);
        assert!(check_all(r).is_ok());
        assert!(r.join("a/b/c").is_dir(), "only links are removed");
    }
}
