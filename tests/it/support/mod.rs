//! Helpers shared by the integration tests.

pub mod auditwheel;
pub mod hostile;
pub mod http;
pub mod project;
pub mod remote_server;
pub mod spdx;
pub mod toolchain;
