//! The ordered list of URLs a source is fetched from:
//! primary sites, the source's own origin, its mirrors, then backup sites.

use super::error::FetchError;
use super::{FetchContext, debian_mirror, pypi};
use crate::recipe::rendered::{Mirror, Origin, Source};

/// Where a candidate URL comes from, before resolution.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Candidate {
    Url(String),
    Debian(String),
    Pypi(String),
}

impl Candidate {
    fn describe(&self) -> String {
        match self {
            Candidate::Url(u) => u.clone(),
            Candidate::Debian(p) => format!("debian package {p}"),
            Candidate::Pypi(p) => format!("python index project {p}"),
        }
    }
}

/// A site URL joined with a file name.
pub fn site_url(site: &str, file: &str) -> String {
    format!("{}/{file}", site.trim_end_matches('/'))
}

/// The candidates of `source` in the order they are tried.
pub fn candidates(primary: &[String], backup: &[String], source: &Source) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = primary
        .iter()
        .map(|s| Candidate::Url(site_url(s, &source.file)))
        .collect();
    match &source.origin {
        Origin::Url { url } => out.push(Candidate::Url(url.clone())),
        Origin::Debian { package } => out.push(Candidate::Debian(package.clone())),
        Origin::Pypi { project } => out.push(Candidate::Pypi(project.clone())),
        Origin::Path { .. } => {}
    }
    for m in &source.mirrors {
        out.push(match m {
            Mirror::Url { url } => Candidate::Url(url.clone()),
            Mirror::Debian { package } => Candidate::Debian(package.clone()),
            Mirror::Pypi { project } => Candidate::Pypi(project.clone()),
        });
    }
    out.extend(backup.iter().map(|s| Candidate::Url(site_url(s, &source.file))));
    let mut seen = std::collections::HashSet::new();
    out.retain(|c| seen.insert(c.clone()));
    out
}

/// Every URL of a source when all can be found without a request (plain
/// URLs, Debian pool URLs with an archive configured); `None` otherwise (a
/// Python index lookup is a request).
pub fn known_urls(ctx: &FetchContext, source: &Source) -> Option<Vec<String>> {
    candidates(&ctx.mirrors.primary, &ctx.mirrors.backup, source)
        .into_iter()
        .map(|c| match c {
            Candidate::Url(u) => Some(u),
            Candidate::Debian(package) => ctx
                .debian_archive()
                .map(|base| debian_mirror::pool_url(base, &package, &source.file)),
            Candidate::Pypi(_) => None,
        })
        .collect()
}

/// The URLs of a source, and what resolving them taught.
pub struct Resolved {
    pub urls: Vec<String>,
    /// The file's size, when an index gave it (it caps the download).
    pub size: Option<u64>,
    /// Candidates that could not become a URL, described, with why.
    pub unresolved: Vec<(String, FetchError)>,
}

/// Resolves candidates to URLs. Candidates that cannot be resolved (no
/// Debian archive configured, project not on the index) are returned apart
/// so the final error can list them; the others are still tried.
pub fn candidate_urls(ctx: &FetchContext, source: &Source) -> Resolved {
    let mut urls = Vec::new();
    let mut size = None;
    let mut unresolved = Vec::new();
    for c in candidates(&ctx.mirrors.primary, &ctx.mirrors.backup, source) {
        let resolved = match &c {
            Candidate::Url(u) => Ok(u.clone()),
            Candidate::Debian(package) => match ctx.debian_archive() {
                Some(base) => Ok(debian_mirror::pool_url(base, package, &source.file)),
                None => Err(FetchError::NoDebianMirror {
                    file: source.file.clone(),
                }),
            },
            Candidate::Pypi(project) => ctx
                .python_index()
                .and_then(|index| pypi::file_url(ctx, index, project, &source.file))
                .map(|(url, known)| {
                    size = size.or(known);
                    url
                }),
        };
        match resolved {
            Ok(u) if !urls.contains(&u) => urls.push(u),
            Ok(_) => {}
            Err(e) => unresolved.push((c.describe(), e)),
        }
    }
    Resolved { urls, size, unresolved }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(origin: Origin, mirrors: Vec<Mirror>) -> Source {
        Source {
            origin,
            file: "x_1.0.orig.tar.gz".into(),
            sha256: String::new(),
            mirrors,
            strip_components: 1,
            dest: String::new(),
            extract: true,
        }
    }

    #[test]
    fn primary_origin_mirrors_backup_in_order_without_duplicates() {
        let s = source(
            Origin::Url {
                url: "http://a/x.tgz".into(),
            },
            vec![
                Mirror::Debian { package: "x".into() },
                Mirror::Url {
                    url: "http://a/x.tgz".into(),
                },
                Mirror::Pypi { project: "x".into() },
            ],
        );
        let got = candidates(&["http://p/".into()], &["http://b".into()], &s);
        assert_eq!(
            got,
            vec![
                Candidate::Url("http://p/x_1.0.orig.tar.gz".into()),
                Candidate::Url("http://a/x.tgz".into()),
                Candidate::Debian("x".into()),
                Candidate::Pypi("x".into()),
                Candidate::Url("http://b/x_1.0.orig.tar.gz".into()),
            ]
        );
    }
}
