//! Safe extraction of source archives: tar (plain, gz, xz, bz2, zst), zip and
//! Debian `.deb` (the `data.tar.*` member), with strip-components.
//!
//! Archives come from the network, so every entry is checked: absolute paths,
//! `..`, links resolving outside the tree and device nodes are refused, and
//! nothing is ever written through a symlink (symlinks are created last, after
//! their targets were resolved against the archive's own links). Extraction
//! happens in a fresh temporary directory renamed into place at the end.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use miette::Diagnostic;
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum ArchiveError {
    #[error("refusing entry `{entry}` of {}: {reason}", archive.display())]
    #[diagnostic(
        code(recipe::archive::unsafe_entry),
        help("the archive tries to write outside its directory or create a special file; check where it came from")
    )]
    Unsafe {
        archive: PathBuf,
        entry: String,
        reason: String,
    },

    #[error("cannot tell the format of {}", archive.display())]
    #[diagnostic(
        code(recipe::archive::unknown_format),
        help(
            "supported: .tar, .tar.gz/.tgz, .tar.xz/.txz, .tar.bz2/.tbz2, .tar.zst/.tzst, .zip, .deb; use `extract #false` for other files"
        )
    )]
    UnknownFormat { archive: PathBuf },

    #[error("cannot read {}{}: {reason}", archive.display(), entry.as_ref().map(|e| format!(" (entry `{e}`)")).unwrap_or_default())]
    #[diagnostic(code(recipe::archive::corrupt))]
    Corrupt {
        archive: PathBuf,
        entry: Option<String>,
        reason: String,
    },

    #[error("{what} {}", path.display())]
    #[diagnostic(code(recipe::archive::io))]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ArchiveError {
    let path = path.to_path_buf();
    move |source| ArchiveError::Io { what, path, source }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Bzip2,
    Zstd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Tar(Compression),
    Zip,
    Deb,
}

/// The format from the file name, as source archives are named.
pub fn detect(name: &str) -> Option<Format> {
    let n = name.to_ascii_lowercase();
    let tar = |suffixes: &[&str], c| suffixes.iter().any(|s| n.ends_with(s)).then_some(Format::Tar(c));
    tar(&[".tar.gz", ".tgz"], Compression::Gzip)
        .or_else(|| tar(&[".tar.xz", ".txz"], Compression::Xz))
        .or_else(|| tar(&[".tar.bz2", ".tbz2", ".tbz"], Compression::Bzip2))
        .or_else(|| tar(&[".tar.zst", ".tzst"], Compression::Zstd))
        .or_else(|| tar(&[".tar"], Compression::None))
        .or_else(|| n.ends_with(".zip").then_some(Format::Zip))
        .or_else(|| n.ends_with(".deb").then_some(Format::Deb))
}

/// Extracts `archive` into `dest`, which must not exist yet, dropping the
/// first `strip` path components of every entry. On error nothing is left at
/// `dest` (the partial tree in the temporary directory is removed).
pub fn extract(archive: &Path, dest: &Path, strip: u32) -> Result<(), ArchiveError> {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let format = detect(&name).ok_or_else(|| ArchiveError::UnknownFormat {
        archive: archive.to_path_buf(),
    })?;
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
    let tmp = tempdir_in(parent, dest)?;
    let result = unpack(archive, format, &tmp, strip)
        .and_then(|()| std::fs::rename(&tmp, dest).map_err(io("cannot move into place", dest)));
    if result.is_err() {
        let _ = make_writable_and_remove(&tmp);
    }
    result
}

/// A uniquely named empty directory next to `dest`.
fn tempdir_in(parent: &Path, dest: &Path) -> Result<PathBuf, ArchiveError> {
    let base = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for n in 0..1000u32 {
        let p = parent.join(format!(".{base}.extract-{}-{n}", std::process::id()));
        match std::fs::create_dir(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io("cannot create", &p)(e)),
        }
    }
    Err(io("cannot create a temporary directory in", parent)(
        std::io::Error::other("too many leftovers"),
    ))
}

/// Removes a tree even when the archive made some directories read-only.
pub fn make_writable_and_remove(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fn walk(p: &Path) {
        if let Ok(meta) = std::fs::symlink_metadata(p)
            && meta.is_dir()
        {
            let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755));
            if let Ok(rd) = std::fs::read_dir(p) {
                for e in rd.flatten() {
                    walk(&e.path());
                }
            }
        }
    }
    walk(path);
    std::fs::remove_dir_all(path)
}

/// Unpacks into `root`, an existing empty directory.
pub fn unpack(archive: &Path, format: Format, root: &Path, strip: u32) -> Result<(), ArchiveError> {
    let file = File::open(archive).map_err(io("cannot open", archive))?;
    let reader = BufReader::with_capacity(256 * 1024, file);
    let mut u = Unpacker::new(archive, root, strip);
    match format {
        Format::Tar(c) => unpack_tar(&mut u, decompress(archive, c, Box::new(reader))?)?,
        Format::Zip => unpack_zip(&mut u)?,
        Format::Deb => {
            let (member, data) = deb_data(archive, reader)?;
            let c = match detect(&member) {
                Some(Format::Tar(c)) => c,
                _ => return Err(corrupt(archive, None, format!("unsupported member {member}"))),
            };
            unpack_tar(&mut u, decompress(archive, c, data)?)?;
        }
    }
    u.finish()
}

fn corrupt(archive: &Path, entry: Option<String>, reason: impl ToString) -> ArchiveError {
    ArchiveError::Corrupt {
        archive: archive.to_path_buf(),
        entry,
        reason: reason.to_string(),
    }
}

type BoxRead<'a> = Box<dyn Read + 'a>;

fn decompress<'a>(archive: &Path, c: Compression, r: BoxRead<'a>) -> Result<BoxRead<'a>, ArchiveError> {
    Ok(match c {
        Compression::None => r,
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Xz => Box::new(lzma_rust2::XzReader::new(r, true)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(r)),
        Compression::Zstd => {
            Box::new(ruzstd::decoding::StreamingDecoder::new(r).map_err(|e| corrupt(archive, None, e))?)
        }
    })
}

/// The `data.tar.*` member of a `.deb` (an `ar` archive): its name and a
/// reader limited to its bytes. The ar format is three fixed-width header
/// fields and data padded to an even size: simpler than a dependency.
fn deb_data<'a, R: Read + 'a>(archive: &Path, mut r: R) -> Result<(String, BoxRead<'a>), ArchiveError> {
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic).map_err(|e| corrupt(archive, None, e))?;
    if &magic != b"!<arch>\n" {
        return Err(corrupt(archive, None, "not an ar archive (bad magic)"));
    }
    loop {
        let mut header = [0u8; 60];
        if let Err(e) = r.read_exact(&mut header) {
            return Err(corrupt(archive, None, format!("no data.tar member ({e})")));
        }
        let name = String::from_utf8_lossy(&header[..16])
            .trim_end()
            .trim_end_matches('/')
            .to_string();
        let size: u64 = String::from_utf8_lossy(&header[48..58])
            .trim()
            .parse()
            .map_err(|_| corrupt(archive, Some(name.clone()), "bad member size"))?;
        if name.starts_with("data.tar") {
            return Ok((name, Box::new(r.take(size))));
        }
        let skip = size + size % 2;
        let skipped =
            std::io::copy(&mut (&mut r).take(skip), &mut std::io::sink()).map_err(|e| corrupt(archive, None, e))?;
        if skipped != skip {
            return Err(corrupt(archive, Some(name), "truncated member"));
        }
    }
}

fn unpack_tar(u: &mut Unpacker, r: BoxRead) -> Result<(), ArchiveError> {
    use tar::EntryType;
    let archive = u.archive.clone();
    let mut ar = tar::Archive::new(r);
    let entries = ar.entries().map_err(|e| corrupt(&archive, None, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| corrupt(&archive, None, e))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader | EntryType::XHeader | EntryType::GNULongName | EntryType::GNULongLink
        ) {
            continue;
        }
        let Some(rel) = u.clean(&raw)? else { continue };
        let mode = entry.header().mode().unwrap_or(0o644);
        let mtime = entry.header().mtime().ok();
        match kind {
            EntryType::Directory => u.dir(&raw, rel, mode, mtime)?,
            EntryType::Regular | EntryType::Continuous => u.file(&raw, rel, mode, mtime, &mut entry)?,
            EntryType::Symlink | EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                if kind == EntryType::Symlink {
                    u.symlink(&raw, rel, &target)?;
                } else {
                    u.hardlink(&raw, rel, &target)?;
                }
            }
            EntryType::Char | EntryType::Block => return Err(u.refuse(&raw, "device node")),
            EntryType::Fifo => return Err(u.refuse(&raw, "named pipe (fifo)")),
            other => return Err(u.refuse(&raw, &format!("unsupported entry type {other:?}"))),
        }
    }
    Ok(())
}

fn unpack_zip(u: &mut Unpacker) -> Result<(), ArchiveError> {
    let archive = u.archive.clone();
    let file = File::open(&archive).map_err(io("cannot open", &archive))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| corrupt(&archive, None, e))?;
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).map_err(|e| corrupt(&archive, None, e))?;
        let raw = String::from_utf8_lossy(f.name_raw()).into_owned();
        let Some(rel) = u.clean(&raw)? else { continue };
        let mode = f.unix_mode();
        if f.is_symlink() {
            let mut target = String::new();
            f.read_to_string(&mut target)
                .map_err(|e| corrupt(&archive, Some(raw.clone()), e))?;
            u.symlink(&raw, rel, &target)?;
        } else if f.is_dir() {
            u.dir(&raw, rel, mode.unwrap_or(0o755), None)?;
        } else {
            u.file(&raw, rel, mode.unwrap_or(0o644), None, &mut f)?;
        }
    }
    Ok(())
}

/// Writes entries under `root` and remembers what it needs to finish:
/// symlinks (created last) and directory modes (applied last, deepest first).
struct Unpacker {
    archive: PathBuf,
    root: PathBuf,
    strip: u32,
    /// Pending symlinks: path → target; `raw` names them in errors.
    symlinks: BTreeMap<PathBuf, PathBuf>,
    raw_names: BTreeMap<PathBuf, String>,
    files: HashSet<PathBuf>,
    dirs: Vec<(PathBuf, u32, Option<u64>)>,
}

impl Unpacker {
    fn new(archive: &Path, root: &Path, strip: u32) -> Unpacker {
        Unpacker {
            archive: archive.to_path_buf(),
            root: root.to_path_buf(),
            strip,
            symlinks: BTreeMap::new(),
            raw_names: BTreeMap::new(),
            files: HashSet::new(),
            dirs: Vec::new(),
        }
    }

    fn refuse(&self, entry: &str, reason: &str) -> ArchiveError {
        ArchiveError::Unsafe {
            archive: self.archive.clone(),
            entry: entry.to_string(),
            reason: reason.to_string(),
        }
    }

    /// The entry's path relative to the root after stripping, `None` when
    /// stripping leaves nothing. Absolute paths and `..` are refused outright.
    fn clean(&self, raw: &str) -> Result<Option<PathBuf>, ArchiveError> {
        let rel = relative_components(raw).map_err(|why| self.refuse(raw, why))?;
        let kept: PathBuf = rel.into_iter().skip(self.strip as usize).collect();
        Ok((!kept.as_os_str().is_empty()).then_some(kept))
    }

    /// Refuses writing under a path that is (or will be) a symlink.
    fn check_parents(&self, raw: &str, rel: &Path) -> Result<(), ArchiveError> {
        for anc in rel.ancestors().skip(1) {
            if self.symlinks.contains_key(anc) {
                return Err(self.refuse(raw, &format!("goes through the symlink `{}`", anc.display())));
            }
        }
        Ok(())
    }

    fn dir(&mut self, raw: &str, rel: PathBuf, mode: u32, mtime: Option<u64>) -> Result<(), ArchiveError> {
        self.check_parents(raw, &rel)?;
        let path = self.root.join(&rel);
        std::fs::create_dir_all(&path).map_err(io("cannot create", &path))?;
        self.dirs.push((rel, mode, mtime));
        Ok(())
    }

    fn file(
        &mut self,
        raw: &str,
        rel: PathBuf,
        mode: u32,
        mtime: Option<u64>,
        data: &mut dyn Read,
    ) -> Result<(), ArchiveError> {
        use std::os::unix::fs::PermissionsExt;
        self.check_parents(raw, &rel)?;
        // A later entry replaces an earlier symlink of the same name (tar semantics).
        self.symlinks.remove(&rel);
        let path = self.root.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
        }
        // Never write through an existing name: it may be a hard link to another file.
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => return Err(self.refuse(raw, "a file replaces a directory")),
            Ok(_) => std::fs::remove_file(&path).map_err(io("cannot replace", &path))?,
            Err(_) => {}
        }
        let mut out = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io("cannot create", &path))?;
        std::io::copy(data, &mut out).map_err(|e| corrupt(&self.archive, Some(raw.to_string()), e))?;
        // Permission bits only (no setuid/setgid/sticky), always owner-writable
        // so the tree can be patched and removed.
        let perm = (mode & 0o777) | 0o600;
        out.set_permissions(std::fs::Permissions::from_mode(perm))
            .map_err(io("cannot set mode of", &path))?;
        if let Some(t) = mtime {
            // Autotools trees rely on archive mtimes (configure newer than configure.ac).
            let _ = out.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(t));
        }
        self.files.insert(rel);
        Ok(())
    }

    fn symlink(&mut self, raw: &str, rel: PathBuf, target: &str) -> Result<(), ArchiveError> {
        self.check_parents(raw, &rel)?;
        if target.is_empty() {
            return Err(self.refuse(raw, "symlink with an empty target"));
        }
        if Path::new(target).is_absolute() {
            return Err(self.refuse(raw, &format!("symlink to the absolute path `{target}`")));
        }
        self.files.remove(&rel);
        self.raw_names.insert(rel.clone(), raw.to_string());
        self.symlinks.insert(rel, PathBuf::from(target));
        Ok(())
    }

    fn hardlink(&mut self, raw: &str, rel: PathBuf, target: &str) -> Result<(), ArchiveError> {
        self.check_parents(raw, &rel)?;
        let Some(src) = self
            .clean(target)
            .map_err(|_| self.refuse(raw, &format!("hard link to `{target}`, outside the tree")))?
        else {
            return Err(self.refuse(raw, &format!("hard link to `{target}`, removed by strip-components")));
        };
        if !self.files.contains(&src) {
            return Err(self.refuse(
                raw,
                &format!("hard link to `{target}`, which is not a file extracted before it"),
            ));
        }
        let (from, to) = (self.root.join(&src), self.root.join(&rel));
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
        }
        if std::fs::symlink_metadata(&to).is_ok() {
            std::fs::remove_file(&to).map_err(io("cannot replace", &to))?;
        }
        std::fs::hard_link(&from, &to).map_err(io("cannot link", &to))?;
        self.files.insert(rel);
        Ok(())
    }

    /// Checks and creates the symlinks, then applies directory modes.
    fn finish(self) -> Result<(), ArchiveError> {
        use std::os::unix::fs::PermissionsExt;
        for (link, target) in &self.symlinks {
            let raw = self
                .raw_names
                .get(link)
                .cloned()
                .unwrap_or_else(|| link.display().to_string());
            let base: Vec<OsString> = link
                .parent()
                .map(|p| p.iter().map(OsString::from).collect())
                .unwrap_or_default();
            resolve(&self.symlinks, base, target, &mut 0)
                .map_err(|why| self.refuse(&raw, &format!("symlink to `{}` {why}", target.display())))?;
            let path = self.root.join(link);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
            }
            if let Ok(m) = std::fs::symlink_metadata(&path) {
                if m.is_dir() {
                    return Err(self.refuse(&raw, "a symlink replaces a directory"));
                }
                std::fs::remove_file(&path).map_err(io("cannot replace", &path))?;
            }
            std::os::unix::fs::symlink(target, &path).map_err(io("cannot create symlink", &path))?;
        }
        let mut dirs = self.dirs;
        dirs.sort_by_key(|(p, _, _)| std::cmp::Reverse(p.components().count()));
        for (rel, mode, mtime) in dirs {
            let path = self.root.join(&rel);
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode((mode & 0o777) | 0o700));
            if let (Some(t), Ok(f)) = (mtime, File::open(&path)) {
                let _ = f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(t));
            }
        }
        Ok(())
    }
}

/// Components of a relative entry path; `.` dropped, anything absolute or
/// with `..` refused (even when it would stay inside: no archive needs it).
fn relative_components(raw: &str) -> Result<Vec<OsString>, &'static str> {
    let mut out = Vec::new();
    for c in Path::new(raw).components() {
        match c {
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::CurDir => {}
            Component::ParentDir => return Err("path contains `..`"),
            Component::RootDir | Component::Prefix(_) => return Err("absolute path"),
        }
    }
    Ok(out)
}

/// Resolves `target` from directory `base` (components under the root),
/// following the archive's own symlinks as the kernel would. Fails when the
/// walk leaves the root at any point.
fn resolve(
    links: &BTreeMap<PathBuf, PathBuf>,
    mut cur: Vec<OsString>,
    target: &Path,
    depth: &mut u32,
) -> Result<Vec<OsString>, String> {
    for c in target.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => return Err("is absolute".into()),
            Component::CurDir => {}
            Component::ParentDir => {
                if cur.pop().is_none() {
                    return Err("resolves outside the tree".into());
                }
            }
            Component::Normal(n) => {
                cur.push(n.to_os_string());
                let here: PathBuf = cur.iter().collect();
                if let Some(next) = links.get(&here) {
                    *depth += 1;
                    if *depth > 40 {
                        return Err("has too many levels of symlinks".into());
                    }
                    cur.pop();
                    cur = resolve(links, cur, next, depth)?;
                }
            }
        }
    }
    Ok(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_name() {
        assert_eq!(detect("a_1.0.orig.tar.gz"), Some(Format::Tar(Compression::Gzip)));
        assert_eq!(detect("a.tar.xz"), Some(Format::Tar(Compression::Xz)));
        assert_eq!(detect("a.TBZ2"), Some(Format::Tar(Compression::Bzip2)));
        assert_eq!(detect("a.tar.zst"), Some(Format::Tar(Compression::Zstd)));
        assert_eq!(detect("w.zip"), Some(Format::Zip));
        assert_eq!(detect("p_1_armhf.deb"), Some(Format::Deb));
        assert_eq!(detect("x.patch"), None);
    }

    #[test]
    fn symlink_resolution_follows_links() {
        let mut links = BTreeMap::new();
        links.insert(PathBuf::from("x"), PathBuf::from("."));
        links.insert(PathBuf::from("deep"), PathBuf::from("a/b/c"));
        let root = Vec::new();
        assert!(resolve(&links, root.clone(), Path::new("x/.."), &mut 0).is_err());
        assert!(resolve(&links, root.clone(), Path::new("deep/../.."), &mut 0).is_ok());
        assert!(resolve(&links, root.clone(), Path::new("deep/../../../.."), &mut 0).is_err());
        links.insert(PathBuf::from("loop"), PathBuf::from("loop"));
        assert!(resolve(&links, root, Path::new("loop"), &mut 0).is_err());
    }

    #[test]
    fn entry_paths() {
        assert!(relative_components("/etc/passwd").is_err());
        assert!(relative_components("a/../../b").is_err());
        assert_eq!(relative_components("./a//b/").unwrap().len(), 2);
    }
}
