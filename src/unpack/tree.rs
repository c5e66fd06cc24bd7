//! The safe-tree core: entries from any reader land under one root.
//!
//! Every parent directory is opened one component at a time from the root's
//! fd with `O_NOFOLLOW` (see `sys`), so a symlink anywhere on the way, made
//! by this archive or already on disk, stops the walk instead of being
//! followed. Files are created with `O_EXCL` after removing the old name,
//! never written through it. Symlinks wait until every other entry is
//! written; then they are created in path order (again without following
//! links) and the whole graph is resolved against the real tree.

use std::collections::{BTreeMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::sys::{self, Kind};
use super::{Policy, UnpackError, corrupt, io, links};

/// What an entry is, as the readers see it.
pub enum EntryKind {
    Dir,
    File,
    Symlink(String),
    HardLink(String),
    /// A device node or fifo, by name.
    Special(&'static str),
    Unsupported(String),
}

pub struct Entry {
    pub raw: String,
    pub kind: EntryKind,
    pub mode: u32,
    pub mtime: Option<u64>,
    /// Bytes the entry claims to unpack to (checked again while copying).
    pub size: u64,
}

pub struct Tree<'p> {
    root: OwnedFd,
    root_path: PathBuf,
    archive: PathBuf,
    policy: &'p Policy,
    strip: usize,
    /// Only these paths are extracted, when set.
    only: Option<HashSet<PathBuf>>,
    entries: u64,
    bytes: u64,
    /// Regular files this archive wrote: the only valid hard-link sources.
    files: HashSet<PathBuf>,
    /// Pending symlinks: path → (target, entry name for errors).
    links: BTreeMap<PathBuf, (OsString, String)>,
    dirs: Vec<(PathBuf, u32, Option<u64>)>,
    skipped: Vec<String>,
}

impl<'p> Tree<'p> {
    pub fn new(root: &Path, archive: &Path, policy: &'p Policy, strip: u32) -> Result<Tree<'p>, UnpackError> {
        Ok(Tree {
            root: sys::open_root(root).map_err(io("cannot open", root))?,
            root_path: root.to_path_buf(),
            archive: archive.to_path_buf(),
            policy,
            strip: strip as usize,
            only: None,
            entries: 0,
            bytes: 0,
            files: HashSet::new(),
            links: BTreeMap::new(),
            dirs: Vec::new(),
            skipped: Vec::new(),
        })
    }

    pub fn only(&mut self, paths: &[&str]) {
        self.only = Some(paths.iter().map(PathBuf::from).collect());
    }

    pub fn sparse_files(&self) -> bool {
        self.policy.sparse_files
    }

    pub fn archive(&self) -> &Path {
        &self.archive
    }

    pub fn refuse(&self, entry: &str, reason: impl Into<String>) -> UnpackError {
        UnpackError::Unsafe {
            archive: self.archive.clone(),
            entry: entry.to_string(),
            reason: reason.into(),
        }
    }

    fn too_many_bytes(&self) -> UnpackError {
        UnpackError::TooManyBytes {
            archive: self.archive.clone(),
            limit: self.policy.limits.max_bytes,
        }
    }

    /// The entry's path under the root after stripping; `None` when
    /// stripping leaves nothing.
    fn clean(&self, raw: &str) -> Result<Option<PathBuf>, UnpackError> {
        let rel = relative_components(raw).map_err(|why| self.refuse(raw, why))?;
        let kept: PathBuf = rel.into_iter().skip(self.strip).collect();
        Ok((!kept.as_os_str().is_empty()).then_some(kept))
    }

    pub fn add(&mut self, e: Entry, data: &mut dyn Read) -> Result<(), UnpackError> {
        self.entries += 1;
        if self.entries > self.policy.limits.max_entries {
            return Err(UnpackError::TooManyEntries {
                archive: self.archive.clone(),
                limit: self.policy.limits.max_entries,
            });
        }
        let Some(rel) = self.clean(&e.raw)? else { return Ok(()) };
        if self.only.as_ref().is_some_and(|o| !o.contains(&rel)) {
            return Ok(());
        }
        // An early, clear error; the O_NOFOLLOW walk would refuse it anyway.
        if let Some(link) = rel.ancestors().skip(1).find(|a| self.links.contains_key(*a)) {
            return Err(self.refuse(&e.raw, format!("goes through the symlink `{}`", link.display())));
        }
        match e.kind {
            EntryKind::Dir => self.dir(&e.raw, rel, e.mode, e.mtime),
            EntryKind::File => self.file(&e, rel, data),
            EntryKind::Symlink(target) => self.symlink(&e.raw, rel, &target),
            EntryKind::HardLink(target) => self.hardlink(&e.raw, rel, &target),
            EntryKind::Special(what) if self.policy.skip_special_files => {
                self.skipped.push(format!("{} ({what})", e.raw));
                Ok(())
            }
            EntryKind::Special(what) => Err(self.refuse(&e.raw, what)),
            EntryKind::Unsupported(what) => Err(self.refuse(&e.raw, format!("unsupported entry type {what}"))),
        }
    }

    /// Opens the directory holding `rel`, creating missing directories when
    /// `create`; a symlink or file on the way is refused, never followed.
    fn parent<'r>(&self, raw: &str, rel: &'r Path, create: bool) -> Result<(OwnedFd, &'r OsStr), UnpackError> {
        let comps: Vec<&OsStr> = rel.iter().collect();
        let Some((name, dirs)) = comps.split_last() else {
            return Err(self.refuse(raw, "empty path"));
        };
        let mut fd = self.root.try_clone().map_err(io("cannot open", &self.root_path))?;
        for c in dirs {
            fd = self.step(raw, &fd, c, create)?;
        }
        Ok((fd, name))
    }

    fn step(&self, raw: &str, dir: &OwnedFd, name: &OsStr, create: bool) -> Result<OwnedFd, UnpackError> {
        match sys::open_dir(dir.as_fd(), name) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {}
            Err(e) => return Err(self.walk_error(raw, name, e)),
        }
        match sys::mkdir(dir.as_fd(), name) {
            // Another package of the same root may have just made it.
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io("cannot create a directory in", &self.root_path)(e)),
        }
        sys::open_dir(dir.as_fd(), name).map_err(|e| self.walk_error(raw, name, e))
    }

    fn walk_error(&self, raw: &str, name: &OsStr, e: std::io::Error) -> UnpackError {
        match e.raw_os_error() {
            Some(libc::ELOOP) | Some(libc::ENOTDIR) => self.refuse(
                raw,
                format!(
                    "goes through `{}`, a symlink or not a directory",
                    name.to_string_lossy()
                ),
            ),
            _ => io("cannot open a directory in", &self.root_path)(e),
        }
    }

    /// Clears `name` for a new non-directory entry: replaces an old file or
    /// link (tar semantics) or refuses, per policy; never removes a directory.
    fn make_room(&self, raw: &str, dir: &OwnedFd, name: &OsStr) -> Result<(), UnpackError> {
        match sys::kind(dir.as_fd(), name).map_err(io("cannot inspect", &self.root_path))? {
            None => Ok(()),
            Some(Kind::Dir) => Err(self.refuse(raw, "it would replace a directory")),
            Some(_) if !self.policy.replace_duplicates => Err(self.refuse(raw, "duplicate entry")),
            Some(_) => sys::unlink(dir.as_fd(), name, false).map_err(io("cannot replace a file in", &self.root_path)),
        }
    }

    /// A later entry of the same name as a pending link replaces it, or is
    /// refused as a duplicate.
    fn replace_pending(&mut self, raw: &str, rel: &Path) -> Result<(), UnpackError> {
        if self.links.contains_key(rel) {
            if !self.policy.replace_duplicates {
                return Err(self.refuse(raw, "duplicate entry"));
            }
            self.links.remove(rel);
        }
        Ok(())
    }

    fn dir(&mut self, raw: &str, rel: PathBuf, mode: u32, mtime: Option<u64>) -> Result<(), UnpackError> {
        self.replace_pending(raw, &rel)?;
        let (parent, name) = self.parent(raw, &rel, true)?;
        self.step(raw, &parent, name, true)?;
        self.dirs.push((rel, mode, mtime));
        Ok(())
    }

    fn file(&mut self, e: &Entry, rel: PathBuf, data: &mut dyn Read) -> Result<(), UnpackError> {
        let raw = e.raw.as_str();
        if self.bytes.saturating_add(e.size) > self.policy.limits.max_bytes {
            return Err(self.too_many_bytes());
        }
        self.replace_pending(raw, &rel)?;
        let (dir, name) = self.parent(raw, &rel, true)?;
        self.make_room(raw, &dir, name)?;
        let mut out = sys::create_file(dir.as_fd(), name).map_err(io("cannot create a file in", &self.root_path))?;
        self.copy(raw, data, &mut out)?;
        // Permission bits only: no setuid/setgid/sticky. Owner-writable, so
        // the tree can be patched and removed.
        use std::os::unix::fs::PermissionsExt;
        let perm = std::fs::Permissions::from_mode((e.mode & 0o777) | 0o600);
        out.set_permissions(perm)
            .map_err(io("cannot set a mode in", &self.root_path))?;
        if let Some(t) = e.mtime {
            // Autotools trees rely on archive mtimes (configure newer than configure.ac).
            let _ = out.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(t));
        }
        self.files.insert(rel);
        Ok(())
    }

    /// Copies while counting against the byte limit: declared sizes lie.
    fn copy(&mut self, raw: &str, data: &mut dyn Read, out: &mut File) -> Result<(), UnpackError> {
        use std::io::Write;
        let mut buf = vec![0u8; 128 * 1024];
        loop {
            let n = match data.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(corrupt(&self.archive, Some(raw), e)),
            };
            self.bytes += n as u64;
            if self.bytes > self.policy.limits.max_bytes {
                return Err(self.too_many_bytes());
            }
            out.write_all(&buf[..n])
                .map_err(io("cannot write a file in", &self.root_path))?;
        }
    }

    fn symlink(&mut self, raw: &str, rel: PathBuf, target: &str) -> Result<(), UnpackError> {
        if target.is_empty() {
            return Err(self.refuse(raw, "symlink with an empty target"));
        }
        let target = if Path::new(target).is_absolute() {
            if !self.policy.reroot_absolute_links {
                return Err(self.refuse(raw, format!("symlink to the absolute path `{target}`")));
            }
            reroot(&rel, Path::new(target))
        } else {
            PathBuf::from(target)
        };
        if self.links.contains_key(&rel) && !self.policy.replace_duplicates {
            return Err(self.refuse(raw, "duplicate entry"));
        }
        // The name stops being a regular file of ours: no hard links to it.
        self.files.remove(&rel);
        self.links.insert(rel, (target.into_os_string(), raw.to_string()));
        Ok(())
    }

    fn hardlink(&mut self, raw: &str, rel: PathBuf, target: &str) -> Result<(), UnpackError> {
        if !self.policy.hard_links {
            return Err(self.refuse(raw, "hard links are not allowed here"));
        }
        let src = match self.clean(target) {
            Err(_) => return Err(self.refuse(raw, format!("hard link to `{target}`, outside the tree"))),
            Ok(None) => return Err(self.refuse(raw, format!("hard link to `{target}`, removed by strip-components"))),
            Ok(Some(src)) => src,
        };
        if !self.files.contains(&src) || src == rel {
            let why = format!("hard link to `{target}`, which is not a file extracted before it");
            return Err(self.refuse(raw, why));
        }
        self.replace_pending(raw, &rel)?;
        let (from_dir, from) = self.parent(raw, &src, false)?;
        if sys::kind(from_dir.as_fd(), from).map_err(io("cannot inspect", &self.root_path))? != Some(Kind::File) {
            return Err(self.refuse(raw, format!("hard link to `{target}`, which is not a regular file")));
        }
        let (to_dir, to) = self.parent(raw, &rel, true)?;
        self.make_room(raw, &to_dir, to)?;
        sys::link(from_dir.as_fd(), from, to_dir.as_fd(), to).map_err(io("cannot hard-link in", &self.root_path))?;
        self.files.insert(rel);
        Ok(())
    }

    /// Creates the pending symlinks, checks the whole link graph on disk,
    /// then applies directory modes. Returns the entries skipped by policy.
    pub fn finish(mut self) -> Result<Vec<String>, UnpackError> {
        let pending = std::mem::take(&mut self.links);
        // Refused trees are removed by the caller, but an escaping link must
        // not wait for that: nothing may follow it. So on any refusal the
        // links made so far go first.
        if let Err(e) = self.create_links(&pending) {
            self.unlink_links(&pending);
            return Err(e);
        }
        for (rel, (target, raw)) in &pending {
            if let Err(why) = links::resolve_inside(&self.root_path, rel) {
                self.unlink_links(&pending);
                return Err(self.refuse(raw, format!("symlink to `{}` {why}", Path::new(target).display())));
            }
        }
        self.apply_dir_modes();
        Ok(self.skipped)
    }

    /// Path order: a link's parent is created (or found to be a link, and
    /// refused) before anything under it.
    fn create_links(&self, pending: &BTreeMap<PathBuf, (OsString, String)>) -> Result<(), UnpackError> {
        for (rel, (target, raw)) in pending {
            let (dir, name) = self.parent(raw, rel, true)?;
            match sys::kind(dir.as_fd(), name).map_err(io("cannot inspect", &self.root_path))? {
                Some(Kind::Dir) => return Err(self.refuse(raw, "a symlink replaces a directory")),
                Some(_) => self.make_room(raw, &dir, name)?,
                None => {}
            }
            sys::symlink(target, dir.as_fd(), name).map_err(io("cannot create a symlink in", &self.root_path))?;
        }
        Ok(())
    }

    /// Removes the links `finish` created (best effort; their parents are
    /// real directories, opened without following links).
    fn unlink_links(&self, links: &BTreeMap<PathBuf, (OsString, String)>) {
        for (rel, (_, raw)) in links {
            if let Ok((dir, name)) = self.parent(raw, rel, false) {
                let _ = sys::unlink(dir.as_fd(), name, false);
            }
        }
    }

    /// Deepest first, so a read-only parent does not stop its children.
    fn apply_dir_modes(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let mut dirs = std::mem::take(&mut self.dirs);
        dirs.sort_by_key(|(p, _, _)| std::cmp::Reverse(p.components().count()));
        for (rel, mode, mtime) in dirs {
            let Ok((parent, name)) = self.parent("", &rel, false) else {
                continue;
            };
            let Ok(fd) = sys::open_dir(parent.as_fd(), name) else {
                continue;
            };
            let dir = File::from(fd);
            let _ = dir.set_permissions(std::fs::Permissions::from_mode((mode & 0o777) | 0o700));
            if let Some(t) = mtime {
                let _ = dir.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(t));
            }
        }
    }
}

/// Components of a relative entry path; `.` dropped, anything absolute or
/// with `..` refused (even when it would stay inside: no archive needs it).
pub fn relative_components(raw: &str) -> Result<Vec<OsString>, &'static str> {
    let mut out = Vec::new();
    for c in Path::new(raw).components() {
        match c {
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::CurDir => {}
            Component::ParentDir => return Err("path contains `..`, which could lead outside the tree"),
            Component::RootDir | Component::Prefix(_) => return Err("absolute path, outside the tree"),
        }
    }
    Ok(out)
}

/// An absolute link target made relative to the link's directory, so it
/// resolves inside the root (`a/b/l -> /c/d` becomes `../../c/d`).
fn reroot(link: &Path, target: &Path) -> PathBuf {
    let depth = link.components().count().saturating_sub(1);
    let mut rel: PathBuf = std::iter::repeat_n("..", depth).collect();
    for c in target.components() {
        if let Component::Normal(n) = c {
            rel.push(n);
        }
    }
    if rel.as_os_str().is_empty() {
        rel.push(".");
    }
    rel
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths() {
        assert!(relative_components("/etc/passwd").is_err());
        assert!(relative_components("a/../../b").is_err());
        assert_eq!(relative_components("./a//b/").map(|v| v.len()), Ok(2));
    }

    #[test]
    fn absolute_targets_are_rerooted() {
        assert_eq!(
            reroot(Path::new("lib64"), Path::new("/usr/lib64")),
            Path::new("usr/lib64")
        );
        assert_eq!(reroot(Path::new("a/b/l"), Path::new("/c/d")), Path::new("../../c/d"));
        assert_eq!(reroot(Path::new("l"), Path::new("/")), Path::new("."));
    }
}
