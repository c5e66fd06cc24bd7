//! Provisioning is authenticated or refuses: a Debian archive on loopback
//! whose `InRelease` cannot be checked (no keyring) or does not verify is
//! never used and never cached, unless the user explicitly allows unsigned
//! indexes, which every run then says.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use assert_cmd::Command;

/// Serves a clear-signed-looking InRelease (its signature is garbage) for
/// every suite, and 404 for everything else; records request paths.
struct Archive {
    http: Arc<tiny_http::Server>,
    requests: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// An InRelease for `suite` that looks right but whose signature is garbage.
fn fake_inrelease(suite: &str) -> String {
    let zeros = "0".repeat(64);
    format!(
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nOrigin: Debian\nSuite: {suite}\nCodename: {suite}\nSHA256:\n {zeros} 10 main/binary-amd64/Packages.xz\n {zeros} 10 main/binary-armhf/Packages.xz\n-----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCgAdFiEEnotarealsignatureatall=\n=abcd\n-----END PGP SIGNATURE-----\n"
    )
}

impl Archive {
    fn start() -> Archive {
        let http = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind"));
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let (h, r) = (http.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            for req in h.incoming_requests() {
                let path = req.url().to_string();
                r.lock().expect("lock").push(path.clone());
                let suite = path.strip_suffix("/InRelease").and_then(|p| p.rsplit('/').next());
                let response = if let Some(suite) = suite {
                    tiny_http::Response::from_data(fake_inrelease(suite).into_bytes())
                } else {
                    tiny_http::Response::from_data(Vec::new()).with_status_code(404)
                };
                let _ = req.respond(response);
            }
        });
        Archive {
            http,
            requests,
            thread: Some(thread),
        }
    }

    fn uri(&self) -> String {
        let port = self.http.server_addr().to_ip().expect("ip").port();
        format!("http://127.0.0.1:{port}/debian")
    }

    fn inrelease_requests(&self) -> usize {
        let r = self.requests.lock().expect("lock");
        r.iter().filter(|p| p.ends_with("/InRelease")).count()
    }
}

impl Drop for Archive {
    fn drop(&mut self) {
        self.http.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A project with this repository's targets and sysroots, a config file
/// with `config` inside its `mirrors` block, and an empty cache.
fn setup(dir: &Path, config: &str) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for d in ["toolchains", "sysroots"] {
        std::fs::create_dir_all(dir.join(d)).expect("mkdir");
        for e in std::fs::read_dir(repo.join(d)).expect("read").flatten() {
            std::fs::copy(e.path(), dir.join(d).join(e.file_name())).expect("copy");
        }
    }
    std::fs::create_dir_all(dir.join("recipes")).expect("mkdir");
    let path = dir.join("config.kdl");
    std::fs::write(&path, format!("mirrors {{\n{config}\n}}\n")).expect("config");
    path
}

fn install(dir: &Path, config: &Path) -> (i32, String) {
    run(dir, config, &["toolchain", "install", "--target", "armv7hf"])
}

fn run(dir: &Path, config: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::cargo_bin("recipe")
        .expect("binary")
        .current_dir(dir)
        .env("RECIPE_CONFIG", config)
        .env("RECIPE_CACHE", dir.join("cache"))
        .env("NO_COLOR", "1")
        .env("COLUMNS", "1000")
        .env_remove("RECIPE_DEBIAN_MIRROR")
        .env_remove("RECIPE_DEBIAN_KEYRING")
        .args(args)
        .output()
        .expect("run recipe");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every file under the cache's index directory.
fn cached_index_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.join("cache/debian")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            } else {
                found.push(e.path().display().to_string());
            }
        }
    }
    found
}

#[test]
fn a_missing_keyring_stops_provisioning_before_any_download() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = Archive::start();
    let config = setup(
        tmp.path(),
        &format!(
            "debian-archive \"{}\"\ndebian-keyring \"{}/no-such-keyring.gpg\"",
            archive.uri(),
            tmp.path().display()
        ),
    );
    let (code, stderr) = install(tmp.path(), &config);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no-such-keyring.gpg not found"), "{stderr}");
    assert!(stderr.contains("debian-archive-keyring"), "names the package: {stderr}");
    assert!(stderr.contains("debian-allow-unsigned"), "names the opt-out: {stderr}");
    assert_eq!(archive.inrelease_requests(), 0, "fails before downloading");
    assert_eq!(cached_index_files(tmp.path()), Vec::<String>::new());
}

#[test]
fn a_bad_signature_is_refused_and_not_cached() {
    let keyring = Path::new("/usr/share/keyrings/debian-archive-keyring.gpg");
    if !Path::new("/usr/bin/gpgv").is_file() || !keyring.is_file() {
        eprintln!("skipped: gpgv or Debian's keyring is not installed here (.ci/run installs them)");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = Archive::start();
    let config = setup(tmp.path(), &format!("debian-archive \"{}\"", archive.uri()));
    let (code, stderr) = install(tmp.path(), &config);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("does not verify"), "{stderr}");
    assert!(archive.inrelease_requests() >= 1);
    assert_eq!(cached_index_files(tmp.path()), Vec::<String>::new());
}

#[test]
fn unsigned_indexes_only_when_allowed_never_cached_and_always_announced() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = Archive::start();
    let config = setup(
        tmp.path(),
        &format!(
            "debian-archive \"{}\"\ndebian-keyring \"{}/no-such-keyring.gpg\"\ndebian-allow-unsigned #true",
            archive.uri(),
            tmp.path().display()
        ),
    );
    let (code, stderr) = install(tmp.path(), &config);
    // The index is read (then Packages.xz is missing on this fake archive).
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("WITHOUT a signature check"), "{stderr}");
    assert!(archive.inrelease_requests() >= 1);
    assert_eq!(cached_index_files(tmp.path()), Vec::<String>::new());
}

#[test]
fn the_command_line_opt_out_works_and_every_run_says_so() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = Archive::start();
    let config = setup(
        tmp.path(),
        &format!(
            "debian-archive \"{}\"\ndebian-keyring \"{}/no-such-keyring.gpg\"",
            archive.uri(),
            tmp.path().display()
        ),
    );
    let flag = "--debian-allow-unsigned";
    let (code, stderr) = run(
        tmp.path(),
        &config,
        &[flag, "toolchain", "install", "--target", "armv7hf"],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("WITHOUT a signature check"),
        "the index was read: {stderr}"
    );
    assert!(
        stderr.contains("warning: Debian indexes whose signature cannot be checked are accepted"),
        "{stderr}"
    );
    assert_eq!(cached_index_files(tmp.path()), Vec::<String>::new(), "never cached");
    // Any command says so while the opt-out is on, and only then.
    let (code, stderr) = run(tmp.path(), &config, &["list", flag]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("signature cannot be checked are accepted"), "{stderr}");
    let (_, stderr) = run(tmp.path(), &config, &["list"]);
    assert!(!stderr.contains("signature"), "{stderr}");
}
