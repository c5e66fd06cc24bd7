//! Go's build cache and cgo. Go's cache does not see the C headers a cgo
//! package includes from the sysroot (`go help cache`), so a package's
//! cache must not outlive the dependencies it was filled against; and a
//! cgo package prepared while its dependencies still build warms the
//! cache with the standard library it will need, without changing a byte
//! of the result.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::e2e::cache;
use crate::support::project::copy_target_files;

const TARGET: &str = "armv7hf";
/// What the build log says after a warm-up.
const WARMED: &str = "standard-library packages in Go's build cache";

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// `cval` stages `cval.h` (a string naming its version); `goshim`, a cgo
/// c-shared library, returns that string. Its module uses `net` (a cgo
/// package of the standard library) so the warm-up has real work.
fn project(root: &Path, cval_version: &str) {
    copy_target_files(root);
    write(
        root,
        "recipes/cval/recipe.kdl",
        &format!(
            "package cval {{\n    version \"{cval_version}\"\n    license \"MIT\"\n}}\nbuild script {{\n    \
             step \"mkdir -p $DESTDIR/usr/include\"\n    \
             step \"echo '#define CVAL \\\"cval-{{{{ version }}}}\\\"' > $DESTDIR/usr/include/cval.h\"\n}}\n"
        ),
    );
    write(
        root,
        "recipes/goshim/recipe.kdl",
        "package goshim {\n    version \"0.1\"\n    license \"MIT\"\n}\nsource path=\"files\"\ndepends cval\nbuild go {\n    mode \"c-shared\"\n}\n",
    );
    write(root, "recipes/goshim/files/go.mod", "module goshim\n\ngo 1.22\n");
    write(
        root,
        "recipes/goshim/files/lib.go",
        "package main\n\n// #include <cval.h>\n// static const char *cval(void) { return CVAL; }\nimport \"C\"\n\n\
         import \"net\"\n\n//export goshim_value\nfunc goshim_value() *C.char { return C.cval() }\n\n\
         //export goshim_port\nfunc goshim_port() C.int { p, _ := net.LookupPort(\"tcp\", \"80\"); return C.int(p) }\n\n\
         func main() {}\n",
    );
}

fn recipe(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recipe"))
        .current_dir(root)
        .env("RECIPE_CACHE", cache())
        .env("NO_COLOR", "1")
        .env_remove("RECIPE_REMOTE_CACHE")
        .args(args)
        .output()
        .expect("run recipe")
}

fn build(root: &Path, build_dir: &Path) -> String {
    let out = recipe(
        root,
        &[
            "build",
            "goshim",
            "--target",
            TARGET,
            "-j2",
            "--no-local-store",
            "--build-dir",
            &build_dir.display().to_string(),
            "--out-dir",
            &root.join("out").display().to_string(),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

fn library(build_dir: &Path) -> Vec<u8> {
    std::fs::read(build_dir.join(TARGET).join("goshim/dest/usr/lib/libgoshim.so")).expect("the built library")
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn a_cgo_package_is_rebuilt_against_its_dependencys_new_header() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("p");
    let tree = tmp.path().join("build");
    project(&root, "1");
    build(&root, &tree);
    assert!(contains(&library(&tree), "cval-1"), "the first build uses cval 1");

    // Same tree: cval's header changes, goshim rebuilds because its
    // dependency did; its cgo code must see the new header.
    project(&root, "2");
    let log = build(&root, &tree);
    let lib = library(&tree);
    assert!(
        contains(&lib, "cval-2") && !contains(&lib, "cval-1"),
        "goshim was compiled against the old cval.h (stale Go build cache):\n{log}"
    );

    let log = std::fs::read_to_string(tree.join(TARGET).join("goshim/build.log")).expect("build log");
    assert!(
        !log.contains(WARMED),
        "only its dependency changed: not prepared early\n{log}"
    );

    // A fresh tree: goshim is prepared while cval builds and warms its
    // cache with the standard library; the library has the same bytes.
    let fresh = tmp.path().join("fresh");
    build(&root, &fresh);
    let log = std::fs::read_to_string(fresh.join(TARGET).join("goshim/build.log")).expect("build log");
    assert!(log.contains(WARMED), "{log}");
    assert!(library(&fresh) == lib, "the warm-up changed the library's bytes");
}
