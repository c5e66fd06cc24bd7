//! Provenance of artifacts: each package's license files collected beside
//! it (`out/<target>/licenses/<name>-<version>/`) and an SPDX 2.3 SBOM per
//! artifact (`out/<target>/<name>-<version>.spdx.json`).

pub mod licenses;
pub mod spdx;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use crate::plan::graph::{HOST, NodeId};
use crate::recipe::{BuildKind, Recipe};

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ProvenanceError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("license file `{file}` of {package} is not a file (of at most 4 MiB) inside its prepared source tree")]
    #[diagnostic(help(
        "`license-files` paths are relative to the source tree (see `recipe source {package}`); a link out of the tree is refused"
    ))]
    MissingLicenseFile { package: String, file: String },
}

impl ProvenanceError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> ProvenanceError {
        ProvenanceError::Io {
            what: what.into(),
            source,
        }
    }
}

/// What publishing one package's provenance needs.
pub struct Publish<'a> {
    pub node: &'a NodeId,
    /// Every rendered recipe of the plan.
    pub recipes: &'a BTreeMap<NodeId, Recipe>,
    /// Staged output of a package of the plan.
    pub staged: &'a dyn Fn(&NodeId) -> PathBuf,
    /// `out/<target>/`.
    pub out_dir: &'a Path,
    /// The package's artifacts as published (its wheels, its tarball).
    pub artifacts: &'a [PathBuf],
    /// A directory of the package's own (its build dir) where the artifact's
    /// digest is remembered between runs.
    pub state_dir: &'a Path,
    pub debian_archive: Option<&'a str>,
}

/// What was written, and what deserves a warning.
#[derive(Debug, Default)]
pub struct Published {
    pub sbom: PathBuf,
    pub license_dir: Option<PathBuf>,
    pub warnings: Vec<String>,
}

/// The artifact a package's SBOM describes: its wheel, else its tarball
/// `<name>-<version>.tar.gz` (named even when it is not there).
pub fn artifact_path(recipe: &Recipe, out_dir: &Path, artifacts: &[PathBuf]) -> PathBuf {
    artifacts
        .iter()
        .find(|a| a.extension().is_some_and(|e| e == "whl"))
        .cloned()
        .unwrap_or_else(|| out_dir.join(format!("{}-{}.tar.gz", recipe.name, recipe.version)))
}

/// Publishes the license files of a target package and writes its SBOM.
pub fn publish(p: &Publish) -> Result<Published, ProvenanceError> {
    let Some(root) = p.recipes.get(p.node) else {
        return Ok(Published::default());
    };
    let closure = closure(p.node, p.recipes);
    let mut warnings = Vec::new();
    let mut license_files = BTreeMap::new();
    let licenses_root = p.out_dir.join("licenses");
    for id in closure.iter().filter(|id| id.target != HOST) {
        let Some(r) = p.recipes.get(id) else { continue };
        let dir_name = format!("{}-{}", r.name, r.version);
        let staged = (p.staged)(id);
        let files: Vec<String> = if id == p.node {
            licenses::publish(&staged, &r.name, &licenses_root.join(&dir_name))?
        } else {
            let mut f = Vec::new();
            licenses::list_staged(&staged, &r.name, &mut f);
            f
        };
        if id == p.node && files.is_empty() && r.license.is_some() {
            warnings.push(format!(
                "{}@{}: license {:?} declared but no license file found in its sources (name them with `package {{ license-files \"…\" }}`)",
                r.name,
                id.target,
                r.license.as_deref().unwrap_or_default()
            ));
        }
        let rel: Vec<String> = files.iter().map(|f| format!("licenses/{dir_name}/{f}")).collect();
        license_files.insert(r.name.clone(), rel);
    }
    let artifact = artifact_path(root, p.out_dir, p.artifacts);
    let sha256 = artifact_sha256(&artifact, &p.state_dir.join(DIGEST_MEMO));
    let contained = contained(p, root, &closure, &artifact);
    let members: Vec<spdx::Member> = closure
        .iter()
        .filter(|id| *id != p.node)
        .filter_map(|id| {
            p.recipes.get(id).map(|recipe| spdx::Member {
                recipe,
                host: id.target == HOST,
            })
        })
        .collect();
    let input = spdx::Input {
        root: spdx::Member {
            recipe: root,
            host: false,
        },
        members,
        contained,
        artifact: spdx::Artifact {
            file_name: artifact
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sha256,
        },
        license_files,
        created_epoch: source_date_epoch(root),
        debian_archive: p.debian_archive.map(str::to_string),
    };
    let sbom = p.out_dir.join(format!("{}-{}.spdx.json", root.name, root.version));
    write_atomic(&sbom, &spdx::to_bytes(&spdx::document(&input)))?;
    let license_dir = licenses_root.join(format!("{}-{}", root.name, root.version));
    Ok(Published {
        sbom,
        license_dir: license_dir.is_dir().then_some(license_dir),
        warnings,
    })
}

/// Where [`artifact_sha256`] remembers a digest.
const DIGEST_MEMO: &str = "artifact.sha256.json";

/// What identifies one version of a file without reading it: a rewrite or
/// replacement changes the inode or the change time, which no one can set.
fn file_identity(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(format!(
        "{} {} {} {}.{} {}.{}",
        m.dev(),
        m.ino(),
        m.len(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec()
    ))
}

/// The artifact's sha256 (`None` when it is not there). A no-op build does
/// not read a large wheel again: the digest is kept with the identity of
/// the file it was computed from.
fn artifact_sha256(artifact: &Path, memo: &Path) -> Option<String> {
    let identity = file_identity(artifact)?;
    let key = format!("{} {identity}", artifact.display());
    let remembered: Option<(String, String)> = std::fs::read(memo).ok().and_then(|b| serde_json::from_slice(&b).ok());
    if let Some((k, sha)) = remembered
        && k == key
        && sha.len() == 64
    {
        return Some(sha);
    }
    let sha = crate::digest::sha256_file(artifact).ok()?;
    // Only a cache: a failure to write it costs a read next time.
    if let Ok(bytes) = serde_json::to_vec(&(key, &sha)) {
        let _ = write_atomic(memo, &bytes);
    }
    Some(sha)
}

/// The package and everything it needs: `depends` on its own target,
/// `host-depends` (and theirs) on the build machine.
fn closure(node: &NodeId, recipes: &BTreeMap<NodeId, Recipe>) -> BTreeSet<NodeId> {
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([node.clone()]);
    while let Some(id) = queue.pop_front() {
        if !seen.insert(id.clone()) {
            continue;
        }
        let Some(r) = recipes.get(&id) else { continue };
        let deps = r.depends.iter().map(|d| NodeId {
            name: d.clone(),
            target: id.target.clone(),
        });
        let tools = r.host_depends.iter().map(|h| NodeId {
            name: h.clone(),
            target: HOST.to_string(),
        });
        queue.extend(deps.chain(tools).filter(|n| recipes.contains_key(n)));
    }
    seen
}

/// Target packages whose files are inside the artifact: a wheel's `bundle`
/// and every package with a shared library of the same name in the wheel
/// (what the bundler pulled in). A tarball carries the package's own files.
fn contained(p: &Publish, root: &Recipe, closure: &BTreeSet<NodeId>, artifact: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if root.build.kind != BuildKind::PythonWheel {
        return out;
    }
    if let crate::recipe::options::KindOptions::PythonWheel(w) = &root.build.typed {
        out.extend(w.bundle.iter().cloned());
    }
    let in_wheel = wheel_file_names(artifact);
    for id in closure.iter().filter(|id| id.target != HOST && *id != p.node) {
        let mut libs = Vec::new();
        shared_libraries(&(p.staged)(id), &mut libs);
        if libs.iter().any(|l| in_wheel.contains(l)) {
            out.insert(id.name.clone());
        }
    }
    out
}

/// Names of the shared libraries (`*.so`, `*.so.N…`) in a staged tree.
fn shared_libraries(dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        let name = e.file_name().to_string_lossy().into_owned();
        if ft.is_dir() {
            shared_libraries(&e.path(), out);
        } else if name.ends_with(".so") || name.contains(".so.") {
            out.push(name);
        }
    }
}

/// Base names of a wheel's entries (none when it cannot be read).
fn wheel_file_names(wheel: &Path) -> BTreeSet<String> {
    let Ok(file) = std::fs::File::open(wheel) else {
        return BTreeSet::new();
    };
    let Ok(zip) = zip::ZipArchive::new(file) else {
        return BTreeSet::new();
    };
    zip.file_names()
        .filter_map(|n| n.ok())
        .filter_map(|n| n.rsplit('/').next().map(str::to_string))
        .filter(|n| !n.is_empty())
        .collect()
}

/// The recipe's own `SOURCE_DATE_EPOCH` (`env` of its build), else the one
/// every build gets.
fn source_date_epoch(recipe: &Recipe) -> u64 {
    recipe
        .build
        .env
        .iter()
        .rev()
        .find(|(k, _)| k == "SOURCE_DATE_EPOCH")
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(crate::toolchain::env::DEFAULT_SOURCE_DATE_EPOCH)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ProvenanceError> {
    let fail = |e| ProvenanceError::io(format!("cannot write {}", path.display()), e);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    // Unchanged content keeps its file (and its time) untouched.
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(e)
    })
}

#[cfg(test)]
pub(crate) mod tests;
