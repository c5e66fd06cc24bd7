//! Artifacts and reproducibility. Every target package yields an artifact
//! in `out/<target>/` (a wheel, or a deterministic tarball of its staged
//! files); two cold builds in different directories, with different
//! `TMPDIR`s, at different times, one inside a git checkout, give
//! bit-identical artifacts; `recipe build --check NAME` rebuilds NAME in a
//! scratch directory and names the first differing file.
//!
//! The graph compared here is small on purpose (CI time): lz4 (a real C
//! library, cross-compiled) and a cgo c-shared Go library, which exercise
//! the C (`-ffile-prefix-map`) and Go (`-trimpath`, empty build id) paths.
//! The reference wheel is checked with `--check dqlitepy` in
//! `e2e_dqlitepy`'s build tree, where its dependencies are already built.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use crate::support::e2e::{Tree, cache};
use crate::support::project::copy_target_files;

const TARGET: &str = "armv7hf";

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// A project with the repository's targets and sysroots, its lz4 recipe, a
/// small cgo library and a script package with odd modes.
fn project(root: &Path) {
    copy_target_files(root);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(root.join("recipes/lz4")).expect("mkdir");
    for f in std::fs::read_dir(repo.join("recipes/lz4")).expect("read").flatten() {
        if f.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::copy(f.path(), root.join("recipes/lz4").join(f.file_name())).expect("copy");
        }
    }
    write(
        root,
        "recipes/golib/recipe.kdl",
        "package golib {\n    version \"0.1\"\n    license \"MIT\"\n}\nsource path=\"files\"\nbuild go {\n    mode \"c-shared\"\n}\n",
    );
    write(root, "recipes/golib/files/go.mod", "module golib\n\ngo 1.22\n");
    write(
        root,
        "recipes/golib/files/lib.go",
        "package main\n\nimport \"C\"\n\n//export golib_answer\nfunc golib_answer() C.int { return 42 }\n\nfunc main() {}\n",
    );
    write(
        root,
        "recipes/layout/recipe.kdl",
        "package layout {\n    version \"2.0\"\n    license \"MIT\"\n}\nbuild script {\n    step \"mkdir -p $DESTDIR/usr/bin $DESTDIR/usr/share/layout\"\n    step \"printf '#!/bin/sh\\\\n' > $DESTDIR/usr/bin/tool && chmod 700 $DESTDIR/usr/bin/tool\"\n    step \"echo data > $DESTDIR/usr/share/layout/b.txt && chmod 600 $DESTDIR/usr/share/layout/b.txt\"\n    step \"echo data > $DESTDIR/usr/share/layout/a.txt && ln -s a.txt $DESTDIR/usr/share/layout/link\"\n}\n",
    );
}

fn recipe(project: &Path, tmpdir: &Path, args: &[&str]) -> Output {
    std::fs::create_dir_all(tmpdir).expect("tmpdir");
    Command::new(env!("CARGO_BIN_EXE_recipe"))
        .current_dir(project)
        .env("RECIPE_CACHE", cache())
        .env("NO_COLOR", "1")
        .env("TMPDIR", tmpdir)
        .env_remove("RECIPE_REMOTE_CACHE")
        .args(args)
        .output()
        .expect("run recipe")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// File name → sha256 of everything in `out/<target>/`.
fn artifacts(out: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(out.join(TARGET))
        .expect("out dir")
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| {
            let hash = recipe::outputs::key::sha256_file(&e.path()).expect("hash");
            (e.file_name().to_string_lossy().into_owned(), hash)
        })
        .collect()
}

#[test]
fn every_target_package_yields_a_deterministic_tarball() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("p");
    project(&root);
    let out = recipe(
        &root,
        &tmp.path().join("tmp"),
        &["build", "layout", "--target", TARGET, "--no-local-store"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let tarball = root.join("out").join(TARGET).join("layout-2.0.tar.gz");
    assert!(
        stderr(&out).contains(&format!("artifact: {}", tarball.display())),
        "`recipe build` says where it is:\n{}",
        stderr(&out)
    );
    let bytes = std::fs::read(&tarball).expect("the tarball");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&tarball).expect("stat").permissions());
    assert_eq!(mode & 0o777, 0o644, "readable like any deliverable");
    assert_eq!(&bytes[4..8], &[0, 0, 0, 0], "no time in the gzip header");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
    let mut entries = Vec::new();
    for e in archive.entries().expect("entries") {
        let e = e.expect("entry");
        let h = e.header();
        assert_eq!((h.uid().expect("uid"), h.gid().expect("gid")), (0, 0));
        assert_eq!(h.mtime().expect("mtime"), 315_532_800, "SOURCE_DATE_EPOCH");
        entries.push((
            e.path().expect("path").display().to_string(),
            h.mode().expect("mode") & 0o7777,
        ));
    }
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    for (name, mode) in [
        ("usr/bin/tool", 0o755),
        ("usr/share/layout/b.txt", 0o644),
        ("usr/share/layout/a.txt", 0o644),
        ("usr/share/layout/link", 0o777),
    ] {
        assert!(entries.contains(&(name.to_string(), mode)), "{name}: {entries:?}");
    }
}

#[test]
fn two_cold_builds_in_different_places_give_identical_artifacts() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let one = tmp.path().join("one");
    let two = tmp.path().join("a/second/checkout/with/a/longer/path");
    project(&one);
    project(&two);
    // The second is a git checkout: builds must not see it.
    for args in [
        &["init", "-q"][..],
        &["add", "."],
        &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
    ] {
        let ok = Command::new("git").args(args).current_dir(&two).status().expect("git");
        assert!(ok.success(), "git {args:?}");
    }
    let names = ["lz4", "golib", "layout"];
    let build = |root: &Path, tmpdir: &str| {
        let mut args = vec!["build"];
        args.extend(names);
        args.extend(["--target", TARGET, "--no-local-store"]);
        let out = recipe(root, &tmp.path().join(tmpdir), &args);
        assert!(out.status.success(), "{}: {}", root.display(), stderr(&out));
        artifacts(&root.join("out"))
    };
    let first = build(&one, "tmp-one");
    // Another second, so anything that embeds the time shows.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = build(&two, "tmp/two/deeper");
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        [
            "golib-0.1.spdx.json",
            "golib-0.1.tar.gz",
            "layout-2.0.spdx.json",
            "layout-2.0.tar.gz",
            "lz4-1.10.0.spdx.json",
            "lz4-1.10.0.tar.gz"
        ],
        "one artifact and its SBOM per package"
    );
    assert_eq!(first, second, "bit-identical artifacts");

    // `--check` agrees, and the dependencies come from the local store.
    let out = recipe(
        &two,
        &tmp.path().join("tmp-check"),
        &["build", "--target", TARGET, "--check", "golib"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("reproducible: golib@armv7hf"), "{}", stderr(&out));
}

#[test]
fn check_names_the_first_differing_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("p");
    project(&root);
    write(
        &root,
        "recipes/stamped/recipe.kdl",
        "package stamped {\n    version \"1.0\"\n    license \"MIT\"\n}\nbuild script {\n    step \"mkdir -p $DESTDIR/usr/share/stamped\"\n    step \"echo same > $DESTDIR/usr/share/stamped/a.txt\"\n    step \"date +%s%N > $DESTDIR/usr/share/stamped/b.txt\"\n}\n",
    );
    let out = recipe(
        &root,
        &tmp.path().join("tmp"),
        &["build", "--target", TARGET, "--check", "stamped"],
    );
    assert!(!out.status.success(), "a difference fails the command");
    let err = stderr(&out);
    assert!(
        err.contains("NOT reproducible: stamped@armv7hf: usr/share/stamped/b.txt: contents differ"),
        "{err}"
    );
}

/// The reference wheel, in the build tree the end-to-end tests share (its
/// dependencies are built or in the local store): rebuilt in a scratch
/// directory, it is bit-identical.
#[test]
fn the_reference_wheel_is_reproducible() {
    let tree = Tree::shared();
    let out = Command::new(env!("CARGO_BIN_EXE_recipe"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RECIPE_CACHE", cache())
        .env("NO_COLOR", "1")
        .env_remove("RECIPE_REMOTE_CACHE")
        .args([
            "build",
            "dqlitepy",
            "--target",
            TARGET,
            "--check",
            "dqlitepy",
            "--build-dir",
        ])
        .arg(&tree.build)
        .arg("--out-dir")
        .arg(&tree.out)
        .output()
        .expect("run recipe");
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("reproducible: dqlitepy@armv7hf"), "{err}");
    assert!(err.contains(".whl"), "the wheel was compared: {err}");
}
