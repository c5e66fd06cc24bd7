//! `recipe new`: a first recipe from a URL or a Python sdist. The file is
//! downloaded into the download cache (its sha256 computed while
//! streaming), unpacked with the one safe unpacker into a temporary
//! directory, and looked at: build kind ([`detect`]), license
//! ([`license`], or the sdist's `PKG-INFO`), version (file name or index).
//! Debian sources come from the suite's verified `Sources` index, so their
//! sha256 is checked, not just computed.
//! The recipe is written only after all of that worked, and never over an
//! existing one.

pub mod detect;
pub mod emit;
pub mod license;
pub mod pkginfo;
pub mod version;

use std::io::Write;
use std::path::{Path, PathBuf};

use miette::Diagnostic;
use thiserror::Error;

use crate::debian::index::Archive;
use crate::debian::sources::{SourceEntry, source_versions};
use crate::fetch::pypi::{IndexFile, absolute_link, normalize_project, project_files};
use crate::fetch::{FetchContext, FetchError, check_file_name, download_new, download_verified};
use crate::recipe::BuildKind;
use crate::recipe::parse::is_valid_name;
use emit::{Draft, SourceLine};

#[derive(Debug, Error, Diagnostic)]
pub enum ScaffoldError {
    #[error("invalid package name `{name}`")]
    #[diagnostic(
        code(recipe::new::bad_name),
        help(
            "names use lowercase letters, digits, `-`, `_` and `.`, start with a letter or digit, and have at most 64 characters"
        )
    )]
    BadName { name: String },

    #[error("{} already exists", path.display())]
    #[diagnostic(
        code(recipe::new::exists),
        help("`recipe new` never overwrites a recipe: edit it, or choose another name")
    )]
    Exists { path: PathBuf },

    #[error("cannot use `{url}` as a source: {reason}")]
    #[diagnostic(
        code(recipe::new::bad_url),
        help("give the URL of an archive, e.g. …/name-1.2.3.tar.gz")
    )]
    BadUrl { url: String, reason: String },

    #[error("cannot tell the version from the file name `{file}`")]
    #[diagnostic(code(recipe::new::no_version), help("give it: `recipe new … --version VER`"))]
    NoVersion { file: String },

    #[error("project `{project}` has no source distribution{} on the index", version.as_ref().map(|v| format!(" for version {v}")).unwrap_or_default())]
    #[diagnostic(
        code(recipe::new::no_sdist),
        help("{}", if available.is_empty() { "check the project name (`recipe new` packages sdists, not wheels)".to_string() } else { format!("versions with an sdist: {}", available.join(", ")) })
    )]
    NoSdist {
        project: String,
        version: Option<String>,
        available: Vec<String>,
    },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Fetch(Box<FetchError>),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Unpack(#[from] crate::unpack::UnpackError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Debian(Box<crate::debian::DebianError>),

    #[error("source package `{package}`{} is not in the Sources index of {suite}", version.as_ref().map(|v| format!(" version {v}")).unwrap_or_default())]
    #[diagnostic(
        code(recipe::new::not_in_sources),
        help("{}", if available.is_empty() { "check the source package name (not a binary package's)".to_string() } else { format!("versions there: {}", available.join(", ")) })
    )]
    NotInSources {
        package: String,
        suite: String,
        version: Option<String>,
        available: Vec<String>,
    },

    #[error("no Debian suite to look in")]
    #[diagnostic(
        code(recipe::new::no_suite),
        help("pass `--suite NAME` (e.g. the suite of your sysroots)")
    )]
    NoSuite,

    #[error("{what} {}", path.display())]
    #[diagnostic(code(recipe::new::io))]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<crate::debian::DebianError> for ScaffoldError {
    fn from(e: crate::debian::DebianError) -> Self {
        ScaffoldError::Debian(Box::new(e))
    }
}

impl From<FetchError> for ScaffoldError {
    fn from(e: FetchError) -> Self {
        ScaffoldError::Fetch(Box::new(e))
    }
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ScaffoldError {
    let path = path.to_path_buf();
    move |source| ScaffoldError::Io { what, path, source }
}

/// Where the new recipe's source comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Url(String),
    /// A project of the configured Python index; the newest release unless
    /// a version is given.
    Pypi {
        project: String,
        version: Option<String>,
    },
    /// A source package of the configured Debian archive; its upstream
    /// tarball, at the highest version of the suite unless one is given.
    Debian {
        package: String,
        version: Option<String>,
    },
}

impl Origin {
    /// `SRC` or `SRC=VER`, as apt writes it.
    pub fn debian(spec: &str) -> Origin {
        let (package, version) = match spec.split_once('=') {
            Some((p, v)) => (p, Some(v.trim().to_string()).filter(|v| !v.is_empty())),
            None => (spec, None),
        };
        Origin::Debian {
            package: package.trim().to_string(),
            version,
        }
    }

    /// `PROJECT` or `PROJECT==VER`, as pip writes it.
    pub fn pypi(spec: &str) -> Origin {
        match spec.split_once("==") {
            Some((p, v)) => Origin::Pypi {
                project: p.trim().to_string(),
                version: Some(v.trim().to_string()).filter(|v| !v.is_empty()),
            },
            None => Origin::Pypi {
                project: spec.trim().to_string(),
                version: None,
            },
        }
    }
}

pub struct Request {
    pub name: String,
    pub origin: Origin,
    /// Overrides the version read from the file name.
    pub version: Option<String>,
    pub recipes_dir: PathBuf,
    /// Recipes of the project, for the host tools an autoreconf needs.
    pub known_recipes: Vec<String>,
    /// Debian suite whose Sources index `Origin::Debian` is looked up in.
    pub suite: Option<String>,
}

/// What was written and why.
pub struct Scaffold {
    pub path: PathBuf,
    pub draft: Draft,
    /// Where the version came from.
    pub version_from: &'static str,
    pub license_from: Option<String>,
    pub size: u64,
    pub url: String,
}

/// Checks the name and that no recipe is in the way; cheap, before any download.
pub fn recipe_path(req: &Request) -> Result<PathBuf, ScaffoldError> {
    if !is_valid_name(&req.name) {
        return Err(ScaffoldError::BadName { name: req.name.clone() });
    }
    let path = req.recipes_dir.join(&req.name).join("recipe.kdl");
    if path.exists() {
        return Err(ScaffoldError::Exists { path });
    }
    Ok(path)
}

/// A resolved download: URL, file name, version known from the index.
struct Resolved {
    url: String,
    file: String,
    index_version: Option<String>,
    /// The sha256 the index gives (Debian's Sources index does).
    sha256: Option<String>,
    homepage: Option<String>,
    source: SourceLine,
}

pub fn create(ctx: &FetchContext, req: &Request) -> Result<Scaffold, ScaffoldError> {
    let path = recipe_path(req)?;
    let resolved = resolve(ctx, &req.origin, req.suite.as_deref())?;
    let urls = std::slice::from_ref(&resolved.url);
    let (archive, sha256) = match &resolved.sha256 {
        Some(sha) => (download_verified(ctx, urls, sha, &resolved.file)?, sha.clone()),
        None => download_new(ctx, urls, &resolved.file)?,
    };
    let size = std::fs::metadata(&archive).map(|m| m.len()).unwrap_or(0);

    let scratch = tempfile::tempdir().map_err(io("cannot create a temporary directory", &std::env::temp_dir()))?;
    let tree = scratch.path().join("tree");
    crate::unpack::extract(&archive, &tree, 0)?;
    let (root, strip_components) = source_root(&tree);

    let (version, version_from) = match (&req.version, &resolved.index_version) {
        (Some(v), _) => (v.clone(), "--version"),
        (None, Some(v)) => (v.clone(), "the index"),
        (None, None) => match version::from_file_name(&resolved.file) {
            Some(v) => (v, "the file name"),
            None => {
                return Err(ScaffoldError::NoVersion {
                    file: resolved.file.clone(),
                });
            }
        },
    };

    let is_pypi = matches!(req.origin, Origin::Pypi { .. });
    let build = detect::detect(&root, is_pypi);
    let info = if is_pypi { pkginfo::read(&root) } else { None }.unwrap_or_default();
    let (license, license_from, license_note) = license_of(&root, &info);
    let host_depends = if build.autoreconf {
        // autoreconf needs these on the build machine; the project builds
        // them as host tools when it has their recipes.
        ["automake", "libtool"]
            .into_iter()
            .filter(|t| req.known_recipes.iter().any(|k| k == t))
            .map(String::from)
            .collect()
    } else {
        Vec::new()
    };
    let source = match resolved.source {
        SourceLine::Url(url) => SourceLine::Url(template_url(&url, &version)),
        other => other,
    };
    let draft = Draft {
        name: req.name.clone(),
        file: version::templated(&resolved.file, &version),
        version,
        license,
        license_note,
        homepage: info.homepage.or(resolved.homepage),
        summary: info.summary,
        source,
        sha256,
        strip_components,
        host_depends,
        build,
    };
    write_new(&path, &emit::render(&draft))?;
    Ok(Scaffold {
        path,
        draft,
        version_from,
        license_from,
        size,
        url: resolved.url,
    })
}

fn resolve(ctx: &FetchContext, origin: &Origin, suite: Option<&str>) -> Result<Resolved, ScaffoldError> {
    match origin {
        Origin::Url(url) => {
            let bad = |reason: &str| ScaffoldError::BadUrl {
                url: url.clone(),
                reason: reason.to_string(),
            };
            // Braces would be read as template syntax once in the recipe.
            if url.contains(['{', '}', '"']) {
                return Err(bad("it contains `{`, `}` or `\"`"));
            }
            let parsed = reqwest::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(bad("only http and https URLs can be downloaded"));
            }
            let file = parsed
                .path_segments()
                .and_then(|mut s| s.next_back())
                .filter(|f| !f.is_empty())
                .ok_or_else(|| bad("its path does not end in a file name"))?
                .to_string();
            check_file_name(&file)?;
            Ok(Resolved {
                url: url.clone(),
                file,
                index_version: None,
                sha256: None,
                homepage: None,
                source: SourceLine::Url(url.clone()),
            })
        }
        Origin::Pypi { project, version } => {
            let index = ctx.python_index()?.to_string();
            let (page, files) = project_files(ctx, &index, project)?;
            let (file, v) = pick_sdist(project, &files, version.as_deref())?;
            Ok(Resolved {
                url: absolute_link(&page, &file.href)?,
                file: file.name.clone(),
                index_version: Some(v),
                sha256: None,
                homepage: None,
                source: SourceLine::Pypi(project.clone()),
            })
        }
        Origin::Debian { package, version } => {
            let suite = suite.ok_or(ScaffoldError::NoSuite)?;
            let archive = Archive::new(ctx, ctx.cache.root(), false)?;
            let log = archive.cache.join("gpgv-recipe-new.log");
            let entries = source_versions(&archive, ctx, suite, package, &log)?;
            let wanted = |e: &&SourceEntry| {
                version
                    .as_deref()
                    .is_none_or(|v| e.version == v || e.upstream_version() == v)
            };
            let not_found = || ScaffoldError::NotInSources {
                package: package.clone(),
                suite: suite.to_string(),
                version: version.clone(),
                available: entries.iter().map(|e| e.version.clone()).collect(),
            };
            let entry = entries.iter().find(wanted).ok_or_else(not_found)?;
            let (sha, _, file) = entry.upstream_file().ok_or_else(not_found)?;
            check_file_name(file)?;
            Ok(Resolved {
                url: archive.url(&format!("{}/{file}", entry.directory.trim_end_matches('/'))),
                file: file.clone(),
                index_version: Some(entry.upstream_version().to_string()),
                sha256: Some(sha.clone()),
                homepage: entry.homepage.clone(),
                source: SourceLine::Debian(package.clone()),
            })
        }
    }
}

/// The sdist of `project` at `wanted`, else the newest release (a
/// pre-release only when there is nothing else).
pub fn pick_sdist<'a>(
    project: &str,
    files: &'a [IndexFile],
    wanted: Option<&str>,
) -> Result<(&'a IndexFile, String), ScaffoldError> {
    let want_name = normalize_project(project);
    let mut sdists: Vec<(&IndexFile, String)> = files
        .iter()
        .filter(|f| {
            let l = f.name.to_ascii_lowercase();
            l.ends_with(".tar.gz") || l.ends_with(".zip")
        })
        .filter_map(|f| {
            let (dist, v) = version::stem(&f.name).rsplit_once('-')?;
            (normalize_project(dist) == want_name).then(|| (f, v.to_string()))
        })
        .collect();
    sdists.sort_by(|a, b| version::compare(&a.1, &b.1));
    let found = match wanted {
        Some(w) => sdists.iter().rev().find(|(_, v)| v == w),
        None => sdists
            .iter()
            .rev()
            .find(|(_, v)| !version::is_prerelease(v))
            .or_else(|| sdists.last()),
    };
    match found {
        Some((f, v)) => Ok((f, v.clone())),
        None => {
            let mut available: Vec<String> = sdists.iter().rev().map(|(_, v)| v.clone()).collect();
            available.dedup();
            available.truncate(10);
            Err(ScaffoldError::NoSdist {
                project: project.to_string(),
                version: wanted.map(String::from),
                available,
            })
        }
    }
}

/// The directory holding the sources, and the `strip-components` that gets
/// there: 1 for the usual single top directory, else 0.
fn source_root(tree: &Path) -> (PathBuf, u32) {
    let entries: Vec<_> = std::fs::read_dir(tree)
        .map(|rd| rd.flatten().collect())
        .unwrap_or_default();
    if let [only] = entries.as_slice()
        && only.file_type().is_ok_and(|t| t.is_dir())
    {
        return (only.path(), 1);
    }
    (tree.to_path_buf(), 0)
}

/// `{{ version }}` in the path of a URL only: host and port may contain
/// digits that look like a version.
fn template_url(url: &str, version: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(p) => {
            let (head, path) = url.split_at(after_scheme + p);
            format!("{head}{}", version::templated(path, version))
        }
        None => url.to_string(),
    }
}

/// The license, where it came from, and the comment to write above it.
fn license_of(root: &Path, info: &pkginfo::PkgInfo) -> (Option<String>, Option<String>, String) {
    if let Some(expr) = &info.license_expression {
        return (
            Some(expr.clone()),
            Some("PKG-INFO".into()),
            "License-Expression of the sdist's PKG-INFO.".into(),
        );
    }
    match license::guess(root) {
        Some(g) => {
            let files = g.files.join(", ");
            let mut note = format!("Guessed by `recipe new` from {files}: check it.");
            if g.spdx.contains("GPL") {
                note.push_str("\nGNU license texts do not say `-only` or `-or-later`: a source file's notice does.");
            }
            if g.spdx.contains(" AND ") {
                note.push_str("\nSeveral license files: if they are a choice, write OR.");
            }
            (Some(g.spdx), Some(files), note)
        }
        None => (
            None,
            None,
            "No license recognised by `recipe new`: add an SPDX expression, e.g.\nlicense \"MIT\"".into(),
        ),
    }
}

/// Writes the recipe, failing if one appeared meanwhile.
fn write_new(path: &Path, text: &str) -> Result<(), ScaffoldError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => ScaffoldError::Exists {
                path: path.to_path_buf(),
            },
            _ => ScaffoldError::Io {
                what: "cannot create",
                path: path.to_path_buf(),
                source: e,
            },
        })?;
    f.write_all(text.as_bytes()).map_err(io("cannot write", path))
}

/// What the author must fill in before the recipe lints and builds.
pub fn needs_attention(d: &Draft) -> Vec<&'static str> {
    let mut out = Vec::new();
    if d.license.is_none() {
        out.push("license");
    }
    if d.build.kind == BuildKind::Script && d.build.steps.iter().any(|s| s == detect::PLACEHOLDER_STEP) {
        out.push("build steps");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str) -> IndexFile {
        IndexFile {
            name: name.into(),
            href: format!("/f/{name}"),
            size: None,
        }
    }

    #[test]
    fn newest_release_sdist_is_picked() {
        let files = [
            f("foo_bar-1.9.0.tar.gz"),
            f("foo_bar-1.10.0-py3-none-any.whl"),
            f("foo_bar-1.10.0.tar.gz"),
            f("foo_bar-2.0.0rc1.tar.gz"),
            f("other-9.0.tar.gz"),
        ];
        let (file, v) = pick_sdist("Foo-Bar", &files, None).unwrap();
        assert_eq!((file.name.as_str(), v.as_str()), ("foo_bar-1.10.0.tar.gz", "1.10.0"));
        let (_, v) = pick_sdist("foo-bar", &files, Some("1.9.0")).unwrap();
        assert_eq!(v, "1.9.0");
        match pick_sdist("foo-bar", &files, Some("3.0")) {
            Err(ScaffoldError::NoSdist { available, .. }) => assert_eq!(available[0], "2.0.0rc1"),
            _ => panic!("expected NoSdist"),
        }
    }

    #[test]
    fn only_the_url_path_is_templated() {
        assert_eq!(
            template_url("http://127.0.0.1:1234/d/1.2/x-1.2.tar.gz", "1.2"),
            "http://127.0.0.1:1234/d/{{ version }}/x-{{ version }}.tar.gz"
        );
    }
}
