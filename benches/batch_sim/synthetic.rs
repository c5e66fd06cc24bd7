//! Synthetic nightly batches: (package, target) jobs with build times drawn
//! from a log-normal law and graph shapes like a distribution's: a few deep
//! toolchain-like chains every package waits for, core libraries most
//! packages use (wide fan-out), library stacks (chains), and a few
//! aggregates (images, bundles) that take many packages in (wide fan-in).

use std::collections::BTreeMap;

use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use recipe::plan::graph::{DepKind, HOST, NodeId, Plan};

/// SplitMix64: tiny, fast, and the same sequence everywhere for a seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Uniform in 0..n (n ≥ 1).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.unit() * n as f64) as usize).min(n.saturating_sub(1))
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// A log-normal law of build times: ln(seconds) ~ N(mu, sigma).
#[derive(Debug, Clone, Copy)]
pub struct LogNormal {
    pub mu: f64,
    pub sigma: f64,
}

impl LogNormal {
    /// Fitted to the build times (ms) of real jobs.
    pub fn fit(ms: &[u64]) -> Option<LogNormal> {
        let logs: Vec<f64> = ms
            .iter()
            .filter(|m| **m > 0)
            .map(|m| (*m as f64 / 1000.0).ln())
            .collect();
        if logs.len() < 2 {
            return None;
        }
        let n = logs.len() as f64;
        let mu = logs.iter().sum::<f64>() / n;
        let var = logs.iter().map(|l| (l - mu).powi(2)).sum::<f64>() / (n - 1.0);
        Some(LogNormal { mu, sigma: var.sqrt() })
    }

    /// One draw in ms, kept within 0.2 s ..= 4 h (a build shorter than
    /// process start-up or longer than a night is not a build).
    pub fn draw_ms(&self, rng: &mut Rng) -> u64 {
        let s = (self.mu + self.sigma * rng.normal()).exp();
        (s * 1000.0).clamp(200.0, 4.0 * 3600.0 * 1000.0) as u64
    }

    pub fn median_s(&self) -> f64 {
        self.mu.exp()
    }

    pub fn mean_s(&self) -> f64 {
        (self.mu + self.sigma * self.sigma / 2.0).exp()
    }
}

pub const TARGETS: [&str; 3] = ["armv7hf", "aarch64", "x86_64"];
/// Host tool chains (bootstrap compilers, autotools): `CHAINS` of `DEPTH`.
const HOST_CHAINS: usize = 4;
const HOST_DEPTH: usize = 12;
/// Per target: cross binutils → gcc stage 1 → libc → gcc → libstdc++ → sysroot.
const TARGET_CHAIN: usize = 6;

/// A batch to replay: the plan, each job's duration tonight, and what
/// the scheduler knows before the run (last night's stamp, if any).
pub struct Batch {
    pub plan: Plan,
    pub actual: BTreeMap<NodeIndex, u64>,
    pub last_night: BTreeMap<NodeIndex, Option<u64>>,
}

struct Builder {
    graph: StableDiGraph<NodeId, DepKind>,
    order: Vec<NodeIndex>,
    actual: BTreeMap<NodeIndex, u64>,
}

impl Builder {
    fn add(&mut self, name: String, target: &str, deps: &[NodeIndex], ms: u64) -> NodeIndex {
        let ix = self.graph.add_node(NodeId {
            name,
            target: target.to_string(),
        });
        for d in deps {
            let kind = if self.graph[*d].target == target {
                DepKind::Target
            } else {
                DepKind::Host
            };
            self.graph.update_edge(*d, ix, kind);
        }
        self.order.push(ix);
        self.actual.insert(ix, ms);
        ix
    }
}

/// Each package's dependencies (lower numbers only, so the graph is a
/// DAG): core libraries picked with a bias to the first packages, the
/// package just before in a stack, and for the last 1 % (aggregates) many
/// packages at once.
fn package_deps(rng: &mut Rng, i: usize, packages: usize) -> Vec<usize> {
    if i == 0 {
        return Vec::new();
    }
    let aggregate = i >= packages - packages.div_ceil(100);
    let count = if aggregate {
        20 + rng.below(181)
    } else if rng.unit() < 0.15 {
        0
    } else {
        1 + rng.below(3) + rng.below(3) * rng.below(3)
    };
    let mut deps: Vec<usize> = (0..count)
        .map(|_| {
            if !aggregate && rng.unit() < 0.3 {
                // A library stack: one of the few packages just before.
                i - 1 - rng.below(i.min(10))
            } else {
                // Core libraries: the cube skews towards the first packages.
                (i as f64 * rng.unit().powi(3)) as usize
            }
        })
        .collect();
    deps.sort_unstable();
    deps.dedup();
    deps
}

/// About `jobs` (package, target) jobs over [`TARGETS`] plus the host tool
/// chains, build times from `law`, all from `seed`.
pub fn batch(jobs: usize, law: LogNormal, seed: u64) -> Batch {
    let mut rng = Rng::new(seed);
    let mut b = Builder {
        graph: StableDiGraph::new(),
        order: Vec::new(),
        actual: BTreeMap::new(),
    };
    let mut host_tails = Vec::new();
    for c in 0..HOST_CHAINS {
        let mut prev: Option<NodeIndex> = None;
        for d in 0..HOST_DEPTH {
            let deps: Vec<NodeIndex> = prev.into_iter().collect();
            prev = Some(b.add(format!("tool{c}-{d:02}"), HOST, &deps, law.draw_ms(&mut rng)));
        }
        host_tails.extend(prev);
    }
    // The compiler bootstrap (chain 0) is what every target's toolchain needs.
    let toolchains: Vec<NodeIndex> = TARGETS
        .iter()
        .map(|t| {
            let mut prev = host_tails[0];
            for d in 0..TARGET_CHAIN {
                prev = b.add(format!("cross{d}"), t, &[prev], law.draw_ms(&mut rng));
            }
            prev
        })
        .collect();
    let fixed = HOST_CHAINS * HOST_DEPTH + TARGETS.len() * TARGET_CHAIN;
    let packages = jobs.saturating_sub(fixed).div_ceil(TARGETS.len()).max(1);
    let mut ix: Vec<Vec<NodeIndex>> = Vec::with_capacity(packages);
    for i in 0..packages {
        let deps = package_deps(&mut rng, i, packages);
        // Half the packages need host tools (autotools, meson, a code generator).
        let host = (rng.unit() < 0.5).then(|| host_tails[1 + rng.below(HOST_CHAINS - 1)]);
        let base = law.draw_ms(&mut rng);
        let row = TARGETS
            .iter()
            .enumerate()
            .map(|(t, target)| {
                let mut d: Vec<NodeIndex> = deps.iter().map(|p| ix[*p][t]).collect();
                d.push(toolchains[t]);
                d.extend(host);
                // The same package costs about the same on every target.
                let ms = (base as f64 * (0.15 * rng.normal()).exp()) as u64;
                b.add(format!("pkg{i:05}"), target, &d, ms.max(1))
            })
            .collect();
        ix.push(row);
    }
    // Last night's times: within ±20 % or so; 2 % of the jobs are new.
    let last_night = b
        .actual
        .iter()
        .map(|(ix, ms)| {
            let known = rng.unit() >= 0.02;
            (*ix, known.then(|| (*ms as f64 * (0.2 * rng.normal()).exp()) as u64))
        })
        .collect();
    let order = b.order;
    Batch {
        plan: Plan {
            graph: b.graph,
            roots: order.clone(),
            order,
        },
        actual: b.actual,
        last_night,
    }
}
