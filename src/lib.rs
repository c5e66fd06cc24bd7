//! `recipe`: declarative, recipe-based cross-compilation.
//!
//! The folders follow the pipeline, and imports point one way only: a
//! module may use the layers listed before its own, never one after it
//! (checked by `tests/it/architecture.rs`, which reads the list below; leaves
//! import nothing of the crate, and modules of one layer may use each other).
//!
//! 0. leaves: `digest`, `fault`, `elf`, `timefmt`, `units` (import nothing of the crate)
//! 1. `recipe` — the recipe language: raw syntax, parse, schema, options
//! 2. `model` — project, targets, sysroot definitions
//! 3. `plan` — dependency graph, rendering for a target
//! 4. `fetch`, `unpack`, `package` — sources in, archives opened safely;
//!    what leaves a build (wheels, tarballs, their verification)
//! 5. `debian` — the archive: indexes, resolution, packages
//! 6. `toolchain` — provisioning, sysroots, target roots, Go, qemu, environment
//! 7. `prepare` — patched source trees
//! 8. `provenance` — licenses and SBOMs
//! 9. `outputs` — build keys, stamps, digests, relocation
//! 10. `remote` — the shared HTTP cache of outputs
//! 11. `build` — scheduler, jobs, builders, processes, tests on the target
//! 12. `report`, `batch` — batch reports; the batch as jobs (graph, keys,
//!     per-job records) for a workload manager
//! 13. `scaffold`, `maintain` — authoring commands' logic
//! 14. `pipeline`, `settings`, `error`, `cli`, `commands`, `fuzzing` — the
//!     application (and the fuzzing entry points, which drive it)

pub mod batch;
pub mod build;
pub mod cli;
pub mod commands;
pub(crate) mod debian;
pub(crate) mod digest;
pub(crate) mod elf;
pub mod error;
pub(crate) mod fault;
pub mod fetch;
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod maintain;
pub mod model;
pub mod outputs;
pub(crate) mod package;
pub(crate) mod pipeline;
pub mod plan;
pub(crate) mod prepare;
pub(crate) mod provenance;
pub mod recipe;
pub mod remote;
pub(crate) mod report;
pub(crate) mod scaffold;
pub mod settings;
pub(crate) mod timefmt;
pub mod toolchain;
pub(crate) mod units;
pub mod unpack;
