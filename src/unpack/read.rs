//! Format readers: turn tar and zip entries into the core's `Entry` and
//! feed them to a `Tree`. No safety decision is made here.

use std::io::{Read, Seek};

use super::ar::BoxRead;
use super::tree::{Entry, EntryKind, Tree};
use super::{UnpackError, corrupt};

/// Longest symlink target we read from a zip entry's data (PATH_MAX).
const MAX_LINK: u64 = 4096;

pub fn tar_into(tree: &mut Tree, r: BoxRead) -> Result<(), UnpackError> {
    let archive = tree.archive().to_path_buf();
    let mut ar = tar::Archive::new(super::guard::MetadataGuard::new(r));
    let entries = ar.entries().map_err(|e| corrupt(&archive, None, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| corrupt(&archive, None, e))?;
        // The tar crate has already applied PAX and GNU long names here.
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let header = entry.header();
        // A pax global header (`git archive` puts the commit id there) is
        // metadata for the whole archive, not a file.
        if header.entry_type() == tar::EntryType::XGlobalHeader {
            continue;
        }
        let kind = tar_kind(tree, &raw, header.entry_type(), entry.link_name_bytes().as_deref())?;
        let mut size = entry.size();
        if let Some(real) = header.as_gnu().and_then(|g| g.real_size().ok())
            && header.entry_type().is_gnu_sparse()
        {
            // A sparse file claims its real size, holes included.
            size = size.max(real);
        }
        let e = Entry {
            mode: header.mode().unwrap_or(0o644),
            mtime: header.mtime().ok(),
            raw,
            kind,
            size,
        };
        tree.add(e, &mut entry)?;
    }
    Ok(())
}

fn tar_kind(tree: &Tree, raw: &str, t: tar::EntryType, link: Option<&[u8]>) -> Result<EntryKind, UnpackError> {
    use tar::EntryType as T;
    let link = || String::from_utf8_lossy(link.unwrap_or_default()).into_owned();
    Ok(match t {
        T::Regular | T::Continuous => EntryKind::File,
        T::GNUSparse if tree.sparse_files() => EntryKind::File,
        T::GNUSparse => return Err(tree.refuse(raw, "sparse files are not allowed here")),
        T::Directory => EntryKind::Dir,
        T::Symlink => EntryKind::Symlink(link()),
        T::Link => EntryKind::HardLink(link()),
        T::Char | T::Block => EntryKind::Special("device node"),
        T::Fifo => EntryKind::Special("named pipe (fifo)"),
        other => EntryKind::Unsupported(format!("{other:?}")),
    })
}

pub fn zip_into<R: Read + Seek>(tree: &mut Tree, r: R) -> Result<(), UnpackError> {
    let archive = tree.archive().to_path_buf();
    let mut zip = zip::ZipArchive::new(r).map_err(|e| corrupt(&archive, None, e))?;
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).map_err(|e| corrupt(&archive, None, e))?;
        let raw = String::from_utf8_lossy(f.name_raw()).into_owned();
        let mode = f.unix_mode();
        // The file type is in the upper bits of the unix mode, when present.
        let kind = match mode.map(|m| m & libc::S_IFMT) {
            Some(libc::S_IFLNK) => {
                let mut target = String::new();
                (&mut f)
                    .take(MAX_LINK)
                    .read_to_string(&mut target)
                    .map_err(|e| corrupt(&archive, Some(&raw), e))?;
                EntryKind::Symlink(target)
            }
            Some(libc::S_IFDIR) => EntryKind::Dir,
            Some(libc::S_IFCHR) | Some(libc::S_IFBLK) => EntryKind::Special("device node"),
            Some(libc::S_IFIFO) => EntryKind::Special("named pipe (fifo)"),
            Some(libc::S_IFSOCK) => EntryKind::Special("socket"),
            _ if f.is_dir() => EntryKind::Dir,
            _ => EntryKind::File,
        };
        let default = if matches!(kind, EntryKind::Dir) { 0o755 } else { 0o644 };
        let e = Entry {
            raw,
            kind,
            mode: mode.unwrap_or(default),
            mtime: None,
            size: f.size(),
        };
        tree.add(e, &mut f)?;
    }
    Ok(())
}
