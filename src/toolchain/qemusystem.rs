//! qemu-system for booting target images: Debian's `qemu-system-arm`
//! (which ships both `qemu-system-arm` and `qemu-system-aarch64`) is
//! dynamically linked, so its whole closure for the build machine's
//! architecture is extracted into the cache and run through the loader of
//! that root — never the host's libraries, and no root privileges.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::debian::Exclusions;
use crate::toolchain::ToolchainError;
use crate::toolchain::provision::{
    ProvisionContext, Stamp, download_packages, extract_packages, install_checked, resolve_packages, short_hash,
};
use crate::toolchain::sysroot::fixup_root;

pub const QEMU_SYSTEM_SUITE: &str = "trixie";
/// The packages asked for; their dependency closure comes with them.
/// `qemu-system-data` holds the firmware/data directory passed with `-L`.
pub const QEMU_SYSTEM_PACKAGES: &[&str] = &["qemu-system-arm", "qemu-system-data"];
/// What target files may name in `image { qemu-system … }`.
pub use crate::model::target_image::QEMU_SYSTEM_EMULATORS as QEMU_SYSTEM_BINARIES;

#[derive(Debug, Clone)]
pub struct QemuSystem {
    pub root: PathBuf,
    loader: PathBuf,
    library_path: String,
    /// `-L` directory (BIOS/firmware/keymaps).
    pub data_dir: PathBuf,
    /// Debian package version of `qemu-system-arm`.
    pub version: String,
    pub id: String,
}

impl QemuSystem {
    /// `<loader> --library-path … <root>/usr/bin/<binary> -L <data>` with a
    /// cleared environment; the caller adds the machine's arguments.
    pub fn command(&self, binary: &str) -> Result<Command, ToolchainError> {
        if !QEMU_SYSTEM_BINARIES.contains(&binary) {
            return Err(ToolchainError::Usage(format!(
                "no emulator `{binary}`: provisioned are {}",
                QEMU_SYSTEM_BINARIES.join(", ")
            )));
        }
        let mut cmd = Command::new(&self.loader);
        cmd.env_clear()
            .env("LANG", "C")
            .arg("--library-path")
            .arg(&self.library_path)
            .arg(self.root.join("usr/bin").join(binary))
            .arg("-L")
            .arg(&self.data_dir);
        Ok(cmd)
    }
}

fn paths(root: &Path, loader: &str, multiarch: &str) -> (PathBuf, String, PathBuf) {
    let r = root.display();
    (
        root.join(loader),
        format!("{r}/usr/lib/{multiarch}"),
        root.join("usr/share/qemu"),
    )
}

/// Provisions (once) qemu-system-arm/aarch64 with its libraries.
pub fn ensure_qemu_system(ctx: &ProvisionContext) -> Result<QemuSystem, ToolchainError> {
    let (arch, loader, multiarch) = crate::toolchain::env::build_loader("qemu-system")?;
    let packages: Vec<String> = QEMU_SYSTEM_PACKAGES.iter().map(|s| s.to_string()).collect();
    let key = short_hash(&["1", QEMU_SYSTEM_SUITE, arch, &packages.join(" ")]);
    let dir = ctx
        .cache
        .join("qemu")
        .join(format!("system-{QEMU_SYSTEM_SUITE}-{arch}-{key}"));
    let stamp = install_checked(ctx, &dir, |tmp, _| {
        ctx.note(format!("provisioning qemu-system-arm from {QEMU_SYSTEM_SUITE}/{arch}"));
        let pkgs = resolve_packages(ctx, QEMU_SYSTEM_SUITE, arch, &packages, &Exclusions::default(), true)?;
        let debs = download_packages(ctx, &pkgs)?;
        extract_packages(&debs, tmp, None)?;
        fixup_root(tmp)?;
        let (ld, libs, data) = paths(tmp, loader, multiarch);
        let probe = QemuSystem {
            root: tmp.to_path_buf(),
            loader: ld,
            library_path: libs,
            data_dir: data,
            version: String::new(),
            id: String::new(),
        };
        for b in QEMU_SYSTEM_BINARIES {
            let out = probe
                .command(b)?
                .arg("--version")
                .stdin(std::process::Stdio::null())
                .output();
            let ok = out
                .as_ref()
                .is_ok_and(|o| o.status.success() && o.stdout.starts_with(b"QEMU emulator"));
            if !ok {
                let detail = match out {
                    Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
                    Err(e) => e.to_string(),
                };
                return Err(ToolchainError::Check {
                    what: format!("running {b} --version through its own loader"),
                    hint: format!("the extracted closure of qemu-system-arm does not run: {detail}"),
                    log: "(no log: the output is above)".into(),
                });
            }
        }
        let mut stamp = Stamp::new("qemu-system", "qemu-system-arm", QEMU_SYSTEM_SUITE, &pkgs);
        stamp.compute_id(&[&QEMU_SYSTEM_BINARIES.join(" ")]);
        if let Some(p) = pkgs.iter().find(|p| p.name == "qemu-system-arm") {
            stamp.info.insert("version".into(), p.version.clone());
        }
        Ok(stamp)
    })?;
    let (ld, libs, data) = paths(&dir, loader, multiarch);
    Ok(QemuSystem {
        loader: ld,
        library_path: libs,
        data_dir: data,
        version: stamp.info.get("version").cloned().unwrap_or_default(),
        id: stamp.id,
        root: dir,
    })
}
