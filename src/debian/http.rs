//! The one download whose hash is not known in advance: `InRelease` (its
//! signature is checked instead). Everything else goes through
//! `crate::fetch::download_verified` with the sha256 from the signed index.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use super::DebianError;
use crate::fetch::FetchContext;

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
        let body = match resp.bytes() {
            Ok(b) => b,
            Err(e) => {
                last = e.to_string();
                continue;
            }
        };
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
