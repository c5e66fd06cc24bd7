//! The difference between a pristine source tree and the author's edited
//! copy, as a `-p1` unified diff that GNU `patch` applies.
//!
//! What is compared (the rule README documents):
//! - every file of the pristine tree: changed content is a hunk, a removed
//!   file a deletion;
//! - files only in the edited tree, unless they look like build products
//!   ([`is_build_product`]) or match an `--exclude` pattern;
//! - never version-control metadata (`.git`, `.hg`, `.svn`), so an author
//!   may `git init` the tree to follow their own edits.
//!
//! What a text patch cannot carry is left out and named: binary files,
//! symbolic links, a file turned into a directory. Mode changes of existing
//! files are not recorded; new files keep their executable bit (git-style
//! `new file mode` lines, which GNU patch honours).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use similar::TextDiff;

/// What one path is, without following links.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    File { executable: bool },
    Link(PathBuf),
    Dir,
}

/// The outcome of a comparison: the patch text and what was left out.
#[derive(Debug, Default)]
pub struct TreeDiff {
    /// The diff, ready to follow a header; empty when nothing changed.
    pub text: String,
    /// `M path`, `A path`, `D path` for each file in the diff.
    pub changed: Vec<String>,
    /// New files taken for build products (not in the diff).
    pub products: Vec<String>,
    /// New or changed paths the author excluded with `--exclude`.
    pub excluded: Vec<String>,
    /// Paths a text patch cannot carry, with the reason.
    pub skipped: Vec<(String, &'static str)>,
}

/// Names of directories that only builds create, wherever they are.
const PRODUCT_DIRS: &[&str] = &[
    "autom4te.cache",
    ".deps",
    ".libs",
    "_libs",
    "CMakeFiles",
    "__pycache__",
    ".pytest_cache",
];

/// Names of directories builders create when the source has none there
/// (the cmake and wheel builders' work dirs, Go's `vendor/`, Python's).
const NEW_DIR_PRODUCTS: &[&str] = &["build", "dist", "vendor", "cmake-build", "wheel-strip"];

/// File name patterns of compiler, linker, configure and editor output.
const PRODUCT_FILES: &[&str] = &[
    "*.o",
    "*.lo",
    "*.la",
    "*.a",
    "*.so",
    "*.so.*",
    "*.obj",
    "*.pyc",
    "*.pyo",
    "*.gcda",
    "*.gcno",
    "*.orig",
    "*.rej",
    "*~",
    ".*.swp",
    "config.log",
    "config.status",
    "config.cache",
    "libtool",
    "stamp-h*",
    ".dirstamp",
    "conftest*",
    "CMakeCache.txt",
    "cmake_install.cmake",
    "CTestTestfile.cmake",
    "compile_commands.json",
    "build.ninja",
    ".ninja_deps",
    ".ninja_log",
    // What autoreconf installs or generates.
    "aclocal.m4",
    "compile",
    "config.guess",
    "config.sub",
    "depcomp",
    "install-sh",
    "ltmain.sh",
    "missing",
    "ar-lib",
    "test-driver",
    "ylwrap",
    "py-compile",
    "libtool.m4",
    "ltoptions.m4",
    "ltsugar.m4",
    "ltversion.m4",
    "lt~obsolete.m4",
];

/// Directories that are never part of a source patch.
const VCS_DIRS: &[&str] = &[".git", ".hg", ".svn"];

/// Files autoreconf and configure rewrite in place: when they changed in a
/// tree that was built in, the build (not the author) probably did it.
const REGENERATED: &[&str] = &[
    "configure",
    "Makefile.in",
    "aclocal.m4",
    "config.h.in",
    "ltmain.sh",
    "config.guess",
    "config.sub",
    "install-sh",
    "missing",
    "depcomp",
    "compile",
];

/// Compares `pristine` with `edited`; `exclude` are the author's globs.
pub fn diff_trees(pristine: &Path, edited: &Path, exclude: &[String]) -> std::io::Result<TreeDiff> {
    let mut out = TreeDiff::default();
    let mut odd = Vec::new();
    let old = walk(pristine, &mut odd)?;
    let new = walk(edited, &mut odd)?;
    odd.sort();
    odd.dedup();
    out.skipped
        .extend(odd.into_iter().map(|p| (p, "a name that is not UTF-8")));
    let mut paths: Vec<&String> = old.keys().chain(new.keys()).collect();
    paths.sort();
    paths.dedup();
    for rel in paths {
        let (before, after) = (old.get(rel), new.get(rel));
        if matches!(before, Some(Entry::Dir)) && matches!(after, Some(Entry::Dir) | None) {
            continue;
        }
        if before.is_none() && matches!(after, Some(Entry::Dir)) {
            continue;
        }
        if exclude.iter().any(|g| path_matches(g, rel)) {
            out.excluded.push(rel.clone());
            continue;
        }
        match (before, after) {
            (None, Some(Entry::File { executable })) => {
                if is_build_product(rel, edited, &old) {
                    out.products.push(rel.clone());
                    continue;
                }
                let data = std::fs::read(edited.join(rel))?;
                if is_object(&data) {
                    out.products.push(rel.clone());
                } else if let Some(text) = as_text(&data) {
                    push_diff(&mut out, rel, Change::Added(text, *executable));
                } else {
                    out.skipped.push((rel.clone(), "binary file"));
                }
            }
            (None, Some(Entry::Link(_))) => out.skipped.push((rel.clone(), "new symbolic link")),
            (Some(Entry::File { .. }), None) => {
                let data = std::fs::read(pristine.join(rel))?;
                match as_text(&data) {
                    Some(text) => push_diff(&mut out, rel, Change::Deleted(text)),
                    None => out.skipped.push((rel.clone(), "deleted binary file")),
                }
            }
            (Some(Entry::File { .. }), Some(Entry::File { .. })) => {
                let (a, b) = (std::fs::read(pristine.join(rel))?, std::fs::read(edited.join(rel))?);
                if a == b {
                    continue;
                }
                match (as_text(&a), as_text(&b)) {
                    (Some(a), Some(b)) => push_diff(&mut out, rel, Change::Modified(a, b)),
                    _ => out.skipped.push((rel.clone(), "changed binary file")),
                }
            }
            (Some(Entry::Link(a)), Some(Entry::Link(b))) if a == b => {}
            (Some(Entry::Link(_)), None) => out.skipped.push((rel.clone(), "deleted symbolic link")),
            (Some(_), Some(_)) => out.skipped.push((rel.clone(), "changed its type or link target")),
            _ => {}
        }
    }
    Ok(out)
}

/// Changed pristine files the build regenerates, when the tree shows a build
/// happened in it (`config.status` or `autom4te.cache` at the top).
pub fn regenerated_by_build(diff: &TreeDiff, edited: &Path) -> Vec<String> {
    let built = edited.join("config.status").exists() || edited.join("autom4te.cache").exists();
    if !built {
        return Vec::new();
    }
    diff.changed
        .iter()
        .filter_map(|c| c.strip_prefix("M "))
        .filter(|p| REGENERATED.contains(&file_name(p)))
        .map(String::from)
        .collect()
}

enum Change<'a> {
    Added(&'a str, bool),
    Deleted(&'a str),
    Modified(&'a str, &'a str),
}

fn push_diff(out: &mut TreeDiff, rel: &str, change: Change) {
    // GNU patch ends a file name at white space in these headers.
    if rel.chars().any(|c| c.is_whitespace() || c == '"' || c == '\\') {
        out.skipped.push((rel.to_string(), "white space or quotes in its name"));
        return;
    }
    let (a, b) = (format!("a/{rel}"), format!("b/{rel}"));
    let (old, new, head, tag) = match change {
        Change::Added(text, exec) => {
            let mode = if exec { "100755" } else { "100644" };
            ("", text, format!("new file mode {mode}\n--- /dev/null\n+++ {b}\n"), "A")
        }
        Change::Deleted(text) => (
            text,
            "",
            format!("deleted file mode 100644\n--- {a}\n+++ /dev/null\n"),
            "D",
        ),
        Change::Modified(old, new) => (old, new, format!("--- {a}\n+++ {b}\n"), "M"),
    };
    let diff = TextDiff::from_lines(old, new);
    let hunks = diff
        .unified_diff()
        .context_radius(3)
        .missing_newline_hint(true)
        .to_string();
    if hunks.is_empty() && !matches!(tag, "A" | "D") {
        return;
    }
    out.text.push_str(&format!("diff --git {a} {b}\n{head}{hunks}"));
    if !out.text.ends_with('\n') {
        out.text.push('\n');
    }
    out.changed.push(format!("{tag} {rel}"));
}

/// A new file a build made: by name, by directory, or a configure or
/// automake output whose template (`X.in`, `X.am`) sits beside it.
fn is_build_product(rel: &str, edited: &Path, pristine: &BTreeMap<String, Entry>) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    let (dirs, name) = parts.split_at(parts.len().saturating_sub(1));
    let name = name.first().copied().unwrap_or_default();
    if dirs
        .iter()
        .any(|d| PRODUCT_DIRS.contains(d) || d.ends_with(".egg-info"))
    {
        return true;
    }
    for (i, d) in dirs.iter().enumerate() {
        if NEW_DIR_PRODUCTS.contains(d) && !pristine.contains_key(&dirs[..=i].join("/")) {
            return true;
        }
    }
    if PRODUCT_FILES.iter().any(|p| glob(p, name)) {
        return true;
    }
    let beside = |suffix: &str| edited.join(format!("{rel}{suffix}")).is_file();
    let configure_output = beside(".in") || beside(".am") || (name == "configure" && beside(".ac"));
    let autoheader = name == "config.h.in" && edited.join(rel).with_file_name("configure.ac").is_file();
    configure_output || autoheader
}

/// ELF objects and `ar` archives: compiler output, never source.
fn is_object(data: &[u8]) -> bool {
    data.starts_with(b"\x7fELF") || data.starts_with(b"!<arch>\n")
}

/// The file as text, or `None` when a text diff cannot carry it.
fn as_text(data: &[u8]) -> Option<&str> {
    let head = &data[..data.len().min(8192)];
    if head.contains(&0) {
        return None;
    }
    std::str::from_utf8(data).ok()
}

fn file_name(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or(rel)
}

/// An `--exclude` pattern: with a `/` it matches the whole relative path,
/// else the file name or any directory name in it.
pub fn path_matches(pattern: &str, rel: &str) -> bool {
    let pattern = pattern.trim_end_matches('/');
    if pattern.contains('/') {
        return glob(pattern, rel) || rel.starts_with(&format!("{pattern}/"));
    }
    rel.split('/').any(|part| glob(pattern, part))
}

/// `*` (any run of characters) and `?` (one character); nothing else.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Every path under `root` (relative, `/`-separated), links not followed.
fn walk(root: &Path, odd: &mut Vec<String>) -> std::io::Result<BTreeMap<String, Entry>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in std::fs::read_dir(root.join(&rel))? {
            let e = e?;
            let name = e.file_name();
            let Some(name) = name.to_str() else {
                // A patch header cannot spell it; name it instead.
                odd.push(rel.join(&name).to_string_lossy().into_owned());
                continue;
            };
            let child = rel.join(name);
            let key = child.to_string_lossy().into_owned();
            let meta = e.path().symlink_metadata()?;
            let entry = if meta.is_dir() {
                if VCS_DIRS.contains(&name) {
                    continue;
                }
                stack.push(child);
                Entry::Dir
            } else if meta.file_type().is_symlink() {
                Entry::Link(std::fs::read_link(e.path())?)
            } else {
                Entry::File {
                    executable: meta.permissions().mode() & 0o111 != 0,
                }
            };
            out.insert(key, entry);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_exclude_patterns() {
        assert!(glob("*.so.*", "libfoo.so.1.2"));
        assert!(glob("stamp-h*", "stamp-h1"));
        assert!(!glob("*.o", "foo.c"));
        assert!(glob("a?c", "abc"));
        assert!(path_matches("tests", "tests/x/y.c"));
        assert!(path_matches("src/gen", "src/gen/a.c"));
        assert!(path_matches("*.md", "doc/README.md"));
        assert!(!path_matches("src/gen", "src/generic.c"));
    }

    #[test]
    fn build_products_by_name_directory_and_template() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("lib")).unwrap();
        std::fs::write(root.join("lib/Makefile.in"), "x").unwrap();
        std::fs::write(root.join("lib/Makefile"), "x").unwrap();
        std::fs::write(root.join("new.c"), "x").unwrap();
        let pristine = BTreeMap::from([("lib".to_string(), Entry::Dir), ("build".to_string(), Entry::Dir)]);
        assert!(is_build_product("lib/Makefile", root, &pristine));
        assert!(is_build_product("lib/.libs/libx.so.1", root, &pristine));
        assert!(is_build_product("src/foo.o", root, &pristine));
        assert!(is_build_product("config.log", root, &pristine));
        assert!(is_build_product("dist/x.whl", root, &pristine));
        assert!(
            !is_build_product("build/helper.sh", root, &pristine),
            "build/ is in the source"
        );
        assert!(!is_build_product("new.c", root, &pristine));
    }

    #[test]
    fn added_modified_deleted_and_products() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for t in [&a, &b] {
            std::fs::create_dir_all(t.join("src")).unwrap();
        }
        std::fs::write(a.join("src/x.c"), "one\ntwo\nthree\n").unwrap();
        std::fs::write(b.join("src/x.c"), "one\n2\nthree\n").unwrap();
        std::fs::write(a.join("gone.txt"), "bye\n").unwrap();
        std::fs::write(b.join("src/new.h"), "#define N 1").unwrap();
        std::fs::write(b.join("src/x.o"), "\x7fELF").unwrap();
        std::fs::write(b.join("blob.bin"), [0u8, 1, 2]).unwrap();
        let d = diff_trees(&a, &b, &[]).unwrap();
        assert_eq!(d.changed, ["D gone.txt", "A src/new.h", "M src/x.c"]);
        assert_eq!(d.products, ["src/x.o"]);
        assert_eq!(d.skipped, [("blob.bin".to_string(), "binary file")]);
        assert!(
            d.text
                .contains("--- a/src/x.c\n+++ b/src/x.c\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n")
        );
        assert!(
            d.text.contains(
                "--- /dev/null\n+++ b/src/new.h\n@@ -0,0 +1 @@\n+#define N 1\n\\ No newline at end of file\n"
            )
        );
        assert!(d.text.contains("+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n"));
        let none = diff_trees(&a, &a, &[]).unwrap();
        assert!(none.text.is_empty() && none.changed.is_empty());
        let excluded = diff_trees(&a, &b, &["src".to_string()]).unwrap();
        assert_eq!(excluded.changed, ["D gone.txt"]);
    }
}
