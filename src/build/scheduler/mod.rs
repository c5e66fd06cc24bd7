//! Runs a plan: up to `jobs` packages at once, all sharing one GNU make
//! jobserver of `jobs` tokens (each running package holds one), so total
//! parallelism stays `jobs`. Unchanged packages are skipped by key.
//!
//! The parts: [`decide`] is the pure rebuild decision of one package;
//! [`order`] ranks ready jobs (critical path first); `exec` holds the
//! run's state and applies decisions; this file spawns the jobs;
//! [`timeline`] records when and where each ran; [`simulate`] replays a
//! plan with given durations through the same ranking, building nothing.

mod decide;
mod exec;
mod history;
mod order;
mod predict;
pub mod simulate;
mod timeline;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::Scope;
use std::time::Instant;

use petgraph::stable_graph::NodeIndex;

use crate::build::builders::BuildError;
use crate::build::job::{self, JobInput, Layout};
use crate::build::process::Log;
use crate::build::progress::Progress;
use crate::outputs::key::{self, KeyInputs, Stamp};
use crate::plan::graph::{NodeId, Plan};
use crate::recipe::Recipe;
use crate::toolchain::activate::TargetEnv;

pub use timeline::{Span, SpanPhase};

pub struct Options {
    pub jobs: usize,
    pub keep_going: bool,
    pub force: BTreeSet<String>,
    pub explain: bool,
    /// Packages that failed before the run (their sources), with the
    /// first line of why: reported failed, their dependents skipped.
    pub failed: BTreeMap<NodeId, String>,
    /// Packages this run must never build: their output comes from the
    /// stamp or the remote cache, or they fail naming the missing key (a
    /// batch job restores its dependencies; their own jobs build them).
    pub restore_only: BTreeSet<NodeId>,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Outcome {
    Built {
        digest: String,
    },
    Cached {
        digest: String,
    },
    /// Taken from this machine's local store (another build directory built it).
    Restored {
        digest: String,
    },
    Failed {
        error: String,
    },
    Skipped {
        because: String,
    },
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
    /// When and on which worker slot it ran (nothing when it did not run).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<Span>,
    /// On the chain of jobs that set the run's length.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub critical: bool,
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
    /// This machine's store of outputs, asked before the remote cache.
    pub local: Option<&'a crate::remote::LocalStore>,
    /// Stores what is built (and what is up to date but missing) in `local`.
    pub local_writes: Option<&'a crate::remote::RemoteWriter>,
}

/// What the mechanics start on a worker slot.
enum Launch {
    /// The whole build (its early phase too, unless `prepared`).
    Build {
        ix: NodeIndex,
        slot: usize,
        inputs: KeyInputs,
        deps: Vec<(String, PathBuf)>,
        /// Other targets' outputs a fat wheel carries, by target name.
        platforms: Vec<(String, Vec<(String, PathBuf)>)>,
        prepared: bool,
        /// On the longest chain still to run: keeps normal CPU priority.
        critical: bool,
    },
    /// Only the early phase (sources, `autoreconf`, a Go cache warm-up),
    /// with the staged outputs of the dependencies already built.
    Prepare {
        ix: NodeIndex,
        slot: usize,
        ready: Vec<(String, PathBuf)>,
    },
}

enum Phase {
    Prepare(Result<(), BuildError>),
    Full(Result<job::JobOutput, BuildError>),
}

struct Finished {
    ix: NodeIndex,
    span: Span,
    phase: Phase,
}

/// All transitive dependencies of `ix` in plan order.
pub(crate) fn transitive_deps(plan: &Plan, ix: NodeIndex) -> Vec<NodeIndex> {
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
        let jobserver = jobserver::Client::new(self.options.jobs.max(1))?;
        let mut exec = exec::Exec::new(self, progress)?;
        let (tx, rx) = mpsc::channel::<Finished>();
        std::thread::scope(|scope| -> Result<(), std::io::Error> {
            loop {
                for launch in exec.launches()? {
                    self.spawn(scope, &jobserver, &tx, exec.started_at(), launch);
                }
                if !exec.busy() {
                    break;
                }
                let Ok(done) = rx.recv() else { break };
                exec.finished(done);
            }
            Ok(())
        })?;
        Ok(exec.into_reports())
    }

    /// Starts one job on its own thread; it holds a jobserver token (its
    /// package's job slot) for as long as it runs.
    fn spawn<'s, 'e>(
        &'e self,
        scope: &'s Scope<'s, 'e>,
        jobserver: &'e jobserver::Client,
        tx: &mpsc::Sender<Finished>,
        t0: Instant,
        launch: Launch,
    ) {
        let (ix, slot) = match &launch {
            Launch::Build { ix, slot, .. } | Launch::Prepare { ix, slot, .. } => (*ix, *slot),
        };
        // An early phase is never on the critical path: its package still
        // waits for dependencies.
        let critical = matches!(launch, Launch::Build { critical: true, .. });
        let id = self.plan.node(ix);
        let recipe = &self.recipes[id];
        let env = &self.envs[&id.target];
        let (layout, prepare) = (self.layout, self.prepare);
        let tx = tx.clone();
        let ms = move || t0.elapsed().as_millis() as u64;
        scope.spawn(move || {
            if !critical {
                yield_to_the_critical_path();
            }
            let token = jobserver.acquire();
            let start_ms = ms();
            let (phase, span_phase) = match launch {
                Launch::Build {
                    inputs,
                    deps,
                    platforms,
                    prepared,
                    ..
                } => {
                    let platforms = platforms
                        .into_iter()
                        .filter_map(|(t, deps)| {
                            let target = self.envs.get(&t)?.target.clone();
                            Some(crate::build::builders::PlatformOutput { target, deps })
                        })
                        .collect();
                    let result = match token {
                        Ok(_) => job::run(
                            JobInput {
                                recipe,
                                env,
                                layout,
                                inputs,
                                deps,
                                platforms,
                                jobserver,
                                prepare,
                            },
                            prepared,
                        ),
                        Err(e) => Err(BuildError::io("cannot take a jobserver token", e)),
                    };
                    (Phase::Full(result), SpanPhase::Build)
                }
                Launch::Prepare { ready, .. } => {
                    let input = job::PrepareInput {
                        recipe,
                        env,
                        layout,
                        jobserver,
                        prepare,
                        early: Some(&ready),
                    };
                    let result = match token {
                        Ok(_) => job::prepare(&input).and_then(|()| job::warm_up(&input)),
                        Err(e) => Err(BuildError::io("cannot take a jobserver token", e)),
                    };
                    (Phase::Prepare(result), SpanPhase::Prepare)
                }
            };
            let span = Span {
                phase: span_phase,
                slot,
                start_ms,
                end_ms: ms(),
            };
            let _ = tx.send(Finished { ix, span, phase });
        });
    }

    /// Every node's own key inputs (all but dependency outputs) and its
    /// stamp, read once per run: hashing patches and path sources is the
    /// bulk of a no-op build.
    fn own_inputs_and_stamps(&self) -> Result<BTreeMap<NodeIndex, (KeyInputs, Option<Stamp>)>, std::io::Error> {
        let mut out = BTreeMap::new();
        for ix in self.plan.order.iter().copied() {
            let id = self.plan.node(ix);
            let own = job::key_inputs(&self.recipes[id], &self.envs[&id.target], BTreeMap::new())?;
            let stamp = key::read_stamp(&key::stamp_path(&self.layout.build_root, &id.target, &id.name));
            out.insert(ix, (own, stamp));
        }
        Ok(out)
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
            spans: Vec::new(),
            critical: false,
        }
    }
}

/// How much nicer than `recipe` a job off the critical path runs.
const NICE_OFF_CRITICAL_PATH: libc::c_int = 10;

/// Lowers the CPU priority of this job thread and so of every process it
/// starts. Jobs hold one jobserver token each, but Go's compiler and
/// configure scripts do not share the cores that way: without this, a
/// side job slows the chain that decides when the run ends as much as it
/// is slowed itself. At nice 10 it still gets every cycle the critical
/// job leaves idle.
fn yield_to_the_critical_path() {
    // SAFETY: nice(2) only changes the calling thread's scheduling
    // priority (Linux keeps it per thread; children inherit it). Failing
    // leaves the priority as it was, which is harmless.
    unsafe {
        libc::nice(NICE_OFF_CRITICAL_PATH);
    }
}

fn empty_inputs() -> KeyInputs {
    KeyInputs {
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
