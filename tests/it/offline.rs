//! `--offline` means no network at all: with `$RECIPE_REMOTE_CACHE` pointing
//! at a loopback server, an offline build (and one with `--no-remote-cache`)
//! makes no request to it, while a normal build does.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting {
    http: Arc<tiny_http::Server>,
    hits: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Counting {
    /// Answers 404 to everything and counts the requests.
    fn start() -> Counting {
        let http = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind"));
        let hits = Arc::new(AtomicUsize::new(0));
        let (h, n) = (http.clone(), hits.clone());
        let thread = std::thread::spawn(move || {
            for req in h.incoming_requests() {
                n.fetch_add(1, Ordering::SeqCst);
                let _ = req.respond(tiny_http::Response::from_data(Vec::new()).with_status_code(404));
            }
        });
        Counting {
            http,
            hits,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!(
            "http://127.0.0.1:{}",
            self.http.server_addr().to_ip().expect("ip").port()
        )
    }
}

impl Drop for Counting {
    fn drop(&mut self) {
        self.http.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn project(dir: &Path) {
    for d in ["toolchains", "sysroots", "recipes/hello"] {
        std::fs::create_dir_all(dir.join(d)).expect("mkdir");
    }
    std::fs::write(
        dir.join("recipes/hello/recipe.kdl"),
        "package hello {\n    version \"1.0\"\n    license \"MIT\"\n}\nbuild script {\n    step \"mkdir -p $DESTDIR/share && echo hi > $DESTDIR/share/hello\"\n}\n",
    )
    .expect("recipe");
}

fn build(dir: &Path, server: &Counting, extra: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_recipe"))
        .current_dir(dir)
        .env("RECIPE_CACHE", dir.join("cache"))
        .env("RECIPE_REMOTE_CACHE", server.url())
        .env("NO_COLOR", "1")
        .args(["build", "hello", "--target", "host", "--force", "hello"])
        .args(extra)
        .output()
        .expect("run recipe")
}

#[test]
fn offline_and_no_remote_cache_make_no_request_to_the_remote_cache() {
    let tmp = tempfile::tempdir().expect("tempdir");
    project(tmp.path());
    let server = Counting::start();
    for flag in ["--offline", "--no-remote-cache"] {
        let out = build(tmp.path(), &server, &[flag]);
        assert!(out.status.success(), "{flag}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(server.hits.load(Ordering::SeqCst), 0, "{flag} made requests");
    }
    // The control: the same build online uses the remote cache.
    let out = build(tmp.path(), &server, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        server.hits.load(Ordering::SeqCst) > 0,
        "online, the remote cache is used"
    );
}

#[test]
fn offline_with_an_explicit_remote_cache_is_a_usage_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    project(tmp.path());
    let server = Counting::start();
    let url = server.url();
    let out = build(tmp.path(), &server, &["--offline", "--remote-cache", &url]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
    assert_eq!(server.hits.load(Ordering::SeqCst), 0);
}
