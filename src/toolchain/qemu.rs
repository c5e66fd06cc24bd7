//! qemu-user for running target programs on the build machine: trixie's
//! `qemu-user` package ships static-pie binaries, so two or three files
//! extracted from it run anywhere (the whole package unpacks to 465 MB).
//! binfmt_misc is not assumed: qemu is always called explicitly.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::debian::Exclusions;
use crate::model::target::Target;
use crate::toolchain::ToolchainError;
use crate::toolchain::provision::{
    ProvisionContext, download_packages, extract_packages, install_checked, resolve_packages, short_hash,
};

pub const QEMU_SUITE: &str = "trixie";
pub const QEMU_PACKAGE: &str = "qemu-user";
/// The emulators kept: our ARM targets, plus x86_64 for binaries built
/// against a newer glibc than the build machine's.
pub const QEMU_BINARIES: &[&str] = &["qemu-arm", "qemu-aarch64", "qemu-x86_64"];

#[derive(Debug, Clone)]
pub struct Qemu {
    pub root: PathBuf,
    pub bin_dir: PathBuf,
    /// Debian package version, e.g. `1:10.0.13+ds-0+deb13u1`.
    pub version: String,
    pub id: String,
}

impl Qemu {
    pub fn binary(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    /// `qemu-<arch> -L <sysroot> [-E K=V…] PROG ARGS…` with a cleared
    /// environment (qemu copies its own environment to the guest; guest
    /// variables are passed explicitly with `-E`).
    pub fn command(
        &self,
        target: &Target,
        sysroot: &Path,
        guest_env: &[(String, String)],
        program: &Path,
        args: &[String],
    ) -> Result<Command, ToolchainError> {
        let name = target
            .qemu
            .as_deref()
            .ok_or_else(|| ToolchainError::Usage(format!("target {} runs natively; it has no qemu", target.name)))?;
        let mut cmd = Command::new(self.binary(name));
        cmd.env_clear().arg("-L").arg(sysroot);
        for (k, v) in guest_env {
            cmd.arg("-E").arg(format!("{k}={v}"));
        }
        cmd.arg(program).args(args);
        Ok(cmd)
    }
}

/// Provisions (once) the qemu-user emulators.
pub fn ensure_qemu(ctx: &ProvisionContext) -> Result<Qemu, ToolchainError> {
    let key = short_hash(&[QEMU_SUITE, QEMU_PACKAGE, &QEMU_BINARIES.join(" ")]);
    let dir = ctx.cache.join("qemu").join(format!("{QEMU_SUITE}-{key}"));
    let stamp = install_checked(ctx, &dir, |tmp, _| {
        ctx.note(format!("provisioning {QEMU_PACKAGE} from {QEMU_SUITE}"));
        let pkgs = resolve_packages(
            ctx,
            QEMU_SUITE,
            crate::toolchain::env::build_debian_arch(),
            &[QEMU_PACKAGE.to_string()],
            &Exclusions::default(),
            false,
        )?;
        let debs = download_packages(ctx, &pkgs)?;
        let members: Vec<String> = QEMU_BINARIES.iter().map(|b| format!("usr/bin/{b}")).collect();
        let only: Vec<&str> = members.iter().map(String::as_str).collect();
        extract_packages(&debs, tmp, Some(&only))?;
        for b in QEMU_BINARIES {
            let path = tmp.join("usr/bin").join(b);
            let ok = crate::toolchain::stdout_of(&path, &["--version"]).is_some_and(|o| o.contains("version"));
            if !ok {
                return Err(ToolchainError::Check {
                    what: format!("running {b} --version"),
                    hint: format!("{} should be a static binary", path.display()),
                    log: "(no log: the binary did not run)".into(),
                });
            }
        }
        let mut stamp = crate::toolchain::provision::Stamp::new("qemu", QEMU_PACKAGE, QEMU_SUITE, &pkgs);
        stamp.compute_id(&[&QEMU_BINARIES.join(" ")]);
        if let Some(p) = pkgs.first() {
            stamp.info.insert("version".into(), p.version.clone());
        }
        Ok(stamp)
    })?;
    Ok(Qemu {
        bin_dir: dir.join("usr/bin"),
        version: stamp.info.get("version").cloned().unwrap_or_default(),
        id: stamp.id,
        root: dir,
    })
}
