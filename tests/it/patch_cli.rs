//! `recipe patch` as an author runs it: `recipe source` prepares a tree from
//! a tarball served on loopback (with the recipe's existing patch applied),
//! the author edits it (and a build leaves products in it), `recipe patch`
//! writes the next numbered patch and adds it to the recipe, and a fresh
//! `recipe source` gives the edited tree back.

use crate::support::http;
use crate::support::project::{FAST_FETCH, project_with_config};

use std::path::{Path, PathBuf};
use std::process::Command as Std;

use assert_cmd::Command;
use http::{Reply, Server, sha256_hex, tar_gz};
use predicates::prelude::*;

const HELLO_C: &str = "#include <stdio.h>\n\nint main(void)\n{\n    puts(\"hello\");\n    return 0;\n}\n";
const EXISTING_PATCH: &str = "Say hello to the world.\n\n--- a/hello.c\n+++ b/hello.c\n@@ -2,6 +2,6 @@\n \n int main(void)\n {\n-    puts(\"hello\");\n+    puts(\"hello, world\");\n     return 0;\n }\n";

/// The recipe as an author wrote it: a comment and blank lines that an
/// edit must keep.
fn recipe_text(url: &str, sha: &str) -> String {
    format!(
        "package hello {{\n    version \"1.0\"\n    license \"MIT\"\n}}\nsource \"{url}\" {{\n    sha256 \"{sha}\"\n}}\n// The greeting, as upstream would not take it.\npatch \"patches/0001-world.patch\"\n\nbuild make {{\n    installs-nothing\n}}\n"
    )
}

struct Fixture {
    _server: Server,
    dir: tempfile::TempDir,
    tarball: Vec<u8>,
}

impl Fixture {
    fn new() -> Fixture {
        let server = Server::start();
        let dir = project_with_config(FAST_FETCH);
        let root = dir.path().join("project");
        let tarball = tar_gz(&[
            ("hello-1.0/hello.c", HELLO_C.as_bytes()),
            ("hello-1.0/Makefile.in", b"all:\n\t$(CC) -o hello hello.c\n"),
            ("hello-1.0/README", b"Hello.\n"),
        ]);
        server.route("/hello-1.0.tar.gz", vec![Reply::Body(tarball.clone())]);
        let recipe_dir = root.join("recipes/hello");
        std::fs::create_dir_all(recipe_dir.join("patches")).unwrap();
        std::fs::write(
            recipe_dir.join("recipe.kdl"),
            recipe_text(&server.url("/hello-1.0.tar.gz"), &sha256_hex(&tarball)),
        )
        .unwrap();
        std::fs::write(recipe_dir.join("patches/0001-world.patch"), EXISTING_PATCH).unwrap();
        Fixture {
            _server: server,
            dir,
            tarball,
        }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    fn recipe_dir(&self) -> PathBuf {
        self.root().join("recipes/hello")
    }

    fn tree(&self) -> PathBuf {
        self.root().join("build/armv7hf/hello/src")
    }

    fn recipe(&self) -> Command {
        let mut c = Command::cargo_bin("recipe").unwrap();
        c.current_dir(self.root())
            .env("RECIPE_CACHE", self.dir.path().join("cache"))
            .env("RECIPE_CONFIG", self.dir.path().join("config.kdl"))
            .env("NO_COLOR", "1")
            .env_remove("XDG_CACHE_HOME");
        c
    }

    fn source(&self) {
        self.recipe()
            .args(["source", "hello", "--target", "armv7hf"])
            .assert()
            .success();
    }

    fn patches(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.recipe_dir().join("patches"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// GNU patch with an explicit environment, as the tool runs it.
fn gnu_patch(tree: &Path, args: &[&str], patch: &Path) -> std::process::Output {
    Std::new("patch")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LC_ALL", "C")
        .args(args)
        .arg("-i")
        .arg(patch)
        .current_dir(tree)
        .output()
        .expect("run patch")
}

#[test]
fn edits_become_the_next_patch_and_come_back_from_a_fresh_tree() {
    let f = Fixture::new();
    f.source();
    let tree = f.tree();
    assert!(
        std::fs::read_to_string(tree.join("hello.c"))
            .unwrap()
            .contains("hello, world")
    );

    // The author's edit and new file...
    let edited = std::fs::read_to_string(tree.join("hello.c"))
        .unwrap()
        .replace("hello, world", "HELLO, WORLD");
    std::fs::write(tree.join("hello.c"), &edited).unwrap();
    std::fs::write(tree.join("greeting.h"), "#define GREETING \"hi\"\n").unwrap();
    std::fs::create_dir_all(tree.join("tools")).unwrap();
    std::fs::write(tree.join("tools/gen.sh"), "#!/bin/sh\necho gen\n").unwrap();
    let exec = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755);
    std::fs::set_permissions(tree.join("tools/gen.sh"), exec).unwrap();
    // ...and what a build leaves behind.
    std::fs::write(tree.join("hello.o"), b"\x7fELF\x01\x01\x01\0junk").unwrap();
    std::fs::write(tree.join("hello"), b"\x7fELF\x01\x01\x01\0junk").unwrap();
    std::fs::write(tree.join("config.log"), "configure output\n").unwrap();
    std::fs::write(tree.join("Makefile"), "all:\n").unwrap();
    std::fs::create_dir_all(tree.join(".libs")).unwrap();
    std::fs::write(tree.join(".libs/libhello.so.1"), "not really\n").unwrap();

    f.recipe()
        .args([
            "patch",
            "hello",
            "--target",
            "armv7hf",
            "--name",
            "Shout the greeting!",
            "--message",
            "Upstream whispers; the board's console wants capitals.\n--- not a diff line",
        ])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("wrote recipes/hello/patches/0002-shout-the-greeting.patch (3 file(s))")
                .and(predicate::str::contains("M hello.c"))
                .and(predicate::str::contains("A greeting.h"))
                .and(predicate::str::contains(
                    "left out 5 new file(s) taken for build products",
                )),
        );
    assert_eq!(f.patches(), ["0001-world.patch", "0002-shout-the-greeting.patch"]);
    let patch_path = f.recipe_dir().join("patches/0002-shout-the-greeting.patch");
    let patch = std::fs::read_to_string(&patch_path).unwrap();
    assert!(
        patch.starts_with("Upstream whispers; the board's console wants capitals.\n --- not a diff line\n"),
        "{patch}"
    );
    assert!(patch.contains("Generated by recipe patch on 20"), "{patch}");
    assert!(
        patch.contains("-    puts(\"hello, world\");\n+    puts(\"HELLO, WORLD\");\n"),
        "{patch}"
    );
    for product in ["hello.o", "config.log", "b/Makefile\n", ".libs", "b/hello\n"] {
        assert!(!patch.contains(product), "build product {product:?} in:\n{patch}");
    }
    // The recipe gained one line, right after the existing patch line.
    let text = std::fs::read_to_string(f.recipe_dir().join("recipe.kdl")).unwrap();
    let url = f._server.url("/hello-1.0.tar.gz");
    let want = recipe_text(&url, &sha256_hex(&f.tarball)).replace(
        "patch \"patches/0001-world.patch\"\n",
        "patch \"patches/0001-world.patch\"\npatch \"patches/0002-shout-the-greeting.patch\"\n",
    );
    assert_eq!(text, want);

    // GNU patch accepts it on the pristine sources with the first patch applied.
    let scratch = tempfile::tempdir().unwrap();
    std::fs::write(scratch.path().join("hello.tar.gz"), &f.tarball).unwrap();
    let untar = Std::new("tar")
        .args(["xzf", "hello.tar.gz", "--strip-components=1"])
        .current_dir(scratch.path())
        .status()
        .unwrap();
    assert!(untar.success());
    let first = gnu_patch(
        scratch.path(),
        &["-p1"],
        &f.recipe_dir().join("patches/0001-world.patch"),
    );
    assert!(first.status.success());
    let dry = gnu_patch(scratch.path(), &["-p1", "--dry-run"], &patch_path);
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stdout));

    // A fresh tree from the recipe has the edits and nothing else.
    std::fs::remove_dir_all(f.root().join("build")).unwrap();
    f.source();
    assert_eq!(std::fs::read_to_string(tree.join("hello.c")).unwrap(), edited);
    assert_eq!(
        std::fs::read_to_string(tree.join("greeting.h")).unwrap(),
        "#define GREETING \"hi\"\n"
    );
    let mode = std::fs::metadata(tree.join("tools/gen.sh")).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o111,
        0o111,
        "kept executable"
    );
    for product in ["hello.o", "hello", "config.log", "Makefile", ".libs"] {
        assert!(!tree.join(product).exists(), "{product}");
    }

    // Nothing changed since: nothing to write, the recipe stays as it is.
    f.recipe()
        .args(["patch", "hello"])
        .assert()
        .success()
        .stdout(predicate::str::contains("no difference").and(predicate::str::contains("nothing written")));
    assert_eq!(f.patches().len(), 2);
    assert_eq!(
        std::fs::read_to_string(f.recipe_dir().join("recipe.kdl")).unwrap(),
        want
    );
}

#[test]
fn an_unedited_tree_writes_nothing() {
    let f = Fixture::new();
    f.source();
    // Build products alone are no difference either.
    std::fs::write(f.tree().join("hello.o"), b"\x7fELF").unwrap();
    std::fs::write(f.tree().join("config.status"), "#!/bin/sh\n").unwrap();
    let before = std::fs::read_to_string(f.recipe_dir().join("recipe.kdl")).unwrap();
    f.recipe()
        .args(["patch", "hello", "--target", "armv7hf"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "no difference from the pristine tree of hello for armv7hf: nothing written",
        ));
    assert_eq!(f.patches(), ["0001-world.patch"]);
    assert_eq!(
        std::fs::read_to_string(f.recipe_dir().join("recipe.kdl")).unwrap(),
        before
    );
}

#[test]
fn without_a_prepared_tree_it_points_at_recipe_source() {
    let f = Fixture::new();
    let before = std::fs::read_to_string(f.recipe_dir().join("recipe.kdl")).unwrap();
    f.recipe()
        .args(["patch", "hello", "--target", "armv7hf"])
        .assert()
        .failure()
        .code(1)
        .stderr(
            predicate::str::contains("no prepared source tree of hello for armv7hf")
                .and(predicate::str::contains("recipe source hello --target armv7hf")),
        );
    f.recipe().args(["patch", "hello"]).assert().failure().stderr(
        predicate::str::contains("no prepared source tree of hello")
            .and(predicate::str::contains("recipe source hello")),
    );
    assert_eq!(f.patches(), ["0001-world.patch"]);
    assert_eq!(
        std::fs::read_to_string(f.recipe_dir().join("recipe.kdl")).unwrap(),
        before
    );
    assert!(f._server.requests().is_empty(), "nothing downloaded");
}
