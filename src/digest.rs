//! File and tree digests every layer uses: a file's sha256, and a tree's
//! stat-only fingerprint (names, types, sizes, modes, mtimes). A leaf: it
//! imports nothing of the crate, so provisioning, downloads and builds can
//! all call it.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// sha256 of a file, read in blocks.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Names, types, sizes, modes and modification times of a tree: stat only,
/// no content read, so checking it on every no-op build is cheap.
pub fn fingerprint(root: &Path) -> std::io::Result<String> {
    fingerprint_except(root, &[])
}

/// [`fingerprint`] without the named top-level entries (a stamp file kept
/// inside the tree it describes).
pub fn fingerprint_except(root: &Path, skip: &[&str]) -> std::io::Result<String> {
    use std::os::unix::fs::MetadataExt;
    let mut h = Sha256::new();
    for (path, meta) in sorted_entries(root, skip)? {
        let rel = path.strip_prefix(root).unwrap_or(&path);
        h.update(rel.as_os_str().as_encoded_bytes());
        h.update(
            format!(
                "\0{:o} {} {}.{}\n",
                meta.mode(),
                meta.len(),
                meta.mtime(),
                meta.mtime_nsec()
            )
            .as_bytes(),
        );
    }
    Ok(hex::encode(h.finalize()))
}

/// Every entry under `root` (links not followed) with its metadata, in path
/// order, without the named top-level entries.
pub(crate) fn sorted_entries(root: &Path, skip: &[&str]) -> std::io::Result<Vec<(PathBuf, std::fs::Metadata)>> {
    let mut stack = vec![root.to_path_buf()];
    let mut entries = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if dir == root && path.file_name().is_some_and(|n| skip.iter().any(|s| n == *s)) {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path)?;
            if meta.is_dir() {
                stack.push(path.clone());
            }
            entries.push((path, meta));
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}
