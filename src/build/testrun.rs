//! Running a package's `test` steps against the built result, on the
//! target: under qemu-user with the target's own root file system when the
//! target is emulated, natively (through the root's own dynamic loader)
//! otherwise.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::build::builders::BuildError;
use crate::build::process::{Log, Step};
use crate::model::target::Target;
use crate::recipe::Recipe;
use crate::recipe::raw::TestStepKind;
use crate::toolchain::env::shell_quote;

/// A root file system for the target with its C library and Python.
pub struct Runtime {
    pub target: Target,
    pub root: PathBuf,
    /// `Some(qemu-user binary)` when the target is emulated.
    pub qemu: Option<PathBuf>,
    /// The AIO emulation library (built for the target), used under qemu.
    pub aio_preload: Option<PathBuf>,
    /// `$PYTHON` inside the root: `usr/bin/python3`, or a version's
    /// `usr/bin/python3.X`.
    pub python: String,
}

impl Runtime {
    fn lib_path(&self) -> String {
        let t = &self.target.triple;
        ["usr/lib", "lib"]
            .iter()
            .flat_map(|d| {
                [
                    format!("{}/{d}/{t}", self.root.display()),
                    format!("{}/{d}", self.root.display()),
                ]
            })
            .collect::<Vec<_>>()
            .join(":")
    }

    fn loader(&self) -> Option<PathBuf> {
        let candidates = [
            "lib64/ld-linux-x86-64.so.2",
            "lib/ld-linux-armhf.so.3",
            "lib/ld-linux-aarch64.so.1",
        ];
        candidates.iter().map(|c| self.root.join(c)).find(|p| p.exists())
    }

    /// The words that run a target program with `guest_env` set for it
    /// (and only for it: qemu's own process must not see LD_PRELOAD).
    pub fn prefix(&self, guest_env: &BTreeMap<String, String>, with_aio: bool) -> Vec<String> {
        match &self.qemu {
            Some(qemu) => {
                let mut words = vec![qemu.display().to_string(), "-L".into(), self.root.display().to_string()];
                // qemu-user resolves a directory path with a trailing slash
                // on the host, not in -L, so glibc marks the multiarch dirs
                // missing after one failed lookup; an explicit library path
                // that starts with a directory the host also has avoids it.
                if !guest_env.contains_key("LD_LIBRARY_PATH") {
                    let t = &self.target.triple;
                    words.push("-E".into());
                    words.push(format!("LD_LIBRARY_PATH=/usr/lib:/lib/{t}:/usr/lib/{t}"));
                }
                for (k, v) in guest_env {
                    words.push("-E".into());
                    words.push(format!("{k}={v}"));
                }
                if with_aio && let Some(lib) = &self.aio_preload {
                    words.push("-E".into());
                    words.push(format!("LD_PRELOAD={}", lib.display()));
                }
                words
            }
            None => {
                // Native: the root's own loader, so its newer libc is used
                // even on an older build machine.
                let mut words = vec!["env".to_string()];
                words.extend(guest_env.iter().map(|(k, v)| format!("{k}={v}")));
                if let Some(loader) = self.loader() {
                    words.push(loader.display().to_string());
                    words.push("--library-path".into());
                    words.push(self.lib_path());
                }
                words
            }
        }
    }

    pub fn python(&self) -> PathBuf {
        self.root.join(&self.python)
    }
}

pub struct TestInput<'a> {
    pub recipe: &'a Recipe,
    pub runtime: &'a Runtime,
    /// The package's staged output.
    pub staged: &'a Path,
    pub wheels: &'a [PathBuf],
    pub work: &'a Path,
    /// The target's build environment (compiler wrappers, flags): test steps
    /// may compile programs against the result.
    pub env: &'a BTreeMap<String, String>,
    /// Steps run in the sandbox (`false` with `--no-sandbox`).
    pub confine: bool,
}

/// Runs every test step; the log keeps the full output.
pub fn run_tests(input: &TestInput, log: &Log) -> Result<usize, BuildError> {
    let Some(test) = &input.recipe.test else {
        return Ok(0);
    };
    let _ = std::fs::remove_dir_all(input.work);
    let site = input.work.join("site");
    let tmp = input.work.join("tmp");
    for d in [&site, &tmp] {
        std::fs::create_dir_all(d).map_err(|e| BuildError::io("cannot create the test dir", e))?;
    }
    for w in input.wheels {
        crate::package::wheel::unpack_into(w, &site)
            .map_err(|e| BuildError::invalid(e.to_string(), "rebuild the wheel"))?;
    }
    let mut guest = BTreeMap::new();
    guest.insert("PYTHONPATH".to_string(), site.display().to_string());
    guest.insert("PYTHONDONTWRITEBYTECODE".to_string(), "1".to_string());
    guest.insert("TMPDIR".to_string(), tmp.display().to_string());
    guest.insert("HOME".to_string(), tmp.display().to_string());
    if input.runtime.qemu.is_none() {
        guest.insert(
            "PYTHONHOME".to_string(),
            input.runtime.root.join("usr").display().to_string(),
        );
    }
    let join = |w: Vec<String>| w.iter().map(|s| shell_quote(s)).collect::<Vec<_>>().join(" ");
    let mut env = input.env.clone();
    let root = input.runtime.root.display().to_string();
    env.insert("RECIPE_SYSROOT".to_string(), root.clone());
    env.insert("PKG_CONFIG_SYSROOT_DIR".to_string(), root.clone());
    env.insert(
        "PKG_CONFIG_LIBDIR".to_string(),
        format!("{root}/usr/lib/pkgconfig:{root}/usr/share/pkgconfig"),
    );
    env.insert("RECIPE_DIR".to_string(), input.recipe.dir.display().to_string());
    env.insert("RUN".to_string(), join(input.runtime.prefix(&guest, true)));
    env.insert("RUN_PLAIN".to_string(), join(input.runtime.prefix(&guest, false)));
    env.insert("DESTDIR".to_string(), input.staged.display().to_string());
    env.insert("SYSROOT".to_string(), input.runtime.root.display().to_string());
    env.insert("PYTHON".to_string(), input.runtime.python().display().to_string());
    env.insert("TMPDIR".to_string(), tmp.display().to_string());
    env.insert("HOME".to_string(), tmp.display().to_string());
    // A fat wheel's platform tag is a compressed set (`a.b`): it is
    // `$FAT_WHEEL`; `$WHEEL` is this target's own wheel when there is one.
    let fat = |w: &&PathBuf| {
        w.file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.rsplit('-').next())
            .is_some_and(|tag| tag.contains('.'))
    };
    if let Some(w) = input.wheels.iter().find(|w| !fat(w)).or(input.wheels.first()) {
        env.insert("WHEEL".to_string(), w.display().to_string());
    }
    if let Some(w) = input.wheels.iter().find(fat) {
        env.insert("FAT_WHEEL".to_string(), w.display().to_string());
    }
    // Tests write only to their own work dir (which holds TMPDIR and HOME);
    // the staged output and the root they run in stay read-only. They keep
    // the network: test suites talk to servers they start on loopback.
    let sandbox = crate::build::sandbox::Policy {
        writable: vec![input.work.to_path_buf()],
        network: true,
        summary: format!(
            "test steps may write only to their work dir {} (which holds $TMPDIR and $HOME)",
            input.work.display()
        ),
        enforce: input.confine,
    };
    let mut count = 0;
    for step in &test.steps {
        let script = match step.kind {
            TestStepKind::Run => step.command.clone(),
            TestStepKind::Python => {
                let file = input.recipe.dir.join(&step.command);
                if !file.is_file() {
                    return Err(BuildError::invalid(
                        format!("test script {} does not exist", file.display()),
                        "python test paths are relative to the recipe directory",
                    ));
                }
                format!("$RUN \"$PYTHON\" {}", shell_quote(&file.display().to_string()))
            }
        };
        log.run(&Step::shell(&script, input.work, &env).sandboxed(&sandbox), |_| {})?;
        count += 1;
    }
    Ok(count)
}
