//! `report.html`: one self-contained page (inline CSS and SVG, no script):
//! totals, changes since the previous report, the run's timeline, a
//! package × target matrix coloured by status, and a detail table with
//! reasons, errors, logs and artifacts. Rendered from `report.html` (a
//! minijinja template) with HTML autoescaping on every value.

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use super::model::{PackageEntry, Report, Status};
use super::text::{duration, truncate, xml_escape};
use super::timeline::{Chart, chart};
use crate::units::human_bytes as size;

const TEMPLATE: &str = include_str!("report.html");

#[derive(Serialize)]
struct Page<'a> {
    r: &'a Report,
    chart: Option<Chart>,
    matrix: Vec<MatrixRow<'a>>,
}

#[derive(Serialize)]
struct MatrixRow<'a> {
    name: &'a str,
    /// One per target of the run, None where the package was not built.
    cells: Vec<Option<Cell<'a>>>,
}

#[derive(Serialize)]
struct Cell<'a> {
    status: &'static str,
    title: String,
    href: &'a str,
    duration_ms: u64,
}

pub fn render(r: &Report) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    // Escaping does not hang on the template's name.
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Strings: compiler colours and control characters dropped, and the
    // five markup characters escaped (minijinja's default also escapes `/`,
    // which turns every link into `..&#x2f;build&#x2f;…`).
    env.set_formatter(|out, state, value| match value.as_str() {
        Some(s) if !value.is_safe() && matches!(state.auto_escape(), AutoEscape::Html) => {
            out.write_str(&xml_escape(s)).map_err(minijinja::Error::from)
        }
        _ => minijinja::escape_formatter(out, state, value),
    });
    env.add_filter("duration", duration);
    env.add_filter("size", size);
    env.add_filter("short", |s: String, max: usize| truncate(&s, max));
    env.add_filter("basename", |p: String| match p.rsplit_once('/') {
        Some((_, name)) if !name.is_empty() => name.to_string(),
        _ => p,
    });
    env.add_template("report.html", TEMPLATE)?;
    let page = Page {
        r,
        chart: chart(r),
        matrix: matrix(r),
    };
    env.get_template("report.html")?
        .render(Value::from(minijinja::value::Serde(&page)))
}

fn matrix(r: &Report) -> Vec<MatrixRow<'_>> {
    let mut names: Vec<&str> = Vec::new();
    for p in &r.packages {
        if !names.contains(&p.name.as_str()) {
            names.push(&p.name);
        }
    }
    names
        .into_iter()
        .map(|name| MatrixRow {
            name,
            cells: r
                .run
                .targets
                .iter()
                .map(|t| {
                    r.packages
                        .iter()
                        .find(|p| p.name == name && &p.target == t)
                        .map(|p| Cell {
                            status: p.status.as_str(),
                            title: cell_title(p),
                            href: &p.log_href,
                            duration_ms: p.duration_ms,
                        })
                })
                .collect(),
        })
        .collect()
}

fn cell_title(p: &PackageEntry) -> String {
    match p.status {
        Status::Failed => p
            .first_error_line
            .clone()
            .or_else(|| p.error.clone())
            .unwrap_or_default(),
        Status::Skipped => p.skipped_because.clone().unwrap_or_default(),
        _ => p.reasons.join("; "),
    }
}
