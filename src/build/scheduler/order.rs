//! Which ready job goes first: the one with the longest remaining path to
//! the end of the graph (critical path first), each package weighted by its
//! last build time from its stamp. A short package started early only
//! delays the long chain that decides when the run ends.

use std::collections::BTreeMap;

use petgraph::stable_graph::NodeIndex;

use crate::plan::graph::Plan;

/// Weight of a package never built here, when no other package has a
/// recorded time either.
const DEFAULT_WEIGHT_MS: u64 = 1_000;

/// Each node's weight: its last build time, or for one without a stamp the
/// median of the known times (a new package is as costly as a typical
/// one, not free). At least 1, so a dependency always ranks above its
/// dependents.
pub(crate) fn weights(last_ms: &BTreeMap<NodeIndex, Option<u64>>) -> BTreeMap<NodeIndex, u64> {
    let mut known: Vec<u64> = last_ms.values().filter_map(|v| *v).collect();
    known.sort_unstable();
    let fallback = known.get(known.len() / 2).copied().unwrap_or(DEFAULT_WEIGHT_MS);
    last_ms
        .iter()
        .map(|(ix, ms)| (*ix, ms.unwrap_or(fallback).max(1)))
        .collect()
}

/// Longest path from each node to the end of the graph, its own weight
/// included (the "bottom level" of list scheduling).
pub(crate) fn remaining(plan: &Plan, weight: &BTreeMap<NodeIndex, u64>) -> BTreeMap<NodeIndex, u64> {
    let mut out: BTreeMap<NodeIndex, u64> = BTreeMap::new();
    for ix in plan.order.iter().rev() {
        let after = plan
            .dependents(*ix)
            .iter()
            .filter_map(|d| out.get(d))
            .max()
            .copied()
            .unwrap_or(0);
        out.insert(*ix, weight.get(ix).copied().unwrap_or(1).saturating_add(after));
    }
    out
}

/// The plan's nodes, longest remaining path first; ties keep plan order.
/// Still a valid build order: with weights ≥ 1 a dependency's remaining
/// path is longer than any of its dependents'.
pub(crate) fn by_priority(plan: &Plan, remaining: &BTreeMap<NodeIndex, u64>) -> Vec<NodeIndex> {
    let mut order = plan.order.clone();
    order.sort_by_key(|ix| std::cmp::Reverse(remaining.get(ix).copied().unwrap_or(0)));
    order
}

#[cfg(test)]
pub(crate) mod tests {
    use petgraph::stable_graph::StableDiGraph;

    use super::*;
    use crate::plan::graph::{DepKind, NodeId};

    /// A plan from `(name, deps)` pairs listed dependencies first.
    pub(crate) fn plan(nodes: &[(&str, &[&str])]) -> Plan {
        let mut graph: StableDiGraph<NodeId, DepKind> = StableDiGraph::new();
        let mut ix: BTreeMap<&str, NodeIndex> = BTreeMap::new();
        let mut order = Vec::new();
        for (name, deps) in nodes {
            let n = graph.add_node(NodeId {
                name: (*name).into(),
                target: "armv7hf".into(),
            });
            for d in *deps {
                graph.add_edge(ix[d], n, DepKind::Target);
            }
            ix.insert(name, n);
            order.push(n);
        }
        Plan {
            graph,
            roots: order.clone(),
            order,
        }
    }

    fn names(plan: &Plan, order: &[NodeIndex]) -> Vec<String> {
        order.iter().map(|ix| plan.node(*ix).name.clone()).collect()
    }

    fn by_name(plan: &Plan, ms: &[(&str, Option<u64>)]) -> BTreeMap<NodeIndex, Option<u64>> {
        plan.order
            .iter()
            .map(|ix| {
                let name = &plan.node(*ix).name;
                (*ix, ms.iter().find(|(n, _)| n == name).and_then(|(_, v)| *v))
            })
            .collect()
    }

    /// The reference graph: sqlite (slow) and dqlite after it come before
    /// libuv and lz4, although the plan lists those first.
    #[test]
    fn the_longest_remaining_path_goes_first() {
        let p = plan(&[
            ("libuv", &[]),
            ("lz4", &[]),
            ("sqlite", &[]),
            ("dqlite", &["libuv", "lz4", "sqlite"]),
            ("tool", &[]),
        ]);
        let w = weights(&by_name(
            &p,
            &[
                ("libuv", Some(20_000)),
                ("lz4", Some(5_000)),
                ("sqlite", Some(70_000)),
                ("dqlite", Some(80_000)),
                ("tool", Some(100_000)),
            ],
        ));
        let r = remaining(&p, &w);
        assert_eq!(r[&p.order[2]], 150_000, "sqlite + dqlite");
        assert_eq!(
            names(&p, &by_priority(&p, &r)),
            ["sqlite", "libuv", "tool", "lz4", "dqlite"]
        );
    }

    #[test]
    fn unknown_weights_take_the_median_and_ties_keep_plan_order() {
        let p = plan(&[("a", &[]), ("b", &[]), ("c", &["b"]), ("d", &[])]);
        let w = weights(&by_name(
            &p,
            &[("a", Some(10)), ("b", None), ("c", Some(30)), ("d", Some(0))],
        ));
        // Known: 0, 10, 30 → median 10 for b; d's 0 becomes 1.
        assert_eq!(w.values().copied().collect::<Vec<_>>(), [10, 10, 30, 1]);
        let r = remaining(&p, &w);
        assert_eq!(names(&p, &by_priority(&p, &r)), ["b", "c", "a", "d"]);
        // Nothing known at all: every package weighs the same, the longest
        // chain first, then plan order.
        let w = weights(&by_name(&p, &[]));
        let r = remaining(&p, &w);
        assert_eq!(names(&p, &by_priority(&p, &r)), ["b", "a", "c", "d"]);
    }

    #[test]
    fn priority_order_is_a_build_order() {
        // Zero-length stamps everywhere: dependencies still come first.
        let p = plan(&[("z", &[]), ("y", &["z"]), ("x", &["y"]), ("w", &["x", "z"])]);
        let w = weights(&by_name(
            &p,
            &[("z", Some(0)), ("y", Some(0)), ("x", Some(0)), ("w", Some(0))],
        ));
        let order = by_priority(&p, &remaining(&p, &w));
        for (i, ix) in order.iter().enumerate() {
            for d in p.deps(*ix) {
                assert!(order[..i].contains(&d), "{:?}", names(&p, &order));
            }
        }
    }
}
