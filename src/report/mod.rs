//! Batch reports: `report.json` (for machines), `junit.xml` (for CI) and a
//! self-contained `report.html` (for people), all written into one directory,
//! with the difference from the previous report of that directory.
//!
//! Entry point: [`write_reports`] (with run-level
//! facts the scheduler does not know about: wall time, remote cache warnings).

mod html;
mod junit;
mod model;
pub(crate) mod text;
mod timeline;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use miette::Diagnostic;
use thiserror::Error;

use crate::build::scheduler::NodeReport;

pub use model::{Report, Status, UpstreamEntry};
pub use text::hostname;

/// File names inside the report directory.
pub const JSON: &str = "report.json";
pub const JUNIT: &str = "junit.xml";
pub const HTML: &str = "report.html";
pub const PREVIOUS: &str = "previous.json";

#[derive(Debug, Error, Diagnostic)]
pub enum ReportError {
    #[error("cannot {what} {}: {source}", path.display())]
    #[diagnostic(code(recipe::report::io), help("check that the report directory is writable"))]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot serialize the report: {0}")]
    #[diagnostic(code(recipe::report::json))]
    Json(#[from] serde_json::Error),
    #[error("cannot render report.html: {0}")]
    #[diagnostic(code(recipe::report::html))]
    Html(#[from] minijinja::Error),
}

impl ReportError {
    fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ReportError {
        let path = path.to_path_buf();
        move |source| ReportError::Io { what, path, source }
    }
}

/// What was written, plus anything worth telling the user (an unreadable
/// previous report, say) that did not stop the reports from being written.
#[derive(Debug, Clone)]
pub struct ReportPaths {
    pub json: PathBuf,
    pub junit: PathBuf,
    pub html: PathBuf,
    /// The copy of the report compared against, if there was one.
    pub previous: Option<PathBuf>,
    pub warnings: Vec<String>,
}

/// Run-level facts that are not in the node reports.
#[derive(Debug, Clone, Default)]
pub struct RunMeta {
    /// Wall-clock time of the whole run.
    pub wall_ms: Option<u64>,
    /// The command line, for the header.
    pub command: Option<String>,
    /// The remote cache URL, if one was used (never with credentials).
    pub remote_cache: Option<String>,
    /// Run-level warnings, e.g. from `RemoteWriter::finish`.
    pub warnings: Vec<String>,
    /// The recipes' upstream checks, for the nightly batch.
    pub outdated: Vec<UpstreamEntry>,
}

/// Writes `report.json`, `junit.xml` and `report.html` into `dir`.
///
/// `previous`: the report to compare against; by default `dir/report.json`
/// as it was before this call (kept as `dir/previous.json`).
pub fn write_reports(
    dir: &Path,
    reports: &[NodeReport],
    previous: Option<&Path>,
    meta: &RunMeta,
) -> Result<ReportPaths, ReportError> {
    std::fs::create_dir_all(dir).map_err(ReportError::io("create the report directory", dir))?;
    let mut warnings = Vec::new();
    let (prev, prev_path) = read_previous(dir, previous, &mut warnings)?;

    let mut report = Report::build(reports, meta, dir);
    if let Some(prev) = &prev {
        report.diff = Some(model::diff(prev, &report));
    }

    let paths = ReportPaths {
        json: dir.join(JSON),
        junit: dir.join(JUNIT),
        html: dir.join(HTML),
        previous: prev_path,
        warnings,
    };
    let json = serde_json::to_vec_pretty(&report)?;
    write_atomic(&paths.json, &json)?;
    write_atomic(&paths.junit, junit::render(&report).as_bytes())?;
    write_atomic(&paths.html, html::render(&report)?.as_bytes())?;
    Ok(paths)
}

/// Reads the previous report (explicit, or the one about to be replaced) and
/// keeps a copy as `previous.json`. A missing or unreadable one is a warning.
fn read_previous(
    dir: &Path,
    explicit: Option<&Path>,
    warnings: &mut Vec<String>,
) -> Result<(Option<Report>, Option<PathBuf>), ReportError> {
    let path = explicit.map_or_else(|| dir.join(JSON), Path::to_path_buf);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if explicit.is_some() {
                warnings.push(format!("previous report {} not found: no comparison", path.display()));
            }
            return Ok((None, None));
        }
        Err(e) => {
            warnings.push(format!("cannot read previous report {}: {e}", path.display()));
            return Ok((None, None));
        }
    };
    let copy = dir.join(PREVIOUS);
    if !same_file(&path, &copy) {
        write_atomic(&copy, &bytes)?;
    }
    match serde_json::from_slice::<Report>(&bytes) {
        Ok(r) => Ok((Some(r), Some(copy))),
        Err(e) => {
            warnings.push(format!(
                "previous report {} is not readable ({e}): no comparison",
                path.display()
            ));
            Ok((None, Some(copy)))
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).map_err(ReportError::io("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(ReportError::io("replace", path))
}
