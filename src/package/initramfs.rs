//! A deterministic initramfs writer: a `newc` cpio archive (the format the
//! kernel unpacks), gzip-compressed. Entries are sorted by path, owned by
//! root, with mtime 0 and sequential inode numbers, so the same tree gives
//! the same bytes. Device nodes are written as archive entries, which needs
//! no privileges (the kernel creates them when it unpacks).

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir { mode: u32 },
    File { mode: u32, data: Vec<u8> },
    Symlink { target: String },
    CharDev { mode: u32, major: u32, minor: u32 },
}

/// The tree to archive, keyed by path relative to `/` (no leading slash).
#[derive(Debug, Default, Clone)]
pub struct Initramfs {
    nodes: BTreeMap<String, Node>,
}

#[derive(Debug, thiserror::Error)]
pub enum InitramfsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the image: {0}")]
    Write(#[from] std::io::Error),
    #[error("`{0}` is not a relative path inside the image")]
    BadPath(String),
    #[error("{path} in the image is a {existing}, not a directory")]
    NotDir { path: String, existing: &'static str },
}

fn kind_name(n: &Node) -> &'static str {
    match n {
        Node::Dir { .. } => "directory",
        Node::File { .. } => "file",
        Node::Symlink { .. } => "symlink",
        Node::CharDev { .. } => "device",
    }
}

fn clean(path: &str) -> Result<String, InitramfsError> {
    let p = path.trim_start_matches('/');
    let ok = !p.is_empty() && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..") && !p.contains('\0');
    if ok {
        Ok(p.to_string())
    } else {
        Err(InitramfsError::BadPath(path.to_string()))
    }
}

impl Initramfs {
    pub fn new() -> Initramfs {
        Initramfs::default()
    }

    /// Adds (or replaces) `path`, creating missing parent directories (0755).
    pub fn insert(&mut self, path: &str, node: Node) -> Result<(), InitramfsError> {
        let p = clean(path)?;
        let mut parent = String::new();
        for comp in p
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .map(|(_, rest)| rest)
            .unwrap_or(&[])
        {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(comp);
            match self.nodes.get(&parent) {
                None => {
                    self.nodes.insert(parent.clone(), Node::Dir { mode: 0o755 });
                }
                Some(Node::Dir { .. }) => {}
                Some(other) => {
                    return Err(InitramfsError::NotDir {
                        path: parent,
                        existing: kind_name(other),
                    });
                }
            }
        }
        self.nodes.insert(p, node);
        Ok(())
    }

    /// Adds a directory tree of the build machine under `prefix` ("" for
    /// `/`): files with their permission bits, symlinks as they are (never
    /// followed), directories. Other file types and names in `skip` (at the
    /// top) are left out.
    pub fn add_tree(&mut self, dir: &Path, prefix: &str, skip: &[&str]) -> Result<(), InitramfsError> {
        let read_err = |p: &Path| {
            let path = p.display().to_string();
            move |source| InitramfsError::Read { path, source }
        };
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(read_err(dir))?
            .collect::<Result<_, _>>()
            .map_err(read_err(dir))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            if prefix.is_empty() && skip.contains(&name.as_str()) {
                continue;
            }
            let path = e.path();
            let inside = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let meta = std::fs::symlink_metadata(&path).map_err(read_err(&path))?;
            let mode = meta.permissions().mode() & 0o7777;
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).map_err(read_err(&path))?;
                let target = target.to_string_lossy().into_owned();
                self.insert(&inside, Node::Symlink { target })?;
            } else if meta.is_dir() {
                self.insert(&inside, Node::Dir { mode })?;
                self.add_tree(&path, &inside, skip)?;
            } else if meta.is_file() {
                let data = std::fs::read(&path).map_err(read_err(&path))?;
                self.insert(&inside, Node::File { mode, data })?;
            }
        }
        Ok(())
    }

    /// Whether `path` is a directory of the tree.
    pub fn is_dir(&self, path: &str) -> bool {
        clean(path).is_ok_and(|p| matches!(self.nodes.get(&p), Some(Node::Dir { .. })))
    }

    /// The entries, sorted by path (parents before their children).
    pub fn nodes(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(p, n)| (p.as_str(), n))
    }

    /// The uncompressed `newc` archive.
    pub fn to_cpio(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (ino, (path, node)) in self.nodes.iter().enumerate() {
            let (mode, nlink, data, dev): (u32, u32, &[u8], (u32, u32)) = match node {
                Node::Dir { mode } => (0o040000 | mode, 2, &[], (0, 0)),
                Node::File { mode, data } => (0o100000 | mode, 1, data, (0, 0)),
                Node::Symlink { target } => (0o120777, 1, target.as_bytes(), (0, 0)),
                Node::CharDev { mode, major, minor } => (0o020000 | mode, 1, &[], (*major, *minor)),
            };
            write_entry(&mut out, ino as u32 + 1, mode, nlink, dev, path, data);
        }
        write_entry(&mut out, 0, 0, 1, (0, 0), "TRAILER!!!", &[]);
        out
    }

    /// Writes the gzip-compressed archive (no name or time in the gzip header).
    pub fn write_gz(&self, dest: &Path) -> Result<(), InitramfsError> {
        let tmp = dest.with_extension("tmp");
        let file = std::fs::File::create(&tmp)?;
        let mut gz = flate2::GzBuilder::new()
            .mtime(0)
            .write(std::io::BufWriter::new(file), flate2::Compression::default());
        gz.write_all(&self.to_cpio())?;
        gz.finish()?.flush()?;
        std::fs::rename(&tmp, dest)?;
        Ok(())
    }
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

fn write_entry(out: &mut Vec<u8>, ino: u32, mode: u32, nlink: u32, dev: (u32, u32), name: &str, data: &[u8]) {
    // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor,
    // rdevmajor, rdevminor, namesize, check
    let fields = [
        ino,
        mode,
        0,
        0,
        nlink,
        0,
        data.len() as u32,
        0,
        0,
        dev.0,
        dev.1,
        name.len() as u32 + 1,
        0,
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08X}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

#[cfg(test)]
mod tests;

mod tar;
