//! Helpers shared by the integration tests.

pub mod auditwheel;
pub mod e2e;
pub mod hostile;
pub mod http;
pub mod project;
pub mod remote_server;
pub mod report;
pub mod spdx;
pub mod toolchain;
