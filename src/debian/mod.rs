//! Debian archive client: reads the mirror from the machine's apt
//! configuration, downloads and verifies `InRelease` (gpgv, when available)
//! and `Packages.xz` (sha256 from the Release file), parses the index, and
//! resolves a package closure the way `apt-get install --no-install-recommends`
//! would for our small, fixed package sets — without apt, root or host state.

pub mod control;
pub mod index;
pub mod resolve;
pub mod sources;
pub mod version;

use miette::Diagnostic;
use thiserror::Error;

pub use control::PackageEntry;
pub use index::PackageIndex;
pub use resolve::{Exclusions, resolve};

#[derive(Debug, Error, Diagnostic)]
pub enum DebianError {
    #[error("no Debian archive configured on this machine")]
    #[diagnostic(
        code(recipe::debian::no_mirror),
        help(
            "set RECIPE_DEBIAN_MIRROR to the archive's base URI, or configure a `deb` source in /etc/apt/sources.list.d/*.sources"
        )
    )]
    NoMirror,

    #[error("download of {url} failed: {message}")]
    #[diagnostic(
        code(recipe::debian::download),
        help("check network access to the Debian archive, or set RECIPE_DEBIAN_MIRROR to another mirror")
    )]
    Download { url: String, message: String },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Fetch(Box<crate::fetch::FetchError>),

    #[error("{what}: {source}")]
    #[diagnostic(code(recipe::debian::io))]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{url}: sha256 {actual}, expected {expected} (size {actual_size}, expected {expected_size})")]
    #[diagnostic(
        code(recipe::debian::hash_mismatch),
        help(
            "the mirror served a different file than its index promises (a mirror mid-update, or a proxy rewriting content); retry later or use --refresh"
        )
    )]
    HashMismatch {
        url: String,
        expected: String,
        actual: String,
        expected_size: u64,
        actual_size: u64,
    },

    #[error("the signature of {file} does not verify against {keyring}")]
    #[diagnostic(code(recipe::debian::signature), help("gpgv's output is in {log}"))]
    Signature { file: String, keyring: String, log: String },

    #[error("cannot check the Debian archive's signatures: {missing} not found")]
    #[diagnostic(
        code(recipe::debian::no_verifier),
        help(
            "install the Debian package `{package}` (e.g. `apt install gpgv debian-archive-keyring`), or name a keyring with `debian-keyring \"PATH\"` in the `mirrors` block of the user config; to use unsigned indexes anyway (a mirror could then serve any package), pass --debian-allow-unsigned or set `debian-allow-unsigned #true` there"
        )
    )]
    NoVerifier { missing: String, package: String },

    #[error("the signed Release file of `{suite}` says {field}: {value}")]
    #[diagnostic(
        code(recipe::debian::release_mismatch),
        help(
            "the mirror served a validly signed index of another suite (or an old one replayed); check the mirror, or the suite name in the target or sysroot file"
        )
    )]
    ReleaseMismatch {
        suite: String,
        field: String,
        value: String,
    },

    #[error("the signed Release file of `{suite}` expired ({valid_until})")]
    #[diagnostic(
        code(recipe::debian::release_expired),
        help(
            "the mirror serves an outdated index (stale mirror, or a replayed old index); try another mirror, or check this machine's clock"
        )
    )]
    ReleaseExpired { suite: String, valid_until: String },

    #[error("{file} is not a clear-signed InRelease file")]
    #[diagnostic(
        code(recipe::debian::inrelease),
        help("the mirror may be serving an error page; check the URI in your apt sources")
    )]
    NotClearsigned { file: String },

    #[error("the {suite} Release file lists no {path}")]
    #[diagnostic(
        code(recipe::debian::no_index),
        help("is `{suite}` a suite of this archive, and does it carry this architecture?")
    )]
    NoIndexEntry { suite: String, path: String },

    #[error("{file}: cannot decompress: {source}")]
    #[diagnostic(
        code(recipe::debian::decompress),
        help("delete the file and retry; it is re-downloaded")
    )]
    Decompress {
        file: String,
        #[source]
        source: std::io::Error,
    },

    #[error("package `{name}` is not in {suite}/{arch}")]
    #[diagnostic(code(recipe::debian::unknown_package), help("{help}"))]
    UnknownPackage {
        name: String,
        suite: String,
        arch: String,
        help: String,
    },

    #[error("cannot satisfy `{dependency}` of {package} in {suite}/{arch}")]
    #[diagnostic(
        code(recipe::debian::unresolvable),
        help("required through: {chain}; no package or provider in the index matches")
    )]
    Unresolvable {
        package: String,
        dependency: String,
        suite: String,
        arch: String,
        chain: String,
    },

    #[error("{package} needs `{dependency}` but {name} {have} was already chosen")]
    #[diagnostic(
        code(recipe::debian::conflict),
        help(
            "the index is inconsistent or the package set mixes suites; list the wanted version's packages explicitly"
        )
    )]
    Conflict {
        package: String,
        dependency: String,
        name: String,
        have: String,
    },

    #[error("`{name}` is both requested and excluded")]
    #[diagnostic(
        code(recipe::debian::excluded_root),
        help("exclusions drop host-provided or leaking packages; do not request them")
    )]
    ExcludedRoot { name: String },
}

impl DebianError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> DebianError {
        DebianError::Io {
            what: what.into(),
            source,
        }
    }
}

impl From<crate::fetch::FetchError> for DebianError {
    fn from(e: crate::fetch::FetchError) -> Self {
        DebianError::Fetch(Box::new(e))
    }
}
