//! One safe unpacker for everything `recipe` unpacks: source archives (tar
//! in any compression, zip, `.deb`), `.deb` data for root filesystems
//! (sysroots, toolchains, qemu, target roots) and remote cache entries.
//!
//! Archives are hostile until proven otherwise. The core (`tree`) walks
//! every path one component at a time from a directory fd with
//! `O_NOFOLLOW`, so nothing is ever created, written or deleted through a
//! symlink, whatever order the entries come in; symlinks are created only
//! after every other entry, and then the whole link graph is resolved
//! against the real tree. What differs between uses is a [`Policy`].

mod ar;
pub mod deb;
mod guard;
mod links;
mod read;
mod sys;
mod tree;

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use miette::Diagnostic;
use thiserror::Error;

pub use ar::{Compression, decompressor};

#[derive(Debug, Error, Diagnostic)]
pub enum UnpackError {
    #[error("refusing entry `{entry}` of {}: {reason}", archive.display())]
    #[diagnostic(
        code(recipe::unpack::unsafe_entry),
        help("the archive tries to write outside its directory or create a special file; check where it came from")
    )]
    Unsafe {
        archive: PathBuf,
        entry: String,
        reason: String,
    },

    #[error("cannot tell the format of {}", archive.display())]
    #[diagnostic(
        code(recipe::unpack::unknown_format),
        help(
            "supported: .tar, .tar.gz/.tgz, .tar.xz/.txz, .tar.bz2/.tbz2, .tar.zst/.tzst, .zip/.whl, .deb; use `extract #false` for other files"
        )
    )]
    UnknownFormat { archive: PathBuf },

    #[error("cannot read {}{}: {reason}", archive.display(), entry.as_ref().map(|e| format!(" (entry `{e}`)")).unwrap_or_default())]
    #[diagnostic(code(recipe::unpack::corrupt))]
    Corrupt {
        archive: PathBuf,
        entry: Option<String>,
        reason: String,
    },

    #[error("{} has more than {limit} entries", archive.display())]
    #[diagnostic(
        code(recipe::unpack::too_many_entries),
        help("a decompression bomb, or an archive far larger than any source or package needs")
    )]
    TooManyEntries { archive: PathBuf, limit: u64 },

    #[error("{} unpacks to more than {limit} bytes", archive.display())]
    #[diagnostic(
        code(recipe::unpack::too_many_bytes),
        help("a decompression bomb, or an archive far larger than any source or package needs")
    )]
    TooManyBytes { archive: PathBuf, limit: u64 },

    #[error("{what} {}", path.display())]
    #[diagnostic(code(recipe::unpack::io))]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub(crate) fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> UnpackError {
    let path = path.to_path_buf();
    move |source| UnpackError::Io { what, path, source }
}

pub(crate) fn corrupt(archive: &Path, entry: Option<&str>, reason: impl ToString) -> UnpackError {
    UnpackError::Corrupt {
        archive: archive.to_path_buf(),
        entry: entry.map(str::to_string),
        reason: reason.to_string(),
    }
}

/// Bounds against decompression bombs, per archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_entries: u64,
    /// Total bytes of file data written (sparse holes included).
    pub max_bytes: u64,
}

impl Default for Limits {
    /// Far above the largest tree we unpack (a Go toolchain: ~15k entries, ~300 MB).
    fn default() -> Limits {
        Limits {
            max_entries: 1_000_000,
            max_bytes: 16 << 30,
        }
    }
}

/// What one use of the unpacker accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Absolute symlink targets: refused, or re-rooted (made relative to
    /// the root, so they resolve inside it, never on the host).
    pub reroot_absolute_links: bool,
    /// Device nodes and fifos: skipped (root filesystems) or refused.
    pub skip_special_files: bool,
    /// A later entry of the same name replaces the earlier (tar semantics),
    /// or duplicates are refused.
    pub replace_duplicates: bool,
    pub hard_links: bool,
    pub sparse_files: bool,
    pub limits: Limits,
}

impl Policy {
    /// Source trees: only relative links that stay inside.
    pub fn source() -> Policy {
        Policy {
            reroot_absolute_links: false,
            skip_special_files: false,
            replace_duplicates: true,
            hard_links: true,
            sparse_files: true,
            limits: Limits::default(),
        }
    }

    /// Root filesystems from `.deb` data: absolute links re-rooted, device
    /// nodes skipped (no place in a sysroot, and we are not root).
    pub fn rootfs() -> Policy {
        Policy {
            reroot_absolute_links: true,
            skip_special_files: true,
            ..Policy::source()
        }
    }

    /// Remote cache entries: exactly what `remote::pack` writes, nothing else.
    pub fn cache() -> Policy {
        Policy {
            reroot_absolute_links: false,
            skip_special_files: false,
            replace_duplicates: false,
            hard_links: false,
            sparse_files: false,
            limits: Limits::default(),
        }
    }

    pub fn limits(mut self, limits: Limits) -> Policy {
        self.limits = limits;
        self
    }
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
    Compression::from_tar_name(&n)
        .map(Format::Tar)
        // Wheels are zip files (PEP 427).
        .or_else(|| (n.ends_with(".zip") || n.ends_with(".whl")).then_some(Format::Zip))
        .or_else(|| n.ends_with(".deb").then_some(Format::Deb))
}

/// Extracts a source archive into `dest`, which must not exist yet,
/// dropping the first `strip` components of every entry.
pub fn extract(archive: &Path, dest: &Path, strip: u32) -> Result<(), UnpackError> {
    extract_with(archive, dest, strip, &Policy::source())
}

/// [`extract`] with a policy. The tree is built in a temporary directory
/// beside `dest` and renamed into place: on error nothing is left behind.
pub fn extract_with(archive: &Path, dest: &Path, strip: u32, policy: &Policy) -> Result<(), UnpackError> {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let format = detect(&name).ok_or_else(|| UnpackError::UnknownFormat {
        archive: archive.to_path_buf(),
    })?;
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
    let tmp = tempdir_beside(parent, dest)?;
    let result = unpack_with(archive, format, &tmp, strip, policy)
        .and_then(|()| std::fs::rename(&tmp, dest).map_err(io("cannot move into place", dest)));
    if result.is_err() {
        let _ = make_writable_and_remove(&tmp);
    }
    result
}

/// A uniquely named empty directory next to `dest`.
fn tempdir_beside(parent: &Path, dest: &Path) -> Result<PathBuf, UnpackError> {
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

/// Unpacks a source archive into `root`, an existing empty directory owned
/// by the caller (who removes it on error).
pub fn unpack(archive: &Path, format: Format, root: &Path, strip: u32) -> Result<(), UnpackError> {
    unpack_with(archive, format, root, strip, &Policy::source())
}

fn unpack_with(archive: &Path, format: Format, root: &Path, strip: u32, policy: &Policy) -> Result<(), UnpackError> {
    let file = File::open(archive).map_err(io("cannot open", archive))?;
    let reader = BufReader::with_capacity(256 * 1024, file);
    let mut tree = tree::Tree::new(root, archive, policy, strip)?;
    match format {
        Format::Tar(c) => {
            let data = decompressor(c, Box::new(reader)).map_err(|e| corrupt(archive, None, e))?;
            read::tar_into(&mut tree, data)?;
        }
        Format::Zip => read::zip_into(&mut tree, reader)?,
        Format::Deb => {
            let data = ar::deb_data(reader).map_err(|e| corrupt(archive, None, e))?;
            read::tar_into(&mut tree, data)?;
        }
    }
    tree.finish().map(drop)
}

/// Unpacks a remote cache entry (a plain tar) into `root`, an existing empty
/// directory owned by the caller.
pub fn cache_entry<R: Read>(reader: R, root: &Path, policy: &Policy) -> Result<(), UnpackError> {
    let mut tree = tree::Tree::new(root, Path::new("the cache entry"), policy, 0)?;
    read::tar_into(&mut tree, Box::new(reader))?;
    tree.finish().map(drop)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_name() {
        assert_eq!(detect("a_1.0.orig.tar.gz"), Some(Format::Tar(Compression::Gzip)));
        assert_eq!(detect("a.tar.xz"), Some(Format::Tar(Compression::Xz)));
        assert_eq!(detect("a.TBZ2"), Some(Format::Tar(Compression::Bzip2)));
        assert_eq!(detect("a.tar.zst"), Some(Format::Tar(Compression::Zstd)));
        assert_eq!(detect("a.tar"), Some(Format::Tar(Compression::None)));
        assert_eq!(detect("w.zip"), Some(Format::Zip));
        assert_eq!(
            detect("cffi-1.17.1-cp313-cp313-manylinux_2_17_armv7l.whl"),
            Some(Format::Zip)
        );
        assert_eq!(detect("p_1_armhf.deb"), Some(Format::Deb));
        assert_eq!(detect("x.patch"), None);
    }
}
