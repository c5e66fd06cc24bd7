//! `recipe`: declarative, recipe-based cross-compilation.
//!
//! The module layout follows the pipeline:
//! load (`recipe`, `project`) → render → plan (`graph`) → fetch → prepare →
//! build → package → verify → report.

pub mod activate;
pub mod builders;
pub mod buildpython;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod debian;
pub mod digest;
pub mod elf;
pub mod env;
pub mod error;
pub mod fault;
pub mod fetch;
#[doc(hidden)]
pub mod fuzzing;
pub mod gotool;
pub mod graph;
pub mod job;
pub mod jobenv;
pub mod maintain;
pub mod patch;
pub mod pipeline;
pub mod prepare;
pub mod process;
pub mod progress;
pub mod project;
pub mod provision;
pub mod qemu;
pub mod recipe;
pub mod relocate;
pub mod remote;
pub mod render;
pub mod report;
pub mod sandbox;
pub mod scaffold;
pub mod scheduler;
pub mod settings;
pub mod sysroot;
pub mod sysroot_def;
pub mod target;
pub mod targetroot;
pub mod testrun;
pub mod toolchain;
pub mod toolchain_files;
pub mod unpack;
pub mod verify;
pub mod wheel;
