//! The user's configuration file for fetching: mirror sites and retry policy.
//!
//! Looked up by `crate::settings` at `$RECIPE_CONFIG`, else
//! `$XDG_CONFIG_HOME/recipe/config.kdl`, else `~/.config/recipe/config.kdl`;
//! a missing file means defaults.
//!
//! ```kdl
//! mirrors {
//!     // Tried before a source's own URLs, as <site>/<file> (Buildroot's PRIMARY_SITE).
//!     primary "https://sources.example.org/recipe"
//!     // Tried after every other URL (BACKUP_SITE). Both may be repeated.
//!     backup "https://backup.example.org/recipe"
//!     // Debian archive for `debian=` sources and mirrors, instead of the
//!     // apt sources of this machine ($RECIPE_DEBIAN_MIRROR wins over this).
//!     debian-archive "http://debian.example.org/debian"
//!     // Python index (simple API) for `pypi=` sources, instead of pip's
//!     // configuration ($PIP_INDEX_URL wins over this).
//!     python-index "https://pypi.example.org/simple"
//!     // Keyring for the Debian archive's signatures ($RECIPE_DEBIAN_KEYRING
//!     // wins); default: Debian's own, from `debian-archive-keyring`.
//!     debian-keyring "/usr/share/keyrings/debian-archive-keyring.gpg"
//!     // Without gpgv or a keyring provisioning stops; this accepts unsigned
//!     // indexes instead (never cached, and every run warns).
//!     debian-allow-unsigned #false
//! }
//! fetch {
//!     retries 3            // requests per URL for transient failures
//!     retry-time 300       // seconds after a file's first request when no retry starts
//!     max-retry-after 60   // longest Retry-After waited for, seconds
//!     connect-timeout 15   // seconds
//!     read-timeout 30      // seconds to wait for the response head
//!     max-size "2GiB"      // largest body when the size is not known in advance
//!     speed-limit "1K"     // minimum average bytes per second over speed-time (0: off)
//!     speed-time 30        // seconds
//!     stall-timeout 8      // seconds without any data in the body
//!     attempt-timeout 3600 // seconds one request may take, body included
//!     jobs 4               // parallel downloads of `recipe fetch`
//! }
//! remote-cache {
//!     // The fleet's shared secret that authenticates remote cache entries
//!     // ($RECIPE_REMOTE_CACHE_SECRET wins); relative to this file's directory.
//!     secret-file "remote-cache.secret"
//! }
//! ```
//!
//! The transfer limits can also be given on the command line
//! ([`LimitOverrides`]), which wins over the file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kdl::{KdlNode, KdlValue};

use super::budget::{RetryPolicy, TransferLimits, parse_size};
use super::error::FetchError;
use crate::recipe::decode::{Decoder, parse_document};
use crate::recipe::error::{RecipeError, RecipeErrors, SourceFile};

/// Mirror overrides; `None` means "ask the machine's own configuration".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorSettings {
    pub primary: Vec<String>,
    pub backup: Vec<String>,
    pub debian_archive: Option<String>,
    pub python_index: Option<String>,
    /// Keyring that signs the Debian archive's `InRelease` files
    /// (default: Debian's, from `debian-archive-keyring`).
    pub debian_keyring: Option<PathBuf>,
    /// Use Debian indexes whose signature cannot be checked (no gpgv or
    /// keyring). Off by default: provisioning fails closed.
    pub debian_allow_unsigned: bool,
    /// The Python whose pip configuration names the index when neither
    /// `python-index` nor `$PIP_INDEX_URL` does (`$RECIPE_PYTHON`).
    pub python: Option<String>,
}

/// `remote-cache { … }`: what the remote cache takes from the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteCacheConfig {
    /// File holding the fleet's secret; a file rather than the secret itself,
    /// so this config can be shared or shown without leaking it.
    pub secret_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserConfig {
    pub mirrors: MirrorSettings,
    pub remote_cache: RemoteCacheConfig,
    pub policy: RetryPolicy,
    pub limits: TransferLimits,
    pub jobs: Option<usize>,
    /// The file it came from, if any.
    pub path: Option<PathBuf>,
}

pub type ConfigError = RecipeErrors;

/// Transfer limits given on the command line; `None` keeps the config's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitOverrides {
    pub max_size: Option<u64>,
    pub speed_limit: Option<u64>,
    pub speed_time: Option<Duration>,
    pub stall_timeout: Option<Duration>,
    pub attempt_timeout: Option<Duration>,
}

impl LimitOverrides {
    pub fn apply(&self, limits: &mut TransferLimits) {
        // Destructure so a new override cannot be silently ignored.
        let LimitOverrides {
            max_size,
            speed_limit,
            speed_time,
            stall_timeout,
            attempt_timeout,
        } = *self;
        if let Some(v) = max_size {
            limits.max_size = v;
        }
        if let Some(v) = speed_limit {
            limits.speed_limit = v;
        }
        if let Some(v) = speed_time {
            limits.speed_time = v;
        }
        if let Some(v) = stall_timeout {
            limits.stall_timeout = v;
        }
        if let Some(v) = attempt_timeout {
            limits.attempt_timeout = v;
        }
    }
}

impl UserConfig {
    /// Reads a config file; `crate::settings` finds it and applies the
    /// environment's overrides.
    pub fn load_file(path: &Path) -> Result<UserConfig, FetchError> {
        let text = std::fs::read_to_string(path).map_err(|e| FetchError::io("cannot read config file", path, e))?;
        let mut config = UserConfig::parse(&SourceFile::new(path.display().to_string(), text))?;
        if let (Some(file), Some(dir)) = (&mut config.remote_cache.secret_file, path.parent())
            && file.is_relative()
        {
            *file = dir.join(&*file);
        }
        config.path = Some(path.to_path_buf());
        Ok(config)
    }

    pub fn parse(file: &SourceFile) -> Result<UserConfig, ConfigError> {
        let doc = parse_document(file)?;
        let mut d = Decoder::new(file);
        let mut config = UserConfig::default();
        let mut seen = Vec::new();
        for node in doc.nodes() {
            if !d.once(&mut seen, node) {
                continue;
            }
            match node.name().value() {
                "mirrors" => parse_mirrors(&mut d, node, &mut config.mirrors),
                "fetch" => parse_fetch(&mut d, node, &mut config),
                "remote-cache" => parse_remote_cache(&mut d, node, &mut config.remote_cache),
                _ => d.unknown_node(node, "the config file", &["mirrors", "fetch", "remote-cache"]),
            }
        }
        if d.errors.is_empty() {
            Ok(config)
        } else {
            Err(RecipeErrors { errors: d.errors })
        }
    }
}

fn children(node: &KdlNode) -> &[KdlNode] {
    node.children().map_or(&[], |c| c.nodes())
}

fn url(d: &mut Decoder, node: &KdlNode) -> Option<String> {
    let v = d.single_string(node)?;
    if v.value.starts_with("http://") || v.value.starts_with("https://") || v.value.starts_with("file://") {
        Some(v.value.trim_end_matches('/').to_string())
    } else {
        d.invalid(
            v.span,
            node.name().value(),
            "not an http(s) URL",
            "write the full URL, e.g. \"https://host/path\"",
        );
        None
    }
}

fn parse_mirrors(d: &mut Decoder, node: &KdlNode, m: &mut MirrorSettings) {
    d.check_props(node, &[]);
    d.check_max_args(node, 0);
    for child in children(node) {
        match child.name().value() {
            "primary" => m.primary.extend(url(d, child)),
            "backup" => m.backup.extend(url(d, child)),
            "debian-archive" => m.debian_archive = url(d, child),
            "python-index" => m.python_index = url(d, child),
            "debian-keyring" => m.debian_keyring = d.single_string(child).map(|v| PathBuf::from(v.value)),
            "debian-allow-unsigned" => m.debian_allow_unsigned = d.single_bool(child).is_some_and(|v| v.value),
            _ => d.unknown_node(
                child,
                "`mirrors`",
                &[
                    "primary",
                    "backup",
                    "debian-archive",
                    "python-index",
                    "debian-keyring",
                    "debian-allow-unsigned",
                ],
            ),
        }
    }
}

fn parse_remote_cache(d: &mut Decoder, node: &KdlNode, r: &mut RemoteCacheConfig) {
    d.check_props(node, &[]);
    d.check_max_args(node, 0);
    for child in children(node) {
        match child.name().value() {
            "secret-file" => r.secret_file = d.single_string(child).map(|v| PathBuf::from(v.value)),
            _ => d.unknown_node(child, "`remote-cache`", &["secret-file"]),
        }
    }
}

/// A size: a number of bytes, or a string with a binary unit ("500MiB").
fn size(d: &mut Decoder, node: &KdlNode) -> Option<u64> {
    d.check_props(node, &[]);
    d.check_max_args(node, 1);
    d.check_no_children(node);
    let name = node.name().value();
    let Some(entry) = d.positional(node).first().copied() else {
        d.missing(
            node.span(),
            "a value",
            &format!("`{name}`"),
            &format!("write it as `{name} \"2GiB\"`"),
        );
        return None;
    };
    let parsed = match entry.value() {
        KdlValue::Integer(i) => u64::try_from(*i).ok(),
        KdlValue::String(s) => parse_size(s),
        _ => None,
    };
    if parsed.is_none() {
        d.invalid(
            entry.span(),
            name,
            "not a size",
            "write a number of bytes, or a string such as \"500MiB\" or \"2GiB\" (units are powers of 1024)",
        );
    }
    parsed
}

/// Seconds between `min` and `max`.
fn secs(d: &mut Decoder, node: &KdlNode, min: i128, max: i128) -> Option<Duration> {
    d.single_int(node, min, max)
        .map(|v| Duration::from_secs(v.value.unsigned_abs()))
}

const FETCH_KEYS: &[&str] = &[
    "retries",
    "retry-time",
    "max-retry-after",
    "connect-timeout",
    "read-timeout",
    "max-size",
    "speed-limit",
    "speed-time",
    "stall-timeout",
    "attempt-timeout",
    "jobs",
];

fn parse_fetch(d: &mut Decoder, node: &KdlNode, c: &mut UserConfig) {
    d.check_props(node, &[]);
    d.check_max_args(node, 0);
    for child in children(node) {
        match child.name().value() {
            "retries" => {
                if let Some(v) = d.single_int(child, 1, 20) {
                    c.policy.attempts = v.value as u32;
                }
            }
            "retry-time" => c.policy.retry_time = secs(d, child, 0, 86_400).unwrap_or(c.policy.retry_time),
            "max-retry-after" => {
                c.policy.max_retry_after = secs(d, child, 0, 3600).unwrap_or(c.policy.max_retry_after);
            }
            "connect-timeout" => {
                c.policy.connect_timeout = secs(d, child, 1, 3600).unwrap_or(c.policy.connect_timeout);
            }
            "read-timeout" => c.policy.read_timeout = secs(d, child, 1, 3600).unwrap_or(c.policy.read_timeout),
            "max-size" => c.limits.max_size = size(d, child).unwrap_or(c.limits.max_size),
            "speed-limit" => c.limits.speed_limit = size(d, child).unwrap_or(c.limits.speed_limit),
            "speed-time" => c.limits.speed_time = secs(d, child, 1, 3600).unwrap_or(c.limits.speed_time),
            "stall-timeout" => {
                c.limits.stall_timeout = secs(d, child, 1, 3600).unwrap_or(c.limits.stall_timeout);
            }
            "attempt-timeout" => {
                c.limits.attempt_timeout = secs(d, child, 1, 604_800).unwrap_or(c.limits.attempt_timeout);
            }
            "jobs" => {
                if let Some(v) = d.single_int(child, 1, 256) {
                    c.jobs = Some(v.value as usize);
                }
            }
            _ => d.unknown_node(child, "`fetch`", FETCH_KEYS),
        }
    }
}

impl From<RecipeError> for FetchError {
    fn from(e: RecipeError) -> FetchError {
        FetchError::Config(RecipeErrors::from(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_setting() {
        let text = r#"
mirrors {
    primary "http://127.0.0.1:1/p/"
    backup "http://127.0.0.1:2/b"
    debian-archive "http://127.0.0.1:3/debian"
    python-index "http://127.0.0.1:4/simple"
}
fetch {
    retries 5
    retry-time 40
    max-retry-after 9
    connect-timeout 2
    read-timeout 7
    max-size "1.5GiB"
    speed-limit 512
    speed-time 20
    stall-timeout 4
    attempt-timeout 600
    jobs 3
}
"#;
        let c = UserConfig::parse(&SourceFile::new("config.kdl", text)).unwrap();
        assert_eq!(c.mirrors.primary, ["http://127.0.0.1:1/p"]);
        assert_eq!(c.mirrors.backup, ["http://127.0.0.1:2/b"]);
        assert_eq!(c.mirrors.debian_archive.as_deref(), Some("http://127.0.0.1:3/debian"));
        assert_eq!(c.mirrors.python_index.as_deref(), Some("http://127.0.0.1:4/simple"));
        assert_eq!(c.policy.attempts, 5);
        assert_eq!(c.policy.connect_timeout, Duration::from_secs(2));
        assert_eq!(c.policy.read_timeout, Duration::from_secs(7));
        assert_eq!(c.policy.retry_time, Duration::from_secs(40));
        assert_eq!(c.policy.max_retry_after, Duration::from_secs(9));
        assert_eq!(
            c.limits,
            TransferLimits {
                max_size: 3 << 29,
                speed_limit: 512,
                speed_time: Duration::from_secs(20),
                stall_timeout: Duration::from_secs(4),
                attempt_timeout: Duration::from_secs(600),
            }
        );
        assert_eq!(c.jobs, Some(3));
    }

    #[test]
    fn defaults_without_a_fetch_section_and_overrides_win() {
        let c = UserConfig::parse(&SourceFile::new("config.kdl", "fetch { max-size 1000 }\n")).unwrap();
        assert_eq!(c.limits.max_size, 1000);
        assert_eq!(c.limits.speed_limit, TransferLimits::default().speed_limit);
        let mut limits = c.limits.clone();
        LimitOverrides {
            max_size: Some(7),
            stall_timeout: Some(Duration::from_secs(2)),
            ..LimitOverrides::default()
        }
        .apply(&mut limits);
        assert_eq!(limits.max_size, 7);
        assert_eq!(limits.stall_timeout, Duration::from_secs(2));
        assert_eq!(limits.speed_time, TransferLimits::default().speed_time);
    }

    #[test]
    fn remote_cache_secret_file_is_relative_to_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.kdl");
        std::fs::write(&path, "remote-cache {\n    secret-file \"fleet.secret\"\n}\n").unwrap();
        let c = UserConfig::load_file(&path).unwrap();
        assert_eq!(c.remote_cache.secret_file, Some(dir.path().join("fleet.secret")));
        let err = UserConfig::parse(&SourceFile::new("config.kdl", "remote-cache { secret \"x\" }\n")).unwrap_err();
        let rendered = format!("{:?}", miette::Report::new(err));
        assert!(rendered.contains("secret-file"), "{rendered}");
    }

    #[test]
    fn bad_sizes_point_at_the_value() {
        let text = "fetch {\n    max-size \"lots\"\n    speed-limit #true\n}\n";
        let err = UserConfig::parse(&SourceFile::new("config.kdl", text)).unwrap_err();
        assert_eq!(err.errors.len(), 2, "{err:?}");
        let rendered = format!("{:?}", miette::Report::new(err));
        assert!(rendered.contains("not a size"), "{rendered}");
    }

    #[test]
    fn errors_point_at_the_bad_value() {
        let text = "mirrors {\n    primary \"ftp.example\"\n    nope 1\n}\nfetch { retries 0 }\n";
        let err = UserConfig::parse(&SourceFile::new("config.kdl", text)).unwrap_err();
        assert_eq!(err.errors.len(), 3, "{err:?}");
        let rendered = format!("{:?}", miette::Report::new(err));
        assert!(rendered.contains("not an http(s) URL"), "{rendered}");
        assert!(rendered.contains("nope"), "{rendered}");
    }
}
