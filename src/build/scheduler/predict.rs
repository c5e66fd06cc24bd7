//! Which packages the local store will most likely restore, guessed before
//! the run from their own inputs and the store's entries: a package whose
//! dependencies are all predicted (or up to date) and whose key then has an
//! entry. Only used to not prepare such packages early (sources, autoreconf
//! would be wasted work on a second checkout); the restore itself still
//! checks everything at the package's turn.

use std::collections::{BTreeMap, BTreeSet};

use petgraph::stable_graph::NodeIndex;

use super::decide::rebuilds_anyway;
use crate::outputs::key::{KeyInputs, Stamp};
use crate::plan::graph::Plan;
use crate::remote::LocalStore;

pub(super) fn store_hits(
    plan: &Plan,
    known: &BTreeMap<NodeIndex, (KeyInputs, Option<Stamp>)>,
    store: &LocalStore,
) -> BTreeSet<NodeIndex> {
    let mut digests: BTreeMap<NodeIndex, String> = BTreeMap::new();
    let mut hits = BTreeSet::new();
    for ix in plan.order.iter().copied() {
        let Some((own, stamp)) = known.get(&ix) else { continue };
        let mut inputs = own.clone();
        let mut complete = true;
        for d in plan.deps(ix) {
            match digests.get(&d) {
                Some(digest) => {
                    inputs.deps.insert(plan.node(d).to_string(), digest.clone());
                }
                None => complete = false,
            }
        }
        if !complete {
            continue;
        }
        if let Some(digest) = store.entry_digest(&inputs.key()) {
            hits.insert(ix);
            digests.insert(ix, digest);
        } else if let Some(s) = stamp
            .as_ref()
            .filter(|s| s.key == inputs.key() && !rebuilds_anyway(own, Some(s), false))
        {
            digests.insert(ix, s.output_digest.clone());
        }
    }
    hits
}
