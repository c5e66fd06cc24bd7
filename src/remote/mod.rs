//! A shared cache of package outputs between machines, over the bazel-remote
//! HTTP protocol (and the same format on this machine's disk: the local
//! store, see `local`): `GET/PUT/HEAD <base>/cas/<sha256>` for content and
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
//!
//! Batch jobs also leave their result records here (`document`): small
//! documents under keys of their batch, tagged the same way.

mod auth;
mod blob;
mod client;
mod document;
mod entry;
mod fetch;
mod local;
mod pack;
mod resolve;
mod restore;
mod store;
mod writer;

use std::path::PathBuf;

use miette::Diagnostic;
use thiserror::Error;

pub use auth::{MIN_SECRET_BYTES, Secret};
pub use client::{DEFAULT_MAX_BLOB_BYTES, RemoteCache, has_credentials, redact};
pub use document::DOCUMENT_FORMAT;
pub use entry::{AC_FORMAT, AcEntry, ENCODING_TAR, ENCODING_TAR_GZIP, is_key};
pub use fetch::{Fetched, FetchedOutput};
pub use local::{LOCAL_STORE, LocalStore};
pub use pack::{PackError, pack, unpack};
pub use resolve::{RemoteSettings, resolve};
pub use restore::{Restore, try_restore, try_restore_local};
pub use store::Stored;
pub use writer::{RemoteWriter, UploadSummary};

/// The environment variable read when `--remote-cache` is not given.
pub const URL_ENV: &str = "RECIPE_REMOTE_CACHE";
/// The environment variable holding the fleet's secret (wins over the
/// config file's `remote-cache { secret-file }`).
pub const SECRET_ENV: &str = "RECIPE_REMOTE_CACHE_SECRET";

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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::entry::parse_ac;
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
