//! Recipe diagnostics: every error carries the file it came from and a span,
//! so miette can print the file name, the line and a caret.

use std::sync::Arc;

use miette::{Diagnostic, NamedSource, SourceSpan};
use thiserror::Error;

/// The text of a definition file, shared by every diagnostic that points into it.
#[derive(Debug, Clone, Default)]
pub struct SourceFile {
    pub name: String,
    pub text: Arc<String>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        SourceFile {
            name: name.into(),
            text: Arc::new(text.into()),
        }
    }

    pub fn named(&self) -> NamedSource<Arc<String>> {
        NamedSource::new(self.name.clone(), self.text.clone()).with_language("kdl")
    }
}

#[derive(Debug, Clone, Error, Diagnostic)]
pub enum RecipeError {
    #[error("{message}")]
    #[diagnostic(code(recipe::syntax))]
    Syntax {
        #[source_code]
        src: NamedSource<Arc<String>>,
        #[label("{label}")]
        span: SourceSpan,
        message: String,
        label: String,
        #[help]
        help: Option<String>,
    },

    #[error("unknown node `{name}` in {context}")]
    #[diagnostic(code(recipe::unknown_node))]
    UnknownNode {
        #[source_code]
        src: NamedSource<Arc<String>>,
        #[label("not expected here")]
        span: SourceSpan,
        name: String,
        context: String,
        #[help]
        help: String,
    },

    #[error("unknown property `{name}` on `{node}`")]
    #[diagnostic(code(recipe::unknown_property))]
    UnknownProperty {
        #[source_code]
        src: NamedSource<Arc<String>>,
        #[label("unknown property")]
        span: SourceSpan,
        name: String,
        node: String,
        #[help]
        help: String,
    },

    #[error("unexpected argument to `{node}`")]
    #[diagnostic(code(recipe::unexpected_argument))]
    UnexpectedArgument {
        #[source_code]
        src: NamedSource<Arc<String>>,
        #[label("not expected")]
        span: SourceSpan,
        node: String,
        #[help]
        help: String,
    },

    /// `context` and `field` are shown as written: quote node names with backticks.
    #[error("{context} is missing {field}")]
    #[diagnostic(code(recipe::missing_field))]
    MissingField {
        #[source_code]
        src: NamedSource<Arc<String>>,
        #[label("{field} required here")]
        span: SourceSpan,
        field: String,
        context: String,
        #[help]
        help: String,
    },

    #[error("`{node}` expects {expected}, found {found}")]
    #[diagnostic(code(recipe::wrong_type))]
    WrongType {
        #[source_code]
        src: NamedSource<Arc<String>>,
        #[label("expected {expected}")]
        span: SourceSpan,
        node: String,
        expected: String,
        found: String,
        #[help]
        help: Option<String>,
    },

    #[error("`{name}` is given more than once")]
    #[diagnostic(code(recipe::duplicate))]
    Duplicate {
        #[source_code]
        src: NamedSource<Arc<String>>,
        #[label("second definition")]
        span: SourceSpan,
        #[label("first defined here")]
        first: SourceSpan,
        name: String,
        #[help]
        help: String,
    },

    #[error("invalid sha256 `{value}`: {reason}")]
    #[diagnostic(code(recipe::bad_sha256))]
    BadSha256 {
        #[source_code]
        src: NamedSource<Arc<String>>,
        #[label("{reason}")]
        span: SourceSpan,
        value: String,
        reason: String,
        #[help]
        help: String,
    },

    #[error("invalid {what}: {reason}")]
    #[diagnostic(code(recipe::invalid_value))]
    InvalidValue {
        #[source_code]
        src: NamedSource<Arc<String>>,
        #[label("{reason}")]
        span: SourceSpan,
        what: String,
        reason: String,
        #[help]
        help: String,
    },

    #[error("unknown build kind `{kind}`")]
    #[diagnostic(code(recipe::unknown_build_kind))]
    UnknownBuildKind {
        #[source_code]
        src: NamedSource<Arc<String>>,
        #[label("unknown build kind")]
        span: SourceSpan,
        kind: String,
        #[help]
        help: String,
    },

    #[error("template error: {message}")]
    #[diagnostic(code(recipe::template))]
    Template {
        #[source_code]
        src: NamedSource<Arc<String>>,
        #[label("{label}")]
        span: SourceSpan,
        message: String,
        label: String,
        #[help]
        help: String,
    },

    #[error("unknown dependency `{name}`")]
    #[diagnostic(code(recipe::unknown_dependency))]
    UnknownDependency {
        #[source_code]
        src: NamedSource<Arc<String>>,
        #[label("no recipe named `{name}`")]
        span: SourceSpan,
        name: String,
        #[help]
        help: String,
    },

    #[error("build kind `{kind}` needs the host tool `{tool}`, and no recipe provides it")]
    #[diagnostic(code(recipe::missing_host_tool))]
    MissingHostTool {
        #[source_code]
        src: NamedSource<Arc<String>>,
        #[label("runs `{tool}` on the build machine")]
        span: SourceSpan,
        kind: String,
        tool: String,
        #[help]
        help: String,
    },

    #[error("dependency cycle: {cycle}")]
    #[diagnostic(code(recipe::cycle))]
    Cycle {
        #[source_code]
        src: NamedSource<Arc<String>>,
        #[label("this dependency closes the cycle")]
        span: SourceSpan,
        cycle: String,
        #[help]
        help: String,
    },

    #[error("{what} `{path}` does not exist")]
    #[diagnostic(code(recipe::missing_file))]
    MissingFile {
        #[source_code]
        src: NamedSource<Arc<String>>,
        #[label("file not found")]
        span: SourceSpan,
        what: String,
        path: String,
        #[help]
        help: String,
    },

    #[error("package `{name}` is defined in directory `{dir}`")]
    #[diagnostic(code(recipe::name_mismatch))]
    NameMismatch {
        #[source_code]
        src: NamedSource<Arc<String>>,
        #[label("package name")]
        span: SourceSpan,
        name: String,
        dir: String,
        #[help]
        help: String,
    },

    /// A name defined in two files (targets, sysroots).
    #[error("{what} `{name}` is defined twice")]
    #[diagnostic(code(recipe::duplicate_name))]
    DuplicateName {
        #[source_code]
        src: NamedSource<Arc<String>>,
        #[label("second definition")]
        span: SourceSpan,
        what: String,
        name: String,
        #[help]
        help: String,
    },

    /// A file, nesting or comment past what the parser can take safely.
    #[error("{message}")]
    #[diagnostic(code(recipe::limit))]
    Limit {
        #[source_code]
        src: NamedSource<Arc<String>>,
        #[label("{label}")]
        span: SourceSpan,
        message: String,
        label: String,
        #[help]
        help: String,
    },

    #[error("{path} is too large: {size} bytes (the limit is {} KiB)", limit >> 10)]
    #[diagnostic(code(recipe::too_large))]
    TooLarge {
        path: String,
        size: u64,
        limit: u64,
        #[help]
        help: String,
    },

    #[error("{path} is not UTF-8: byte 0x{byte:02x} at byte offset {offset}")]
    #[diagnostic(code(recipe::not_utf8))]
    NotUtf8 {
        #[source_code]
        src: NamedSource<Arc<String>>,
        #[label("invalid UTF-8")]
        span: SourceSpan,
        path: String,
        offset: usize,
        byte: u8,
        #[help]
        help: String,
    },

    #[error("cannot read {path}: {source}")]
    #[diagnostic(code(recipe::io))]
    Io {
        path: String,
        #[source]
        source: Arc<std::io::Error>,
    },
}

impl RecipeError {
    /// Short machine-friendly kind, used in reports and tests.
    pub fn kind(&self) -> &'static str {
        match self {
            RecipeError::Syntax { .. } => "syntax",
            RecipeError::UnknownNode { .. } => "unknown-node",
            RecipeError::UnknownProperty { .. } => "unknown-property",
            RecipeError::UnexpectedArgument { .. } => "unexpected-argument",
            RecipeError::MissingField { .. } => "missing-field",
            RecipeError::WrongType { .. } => "wrong-type",
            RecipeError::Duplicate { .. } => "duplicate",
            RecipeError::BadSha256 { .. } => "bad-sha256",
            RecipeError::InvalidValue { .. } => "invalid-value",
            RecipeError::UnknownBuildKind { .. } => "unknown-build-kind",
            RecipeError::Template { .. } => "template",
            RecipeError::UnknownDependency { .. } => "unknown-dependency",
            RecipeError::MissingHostTool { .. } => "missing-host-tool",
            RecipeError::Cycle { .. } => "cycle",
            RecipeError::MissingFile { .. } => "missing-file",
            RecipeError::NameMismatch { .. } => "name-mismatch",
            RecipeError::DuplicateName { .. } => "duplicate-name",
            RecipeError::Limit { .. } => "limit",
            RecipeError::TooLarge { .. } => "too-large",
            RecipeError::NotUtf8 { .. } => "not-utf8",
            RecipeError::Io { .. } => "io",
        }
    }
}

/// All the problems found in one or more definition files.
#[derive(Debug, Error, Diagnostic)]
#[error("{} problem{} found in recipes", .errors.len(), if .errors.len() == 1 { "" } else { "s" })]
pub struct RecipeErrors {
    #[related]
    pub errors: Vec<RecipeError>,
}

impl From<RecipeError> for RecipeErrors {
    fn from(e: RecipeError) -> Self {
        RecipeErrors { errors: vec![e] }
    }
}

/// The closest known name to `name`, for "did you mean" help lines.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(d, c)| *d <= 3.max(c.len() / 3))
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_suggests_near_names_only() {
        let names = ["libuv", "sqlite", "lz4", "dqlite"];
        assert_eq!(closest("libuvv", names), Some("libuv"));
        assert_eq!(closest("sqlit", names), Some("sqlite"));
        assert_eq!(closest("zzzzzzzzzz", names), None);
    }
}
