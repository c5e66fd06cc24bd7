//! The batch as a graph of (package, target) jobs, each with its build key
//! where it can be known before anything runs.
//!
//! A key includes the *output digests* of the package's direct dependencies
//! (early cutoff), so it is known bottom-up only: a dependency's digest comes
//! from a local stamp whose key matches, or from the remote cache's entry
//! under the dependency's key. A job below which something still has to be
//! built has no key yet (`key: null` and why); its command computes it when
//! it runs, after restoring its dependencies.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::outputs::key::{KeyInputs, Stamp};
use crate::plan::graph::{NodeId, Plan};

pub const PLAN_FORMAT: u32 = 1;

/// `recipe batch plan`'s output (also kept as `plan.json` in the records
/// directory, where `recipe batch report` reads the graph).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchPlan {
    pub format: u32,
    pub targets: Vec<String>,
    /// The remote cache, credentials redacted (`None`: none configured).
    pub remote_cache: Option<String>,
    /// Names the jobs' records in the remote cache (see `shared`); empty
    /// without a remote cache.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub batch_id: String,
    /// In plan order: every job after the jobs it depends on.
    pub jobs: Vec<Job>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// `package@target`.
    pub id: String,
    pub package: String,
    pub target: String,
    /// The build key, when every dependency's output digest is known.
    pub key: Option<String>,
    /// Why `key` is null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_unknown_because: Option<String>,
    /// Ids of the jobs it depends on (direct dependencies).
    pub deps: Vec<String>,
    /// The remote cache holds a usable entry under `key`.
    pub in_remote_cache: bool,
    /// Why the remote cache cannot give this job's output, when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_miss: Option<String>,
    /// The output's digest when already known (stamp or remote entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_digest: Option<String>,
    /// Cores the job asks for.
    pub cpus: u32,
    /// The `recipe` command line that runs this job anywhere.
    pub command: Vec<String>,
}

impl Job {
    pub fn node(&self) -> NodeId {
        NodeId {
            name: self.package.clone(),
            target: self.target.clone(),
        }
    }
}

/// What the remote cache says about a key.
pub enum Lookup {
    /// A usable entry, with the output digest it names.
    Hit { output_digest: String },
    /// No usable entry; why, for the plan.
    Miss(String),
}

/// What the planner is given per node (looked up by the caller).
pub struct NodeFacts {
    /// Own key inputs (everything but dependency digests).
    pub own: KeyInputs,
    pub stamp: Option<Stamp>,
    pub cpus: u32,
    pub command: Vec<String>,
}

/// The jobs of `plan`, keys computed bottom-up. `lookup` is asked once per
/// computable key (`None`: no remote cache).
pub fn compute(
    plan: &Plan,
    mut facts: BTreeMap<NodeId, NodeFacts>,
    lookup: Option<&dyn Fn(&str) -> Lookup>,
) -> Vec<Job> {
    let mut digests: BTreeMap<NodeId, String> = BTreeMap::new();
    let mut jobs = Vec::new();
    for ix in plan.order.iter().copied() {
        let id = plan.node(ix).clone();
        let deps: Vec<NodeId> = plan.deps(ix).into_iter().map(|d| plan.node(d).clone()).collect();
        let Some(f) = facts.remove(&id) else { continue };
        let unknown: Vec<String> = deps
            .iter()
            .filter(|d| !digests.contains_key(*d))
            .map(ToString::to_string)
            .collect();
        let mut job = Job {
            id: id.to_string(),
            package: id.name.clone(),
            target: id.target.clone(),
            key: None,
            key_unknown_because: None,
            deps: deps.iter().map(ToString::to_string).collect(),
            in_remote_cache: false,
            remote_miss: None,
            output_digest: None,
            cpus: f.cpus.max(1),
            command: f.command,
        };
        if !unknown.is_empty() {
            job.key_unknown_because = Some(format!(
                "the output of {} is not known until its job has run",
                unknown.join(", ")
            ));
            jobs.push(job);
            continue;
        }
        let inputs = KeyInputs {
            deps: deps
                .iter()
                .filter_map(|d| digests.get(d).map(|g| (d.to_string(), g.clone())))
                .collect(),
            ..f.own
        };
        let key = inputs.key();
        let remote = lookup.map(|l| l(&key));
        if let Some(Lookup::Miss(why)) = &remote {
            job.remote_miss = Some(why.clone());
        }
        if let Some(Lookup::Hit { output_digest }) = &remote {
            job.in_remote_cache = true;
            job.output_digest = Some(output_digest.clone());
        } else if let Some(stamp) = f.stamp.filter(|s| s.key == key) {
            job.output_digest = Some(stamp.output_digest);
        }
        if let Some(d) = &job.output_digest {
            digests.insert(id.clone(), d.clone());
        }
        job.key = Some(key);
        jobs.push(job);
    }
    jobs
}

/// `name@target` → its parts (a name or target never holds `@`).
pub fn parse_id(id: &str) -> Option<NodeId> {
    let (name, target) = id.split_once('@')?;
    let ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+'))
            && !s.starts_with('.')
    };
    (ok(name) && ok(target)).then(|| NodeId {
        name: name.to_string(),
        target: target.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert_eq!(
            parse_id("zlib@armv7hf").map(|n| n.to_string()).as_deref(),
            Some("zlib@armv7hf")
        );
        for bad in ["zlib", "@x", "x@", "../a@b", "a@b/c", "a@b@c", "a@.."] {
            assert!(parse_id(bad).is_none(), "{bad}");
        }
    }
}
