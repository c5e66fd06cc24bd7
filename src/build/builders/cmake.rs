//! `build cmake`: configure with the target's generated toolchain file, build
//! with Makefiles (which honour the shared jobserver), install to DESTDIR.

use super::{BuildCtx, BuildError};
use crate::recipe::options::CmakeOptions;

pub fn build(ctx: &BuildCtx, opts: &CmakeOptions) -> Result<(), BuildError> {
    ctx.require_tool("cmake", "cmake")?;
    let src = ctx.work_dir();
    let build_dir = ctx.dirs.root.join("cmake-build");
    std::fs::create_dir_all(&build_dir).map_err(|e| BuildError::io("cannot create the cmake build dir", e))?;
    let mut args = vec![
        "-S".to_string(),
        src.display().to_string(),
        "-B".to_string(),
        build_dir.display().to_string(),
        "-G".to_string(),
        "Unix Makefiles".to_string(),
        format!("-DCMAKE_INSTALL_PREFIX={}", ctx.prefix()),
        "-DCMAKE_BUILD_TYPE=Release".to_string(),
    ];
    if let Some(tc) = ctx.env.get("RECIPE_CMAKE_TOOLCHAIN").filter(|_| !ctx.host_build) {
        args.push(format!("-DCMAKE_TOOLCHAIN_FILE={tc}"));
    }
    if ctx.recipe.build.common.rpath_origin {
        args.push("-DCMAKE_INSTALL_RPATH=$ORIGIN".to_string());
        args.push("-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON".to_string());
    }
    args.extend(opts.args.iter().cloned());
    ctx.run("cmake", args, &src)?;
    ctx.make(&[], &build_dir)?;
    ctx.make(
        &[format!("DESTDIR={}", ctx.dirs.dest.display()), "install".into()],
        &build_dir,
    )
}
