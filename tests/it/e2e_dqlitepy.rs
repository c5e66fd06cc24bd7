//! The reference job end to end, from real sources with the real cross
//! toolchains: `recipe test dqlitepy` for armv7hf, aarch64 and x86_64 builds
//! the whole graph, then runs dqlitepy's own Python code against the wheel on
//! each target (under qemu for the ARM targets). Afterwards the wheels are
//! checked independently: ELF headers, tags, and `auditwheel show` from PyPI,
//! and their SBOMs by an SPDX validator.
//!
//! Slow the first time (toolchains, host tools, the C stack: several
//! minutes); the download cache and build tree live under Cargo's target
//! directory so later runs are incremental.

use std::path::Path;

use crate::support::e2e::Tree;
use crate::support::spdx;

#[test]
fn dqlitepy_wheels_build_and_run_on_every_target() {
    let targets = [
        ("armv7hf", "armv7l", 40u16),
        ("aarch64", "aarch64", 183),
        ("x86_64", "x86_64", 62),
    ];
    let tree = Tree::shared();
    let out = tree.recipe(&["test", "dqlitepy", "--target", "armv7hf,aarch64,x86_64"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for (target, machine, e_machine) in targets {
        assert!(
            stderr.contains(&format!("test dqlitepy@{target}: 3 steps passed")),
            "{target}: {stderr}"
        );
        let wheel = tree.wheel(target, "dqlitepy-");
        let name = wheel
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        assert!(name.starts_with("dqlitepy-0.1.0-py3-none-manylinux_2_"), "{name}");
        assert!(name.ends_with(&format!("_{machine}.whl")), "{name}");
        let tag = name
            .trim_start_matches("dqlitepy-0.1.0-py3-none-")
            .trim_end_matches(".whl");
        assert_eq!(
            tree.auditwheel_tag(&wheel),
            tag,
            "auditwheel agrees with the tag we chose"
        );

        // The bundled shim really is a binary for the target.
        let file = std::fs::File::open(&wheel).expect("open wheel");
        let mut zip = zip::ZipArchive::new(file).expect("zip");
        let lib_dir = match target {
            "armv7hf" => "linux-armv7",
            "aarch64" => "linux-arm64",
            _ => "linux-amd64",
        };
        let mut shim = zip
            .by_name(&format!("dqlitepy/_lib/{lib_dir}/libdqlitepy.so"))
            .expect("shim in the wheel");
        let mut head = [0u8; 20];
        std::io::Read::read_exact(&mut shim, &mut head).expect("read");
        assert_eq!(&head[..4], b"\x7fELF");
        assert_eq!(u16::from_le_bytes([head[18], head[19]]), e_machine, "{target}");
        drop(shim);
        check_sbom(&wheel, &name);
    }

    // Nothing changed: a second build rebuilds nothing.
    let (again, report) = tree.recipe_reported(&["build", "dqlitepy", "--target", "armv7hf,aarch64,x86_64"]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert!(report.built_nothing(), "{report}\n{stderr}");
}

/// The wheel's SBOM: valid SPDX naming the wheel with its sha256, the
/// packages bundled into it, the Go module the shim is built from and the
/// host tools that built the C stack; dqlite's license file beside it.
fn check_sbom(wheel: &Path, name: &str) {
    let sbom = wheel.with_file_name("dqlitepy-0.1.0.spdx.json");
    spdx::assert_valid(&sbom);
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&sbom).expect("sbom")).expect("json");
    let packages = spdx::packages(&doc);
    let root = &packages["SPDXRef-Package-dqlitepy"];
    assert_eq!(root["packageFileName"], name);
    let digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(wheel).expect("wheel")))
    };
    assert_eq!(root["checksums"][0]["checksumValue"], digest.as_str());
    let rels = spdx::relationships(&doc);
    let has = |r: &str| rels.iter().any(|x| x == r);
    for bundled in ["dqlitepy-shim", "dqlite", "libuv", "sqlite", "lz4"] {
        assert!(
            has(&format!("SPDXRef-Package-dqlitepy CONTAINS SPDXRef-Package-{bundled}")),
            "{bundled} in {rels:#?}"
        );
    }
    assert!(has(
        "SPDXRef-Package-dqlitepy-shim DEPENDS_ON SPDXRef-Package-go-dqlite"
    ));
    assert!(has("SPDXRef-HostTool-autoconf BUILD_TOOL_OF SPDXRef-HostTool-automake"));
    assert!(
        rels.iter()
            .any(|r| r.starts_with("SPDXRef-HostTool-") && r.ends_with("BUILD_TOOL_OF SPDXRef-Package-dqlite")),
        "{rels:#?}"
    );
    assert_eq!(
        packages["SPDXRef-Source-Package-dqlite-1"]["checksums"][0]["checksumValue"],
        "cf244ef937d419edd93aed3960d8222b38f09af82acca78fde586c3d04c35a52"
    );
    assert!(wheel.with_file_name("licenses/dqlite-1.18.7/LICENSE").is_file());
}
