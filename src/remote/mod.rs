//! A shared cache of package outputs between machines, over the bazel-remote
//! HTTP protocol: `GET/PUT/HEAD <base>/cas/<sha256>` for content and
//! `<base>/ac/<key>` for the key → content mapping.
//!
//! An output is stored as a deterministic, gzip-compressed tar in the CAS;
//! the AC entry under the build key is a small JSON document ([`AcEntry`])
//! naming the blob and the output's tree digest. A fetched entry is used only
//! after the blob's sha256 and the unpacked tree's digest both match: a
//! missing, corrupt or unreachable entry is a miss with a reason, never an
//! error that stops a build. (A real bazel-remote validates AC entries as
//! protobuf unless started with `--disable_http_ac_validation`.)
//!
//! With a fleet secret ([`Secret`]) entries are tagged when written and
//! untagged or mistagged ones are ignored when read (see `auth` and the trust
//! model in docs/batch.md); a restored output must also pass the caller's
//! post-build checks before it replaces anything.

mod auth;
mod pack;
mod restore;
mod writer;

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use miette::Diagnostic;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

pub use auth::{MIN_SECRET_BYTES, Secret};
pub use pack::{PackError, pack, unpack};
pub use restore::{Restore, try_restore};
pub use writer::{RemoteWriter, UploadSummary};

/// The environment variable read when `--remote-cache` is not given.
pub const URL_ENV: &str = "RECIPE_REMOTE_CACHE";
/// The environment variable holding the fleet's secret (wins over the
/// config file's `remote-cache { secret-file }`).
pub const SECRET_ENV: &str = "RECIPE_REMOTE_CACHE_SECRET";
pub const AC_FORMAT: u32 = 1;
pub const ENCODING_TAR_GZIP: &str = "tar+gzip";
pub const ENCODING_TAR: &str = "tar";
/// After this many consecutive network failures the cache is left alone for
/// the rest of the run, so a dead server costs a few timeouts, not one per package.
const MAX_FAILURES: usize = 3;
/// AC entries are tiny; anything bigger is not ours.
const MAX_AC_BYTES: u64 = 64 * 1024;
/// Largest blob restored unless the caller says otherwise (`recipe build`
/// passes the download limit, `--max-size`): an entry's size claim is not
/// trusted beyond it.
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 2 << 30;
/// Blob transfers get `timeout` plus one second per this many bytes.
const MIN_BYTES_PER_SEC: u64 = 1024 * 1024;

#[derive(Debug, Error, Diagnostic)]
pub enum RemoteError {
    #[error("invalid remote cache URL `{url}`: {reason}")]
    #[diagnostic(
        code(recipe::remote::url),
        help("expected http://HOST[:PORT][/PREFIX] or https://…, e.g. --remote-cache http://127.0.0.1:9090")
    )]
    InvalidUrl { url: String, reason: String },
    #[error("cannot set up the HTTP client: {0}")]
    #[diagnostic(code(recipe::remote::client))]
    Client(#[source] reqwest::Error),
    #[error("`{0}` is not a cache key (64 lowercase hex digits)")]
    #[diagnostic(code(recipe::remote::key))]
    InvalidKey(String),
    #[error("{what}: {source}")]
    #[diagnostic(code(recipe::remote::io))]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    #[diagnostic(code(recipe::remote::unavailable))]
    Unavailable(String),
    #[error("output cannot be shared: {0}")]
    #[diagnostic(code(recipe::remote::unsafe_output))]
    Unsafe(String),
    #[error("{} changed while it was being uploaded", dir.display())]
    #[diagnostic(code(recipe::remote::changed))]
    Changed { dir: PathBuf },
    #[error("refusing the remote cache `{url}`: plain http to a host other than this machine needs a secret")]
    #[diagnostic(
        code(recipe::remote::insecure),
        help(
            "anyone on the network path could rewrite cache entries and so run code on this builder: set ${SECRET_ENV} (or `remote-cache {{ secret-file \"PATH\" }}` in the config file) to the fleet's shared secret, or use https"
        )
    )]
    Insecure { url: String },
    #[error("unusable remote cache secret from {origin}: {reason}")]
    #[diagnostic(
        code(recipe::remote::secret),
        help("use at least 16 random bytes, e.g. `head -c 32 /dev/urandom | base64`")
    )]
    Secret { origin: String, reason: String },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RemoteError {
    let what = what.into();
    move |source| RemoteError::Io { what, source }
}

/// The AC entry: what a key maps to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcEntry {
    pub format: u32,
    /// sha256 of the CAS blob.
    pub tar_sha256: String,
    /// `cache::tree_digest` of the unpacked output.
    pub output_digest: String,
    /// Size of the CAS blob in bytes.
    pub size: u64,
    /// `tar+gzip` (what we write) or `tar`.
    #[serde(default = "default_encoding")]
    pub encoding: String,
    /// HMAC-SHA256 of the entry and its key with the fleet's secret (hex);
    /// absent when written without a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac_sha256: Option<String>,
}

fn default_encoding() -> String {
    ENCODING_TAR.into()
}

/// A verified output, moved into the requested directory.
#[derive(Debug, Clone)]
pub struct FetchedOutput {
    pub path: PathBuf,
    pub output_digest: String,
    pub tar_sha256: String,
    /// Bytes transferred.
    pub size: u64,
    pub duration_ms: u64,
}

/// The result of a lookup. Only `Hit` carries anything usable; the others say
/// why, for the report ("remote miss", "remote corrupt: …").
#[derive(Debug, Clone)]
pub enum Fetched {
    Hit(FetchedOutput),
    /// No entry, or an entry whose blob is gone (evicted).
    Miss {
        reason: String,
    },
    /// An entry that failed verification: ignored.
    Corrupt {
        reason: String,
    },
    /// The server could not be reached or answered with an error.
    Unavailable {
        reason: String,
    },
    /// An entry without a valid tag while a secret is set: ignored.
    Untrusted {
        reason: String,
    },
    /// A verified download that failed the caller's post-build checks.
    Rejected {
        reason: String,
    },
}

impl Fetched {
    pub fn hit(self) -> Option<FetchedOutput> {
        match self {
            Fetched::Hit(out) => Some(out),
            _ => None,
        }
    }

    /// One line for a report's reasons.
    pub fn describe(&self) -> String {
        match self {
            Fetched::Hit(out) => format!("remote hit ({} bytes, {} ms)", out.size, out.duration_ms),
            Fetched::Miss { reason } => format!("remote miss: {reason}"),
            Fetched::Corrupt { reason } => format!("remote corrupt: {reason}"),
            Fetched::Unavailable { reason } => format!("remote unavailable: {reason}"),
            Fetched::Untrusted { reason } => format!("remote untrusted: {reason}"),
            Fetched::Rejected { reason } => format!("remote rejected: {reason}"),
        }
    }

    /// Something a person should hear about (a corrupt, unreachable or
    /// untrusted cache, or an output that failed verification).
    pub fn warning(&self) -> Option<String> {
        matches!(
            self,
            Fetched::Corrupt { .. }
                | Fetched::Unavailable { .. }
                | Fetched::Untrusted { .. }
                | Fetched::Rejected { .. }
        )
        .then(|| self.describe())
    }
}

/// What a store did.
#[derive(Debug, Clone)]
pub struct Stored {
    pub tar_sha256: String,
    pub size: u64,
    /// False when the server already had the blob.
    pub uploaded_blob: bool,
}

/// The remote cache settings of one run.
#[derive(Debug, Clone, Default)]
pub struct RemoteSettings {
    /// `None`: no remote cache.
    pub url: Option<String>,
    pub secret: Option<Secret>,
    /// Worth telling the user (e.g. a secret file others can read).
    pub warnings: Vec<String>,
}

/// The remote cache of a run from what the settings found: the URL (flag or
/// environment), the secret's value from the environment, and the config
/// file's `secret-file`, which the environment's value wins over. Empty
/// values mean unset. The secret is read only when there is a URL.
pub fn resolve(
    url: Option<String>,
    env_secret: Option<std::ffi::OsString>,
    secret_file: Option<&Path>,
) -> Result<RemoteSettings, RemoteError> {
    let url = url.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let mut settings = RemoteSettings {
        url,
        ..RemoteSettings::default()
    };
    if settings.url.is_none() {
        return Ok(settings);
    }
    let from_env = env_secret.filter(|v| !v.is_empty());
    settings.secret = match (from_env, secret_file) {
        (Some(value), _) => {
            use std::os::unix::ffi::OsStrExt;
            Some(Secret::new(value.as_bytes()).map_err(|reason| RemoteError::Secret {
                origin: format!("${SECRET_ENV}"),
                reason,
            })?)
        }
        (None, Some(path)) => Some(read_secret_file(path, &mut settings.warnings)?),
        (None, None) => None,
    };
    Ok(settings)
}

fn read_secret_file(path: &Path, warnings: &mut Vec<String>) -> Result<Secret, RemoteError> {
    use std::os::unix::fs::PermissionsExt;
    let origin = path.display().to_string();
    let secret_err = |reason: String| RemoteError::Secret {
        origin: origin.clone(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| secret_err(e.to_string()))?;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        warnings.push(format!(
            "the remote cache secret {origin} can be read by other users (chmod 600 it)"
        ));
    }
    Secret::new(&bytes).map_err(secret_err)
}

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

pub fn is_key(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub struct RemoteCache {
    base: reqwest::Url,
    /// Tags written entries, and is required on read entries, when set.
    secret: Option<Secret>,
    client: reqwest::blocking::Client,
    timeout: Duration,
    max_blob: u64,
    failures: AtomicUsize,
}

enum Get {
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
        // reqwest is built without a default crypto provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::blocking::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            .build()
            .map_err(RemoteError::Client)?;
        Ok(RemoteCache {
            base,
            secret,
            client,
            timeout,
            max_blob: DEFAULT_MAX_BLOB_BYTES,
            failures: AtomicUsize::new(0),
        })
    }

    /// Blobs larger than `bytes` are refused before they are requested.
    pub fn with_max_blob(mut self, bytes: u64) -> Self {
        self.max_blob = bytes;
        self
    }

    /// The URL without credentials, for reports and messages.
    pub fn display_url(&self) -> String {
        redact(self.base.as_str())
    }

    fn url(&self, kind: &str, hash: &str) -> Result<reqwest::Url, RemoteError> {
        self.base
            .join(&format!("{kind}/{hash}"))
            .map_err(|e| RemoteError::Unavailable(format!("cannot form a URL: {e}")))
    }

    fn transfer_timeout(&self, bytes: u64) -> Duration {
        self.timeout + Duration::from_secs(bytes / MIN_BYTES_PER_SEC)
    }

    fn disabled(&self) -> Option<String> {
        let n = self.failures.load(Ordering::Relaxed);
        (n >= MAX_FAILURES).then(|| format!("not used for the rest of this run after {n} failed requests"))
    }

    fn network_error(&self, what: &str, e: reqwest::Error) -> String {
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
    fn get(&self, kind: &str, hash: &str, timeout: Duration) -> Result<Get, String> {
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

    /// Looks `key` up and, when the entry verifies, moves the output into
    /// `dest_dir` (replacing it). Local I/O problems are errors; everything
    /// about the remote side is a `Fetched` with a reason.
    pub fn fetch_output(&self, key: &str, dest_dir: &Path) -> Result<Fetched, RemoteError> {
        self.fetch_output_checked(key, dest_dir, &|_| Ok(()))
    }

    /// [`Self::fetch_output`], with `accept` run on the unpacked and verified
    /// output before it replaces `dest_dir`: an error from it (the reason) is
    /// a `Fetched::Rejected` and nothing of the output is kept.
    pub fn fetch_output_checked(
        &self,
        key: &str,
        dest_dir: &Path,
        accept: &dyn Fn(&Path) -> Result<(), String>,
    ) -> Result<Fetched, RemoteError> {
        if !is_key(key) {
            return Err(RemoteError::InvalidKey(key.into()));
        }
        if let Some(reason) = self.disabled() {
            return Ok(Fetched::Unavailable { reason });
        }
        let started = Instant::now();
        let entry = match self.get("ac", key, self.timeout) {
            Err(reason) => return Ok(Fetched::Unavailable { reason }),
            Ok(Get::NotFound) => {
                return Ok(Fetched::Miss {
                    reason: "no entry".into(),
                });
            }
            Ok(Get::Found(resp)) => {
                let mut body = Vec::new();
                if let Err(e) = resp.take(MAX_AC_BYTES + 1).read_to_end(&mut body) {
                    self.failures.fetch_add(1, Ordering::Relaxed);
                    return Ok(Fetched::Unavailable {
                        reason: format!("reading ac/{}: {e}", short(key)),
                    });
                }
                match parse_ac(&body) {
                    Ok(entry) => entry,
                    Err(reason) => return Ok(Fetched::Corrupt { reason }),
                }
            }
        };
        // Before any download: an untrusted entry costs one small GET.
        if let Some(secret) = &self.secret
            && let Err(reason) = auth::check(secret, key, &entry)
        {
            return Ok(Fetched::Untrusted { reason });
        }

        let parent = dest_dir
            .parent()
            .ok_or_else(|| RemoteError::Unavailable(format!("{} has no parent", dest_dir.display())))?;
        std::fs::create_dir_all(parent).map_err(io(format!("cannot create {}", parent.display())))?;
        let mut blob = tempfile::Builder::new()
            .prefix(".remote-blob-")
            .tempfile_in(parent)
            .map_err(io("cannot create a temporary file"))?;
        if entry.size > self.max_blob {
            return Ok(Fetched::Corrupt {
                reason: format!(
                    "entry claims a blob of {} bytes, more than the {} accepted (--max-size)",
                    entry.size, self.max_blob
                ),
            });
        }
        let resp = match self.get("cas", &entry.tar_sha256, self.transfer_timeout(entry.size)) {
            Err(reason) => return Ok(Fetched::Unavailable { reason }),
            Ok(Get::NotFound) => {
                return Ok(Fetched::Miss {
                    reason: format!("entry points at blob {} which is gone", short(&entry.tar_sha256)),
                });
            }
            Ok(Get::Found(resp)) => resp,
        };
        // Stream to disk while hashing; never read more than announced.
        let mut hasher = Sha256::new();
        let mut got = 0u64;
        let mut reader = resp.take(entry.size + 1);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(n) => n,
                Err(e) => {
                    self.failures.fetch_add(1, Ordering::Relaxed);
                    return Ok(Fetched::Unavailable {
                        reason: format!("reading cas/{}: {e}", short(&entry.tar_sha256)),
                    });
                }
            };
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            got += n as u64;
            blob.write_all(&buf[..n]).map_err(io("cannot write a temporary file"))?;
        }
        if got != entry.size {
            return Ok(Fetched::Corrupt {
                reason: format!(
                    "blob {} has {got} bytes, the entry says {}",
                    short(&entry.tar_sha256),
                    entry.size
                ),
            });
        }
        let actual = hex::encode(hasher.finalize());
        if actual != entry.tar_sha256 {
            return Ok(Fetched::Corrupt {
                reason: format!("blob {} has sha256 {actual}", short(&entry.tar_sha256)),
            });
        }

        let unpacked = tempfile::Builder::new()
            .prefix(".remote-out-")
            .tempdir_in(parent)
            .map_err(io("cannot create a temporary directory"))?;
        let mut file = blob.reopen().map_err(io("cannot reopen a temporary file"))?;
        file.rewind().map_err(io("cannot rewind a temporary file"))?;
        let file = std::io::BufReader::new(file);
        let result = if entry.encoding == ENCODING_TAR_GZIP {
            match crate::unpack::decompressor(crate::unpack::Compression::Gzip, Box::new(file)) {
                Ok(data) => pack::unpack(data, unpacked.path()),
                Err(e) => Err(PackError::Archive(e)),
            }
        } else {
            pack::unpack(file, unpacked.path())
        };
        match result {
            Ok(()) => {}
            Err(PackError::Local { what, source }) => return Err(RemoteError::Io { what, source }),
            Err(e) => return Ok(Fetched::Corrupt { reason: e.to_string() }),
        }
        let digest = crate::cache::tree_digest(unpacked.path()).map_err(io("cannot hash the fetched output"))?;
        if digest != entry.output_digest {
            return Ok(Fetched::Corrupt {
                reason: format!(
                    "unpacked output has digest {}, the entry says {}",
                    short(&digest),
                    short(&entry.output_digest)
                ),
            });
        }
        if let Err(reason) = accept(unpacked.path()) {
            return Ok(Fetched::Rejected { reason });
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(unpacked.path(), std::fs::Permissions::from_mode(0o755))
            .map_err(io("cannot set the mode of the fetched output"))?;
        crate::fault::point("restore-unpacked");
        match std::fs::remove_dir_all(dest_dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io(format!("cannot replace {}", dest_dir.display()))(e));
            }
            _ => {}
        }
        let kept = unpacked.keep();
        if let Err(e) = std::fs::rename(&kept, dest_dir) {
            let _ = std::fs::remove_dir_all(&kept);
            return Err(io(format!("cannot move the fetched output to {}", dest_dir.display()))(
                e,
            ));
        }
        Ok(Fetched::Hit(FetchedOutput {
            path: dest_dir.to_path_buf(),
            output_digest: entry.output_digest,
            tar_sha256: entry.tar_sha256,
            size: entry.size,
            duration_ms: started.elapsed().as_millis() as u64,
        }))
    }

    /// Whether the remote has an entry for `key` (any failure counts as no).
    pub fn has_entry(&self, key: &str) -> bool {
        if !is_key(key) || self.disabled().is_some() {
            return false;
        }
        let Ok(url) = self.url("ac", key) else { return false };
        self.client.head(url).send().is_ok_and(|r| r.status().is_success())
    }

    /// Stores `staged_dir` (whose tree digest is `output_digest`) under `key`:
    /// the archive into the CAS (skipped if already there), then the AC entry.
    pub fn store_output(&self, key: &str, staged_dir: &Path, output_digest: &str) -> Result<Stored, RemoteError> {
        if !is_key(key) {
            return Err(RemoteError::InvalidKey(key.into()));
        }
        if let Some(reason) = self.disabled() {
            return Err(RemoteError::Unavailable(reason));
        }
        let blob = tempfile::Builder::new()
            .prefix("recipe-upload-")
            .tempfile()
            .map_err(io("cannot create a temporary file"))?;
        let hashing = HashingWriter {
            inner: std::io::BufWriter::new(blob.reopen().map_err(io("cannot open a temporary file"))?),
            hasher: Sha256::new(),
            count: 0,
        };
        let gz = flate2::GzBuilder::new()
            .mtime(0)
            .write(hashing, flate2::Compression::fast());
        let gz = pack::pack(staged_dir, gz).map_err(|e| match e {
            PackError::Unsafe(m) => RemoteError::Unsafe(m),
            PackError::Local { what, source } => RemoteError::Io { what, source },
            PackError::Archive(source) => RemoteError::Io {
                what: "cannot write the archive".into(),
                source,
            },
        })?;
        let mut hashing = gz.finish().map_err(io("cannot compress the archive"))?;
        hashing.inner.flush().map_err(io("cannot write a temporary file"))?;
        let (sha, size) = (hex::encode(hashing.hasher.finalize()), hashing.count);
        // The tree may have changed while we read it: never upload a lie.
        let now = crate::cache::tree_digest(staged_dir).map_err(io("cannot hash the staged output"))?;
        if now != output_digest {
            return Err(RemoteError::Changed {
                dir: staged_dir.to_path_buf(),
            });
        }

        let cas = self.url("cas", &sha)?;
        let exists = self
            .client
            .head(cas.clone())
            .send()
            .map_err(|e| RemoteError::Unavailable(self.network_error("HEAD cas", e)))?
            .status()
            .is_success();
        if !exists {
            let file = blob.reopen().map_err(io("cannot reopen a temporary file"))?;
            self.put(
                cas,
                reqwest::blocking::Body::sized(file, size),
                self.transfer_timeout(size),
                "cas",
            )?;
        }
        let mut entry = AcEntry {
            format: AC_FORMAT,
            tar_sha256: sha.clone(),
            output_digest: output_digest.into(),
            size,
            encoding: ENCODING_TAR_GZIP.into(),
            hmac_sha256: None,
        };
        entry.hmac_sha256 = self.secret.as_ref().map(|s| auth::tag(s, key, &entry));
        let json = serde_json::to_vec(&entry).map_err(|e| RemoteError::Io {
            what: "cannot encode the AC entry".into(),
            source: std::io::Error::other(e),
        })?;
        crate::fault::point("upload-entry");
        self.put(self.url("ac", key)?, json.into(), self.timeout, "ac")?;
        Ok(Stored {
            tar_sha256: sha,
            size,
            uploaded_blob: !exists,
        })
    }

    fn put(
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

fn parse_ac(body: &[u8]) -> Result<AcEntry, String> {
    if body.len() as u64 > MAX_AC_BYTES {
        return Err("entry is too large to be ours".into());
    }
    let entry: AcEntry = serde_json::from_slice(body).map_err(|e| format!("entry is not ours or damaged: {e}"))?;
    if entry.format != AC_FORMAT {
        return Err(format!("entry format {} (this recipe reads {AC_FORMAT})", entry.format));
    }
    if !is_key(&entry.tar_sha256) || !is_key(&entry.output_digest) {
        return Err("entry holds a malformed digest".into());
    }
    if entry.encoding != ENCODING_TAR && entry.encoding != ENCODING_TAR_GZIP {
        return Err(format!("entry has unknown encoding `{}`", entry.encoding));
    }
    Ok(entry)
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
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

struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shareable_between_scheduler_threads() {
        fn sync<T: Send + Sync>() {}
        sync::<RemoteCache>();
        sync::<RemoteWriter>();
    }

    #[test]
    fn plain_http_off_this_machine_needs_a_secret() {
        let t = Duration::from_secs(1);
        for url in [
            "http://192.0.2.1:9090/cache",
            "http://cache.example:80",
            "http://0.0.0.0:1",
        ] {
            let err = RemoteCache::new(url, t).err();
            assert!(matches!(err, Some(RemoteError::Insecure { .. })), "{url}: {err:?}");
        }
        for url in [
            "http://127.0.0.1:1",
            "http://127.1.2.3:1",
            "http://[::1]:1/x",
            "http://LOCALHOST:1",
            "https://192.0.2.1/cache",
        ] {
            assert!(RemoteCache::new(url, t).is_ok(), "{url}");
        }
        let secret = Secret::new(b"0123456789abcdef").expect("secret");
        let c = RemoteCache::with_secret("http://192.0.2.1:9090", t, Some(secret)).expect("with a secret");
        assert!(c.authenticated());
        // The refusal names the way out.
        let err = RemoteCache::new("http://u:pw@192.0.2.1/", t).err().expect("refused");
        let shown = format!("{:?}", miette::Report::new(err));
        assert!(shown.contains(SECRET_ENV) && !shown.contains("pw@"), "{shown}");
    }

    #[test]
    fn keys_urls_and_entries() {
        assert!(is_key(&"a".repeat(64)));
        assert!(!is_key(&"A".repeat(64)));
        assert!(!is_key("../../etc"));
        let c = RemoteCache::new("http://u:pw@127.0.0.1:1/cache", Duration::from_secs(1)).expect("new");
        assert_eq!(c.display_url(), "http://u:***@127.0.0.1:1/cache/");
        assert_eq!(
            c.url("ac", &"b".repeat(64)).expect("url").path(),
            format!("/cache/ac/{}", "b".repeat(64))
        );
        assert!(matches!(
            RemoteCache::new("ftp://x/", Duration::from_secs(1)),
            Err(RemoteError::InvalidUrl { .. })
        ));
        assert!(parse_ac(b"{\"format\":2}").is_err());
        let ok = format!(
            "{{\"format\":1,\"tar_sha256\":\"{0}\",\"output_digest\":\"{0}\",\"size\":3}}",
            "c".repeat(64)
        );
        assert_eq!(parse_ac(ok.as_bytes()).expect("parse").encoding, ENCODING_TAR);
    }
}
