use std::cell::Cell;
use std::collections::BTreeMap;

use super::*;

fn inputs() -> KeyInputs {
    KeyInputs {
        recipe: serde_json::json!({"version": "1.0"}),
        files: BTreeMap::from([("patches/a.patch".into(), "aa".into())]),
        toolchain: "tc1".into(),
        deps: BTreeMap::from([("libuv@armv7hf".into(), "d1".into())]),
        builder: crate::outputs::key::BUILDER_VERSION.into(),
    }
}

fn stamp_of(inputs: &KeyInputs) -> Stamp {
    Stamp {
        key: inputs.key(),
        inputs: inputs.clone(),
        output_digest: "out".into(),
        duration_ms: 5_000,
        fingerprint: "fp".into(),
    }
}

/// Facts of a package whose dependencies are built, with nothing special.
fn facts<'a>(inputs: &'a KeyInputs, stamp: Option<&'a Stamp>, usable: &'a dyn Fn() -> bool) -> Facts<'a> {
    Facts {
        inputs,
        deps_done: true,
        stamp,
        forced: false,
        remote: false,
        failed_dep: None,
        early_failure: None,
        output_usable: usable,
    }
}

const YES: &dyn Fn() -> bool = &|| true;
const NO: &dyn Fn() -> bool = &|| false;

#[test]
fn a_matching_stamp_with_a_usable_output_is_up_to_date() {
    let i = inputs();
    let s = stamp_of(&i);
    assert_eq!(decide(&facts(&i, Some(&s), YES)), Decision::UpToDate { key: i.key() });
}

#[test]
fn the_output_is_checked_only_when_the_key_matches() {
    let i = inputs();
    let mut old = i.clone();
    old.recipe = serde_json::json!({"version": "0.9"});
    let s = stamp_of(&old);
    let asked = Cell::new(false);
    let usable = || {
        asked.set(true);
        true
    };
    let d = decide(&facts(&i, Some(&s), &usable));
    assert!(!asked.get(), "a stale key needs no look at the staged tree");
    assert_eq!(
        d,
        Decision::Rebuild {
            key: i.key(),
            reasons: vec!["recipe changed: version".into()]
        }
    );
}

#[test]
fn a_changed_output_is_rebuilt_with_that_reason() {
    let i = inputs();
    let s = stamp_of(&i);
    assert_eq!(
        decide(&facts(&i, Some(&s), NO)),
        Decision::Rebuild {
            key: i.key(),
            reasons: vec![OUTPUT_CHANGED.into()]
        }
    );
}

#[test]
fn no_stamp_means_never_built() {
    let i = inputs();
    assert_eq!(
        decide(&facts(&i, None, YES)),
        Decision::Rebuild {
            key: i.key(),
            reasons: vec!["never built (no stamp)".into()]
        }
    );
}

#[test]
fn forced_rebuilds_even_when_up_to_date_and_never_asks_the_remote() {
    let i = inputs();
    let s = stamp_of(&i);
    let f = Facts {
        forced: true,
        remote: true,
        ..facts(&i, Some(&s), YES)
    };
    assert_eq!(
        decide(&f),
        Decision::Rebuild {
            key: i.key(),
            reasons: vec![FORCED.into()]
        }
    );
}

#[test]
fn with_a_remote_a_stale_package_is_restored_first() {
    let i = inputs();
    let mut old = i.clone();
    old.deps.insert("libuv@armv7hf".into(), "d0".into());
    let s = stamp_of(&old);
    let f = Facts {
        remote: true,
        ..facts(&i, Some(&s), YES)
    };
    assert_eq!(
        decide(&f),
        Decision::Restore {
            key: i.key(),
            reasons: vec!["dependency libuv@armv7hf produced different output".into()]
        }
    );
    // Up to date wins over the remote: no request for what is here.
    let s = stamp_of(&i);
    let f = Facts {
        remote: true,
        ..facts(&i, Some(&s), YES)
    };
    assert_eq!(decide(&f), Decision::UpToDate { key: i.key() });
}

#[test]
fn a_failed_dependency_skips_even_a_forced_package() {
    let i = inputs();
    let f = Facts {
        forced: true,
        failed_dep: Some("libuv@armv7hf"),
        ..facts(&i, None, YES)
    };
    assert_eq!(
        decide(&f),
        Decision::Skip {
            because: "dependency libuv@armv7hf failed".into()
        }
    );
}

/// The early-phase failure report: a source that failed to fetch (or a
/// `pre-build` that failed) before the dependencies were built says why
/// the package needed a build, from its own inputs, and has no key
/// (the dependencies' outputs are not known) rather than the key of empty
/// inputs.
#[test]
fn an_early_failure_before_the_dependencies_reports_own_reasons_and_no_key() {
    let built = inputs();
    let s = stamp_of(&built);
    let mut now = built.clone();
    now.recipe = serde_json::json!({"version": "1.1"});
    now.deps.clear(); // not built yet
    let f = Facts {
        deps_done: false,
        early_failure: Some("sha256 mismatch for lz4-1.1.tar.gz"),
        // An early failure wins over a failed dependency: it is the cause.
        failed_dep: Some("libuv@armv7hf"),
        ..facts(&now, Some(&s), YES)
    };
    assert_eq!(
        decide(&f),
        Decision::Fail {
            error: "sha256 mismatch for lz4-1.1.tar.gz".into(),
            key: None,
            reasons: vec!["recipe changed: version".into()],
        }
    );
    // No stamp: never built. Forced: forced.
    let f = Facts {
        deps_done: false,
        early_failure: Some("boom"),
        ..facts(&now, None, YES)
    };
    assert!(matches!(decide(&f), Decision::Fail { reasons, .. } if reasons == ["never built (no stamp)"]));
    let f = Facts {
        deps_done: false,
        forced: true,
        early_failure: Some("boom"),
        ..facts(&now, Some(&s), YES)
    };
    assert!(matches!(decide(&f), Decision::Fail { reasons, .. } if reasons == [FORCED]));
}

#[test]
fn an_early_failure_after_the_dependencies_has_the_final_key() {
    let i = inputs();
    let f = Facts {
        early_failure: Some("patch 0001 does not apply"),
        ..facts(&i, None, YES)
    };
    assert_eq!(
        decide(&f),
        Decision::Fail {
            error: "patch 0001 does not apply".into(),
            key: Some(i.key()),
            reasons: vec!["never built (no stamp)".into()],
        }
    );
}

#[test]
fn rebuilds_anyway_looks_at_own_inputs_only() {
    let i = inputs();
    let s = stamp_of(&i);
    let mut other_deps = i.clone();
    other_deps.deps.clear();
    assert!(
        !rebuilds_anyway(&other_deps, Some(&s), false),
        "dependencies do not count"
    );
    assert!(rebuilds_anyway(&i, Some(&s), true), "forced");
    assert!(rebuilds_anyway(&i, None, false), "no stamp");
    let mut tc = i.clone();
    tc.toolchain = "tc2".into();
    assert!(rebuilds_anyway(&tc, Some(&s), false), "toolchain changed");
}
