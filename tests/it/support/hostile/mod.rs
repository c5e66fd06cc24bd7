//! The hostile archive suite's machinery: builders and a sandbox that can
//! tell whether anything outside the extraction root changed.

pub mod build;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// `top/outside/` holds the victims; the root is `top/l1/l2/root`, deep
/// enough that `../..` tricks still land inside `top`, which is snapshotted.
pub struct Sandbox {
    _dir: tempfile::TempDir,
    pub top: PathBuf,
    pub out: PathBuf,
    pub root: PathBuf,
    pub scratch: PathBuf,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        let top = dir.path().join("top");
        let out = top.join("outside");
        std::fs::create_dir_all(out.join("dir")).expect("mkdir");
        std::fs::write(out.join("victim"), "precious").expect("write");
        std::fs::create_dir_all(top.join("l1/l2")).expect("mkdir");
        let scratch = dir.path().join("scratch");
        std::fs::create_dir_all(&scratch).expect("mkdir");
        let root = top.join("l1/l2/root");
        Sandbox {
            _dir: dir,
            top,
            out,
            root,
            scratch,
        }
    }

    /// Everything under `top` except the root itself, described.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, String> {
        let mut map = BTreeMap::new();
        describe(&self.top, &self.root, &mut map);
        map
    }
}

fn describe(dir: &Path, skip: &Path, map: &mut BTreeMap<PathBuf, String>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p == skip {
            continue;
        }
        let Ok(m) = std::fs::symlink_metadata(&p) else { continue };
        let mode = m.permissions().mode();
        let what = if m.file_type().is_symlink() {
            format!("link -> {:?}", std::fs::read_link(&p).ok())
        } else if m.is_dir() {
            describe(&p, skip, map);
            format!("dir {mode:o}")
        } else if m.is_file() {
            format!("file {mode:o} {:?}", std::fs::read(&p).ok())
        } else {
            format!("special {mode:o}")
        };
        map.insert(p, what);
    }
}

/// Checks that hold for every successfully extracted root: no special bits,
/// no special files, every symlink resolving inside (walking the real tree).
pub fn root_invariants(root: &Path) -> Result<(), String> {
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let rd = std::fs::read_dir(root.join(&rel)).map_err(|e| format!("cannot list {}: {e}", rel.display()))?;
        for e in rd.flatten() {
            let rel = rel.join(e.file_name());
            let m = std::fs::symlink_metadata(root.join(&rel)).map_err(|e| e.to_string())?;
            let ft = m.file_type();
            if ft.is_symlink() {
                let parts: Vec<OsString> = rel.iter().map(OsString::from).collect();
                if resolve(root, &parts, &mut 0).is_none() {
                    let t = std::fs::read_link(root.join(&rel)).ok();
                    return Err(format!("symlink {} -> {t:?} leads outside the root", rel.display()));
                }
                continue;
            }
            if m.permissions().mode() & 0o7000 != 0 {
                return Err(format!("{} has mode {:o}", rel.display(), m.permissions().mode()));
            }
            if ft.is_block_device() || ft.is_char_device() || ft.is_fifo() || ft.is_socket() {
                return Err(format!("{} is a special file", rel.display()));
            }
            if ft.is_dir() {
                stack.push(rel);
            }
        }
    }
    Ok(())
}

/// Where the link at `link` (components under `root`) leads, or `None` when
/// any step leaves the root. A loop is harmless (the kernel refuses it).
fn resolve(root: &Path, link: &[OsString], hops: &mut u32) -> Option<Vec<OsString>> {
    let target = std::fs::read_link(root.join(link.iter().collect::<PathBuf>())).ok()?;
    let mut cur = link[..link.len().saturating_sub(1)].to_vec();
    for c in target.components() {
        match c {
            Component::Normal(n) => {
                cur.push(n.to_os_string());
                let here = root.join(cur.iter().collect::<PathBuf>());
                if std::fs::symlink_metadata(&here).is_ok_and(|m| m.file_type().is_symlink()) {
                    *hops += 1;
                    if *hops > 40 {
                        return Some(cur);
                    }
                    cur = resolve(root, &cur, hops)?;
                }
            }
            Component::ParentDir => {
                cur.pop()?;
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(cur)
}
