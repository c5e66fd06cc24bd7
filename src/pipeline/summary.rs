//! The summary table printed at the end of a build.

use crate::plan::graph::NodeId;

use crate::build::scheduler::{NodeReport, Outcome};

pub fn print_summary(reports: &[NodeReport]) {
    let rows: Vec<[String; 4]> = reports
        .iter()
        .map(|r| {
            let (status, detail) = match &r.outcome {
                Outcome::Built { .. } => ("built", String::new()),
                Outcome::Cached { .. } => ("cached", String::new()),
                Outcome::Restored { .. } => ("restored", "from the local store".to_string()),
                Outcome::Failed { error } => ("FAILED", error.clone()),
                Outcome::Skipped { because } => ("skipped", because.clone()),
            };
            let duration = if r.duration_ms > 0 {
                format!("{:.1}s", r.duration_ms as f64 / 1000.0)
            } else {
                "-".into()
            };
            [
                NodeId {
                    name: r.name.clone(),
                    target: r.target.clone(),
                }
                .to_string(),
                status.to_string(),
                duration,
                detail,
            ]
        })
        .collect();
    let w0 = rows.iter().map(|r| r[0].len()).max().unwrap_or(7).max(7);
    eprintln!("\n{:<w0$}  {:<7}  {:>8}  ", "PACKAGE", "STATUS", "TIME");
    for r in &rows {
        eprintln!("{:<w0$}  {:<7}  {:>8}  {}", r[0], r[1], r[2], r[3]);
    }
    let failed = reports
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed { .. }))
        .count();
    let built = reports
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Built { .. }))
        .count();
    let cached = reports
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Cached { .. }))
        .count();
    let restored = reports
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Restored { .. }))
        .count();
    let skipped = reports.len() - failed - built - cached - restored;
    if restored > 0 {
        eprintln!("{built} built, {cached} cached, {restored} restored, {failed} failed, {skipped} skipped");
    } else {
        eprintln!("{built} built, {cached} cached, {failed} failed, {skipped} skipped");
    }
    for r in reports {
        for a in &r.artifacts {
            eprintln!("artifact: {}", a.display());
        }
        if r.artifacts.iter().any(|a| a.extension().is_some_and(|x| x == "whl")) {
            eprintln!("  test it on the target: recipe test {} --target {}", r.name, r.target);
        }
    }
}
