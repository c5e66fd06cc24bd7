//! The recipe language: parse (`raw`, with spans) and the rendered model.

pub mod bounds;
pub mod decode;
pub mod emit;
pub mod error;
pub mod options;
pub mod parse;
pub mod parse_cache;
pub mod parse_source;
pub mod per_target;
pub mod raw;
pub mod rendered;
pub mod schema;
pub mod tree_path;

pub use error::{RecipeError, RecipeErrors, SourceFile};
pub use raw::RawRecipe;
pub use rendered::Recipe;
pub use schema::BuildKind;
