//! `build python-wheel { pep517 #true }`: the sdist's own PEP 517 backend
//! run by the build Python (the target's version, on the build machine)
//! with the target's compiler and `_sysconfigdata_*` (crossenv style), then
//! the wheel repaired as auditwheel does (see `wheel_repair`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::wheel_repair::{self, Repair};
use super::{BuildCtx, BuildError};
use crate::package::wheel::{self, WheelEntry};
use crate::recipe::options::PythonWheelOptions;

const FRONTEND: &str = include_str!("pep517_frontend.py");

fn var<'a>(ctx: &'a BuildCtx, name: &str) -> Result<&'a str, BuildError> {
    ctx.env.get(name).map(String::as_str).ok_or_else(|| {
        BuildError::invalid(
            format!("{name} is not set: the build Python was not provisioned for this build"),
            "pep517 builds run for a target (not the build machine) that has a `test-runtime` Python",
        )
    })
}

/// The environment of the backend: the target's compiler and flags, the
/// build requirements and the generated sysconfigdata on `PYTHONPATH`.
fn backend_env(ctx: &BuildCtx) -> Result<BTreeMap<String, String>, BuildError> {
    let mut env = ctx.env.clone();
    let site = var(ctx, "RECIPE_PYTHON_SITE")?;
    let sysconfig = var(ctx, "RECIPE_PYTHON_SYSCONFIG_DIR")?;
    env.insert("PYTHONPATH".into(), format!("{sysconfig}:{site}"));
    env.insert("PYTHONNOUSERSITE".into(), "1".into());
    let cc = var(ctx, "CC")?.to_string();
    // distutils would otherwise take the target's own linker line
    // (`arm-linux-gnueabihf-gcc -shared …`), which names no sysroot.
    env.insert("LDSHARED".into(), format!("{cc} -shared"));
    let cxx = env.get("CXX").cloned().unwrap_or_else(|| cc.clone());
    env.insert("LDCXXSHARED".into(), format!("{cxx} -shared"));
    // CPython's own optimisation flags (its OPT, which distutils drops
    // when CFLAGS is set); the target's Python headers after the C
    // library's (pyconfig.h includes its multiarch twin by a path relative
    // to the include root); build paths kept out of the binaries.
    let root = var(ctx, "RECIPE_PYTHON_TARGET_ROOT")?;
    let src = ctx.dirs.src.display().to_string();
    let extra = format!(" -idirafter {root}/usr/include -ffile-prefix-map={src}=.");
    for k in ["CFLAGS", "CXXFLAGS"] {
        let v = env.get(k).cloned().unwrap_or_default();
        env.insert(k.into(), format!("-O2 -DNDEBUG -fwrapv {v}{extra}"));
    }
    // setuptools-scm and friends read the version from PKG-INFO offline.
    env.insert("SETUPTOOLS_SCM_PRETEND_VERSION".into(), read_version(&ctx.dirs.src)?);
    env.insert("PIP_NO_INDEX".into(), "1".into());
    // The backend installs into its own wheel tree: CMake's and Meson's
    // install steps would otherwise put the files under $DESTDIR instead.
    env.remove("DESTDIR");
    // meson-python wants `patchelf` (for packages with internal libraries)
    // and asks for it as a build requirement when it is not on PATH.
    link_tool(ctx, "patchelf", Path::new(var(ctx, "RECIPE_PATCHELF")?))?;
    Ok(env)
}

/// `name` in the package's tools dir (first on the steps' `PATH`).
fn link_tool(ctx: &BuildCtx, name: &str, target: &Path) -> Result<(), BuildError> {
    let link = ctx.dirs.root.join(crate::build::jobenv::TOOLS).join(name);
    let io = |e| BuildError::io(format!("cannot link {}", link.display()), e);
    if std::fs::read_link(&link).is_ok_and(|t| t == target) {
        return Ok(());
    }
    let _ = std::fs::remove_file(&link);
    std::fs::create_dir_all(link.parent().unwrap_or(&link)).map_err(io)?;
    std::os::unix::fs::symlink(target, &link).map_err(io)
}

fn read_version(src: &Path) -> Result<String, BuildError> {
    let path = src.join("PKG-INFO");
    let text =
        std::fs::read_to_string(&path).map_err(|e| BuildError::io(format!("cannot read {}", path.display()), e))?;
    text.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix("Version:").map(|v| v.trim().to_string()))
        .ok_or_else(|| {
            BuildError::invalid(
                format!("{} has no Version", path.display()),
                "pep517 builds start from an sdist (PKG-INFO at its root)",
            )
        })
}

/// Runs the backend; a missing requirement and a failing backend become
/// errors that say what to do.
fn run_backend(ctx: &BuildCtx, opts: &PythonWheelOptions, out: &Path) -> Result<String, BuildError> {
    let python = var(ctx, "RECIPE_BUILD_PYTHON")?.to_string();
    let frontend = ctx.dirs.root.join("recipe-pep517-frontend.py");
    std::fs::write(&frontend, FRONTEND).map_err(|e| BuildError::io("cannot write the PEP 517 frontend", e))?;
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out).map_err(|e| BuildError::io("cannot create the wheel output dir", e))?;
    let mut args = vec![
        "-s".to_string(),
        frontend.display().to_string(),
        ctx.work_dir().display().to_string(),
        out.display().to_string(),
    ];
    args.extend(opts.config_settings.iter().cloned());
    let env = backend_env(ctx)?;
    let step = crate::build::process::Step {
        program: &python,
        args,
        cwd: &ctx.work_dir(),
        env: &env,
        sandbox: Some(ctx.sandbox),
    };
    let result = ctx.log.run(&step, |cmd| ctx.jobserver.configure_make(cmd));
    let log_text = std::fs::read_to_string(&ctx.log.path).unwrap_or_default();
    let missing: Vec<&str> = log_text
        .lines()
        .filter_map(|l| l.strip_prefix("RECIPE-MISSING-REQUIREMENT: "))
        .collect();
    let tools: Vec<&str> = log_text
        .lines()
        .filter_map(|l| l.strip_prefix("RECIPE-MISSING-TOOL: "))
        .collect();
    if !tools.is_empty() {
        return Err(BuildError::invalid(
            format!(
                "the sdist's backend runs host tools that are not on the build's PATH: {}",
                tools.join("; ")
            ),
            "host tools come from the project's host recipes (recipes/cmake, recipes/meson, recipes/ninja), built first when the recipe names them in `host-depends`",
        ));
    }
    if !missing.is_empty() {
        return Err(BuildError::invalid(
            format!(
                "the sdist needs build requirements the lock file does not provide: {}",
                missing.join("; ")
            ),
            format!(
                "add a line `PROJECT WHEEL-FILE sha256=HEX` for each to {} (a wheel for the build Python's version; \
                 `pip download --no-deps --only-binary :all: --python-version 3.X PROJECT` gives the file, `sha256sum` its hash)",
                crate::toolchain::buildpython::LOCK_FILE
            ),
        ));
    }
    if let Err(e) = result {
        // The backend's own error is in the log's tail (shown by the step error).
        return Err(e.into());
    }
    let name = log_text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("RECIPE-WHEEL: "))
        .map(|s| s.trim().to_string())
        .filter(|n| !n.contains('/') && n.ends_with(".whl"))
        .ok_or_else(|| BuildError::invalid("the PEP 517 backend named no wheel", "see the build log"))?;
    Ok(name)
}

/// Builds and repairs the wheel of the build Python `ctx.env` selects;
/// returns where it was written (the staged `usr/share/wheels/`).
pub fn build(ctx: &BuildCtx, opts: &PythonWheelOptions) -> Result<PathBuf, BuildError> {
    let out = ctx.dirs.root.join("pep517-out");
    let name = run_backend(ctx, opts, &out)?;
    let built = out.join(&name);
    let entries = wheel::read_entries(&built)
        .map_err(|e| BuildError::invalid(e.to_string(), "the backend wrote a damaged wheel"))?;
    let parts = wheel_repair::split_wheel(&built, entries)?;
    let repair = Repair {
        ctx,
        patchelf: PathBuf::from(var(ctx, "RECIPE_PATCHELF")?),
        work: ctx.dirs.root.join("wheel-repair"),
    };
    let (files, platform) = repair.run(&parts)?;
    let tag = match platform {
        Some(p) => format!("{}-{}-{p}", parts.python_tag, parts.abi_tag),
        None => parts.tag.clone(),
    };
    let entries: Vec<WheelEntry> = files;
    let wheel_dir = ctx.dirs.dest.join("usr/share/wheels");
    let path = wheel::write(&wheel_dir, &parts.name, &parts.version, &tag, &parts.metadata, entries)
        .map_err(|e| BuildError::invalid(e.to_string(), "check free disk space and permissions"))?;
    ctx.log.note(&format!("wheel: {}", path.display()))?;
    Ok(path)
}
