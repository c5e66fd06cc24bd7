//! The integration tests, one crate (one link of the library) with a module
//! per area, as `just` does. Shared helpers live in `support/`.
//!
//! All modules run in one process, in parallel threads: tests pass their
//! environment to the child `Command`, never `std::env::set_var`, and tests
//! that share the end-to-end build tree hold `support::e2e::Tree::shared()`.

mod support;

mod architecture;
mod archive_extract;
mod batch_cluster;
mod cli;
mod debian_trust;
mod diagnostics;
mod e2e_batch;
mod e2e_dqlitepy;
mod e2e_gowheels;
mod e2e_portable_keys;
mod e2e_pybackends;
mod e2e_pyversions;
mod e2e_pywheels;
mod e2e_zlib;
mod fetch_cli;
mod fetch_download;
mod fetch_faults;
mod fuzz_smoke;
mod go_cache;
mod host_tools;
mod image_boot;
mod image_cluster;
mod image_ext4;
mod image_install;
mod image_target;
mod kill_matrix;
mod local_store;
mod new_cli;
mod nginx_cache;
mod offline;
mod outdated_cli;
mod patch_cli;
mod per_target;
mod remote_cache;
mod reproducible;
mod sandbox;
mod scheduler;
mod slurm_batch;
mod steps;
mod toolchain_cross;
mod toolchain_env;
mod toolchain_go;
mod toolchain_python;
mod unpack_hostile;
