//! A package's license files (Buildroot's legal-info): found in its
//! prepared source tree, staged with its output under
//! `usr/share/licenses/<name>/` (so they travel with it through stamps,
//! the remote cache and its tarball), and published beside its artifact.

use std::path::{Component, Path, PathBuf};

use super::ProvenanceError;
use crate::recipe::Recipe;

/// Where the license files sit inside a staged output.
pub const STAGED_DIR: &str = "usr/share/licenses";

/// File names (case-insensitive prefixes) taken for license files when the
/// recipe does not name them.
const PREFIXES: &[&str] = &["copying", "copyright", "licence", "license", "notice", "unlicense"];

/// Larger files are not license texts; a hostile tree cannot fill the disk.
const MAX_SIZE: u64 = 4 << 20;

pub fn is_license_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    PREFIXES.iter().any(|p| lower.starts_with(p))
}

/// The staged license dir of a package.
pub fn staged_dir(staged: &Path, name: &str) -> PathBuf {
    staged.join(STAGED_DIR).join(name)
}

/// Creates `base/rel` as real directories: a staged output is the work of
/// build steps, and a link among them must not send files elsewhere.
fn real_dir(base: &Path, rel: &Path) -> std::io::Result<PathBuf> {
    let mut dir = base.to_path_buf();
    for c in rel.components() {
        let Component::Normal(part) = c else {
            return Err(std::io::Error::other(format!("{} is not a plain path", rel.display())));
        };
        dir.push(part);
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(std::io::Error::other(format!(
                    "{} is not a directory (a link?)",
                    dir.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir(&dir)?,
            Err(e) => return Err(e),
        }
    }
    Ok(dir)
}

/// `base/rel` when every component of `rel` is a real directory.
fn no_links(base: &Path, rel: &Path) -> bool {
    let mut dir = base.to_path_buf();
    rel.components().all(|c| {
        dir.push(c);
        std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir())
    })
}

/// The license files of the prepared tree `src`, as paths relative to it:
/// the recipe's `license-files`, else every file with a license name at
/// the top of the tree, of the build's `subdir` and of each source's `dest`.
pub fn find(src: &Path, recipe: &Recipe) -> Result<Vec<String>, ProvenanceError> {
    let root = src
        .canonicalize()
        .map_err(|e| ProvenanceError::io(format!("cannot read {}", src.display()), e))?;
    if !recipe.license_files.is_empty() {
        let mut out = Vec::new();
        for rel in &recipe.license_files {
            if resolve(&root, rel).is_none() {
                return Err(ProvenanceError::MissingLicenseFile {
                    package: recipe.name.clone(),
                    file: rel.clone(),
                });
            }
            out.push(normalize(rel));
        }
        out.sort();
        out.dedup();
        return Ok(out);
    }
    let mut dirs: Vec<String> = vec![String::new()];
    dirs.extend(recipe.sources.iter().map(|s| normalize(&s.dest)));
    if let Some(sub) = &recipe.build.common.subdir {
        dirs.push(normalize(sub));
    }
    dirs.sort();
    dirs.dedup();
    let mut out = Vec::new();
    for dir in dirs {
        let Some(abs) = resolve_dir(&root, &dir) else { continue };
        let Ok(entries) = std::fs::read_dir(&abs) else { continue };
        for e in entries.flatten() {
            let Some(name) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let rel = if dir.is_empty() {
                name.clone()
            } else {
                format!("{dir}/{name}")
            };
            if is_license_name(&name) && resolve(&root, &rel).is_some() {
                out.push(rel);
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// `a/./b/` → `a/b`; "" for the root.
fn normalize(rel: &str) -> String {
    Path::new(rel)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => s.to_str(),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Only relative paths made of plain names.
fn plain(rel: &str) -> bool {
    Path::new(rel)
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// A regular file inside `root` (after following links), small enough.
fn resolve(root: &Path, rel: &str) -> Option<PathBuf> {
    if !plain(rel) {
        return None;
    }
    let real = root.join(rel).canonicalize().ok()?;
    let meta = std::fs::metadata(&real).ok()?;
    (real.starts_with(root) && meta.is_file() && meta.len() <= MAX_SIZE).then_some(real)
}

fn resolve_dir(root: &Path, rel: &str) -> Option<PathBuf> {
    if !plain(rel) {
        return None;
    }
    let real = root.join(rel).canonicalize().ok()?;
    (real.starts_with(root) && real.is_dir()).then_some(real)
}

/// Copies the license files of `src` into the staged output `dest`;
/// returns their relative paths. A file the package installed there
/// itself is kept.
pub fn stage(src: &Path, recipe: &Recipe, dest: &Path) -> Result<Vec<String>, ProvenanceError> {
    let found = find(src, recipe)?;
    let root = src
        .canonicalize()
        .map_err(|e| ProvenanceError::io(format!("cannot read {}", src.display()), e))?;
    let into = Path::new(STAGED_DIR).join(&recipe.name);
    for rel in &found {
        let Some(from) = resolve(&root, rel) else { continue };
        let rel = Path::new(rel);
        let parent = into.join(rel.parent().unwrap_or(Path::new("")));
        let dir = real_dir(dest, &parent)
            .map_err(|e| ProvenanceError::io(format!("cannot stage the license files of {}", recipe.name), e))?;
        let Some(file_name) = rel.file_name() else { continue };
        let to = dir.join(file_name);
        if to.symlink_metadata().is_ok() {
            continue;
        }
        copy_plain(&from, &to)?;
    }
    Ok(found)
}

/// A plain copy: new file, mode 0644, no link followed at the destination.
fn copy_plain(from: &Path, to: &Path) -> Result<(), ProvenanceError> {
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |e| ProvenanceError::io(format!("cannot copy {} to {}", from.display(), to.display()), e);
    let mut input = std::fs::File::open(from).map_err(fail)?;
    let mut output = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(to)
        .map_err(fail)?;
    std::io::copy(&mut std::io::Read::take(&mut input, MAX_SIZE), &mut output).map_err(fail)?;
    Ok(())
}

/// Replaces `out` with a copy of the package's staged license files;
/// returns their relative paths (none: `out` is removed).
pub fn publish(staged: &Path, name: &str, out: &Path) -> Result<Vec<String>, ProvenanceError> {
    let from = staged_dir(staged, name);
    let mut files = Vec::new();
    list_staged(staged, name, &mut files);
    // Unchanged (every no-op build): nothing is written.
    let mut present = Vec::new();
    list_files(out, "", &mut present);
    present.sort();
    let same = |rel: &String| std::fs::read(from.join(rel)).ok() == std::fs::read(out.join(rel)).ok();
    if out.is_dir() && present == files && files.iter().all(same) {
        return Ok(files);
    }
    match std::fs::remove_dir_all(out) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(ProvenanceError::io(format!("cannot replace {}", out.display()), e));
        }
        _ => {}
    }
    for rel in &files {
        let rel_path = Path::new(rel);
        let parent = rel_path.parent().unwrap_or(Path::new(""));
        std::fs::create_dir_all(out.join(parent))
            .map_err(|e| ProvenanceError::io(format!("cannot create {}", out.display()), e))?;
        copy_plain(&from.join(rel), &out.join(rel))?;
    }
    Ok(files)
}

/// The license files staged with a package (relative to its license dir);
/// none when a link stands anywhere on the way to that dir.
pub fn list_staged(staged: &Path, name: &str, out: &mut Vec<String>) {
    if no_links(staged, &Path::new(STAGED_DIR).join(name)) {
        list_files(&staged_dir(staged, name), "", out);
        out.sort();
    }
}

/// Regular files under `dir`, relative, links not followed.
fn list_files(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        if ft.is_dir() {
            list_files(&e.path(), &rel, out);
        } else if ft.is_file() {
            out.push(rel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(files: &[&str]) -> Recipe {
        let mut r = super::super::tests::recipe("zlib", &[], &[]);
        r.license_files = files.iter().map(|s| s.to_string()).collect();
        r
    }

    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().expect("tmp");
        for (p, text) in [
            ("LICENSE", "zlib license"),
            ("COPYING.LIB", "lgpl"),
            ("README", "not a license"),
            ("doc/NOTICE", "nested: not found unless named"),
        ] {
            let f = t.path().join(p);
            std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
            std::fs::write(f, text).expect("write");
        }
        t
    }

    #[test]
    fn finds_license_names_at_the_top() {
        let t = tree();
        assert_eq!(find(t.path(), &recipe(&[])).expect("find"), ["COPYING.LIB", "LICENSE"]);
    }

    #[test]
    fn named_files_replace_the_search_and_must_exist() {
        let t = tree();
        assert_eq!(
            find(t.path(), &recipe(&["./doc/NOTICE"])).expect("find"),
            ["doc/NOTICE"]
        );
        let err = find(t.path(), &recipe(&["COPYING"])).expect_err("missing");
        assert!(err.to_string().contains("COPYING"), "{err}");
    }

    #[test]
    fn links_out_of_the_tree_are_refused() {
        let t = tree();
        std::os::unix::fs::symlink("/etc/passwd", t.path().join("LICENSE.outside")).expect("link");
        assert_eq!(find(t.path(), &recipe(&[])).expect("find"), ["COPYING.LIB", "LICENSE"]);
        assert!(find(t.path(), &recipe(&["LICENSE.outside"])).is_err());
        assert!(find(t.path(), &recipe(&["../x"])).is_err());
    }

    #[test]
    fn links_in_the_staged_output_send_nothing_elsewhere() {
        let t = tree();
        let dest = tempfile::tempdir().expect("tmp");
        let elsewhere = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dest.path().join("usr/share/licenses")).expect("mkdir");
        std::os::unix::fs::symlink(elsewhere.path(), dest.path().join("usr/share/licenses/zlib")).expect("link");
        assert!(stage(t.path(), &recipe(&[]), dest.path()).is_err());
        assert_eq!(std::fs::read_dir(elsewhere.path()).expect("read").count(), 0);
        std::fs::write(elsewhere.path().join("secret"), "x").expect("write");
        let out = dest.path().join("out");
        assert!(publish(dest.path(), "zlib", &out).expect("publish").is_empty());
        assert!(!out.join("secret").exists());
    }

    #[test]
    fn staged_then_published_beside_the_artifact() {
        let t = tree();
        let dest = tempfile::tempdir().expect("tmp");
        let r = recipe(&["LICENSE", "doc/NOTICE"]);
        stage(t.path(), &r, dest.path()).expect("stage");
        let out = dest.path().join("out/licenses/zlib-1.3.1");
        std::fs::create_dir_all(&out).expect("mkdir");
        std::fs::write(out.join("stale"), "old").expect("write");
        let files = publish(dest.path(), "zlib", &out).expect("publish");
        assert_eq!(files, ["LICENSE", "doc/NOTICE"]);
        assert_eq!(
            std::fs::read_to_string(out.join("LICENSE")).expect("read"),
            "zlib license"
        );
        assert!(!out.join("stale").exists());
    }
}
