//! Kill -9 at every named point of a build, end to end: download, extract,
//! patch, configure, make, install, the output swap, the stamp, the remote
//! upload and a remote restore. `RECIPE_FAULT_INJECT=<point>` aborts the
//! process there (no destructor runs; build steps die with it). After each
//! kill the next run must give exactly what an uninterrupted run gives (the
//! same output digest), rebuild only what was unfinished, and leave no stray
//! files in the build tree or the download cache.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::http::{Reply, Server, sha256_hex};
use crate::support::remote_server::Server as Remote;
use crate::support::report::Report;

/// A source tarball with a hand-written configure script (autotools
/// builder, no autotools needed) and a file the recipe's patch changes.
fn tarball() -> Vec<u8> {
    let configure = "#!/bin/sh\nprefix=/usr\nfor a in \"$@\"; do case $a in --prefix=*) prefix=${a#--prefix=};; esac; done\nprintf 'all:\\n\\tcat greeting.txt > hello.txt\\ninstall:\\n\\tmkdir -p $(DESTDIR)%s/share\\n\\tcp hello.txt $(DESTDIR)%s/share/hello.txt\\n' \"$prefix\" \"$prefix\" > Makefile\n";
    let mut tar = tar::Builder::new(Vec::new());
    for (path, text, mode) in [
        ("hello-1.0/configure", configure, 0o755),
        ("hello-1.0/greeting.txt", "hello\n", 0o644),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(mode);
        h.set_mtime(0);
        h.set_cksum();
        tar.append_data(&mut h, path, text.as_bytes()).expect("append");
    }
    let raw = tar.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).expect("gzip");
    gz.finish().expect("gzip")
}

const PATCH: &str = "Why: the test's patch step must run.\n--- a/greeting.txt\n+++ b/greeting.txt\n@@ -1 +1 @@\n-hello\n+hello, patched\n";

struct Machine {
    dir: tempfile::TempDir,
}

impl Machine {
    fn new(source_url: &str, sha: &str) -> Machine {
        let dir = tempfile::tempdir().expect("tempdir");
        let recipe = dir.path().join("recipes/hello");
        std::fs::create_dir_all(recipe.join("patches")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("toolchains")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("sysroots")).expect("mkdir");
        std::fs::write(recipe.join("patches/0001-greeting.patch"), PATCH).expect("patch");
        std::fs::write(
            recipe.join("recipe.kdl"),
            format!(
                "package hello {{\n    version \"1.0\"\n    license \"MIT\"\n}}\nsource \"{source_url}\" {{\n    file \"hello-1.0.tar.gz\"\n    sha256 \"{sha}\"\n}}\npatch \"patches/0001-greeting.patch\"\nbuild autotools\n"
            ),
        )
        .expect("recipe");
        Machine { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn build(&self, remote: &str, fault: Option<&str>) -> Output {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_recipe"));
        cmd.current_dir(self.path())
            .env("RECIPE_CACHE", self.path().join("cache"))
            .env("NO_COLOR", "1")
            .env_remove("RECIPE_REMOTE_CACHE")
            .env_remove("RECIPE_FAULT_INJECT")
            .args(["build", "hello", "--target", "host", "--remote-cache", remote])
            .arg("--report")
            .arg(self.report_dir());
        if let Some(point) = fault {
            cmd.env("RECIPE_FAULT_INJECT", point);
        }
        cmd.output().expect("run recipe")
    }

    fn report_dir(&self) -> PathBuf {
        self.path().join("report")
    }

    /// `hello`'s status in the last run's report.json.
    fn status(&self) -> String {
        Report::read(&self.report_dir()).status("hello").to_string()
    }

    fn digest(&self) -> String {
        let stamp = self.path().join("build/host/.stamps/hello.json");
        let text = std::fs::read_to_string(&stamp).expect("stamp");
        let json: serde_json::Value = serde_json::from_str(&text).expect("json");
        json["output_digest"].as_str().unwrap_or_default().to_string()
    }

    /// Temporary files of any kind left in the build tree or the cache.
    fn strays(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut stack = vec![self.path().join("build"), self.path().join("cache/downloads")];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                let name = e.file_name().to_string_lossy().into_owned();
                let stray = name == "dest.old"
                    || name == "dest.new"
                    || name.contains(".extract-")
                    || name.starts_with(".remote-")
                    || name.ends_with(".tmp")
                    || name.ends_with(".part")
                    || (d.ends_with("downloads/tmp") || d.ends_with("quarantine"));
                if stray {
                    found.push(p.clone());
                }
                if e.file_type().is_ok_and(|t| t.is_dir()) && !p.ends_with("dest") && !p.ends_with("src") {
                    stack.push(p);
                }
            }
        }
        found
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_kill_at_any_point_is_repaired_by_the_next_run() {
    let archive = tarball();
    let sha = sha256_hex(&archive);
    let origin = Server::start();
    origin.route("/hello-1.0.tar.gz", vec![Reply::Body(archive)]);
    let url = origin.url("/hello-1.0.tar.gz");

    // What an uninterrupted run gives (host outputs digest the same in any tree).
    let reference = Machine::new(&url, &sha);
    let remote = Remote::start();
    let out = reference.build(&remote.url(), None);
    assert!(out.status.success(), "{}", stderr(&out));
    let want = reference.digest();
    let patched = |m: &Machine| {
        let prefix = m.path().join("build/host/hello/dest/.host-prefix/share/hello.txt");
        std::fs::read_to_string(prefix).unwrap_or_default()
    };
    assert_eq!(patched(&reference), "hello, patched\n");

    // (point, what the run after the kill does with the package)
    let build_points = [
        ("download-body", "built"),
        ("extracted", "built"),
        ("before-patch", "built"),
        ("patched", "built"),
        ("configure", "built"),
        ("make", "built"),
        ("install", "built"),
        ("before-output-swap", "built"),
        ("stamp-removed", "built"),
        ("previous-output-moved", "built"),
        ("output-swapped", "built"),
        ("published", "built"),
        ("stamp-written", "cached"),
        ("upload-entry", "cached"),
    ];
    for (point, then) in build_points {
        let m = Machine::new(&url, &sha);
        let remote = Remote::start();
        let killed = m.build(&remote.url(), Some(point));
        assert!(
            !killed.status.success(),
            "{point}: the fault fired\n{}",
            stderr(&killed)
        );
        assert!(
            stderr(&killed).contains(&format!("fault injected at `{point}`")),
            "{point}: {}",
            stderr(&killed)
        );
        let out = m.build(&remote.url(), None);
        assert!(out.status.success(), "{point}: {}", stderr(&out));
        assert_eq!(m.status(), then, "{point}: only what was unfinished\n{}", stderr(&out));
        assert_eq!(m.digest(), want, "{point}: the same output as an uninterrupted run");
        assert_eq!(patched(&m), "hello, patched\n", "{point}");
        assert!(m.strays().is_empty(), "{point}: stray files {:?}", m.strays());
        assert!(
            !remote.paths("ac").is_empty(),
            "{point}: the output reached the remote cache"
        );
    }

    // A second machine restoring from the remote, killed mid-restore.
    for point in ["restore-unpacked", "restore-swapped"] {
        let m = Machine::new(&url, &sha);
        let killed = m.build(&remote.url(), Some(point));
        assert!(
            !killed.status.success(),
            "{point}: the fault fired\n{}",
            stderr(&killed)
        );
        let out = m.build(&remote.url(), None);
        assert!(out.status.success(), "{point}: {}", stderr(&out));
        assert_eq!(m.status(), "cached", "{point}: restored, not built\n{}", stderr(&out));
        assert_eq!(m.digest(), want, "{point}");
        assert_eq!(patched(&m), "hello, patched\n", "{point}");
        assert!(m.strays().is_empty(), "{point}: stray files {:?}", m.strays());
    }
}
