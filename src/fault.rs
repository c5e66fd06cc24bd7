//! Fault injection for the crash-safety tests: with
//! `RECIPE_FAULT_INJECT=<point>` the process aborts when it reaches that
//! point, leaving the disk as a `kill -9` there would (no destructor runs;
//! build steps die with it). Unset, it costs one comparison. The points are
//! listed in docs/reliability.md.

use std::sync::OnceLock;

/// Aborts the process if `point` is the one asked for.
pub fn point(point: &str) {
    static ASKED: OnceLock<Option<String>> = OnceLock::new();
    let asked = ASKED.get_or_init(|| std::env::var("RECIPE_FAULT_INJECT").ok().filter(|v| !v.is_empty()));
    if asked.as_deref() == Some(point) {
        eprintln!("recipe: fault injected at `{point}`");
        std::process::abort();
    }
}
