//! `build script`: explicit shell steps, run in order in the source tree with
//! `DESTDIR`, `PREFIX`, `SYSROOT` and the target environment set.

use super::{BuildCtx, BuildError};
use crate::recipe::options::ScriptOptions;

pub fn build(ctx: &BuildCtx, opts: &ScriptOptions) -> Result<(), BuildError> {
    let work = ctx.work_dir();
    for step in &opts.steps {
        ctx.shell(step, &work)?;
    }
    Ok(())
}
