//! The same tree as a tar archive, for `mke2fs -d` (which reads tarballs
//! through libarchive): owners, modes and device numbers come from the
//! headers, so an unprivileged build still gives root-owned files and
//! device nodes. Deterministic like the cpio: sorted, uid/gid 0, one mtime.

use std::io::Write;

use super::{Initramfs, InitramfsError, Node};

impl Initramfs {
    /// Writes the tree as a GNU tar (long names as GNU extensions), every
    /// entry with modification time `mtime`.
    pub fn write_tar<W: Write>(&self, out: W, mtime: u64) -> Result<W, InitramfsError> {
        let mut tar = tar::Builder::new(out);
        for (path, node) in self.nodes() {
            let mut h = tar::Header::new_gnu();
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(mtime);
            h.set_size(0);
            match node {
                Node::Dir { mode } => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(*mode);
                    tar.append_data(&mut h, format!("{path}/"), std::io::empty())?;
                }
                Node::File { mode, data } => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(*mode);
                    h.set_size(data.len() as u64);
                    tar.append_data(&mut h, path, data.as_slice())?;
                }
                Node::Symlink { target } => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_mode(0o777);
                    tar.append_link(&mut h, path, target)?;
                }
                Node::CharDev { mode, major, minor } => {
                    h.set_entry_type(tar::EntryType::Char);
                    h.set_mode(*mode);
                    h.set_device_major(*major)?;
                    h.set_device_minor(*minor)?;
                    tar.append_data(&mut h, path, std::io::empty())?;
                }
            }
        }
        Ok(tar.into_inner()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_entries_are_root_owned_sorted_and_typed() {
        let mut t = Initramfs::new();
        let long = format!("usr/{}/f", "d".repeat(120));
        t.insert(
            &long,
            Node::File {
                mode: 0o4755,
                data: b"x".to_vec(),
            },
        )
        .expect("insert");
        t.insert(
            "bin/sh",
            Node::Symlink {
                target: "busybox".into(),
            },
        )
        .expect("insert");
        t.insert(
            "dev/console",
            Node::CharDev {
                mode: 0o600,
                major: 5,
                minor: 1,
            },
        )
        .expect("insert");
        let bytes = t.write_tar(Vec::new(), 315_532_800).expect("tar");
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut seen = Vec::new();
        for e in archive.entries().expect("entries") {
            let e = e.expect("entry");
            let h = e.header();
            assert_eq!(
                (h.uid().ok(), h.gid().ok(), h.mtime().ok()),
                (Some(0), Some(0), Some(315_532_800))
            );
            let path = e.path().expect("path").display().to_string();
            let kind = h.entry_type();
            if path == "dev/console" {
                assert_eq!(
                    (kind, h.device_major().ok().flatten(), h.device_minor().ok().flatten()),
                    (tar::EntryType::Char, Some(5), Some(1))
                );
            }
            if path == long {
                assert_eq!(h.mode().ok(), Some(0o4755));
            }
            if path == "bin/sh" {
                assert_eq!(
                    e.link_name().ok().flatten().map(|l| l.display().to_string()).as_deref(),
                    Some("busybox")
                );
            }
            seen.push(path.trim_end_matches('/').to_string());
        }
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted, "parents before children");
        assert!(seen.contains(&"usr".to_string()) && seen.contains(&long));
        assert_eq!(
            bytes,
            t.write_tar(Vec::new(), 315_532_800).expect("again"),
            "same bytes"
        );
    }
}
