use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::spdx::{self, Artifact, Member};
use super::*;
use crate::recipe::SourceFile;

const SHA: &str = "60dd315c07f616887caa029408308a018ace66e3d142726a97db164b3b8f69fb";

fn render(text: &str, target: &str) -> Recipe {
    let raw = crate::recipe::parse::parse_recipe(SourceFile::new("recipe.kdl", text), Path::new("/r")).expect("parses");
    let mut r = crate::plan::render::render(&raw, &crate::toolchain::activate::host_target()).expect("renders");
    r.target = target.to_string();
    r
}

/// A recipe with a Debian source, for `target`.
pub(crate) fn recipe(name: &str, depends: &[&str], host_depends: &[&str]) -> Recipe {
    let mut text = format!(
        "package {name} {{\n version \"1.3.1\"\n license \"Zlib\"\n homepage \"http://zlib.net/\"\n}}\nsource debian=\"{name}\" {{\n file \"{name}_{{{{ version }}}}.orig.tar.gz\"\n sha256 \"{SHA}\"\n}}\nbuild make\n"
    );
    if !depends.is_empty() {
        text.push_str(&format!("depends {}\n", depends.join(" ")));
    }
    if !host_depends.is_empty() {
        text.push_str(&format!("host-depends {}\n", host_depends.join(" ")));
    }
    render(&text, "armv7hf")
}

fn packages(doc: &Value) -> BTreeMap<String, Value> {
    doc["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["SPDXID"].as_str().expect("id").to_string(), p.clone()))
        .collect()
}

fn relationships(doc: &Value) -> Vec<String> {
    doc["relationships"]
        .as_array()
        .expect("relationships")
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r["spdxElementId"].as_str().unwrap_or_default(),
                r["relationshipType"].as_str().unwrap_or_default(),
                r["relatedSpdxElement"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

fn wheel_graph() -> (Recipe, Recipe, Recipe, Recipe) {
    let wheel = render(
        "package my_py { version \"0.1.0\"; license \"Apache-2.0\"; }\nsource pypi=\"my-py\" { file \"my_py-0.1.0.tar.gz\"; sha256 \"60dd315c07f616887caa029408308a018ace66e3d142726a97db164b3b8f69fb\"; }\nsource path=\"files/shim\"\ndepends shim\nbuild python-wheel { bundle \"shim\"; env SOURCE_DATE_EPOCH=\"1700000000\"; }\n",
        "armv7hf",
    );
    let shim = recipe("shim", &["zlib"], &[]);
    let zlib = recipe("zlib", &[], &["pkgconf"]);
    let mut pkgconf = recipe("pkgconf", &[], &[]);
    pkgconf.target = HOST.into();
    (wheel, shim, zlib, pkgconf)
}

fn input<'a>(wheel: &'a Recipe, others: &[(&'a Recipe, bool)], sha: Option<&str>) -> spdx::Input<'a> {
    spdx::Input {
        root: Member {
            recipe: wheel,
            host: false,
        },
        members: others
            .iter()
            .map(|(recipe, host)| Member { recipe, host: *host })
            .collect(),
        contained: BTreeSet::from(["shim".to_string()]),
        artifact: Artifact {
            file_name: "my_py-0.1.0-py3-none-linux_armv7l.whl".into(),
            sha256: sha.map(str::to_string),
        },
        license_files: BTreeMap::from([("zlib".to_string(), vec!["licenses/zlib-1.3.1/LICENSE".to_string()])]),
        created_epoch: 315_532_800,
        debian_archive: Some("http://127.0.0.1:9/debian".into()),
    }
}

#[test]
fn names_every_package_source_and_the_artifact() {
    let (wheel, shim, zlib, pkgconf) = wheel_graph();
    let doc = spdx::document(&input(
        &wheel,
        &[(&shim, false), (&zlib, false), (&pkgconf, true)],
        Some(SHA),
    ));
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(doc["creationInfo"]["created"], "1980-01-01T00:00:00Z");
    let p = packages(&doc);
    let root = &p["SPDXRef-Package-my.upy"];
    assert_eq!(root["packageFileName"], "my_py-0.1.0-py3-none-linux_armv7l.whl");
    assert_eq!(root["checksums"][0]["checksumValue"], SHA);
    assert_eq!(root["licenseDeclared"], "Apache-2.0");
    assert_eq!(p["SPDXRef-Package-zlib"]["versionInfo"], "1.3.1");
    assert!(
        p["SPDXRef-Package-zlib"]["comment"]
            .as_str()
            .is_some_and(|c| c.contains("licenses/zlib-1.3.1/LICENSE"))
    );
    let src = &p["SPDXRef-Source-Package-zlib-1"];
    assert_eq!(
        src["downloadLocation"],
        "http://127.0.0.1:9/debian/pool/main/z/zlib/zlib_1.3.1.orig.tar.gz"
    );
    assert_eq!(src["checksums"][0]["algorithm"], "SHA256");
    assert_eq!(src["checksums"][0]["checksumValue"], SHA);
    // The index is asked for nothing: a Python source is named, not located.
    assert_eq!(p["SPDXRef-Source-Package-my.upy-1"]["downloadLocation"], "NOASSERTION");
    assert!(p["SPDXRef-Source-Package-my.upy-2"].get("checksums").is_none());
    // Only the first source is the package's own upstream.
    assert_eq!(p["SPDXRef-Source-Package-my.upy-1"]["licenseDeclared"], "Apache-2.0");
    assert_eq!(p["SPDXRef-Source-Package-my.upy-2"]["licenseDeclared"], "NOASSERTION");
    let rels = relationships(&doc);
    for expected in [
        "SPDXRef-DOCUMENT DESCRIBES SPDXRef-Package-my.upy",
        "SPDXRef-Package-my.upy CONTAINS SPDXRef-Package-shim",
        "SPDXRef-Package-my.upy DEPENDS_ON SPDXRef-Package-shim",
        "SPDXRef-Package-shim DEPENDS_ON SPDXRef-Package-zlib",
        "SPDXRef-HostTool-pkgconf BUILD_TOOL_OF SPDXRef-Package-zlib",
        "SPDXRef-Package-zlib GENERATED_FROM SPDXRef-Source-Package-zlib-1",
        "SPDXRef-HostTool-pkgconf GENERATED_FROM SPDXRef-Source-HostTool-pkgconf-1",
    ] {
        assert!(rels.iter().any(|r| r == expected), "{expected} missing from {rels:#?}");
    }
    let mut sorted = rels.clone();
    sorted.sort();
    assert_eq!(rels, sorted);
}

#[test]
fn same_inputs_same_bytes_and_the_namespace_follows_the_content() {
    let (wheel, shim, zlib, pkgconf) = wheel_graph();
    let a = spdx::to_bytes(&spdx::document(&input(
        &wheel,
        &[(&shim, false), (&zlib, false), (&pkgconf, true)],
        Some(SHA),
    )));
    // Members in another order: the same document.
    let b = spdx::to_bytes(&spdx::document(&input(
        &wheel,
        &[(&pkgconf, true), (&zlib, false), (&shim, false)],
        Some(SHA),
    )));
    assert_eq!(a, b);
    let c = spdx::document(&input(
        &wheel,
        &[(&shim, false), (&zlib, false), (&pkgconf, true)],
        None,
    ));
    let a: Value = serde_json::from_slice(&a).expect("json");
    assert_ne!(a["documentNamespace"], c["documentNamespace"]);
    assert!(
        a["documentNamespace"]
            .as_str()
            .is_some_and(|n| n.starts_with("https://spdx.org/spdxdocs/recipe/my_py-0.1.0-armv7hf-"))
    );
    // Named even when missing.
    let root = &packages(&c)["SPDXRef-Package-my.upy"];
    assert_eq!(root["packageFileName"], "my_py-0.1.0-py3-none-linux_armv7l.whl");
    assert!(root["comment"].as_str().is_some_and(|t| t.contains("not found")));
}

#[test]
fn free_text_licenses_are_not_passed_off_as_expressions() {
    let mut r = recipe("zlib", &[], &[]);
    r.license = Some("see the README, it's complicated".into());
    let doc = spdx::document(&input(&r, &[], None));
    assert_eq!(packages(&doc)["SPDXRef-Package-zlib"]["licenseDeclared"], "NOASSERTION");
}

/// A plan of three target packages and a host tool with staged outputs.
fn staged_plan(base: PathBuf) -> (BTreeMap<NodeId, Recipe>, impl Fn(&NodeId) -> PathBuf) {
    let (wheel, shim, zlib, pkgconf) = wheel_graph();
    let mut recipes = BTreeMap::new();
    for r in [wheel, shim, zlib, pkgconf] {
        recipes.insert(
            NodeId {
                name: r.name.clone(),
                target: r.target.clone(),
            },
            r,
        );
    }
    let staged = move |id: &NodeId| base.join(&id.target).join(&id.name).join("dest");
    (recipes, staged)
}

#[test]
fn publish_writes_licenses_and_the_sbom_and_warns_about_none() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (recipes, staged) = staged_plan(tmp.path().join("build"));
    let out = tmp.path().join("out/armv7hf");
    let zlib = NodeId {
        name: "zlib".into(),
        target: "armv7hf".into(),
    };
    let lic = licenses::staged_dir(&staged(&zlib), "zlib");
    std::fs::create_dir_all(&lic).expect("mkdir");
    std::fs::write(lic.join("LICENSE"), "zlib license\n").expect("write");
    std::fs::create_dir_all(&out).expect("mkdir");
    std::fs::write(out.join("zlib-1.3.1.tar.gz"), "not really a tarball").expect("write");
    let state = tmp.path().join("state");
    std::fs::create_dir_all(&state).expect("mkdir");
    let publish_one = |node: &NodeId| {
        publish(&Publish {
            node,
            recipes: &recipes,
            staged: &staged,
            out_dir: &out,
            artifacts: &[],
            state_dir: &state,
            debian_archive: None,
        })
        .expect("publish")
    };
    let done = publish_one(&zlib);
    assert!(done.warnings.is_empty(), "{:?}", done.warnings);
    assert_eq!(
        std::fs::read_to_string(out.join("licenses/zlib-1.3.1/LICENSE")).expect("license"),
        "zlib license\n"
    );
    let first = std::fs::read(&done.sbom).expect("sbom");
    assert_eq!(done.sbom, out.join("zlib-1.3.1.spdx.json"));
    let doc: Value = serde_json::from_slice(&first).expect("json");
    let p = packages(&doc);
    assert_eq!(
        p["SPDXRef-Package-zlib"]["checksums"][0]["checksumValue"],
        crate::digest::sha256_file(&out.join("zlib-1.3.1.tar.gz")).expect("sha")
    );
    assert!(p.contains_key("SPDXRef-HostTool-pkgconf"));
    assert!(!p.contains_key("SPDXRef-Package-shim"), "only what went into zlib");
    assert_eq!(publish_one(&zlib).sbom, done.sbom);
    assert_eq!(std::fs::read(&done.sbom).expect("sbom"), first, "deterministic");
    // A replaced artifact of the same size is hashed again.
    std::fs::write(out.join("zlib-1.3.1.tar.gz.new"), "not really a tarbalL").expect("write");
    std::fs::rename(out.join("zlib-1.3.1.tar.gz.new"), out.join("zlib-1.3.1.tar.gz")).expect("rename");
    publish_one(&zlib);
    let doc: Value = serde_json::from_slice(&std::fs::read(&done.sbom).expect("sbom")).expect("json");
    assert_eq!(
        packages(&doc)["SPDXRef-Package-zlib"]["checksums"][0]["checksumValue"],
        crate::digest::sha256_file(&out.join("zlib-1.3.1.tar.gz")).expect("sha")
    );

    // shim declares a license but its sources had no license file.
    let shim = NodeId {
        name: "shim".into(),
        target: "armv7hf".into(),
    };
    let warned = publish_one(&shim);
    assert_eq!(warned.warnings.len(), 1, "{:?}", warned.warnings);
    assert!(warned.warnings[0].contains("shim@armv7hf"), "{:?}", warned.warnings);
    assert!(warned.license_dir.is_none());
    let doc: Value =
        serde_json::from_slice(&std::fs::read(out.join("shim-1.3.1.spdx.json")).expect("sbom")).expect("json");
    let p = packages(&doc);
    assert!(
        p["SPDXRef-Package-shim"]["comment"]
            .as_str()
            .is_some_and(|c| c.contains("shim-1.3.1.tar.gz was not found"))
    );
    assert!(
        p["SPDXRef-Package-zlib"]["comment"]
            .as_str()
            .is_some_and(|c| c.contains("licenses/zlib-1.3.1/LICENSE"))
    );
}

#[test]
fn a_wheel_contains_the_packages_whose_libraries_it_carries() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (mut recipes, staged) = staged_plan(tmp.path().join("build"));
    // Not in `bundle`, but the bundler pulled its library in.
    for r in recipes.values_mut() {
        if let crate::recipe::options::KindOptions::PythonWheel(w) = &mut r.build.typed {
            w.bundle.clear();
        }
    }
    let out = tmp.path().join("out/armv7hf");
    std::fs::create_dir_all(&out).expect("mkdir");
    for (name, lib) in [("shim", "libshim.so"), ("zlib", "libz.so.1")] {
        let dir = staged(&NodeId {
            name: name.into(),
            target: "armv7hf".into(),
        })
        .join("usr/lib");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join(lib), "elf").expect("write");
    }
    let wheel = out.join("my_py-0.1.0-py3-none-linux_armv7l.whl");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&wheel).expect("create"));
    zip.start_file("my_py/_lib/libz.so.1", zip::write::SimpleFileOptions::default())
        .expect("entry");
    std::io::Write::write_all(&mut zip, b"elf").expect("write");
    zip.finish().expect("finish");
    let node = NodeId {
        name: "my_py".into(),
        target: "armv7hf".into(),
    };
    let done = publish(&Publish {
        node: &node,
        recipes: &recipes,
        staged: &staged,
        out_dir: &out,
        artifacts: std::slice::from_ref(&wheel),
        state_dir: tmp.path(),
        debian_archive: None,
    })
    .expect("publish");
    assert_eq!(done.sbom, out.join("my_py-0.1.0.spdx.json"));
    let doc: Value = serde_json::from_slice(&std::fs::read(&done.sbom).expect("sbom")).expect("json");
    let rels = relationships(&doc);
    assert!(
        rels.contains(&"SPDXRef-Package-my.upy CONTAINS SPDXRef-Package-zlib".to_string()),
        "{rels:#?}"
    );
    assert!(
        !rels.contains(&"SPDXRef-Package-my.upy CONTAINS SPDXRef-Package-shim".to_string()),
        "{rels:#?}"
    );
    assert_eq!(
        doc["creationInfo"]["created"], "2023-11-14T22:13:20Z",
        "the recipe's SOURCE_DATE_EPOCH"
    );
}

/// A source shipped in the recipe's directory is named relative to it: the
/// same project checked out elsewhere gives the same document.
#[test]
fn a_recipe_directory_source_does_not_name_the_checkout() {
    let text =
        "package golib { version \"0.1\"; license \"MIT\"; }\nsource path=\"src\"\nbuild script { step \"true\"; }\n";
    let at = |dir: &str| {
        let raw =
            crate::recipe::parse::parse_recipe(SourceFile::new("recipe.kdl", text), Path::new(dir)).expect("parses");
        let mut r = crate::plan::render::render(&raw, &crate::toolchain::activate::host_target()).expect("renders");
        r.target = "armv7hf".into();
        r
    };
    let (one, two) = (at("/tmp/one/recipes/golib"), at("/var/two/deeper/recipes/golib"));
    let doc = |r: &Recipe| spdx::to_bytes(&spdx::document(&input(r, &[], Some(SHA))));
    let first = String::from_utf8(doc(&one)).expect("utf-8");
    assert!(!first.contains("/tmp/one"), "{first}");
    assert_eq!(first.as_bytes(), doc(&two), "same document wherever the project is");
}
