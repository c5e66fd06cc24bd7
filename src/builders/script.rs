//! `build script`: explicit shell steps, run in order in the source tree with
//! `DESTDIR`, `PREFIX`, `SYSROOT` and the target environment set.

use super::{BuildCtx, BuildError};

pub fn build(ctx: &BuildCtx) -> Result<(), BuildError> {
    let work = ctx.work_dir();
    for step in ctx.recipe.build.list("step") {
        ctx.shell(step, &work)?;
    }
    Ok(())
}
