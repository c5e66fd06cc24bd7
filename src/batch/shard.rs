//! The generic sharded mode (`recipe build --shard K/N`), for CI matrices
//! that are not a workload manager: each shard builds a stable share of the
//! roots (dependencies come from the remote cache when another shard built
//! them, are built otherwise), and the shards' reports merge into one.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::BatchError;
use crate::build::scheduler::{NodeReport, Outcome};
use crate::report::{Report, Status};

/// Shard K of N (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// `K/N` with 1 ≤ K ≤ N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("`{text}` is not a shard: write K/N with 1 ≤ K ≤ N, e.g. 2/8");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let index: u32 = k.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether root `name` belongs to this shard: by a hash of the name
    /// alone, so a package stays in its shard when others come and go.
    pub fn owns(&self, name: &str) -> bool {
        let digest = Sha256::digest(name.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first) % u64::from(self.count) == u64::from(self.index - 1)
    }

    /// This shard's share of `roots`, in their order.
    pub fn select(&self, roots: &[String]) -> Vec<String> {
        roots.iter().filter(|r| self.owns(r)).cloned().collect()
    }
}

/// Precedence when shards disagree on a package: one that built it says
/// most, then one where it failed; a restore or a skip says least.
fn rank(status: Status) -> u8 {
    match status {
        Status::Built => 4,
        Status::Failed => 3,
        Status::Cached | Status::Restored => 2,
        Status::Skipped => 1,
    }
}

/// The node reports of several shards' `report.json`, one per package,
/// in the order first seen.
pub fn merge_reports(paths: &[&Path]) -> Result<Vec<NodeReport>, BatchError> {
    let mut order: Vec<String> = Vec::new();
    let mut best: BTreeMap<String, (Status, NodeReport)> = BTreeMap::new();
    for path in paths {
        let report: Report = super::record::read_json_sized(path, 64 << 20)?;
        for p in report.packages {
            let id = format!("{}@{}", p.name, p.target);
            let outcome = match p.status {
                Status::Built => Outcome::Built {
                    digest: p.digest.clone().unwrap_or_default(),
                },
                Status::Cached => Outcome::Cached {
                    digest: p.digest.clone().unwrap_or_default(),
                },
                Status::Restored => Outcome::Restored {
                    digest: p.digest.clone().unwrap_or_default(),
                },
                Status::Failed => Outcome::Failed {
                    error: p.error.clone().unwrap_or_default(),
                },
                Status::Skipped => Outcome::Skipped {
                    because: p.skipped_because.clone().unwrap_or_default(),
                },
            };
            let node = NodeReport {
                name: p.name,
                target: p.target,
                outcome,
                duration_ms: p.duration_ms,
                key: p.key.unwrap_or_default(),
                reasons: p.reasons,
                log: p.log,
                artifacts: p.artifacts.into_iter().map(|a| a.path).collect(),
                spans: Vec::new(),
                critical: false,
            };
            match best.get(&id) {
                None => {
                    order.push(id.clone());
                    best.insert(id, (p.status, node));
                }
                Some((s, _)) if rank(p.status) > rank(*s) => {
                    best.insert(id, (p.status, node));
                }
                Some(_) => {}
            }
        }
    }
    Ok(order
        .into_iter()
        .filter_map(|id| best.remove(&id).map(|(_, n)| n))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_partition() {
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 2, count: 3 }));
        for bad in ["0/3", "4/3", "1/0", "1", "a/b", "-1/2"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let roots: Vec<String> = (0..50).map(|i| format!("pkg{i}")).collect();
        let shares: Vec<Vec<String>> = (1..=4).map(|k| Shard { index: k, count: 4 }.select(&roots)).collect();
        let mut all: Vec<String> = shares.concat();
        all.sort();
        let mut want = roots.clone();
        want.sort();
        assert_eq!(all, want, "every root in exactly one shard");
        assert!(shares.iter().all(|s| !s.is_empty()), "{shares:?}");
        // A root keeps its shard when another one appears.
        let mut more = roots.clone();
        more.push("newcomer".into());
        assert!(Shard { index: 1, count: 4 }.select(&more).starts_with(&shares[0]));
    }
}
