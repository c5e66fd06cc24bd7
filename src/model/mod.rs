//! What a project defines, as loaded from disk: its recipes (parsed by
//! `crate::recipe`), its targets and its sysroot definitions.

pub mod image_def;
pub mod image_format;
pub mod image_net;
pub mod project;
pub mod python_target;
pub mod sysroot_def;
pub mod target;
pub mod target_image;
