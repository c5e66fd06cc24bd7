//! `build autotools`: [autoreconf], configure --host/--build, make, make install.

use super::{BuildCtx, BuildError};
use crate::recipe::options::{AutotoolsOptions, Install};

pub fn build(ctx: &BuildCtx, opts: &AutotoolsOptions) -> Result<(), BuildError> {
    let work = ctx.work_dir();
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
    args.extend(opts.configure.iter().cloned());
    crate::fault::point("configure");
    ctx.run("./configure", args, &work)?;
    crate::fault::point("make");
    ctx.make(&opts.make, &work)?;
    crate::fault::point("install");
    ctx.make(&install_args(ctx, &opts.install), &work)
}

/// `DESTDIR=…` and the install target, or the recipe's replacement list.
pub fn install_args(ctx: &BuildCtx, install: &Install) -> Vec<String> {
    let mut args = vec![format!("DESTDIR={}", ctx.dirs.dest.display())];
    match install {
        Install::Default => args.push("install".to_string()),
        Install::Replaced(list) => args.extend(list.iter().cloned()),
    }
    args
}
