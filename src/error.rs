//! The top-level error of a command. Each layer keeps its own typed error;
//! this enum only gathers them so `main` can render and pick an exit code.

use miette::Diagnostic;
use thiserror::Error;

use crate::recipe::RecipeErrors;

#[derive(Debug, Error, Diagnostic)]
pub enum Error {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Recipe(#[from] RecipeErrors),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Remote(#[from] crate::remote::RemoteError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Report(#[from] crate::report::ReportError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Batch(#[from] crate::batch::BatchError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Lookup(#[from] crate::model::project::LookupError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Plan(#[from] crate::plan::graph::PlanError),

    #[error("no recipes directory found from {start}")]
    #[diagnostic(
        code(recipe::no_project),
        help("run inside a project that has a `recipes/` directory, or pass `--recipes DIR`")
    )]
    NoProject { start: String },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Fetch(Box<crate::fetch::FetchError>),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Prepare(#[from] crate::prepare::PrepareError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Provenance(#[from] crate::provenance::ProvenanceError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Scaffold(Box<crate::scaffold::ScaffoldError>),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Toolchain(Box<crate::toolchain::ToolchainError>),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Maintain(Box<crate::maintain::MaintainError>),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Image(Box<crate::build::image::ImageError>),

    #[error("{what}: {source}")]
    #[diagnostic(code(recipe::io))]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{0}")]
    #[diagnostic(code(recipe::usage))]
    Usage(String),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Process(Box<crate::build::process::ProcessError>),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Build(Box<crate::build::builders::BuildError>),

    #[error("{count} test run(s) failed")]
    #[diagnostic(code(recipe::tests_failed), help("each failure above names its log"))]
    TestsFailed { count: usize },

    #[error("{count} package(s) failed or were skipped")]
    #[diagnostic(
        code(recipe::build_failed),
        help("see the errors above; each names its log and a `recipe shell` command")
    )]
    BuildFailed { count: usize },

    #[error("not reproducible: {first}")]
    #[diagnostic(
        code(recipe::not_reproducible),
        help(
            "a second build in another directory gave other bytes; SOURCE_DATE_EPOCH, -ffile-prefix-map and Go's -trimpath are set for every build, so look for what the named file embeds (a path, a time, a host probe)"
        )
    )]
    NotReproducible { first: String },
}

impl From<crate::fetch::FetchError> for Error {
    fn from(e: crate::fetch::FetchError) -> Error {
        Error::Fetch(Box::new(e))
    }
}

impl From<crate::scaffold::ScaffoldError> for Error {
    fn from(e: crate::scaffold::ScaffoldError) -> Error {
        Error::Scaffold(Box::new(e))
    }
}

impl From<crate::maintain::MaintainError> for Error {
    fn from(e: crate::maintain::MaintainError) -> Error {
        Error::Maintain(Box::new(e))
    }
}

impl From<crate::toolchain::ToolchainError> for Error {
    fn from(e: crate::toolchain::ToolchainError) -> Error {
        Error::Toolchain(Box::new(e))
    }
}

impl From<crate::build::builders::BuildError> for Error {
    fn from(e: crate::build::builders::BuildError) -> Self {
        Error::Build(Box::new(e))
    }
}

impl From<crate::build::image::ImageError> for Error {
    fn from(e: crate::build::image::ImageError) -> Self {
        Error::Image(Box::new(e))
    }
}

impl From<crate::build::process::ProcessError> for Error {
    fn from(e: crate::build::process::ProcessError) -> Self {
        Error::Process(Box::new(e))
    }
}

impl Error {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// 2 for mistakes in how the command was called, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Lookup(_) | Error::Usage(_) | Error::NoProject { .. } => 2,
            Error::Plan(crate::plan::graph::PlanError::Lookup(_)) => 2,
            Error::Toolchain(e) if matches!(**e, crate::toolchain::ToolchainError::Lookup(_)) => 2,
            Error::Scaffold(e) if matches!(**e, crate::scaffold::ScaffoldError::BadName { .. }) => 2,
            Error::Maintain(e) if matches!(**e, crate::maintain::MaintainError::WhichTarget { .. }) => 2,
            _ => 1,
        }
    }
}
