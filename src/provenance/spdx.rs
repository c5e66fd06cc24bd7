//! An SPDX 2.3 JSON document for one artifact: the package, every package
//! that went into it (target dependencies, what it bundles, host tools as
//! build tools), each with its version, declared license and sources (where
//! they come from, their sha256), and the artifact file with its sha256.
//!
//! Deterministic: no wall-clock time (`created` is the build's
//! `SOURCE_DATE_EPOCH`), sorted packages and relationships, and a document
//! namespace derived from the content.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::recipe::Recipe;
use crate::recipe::rendered::{Origin, Source};

/// One package of the document: a rendered recipe and its side.
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    pub recipe: &'a Recipe,
    /// A host tool (built for the build machine) rather than a target package.
    pub host: bool,
}

/// The artifact file the document describes.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub file_name: String,
    /// `None` when the file is not there (yet): it is named all the same.
    pub sha256: Option<String>,
}

pub struct Input<'a> {
    pub root: Member<'a>,
    /// Every other package reachable from the root through `depends` and
    /// `host-depends`, in any order.
    pub members: Vec<Member<'a>>,
    /// Target packages whose files the artifact carries (a wheel's bundle).
    pub contained: BTreeSet<String>,
    pub artifact: Artifact,
    /// Relative paths (from the document) of each target package's license
    /// files, by package name.
    pub license_files: BTreeMap<String, Vec<String>>,
    pub created_epoch: u64,
    /// Base URL of the configured Debian archive, for `debian=` sources.
    pub debian_archive: Option<String>,
}

const NOASSERTION: &str = "NOASSERTION";

/// The SPDX id fragment of a package name: ids allow letters, digits, `.`
/// and `-`, so `.` is doubled and `_` becomes `.u` (no two names meet).
fn id_part(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        match c {
            '.' => s.push_str(".."),
            '_' => s.push_str(".u"),
            c if c.is_ascii_alphanumeric() || c == '-' => s.push(c),
            c => s.push_str(&format!(".x{:x}", u32::from(c))),
        }
    }
    s
}

fn package_id(m: &Member) -> String {
    let kind = if m.host { "HostTool" } else { "Package" };
    format!("SPDXRef-{kind}-{}", id_part(&m.recipe.name))
}

/// A declared license as the recipe wrote it, when it reads as an SPDX
/// expression; free text would make the document invalid.
fn license(recipe: &Recipe) -> String {
    match recipe.license.as_deref().map(str::trim) {
        Some(l) if !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || " .-+():".contains(c)) => {
            l.to_string()
        }
        _ => NOASSERTION.to_string(),
    }
}

fn is_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://")) && !s.contains(char::is_whitespace)
}

/// Where a source is downloaded from, and how it was named in the recipe.
fn location(source: &Source, recipe_dir: &std::path::Path, debian_archive: Option<&str>) -> (String, String) {
    match &source.origin {
        Origin::Url { url } if is_url(url) => (url.clone(), "a URL".into()),
        Origin::Url { url } => (NOASSERTION.into(), format!("the URL {url}")),
        Origin::Debian { package } => (
            debian_archive.map_or_else(
                || NOASSERTION.to_string(),
                |base| crate::fetch::debian_mirror::pool_url(base, package, &source.file),
            ),
            format!("Debian source package {package}"),
        ),
        Origin::Pypi { project } => (NOASSERTION.into(), format!("Python package index project {project}")),
        // Relative: where the project is checked out is not provenance.
        Origin::Path { path } => (
            NOASSERTION.into(),
            format!(
                "{} in the recipe's directory",
                path.strip_prefix(recipe_dir).unwrap_or(path).display()
            ),
        ),
    }
}

fn source_packages(m: &Member, input: &Input, packages: &mut Vec<Value>, rels: &mut Vec<(String, String, String)>) {
    let owner = package_id(m);
    for (i, s) in m.recipe.sources.iter().enumerate() {
        let id = format!("SPDXRef-Source-{}-{}", owner.trim_start_matches("SPDXRef-"), i + 1);
        let (download, from) = location(s, &m.recipe.dir, input.debian_archive.as_deref());
        // The first source is the package's own; later ones (vendored
        // modules, extra files) have versions and licenses of their own.
        let declared = if i == 0 {
            license(m.recipe)
        } else {
            NOASSERTION.to_string()
        };
        let mut p = json!({
            "SPDXID": id,
            "name": s.file,
            "packageFileName": s.file,
            "downloadLocation": download,
            "filesAnalyzed": false,
            "licenseConcluded": NOASSERTION,
            "licenseDeclared": declared,
            "copyrightText": NOASSERTION,
            "primaryPackagePurpose": "SOURCE",
            "sourceInfo": format!("source {} of {}: {from}", i + 1, m.recipe.name),
        });
        if s.sha256.len() == 64 {
            p["checksums"] = json!([{ "algorithm": "SHA256", "checksumValue": s.sha256 }]);
        }
        packages.push(p);
        rels.push((owner.clone(), "GENERATED_FROM".into(), id));
    }
}

fn package(m: &Member, input: &Input) -> Value {
    let r = m.recipe;
    let mut p = json!({
        "SPDXID": package_id(m),
        "name": r.name,
        "versionInfo": r.version,
        // Built here from the sources it is generated from.
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": false,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": license(r),
        "copyrightText": NOASSERTION,
    });
    if let Some(h) = r.homepage.as_deref().filter(|h| is_url(h)) {
        p["homepage"] = json!(h);
    }
    if let Some(s) = &r.summary {
        p["summary"] = json!(s);
    }
    let mut comment = Vec::new();
    if m.host {
        p["primaryPackagePurpose"] = json!("APPLICATION");
        comment.push(
            "a host tool: built for the build machine, used to build the packages it is a build tool of".to_string(),
        );
    } else if let Some(files) = input.license_files.get(&r.name).filter(|f| !f.is_empty()) {
        comment.push(format!("license files: {}", files.join(", ")));
    }
    if !m.host && r.name == input.root.recipe.name {
        p["packageFileName"] = json!(input.artifact.file_name);
        match &input.artifact.sha256 {
            Some(sha) => p["checksums"] = json!([{ "algorithm": "SHA256", "checksumValue": sha }]),
            None => comment.push(format!(
                "the artifact {} was not found when this document was written",
                input.artifact.file_name
            )),
        }
    }
    if !comment.is_empty() {
        p["comment"] = json!(comment.join("; "));
    }
    p
}

/// The document, with its namespace derived from everything else in it.
pub fn document(input: &Input) -> Value {
    let mut members: Vec<Member> = vec![input.root];
    members.extend(input.members.iter().copied());
    members.sort_by_key(package_id);
    members.dedup_by_key(|m| package_id(m));
    let by_name_target: BTreeMap<(&str, bool), String> = members
        .iter()
        .map(|m| ((m.recipe.name.as_str(), m.host), package_id(m)))
        .collect();
    let root_id = package_id(&input.root);

    let mut packages = Vec::new();
    let mut rels: Vec<(String, String, String)> =
        vec![("SPDXRef-DOCUMENT".into(), "DESCRIBES".into(), root_id.clone())];
    for m in &members {
        packages.push(package(m, input));
        source_packages(m, input, &mut packages, &mut rels);
        let id = package_id(m);
        // A host tool's own dependencies are host builds too.
        for d in &m.recipe.depends {
            if let Some(dep) = by_name_target.get(&(d.as_str(), m.host)) {
                rels.push((id.clone(), "DEPENDS_ON".into(), dep.clone()));
            }
        }
        for h in &m.recipe.host_depends {
            if let Some(tool) = by_name_target.get(&(h.as_str(), true)) {
                rels.push((tool.clone(), "BUILD_TOOL_OF".into(), id.clone()));
            }
        }
    }
    for c in &input.contained {
        if let Some(dep) = by_name_target.get(&(c.as_str(), false))
            && *dep != root_id
        {
            rels.push((root_id.clone(), "CONTAINS".into(), dep.clone()));
        }
    }
    packages.sort_by(|a, b| a["SPDXID"].as_str().cmp(&b["SPDXID"].as_str()));
    rels.sort();
    rels.dedup();
    let relationships: Vec<Value> = rels
        .into_iter()
        .map(|(a, kind, b)| json!({ "spdxElementId": a, "relationshipType": kind, "relatedSpdxElement": b }))
        .collect();

    let r = input.root.recipe;
    let name = format!("{}-{}-{}", r.name, r.version, r.target);
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name,
        "documentNamespace": "",
        "creationInfo": {
            "created": crate::timefmt::rfc3339(input.created_epoch),
            "creators": [format!("Tool: recipe-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": packages,
        "relationships": relationships,
    });
    let digest = hex::encode(Sha256::digest(to_bytes(&doc)));
    let uri_safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    doc["documentNamespace"] = json!(format!("https://spdx.org/spdxdocs/recipe/{uri_safe}-{}", &digest[..32]));
    doc
}

/// Pretty JSON with a final newline; object keys come out in a fixed order
/// (sorted, or as inserted where serde_json preserves order), either way
/// the same on every run.
pub fn to_bytes(doc: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(doc).unwrap_or_default();
    out.push(b'\n');
    out
}
