//! Publishing a package's deliverables into `out/<target>/`: copies (never
//! hard links) of its wheels or its staged-files tarball, and removal of
//! what it published before and no longer does.

use std::path::{Path, PathBuf};

use crate::build::job::{Layout, source_date_epoch};
use crate::recipe::Recipe;

/// The deliverables, copied to `out/<target>/`: a package's wheels, or, for
/// a target package without one, the tarball of its staged files
/// (`<name>-<version>.tar.gz`, see [`crate::package::artifact`]). Host tools are
/// build machinery, not deliverables.
pub fn publish_artifacts(
    layout: &Layout,
    recipe: &Recipe,
    target: &str,
    digest: &str,
    host: bool,
) -> std::io::Result<Vec<PathBuf>> {
    let staged = layout.staged(target, &recipe.name);
    let out_dir = layout.out_root.join(target);
    let mut out = Vec::new();
    let wheels = staged.join("usr/share/wheels");
    if let Ok(entries) = std::fs::read_dir(&wheels) {
        std::fs::create_dir_all(&out_dir)?;
        for e in entries.flatten() {
            let dest = out_dir.join(e.file_name());
            publish_one(&e.path(), &dest)?;
            out.push(dest);
        }
    }
    if out.is_empty() && !host {
        let name = crate::package::artifact::tarball_name(&recipe.name, &recipe.version);
        let keep = layout.package_dir(target, &recipe.name).join("artifact");
        let kept = crate::package::artifact::kept_tarball(&staged, digest, &keep, &name, source_date_epoch(recipe))?;
        std::fs::create_dir_all(&out_dir)?;
        let dest = out_dir.join(&name);
        publish_one(&kept, &dest)?;
        out.push(dest);
    }
    out.sort();
    forget_unpublished(&out_dir, &recipe.name, &out)?;
    Ok(out)
}

/// Where `out/<target>/` records what each package published last.
const PUBLISHED_DIR: &str = ".published";

/// Removes what the package published last time and no longer does (the
/// wheel of its previous version), then records this time's files: an
/// image or a user picking `out/<target>/*.whl` must not get two versions.
/// Only the package's own recorded files are touched.
fn forget_unpublished(out_dir: &Path, name: &str, published: &[PathBuf]) -> std::io::Result<()> {
    let record = out_dir.join(PUBLISHED_DIR).join(name);
    let now: String = published
        .iter()
        .filter_map(|p| p.file_name().and_then(|f| f.to_str()))
        .map(|n| format!("{n}\n"))
        .collect();
    let before = std::fs::read_to_string(&record).unwrap_or_default();
    // The no-op case: same files as last time, nothing to remove or write.
    if before == now {
        return Ok(());
    }
    for old in before.lines() {
        // The record is ours, but a plain name is all it may hold.
        let plain = !old.is_empty() && !old.contains('/') && old != "." && old != "..";
        if plain && !now.lines().any(|n| n == old) {
            match std::fs::remove_file(out_dir.join(old)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    std::fs::create_dir_all(record.parent().unwrap_or(out_dir))?;
    let tmp = record.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, now)?;
    std::fs::rename(&tmp, &record)
}

/// Publishes a copy (a reflink where the file system can), never a hard
/// link: a user editing `out/` must not change the staged output that keys,
/// digests and the remote cache rely on. The copy takes the source's mtime,
/// so a no-op build leaves an untouched artifact alone without reading it,
/// and a changed or replaced one is published again.
fn publish_one(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let src = std::fs::metadata(from)?;
    if let Ok(dst) = std::fs::symlink_metadata(to) {
        let same_file = dst.dev() == src.dev() && dst.ino() == src.ino();
        if dst.is_file() && !same_file && dst.len() == src.len() && dst.modified().ok() == src.modified().ok() {
            return Ok(());
        }
    }
    let tmp = to.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let copied = reflink(from, &tmp).or_else(|_| std::fs::copy(from, &tmp).map(|_| ()));
    let result = copied
        .and_then(|()| {
            let f = std::fs::File::options().write(true).open(&tmp)?;
            f.set_modified(src.modified()?)
        })
        .and_then(|()| std::fs::rename(&tmp, to));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A copy-on-write clone (btrfs, XFS); fails where unsupported.
fn reflink(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let src = std::fs::File::open(from)?;
    let dst = std::fs::File::create(to)?;
    // SAFETY: both descriptors are open for the duration of the call.
    let rc = unsafe { libc::ioctl(dst.as_raw_fd(), libc::FICLONE, src.as_raw_fd()) };
    if rc == 0 {
        Ok(())
    } else {
        let err = std::io::Error::last_os_error();
        drop(dst);
        let _ = std::fs::remove_file(to);
        Err(err)
    }
}
