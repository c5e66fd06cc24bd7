//! `recipe build`: the arguments as a build request; an error when any
//! package failed.

use crate::cli::BuildCmd;
use crate::error::Error;
use crate::pipeline::{BuildRequest, Session, ensure_success};
use crate::settings::Settings;

pub fn run(settings: &Settings, cmd: BuildCmd) -> Result<(), Error> {
    // Destructure so a new flag cannot be silently ignored.
    let BuildCmd {
        names,
        all,
        target,
        jobs,
        keep_going,
        offline,
        force,
        explain,
        build_dir,
        out_dir,
        report,
        remote_cache,
        no_remote_cache,
        remote_read_only,
        shard,
        limits,
    } = cmd;
    let session = Session::open(settings)?;
    let reports = session.build(BuildRequest {
        names,
        all,
        targets: target,
        jobs,
        keep_going,
        offline,
        force,
        explain,
        build_dir,
        out_dir,
        report,
        remote_cache,
        no_remote_cache,
        remote_read_only,
        limits: limits.into(),
        restore_deps_only: false,
        shard,
    })?;
    ensure_success(&reports)
}
