//! Wheels of recipes installed into an image as the target's pip would:
//! the wheel's files under the image's `site-packages`, `.data/purelib` and
//! `.data/platlib` merged into it. The wheels come from `out/<target>/`,
//! where `recipe build` puts them, and are checked against their RECORD.

use std::path::{Path, PathBuf};

use super::ImageError;
use crate::package::initramfs::{Initramfs, Node};
use crate::package::wheel::{check_record, read_entries};

/// Debian's Python looks for installed packages here.
pub const SITE_PACKAGES: &str = "usr/lib/python3/dist-packages";

/// The wheels of recipe `name` in `out_dir` (`<name>-<version>-….whl`, the
/// name normalised as wheel file names are), sorted.
pub fn find_wheels(out_dir: &Path, name: &str, target: &str) -> Result<Vec<PathBuf>, ImageError> {
    let norm = name.replace(['-', '.'], "_").to_lowercase();
    let mut found: Vec<PathBuf> = std::fs::read_dir(out_dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|f| f.to_str())
                .is_some_and(|f| f.ends_with(".whl") && f.split('-').next().is_some_and(|n| n.to_lowercase() == norm))
        })
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(ImageError::NotBuilt {
            name: name.to_string(),
            target: target.to_string(),
            dir: out_dir.display().to_string(),
        });
    }
    Ok(found)
}

/// Adds the files of `wheel` to the image; returns how many.
pub fn add_wheel(image: &mut Initramfs, wheel: &Path) -> Result<usize, ImageError> {
    let bad = |reason: String| ImageError::Wheel {
        wheel: wheel.display().to_string(),
        reason,
    };
    let entries = read_entries(wheel).map_err(|e| bad(e.to_string()))?;
    check_record(wheel, &entries).map_err(|e| bad(e.to_string()))?;
    let mut count = 0;
    for (name, data, mode) in entries {
        if name.ends_with('/') {
            continue;
        }
        let Some(rel) = site_path(&name) else {
            continue;
        };
        let mode = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
        image
            .insert(&format!("{SITE_PACKAGES}/{rel}"), Node::File { mode, data })
            .map_err(|e| bad(e.to_string()))?;
        count += 1;
    }
    Ok(count)
}

/// Where a wheel member goes under site-packages: `.data/purelib|platlib`
/// merge into it; other `.data` parts (scripts, headers, data) are not
/// installed in images.
fn site_path(name: &str) -> Option<String> {
    let (top, rest) = name.split_once('/').unwrap_or((name, ""));
    if top.ends_with(".data") {
        let (kind, inner) = rest.split_once('/')?;
        return matches!(kind, "purelib" | "platlib").then(|| inner.to_string());
    }
    Some(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::site_path;

    #[test]
    fn data_dirs_merge_or_are_left_out() {
        assert_eq!(site_path("foo/__init__.py").as_deref(), Some("foo/__init__.py"));
        assert_eq!(
            site_path("foo-1.0.data/platlib/foo/_x.so").as_deref(),
            Some("foo/_x.so")
        );
        assert_eq!(site_path("foo-1.0.data/scripts/foo"), None);
    }
}
