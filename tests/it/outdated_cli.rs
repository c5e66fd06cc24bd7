//! `recipe outdated` against a fake Python index and a fake Debian archive
//! on loopback (unsigned, which the user config allows, as in new_cli.rs),
//! and against an index nobody answers for.

use crate::support::http;
use crate::support::project::{FAST_FETCH, project_with_config};

use std::io::Write;
use std::path::PathBuf;

use assert_cmd::Command;
use http::{Reply, Server, sha256_hex};
use predicates::prelude::*;

fn xz(data: &[u8]) -> Vec<u8> {
    let mut w = lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::default()).unwrap();
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

struct Fixture {
    server: Server,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let server = Server::start();
        let dir = project_with_config(FAST_FETCH);
        // A loopback archive has no signature: allowed unsigned, as a user may.
        let unsigned = format!(
            "mirrors {{\n    debian-keyring \"{}/none.gpg\"\n    debian-allow-unsigned #true\n}}\n",
            dir.path().display()
        );
        std::fs::write(dir.path().join("config.kdl"), format!("{FAST_FETCH}{unsigned}")).unwrap();
        let f = Fixture { server, dir };
        f.add_recipe(
            "py-old",
            "1.0.0",
            "source pypi=\"Py_Thing\" {\n    file \"py_thing-{{ version }}.tar.gz\"\n    sha256 \"\"\n}\n",
        );
        f.add_recipe(
            "py-new",
            "1.1.0",
            "source pypi=\"py-thing\" {\n    file \"py_thing-{{ version }}.tar.gz\"\n    sha256 \"\"\n}\n",
        );
        f.add_recipe(
            "zlibx",
            "1.3.1",
            "source debian=\"zlibx\" {\n    file \"zlibx_{{ version }}.orig.tar.gz\"\n    sha256 \"\"\n}\n",
        );
        f.add_recipe(
            "libbar",
            "2.0",
            "source \"http://127.0.0.1:9/libbar-{{ version }}.tar.gz\" {\n    sha256 \"\"\n    mirror debian package=\"libbar\"\n}\n",
        );
        f.add_recipe("local", "0.1", "source path=\"files\"\n");
        f
    }

    fn add_recipe(&self, name: &str, version: &str, source: &str) {
        let dir = self.dir.path().join("project/recipes").join(name);
        std::fs::create_dir_all(dir.join("files")).unwrap();
        std::fs::write(
            dir.join("recipe.kdl"),
            format!("package {name} {{\n    version \"{version}\"\n}}\n{source}build make\n"),
        )
        .unwrap();
    }

    fn python_index(&self) {
        let page = r#"{"meta":{"api-version":"1.1"},"name":"py-thing","files":[
            {"filename":"py_thing-1.0.0.tar.gz","url":"/files/py_thing-1.0.0.tar.gz","hashes":{}},
            {"filename":"py_thing-1.1.0-py3-none-any.whl","url":"/files/py_thing-1.1.0-py3-none-any.whl","hashes":{}},
            {"filename":"py_thing-1.1.0.tar.gz","url":"/files/py_thing-1.1.0.tar.gz","hashes":{}},
            {"filename":"py_thing-1.10.0rc1.tar.gz","url":"/files/py_thing-1.10.0rc1.tar.gz","hashes":{}}]}"#;
        self.server.route(
            "/simple/py-thing/",
            vec![Reply::Typed("application/vnd.pypi.simple.v1+json", page.into())],
        );
    }

    /// trixie has zlibx 1.3.1 (as the recipe) and libbar 2.1 (newer, a
    /// repacked tarball); bookworm has older versions of both.
    fn debian_archive(&self) {
        let h = "d".repeat(64);
        let stanza = |pkg: &str, version: &str| {
            format!(
                "Package: {pkg}\nVersion: {version}\nDirectory: pool/main/{pkg}\nChecksums-Sha256:\n {h} 9 {pkg}_{version}.dsc\n\n"
            )
        };
        for (suite, sources) in [
            (
                "trixie",
                stanza("zlibx", "1:1.3.1-2") + &stanza("libbar", "2.1+dfsg-1") + &stanza("libbar", "2.0-3"),
            ),
            ("bookworm", stanza("zlibx", "1:1.2.13-1") + &stanza("libbar", "1.9-1")),
        ] {
            let sources_xz = xz(sources.as_bytes());
            let inrelease = format!(
                "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nOrigin: Debian\nSuite: {suite}\nCodename: {suite}\nSHA256:\n {} {} main/source/Sources.xz\n-----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCgAdFiEEnotarealsignatureatall=\n=abcd\n-----END PGP SIGNATURE-----\n",
                sha256_hex(&sources_xz),
                sources_xz.len()
            );
            self.server.route(
                &format!("/debian/dists/{suite}/InRelease"),
                vec![Reply::Body(inrelease.into_bytes())],
            );
            self.server.route(
                &format!("/debian/dists/{suite}/main/source/Sources.xz"),
                vec![Reply::Body(sources_xz)],
            );
        }
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    fn recipe(&self, index: &str) -> Command {
        let mut c = Command::cargo_bin("recipe").unwrap();
        c.current_dir(self.dir.path().join("project"))
            .env("RECIPE_CACHE", self.cache())
            .env("RECIPE_CONFIG", self.dir.path().join("config.kdl"))
            .env("RECIPE_DEBIAN_MIRROR", self.server.url("/debian"))
            .env("PIP_INDEX_URL", index)
            .env("NO_COLOR", "1")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("RECIPE_DEBIAN_KEYRING");
        c
    }
}

/// The table's row for `name`, split on runs of two or more spaces.
fn row(stdout: &str, name: &str) -> Vec<String> {
    let line = stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no row {name} in:\n{stdout}"));
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn newer_and_current_versions_from_the_index_and_the_archive() {
    let f = Fixture::new();
    f.python_index();
    f.debian_archive();
    let out = f.recipe(&f.server.url("/simple")).arg("outdated").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("NAME"), "{stdout}");
    assert!(stdout.contains("CURRENT") && stdout.contains("NEWEST") && stdout.contains("WHERE"));
    assert_eq!(
        row(&stdout, "py-old"),
        ["py-old", "1.0.0", "1.1.0", "outdated", "pypi Py_Thing"]
    );
    assert_eq!(
        row(&stdout, "py-new"),
        ["py-new", "1.1.0", "1.1.0", "up to date", "pypi py-thing"]
    );
    assert_eq!(
        row(&stdout, "zlibx"),
        [
            "zlibx",
            "1.3.1",
            "1.3.1",
            "up to date",
            "debian src:zlibx (trixie 1:1.3.1-2)"
        ]
    );
    assert_eq!(
        row(&stdout, "libbar"),
        [
            "libbar",
            "2.0",
            "2.1",
            "outdated",
            "debian src:libbar (trixie 2.1+dfsg-1)"
        ]
    );
    assert!(!stdout.contains("local"), "no upstream to look at: left out\n{stdout}");
    assert!(stdout.contains("2 outdated, 2 up to date, 0 failed"), "{stdout}");

    // The same, for machines; a recipe named explicitly is always listed.
    let out = f
        .recipe(&f.server.url("/simple"))
        .args(["outdated", "--json", "py-old", "local"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = json["packages"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["name"], "local");
    assert_eq!(rows[0]["status"], "no-upstream");
    assert_eq!(rows[1]["name"], "py-old");
    assert_eq!(rows[1]["current"], "1.0.0");
    assert_eq!(rows[1]["newest"], "1.1.0");
    assert_eq!(rows[1]["status"], "outdated");
    assert_eq!(rows[1]["upstream"]["index"], "pypi");
    assert_eq!(rows[1]["upstream"]["project"], "Py_Thing");
}

#[test]
fn an_unreachable_index_is_a_row_not_a_crash() {
    let f = Fixture::new();
    f.debian_archive();
    // A port nobody listens on: bind, note it, close.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let out = f
        .recipe(&format!("http://127.0.0.1:{port}/simple"))
        .arg("outdated")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let old = row(&stdout, "py-old");
    assert_eq!(old[..4], ["py-old", "1.0.0", "-", "error"], "{stdout}");
    assert!(
        old[4].contains(&format!("127.0.0.1:{port}")),
        "names the index: {stdout}"
    );
    // The archive still answers for the others.
    assert_eq!(row(&stdout, "libbar")[3], "outdated", "{stdout}");
    assert!(stdout.contains("1 outdated, 1 up to date, 2 failed"), "{stdout}");

    // An unknown recipe on the command line is a usage error, as elsewhere.
    f.recipe(&f.server.url("/simple"))
        .args(["outdated", "no-such"])
        .assert()
        .failure()
        .code(2)
        .stderr(predicate::str::contains("no recipe named `no-such`"));
}

/// The nightly batch report carries the upstream versions of the recipes it
/// built; with `--offline` it asks nobody (a Debian index is read from its
/// verified copy in the cache when there is one, a Python lookup is
/// reported as not made).
#[test]
fn the_batch_report_lists_upstream_versions_and_stays_offline() {
    let f = Fixture::new();
    f.python_index();
    f.debian_archive();
    let deb_tarball = http::tar_gz(&[("zlibx-1.3.1/README", b"zlibx\n")]);
    let py_tarball = http::tar_gz(&[("py_thing-1.0.0/PKG-INFO", b"Name: py-thing\n")]);
    f.server.route(
        "/debian/pool/main/z/zlibx/zlibx_1.3.1.orig.tar.gz",
        vec![Reply::Body(deb_tarball.clone())],
    );
    f.server
        .route("/files/py_thing-1.0.0.tar.gz", vec![Reply::Body(py_tarball.clone())]);
    let step = "build script {\n    step \"mkdir -p \\\"$DESTDIR$PREFIX/share\\\" && cp -r . \\\"$DESTDIR$PREFIX/share/$RECIPE_NAME\\\"\"\n}\n";
    for (name, version, source) in [
        (
            "tool",
            "1.3.1",
            format!(
                "source debian=\"zlibx\" {{\n    file \"zlibx_{{{{ version }}}}.orig.tar.gz\"\n    sha256 \"{}\"\n}}\n",
                sha256_hex(&deb_tarball)
            ),
        ),
        (
            "pytool",
            "1.0.0",
            format!(
                "source pypi=\"py-thing\" {{\n    file \"py_thing-{{{{ version }}}}.tar.gz\"\n    sha256 \"{}\"\n}}\n",
                sha256_hex(&py_tarball)
            ),
        ),
    ] {
        let dir = f.dir.path().join("project/recipes").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let text =
            format!("package {name} {{\n    version \"{version}\"\n}}\n{source}{step}").replace("$RECIPE_NAME", name);
        std::fs::write(dir.join("recipe.kdl"), text).unwrap();
    }
    let report = f.dir.path().join("report");
    let build = |offline: bool| {
        let mut c = f.recipe(&f.server.url("/simple"));
        c.args(["build", "tool", "pytool", "--target", "host", "--report"])
            .arg(&report);
        if offline {
            c.arg("--offline");
        }
        let out = c.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(report.join("report.json")).unwrap()).unwrap();
        let rows: Vec<Vec<String>> = json["outdated"]
            .as_array()
            .expect("outdated rows in report.json")
            .iter()
            .map(|r| {
                ["name", "current", "newest", "status", "where"]
                    .iter()
                    .map(|k| r[k].as_str().unwrap_or("-").to_string())
                    .collect()
            })
            .collect();
        (rows, std::fs::read_to_string(report.join("report.html")).unwrap())
    };

    let (rows, html) = build(false);
    assert_eq!(
        rows,
        [
            ["pytool", "1.0.0", "1.1.0", "outdated", "pypi py-thing"],
            [
                "tool",
                "1.3.1",
                "1.3.1",
                "up to date",
                "debian src:zlibx (trixie 1:1.3.1-2)"
            ],
        ]
    );
    assert!(html.contains("<h2>Upstream versions</h2>"), "{html}");
    assert!(html.contains("1 outdated of 2 checked"), "{html}");

    let before = f.server.requests().len();
    let (rows, _) = build(true);
    assert_eq!(f.server.requests().len(), before, "offline: no request at all");
    assert_eq!(rows[0][..4], ["pytool", "1.0.0", "-", "error"]);
    assert!(rows[0][4].contains("offline"), "{rows:?}");
    // Only verified indexes are cached, and this archive is unsigned: the
    // row says so instead of asking it again.
    assert_eq!(rows[1][..4], ["tool", "1.3.1", "-", "error"]);
    assert!(rows[1][4].contains("offline and not cached"), "{rows:?}");
}
