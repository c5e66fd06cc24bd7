//! `build meson`: `meson setup` with the target's generated cross file, then
//! ninja, then `meson install` into DESTDIR. The ninja of recipes/ninja
//! (Kitware's build, as the Python index ships it) is a client of GNU make's
//! pipe jobserver, so without `-j` it takes part in the shared job pool.

use super::{BuildCtx, BuildError};
use crate::recipe::options::MesonOptions;

/// Scratch dir beside the source tree (the sandbox lets steps write to it).
pub const BUILD_DIR: &str = "meson-build";

pub fn build(ctx: &BuildCtx, opts: &MesonOptions) -> Result<(), BuildError> {
    ctx.require_tool("meson", "meson")?;
    ctx.require_tool("meson", "ninja")?;
    let src = ctx.work_dir();
    let build_dir = ctx.dirs.root.join(BUILD_DIR);
    // A fresh configuration every time: a stale one would keep old options.
    if build_dir.exists() {
        crate::unpack::make_writable_and_remove(&build_dir)
            .map_err(|e| BuildError::io("cannot clean the meson build dir", e))?;
    }
    let mut args = vec![
        "setup".to_string(),
        build_dir.display().to_string(),
        src.display().to_string(),
        format!("--prefix={}", ctx.prefix()),
        // Everything else in a sysroot lives in /usr/lib, not Debian's
        // multiarch directory meson would pick for a cross build.
        "--libdir=lib".to_string(),
        "--buildtype=release".to_string(),
        // Sources come from `source` nodes: never a download at build time.
        "--wrap-mode=nodownload".to_string(),
    ];
    if !ctx.host_build {
        let cross = ctx.env.get("RECIPE_MESON_CROSS").ok_or_else(|| {
            BuildError::invalid(
                "the target's environment has no Meson cross file (RECIPE_MESON_CROSS)",
                "reinstall the target's toolchain: `recipe toolchain install --target T`",
            )
        })?;
        args.push(format!("--cross-file={cross}"));
    }
    args.extend(opts.args.iter().cloned());
    ctx.run("meson", args, &src)?;
    let mut ninja = vec!["-C".to_string(), build_dir.display().to_string()];
    if !opts.parallel {
        ninja.push("-j1".into());
    }
    ctx.run("ninja", ninja, &src)?;
    let install = vec![
        "install".to_string(),
        "-C".to_string(),
        build_dir.display().to_string(),
        "--no-rebuild".to_string(),
        "--destdir".to_string(),
        ctx.dirs.dest.display().to_string(),
    ];
    ctx.run("meson", install, &src)
}
