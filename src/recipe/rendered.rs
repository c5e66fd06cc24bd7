//! The recipe rendered for one target: concrete values, no templates, no spans.
//! Everything after `render` consumes this.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::options::{CommonOptions, KindOptions};
use super::raw::TestStepKind;
use super::schema::BuildKind;

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Origin {
    Url { url: String },
    Pypi { project: String },
    Debian { package: String },
    Path { path: PathBuf },
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Mirror {
    Url { url: String },
    Debian { package: String },
    Pypi { project: String },
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
pub struct Source {
    pub origin: Origin,
    /// Name of the downloaded file in the cache and work dir.
    pub file: String,
    /// Expected sha256; empty means "not known yet" (fetch prints it).
    pub sha256: String,
    pub mirrors: Vec<Mirror>,
    pub strip_components: u32,
    /// Where the source lands inside the package's source tree ("" = root).
    pub dest: String,
    pub extract: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
#[serde(untagged)]
pub enum OptionValue {
    Bool(bool),
    Str(String),
    List(Vec<String>),
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
pub struct Build {
    pub kind: BuildKind,
    /// The options as written (rendered), by name: what keys and
    /// `recipe show` read.
    pub options: BTreeMap<String, OptionValue>,
    pub env: Vec<(String, String)>,
    /// The same options, typed: what builders read.
    #[serde(skip)]
    pub common: CommonOptions,
    #[serde(skip)]
    pub typed: KindOptions,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
pub struct TestStep {
    pub kind: TestStepKind,
    pub command: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
pub struct Test {
    pub steps: Vec<TestStep>,
    /// Extra distribution packages the test runtime needs on the target.
    pub requires: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
pub struct Recipe {
    pub name: String,
    pub version: String,
    pub license: Option<String>,
    /// Empty (and then left out of keys) unless the recipe names them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub license_files: Vec<String>,
    pub homepage: Option<String>,
    pub summary: Option<String>,
    /// `SOURCE_DATE_EPOCH` of its builds and artifacts (default: 1980-01-01).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_date_epoch: Option<u64>,
    pub target: String,
    #[serde(skip)]
    pub dir: PathBuf,
    pub sources: Vec<Source>,
    pub patches: Vec<PathBuf>,
    pub depends: Vec<String>,
    pub host_depends: Vec<String>,
    /// Debian packages of the target's suite added to the base sysroot for
    /// this package (sorted, unique). Absent from the serialized form when
    /// empty, so keys of recipes without it are what they were.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sysroot_packages: Vec<String>,
    pub build: Build,
    pub test: Option<Test>,
    /// Left out of keys (a bigger allocation gives the same output) and of
    /// the serialized form when it is the default.
    #[serde(skip_serializing_if = "Resources::is_default")]
    pub resources: Resources,
}

/// What one build asks of a machine: cores, the `-j` of a batch job and its
/// `--cpus-per-task` on Slurm.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Hash)]
pub struct Resources {
    pub cores: u32,
}

impl Default for Resources {
    fn default() -> Self {
        Resources { cores: 1 }
    }
}

impl Resources {
    pub fn is_default(&self) -> bool {
        *self == Resources::default()
    }
}
