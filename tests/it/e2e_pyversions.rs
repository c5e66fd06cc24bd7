//! Several Python versions per target, end to end: a project whose armv7hf
//! lists CPython 3.11 (bookworm) and 3.13 (trixie) builds a MarkupSafe wheel
//! per version with one command, each tested under qemu in a root of its own
//! suite's `python3.X` (the 3.11 wheel's C extension loaded by 3.11), and one
//! abi3 wheel for argon2-cffi-bindings that both versions install. Adding
//! 3.11 to a target that listed only 3.13 keeps the 3.13 wheel as it was.
//!
//! The project is this repository's files with its own armv7hf target file;
//! its build tree is this module's own (the shipped targets list one Python).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::e2e::{cache, checkout, copy_dir};
use crate::support::report::Report;

const PYTHON_LINE: &str = "python platform=\"linux_armv7l\" machine=\"armv7l\" lib-dir=\"linux-armv7\"";

fn base() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e-pyversions")
}

/// The repository's project at a fixed place (so the build tree stays
/// warm between runs), armv7hf listing `versions` (`(version, suite)`).
fn project(versions: &[(&str, &str)]) -> PathBuf {
    let dir = base().join("project");
    checkout(&dir);
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("python"),
        &dir.join("python"),
    );
    let file = dir.join("toolchains/armv7hf.kdl");
    let text = std::fs::read_to_string(&file).expect("read target");
    assert!(text.contains(PYTHON_LINE), "{text}");
    let children: String = versions
        .iter()
        .map(|(v, s)| format!("        version \"{v}\" suite=\"{s}\"\n"))
        .collect();
    std::fs::write(
        &file,
        text.replace(PYTHON_LINE, &format!("{PYTHON_LINE} {{\n{children}    }}")),
    )
    .expect("write");
    dir
}

fn recipe(project: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recipe"))
        .current_dir(project)
        .env("RECIPE_CACHE", cache())
        .env("NO_COLOR", "1")
        .env_remove("RECIPE_REMOTE_CACHE")
        .args(args)
        .arg("--build-dir")
        .arg(base().join("build"))
        .arg("--out-dir")
        .arg(base().join("out"))
        .output()
        .expect("run recipe")
}

/// Wheel file names in `out/armv7hf/` starting with `prefix`, sorted.
fn wheels(prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(base().join("out/armv7hf"))
        .expect("out dir")
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix) && n.ends_with(".whl"))
        .collect();
    names.sort();
    names
}

fn build_log(name: &str) -> String {
    std::fs::read_to_string(base().join("build/armv7hf").join(name).join("build.log")).unwrap_or_default()
}

#[test]
fn a_wheel_per_python_version_each_tested_with_its_own_python() {
    let _ = std::fs::remove_dir_all(base().join("out"));
    // One version listed: one wheel.
    let one = project(&[("3.13", "trixie")]);
    let out = recipe(&one, &["build", "markupsafe", "--target", "armv7hf"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let first = wheels("MarkupSafe-3.0.4-");
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(
        first[0].starts_with("MarkupSafe-3.0.4-cp313-cp313-manylinux_2_"),
        "{first:?}"
    );
    let cp313 = std::fs::read(base().join("out/armv7hf").join(&first[0])).expect("wheel");

    // 3.11 added: one command builds both, and tests each on its Python.
    let two = project(&[("3.13", "trixie"), ("3.11", "bookworm")]);
    let started = std::time::Instant::now();
    let out = recipe(
        &two,
        &["test", "markupsafe", "argon2-cffi-bindings", "--target", "armv7hf"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("build + test for two versions: {:.1}s", started.elapsed().as_secs_f64());
    assert!(out.status.success(), "{stderr}");
    let both = wheels("MarkupSafe-3.0.4-");
    assert_eq!(both.len(), 2, "{both:?}");
    assert!(
        both[0].starts_with("MarkupSafe-3.0.4-cp311-cp311-manylinux_2_"),
        "{both:?}"
    );
    assert!(both[0].ends_with("_armv7l.whl"), "{both:?}");
    assert_eq!(both[1], first[0], "the 3.13 wheel keeps its name");
    assert_eq!(
        std::fs::read(base().join("out/armv7hf").join(&both[1])).expect("wheel"),
        cp313,
        "and its bytes"
    );
    // The 3.13 wheel was not built again: its own key was unchanged.
    let log = build_log("markupsafe");
    assert!(log.contains("# python 3.13: inputs unchanged"), "{log}");
    assert!(log.contains("# python 3.11: building the wheel"), "{log}");
    assert!(!log.contains("# python 3.13: building"), "{log}");

    // The limited API: one abi3 wheel, built with the lowest version.
    let argon2 = wheels("argon2_cffi_bindings-21.2.0-");
    assert_eq!(argon2.len(), 1, "{argon2:?}");
    assert!(argon2[0].contains("-cp311-abi3-manylinux_2_"), "{argon2:?}");

    for name in ["markupsafe", "argon2-cffi-bindings"] {
        for version in ["3.11", "3.13"] {
            assert!(
                stderr.contains(&format!("test {name}@armv7hf (python {version}): 2 steps passed")),
                "{name} {version}: {stderr}"
            );
        }
    }
    // Python 3.11 loaded the cp311 wheel's C extension, not the fallback.
    let test_log = std::fs::read_to_string(base().join("build/armv7hf/markupsafe/test-py3.11.log")).expect("test log");
    assert!(
        test_log.contains("markupsafe: _speedups loaded from")
            && test_log.contains("_speedups.cpython-311-arm-linux-gnueabihf.so"),
        "{test_log}"
    );
    let test_log = std::fs::read_to_string(base().join("build/armv7hf/markupsafe/test-py3.13.log")).expect("test log");
    assert!(
        test_log.contains("_speedups.cpython-313-arm-linux-gnueabihf.so"),
        "{test_log}"
    );

    // Nothing changed: nothing is built again.
    let report = tempfile::tempdir().expect("report dir");
    let again = recipe(
        &two,
        &[
            "build",
            "markupsafe",
            "argon2-cffi-bindings",
            "--target",
            "armv7hf",
            "--report",
            report.path().to_str().expect("utf-8"),
        ],
    );
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    let report = Report::read(report.path());
    assert!(report.built_nothing(), "{report}\n{stderr}");
}
