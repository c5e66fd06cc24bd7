//! File trees a job assembles and clears: the package sysroot linked from
//! the base sysroot and the staged dependencies, and the staged output.

use std::io;
use std::path::Path;

/// Hard-links `from` into `to`, merging: files and symlinks alike, so a
/// package sysroot costs directory entries, not inodes (only its
/// directories are new). Across file systems files are copied and symlinks
/// created anew.
///
/// Why symlinks are hard-linked too: a Debian sysroot holds ~1,000 of
/// them, and creating and deleting that many inodes per package is the
/// largest part of `recipe`'s own time in a cold build on ext4 without a
/// journal, where each new inode is checked against recently deleted ones.
/// A hard link to a symlink is the same link (its relative target resolves
/// from where it is found), so nothing changes for the build.
pub fn link_tree(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let ft = entry.file_type()?;
        let dest = to.join(entry.file_name());
        if ft.is_dir() {
            link_tree(&entry.path(), &dest)?;
            continue;
        }
        if dest.symlink_metadata().is_ok() {
            std::fs::remove_file(&dest)?;
        }
        // `hard_link` is `linkat` without AT_SYMLINK_FOLLOW: a symlink is
        // linked itself, never its target.
        if std::fs::hard_link(entry.path(), &dest).is_ok() {
            continue;
        }
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &dest)?;
        } else {
            std::fs::copy(entry.path(), &dest)?;
        }
    }
    Ok(())
}

pub fn remove_dir_if_exists(p: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// libtool archives and build-sysroot paths in pkg-config files would leak
/// this machine's paths into dependents; drop the former, rewrite the latter.
pub fn sanitize_staged(dest: &Path, sysroot: &Path) -> io::Result<()> {
    let sysroot_str = sysroot.display().to_string();
    let mut stack = vec![dest.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let p = entry.path();
            let ft = entry.file_type()?;
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() && p.extension().is_some_and(|e| e == "la") {
                std::fs::remove_file(&p)?;
            } else if ft.is_file() && p.extension().is_some_and(|e| e == "pc") {
                let text = std::fs::read_to_string(&p)?;
                if text.contains(&sysroot_str) {
                    std::fs::write(&p, text.replace(&sysroot_str, ""))?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn sanitize_drops_la_and_rewrites_pc() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lib = dir.path().join("usr/lib/pkgconfig");
        std::fs::create_dir_all(&lib).expect("mkdir");
        std::fs::write(dir.path().join("usr/lib/libx.la"), "x").expect("la");
        std::fs::write(lib.join("x.pc"), "Libs.private: -L/b/sysroot/usr/lib -luv\n").expect("pc");
        sanitize_staged(dir.path(), Path::new("/b/sysroot")).expect("sanitize");
        assert!(!dir.path().join("usr/lib/libx.la").exists());
        assert_eq!(
            std::fs::read_to_string(lib.join("x.pc")).expect("pc"),
            "Libs.private: -L/usr/lib -luv\n"
        );
    }

    /// The sysroot's symlinks are linked, not created: no new inode, and
    /// the link still resolves inside the tree it was linked into.
    #[test]
    fn link_tree_shares_the_inodes_of_files_and_symlinks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().join("base/usr/lib");
        std::fs::create_dir_all(&base).expect("mkdir");
        std::fs::write(base.join("libx.so.1"), "base").expect("lib");
        std::os::unix::fs::symlink("libx.so.1", base.join("libx.so")).expect("symlink");
        let pkg = dir.path().join("pkg");
        std::fs::create_dir_all(pkg.join("usr/lib")).expect("mkdir");
        std::fs::write(pkg.join("usr/lib/libx.so.1"), "package").expect("lib");

        link_tree(&dir.path().join("base"), &pkg).expect("link");

        let inode = |p: &Path| std::fs::symlink_metadata(p).expect("stat").ino();
        assert_eq!(inode(&pkg.join("usr/lib/libx.so")), inode(&base.join("libx.so")));
        assert_eq!(inode(&pkg.join("usr/lib/libx.so.1")), inode(&base.join("libx.so.1")));
        assert!(
            std::fs::symlink_metadata(pkg.join("usr/lib/libx.so"))
                .expect("stat")
                .is_symlink()
        );
        assert_eq!(
            std::fs::read_to_string(pkg.join("usr/lib/libx.so")).expect("read"),
            "base"
        );

        // A dependency's file linked over the base one is what the link
        // then resolves to, in this tree only.
        let dep = dir.path().join("dep/usr/lib");
        std::fs::create_dir_all(&dep).expect("mkdir");
        std::fs::write(dep.join("libx.so.1"), "dep").expect("lib");
        link_tree(&dir.path().join("dep"), &pkg).expect("link dep");
        assert_eq!(
            std::fs::read_to_string(pkg.join("usr/lib/libx.so")).expect("read"),
            "dep"
        );
        assert_eq!(std::fs::read_to_string(base.join("libx.so")).expect("read"), "base");
    }
}
