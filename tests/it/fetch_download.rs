//! `download_verified` and `fetch_source` against a scripted local server.

use std::path::Path;
use std::time::Duration;

use crate::support::http::{Reply, Server, assert_cache_clean, payload, sha256_hex};
use recipe::fetch::{
    FetchContext, FetchError, FetchOptions, GaveUp, MirrorSettings, RetryPolicy, download_verified, fetch_source,
};
use recipe::recipe::rendered::{Mirror, Origin, Source};

fn render(err: &FetchError) -> String {
    crate::support::render_plain(err)
}

fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_millis(400),
        max_redirects: 5,
        ..RetryPolicy::default()
    }
}

fn ctx(cache: &Path, offline: bool, mirrors: MirrorSettings) -> FetchContext {
    FetchContext::new(
        cache,
        FetchOptions {
            offline,
            policy: fast_policy(),
            mirrors,
            ..FetchOptions::default()
        },
    )
    .expect("client")
}

fn plain(cache: &Path) -> FetchContext {
    ctx(cache, false, MirrorSettings::default())
}

#[test]
fn downloads_verifies_and_then_hits_the_cache_without_requests() {
    let server = Server::start();
    let data = payload(300_000, 1);
    server.route("/a.tar.gz", vec![Reply::Body(data.clone())]);
    let dir = tempfile::tempdir().unwrap();
    let c = plain(dir.path());
    let hex = sha256_hex(&data);
    let p = download_verified(&c, &[server.url("/a.tar.gz")], &hex, "a.tar.gz").unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), data);
    assert!(p.starts_with(dir.path().join("downloads/sha256").join(&hex)));
    assert_eq!(c.requests(), 1);
    // A second context (a second run): a hit, no request at all.
    let c2 = plain(dir.path());
    let p2 = download_verified(&c2, &[server.url("/a.tar.gz")], &hex.to_uppercase(), "a.tar.gz").unwrap();
    assert_eq!(p, p2);
    assert_eq!(c2.requests(), 0);
    assert_eq!(server.hits("/a.tar.gz"), 1);
    assert_eq!(assert_cache_clean(dir.path()), 1);
}

#[test]
fn not_found_moves_to_the_next_mirror_at_once() {
    let server = Server::start();
    let data = payload(1000, 2);
    server.route("/gone.tgz", vec![Reply::Status(404)]);
    server.route("/mirror/gone.tgz", vec![Reply::Body(data.clone())]);
    let dir = tempfile::tempdir().unwrap();
    let c = plain(dir.path());
    let urls = [server.url("/gone.tgz"), server.url("/mirror/gone.tgz")];
    download_verified(&c, &urls, &sha256_hex(&data), "gone.tgz").unwrap();
    assert_eq!(server.hits("/gone.tgz"), 1, "404 is not retried");
    assert_eq!(assert_cache_clean(dir.path()), 1);
}

#[test]
fn server_error_is_retried_on_the_same_url() {
    let server = Server::start();
    let data = payload(5000, 3);
    server.route(
        "/flaky",
        vec![Reply::Status(500), Reply::Status(503), Reply::Body(data.clone())],
    );
    let dir = tempfile::tempdir().unwrap();
    let c = plain(dir.path());
    download_verified(&c, &[server.url("/flaky")], &sha256_hex(&data), "flaky.tar").unwrap();
    assert_eq!(server.hits("/flaky"), 3);
    assert_eq!(assert_cache_clean(dir.path()), 1);
}

#[test]
fn connection_reset_is_retried() {
    let server = Server::start();
    let data = payload(5000, 4);
    server.route("/reset", vec![Reply::Reset, Reply::Body(data.clone())]);
    let dir = tempfile::tempdir().unwrap();
    let c = plain(dir.path());
    download_verified(&c, &[server.url("/reset")], &sha256_hex(&data), "r.tar").unwrap();
    assert_eq!(server.hits("/reset"), 2);
    assert_eq!(assert_cache_clean(dir.path()), 1);
}

#[test]
fn read_timeout_then_next_mirror_before_any_retry() {
    let server = Server::start();
    let data = payload(5000, 5);
    server.route("/slow", vec![Reply::Stall(Duration::from_secs(3))]);
    server.route("/fast", vec![Reply::Body(data.clone())]);
    let dir = tempfile::tempdir().unwrap();
    let c = plain(dir.path());
    let urls = [server.url("/slow"), server.url("/fast")];
    download_verified(&c, &urls, &sha256_hex(&data), "s.tar").unwrap();
    assert_eq!(server.hits("/slow"), 1, "the next URL comes before a retry");
    assert_eq!(server.requests(), ["/slow", "/fast"]);
    // Alone, a URL that timed out is retried.
    let other = payload(600, 5);
    server.route(
        "/slow2",
        vec![Reply::Stall(Duration::from_secs(3)), Reply::Body(other.clone())],
    );
    download_verified(&c, &[server.url("/slow2")], &sha256_hex(&other), "s2.tar").unwrap();
    assert_eq!(server.hits("/slow2"), 2, "timeouts are retried");
    assert_eq!(assert_cache_clean(dir.path()), 2);
}

#[test]
fn truncated_bodies_never_reach_the_cache() {
    let server = Server::start();
    let data = payload(10_000, 6);
    let short = Reply::Truncated {
        body: data[..4000].to_vec(),
        claimed: data.len(),
    };
    server.route("/short", vec![short.clone(), Reply::Body(data.clone())]);
    server.route("/always-short", vec![short]);
    let dir = tempfile::tempdir().unwrap();
    let c = plain(dir.path());
    download_verified(&c, &[server.url("/short")], &sha256_hex(&data), "t.tar").unwrap();
    assert_eq!(server.hits("/short"), 2);
    let err = download_verified(&c, &[server.url("/always-short")], &sha256_hex(&data), "u.tar").unwrap_err();
    let FetchError::AllFailed { attempts, gave_up, .. } = &err else {
        panic!("expected AllFailed, got {err:?}")
    };
    // One line per request, each with what it got.
    assert_eq!(attempts.len(), 3);
    for (i, a) in attempts.iter().enumerate() {
        assert_eq!(a.try_number, i as u32 + 1);
        assert!(a.url.ends_with("/always-short"));
        assert_eq!(a.bytes, 4000, "{a:?}");
    }
    assert_eq!(*gave_up, Some(GaveUp::Tries(3)));
    let text = render(&err);
    assert!(text.contains("(try 3)") && text.contains("3.9 KiB in"), "{text}");
    assert_eq!(assert_cache_clean(dir.path()), 1);
}

#[test]
fn wrong_hash_is_quarantined_and_reported() {
    let server = Server::start();
    let good = payload(2000, 7);
    let bad = payload(2000, 8);
    server.route("/bad", vec![Reply::Body(bad.clone())]);
    let dir = tempfile::tempdir().unwrap();
    let c = plain(dir.path());
    let err = download_verified(&c, &[server.url("/bad")], &sha256_hex(&good), "w.tar").unwrap_err();
    let FetchError::HashMismatch { expected, mismatch, .. } = &err else {
        panic!("expected HashMismatch, got {err:?}")
    };
    assert_eq!(expected, &sha256_hex(&good));
    assert_eq!(mismatch.actual, sha256_hex(&bad));
    assert_eq!(mismatch.size, 2000);
    assert_eq!(std::fs::read(&mismatch.quarantined).unwrap(), bad);
    assert!(mismatch.quarantined.starts_with(dir.path().join("quarantine")));
    let text = render(&err);
    for needle in [
        server.url("/bad"),
        sha256_hex(&good),
        sha256_hex(&bad),
        "2000 bytes".to_string(),
    ] {
        assert!(text.contains(needle.as_str()), "{needle} missing in:\n{text}");
    }
    assert_eq!(assert_cache_clean(dir.path()), 0);
    // A mirror with the right content still wins after a bad one.
    server.route("/good", vec![Reply::Body(good.clone())]);
    let urls = [server.url("/bad"), server.url("/good")];
    download_verified(&c, &urls, &sha256_hex(&good), "w.tar").unwrap();
    assert_eq!(assert_cache_clean(dir.path()), 1);
}

#[test]
fn redirect_loop_is_bounded_and_fails_over() {
    let server = Server::start();
    let data = payload(100, 9);
    server.route("/loop1", vec![Reply::Redirect("/loop2".into())]);
    server.route("/loop2", vec![Reply::Redirect("/loop1".into())]);
    server.route("/moved", vec![Reply::Redirect("/final".into())]);
    server.route("/final", vec![Reply::Body(data.clone())]);
    let dir = tempfile::tempdir().unwrap();
    let c = plain(dir.path());
    let err = download_verified(&c, &[server.url("/loop1")], &sha256_hex(&data), "l.tar").unwrap_err();
    let text = render(&err);
    assert!(text.contains("redirect"), "{text}");
    assert!(server.requests().len() <= 8, "bounded: {:?}", server.requests());
    let urls = [server.url("/loop1"), server.url("/moved")];
    download_verified(&c, &urls, &sha256_hex(&data), "l.tar").unwrap();
    assert_eq!(assert_cache_clean(dir.path()), 1);
}

#[test]
fn every_failure_is_listed() {
    let server = Server::start();
    server.route("/a", vec![Reply::Status(404)]);
    server.route("/b", vec![Reply::Status(403)]);
    let dir = tempfile::tempdir().unwrap();
    let c = plain(dir.path());
    let urls = [server.url("/a"), server.url("/b"), "http://127.0.0.1:1/c".to_string()];
    let err = download_verified(&c, &urls, &"0".repeat(64), "x.tar").unwrap_err();
    let text = render(&err);
    for u in &urls {
        assert!(text.contains(u.as_str()), "{u} missing in:\n{text}");
    }
    assert!(text.contains("404") && text.contains("403"), "{text}");
    assert_eq!(assert_cache_clean(dir.path()), 0);
}

#[test]
fn offline_uses_the_cache_and_never_the_network() {
    let server = Server::start();
    let data = payload(100, 10);
    server.route("/o.tar", vec![Reply::Body(data.clone())]);
    let dir = tempfile::tempdir().unwrap();
    let hex = sha256_hex(&data);
    let off = ctx(dir.path(), true, MirrorSettings::default());
    let err = download_verified(&off, &[server.url("/o.tar")], &hex, "o.tar").unwrap_err();
    assert!(matches!(err, FetchError::OfflineMissing { .. }), "{err:?}");
    let text = render(&err);
    assert!(text.contains("recipe fetch"), "{text}");
    assert!(server.requests().is_empty());
    download_verified(&plain(dir.path()), &[server.url("/o.tar")], &hex, "o.tar").unwrap();
    let p = download_verified(&off, &[server.url("/o.tar")], &hex, "o.tar").unwrap();
    assert_eq!(std::fs::read(p).unwrap(), data);
    assert_eq!(off.requests(), 0);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn missing_sha256_prints_the_computed_value() {
    let server = Server::start();
    let data = payload(777, 11);
    server.route("/n.tar", vec![Reply::Body(data.clone())]);
    let dir = tempfile::tempdir().unwrap();
    let err = download_verified(&plain(dir.path()), &[server.url("/n.tar")], "", "n.tar").unwrap_err();
    let text = render(&err);
    assert!(text.contains(&format!("sha256 \"{}\"", sha256_hex(&data))), "{text}");
    assert_eq!(assert_cache_clean(dir.path()), 0);
}

fn source(origin: Origin, file: &str, sha256: &str, mirrors: Vec<Mirror>) -> Source {
    Source {
        origin,
        file: file.to_string(),
        sha256: sha256.to_string(),
        mirrors,
        strip_components: 1,
        dest: String::new(),
        extract: true,
    }
}

#[test]
fn debian_mirror_after_a_dead_upstream() {
    let server = Server::start();
    let data = payload(4000, 12);
    server.route(
        "/debian/pool/main/libu/libuv1/libuv1_1.0.orig.tar.gz",
        vec![Reply::Body(data.clone())],
    );
    let dir = tempfile::tempdir().unwrap();
    let mirrors = MirrorSettings {
        debian_archive: Some(server.url("/debian")),
        ..MirrorSettings::default()
    };
    let c = ctx(dir.path(), false, mirrors);
    let s = source(
        Origin::Url {
            url: server.url("/upstream/v1.0.tar.gz"),
        },
        "libuv1_1.0.orig.tar.gz",
        &sha256_hex(&data),
        vec![Mirror::Debian {
            package: "libuv1".into(),
        }],
    );
    fetch_source(&c, &s).unwrap();
    assert_eq!(
        server.requests(),
        [
            "/upstream/v1.0.tar.gz",
            "/debian/pool/main/libu/libuv1/libuv1_1.0.orig.tar.gz"
        ]
    );
    assert_eq!(assert_cache_clean(dir.path()), 1);
}

#[test]
fn pypi_origin_through_the_json_simple_api_and_primary_backup_sites() {
    let server = Server::start();
    let data = payload(3000, 13);
    let page = format!(
        r#"{{"meta":{{"api-version":"1.1"}},"name":"my-proj","files":[{{"filename":"My_Proj-1.0.tar.gz","url":"../../files/My_Proj-1.0.tar.gz#sha256={}","hashes":{{}}}}]}}"#,
        sha256_hex(&data)
    );
    server.route(
        "/simple/my-proj/",
        vec![Reply::Typed("application/vnd.pypi.simple.v1+json", page.into_bytes())],
    );
    server.route("/files/My_Proj-1.0.tar.gz", vec![Reply::Body(data.clone())]);
    server.route("/primary/My_Proj-1.0.tar.gz", vec![Reply::Status(404)]);
    let dir = tempfile::tempdir().unwrap();
    let mirrors = MirrorSettings {
        python_index: Some(server.url("/simple")),
        primary: vec![server.url("/primary")],
        backup: vec![server.url("/backup")],
        ..MirrorSettings::default()
    };
    let c = ctx(dir.path(), false, mirrors);
    let s = source(
        Origin::Pypi {
            project: "My.Proj".into(),
        },
        "My_Proj-1.0.tar.gz",
        &sha256_hex(&data),
        vec![],
    );
    let p = fetch_source(&c, &s).unwrap();
    assert_eq!(std::fs::read(p).unwrap(), data);
    assert_eq!(
        server.requests(),
        [
            "/simple/my-proj/",
            "/primary/My_Proj-1.0.tar.gz",
            "/files/My_Proj-1.0.tar.gz"
        ]
    );
    // Unknown file: the error names the project and what the index has.
    let missing = source(
        Origin::Pypi {
            project: "my-proj".into(),
        },
        "My_Proj-2.0.tar.gz",
        &"1".repeat(64),
        vec![],
    );
    let err = fetch_source(&c, &missing).unwrap_err();
    let text = render(&err);
    assert!(text.contains("/backup/My_Proj-2.0.tar.gz"), "backup site tried: {text}");
    assert!(text.contains("python index project my-proj"), "{text}");
    assert_eq!(assert_cache_clean(dir.path()), 1);
}
