//! The archive format of remote cache entries: a deterministic tar of a
//! staged output (sorted entries, mtime 0, uid/gid 0, permission bits kept,
//! symlinks kept), and a careful unpacker that never writes outside its
//! destination and rejects anything that could point outside it.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use tar::{EntryType, Header};

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// The tree or archive holds something we refuse to store or unpack.
    #[error("{0}")]
    Unsafe(String),
    /// Reading or decoding the archive failed.
    #[error("unreadable archive: {0}")]
    Archive(std::io::Error),
    /// Reading the tree or writing into the destination failed.
    #[error("{what}: {source}")]
    Local {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn local(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> PackError {
    let what = what.into();
    move |source| PackError::Local { what, source }
}

/// Every path under `root` (not `root` itself), sorted, with its metadata.
fn walk(root: &Path) -> Result<Vec<(PathBuf, std::fs::Metadata)>, PackError> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        for entry in std::fs::read_dir(&dir).map_err(local(format!("cannot list {}", dir.display())))? {
            let entry = entry.map_err(local(format!("cannot list {}", dir.display())))?;
            let rel = rel.join(entry.file_name());
            let meta = entry
                .metadata()
                .map_err(local(format!("cannot stat {}", entry.path().display())))?;
            if meta.is_dir() {
                stack.push(rel.clone());
            }
            out.push((rel, meta));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Writes the tar of `root` to `out`. The same tree always gives the same bytes.
pub fn pack<W: Write>(root: &Path, out: W) -> Result<W, PackError> {
    let mut tar = tar::Builder::new(out);
    let archive_err = |e: std::io::Error| PackError::Local {
        what: "cannot write the archive".into(),
        source: e,
    };
    for (rel, meta) in walk(root)? {
        let path = root.join(&rel);
        let mut h = Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_mode(meta.permissions().mode() & 0o777);
        let ft = meta.file_type();
        if ft.is_symlink() {
            let target = std::fs::read_link(&path).map_err(local(format!("cannot read link {}", path.display())))?;
            check_link(&rel, &target)?;
            h.set_entry_type(EntryType::Symlink);
            h.set_mode(0o777);
            h.set_size(0);
            tar.append_link(&mut h, &rel, &target).map_err(archive_err)?;
        } else if ft.is_dir() {
            h.set_entry_type(EntryType::Directory);
            h.set_size(0);
            tar.append_data(&mut h, &rel, std::io::empty()).map_err(archive_err)?;
        } else if ft.is_file() {
            h.set_entry_type(EntryType::Regular);
            h.set_size(meta.len());
            let f = std::fs::File::open(&path).map_err(local(format!("cannot read {}", path.display())))?;
            // A file that changes size under us would corrupt the archive: the
            // digest check after packing catches any other change.
            tar.append_data(&mut h, &rel, f.take(meta.len())).map_err(archive_err)?;
        } else {
            return Err(PackError::Unsafe(format!(
                "{} is not a file, directory or symlink",
                rel.display()
            )));
        }
    }
    tar.into_inner().map_err(archive_err)
}

/// A link at `rel` must be relative and stay inside the tree (lexically).
fn check_link(rel: &Path, target: &Path) -> Result<(), PackError> {
    if target.is_absolute() {
        return Err(PackError::Unsafe(format!(
            "symlink {} points at the absolute path {}",
            rel.display(),
            target.display()
        )));
    }
    let mut depth = rel.components().count().saturating_sub(1) as isize;
    for c in target.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return Err(PackError::Unsafe(format!(
                "symlink {} points outside the output ({})",
                rel.display(),
                target.display()
            )));
        }
    }
    Ok(())
}

/// Unpacks a tar read from `reader` into the existing, empty directory
/// `root`, with the strict policy of cache entries (see `crate::unpack`).
pub fn unpack<R: Read>(reader: R, root: &Path) -> Result<(), PackError> {
    use crate::unpack::{Policy, UnpackError, cache_entry};
    cache_entry(reader, root, &Policy::cache()).map_err(|e| match e {
        UnpackError::Io { what, path, source } => PackError::Local {
            what: format!("{what} {}", path.display()),
            source,
        },
        UnpackError::Corrupt { .. } => {
            PackError::Archive(std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
        }
        other => PackError::Unsafe(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree(root: &Path) {
        std::fs::create_dir_all(root.join("usr/lib/pkgconfig")).expect("mkdir");
        std::fs::create_dir_all(root.join("usr/share/empty")).expect("mkdir");
        std::fs::write(root.join("usr/lib/libx.so.1"), b"\x7fELF...").expect("write");
        std::fs::set_permissions(root.join("usr/lib/libx.so.1"), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        std::fs::write(root.join("usr/lib/pkgconfig/x.pc"), "Libs: -lx\n").expect("write");
        symlink("libx.so.1", root.join("usr/lib/libx.so")).expect("symlink");
        symlink("../lib/libx.so.1", root.join("usr/share/ok")).expect("symlink");
        let long = "d".repeat(120);
        std::fs::create_dir_all(root.join(&long)).expect("long dir");
        std::fs::write(root.join(&long).join("f".repeat(100)), "long").expect("long file");
    }

    #[test]
    fn pack_is_deterministic_and_round_trips() {
        let a = tempfile::tempdir().expect("tempdir");
        tree(a.path());
        let one = pack(a.path(), Vec::new()).expect("pack");
        // Same content, different times and creation order.
        let b = tempfile::tempdir().expect("tempdir");
        std::thread::sleep(std::time::Duration::from_millis(20));
        tree(b.path());
        let two = pack(b.path(), Vec::new()).expect("pack");
        assert_eq!(one, two);

        let out = tempfile::tempdir().expect("tempdir");
        unpack(one.as_slice(), out.path()).expect("unpack");
        assert_eq!(
            crate::outputs::key::tree_digest(a.path()).expect("digest"),
            crate::outputs::key::tree_digest(out.path()).expect("digest")
        );
        assert!(out.path().join("usr/share/empty").is_dir());
    }

    #[test]
    fn pack_refuses_escaping_links() {
        let a = tempfile::tempdir().expect("tempdir");
        symlink("/etc/passwd", a.path().join("abs")).expect("symlink");
        assert!(matches!(pack(a.path(), Vec::new()), Err(PackError::Unsafe(m)) if m.contains("absolute")));
        let b = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(b.path().join("d")).expect("mkdir");
        symlink("../../x", b.path().join("d/up")).expect("symlink");
        assert!(matches!(pack(b.path(), Vec::new()), Err(PackError::Unsafe(m)) if m.contains("outside")));
    }

    /// A raw header, bypassing the tar crate's own path checks.
    fn raw_entry(tar: &mut Vec<u8>, name: &str, kind: EntryType, link: &str, data: &[u8]) {
        let mut h = Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_cksum();
        tar.extend_from_slice(h.as_bytes());
        tar.extend_from_slice(data);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }

    #[test]
    fn unpack_rejects_chained_symlink_escape() {
        let mut t = Vec::new();
        raw_entry(&mut t, "a", EntryType::Symlink, ".", b"");
        raw_entry(&mut t, "b", EntryType::Symlink, "a/../x", b"");
        t.extend_from_slice(&[0u8; 1024]);
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("out");
        std::fs::create_dir(&out).expect("mkdir");
        // `a/../x` is lexically inside, but `a` is `.`, so it resolves to ../x.
        let err = unpack(t.as_slice(), &out).expect_err("must reject");
        assert!(err.to_string().contains("outside"), "{err}");
    }

    #[test]
    fn unpack_rejects_writes_through_symlinks_and_hardlinks() {
        let mut t = Vec::new();
        raw_entry(&mut t, "d", EntryType::Symlink, "e", b"");
        raw_entry(&mut t, "d/f", EntryType::Regular, "", b"x");
        t.extend_from_slice(&[0u8; 1024]);
        let out = tempfile::tempdir().expect("tempdir");
        let err = unpack(t.as_slice(), out.path()).expect_err("must reject");
        assert!(err.to_string().contains("through the symlink"), "{err}");

        let mut t = Vec::new();
        raw_entry(&mut t, "h", EntryType::Link, "etc/passwd", b"");
        t.extend_from_slice(&[0u8; 1024]);
        let out = tempfile::tempdir().expect("tempdir");
        let err = unpack(t.as_slice(), out.path()).expect_err("must reject");
        assert!(err.to_string().contains("hard links are not allowed"), "{err}");
    }
}
