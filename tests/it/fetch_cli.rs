//! `recipe fetch` and `recipe source` as users run them, against a local
//! server standing in for the Debian archive and the Python index (reached
//! through RECIPE_DEBIAN_MIRROR and PIP_INDEX_URL, as a user would configure).

use crate::support::http;
use crate::support::project::project_with_config;
use crate::support::report::Report;

use std::path::PathBuf;

use assert_cmd::Command;
use http::{Reply, Server, assert_cache_clean, sha256_hex, tar_gz};
use predicates::prelude::*;

const HELLO: &[u8] = b"int main(void)\n{\n    return 1;\n}\n";
const GOOD_PATCH: &str =
    "--- a/hello.c\n+++ b/hello.c\n@@ -1,4 +1,4 @@\n int main(void)\n {\n-    return 1;\n+    return 0;\n }\n";
const BAD_PATCH: &str =
    "--- a/hello.c\n+++ b/hello.c\n@@ -1,4 +1,4 @@\n int main(void)\n {\n-    return 42;\n+    return 0;\n }\n";

struct Fixture {
    server: Server,
    dir: tempfile::TempDir,
    alpha: Vec<u8>,
}

impl Fixture {
    /// alpha: a dead upstream URL with a Debian mirror, and a patch.
    /// beta: a Python index project, depending on alpha.
    /// gamma: alpha's tarball with a patch that does not apply.
    /// delta: a URL serving content that does not match its sha256.
    /// epsilon: a URL whose body never ends.
    fn new() -> Fixture {
        let server = Server::start();
        let alpha = tar_gz(&[("alpha-1.0/hello.c", HELLO)]);
        let beta = tar_gz(&[("beta-2.0/setup.py", b"print('beta')\n")]);
        server.route("/upstream/alpha-1.0.tar.gz", vec![Reply::Status(404)]);
        server.route(
            "/debian/pool/main/a/alpha/alpha_1.0.orig.tar.gz",
            vec![Reply::Body(alpha.clone())],
        );
        let page = r#"{"meta":{"api-version":"1.0"},"name":"beta","files":[{"filename":"beta-2.0.tar.gz","url":"/files/beta-2.0.tar.gz","hashes":{}}]}"#;
        server.route(
            "/simple/beta/",
            vec![Reply::Typed("application/vnd.pypi.simple.v1+json", page.into())],
        );
        server.route("/files/beta-2.0.tar.gz", vec![Reply::Body(beta.clone())]);
        server.route("/delta.tar.gz", vec![Reply::Body(b"tampered".to_vec())]);
        server.route("/endless.tar.gz", vec![Reply::Endless]);

        // Its own fetch settings: a size cap stops the body that never ends.
        let dir = project_with_config(
            "fetch {\n    retries 2\n    connect-timeout 2\n    read-timeout 2\n    max-size \"64K\"\n}\n",
        );
        let root = dir.path().join("project");
        let alpha_source = format!(
            "source \"{}\" {{\n    file \"alpha_{{{{ version }}}}.orig.tar.gz\"\n    sha256 \"{}\"\n    mirror debian package=\"alpha\"\n}}\n",
            server.url("/upstream/alpha-1.0.tar.gz"),
            sha256_hex(&alpha)
        );
        let write = |name: &str, text: String, patch: Option<&str>| {
            let d = root.join("recipes").join(name);
            std::fs::create_dir_all(d.join("patches")).unwrap();
            std::fs::write(d.join("recipe.kdl"), text).unwrap();
            if let Some(p) = patch {
                std::fs::write(d.join("patches/fix.patch"), p).unwrap();
            }
        };
        let pkg = |name: &str, version: &str| format!("package {name} {{\n    version \"{version}\"\n}}\n");
        write(
            "alpha",
            format!(
                "{}{alpha_source}patch \"patches/fix.patch\"\nbuild make\n",
                pkg("alpha", "1.0")
            ),
            Some(GOOD_PATCH),
        );
        write(
            "beta",
            format!(
                "{}source pypi=\"beta\" {{\n    file \"beta-{{{{ version }}}}.tar.gz\"\n    sha256 \"{}\"\n}}\ndepends alpha\nbuild make\n",
                pkg("beta", "2.0"),
                sha256_hex(&beta)
            ),
            None,
        );
        write(
            "gamma",
            format!(
                "{}{alpha_source}patch \"patches/fix.patch\"\nbuild make\n",
                pkg("gamma", "1.0")
            ),
            Some(BAD_PATCH),
        );
        write(
            "delta",
            format!(
                "{}source \"{}\" {{\n    sha256 \"{}\"\n}}\nbuild make\n",
                pkg("delta", "1.0"),
                server.url("/delta.tar.gz"),
                "ab".repeat(32)
            ),
            None,
        );
        write(
            "epsilon",
            format!(
                "{}source \"{}\" {{\n    sha256 \"{}\"\n}}\nbuild make\n",
                pkg("epsilon", "1.0"),
                server.url("/endless.tar.gz"),
                "cd".repeat(32)
            ),
            None,
        );
        Fixture { server, dir, alpha }
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    fn recipe(&self) -> Command {
        let mut c = Command::cargo_bin("recipe").unwrap();
        c.current_dir(self.dir.path().join("project"))
            .env("RECIPE_CACHE", self.cache())
            .env("RECIPE_CONFIG", self.dir.path().join("config.kdl"))
            .env("RECIPE_DEBIAN_MIRROR", self.server.url("/debian"))
            .env("PIP_INDEX_URL", self.server.url("/simple"))
            .env_remove("XDG_CACHE_HOME");
        c
    }
}

#[test]
fn fetch_through_debian_and_python_mirrors_then_nothing() {
    let f = Fixture::new();
    f.recipe()
        .args(["fetch", "beta", "--target", "armv7hf"])
        .assert()
        .success()
        .stderr(predicate::str::contains("2 sources").and(predicate::str::contains("0 failed")));
    let first = f.server.requests();
    assert!(
        first.contains(&"/debian/pool/main/a/alpha/alpha_1.0.orig.tar.gz".to_string()),
        "{first:?}"
    );
    assert!(first.contains(&"/files/beta-2.0.tar.gz".to_string()), "{first:?}");
    assert_eq!(assert_cache_clean(&f.cache()), 2);
    // Second run: everything cached, not a single request.
    f.recipe()
        .args(["fetch", "beta", "--target", "armv7hf"])
        .assert()
        .success()
        .stderr(predicate::str::contains("2 already cached").and(predicate::str::contains("0 HTTP requests")));
    assert_eq!(f.server.requests(), first);
    f.recipe().args(["fetch", "beta", "--offline"]).assert().success();
    assert_eq!(f.server.requests(), first);
}

#[test]
fn offline_without_the_file_names_it_and_touches_nothing() {
    let f = Fixture::new();
    f.recipe()
        .args(["fetch", "alpha", "--target", "x86_64", "--offline"])
        .assert()
        .failure()
        .code(1)
        .stderr(
            predicate::str::contains("alpha_1.0.orig.tar.gz")
                .and(predicate::str::contains("source of alpha"))
                .and(predicate::str::contains("recipe fetch")),
        );
    assert!(f.server.requests().is_empty());
    f.recipe()
        .args(["source", "alpha", "--target", "x86_64", "--offline"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("recipe fetch"));
    assert!(f.server.requests().is_empty());
}

#[test]
fn wrong_hash_fails_with_both_hashes_and_caches_nothing() {
    let f = Fixture::new();
    f.recipe()
        .args(["fetch", "delta", "-t", "x86_64"])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("sha256 mismatch")
                .and(predicate::str::contains("ab".repeat(32)))
                .and(predicate::str::contains(sha256_hex(b"tampered")))
                .and(predicate::str::contains("8 bytes")),
        );
    assert_eq!(assert_cache_clean(&f.cache()), 0);
    // The kept download, and beside it the URL that served it.
    let mut kept: Vec<String> = std::fs::read_dir(f.cache().join("quarantine"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    kept.sort();
    let actual = sha256_hex(b"tampered");
    assert_eq!(
        kept,
        [format!("{actual}-delta.tar.gz"), format!("{actual}-delta.tar.gz.from")]
    );
}

#[test]
fn source_prepares_a_patched_tree() {
    let f = Fixture::new();
    let out = f
        .recipe()
        .args(["source", "alpha", "--target", "aarch64"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let tree = PathBuf::from(String::from_utf8(out).unwrap().trim());
    let patched = std::fs::read_to_string(tree.join("hello.c")).unwrap();
    assert!(patched.contains("return 0;"), "{patched}");
    // The tree `recipe build` uses: build/<target>/<name>/src of the project.
    assert!(
        tree.starts_with(f.dir.path().join("project/build/aarch64/alpha")),
        "{}",
        tree.display()
    );
    let log = tree.parent().unwrap().join("prepare.log");
    assert!(std::fs::read_to_string(log).unwrap().contains("patching file hello.c"));
    // Again: the tree is replaced, not patched twice.
    f.recipe()
        .args(["source", "alpha", "--target", "aarch64"])
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(tree.join("hello.c")).unwrap(), patched);
    assert_eq!(assert_cache_clean(&f.cache()), 1);
    assert!(!f.alpha.is_empty());
}

#[test]
fn failing_patch_names_the_patch_the_hunk_and_the_log() {
    let f = Fixture::new();
    f.recipe()
        .args(["source", "gamma", "--target", "x86_64"])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("fix.patch")
                .and(predicate::str::contains("hunk #1 of hello.c FAILED"))
                .and(predicate::str::contains("prepare.log")),
        );
    let build = f.dir.path().join("project/build/x86_64/gamma");
    assert!(!build.join("src").exists(), "no half-prepared tree");
    let leftovers: Vec<_> = std::fs::read_dir(&build)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n != "prepare.log")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let log = std::fs::read_to_string(build.join("prepare.log")).unwrap();
    assert!(log.contains("FAILED"), "{log}");
}

#[test]
fn size_limit_from_the_config_file_and_from_the_command_line() {
    let f = Fixture::new();
    // Wide reports: the phrases below must not be wrapped.
    f.recipe()
        .env("COLUMNS", "500")
        .args(["fetch", "epsilon", "-t", "x86_64"])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("body larger than 64.0 KiB (the max-size limit)")
                .and(predicate::str::contains("endless.tar.gz")),
        );
    assert_eq!(assert_cache_clean(&f.cache()), 0);
    // The flag wins over the file.
    f.recipe()
        .env("COLUMNS", "500")
        .args(["fetch", "epsilon", "-t", "x86_64", "--max-size", "32K"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "body larger than 32.0 KiB (the max-size limit)",
        ));
    assert_eq!(assert_cache_clean(&f.cache()), 0);
    f.recipe()
        .args(["fetch", "epsilon", "--max-size", "lots"])
        .assert()
        .failure()
        .code(2)
        .stderr(predicate::str::contains("not a size"));
}

#[test]
fn fetch_and_build_show_the_download_limits() {
    for cmd in ["fetch", "build"] {
        let out = Command::cargo_bin("recipe")
            .unwrap()
            .args([cmd, "--help"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let help = String::from_utf8(out).unwrap();
        for flag in [
            "--max-size",
            "--speed-limit",
            "--speed-time",
            "--stall-timeout",
            "--attempt-timeout",
        ] {
            assert!(help.contains(flag), "{cmd}: {flag} missing in:\n{help}");
        }
    }
}

/// A project of host `script` recipes: `slow` takes seconds and stages a
/// marker; `bad` has a source whose (well-formed) sha256 is wrong; `top`
/// needs `bad`. `bad` depends on `slow` when `bad_needs_slow`.
struct HostProject {
    server: Server,
    dir: tempfile::TempDir,
}

/// Line of the `sha256` node in `bad`'s recipe.
const BAD_SHA256_LINE: usize = 6;

impl HostProject {
    fn new(bad_needs_slow: bool) -> HostProject {
        let server = Server::start();
        server.route("/bad-1.0.tar.gz", vec![Reply::Body(tar_gz(&[("bad-1.0/a.c", HELLO)]))]);
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("project");
        for sub in ["recipes", "toolchains", "sysroots"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        let write = |name: &str, text: String| {
            std::fs::create_dir_all(root.join("recipes").join(name)).unwrap();
            std::fs::write(root.join("recipes").join(name).join("recipe.kdl"), text).unwrap();
        };
        let stage = |name: &str| {
            format!("    step \"mkdir -p $DESTDIR/usr/share && echo {name} > $DESTDIR/usr/share/{name}.txt\"\n")
        };
        write(
            "slow",
            format!(
                "package slow {{\n    version \"1.0\"\n    license \"MIT\"\n}}\nbuild script {{\n    step \"sleep 3\"\n{}}}\n",
                stage("slow")
            ),
        );
        write(
            "bad",
            format!(
                "package bad {{\n    version \"1.0\"\n    license \"MIT\"\n}}\nsource \"{}\" {{\n    sha256 \"{}\"\n}}\n{}build script {{\n{}}}\n",
                server.url("/bad-1.0.tar.gz"),
                "ab".repeat(32),
                if bad_needs_slow { "depends slow\n" } else { "" },
                stage("bad")
            ),
        );
        write(
            "top",
            format!(
                "package top {{\n    version \"1.0\"\n    license \"MIT\"\n}}\ndepends bad\nbuild script {{\n{}}}\n",
                stage("top")
            ),
        );
        HostProject { server, dir }
    }

    /// Staged only when `slow`'s build finished.
    fn marker(&self) -> PathBuf {
        self.dir.path().join("project/build/host/slow/dest/usr/share/slow.txt")
    }

    fn build(&self, args: &[&str]) -> (bool, String) {
        let out = Command::cargo_bin("recipe")
            .unwrap()
            .current_dir(self.dir.path().join("project"))
            .env("RECIPE_CACHE", self.dir.path().join("cache"))
            .env("RECIPE_CONFIG", self.dir.path().join("no-config.kdl"))
            .env("NO_COLOR", "1")
            .env("COLUMNS", "500")
            .env_remove("XDG_CACHE_HOME")
            .args(["build", "--target", "host"])
            .args(args)
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The mismatch as a recipe diagnostic: file and line of the `sha256`, both
/// hashes, and where the downloaded file was kept.
fn assert_mismatch_report(stderr: &str, actual: &str) {
    for needle in [
        format!("recipes/bad/recipe.kdl:{BAD_SHA256_LINE}:"),
        "ab".repeat(32),
        actual.to_string(),
        "quarantine".to_string(),
    ] {
        assert!(stderr.contains(&needle), "`{needle}` missing in:\n{stderr}");
    }
}

#[test]
fn a_wrong_sha256_stops_the_build_before_its_dependencies_build() {
    let p = HostProject::new(true);
    let actual = sha256_hex(&tar_gz(&[("bad-1.0/a.c", HELLO)]));
    let started = std::time::Instant::now();
    let (ok, stderr) = p.build(&["top"]);
    assert!(!ok, "{stderr}");
    assert_mismatch_report(&stderr, &actual);
    assert!(
        !p.marker().exists(),
        "slow was built before the sources were checked:\n{stderr}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "{stderr}");
    assert_eq!(p.server.hits("/bad-1.0.tar.gz"), 1);
    // Again: the kept copy is recognised by its real hash, no request.
    let (ok, again) = p.build(&["top"]);
    assert!(!ok, "{again}");
    assert_mismatch_report(&again, &actual);
    assert_eq!(p.server.hits("/bad-1.0.tar.gz"), 1, "{again}");
    assert!(!p.marker().exists());
}

#[test]
fn keep_going_builds_what_does_not_need_the_bad_source() {
    let p = HostProject::new(false);
    let actual = sha256_hex(&tar_gz(&[("bad-1.0/a.c", HELLO)]));
    let report = p.dir.path().join("report");
    let (ok, stderr) = p.build(&[
        "top",
        "slow",
        "--keep-going",
        "--report",
        report.to_str().expect("utf-8"),
    ]);
    assert!(!ok, "{stderr}");
    assert_mismatch_report(&stderr, &actual);
    assert!(p.marker().exists(), "{stderr}");
    let status = Report::read(&report).by_name();
    assert_eq!(status["bad"], "failed", "{stderr}");
    assert_eq!(status["top"], "skipped", "{stderr}");
    assert_eq!(status["slow"], "built", "{stderr}");
}
