//! Errors of the fetch layer. Each names what was being fetched and, where a
//! user can act, says how in a `help` line.

use std::fmt;
use std::path::PathBuf;

use miette::Diagnostic;
use thiserror::Error;

/// One URL that was tried and why it did not give a verified file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub url: String,
    /// How many requests were made to this URL (retries included).
    pub tries: u32,
    pub reason: String,
}

/// The attempts as an indented list, one URL per line.
pub struct AttemptList<'a>(pub &'a [Attempt]);

impl fmt::Display for AttemptList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for a in self.0 {
            let tries = if a.tries > 1 {
                format!(" ({} tries)", a.tries)
            } else {
                String::new()
            };
            write!(f, "\n  - {}{tries}: {}", a.url, a.reason)?;
        }
        Ok(())
    }
}

/// A download whose content did not match the expected sha256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub url: String,
    pub actual: String,
    pub size: u64,
    /// Where the bad download was moved; it is never used.
    pub quarantined: PathBuf,
}

#[derive(Debug, Error, Diagnostic)]
pub enum FetchError {
    #[error(
        "sha256 mismatch for `{file}`\n  url:      {}\n  expected: {expected}\n  actual:   {}\n  size:     {} bytes{}",
        mismatch.url, mismatch.actual, mismatch.size,
        if others.is_empty() { String::new() } else { format!("\nother URLs tried:{}", AttemptList(others)) }
    )]
    #[diagnostic(
        code(recipe::fetch::hash_mismatch),
        help(
            "the download was kept apart in {} and will not be used; if upstream regenerated the archive and you \
             trust the new content, update the recipe's sha256 to the actual value",
            mismatch.quarantined.display()
        )
    )]
    HashMismatch {
        file: String,
        expected: String,
        mismatch: Box<Mismatch>,
        others: Vec<Attempt>,
    },

    #[error("could not download `{file}`: every URL failed{}", AttemptList(attempts))]
    #[diagnostic(
        code(recipe::fetch::failed),
        help("check the URLs and the network; add a `mirror` to the source or a mirror site to the config file")
    )]
    AllFailed { file: String, attempts: Vec<Attempt> },

    #[error("{failed} of {total} sources could not be fetched (errors above)")]
    #[diagnostic(code(recipe::fetch::several))]
    Several { failed: usize, total: usize },

    #[error("`{file}` has no URL to download it from")]
    #[diagnostic(
        code(recipe::fetch::no_url),
        help("give the source a URL, `pypi=` or `debian=`, or a `mirror`")
    )]
    NoUrl { file: String },

    #[error("no sha256 for `{file}`; downloaded from {url}: {size} bytes, sha256 {actual}")]
    #[diagnostic(
        code(recipe::fetch::missing_sha256),
        help("after checking the file (kept in {}), add to the source:\n    sha256 \"{actual}\"", kept.display())
    )]
    MissingSha256 {
        file: String,
        url: String,
        actual: String,
        size: u64,
        kept: PathBuf,
    },

    #[error("invalid sha256 `{value}` for `{file}`: expected 64 hexadecimal digits")]
    #[diagnostic(code(recipe::fetch::bad_sha256))]
    BadSha256 { file: String, value: String },

    #[error("invalid file name `{file}`: it must be a plain name, without `/`")]
    #[diagnostic(code(recipe::fetch::bad_file_name))]
    BadFileName { file: String },

    #[error(
        "`{file}`{} is not in the download cache and --offline forbids the network",
        for_source(source_name)
    )]
    #[diagnostic(
        code(recipe::fetch::offline_missing),
        help("run `recipe fetch` while online first (it fills {})", cache.display())
    )]
    OfflineMissing {
        file: String,
        source_name: Option<String>,
        cache: PathBuf,
    },

    #[error("cannot fetch `{file}` for {package}")]
    #[diagnostic(code(recipe::fetch::source))]
    Source {
        package: String,
        file: String,
        #[source]
        source: Box<FetchError>,
        /// The inner error's help, which miette would not show through a box.
        #[help]
        help: Option<String>,
    },

    #[error("no Debian archive is configured for `{file}`")]
    #[diagnostic(
        code(recipe::fetch::no_debian_mirror),
        help(
            "set RECIPE_DEBIAN_MIRROR, add `debian-archive \"URI\"` to the config file, or configure apt \
             (/etc/apt/sources.list.d/*.sources)"
        )
    )]
    NoDebianMirror { file: String },

    #[error("cannot find a Python package index: {reason}")]
    #[diagnostic(
        code(recipe::fetch::no_python_index),
        help("set PIP_INDEX_URL, add `python-index \"URL\"` to the config file, or configure pip")
    )]
    NoPythonIndex { reason: String },

    #[error("the index has no file `{file}` for project `{project}` ({url})")]
    #[diagnostic(
        code(recipe::fetch::not_on_index),
        help("check the recipe's `file` and version{}", if available.is_empty() { String::new() } else { format!("; files of that version on the index: {}", available.join(", ")) })
    )]
    NotOnIndex {
        project: String,
        file: String,
        url: String,
        available: Vec<String>,
    },

    #[error("cannot read the index page {url}: {reason}")]
    #[diagnostic(code(recipe::fetch::index))]
    Index { url: String, reason: String },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Config(#[from] super::config::ConfigError),

    #[error("cannot create the HTTP client: {0}")]
    #[diagnostic(code(recipe::fetch::client))]
    Client(String),

    #[error("{what} {}", path.display())]
    #[diagnostic(code(recipe::fetch::io))]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn for_source(name: &Option<String>) -> String {
    name.as_ref().map(|n| format!(" (source of {n})")).unwrap_or_default()
}

impl FetchError {
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> FetchError {
        FetchError::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

/// The error and its causes on one line: reqwest's own message is terse
/// ("error sending request") and the useful part sits in the chain.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        cur = s.source();
    }
    out
}
