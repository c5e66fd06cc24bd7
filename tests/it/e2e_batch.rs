//! The nightly batch end to end: every recipe × three targets in one graph,
//! with one package deliberately broken, a report, and a remote cache on
//! loopback shared by two build trees. The second tree, cold locally, must
//! rebuild nothing and reproduce identical artifacts.
//!
//! The first build tree is the one the other end-to-end test uses (under
//! Cargo's target dir), so CI builds the reference graph once; the second is
//! fresh. Both share the download and toolchain cache: package outputs are
//! what the remote cache carries between them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::e2e::{Tree, cache, checkout, copy_dir};
use crate::support::remote_server::Server;
use crate::support::report::Report;

const TARGETS: &str = "armv7hf,aarch64,x86_64";

/// The repository's recipes plus a package whose build fails and one that
/// depends on it.
fn project(dir: &Path) {
    checkout(dir);
    // The lock file of the extension wheels' build requirements.
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("python"),
        &dir.join("python"),
    );
    let broken = dir.join("recipes/broken-demo");
    std::fs::create_dir_all(&broken).expect("mkdir");
    std::fs::write(
        broken.join("recipe.kdl"),
        "package broken-demo {\n    version \"1.0\"\n    license \"MIT\"\n}\nbuild script {\n    step \"echo 'error: this package is broken on purpose' >&2; exit 3\"\n}\n",
    )
    .expect("write");
    let dependent = dir.join("recipes/needs-broken");
    std::fs::create_dir_all(&dependent).expect("mkdir");
    std::fs::write(
        dependent.join("recipe.kdl"),
        "package needs-broken {\n    version \"1.0\"\n    license \"MIT\"\n}\ndepends broken-demo\nbuild script {\n    step \"true\"\n}\n",
    )
    .expect("write");
}

/// `tree` is `None` for `shared`, the build tree shared with the other
/// end-to-end tests (warm on later runs), else a fresh one under the project.
fn batch(project: &Path, shared: &Tree, tree: Option<&str>, remote: &str) -> (std::process::Output, PathBuf, PathBuf) {
    let (build, out, report) = match tree {
        None => (shared.build.clone(), shared.out.clone(), project.join("report-one")),
        Some(t) => (
            project.join(t).join("build"),
            project.join(t).join("out"),
            project.join(t).join("report"),
        ),
    };
    let output = Command::new(env!("CARGO_BIN_EXE_recipe"))
        .current_dir(project)
        .env("RECIPE_CACHE", cache())
        .env("NO_COLOR", "1")
        .env_remove("RECIPE_REMOTE_CACHE")
        .args([
            "build",
            "--all",
            "--target",
            TARGETS,
            "--keep-going",
            "--remote-cache",
            remote,
        ])
        .arg("--build-dir")
        .arg(&build)
        .arg("--out-dir")
        .arg(&out)
        .arg("--report")
        .arg(&report)
        // Another machine: this one's local store must not answer first.
        .args(tree.map(|_| "--no-local-store"))
        .output()
        .expect("run recipe");
    (output, report, out)
}

fn wheels(out: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for t in TARGETS.split(',') {
        for e in std::fs::read_dir(out.join(t)).expect("out dir").flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "whl") {
                let digest = recipe::outputs::key::sha256_file(&p).expect("hash");
                found.insert(format!("{t}/{}", e.file_name().to_string_lossy()), digest);
            }
        }
    }
    found
}

#[test]
fn nightly_batch_with_a_broken_package_and_a_shared_remote_cache() {
    let tmp = tempfile::tempdir().expect("tempdir");
    project(tmp.path());
    let server = Server::start();
    let shared = Tree::shared();

    // First machine: builds everything it can (or has it from an earlier
    // run) and fills the remote cache.
    let (out, report, out_one) = batch(tmp.path(), &shared, None, &server.url());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "a failure makes the batch fail:\n{stderr}");
    let first = Report::read(&report).statuses();
    for t in TARGETS.split(',') {
        assert_eq!(first[&format!("broken-demo@{t}")], "failed", "{first:?}");
        assert_eq!(first[&format!("needs-broken@{t}")], "skipped", "{first:?}");
        for pkg in [
            "dqlitepy",
            "dqlite",
            "raft",
            "libuv",
            "sqlite",
            "lz4",
            "qemu-aio-preload",
        ] {
            // Built, or up to date in the build tree shared with the other
            // end-to-end tests, or from this machine's local store when an
            // earlier run (another build tree sharing the cache) built it.
            let status = first[&format!("{pkg}@{t}")].as_str();
            assert!(
                ["built", "cached", "restored"].contains(&status),
                "{pkg}@{t}: {first:?}\n{stderr}"
            );
        }
    }
    // JUnit: parseable by a real XML parser, one suite per target.
    let junit = std::fs::read_to_string(report.join("junit.xml")).expect("junit.xml");
    let doc = roxmltree::Document::parse(&junit).expect("valid XML");
    let suites: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testsuite")).collect();
    assert!(suites.len() >= 3, "{junit}");
    let failures: usize = doc.descendants().filter(|n| n.has_tag_name("failure")).count();
    assert_eq!(failures, 3, "one broken package per target");
    assert!(junit.contains("broken on purpose"), "first error line in JUnit");
    let html = std::fs::read_to_string(report.join("report.html")).expect("report.html");
    assert!(html.contains("broken-demo") && html.contains("needs-broken"));

    // Second machine: same recipes, empty build tree, same remote cache.
    let (out, report, out_two) = batch(tmp.path(), &shared, Some("two"), &server.url());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let second = Report::read(&report).statuses();
    let rebuilt: Vec<&String> = second
        .iter()
        .filter(|(id, s)| *s == "built" && !id.starts_with("broken-demo"))
        .map(|(id, _)| id)
        .collect();
    assert!(
        rebuilt.is_empty(),
        "everything comes from the remote cache: {rebuilt:?}\n{stderr}"
    );
    let ok = |m: &BTreeMap<String, String>| {
        m.values()
            .filter(|s| ["built", "cached", "restored"].contains(&s.as_str()))
            .count()
    };
    assert_eq!(
        second.values().filter(|s| *s == "cached").count(),
        ok(&first),
        "100 % hits: {second:?}"
    );
    let one = wheels(&out_one);
    // One wheel per python-wheel recipe and target (dqlitepy, the extension
    // wheels, the Go wheels), two where a recipe also makes a fat wheel
    // (`layout "per-platform" "fat"`), none missing.
    let wheels_per_target: usize = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes"))
        .expect("recipes")
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("recipe.kdl")).ok())
        .filter(|t| t.contains("build python-wheel"))
        .map(|t| match t.lines().find(|l| l.trim_start().starts_with("layout ")) {
            Some(l) => usize::from(l.contains("\"fat\"")) + usize::from(l.contains("\"per-platform\"")),
            None => 1,
        })
        .sum();
    assert!(wheels_per_target >= 1);
    assert_eq!(one.len(), wheels_per_target * TARGETS.split(',').count(), "{one:?}");
    for t in TARGETS.split(',') {
        assert!(one.keys().any(|k| k.starts_with(&format!("{t}/dqlitepy-"))), "{one:?}");
    }
    assert_eq!(one, wheels(&out_two), "identical artifacts");
}
