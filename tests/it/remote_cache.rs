//! The remote cache client against a real HTTP server on 127.0.0.1: a small
//! bazel-remote-compatible server (GET/HEAD/PUT on /cas/ and /ac/, CAS
//! uploads checked against their hash, like bazel-remote) that tests can tell
//! to corrupt or drop entries.

use std::collections::BTreeMap;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use recipe::outputs::key::tree_digest;
use recipe::remote::{Fetched, RemoteCache, RemoteWriter};

use crate::support::project::Project;
use crate::support::remote_server::{Server, sha};

fn key(n: u8) -> String {
    sha(&[n])
}

/// A staged output with what real ones have: nested dirs, an executable,
/// a relative symlink, an empty dir and a long path.
fn staged(root: &Path, flavour: &str) -> String {
    std::fs::create_dir_all(root.join("usr/lib/pkgconfig")).expect("mkdir");
    std::fs::create_dir_all(root.join("usr/bin")).expect("mkdir");
    std::fs::create_dir_all(root.join("usr/include/empty")).expect("mkdir");
    std::fs::write(
        root.join("usr/lib/libuv.so.1.0.0"),
        format!("ELF {flavour}").repeat(5000),
    )
    .expect("write");
    symlink("libuv.so.1.0.0", root.join("usr/lib/libuv.so.1")).expect("symlink");
    std::fs::write(root.join("usr/lib/pkgconfig/libuv.pc"), "Libs: -luv\n").expect("write");
    std::fs::write(root.join("usr/bin/tool"), "#!/bin/sh\n").expect("write");
    std::fs::set_permissions(root.join("usr/bin/tool"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let deep = root.join("usr/share/doc").join("x".repeat(90)).join("y".repeat(90));
    std::fs::create_dir_all(&deep).expect("mkdir");
    std::fs::write(deep.join("README"), "long path").expect("write");
    tree_digest(root).expect("digest")
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".remote-"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn round_trip_gives_the_identical_tree() {
    let server = Server::start();
    let cache = server.cache();
    let work = tempfile::tempdir().expect("tempdir");
    let src = work.path().join("a/dest");
    let digest = staged(&src, "one");

    let stored = cache.store_output(&key(1), &src, &digest).expect("store");
    assert!(stored.uploaded_blob);
    assert_eq!(server.paths("cas").len(), 1);
    assert_eq!(server.paths("ac"), [format!("/ac/{}", key(1))]);
    // Same output under another key: the blob is already there.
    let again = cache.store_output(&key(2), &src, &digest).expect("store again");
    assert!(!again.uploaded_blob);
    assert_eq!(again.tar_sha256, stored.tar_sha256);

    // A fresh machine: another cache dir, with a stale dest to replace.
    let dest = work.path().join("b/build/armv7hf/libuv/dest");
    std::fs::create_dir_all(&dest).expect("mkdir");
    std::fs::write(dest.join("stale"), "old").expect("write");
    let fetched = cache.fetch_output(&key(1), &dest).expect("fetch");
    let describe = fetched.describe();
    let out = fetched
        .hit()
        .unwrap_or_else(|| panic!("expected a hit, got {describe}"));
    assert_eq!(out.output_digest, digest);
    assert_eq!(tree_digest(&dest).expect("digest"), digest);
    assert!(!dest.join("stale").exists());
    let mode = std::fs::metadata(dest.join("usr/bin/tool"))
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(
        std::fs::read_link(dest.join("usr/lib/libuv.so.1")).expect("link"),
        Path::new("libuv.so.1.0.0")
    );
    assert!(leftovers(dest.parent().expect("parent")).is_empty());
}

#[test]
fn corrupt_blob_is_reported_and_leaves_nothing() {
    let server = Server::start();
    let cache = server.cache();
    let work = tempfile::tempdir().expect("tempdir");
    let digest = staged(&work.path().join("src"), "two");
    cache
        .store_output(&key(3), &work.path().join("src"), &digest)
        .expect("store");
    server.flip_byte_in_every_blob();

    let dest = work.path().join("b/dest");
    let fetched = cache.fetch_output(&key(3), &dest).expect("no hard error");
    assert!(matches!(fetched, Fetched::Corrupt { .. }), "{fetched:?}");
    assert!(
        fetched.describe().starts_with("remote corrupt: "),
        "{}",
        fetched.describe()
    );
    assert!(fetched.warning().is_some());
    assert!(!dest.exists(), "nothing may be left in dest");
    assert!(leftovers(&work.path().join("b")).is_empty());
}

/// A blob found damaged is sent again by the next upload of the same
/// content, whatever the server's HEAD says: a rebuild repairs the cache.
#[test]
fn a_damaged_blob_is_uploaded_again() {
    let server = Server::start();
    let cache = server.cache();
    let work = tempfile::tempdir().expect("tempdir");
    let src = work.path().join("src");
    let digest = staged(&src, "damaged");
    cache.store_output(&key(30), &src, &digest).expect("store");
    server.flip_byte_in_every_blob();
    let dest = work.path().join("b/dest");
    let fetched = cache.fetch_output(&key(30), &dest).expect("no hard error");
    assert!(matches!(fetched, Fetched::Corrupt { .. }), "{fetched:?}");

    let again = cache.store_output(&key(30), &src, &digest).expect("store again");
    assert!(again.uploaded_blob, "the damaged blob is replaced");
    let fetched = cache.fetch_output(&key(30), &dest).expect("fetch");
    assert!(matches!(fetched, Fetched::Hit(_)), "{fetched:?}");
}

#[test]
fn misses_no_entry_and_evicted_blob() {
    let server = Server::start();
    let cache = server.cache();
    let work = tempfile::tempdir().expect("tempdir");
    let dest = work.path().join("dest");

    let fetched = cache.fetch_output(&key(4), &dest).expect("fetch");
    assert!(
        matches!(&fetched, Fetched::Miss { reason } if reason == "no entry"),
        "{fetched:?}"
    );
    assert_eq!(fetched.describe(), "remote miss: no entry");
    assert!(fetched.warning().is_none());

    let digest = staged(&work.path().join("src"), "three");
    let stored = cache
        .store_output(&key(4), &work.path().join("src"), &digest)
        .expect("store");
    server.remove(&format!("/cas/{}", stored.tar_sha256));
    let fetched = cache.fetch_output(&key(4), &dest).expect("fetch");
    assert!(
        matches!(&fetched, Fetched::Miss { reason } if reason.contains("gone")),
        "{fetched:?}"
    );
    assert!(!dest.exists());
}

#[test]
fn entries_that_do_not_verify_are_corrupt() {
    let server = Server::start();
    let cache = server.cache();
    let work = tempfile::tempdir().expect("tempdir");
    let digest = staged(&work.path().join("src"), "four");
    let stored = cache
        .store_output(&key(5), &work.path().join("src"), &digest)
        .expect("store");

    // Right blob, wrong output digest.
    let lie = format!(
        r#"{{"format":1,"tar_sha256":"{}","output_digest":"{}","size":{},"encoding":"tar+gzip"}}"#,
        stored.tar_sha256,
        key(99),
        stored.size
    );
    server.put(&format!("/ac/{}", key(6)), lie.into_bytes());
    let dest = work.path().join("dest");
    let fetched = cache.fetch_output(&key(6), &dest).expect("fetch");
    assert!(
        matches!(&fetched, Fetched::Corrupt { reason } if reason.contains("digest")),
        "{fetched:?}"
    );
    assert!(!dest.exists());

    // Something that is not our JSON at all (a bazel ActionResult, say).
    server.put(&format!("/ac/{}", key(7)), vec![0x0a, 0x03, 0x66, 0x6f, 0x6f]);
    let fetched = cache.fetch_output(&key(7), &dest).expect("fetch");
    assert!(matches!(fetched, Fetched::Corrupt { .. }), "{fetched:?}");
}

#[test]
fn a_blob_larger_than_the_limit_is_not_downloaded_whatever_the_entry_claims() {
    let server = Server::start();
    let work = tempfile::tempdir().expect("tempdir");
    // A real, consistent 3 MiB blob and an entry telling its true size: only
    // the client's own limit can stop it.
    let blob: Vec<u8> = (0..3u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let blob_sha = sha(&blob);
    server.put(&format!("/cas/{blob_sha}"), blob.clone());
    let entry = format!(
        r#"{{"format":1,"tar_sha256":"{blob_sha}","output_digest":"{}","size":{},"encoding":"tar"}}"#,
        key(42),
        blob.len()
    );
    server.put(&format!("/ac/{}", key(8)), entry.into_bytes());

    let cache = server.cache().with_max_blob(1 << 20);
    let dest = work.path().join("dest");
    let fetched = cache.fetch_output(&key(8), &dest).expect("no hard error");
    assert!(
        matches!(&fetched, Fetched::Corrupt { reason } if reason.contains("3145728 bytes") && reason.contains("1048576")),
        "{fetched:?}"
    );
    let gets = server.gets.lock().expect("lock").clone();
    assert!(
        !gets.iter().any(|p| p.starts_with("/cas/")),
        "the blob was requested: {gets:?}"
    );
    assert!(!dest.exists());
}

/// A plain tar with one raw header, bypassing the tar crate's path checks.
fn evil_tar(name: &str) -> Vec<u8> {
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(4);
    h.set_cksum();
    let mut t = h.as_bytes().to_vec();
    t.extend_from_slice(b"evil");
    t.resize(1024 + 512, 0);
    t.extend_from_slice(&[0u8; 1024]);
    t
}

#[test]
fn tar_escaping_the_output_is_rejected() {
    let server = Server::start();
    let cache = server.cache();
    let work = tempfile::tempdir().expect("tempdir");
    for (n, name) in [(8u8, "../evil"), (9, "/tmp/evil-abs"), (10, "ok/../../evil")] {
        let blob = evil_tar(name);
        let blob_sha = sha(&blob);
        server.put(&format!("/cas/{blob_sha}"), blob.clone());
        let entry = format!(
            r#"{{"format":1,"tar_sha256":"{blob_sha}","output_digest":"{}","size":{},"encoding":"tar"}}"#,
            key(0),
            blob.len()
        );
        server.put(&format!("/ac/{}", key(n)), entry.into_bytes());
        let dest = work.path().join("pkg/dest");
        let fetched = cache.fetch_output(&key(n), &dest).expect("no hard error");
        assert!(
            matches!(&fetched, Fetched::Corrupt { reason } if reason.contains("outside")),
            "{name}: {fetched:?}"
        );
        assert!(!work.path().join("pkg/evil").exists());
        assert!(!work.path().join("evil").exists());
        assert!(!dest.exists());
        assert!(leftovers(&work.path().join("pkg")).is_empty());
    }
    assert!(!Path::new("/tmp/evil-abs").exists());
}

#[test]
fn server_down_is_a_miss_with_a_warning() {
    let server = Server::start();
    let url = server.url();
    drop(server); // nothing listens on that port any more
    let cache = RemoteCache::new(&url, Duration::from_secs(2)).expect("client");
    let work = tempfile::tempdir().expect("tempdir");
    let dest = work.path().join("dest");
    for _ in 0..3 {
        let fetched = cache.fetch_output(&key(11), &dest).expect("not a hard error");
        assert!(matches!(fetched, Fetched::Unavailable { .. }), "{fetched:?}");
        assert!(fetched.warning().is_some_and(|w| w.starts_with("remote unavailable: ")));
    }
    // After repeated failures the cache is left alone: instant.
    let t = Instant::now();
    let fetched = cache.fetch_output(&key(11), &dest).expect("fetch");
    assert!(
        fetched.describe().contains("rest of this run"),
        "{}",
        fetched.describe()
    );
    assert!(t.elapsed() < Duration::from_millis(50));

    // Uploads to a dead server become warnings at the end.
    let digest = staged(&work.path().join("src"), "five");
    let writer = RemoteWriter::spawn(Arc::new(
        RemoteCache::new(&url, Duration::from_secs(2)).expect("client"),
    ));
    writer.submit("libuv@armv7hf", &key(12), work.path().join("src"), &digest);
    let summary = writer.finish();
    assert_eq!(summary.stored, 0);
    assert_eq!(summary.warnings.len(), 1, "{:?}", summary.warnings);
    assert!(summary.warnings[0].contains("libuv@armv7hf"), "{:?}", summary.warnings);
}

#[test]
fn a_hanging_server_times_out() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    // Accepts connections and never answers.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let cache = RemoteCache::new(&format!("http://127.0.0.1:{port}"), Duration::from_millis(300)).expect("client");
    let t = Instant::now();
    let work = tempfile::tempdir().expect("tempdir");
    let fetched = cache.fetch_output(&key(13), &work.path().join("dest")).expect("fetch");
    assert!(matches!(fetched, Fetched::Unavailable { .. }), "{fetched:?}");
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn write_behind_uploads_then_fetches() {
    let server = Server::start();
    let work = tempfile::tempdir().expect("tempdir");
    let writer = RemoteWriter::spawn(Arc::new(server.cache()));
    let mut digests = Vec::new();
    for n in 0..3u8 {
        let dir = work.path().join(format!("src{n}"));
        let digest = staged(&dir, &format!("pkg{n}"));
        writer.submit(&format!("p{n}@armv7hf"), &key(20 + n), dir, &digest);
        digests.push(digest);
    }
    let summary = writer.finish();
    assert_eq!(summary.stored, 3, "{:?}", summary.warnings);
    assert!(summary.warnings.is_empty());
    assert!(summary.bytes_sent > 0);

    // A staged dir that changed after its digest was taken is not uploaded.
    let writer = RemoteWriter::spawn(Arc::new(server.cache()));
    let dir = work.path().join("src0");
    std::fs::write(dir.join("usr/lib/pkgconfig/libuv.pc"), "changed\n").expect("write");
    writer.submit("p0@armv7hf", &key(30), dir, &digests[0]);
    let summary = writer.finish();
    assert!(
        summary.warnings.iter().any(|w| w.contains("changed")),
        "{:?}",
        summary.warnings
    );

    let cache = server.cache();
    for (n, digest) in digests.iter().enumerate() {
        let dest = work.path().join(format!("fresh{n}/dest"));
        let out = cache
            .fetch_output(&key(20 + n as u8), &dest)
            .expect("fetch")
            .hit()
            .expect("hit");
        assert_eq!(&out.output_digest, digest);
        assert_eq!(&tree_digest(&dest).expect("digest"), digest);
    }
    assert!(matches!(
        cache
            .fetch_output(&key(30), &work.path().join("x/dest"))
            .expect("fetch"),
        Fetched::Miss { .. }
    ));
}

#[test]
fn failed_puts_are_errors_for_the_writer_to_report() {
    let server = Server::start();
    *server.fail_puts.lock().expect("lock") = true;
    let work = tempfile::tempdir().expect("tempdir");
    let digest = staged(&work.path().join("src"), "six");
    let err = server
        .cache()
        .store_output(&key(40), &work.path().join("src"), &digest)
        .expect_err("500");
    assert!(err.to_string().contains("500"), "{err}");
    assert!(server.paths("ac").is_empty());
}

#[test]
fn try_restore_stamps_like_a_local_build() {
    let server = Server::start();
    let cache = server.cache();
    let work = tempfile::tempdir().expect("tempdir");
    let inputs = recipe::outputs::key::KeyInputs {
        recipe: serde_json::json!({"name": "libuv", "version": "1.50.0"}),
        files: BTreeMap::new(),
        toolchain: "armv7hf-gcc12".into(),
        deps: BTreeMap::new(),
        builder: recipe::outputs::key::BUILDER_VERSION.into(),
    };
    let stamp_path = work.path().join("b/build/armv7hf/.stamps/libuv.json");
    let staged_b = work.path().join("b/build/armv7hf/libuv/dest");
    match recipe::remote::try_restore(&cache, &inputs, &staged_b, &stamp_path, &|_| Ok(())) {
        recipe::remote::Restore::NotRestored { reason, warning } => {
            assert_eq!(reason, "remote miss: no entry");
            assert!(warning.is_none());
        }
        other => panic!("{other:?}"),
    }
    assert!(!stamp_path.exists());

    // Machine A built it and uploaded it.
    let staged_a = work.path().join("a/build/armv7hf/libuv/dest");
    let digest = staged(&staged_a, "libuv");
    let writer = RemoteWriter::spawn(Arc::new(server.cache()));
    writer.submit_built("libuv", "armv7hf", &inputs.key(), &staged_a, &digest);
    assert!(writer.finish().warnings.is_empty());

    match recipe::remote::try_restore(&cache, &inputs, &staged_b, &stamp_path, &|_| Ok(())) {
        recipe::remote::Restore::Restored {
            digest: got, reason, ..
        } => {
            assert_eq!(got, digest);
            assert!(reason.starts_with("remote hit"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let stamp = recipe::outputs::key::read_stamp(&stamp_path).expect("stamp");
    assert_eq!(stamp.key, inputs.key());
    assert_eq!(stamp.output_digest, digest);
    assert_eq!(tree_digest(&staged_b).expect("digest"), digest);
}

// ---- Issue 10 §5: authenticated AC entries; §3: restored outputs are verified.

const SECRET: &str = "fleet-one-secret-0123456789abcdef";

fn builds(project: &Path) -> usize {
    std::fs::read_to_string(project.join("events"))
        .unwrap_or_default()
        .lines()
        .count()
}

/// `recipe build pkg --target host` in build tree `tree` of `project`, with
/// the remote cache `url`, the secret (if any) from the environment and the
/// user config file `config` (if any).
fn build_pkg(
    project: &Path,
    tree: &str,
    url: &str,
    secret: Option<&str>,
    config: Option<&Path>,
) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_recipe"));
    cmd.current_dir(project)
        .env("RECIPE_CACHE", project.join("cache"))
        .env(
            "RECIPE_CONFIG",
            config.map_or_else(|| project.join("no-config.kdl"), Path::to_path_buf),
        )
        .env("NO_COLOR", "1")
        .env_remove("RECIPE_REMOTE_CACHE")
        .env_remove("RECIPE_REMOTE_CACHE_SECRET")
        // The step records builds outside its dirs, which the sandbox forbids.
        .arg("--no-sandbox")
        .args([
            "build",
            "pkg",
            "--target",
            "host",
            "--build-dir",
            tree,
            "--remote-cache",
            url,
            // These tests are about the remote: this machine's store would
            // answer first.
            "--no-local-store",
        ]);
    if let Some(s) = secret {
        cmd.env("RECIPE_REMOTE_CACHE_SECRET", s);
    }
    cmd.output().expect("run recipe")
}

fn stderr_of(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn staged_text(project: &Path, tree: &str) -> String {
    std::fs::read_to_string(project.join(tree).join("host/pkg/dest/usr/share/pkg.txt")).unwrap_or_default()
}

#[test]
fn a_tagged_entry_round_trips_with_the_same_secret_and_misses_with_another() {
    let server = Server::start();
    let project = Project::host_pkg();
    let p = project.path();

    let a = build_pkg(p, "A", &server.url(), Some(SECRET), None);
    assert!(a.status.success(), "{}", stderr_of(&a));
    assert_eq!(builds(p), 1);
    let ac = server.paths("ac");
    assert_eq!(ac.len(), 1, "one entry uploaded");
    let entry: serde_json::Value =
        serde_json::from_slice(&server.store.lock().expect("lock")[&ac[0]]).expect("entry is JSON");
    assert!(
        entry["hmac_sha256"].as_str().is_some_and(|t| t.len() == 64),
        "a writer with a secret tags its entries: {entry}"
    );

    // Same secret, from the config file this time: restored, not built.
    let secret_file = p.join("secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).expect("write secret");
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let config = p.join("config.kdl");
    std::fs::write(
        &config,
        format!("remote-cache {{\n    secret-file \"{}\"\n}}\n", secret_file.display()),
    )
    .expect("write config");
    let b = build_pkg(p, "B", &server.url(), None, Some(&config));
    assert!(b.status.success(), "{}", stderr_of(&b));
    assert_eq!(builds(p), 1, "restored from the remote: {}", stderr_of(&b));
    assert_eq!(staged_text(p, "B"), "pkg\n");

    // Another fleet's secret: the entry is not trusted, the package is built.
    let c = build_pkg(
        p,
        "C",
        &server.url(),
        Some("another-fleet-secret-fedcba9876543210"),
        None,
    );
    assert!(c.status.success(), "{}", stderr_of(&c));
    assert_eq!(builds(p), 2, "built, not restored: {}", stderr_of(&c));
    let err = stderr_of(&c);
    assert!(
        err.contains("warning") && err.contains("remote untrusted") && err.contains("tag does not match"),
        "{err}"
    );
}

/// Replaces the package's AC entry with one that points at a real blob
/// holding another output, with `tag` as its tag (none when `None`).
fn forge(server: &Server, work: &Path, tag: Option<&str>) {
    let evil = work.join(format!("evil-{}", tag.unwrap_or("none")));
    std::fs::create_dir_all(evil.join("usr/share")).expect("mkdir");
    std::fs::write(evil.join("usr/share/pkg.txt"), "evil\n").expect("write");
    let digest = tree_digest(&evil).expect("digest");
    // An unauthenticated writer (no secret, loopback) stores a real entry.
    server.cache().store_output(&key(77), &evil, &digest).expect("store");
    let mut entry: serde_json::Value =
        serde_json::from_slice(&server.store.lock().expect("lock")[&format!("/ac/{}", key(77))]).expect("json");
    if let Some(t) = tag {
        entry["hmac_sha256"] = serde_json::Value::String(t.into());
    }
    let body = serde_json::to_vec(&entry).expect("json");
    for path in server.paths("ac") {
        if path != format!("/ac/{}", key(77)) {
            server.put(&path, body.clone());
        }
    }
}

#[test]
fn a_forged_entry_is_not_restored_when_a_secret_is_set() {
    let server = Server::start();
    let project = Project::host_pkg();
    let p = project.path();
    let a = build_pkg(p, "A", &server.url(), Some(SECRET), None);
    assert!(a.status.success(), "{}", stderr_of(&a));
    assert_eq!(builds(p), 1);

    for (n, (tag, cause)) in [(None, "no tag"), (Some("00".repeat(32)), "tag does not match")]
        .into_iter()
        .enumerate()
    {
        forge(&server, p, tag.as_deref());
        let tree = format!("T{n}");
        let out = build_pkg(p, &tree, &server.url(), Some(SECRET), None);
        let err = stderr_of(&out);
        assert!(out.status.success(), "{err}");
        assert_eq!(builds(p), 2 + n, "built, not restored: {err}");
        assert_eq!(staged_text(p, &tree), "pkg\n", "the forged output never lands: {err}");
        assert!(
            err.contains("warning") && err.contains("remote untrusted") && err.contains(cause),
            "{err}"
        );
    }
}

#[test]
fn plain_http_to_another_host_needs_a_secret() {
    let project = Project::host_pkg();
    let p = project.path();
    // 0.0.0.0 is not a loopback address (even if connecting to it may reach this host).
    let out = build_pkg(p, "A", "http://0.0.0.0:1/cache", None, None);
    let err = stderr_of(&out);
    assert!(!out.status.success(), "refused: {err}");
    assert!(err.contains("RECIPE_REMOTE_CACHE_SECRET"), "{err}");
    assert_eq!(builds(p), 0, "nothing built with a refused remote: {err}");
}

/// A restored output goes through the same post-build checks as a built one:
/// an x86_64 (or any non-ARM) binary in an armv7hf package is not accepted.
#[test]
fn a_restored_output_that_fails_verification_is_rebuilt() {
    use recipe::build::job::Layout;
    use recipe::build::scheduler::{Options, Outcome, Run};
    use recipe::toolchain::activate::TargetEnv;

    let server = Server::start();
    let cache = server.cache();
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("project");
    for d in ["recipes/pkg", "toolchains", "sysroots"] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(repo.join("toolchains/armv7hf.kdl"), root.join("toolchains/armv7hf.kdl")).expect("copy");
    std::fs::copy(
        repo.join("sysroots/debian-trixie.kdl"),
        root.join("sysroots/debian-trixie.kdl"),
    )
    .expect("copy");
    std::fs::write(
        root.join("recipes/pkg/recipe.kdl"),
        "package pkg {\n    version \"1.0\"\n    license \"MIT\"\n}\nbuild script {\n    step \"mkdir -p $DESTDIR/usr/share && echo pkg > $DESTDIR/usr/share/pkg.txt\"\n}\n",
    )
    .expect("write recipe");

    let project = recipe::model::project::Project::load(recipe::model::project::ProjectPaths::from_recipes_dir(
        &root.join("recipes"),
    ))
    .expect("load");
    let plan = recipe::plan::graph::plan(&project, &["pkg".into()], &["armv7hf".into()]).expect("plan");
    let recipes = recipe::plan::render::render_plan(&project, &plan, &recipe::toolchain::activate::host_target())
        .expect("render");
    let build_root = work.path().join("build");
    let layout = Layout {
        host_prefix: recipe::outputs::relocate::host_prefix(&build_root),
        out_root: work.path().join("out"),
        build_root,
        confine_steps: true,
        timings: None,
    };
    // A target environment without provisioning: the script needs no compiler.
    let base = work.path().join("base-sysroot");
    std::fs::create_dir_all(&base).expect("mkdir");
    let env = TargetEnv {
        target: project.target("armv7hf").expect("target").clone(),
        vars: recipe::toolchain::activate::base_vars(&layout.host_prefix),
        base_sysroot: Some(base),
        identity: "test-armv7hf".into(),
        go_identity: None,
        build_pythons: Vec::new(),
        provisioned: Vec::new(),
        package_sysroots: BTreeMap::new(),
    };
    let id = recipe::plan::graph::NodeId {
        name: "pkg".into(),
        target: "armv7hf".into(),
    };
    let key = recipe::build::job::key_inputs(&recipes[&id], &env, BTreeMap::new())
        .expect("key inputs")
        .key();

    // What another machine uploaded under that key: a binary for this machine.
    let bad = work.path().join("bad");
    std::fs::create_dir_all(bad.join("usr/bin")).expect("mkdir");
    std::fs::copy("/bin/true", bad.join("usr/bin/tool")).expect("copy an ELF of the build machine");
    let digest = tree_digest(&bad).expect("digest");
    cache.store_output(&key, &bad, &digest).expect("store");

    let envs = BTreeMap::from([("armv7hf".to_string(), env)]);
    let prepare = |_: &recipe::recipe::Recipe, dest: &Path, _: &recipe::build::process::Log| {
        std::fs::create_dir_all(dest).map_err(|e| recipe::build::builders::BuildError::io("mkdir", e))
    };
    let options = Options {
        jobs: 1,
        keep_going: false,
        force: Default::default(),
        explain: false,
        failed: Default::default(),
        restore_only: Default::default(),
    };
    let reports = Run {
        plan: &plan,
        recipes: &recipes,
        envs: &envs,
        layout: &layout,
        prepare: &prepare,
        options: &options,
        remote: Some(&cache),
        uploads: None,
        local: None,
        local_writes: None,
    }
    .execute(&recipe::build::progress::Progress::new())
    .expect("run");
    let report = &reports[0];
    assert!(
        matches!(report.outcome, Outcome::Built { .. }),
        "{:?} {:?}",
        report.outcome,
        report.reasons
    );
    assert!(
        report
            .reasons
            .iter()
            .any(|r| r.starts_with("remote rejected:") && r.contains("usr/bin/tool")),
        "{:?}",
        report.reasons
    );
    let staged = layout.staged("armv7hf", "pkg");
    assert!(!staged.join("usr/bin/tool").exists(), "the restored binary is gone");
    assert_eq!(
        std::fs::read_to_string(staged.join("usr/share/pkg.txt")).expect("built output"),
        "pkg\n"
    );
    assert!(leftovers(&layout.package_dir("armv7hf", "pkg")).is_empty());
}
