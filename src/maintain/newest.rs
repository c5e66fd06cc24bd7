//! The newest version of each source package of a suite, from its
//! `Sources` index, remembered beside that index in the cache. Reading the
//! index means decompressing and parsing about 50 MB (some 1.5 s a suite)
//! on every `recipe outdated` and every `--report`, to look up a handful
//! of packages. The memo names the sha256 that the signed `InRelease`
//! gives for the index it was made from: a new index is read again, and a
//! memo that does not parse or names another index is made anew.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::debian::DebianError;
use crate::debian::index::{Archive, fetch_index};
use crate::debian::sources::parse_sources;
use crate::fetch::FetchContext;

const MEMO_FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Memo {
    format: u32,
    index_sha256: String,
    /// Source package → its highest version in the index.
    newest: BTreeMap<String, String>,
}

/// Source package → its highest version in `suite`'s `Sources` index.
pub(crate) fn newest_versions(
    archive: &Archive,
    ctx: &FetchContext,
    suite: &str,
    log: &Path,
) -> Result<BTreeMap<String, String>, DebianError> {
    let index = fetch_index(
        archive,
        ctx,
        suite,
        "main/source/Sources.xz",
        &format!("Sources-{suite}.xz"),
        log,
    )?;
    let memo = archive.cache.join("dists").join(suite).join("Sources-newest.json");
    if let Some(newest) = read_memo(&memo, &index.sha256) {
        return Ok(newest);
    }
    let newest = highest_versions(&index.text()?);
    let made = Memo {
        format: MEMO_FORMAT,
        index_sha256: index.sha256,
        newest,
    };
    write_memo(&memo, &made);
    Ok(made.newest)
}

fn highest_versions(sources: &str) -> BTreeMap<String, String> {
    let mut best: BTreeMap<String, String> = BTreeMap::new();
    for e in parse_sources(sources) {
        let higher = best
            .get(&e.package)
            .is_none_or(|b| crate::debian::version::compare(&e.version, b).is_gt());
        if higher {
            best.insert(e.package, e.version);
        }
    }
    best
}

fn read_memo(path: &Path, index_sha256: &str) -> Option<BTreeMap<String, String>> {
    let memo: Memo = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    (memo.format == MEMO_FORMAT && memo.index_sha256 == index_sha256).then_some(memo.newest)
}

/// Best effort, whole through a rename: without it the next run reads the
/// index again.
fn write_memo(path: &Path, memo: &Memo) {
    let write = || -> std::io::Result<()> {
        let dir = path.parent().ok_or_else(|| std::io::Error::other("no parent"))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        serde_json::to_writer(&mut tmp, memo).map_err(std::io::Error::other)?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    };
    let _ = write();
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCES: &str = "Package: lz4\nVersion: 1.9.4-1\nDirectory: pool/main/l/lz4\n\n\
Package: lz4\nVersion: 1.10.0-4\nDirectory: pool/main/l/lz4\n\n\
Package: sqlite3\nVersion: 3.46.1-7\nDirectory: pool/main/s/sqlite3\n";

    #[test]
    fn keeps_the_highest_version_of_each_package() {
        let newest = highest_versions(SOURCES);
        assert_eq!(newest.get("lz4").map(String::as_str), Some("1.10.0-4"));
        assert_eq!(newest.get("sqlite3").map(String::as_str), Some("3.46.1-7"));
    }

    #[test]
    fn a_memo_serves_only_the_index_it_was_made_from() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("Sources-newest.json");
        let newest = highest_versions(SOURCES);
        let memo = Memo {
            format: MEMO_FORMAT,
            index_sha256: "aa".into(),
            newest: newest.clone(),
        };
        write_memo(&path, &memo);
        assert_eq!(read_memo(&path, "aa"), Some(newest));
        assert_eq!(read_memo(&path, "bb"), None, "another index");
        std::fs::write(&path, "{\"format\":1,\"index_sha256\":\"aa\"").expect("write");
        assert_eq!(read_memo(&path, "aa"), None, "a torn memo");
    }
}
