//! A large nightly batch, simulated: synthetic graphs of about 1,000 and
//! 10,000 (package, target) jobs replayed through the scheduler's own
//! ranking (critical path first, `build::scheduler::simulate`) on N = 1, 8
//! and 64 workers. Nothing is built: a discrete-event replay.
//!
//! `cargo bench --bench batch_sim [-- SIZES… --stamps BUILD_DIR…]`
//!
//! Build times follow a log-normal law fitted to real stamps: by default the
//! figures below (12 jobs of the armv7hf reference graph and its host tools,
//! CI's end-to-end tree, 2 cores); with `--stamps`, fitted to the stamps of
//! the given build directories, and the project's own recipes for every
//! target are replayed too, each job taking its stamped time.

mod synthetic;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use petgraph::stable_graph::NodeIndex;
use recipe::build::scheduler::simulate::{Priority, Replay, critical_path_ms, replay};
use recipe::model::project::{Project, ProjectPaths};
use recipe::outputs::key::{read_stamp, stamp_path};
use recipe::plan::graph::{HOST, Plan, plan};
use synthetic::{Batch, LogNormal, TARGETS};

const SEED: u64 = 0x5EED_0015;
/// Slurm's dispatch per job on a chain (an `afterok` dependency released →
/// the next job running), as `bench/slurm-overhead.sh` measured it: with
/// Slurm's defaults, and with `SchedulerParameters=batch_sched_delay=0`.
const SLURM_DISPATCH_MS: [u64; 2] = [3_000, 1_000];
const WORKERS: [usize; 3] = [1, 8, 64];
/// ln(seconds) of the 12 stamped jobs of a CI end-to-end tree (dqlite
/// 45.8 s, m4 50.8 s, sqlite 28.2 s, libuv 17.8 s, … go-dqlite 0.4 s).
const DEFAULT_LAW: LogNormal = LogNormal {
    mu: 2.047,
    sigma: 1.427,
};

struct Args {
    sizes: Vec<usize>,
    stamps: Vec<PathBuf>,
}

fn args() -> Args {
    let mut out = Args {
        sizes: Vec::new(),
        stamps: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        if a == "--stamps" {
            out.stamps.extend(it.next().map(PathBuf::from));
        } else if let Ok(n) = a.parse() {
            out.sizes.push(n);
        }
        // Anything else is cargo's (`--bench`).
    }
    if out.sizes.is_empty() {
        out.sizes = vec![1_000, 10_000];
    }
    out
}

fn hms(ms: u64) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

/// Every stamped duration under `dir` (`<target>/.stamps/<name>.json`).
fn stamped(dir: &Path) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    for target in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let t = target.file_name().to_string_lossy().into_owned();
        for f in std::fs::read_dir(target.path().join(".stamps"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = f.file_name().to_string_lossy().trim_end_matches(".json").to_string();
            if let Some(s) = read_stamp(&stamp_path(dir, &t, &name)) {
                out.insert((name, t.clone()), s.duration_ms);
            }
        }
    }
    out
}

fn row(label: &str, r: &Replay, fifo: &Replay, blind: &Replay) {
    let cp = r.critical_path_ms.max(1) as f64;
    println!(
        "{label:>5}  {:>10} {:>6.2}× {:>6.2}× {:>5.0} %  | {:>10} {:>6.2}×  | {:>10} {:>6.2}×  | {:>10}",
        hms(r.makespan_ms),
        r.makespan_ms as f64 / cp,
        r.makespan_ms as f64 / r.lower_bound_ms().max(1) as f64,
        100.0 * r.utilisation(),
        hms(blind.makespan_ms),
        blind.makespan_ms as f64 / cp,
        hms(fifo.makespan_ms),
        fifo.makespan_ms as f64 / cp,
        hms(r.total_work_ms.div_ceil(r.workers as u64)),
    );
}

fn header() {
    println!(
        "{:>5}  {:>10} {:>7} {:>7} {:>7}  | {:>10} {:>7}  | {:>10} {:>7}  | {:>10}",
        "N", "makespan", "/CP", "/bound", "busy", "no stamps", "/CP", "plan order", "/CP", "work/N"
    );
}

/// The smallest number of workers whose replay ends within `limit_ms`
/// (None beyond `max`). Makespans shrink with N, though not strictly
/// (list scheduling has anomalies): a bisection is enough for sizing.
fn workers_for(b: &Batch, limit_ms: u64, max: usize) -> Option<usize> {
    let fits =
        |n: usize| replay(&b.plan, &b.actual, &b.last_night, n, Priority::CriticalPathFirst).makespan_ms <= limit_ms;
    if !fits(max) {
        return None;
    }
    let (mut lo, mut hi) = (0usize, max);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if fits(mid) { hi = mid } else { lo = mid }
    }
    Some(hi)
}

fn replay_all(b: &Batch, workers: &[usize]) {
    header();
    let blind: BTreeMap<NodeIndex, Option<u64>> = b.plan.order.iter().map(|ix| (*ix, None)).collect();
    for n in workers {
        let t0 = Instant::now();
        let r = replay(&b.plan, &b.actual, &b.last_night, *n, Priority::CriticalPathFirst);
        let took = t0.elapsed();
        let fifo = replay(&b.plan, &b.actual, &b.last_night, *n, Priority::PlanOrder);
        let none = replay(&b.plan, &b.actual, &blind, *n, Priority::CriticalPathFirst);
        // Any list schedule ends within Graham's bound; below it is impossible.
        assert!(r.makespan_ms >= r.lower_bound_ms() && fifo.makespan_ms >= fifo.lower_bound_ms());
        assert!(r.makespan_ms <= r.total_work_ms / *n as u64 + r.critical_path_ms);
        row(&n.to_string(), &r, &fifo, &none);
        if *n == workers[workers.len() - 1] {
            println!(
                "       (one replay of {} jobs: {:.1} ms)",
                r.jobs,
                took.as_secs_f64() * 1000.0
            );
        }
    }
}

fn synthetic(jobs: usize, law: LogNormal) {
    let b = synthetic::batch(jobs, law, SEED);
    let work: u64 = b.actual.values().sum();
    let cp = critical_path_ms(&b.plan, &b.actual);
    let edges = b.plan.graph.edge_count();
    println!(
        "\n{} jobs ({} edges), total work {}, critical path {} (work / CP = {:.0} workers' worth of parallelism)",
        b.plan.len(),
        edges,
        hms(work),
        hms(cp),
        work as f64 / cp.max(1) as f64
    );
    replay_all(&b, &WORKERS);
    with_dispatch(&b);
    let max = b.plan.len();
    let within = |label: &str, limit: u64| match workers_for(&b, limit, max) {
        Some(n) => println!("  workers to end within {label}: {n}"),
        None => println!(
            "  workers to end within {label}: not possible (critical path {})",
            hms(cp)
        ),
    };
    within("1.10 × the critical path", cp + cp / 10);
    within("8 h", 8 * 3600 * 1000);
    within("1 h", 3600 * 1000);
}

/// The same batch with Slurm's dispatch time added to every job.
fn with_dispatch(b: &Batch) {
    for dispatch in SLURM_DISPATCH_MS {
        let actual: BTreeMap<NodeIndex, u64> = b.actual.iter().map(|(ix, ms)| (*ix, ms + dispatch)).collect();
        let cells: Vec<String> = WORKERS
            .iter()
            .map(|n| {
                let r = replay(&b.plan, &actual, &b.last_night, *n, Priority::CriticalPathFirst);
                format!("N = {n}: {} (CP {})", hms(r.makespan_ms), hms(r.critical_path_ms))
            })
            .collect();
        println!(
            "  with {:.1} s of Slurm dispatch per job: {}",
            dispatch as f64 / 1000.0,
            cells.join(", ")
        );
    }
}

/// The project's own recipes for every target, each job taking its
/// stamped time (the median of the stamped ones when it has none).
fn project(stamps: &BTreeMap<(String, String), u64>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Ok(project) = Project::load(ProjectPaths::from_recipes_dir(&root.join("recipes"))) else {
        println!("\n(the project's recipes do not load: no replay of them)");
        return;
    };
    let names: Vec<String> = project.recipes.keys().cloned().collect();
    let targets: Vec<String> = TARGETS.iter().map(|t| t.to_string()).collect();
    let Ok(p): Result<Plan, _> = plan(&project, &names, &targets) else {
        println!("\n(the project's recipes do not plan: no replay of them)");
        return;
    };
    let mut known: Vec<u64> = stamps.values().copied().collect();
    known.sort_unstable();
    let median = known.get(known.len() / 2).copied().unwrap_or(1_000);
    let mut found = 0;
    let mut actual = BTreeMap::new();
    let mut last_night = BTreeMap::new();
    for ix in p.order.iter().copied() {
        let id = p.node(ix);
        let ms = stamps.get(&(id.name.clone(), id.target.clone())).copied();
        found += usize::from(ms.is_some());
        actual.insert(ix, ms.unwrap_or(median));
        last_night.insert(ix, ms);
    }
    let hosts = p.order.iter().filter(|ix| p.node(**ix).target == HOST).count();
    println!(
        "\nthis project: {} recipes × {} targets = {} jobs ({hosts} host tools), {found} with a stamped time, the others {} (the median)",
        names.len(),
        targets.len(),
        p.len(),
        hms(median)
    );
    let b = Batch {
        plan: p,
        actual,
        last_night,
    };
    replay_all(&b, &[1, 2, 4, 8, 16]);
}

fn main() {
    let a = args();
    let mut stamps = BTreeMap::new();
    for dir in &a.stamps {
        // The first directory that stamped a job gives its time.
        for (k, v) in stamped(dir) {
            stamps.entry(k).or_insert(v);
        }
    }
    let fitted = LogNormal::fit(&stamps.values().copied().collect::<Vec<_>>());
    let (law, source) = match fitted {
        Some(l) => (l, format!("fitted to {} stamped jobs of {:?}", stamps.len(), a.stamps)),
        None => (
            DEFAULT_LAW,
            "fitted to CI's end-to-end tree (12 jobs, armv7hf + host)".into(),
        ),
    };
    println!(
        "nightly batch simulation: ln(build seconds) ~ N({:.3}, {:.3}²), median {:.1} s, mean {:.1} s ({source})",
        law.mu,
        law.sigma,
        law.median_s(),
        law.mean_s()
    );
    println!(
        "ranking: the scheduler's (critical path first, weights = last night's times ±20 %, 2 % new jobs); \
         also with no stamps at all, and in plan order (a FIFO queue fed in plan order); seed {SEED:#x}"
    );
    for jobs in &a.sizes {
        synthetic(*jobs, law);
    }
    if !stamps.is_empty() {
        project(&stamps);
    }
}
