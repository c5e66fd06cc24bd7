//! Package keys name what is built, never where: two machines whose caches,
//! checkouts and build trees live at different paths (of different lengths)
//! share one remote cache. The second machine restores the whole reference
//! graph for armv7hf (C libraries, the Go shim, host tools), builds nothing,
//! and `recipe explain-key` prints the same inputs on both. Then it builds
//! an autotools package of its own with the host tools restored from the
//! first machine, relocated into its own host prefix.
//!
//! The first machine is the build tree and cache the other end-to-end tests
//! use, so CI builds the reference graph once; the second cache is seeded
//! only with the first one's verified downloads (content-addressed by
//! sha256), and provisions its toolchain, sysroot and Go itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::e2e::{Tree, cache, checkout, copy_dir};
use crate::support::remote_server::Server;
use crate::support::report::Report;

const TARGET: &str = "armv7hf";

struct Machine {
    project: PathBuf,
    cache: PathBuf,
    build: PathBuf,
    out: PathBuf,
}

impl Machine {
    fn recipe(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_recipe"))
            .current_dir(&self.project)
            .env("RECIPE_CACHE", &self.cache)
            .env("NO_COLOR", "1")
            .env_remove("RECIPE_REMOTE_CACHE")
            .args(args)
            .output()
            .expect("run recipe")
    }

    /// The run's output and `name@target → status` from its report.json.
    fn build(&self, names: &[&str], remote: &str) -> (Output, BTreeMap<String, String>) {
        let report = tempfile::tempdir_in(&self.project).expect("report dir");
        let mut args = vec!["build"];
        args.extend(names);
        args.extend(["--target", TARGET, "--remote-cache", remote, "--build-dir"]);
        let build = self.build.display().to_string();
        let out = self.out.display().to_string();
        let report_dir = report.path().display().to_string();
        args.extend([
            build.as_str(),
            "--out-dir",
            out.as_str(),
            "--report",
            report_dir.as_str(),
        ]);
        let output = self.recipe(&args);
        let statuses = if report.path().join("report.json").exists() {
            Report::read(report.path()).statuses()
        } else {
            BTreeMap::new()
        };
        (output, statuses)
    }

    fn explain(&self) -> String {
        let build = self.build.display().to_string();
        let out = self.recipe(&["explain-key", "dqlitepy", "--target", TARGET, "--build-dir", &build]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8")
    }
}

/// A tiny autotools package: configure.ac and Makefile.am only, so its
/// build runs autoreconf (autoconf, automake, libtool from the host prefix).
fn autotools_hello(project: &Path) {
    let dir = project.join("recipes/hello-autotools");
    std::fs::create_dir_all(dir.join("files/src")).expect("mkdir");
    let files = [
        (
            "files/src/configure.ac",
            "AC_INIT([hello], [1.0])\nAM_INIT_AUTOMAKE([foreign])\nLT_INIT\nAC_PROG_CC\nAC_CONFIG_FILES([Makefile])\nAC_OUTPUT\n",
        ),
        (
            "files/src/Makefile.am",
            "lib_LTLIBRARIES = libhello.la\nlibhello_la_SOURCES = hello.c\n",
        ),
        ("files/src/hello.c", "int hello(void) { return 42; }\n"),
        (
            "recipe.kdl",
            "package hello-autotools {\n    version \"1.0\"\n    license \"MIT\"\n}\nsource path=\"files/src\"\nhost-depends autoconf automake libtool\nbuild autotools {\n    autoreconf #true\n}\n",
        ),
    ];
    for (rel, text) in files {
        std::fs::write(dir.join(rel), text).expect("write");
    }
}

#[test]
fn a_second_machine_at_other_paths_restores_everything_with_the_same_keys() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let shared = Tree::shared();
    let one = Machine {
        project: tmp.path().join("a"),
        cache: cache(),
        build: shared.build.clone(),
        out: shared.out.clone(),
    };
    let two_root = tmp
        .path()
        .join("a-second-checkout/in/a/directory/with/a/much/longer/name");
    let two = Machine {
        project: two_root.join("project"),
        cache: tmp.path().join("c2"),
        build: two_root.join("project/build"),
        out: two_root.join("project/out"),
    };
    checkout(&one.project);
    checkout(&two.project);
    autotools_hello(&two.project);
    // Only verified downloads are shared; everything else is provisioned anew.
    copy_dir(&one.cache.join("downloads/sha256"), &two.cache.join("downloads/sha256"));
    let server = Server::start();

    let (out, first) = one.build(&["dqlitepy"], &server.url());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "first machine:\n{stderr}");
    assert!(first.len() >= 12, "the whole graph: {first:?}\n{stderr}");

    let started = std::time::Instant::now();
    let (out, second) = two.build(&["dqlitepy"], &server.url());
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("second machine: {:.1}s\n{stderr}", started.elapsed().as_secs_f64());
    assert!(out.status.success(), "second machine:\n{stderr}");
    assert_eq!(
        second.keys().collect::<Vec<_>>(),
        first.keys().collect::<Vec<_>>(),
        "same graph"
    );
    let built: Vec<&String> = second
        .iter()
        .filter(|(_, s)| *s != "cached")
        .map(|(id, _)| id)
        .collect();
    assert!(
        built.is_empty(),
        "everything restored from the remote cache: {built:?}\n{stderr}"
    );
    for id in ["dqlitepy-shim@armv7hf", "autoconf@host", "m4@host", "dqlite@armv7hf"] {
        assert!(second.contains_key(id), "{id} is in the graph: {second:?}");
    }

    let (here, there) = (one.explain(), two.explain());
    assert!(
        here.contains("dqlitepy-shim@armv7hf") && here.contains("autoconf@host"),
        "{here}"
    );
    assert_eq!(here, there, "explain-key prints the same inputs on both machines");

    // The restored host tools work from this machine's prefix.
    let (out, third) = two.build(&["hello-autotools"], &server.url());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "autoreconf with relocated host tools:\n{stderr}");
    assert_eq!(third["hello-autotools@armv7hf"], "built", "{stderr}");
    let prefix = std::fs::read_dir(two.build.join("host"))
        .expect("host dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("prefix")))
        .expect("a host prefix");
    let autom4te = std::fs::read_to_string(prefix.join("bin/autom4te")).expect("autom4te");
    assert!(
        !autom4te.contains(&one.build.display().to_string()),
        "no path of the first machine is left in the second one's host tools"
    );
    assert!(autom4te.contains(&prefix.display().to_string()));
}
