//! When each job ran and on which worker slot, and the chain of jobs that
//! set the length of the run (the critical path as it happened).

use std::collections::{BTreeMap, BTreeSet};

use petgraph::stable_graph::NodeIndex;
use serde::{Deserialize, Serialize};

use crate::plan::graph::Plan;

/// One stretch of work on a worker slot, in ms since the run started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub phase: SpanPhase,
    /// Worker slot, 0 .. jobs.
    pub slot: usize,
    pub start_ms: u64,
    pub end_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpanPhase {
    /// The early phase run before the dependencies were built.
    Prepare,
    Build,
}

/// Worker slots, lowest free first, so the chart stays compact; never more
/// than the number of jobs running at once.
#[derive(Default)]
pub(crate) struct Slots {
    free: BTreeSet<usize>,
    next: usize,
}

impl Slots {
    pub(crate) fn take(&mut self) -> usize {
        self.free.pop_first().unwrap_or_else(|| {
            self.next += 1;
            self.next - 1
        })
    }

    pub(crate) fn give_back(&mut self, slot: usize) {
        self.free.insert(slot);
    }
}

/// The jobs that set the run's length: from the one that finished last,
/// back through the (transitive) dependency that finished last before it,
/// until one waited for nothing that ran.
pub(crate) fn critical_path(plan: &Plan, spans: &BTreeMap<NodeIndex, Vec<Span>>) -> BTreeSet<NodeIndex> {
    let end = |ix: &NodeIndex| spans.get(ix).and_then(|s| s.iter().map(|s| s.end_ms).max());
    let mut path = BTreeSet::new();
    let mut current = plan
        .order
        .iter()
        .filter_map(|ix| end(ix).map(|e| (e, *ix)))
        .max_by_key(|(e, _)| *e)
        .map(|(_, ix)| ix);
    while let Some(ix) = current {
        path.insert(ix);
        current = super::transitive_deps(plan, ix)
            .into_iter()
            .filter_map(|d| end(&d).map(|e| (e, d)))
            .max_by_key(|(e, _)| *e)
            .map(|(_, d)| d);
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::scheduler::order::tests::plan;

    fn build(slot: usize, start_ms: u64, end_ms: u64) -> Vec<Span> {
        vec![Span {
            phase: SpanPhase::Build,
            slot,
            start_ms,
            end_ms,
        }]
    }

    #[test]
    fn the_critical_path_follows_what_each_job_waited_for() {
        // lz4 and libuv in parallel, sqlite after lz4 on the same slot,
        // dqlite after all three; "cached" never ran.
        let p = plan(&[
            ("cached", &[]),
            ("libuv", &[]),
            ("lz4", &[]),
            ("sqlite", &[]),
            ("mid", &["cached"]),
            ("dqlite", &["libuv", "lz4", "sqlite", "mid"]),
        ]);
        let ix = |n: &str| p.order.iter().copied().find(|i| p.node(*i).name == n).expect("node");
        let spans = BTreeMap::from([
            (ix("libuv"), build(1, 0, 20)),
            (ix("lz4"), build(0, 0, 5)),
            (ix("sqlite"), build(0, 5, 70)),
            (ix("mid"), build(1, 20, 30)),
            (ix("dqlite"), build(0, 70, 150)),
        ]);
        let path: Vec<String> = critical_path(&p, &spans)
            .into_iter()
            .map(|i| p.node(i).name.clone())
            .collect();
        assert_eq!(path, ["sqlite", "dqlite"]);
        assert!(critical_path(&p, &BTreeMap::new()).is_empty(), "a no-op run has none");
    }

    #[test]
    fn slots_are_reused_lowest_first() {
        let mut s = Slots::default();
        assert_eq!((s.take(), s.take()), (0, 1));
        s.give_back(1);
        s.give_back(0);
        assert_eq!((s.take(), s.take(), s.take()), (0, 1, 2));
    }
}
