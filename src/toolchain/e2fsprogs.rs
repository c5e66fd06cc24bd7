//! `mke2fs` for ext4 images: Debian's `e2fsprogs` for the build machine's
//! architecture, with `libarchive` (which mke2fs loads with `dlopen` to read
//! a tarball given to `-d`), extracted with its closure into the cache and
//! run through the loader of that root — no host e2fsprogs, no root. A
//! tarball input lets the image's files be owned by root and carry device
//! nodes although `recipe` runs unprivileged.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::debian::Exclusions;
use crate::toolchain::ToolchainError;
use crate::toolchain::provision::{
    ProvisionContext, Stamp, download_packages, extract_packages, install_checked, resolve_packages, short_hash,
};
use crate::toolchain::sysroot::fixup_root;

/// 1.47.1 or later: tarballs for `-d` and `SOURCE_DATE_EPOCH`.
pub const E2FSPROGS_SUITE: &str = "trixie";
pub const E2FSPROGS_PACKAGES: &[&str] = &["e2fsprogs", "libarchive13t64"];

#[derive(Debug, Clone)]
pub struct Mke2fs {
    pub root: PathBuf,
    loader: PathBuf,
    library_path: String,
    /// Debian package version of `e2fsprogs`.
    pub version: String,
    pub id: String,
}

impl Mke2fs {
    /// `<loader> --library-path … <root>/usr/sbin/mke2fs` with a cleared
    /// environment and the package's own `mke2fs.conf` (the host's would
    /// pick the filesystem features otherwise).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.loader);
        cmd.env_clear()
            .env("LANG", "C")
            .env("MKE2FS_CONFIG", self.root.join("etc/mke2fs.conf"))
            .arg("--library-path")
            .arg(&self.library_path)
            .arg(self.root.join("usr/sbin/mke2fs"));
        cmd
    }
}

fn paths(root: &Path, loader: &str, multiarch: &str) -> (PathBuf, String) {
    let r = root.display();
    (root.join(loader), format!("{r}/usr/lib/{multiarch}"))
}

/// Provisions (once) mke2fs with libarchive.
pub fn ensure_mke2fs(ctx: &ProvisionContext) -> Result<Mke2fs, ToolchainError> {
    let (arch, loader, multiarch) = crate::toolchain::env::build_loader("mke2fs")?;
    let packages: Vec<String> = E2FSPROGS_PACKAGES.iter().map(|s| s.to_string()).collect();
    let key = short_hash(&["1", E2FSPROGS_SUITE, arch, &packages.join(" ")]);
    let dir = ctx
        .cache
        .join("e2fsprogs")
        .join(format!("{E2FSPROGS_SUITE}-{arch}-{key}"));
    let stamp = install_checked(ctx, &dir, |tmp, _| {
        ctx.note(format!("provisioning e2fsprogs from {E2FSPROGS_SUITE}/{arch}"));
        let pkgs = resolve_packages(ctx, E2FSPROGS_SUITE, arch, &packages, &Exclusions::default(), true)?;
        let debs = download_packages(ctx, &pkgs)?;
        extract_packages(&debs, tmp, None)?;
        fixup_root(tmp)?;
        let (ld, libs) = paths(tmp, loader, multiarch);
        let probe = Mke2fs {
            root: tmp.to_path_buf(),
            loader: ld,
            library_path: libs,
            version: String::new(),
            id: String::new(),
        };
        let out = probe.command().arg("-V").stdin(std::process::Stdio::null()).output();
        // mke2fs prints its version on stderr and exits 0.
        let ok = out
            .as_ref()
            .is_ok_and(|o| o.status.success() && o.stderr.starts_with(b"mke2fs "));
        if !ok {
            let detail = match out {
                Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
                Err(e) => e.to_string(),
            };
            return Err(ToolchainError::Check {
                what: "running mke2fs -V through its own loader".into(),
                hint: format!("the extracted closure of e2fsprogs does not run: {detail}"),
                log: "(no log: the output is above)".into(),
            });
        }
        let mut stamp = Stamp::new("e2fsprogs", "e2fsprogs", E2FSPROGS_SUITE, &pkgs);
        stamp.compute_id(&[]);
        if let Some(p) = pkgs.iter().find(|p| p.name == "e2fsprogs") {
            stamp.info.insert("version".into(), p.version.clone());
        }
        Ok(stamp)
    })?;
    let (ld, libs) = paths(&dir, loader, multiarch);
    Ok(Mke2fs {
        loader: ld,
        library_path: libs,
        version: stamp.info.get("version").cloned().unwrap_or_default(),
        id: stamp.id,
        root: dir,
    })
}
