//! `recipe build --check NAME`: NAME is built again, forced, in a scratch
//! build directory (another path, so another `TMPDIR` and host prefix, at
//! another time), and its output and artifacts are compared with those of
//! the build directory, as Debian's reproducible builds do. Its
//! dependencies come from the local store, so only NAME itself is rebuilt.

use std::path::PathBuf;

use crate::build::scheduler::NodeReport;
use crate::error::Error;
use crate::plan::graph::NodeId;

use super::{BuildRequest, Session, ensure_success, layout};

/// What one check found.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub id: NodeId,
    /// The first differing file and how it differs; `None`: bit-identical.
    pub difference: Option<String>,
    /// The artifacts compared (those of the build directory).
    pub artifacts: Vec<PathBuf>,
}

impl Session<'_> {
    /// Rebuilds each of `names` for each of the request's targets in a
    /// scratch directory and compares with what `request`'s build directory
    /// holds (build that first). The scratch directory is removed after.
    pub fn check(
        &self,
        request: &BuildRequest,
        names: &[String],
        first: &[NodeReport],
    ) -> Result<Vec<CheckResult>, Error> {
        let here = layout(self.settings, request.build_dir.as_deref(), request.out_dir.as_deref());
        let mut results = Vec::new();
        for target in &request.targets {
            for name in names {
                let id = NodeId {
                    name: name.clone(),
                    target: target.clone(),
                };
                let scratch = tempfile::Builder::new()
                    .prefix("recipe-check-")
                    .tempdir()
                    .map_err(|e| Error::io("cannot create a scratch build directory", e))?;
                eprintln!("checking {id}: building it again in {}", scratch.path().display());
                let again = self.build(BuildRequest {
                    names: vec![name.clone()],
                    targets: vec![target.clone()],
                    force: vec![name.clone()],
                    build_dir: Some(scratch.path().join("build")),
                    out_dir: Some(scratch.path().join("out")),
                    jobs: request.jobs,
                    offline: request.offline,
                    // The local store gives the dependencies; the remote
                    // cache is left alone.
                    no_remote_cache: true,
                    limits: request.limits.clone(),
                    ..BuildRequest::default()
                })?;
                ensure_success(&again)?;
                let there = layout(
                    self.settings,
                    Some(&scratch.path().join("build")),
                    Some(&scratch.path().join("out")),
                );
                let mut difference =
                    crate::package::compare::first_difference(&here.staged(target, name), &there.staged(target, name))
                        .map_err(|e| Error::io("cannot compare the two builds", e))?;
                let artifacts = artifacts_of(first, &id);
                if difference.is_none() {
                    difference = compare_artifacts(&artifacts, &artifacts_of(&again, &id))?;
                }
                results.push(CheckResult {
                    id,
                    difference,
                    artifacts,
                });
            }
        }
        Ok(results)
    }
}

fn artifacts_of(reports: &[NodeReport], id: &NodeId) -> Vec<PathBuf> {
    reports
        .iter()
        .find(|r| r.name == id.name && r.target == id.target)
        .map(|r| r.artifacts.clone())
        .unwrap_or_default()
}

/// Artifacts are made from the staged output, so they match when it does;
/// compared anyway, since they are what users receive.
fn compare_artifacts(here: &[PathBuf], there: &[PathBuf]) -> Result<Option<String>, Error> {
    let names = |v: &[PathBuf]| {
        v.iter()
            .filter_map(|p| p.file_name().map(|n| n.to_owned()))
            .collect::<Vec<_>>()
    };
    if names(here) != names(there) {
        return Ok(Some(format!(
            "the artifacts differ: {:?} and {:?}",
            names(here),
            names(there)
        )));
    }
    for (a, b) in here.iter().zip(there) {
        let (ha, hb) = (crate::outputs::key::sha256_file(a), crate::outputs::key::sha256_file(b));
        let (ha, hb) = (
            ha.map_err(|e| Error::io(format!("cannot read {}", a.display()), e))?,
            hb.map_err(|e| Error::io(format!("cannot read {}", b.display()), e))?,
        );
        if ha != hb {
            let name = a.file_name().unwrap_or_default().to_string_lossy();
            return Ok(Some(format!("{name}: sha256 {ha} and {hb}")));
        }
    }
    Ok(None)
}
