//! The state of one run and what happens at each package's turn: the
//! decision is [`decide`](super::decide::decide)'s; this applies it
//! (reports, remote restore, uploads, launches) and records what finished.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

use petgraph::stable_graph::NodeIndex;

use super::decide::{Decision, Facts, decide, rebuilds_anyway};
use super::history::History;
use super::timeline::{Slots, Span, critical_path};
use super::{Finished, Launch, NodeReport, Outcome, Phase, Run, empty_inputs, first_line, order, transitive_deps};
use crate::build::builders::BuildError;
use crate::build::job;
use crate::build::progress::Progress;
use crate::outputs::key::{self, KeyInputs, Stamp};
use crate::plan::graph::NodeId;

enum State {
    Waiting,
    Done(String),
    Failed,
}

pub(super) struct Exec<'r, 'a> {
    run: &'r Run<'a>,
    progress: &'r Progress,
    jobs: usize,
    t0: Instant,
    /// The plan's nodes, critical path first (see [`order`]).
    order: Vec<NodeIndex>,
    /// Each node's longest remaining path, its own weight included.
    remaining: BTreeMap<NodeIndex, u64>,
    history: Option<History>,
    state: BTreeMap<NodeIndex, State>,
    reports: BTreeMap<NodeIndex, NodeReport>,
    /// Own key inputs and stamp, until the package's turn.
    known: BTreeMap<NodeIndex, (KeyInputs, Option<Stamp>)>,
    /// Launched builds: their key inputs and why they build.
    pending: BTreeMap<NodeIndex, (KeyInputs, Vec<String>)>,
    /// Packages that rebuild whatever their dependencies produce, so may
    /// prepare their sources (and autoreconf) while those still build.
    eager: BTreeSet<NodeIndex>,
    preparing: BTreeSet<NodeIndex>,
    prepared: BTreeSet<NodeIndex>,
    spans: BTreeMap<NodeIndex, Vec<Span>>,
    slots: Slots,
    running: usize,
    stop: bool,
}

impl<'r, 'a> Exec<'r, 'a> {
    pub(super) fn new(run: &'r Run<'a>, progress: &'r Progress) -> Result<Self, std::io::Error> {
        let plan = run.plan;
        let known = run.own_inputs_and_stamps()?;
        let forced = |ix: &NodeIndex| run.options.force.contains(&plan.node(*ix).name);
        let mut eager: BTreeSet<NodeIndex> = known
            .iter()
            .filter(|(ix, _)| {
                let id = plan.node(**ix);
                // Without target dependencies it starts as soon as a slot is free anyway.
                plan.deps(**ix).iter().any(|d| plan.node(*d).target == id.target)
            })
            .filter(|(ix, _)| !run.options.restore_only.contains(plan.node(**ix)))
            .filter(|(ix, (own, stamp))| rebuilds_anyway(own, stamp.as_ref(), forced(ix)))
            .map(|(ix, _)| *ix)
            .collect();
        // What the local store will restore needs no early phase (asked
        // only when something would prepare early: never on a no-op).
        if let Some(store) = run.local.filter(|_| !eager.is_empty()) {
            let restorable = super::predict::store_hits(plan, &known, store);
            eager.retain(|ix| forced(ix) || !restorable.contains(ix));
        }
        // A tree without stamps asks the cache how long each took last time.
        let history = run.layout.timings.as_deref().map(History::new);
        let last_ms = known
            .iter()
            .map(|(ix, (_, stamp))| {
                let recorded = || history.as_ref().and_then(|h| h.last_ms(plan.node(*ix)));
                (*ix, stamp.as_ref().map(|s| s.duration_ms).or_else(recorded))
            })
            .collect();
        let remaining = order::remaining(plan, &order::weights(&last_ms));
        let order = order::by_priority(plan, &remaining);
        let mut exec = Exec {
            run,
            progress,
            jobs: run.options.jobs.max(1),
            t0: Instant::now(),
            order,
            remaining,
            history,
            state: plan.order.iter().map(|ix| (*ix, State::Waiting)).collect(),
            reports: BTreeMap::new(),
            known,
            pending: BTreeMap::new(),
            eager,
            preparing: BTreeSet::new(),
            prepared: BTreeSet::new(),
            spans: BTreeMap::new(),
            slots: Slots::default(),
            running: 0,
            stop: false,
        };
        progress.start(plan.len());
        for ix in plan.order.iter().copied() {
            if let Some(error) = run.options.failed.get(plan.node(ix)) {
                exec.failed_early(ix, error);
            }
        }
        Ok(exec)
    }

    pub(super) fn started_at(&self) -> Instant {
        self.t0
    }

    pub(super) fn busy(&self) -> bool {
        self.running > 0
    }

    /// Everything that can start now: ready packages in priority order
    /// while slots are free, then the early phase of packages still waiting
    /// for target dependencies (their host tools are done).
    pub(super) fn launches(&mut self) -> Result<Vec<Launch>, std::io::Error> {
        let mut out = Vec::new();
        for i in 0..self.order.len() {
            if self.stop || self.running >= self.jobs {
                break;
            }
            let ix = self.order[i];
            if self.ready(ix)
                && let Some(launch) = self.turn(ix)?
            {
                out.push(launch);
            }
        }
        for i in 0..self.order.len() {
            if self.stop || self.running >= self.jobs {
                break;
            }
            let ix = self.order[i];
            if self.eager.contains(&ix) && self.waiting(ix) && self.host_deps_done(ix) {
                self.eager.remove(&ix);
                self.preparing.insert(ix);
                self.running += 1;
                self.progress.preparing(self.run.plan.node(ix));
                out.push(Launch::Prepare {
                    ix,
                    slot: self.slots.take(),
                    ready: self.built_deps(ix),
                });
            }
        }
        Ok(out)
    }

    fn waiting(&self, ix: NodeIndex) -> bool {
        matches!(self.state.get(&ix), Some(State::Waiting))
    }

    fn ready(&self, ix: NodeIndex) -> bool {
        self.waiting(ix)
            && !self.pending.contains_key(&ix)
            && !self.preparing.contains(&ix)
            && !self.run.plan.deps(ix).iter().any(|d| self.waiting(*d))
    }

    /// Staged outputs of `ix`'s same-target dependencies that are done.
    fn built_deps(&self, ix: NodeIndex) -> Vec<(String, PathBuf)> {
        let plan = self.run.plan;
        let target = &plan.node(ix).target;
        transitive_deps(plan, ix)
            .into_iter()
            .filter(|d| &plan.node(*d).target == target && matches!(self.state.get(d), Some(State::Done(_))))
            .map(|d| {
                let n = plan.node(d);
                (n.name.clone(), self.run.layout.staged(&n.target, &n.name))
            })
            .collect()
    }

    fn host_deps_done(&self, ix: NodeIndex) -> bool {
        let plan = self.run.plan;
        let target = &plan.node(ix).target;
        plan.deps(ix)
            .iter()
            .filter(|d| &plan.node(**d).target != target)
            .all(|d| matches!(self.state.get(d), Some(State::Done(_))))
    }

    /// A ready package's turn: decide, then report it or launch its build.
    fn turn(&mut self, ix: NodeIndex) -> Result<Option<Launch>, std::io::Error> {
        let run = self.run;
        let plan = run.plan;
        let id = plan.node(ix).clone();
        let deps = plan.deps(ix);
        let failed_dep = deps
            .iter()
            .find(|d| matches!(self.state.get(d), Some(State::Failed)))
            .map(|d| plan.node(*d).to_string());
        let (mut inputs, stamp) = self.known.remove(&ix).unwrap_or_else(|| (empty_inputs(), None));
        inputs.deps = deps
            .iter()
            .filter_map(|d| match self.state.get(d) {
                Some(State::Done(digest)) => Some((plan.node(*d).to_string(), digest.clone())),
                _ => None,
            })
            .collect();
        let env = &run.envs[&id.target];
        let staged = run.layout.staged(&id.target, &id.name);
        // The fingerprint catches an output changed since it was stamped (an
        // edit through a hard link, a half restore); a host tool is usable
        // only once it is in this tree's prefix.
        let usable = || {
            stamp.as_ref().is_some_and(|s| {
                key::fingerprint(&staged).is_ok_and(|f| f == s.fingerprint)
                    && (env.base_sysroot.is_some()
                        || job::ensure_host_output(run.layout, &staged, &s.fingerprint).is_ok())
            })
        };
        let decision = decide(&Facts {
            inputs: &inputs,
            deps_done: true,
            stamp: stamp.as_ref(),
            forced: run.options.force.contains(&id.name),
            remote: run.remote.is_some() || run.local.is_some(),
            failed_dep: failed_dep.as_deref(),
            early_failure: None,
            output_usable: &usable,
        });
        let (key, mut reasons, remote_first) = match decision {
            Decision::Skip { because } => {
                self.progress.skipped(&id, &because);
                let report = run.report(&id, Outcome::Skipped { because }, 0, String::new(), vec![], vec![]);
                self.reports.insert(ix, report);
                self.state.insert(ix, State::Failed);
                return Ok(None);
            }
            Decision::Fail { error, key, reasons } => {
                self.record_failure(ix, &id, error, key.unwrap_or_default(), reasons);
                return Ok(None);
            }
            Decision::UpToDate { key } => {
                let digest = stamp.map(|s| s.output_digest).unwrap_or_default();
                self.cached(ix, &id, key, digest, vec!["unchanged".into()], false)?;
                return Ok(None);
            }
            Decision::Restore { key, reasons } => (key, reasons, true),
            Decision::Rebuild { key, reasons } => (key, reasons, false),
        };
        if remote_first && self.restore(ix, &id, &inputs, &key, &mut reasons)? {
            return Ok(None);
        }
        if run.options.restore_only.contains(&id) {
            let why = reasons.last().cloned().unwrap_or_else(|| "no remote cache".into());
            let error = format!("dependency {id} (key {key}) is not in the remote cache: {why}");
            self.progress.warning(&id, &error);
            self.record_failure(ix, &id, error, key, reasons);
            return Ok(None);
        }
        Ok(Some(self.launch_build(ix, &id, inputs, reasons)))
    }

    /// Marks a package cached (or `restored` from the local store) with its
    /// staged output in place.
    fn cached(
        &mut self,
        ix: NodeIndex,
        id: &NodeId,
        key: String,
        digest: String,
        reasons: Vec<String>,
        restored: bool,
    ) -> Result<(), std::io::Error> {
        let layout = self.run.layout;
        let staged = layout.staged(&id.target, &id.name);
        for writer in [self.run.uploads, self.run.local_writes].into_iter().flatten() {
            writer.submit_if_missing(&id.to_string(), &key, staged.clone(), &digest);
        }
        if restored {
            self.progress.restored(id);
        } else {
            self.progress.cached(id);
        }
        let host = self.run.envs[&id.target].base_sysroot.is_none();
        let artifacts =
            crate::build::publish::publish_artifacts(layout, &self.run.recipes[id], &id.target, &digest, host)?;
        let outcome = if restored {
            Outcome::Restored { digest: digest.clone() }
        } else {
            Outcome::Cached { digest: digest.clone() }
        };
        self.reports
            .insert(ix, self.run.report(id, outcome, 0, key, reasons, artifacts));
        self.state.insert(ix, State::Done(digest));
        Ok(())
    }

    /// Tries the local store, then the remote cache; true when the package
    /// is now cached, otherwise `reasons` gains why not.
    fn restore(
        &mut self,
        ix: NodeIndex,
        id: &NodeId,
        inputs: &KeyInputs,
        key: &str,
        reasons: &mut Vec<String>,
    ) -> Result<bool, std::io::Error> {
        let layout = self.run.layout;
        let env = &self.run.envs[&id.target];
        let staged = layout.staged(&id.target, &id.name);
        let stamp_file = key::stamp_path(&layout.build_root, &id.target, &id.name);
        // A restored target output gets the checks a build here would have
        // passed; a host tool is checked by installing it into this tree's
        // prefix (relocation plans every file first, so one built for a
        // prefix this tree cannot take installs nothing and is built here).
        let accept = |dir: &std::path::Path| -> Result<(), String> {
            if env.base_sysroot.is_none() {
                return job::install_host_output(layout, dir).map_err(|e| e.to_string());
            }
            job::verify_output(layout, env, &id.name, dir)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        if let Some(store) = self.run.local {
            let result = crate::remote::try_restore_local(store, inputs, &staged, &stamp_file, &accept);
            if self.restored(ix, id, key, result, reasons, true)? {
                return Ok(true);
            }
        }
        if let Some(remote) = self.run.remote {
            let result = crate::remote::try_restore(remote, inputs, &staged, &stamp_file, &accept);
            return self.restored(ix, id, key, result, reasons, false);
        }
        Ok(false)
    }

    /// Applies one cache's restore result; true when the package is now cached.
    fn restored(
        &mut self,
        ix: NodeIndex,
        id: &NodeId,
        key: &str,
        result: crate::remote::Restore,
        reasons: &mut Vec<String>,
        from_store: bool,
    ) -> Result<bool, std::io::Error> {
        match result {
            crate::remote::Restore::Restored { digest, reason, .. } => {
                reasons.push(reason);
                self.cached(ix, id, key.to_string(), digest, std::mem::take(reasons), from_store)?;
                Ok(true)
            }
            crate::remote::Restore::NotRestored { reason, warning } => {
                if let Some(w) = warning {
                    self.progress.warning(id, &w);
                }
                reasons.push(reason);
                Ok(false)
            }
        }
    }

    fn launch_build(&mut self, ix: NodeIndex, id: &NodeId, inputs: KeyInputs, reasons: Vec<String>) -> Launch {
        let plan = self.run.plan;
        if self.run.options.explain {
            self.progress.explain(id, &reasons);
        }
        let deps: Vec<(String, PathBuf)> = transitive_deps(plan, ix)
            .into_iter()
            // Host tools live in the host prefix, not in target sysroots.
            .filter(|d| plan.node(*d).target == id.target)
            .map(|d| {
                let n = plan.node(d);
                (n.name.clone(), self.run.layout.staged(&n.target, &n.name))
            })
            .collect();
        let platforms = self.platform_outputs(ix);
        self.pending.insert(ix, (inputs.clone(), reasons));
        self.running += 1;
        self.progress.started(id);
        self.eager.remove(&ix);
        Launch::Build {
            ix,
            slot: self.slots.take(),
            inputs,
            deps,
            platforms,
            prepared: self.prepared.remove(&ix),
            critical: self.on_critical_path(ix),
        }
    }

    /// No unfinished package has a longer remaining path than `ix` (ties
    /// count: with nothing known every chain is critical).
    fn on_critical_path(&self, ix: NodeIndex) -> bool {
        let rank = |i: &NodeIndex| self.remaining.get(i).copied().unwrap_or(0);
        let mine = rank(&ix);
        self.state
            .iter()
            .filter(|(_, s)| matches!(s, State::Waiting))
            .all(|(i, _)| rank(i) <= mine)
    }

    /// A fat wheel's other targets: each target's bundled packages (its
    /// `Platform` dependencies) with their own dependencies on that target.
    fn platform_outputs(&self, ix: NodeIndex) -> Vec<(String, Vec<(String, PathBuf)>)> {
        let plan = self.run.plan;
        let mut by_target: BTreeMap<String, Vec<(String, PathBuf)>> = BTreeMap::new();
        for d in plan.platform_deps(ix) {
            let n = plan.node(d);
            let entry = by_target.entry(n.target.clone()).or_default();
            let own = std::iter::once(d).chain(transitive_deps(plan, d));
            for dep in own.filter(|x| plan.node(*x).target == n.target) {
                let m = plan.node(dep);
                if !entry.iter().any(|(name, _)| name == &m.name) {
                    entry.push((m.name.clone(), self.run.layout.staged(&m.target, &m.name)));
                }
            }
        }
        by_target.into_iter().collect()
    }

    /// Records a job that finished (or its early phase).
    pub(super) fn finished(&mut self, done: Finished) {
        self.running -= 1;
        self.slots.give_back(done.span.slot);
        self.spans.entry(done.ix).or_default().push(done.span);
        let ix = done.ix;
        let id = self.run.plan.node(ix).clone();
        let result = match done.phase {
            Phase::Prepare(Ok(())) => {
                self.preparing.remove(&ix);
                self.prepared.insert(ix);
                return;
            }
            Phase::Prepare(Err(err)) => {
                self.preparing.remove(&ix);
                let why = first_line(&err);
                self.progress_failed(&id, err);
                self.failed_early(ix, &why);
                return;
            }
            Phase::Full(result) => result,
        };
        let (inputs, reasons) = self.pending.remove(&ix).unwrap_or_else(|| (empty_inputs(), vec![]));
        let key = inputs.key();
        match result {
            Ok(out) => {
                let staged = self.run.layout.staged(&id.target, &id.name);
                for writer in [self.run.uploads, self.run.local_writes].into_iter().flatten() {
                    writer.submit_built(&id.name, &id.target, &key, &staged, &out.digest);
                }
                self.progress.built(&id, out.duration_ms);
                if let Some(history) = &self.history {
                    history.record(&id, out.duration_ms);
                }
                let outcome = Outcome::Built {
                    digest: out.digest.clone(),
                };
                let report = self
                    .run
                    .report(&id, outcome, out.duration_ms, key, reasons, out.artifacts);
                self.reports.insert(ix, report);
                self.state.insert(ix, State::Done(out.digest));
            }
            Err(err) => {
                let error = first_line(&err);
                self.progress_failed(&id, err);
                self.record_failure(ix, &id, error, key, reasons);
            }
        }
    }

    fn progress_failed(&self, id: &NodeId, err: BuildError) {
        let log = self.run.layout.log_path(&id.target, &id.name);
        self.progress.failed(id, err, &log);
    }

    /// A package that failed before its turn (a source, its early phase):
    /// the report says why it needed a build, from its own inputs.
    fn failed_early(&mut self, ix: NodeIndex, error: &str) {
        let plan = self.run.plan;
        let id = plan.node(ix).clone();
        let fallback = (empty_inputs(), None);
        let (own, stamp) = self.known.get(&ix).unwrap_or(&fallback);
        let decision = decide(&Facts {
            inputs: own,
            // Own inputs are the whole key only without dependencies.
            deps_done: plan.deps(ix).is_empty(),
            stamp: stamp.as_ref(),
            forced: self.run.options.force.contains(&id.name),
            remote: false,
            failed_dep: None,
            early_failure: Some(error),
            output_usable: &|| false,
        });
        let (key, reasons) = match decision {
            Decision::Fail { key, reasons, .. } => (key.unwrap_or_default(), reasons),
            _ => (String::new(), vec![]),
        };
        self.eager.remove(&ix);
        self.record_failure(ix, &id, error.to_string(), key, reasons);
    }

    fn record_failure(&mut self, ix: NodeIndex, id: &NodeId, error: String, key: String, reasons: Vec<String>) {
        let report = self.run.report(id, Outcome::Failed { error }, 0, key, reasons, vec![]);
        self.reports.insert(ix, report);
        self.state.insert(ix, State::Failed);
        if !self.run.options.keep_going {
            self.stop = true;
        }
    }

    /// The reports in plan order, with what never started (after a failure
    /// without `--keep-going`) as skipped, and the timeline attached.
    pub(super) fn into_reports(mut self) -> Vec<NodeReport> {
        let plan = self.run.plan;
        for ix in plan.order.iter() {
            if !self.reports.contains_key(ix) {
                let because = "build stopped after a failure".to_string();
                let report = self.run.report(
                    plan.node(*ix),
                    Outcome::Skipped { because },
                    0,
                    String::new(),
                    vec![],
                    vec![],
                );
                self.reports.insert(*ix, report);
            }
        }
        let critical = critical_path(plan, &self.spans);
        for (ix, spans) in std::mem::take(&mut self.spans) {
            if let Some(r) = self.reports.get_mut(&ix) {
                r.spans = spans;
                r.critical = critical.contains(&ix);
            }
        }
        plan.order.iter().filter_map(|ix| self.reports.remove(ix)).collect()
    }
}
