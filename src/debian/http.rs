//! Minimal verified HTTP downloads for archive indexes and packages: stream to
//! `<dest>.part` while hashing, check size and sha256, then rename, so an
//! interrupted download never leaves a file that looks complete.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::DebianError;

/// What a download must match; `None` for files whose hash we learn only from
/// their content (InRelease, checked by its signature instead).
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    pub sha256: &'a str,
    pub size: u64,
}

fn client() -> Result<&'static reqwest::blocking::Client, DebianError> {
    static CLIENT: OnceLock<Result<reqwest::blocking::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            // reqwest is built without a default crypto provider; https mirrors
            // need one. Installing twice fails harmlessly (someone else won).
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::blocking::Client::builder()
                .connect_timeout(Duration::from_secs(20))
                .timeout(Duration::from_secs(600))
                .user_agent(concat!("recipe/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|message| DebianError::Download {
            url: "(client)".into(),
            message: message.clone(),
        })
}

/// sha256 and size of a file on disk.
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n_total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        n_total += n as u64;
        h.update(&buf[..n]);
    }
    Ok((hex::encode(h.finalize()), n_total))
}

/// Whether `path` exists with the expected content (a cache hit).
pub fn matches(path: &Path, expect: Expect) -> bool {
    matches!(hash_file(path), Ok((h, n)) if h.eq_ignore_ascii_case(expect.sha256) && n == expect.size)
}

/// Downloads `url` to `dest` atomically, retrying transient failures.
pub fn download(url: &str, dest: &Path, expect: Option<Expect>) -> Result<(), DebianError> {
    let mut last = None;
    for attempt in 0..3u32 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(500 * u64::from(attempt)));
        }
        match download_once(url, dest, expect) {
            Ok(()) => return Ok(()),
            // A wrong hash or a 404 will not fix itself by retrying at once.
            Err(e @ DebianError::HashMismatch { .. }) => return Err(e),
            Err(e @ DebianError::Download { .. }) if is_permanent(&e) => return Err(e),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| DebianError::Download {
        url: url.into(),
        message: "no attempt made".into(),
    }))
}

fn is_permanent(e: &DebianError) -> bool {
    matches!(e, DebianError::Download { message, .. } if message.starts_with("HTTP 4"))
}

fn download_once(url: &str, dest: &Path, expect: Option<Expect>) -> Result<(), DebianError> {
    let fail = |message: String| DebianError::Download {
        url: url.to_string(),
        message,
    };
    let mut resp = client()?.get(url).send().map_err(|e| fail(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(fail(format!("HTTP {}", resp.status().as_u16())));
    }
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(|e| DebianError::io(format!("cannot create {}", dir.display()), e))?;
    }
    let part = dest.with_extension(format!("part{}", std::process::id()));
    let io = |e| DebianError::io(format!("cannot write {}", part.display()), e);
    let mut out = File::create(&part).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    let result = (|| {
        loop {
            let n = resp.read(&mut buf).map_err(|e| fail(e.to_string()))?;
            if n == 0 {
                break;
            }
            size += n as u64;
            h.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(io)?;
        }
        out.sync_all().map_err(io)?;
        let actual = hex::encode(h.finalize());
        if let Some(want) = expect
            && (!actual.eq_ignore_ascii_case(want.sha256) || size != want.size)
        {
            return Err(DebianError::HashMismatch {
                url: url.to_string(),
                expected: want.sha256.to_string(),
                actual,
                expected_size: want.size,
                actual_size: size,
            });
        }
        std::fs::rename(&part, dest).map_err(|e| DebianError::io(format!("cannot rename to {}", dest.display()), e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    result
}
