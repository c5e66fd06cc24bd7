//! The report as data: what `report.json` holds, built from the scheduler's
//! node reports, and the comparison with a previous report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::RunMeta;
use super::text;
use crate::build::scheduler::{NodeReport, Outcome, Span};

pub const FORMAT: u32 = 1;
/// "Slower" means more than 20 % slower …
pub const SLOWER_RATIO: f64 = 1.2;
/// … and at least this much slower, so sub-second jitter is not news.
pub const SLOWER_MIN_DELTA_MS: u64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Built,
    Cached,
    /// From this machine's local store (built in another build directory).
    Restored,
    Failed,
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Built => "built",
            Status::Cached => "cached",
            Status::Restored => "restored",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }

    pub fn ok(self) -> bool {
        matches!(self, Status::Built | Status::Cached | Status::Restored)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Report {
    pub format: u32,
    /// RFC 3339, UTC.
    pub generated_at: String,
    pub generated_unix: u64,
    pub host: HostInfo,
    pub run: RunInfo,
    pub totals: Totals,
    pub packages: Vec<PackageEntry>,
    /// Against the previous report, when there was one.
    pub diff: Option<Diff>,
    /// Newer upstream versions (`recipe outdated`), when the run looked.
    pub outdated: Vec<UpstreamEntry>,
}

/// One recipe's upstream check, as `recipe outdated` prints it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpstreamEntry {
    pub name: String,
    pub current: String,
    pub newest: Option<String>,
    /// `outdated`, `up to date`, `ahead`, `no upstream` or `error`.
    pub status: String,
    /// Where the newest version was found, or what went wrong.
    #[serde(rename = "where")]
    pub location: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HostInfo {
    pub hostname: String,
    pub os: String,
    pub arch: String,
    pub cpus: usize,
    pub recipe_version: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunInfo {
    pub wall_ms: Option<u64>,
    pub command: Option<String>,
    pub remote_cache: Option<String>,
    pub targets: Vec<String>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Totals {
    pub packages: usize,
    pub built: usize,
    pub cached: usize,
    pub restored: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Sum of package build times (CPU-ish time; wall time is in `run`).
    pub build_ms: u64,
    pub artifact_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackageEntry {
    pub name: String,
    pub target: String,
    pub status: Status,
    pub duration_ms: u64,
    #[serde(default)]
    pub key: Option<String>,
    /// Digest of the staged output (built or cached).
    #[serde(default)]
    pub digest: Option<String>,
    /// Why it was rebuilt, or why it hit the cache.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// The failure as the scheduler reported it.
    #[serde(default)]
    pub error: Option<String>,
    /// The first line of the log that looks like the cause.
    #[serde(default)]
    pub first_error_line: Option<String>,
    #[serde(default)]
    pub skipped_because: Option<String>,
    #[serde(default)]
    pub log: PathBuf,
    /// `log`, relative to the report directory and URL-encoded.
    #[serde(default)]
    pub log_href: String,
    #[serde(default)]
    pub artifacts: Vec<Artifact>,
    /// When and on which worker slot it ran, in ms since the run started.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<Span>,
    /// On the chain of jobs that set the run's length.
    #[serde(default)]
    pub critical: bool,
}

impl PackageEntry {
    pub fn id(&self) -> String {
        format!("{}@{}", self.name, self.target)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Artifact {
    pub path: PathBuf,
    #[serde(default)]
    pub href: String,
    /// None when the file could not be read.
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Diff {
    pub previous_generated_at: String,
    pub newly_failing: Vec<Change>,
    pub fixed: Vec<Change>,
    pub slower: Vec<Slower>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change {
    pub name: String,
    pub target: String,
    /// None: not in the previous report.
    pub before: Option<Status>,
    pub now: Status,
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Slower {
    pub name: String,
    pub target: String,
    pub before_ms: u64,
    pub now_ms: u64,
    /// How much slower, in percent.
    pub percent: u64,
}

impl Report {
    /// Builds the report; reads artifact sizes/hashes and failed packages' logs.
    pub fn build(reports: &[NodeReport], meta: &RunMeta, report_dir: &Path) -> Report {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let packages: Vec<PackageEntry> = reports.iter().map(|r| entry(r, report_dir)).collect();
        let mut targets: Vec<String> = Vec::new();
        for p in &packages {
            if !targets.contains(&p.target) {
                targets.push(p.target.clone());
            }
        }
        let count = |s: Status| packages.iter().filter(|p| p.status == s).count();
        let totals = Totals {
            packages: packages.len(),
            built: count(Status::Built),
            cached: count(Status::Cached),
            restored: count(Status::Restored),
            failed: count(Status::Failed),
            skipped: count(Status::Skipped),
            build_ms: packages.iter().map(|p| p.duration_ms).sum(),
            artifact_bytes: packages.iter().flat_map(|p| &p.artifacts).filter_map(|a| a.size).sum(),
        };
        let mut warnings = meta.warnings.clone();
        warnings.extend(remote_warnings(&packages));
        Report {
            format: FORMAT,
            generated_at: text::rfc3339(now),
            generated_unix: now,
            host: HostInfo {
                hostname: text::hostname(),
                os: std::env::consts::OS.to_string(),
                arch: std::env::consts::ARCH.to_string(),
                cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
                recipe_version: env!("CARGO_PKG_VERSION").to_string(),
            },
            run: RunInfo {
                wall_ms: meta.wall_ms,
                command: meta.command.clone(),
                remote_cache: meta.remote_cache.clone(),
                targets,
                warnings,
            },
            totals,
            packages,
            diff: None,
            outdated: meta.outdated.clone(),
        }
    }

    /// Package ids grouped by target, targets in first-seen order.
    pub fn by_target(&self) -> Vec<(&str, Vec<&PackageEntry>)> {
        let mut out: Vec<(&str, Vec<&PackageEntry>)> = Vec::new();
        for p in &self.packages {
            match out.iter_mut().find(|(t, _)| *t == p.target) {
                Some((_, list)) => list.push(p),
                None => out.push((&p.target, vec![p])),
            }
        }
        out
    }
}

/// Reasons that say the remote cache misbehaved (`remote::Fetched::warning`)
/// also belong in the run's warnings; the same reason is listed once.
fn remote_warnings(packages: &[PackageEntry]) -> Vec<String> {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for p in packages {
        for r in &p.reasons {
            let bad = [
                "remote corrupt:",
                "remote unavailable:",
                "remote untrusted:",
                "remote rejected:",
                "remote cache not used:",
                "local store corrupt:",
                "local store unavailable:",
                "local store not used:",
            ]
            .iter()
            .any(|m| r.starts_with(m));
            if bad && !seen.contains(&r.as_str()) {
                seen.push(r);
                out.push(format!("{}: {r}", p.id()));
            }
        }
    }
    out
}

fn entry(r: &NodeReport, report_dir: &Path) -> PackageEntry {
    let (status, digest, error, skipped_because) = match &r.outcome {
        Outcome::Built { digest } => (Status::Built, Some(digest.clone()), None, None),
        Outcome::Cached { digest } => (Status::Cached, Some(digest.clone()), None, None),
        Outcome::Restored { digest } => (Status::Restored, Some(digest.clone()), None, None),
        Outcome::Failed { error } => (Status::Failed, None, Some(error.clone()), None),
        Outcome::Skipped { because } => (Status::Skipped, None, None, Some(because.clone())),
    };
    let first_error_line = match status {
        Status::Failed => text::first_error_line(&r.log).or_else(|| error.clone()),
        _ => None,
    };
    let artifacts = r
        .artifacts
        .iter()
        .map(|a| Artifact {
            path: a.clone(),
            href: text::relative_href(report_dir, a),
            size: std::fs::metadata(a).ok().map(|m| m.len()),
            sha256: crate::outputs::key::sha256_file(a).ok(),
        })
        .collect();
    PackageEntry {
        name: r.name.clone(),
        target: r.target.clone(),
        status,
        duration_ms: r.duration_ms,
        key: Some(r.key.clone()).filter(|k| !k.is_empty()),
        digest: digest.filter(|d| !d.is_empty()),
        reasons: r.reasons.clone(),
        error,
        first_error_line,
        skipped_because,
        log: r.log.clone(),
        log_href: text::relative_href(report_dir, &r.log),
        artifacts,
        spans: r.spans.clone(),
        critical: r.critical,
    }
}

/// Newly failing, fixed and slower packages, in the order of `now`.
pub fn diff(prev: &Report, now: &Report) -> Diff {
    let before: BTreeMap<(&str, &str), &PackageEntry> = prev
        .packages
        .iter()
        .map(|p| ((p.name.as_str(), p.target.as_str()), p))
        .collect();
    let mut d = Diff {
        previous_generated_at: prev.generated_at.clone(),
        ..Diff::default()
    };
    for p in &now.packages {
        let old = before.get(&(p.name.as_str(), p.target.as_str()));
        let change = || Change {
            name: p.name.clone(),
            target: p.target.clone(),
            before: old.map(|o| o.status),
            now: p.status,
            error: p.first_error_line.clone().or_else(|| p.error.clone()),
        };
        match (old.map(|o| o.status), p.status) {
            (before, Status::Failed) if before != Some(Status::Failed) => d.newly_failing.push(change()),
            (Some(Status::Failed), now) if now.ok() => d.fixed.push(change()),
            _ => {}
        }
        // Only real builds on both sides have comparable times.
        if let Some(o) = old
            && o.status == Status::Built
            && p.status == Status::Built
            && o.duration_ms > 0
            && p.duration_ms as f64 > o.duration_ms as f64 * SLOWER_RATIO
            && p.duration_ms - o.duration_ms >= SLOWER_MIN_DELTA_MS
        {
            d.slower.push(Slower {
                name: p.name.clone(),
                target: p.target.clone(),
                before_ms: o.duration_ms,
                now_ms: p.duration_ms,
                percent: (p.duration_ms - o.duration_ms) * 100 / o.duration_ms,
            });
        }
    }
    d
}
