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
        no_local_store,
        check,
        shard,
        limits,
    } = cmd;
    let session = Session::open(settings)?;
    // `--check NAME` alone builds NAME first.
    let names = if names.is_empty() && !all { check.clone() } else { names };
    let request = BuildRequest {
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
        no_local_store,
        limits: limits.into(),
        restore_deps_only: false,
        shard,
    };
    let reports = session.build(request.clone())?;
    ensure_success(&reports)?;
    if check.is_empty() {
        return Ok(());
    }
    let results = session.check(&request, &check, &reports)?;
    let mut first_difference = None;
    for r in &results {
        match &r.difference {
            None => {
                eprintln!("reproducible: {} (output and artifacts bit-identical)", r.id);
                for a in &r.artifacts {
                    eprintln!("  {}", a.display());
                }
            }
            Some(d) => {
                eprintln!("NOT reproducible: {}: {d}", r.id);
                first_difference.get_or_insert_with(|| format!("{}: {d}", r.id));
            }
        }
    }
    match first_difference {
        Some(first) => Err(Error::NotReproducible { first }),
        None => Ok(()),
    }
}
