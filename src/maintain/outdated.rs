//! `recipe outdated`: the newest upstream version of each recipe whose
//! first source names a Debian source package or a Python project.
//!
//! Only the recipe's first source counts: the recipe's version is that
//! source's version (later sources are vendored dependencies, extra files).
//! Its origin decides where to look: `debian=`, `pypi=`, or for a URL its
//! first `mirror debian package=` / `mirror pypi project=` hint.
//!
//! Debian: the highest version of the source package over the `Sources`
//! indexes of the project's sysroot suites, read from the configured
//! archive through the signature-checked index code, compared on the
//! upstream part with dpkg's algorithm after dropping repack suffixes
//! (`+dfsg`, `+ds`, `+repack`, and their `~` forms; `X+reallyY` is Y). Python: the newest
//! release on the configured index (a pre-release only when there is no
//! release), compared with [`super::pyversion::compare`].
//!
//! Lookups never abort the command: a failure becomes that row's status.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;

use crate::debian::index::Archive;
use crate::debian::sources::SourceEntry;
use crate::debian::version::DebVersion;
use crate::fetch::FetchContext;
use crate::fetch::pypi::{normalize_project, project_files};
use crate::model::project::Project;
use crate::recipe::rendered::{Mirror, Origin};
use crate::scaffold::version::stem;

use super::pyversion;

/// Where a recipe's upstream versions are looked up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "index", rename_all = "kebab-case")]
pub enum Upstream {
    Debian { package: String },
    Pypi { project: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Upstream has a newer version.
    Outdated,
    UpToDate,
    /// The recipe is newer than anything the index has.
    Ahead,
    /// No Debian or Python origin to look at.
    NoUpstream,
    /// The lookup failed (see `detail`).
    Error,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Outdated => "outdated",
            Status::UpToDate => "up to date",
            Status::Ahead => "ahead",
            Status::NoUpstream => "no upstream",
            Status::Error => "error",
        }
    }
}

/// One recipe's result; what the table, `--json` and reports show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutdatedRow {
    pub name: String,
    pub current: String,
    pub newest: Option<String>,
    pub status: Status,
    pub upstream: Option<Upstream>,
    /// Where the newest version was found (suite and Debian version, or
    /// the index), or what went wrong.
    pub detail: String,
}

impl OutdatedRow {
    /// The WHERE column.
    pub fn where_(&self) -> String {
        let what = match &self.upstream {
            Some(Upstream::Debian { package }) => format!("debian src:{package}"),
            Some(Upstream::Pypi { project }) => format!("pypi {project}"),
            None => String::new(),
        };
        match (what.is_empty(), self.detail.is_empty()) {
            (true, _) => self.detail.clone(),
            (false, true) => what,
            (false, false) => format!("{what} ({})", self.detail),
        }
    }
}

/// Looks up every recipe named in `names` (every recipe when empty; then
/// recipes without a Debian or Python origin are left out). Rows are sorted
/// by name. The nightly report can call this as it is.
pub fn check_outdated(ctx: &FetchContext, project: &Project, names: &[String]) -> Vec<OutdatedRow> {
    let explicit = !names.is_empty();
    let selected: Vec<&str> = if explicit {
        names.iter().map(String::as_str).collect()
    } else {
        project.recipe_names().collect()
    };
    let mut rows: Vec<(OutdatedRow, bool)> = selected
        .iter()
        .filter_map(|name| {
            let raw = project.recipes.get(*name)?;
            let row = OutdatedRow {
                name: name.to_string(),
                current: raw.version.value.clone(),
                newest: None,
                status: Status::NoUpstream,
                upstream: None,
                detail: String::new(),
            };
            Some(match upstream_of(project, name) {
                Ok(Some(up)) => (
                    OutdatedRow {
                        upstream: Some(up),
                        ..row
                    },
                    true,
                ),
                Ok(None) => (
                    OutdatedRow {
                        detail: "no Debian or Python index origin".into(),
                        ..row
                    },
                    false,
                ),
                Err(reason) => (
                    OutdatedRow {
                        status: Status::Error,
                        detail: reason,
                        ..row
                    },
                    false,
                ),
            })
        })
        .filter(|(row, lookup)| explicit || *lookup || row.status != Status::NoUpstream)
        .collect();

    let needs_debian = rows
        .iter()
        .any(|(r, _)| matches!(r.upstream, Some(Upstream::Debian { .. })));
    let debian = if needs_debian {
        Arc::new(DebianIndexes::load(ctx, project))
    } else {
        Arc::default()
    };
    rows.par_iter_mut()
        .filter(|(_, lookup)| *lookup)
        .for_each(|(row, _)| lookup(ctx, &debian, row));
    let mut rows: Vec<OutdatedRow> = rows.into_iter().map(|(r, _)| r).collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    rows
}

/// The upstream of the recipe's first source, from its rendered form (for
/// the first target: names of projects are rarely templated, but may be).
fn upstream_of(project: &Project, name: &str) -> Result<Option<Upstream>, String> {
    let raw = &project.recipes[name];
    let Some(target) = project.targets.values().next() else {
        return Err("no target to render the recipe for (toolchains/ is empty)".into());
    };
    let recipe = crate::plan::render::render(raw, target).map_err(|e| format!("the recipe does not render: {e}"))?;
    let Some(first) = recipe.sources.first() else {
        return Ok(None);
    };
    Ok(match &first.origin {
        Origin::Debian { package } => Some(Upstream::Debian {
            package: package.clone(),
        }),
        Origin::Pypi { project } => Some(Upstream::Pypi {
            project: project.clone(),
        }),
        Origin::Url { .. } => first.mirrors.iter().find_map(|m| match m {
            Mirror::Debian { package } => Some(Upstream::Debian {
                package: package.clone(),
            }),
            Mirror::Pypi { project } => Some(Upstream::Pypi {
                project: project.clone(),
            }),
            Mirror::Url { .. } => None,
        }),
        Origin::Path { .. } => None,
    })
}

fn lookup(ctx: &FetchContext, debian: &DebianIndexes, row: &mut OutdatedRow) {
    let found = match &row.upstream {
        Some(Upstream::Debian { package }) => debian.newest(package).map(|(suite, entry)| {
            let newest = strip_repack(entry.upstream_version()).to_string();
            let order = deb_order(&newest, &row.current);
            (newest, order, format!("{suite} {}", entry.version))
        }),
        Some(Upstream::Pypi { project }) => newest_on_index(ctx, project).map(|newest| {
            let order = pyversion::compare(&newest, &row.current);
            (newest, order, String::new())
        }),
        None => return,
    };
    match found {
        Ok((newest, order, detail)) => {
            row.status = match order {
                std::cmp::Ordering::Greater => Status::Outdated,
                std::cmp::Ordering::Equal => Status::UpToDate,
                std::cmp::Ordering::Less => Status::Ahead,
            };
            row.newest = Some(newest);
            row.detail = detail;
        }
        Err(reason) => {
            row.status = Status::Error;
            row.detail = reason;
        }
    }
}

/// Upstream versions in dpkg order (no epoch, no revision on either side).
fn deb_order(a: &str, b: &str) -> std::cmp::Ordering {
    let v = |s: &str| DebVersion {
        epoch: 0,
        upstream: s.to_string(),
        revision: String::new(),
    };
    v(a).cmp(&v(strip_repack(b)))
}

/// The upstream version without Debian's repack marker (`1.2+dfsg` → `1.2`);
/// in `X+reallyY` the upstream version is Y.
pub fn strip_repack(v: &str) -> &str {
    let v = v.rfind("+really").map_or(v, |i| &v[i + "+really".len()..]);
    ["+dfsg", "~dfsg", ".dfsg", "+ds", "~ds", "+repack", "~repack"]
        .iter()
        .filter_map(|m| v.find(m))
        .min()
        .map_or(v, |i| &v[..i])
}

/// The newest release of `project` among the files its index page lists.
fn newest_on_index(ctx: &FetchContext, project: &str) -> Result<String, String> {
    // Debian indexes have verified copies in the cache; index pages do not.
    if ctx.offline {
        return Err("offline: the Python index was not asked".into());
    }
    let index = ctx.python_index().map_err(|e| e.to_string())?.to_string();
    let (_, files) = project_files(ctx, &index, project).map_err(|e| e.to_string())?;
    let want = normalize_project(project);
    let versions: BTreeSet<String> = files
        .iter()
        .filter_map(|f| {
            let (dist, version) = if f.name.to_ascii_lowercase().ends_with(".whl") {
                let mut parts = f.name.split('-');
                (parts.next()?, parts.next()?)
            } else {
                stem(&f.name).rsplit_once('-')?
            };
            (normalize_project(dist) == want).then(|| version.to_string())
        })
        .collect();
    let newest = |releases_only: bool| {
        versions
            .iter()
            .filter(|v| !releases_only || !pyversion::is_prerelease(v))
            .max_by(|a, b| pyversion::compare(a, b))
            .cloned()
    };
    newest(true)
        .or_else(|| newest(false))
        .ok_or_else(|| format!("the index lists no file of `{project}`"))
}

/// The `Sources` indexes of the sysroot suites, each read once per run:
/// for every source package, its highest version there.
#[derive(Default)]
struct DebianIndexes {
    /// suite → package → highest entry, or why the suite could not be read.
    suites: BTreeMap<String, Result<BTreeMap<String, SourceEntry>, String>>,
}

impl DebianIndexes {
    fn load(ctx: &FetchContext, project: &Project) -> DebianIndexes {
        let suites: BTreeSet<String> = project.sysroots.values().map(|s| s.suite.clone()).collect();
        let archive = Archive::new(ctx, ctx.cache.root(), false).map_err(|e| e.to_string());
        let mut out = DebianIndexes::default();
        for suite in suites {
            let read = archive.clone().and_then(|archive| {
                let log = archive.cache.join("gpgv-recipe-outdated.log");
                let newest = super::newest::newest_versions(&archive, ctx, &suite, &log).map_err(|e| e.to_string())?;
                Ok(newest
                    .into_iter()
                    .map(|(package, version)| {
                        let entry = SourceEntry {
                            package: package.clone(),
                            version,
                            ..SourceEntry::default()
                        };
                        (package, entry)
                    })
                    .collect())
            });
            out.suites.insert(suite, read);
        }
        out
    }

    /// The highest version of `package` over the suites that could be read,
    /// with its suite; an error only when no suite has it and one failed.
    fn newest(&self, package: &str) -> Result<(&str, &SourceEntry), String> {
        let mut best: Option<(&str, &SourceEntry)> = None;
        let mut failures = Vec::new();
        for (suite, read) in &self.suites {
            match read {
                Ok(map) => {
                    if let Some(e) = map.get(package)
                        && best.is_none_or(|(_, b)| crate::debian::version::compare(&e.version, &b.version).is_gt())
                    {
                        best = Some((suite, e));
                    }
                }
                Err(reason) => failures.push(format!("{suite}: {reason}")),
            }
        }
        match best {
            Some(found) => Ok(found),
            None if !failures.is_empty() => Err(failures.join("; ")),
            None if self.suites.is_empty() => Err("no sysroot suite to look in".into()),
            None => Err(format!(
                "not in the Sources index of {}",
                self.suites.keys().cloned().collect::<Vec<_>>().join(", ")
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repack_suffixes_are_dropped() {
        assert_eq!(strip_repack("1.18.7+dfsg"), "1.18.7");
        assert_eq!(strip_repack("2.0~ds1"), "2.0");
        assert_eq!(strip_repack("1.3.1"), "1.3.1");
        assert!(deb_order("1.10.0", "1.9.4").is_gt());
        assert!(deb_order("1.0", "1.0+dfsg").is_eq());
    }

    /// Debian's `X+reallyY`: a version going back to (or re-tagging) Y.
    #[test]
    fn really_names_the_upstream_version() {
        assert_eq!(strip_repack("1.3.dfsg+really1.3.1"), "1.3.1");
        assert_eq!(strip_repack("2.1+really2.0+dfsg"), "2.0");
        assert!(deb_order("1.3.1", "1.3.dfsg+really1.3.1").is_eq());
    }
}
