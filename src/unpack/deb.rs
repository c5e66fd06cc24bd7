//! `.deb` data as root filesystems (sysroots, compiler prefixes, qemu, Go,
//! target roots): several packages unpacked into one root, in parallel.
//! Each package goes through the safe core with the root-filesystem policy;
//! then the links of all of them are checked together, since links from
//! different packages can combine (`x -> .` from one, `y -> x/..` from
//! another).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{Policy, UnpackError, ar, corrupt, io, links, read, tree};

/// Unpacks the data of every package in `debs` into `root` (created if
/// needed). With `only`, just those paths (relative, e.g. `usr/bin/qemu-arm`).
/// The caller owns `root` and removes it on error. Returns the entries the
/// policy skipped, as `package: entry (kind)`.
pub fn extract_debs(
    debs: &[PathBuf],
    root: &Path,
    only: Option<&[&str]>,
    policy: &Policy,
) -> Result<Vec<String>, UnpackError> {
    std::fs::create_dir_all(root).map_err(io("cannot create", root))?;
    let skipped: Vec<Vec<String>> = debs
        .par_iter()
        .with_max_len(1)
        .map(|d| extract_deb(d, root, only, policy))
        .collect::<Result<_, _>>()?;
    if let Err((link, why)) = links::check_all(root) {
        // The caller removes a refused root, but an escaping link must not
        // wait for that: nothing may follow it.
        links::remove_all(root);
        return Err(UnpackError::Unsafe {
            archive: root.to_path_buf(),
            entry: link.display().to_string(),
            reason: format!("symlink {why}"),
        });
    }
    Ok(skipped.into_iter().flatten().collect())
}

fn extract_deb(deb: &Path, root: &Path, only: Option<&[&str]>, policy: &Policy) -> Result<Vec<String>, UnpackError> {
    let file = File::open(deb).map_err(io("cannot open", deb))?;
    let data = ar::deb_data(BufReader::with_capacity(256 * 1024, file)).map_err(|e| corrupt(deb, None, e))?;
    let mut tree = tree::Tree::new(root, deb, policy, 0)?;
    if let Some(only) = only {
        tree.only(only);
    }
    read::tar_into(&mut tree, data)?;
    // Device nodes and fifos have no place in a sysroot: skipped, as
    // dpkg-deb -x does for an unprivileged user; the caller records them.
    let package = deb
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(tree.finish()?.into_iter().map(|e| format!("{package}: {e}")).collect())
}
