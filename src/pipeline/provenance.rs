//! After a build: every target package that is built (or up to date) gets
//! its license files and its SBOM in `out/<target>/`; a report also gets
//! the upstream versions of the recipes of the run.

use std::collections::BTreeMap;

use crate::build::job::Layout;
use crate::build::scheduler::{NodeReport, Outcome};
use crate::error::Error;
use crate::plan::graph::{HOST, NodeId};
use crate::provenance::{Publish, publish};
use crate::recipe::Recipe;

pub fn publish_all(
    reports: &[NodeReport],
    recipes: &BTreeMap<NodeId, Recipe>,
    layout: &Layout,
    debian_archive: Option<&str>,
) -> Result<(), Error> {
    let staged = |id: &NodeId| layout.staged(&id.target, &id.name);
    let (mut sboms, mut license_dirs) = (0, 0);
    for report in reports {
        if report.target == HOST
            || !matches!(
                report.outcome,
                Outcome::Built { .. } | Outcome::Cached { .. } | Outcome::Restored { .. }
            )
        {
            continue;
        }
        let node = NodeId {
            name: report.name.clone(),
            target: report.target.clone(),
        };
        let published = publish(&Publish {
            node: &node,
            recipes,
            staged: &staged,
            out_dir: &layout.out_root.join(&report.target),
            artifacts: &report.artifacts,
            state_dir: &layout.package_dir(&report.target, &report.name),
            debian_archive,
        })?;
        for w in &published.warnings {
            eprintln!("warning: {w}");
        }
        sboms += usize::from(published.sbom.is_file());
        license_dirs += usize::from(published.license_dir.is_some());
    }
    if sboms > 0 {
        eprintln!(
            "provenance: {sboms} SBOM(s) (<name>-<version>.spdx.json) and {license_dirs} license dir(s) (licenses/) in {}",
            layout.out_root.display()
        );
    }
    Ok(())
}

/// `recipe outdated` for the recipes of the run (those with a Debian or
/// Python origin), as report rows. Offline, only cached Debian indexes are
/// read; Python lookups become rows saying they were not made.
pub fn upstream_versions(
    fetch: &crate::fetch::FetchContext,
    project: &crate::model::project::Project,
    recipes: &BTreeMap<NodeId, Recipe>,
) -> Vec<crate::report::UpstreamEntry> {
    let mut names: Vec<String> = recipes.keys().map(|id| id.name.clone()).collect();
    names.sort();
    names.dedup();
    crate::maintain::check_outdated(fetch, project, &names)
        .into_iter()
        .filter(|row| row.status != crate::maintain::Status::NoUpstream)
        .map(|row| crate::report::UpstreamEntry {
            location: row.where_(),
            status: row.status.label().to_string(),
            name: row.name,
            current: row.current,
            newest: row.newest,
        })
        .collect()
}
