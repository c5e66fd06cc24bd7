//! The two Go shapes of Python wheels, end to end for armv7hf, aarch64 and
//! x86_64 in one command:
//! - helmbind (kapitan-helm-bindings shape): a CFFI API-mode extension
//!   compiled against the header and library of a Go c-shared library from
//!   the graph (helmshim), the library vendored by the repair step;
//! - helmpy (helmpy shape): the Go library of every target in one fat wheel
//!   (`_lib/<platform>/`) beside per-platform wheels, the Python side
//!   picking its platform's library at import.
//!
//! `recipe test` installs each wheel with the target's pip and calls the Go
//! code under qemu (natively for x86_64); then the wheels are checked here:
//! contents, ELF machines, tags, identical fat wheels, `auditwheel show`.
//! Plus `recipe lint` on the new options.

use std::path::{Path, PathBuf};

use crate::support::e2e::Tree;
use crate::support::project::Project;

const TARGETS: [(&str, &str, &str, u16); 3] = [
    // (target, wheel machine, _lib dir, ELF e_machine)
    ("armv7hf", "armv7l", "linux-armv7", 40),
    ("aarch64", "aarch64", "linux-arm64", 183),
    ("x86_64", "x86_64", "linux-amd64", 62),
];

/// This module's own tree.
fn tree() -> Tree {
    Tree::own("e2e-gowheels")
}

fn wheels_of(target: &str, prefix: &str) -> Vec<PathBuf> {
    let dir = tree().out.join(target);
    let mut wheels: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".whl"))
        })
        .collect();
    wheels.sort();
    wheels
}

fn name_of(p: &Path) -> String {
    p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string()
}

/// Entries of a wheel: name → bytes.
fn entries(wheel: &Path) -> Vec<(String, Vec<u8>)> {
    let file = std::fs::File::open(wheel).expect("open wheel");
    let mut zip = zip::ZipArchive::new(file).expect("zip");
    (0..zip.len())
        .map(|i| {
            let mut f = zip.by_index(i).expect("entry");
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut data).expect("read");
            (f.name().expect("name").to_string(), data)
        })
        .collect()
}

/// ELF machines of a wheel's shared objects, by name.
fn shared_objects(wheel: &Path) -> Vec<(String, u16)> {
    entries(wheel)
        .into_iter()
        .filter(|(n, _)| n.contains(".so"))
        .map(|(n, d)| {
            assert_eq!(&d[..4], b"\x7fELF", "{n}");
            (n, u16::from_le_bytes([d[18], d[19]]))
        })
        .collect()
}

#[test]
fn go_wheels_for_three_targets_in_one_command() {
    let targets = TARGETS.map(|t| t.0).join(",");
    let out = tree().recipe(&["test", "helmpy", "helmbind", "--target", &targets, "-j1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let mut fat_bytes = Vec::new();
    for (target, machine, lib_dir, e_machine) in TARGETS {
        assert!(
            stderr.contains(&format!("test helmpy@{target}: 6 steps passed")),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("test helmbind@{target}: 4 steps passed")),
            "{stderr}"
        );

        // helmpy: this target's wheel and the fat one.
        let helmpy = wheels_of(target, "helmpy-0.1.0-py3-none-");
        assert_eq!(helmpy.len(), 2, "{helmpy:?}");
        let (fat, own): (Vec<_>, Vec<_>) = helmpy
            .iter()
            .partition(|w| name_of(w).matches("manylinux").count() == 3);
        let (fat, own) = (fat[0], own[0]);
        let own_tag = name_of(own)
            .trim_start_matches("helmpy-0.1.0-py3-none-")
            .trim_end_matches(".whl")
            .to_string();
        assert!(
            own_tag.starts_with("manylinux_2_") && own_tag.ends_with(machine),
            "{own_tag}"
        );
        assert_eq!(
            tree().auditwheel_tag(own),
            own_tag,
            "auditwheel agrees with {}",
            name_of(own)
        );
        assert_eq!(
            shared_objects(own),
            [(format!("helmpy/_lib/{lib_dir}/libhelmshim.so"), e_machine)]
        );
        // The fat wheel: every platform's library, for its own machine,
        // tagged with every platform, the same bytes whichever node built it.
        let mut objects = shared_objects(fat);
        objects.sort();
        let mut expected: Vec<(String, u16)> = TARGETS
            .iter()
            .map(|t| (format!("helmpy/_lib/{}/libhelmshim.so", t.2), t.3))
            .collect();
        expected.sort();
        assert_eq!(objects, expected);
        for t in TARGETS {
            assert!(name_of(fat).contains(&format!("_{}.", t.1)) || name_of(fat).ends_with(&format!("_{}.whl", t.1)));
        }
        let wheel_file = entries(fat)
            .into_iter()
            .find(|(n, _)| n == "helmpy-0.1.0.dist-info/WHEEL")
            .map(|(_, d)| String::from_utf8_lossy(&d).into_owned())
            .expect("WHEEL");
        assert_eq!(
            wheel_file.matches("\nTag: py3-none-manylinux_2_").count(),
            3,
            "{wheel_file}"
        );
        fat_bytes.push(std::fs::read(fat).expect("read fat wheel"));

        // helmbind: an abi3 wheel (the CFFI extension uses the limited API)
        // with the extension and the vendored Go library, both for the
        // target, and a tag auditwheel agrees with.
        let helmbind = wheels_of(target, "helmbind-0.1.0-cp39-abi3-manylinux_2_");
        assert_eq!(helmbind.len(), 1, "{helmbind:?}");
        let tag = name_of(&helmbind[0])
            .trim_end_matches(".whl")
            .rsplit('-')
            .next()
            .unwrap_or_default()
            .to_string();
        assert!(tag.ends_with(machine), "{tag}");
        assert_eq!(tree().auditwheel_tag(&helmbind[0]), tag);
        let objects = shared_objects(&helmbind[0]);
        assert!(
            objects.iter().any(|(n, _)| n.starts_with("helmbind/_helmshim.")),
            "{objects:?}"
        );
        assert!(
            objects
                .iter()
                .any(|(n, _)| n.starts_with("helmbind.libs/libhelmshim-") && n.ends_with(".so")),
            "{objects:?}"
        );
        assert!(objects.iter().all(|(_, m)| *m == e_machine), "{objects:?}");
    }
    assert!(
        fat_bytes.windows(2).all(|w| w[0] == w[1]),
        "the fat wheels differ between targets"
    );

    // Nothing changed: a second build rebuilds nothing.
    let (again, report) = tree().recipe_reported(&["build", "helmpy", "helmbind", "--target", &targets]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert!(report.built_nothing(), "{report}\n{stderr}");
}

#[test]
fn lint_knows_the_wheel_layout_options() {
    let shim = "package shim {\n    version \"1\"\n    license \"MIT\"\n}\nsource path=\"files\"\nbuild go {\n    mode \"c-shared\"\n}\n";
    let fat = |layout: &str, platforms: &str| {
        format!(
            "package fatpy {{\n    version \"1\"\n    license \"MIT\"\n}}\nsource path=\"files\"\ndepends shim\nbuild python-wheel {{\n    lib-dir \"fatpy/_lib/{{{{ target.python.lib_dir }}}}\"\n    bundle \"shim\"\n    layout {layout}\n    platforms {platforms}\n}}\n"
        )
    };
    let project = |layout: &str, platforms: &str| {
        Project::new()
            .recipe("shim", shim)
            .file("recipes/shim/files/main.go", "package main\n")
            .recipe("fatpy", &fat(layout, platforms))
            .file("recipes/fatpy/files/PKG-INFO", "Name: fatpy\nVersion: 1\n")
    };
    project("\"per-platform\" \"fat\"", "\"armv7hf\"")
        .run(&["lint"])
        .code(0)
        .stdout_contains("no problems");
    let bad = project("\"fat\" \"slim\"", "\"armv7hf\" \"arm64\"").run(&["lint"]);
    bad.stderr_contains("`slim` is not one of per-platform, fat")
        .stderr_contains("unknown target `arm64`");
    assert_ne!(bad.code, 0);
}
