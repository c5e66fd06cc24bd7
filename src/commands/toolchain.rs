//! `recipe toolchain install|list`, and the provisioning helper the other
//! environment commands share.

use std::path::Path;
use std::time::Instant;

use crate::cli::ToolchainCommand;
use crate::error::Error;
use crate::model::project::Project;
use crate::settings::Settings;
use crate::toolchain::provision::{ProvisionContext, STAMP, Stamp, disk_usage, human_bytes};
use crate::toolchain::{Toolchain, ensure_toolchain, sysroot_def_for};

pub fn run(settings: &Settings, cmd: ToolchainCommand) -> Result<(), Error> {
    match cmd {
        ToolchainCommand::Install {
            target,
            all,
            qemu,
            go,
            refresh,
        } => install(settings, &target, all, qemu, go, refresh),
        ToolchainCommand::List => list(settings),
    }
}

pub(super) fn context(settings: &Settings, refresh: bool) -> Result<ProvisionContext, Error> {
    let mut ctx = settings.provision(false)?;
    ctx.refresh = refresh;
    Ok(ctx)
}

/// Loads the project and provisions `target`'s toolchain (a no-op when done).
pub(super) fn provision(settings: &Settings, target: &str) -> Result<(Project, ProvisionContext, Toolchain), Error> {
    let project = super::load(settings)?;
    let ctx = context(settings, false)?;
    let t = project.target(target)?;
    let def = sysroot_def_for(t, &project.sysroots)?;
    let tc = ensure_toolchain(&ctx, t, def)?;
    Ok((project, ctx, tc))
}

fn install(
    settings: &Settings,
    targets: &[String],
    all: bool,
    qemu: bool,
    go: bool,
    refresh: bool,
) -> Result<(), Error> {
    let project = super::load(settings)?;
    let ctx = context(settings, refresh)?;
    let names: Vec<String> = if all {
        project.targets.keys().cloned().collect()
    } else {
        targets.to_vec()
    };
    // Validate every name before provisioning anything.
    for n in &names {
        project.target(n)?;
    }
    let mut need_qemu = qemu;
    for n in &names {
        let t = project.target(n)?;
        let started = Instant::now();
        eprintln!("toolchain {n}:");
        let tc = ensure_toolchain(&ctx, t, sysroot_def_for(t, &project.sysroots)?)?;
        println!(
            "{n}: {} (sysroot {}) in {:.1}s",
            tc.root.display(),
            tc.sysroot.display(),
            started.elapsed().as_secs_f64()
        );
        need_qemu |= t.emulated() && all;
    }
    if need_qemu {
        let started = Instant::now();
        let q = crate::toolchain::qemu::ensure_qemu(&ctx)?;
        println!(
            "qemu {}: {} in {:.1}s",
            q.version,
            q.bin_dir.display(),
            started.elapsed().as_secs_f64()
        );
    }
    if go {
        let started = Instant::now();
        let g = crate::toolchain::gotool::ensure_go(&ctx)?;
        println!(
            "{}: {} in {:.1}s",
            g.version,
            g.goroot.display(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn list(settings: &Settings) -> Result<(), Error> {
    let mut rows = vec![
        [
            "KIND", "NAME", "VERSION", "PKGS", "DOWNLOAD", "DISK", "SECONDS", "ID", "PATH",
        ]
        .map(str::to_string),
    ];
    for kind in ["toolchains", "sysroots", "qemu", "go", "roots"] {
        let dir = settings.cache.join(kind);
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        entries.sort();
        for path in entries.iter().filter(|p| p.join(STAMP).is_file()) {
            let Some(s) = Stamp::read(path) else { continue };
            rows.push([
                s.kind.clone(),
                s.name.clone(),
                version_of(&s),
                s.packages.len().to_string(),
                human_bytes(s.download_bytes),
                human_bytes(disk_usage(path)),
                format!("{:.1}", s.seconds),
                s.id.get(..12).unwrap_or(&s.id).to_string(),
                display_rel(&settings.cache, path),
            ]);
        }
    }
    if rows.len() == 1 {
        println!("nothing provisioned in {}", settings.cache.display());
        println!("run `recipe toolchain install --target NAME` (or --all)");
        return Ok(());
    }
    let mut widths = [0usize; 9];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    for r in &rows {
        let cells: Vec<String> = r.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", cells.join("  ").trim_end());
    }
    Ok(())
}

fn version_of(s: &Stamp) -> String {
    for k in ["gcc", "host-gcc", "version"] {
        if let Some(v) = s.info.get(k) {
            return v.strip_prefix("go version ").unwrap_or(v).to_string();
        }
    }
    s.packages
        .iter()
        .find(|p| p.name == "libc6")
        .map_or_else(|| s.suite.clone(), |p| format!("{} glibc {}", s.suite, p.version))
}

fn display_rel(base: &Path, p: &Path) -> String {
    p.strip_prefix(base).unwrap_or(p).display().to_string()
}
