//! `recipe new` as an author runs it: real tarballs built here, served by a
//! loopback server standing in for an upstream site and for the Python
//! index (reached through PIP_INDEX_URL, as a user would configure it).

use crate::support::http;
use crate::support::project::{FAST_FETCH, project_with_config};

use std::io::Write;
use std::path::PathBuf;

use assert_cmd::Command;
use http::{Reply, Server, assert_cache_clean, sha256_hex, tar_gz};
use predicates::prelude::*;

const GPL3: &[u8] = b"                    GNU GENERAL PUBLIC LICENSE\n                       Version 3, 29 June 2007\n\n Copyright (C) 2007 Free Software Foundation, Inc.\n Everyone is permitted to copy and distribute verbatim copies\n";
const MIT: &[u8] = b"MIT License\n\nCopyright (c) 2020 Someone\n\nPermission is hereby granted, free of charge, to any person obtaining a copy\nof this software and associated documentation files (the \"Software\"), to deal\nin the Software without restriction.\n\nThe above copyright notice and this permission notice shall be included in all\ncopies or substantial portions of the Software.\n";

struct Fixture {
    server: Server,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let server = Server::start();
        let dir = project_with_config(FAST_FETCH);
        Fixture { server, dir }
    }

    fn recipes(&self) -> PathBuf {
        self.dir.path().join("project/recipes")
    }

    fn recipe_text(&self, name: &str) -> String {
        std::fs::read_to_string(self.recipes().join(name).join("recipe.kdl")).unwrap()
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    fn recipe(&self) -> Command {
        let mut c = Command::cargo_bin("recipe").unwrap();
        c.current_dir(self.dir.path().join("project"))
            .env("RECIPE_CACHE", self.cache())
            .env("RECIPE_CONFIG", self.dir.path().join("config.kdl"))
            .env("PIP_INDEX_URL", self.server.url("/simple"))
            .env_remove("XDG_CACHE_HOME");
        c
    }

    fn lint_passes(&self, name: &str) {
        self.recipe()
            .args(["lint", name])
            .assert()
            .success()
            .stdout(predicate::str::contains("no problems"));
    }
}

#[test]
fn autotools_tarball_gets_autoreconf_gpl_and_a_templated_url() {
    let f = Fixture::new();
    let tarball = tar_gz(&[
        ("libfoo-1.2.3/configure.ac", b"AC_INIT([libfoo], [1.2.3])\n"),
        ("libfoo-1.2.3/Makefile.am", b"lib_LTLIBRARIES = libfoo.la\n"),
        ("libfoo-1.2.3/COPYING", GPL3),
        ("libfoo-1.2.3/foo.c", b"int foo(void) { return 1; }\n"),
    ]);
    f.server
        .route("/dl/1.2.3/libfoo-1.2.3.tar.gz", vec![Reply::Body(tarball.clone())]);
    let url = f.server.url("/dl/1.2.3/libfoo-1.2.3.tar.gz");
    f.recipe()
        .args(["new", "libfoo", "--url", &url])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("wrote recipes/libfoo/recipe.kdl")
                .and(predicate::str::contains("version  1.2.3"))
                .and(predicate::str::contains("build    autotools"))
                .and(predicate::str::contains("license  GPL-3.0-or-later"))
                .and(predicate::str::contains("recipe lint libfoo"))
                .and(predicate::str::contains("recipe build libfoo --target")),
        );
    let text = f.recipe_text("libfoo");
    let sha = sha256_hex(&tarball);
    let templated = f.server.url("/dl/{{ version }}/libfoo-{{ version }}.tar.gz");
    for want in [
        "package libfoo {\n    version \"1.2.3\"\n".to_string(),
        "    license \"GPL-3.0-or-later\"\n".to_string(),
        format!("source \"{templated}\" {{\n    file \"libfoo-{{{{ version }}}}.tar.gz\"\n    sha256 \"{sha}\"\n}}\n"),
        "build autotools {\n    autoreconf #true\n}\n".to_string(),
    ] {
        assert!(text.contains(&want), "missing {want:?} in:\n{text}");
    }
    assert!(!text.contains("strip-components"), "{text}");
    // The download is in the cache under its real hash: lint passes and an
    // offline fetch finds the file through the templated recipe.
    assert_eq!(assert_cache_clean(&f.cache()), 1);
    f.lint_passes("libfoo");
    let before = f.server.requests().len();
    f.recipe().args(["fetch", "libfoo", "--offline"]).assert().success();
    assert_eq!(f.server.requests().len(), before);
}

#[test]
fn cmake_tarball_with_an_mit_license() {
    let f = Fixture::new();
    let tarball = tar_gz(&[
        ("bar-0.9/CMakeLists.txt", b"project(bar C)\n"),
        ("bar-0.9/Makefile", b"all:\n"),
        ("bar-0.9/LICENSE", MIT),
    ]);
    f.server.route("/bar-0.9.tar.gz", vec![Reply::Body(tarball.clone())]);
    f.recipe()
        .args(["new", "bar", "--url", &f.server.url("/bar-0.9.tar.gz")])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("build    cmake")
                .and(predicate::str::contains("license  MIT"))
                .and(predicate::str::contains(
                    "recipes/cmake/recipe.kdl (the host tool `cmake`",
                )),
        );
    let text = f.recipe_text("bar");
    assert!(text.contains("    license \"MIT\"\n"), "{text}");
    assert!(text.contains("\nbuild cmake\n"), "{text}");
    assert!(text.contains(&format!("sha256 \"{}\"", sha256_hex(&tarball))), "{text}");
    // `build cmake` runs the project's host tool `cmake`: lint names it
    // until the project has the recipe.
    f.recipe()
        .args(["lint", "bar"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("needs the host tool `cmake`"));
    let cmake = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("recipes/cmake/recipe.kdl");
    std::fs::create_dir_all(f.recipes().join("cmake")).unwrap();
    std::fs::copy(cmake, f.recipes().join("cmake/recipe.kdl")).unwrap();
    f.lint_passes("bar");
}

#[test]
fn tarball_without_a_top_directory_keeps_every_component() {
    let f = Fixture::new();
    let tarball = tar_gz(&[("go.mod", b"module example.invalid/baz\n"), ("COPYING", GPL3)]);
    f.server.route("/baz-2.0.tar.gz", vec![Reply::Body(tarball)]);
    f.recipe()
        .args(["new", "baz", "--url", &f.server.url("/baz-2.0.tar.gz")])
        .assert()
        .success();
    let text = f.recipe_text("baz");
    assert!(text.contains("    strip-components 0\n"), "{text}");
    assert!(text.contains("\nbuild go\n"), "{text}");
    f.lint_passes("baz");
}

fn python_index(f: &Fixture) -> (Vec<u8>, Vec<u8>) {
    let sdist = |v: &str| {
        let top = format!("py_thing-{v}");
        let pkg_info = format!(
            "Metadata-Version: 2.4\nName: py-thing\nVersion: {v}\nSummary: A small thing\nLicense-Expression: Apache-2.0\nProject-URL: Homepage, http://127.0.0.1/py-thing\n\nLong description\n"
        );
        tar_gz(&[
            (&format!("{top}/PKG-INFO"), pkg_info.as_bytes()),
            (&format!("{top}/pyproject.toml"), b"[project]\nname = \"py-thing\"\n"),
            (&format!("{top}/CMakeLists.txt"), b"project(x)\n"),
        ])
    };
    let (old, new) = (sdist("1.0.0"), sdist("1.1.0"));
    let page = r#"{"meta":{"api-version":"1.1"},"name":"py-thing","files":[
        {"filename":"py_thing-1.0.0.tar.gz","url":"/files/py_thing-1.0.0.tar.gz","hashes":{}},
        {"filename":"py_thing-1.1.0-py3-none-any.whl","url":"/files/py_thing-1.1.0-py3-none-any.whl","hashes":{}},
        {"filename":"py_thing-1.1.0.tar.gz","url":"/files/py_thing-1.1.0.tar.gz#sha256=00","hashes":{}},
        {"filename":"py_thing-2.0.0b1.tar.gz","url":"/files/py_thing-2.0.0b1.tar.gz","hashes":{}}]}"#;
    f.server.route(
        "/simple/py-thing/",
        vec![Reply::Typed("application/vnd.pypi.simple.v1+json", page.into())],
    );
    f.server
        .route("/files/py_thing-1.0.0.tar.gz", vec![Reply::Body(old.clone())]);
    f.server
        .route("/files/py_thing-1.1.0.tar.gz", vec![Reply::Body(new.clone())]);
    (old, new)
}

#[test]
fn pypi_project_gets_its_newest_release_sdist() {
    let f = Fixture::new();
    let (old, new) = python_index(&f);
    f.recipe()
        .args(["new", "py-thing", "--pypi", "Py_Thing"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("version  1.1.0  (from the index)")
                .and(predicate::str::contains("build    python-wheel"))
                .and(predicate::str::contains("license  Apache-2.0")),
        );
    let text = f.recipe_text("py-thing");
    for want in [
        "    version \"1.1.0\"\n".to_string(),
        "    license \"Apache-2.0\"\n".to_string(),
        "    homepage \"http://127.0.0.1/py-thing\"\n".to_string(),
        "    summary \"A small thing\"\n".to_string(),
        format!(
            "source pypi=\"Py_Thing\" {{\n    file \"py_thing-{{{{ version }}}}.tar.gz\"\n    sha256 \"{}\"\n}}\n",
            sha256_hex(&new)
        ),
        "build python-wheel\n".to_string(),
    ] {
        assert!(text.contains(&want), "missing {want:?} in:\n{text}");
    }
    f.lint_passes("py-thing");
    assert!(!f.server.requests().iter().any(|r| r.contains("2.0.0b1")));

    // An exact version, pip style.
    f.recipe()
        .args(["new", "py-thing-old", "--pypi", "py-thing==1.0.0"])
        .assert()
        .success();
    let text = f.recipe_text("py-thing-old");
    assert!(text.contains("    version \"1.0.0\"\n"), "{text}");
    assert!(text.contains(&sha256_hex(&old)), "{text}");
    // A version without an sdist names the ones there are, and writes nothing.
    f.recipe()
        .args(["new", "py-thing-9", "--pypi", "py-thing==9.0"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no source distribution").and(predicate::str::contains("1.1.0")));
    assert!(!f.recipes().join("py-thing-9").exists());
}

#[test]
fn an_existing_recipe_is_never_overwritten() {
    let f = Fixture::new();
    let dir = f.recipes().join("libfoo");
    std::fs::create_dir_all(&dir).unwrap();
    let original = "package libfoo {\n    version \"0.1\"\n}\n";
    std::fs::write(dir.join("recipe.kdl"), original).unwrap();
    f.server
        .route("/libfoo-1.0.tar.gz", vec![Reply::Body(tar_gz(&[("x/COPYING", MIT)]))]);
    f.recipe()
        .args(["new", "libfoo", "--url", &f.server.url("/libfoo-1.0.tar.gz")])
        .assert()
        .failure()
        .stderr(predicate::str::contains("already exists").and(predicate::str::contains("never overwrites")));
    assert_eq!(std::fs::read_to_string(dir.join("recipe.kdl")).unwrap(), original);
    assert!(f.server.requests().is_empty(), "nothing downloaded before refusing");
}

#[test]
fn an_unreachable_url_is_a_clear_error_and_writes_nothing() {
    let f = Fixture::new();
    // A port nobody listens on: bind, note it, close.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("http://127.0.0.1:{port}/gone-1.0.tar.gz");
    f.recipe()
        .args(["new", "gone", "--url", &url])
        .assert()
        .failure()
        .code(1)
        .stderr(predicate::str::contains("could not download").and(predicate::str::contains(url.as_str())));
    // A 404 too.
    f.server.route("/missing-1.0.tar.gz", vec![Reply::Status(404)]);
    f.recipe()
        .args(["new", "missing", "--url", &f.server.url("/missing-1.0.tar.gz")])
        .assert()
        .failure()
        .stderr(predicate::str::contains("404"));
    assert!(!f.recipes().join("gone").exists());
    assert!(!f.recipes().join("missing").exists());
    assert_eq!(assert_cache_clean(&f.cache()), 0);
}

#[test]
fn bad_names_and_missing_origins_are_usage_errors() {
    let f = Fixture::new();
    f.recipe()
        .args(["new", "Bad/Name", "--url", &f.server.url("/x-1.0.tar.gz")])
        .assert()
        .failure()
        .code(2)
        .stderr(predicate::str::contains("invalid package name"));
    f.recipe().args(["new", "x"]).assert().failure().code(2);
    assert!(f.server.requests().is_empty());
}

fn xz(data: &[u8]) -> Vec<u8> {
    let mut w = lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::default()).unwrap();
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

#[test]
fn debian_source_package_from_the_sources_index() {
    let f = Fixture::new();
    let orig = tar_gz(&[
        ("zlibx-1.3.1/configure", b"#!/bin/sh\n"),
        ("zlibx-1.3.1/LICENSE", b"3. Altered source versions must be plainly marked as such, and must not be\nmisrepresented as being the original software.\n4. This notice may not be removed or altered from any source distribution.\n"),
    ]);
    let (orig_sha, dsc_sha) = (sha256_hex(&orig), "d".repeat(64));
    let sources = format!(
        "Package: zlibx\nVersion: 1:1.2.0-1\nDirectory: pool/main/z/zlibx\nChecksums-Sha256:\n {dsc_sha} 9 zlibx_1.2.0-1.dsc\n {dsc_sha} 9 zlibx_1.2.0.orig.tar.gz\n\n\
         Package: zlibx\nVersion: 1:1.3.1-2\nDirectory: pool/main/z/zlibx\nHomepage: http://127.0.0.1/zlibx\nChecksums-Sha256:\n {dsc_sha} 9 zlibx_1.3.1-2.dsc\n {orig_sha} {} zlibx_1.3.1.orig.tar.gz\n {dsc_sha} 9 zlibx_1.3.1-2.debian.tar.xz\n\n",
        orig.len()
    );
    let sources_xz = xz(sources.as_bytes());
    let inrelease = format!(
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nOrigin: Debian\nSuite: testing\nCodename: trixie\nSHA256:\n {} {} main/source/Sources.xz\n-----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCgAdFiEEnotarealsignatureatall=\n=abcd\n-----END PGP SIGNATURE-----\n",
        sha256_hex(&sources_xz),
        sources_xz.len()
    );
    f.server.route(
        "/debian/dists/trixie/InRelease",
        vec![Reply::Body(inrelease.into_bytes())],
    );
    f.server.route(
        "/debian/dists/trixie/main/source/Sources.xz",
        vec![Reply::Body(sources_xz)],
    );
    f.server.route(
        "/debian/pool/main/z/zlibx/zlibx_1.3.1.orig.tar.gz",
        vec![Reply::Body(orig)],
    );
    // No keyring here: the fake archive is unsigned, which the user config allows.
    std::fs::write(
        f.dir.path().join("config.kdl"),
        format!(
            "fetch {{\n    retries 1\n}}\nmirrors {{\n    debian-keyring \"{}/none.gpg\"\n    debian-allow-unsigned #true\n}}\n",
            f.dir.path().display()
        ),
    )
    .unwrap();
    f.recipe()
        .env("RECIPE_DEBIAN_MIRROR", f.server.url("/debian"))
        .args(["new", "zlibx", "--debian", "zlibx", "--suite", "trixie"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("version  1.3.1  (from the index)")
                .and(predicate::str::contains("build    autotools"))
                .and(predicate::str::contains("license  Zlib")),
        );
    let text = f.recipe_text("zlibx");
    for want in [
        "    version \"1.3.1\"\n".to_string(),
        "    license \"Zlib\"\n".to_string(),
        "    homepage \"http://127.0.0.1/zlibx\"\n".to_string(),
        format!(
            "source debian=\"zlibx\" {{\n    file \"zlibx_{{{{ version }}}}.orig.tar.gz\"\n    sha256 \"{orig_sha}\"\n}}\n"
        ),
        "build autotools\n".to_string(),
    ] {
        assert!(text.contains(&want), "missing {want:?} in:\n{text}");
    }
    f.lint_passes("zlibx");
    // A version the suite does not have names those it has.
    f.recipe()
        .env("RECIPE_DEBIAN_MIRROR", f.server.url("/debian"))
        .args(["new", "zlibx-old", "--debian", "zlibx=0.9", "--suite", "trixie"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("not in the Sources index").and(predicate::str::contains("1:1.3.1-2")));
    assert!(!f.recipes().join("zlibx-old").exists());
}
