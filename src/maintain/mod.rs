//! Keeping recipes current: `recipe patch` (an author's edits to a prepared
//! source tree become the recipe's next patch) and `recipe outdated` (newer
//! upstream versions on the Debian archive and the Python index).

pub mod new_patch;
mod newest;
pub mod outdated;
pub mod pyversion;
pub mod tree_diff;

use std::path::{Path, PathBuf};

use miette::Diagnostic;
use thiserror::Error;

pub use new_patch::{PatchOutcome, PatchRequest, make_patch};
pub use outdated::{OutdatedRow, Status, check_outdated};

#[derive(Debug, Error, Diagnostic)]
pub enum MaintainError {
    #[error("no prepared source tree of {name} for {target} at {}", path.display())]
    #[diagnostic(
        code(recipe::patch::no_tree),
        help(
            "prepare it first: `recipe source {name} --target {target}`, edit the tree it prints, then run `recipe patch {name} --target {target}`"
        )
    )]
    NoTree {
        name: String,
        target: String,
        path: PathBuf,
    },

    #[error("no prepared source tree of {name} under {}", build.display())]
    #[diagnostic(
        code(recipe::patch::no_tree),
        help(
            "prepare it first: `recipe source {name} --target T`, edit the tree it prints, then run `recipe patch {name}`"
        )
    )]
    NoTreeAnyTarget { name: String, build: PathBuf },

    #[error("{name} has prepared trees for several targets: {}", targets.join(", "))]
    #[diagnostic(code(recipe::patch::which_target), help("say which one: `--target T`"))]
    WhichTarget { name: String, targets: Vec<String> },

    /// Preparing the pristine tree to compare with failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Pristine(Box<crate::prepare::PrepareError>),

    #[error("{} changed while `recipe patch` ran; nothing was written", path.display())]
    #[diagnostic(code(recipe::patch::recipe_changed), help("run `recipe patch` again"))]
    RecipeChanged { path: PathBuf },

    #[error("adding the patch line would break {}; nothing was written", path.display())]
    #[diagnostic(
        code(recipe::patch::edit),
        help("add the line by hand; the recipe's problems are listed below")
    )]
    EditBroke {
        path: PathBuf,
        #[diagnostic_source]
        errors: crate::recipe::RecipeErrors,
    },

    #[error("{what} {}", path.display())]
    #[diagnostic(code(recipe::patch::io))]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl MaintainError {
    fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> MaintainError {
        let path = path.to_path_buf();
        move |source| MaintainError::Io { what, path, source }
    }
}
