//! The user's configuration file for fetching: mirror sites and retry policy.
//!
//! Looked up at `$RECIPE_CONFIG`, else `$XDG_CONFIG_HOME/recipe/config.kdl`,
//! else `~/.config/recipe/config.kdl`; a missing file means defaults.
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
//! }
//! fetch {
//!     retries 3           // requests per URL for transient failures
//!     connect-timeout 15  // seconds
//!     read-timeout 30     // seconds without data before a request fails
//!     jobs 4              // parallel downloads of `recipe fetch`
//! }
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use kdl::KdlNode;

use super::download::RetryPolicy;
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
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserConfig {
    pub mirrors: MirrorSettings,
    pub policy: RetryPolicy,
    pub jobs: Option<usize>,
    /// The file it came from, if any.
    pub path: Option<PathBuf>,
}

pub type ConfigError = RecipeErrors;

/// Where the config file is looked for.
pub fn config_path() -> Option<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(p) = var("RECIPE_CONFIG") {
        return Some(p);
    }
    if let Some(x) = var("XDG_CONFIG_HOME") {
        return Some(x.join("recipe").join("config.kdl"));
    }
    var("HOME").map(|h| h.join(".config").join("recipe").join("config.kdl"))
}

impl UserConfig {
    /// Reads the config file (if any), then applies environment overrides.
    pub fn load() -> Result<UserConfig, FetchError> {
        let mut config = match config_path() {
            Some(p) if p.is_file() => UserConfig::load_file(&p)?,
            _ => UserConfig::default(),
        };
        if let Some(uri) = std::env::var("RECIPE_DEBIAN_MIRROR").ok().filter(|v| !v.is_empty()) {
            config.mirrors.debian_archive = Some(uri);
        }
        Ok(config)
    }

    pub fn load_file(path: &Path) -> Result<UserConfig, FetchError> {
        let text = std::fs::read_to_string(path).map_err(|e| FetchError::io("cannot read config file", path, e))?;
        let mut config = UserConfig::parse(&SourceFile::new(path.display().to_string(), text))?;
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
                _ => d.unknown_node(node, "the config file", &["mirrors", "fetch"]),
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
            _ => d.unknown_node(
                child,
                "`mirrors`",
                &["primary", "backup", "debian-archive", "python-index"],
            ),
        }
    }
}

fn parse_fetch(d: &mut Decoder, node: &KdlNode, c: &mut UserConfig) {
    d.check_props(node, &[]);
    d.check_max_args(node, 0);
    let secs = |v: i64| Duration::from_secs(v.unsigned_abs());
    for child in children(node) {
        match child.name().value() {
            "retries" => {
                if let Some(v) = d.single_int(child, 1, 20) {
                    c.policy.attempts = v.value as u32;
                }
            }
            "connect-timeout" => {
                if let Some(v) = d.single_int(child, 1, 3600) {
                    c.policy.connect_timeout = secs(v.value);
                }
            }
            "read-timeout" => {
                if let Some(v) = d.single_int(child, 1, 3600) {
                    c.policy.read_timeout = secs(v.value);
                }
            }
            "jobs" => {
                if let Some(v) = d.single_int(child, 1, 256) {
                    c.jobs = Some(v.value as usize);
                }
            }
            _ => d.unknown_node(
                child,
                "`fetch`",
                &["retries", "connect-timeout", "read-timeout", "jobs"],
            ),
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
    connect-timeout 2
    read-timeout 7
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
        assert_eq!(c.jobs, Some(3));
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
