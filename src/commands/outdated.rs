//! `recipe outdated [NAME…] [--json]`: newer upstream versions, as a table
//! or as JSON. Lookups that fail are rows, not errors: the command exits 0
//! whenever it could look.

use crate::cli::LimitArgs;
use crate::error::Error;
use crate::fetch::FetchContext;
use crate::maintain::{OutdatedRow, Status, check_outdated};
use crate::plan::graph::check_requested;
use crate::settings::Settings;

pub fn run(settings: &Settings, names: &[String], json: bool, limits: LimitArgs) -> Result<(), Error> {
    let project = super::load(settings)?;
    if !names.is_empty() {
        check_requested(&project, names)?;
    }
    let ctx = FetchContext::new(&settings.cache, settings.fetch_options(false, &limits.into()))?;
    let rows = check_outdated(&ctx, &project, names);
    if json {
        let text = serde_json::to_string_pretty(&serde_json::json!({ "packages": rows }))
            .map_err(|e| Error::io("cannot write JSON", e.into()))?;
        println!("{text}");
        return Ok(());
    }
    print!("{}", table(&rows));
    let count = |s: Status| rows.iter().filter(|r| r.status == s).count();
    println!(
        "{} outdated, {} up to date, {} failed",
        count(Status::Outdated),
        count(Status::UpToDate),
        count(Status::Error)
    );
    Ok(())
}

/// Left-aligned columns separated by two spaces; the last one unpadded.
pub fn table(rows: &[OutdatedRow]) -> String {
    let mut lines = vec![[
        "NAME".to_string(),
        "CURRENT".into(),
        "NEWEST".into(),
        "STATUS".into(),
        "WHERE".into(),
    ]];
    for r in rows {
        lines.push([
            r.name.clone(),
            r.current.clone(),
            r.newest.clone().unwrap_or_else(|| "-".into()),
            r.status.label().to_string(),
            r.where_(),
        ]);
    }
    let width = |i: usize| lines.iter().map(|l| l[i].chars().count()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..4).map(width).collect();
    let mut out = String::new();
    for l in &lines {
        for (i, w) in widths.iter().enumerate() {
            out.push_str(&format!("{:<w$}  ", l[i]));
        }
        out.push_str(&l[4]);
        out.push('\n');
    }
    out
}
