//! Patches applied in order with GNU `patch`, output kept in the package log,
//! failures reduced to the patch file and its first rejected hunk.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use miette::Diagnostic;
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum PatchError {
    #[error("patch {} does not apply: {problem}", patch.display())]
    #[diagnostic(
        code(recipe::patch::failed),
        help("full `patch` output in {}; refresh the patch against this version of the source", log.display())
    )]
    Failed {
        patch: PathBuf,
        /// The first problem `patch` reported, e.g. "hunk #2 of src/a.c FAILED at 45".
        problem: String,
        log: PathBuf,
    },

    #[error("patch file {} cannot be read", patch.display())]
    #[diagnostic(
        code(recipe::patch::missing),
        help("check the `patch` lines of the recipe; paths are relative to its directory")
    )]
    Missing {
        patch: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot run `patch`")]
    #[diagnostic(code(recipe::patch::no_tool), help("install GNU patch (Debian: apt install patch)"))]
    Spawn {
        #[source]
        source: std::io::Error,
    },

    #[error("cannot write the log {}", log.display())]
    #[diagnostic(code(recipe::patch::log))]
    Log {
        log: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Applies `patches` in order to `tree` (as `patch -p1`), appending all
/// output to `log`. Stops at the first failure.
pub fn apply_patches(tree: &Path, patches: &[PathBuf], log: &Path) -> Result<(), PatchError> {
    for p in patches {
        apply_patch(tree, p, log)?;
    }
    Ok(())
}

pub fn apply_patch(tree: &Path, patch: &Path, log: &Path) -> Result<(), PatchError> {
    let patch = std::path::absolute(patch).unwrap_or_else(|_| patch.to_path_buf());
    if let Err(source) = std::fs::metadata(&patch) {
        return Err(PatchError::Missing { patch, source });
    }
    // An explicit environment: the result must not depend on the caller's
    // (POSIXLY_CORRECT, PATCH_GET, VERSION_CONTROL and a locale all change
    // what GNU patch does or prints).
    let mut cmd = Command::new("patch");
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LC_ALL", "C")
        .args(["-p1", "--batch", "--forward", "--no-backup-if-mismatch", "-i"])
        .arg(&patch)
        .current_dir(tree);
    let out = cmd.output().map_err(|source| PatchError::Spawn { source })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    append_log(
        log,
        &format!(
            "== patch -p1 --batch --forward -i {}\n{stdout}{stderr}== {}\n",
            patch.display(),
            out.status
        ),
    )?;
    if out.status.success() {
        return Ok(());
    }
    let problem =
        first_problem(&format!("{stdout}\n{stderr}")).unwrap_or_else(|| format!("`patch` failed ({})", out.status));
    Err(PatchError::Failed {
        patch,
        problem,
        log: log.to_path_buf(),
    })
}

pub fn append_log(log: &Path, text: &str) -> Result<(), PatchError> {
    let write = || -> std::io::Result<()> {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::File::options().create(true).append(true).open(log)?;
        f.write_all(text.as_bytes())
    };
    write().map_err(|source| PatchError::Log {
        log: log.to_path_buf(),
        source,
    })
}

/// The first failure GNU patch reports, with the file it concerned.
pub fn first_problem(output: &str) -> Option<String> {
    let mut file: Option<&str> = None;
    for line in output.lines() {
        let line = line.trim();
        if let Some(f) = line.strip_prefix("patching file ") {
            file = Some(f.trim_matches(['\'', '`']));
            continue;
        }
        let in_file = file.map(|f| format!(" of {f}")).unwrap_or_default();
        if let Some(rest) = line.strip_prefix("Hunk #")
            && let Some((n, tail)) = rest.split_once(" FAILED")
        {
            return Some(format!("hunk #{n}{in_file} FAILED{}", tail.trim_end_matches('.')));
        }
        if line.starts_with("Reversed (or previously applied) patch detected") {
            let where_ = file.map(|f| format!(" ({f})")).unwrap_or_default();
            return Some(format!("already applied or reversed{where_}"));
        }
        if line.starts_with("can't find file to patch") {
            return Some(format!("{line} (wrong -p level or file missing from the source)"));
        }
        if let Some(rest) = line.strip_prefix("patch: **** ") {
            return Some(rest.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_failed_hunk_and_its_file() {
        let out = "patching file src/ok.c\npatching file src/bad.c\nHunk #1 succeeded at 3.\n\
                   Hunk #2 FAILED at 45.\nHunk #3 FAILED at 80.\n2 out of 3 hunks FAILED -- saving rejects to file src/bad.c.rej\n";
        assert_eq!(first_problem(out).as_deref(), Some("hunk #2 of src/bad.c FAILED at 45"));
        let rev = "patching file a.c\nReversed (or previously applied) patch detected!  Skipping patch.\n";
        assert_eq!(first_problem(rev).as_deref(), Some("already applied or reversed (a.c)"));
        assert!(first_problem("patch: **** Only garbage was found in the patch input.\n").is_some());
        assert_eq!(first_problem("patching file a.c\n"), None);
    }
}
