//! zlib, the package of README's "Writing a recipe" walk-through, end to end
//! on armv7hf: its Debian orig tarball, configure run as a build step with
//! the cross compiler, a program linked against it run under qemu, then its
//! license files and its SBOM (checked by a real SPDX validator).

use crate::support::e2e::Tree;
use crate::support::spdx;

use std::path::PathBuf;
use std::process::Command;

const SOURCE_SHA256: &str = "60dd315c07f616887caa029408308a018ace66e3d142726a97db164b3b8f69fb";

fn dirs() -> (PathBuf, PathBuf, PathBuf) {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e-zlib");
    let cache = std::env::var_os("RECIPE_CACHE").map_or_else(|| base.join("cache"), PathBuf::from);
    (cache, base.join("build"), base.join("out"))
}

fn recipe(args: &[&str]) -> (bool, String) {
    let (cache, build, out) = dirs();
    let output = Command::new(env!("CARGO_BIN_EXE_recipe"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RECIPE_CACHE", &cache)
        .env("NO_COLOR", "1")
        .args(args)
        .arg("--build-dir")
        .arg(&build)
        .arg("--out-dir")
        .arg(&out)
        .output()
        .expect("run recipe");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn zlib_builds_runs_on_armv7hf_with_its_licenses_and_a_valid_sbom() {
    let (ok, stderr) = recipe(&["test", "zlib", "--target", "armv7hf"]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("test zlib@armv7hf: 4 steps passed"), "{stderr}");
    assert!(!stderr.contains("warning: zlib@"), "{stderr}");

    let (_, _, out) = dirs();
    let out = out.join("armv7hf");
    let license = std::fs::read_to_string(out.join("licenses/zlib-1.3.1/LICENSE")).expect("zlib's LICENSE collected");
    assert!(license.contains("Jean-loup Gailly and Mark Adler"), "{license}");

    let sbom = out.join("zlib-1.3.1.spdx.json");
    spdx::assert_valid(&sbom);
    let bytes = std::fs::read(&sbom).expect("sbom");
    let doc: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    let packages = spdx::packages(&doc);
    let zlib = &packages["SPDXRef-Package-zlib"];
    assert_eq!(zlib["versionInfo"], "1.3.1");
    assert_eq!(zlib["licenseDeclared"], "Zlib");
    assert_eq!(zlib["packageFileName"], "zlib-1.3.1.tar.gz");
    let source = &packages["SPDXRef-Source-Package-zlib-1"];
    assert_eq!(source["checksums"][0]["checksumValue"], SOURCE_SHA256);
    let location = source["downloadLocation"].as_str().unwrap_or_default();
    assert!(
        location.ends_with("/pool/main/z/zlib/zlib_1.3.dfsg+really1.3.1.orig.tar.gz"),
        "{location}"
    );
    let tarball = out.join("zlib-1.3.1.tar.gz");
    if tarball.exists() {
        let digest = recipe_sha256(&tarball);
        assert_eq!(zlib["checksums"][0]["checksumValue"], digest.as_str());
    }
    assert!(spdx::relationships(&doc).contains(&"SPDXRef-DOCUMENT DESCRIBES SPDXRef-Package-zlib".to_string()));

    // The validator is not a rubber stamp: a dangling reference fails it.
    let broken = out.join("broken.spdx.json");
    let text = String::from_utf8_lossy(&bytes).replace(
        "\"relatedSpdxElement\": \"SPDXRef-Source-Package-zlib-1\"",
        "\"relatedSpdxElement\": \"SPDXRef-Source-Package-nothing\"",
    );
    std::fs::write(&broken, text).expect("write");
    spdx::assert_invalid(&broken);
    std::fs::remove_file(&broken).expect("remove");

    // Up to date: nothing rebuilt, the same SBOM written again, byte for byte.
    std::fs::remove_file(&sbom).expect("remove sbom");
    let (again, report) = Tree::own("e2e-zlib").recipe_reported(&["build", "zlib", "--target", "armv7hf"]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert!(report.built_nothing(), "{report}\n{stderr}");
    assert_eq!(std::fs::read(&sbom).expect("sbom again"), bytes);
}

fn recipe_sha256(path: &std::path::Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).expect("read")))
}
