//! Host tools a recipe author expects (cmake, ninja, meson) come from the
//! project's host recipes, pulled in by the build kinds that need them, and
//! the `cmake` and `meson` kinds build real packages (cJSON, inih from the
//! Debian archive) for armv7hf that then run under qemu. A missing host
//! tool is named at the recipe line before anything is built.

use crate::support::project;

use std::path::{Path, PathBuf};

use crate::support::toolchain::{recipe_in, repo};

/// A project with the repository's armv7hf target, the given recipes of
/// the repository (host tools) and the given fixtures of
/// `tests/fixtures/host-tools/`.
fn project(root: &Path, repo_recipes: &[&str], fixtures: &[&str]) {
    for (sub, file) in [("toolchains", "armv7hf.kdl"), ("sysroots", "debian-trixie.kdl")] {
        std::fs::create_dir_all(root.join(sub)).expect("mkdir");
        std::fs::copy(repo().join(sub).join(file), root.join(sub).join(file)).expect("copy");
    }
    let from = |name: &str, dir: PathBuf| copy_dir(&dir, &root.join("recipes").join(name));
    for name in repo_recipes {
        from(name, repo().join("recipes").join(name));
    }
    for name in fixtures {
        from(name, repo().join("tests/fixtures/host-tools").join(name));
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let e = e.expect("entry");
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
    }
}

/// `recipe ARGS` on a project kept under Cargo's target dir (so its build
/// tree is incremental between runs).
fn run(name: &str, repo_recipes: &[&str], fixtures: &[&str], args: &[&str]) -> std::process::Output {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("host-tools").join(name);
    let _ = std::fs::remove_dir_all(root.join("recipes"));
    project(&root, repo_recipes, fixtures);
    recipe_in(&root.join("recipes"), args)
        .arg("--build-dir")
        .arg(root.join("build"))
        .arg("--out-dir")
        .arg(root.join("out"))
        .output()
        .expect("run recipe")
}

#[track_caller]
fn assert_ok(out: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "--- stdout\n{}\n--- stderr\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

#[test]
fn a_cmake_package_builds_with_the_provided_cmake_and_runs_on_the_target() {
    let out = run(
        "cmake",
        &["cmake"],
        &["cjson"],
        &["test", "cjson", "--target", "armv7hf"],
    );
    let stderr = assert_ok(&out);
    assert!(stderr.contains("cmake@host"), "{stderr}");
}

#[test]
fn a_meson_package_builds_with_the_provided_meson_and_ninja_and_runs_on_the_target() {
    let out = run(
        "meson",
        &["meson", "ninja"],
        &["libinih"],
        &["test", "libinih", "--target", "armv7hf"],
    );
    let stderr = assert_ok(&out);
    assert!(
        stderr.contains("meson@host") && stderr.contains("ninja@host"),
        "{stderr}"
    );
}

/// Without a recipe for the tool, the build kind's line is named with the
/// tool, before anything is fetched or built.
#[test]
fn a_missing_host_tool_is_named_at_the_build_kind() {
    let p = project::Project::new().recipe(
        "cjson",
        &std::fs::read_to_string(repo().join("tests/fixtures/host-tools/cjson/recipe.kdl")).expect("fixture"),
    );
    for cmd in [
        &["lint", "cjson"][..],
        &["build", "cjson", "--target", "armv7hf", "--offline"],
    ] {
        p.run(cmd)
            .code(1)
            .stderr_contains("build kind `cmake` needs the host tool `cmake`")
            .stderr_contains("recipes/cjson/recipe.kdl:")
            .stderr_contains("add recipes/cmake/recipe.kdl");
    }
}

/// Cython is a host tool like the others: its command, and its modules for
/// builds that import them (`$RECIPE_HOST_PREFIX/lib/python`).
#[test]
fn cython_translates_and_imports_from_the_host_prefix() {
    let out = run(
        "cython",
        &["cython"],
        &["pyx-demo"],
        &["build", "pyx-demo", "--target", "host"],
    );
    assert_ok(&out);
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("host-tools/cython/build/host");
    let prefix = std::fs::read_dir(&root)
        .expect("host build dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("prefix_"))
        })
        .expect("host prefix");
    let share = prefix.join("share/pyx-demo");
    assert_eq!(
        std::fs::read_to_string(share.join("version")).expect("version"),
        "3.2.4\n"
    );
    let c = std::fs::read_to_string(share.join("double.c")).expect("double.c");
    assert!(c.contains("__pyx_pw_6double_1double"), "a real translation");
}
