//! Downloads against broken or hostile servers: each fault on the origin,
//! with a good mirror on another server (the mirror must be used, the file
//! verified, nothing left in `downloads/tmp`), and without a mirror (the
//! transfer must end by its budget with an error that says which).
//!
//! Timings are printed (`--nocapture` shows them), never asserted.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::support::http::{Reply, Server, assert_cache_clean, dir_bytes, payload, sha256_hex};
use recipe::fetch::{
    AttemptError, FetchContext, FetchError, FetchOptions, MirrorSettings, RetryPolicy, TransferLimits, download_sized,
    download_verified,
};

const FILE: &str = "x_1.0.orig.tar.gz";
/// About the size of the source the faults were first measured with.
const SIZE: usize = 300_000;
const CAP: u64 = 1 << 20;

fn render(err: &FetchError) -> String {
    crate::support::render_plain(err)
}

/// Budgets small enough that every fault ends within seconds.
fn small_limits() -> TransferLimits {
    TransferLimits {
        max_size: CAP,
        speed_limit: 1024,
        speed_time: Duration::from_secs(2),
        stall_timeout: Duration::from_secs(3),
        attempt_timeout: Duration::from_secs(20),
    }
}

fn quick_policy() -> RetryPolicy {
    RetryPolicy {
        attempts: 2,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        ..RetryPolicy::default()
    }
}

fn context(cache: &Path, policy: RetryPolicy, limits: TransferLimits) -> FetchContext {
    FetchContext::new(
        cache,
        FetchOptions {
            policy,
            limits,
            mirrors: MirrorSettings::default(),
            ..FetchOptions::default()
        },
    )
    .expect("client")
}

/// Samples the bytes under `downloads/tmp` while a download runs. Aborts the
/// whole test binary far above the cap, so a regression cannot fill the disk.
struct DiskWatch {
    max: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DiskWatch {
    fn start(cache: &Path, cap: u64) -> DiskWatch {
        let tmp = cache.join("downloads").join("tmp");
        let max = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, s) = (max.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let now = dir_bytes(&tmp);
                m.fetch_max(now, Ordering::Relaxed);
                if now > 64 * cap {
                    eprintln!("{now} bytes in {}: aborting before the disk fills", tmp.display());
                    std::process::abort();
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        DiskWatch {
            max,
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.max.load(Ordering::Relaxed)
    }
}

struct Run {
    dir: tempfile::TempDir,
    origin: Server,
    mirror: Server,
    data: Vec<u8>,
}

impl Run {
    /// The origin answers with `fault`; a mirror on another server has the file.
    fn new(fault: Reply) -> Run {
        let data = payload(SIZE, 16);
        let origin = Server::start();
        let mirror = Server::start();
        origin.route("/src/x.tar.gz", vec![fault]);
        mirror.route("/mirror/x.tar.gz", vec![Reply::Body(data.clone())]);
        Run {
            dir: tempfile::tempdir().expect("temp dir"),
            origin,
            mirror,
            data,
        }
    }

    fn cache(&self) -> &Path {
        self.dir.path()
    }

    fn origin_url(&self) -> String {
        self.origin.url("/src/x.tar.gz")
    }

    fn mirror_url(&self) -> String {
        self.mirror.url("/mirror/x.tar.gz")
    }

    /// Fetches through origin then mirror; checks the mirror served the
    /// verified file and the origin was not retried first. Returns the peak
    /// bytes seen in `downloads/tmp`.
    fn expect_mirror(&self, label: &str, policy: RetryPolicy, limits: TransferLimits) -> u64 {
        let ctx = context(self.cache(), policy, limits);
        let watch = DiskWatch::start(self.cache(), CAP);
        let started = Instant::now();
        let got = download_verified(
            &ctx,
            &[self.origin_url(), self.mirror_url()],
            &sha256_hex(&self.data),
            FILE,
        );
        let elapsed = started.elapsed();
        let peak = watch.finish();
        eprintln!("{label}: mirror used after {:.2} s", elapsed.as_secs_f64());
        let path: PathBuf = got.unwrap_or_else(|e| panic!("{label}: {}", render(&e)));
        assert_eq!(std::fs::read(&path).expect("read the fetched file"), self.data);
        assert_eq!(
            self.origin.hits("/src/x.tar.gz"),
            1,
            "{label}: origin retried before the mirror"
        );
        assert_eq!(self.mirror.hits("/mirror/x.tar.gz"), 1, "{label}: mirror not used");
        assert_eq!(assert_cache_clean(self.cache()), 1);
        peak
    }

    /// Fetches from the origin alone; returns the error and the peak bytes.
    fn expect_failure(&self, policy: RetryPolicy, limits: TransferLimits) -> (FetchError, u64) {
        let ctx = context(self.cache(), policy, limits);
        let watch = DiskWatch::start(self.cache(), CAP);
        let started = Instant::now();
        let got = download_verified(&ctx, &[self.origin_url()], &sha256_hex(&self.data), FILE);
        let peak = watch.finish();
        eprintln!("no mirror: failed after {:.2} s", started.elapsed().as_secs_f64());
        let err = got.expect_err("a broken origin without a mirror must fail");
        eprintln!("{}", render(&err));
        assert_eq!(assert_cache_clean(self.cache()), 0);
        (err, peak)
    }
}

fn attempts(err: &FetchError) -> &[recipe::fetch::Attempt] {
    match err {
        FetchError::AllFailed { attempts, .. } => attempts,
        other => panic!("expected AllFailed, got {other:?}"),
    }
}

#[test]
fn reset_mid_body_fails_over_to_the_mirror_with_default_settings() {
    let run = Run::new(Reply::ResetMidBody {
        body: payload(SIZE, 16),
        after: 100_000,
    });
    run.expect_mirror("reset mid-body", RetryPolicy::default(), TransferLimits::default());
}

#[test]
fn stall_mid_body_fails_over_to_the_mirror_with_default_settings() {
    let run = Run::new(Reply::StallMidBody {
        body: payload(SIZE, 16),
        after: 100_000,
        hold: Duration::from_secs(120),
    });
    run.expect_mirror("stall mid-body", RetryPolicy::default(), TransferLimits::default());
}

#[test]
fn slow_drip_fails_over_to_the_mirror() {
    let run = Run::new(Reply::Drip {
        body: payload(SIZE, 16),
        every: Duration::from_secs(1),
    });
    run.expect_mirror("slow drip (1 byte/s)", quick_policy(), small_limits());
}

#[test]
fn endless_body_fails_over_to_the_mirror_within_the_size_cap() {
    let run = Run::new(Reply::Endless);
    let peak = run.expect_mirror("endless body", quick_policy(), small_limits());
    eprintln!("endless body: at most {peak} bytes in downloads/tmp (cap {CAP})");
    assert!(peak <= CAP, "{peak} bytes written, cap {CAP}");
}

#[test]
fn slow_drip_without_a_mirror_ends_by_the_speed_limit() {
    let run = Run::new(Reply::Drip {
        body: payload(SIZE, 16),
        every: Duration::from_secs(1),
    });
    let (err, _) = run.expect_failure(quick_policy(), small_limits());
    let list = attempts(&err);
    assert_eq!(list.len(), 2, "each try is listed: {list:?}");
    for a in list {
        assert!(matches!(a.reason, AttemptError::TooSlow { .. }), "{a:?}");
        assert!(a.bytes > 0 && a.bytes < 100, "{a:?}");
    }
    let text = render(&err);
    for needle in ["too slow", "speed-limit", "speed-time", "B in ", "tried 2 times"] {
        assert!(text.contains(needle), "{needle} missing in:\n{text}");
    }
}

#[test]
fn endless_body_without_a_mirror_ends_at_the_size_cap() {
    let run = Run::new(Reply::Endless);
    let (err, peak) = run.expect_failure(quick_policy(), small_limits());
    eprintln!("endless body, no mirror: at most {peak} bytes in downloads/tmp (cap {CAP})");
    assert!(peak <= CAP, "{peak} bytes written, cap {CAP}");
    let list = attempts(&err);
    assert_eq!(list.len(), 1, "too large is not retried: {list:?}");
    assert!(matches!(list[0].reason, AttemptError::TooLarge { .. }), "{list:?}");
    assert_eq!(list[0].bytes, CAP);
    let text = render(&err);
    for needle in ["max-size", "1.0 MiB"] {
        assert!(text.contains(needle), "{needle} missing in:\n{text}");
    }
}

#[test]
fn attempt_deadline_ends_a_transfer_that_is_slow_but_not_too_slow() {
    let run = Run::new(Reply::Drip {
        body: payload(SIZE, 16),
        every: Duration::from_millis(10),
    });
    let limits = TransferLimits {
        speed_limit: 10,
        attempt_timeout: Duration::from_secs(2),
        ..small_limits()
    };
    let policy = RetryPolicy {
        attempts: 1,
        ..quick_policy()
    };
    let (err, _) = run.expect_failure(policy, limits);
    let list = attempts(&err);
    assert!(matches!(list[0].reason, AttemptError::Deadline { .. }), "{list:?}");
    assert!(render(&err).contains("attempt-timeout"), "{}", render(&err));
}

#[test]
fn the_expected_size_caps_the_stream_below_the_global_cap() {
    let run = Run::new(Reply::Endless);
    let ctx = context(run.cache(), quick_policy(), small_limits());
    let expected = 4000u64;
    let err = download_sized(&ctx, &[run.origin_url()], &"a".repeat(64), FILE, Some(expected)).unwrap_err();
    let list = attempts(&err);
    assert!(matches!(list[0].reason, AttemptError::TooLarge { .. }), "{list:?}");
    assert_eq!(list[0].bytes, expected);
    assert!(render(&err).contains("expected size"), "{}", render(&err));
    assert_eq!(assert_cache_clean(run.cache()), 0);

    // An announced length above the expected size is refused before the body.
    let data = payload(8000, 3);
    run.origin.route("/big", vec![Reply::Body(data.clone())]);
    let err = download_sized(
        &ctx,
        &[run.origin.url("/big")],
        &sha256_hex(&data),
        FILE,
        Some(expected),
    )
    .unwrap_err();
    let list = attempts(&err);
    assert!(matches!(list[0].reason, AttemptError::Announced { .. }), "{list:?}");
    assert_eq!(list[0].bytes, 0);
    assert_eq!(assert_cache_clean(run.cache()), 0);
}

#[test]
fn failed_hosts_are_tried_last_for_the_rest_of_the_run() {
    let run = Run::new(Reply::ResetMidBody {
        body: payload(SIZE, 16),
        after: 1000,
    });
    let ctx = context(run.cache(), quick_policy(), small_limits());
    let sha = sha256_hex(&run.data);
    download_verified(&ctx, &[run.origin_url(), run.mirror_url()], &sha, FILE).unwrap();
    // Another file whose first URL is on the host that just failed.
    let other = payload(5000, 17);
    run.origin.route("/src/y.tar.gz", vec![Reply::Body(other.clone())]);
    run.mirror.route("/mirror/y.tar.gz", vec![Reply::Body(other.clone())]);
    let urls = [run.origin.url("/src/y.tar.gz"), run.mirror.url("/mirror/y.tar.gz")];
    download_verified(&ctx, &urls, &sha256_hex(&other), "y.tar.gz").unwrap();
    assert_eq!(run.origin.hits("/src/y.tar.gz"), 0, "the failed host goes last");
    assert_eq!(run.mirror.hits("/mirror/y.tar.gz"), 1);
    // A new run starts with a clean record.
    let fresh = context(run.cache(), quick_policy(), small_limits());
    run.origin.route("/src/z.tar.gz", vec![Reply::Body(other.clone())]);
    let urls = [run.origin.url("/src/z.tar.gz"), run.mirror.url("/mirror/y.tar.gz")];
    download_verified(&fresh, &urls, &sha256_hex(&other), "z.tar.gz").unwrap();
    assert_eq!(run.origin.hits("/src/z.tar.gz"), 1);
    assert_eq!(assert_cache_clean(run.cache()), 3);
}

#[test]
fn transient_failures_go_round_the_urls_before_retrying_one() {
    let server = Server::start();
    let data = payload(5000, 18);
    server.route("/a", vec![Reply::Status(503), Reply::Body(data.clone())]);
    server.route("/b", vec![Reply::Status(500)]);
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path(), quick_policy(), small_limits());
    download_verified(&ctx, &[server.url("/a"), server.url("/b")], &sha256_hex(&data), FILE).unwrap();
    assert_eq!(server.requests(), ["/a", "/b", "/a"]);
    assert_eq!(assert_cache_clean(dir.path()), 1);
}

#[test]
fn retry_after_is_honoured_within_its_bound() {
    let server = Server::start();
    let data = payload(5000, 19);
    server.route(
        "/busy",
        vec![Reply::RetryAfter(503, "1".into()), Reply::Body(data.clone())],
    );
    server.route("/closed", vec![Reply::RetryAfter(429, "3600".into())]);
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path(), quick_policy(), small_limits());
    download_verified(&ctx, &[server.url("/busy")], &sha256_hex(&data), FILE).unwrap();
    assert_eq!(server.hits("/busy"), 2);
    // Asked to come back in an hour: not waited for, not retried.
    let err = download_verified(&ctx, &[server.url("/closed")], &sha256_hex(&data), "c.tar").unwrap_err();
    assert_eq!(server.hits("/closed"), 1);
    let list = attempts(&err);
    assert!(
        matches!(list[0].reason, AttemptError::RetryAfterTooLong { .. }),
        "{list:?}"
    );
    let text = render(&err);
    assert!(
        text.contains("Retry-After") && text.contains("max-retry-after"),
        "{text}"
    );
    assert_eq!(assert_cache_clean(dir.path()), 1);
}

#[test]
fn partial_files_no_process_owns_are_removed_when_a_run_starts() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("downloads").join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    // Left by a killed run: nobody holds its lock.
    let stale = tmp.join("a.tar.gz.4242.0.part");
    std::fs::write(&stale, vec![0u8; 4096]).unwrap();
    // Being written by a live download: its lock is held.
    let live = tmp.join("b.tar.gz.4243.0.part");
    let held = std::fs::File::create(&live).unwrap();
    held.lock().unwrap();
    // Not ours: left alone.
    let other = tmp.join("notes.txt");
    std::fs::write(&other, "keep").unwrap();
    let _ctx = context(dir.path(), quick_policy(), small_limits());
    assert!(!stale.exists(), "stale partial file kept");
    assert!(live.exists(), "a live download's file was removed");
    assert!(other.exists());
    drop(held);
}

/// The origin faults that already failed over at once before the budgets
/// (kept so the fault matrix stays whole): each reaches the mirror with the
/// origin asked once, and the verified file comes from the mirror.
#[test]
fn gone_too_many_requests_login_page_and_overlong_body_fail_over_to_the_mirror() {
    let login = b"<html><body>Please log in</body></html>".to_vec();
    let faults = [
        ("410 Gone", Reply::Status(410)),
        ("429 with Retry-After", Reply::RetryAfter(429, "1".into())),
        ("200 HTML login page", Reply::Typed("text/html", login)),
    ];
    for (label, fault) in faults {
        let run = Run::new(fault);
        run.expect_mirror(label, quick_policy(), small_limits());
    }
}

/// Bytes after the announced Content-Length are not part of the file: the
/// file is exactly the announced body, verified, with nothing else kept.
#[test]
fn a_body_longer_than_its_content_length_is_cut_at_the_announced_length() {
    let data = payload(SIZE, 16);
    let mut longer = data.clone();
    longer.extend_from_slice(&payload(4096, 99));
    let server = Server::start();
    server.route(
        "/x.tar.gz",
        vec![Reply::Truncated {
            body: longer,
            claimed: SIZE,
        }],
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let ctx = context(dir.path(), quick_policy(), small_limits());
    let path = download_verified(&ctx, &[server.url("/x.tar.gz")], &sha256_hex(&data), FILE)
        .unwrap_or_else(|e| panic!("{}", render(&e)));
    assert_eq!(std::fs::read(path).expect("read"), data);
    assert_eq!(assert_cache_clean(dir.path()), 1);
}
