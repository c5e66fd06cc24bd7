//! The local store: package outputs kept in the cache directory, content
//! addressed like the remote cache, so a second build directory (another
//! checkout, `--build-dir`) restores every unchanged package instead of
//! building it. Statuses are read from report.json.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::e2e::{cache, checkout};
use crate::support::project::Project;
use crate::support::report::Report;

fn builds(project: &Path) -> usize {
    std::fs::read_to_string(project.join("events"))
        .unwrap_or_default()
        .lines()
        .count()
}

/// `recipe build NAMES --target host` in build tree `tree` (relative to
/// `project` or absolute) with the cache `cache`, report in `<tree>-report`.
fn build(project: &Path, cache: &Path, tree: &Path, names: &[&str], extra: &[&str]) -> Output {
    let tree = project.join(tree);
    let report = tree.with_extension("report");
    Command::new(env!("CARGO_BIN_EXE_recipe"))
        .current_dir(project)
        .env("RECIPE_CACHE", cache)
        .env("NO_COLOR", "1")
        .env_remove("RECIPE_REMOTE_CACHE")
        // The step records builds outside its dirs, which the sandbox forbids.
        .arg("--no-sandbox")
        .arg("build")
        .args(names)
        .args(["--target", "host", "--build-dir"])
        .arg(&tree)
        .arg("--report")
        .arg(&report)
        .args(extra)
        .output()
        .expect("run recipe")
}

/// `name@target → (status, reasons)` from the run's report.json.
fn statuses(tree: &Path) -> BTreeMap<String, (String, Vec<String>)> {
    Report::read(&tree.with_extension("report")).reasons()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every blob of the store, by file name.
fn blobs(cache: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(cache.join("store/cas"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn a_second_build_dir_restores_from_the_local_store() {
    let p = Project::host_pkg();
    let cache = p.path().join("cache");
    let a = build(p.path(), &cache, Path::new("A"), &["pkg"], &[]);
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(statuses(&p.path().join("A"))["pkg@host"].0, "built");
    assert_eq!(builds(p.path()), 1);
    assert_eq!(blobs(&cache).len(), 1, "the output is in the store");

    let b = build(p.path(), &cache, Path::new("B"), &["pkg"], &[]);
    assert!(b.status.success(), "{}", stderr(&b));
    let (status, reasons) = &statuses(&p.path().join("B"))["pkg@host"];
    assert_eq!(status, "restored", "{reasons:?}\n{}", stderr(&b));
    assert!(reasons.iter().any(|r| r.starts_with("local store hit")), "{reasons:?}");
    assert_eq!(builds(p.path()), 1, "not built again");
    assert_eq!(
        std::fs::read_to_string(p.path().join("B/host/pkg/dest/usr/share/pkg.txt")).expect("restored file"),
        "pkg\n"
    );
    assert!(stderr(&b).contains("restored"), "the summary says so:\n{}", stderr(&b));

    // Restored means stamped: the next run in B is a plain no-op.
    let again = build(p.path(), &cache, Path::new("B"), &["pkg"], &[]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(statuses(&p.path().join("B"))["pkg@host"].0, "cached");

    // Opting out builds.
    let c = build(p.path(), &cache, Path::new("C"), &["pkg"], &["--no-local-store"]);
    assert!(c.status.success(), "{}", stderr(&c));
    assert_eq!(statuses(&p.path().join("C"))["pkg@host"].0, "built");
    assert_eq!(builds(p.path()), 2);
}

#[test]
fn a_corrupt_store_entry_is_detected_rebuilt_and_replaced() {
    let p = Project::host_pkg();
    let cache = p.path().join("cache");
    let a = build(p.path(), &cache, Path::new("A"), &["pkg"], &[]);
    assert!(a.status.success(), "{}", stderr(&a));
    let blob = blobs(&cache).pop().expect("a blob");
    let mut bad = std::fs::read(&blob).expect("read blob");
    let mid = bad.len() / 2;
    bad[mid] ^= 0x55;
    std::fs::write(&blob, &bad).expect("corrupt the blob");

    let b = build(p.path(), &cache, Path::new("B"), &["pkg"], &[]);
    assert!(b.status.success(), "{}", stderr(&b));
    let (status, reasons) = &statuses(&p.path().join("B"))["pkg@host"];
    assert_eq!(status, "built", "a corrupt entry is never used: {reasons:?}");
    assert!(
        reasons.iter().any(|r| r.starts_with("local store corrupt")),
        "the corruption is named: {reasons:?}"
    );
    assert!(
        stderr(&b).contains("local store corrupt"),
        "and warned about:\n{}",
        stderr(&b)
    );
    assert_eq!(builds(p.path()), 2);
    // The damaged blob is gone and the fresh build's entry took its place
    // (other bytes: a host output records its build tree's prefix), so the
    // next build dir restores again.
    let now = blobs(&cache);
    assert_eq!(now.len(), 1, "{now:?}");
    for b in &now {
        let bytes = std::fs::read(b).expect("blob");
        let name = b.file_name().expect("name").to_string_lossy().into_owned();
        assert_eq!(
            recipe::outputs::key::sha256_file(b).expect("hash"),
            name,
            "{} bytes",
            bytes.len()
        );
    }
    assert_ne!(std::fs::read(&now[0]).expect("blob"), bad);
    let c = build(p.path(), &cache, Path::new("C"), &["pkg"], &[]);
    assert!(c.status.success(), "{}", stderr(&c));
    assert_eq!(statuses(&p.path().join("C"))["pkg@host"].0, "restored");
    assert_eq!(builds(p.path()), 2);
}

/// The real host tools (m4, autoconf, automake, libtool, pkgconf): a second
/// build directory sharing the cache gets every one from the store, installs
/// them into its own host prefix, and they run from there. With the CI cache
/// the first build usually restores too (the end-to-end tests built them).
#[test]
fn host_tools_come_from_the_local_store_in_a_second_build_dir() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let project = tmp.path().join("project");
    checkout(&project);
    let cache = cache();
    let tools = ["m4", "autoconf", "automake", "libtool", "pkgconf"];

    let one = tmp.path().join("one/build");
    let out = build(&project, &cache, &one, &tools, &[]);
    assert!(out.status.success(), "first build dir:\n{}", stderr(&out));
    for (id, (status, _)) in statuses(&one) {
        assert!(["built", "restored"].contains(&status.as_str()), "{id}: {status}");
    }

    let two = tmp.path().join("a/second/checkout/with/a/longer/path/build");
    let started = std::time::Instant::now();
    let out = build(&project, &cache, &two, &tools, &[]);
    let took = started.elapsed();
    assert!(out.status.success(), "second build dir:\n{}", stderr(&out));
    let second = statuses(&two);
    assert_eq!(second.len(), tools.len(), "{second:?}");
    for (id, (status, reasons)) in &second {
        assert_eq!(status, "restored", "{id}: {reasons:?}\n{}", stderr(&out));
    }
    eprintln!("second build dir: {took:?}");
    // The restored tools run from the second tree's prefix.
    let prefix = std::fs::read_dir(two.join("host"))
        .expect("host dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("prefix")))
        .expect("a host prefix");
    let autoconf = Command::new(prefix.join("bin/autoconf"))
        .arg("--version")
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", prefix.join("bin").display()))
        .output()
        .expect("run autoconf");
    assert!(autoconf.status.success(), "{}", stderr(&autoconf));
    let text = std::fs::read_to_string(prefix.join("bin/autom4te")).expect("autom4te");
    assert!(
        !text.contains(&one.display().to_string()),
        "relocated into the second tree"
    );
}

/// A package the store will restore is not prepared early (sources,
/// autoreconf) while its dependencies are restored: that would be wasted
/// work, and it would hold a job slot.
#[test]
fn what_the_store_restores_is_not_prepared_early() {
    let p = Project::host_pkg();
    p.script("top", &["pkg"], &[]);
    let cache = p.path().join("cache");
    let a = build(p.path(), &cache, Path::new("A"), &["top"], &[]);
    assert!(a.status.success(), "{}", stderr(&a));
    assert!(
        stderr(&a).contains("preparing top@host"),
        "a cold build prepares early:\n{}",
        stderr(&a)
    );
    let b = build(p.path(), &cache, Path::new("B"), &["top"], &[]);
    assert!(b.status.success(), "{}", stderr(&b));
    assert!(!stderr(&b).contains("preparing top@host"), "{}", stderr(&b));
    let statuses = statuses(&p.path().join("B"));
    assert_eq!(statuses["top@host"].0, "restored");
    assert_eq!(statuses["pkg@host"].0, "restored");
}
