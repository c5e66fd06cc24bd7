//! One verified download from a list of URLs: streaming sha256, retries with
//! backoff for transient failures, fail-over to the next URL, atomic rename
//! into the cache only after the hash matched.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use super::FetchContext;
use super::cache::{TempFile, check_file_name, normalize_sha256};
use super::error::{Attempt, FetchError, Mismatch, chain};

/// How hard to try. Tests use short timeouts and backoffs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Requests per URL for transient failures (at least 1).
    pub attempts: u32,
    /// Wait before the first retry; doubled each time up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub connect_timeout: Duration,
    /// Longest wait for the response head and for each read of the body.
    pub read_timeout: Duration,
    /// Redirects followed before giving up on a URL (loops end here).
    pub max_redirects: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(30),
            max_redirects: 10,
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry).unwrap_or(u32::MAX);
        self.initial_backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// Why one request did not give a verified file, and what to do next.
#[derive(Debug)]
pub(crate) enum Failure {
    /// 404/410: the next URL, at once.
    NotFound(String),
    /// Worth retrying the same URL: timeouts, resets, 5xx, truncated bodies.
    Transient(String),
    /// Retrying will not help (4xx, redirect loop, bad URL): next URL.
    Permanent(String),
    /// The content is wrong; already moved to quarantine.
    Mismatch(Mismatch),
    /// A local problem (disk full, permissions): stop, other URLs won't help.
    Local(FetchError),
}

impl Failure {
    fn reason(&self) -> String {
        match self {
            Failure::NotFound(s) | Failure::Transient(s) | Failure::Permanent(s) => s.clone(),
            Failure::Mismatch(m) => format!("sha256 mismatch: got {} ({} bytes)", m.actual, m.size),
            Failure::Local(e) => chain(e),
        }
    }
}

/// A complete download in a temporary file with its hash.
pub(crate) struct Fetched {
    pub tmp: TempFile,
    pub sha256: String,
    pub size: u64,
}

fn classify(e: &reqwest::Error) -> Failure {
    let msg = chain(e);
    if e.is_redirect() {
        return Failure::Permanent(format!("redirect loop or too many redirects: {msg}"));
    }
    if e.is_builder() {
        return Failure::Permanent(format!("invalid URL: {msg}"));
    }
    if e.is_timeout() {
        return Failure::Transient(format!("timed out: {msg}"));
    }
    // A name that does not resolve or a refused connection will not change
    // within seconds: move on to the next mirror instead of waiting.
    let lower = msg.to_ascii_lowercase();
    if e.is_connect() && (lower.contains("dns error") || lower.contains("connection refused")) {
        return Failure::Permanent(msg);
    }
    Failure::Transient(msg)
}

/// Streams `url` into a temporary file, hashing as it goes.
pub(crate) fn fetch_once(ctx: &FetchContext, url: &str, file: &str) -> Result<Fetched, Failure> {
    ctx.count_request();
    let mut response = ctx.client().get(url).send().map_err(|e| classify(&e))?;
    let status = response.status();
    if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
        return Err(Failure::NotFound(format!("HTTP {status}")));
    }
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::TOO_MANY_REQUESTS {
        return Err(Failure::Transient(format!("HTTP {status}")));
    }
    if !status.is_success() {
        return Err(Failure::Permanent(format!("HTTP {status}")));
    }
    let expected_len = response.content_length();
    let mut tmp = ctx.cache.temp_file(file).map_err(Failure::Local)?;
    let mut transfer = ctx.progress.start(file, url, expected_len);
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    // 256 KiB: large enough that syscalls and hashing calls amortize, small
    // enough to stay in L2 between the read, the hash and the write.
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match response.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let why = format!("body read failed after {size} bytes: {}", chain(&e));
                transfer.finish(Err(&why));
                return Err(Failure::Transient(why));
            }
        };
        let chunk = &buf[..n];
        hasher.update(chunk);
        if let Err(e) = tmp.file.write_all(chunk) {
            transfer.finish(Err("write failed"));
            return Err(Failure::Local(FetchError::io("cannot write", &tmp.path, e)));
        }
        size += n as u64;
        transfer.advance(n as u64);
    }
    if let Some(len) = expected_len
        && size != len
    {
        let why = format!("truncated body: got {size} of {len} bytes");
        transfer.finish(Err(&why));
        return Err(Failure::Transient(why));
    }
    transfer.finish(Ok(()));
    Ok(Fetched {
        tmp,
        sha256: hex::encode(hasher.finalize()),
        size,
    })
}

/// Downloads `file_name` from the first of `urls` that serves content with
/// sha256 `expected_sha256`, and returns its path in the download cache.
///
/// This is the building block for every download (recipe sources, and the
/// Debian `.deb`s of toolchains and sysroots, whose sha256 comes from the
/// archive index):
/// - a cache hit (`<cache>/downloads/sha256/<hex>/<file_name>`) returns at
///   once without any network request, even when `ctx.offline` is false;
/// - with `ctx.offline`, a miss is [`FetchError::OfflineMissing`];
/// - each URL is tried in order; transient failures (timeouts, resets, 5xx,
///   truncated bodies) are retried with backoff per `ctx.policy`; 404 and
///   other permanent failures move on to the next URL at once;
/// - content is hashed while streaming into a temporary file under the cache,
///   and renamed to its final name only after the hash matched; a mismatch is
///   moved to `<cache>/quarantine/` and the next URL is tried;
/// - an empty `expected_sha256` downloads once, quarantines the file and
///   fails with [`FetchError::MissingSha256`] carrying the computed value.
///
/// Safe to call from many threads at once (also for the same file: each
/// download has its own temporary file and the final rename is atomic).
pub fn download_verified(
    ctx: &FetchContext,
    urls: &[String],
    expected_sha256: &str,
    file_name: &str,
) -> Result<PathBuf, FetchError> {
    check_file_name(file_name)?;
    let expected = if expected_sha256.trim().is_empty() {
        None
    } else {
        Some(normalize_sha256(file_name, expected_sha256)?)
    };
    if let Some(hex) = &expected
        && let Some(hit) = ctx.cache.lookup(hex, file_name)
    {
        return Ok(hit);
    }
    if ctx.offline {
        return Err(FetchError::OfflineMissing {
            file: file_name.to_string(),
            source_name: None,
            cache: ctx.cache.downloads(),
        });
    }
    if urls.is_empty() {
        return Err(FetchError::NoUrl {
            file: file_name.to_string(),
        });
    }
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut mismatch: Option<Mismatch> = None;
    for url in urls {
        let mut tries = 0;
        let failure = loop {
            tries += 1;
            match fetch_once(ctx, url, file_name) {
                Ok(fetched) => match verify(ctx, fetched, expected.as_deref(), url, file_name)? {
                    Ok(path) => return Ok(path),
                    Err(m) => break Failure::Mismatch(m),
                },
                Err(Failure::Transient(why)) if tries < ctx.policy.attempts.max(1) => {
                    ctx.progress.message(&format!("retrying {url}: {why}"));
                    std::thread::sleep(ctx.policy.backoff(tries - 1));
                }
                Err(Failure::Local(e)) => return Err(e),
                Err(f) => break f,
            }
        };
        attempts.push(Attempt {
            url: url.clone(),
            tries,
            reason: failure.reason(),
        });
        if let Failure::Mismatch(m) = failure {
            mismatch.get_or_insert(m);
        }
    }
    let file = file_name.to_string();
    match (mismatch, expected) {
        (Some(m), Some(expected)) => {
            let others = attempts.into_iter().filter(|a| a.url != m.url).collect();
            Err(FetchError::HashMismatch {
                file,
                expected,
                mismatch: Box::new(m),
                others,
            })
        }
        _ => Err(FetchError::AllFailed { file, attempts }),
    }
}

/// Commits a matching download; quarantines anything else. The outer
/// `Result` is for local errors, the inner one for a content mismatch.
fn verify(
    ctx: &FetchContext,
    fetched: Fetched,
    expected: Option<&str>,
    url: &str,
    file: &str,
) -> Result<Result<PathBuf, Mismatch>, FetchError> {
    let Fetched { tmp, sha256, size } = fetched;
    match expected {
        Some(e) if e == sha256 => Ok(Ok(ctx.cache.commit(tmp, &sha256, file)?)),
        Some(_) => {
            let quarantined = ctx.cache.quarantine(tmp, &sha256, file)?;
            Ok(Err(Mismatch {
                url: url.to_string(),
                actual: sha256,
                size,
                quarantined,
            }))
        }
        None => {
            let kept = ctx.cache.quarantine(tmp, &sha256, file)?;
            Err(FetchError::MissingSha256 {
                file: file.to_string(),
                url: url.to_string(),
                actual: sha256,
                size,
                kept,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            ..RetryPolicy::default()
        };
        assert_eq!(p.backoff(0), Duration::from_millis(100));
        assert_eq!(p.backoff(1), Duration::from_millis(200));
        assert_eq!(p.backoff(2), Duration::from_millis(350));
        assert_eq!(p.backoff(40), Duration::from_millis(350));
    }
}
