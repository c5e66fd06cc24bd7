//! Errors of the fetch layer. Each names what was being fetched and, where a
//! user can act, says how in a `help` line.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use miette::Diagnostic;
use thiserror::Error;

use crate::units::human_bytes;

/// One request (or one candidate that could not become a URL) and why it
/// did not give a verified file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub url: String,
    /// 1 for the first request to this URL, 2 for its first retry, …; 0 when
    /// no request was made (a mirror that could not be resolved).
    pub try_number: u32,
    pub reason: AttemptError,
    /// Body bytes received before it ended.
    pub bytes: u64,
    pub elapsed: Duration,
}

/// Where a size limit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeSource {
    /// The size an index (Debian `Size`, the Python index) gives for the file.
    Expected,
    /// The global `max-size` setting.
    MaxSize,
}

impl fmt::Display for SizeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SizeSource::Expected => "the expected size of this file",
            SizeSource::MaxSize => "the max-size limit",
        })
    }
}

/// What ended one request. Budget variants name the setting that ended it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AttemptError {
    #[error("HTTP {}", status_text(*code))]
    Status { code: u16 },
    #[error(
        "HTTP {}, Retry-After {}: longer than max-retry-after ({}), not retried",
        status_text(*code), secs(*wait), secs(*limit)
    )]
    RetryAfterTooLong { code: u16, wait: Duration, limit: Duration },
    #[error("redirect loop or too many redirects: {message}")]
    Redirects { message: String },
    #[error("invalid URL: {message}")]
    BadUrl { message: String },
    /// Before any response: connection refused, name not found, timeouts.
    #[error("{message}")]
    Transport { message: String, retry: bool },
    #[error("connection broke mid-body: {message}")]
    BodyRead { message: String },
    #[error("truncated body: got {got} of {announced} bytes")]
    Truncated { got: u64, announced: u64 },
    #[error("stalled: no data for {} (stall-timeout)", secs(*limit))]
    Stalled { limit: Duration },
    #[error(
        "too slow: {} in the last {}, under {}/s (speed-limit over speed-time)",
        human_bytes(*bytes), secs(*window), human_bytes(*limit)
    )]
    TooSlow { bytes: u64, window: Duration, limit: u64 },
    #[error("not finished after {} (attempt-timeout)", secs(*limit))]
    Deadline { limit: Duration },
    #[error("body larger than {} ({basis})", human_bytes(*limit))]
    TooLarge { limit: u64, basis: SizeSource },
    #[error("announces {} (Content-Length), more than {} ({basis})", human_bytes(*length), human_bytes(*limit))]
    Announced { length: u64, limit: u64, basis: SizeSource },
    #[error("sha256 mismatch: got {actual} ({size} bytes)")]
    Mismatch { actual: String, size: u64 },
    /// A mirror that could not be turned into a URL.
    #[error("{message}")]
    Unresolved { message: String },
}

fn status_text(code: u16) -> String {
    match reqwest::StatusCode::from_u16(code) {
        Ok(s) => s.to_string(),
        Err(_) => code.to_string(),
    }
}

/// `8 s`, `2.5 s`, `1 h`: durations as settings are written.
pub fn secs(d: Duration) -> String {
    if d.subsec_nanos() != 0 {
        return format!("{:.1} s", d.as_secs_f64());
    }
    match d.as_secs() {
        s if s >= 3600 && s.is_multiple_of(3600) => format!("{} h", s / 3600),
        s if s >= 60 && s.is_multiple_of(60) => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// The attempts as an indented list, one request per line.
pub struct AttemptList<'a>(pub &'a [Attempt]);

impl fmt::Display for AttemptList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for a in self.0 {
            let nth = if a.try_number > 1 {
                format!(" (try {})", a.try_number)
            } else {
                String::new()
            };
            write!(f, "\n  - {}{nth}: {}", a.url, a.reason)?;
            if a.try_number > 0 {
                write!(f, " [{} in {:.1} s]", human_bytes(a.bytes), a.elapsed.as_secs_f64())?;
            }
        }
        Ok(())
    }
}

/// Why the download stopped trying: the budget that ended it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GaveUp {
    /// Every URL that was worth retrying was tried this many times (retries).
    Tries(u32),
    /// The retry time ran out (retry-time).
    RetryTime(Duration),
}

impl fmt::Display for GaveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GaveUp::Tries(n) => write!(f, "gave up: each URL worth retrying was tried {n} times (retries)"),
            GaveUp::RetryTime(d) => write!(f, "gave up: no retry after {} (retry-time)", secs(*d)),
        }
    }
}

fn gave_up_line(g: &Option<GaveUp>) -> String {
    g.map(|g| format!("\n{g}")).unwrap_or_default()
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

    /// A mismatch found from a copy kept by an earlier download, without a request.
    #[error(
        "sha256 mismatch for `{file}` (known from an earlier download; no request made)\n  expected: {expected}\n  actual:   {actual}\n  kept in:  {}",
        kept.display()
    )]
    #[diagnostic(
        code(recipe::fetch::hash_mismatch),
        help(
            "if you trust that content, update the recipe's sha256 to the actual value; to download it again, \
             delete {}",
            kept.display()
        )
    )]
    KeptMismatch {
        file: String,
        expected: String,
        actual: String,
        kept: PathBuf,
    },

    /// A mismatch pointing at the recipe's `sha256` (boxed: it is large).
    #[error(transparent)]
    #[diagnostic(transparent)]
    RecipeMismatch(Box<RecipeMismatch>),

    #[error(
        "could not download `{file}`: every URL failed{}{}",
        AttemptList(attempts),
        gave_up_line(gave_up)
    )]
    #[diagnostic(
        code(recipe::fetch::failed),
        help(
            "check the URLs and the network; add a `mirror` to the source or a mirror site to the config file; \
             the limits (max-size, speed-limit, stall-timeout, …) are set in the config file's `fetch` section \
             or by flags (`recipe fetch --help`)"
        )
    )]
    AllFailed {
        file: String,
        attempts: Vec<Attempt>,
        /// The budget that ended it, when one did (not for 404s alone).
        gave_up: Option<GaveUp>,
    },

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

/// A sha256 mismatch pointing at the recipe's `sha256` line.
#[derive(Debug, Error, Diagnostic)]
#[error(
    "sha256 mismatch for `{file}` (source of {package})\n  expected: {expected}\n  actual:   {actual}\n  size:     {size} bytes\n  from:     {from}\n  kept in:  {}",
    kept.display()
)]
#[diagnostic(
    code(recipe::fetch::hash_mismatch),
    help(
        "the file in {} is never used; if you trust its content (upstream regenerated the archive), set \
         `sha256 \"{actual}\"`; to download it again, delete that file",
        kept.display()
    )
)]
pub struct RecipeMismatch {
    #[source_code]
    pub src: miette::NamedSource<std::sync::Arc<String>>,
    #[label("the recipe expects this")]
    pub span: miette::SourceSpan,
    pub package: String,
    pub file: String,
    pub expected: String,
    pub actual: String,
    /// The URL that served it, or where the copy came from.
    pub from: String,
    pub kept: PathBuf,
    pub size: u64,
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
