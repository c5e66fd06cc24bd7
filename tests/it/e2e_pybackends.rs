//! Extension wheels whose sdists build with scikit-build-core (CMake) or
//! meson-python (Meson), cross-built by the build Python with the target's
//! toolchain file / cross file: `recipe test` installs each wheel with the
//! target's pip and proves under qemu that the compiled extension is the
//! one loaded; then extension names, ELF machines, tags and `auditwheel
//! show` are checked independently. aarch64 and x86_64 work the same way
//! (`recipe test cysignals levenshtein --target aarch64,x86_64`).

use std::path::Path;
use std::process::Command;

use crate::e2e_pywheels::shared_objects;
use crate::support::e2e::{Tree, cache};

/// This module's own tree, shared by its tests only.
fn tree() -> Tree {
    Tree::own("e2e-pybackends")
}

#[test]
fn scikit_build_core_and_meson_python_wheels_load_their_extensions_on_armv7hf() {
    let (target, machine, e_machine) = ("armv7hf", "armv7l", 40u16);
    let suffix = ".cpython-313-arm-linux-gnueabihf.so";
    // (package, wheel name prefix, extension modules inside)
    let packages = [
        (
            "levenshtein",
            "Levenshtein-0.27.5-",
            vec![format!("Levenshtein/levenshtein_cpp{suffix}")],
        ),
        (
            "cysignals",
            "cysignals-1.13.1-",
            ["signals", "alarm", "pysignals", "pselect", "tests"]
                .iter()
                .map(|m| format!("cysignals/{m}{suffix}"))
                .collect(),
        ),
    ];
    let out = tree().recipe(&["test", "levenshtein", "cysignals", "--target", target]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for (name, prefix, extensions) in &packages {
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
        assert!(tag.starts_with("cp313-cp313-manylinux_2_"), "{file}");
        assert!(tag.ends_with(&format!("_{machine}")), "{file}");
        let platform = tag.trim_start_matches("cp313-cp313-");
        assert_eq!(tree().auditwheel_tag(&wheel), platform, "auditwheel agrees with {file}");
        let objects = shared_objects(&wheel);
        for ext in extensions {
            assert!(objects.iter().any(|(n, _)| n == ext), "{ext} in {objects:?}");
        }
        for (n, m) in &objects {
            assert_eq!(*m, e_machine, "{n} is for the target");
        }
    }
}

/// A project beside the real one with an sdist whose backend is
/// scikit-build-core but whose recipe names no host tools.
fn project_without_cmake(root: &Path) {
    let _ = std::fs::remove_dir_all(root);
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["toolchains", "sysroots", "python"] {
        std::fs::create_dir_all(root.join(dir)).expect("mkdir");
        for e in std::fs::read_dir(manifest.join(dir)).expect("read").flatten() {
            std::fs::copy(e.path(), root.join(dir).join(e.file_name())).expect("copy");
        }
    }
    let recipe = root.join("recipes/no-cmake");
    std::fs::create_dir_all(recipe.join("files/sdist")).expect("mkdir");
    std::fs::write(
        recipe.join("files/sdist/PKG-INFO"),
        "Metadata-Version: 2.1\nName: no-cmake\nVersion: 1.0\n",
    )
    .expect("write");
    std::fs::write(
        recipe.join("files/sdist/pyproject.toml"),
        "[build-system]\nrequires = [\"scikit-build-core\"]\nbuild-backend = \"scikit_build_core.build\"\n\n[project]\nname = \"no-cmake\"\nversion = \"1.0\"\n",
    )
    .expect("write");
    std::fs::write(
        recipe.join("recipe.kdl"),
        "package no-cmake {\n    version \"1.0\"\n    license \"MIT\"\n}\nsource path=\"files/sdist\"\nbuild python-wheel {\n    pep517 #true\n}\n",
    )
    .expect("write");
}

#[test]
fn a_cmake_backend_without_its_host_tools_says_which_to_add() {
    let Tree { build, out, .. } = tree();
    let root = build.join("no-cmake-project");
    project_without_cmake(&root);
    let output = Command::new(env!("CARGO_BIN_EXE_recipe"))
        .current_dir(&root)
        .env("RECIPE_CACHE", cache())
        .env("NO_COLOR", "1")
        .args(["build", "no-cmake", "--target", "armv7hf"])
        .arg("--build-dir")
        .arg(build.join("no-cmake-build"))
        .arg("--out-dir")
        .arg(out.join("no-cmake-out"))
        .output()
        .expect("run recipe");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    let flat: String = stderr.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(
        flat.contains("cmake(runbyscikit_build_core.build"),
        "names the tool: {stderr}"
    );
    assert!(flat.contains("`host-dependscmakeninja`"), "says what to add: {stderr}");
}
