//! After a build: every target package that is built (or up to date) gets
//! its license files and its SBOM in `out/<target>/`.

use std::collections::BTreeMap;

use crate::error::Error;
use crate::graph::{HOST, NodeId};
use crate::job::Layout;
use crate::provenance::{Publish, publish};
use crate::recipe::Recipe;
use crate::scheduler::{NodeReport, Outcome};

pub fn publish_all(
    reports: &[NodeReport],
    recipes: &BTreeMap<NodeId, Recipe>,
    layout: &Layout,
    debian_archive: Option<&str>,
) -> Result<(), Error> {
    let staged = |id: &NodeId| layout.staged(&id.target, &id.name);
    for report in reports {
        if report.target == HOST || !matches!(report.outcome, Outcome::Built { .. } | Outcome::Cached { .. }) {
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
            debian_archive,
        })?;
        for w in &published.warnings {
            eprintln!("warning: {w}");
        }
    }
    Ok(())
}
