//! What an image installs from recipes: each recipe's deliverables from
//! `out/<target>/` — its wheels (into site-packages, see [`super::wheels`])
//! or the tarball of its staged files, `<name>-<version>.tar.gz`, whose
//! paths already carry the recipe's prefix (`usr/…`) and are unpacked at the
//! image's root. The tarball is read as untrusted input: only directories,
//! regular files and symlinks, at clean relative paths.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::ImageError;
use crate::package::artifact::tarball_name;
use crate::package::initramfs::{Initramfs, Node};

/// A recipe the image installs, as the session rendered it for the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub name: String,
    pub version: String,
    /// A `python-wheel` recipe: only its wheels go into the image.
    pub wheel: bool,
}

/// The files of `installed` in `out_dir`, in install order: the wheels of a
/// recipe when it has any, else its staged-files tarball.
pub fn deliverables(out_dir: &Path, installed: &[Installed], target: &str) -> Result<Vec<PathBuf>, ImageError> {
    let mut out = Vec::new();
    for i in installed {
        match super::wheels::find_wheels(out_dir, &i.name, target) {
            Ok(w) => out.extend(w),
            Err(e) if i.wheel => return Err(e),
            Err(e) => {
                let tarball = out_dir.join(tarball_name(&i.name, &i.version));
                if !tarball.is_file() {
                    return Err(e);
                }
                out.push(tarball);
            }
        }
    }
    Ok(out)
}

/// Unpacks a staged-files tarball over the image's root; returns how many
/// entries it added.
pub fn add_tarball(image: &mut Initramfs, tarball: &Path) -> Result<usize, ImageError> {
    let bad = |reason: String| ImageError::Staged {
        tarball: tarball.display().to_string(),
        reason,
    };
    let file = std::fs::File::open(tarball).map_err(|e| bad(e.to_string()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let mut count = 0;
    for entry in archive.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        let path = entry
            .path()
            .map_err(|e| bad(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let path = path.trim_start_matches("./").trim_end_matches('/').to_string();
        if path.is_empty() || path == "." {
            continue;
        }
        let mode = entry.header().mode().map_err(|e| bad(e.to_string()))? & 0o7777;
        let node = match entry.header().entry_type() {
            tar::EntryType::Directory => Node::Dir { mode },
            tar::EntryType::Regular => {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).map_err(|e| bad(e.to_string()))?;
                Node::File { mode, data }
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(|e| bad(e.to_string()))?
                    .ok_or_else(|| bad(format!("symlink {path} has no target")))?;
                Node::Symlink {
                    target: target.to_string_lossy().into_owned(),
                }
            }
            other => return Err(bad(format!("{path}: unsupported entry type {other:?}"))),
        };
        // A directory the root already has keeps its mode and contents.
        if matches!(node, Node::Dir { .. }) && image.is_dir(&path) {
            continue;
        }
        image.insert(&path, node).map_err(|e| bad(e.to_string()))?;
        count += 1;
    }
    Ok(count)
}
