//! The HTTP client of the remote cache: one base URL, timeouts, and a
//! failure count that stops using a dead server for the rest of the run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::entry::{is_key, short};
use super::{RemoteError, Secret};

/// After this many consecutive network failures the cache is left alone for
/// the rest of the run, so a dead server costs a few timeouts, not one per package.
const MAX_FAILURES: usize = 3;
/// Largest blob restored unless the caller says otherwise (`recipe build`
/// passes the download limit, `--max-size`): an entry's size claim is not
/// trusted beyond it.
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 2 << 30;
/// Blob transfers get `timeout` plus one second per this many bytes.
const MIN_BYTES_PER_SEC: u64 = 1024 * 1024;

/// Loopback addresses and `localhost`: traffic that never leaves the machine.
fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else { return false };
    // IPv6 hosts come bracketed: `[::1]`.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

pub struct RemoteCache {
    pub(super) base: reqwest::Url,
    /// Tags written entries, and is required on read entries, when set.
    pub(super) secret: Option<Secret>,
    pub(super) client: reqwest::blocking::Client,
    pub(super) timeout: Duration,
    pub(super) max_blob: u64,
    pub(super) failures: AtomicUsize,
    /// Blobs found damaged this run (sha256): an upload of the same content
    /// sends it again instead of trusting the server's copy, so a rebuild
    /// repairs the cache.
    pub(super) damaged: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

pub(super) enum Get {
    Found(reqwest::blocking::Response),
    NotFound,
}

impl RemoteCache {
    /// A cache without a secret: entries are neither tagged nor checked.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, RemoteError> {
        RemoteCache::with_secret(url, timeout, None)
    }

    /// Plain http to anything but this machine is refused without a secret.
    pub fn with_secret(url: &str, timeout: Duration, secret: Option<Secret>) -> Result<Self, RemoteError> {
        let invalid = |reason: &str| RemoteError::InvalidUrl {
            url: redact(url),
            reason: reason.into(),
        };
        let mut base = reqwest::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(invalid("only http and https are supported"));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(invalid("no query or fragment allowed"));
        }
        if base.scheme() == "http" && secret.is_none() && !is_loopback(&base) {
            return Err(RemoteError::Insecure { url: redact(url) });
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        // Redirects are followed as by any client: entries are checked by
        // their HMAC and blobs by their digest, wherever they come from.
        let client = crate::fetch::http::client(crate::fetch::http::ClientTimeouts {
            connect: timeout,
            read: timeout,
            max_redirects: 10,
        })
        .map_err(RemoteError::Client)?;
        Ok(RemoteCache {
            base,
            secret,
            client,
            timeout,
            max_blob: DEFAULT_MAX_BLOB_BYTES,
            failures: AtomicUsize::new(0),
            damaged: Default::default(),
        })
    }

    /// Blobs larger than `bytes` are refused before they are requested.
    pub fn with_max_blob(mut self, bytes: u64) -> Self {
        self.max_blob = bytes;
        self
    }

    pub(super) fn mark_damaged(&self, sha: &str) {
        if let Ok(mut set) = self.damaged.lock() {
            set.insert(sha.to_string());
        }
    }

    pub(super) fn is_damaged(&self, sha: &str) -> bool {
        self.damaged.lock().is_ok_and(|set| set.contains(sha))
    }

    /// The URL without credentials, for reports and messages.
    pub fn display_url(&self) -> String {
        redact(self.base.as_str())
    }

    pub(super) fn url(&self, kind: &str, hash: &str) -> Result<reqwest::Url, RemoteError> {
        self.base
            .join(&format!("{kind}/{hash}"))
            .map_err(|e| RemoteError::Unavailable(format!("cannot form a URL: {e}")))
    }

    pub(super) fn transfer_timeout(&self, bytes: u64) -> Duration {
        self.timeout + Duration::from_secs(bytes / MIN_BYTES_PER_SEC)
    }

    pub(super) fn disabled(&self) -> Option<String> {
        let n = self.failures.load(Ordering::Relaxed);
        (n >= MAX_FAILURES).then(|| format!("not used for the rest of this run after {n} failed requests"))
    }

    /// Sends blob `sha` unless the server has it (a blob found damaged this
    /// run is sent again whatever HEAD says); `open` is called only to send.
    /// Whether it was sent.
    pub(super) fn put_blob_if_absent(
        &self,
        sha: &str,
        size: u64,
        open: impl FnOnce() -> Result<std::fs::File, super::RemoteError>,
    ) -> Result<bool, super::RemoteError> {
        let cas = self.url("cas", sha)?;
        if !self.is_damaged(sha) && self.has_blob(cas.clone())? {
            return Ok(false);
        }
        self.put(
            cas,
            reqwest::blocking::Body::sized(open()?, size),
            self.transfer_timeout(size),
            "cas",
        )?;
        Ok(true)
    }

    /// Whether the server has the blob at `cas` (`HEAD`).
    pub(super) fn has_blob(&self, cas: reqwest::Url) -> Result<bool, super::RemoteError> {
        Ok(self
            .client
            .head(cas)
            .send()
            .map_err(|e| super::RemoteError::Unavailable(self.network_error("HEAD cas", e)))?
            .status()
            .is_success())
    }

    pub(super) fn network_error(&self, what: &str, e: reqwest::Error) -> String {
        self.failures.fetch_add(1, Ordering::Relaxed);
        // Without the URL: it may carry credentials.
        let e = e.without_url();
        let mut msg = format!("{what}: {e}");
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(&format!(": {s}"));
            src = s.source();
        }
        msg
    }

    /// GET with 404 as `NotFound`; anything else but 2xx is an error.
    pub(super) fn get(&self, kind: &str, hash: &str, timeout: Duration) -> Result<Get, String> {
        let url = self.url(kind, hash).map_err(|e| e.to_string())?;
        let what = format!("GET {kind}/{}", short(hash));
        let resp = self
            .client
            .get(url)
            .timeout(timeout)
            .send()
            .map_err(|e| self.network_error(&what, e))?;
        match resp.status() {
            s if s.is_success() => {
                self.failures.store(0, Ordering::Relaxed);
                Ok(Get::Found(resp))
            }
            reqwest::StatusCode::NOT_FOUND => {
                self.failures.store(0, Ordering::Relaxed);
                Ok(Get::NotFound)
            }
            s => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                Err(format!("{what}: HTTP {s}"))
            }
        }
    }

    /// Whether entries are authenticated (a secret is set).
    pub fn authenticated(&self) -> bool {
        self.secret.is_some()
    }

    /// Whether the remote has an entry for `key` (any failure counts as no).
    pub fn has_entry(&self, key: &str) -> bool {
        if !is_key(key) || self.disabled().is_some() {
            return false;
        }
        let Ok(url) = self.url("ac", key) else { return false };
        self.client.head(url).send().is_ok_and(|r| r.status().is_success())
    }

    pub(super) fn put(
        &self,
        url: reqwest::Url,
        body: reqwest::blocking::Body,
        timeout: Duration,
        kind: &str,
    ) -> Result<(), RemoteError> {
        let what = format!("PUT {kind}");
        let resp = self
            .client
            .put(url)
            .timeout(timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(body)
            .send()
            .map_err(|e| RemoteError::Unavailable(self.network_error(&what, e)))?;
        if !resp.status().is_success() {
            self.failures.fetch_add(1, Ordering::Relaxed);
            return Err(RemoteError::Unavailable(format!("{what}: HTTP {}", resp.status())));
        }
        self.failures.store(0, Ordering::Relaxed);
        Ok(())
    }
}

/// Whether a URL carries a user name or password (it must then not be
/// written into files such as a batch plan).
pub fn has_credentials(url: &str) -> bool {
    match reqwest::Url::parse(url) {
        Ok(u) => !u.username().is_empty() || u.password().is_some(),
        Err(_) => url.contains('@'),
    }
}

/// `http://user:secret@host/` → `http://user:***@host/`, for anything shown
/// or written (reports, the command line in a report).
pub fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => url.split('@').next_back().unwrap_or(url).to_string(),
    }
}
