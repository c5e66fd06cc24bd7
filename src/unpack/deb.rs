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
/// The caller owns `root` and removes it on error.
pub fn extract_debs(debs: &[PathBuf], root: &Path, only: Option<&[&str]>, policy: &Policy) -> Result<(), UnpackError> {
    std::fs::create_dir_all(root).map_err(io("cannot create", root))?;
    debs.par_iter()
        .with_max_len(1)
        .try_for_each(|d| extract_deb(d, root, only, policy))?;
    links::check_all(root).map_err(|(link, why)| UnpackError::Unsafe {
        archive: root.to_path_buf(),
        entry: link.display().to_string(),
        reason: format!("symlink {why}"),
    })
}

fn extract_deb(deb: &Path, root: &Path, only: Option<&[&str]>, policy: &Policy) -> Result<(), UnpackError> {
    let file = File::open(deb).map_err(io("cannot open", deb))?;
    let data = ar::deb_data(BufReader::with_capacity(256 * 1024, file)).map_err(|e| corrupt(deb, None, e))?;
    let mut tree = tree::Tree::new(root, deb, policy, 0)?;
    if let Some(only) = only {
        tree.only(only);
    }
    read::tar_into(&mut tree, data)?;
    // Device nodes and fifos have no place in a sysroot: skipped silently,
    // as dpkg-deb -x does for an unprivileged user.
    tree.finish().map(drop)
}
