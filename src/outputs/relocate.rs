//! Host tools are configured for one build tree's host prefix, an absolute
//! path that autoconf, automake and friends write into their scripts. Their
//! staged output is kept relative to that prefix and records it in
//! [`PREFIX_FILE`], so that
//! - the output digest (and so every dependent's key) does not depend on
//!   where the tree is: [`crate::outputs::key::tree_digest`] reads the prefix as a
//!   placeholder;
//! - an output built in another tree (restored from the remote cache) is
//!   installed into this tree's prefix by rewriting the old prefix, the way
//!   conda relocates packages: text files at any length, NUL-terminated
//!   strings in binaries only when the new prefix is not longer. The staged
//!   files themselves are never modified, so their digest stays true.

use std::io::Read;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Written at the root of a host tool's staged output: the prefix it was
/// configured for.
pub const PREFIX_FILE: &str = ".recipe-prefix";

/// Where a host tool's staged output keeps what it installed into its prefix.
pub const PREFIX_DIR: &str = ".host-prefix";

/// Length every build tree's host prefix is padded to. Binaries embed the
/// prefix too, and a string of another length moves everything after it:
/// with one length everywhere, relocation rewrites bytes in place and the
/// same tool built in two trees differs only in the prefix bytes (conda pads
/// its build prefix for the same reason). Short enough that a `#!` line
/// naming a program in the prefix stays under the kernel's 256 bytes.
pub const HOST_PREFIX_LEN: usize = 160;

/// The host prefix of the build tree at `build_root`: `host/prefix___…`,
/// padded to [`HOST_PREFIX_LEN`] bytes (longer trees are not padded; their
/// tools relocate only as text).
pub fn host_prefix(build_root: &Path) -> PathBuf {
    let host = build_root.join(crate::plan::graph::HOST);
    let plain = host.join("prefix");
    let len = plain.as_os_str().len();
    if len >= HOST_PREFIX_LEN {
        return plain;
    }
    host.join(format!("prefix{}", "_".repeat(HOST_PREFIX_LEN - len)))
}

/// Longest prefix accepted from a (possibly foreign) output.
const MAX_PREFIX: usize = 4096;

#[derive(Debug, Error)]
pub enum RelocateError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{file} embeds the prefix {old} in binary data; the prefix here ({new}) is longer, so it cannot be rewritten in place"
    )]
    Binary { file: String, old: String, new: String },
    #[error("the recorded prefix in {0} is not an absolute path")]
    BadPrefix(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RelocateError {
    let what = what.into();
    move |source| RelocateError::Io { what, source }
}

/// The prefix a staged host output was configured for, if it records one.
pub fn recorded_prefix(staged: &Path) -> Result<Option<String>, RelocateError> {
    let file = staged.join(PREFIX_FILE);
    match std::fs::symlink_metadata(&file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(format!("cannot read {}", file.display()))(e)),
        Ok(m) if !m.is_file() || m.len() > MAX_PREFIX as u64 => {
            return Err(RelocateError::BadPrefix(file.display().to_string()));
        }
        Ok(_) => {}
    }
    let text = std::fs::read_to_string(&file).map_err(io(format!("cannot read {}", file.display())))?;
    if !text.starts_with('/') || text.len() < 2 || text.contains(['\0', '\n']) {
        return Err(RelocateError::BadPrefix(file.display().to_string()));
    }
    Ok(Some(text))
}

/// Moves `dest/<prefix>/…` (what `make install DESTDIR=dest` wrote) to
/// `dest/.host-prefix/…` and records the prefix in [`PREFIX_FILE`]. Files a
/// build staged outside the prefix stay where they are: they are part of
/// the output, but only the prefix reaches later builds.
pub fn make_prefix_relative(dest: &Path, prefix: &Path) -> Result<(), RelocateError> {
    let inside = dest.join(prefix.strip_prefix("/").unwrap_or(prefix));
    let moved = dest.join(PREFIX_DIR);
    remove_if_exists(&moved)?;
    if inside.is_dir() {
        std::fs::rename(&inside, &moved).map_err(io(format!("cannot move {}", inside.display())))?;
        // The now empty directories that led to the prefix.
        for dir in inside
            .ancestors()
            .skip(1)
            .take_while(|d| d.starts_with(dest) && *d != dest)
        {
            if std::fs::remove_dir(dir).is_err() {
                break;
            }
        }
    }
    std::fs::write(dest.join(PREFIX_FILE), prefix.display().to_string())
        .map_err(io(format!("cannot write {PREFIX_FILE}")))
}

fn remove_if_exists(p: &Path) -> Result<(), RelocateError> {
    match std::fs::remove_dir_all(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(format!("cannot remove {}", p.display()))(e)),
        _ => Ok(()),
    }
}

/// Installs a staged host output into `prefix` (merging with what is there):
/// hard links where nothing names the old prefix, rewritten copies where
/// something does. Checks every file first, so a refusal installs nothing.
/// Directory of the prefix recording which staged output each name was
/// last installed from (by the output's stat fingerprint).
const INSTALLED_DIR: &str = ".recipe-installed";

/// [`install`], skipped when the prefix already holds this very output: a
/// no-op build checks every host tool, and relocating a restored tool
/// reads all its files. The record is the staged tree's fingerprint, so a
/// rebuilt or restored output installs again; it lives in the prefix, so
/// a wiped prefix forgets it.
pub fn install_current(staged: &Path, prefix: &Path, fingerprint: &str) -> Result<(), RelocateError> {
    use sha2::Digest;
    let id = hex::encode(sha2::Sha256::digest(staged.as_os_str().as_encoded_bytes()));
    let record = prefix.join(INSTALLED_DIR).join(id);
    if std::fs::read_to_string(&record).is_ok_and(|r| r == fingerprint) {
        return Ok(());
    }
    install(staged, prefix)?;
    let dir = prefix.join(INSTALLED_DIR);
    std::fs::create_dir_all(&dir).map_err(io(format!("cannot create {}", dir.display())))?;
    std::fs::write(&record, fingerprint).map_err(io(format!("cannot write {}", record.display())))
}

pub fn install(staged: &Path, prefix: &Path) -> Result<(), RelocateError> {
    let root = staged.join(PREFIX_DIR);
    let Some(old) = recorded_prefix(staged)?.filter(|_| root.is_dir()) else {
        return Ok(()); // nothing installed into the prefix
    };
    let new = prefix.display().to_string();
    let mut files = Vec::new();
    walk(&root, &root, &mut files)?;
    let mut plan = Vec::with_capacity(files.len());
    for (rel, kind) in files {
        let from = root.join(&rel);
        let action = match kind {
            Kind::Dir => Action::Dir,
            Kind::Link => {
                let target = std::fs::read_link(&from).map_err(io(format!("cannot read {}", from.display())))?;
                let text = target.to_string_lossy();
                Action::Link(PathBuf::from(if old == new {
                    text.into_owned()
                } else {
                    text.replace(&old, &new)
                }))
            }
            Kind::File if old == new => Action::HardLink,
            Kind::File => match rewrite(&from, old.as_bytes(), new.as_bytes())? {
                None => Action::HardLink,
                Some(Err(())) => {
                    return Err(RelocateError::Binary {
                        file: rel.display().to_string(),
                        old,
                        new,
                    });
                }
                Some(Ok(bytes)) => Action::Write(bytes),
            },
        };
        plan.push((rel, action));
    }
    for (rel, action) in plan {
        let from = root.join(&rel);
        let to = prefix.join(&rel);
        let existing = to.symlink_metadata().ok();
        if let Action::Dir = action {
            if !existing.as_ref().is_some_and(|m| m.is_dir()) {
                std::fs::create_dir_all(&to).map_err(io(format!("cannot create {}", to.display())))?;
            }
            continue;
        }
        // Already installed from this very output (the no-op case): keep it.
        if let (Action::HardLink, Some(m)) = (&action, &existing)
            && same_inode(m, &from)
        {
            continue;
        }
        if let Some(parent) = to.parent()
            && !parent.is_dir()
        {
            std::fs::create_dir_all(parent).map_err(io(format!("cannot create {}", parent.display())))?;
        }
        if existing.is_some() {
            std::fs::remove_file(&to).map_err(io(format!("cannot replace {}", to.display())))?;
        }
        match action {
            Action::Dir => {}
            Action::Link(target) => {
                std::os::unix::fs::symlink(&target, &to).map_err(io(format!("cannot link {}", to.display())))?
            }
            Action::HardLink => {
                if std::fs::hard_link(&from, &to).is_err() {
                    std::fs::copy(&from, &to).map_err(io(format!("cannot copy {}", from.display())))?;
                }
            }
            Action::Write(bytes) => {
                std::fs::write(&to, bytes).map_err(io(format!("cannot write {}", to.display())))?;
                let mode = std::fs::metadata(&from)
                    .map_err(io(format!("cannot stat {}", from.display())))?
                    .permissions();
                std::fs::set_permissions(&to, mode).map_err(io(format!("cannot chmod {}", to.display())))?;
            }
        }
    }
    Ok(())
}

fn same_inode(installed: &std::fs::Metadata, staged: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(staged).is_ok_and(|m| m.dev() == installed.dev() && m.ino() == installed.ino())
}

enum Kind {
    Dir,
    Link,
    File,
}

enum Action {
    Dir,
    Link(PathBuf),
    HardLink,
    Write(Vec<u8>),
}

/// Every entry under `dir`, parents before children.
fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Kind)>) -> Result<(), RelocateError> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io(format!("cannot read {}", dir.display())))?
        .collect::<Result<_, _>>()
        .map_err(io(format!("cannot read {}", dir.display())))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        let ft = entry
            .file_type()
            .map_err(io(format!("cannot stat {}", path.display())))?;
        if ft.is_dir() {
            out.push((rel, Kind::Dir));
            walk(root, &path, out)?;
        } else if ft.is_symlink() {
            out.push((rel, Kind::Link));
        } else if ft.is_file() {
            out.push((rel, Kind::File));
        }
    }
    Ok(())
}

/// The file's bytes with `old` replaced by `new`: `None` when it does not
/// contain `old`; `Some(Err(()))` when it is binary and `new` is longer.
fn rewrite(path: &Path, old: &[u8], new: &[u8]) -> Result<Option<Result<Vec<u8>, ()>>, RelocateError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io(format!("cannot read {}", path.display())))?;
    if find(&bytes, old, 0).is_none() {
        return Ok(None);
    }
    if !bytes.contains(&0) {
        return Ok(Some(Ok(replace_all(&bytes, old, new))));
    }
    if new.len() > old.len() {
        return Ok(Some(Err(())));
    }
    // Binary: rewrite each NUL-terminated string that holds the prefix and
    // pad it with NULs, so every offset in the file stays where it was.
    let mut out = bytes.clone();
    let mut at = 0;
    while let Some(pos) = find(&bytes, old, at) {
        let end = bytes[pos..]
            .iter()
            .position(|b| *b == 0)
            .map_or(bytes.len(), |n| pos + n);
        let start = bytes[..pos].iter().rposition(|b| *b == 0).map_or(0, |n| n + 1);
        let replaced = replace_all(&bytes[start..end], old, new);
        out[start..end].fill(0);
        out[start..start + replaced.len()].copy_from_slice(&replaced);
        at = end;
    }
    Ok(Some(Ok(out)))
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from >= hay.len() {
        return None;
    }
    memchr::memmem::find(&hay[from..], needle).map(|p| p + from)
}

pub(crate) fn replace_all(hay: &[u8], old: &[u8], new: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut at = 0;
    while let Some(pos) = find(hay, old, at) {
        out.extend_from_slice(&hay[at..pos]);
        out.extend_from_slice(new);
        at = pos + old.len();
    }
    out.extend_from_slice(&hay[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn staged_tool(dir: &Path, prefix: &str) -> PathBuf {
        let dest = dir.join("dest");
        let inside = dest.join(prefix.trim_start_matches('/'));
        std::fs::create_dir_all(inside.join("bin")).expect("mkdir");
        std::fs::create_dir_all(inside.join("share/tool")).expect("mkdir");
        std::fs::write(
            inside.join("bin/tool"),
            format!("#!/bin/sh\nexec perl {prefix}/share/tool/run \"$@\"\n"),
        )
        .expect("script");
        std::fs::set_permissions(inside.join("bin/tool"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let mut binary = b"\x7fELF\0\0".to_vec();
        binary.extend_from_slice(format!("{prefix}/share/tool\0next\0").as_bytes());
        std::fs::write(inside.join("bin/tool-bin"), &binary).expect("binary");
        std::fs::write(inside.join("share/tool/run"), "print 1\n").expect("data");
        std::os::unix::fs::symlink(format!("{prefix}/share/tool/run"), inside.join("bin/run")).expect("link");
        std::fs::create_dir_all(dest.join("etc")).expect("mkdir");
        std::fs::write(dest.join("etc/outside"), "x").expect("outside");
        make_prefix_relative(&dest, Path::new(prefix)).expect("relative");
        dest
    }

    #[test]
    fn host_prefixes_have_one_length() {
        for root in ["/b", "/home/someone/src/project/build", "/tmp/x"] {
            let p = host_prefix(Path::new(root));
            assert_eq!(p.as_os_str().len(), HOST_PREFIX_LEN, "{}", p.display());
            assert!(
                p.starts_with(root)
                    && p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("prefix_"))
            );
        }
        let long = format!("/{}", "d".repeat(200));
        assert_eq!(host_prefix(Path::new(&long)), Path::new(&long).join("host/prefix"));
    }

    #[test]
    fn staged_output_is_relative_to_its_prefix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = staged_tool(dir.path(), "/build/one/host/prefix");
        assert!(dest.join(PREFIX_DIR).join("bin/tool").is_file());
        assert!(dest.join("etc/outside").is_file(), "outside the prefix is kept");
        assert!(!dest.join("build").exists(), "no empty path to the old prefix");
        assert_eq!(
            recorded_prefix(&dest).expect("read"),
            Some("/build/one/host/prefix".to_string())
        );
    }

    #[test]
    fn digest_does_not_depend_on_the_prefix() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        let one = staged_tool(a.path(), "/build/one/host/prefix");
        let two = staged_tool(b.path(), "/elsewhere/a/much/longer/path/host/prefix");
        assert_eq!(
            crate::outputs::key::tree_digest(&one).expect("digest"),
            crate::outputs::key::tree_digest(&two).expect("digest")
        );
        std::fs::write(two.join(PREFIX_DIR).join("share/tool/run"), "print 2\n").expect("edit");
        assert_ne!(
            crate::outputs::key::tree_digest(&one).expect("digest"),
            crate::outputs::key::tree_digest(&two).expect("digest")
        );
    }

    #[test]
    fn installs_into_a_shorter_prefix_rewriting_text_binaries_and_links() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = staged_tool(dir.path(), "/build/a-long-one/host/prefix");
        let before = crate::outputs::key::tree_digest(&dest).expect("digest");
        let prefix = dir.path().join("p");
        install(&dest, &prefix).expect("install");
        let new = prefix.display().to_string();
        let script = std::fs::read_to_string(prefix.join("bin/tool")).expect("script");
        assert_eq!(script, format!("#!/bin/sh\nexec perl {new}/share/tool/run \"$@\"\n"));
        let mode = std::fs::metadata(prefix.join("bin/tool"))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "still executable");
        let binary = std::fs::read(prefix.join("bin/tool-bin")).expect("binary");
        let original = std::fs::read(dest.join(PREFIX_DIR).join("bin/tool-bin")).expect("binary");
        assert_eq!(binary.len(), original.len(), "offsets kept");
        assert!(binary.windows(new.len()).any(|w| w == new.as_bytes()));
        assert!(binary.ends_with(b"\0next\0"), "following strings untouched");
        assert_eq!(
            std::fs::read_link(prefix.join("bin/run")).expect("link"),
            PathBuf::from(format!("{new}/share/tool/run"))
        );
        assert!(!prefix.join(PREFIX_FILE).exists() && !prefix.join("etc").exists());
        assert_eq!(
            crate::outputs::key::tree_digest(&dest).expect("digest"),
            before,
            "staged untouched"
        );
    }

    #[test]
    fn install_current_skips_an_output_already_installed_from_the_same_tree() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = staged_tool(dir.path(), "/build/a-long-one/host/prefix");
        let prefix = dir.path().join("p");
        let tool = prefix.join("bin/tool");
        install_current(&dest, &prefix, "one").expect("install");
        let installed = std::fs::read_to_string(&tool).expect("script");
        // Edited behind its back: the same fingerprint means no work at all.
        std::fs::write(&tool, "edited").expect("edit");
        install_current(&dest, &prefix, "one").expect("again");
        assert_eq!(std::fs::read_to_string(&tool).expect("script"), "edited");
        // Another fingerprint (a rebuilt or restored output) installs again.
        install_current(&dest, &prefix, "two").expect("changed");
        assert_eq!(std::fs::read_to_string(&tool).expect("script"), installed);
    }

    #[test]
    fn refuses_a_longer_prefix_for_binaries_and_installs_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = staged_tool(dir.path(), "/b");
        let prefix = dir.path().join("a-longer-prefix");
        let err = install(&dest, &prefix).expect_err("binary cannot grow");
        assert!(matches!(err, RelocateError::Binary { .. }), "{err}");
        assert!(!prefix.exists(), "nothing half-installed");
    }

    #[test]
    fn same_prefix_hard_links() {
        let dir = tempfile::tempdir().expect("tempdir");
        let prefix = dir.path().join("host/prefix");
        let dest = staged_tool(dir.path(), &prefix.display().to_string());
        install(&dest, &prefix).expect("install");
        use std::os::unix::fs::MetadataExt;
        let a = std::fs::metadata(dest.join(PREFIX_DIR).join("bin/tool")).expect("stat");
        let b = std::fs::metadata(prefix.join("bin/tool")).expect("stat");
        assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()));
    }
}
