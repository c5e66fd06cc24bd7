//! Per-target source variants (`target NAME file=… sha256=…` inside a
//! `source`) and target sysroot additions (`sysroot-packages`): their
//! diagnostics, and real builds that use them (zlib's -dev packages from the
//! Debian archive for armv7hf and aarch64, a zlib program run under qemu).

use crate::support::project;

use std::path::{Path, PathBuf};

use crate::support::toolchain::{recipe_in, repo};
use project::Project;

const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// A project with two targets, `armv7hf` and `aarch64`.
fn two_targets() -> Project {
    let aarch64 = project::TARGET
        .replace("target armv7hf", "target aarch64")
        .replace("arm-linux-gnueabihf", "aarch64-linux-gnu")
        .replace("\"armhf\"", "\"arm64\"");
    Project::new().file("toolchains/aarch64.kdl", &aarch64)
}

fn with_source(body: &str) -> String {
    format!(
        "package dev {{\n    version \"1.0\"\n    license \"MIT\"\n}}\n\
         source debian=\"dev\" {{\n{body}}}\n\
         build script {{\n    step \"true\"\n}}\n"
    )
}

#[test]
fn a_variant_gives_the_file_and_sha256_of_its_target() {
    let p = two_targets().recipe(
        "dev",
        &with_source(&format!(
            "    file \"dev_1.0_{{{{ target.debian_arch }}}}.deb\"\n    sha256 \"{A}\"\n    target aarch64 file=\"dev_1.0+b1_arm64.deb\" sha256=\"{B}\"\n"
        )),
    );
    p.run(&["lint"]).code(0);
    // The default for the target without a variant.
    p.run(&["show", "dev", "--target", "armv7hf"])
        .code(0)
        .stdout_contains("file dev_1.0_armhf.deb")
        .stdout_contains(A);
    let out = p.run(&["show", "dev", "--target", "aarch64"]);
    out.code(0).stdout_contains("dev_1.0+b1_arm64.deb").stdout_contains(B);
    // .debs keep every path component (their data has no top directory).
    out.stdout_contains("strip-components 0");
    assert!(!out.stdout.contains(A), "{}", out.stdout);
}

#[test]
fn a_target_with_neither_a_variant_nor_a_default_is_named_at_the_source() {
    let p = two_targets().recipe(
        "dev",
        &with_source(&format!("    target aarch64 file=\"dev_arm64.deb\" sha256=\"{B}\"\n")),
    );
    p.run(&["lint"])
        .code(1)
        .stderr_contains("no `target armv7hf` variant")
        .stderr_contains("recipes/dev/recipe.kdl:5:")
        .stderr_contains("add `target armv7hf file=");
    p.run(&["show", "dev", "--target", "aarch64"]).code(0);
}

#[test]
fn variant_mistakes_are_reported_with_spans() {
    let p = two_targets().recipe(
        "dev",
        &with_source(&format!(
            "    sha256 \"{A}\"\n    target aarch64 file=\"y.deb\" sha256=\"{B}\"\n    target aarch64 file=\"z.deb\" sha256=\"{B}\"\n    target armv7hf file=\"w.deb\" sha256=\"ABC\"\n    target armv7hf flie=\"w.deb\"\n    target\n"
        )),
    );
    p.run(&["lint"])
        .code(1)
        .stderr_contains("`target aarch64` is given more than once")
        .stderr_contains("invalid sha256 `ABC`")
        .stderr_contains("unknown property `flie`")
        .stderr_contains("`target` is missing the target's name");
    // A target the project does not have, with the closest one named.
    let p = two_targets().recipe(
        "dev",
        &with_source(&format!(
            "    sha256 \"{A}\"\n    target armv7h file=\"x.deb\" sha256=\"{B}\"\n"
        )),
    );
    p.run(&["lint"])
        .code(1)
        .stderr_contains("unknown target `armv7h`")
        .stderr_contains("recipes/dev/recipe.kdl:7:12")
        .stderr_contains("did you mean `armv7hf`?");
}

#[test]
fn sysroot_packages_are_checked_like_every_node() {
    let text = |packages: &str| {
        format!(
            "package u {{\n    version \"1.0\"\n    license \"MIT\"\n}}\nsysroot-packages {packages}\nbuild script {{\n    step \"true\"\n}}\n"
        )
    };
    Project::new()
        .recipe("u", &text("\"zlib1g-dev\" \"libpython3.13-dev\""))
        .run(&["show", "u", "--target", "armv7hf"])
        .code(0)
        .stdout_contains("sysroot-packages libpython3.13-dev zlib1g-dev");
    Project::new()
        .recipe("u", &text("\"zlib1g dev\""))
        .run(&["lint"])
        .code(1)
        .stderr_contains("invalid Debian package name")
        .stderr_contains("recipes/u/recipe.kdl:5:");
    Project::new()
        .recipe("u", &text("#true"))
        .run(&["lint"])
        .code(1)
        .stderr_contains("recipes/u/recipe.kdl:5:");
}

/// A project under Cargo's target dir with the repository's ARM targets and
/// fixtures of `tests/fixtures/host-tools/`.
fn real_project(name: &str, fixtures: &[&str]) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("per-target").join(name);
    let _ = std::fs::remove_dir_all(root.join("recipes"));
    for (sub, file) in [
        ("toolchains", "armv7hf.kdl"),
        ("toolchains", "aarch64.kdl"),
        ("sysroots", "debian-trixie.kdl"),
    ] {
        std::fs::create_dir_all(root.join(sub)).expect("mkdir");
        std::fs::copy(repo().join(sub).join(file), root.join(sub).join(file)).expect("copy");
    }
    for f in fixtures {
        copy_dir(
            &repo().join("tests/fixtures/host-tools").join(f),
            &root.join("recipes").join(f),
        );
    }
    root
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
    }
}

fn run_in(root: &Path, args: &[&str]) -> String {
    let out = recipe_in(&root.join("recipes"), args)
        .arg("--build-dir")
        .arg(root.join("build"))
        .arg("--out-dir")
        .arg(root.join("out"))
        .output()
        .expect("run recipe");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "--- stdout\n{}\n--- stderr\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

/// ELF `e_machine` of a member of an `ar` archive's first object.
fn archive_machine(path: &Path) -> u16 {
    let bytes = std::fs::read(path).expect("libz.a");
    let at = bytes.windows(4).position(|w| w == b"\x7fELF").expect("an ELF member");
    u16::from_le_bytes([bytes[at + 18], bytes[at + 19]])
}

#[test]
fn each_target_downloads_its_own_variant() {
    let root = real_project("variants", &["zlib-dev"]);
    run_in(&root, &["build", "zlib-dev", "--target", "armv7hf,aarch64"]);
    let lib = |t: &str| root.join("build").join(t).join("zlib-dev/dest/usr/lib/libz.a");
    assert_eq!(archive_machine(&lib("armv7hf")), 40, "EM_ARM");
    assert_eq!(archive_machine(&lib("aarch64")), 183, "EM_AARCH64");
}

#[test]
fn sysroot_packages_reach_the_build_and_the_key() {
    let root = real_project("sysroot-packages", &["zlib-user"]);
    run_in(&root, &["test", "zlib-user", "--target", "armv7hf"]);
    let key = |root: &Path| {
        let out = recipe_in(
            &root.join("recipes"),
            &["explain-key", "zlib-user", "--target", "armv7hf"],
        )
        .arg("--build-dir")
        .arg(root.join("build"))
        .output()
        .expect("explain-key");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let before = key(&root);
    assert!(before.contains("zlib1g-dev"), "{before}");
    // Another package set is another sysroot, hence another key.
    let recipe = root.join("recipes/zlib-user/recipe.kdl");
    let text = std::fs::read_to_string(&recipe).expect("recipe");
    std::fs::write(
        &recipe,
        text.replace("\"zlib1g-dev\"", "\"zlib1g-dev\" \"libzstd-dev\""),
    )
    .expect("write");
    let after = key(&root);
    let toolchain_line = |s: &str| {
        s.lines()
            .filter(|l| l.contains("toolchain"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_ne!(toolchain_line(&before), toolchain_line(&after), "{before}\n{after}");
}
