//! `build autotools`: [autoreconf], configure --host/--build, make, make install.

use super::{BuildCtx, BuildError};

pub fn build(ctx: &BuildCtx) -> Result<(), BuildError> {
    let work = ctx.work_dir();
    let opts = &ctx.recipe.build;
    // `autoreconf` ran in `prepare`, possibly before the dependencies.
    if !work.join("configure").is_file() {
        return Err(BuildError::invalid(
            format!("{} has no configure script", work.display()),
            "set `autoreconf #true` in the build node, or `subdir` if configure lives deeper",
        ));
    }
    let mut args = vec![format!("--prefix={}", ctx.prefix())];
    if !ctx.host_build {
        args.push(format!("--host={}", ctx.target.triple));
        args.push(format!("--build={}", ctx.build_triple));
        args.push("--libdir=/usr/lib".into());
        args.push("--sysconfdir=/etc".into());
        args.push("--localstatedir=/var".into());
    }
    args.extend(opts.list("configure").iter().cloned());
    crate::fault::point("configure");
    ctx.run("./configure", args, &work)?;
    crate::fault::point("make");
    ctx.make(opts.list("make"), &work)?;
    crate::fault::point("install");
    let mut install = vec![format!("DESTDIR={}", ctx.dirs.dest.display()), "install".to_string()];
    if !opts.list("install").is_empty() {
        install.pop();
        install.extend(opts.list("install").iter().cloned());
    }
    ctx.make(&install, &work)
}
