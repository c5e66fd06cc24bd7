//! A discrete-event replay of a plan on `workers` slots, with no build:
//! given each job's duration, when would the run end? The ranking is the
//! scheduler's own ([`order`]: weights from the times the scheduler would
//! know, longest remaining path first) and the launch rule is the one of
//! `exec::launches`: whenever a slot is free, the first ready job in that
//! ranking starts. A job is one piece here: the early phase a real run may
//! start before its dependencies end (sources, `autoreconf`) is not
//! modelled. Used by `benches/batch_sim/` to size a nightly batch.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use petgraph::stable_graph::NodeIndex;

use super::order;
use crate::plan::graph::Plan;

/// Which ready job takes a free slot first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// The scheduler's: longest remaining path first, each job weighted by
    /// its estimate (the last build time a stamp records; the median of
    /// the known ones for a job never built).
    CriticalPathFirst,
    /// The plan's topological order (what a first-come, first-served
    /// queue does with jobs submitted in plan order).
    PlanOrder,
}

/// What one replay found. Times in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    pub workers: usize,
    pub jobs: usize,
    /// When the last job ends.
    pub makespan_ms: u64,
    /// The longest dependency chain, by actual durations: no number of
    /// workers ends the run before it.
    pub critical_path_ms: u64,
    /// The sum of all durations.
    pub total_work_ms: u64,
}

impl Replay {
    /// The run can end no earlier than this: the critical path, or the
    /// work shared perfectly among the workers.
    pub fn lower_bound_ms(&self) -> u64 {
        self.critical_path_ms
            .max(self.total_work_ms.div_ceil(self.workers.max(1) as u64))
    }

    /// Busy share of the workers' time, 0..=1.
    pub fn utilisation(&self) -> f64 {
        let capacity = self.makespan_ms as f64 * self.workers.max(1) as f64;
        if capacity == 0.0 {
            1.0
        } else {
            self.total_work_ms as f64 / capacity
        }
    }
}

/// Replays `plan` on `workers` slots. `actual` is each job's duration (a
/// job missing from it takes no time); `estimates` is what the scheduler
/// believes before the run (`None`: never built), as it reads them from
/// stamps.
pub fn replay(
    plan: &Plan,
    actual: &BTreeMap<NodeIndex, u64>,
    estimates: &BTreeMap<NodeIndex, Option<u64>>,
    workers: usize,
    priority: Priority,
) -> Replay {
    let ranking = match priority {
        Priority::CriticalPathFirst => order::by_priority(plan, &order::remaining(plan, &order::weights(estimates))),
        Priority::PlanOrder => plan.order.clone(),
    };
    let makespan_ms = list_schedule(plan, &ranking, actual, workers.max(1));
    Replay {
        workers,
        jobs: plan.len(),
        makespan_ms,
        critical_path_ms: critical_path_ms(plan, actual),
        total_work_ms: plan.order.iter().map(|ix| actual.get(ix).copied().unwrap_or(0)).sum(),
    }
}

/// The longest chain of `plan` weighted by `actual` (the same walk the
/// scheduler ranks with, on the true durations).
pub fn critical_path_ms(plan: &Plan, actual: &BTreeMap<NodeIndex, u64>) -> u64 {
    order::remaining(plan, actual).values().copied().max().unwrap_or(0)
}

/// The event loop: start the best-ranked ready jobs while slots are free,
/// jump to the next end, release its dependents. Jobs ending at the same
/// instant are all released before anything starts.
fn list_schedule(plan: &Plan, ranking: &[NodeIndex], actual: &BTreeMap<NodeIndex, u64>, workers: usize) -> u64 {
    let rank: BTreeMap<NodeIndex, usize> = ranking.iter().enumerate().map(|(r, ix)| (*ix, r)).collect();
    let mut missing: BTreeMap<NodeIndex, usize> = ranking.iter().map(|ix| (*ix, plan.deps(*ix).len())).collect();
    // Ready jobs by rank: the first is the one `exec::launches` would meet
    // first in its walk of the ranking.
    let mut ready: BTreeSet<usize> = missing
        .iter()
        .filter(|(_, n)| **n == 0)
        .filter_map(|(ix, _)| rank.get(ix).copied())
        .collect();
    let mut running: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let (mut now, mut free) = (0u64, workers);
    loop {
        while free > 0
            && let Some(r) = ready.pop_first()
        {
            let end = now.saturating_add(actual.get(&ranking[r]).copied().unwrap_or(0));
            running.push(Reverse((end, r)));
            free -= 1;
        }
        let Some(Reverse((end, _))) = running.peek().copied() else {
            break;
        };
        now = end;
        while let Some(Reverse((_, r))) = running.peek().copied().filter(|Reverse((t, _))| *t == now) {
            running.pop();
            free += 1;
            for d in plan.dependents(ranking[r]) {
                if let Some(n) = missing.get_mut(&d) {
                    *n = n.saturating_sub(1);
                    if *n == 0
                        && let Some(rd) = rank.get(&d)
                    {
                        ready.insert(*rd);
                    }
                }
            }
        }
    }
    now
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::scheduler::order::tests::plan;

    fn times(p: &Plan, ms: &[u64]) -> BTreeMap<NodeIndex, u64> {
        p.order.iter().copied().zip(ms.iter().copied()).collect()
    }

    fn known(actual: &BTreeMap<NodeIndex, u64>) -> BTreeMap<NodeIndex, Option<u64>> {
        actual.iter().map(|(ix, ms)| (*ix, Some(*ms))).collect()
    }

    #[test]
    fn a_chain_takes_the_sum_of_its_jobs_whatever_the_workers() {
        let p = plan(&[("a", &[]), ("b", &["a"]), ("c", &["b"]), ("d", &["c"])]);
        let t = times(&p, &[3, 5, 7, 11]);
        for workers in [1, 8, 64] {
            for priority in [Priority::CriticalPathFirst, Priority::PlanOrder] {
                let r = replay(&p, &t, &known(&t), workers, priority);
                assert_eq!((r.makespan_ms, r.critical_path_ms, r.total_work_ms), (26, 26, 26));
            }
        }
    }

    #[test]
    fn independent_equal_jobs_take_ceil_n_over_workers_rounds() {
        let names: Vec<String> = (0..100).map(|i| format!("p{i:03}")).collect();
        let nodes: Vec<(&str, &[&str])> = names.iter().map(|n| (n.as_str(), &[][..])).collect();
        let p = plan(&nodes);
        let t = times(&p, &[7; 100]);
        for (workers, rounds) in [(1, 100), (8, 13), (64, 2), (100, 1), (1000, 1)] {
            let r = replay(&p, &t, &known(&t), workers, Priority::CriticalPathFirst);
            assert_eq!(r.makespan_ms, 7 * rounds, "{workers} workers");
            assert_eq!(r.lower_bound_ms(), (700u64).div_ceil(workers as u64).max(7));
        }
    }

    /// The long chain listed last: plan order starts the short jobs first
    /// and the chain ends late; the scheduler's ranking starts the chain at
    /// once and the run ends with it.
    #[test]
    fn critical_path_first_starts_the_long_chain_at_once() {
        let p = plan(&[
            ("s1", &[]),
            ("s2", &[]),
            ("s3", &[]),
            ("s4", &[]),
            ("long1", &[]),
            ("long2", &["long1"]),
        ]);
        let t = times(&p, &[10, 10, 10, 10, 30, 30]);
        let best = replay(&p, &t, &known(&t), 2, Priority::CriticalPathFirst);
        // long1 ‖ s1,s2,s3 (0–30); long2 ‖ s4 (30–60).
        assert_eq!(best.makespan_ms, 60);
        assert_eq!(best.makespan_ms, best.critical_path_ms);
        let fifo = replay(&p, &t, &known(&t), 2, Priority::PlanOrder);
        // s1‖s2, s3‖s4, then long1‖idle, long2: 20 + 60.
        assert_eq!(fifo.makespan_ms, 80);
    }

    /// Without stamps every job weighs the same: ties keep plan order and
    /// the long job listed last waits behind the short ones.
    #[test]
    fn estimates_are_what_the_ranking_sees() {
        let p = plan(&[("f1", &[]), ("f2", &[]), ("long", &[])]);
        let t = times(&p, &[50, 50, 100]);
        let blind: BTreeMap<NodeIndex, Option<u64>> = p.order.iter().map(|ix| (*ix, None)).collect();
        assert_eq!(replay(&p, &t, &blind, 2, Priority::CriticalPathFirst).makespan_ms, 150);
        let r = replay(&p, &t, &known(&t), 2, Priority::CriticalPathFirst);
        assert_eq!((r.makespan_ms, r.lower_bound_ms()), (100, 100));
        assert!((r.utilisation() - 1.0).abs() < 1e-9);
        // One worker: any order takes the total.
        assert_eq!(replay(&p, &t, &blind, 1, Priority::CriticalPathFirst).makespan_ms, 200);
    }

    /// Graham's bound for any list schedule: makespan ≤ work / N + critical path.
    #[test]
    fn a_fan_in_stays_within_grahams_bound() {
        let mut nodes: Vec<(String, Vec<String>)> = Vec::new();
        for i in 0..40 {
            let deps = if i % 3 == 0 && i > 0 {
                vec![format!("n{:02}", i - 1)]
            } else {
                vec![]
            };
            nodes.push((format!("n{i:02}"), deps));
        }
        nodes.push(("top".into(), nodes.iter().map(|(n, _)| n.clone()).collect()));
        let refs: Vec<Vec<&str>> = nodes
            .iter()
            .map(|(_, d)| d.iter().map(String::as_str).collect())
            .collect();
        let list: Vec<(&str, &[&str])> = nodes
            .iter()
            .zip(&refs)
            .map(|((n, _), d)| (n.as_str(), &d[..]))
            .collect();
        let p = plan(&list);
        let ms: Vec<u64> = (0..41u64).map(|i| 1 + (i * 37) % 23).collect();
        let t = times(&p, &ms);
        for workers in [1, 3, 8] {
            let r = replay(&p, &t, &known(&t), workers, Priority::CriticalPathFirst);
            assert!(r.makespan_ms >= r.lower_bound_ms());
            assert!(r.makespan_ms <= r.total_work_ms / workers as u64 + r.critical_path_ms);
        }
    }
}
