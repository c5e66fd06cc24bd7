//! The rebuild decision of one package, as a pure function of what the
//! mechanics looked up: its key inputs, its stamp, `--force`, whether a
//! remote cache is configured, failed dependencies and an early-phase
//! failure. Everything it needs is passed in, so it is tested by hand.

use crate::outputs::key::{self, KeyInputs, Stamp};

/// What the mechanics know about a package when it is its turn.
pub(crate) struct Facts<'a> {
    /// Its key inputs; dependency digests are filled in only when
    /// `deps_done` (otherwise the key is not final yet).
    pub inputs: &'a KeyInputs,
    pub deps_done: bool,
    pub stamp: Option<&'a Stamp>,
    pub forced: bool,
    /// A remote cache is configured (and may be asked before building).
    pub remote: bool,
    /// A dependency that failed or was skipped, by name.
    pub failed_dep: Option<&'a str>,
    /// A failure before its turn: a source that failed to fetch, or the
    /// early phase (sources, `pre-build`, `autoreconf`) that failed.
    pub early_failure: Option<&'a str>,
    /// Whether the stamped output is still there, unchanged and usable
    /// (asked only when the key matches: it reads the staged tree).
    pub output_usable: &'a dyn Fn() -> bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Failed before building; `key` is None when dependencies were not
    /// built yet (no final key), `reasons` say why it needed a build.
    Fail {
        error: String,
        key: Option<String>,
        reasons: Vec<String>,
    },
    Skip {
        because: String,
    },
    UpToDate {
        key: String,
    },
    /// Ask the remote cache first; build with these reasons if it has
    /// nothing usable.
    Restore {
        key: String,
        reasons: Vec<String>,
    },
    Rebuild {
        key: String,
        reasons: Vec<String>,
    },
}

pub(crate) const FORCED: &str = "forced (--force)";
pub(crate) const OUTPUT_CHANGED: &str = "staged output missing or changed since it was stamped";

pub(crate) fn decide(f: &Facts) -> Decision {
    if let Some(error) = f.early_failure {
        return Decision::Fail {
            error: error.to_string(),
            key: f.deps_done.then(|| f.inputs.key()),
            reasons: rebuild_reasons(f),
        };
    }
    if let Some(dep) = f.failed_dep {
        return Decision::Skip {
            because: format!("dependency {dep} failed"),
        };
    }
    let key = f.inputs.key();
    if f.forced {
        // A forced package is built here: the point is to run the build.
        return Decision::Rebuild {
            key,
            reasons: vec![FORCED.into()],
        };
    }
    let stamped = f.stamp.is_some_and(|s| s.key == key);
    if stamped && (f.output_usable)() {
        return Decision::UpToDate { key };
    }
    let reasons = if stamped {
        vec![OUTPUT_CHANGED.to_string()]
    } else {
        rebuild_reasons(f)
    };
    if f.remote {
        Decision::Restore { key, reasons }
    } else {
        Decision::Rebuild { key, reasons }
    }
}

/// Why the package (would have) needed a build. Before its dependencies
/// are built only its own inputs can be compared: the stamp's dependency
/// digests stand in for the unknown ones.
fn rebuild_reasons(f: &Facts) -> Vec<String> {
    if f.forced {
        return vec![FORCED.into()];
    }
    if f.deps_done {
        return key::explain(f.stamp.map(|s| &s.inputs), f.inputs);
    }
    let own = f.stamp.map(|s| KeyInputs {
        deps: s.inputs.deps.clone(),
        ..f.inputs.clone()
    });
    match own {
        Some(own) => key::explain(f.stamp.map(|s| &s.inputs), &own),
        None => key::explain(None, f.inputs),
    }
}

/// A package rebuilds whatever its dependencies produce when its own
/// inputs (recipe, files, toolchain, builder) differ from its stamp, it has
/// none, or it is forced: its early phase may then run before they finish.
pub(crate) fn rebuilds_anyway(own: &KeyInputs, stamp: Option<&Stamp>, forced: bool) -> bool {
    forced
        || stamp.is_none_or(|s| {
            s.inputs.recipe != own.recipe
                || s.inputs.files != own.files
                || s.inputs.toolchain != own.toolchain
                || s.inputs.builder != own.builder
        })
}

#[cfg(test)]
mod tests;
