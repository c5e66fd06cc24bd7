//! `recipe`: declarative, recipe-based cross-compilation.
//!
//! The module layout follows the pipeline:
//! load (`recipe`, `project`) → render → plan (`graph`) → fetch → prepare →
//! build → package → verify → report.

pub mod activate;
pub mod builders;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod elf;
pub mod error;
pub mod graph;
pub mod job;
pub mod process;
pub mod progress;
pub mod project;
pub mod recipe;
pub mod remote;
pub mod render;
pub mod report;
pub mod scheduler;
pub mod settings;
pub mod sysroot_def;
pub mod target;
pub mod wheel;
