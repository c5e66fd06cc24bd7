//! CPython C-extension wheels cross-built crossenv style (the build
//! machine's Python of the target's version with the target's compiler and
//! sysconfigdata), end to end from real sdists: `recipe test` installs each
//! wheel with the target's pip into a fresh directory and proves under qemu
//! that the C extension is the one loaded. Then the wheels are checked
//! independently: extension names, ELF machine, tags and `auditwheel show`.
//!
//! One cache and build tree for all packages (shared with e2e_dqlitepy's
//! layout), so toolchains, roots and the build Python are provisioned once.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::e2e::{Tree, cache};

/// This module's own tree, shared by its tests only.
fn tree() -> Tree {
    Tree::own("e2e-pywheels")
}

/// Names and ELF machines of the wheel's shared objects.
pub(super) fn shared_objects(wheel: &Path) -> Vec<(String, u16)> {
    let file = std::fs::File::open(wheel).expect("open wheel");
    let mut zip = zip::ZipArchive::new(file).expect("zip");
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).expect("entry");
        let name = f.name().expect("entry name").to_string();
        if !name.contains(".so") {
            continue;
        }
        let mut head = [0u8; 20];
        std::io::Read::read_exact(&mut f, &mut head).expect("read");
        assert_eq!(&head[..4], b"\x7fELF", "{name}");
        out.push((name, u16::from_le_bytes([head[18], head[19]])));
    }
    out
}

#[test]
fn extension_wheels_build_and_load_their_c_extension_on_armv7hf() {
    let (target, machine, triple, e_machine) = ("armv7hf", "armv7l", "arm-linux-gnueabihf", 40u16);
    // (package, wheel name prefix, python-abi tags, extension module inside)
    let cpython = format!(".cpython-313-{triple}.so");
    let packages = [
        (
            "markupsafe",
            "MarkupSafe-3.0.4-",
            "cp313-cp313-",
            format!("markupsafe/_speedups{cpython}"),
        ),
        (
            "msgpack",
            "msgpack-1.2.4-",
            "cp313-cp313-",
            format!("msgpack/_cmsgpack{cpython}"),
        ),
        (
            "pyyaml",
            "PyYAML-6.0.4-",
            "cp313-cp313-",
            format!("yaml/_yaml{cpython}"),
        ),
        // CFFI API mode, built with the limited API: an abi3 wheel.
        (
            "argon2-cffi-bindings",
            "argon2_cffi_bindings-21.2.0-",
            "cp313-abi3-",
            "_argon2_cffi_bindings/_ffi.abi3.so".to_string(),
        ),
    ];
    let names: Vec<&str> = packages.iter().map(|p| p.0).collect();
    let mut args = vec!["test"];
    args.extend(&names);
    args.extend(["--target", target]);
    let out = tree().recipe(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for (name, prefix, tags, ext) in &packages {
        assert!(
            stderr.contains(&format!("test {name}@{target}: 2 steps passed")),
            "{name}: {stderr}"
        );
        let wheel = tree().wheel(target, prefix);
        let file = wheel
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let tag = file.trim_start_matches(prefix).trim_end_matches(".whl");
        assert!(tag.starts_with(&format!("{tags}manylinux_2_")), "{file}");
        assert!(tag.ends_with(&format!("_{machine}")), "{file}");
        let platform = tag.trim_start_matches(tags);
        assert_eq!(tree().auditwheel_tag(&wheel), platform, "auditwheel agrees with {file}");
        let objects = shared_objects(&wheel);
        assert!(objects.iter().any(|(n, _)| n == ext), "{ext} in {objects:?}");
        for (n, m) in &objects {
            assert_eq!(*m, e_machine, "{n} is for the target");
        }
    }
    // libyaml comes from the graph, vendored under a hashed name.
    let objects = shared_objects(&tree().wheel(target, "PyYAML-6.0.4-"));
    assert!(
        objects
            .iter()
            .any(|(n, _)| n.starts_with("PyYAML.libs/libyaml-0-") && n.ends_with(".so.2")),
        "{objects:?}"
    );

    // Nothing changed: a second build rebuilds nothing.
    let mut again = vec!["build"];
    again.extend(&names);
    again.extend(["--target", target]);
    let (again, report) = tree().recipe_reported(&again);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert!(report.built_nothing(), "{report}\n{stderr}");
}

#[test]
fn markupsafe_and_msgpack_wheels_for_aarch64_and_x86_64() {
    let out = tree().recipe(&["test", "markupsafe", "msgpack", "--target", "aarch64,x86_64"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for (target, machine, triple, e_machine) in [
        ("aarch64", "aarch64", "aarch64-linux-gnu", 183u16),
        ("x86_64", "x86_64", "x86_64-linux-gnu", 62),
    ] {
        for (name, prefix, ext) in [
            ("markupsafe", "MarkupSafe-3.0.4-", "markupsafe/_speedups"),
            ("msgpack", "msgpack-1.2.4-", "msgpack/_cmsgpack"),
        ] {
            assert!(
                stderr.contains(&format!("test {name}@{target}: 2 steps passed")),
                "{name}@{target}: {stderr}"
            );
            let wheel = tree().wheel(target, prefix);
            let file = wheel
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            let platform = file
                .trim_start_matches(prefix)
                .trim_end_matches(".whl")
                .trim_start_matches("cp313-cp313-")
                .to_string();
            assert!(platform.ends_with(&format!("_{machine}")), "{file}");
            assert_eq!(tree().auditwheel_tag(&wheel), platform, "auditwheel agrees with {file}");
            let objects = shared_objects(&wheel);
            let expected = format!("{ext}.cpython-313-{triple}.so");
            assert!(
                objects.iter().any(|(n, m)| *n == expected && *m == e_machine),
                "{expected}: {objects:?}"
            );
        }
    }
}

/// A project beside the real one (same targets, sysroots and lock file)
/// with sdists that must fail: one whose build requirement is not locked,
/// one whose backend raises.
fn failing_project() -> PathBuf {
    let root = tree().build.join("failing-project");
    let _ = std::fs::remove_dir_all(&root);
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["toolchains", "sysroots", "python"] {
        std::fs::create_dir_all(root.join(dir)).expect("mkdir");
        for e in std::fs::read_dir(manifest.join(dir)).expect("read").flatten() {
            std::fs::copy(e.path(), root.join(dir).join(e.file_name())).expect("copy");
        }
    }
    let sdist = |name: &str, pyproject: &str, setup: &str| {
        let files = root.join("recipes").join(name).join("files/sdist");
        std::fs::create_dir_all(&files).expect("mkdir");
        std::fs::write(
            files.join("PKG-INFO"),
            format!("Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"),
        )
        .expect("write");
        std::fs::write(files.join("pyproject.toml"), pyproject).expect("write");
        std::fs::write(files.join("setup.py"), setup).expect("write");
        std::fs::write(
            root.join("recipes").join(name).join("recipe.kdl"),
            format!(
                "package {name} {{\n    version \"1.0\"\n    license \"MIT\"\n}}\nsource path=\"files/sdist\"\nbuild python-wheel {{\n    pep517 #true\n}}\n"
            ),
        )
        .expect("write");
    };
    sdist(
        "needs-flit",
        "[build-system]\nrequires = [\"flit_core>=3.2\"]\nbuild-backend = \"flit_core.buildapi\"\n",
        "",
    );
    sdist(
        "backend-fails",
        "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n",
        "raise SystemExit('this sdist refuses to build: boom-from-the-backend')\n",
    );
    root
}

#[test]
fn a_missing_build_requirement_and_a_failing_backend_say_what_happened() {
    let root = failing_project();
    let Tree { build, out, .. } = tree();
    let output = Command::new(env!("CARGO_BIN_EXE_recipe"))
        .current_dir(&root)
        .env("RECIPE_CACHE", cache())
        .env("NO_COLOR", "1")
        .args([
            "build",
            "needs-flit",
            "backend-fails",
            "--target",
            "armv7hf",
            "--keep-going",
        ])
        .arg("--build-dir")
        .arg(build.join("failing-build"))
        .arg("--out-dir")
        .arg(out.join("failing-out"))
        .output()
        .expect("run recipe");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    // Diagnostics wrap long lines (inside paths too): compare without spaces.
    let stderr: String = stderr.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(stderr.contains("flit_core>=3.2"), "names the requirement: {stderr}");
    assert!(
        stderr.contains("python/build-requirements.lock"),
        "says where to add it: {stderr}"
    );
    assert!(
        stderr.contains("refusestobuild:boom-from-the-backend"),
        "shows the backend's error: {stderr}"
    );
    assert!(stderr.contains("backend-fails/build.log"), "names the log: {stderr}");
}
