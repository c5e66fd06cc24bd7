//! `build make`: plain Makefiles that honour CC/CFLAGS from the environment.

use super::{BuildCtx, BuildError};
use crate::recipe::options::{Install, MakeOptions};

pub fn build(ctx: &BuildCtx, opts: &MakeOptions) -> Result<(), BuildError> {
    let work = ctx.work_dir();
    ctx.make(&opts.make, &work)?;
    let mut install = vec![format!("DESTDIR={}", ctx.dirs.dest.display())];
    match &opts.install {
        Install::Default => {
            install.push(format!("PREFIX={}", ctx.prefix()));
            install.push("install".into());
        }
        Install::Replaced(list) => install.extend(list.iter().cloned()),
    }
    ctx.make(&install, &work)
}
