//! Runs a plan: up to `jobs` packages at once, all sharing one GNU make
//! jobserver of `jobs` tokens (each running package holds one), so total
//! parallelism stays `jobs`. Unchanged packages are skipped by key.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use petgraph::stable_graph::NodeIndex;

use crate::activate::TargetEnv;
use crate::builders::BuildError;
use crate::cache::{self, KeyInputs, Stamp};
use crate::graph::{NodeId, Plan};
use crate::job::{self, JobInput, Layout};
use crate::process::Log;
use crate::progress::Progress;
use crate::recipe::Recipe;

pub struct Options {
    pub jobs: usize,
    pub keep_going: bool,
    pub force: BTreeSet<String>,
    pub explain: bool,
    /// Packages that failed before the run (their sources), with the
    /// first line of why: reported failed, their dependents skipped.
    pub failed: BTreeMap<NodeId, String>,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Outcome {
    Built { digest: String },
    Cached { digest: String },
    Failed { error: String },
    Skipped { because: String },
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeReport {
    pub name: String,
    pub target: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub duration_ms: u64,
    pub key: String,
    /// Why it was rebuilt (or "unchanged").
    pub reasons: Vec<String>,
    pub log: PathBuf,
    pub artifacts: Vec<PathBuf>,
}

pub type Prepare<'p> = dyn Fn(&Recipe, &Path, &Log) -> Result<(), BuildError> + Sync + 'p;

pub struct Run<'a> {
    pub plan: &'a Plan,
    pub recipes: &'a BTreeMap<NodeId, Recipe>,
    pub envs: &'a BTreeMap<String, TargetEnv>,
    pub layout: &'a Layout,
    pub prepare: &'a Prepare<'a>,
    pub options: &'a Options,
    pub remote: Option<&'a crate::remote::RemoteCache>,
    pub uploads: Option<&'a crate::remote::RemoteWriter>,
}

enum State {
    Waiting,
    Done(String),
    Failed,
}

enum Phase {
    /// Only the early phase (sources, `pre-build`, `autoreconf`).
    Prepare(Result<(), BuildError>),
    Full(Result<job::JobOutput, BuildError>),
}

struct Finished {
    ix: NodeIndex,
    phase: Phase,
}

/// All transitive dependencies of `ix` in plan order.
fn transitive_deps(plan: &Plan, ix: NodeIndex) -> Vec<NodeIndex> {
    let mut seen = BTreeSet::new();
    let mut stack = plan.deps(ix);
    while let Some(d) = stack.pop() {
        if seen.insert(d) {
            stack.extend(plan.deps(d));
        }
    }
    plan.order.iter().copied().filter(|i| seen.contains(i)).collect()
}

impl Run<'_> {
    pub fn execute(&self, progress: &Progress) -> Result<Vec<NodeReport>, std::io::Error> {
        let jobs = self.options.jobs.max(1);
        let jobserver = jobserver::Client::new(jobs)?;
        let plan = self.plan;
        let mut state: BTreeMap<NodeIndex, State> = plan.order.iter().map(|ix| (*ix, State::Waiting)).collect();
        let mut reports: BTreeMap<NodeIndex, NodeReport> = BTreeMap::new();
        let mut pending: BTreeMap<NodeIndex, (crate::cache::KeyInputs, Vec<String>)> = BTreeMap::new();
        let mut running = 0usize;
        let mut stop = false;
        // Packages that rebuild whatever their dependencies produce may
        // prepare their sources (and autoreconf) while those still build.
        let mut known = self.own_inputs_and_stamps()?;
        let mut eager: BTreeSet<NodeIndex> = self.will_rebuild_anyway(&known);
        let mut preparing: BTreeSet<NodeIndex> = BTreeSet::new();
        let mut prepared: BTreeSet<NodeIndex> = BTreeSet::new();
        let (tx, rx) = mpsc::channel::<Finished>();
        progress.start(plan.len());
        for ix in plan.order.iter().copied() {
            let id = plan.node(ix);
            if let Some(error) = self.options.failed.get(id) {
                let outcome = Outcome::Failed { error: error.clone() };
                reports.insert(ix, self.report(id, outcome, 0, String::new(), vec![], vec![]));
                state.insert(ix, State::Failed);
                eager.remove(&ix);
            }
        }

        std::thread::scope(|scope| -> Result<(), std::io::Error> {
            loop {
                // Dispatch everything ready, in plan order, while slots are free.
                for ix in plan.order.iter().copied() {
                    if stop || running >= jobs {
                        break;
                    }
                    if !matches!(state.get(&ix), Some(State::Waiting))
                        || pending.contains_key(&ix)
                        || preparing.contains(&ix)
                    {
                        continue;
                    }
                    let deps = plan.deps(ix);
                    if deps.iter().any(|d| matches!(state.get(d), Some(State::Waiting))) {
                        continue;
                    }
                    let id = plan.node(ix).clone();
                    if let Some(failed) = deps.iter().find(|d| matches!(state.get(d), Some(State::Failed))) {
                        let because = format!("dependency {} failed", plan.node(*failed));
                        progress.skipped(&id, &because);
                        reports.insert(
                            ix,
                            self.report(&id, Outcome::Skipped { because }, 0, String::new(), vec![], vec![]),
                        );
                        state.insert(ix, State::Failed);
                        continue;
                    }
                    let recipe = &self.recipes[&id];
                    let env = &self.envs[&id.target];
                    let dep_digests: BTreeMap<String, String> = deps
                        .iter()
                        .filter_map(|d| match state.get(d) {
                            Some(State::Done(digest)) => Some((plan.node(*d).to_string(), digest.clone())),
                            _ => None,
                        })
                        .collect();
                    let (mut inputs, stamp) = known.remove(&ix).unwrap_or_else(|| (empty_inputs(), None));
                    inputs.deps = dep_digests;
                    let key = inputs.key();
                    let staged = self.layout.staged(&id.target, &id.name);
                    let forced = self.options.force.contains(&id.name);
                    // The fingerprint catches an output changed since it was
                    // stamped (edited through a hard link, half restored).
                    let intact = |s: &Stamp| cache::fingerprint(&staged).is_ok_and(|f| f == s.fingerprint);
                    let up_to_date = stamp.as_ref().is_some_and(|s| s.key == key && intact(s)) && !forced;
                    // A host tool is usable only once it is in this tree's prefix.
                    let up_to_date = up_to_date
                        && (env.base_sysroot.is_some() || job::install_host_output(self.layout, &staged).is_ok());
                    if up_to_date {
                        let digest = stamp.map(|s| s.output_digest).unwrap_or_default();
                        if let Some(uploads) = self.uploads {
                            uploads.submit_if_missing(&id.to_string(), &key, staged.clone(), &digest);
                        }
                        progress.cached(&id);
                        let artifacts = job::publish_artifacts(&staged, &self.layout.out_root.join(&id.target))?;
                        reports.insert(
                            ix,
                            self.report(
                                &id,
                                Outcome::Cached { digest: digest.clone() },
                                0,
                                key,
                                vec!["unchanged".into()],
                                artifacts,
                            ),
                        );
                        state.insert(ix, State::Done(digest));
                        continue;
                    }
                    let mut reasons = if forced {
                        vec!["forced (--force)".to_string()]
                    } else {
                        cache::explain(stamp.as_ref().map(|s| &s.inputs), &inputs)
                    };
                    if !forced && stamp.as_ref().is_some_and(|s| s.key == key) {
                        reasons = vec!["staged output missing or changed since it was stamped".to_string()];
                    }
                    if let Some(remote) = self.remote.filter(|_| !forced) {
                        let stamp_file = cache::stamp_path(&self.layout.build_root, &id.target, &id.name);
                        // A restored target output gets the checks a build here
                        // would have passed; a host tool is checked by installing
                        // it into this tree's prefix (relocation plans every file
                        // first, so one built for a prefix this tree cannot take
                        // installs nothing and is built here instead).
                        let layout = self.layout;
                        let accept = |dir: &Path| -> Result<(), String> {
                            if env.base_sysroot.is_none() {
                                return job::install_host_output(layout, dir).map_err(|e| e.to_string());
                            }
                            job::verify_output(layout, env, &id.name, dir)
                                .map(|_| ())
                                .map_err(|e| e.to_string())
                        };
                        match crate::remote::try_restore(remote, &inputs, &staged, &stamp_file, &accept) {
                            crate::remote::Restore::Restored { digest, reason, .. } => {
                                progress.cached(&id);
                                let artifacts =
                                    job::publish_artifacts(&staged, &self.layout.out_root.join(&id.target))?;
                                reasons.push(reason);
                                let outcome = Outcome::Cached { digest: digest.clone() };
                                reports.insert(ix, self.report(&id, outcome, 0, key, reasons, artifacts));
                                state.insert(ix, State::Done(digest));
                                continue;
                            }
                            crate::remote::Restore::NotRestored { reason, warning } => {
                                if let Some(w) = warning {
                                    progress.warning(&id, &w);
                                }
                                reasons.push(reason);
                            }
                        }
                    }
                    if self.options.explain {
                        progress.explain(&id, &reasons);
                    }
                    let dep_dirs: Vec<(String, PathBuf)> = transitive_deps(plan, ix)
                        .into_iter()
                        // Host tools live in the host prefix, not in target sysroots.
                        .filter(|d| plan.node(*d).target == id.target)
                        .map(|d| {
                            let n = plan.node(d);
                            (n.name.clone(), self.layout.staged(&n.target, &n.name))
                        })
                        .collect();
                    pending.insert(ix, (inputs.clone(), reasons));
                    running += 1;
                    progress.started(&id);
                    let tx = tx.clone();
                    let jobserver = &jobserver;
                    let layout = self.layout;
                    let prepare = self.prepare;
                    let already_prepared = prepared.remove(&ix);
                    eager.remove(&ix);
                    scope.spawn(move || {
                        // The package's own job slot: held for the whole build.
                        let token = jobserver.acquire();
                        let result = match token {
                            Ok(_token) => job::run(
                                JobInput {
                                    recipe,
                                    env,
                                    layout,
                                    inputs,
                                    deps: dep_dirs,
                                    jobserver,
                                    prepare,
                                },
                                already_prepared,
                            ),
                            Err(e) => Err(BuildError::io("cannot take a jobserver token", e)),
                        };
                        let _ = tx.send(Finished {
                            ix,
                            phase: Phase::Full(result),
                        });
                    });
                }
                // Free slots left: start the early phase of packages still
                // waiting for target dependencies (their host tools are done).
                for ix in plan.order.iter().copied() {
                    if stop || running >= jobs {
                        break;
                    }
                    if !eager.contains(&ix) || !matches!(state.get(&ix), Some(State::Waiting)) {
                        continue;
                    }
                    let id = plan.node(ix).clone();
                    let deps = plan.deps(ix);
                    let host_ready = deps
                        .iter()
                        .filter(|d| plan.node(**d).target != id.target)
                        .all(|d| matches!(state.get(d), Some(State::Done(_))));
                    if !host_ready {
                        continue;
                    }
                    eager.remove(&ix);
                    preparing.insert(ix);
                    running += 1;
                    progress.preparing(&id);
                    let recipe = &self.recipes[&id];
                    let env = &self.envs[&id.target];
                    let tx = tx.clone();
                    let jobserver = &jobserver;
                    let layout = self.layout;
                    let prepare = self.prepare;
                    scope.spawn(move || {
                        let result = match jobserver.acquire() {
                            Ok(_token) => job::prepare(&job::PrepareInput {
                                recipe,
                                env,
                                layout,
                                jobserver,
                                prepare,
                            }),
                            Err(e) => Err(BuildError::io("cannot take a jobserver token", e)),
                        };
                        let _ = tx.send(Finished {
                            ix,
                            phase: Phase::Prepare(result),
                        });
                    });
                }
                if running == 0 {
                    break;
                }
                let Ok(done) = rx.recv() else { break };
                running -= 1;
                let id = plan.node(done.ix).clone();
                let result = match done.phase {
                    Phase::Prepare(Ok(())) => {
                        preparing.remove(&done.ix);
                        prepared.insert(done.ix);
                        continue;
                    }
                    Phase::Prepare(Err(err)) => {
                        preparing.remove(&done.ix);
                        Err(err)
                    }
                    Phase::Full(result) => result,
                };
                let (inputs, reasons) = pending.remove(&done.ix).unwrap_or_else(|| (empty_inputs(), vec![]));
                let key = inputs.key();
                match result {
                    Ok(out) => {
                        if let Some(uploads) = self.uploads {
                            let staged = self.layout.staged(&id.target, &id.name);
                            uploads.submit_built(&id.name, &id.target, &key, &staged, &out.digest);
                        }
                        progress.built(&id, out.duration_ms);
                        reports.insert(
                            done.ix,
                            self.report(
                                &id,
                                Outcome::Built {
                                    digest: out.digest.clone(),
                                },
                                out.duration_ms,
                                key,
                                reasons,
                                out.artifacts,
                            ),
                        );
                        state.insert(done.ix, State::Done(out.digest));
                    }
                    Err(err) => {
                        let log = self.layout.log_path(&id.target, &id.name);
                        let first = first_line(&err);
                        progress.failed(&id, err, &log);
                        reports.insert(
                            done.ix,
                            self.report(&id, Outcome::Failed { error: first }, 0, key, reasons, vec![]),
                        );
                        state.insert(done.ix, State::Failed);
                        if !self.options.keep_going {
                            stop = true;
                        }
                    }
                }
            }
            Ok(())
        })?;
        // Whatever never started (after a failure without --keep-going).
        for ix in plan.order.iter() {
            if !reports.contains_key(ix) {
                let id = plan.node(*ix);
                reports.insert(
                    *ix,
                    self.report(
                        id,
                        Outcome::Skipped {
                            because: "build stopped after a failure".into(),
                        },
                        0,
                        String::new(),
                        vec![],
                        vec![],
                    ),
                );
            }
        }
        Ok(plan.order.iter().filter_map(|ix| reports.remove(ix)).collect())
    }

    /// Every node's own key inputs (all but dependency outputs) and its
    /// stamp, read once per run: hashing patches and path sources is the
    /// bulk of a no-op build.
    fn own_inputs_and_stamps(&self) -> Result<BTreeMap<NodeIndex, (KeyInputs, Option<Stamp>)>, std::io::Error> {
        let mut out = BTreeMap::new();
        for ix in self.plan.order.iter().copied() {
            let id = self.plan.node(ix);
            let own = job::key_inputs(&self.recipes[id], &self.envs[&id.target], BTreeMap::new())?;
            let stamp = cache::read_stamp(&cache::stamp_path(&self.layout.build_root, &id.target, &id.name));
            out.insert(ix, (own, stamp));
        }
        Ok(out)
    }

    /// Packages with target dependencies whose own inputs (recipe, files,
    /// toolchain) differ from their stamp, or that have none or are forced:
    /// they rebuild whatever their dependencies produce.
    fn will_rebuild_anyway(&self, known: &BTreeMap<NodeIndex, (KeyInputs, Option<Stamp>)>) -> BTreeSet<NodeIndex> {
        let mut out = BTreeSet::new();
        for (ix, (own, stamp)) in known {
            let id = self.plan.node(*ix);
            if self
                .plan
                .deps(*ix)
                .iter()
                .all(|d| self.plan.node(*d).target != id.target)
            {
                continue; // no target dependencies: it starts as soon as a slot is free anyway
            }
            let differs = stamp.as_ref().is_none_or(|s| {
                s.inputs.recipe != own.recipe
                    || s.inputs.files != own.files
                    || s.inputs.toolchain != own.toolchain
                    || s.inputs.builder != own.builder
            });
            if differs || self.options.force.contains(&id.name) {
                out.insert(*ix);
            }
        }
        out
    }

    fn report(
        &self,
        id: &NodeId,
        outcome: Outcome,
        duration_ms: u64,
        key: String,
        reasons: Vec<String>,
        artifacts: Vec<PathBuf>,
    ) -> NodeReport {
        NodeReport {
            name: id.name.clone(),
            target: id.target.clone(),
            outcome,
            duration_ms,
            key,
            reasons,
            log: self.layout.log_path(&id.target, &id.name),
            artifacts,
        }
    }
}

fn empty_inputs() -> cache::KeyInputs {
    cache::KeyInputs {
        recipe: serde_json::Value::Null,
        files: BTreeMap::new(),
        toolchain: String::new(),
        deps: BTreeMap::new(),
        builder: String::new(),
    }
}

fn first_line(err: &BuildError) -> String {
    err.to_string().lines().next().unwrap_or_default().to_string()
}
