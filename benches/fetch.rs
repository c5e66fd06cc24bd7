//! Fetch + verify throughput of a large file served on loopback, against
//! `sha256sum` of the same file (the floor: one read, one hash, no write).
//!
//! `cargo bench --bench fetch`; RECIPE_BENCH_MB sets the size (default
//! 1024), RECIPE_BENCH_DIR where the file and cache go (default: temp dir).

// The scripted loopback server of the integration tests; the bench uses a part.
#[allow(dead_code)]
#[path = "../tests/it/support/http.rs"]
mod support;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use recipe::fetch::{FetchContext, FetchOptions, download_verified};
use support::{Reply, Server};

fn make_file(path: &Path, mib: usize) {
    let block = support::payload(1 << 20, 42);
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create bench file"));
    for i in 0..mib {
        // Vary each block so the content is not one repeated MiB.
        let mut b = block.clone();
        b[..8].copy_from_slice(&(i as u64).to_le_bytes());
        f.write_all(&b).expect("write bench file");
    }
    f.flush().expect("flush bench file");
}

fn sha256sum(path: &Path) -> (String, Duration) {
    let t = Instant::now();
    let out = Command::new("sha256sum").arg(path).output().expect("run sha256sum");
    let elapsed = t.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    (text.split_whitespace().next().unwrap_or("").to_string(), elapsed)
}

fn main() {
    let mib: usize = std::env::var("RECIPE_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let base = std::env::var_os("RECIPE_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = tempfile::tempdir_in(base).expect("bench dir");
    let file = dir.path().join("big.bin");
    make_file(&file, mib);
    let bytes = (mib as f64) * 1024.0 * 1024.0;
    let mbps = |d: Duration| bytes / d.as_secs_f64() / 1e6;

    // Warm the page cache, then take the best of three.
    let (hex, _) = sha256sum(&file);
    let best_sum = (0..3).map(|_| sha256sum(&file).1).min().unwrap_or_default();

    let server = Server::start();
    server.route("/big.bin", vec![Reply::File(file.clone())]);
    let url = [server.url("/big.bin")];
    let mut best_fetch = Duration::MAX;
    for run in 0..3 {
        let cache = dir.path().join(format!("cache-{run}"));
        let ctx = FetchContext::new(&cache, FetchOptions::default()).expect("client");
        let t = Instant::now();
        let p = download_verified(&ctx, &url, &hex, "big.bin").expect("download");
        best_fetch = best_fetch.min(t.elapsed());
        assert_eq!(std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0) as f64, bytes);
        // Free the page cache and disk space before the next run.
        let _ = std::fs::remove_dir_all(&cache);
    }
    println!("file: {mib} MiB");
    println!(
        "sha256sum:             {:>8.1} MB/s ({:.2}s)",
        mbps(best_sum),
        best_sum.as_secs_f64()
    );
    println!(
        "fetch+verify+store:    {:>8.1} MB/s ({:.2}s)",
        mbps(best_fetch),
        best_fetch.as_secs_f64()
    );
    println!(
        "ratio: {:.2}x of sha256sum",
        best_sum.as_secs_f64() / best_fetch.as_secs_f64()
    );
}
