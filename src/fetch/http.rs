//! The one HTTP client builder: every request `recipe` makes (sources,
//! Debian indexes and packages, the Python index, the remote cache) goes
//! through a client made here, with the same TLS provider, user agent and
//! redirect rule.

use std::sync::Once;
use std::time::Duration;

/// rustls needs a process-wide crypto provider; ring builds fast and without C
/// toolchain surprises. Installing twice is harmless (the second is ignored).
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// How long a client waits.
#[derive(Debug, Clone, Copy)]
pub struct ClientTimeouts {
    pub connect: Duration,
    /// In the blocking client this bounds the wait for the response head and
    /// each single read, not the whole transfer; bodies are watched closer by
    /// the transfer limits (see transfer.rs).
    pub read: Duration,
    pub max_redirects: usize,
}

pub fn client(timeouts: ClientTimeouts) -> Result<reqwest::blocking::Client, reqwest::Error> {
    install_crypto_provider();
    reqwest::blocking::Client::builder()
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.read)
        .redirect(reqwest::redirect::Policy::limited(timeouts.max_redirects))
        .user_agent(concat!("recipe/", env!("CARGO_PKG_VERSION")))
        .build()
}
