//! Helpers shared by the integration tests.

pub mod auditwheel;
pub mod e2e;
pub mod hostile;
pub mod http;
pub mod image;
pub mod project;
pub mod remote_server;
pub mod report;
pub mod spdx;
pub mod toolchain;
pub mod wheel;

/// A diagnostic as plain text, without line wrapping.
pub fn render_plain(err: &dyn miette::Diagnostic) -> String {
    let mut out = String::new();
    miette::NarratableReportHandler::new()
        .render_report(&mut out, err)
        .expect("render");
    out
}
