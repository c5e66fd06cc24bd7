//! One request: the status, then the body streamed into a locked temporary
//! file and hashed on the way, within the transfer limits.
//!
//! The body is read on a helper thread and handed over through a small
//! bounded channel. The blocking client only bounds each read by the same
//! timeout as the wait for the response head (30 s by default), which is far
//! too coarse to notice a stall in seconds or to check the speed of a drip;
//! waiting on the channel with a short timeout gives that control back. When
//! a transfer is abandoned its helper ends at its next read (at once for a
//! drip or an endless body, within the head timeout for a silent server).

use std::io::{Read, Write};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};

use super::FetchContext;
use super::budget::{Meter, SizeCap, parse_retry_after};
use super::cache::TempFile;
use super::error::{AttemptError, FetchError, chain};
use super::progress::Transfer;

/// A complete body in a temporary file, with its hash.
pub(crate) struct Fetched {
    pub tmp: TempFile,
    pub sha256: String,
    pub size: u64,
}

/// Why a request gave no complete body.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The server or the network: the caller decides between retrying,
    /// the next URL, or giving up.
    Remote {
        error: AttemptError,
        /// Body bytes received before it ended.
        bytes: u64,
        /// The server's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// A local problem (disk full, permissions): other URLs won't help.
    Local(FetchError),
}

fn remote(error: AttemptError, bytes: u64) -> Failure {
    Failure::Remote {
        error,
        bytes,
        retry_after: None,
    }
}

impl AttemptError {
    /// Worth another request to the same URL, after the other URLs.
    pub(crate) fn retryable(&self) -> bool {
        match self {
            AttemptError::Status { code } => *code >= 500 || *code == 408 || *code == 429,
            AttemptError::Transport { retry, .. } => *retry,
            AttemptError::BodyRead { .. }
            | AttemptError::Truncated { .. }
            | AttemptError::Stalled { .. }
            | AttemptError::TooSlow { .. }
            | AttemptError::Deadline { .. } => true,
            AttemptError::RetryAfterTooLong { .. }
            | AttemptError::Redirects { .. }
            | AttemptError::BadUrl { .. }
            | AttemptError::TooLarge { .. }
            | AttemptError::Announced { .. }
            | AttemptError::Mismatch { .. }
            | AttemptError::Unresolved { .. } => false,
        }
    }

    /// Says something about the host rather than about this file, so the
    /// host goes last for the rest of the run.
    pub(crate) fn host_fault(&self) -> bool {
        match self {
            AttemptError::Status { code } => *code >= 500 || *code == 408 || *code == 429,
            AttemptError::RetryAfterTooLong { .. }
            | AttemptError::Transport { .. }
            | AttemptError::BodyRead { .. }
            | AttemptError::Truncated { .. }
            | AttemptError::Stalled { .. }
            | AttemptError::TooSlow { .. }
            | AttemptError::Deadline { .. } => true,
            AttemptError::Redirects { .. }
            | AttemptError::BadUrl { .. }
            | AttemptError::TooLarge { .. }
            | AttemptError::Announced { .. }
            | AttemptError::Mismatch { .. }
            | AttemptError::Unresolved { .. } => false,
        }
    }
}

fn classify(e: &reqwest::Error) -> AttemptError {
    let message = chain(e);
    if e.is_redirect() {
        return AttemptError::Redirects { message };
    }
    if e.is_builder() {
        return AttemptError::BadUrl { message };
    }
    if e.is_timeout() {
        return AttemptError::Transport {
            message: format!("timed out: {message}"),
            retry: true,
        };
    }
    // A name that does not resolve or a refused connection will not change
    // within seconds: move on to the next mirror instead of waiting.
    let lower = message.to_ascii_lowercase();
    let retry = !(e.is_connect() && (lower.contains("dns error") || lower.contains("connection refused")));
    AttemptError::Transport { message, retry }
}

/// Requests `url` and streams its body into a temporary file. The body may
/// not exceed `expected_size` when known, else the global `max-size`.
pub(crate) fn fetch_once(
    ctx: &FetchContext,
    url: &str,
    file: &str,
    expected_size: Option<u64>,
) -> Result<Fetched, Failure> {
    let sent = Instant::now();
    ctx.count_request();
    let response = ctx
        .client()
        .map_err(Failure::Local)?
        .get(url)
        .send()
        .map_err(|e| remote(classify(&e), 0))?;
    let status = response.status();
    if !status.is_success() {
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let code = status.as_u16();
        let error = match retry_after {
            // Waiting that long would hold up every other download.
            Some(wait) if wait > ctx.policy.max_retry_after && AttemptError::Status { code }.retryable() => {
                AttemptError::RetryAfterTooLong {
                    code,
                    wait,
                    limit: ctx.policy.max_retry_after,
                }
            }
            _ => AttemptError::Status { code },
        };
        return Err(Failure::Remote {
            error,
            bytes: 0,
            retry_after,
        });
    }
    let cap = SizeCap::new(expected_size, ctx.limits.max_size);
    let announced = response.content_length();
    if let Some(length) = announced
        && length > cap.bytes
    {
        return Err(remote(
            AttemptError::Announced {
                length,
                limit: cap.bytes,
                basis: cap.basis,
            },
            0,
        ));
    }
    let mut tmp = ctx.cache.temp_file(file).map_err(Failure::Local)?;
    let mut transfer = ctx.progress.start(file, url, announced.or(expected_size));
    let meter = Meter::new(&ctx.limits, sent, Instant::now());
    match stream(response, &mut tmp, cap, meter, transfer.as_mut()) {
        Ok((sha256, size)) => {
            if let Some(len) = announced
                && size != len
            {
                let error = AttemptError::Truncated {
                    got: size,
                    announced: len,
                };
                transfer.finish(Err(&error.to_string()));
                return Err(remote(error, size));
            }
            transfer.finish(Ok(()));
            Ok(Fetched { tmp, sha256, size })
        }
        Err(failure) => {
            // The partial file goes now, before any wait for a retry.
            drop(tmp);
            let why = match &failure {
                Failure::Remote { error, .. } => error.to_string(),
                Failure::Local(e) => chain(e),
            };
            transfer.finish(Err(&why));
            Err(failure)
        }
    }
}

enum Chunk {
    Data(Vec<u8>),
    End,
    Failed(std::io::Error),
}

/// Reads `response` on its own thread; see the module comment for why.
fn spawn_reader(mut response: reqwest::blocking::Response) -> std::io::Result<mpsc::Receiver<Chunk>> {
    // Bounded: a fast server cannot queue more than a few chunks in memory.
    let (tx, rx) = mpsc::sync_channel(4);
    std::thread::Builder::new()
        .name("recipe-fetch-body".into())
        .spawn(move || {
            // 256 KiB: reads return what arrived, so this only caps a chunk.
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let chunk = match response.read(&mut buf) {
                    Ok(0) => Chunk::End,
                    Ok(n) => Chunk::Data(buf[..n].to_vec()),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => Chunk::Failed(e),
                };
                let last = !matches!(chunk, Chunk::Data(_));
                // A closed channel: the transfer was abandoned.
                if tx.send(chunk).is_err() || last {
                    break;
                }
            }
        })?;
    Ok(rx)
}

/// Hashes and writes the body until its end or until a limit ends it.
/// Returns the sha256 and the size.
fn stream(
    response: reqwest::blocking::Response,
    tmp: &mut TempFile,
    cap: SizeCap,
    mut meter: Meter,
    transfer: &mut dyn Transfer,
) -> Result<(String, u64), Failure> {
    let chunks = spawn_reader(response)
        .map_err(|e| Failure::Local(FetchError::io("cannot start a download thread for", &tmp.path, e)))?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    loop {
        let now = Instant::now();
        meter.check(now).map_err(|e| remote(e, size))?;
        let data = match chunks.recv_timeout(meter.next_wait(now)) {
            Ok(Chunk::Data(data)) => data,
            Ok(Chunk::End) => break,
            Ok(Chunk::Failed(e)) => return Err(remote(AttemptError::BodyRead { message: chain(&e) }, size)),
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => {
                let message = "the reading thread ended early".to_string();
                return Err(remote(AttemptError::BodyRead { message }, size));
            }
        };
        // Store up to the cap and no further: the disk use stays bounded.
        let room = cap.bytes - size;
        let fits = &data[..data.len().min(usize::try_from(room).unwrap_or(usize::MAX))];
        hasher.update(fits);
        tmp.file
            .write_all(fits)
            .map_err(|e| Failure::Local(FetchError::io("cannot write", &tmp.path, e)))?;
        size += fits.len() as u64;
        crate::fault::point("download-body");
        meter.record(Instant::now(), fits.len() as u64);
        transfer.advance(fits.len() as u64);
        if fits.len() < data.len() {
            let error = AttemptError::TooLarge {
                limit: cap.bytes,
                basis: cap.basis,
            };
            return Err(remote(error, size));
        }
    }
    Ok((hex::encode(hasher.finalize()), size))
}
