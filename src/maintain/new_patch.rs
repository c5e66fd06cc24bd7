//! `recipe patch`: the author's edits to a prepared tree, saved as the next
//! numbered patch of the recipe and added to its `patch` lines.
//!
//! The pristine side is made exactly as `recipe source` makes a tree (the
//! same fetch, safe unpacker and earlier patches, [`prepare_tree`]) in a
//! temporary directory beside the edited tree, so the new patch applies on
//! top of the recipe's existing ones.

use std::path::{Path, PathBuf};

use crate::fetch::FetchContext;
use crate::prepare::prepare_tree;
use crate::recipe::error::SourceFile;
use crate::recipe::parse::parse_recipe;
use crate::recipe::{RawRecipe, Recipe};
use crate::unpack::make_writable_and_remove;

use super::MaintainError;
use super::tree_diff::{TreeDiff, diff_trees, regenerated_by_build};

pub struct PatchRequest<'a> {
    pub raw: &'a RawRecipe,
    /// The recipe rendered for the tree's target.
    pub recipe: &'a Recipe,
    pub target: &'a str,
    /// The edited tree (`recipe source` prints it).
    pub tree: PathBuf,
    /// The package's build dir: the pristine copy and its log go there.
    pub work: PathBuf,
    /// `--name`: the slug of the file name.
    pub name: Option<String>,
    /// `--message`: why the change is needed.
    pub message: Option<String>,
    pub exclude: Vec<String>,
    /// `YYYY-MM-DD`, for the header.
    pub today: String,
}

pub enum PatchOutcome {
    NoChange(TreeDiff),
    Written {
        patch: PathBuf,
        /// The line added to the recipe.
        line: String,
        diff: TreeDiff,
        /// Changed files a build in the tree probably rewrote.
        regenerated: Vec<String>,
    },
}

pub fn make_patch(ctx: &FetchContext, req: &PatchRequest) -> Result<PatchOutcome, MaintainError> {
    let diff = diff_against_pristine(ctx, req)?;
    if diff.changed.is_empty() {
        return Ok(PatchOutcome::NoChange(diff));
    }
    let regenerated = regenerated_by_build(&diff, &req.tree);
    let dir = req.raw.dir.join("patches");
    std::fs::create_dir_all(&dir).map_err(MaintainError::io("cannot create", &dir))?;
    let number = next_number(&dir, req.raw);
    let file = format!("{number:04}-{}.patch", slug(req.name.as_deref()));
    let path = dir.join(&file);
    let line = format!("patch \"patches/{file}\"");
    let text = format!("{}{}", header(req, &diff), diff.text);
    write_new(&path, &text)?;
    // The patch file is only kept when the recipe names it.
    if let Err(e) = add_patch_line(req.raw, &line) {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    Ok(PatchOutcome::Written {
        patch: path,
        line,
        diff,
        regenerated,
    })
}

fn diff_against_pristine(ctx: &FetchContext, req: &PatchRequest) -> Result<TreeDiff, MaintainError> {
    let scratch = tempfile::Builder::new()
        .prefix(".patch-pristine-")
        .tempdir_in(&req.work)
        .map_err(MaintainError::io("cannot create a temporary directory in", &req.work))?;
    let pristine = scratch.path().join("src");
    let log = req.work.join("patch.log");
    // One log per run: stale output from an earlier run misleads.
    let _ = std::fs::remove_file(&log);
    let result = prepare_tree(ctx, req.recipe, &pristine, &log)
        .map_err(|e| MaintainError::Pristine(Box::new(e)))
        .and_then(|()| {
            diff_trees(&pristine, &req.tree, &req.exclude)
                .map_err(MaintainError::io("cannot compare with the pristine tree", &req.tree))
        });
    // The unpacker may leave read-only directories, which TempDir cannot remove.
    let _ = make_writable_and_remove(scratch.path());
    result
}

/// One more than the highest leading number of the patches in `dir` and
/// of the recipe's `patch` lines.
fn next_number(dir: &Path, raw: &RawRecipe) -> u32 {
    let number = |name: &str| -> Option<u32> {
        let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
        (!digits.is_empty() && name[digits.len()..].starts_with('-'))
            .then(|| digits.parse().ok())
            .flatten()
    };
    let in_dir = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| number(&e.file_name().to_string_lossy()));
    let in_recipe = raw
        .patches
        .iter()
        .filter_map(|p| number(p.value.rsplit('/').next().unwrap_or_default()));
    in_dir.chain(in_recipe).max().unwrap_or(0).saturating_add(1)
}

/// `--name` as a file-name slug: lowercase words joined by `-`.
pub fn slug(name: Option<&str>) -> String {
    let raw = name.unwrap_or_default().to_ascii_lowercase();
    let words: Vec<&str> = raw
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = String::new();
    for w in words {
        if out.len() + w.len() + 1 > 60 {
            break;
        }
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(w);
    }
    if out.is_empty() { "local-changes".into() } else { out }
}

/// Text before the first `diff` line, which GNU patch skips. Lines that
/// patch would take for the start of a diff are indented.
fn header(req: &PatchRequest, diff: &TreeDiff) -> String {
    let message = req
        .message
        .clone()
        .unwrap_or_else(|| format!("Local changes to {} {}.", req.recipe.name, req.recipe.version));
    let mut out = String::new();
    for line in message.lines() {
        let looks_like_diff = ["---", "+++", "***", "@@", "diff ", "Index:", "Only in", "Binary files"]
            .iter()
            .any(|p| line.starts_with(p));
        if looks_like_diff {
            out.push(' ');
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(&format!(
        "\nGenerated by recipe patch on {} against `recipe source {} --target {}`\n(the sources with the recipe's {} earlier patch(es) applied).\n\n",
        req.today,
        req.recipe.name,
        req.target,
        req.recipe.patches.len()
    ));
    for c in &diff.changed {
        out.push_str(&format!(" {c}\n"));
    }
    out.push('\n');
    out
}

fn write_new(path: &Path, text: &str) -> Result<(), MaintainError> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(MaintainError::io("cannot create", path))?;
    f.write_all(text.as_bytes())
        .map_err(MaintainError::io("cannot write", path))
}

/// Adds `line` after the recipe's last `patch` line (else after its last
/// source, else after the package node), leaving every other byte as it
/// was, and checks that the result still parses before replacing the file.
fn add_patch_line(raw: &RawRecipe, line: &str) -> Result<(), MaintainError> {
    let text = raw.file.text.as_str();
    let path = raw.dir.join("recipe.kdl");
    let on_disk = std::fs::read_to_string(&path).map_err(MaintainError::io("cannot read", &path))?;
    if on_disk != text {
        return Err(MaintainError::RecipeChanged { path });
    }
    let after = raw
        .patches
        .iter()
        .map(|p| p.span.offset() + p.span.len())
        .max()
        .or_else(|| raw.sources.iter().map(|s| s.span.offset() + s.span.len()).max())
        .unwrap_or(raw.package_span.offset() + raw.package_span.len());
    let new_text = insert_line_after(text, after, line);
    if let Err(errors) = parse_recipe(SourceFile::new(raw.file.name.clone(), new_text.clone()), &raw.dir) {
        return Err(MaintainError::EditBroke { path, errors });
    }
    let tmp = path.with_extension("kdl.recipe-patch");
    std::fs::write(&tmp, &new_text).map_err(MaintainError::io("cannot write", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(MaintainError::io("cannot replace", &path))
}

/// `text` with `line` on a line of its own after the line holding byte
/// `offset`, indented like that line.
pub fn insert_line_after(text: &str, offset: usize, line: &str) -> String {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let indent: String = text[start..].chars().take_while(|c| *c == ' ' || *c == '\t').collect();
    // A node's span may or may not take its line's end with it.
    let end = if offset > 0 && text.as_bytes().get(offset - 1) == Some(&b'\n') {
        offset
    } else {
        text[offset..].find('\n').map_or(text.len(), |i| offset + i + 1)
    };
    let mut out = String::with_capacity(text.len() + line.len() + 2);
    out.push_str(&text[..end]);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&indent);
    out.push_str(line);
    out.push('\n');
    out.push_str(&text[end..]);
    out
}

/// Today's date (UTC) as `YYYY-MM-DD`.
pub fn today(now: std::time::SystemTime) -> String {
    let secs = now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    crate::timefmt::date(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug(Some("Fix ARMv7 build!")), "fix-armv7-build");
        assert_eq!(slug(Some("  ")), "local-changes");
        assert_eq!(slug(None), "local-changes");
    }

    #[test]
    fn dates() {
        let at = |s| today(std::time::UNIX_EPOCH + std::time::Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01");
        assert_eq!(at(951_782_400), "2000-02-29");
        assert_eq!(at(1_767_225_599), "2025-12-31");
    }

    #[test]
    fn the_line_goes_after_the_anchor_line_keeping_everything_else() {
        let text = "package x {\n    version \"1\"\n}\npatch \"patches/0001-a.patch\" // why\n\nbuild make\n";
        let at = text.find("0001").unwrap() + 5;
        let got = insert_line_after(text, at, "patch \"patches/0002-b.patch\"");
        assert_eq!(
            got,
            "package x {\n    version \"1\"\n}\npatch \"patches/0001-a.patch\" // why\npatch \"patches/0002-b.patch\"\n\nbuild make\n"
        );
        let no_newline = insert_line_after("a", 1, "b");
        assert_eq!(no_newline, "a\nb\n");
    }
}
