//! Fetch: sources into the content-addressed download cache, verified by
//! sha256, through mirrors with retries, never touching the network offline.
//!
//! Entry points:
//! - [`fetch_source`] for a rendered recipe source;
//! - [`download_verified`] / [`download_sized`] for any file known by URLs
//!   and sha256 (toolchain and sysroot `.deb`s use them with the sha256 and
//!   size of the archive index).
//!
//! Every transfer runs within [`TransferLimits`] (size, speed, silence,
//! duration) and every file within a [`RetryPolicy`]; hosts that failed go
//! last for the rest of the run (one [`FetchContext`] is one run).

mod budget;
mod cache;
pub mod config;
pub mod debian_mirror;
mod download;
mod error;
pub mod http;
pub mod mirrors;
pub mod progress;
pub mod pypi;
mod transfer;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

pub use budget::{RetryPolicy, TransferLimits, parse_size};
pub use cache::{DownloadCache, check_file_name, normalize_sha256};
pub use config::{LimitOverrides, MirrorSettings, UserConfig};
pub use download::{download_new, download_sized, download_to, download_verified};
pub use error::{Attempt, AttemptError, FetchError, GaveUp, Mismatch, RecipeMismatch, SizeSource};
pub use progress::{ProgressSink, Silent, Transfer};

use crate::recipe::rendered::{Origin, Source};

/// Everything a download needs. Cheap to share across threads by reference.
pub struct FetchContext {
    // Built on the first request: loading the system's certificates costs
    // more than the rest of a no-op build's checks.
    client: OnceLock<Result<reqwest::blocking::Client, String>>,
    pub cache: DownloadCache,
    /// Never touch the network: cache hits only.
    pub offline: bool,
    pub policy: RetryPolicy,
    pub limits: TransferLimits,
    pub mirrors: MirrorSettings,
    pub progress: Arc<dyn ProgressSink>,
    requests: AtomicU64,
    /// Origins (scheme, host, port) that failed in a way that says something
    /// about the host: their URLs go last for the rest of the run.
    failed_origins: Mutex<HashSet<String>>,
    // Resolved on first use only: a run served from the cache asks nobody.
    python_index: OnceLock<Result<String, String>>,
    debian_archive: OnceLock<Option<String>>,
}

/// How to build a [`FetchContext`].
pub struct FetchOptions {
    pub offline: bool,
    pub policy: RetryPolicy,
    pub limits: TransferLimits,
    pub mirrors: MirrorSettings,
    pub progress: Arc<dyn ProgressSink>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            offline: false,
            policy: RetryPolicy::default(),
            limits: TransferLimits::default(),
            mirrors: MirrorSettings::default(),
            progress: Arc::new(Silent),
        }
    }
}

impl FetchOptions {
    /// Options from the user's config (as `crate::settings` resolved it),
    /// with limits given on the command line winning over the file.
    pub fn from_loaded(c: &UserConfig, offline: bool, overrides: &LimitOverrides) -> FetchOptions {
        let mut limits = c.limits.clone();
        overrides.apply(&mut limits);
        FetchOptions {
            offline,
            policy: c.policy.clone(),
            limits,
            mirrors: c.mirrors.clone(),
            progress: Arc::new(Silent),
        }
    }
}

impl FetchContext {
    /// `cache_dir` is the tool's cache directory; downloads go to `downloads/` in it.
    pub fn new(cache_dir: &Path, options: FetchOptions) -> Result<FetchContext, FetchError> {
        let FetchOptions {
            offline,
            policy,
            limits,
            mirrors,
            progress,
        } = options;
        let cache = DownloadCache::new(cache_dir);
        let removed = cache.clean_stale_temp();
        if removed > 0 {
            progress.message(&format!(
                "removed {removed} partial download(s) left by an earlier run in {}",
                cache.downloads().join("tmp").display()
            ));
        }
        Ok(FetchContext {
            client: OnceLock::new(),
            cache,
            offline,
            policy,
            limits,
            mirrors,
            progress,
            requests: AtomicU64::new(0),
            failed_origins: Mutex::new(HashSet::new()),
            python_index: OnceLock::new(),
            debian_archive: OnceLock::new(),
        })
    }

    /// Records that the host of `url` failed (see `failed_origins`).
    pub(crate) fn mark_failed(&self, url: &str) {
        if let Ok(mut set) = self.failed_origins.lock() {
            set.insert(origin_of(url));
        }
    }

    /// `urls` with those on hosts that failed in this run moved to the end,
    /// each group in its original order.
    pub(crate) fn healthy_first<'a>(&self, urls: &'a [String]) -> Vec<&'a str> {
        let failed = match self.failed_origins.lock() {
            Ok(set) => set.clone(),
            Err(_) => HashSet::new(),
        };
        let (bad, good): (Vec<&str>, Vec<&str>) = urls
            .iter()
            .map(String::as_str)
            .partition(|u| failed.contains(&origin_of(u)));
        good.into_iter().chain(bad).collect()
    }

    pub(crate) fn client(&self) -> Result<&reqwest::blocking::Client, FetchError> {
        self.client
            .get_or_init(|| {
                http::client(http::ClientTimeouts {
                    connect: self.policy.connect_timeout,
                    read: self.policy.read_timeout,
                    max_redirects: self.policy.max_redirects,
                })
                .map_err(|e| error::chain(&e))
            })
            .as_ref()
            .map_err(|e| FetchError::Client(e.clone()))
    }

    pub(crate) fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// HTTP requests made so far (index pages included).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The Debian archive base URI, if one is configured anywhere.
    pub fn debian_archive(&self) -> Option<&str> {
        self.debian_archive
            .get_or_init(|| {
                self.mirrors
                    .debian_archive
                    .clone()
                    .or_else(debian_mirror::archive_from_apt)
            })
            .as_deref()
    }

    /// The Python package index (simple API root).
    pub fn python_index(&self) -> Result<&str, FetchError> {
        self.python_index
            .get_or_init(|| pypi::resolve_index(self.mirrors.python_index.as_deref(), self.mirrors.python.as_deref()))
            .as_deref()
            .map_err(|reason| FetchError::NoPythonIndex {
                reason: reason.to_string(),
            })
    }
}

/// `scheme://host:port` of a URL (the URL itself when it does not parse).
fn origin_of(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => u.origin().ascii_serialization(),
        Err(_) => url.to_string(),
    }
}

/// The cached, verified file of `source`, if present; never touches the network.
pub fn cached_source(ctx: &FetchContext, source: &Source) -> Option<PathBuf> {
    match &source.origin {
        Origin::Path { path } => Some(path.clone()),
        _ => {
            let hex = normalize_sha256(&source.file, &source.sha256).ok()?;
            ctx.cache.lookup(&hex, &source.file)
        }
    }
}

/// Fetches one source and returns the path of its verified file in the
/// download cache (or, for `path=` sources, the local path, unhashed).
/// A cache hit makes no request; offline, a miss is an error naming the file.
pub fn fetch_source(ctx: &FetchContext, source: &Source) -> Result<PathBuf, FetchError> {
    if let Origin::Path { path } = &source.origin {
        return match std::fs::symlink_metadata(path) {
            Ok(_) => Ok(path.clone()),
            Err(e) => Err(FetchError::io("cannot read local source", path, e)),
        };
    }
    check_file_name(&source.file)?;
    if let Some(hit) = cached_source(ctx, source) {
        return Ok(hit);
    }
    // Every URL already served this file under another hash: the mismatch
    // is known (offline too), so report it without downloading it again.
    if let Ok(expected) = normalize_sha256(&source.file, &source.sha256)
        && let Some(urls) = mirrors::known_urls(ctx, source)
        && let Some((actual, kept)) = ctx.cache.kept_copy(&source.file, &expected, &urls)
    {
        return Err(FetchError::KeptMismatch {
            file: source.file.clone(),
            expected,
            actual,
            kept,
        });
    }
    if ctx.offline {
        // Validate the hash first so a typo is reported as such.
        if !source.sha256.is_empty() {
            normalize_sha256(&source.file, &source.sha256)?;
        }
        return Err(FetchError::OfflineMissing {
            file: source.file.clone(),
            source_name: None,
            cache: ctx.cache.downloads(),
        });
    }
    let mirrors::Resolved { urls, size, unresolved } = mirrors::candidate_urls(ctx, source);
    if urls.is_empty() {
        return Err(match unresolved.into_iter().next() {
            Some((_, e)) => e,
            None => FetchError::NoUrl {
                file: source.file.clone(),
            },
        });
    }
    download_sized(ctx, &urls, &source.sha256, &source.file, size).map_err(|e| match e {
        // Mirrors that could not even be turned into a URL belong in the list.
        FetchError::AllFailed {
            file,
            mut attempts,
            gave_up,
        } => {
            for (what, err) in unresolved {
                attempts.push(Attempt {
                    url: what,
                    try_number: 0,
                    reason: AttemptError::Unresolved {
                        message: error::chain(&err),
                    },
                    bytes: 0,
                    elapsed: std::time::Duration::ZERO,
                });
            }
            FetchError::AllFailed {
                file,
                attempts,
                gave_up,
            }
        }
        other => other,
    })
}

/// [`fetch_source`] with the package named in the error.
pub fn fetch_for_package(ctx: &FetchContext, package: &str, source: &Source) -> Result<PathBuf, FetchError> {
    fetch_source(ctx, source).map_err(|e| match e {
        FetchError::OfflineMissing { file, cache, .. } => FetchError::OfflineMissing {
            file,
            source_name: Some(package.to_string()),
            cache,
        },
        other => {
            use miette::Diagnostic;
            let help = other.help().map(|h| h.to_string());
            FetchError::Source {
                package: package.to_string(),
                file: source.file.clone(),
                source: Box::new(other),
                help,
            }
        }
    })
}
