//! The one download whose hash is not known in advance: `InRelease` (its
//! signature is checked instead). Everything else goes through
//! `crate::fetch::download_verified` with the sha256 from the signed index.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use super::DebianError;
use crate::fetch::FetchContext;

/// Refused beyond this size (Debian's largest InRelease is well under 1 MiB).
const MAX_INRELEASE_BYTES: u64 = 16 * 1024 * 1024;

/// Downloads `url` to `dest` atomically (temp file + rename), with a few
/// retries for transient failures; 4xx answers fail at once.
pub fn download_unverified(fetch: &FetchContext, url: &str, dest: &Path) -> Result<(), DebianError> {
    let fail = |message: String| DebianError::Download {
        url: url.to_string(),
        message,
    };
    let mut last = String::new();
    for attempt in 0..3u64 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(500 * attempt));
        }
        fetch.count_request();
        let resp = match fetch.client().get(url).send() {
            Ok(r) => r,
            Err(e) => {
                last = e.to_string();
                continue;
            }
        };
        let status = resp.status();
        if status.is_client_error() {
            return Err(fail(format!("HTTP {}", status.as_u16())));
        }
        if !status.is_success() {
            last = format!("HTTP {}", status.as_u16());
            continue;
        }
        // An InRelease is ~100 KiB; a server streaming without end must not
        // fill memory.
        let mut body = Vec::new();
        if let Err(e) = std::io::Read::take(resp, MAX_INRELEASE_BYTES + 1).read_to_end(&mut body) {
            last = e.to_string();
            continue;
        }
        if body.len() as u64 > MAX_INRELEASE_BYTES {
            return Err(fail(format!("larger than {MAX_INRELEASE_BYTES} bytes")));
        }
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(|e| DebianError::io(format!("cannot create {}", dir.display()), e))?;
        }
        let part = dest.with_extension(format!("part{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&part)?;
            f.write_all(&body)?;
            f.sync_all()?;
            std::fs::rename(&part, dest)
        };
        return write().map_err(|e| {
            let _ = std::fs::remove_file(&part);
            DebianError::io(format!("cannot write {}", dest.display()), e)
        });
    }
    Err(fail(last))
}
