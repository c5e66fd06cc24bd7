//! One verified download from a list of URLs: each URL tried in turn, a URL
//! that failed in a way worth retrying tried again only after the others
//! (with backoff and jitter, or the server's `Retry-After`), within the
//! retry time; atomic rename into the cache only after the hash matched.

use std::path::PathBuf;
use std::time::Instant;

use super::FetchContext;
use super::budget::unit_random;
use super::cache::{check_file_name, normalize_sha256};
use super::error::{Attempt, AttemptError, FetchError, GaveUp, Mismatch};
use super::transfer::{Failure, Fetched, fetch_once};

/// One URL of a download and where it stands.
struct Slot<'a> {
    url: &'a str,
    /// Requests made to it so far.
    tries: u32,
    /// Not to be requested again before this instant (backoff).
    not_before: Instant,
    /// Still worth a request.
    live: bool,
    /// Its last failure was worth a retry that was never made.
    retry_pending: bool,
}

/// The live slot to request next: fewest requests first (so every URL is
/// tried before any is retried), then list order (the order of preference).
fn next_slot(slots: &[Slot]) -> Option<usize> {
    slots
        .iter()
        .enumerate()
        .filter(|(_, s)| s.live)
        .min_by_key(|(i, s)| (s.tries, *i))
        .map(|(i, _)| i)
}

/// Downloads `file_name` from the first of `urls` that serves content with
/// sha256 `expected_sha256`, and returns its path in the download cache.
/// Same as [`download_sized`] without a known size.
pub fn download_verified(
    ctx: &FetchContext,
    urls: &[String],
    expected_sha256: &str,
    file_name: &str,
) -> Result<PathBuf, FetchError> {
    download_sized(ctx, urls, expected_sha256, file_name, None)
}

/// Downloads `file_name` from the first of `urls` that serves content with
/// sha256 `expected_sha256`, and returns its path in the download cache.
///
/// This is the building block for every download (recipe sources, and the
/// Debian `.deb`s of toolchains and sysroots, whose sha256 and size come from
/// the archive index):
/// - a cache hit (`<cache>/downloads/sha256/<hex>/<file_name>`) returns at
///   once without any network request, even when `ctx.offline` is false;
/// - with `ctx.offline`, a miss is [`FetchError::OfflineMissing`];
/// - URLs on hosts that already failed in this run go last;
/// - each URL is tried once in turn; failures worth retrying (timeouts,
///   resets, stalls, too slow, 5xx, 429, truncated bodies) are retried only
///   after every other URL had its turn, after a backoff with jitter or the
///   server's `Retry-After`, up to `ctx.policy.attempts` requests per URL and
///   never starting after `ctx.policy.retry_time`; 404 and other permanent
///   failures are not retried;
/// - the body may not exceed `expected_size` when given, else the global
///   `max-size`, and must keep up the minimum speed and finish in time
///   (`ctx.limits`);
/// - content is hashed while streaming into a temporary file under the cache,
///   and renamed to its final name only after the hash matched; a mismatch is
///   moved to `<cache>/quarantine/`; any other failure removes the file at once;
/// - an empty `expected_sha256` downloads once, quarantines the file and
///   fails with [`FetchError::MissingSha256`] carrying the computed value.
///
/// Safe to call from many threads at once (also for the same file: each
/// download has its own temporary file and the final rename is atomic).
pub fn download_sized(
    ctx: &FetchContext,
    urls: &[String],
    expected_sha256: &str,
    file_name: &str,
    expected_size: Option<u64>,
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
    needs_network(ctx, urls, file_name)?;
    let want = Wanted {
        file_name,
        accept: Accept::Sha256(expected.as_deref()),
        size: expected_size,
    };
    let mut round = Round::new(ctx, urls);
    if let Some(path) = round.run(ctx, &want)? {
        return Ok(path);
    }
    Err(round.into_error(ctx, file_name, expected))
}

/// Downloads a file whose content the caller verifies itself (a signed
/// Debian `InRelease`) to `dest`, through the same transfer, limits, retries
/// and URL fail-over as every other download, at most `max_size` bytes.
/// Nothing is kept in the download cache.
pub fn download_to(
    ctx: &FetchContext,
    urls: &[String],
    file_name: &str,
    max_size: u64,
    dest: &std::path::Path,
) -> Result<(), FetchError> {
    check_file_name(file_name)?;
    needs_network(ctx, urls, file_name)?;
    let want = Wanted {
        file_name,
        accept: Accept::CheckedByCaller { dest },
        size: Some(max_size),
    };
    let mut round = Round::new(ctx, urls);
    match round.run(ctx, &want)? {
        Some(_) => Ok(()),
        None => Err(round.into_error(ctx, file_name, None)),
    }
}

/// How a complete body is accepted.
enum Accept<'a> {
    /// Its sha256 must be this one (committed to the cache); `None`: nobody
    /// knows it yet (quarantined, and the value reported).
    Sha256(Option<&'a str>),
    /// Moved to this path as it is; the caller verifies it.
    CheckedByCaller { dest: &'a std::path::Path },
}

/// Refuses a download that cannot start: offline, or no URL to try.
fn needs_network(ctx: &FetchContext, urls: &[String], file_name: &str) -> Result<(), FetchError> {
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
    Ok(())
}

/// What one download is after.
struct Wanted<'a> {
    file_name: &'a str,
    accept: Accept<'a>,
    /// The body's size when known (a limit either way).
    size: Option<u64>,
}

/// The requests of one download so far.
struct Round<'a> {
    started: Instant,
    slots: Vec<Slot<'a>>,
    max_tries: u32,
    attempts: Vec<Attempt>,
    mismatch: Option<Mismatch>,
    out_of_time: bool,
}

impl<'a> Round<'a> {
    fn new(ctx: &FetchContext, urls: &'a [String]) -> Self {
        let started = Instant::now();
        let slots = ctx
            .healthy_first(urls)
            .into_iter()
            .map(|url| Slot {
                url,
                tries: 0,
                not_before: started,
                live: true,
                retry_pending: false,
            })
            .collect();
        Round {
            started,
            slots,
            max_tries: ctx.policy.attempts.max(1),
            attempts: Vec::new(),
            mismatch: None,
            out_of_time: false,
        }
    }

    /// Requests the URLs in turn until one gives an accepted body (its
    /// path), or none is left worth a request (`None`).
    fn run(&mut self, ctx: &FetchContext, want: &Wanted) -> Result<Option<PathBuf>, FetchError> {
        while let Some(i) = next_slot(&self.slots) {
            if !self.wait_turn(ctx, i) {
                break;
            }
            if let Some(path) = self.request(ctx, i, want)? {
                return Ok(Some(path));
            }
        }
        Ok(None)
    }

    /// Sleeps until slot `i` may be requested again; false when that would
    /// start after the retry time.
    fn wait_turn(&mut self, ctx: &FetchContext, i: usize) -> bool {
        let slot = &self.slots[i];
        if slot.tries == 0 {
            return true;
        }
        let wait = slot.not_before.saturating_duration_since(Instant::now());
        if self.started.elapsed() + wait > ctx.policy.retry_time {
            self.out_of_time = true;
            return false;
        }
        if !wait.is_zero() {
            ctx.progress
                .message(&format!("retrying {} in {:.1} s", slot.url, wait.as_secs_f64()));
            std::thread::sleep(wait);
        }
        true
    }

    /// One request to slot `i`: the verified file, or the failure recorded
    /// and the slot rescheduled or retired.
    fn request(&mut self, ctx: &FetchContext, i: usize, want: &Wanted) -> Result<Option<PathBuf>, FetchError> {
        let slot = &mut self.slots[i];
        slot.tries += 1;
        slot.retry_pending = false;
        let begun = Instant::now();
        let (reason, bytes, retry_after) = match fetch_once(ctx, slot.url, want.file_name, want.size) {
            Ok(fetched) => match accept(ctx, fetched, &want.accept, slot.url, want.file_name)? {
                Ok(path) => return Ok(Some(path)),
                Err(m) => {
                    let reason = AttemptError::Mismatch {
                        actual: m.actual.clone(),
                        size: m.size,
                    };
                    let bytes = m.size;
                    self.mismatch.get_or_insert(m);
                    (reason, bytes, None)
                }
            },
            Err(Failure::Local(e)) => return Err(e),
            Err(Failure::Remote {
                error,
                bytes,
                retry_after,
            }) => (error, bytes, retry_after),
        };
        if reason.host_fault() {
            ctx.mark_failed(slot.url);
        }
        if reason.retryable() && slot.tries < self.max_tries {
            let wait = ctx.policy.wait_before(slot.tries - 1, retry_after, unit_random());
            slot.not_before = Instant::now() + wait;
            slot.retry_pending = true;
        } else {
            slot.live = false;
            slot.retry_pending = reason.retryable();
        }
        self.attempts.push(Attempt {
            url: slot.url.to_string(),
            try_number: slot.tries,
            reason,
            bytes,
            elapsed: begun.elapsed(),
        });
        Ok(None)
    }

    /// Why no URL gave the file: the first hash mismatch when there was one
    /// (the strongest evidence), else every attempt and why it stopped.
    fn into_error(self, ctx: &FetchContext, file_name: &str, expected: Option<String>) -> FetchError {
        let gave_up = if self.out_of_time {
            Some(GaveUp::RetryTime(ctx.policy.retry_time))
        } else if self.slots.iter().any(|s| s.retry_pending) {
            Some(GaveUp::Tries(self.max_tries))
        } else {
            None
        };
        let file = file_name.to_string();
        match (self.mismatch, expected) {
            (Some(m), Some(expected)) => {
                let others = self.attempts.into_iter().filter(|a| a.url != m.url).collect();
                FetchError::HashMismatch {
                    file,
                    expected,
                    mismatch: Box::new(m),
                    others,
                }
            }
            _ => FetchError::AllFailed {
                file,
                attempts: self.attempts,
                gave_up,
            },
        }
    }
}

/// Downloads a file whose sha256 nobody knows yet (a recipe being written):
/// the same transfer, limits and retries as [`download_sized`], then the
/// file is kept in the cache under the hash computed while streaming.
/// Returns its cached path and that hash.
pub fn download_new(ctx: &FetchContext, urls: &[String], file_name: &str) -> Result<(PathBuf, String), FetchError> {
    match download_sized(ctx, urls, "", file_name, None) {
        // Without an expected hash the download ends in quarantine; the
        // author asked for this file by URL, so its content is what the
        // recipe will pin: move it where a later fetch finds it.
        Err(FetchError::MissingSha256 { actual, kept, .. }) => {
            let dest = ctx.cache.path_for(&actual, file_name);
            if let Some(dir) = dest.parent() {
                std::fs::create_dir_all(dir).map_err(|e| FetchError::io("cannot create", dir, e))?;
            }
            std::fs::rename(&kept, &dest).map_err(|e| FetchError::io("cannot move into place", &dest, e))?;
            // The quarantine's note of where it came from goes with it.
            let mut note = kept.into_os_string();
            note.push(".from");
            let _ = std::fs::remove_file(note);
            Ok((dest, actual))
        }
        Err(other) => Err(other),
        // Unreachable in practice (no expected hash never verifies), but a
        // committed file is as good: hash it to report its value.
        Ok(path) => {
            let sha = hash_file(&path)?;
            Ok((path, sha))
        }
    }
}

fn hash_file(path: &std::path::Path) -> Result<String, FetchError> {
    crate::digest::sha256_file(path).map_err(|e| FetchError::io("cannot read", path, e))
}

/// Commits a matching download; quarantines anything else; hands over a
/// body the caller checks. The outer `Result` is for local errors, the inner
/// one for a content mismatch.
fn accept(
    ctx: &FetchContext,
    fetched: Fetched,
    how: &Accept,
    url: &str,
    file: &str,
) -> Result<Result<PathBuf, Mismatch>, FetchError> {
    let Fetched { tmp, sha256, size } = fetched;
    let expected = match how {
        Accept::Sha256(expected) => *expected,
        Accept::CheckedByCaller { dest } => {
            ctx.cache.deliver(tmp, dest)?;
            return Ok(Ok(dest.to_path_buf()));
        }
    };
    match expected {
        Some(e) if e == sha256 => Ok(Ok(ctx.cache.commit(tmp, &sha256, file)?)),
        Some(_) => {
            let quarantined = ctx.cache.quarantine(tmp, &sha256, file, url)?;
            Ok(Err(Mismatch {
                url: url.to_string(),
                actual: sha256,
                size,
                quarantined,
            }))
        }
        None => {
            let kept = ctx.cache.quarantine(tmp, &sha256, file, url)?;
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
    use std::time::Duration;

    use super::*;

    fn slot(url: &str, tries: u32, after_ms: u64, live: bool) -> Slot<'_> {
        let base = Instant::now();
        Slot {
            url,
            tries,
            not_before: base + Duration::from_millis(after_ms),
            live,
            retry_pending: false,
        }
    }

    #[test]
    fn every_url_is_tried_before_any_is_retried() {
        let slots = [slot("a", 1, 0, true), slot("b", 0, 0, true), slot("c", 0, 0, true)];
        assert_eq!(next_slot(&slots), Some(1));
        let slots = [slot("a", 2, 0, true), slot("b", 1, 500, true), slot("c", 1, 100, false)];
        assert_eq!(next_slot(&slots), Some(1), "fewest tries, even if it must wait");
        let slots = [slot("a", 1, 0, false)];
        assert_eq!(next_slot(&slots), None);
    }
}
