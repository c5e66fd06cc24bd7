//! The recipe as written: every value keeps its span for diagnostics.
//! Nothing here is rendered yet; see `render` for the concrete recipe.

use std::path::PathBuf;

use miette::SourceSpan;
use serde::{Deserialize, Serialize};

use super::decode::{Spanned, span_serde};
use super::error::SourceFile;
use super::schema::BuildKind;

pub type Text = Spanned<String>;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawRecipe {
    /// Not serialized: the parse cache re-reads the file (its hash is the key).
    #[serde(skip)]
    pub file: SourceFile,
    /// The recipe's directory (holds `patches/` and `files/`).
    #[serde(skip)]
    pub dir: PathBuf,
    #[serde(with = "span_serde")]
    pub package_span: SourceSpan,
    pub name: Text,
    pub version: Text,
    pub license: Option<Text>,
    /// `license-files`: paths in the prepared source tree; empty means
    /// "look for the usual names".
    #[serde(default)]
    pub license_files: Vec<Text>,
    pub homepage: Option<Text>,
    pub summary: Option<Text>,
    pub source_date_epoch: Option<Text>,
    pub sources: Vec<RawSource>,
    pub patches: Vec<Text>,
    pub depends: Vec<Text>,
    pub host_depends: Vec<Text>,
    /// Debian packages added to the target's sysroot for this package.
    pub sysroot_packages: Vec<Text>,
    pub build: RawBuild,
    pub test: Option<RawTest>,
    /// `resources { cores N }`: what one build of the package asks of a
    /// machine (a batch job's allocation); not part of the key.
    #[serde(default)]
    pub resources: Option<RawResources>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawResources {
    #[serde(with = "span_serde")]
    pub span: SourceSpan,
    pub cores: Option<Spanned<i64>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum RawOrigin {
    /// `source "https://…"`
    Url(Text),
    /// `source pypi="project"`: an sdist or wheel from the configured Python index.
    Pypi(Text),
    /// `source debian="srcpkg"`: a file from the configured Debian archive's pool.
    Debian(Text),
    /// `source path="files/shim"`: a file or directory inside the recipe directory.
    Path(Text),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum RawMirror {
    Url(Text),
    Debian(Text),
    Pypi(Text),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawSource {
    #[serde(with = "span_serde")]
    pub span: SourceSpan,
    pub origin: RawOrigin,
    pub file: Option<Text>,
    pub sha256: Option<Text>,
    pub mirrors: Vec<RawMirror>,
    pub strip_components: Option<Spanned<i64>>,
    pub dest: Option<Text>,
    pub extract: Option<Spanned<bool>>,
    /// `target NAME file=… sha256=…`: the file and sha256 for one target.
    pub variants: Vec<super::per_target::RawVariant>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum RawOptionValue {
    Bool(Spanned<bool>),
    Str(Text),
    List(Vec<Text>),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawOption {
    pub name: Text,
    pub value: RawOptionValue,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawBuild {
    #[serde(with = "span_serde")]
    pub span: SourceSpan,
    pub kind: Spanned<BuildKind>,
    pub options: Vec<RawOption>,
    pub env: Vec<(Text, Text)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestStepKind {
    /// A shell command on the build machine; `$RUN` runs a target program
    /// (under qemu when the target is emulated).
    Run,
    /// A Python script from the recipe directory, run by the target's Python
    /// with the package's wheel installed.
    Python,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawTestStep {
    pub kind: TestStepKind,
    pub command: Text,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawTest {
    #[serde(with = "span_serde")]
    pub span: SourceSpan,
    pub steps: Vec<RawTestStep>,
    pub requires: Vec<Text>,
}
