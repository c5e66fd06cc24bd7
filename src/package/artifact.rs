//! The deliverable of a package that makes no wheel: a tarball of its staged
//! files, `<name>-<version>.tar.gz`, made the way reproducible-builds.org
//! asks for — entries sorted by path, every time the build's
//! `SOURCE_DATE_EPOCH`, owner and group 0 without names, modes normalised
//! (0755 for directories and anything executable, 0644 otherwise), and a
//! gzip header without a name or time. The same staged tree gives the same
//! bytes in any directory, at any time, under any umask.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

/// The artifact's file name.
pub fn tarball_name(name: &str, version: &str) -> String {
    format!("{name}-{version}.tar.gz")
}

/// The tarball of `staged` (whose tree digest is `digest`) kept in
/// `keep_dir` as `<digest>/<file_name>`: made once per output, so a no-op
/// build only looks it up. Older ones are removed when a new one is made.
pub fn kept_tarball(
    staged: &Path,
    digest: &str,
    keep_dir: &Path,
    file_name: &str,
    epoch: u64,
) -> std::io::Result<PathBuf> {
    let kept = keep_dir.join(digest).join(file_name);
    if kept.is_file() {
        return Ok(kept);
    }
    match std::fs::remove_dir_all(keep_dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    write_tarball(staged, &kept, epoch)?;
    Ok(kept)
}

/// Writes the tarball of `staged` to `dest` (through a temporary file in the
/// same directory, renamed into place).
pub fn write_tarball(staged: &Path, dest: &Path, epoch: u64) -> std::io::Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = tempfile::Builder::new().prefix(".artifact-").tempfile_in(dir)?;
    let file = std::io::BufWriter::new(tmp.reopen()?);
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(file, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.follow_symlinks(false);
    for (path, meta) in crate::digest::sorted_entries(staged, &[])? {
        let rel = path.strip_prefix(staged).unwrap_or(&path);
        let mut h = Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(epoch);
        let ft = meta.file_type();
        if ft.is_symlink() {
            h.set_entry_type(EntryType::Symlink);
            h.set_mode(0o777);
            h.set_size(0);
            let target = std::fs::read_link(&path)?;
            tar.append_link(&mut h, rel, &target)?;
        } else if ft.is_dir() {
            h.set_entry_type(EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            tar.append_data(&mut h, dir_name(rel), std::io::empty())?;
        } else if ft.is_file() {
            h.set_entry_type(EntryType::Regular);
            h.set_mode(if meta.permissions().mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            });
            h.set_size(meta.len());
            let f = std::fs::File::open(&path)?;
            tar.append_data(&mut h, rel, std::io::Read::take(f, meta.len()))?;
        }
        // Sockets, fifos and devices are not package contents: left out.
    }
    let mut file = tar.into_inner()?.finish()?;
    file.flush()?;
    drop(file);
    // A deliverable, readable like any file the user writes (temporary
    // files are created private).
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644))?;
    tmp.persist(dest).map_err(|e| e.error)?;
    Ok(())
}

/// Directories carry a trailing slash, as GNU tar writes them.
fn dir_name(rel: &Path) -> PathBuf {
    let mut s = rel.as_os_str().to_owned();
    s.push("/");
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path, mode: u32) {
        std::fs::create_dir_all(root.join("usr/lib/pkgconfig")).expect("mkdir");
        std::fs::create_dir_all(root.join("usr/bin")).expect("mkdir");
        std::fs::write(root.join("usr/lib/libx.so.1"), b"\x7fELF").expect("write");
        std::fs::write(root.join("usr/lib/pkgconfig/x.pc"), "Libs: -lx\n").expect("write");
        std::fs::write(root.join("usr/bin/x"), "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(root.join("usr/bin/x"), std::fs::Permissions::from_mode(mode)).expect("chmod");
        std::os::unix::fs::symlink("libx.so.1", root.join("usr/lib/libx.so")).expect("symlink");
    }

    #[test]
    fn same_tree_same_bytes_whatever_the_times_and_modes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        tree(&tmp.path().join("a"), 0o755);
        std::thread::sleep(std::time::Duration::from_millis(20));
        tree(&tmp.path().join("b"), 0o700);
        write_tarball(&tmp.path().join("a"), &tmp.path().join("a.tar.gz"), 315_532_800).expect("tar a");
        write_tarball(&tmp.path().join("b"), &tmp.path().join("b.tar.gz"), 315_532_800).expect("tar b");
        let a = std::fs::read(tmp.path().join("a.tar.gz")).expect("a");
        assert_eq!(a, std::fs::read(tmp.path().join("b.tar.gz")).expect("b"));
        // gzip header: no time (bytes 4..8) and no name flag.
        assert_eq!(&a[4..8], &[0, 0, 0, 0]);
        assert_eq!(a[3] & 0x08, 0);

        let gz = flate2::read::GzDecoder::new(a.as_slice());
        let mut archive = tar::Archive::new(gz);
        let mut seen = Vec::new();
        for e in archive.entries().expect("entries") {
            let e = e.expect("entry");
            let h = e.header();
            assert_eq!((h.uid().expect("uid"), h.gid().expect("gid")), (0, 0));
            assert_eq!(h.mtime().expect("mtime"), 315_532_800);
            seen.push((e.path().expect("path").display().to_string(), h.mode().expect("mode")));
        }
        let names: Vec<&str> = seen.iter().map(|(p, _)| p.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "sorted entries");
        assert!(seen.contains(&("usr/bin/x".into(), 0o755)), "{seen:?}");
        assert!(seen.contains(&("usr/lib/pkgconfig/x.pc".into(), 0o644)), "{seen:?}");

        let mode = std::fs::metadata(tmp.path().join("a.tar.gz"))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
        write_tarball(&tmp.path().join("a"), &tmp.path().join("c.tar.gz"), 1_700_000_000).expect("tar c");
        assert_ne!(
            a,
            std::fs::read(tmp.path().join("c.tar.gz")).expect("c"),
            "the epoch counts"
        );
    }
}
