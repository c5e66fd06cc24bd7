//! Where end-to-end tests build: the download/toolchain cache (CI's
//! `RECIPE_CACHE`, else one under Cargo's target dir) and build trees that
//! persist between runs, so later runs are incremental.
//!
//! All tests run as threads of one process. Several build in the one shared
//! tree (`e2e/build`, warm from whichever ran first): they hold its lock, or
//! two builds would race on the same package directories and stamps.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::report::Report;

fn tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// The download and toolchain cache every end-to-end test shares (the
/// tool locks its own entries, so sharing it needs no lock here).
pub fn cache() -> PathBuf {
    std::env::var_os("RECIPE_CACHE").map_or_else(|| tmp().join("e2e").join("cache"), PathBuf::from)
}

/// A build and out dir, with the lock of the shared tree when it is that one.
pub struct Tree {
    pub build: PathBuf,
    pub out: PathBuf,
    _held: Option<MutexGuard<'static, ()>>,
}

impl Tree {
    /// The tree the reference-job tests share; waits for whoever holds it.
    pub fn shared() -> Tree {
        static SHARED: Mutex<()> = Mutex::new(());
        // A failed test poisons the lock; the tree itself is still usable.
        let held = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        let base = tmp().join("e2e");
        Tree {
            build: base.join("build"),
            out: base.join("out"),
            _held: Some(held),
        }
    }

    /// A tree of one test module's own (`name` under Cargo's target dir),
    /// used by that module's tests only.
    pub fn own(name: &str) -> Tree {
        let base = tmp().join(name);
        Tree {
            build: base.join("build"),
            out: base.join("out"),
            _held: None,
        }
    }

    /// `recipe ARGS --build-dir B --out-dir O` from the repository root.
    pub fn recipe(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_recipe"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("RECIPE_CACHE", cache())
            .env("NO_COLOR", "1")
            .env_remove("RECIPE_REMOTE_CACHE")
            .args(args)
            .arg("--build-dir")
            .arg(&self.build)
            .arg("--out-dir")
            .arg(&self.out)
            .output()
            .expect("run recipe")
    }

    /// [`Tree::recipe`] with `--report`: the output and the run's report.json.
    pub fn recipe_reported(&self, args: &[&str]) -> (Output, Report) {
        let dir = tempfile::tempdir().expect("report dir");
        let mut all = args.to_vec();
        all.extend(["--report", dir.path().to_str().expect("utf-8")]);
        let out = self.recipe(&all);
        assert!(
            dir.path().join("report.json").is_file(),
            "no report.json: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (out, Report::read(dir.path()))
    }

    /// The one wheel in `out/<target>/` whose name starts with `prefix`.
    pub fn wheel(&self, target: &str, prefix: &str) -> PathBuf {
        let dir = self.out.join(target);
        let wheels: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".whl"))
            })
            .collect();
        assert_eq!(wheels.len(), 1, "{wheels:?}");
        wheels[0].clone()
    }

    /// The platform tag `auditwheel show` gives `wheel` (its venv in this tree).
    pub fn auditwheel_tag(&self, wheel: &Path) -> String {
        super::auditwheel::platform_tag(&self.build.join("auditwheel-venv"), wheel)
    }
}

/// Copies a directory tree (copies, not links: tests may edit the result).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let dest = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).expect("copy");
        }
    }
}

/// A checkout of this repository's project files (recipes, targets,
/// sysroots) at `dir`.
pub fn checkout(dir: &Path) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for d in ["recipes", "toolchains", "sysroots"] {
        copy_dir(&repo.join(d), &dir.join(d));
    }
}
