//! Prepare: a package's patched source tree from its fetched sources.
//!
//! Built in a temporary directory next to `dest` and renamed into place, so a
//! tree at `dest` is always complete: every source extracted (or copied) and
//! every patch applied.

pub mod patch;

use std::path::{Component, Path, PathBuf};

use miette::Diagnostic;
use thiserror::Error;

use crate::fetch::{FetchContext, FetchError, fetch_for_package};
use crate::prepare::patch::PatchError;
use crate::recipe::rendered::{Origin, Recipe, Source};
use crate::unpack::{self, UnpackError, make_writable_and_remove};

#[derive(Debug, Error, Diagnostic)]
pub enum PrepareError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Fetch(#[from] Box<FetchError>),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Unpack(#[from] UnpackError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Patch(#[from] PatchError),

    #[error("source `{file}` of {package} has dest `{dest}`, which leaves the source tree")]
    #[diagnostic(
        code(recipe::prepare::bad_dest),
        help("`dest` is a relative path inside the tree, without `..`")
    )]
    BadDest {
        package: String,
        file: String,
        dest: String,
    },

    #[error("{} is provided by two sources of {package}", path.display())]
    #[diagnostic(
        code(recipe::prepare::conflict),
        help("give one of the sources its own `dest` directory, or a different strip-components")
    )]
    Conflict { package: String, path: PathBuf },

    #[error("{what} {}", path.display())]
    #[diagnostic(code(recipe::prepare::io))]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<FetchError> for PrepareError {
    fn from(e: FetchError) -> Self {
        PrepareError::Fetch(Box::new(e))
    }
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PrepareError {
    let path = path.to_path_buf();
    move |source| PrepareError::Io { what, path, source }
}

/// Fetches (or takes from the cache) every source of `recipe`, extracts or
/// copies each into `dest/<source.dest>`, applies the patches in order, and
/// replaces `dest` atomically. Progress and `patch` output go to `log`.
pub fn prepare_tree(ctx: &FetchContext, recipe: &Recipe, dest: &Path, log: &Path) -> Result<(), PrepareError> {
    let mut files = Vec::with_capacity(recipe.sources.len());
    for s in &recipe.sources {
        files.push(fetch_for_package(ctx, &recipe.name, s)?);
    }
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
    let tmp = temp_sibling(dest, "prepare")?;
    let result = fill(recipe, &files, &tmp, log).and_then(|()| swap_into_place(&tmp, dest));
    if result.is_err() {
        let _ = make_writable_and_remove(&tmp);
    }
    result
}

fn log_line(log: &Path, line: &str) -> Result<(), PrepareError> {
    Ok(patch::append_log(log, &format!("{line}\n"))?)
}

fn fill(recipe: &Recipe, files: &[PathBuf], tree: &Path, log: &Path) -> Result<(), PrepareError> {
    log_line(
        log,
        &format!("== prepare {} {} for {}", recipe.name, recipe.version, recipe.target),
    )?;
    for (i, (source, file)) in recipe.sources.iter().zip(files).enumerate() {
        let target = tree.join(checked_dest(recipe, source)?);
        log_line(log, &format!("source {} -> {}", file.display(), target.display()))?;
        let format = unpack::detect(&source.file);
        let is_dir = std::fs::metadata(file).is_ok_and(|m| m.is_dir());
        if is_dir {
            merge_copy(recipe, file, &target)?;
        } else if source.extract
            && let Some(format) = format
        {
            let stage = tree.join(format!(".stage-{i}"));
            std::fs::create_dir(&stage).map_err(io("cannot create", &stage))?;
            unpack::unpack(file, format, &stage, source.strip_components)?;
            crate::fault::point("extracted");
            merge_move(recipe, &stage, &target)?;
            std::fs::remove_dir_all(&stage).map_err(io("cannot remove", &stage))?;
        } else {
            // Not an archive (or `extract #false`): the file itself, by its name.
            let name = match &source.origin {
                Origin::Path { path } => path
                    .file_name()
                    .map(PathBuf::from)
                    .unwrap_or_else(|| source.file.clone().into()),
                _ => PathBuf::from(&source.file),
            };
            std::fs::create_dir_all(&target).map_err(io("cannot create", &target))?;
            let to = target.join(name);
            if to.exists() {
                return Err(PrepareError::Conflict {
                    package: recipe.name.clone(),
                    path: to,
                });
            }
            std::fs::copy(file, &to).map_err(io("cannot copy to", &to))?;
        }
    }
    crate::fault::point("before-patch");
    patch::apply_patches(tree, &recipe.patches, log)?;
    crate::fault::point("patched");
    log_line(log, "== prepared")
}

/// `source.dest` as a relative path that stays in the tree.
fn checked_dest(recipe: &Recipe, source: &Source) -> Result<PathBuf, PrepareError> {
    let p = Path::new(&source.dest);
    if p.components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        Ok(p.to_path_buf())
    } else {
        Err(PrepareError::BadDest {
            package: recipe.name.clone(),
            file: source.file.clone(),
            dest: source.dest.clone(),
        })
    }
}

/// Moves the contents of `from` into `to`, merging directories; two sources
/// providing the same file is a conflict, not a silent overwrite.
fn merge_move(recipe: &Recipe, from: &Path, to: &Path) -> Result<(), PrepareError> {
    std::fs::create_dir_all(to).map_err(io("cannot create", to))?;
    for entry in std::fs::read_dir(from).map_err(io("cannot read", from))? {
        let entry = entry.map_err(io("cannot read", from))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        match std::fs::symlink_metadata(&dst) {
            Err(_) => std::fs::rename(&src, &dst).map_err(io("cannot move", &dst))?,
            Ok(m) if m.is_dir() && entry.file_type().is_ok_and(|t| t.is_dir()) => {
                merge_move(recipe, &src, &dst)?;
                std::fs::remove_dir(&src).map_err(io("cannot remove", &src))?;
            }
            Ok(_) => {
                return Err(PrepareError::Conflict {
                    package: recipe.name.clone(),
                    path: dst,
                });
            }
        }
    }
    Ok(())
}

/// Copies a local directory source (a recipe's `files/`), keeping symlinks
/// as symlinks and file modes.
fn merge_copy(recipe: &Recipe, from: &Path, to: &Path) -> Result<(), PrepareError> {
    std::fs::create_dir_all(to).map_err(io("cannot create", to))?;
    for entry in std::fs::read_dir(from).map_err(io("cannot read", from))? {
        let entry = entry.map_err(io("cannot read", from))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().map_err(io("cannot read", &src))?;
        if kind.is_dir() {
            merge_copy(recipe, &src, &dst)?;
            continue;
        }
        if std::fs::symlink_metadata(&dst).is_ok() {
            return Err(PrepareError::Conflict {
                package: recipe.name.clone(),
                path: dst,
            });
        }
        if kind.is_symlink() {
            let target = std::fs::read_link(&src).map_err(io("cannot read link", &src))?;
            std::os::unix::fs::symlink(target, &dst).map_err(io("cannot create symlink", &dst))?;
        } else {
            std::fs::copy(&src, &dst).map_err(io("cannot copy to", &dst))?;
        }
    }
    Ok(())
}

fn temp_sibling(dest: &Path, what: &str) -> Result<PathBuf, PrepareError> {
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut n = 0u32;
    loop {
        let p = parent.join(format!(".{base}.{what}-{}-{n}", std::process::id()));
        match std::fs::create_dir(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(e) => return Err(io("cannot create", &p)(e)),
        }
    }
}

/// Renames `tmp` to `dest`, moving an existing `dest` aside first (rename
/// cannot replace a non-empty directory) and deleting it afterwards.
fn swap_into_place(tmp: &Path, dest: &Path) -> Result<(), PrepareError> {
    let old = if std::fs::symlink_metadata(dest).is_ok() {
        let old = temp_sibling(dest, "old")?;
        std::fs::remove_dir(&old).map_err(io("cannot remove", &old))?;
        std::fs::rename(dest, &old).map_err(io("cannot move aside", dest))?;
        Some(old)
    } else {
        None
    };
    std::fs::rename(tmp, dest).map_err(io("cannot move into place", dest))?;
    if let Some(old) = old {
        make_writable_and_remove(&old).map_err(io("cannot remove", &old))?;
    }
    Ok(())
}
