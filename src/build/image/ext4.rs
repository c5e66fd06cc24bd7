//! ext4 images (`format "ext4"`): the image's tree written into a fresh
//! ext4 filesystem by Debian's `mke2fs -d` from a tarball (owners, modes and
//! device nodes from the tar headers, so no root is needed), and a small
//! stage-1 initramfs that loads the disk's modules (virtio-blk and ext4 are
//! modules in Debian's kernels), mounts `/dev/vda` and `switch_root`s into
//! it, where the usual prelude runs. Deterministic: fixed UUID and hash seed
//! (derived from the image's key), every time `SOURCE_DATE_EPOCH`, inode
//! tables and journal written out rather than left to the build machine's
//! discard support.

use std::path::{Path, PathBuf};

use super::{ImageError, MODULE_LIST, MODULES_DIR, io};
use crate::package::initramfs::{Initramfs, Node};
use crate::toolchain::e2fsprogs::Mke2fs;
use crate::toolchain::env::DEFAULT_SOURCE_DATE_EPOCH;
use crate::toolchain::kernel::{Module, read_module};

/// What stage 1 loads to reach the root disk: the virtio-mmio transport,
/// the block driver, ext4 and the crc32c its metadata checksums need (the
/// kernel would ask modprobe for it, and there is none).
pub const STAGE1_MODULES: &[&str] = &["virtio_mmio", "virtio_blk", "crc32c_generic", "ext4"];

/// Bump when the stage-1 init or the mke2fs options change.
const EXT4_VERSION: &str = "1";

/// The stage-1 `/init`: modules, wait for the disk, mount it, switch over.
fn stage1_init() -> String {
    format!(
        "#!/bin/busybox sh\n\
         B=/bin/busybox\n\
         $B mkdir -p /dev /newroot\n\
         $B mount -t devtmpfs devtmpfs /dev\n\
         for m in $($B cat /{MODULE_LIST}); do $B insmod /{MODULES_DIR}/$m.ko || echo \"recipe: cannot load module $m\"; done\n\
         n=0\n\
         while [ ! -b /dev/vda ] && [ $n -lt 200 ]; do $B sleep 0.05; n=$((n+1)); done\n\
         if ! $B mount -t ext4 -o rw /dev/vda /newroot; then echo \"recipe: cannot mount the root disk /dev/vda\"; $B poweroff -f; fi\n\
         $B umount /dev\n\
         exec $B switch_root /newroot /init\n"
    )
}

/// The parts of the key an ext4 image adds to the initramfs one (the
/// stage-1 modules as asked for: the kernel's identity fixes the rest).
pub fn key_parts(mke2fs: &Mke2fs, size_mib: u64) -> String {
    format!(
        "ext4 {EXT4_VERSION} {size_mib} {} {}\n{}",
        mke2fs.id,
        STAGE1_MODULES.join(","),
        stage1_init()
    )
}

/// Writes the stage-1 initramfs to `dest`: a static busybox (from the
/// image's root) and the modules, nothing else.
pub fn write_stage1(image: &str, busybox: &Path, modules: &[Module], dest: &Path) -> Result<(), ImageError> {
    let fs = |source| ImageError::Initramfs {
        image: image.to_string(),
        source,
    };
    let mut t = Initramfs::new();
    let data = std::fs::read(busybox).map_err(io(format!("cannot read {}", busybox.display())))?;
    if crate::elf::inspect_bytes(&data).is_some_and(|e| !e.needed.is_empty()) {
        return Err(ImageError::DynamicBusybox {
            image: image.to_string(),
        });
    }
    t.insert("bin/busybox", Node::File { mode: 0o755, data }).map_err(fs)?;
    let mut list = String::new();
    for m in modules {
        let data = read_module(&m.path)?;
        t.insert(
            &format!("{MODULES_DIR}/{}.ko", m.name),
            Node::File { mode: 0o644, data },
        )
        .map_err(fs)?;
        list.push_str(&m.name);
        list.push('\n');
    }
    t.insert(
        MODULE_LIST,
        Node::File {
            mode: 0o644,
            data: list.into_bytes(),
        },
    )
    .map_err(fs)?;
    t.insert(
        "init",
        Node::File {
            mode: 0o755,
            data: stage1_init().into_bytes(),
        },
    )
    .map_err(fs)?;
    let console = Node::CharDev {
        mode: 0o600,
        major: 5,
        minor: 1,
    };
    t.insert("dev/console", console).map_err(fs)?;
    t.write_gz(dest).map_err(fs)
}

/// A UUID from 16 bytes of `sha256(salt, key)` (version 4, RFC 4122
/// variant): stable for one image's inputs, distinct between images.
fn uuid_from(key: &str, salt: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(b"\0");
    h.update(key.as_bytes());
    let mut b: Vec<u8> = h.finalize()[..16].to_vec();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &x[..8], &x[8..12], &x[12..16], &x[16..20], &x[20..])
}

/// Makes `dest`, an ext4 filesystem of `size_mib` MiB holding `tree`.
pub fn write_ext4(
    mke2fs: &Mke2fs,
    image: &str,
    tree: &Initramfs,
    size_mib: u64,
    key: &str,
    dest: &Path,
) -> Result<(), ImageError> {
    let tmp = dest.with_extension("ext4.tmp");
    let tar = dest.with_extension("ext4.tar");
    let result = make(mke2fs, image, tree, size_mib, key, &tmp, &tar);
    let _ = std::fs::remove_file(&tar);
    match result {
        Ok(()) => std::fs::rename(&tmp, dest).map_err(io(format!("cannot write {}", dest.display()))),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn make(
    mke2fs: &Mke2fs,
    image: &str,
    tree: &Initramfs,
    size_mib: u64,
    key: &str,
    tmp: &Path,
    tar: &Path,
) -> Result<(), ImageError> {
    let epoch = DEFAULT_SOURCE_DATE_EPOCH;
    let file = std::fs::File::create(tar).map_err(io(format!("cannot create {}", tar.display())))?;
    let out = tree
        .write_tar(std::io::BufWriter::new(file), epoch)
        .map_err(|source| ImageError::Initramfs {
            image: image.to_string(),
            source,
        })?;
    out.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())
        .map_err(io(format!("cannot write {}", tar.display())))?;
    // A fresh (sparse) file every time: nothing of an earlier image or of a
    // booted disk's writes can survive into the new one.
    let _ = std::fs::remove_file(tmp);
    let disk = std::fs::File::create(tmp).map_err(io(format!("cannot create {}", tmp.display())))?;
    disk.set_len(size_mib * 1024 * 1024)
        .map_err(io(format!("cannot size {}", tmp.display())))?;
    drop(disk);
    let extended = format!(
        "root_owner=0:0,hash_seed={},lazy_itable_init=0,lazy_journal_init=0,nodiscard",
        uuid_from(key, "hash-seed")
    );
    let out = mke2fs
        .command()
        .env("SOURCE_DATE_EPOCH", epoch.to_string())
        .args(["-q", "-F", "-t", "ext4", "-b", "4096", "-U"])
        .arg(uuid_from(key, "uuid"))
        .arg("-E")
        .arg(extended)
        .arg("-d")
        .arg(tar)
        .arg(tmp)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(io("cannot run mke2fs"))?;
    if !out.status.success() {
        let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stdout));
        return Err(ImageError::Mke2fs {
            image: image.to_string(),
            status: out.status.to_string(),
            output: text.trim().chars().take(4000).collect(),
        });
    }
    Ok(())
}

/// The stage-1 initramfs's path beside the disk image `NAME.ext4`.
pub fn stage1_path(disk: &Path) -> PathBuf {
    disk.with_extension("initrd.cpio.gz")
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuids_are_stable_well_formed_and_salted() {
        let a = super::uuid_from("key", "uuid");
        assert_eq!(a, super::uuid_from("key", "uuid"));
        assert_ne!(a, super::uuid_from("key", "hash-seed"));
        assert_ne!(a, super::uuid_from("other", "uuid"));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }
}
