//! The one project builder of the integration tests: a throwaway project on
//! disk (recipes, targets, sysroots, config files) and the real `recipe`
//! binary run against it.
//!
//! ```ignore
//! let out = Project::new().recipe("foo", "package foo { … }").run(&["lint"]);
//! out.code(1).stderr_contains("recipes/foo/recipe.kdl:2:");
//! let p = Project::host();
//! p.script("top", &["base"], &[&p.log_step("top")]); // `--target host`
//! ```

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use tempfile::TempDir;

/// A target every test project gets (unless built with `Project::bare`).
pub const TARGET: &str = r#"target armv7hf {
    triple "arm-linux-gnueabihf"
    arch "arm"
    debian-arch "armhf"
    cflags "-march=armv7-a" "-mfloat-abi=hard"
    go arch="arm" arm="7"
    python platform="linux_armv7l" machine="armv7l" lib-dir="linux-armv7"
    qemu "qemu-arm"
    toolchain debian suite="bookworm" {
        packages "gcc-arm-linux-gnueabihf"
    }
    sysroot "test-sysroot"
    elf machine="arm" class=32
}
"#;

pub const SYSROOT: &str = r#"sysroot test-sysroot {
    debian suite="trixie"
    packages "libc6" "libc6-dev"
}
"#;

pub const SHA: &str = "cf244ef937d419edd93aed3960d8222b38f09af82acca78fde586c3d04c35a52";

/// A complete, valid recipe for `name` depending on `deps`.
pub fn valid_recipe(name: &str, deps: &[&str]) -> String {
    let depends = if deps.is_empty() {
        String::new()
    } else {
        format!("depends {}\n", deps.join(" "))
    };
    format!(
        r#"package {name} {{
    version "1.0.0"
    license "MIT"
}}
source "https://example.invalid/{name}-{{{{ version }}}}.tar.gz" {{
    sha256 "{SHA}"
}}
{depends}build autotools {{
    configure "--disable-static"
}}
"#
    )
}

/// A `script` recipe for `name` (version 1.0, MIT) depending on `depends`:
/// its build runs `steps` (shell), then stages `usr/share/<name>.txt`.
pub fn script_recipe(name: &str, depends: &[&str], steps: &[&str]) -> String {
    let mut text = format!("package {name} {{\n    version \"1.0\"\n    license \"MIT\"\n}}\n");
    if !depends.is_empty() {
        text.push_str(&format!("depends {}\n", depends.join(" ")));
    }
    text.push_str("build script {\n");
    for s in steps {
        text.push_str(&format!("    step {}\n", kdl_string(s)));
    }
    text.push_str(&format!(
        "    step \"mkdir -p $DESTDIR/usr/share && echo {name} > $DESTDIR/usr/share/{name}.txt\"\n}}\n"
    ));
    text
}

/// `s` as a quoted KDL string.
pub fn kdl_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A user config for tests against loopback servers: one retry and short
/// timeouts, so a fault fails fast.
pub const FAST_FETCH: &str = "fetch {\n    retries 1\n    connect-timeout 2\n    read-timeout 2\n}\n";

/// A temp dir with `project/` (the repository's targets and sysroots, an
/// empty `recipes/`) and `config.kdl` holding `config`, for tests that point
/// `RECIPE_CONFIG` at it.
pub fn project_with_config(config: &str) -> TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("project");
    copy_target_files(&root);
    std::fs::create_dir_all(root.join("recipes")).expect("recipes dir");
    std::fs::write(dir.path().join("config.kdl"), config).expect("write config");
    dir
}

/// Copies the repository's targets and sysroots into the project at `root`.
pub fn copy_target_files(root: &Path) {
    let repo = repo_root();
    for sub in ["toolchains", "sysroots"] {
        std::fs::create_dir_all(root.join(sub)).expect("mkdir");
        for f in std::fs::read_dir(repo.join(sub)).expect("read").flatten() {
            std::fs::copy(f.path(), root.join(sub).join(f.file_name())).expect("copy");
        }
    }
}

pub struct Project {
    dir: TempDir,
}

impl Default for Project {
    fn default() -> Self {
        Project::new()
    }
}

impl Project {
    /// An empty project with one target (`armv7hf`) and its sysroot.
    pub fn new() -> Project {
        Project::bare()
            .file("toolchains/armv7hf.kdl", TARGET)
            .file("sysroots/test-sysroot.kdl", SYSROOT)
    }

    /// A project with an empty `recipes/` and nothing else.
    pub fn bare() -> Project {
        let dir = tempfile::Builder::new()
            .prefix("recipe-test-")
            .tempdir()
            .expect("temp dir");
        std::fs::create_dir_all(dir.path().join("recipes")).expect("recipes dir");
        Project { dir }
    }

    /// A project for the build machine (`--target host`): empty `recipes/`,
    /// `toolchains/` and `sysroots/`.
    pub fn host() -> Project {
        let p = Project::bare();
        for d in ["toolchains", "sysroots"] {
            std::fs::create_dir_all(p.path().join(d)).expect("mkdir");
        }
        p
    }

    /// A host project with one `script` package, `pkg`, whose build
    /// appends `built` to the event log: a test can tell a build from a
    /// restore.
    pub fn host_pkg() -> Project {
        let p = Project::host();
        p.script("pkg", &[], &[&p.log_step("built")]);
        p
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes (or rewrites) `recipes/<name>/recipe.kdl` as a `script` recipe
    /// (see [`script_recipe`]). By reference: tests edit recipes between runs.
    pub fn script(&self, name: &str, depends: &[&str], steps: &[&str]) -> &Project {
        let dir = self.path().join("recipes").join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("recipe.kdl"), script_recipe(name, depends, steps)).expect("write recipe");
        self
    }

    /// The event log that steps made by [`Project::log_step`] append to.
    pub fn events(&self) -> PathBuf {
        self.path().join("events")
    }

    /// A step appending `line` to the event log (outside the build dirs:
    /// such builds need `--no-sandbox`).
    pub fn log_step(&self, line: &str) -> String {
        format!("echo {line} >> {}", self.events().display())
    }

    /// The event log's lines, in order.
    pub fn event_lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.events())
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Writes `recipes/<name>/recipe.kdl`.
    pub fn recipe(self, name: &str, text: &str) -> Project {
        self.file(&format!("recipes/{name}/recipe.kdl"), text)
    }

    /// Writes any file, relative to the project root.
    pub fn file(self, rel: &str, text: &str) -> Project {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
        self
    }

    /// Writes raw bytes (for files that are not UTF-8), relative to the project root.
    pub fn file_bytes(self, rel: &str, bytes: &[u8]) -> Project {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, bytes).expect("write");
        self
    }

    /// Runs `recipe --recipes <project>/recipes ARGS` in the project root.
    pub fn run(&self, args: &[&str]) -> Output {
        let recipes = self.dir.path().join("recipes");
        let mut cmd = recipe_cmd(self.dir.path());
        cmd.arg("--recipes").arg(&recipes).args(args);
        Output::new(cmd, Some(self.dir.path().to_path_buf()))
    }
}

/// The real binary with an environment that makes reports byte-stable:
/// no colours, no hyperlinks, a fixed width.
pub fn recipe_cmd(cwd: &Path) -> Command {
    let mut cmd = Command::cargo_bin("recipe").expect("recipe binary");
    cmd.current_dir(cwd)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .env(
            "RECIPE_CACHE",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("recipe-cache"),
        )
        .env_remove("FORCE_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("NO_GRAPHICS")
        .env_remove("TERM_PROGRAM")
        .env_remove("RUST_BACKTRACE");
    cmd
}

/// The root of this repository (its real `recipes/`, `toolchains/`, `sysroots/`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    /// With the temp dir replaced by `[TMP]`.
    pub stderr: String,
}

impl Output {
    pub fn new(mut cmd: Command, redact: Option<PathBuf>) -> Output {
        let out = cmd.output().expect("run recipe");
        let mut stdout = String::from_utf8(out.stdout).expect("utf-8 stdout");
        let mut stderr = String::from_utf8(out.stderr).expect("utf-8 stderr");
        if let Some(dir) = redact {
            for form in [dir.canonicalize().unwrap_or_else(|_| dir.clone()), dir] {
                let s = form.display().to_string();
                stdout = stdout.replace(&s, "[TMP]");
                stderr = stderr.replace(&s, "[TMP]");
            }
        }
        Output {
            code: out.status.code().expect("exit code"),
            stdout,
            stderr,
        }
    }

    #[track_caller]
    pub fn code(&self, expected: i32) -> &Output {
        assert_eq!(
            self.code, expected,
            "exit code\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stderr_contains(&self, needle: &str) -> &Output {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_contains(&self, needle: &str) -> &Output {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}:\n{}",
            self.stdout
        );
        self
    }
}
