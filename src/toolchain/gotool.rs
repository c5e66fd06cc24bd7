//! Go for cgo cross builds: Debian trixie's `golang-1.24-go` and
//! `golang-1.24-src` unpacked into the cache (pinned by the signed index's
//! sha256s), used with `GOTOOLCHAIN=local` and no network.

use std::path::PathBuf;
use std::process::Command;

use crate::debian::Exclusions;
use crate::toolchain::ToolchainError;
use crate::toolchain::provision::{
    ProvisionContext, Stamp, download_packages, extract_packages, install_checked, resolve_packages, run_logged,
    short_hash,
};

pub const GO_SUITE: &str = "trixie";
pub const GO_SERIES: &str = "1.24";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoTool {
    /// The provisioned tree (checked for changes after builds used it).
    pub root: PathBuf,
    /// `<root>/usr/lib/go-1.24` (Debian's layout; src links to usr/share).
    pub goroot: PathBuf,
    pub bin_dir: PathBuf,
    /// Shared build cache (Go's cache is safe for concurrent use).
    pub gocache: PathBuf,
    /// Private GOPATH: nothing from the user's.
    pub gopath: PathBuf,
    /// `go version` output, e.g. `go version go1.24.4 linux/amd64`.
    pub version: String,
    pub id: String,
}

impl GoTool {
    pub fn go(&self) -> PathBuf {
        self.bin_dir.join("go")
    }
}

/// Provisions (once) Go and checks that `go version` runs.
pub fn ensure_go(ctx: &ProvisionContext) -> Result<GoTool, ToolchainError> {
    let packages = [format!("golang-{GO_SERIES}-go"), format!("golang-{GO_SERIES}-src")];
    let key = short_hash(&[GO_SUITE, &packages.join(" ")]);
    let dir = ctx.cache.join("go").join(format!("go{GO_SERIES}-{GO_SUITE}-{key}"));
    let rel_goroot = format!("usr/lib/go-{GO_SERIES}");
    let stamp = install_checked(ctx, &dir, |tmp, _| {
        ctx.note(format!("provisioning Go {GO_SERIES} from {GO_SUITE}"));
        // The two packages are self-contained (a static toolchain + sources);
        // their other dependencies are host runtime we do not need.
        let pkgs = resolve_packages(
            ctx,
            GO_SUITE,
            crate::toolchain::env::build_debian_arch(),
            &packages,
            &Exclusions::default(),
            false,
        )?;
        let debs = download_packages(ctx, &pkgs)?;
        extract_packages(&debs, tmp, None)?;
        crate::toolchain::sysroot::fixup_root(tmp)?;
        let goroot = tmp.join(&rel_goroot);
        let log = ctx.log_path("go");
        let out = goroot.join("VERSION.recipe");
        let mut cmd = Command::new(goroot.join("bin/go"));
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("GOROOT", &goroot)
            .env("GOTOOLCHAIN", "local")
            .env("GOTELEMETRY", "off")
            .env("GOCACHE", tmp.join(".gocache-check"))
            .env("HOME", tmp)
            .arg("version");
        let ok = run_logged(&mut cmd, &log)?;
        let _ = std::fs::remove_dir_all(tmp.join(".gocache-check"));
        let version = std::fs::read_to_string(&log)
            .ok()
            .and_then(|l| {
                l.lines()
                    .rev()
                    .find(|l| l.starts_with("go version"))
                    .map(str::to_string)
            })
            .unwrap_or_default();
        if !ok || version.is_empty() {
            return Err(ToolchainError::Check {
                what: "running `go version`".into(),
                hint: format!("the Go toolchain in {} does not run", goroot.display()),
                log: log.display().to_string(),
            });
        }
        let _ = std::fs::write(out, &version);
        let mut stamp = Stamp::new("go", &format!("go{GO_SERIES}"), GO_SUITE, &pkgs);
        stamp.compute_id(&[]);
        stamp.info.insert("version".into(), version);
        Ok(stamp)
    })?;
    let goroot = dir.join(&rel_goroot);
    Ok(GoTool {
        root: dir.clone(),
        bin_dir: goroot.join("bin"),
        goroot,
        gocache: ctx.cache.join("go-build-cache"),
        gopath: ctx.cache.join("go-path"),
        version: stamp.info.get("version").cloned().unwrap_or_default(),
        id: stamp.id,
    })
}
