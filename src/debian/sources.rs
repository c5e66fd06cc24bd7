//! A suite's `Sources` index: where a source package's upstream tarball is
//! in the pool, with its sha256 (for `recipe new --debian`).

use std::path::Path;

use super::DebianError;
use super::control::stanzas;
use super::index::{Archive, fetch_index};
use crate::fetch::FetchContext;

/// The fields of one `Sources` stanza a new recipe needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceEntry {
    pub package: String,
    /// The Debian version (`[epoch:]upstream[-revision]`).
    pub version: String,
    /// Pool directory, relative to the archive root.
    pub directory: String,
    pub homepage: Option<String>,
    /// (sha256, size, file name) of each file of the source package.
    pub files: Vec<(String, u64, String)>,
}

impl SourceEntry {
    /// The upstream part of the version: no epoch, no Debian revision.
    pub fn upstream_version(&self) -> &str {
        let v = self.version.split_once(':').map_or(self.version.as_str(), |(_, v)| v);
        v.rsplit_once('-').map_or(v, |(u, _)| u)
    }

    /// The upstream tarball: `.orig.tar.*`, else (native packages) the one
    /// `.tar.*` that is not a Debian packaging archive.
    pub fn upstream_file(&self) -> Option<&(String, u64, String)> {
        let tarball = |n: &str| n.contains(".tar.") && !n.ends_with(".asc");
        self.files
            .iter()
            .find(|(_, _, n)| tarball(n) && n.contains(".orig.tar."))
            .or_else(|| {
                self.files
                    .iter()
                    .find(|(_, _, n)| tarball(n) && !n.contains(".debian.tar.") && !n.contains(".orig-"))
            })
    }
}

pub fn parse_sources(text: &str) -> Vec<SourceEntry> {
    let mut out = Vec::new();
    for fields in stanzas(text) {
        let mut e = SourceEntry::default();
        for (k, v) in fields {
            match k {
                "Package" => e.package = v,
                "Version" => e.version = v,
                "Directory" => e.directory = v,
                "Homepage" => e.homepage = Some(v),
                "Checksums-Sha256" => {
                    e.files = v
                        .lines()
                        .filter_map(|l| {
                            let mut p = l.split_whitespace();
                            let (h, s, n) = (p.next()?, p.next()?, p.next()?);
                            (h.len() == 64).then(|| (h.to_ascii_lowercase(), s.parse().unwrap_or(0), n.to_string()))
                        })
                        .collect();
                }
                _ => {}
            }
        }
        if !e.package.is_empty() && !e.version.is_empty() && !e.directory.is_empty() {
            out.push(e);
        }
    }
    out
}

/// Every version of `package` in `suite`'s `main/source/Sources.xz`,
/// highest first.
pub fn source_versions(
    archive: &Archive,
    fetch: &FetchContext,
    suite: &str,
    package: &str,
    log: &Path,
) -> Result<Vec<SourceEntry>, DebianError> {
    let text = fetch_index(
        archive,
        fetch,
        suite,
        "main/source/Sources.xz",
        &format!("Sources-{suite}.xz"),
        log,
    )?
    .text()?;
    let mut found: Vec<SourceEntry> = parse_sources(&text)
        .into_iter()
        .filter(|e| e.package == package)
        .collect();
    found.sort_by(|a, b| super::version::compare(&b.version, &a.version));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanzas_and_upstream_files() {
        let h = "a".repeat(64);
        let text = format!(
            "Package: foo\nVersion: 1:1.2.3-2\nDirectory: pool/main/f/foo\nHomepage: http://127.0.0.1/foo\nChecksums-Sha256:\n {h} 10 foo_1.2.3-2.dsc\n {h} 20 foo_1.2.3.orig.tar.xz\n {h} 5 foo_1.2.3.orig.tar.xz.asc\n {h} 7 foo_1.2.3-2.debian.tar.xz\n\nPackage: nat\nVersion: 0.5\nDirectory: pool/main/n/nat\nChecksums-Sha256:\n {h} 9 nat_0.5.tar.xz\n"
        );
        let got = parse_sources(&text);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].upstream_version(), "1.2.3");
        assert_eq!(
            got[0].upstream_file().map(|f| f.2.as_str()),
            Some("foo_1.2.3.orig.tar.xz")
        );
        assert_eq!(got[1].upstream_version(), "0.5");
        assert_eq!(got[1].upstream_file().map(|f| f.2.as_str()), Some("nat_0.5.tar.xz"));
    }
}
