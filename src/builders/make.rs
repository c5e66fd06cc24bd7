//! `build make`: plain Makefiles that honour CC/CFLAGS from the environment.

use super::{BuildCtx, BuildError};

pub fn build(ctx: &BuildCtx) -> Result<(), BuildError> {
    let work = ctx.work_dir();
    let opts = &ctx.recipe.build;
    ctx.make(opts.list("make"), &work)?;
    let mut install = vec![format!("DESTDIR={}", ctx.dirs.dest.display())];
    if opts.list("install").is_empty() {
        install.push(format!("PREFIX={}", ctx.prefix()));
        install.push("install".into());
    } else {
        install.extend(opts.list("install").iter().cloned());
    }
    ctx.make(&install, &work)
}
