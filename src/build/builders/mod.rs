//! Builders: one file per build kind. Each runs in the package's own work
//! directory with an explicit environment and installs into its own staging
//! directory (`DESTDIR`), never into a shared sysroot.

mod autotools;
mod cmake;
mod go;
mod go_warm;
mod make;
mod meson;
mod python_fat_wheel;
mod python_pep517;
mod python_versions;
mod python_wheel;
mod script;
mod wheel_repair;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use miette::Diagnostic;
use thiserror::Error;

use crate::build::process::{Log, ProcessError, Step};
use crate::model::target::Target;
use crate::recipe::Recipe;
use crate::recipe::options::KindOptions;

#[derive(Debug, Error, Diagnostic)]
pub enum BuildError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Step(Box<ProcessError>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Prepare(Box<crate::prepare::PrepareError>),
    #[error("{what}: {source}")]
    #[diagnostic(code(recipe::build_io))]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{message}")]
    #[diagnostic(code(recipe::build), help("{help}"))]
    Invalid { message: String, help: String },
    #[error(transparent)]
    #[diagnostic(code(recipe::build::host_prefix))]
    Relocate(#[from] crate::outputs::relocate::RelocateError),
}

impl From<ProcessError> for BuildError {
    fn from(e: ProcessError) -> Self {
        BuildError::Step(Box::new(e))
    }
}

impl From<crate::prepare::PrepareError> for BuildError {
    fn from(e: crate::prepare::PrepareError) -> Self {
        BuildError::Prepare(Box::new(e))
    }
}

impl BuildError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> BuildError {
        BuildError::Io {
            what: what.into(),
            source,
        }
    }

    pub fn invalid(message: impl Into<String>, help: impl Into<String>) -> BuildError {
        BuildError::Invalid {
            message: message.into(),
            help: help.into(),
        }
    }
}

/// Where one package builds.
#[derive(Debug, Clone)]
pub struct BuildDirs {
    /// `build/<target>/<name>`
    pub root: PathBuf,
    /// The prepared (extracted, patched) source tree.
    pub src: PathBuf,
    /// Staging directory the package installs into (`DESTDIR`).
    pub dest: PathBuf,
    /// Base sysroot plus the staged outputs of the package's dependencies.
    pub sysroot: PathBuf,
}

/// Another target's outputs that a fat wheel carries: the bundled
/// packages built for `target`, with their dependencies on that target
/// (staged dirs, as in [`BuildCtx::deps`]).
#[derive(Debug, Clone)]
pub struct PlatformOutput {
    pub target: Target,
    pub deps: Vec<(String, PathBuf)>,
}

/// Everything a builder needs; the environment is already complete.
pub struct BuildCtx<'a> {
    pub recipe: &'a Recipe,
    pub target: &'a Target,
    /// Building a host tool for the build machine (prefix = `host_prefix`).
    pub host_build: bool,
    pub host_prefix: &'a Path,
    pub build_triple: &'a str,
    pub dirs: &'a BuildDirs,
    pub env: BTreeMap<String, String>,
    pub log: &'a Log,
    pub jobserver: &'a jobserver::Client,
    /// Staged output directories of the direct and indirect dependencies.
    pub deps: &'a [(String, PathBuf)],
    /// Other targets' outputs (`DepKind::Platform` dependencies of a fat
    /// wheel), one entry per target.
    pub platforms: &'a [PlatformOutput],
    /// Where finished artifacts (wheels) are copied.
    pub out_dir: &'a Path,
    /// What every step of this package may write.
    pub sandbox: &'a crate::build::sandbox::Policy,
    /// The build Pythons of a PEP 517 wheel build, lowest version first,
    /// each with the key of the wheel it builds (empty for other builds).
    pub pythons: &'a [PythonBuild],
}

/// One build Python of a PEP 517 build and the key of its wheel: the
/// package's key with only this Python's identity, so adding a version to
/// the target leaves the other versions' wheels (and their cache) alone.
#[derive(Debug, Clone)]
pub struct PythonBuild {
    pub python: crate::toolchain::buildpython::BuildPython,
    pub key: String,
}

impl BuildCtx<'_> {
    /// Directory the build runs in: the source tree or its `subdir`.
    pub fn work_dir(&self) -> PathBuf {
        match &self.recipe.build.common.subdir {
            Some(sub) => self.dirs.src.join(sub),
            None => self.dirs.src.clone(),
        }
    }

    pub fn shell(&self, script: &str, cwd: &Path) -> Result<(), BuildError> {
        let step = Step::shell(script, cwd, &self.env).sandboxed(self.sandbox);
        Ok(self.log.run(&step, |cmd| self.jobserver.configure_make(cmd))?)
    }

    pub fn run(&self, program: &str, args: Vec<String>, cwd: &Path) -> Result<(), BuildError> {
        let step = Step {
            program,
            args,
            cwd,
            env: &self.env,
            sandbox: Some(self.sandbox),
        };
        Ok(self.log.run(&step, |cmd| self.jobserver.configure_make(cmd))?)
    }

    /// `make` with the shared jobserver, unless the recipe opts out.
    pub fn make(&self, args: &[String], cwd: &Path) -> Result<(), BuildError> {
        let mut all = Vec::new();
        if !self.recipe.build.typed.parallel() {
            all.push("-j1".to_string());
        }
        all.extend(args.iter().cloned());
        self.run("make", all, cwd)
    }

    /// Fails plainly when `tool`, which the `kind` builder runs, is not on
    /// the steps' `PATH` (its host recipe provides it; the plan builds that
    /// first), instead of a "not found" deep in the log.
    pub fn require_tool(&self, kind: &str, tool: &str) -> Result<(), BuildError> {
        let path = self.env.get("PATH").map_or("", String::as_str);
        if std::env::split_paths(path).any(|d| d.join(tool).is_file()) {
            return Ok(());
        }
        Err(BuildError::invalid(
            format!("the {kind} build needs the host tool `{tool}`, which is not on the build's PATH"),
            format!(
                "the project's host recipe recipes/{tool}/recipe.kdl provides it; check that it installs \
                 `$PREFIX/bin/{tool}` (`recipe build {tool} --target host`)"
            ),
        ))
    }

    /// Prefix the package is configured for.
    pub fn prefix(&self) -> String {
        if self.host_build {
            self.host_prefix.display().to_string()
        } else {
            "/usr".to_string()
        }
    }
}

/// The early phase: steps that need only the source tree and the host
/// tools, and may run before the package's dependencies are built. No
/// recipe step runs here (they get the full environment, in [`build`]):
/// only `autoreconf`, and only when no `pre-build` step must precede it.
pub fn prepare(ctx: &BuildCtx) -> Result<(), BuildError> {
    if autoreconf_wanted(ctx) && ctx.recipe.build.common.pre_build.is_empty() {
        ctx.run("autoreconf", vec!["-fi".into()], &ctx.work_dir())?;
    }
    Ok(())
}

/// Whether [`warm_up`] has work for this recipe's build kind.
pub fn warms_up(recipe: &Recipe) -> bool {
    matches!(recipe.build.typed, KindOptions::Go(_))
}

/// After an early phase that ran while dependencies still build, with the
/// package sysroot holding those built so far: work the build would
/// otherwise do on the critical path. A Go package warms its build cache
/// with the standard library.
pub fn warm_up(ctx: &BuildCtx) -> Result<(), BuildError> {
    debug_assert!(warms_up(ctx.recipe));
    if let KindOptions::Go(o) = &ctx.recipe.build.typed {
        go_warm::warm_cache(ctx, o)?;
    }
    Ok(())
}

fn autoreconf_wanted(ctx: &BuildCtx) -> bool {
    matches!(&ctx.recipe.build.typed, KindOptions::Autotools(o) if o.autoreconf)
}

/// Runs `pre-build` (then `autoreconf` if it waited for them), the
/// recipe's build kind, then its `post-install` steps: all with the
/// package's sysroot assembled and the whole build environment.
pub fn build(ctx: &BuildCtx) -> Result<(), BuildError> {
    std::fs::create_dir_all(&ctx.dirs.dest).map_err(|e| BuildError::io("cannot create the staging directory", e))?;
    let work = ctx.work_dir();
    let pre_build = &ctx.recipe.build.common.pre_build;
    for step in pre_build {
        ctx.shell(step, &work)?;
    }
    if autoreconf_wanted(ctx) && !pre_build.is_empty() {
        ctx.run("autoreconf", vec!["-fi".into()], &work)?;
    }
    match &ctx.recipe.build.typed {
        KindOptions::Autotools(o) => autotools::build(ctx, o)?,
        KindOptions::Cmake(o) => cmake::build(ctx, o)?,
        KindOptions::Meson(o) => meson::build(ctx, o)?,
        KindOptions::Make(o) => make::build(ctx, o)?,
        KindOptions::Go(o) => go::build(ctx, o)?,
        KindOptions::PythonWheel(o) if o.pep517 => python_versions::build(ctx, o)?,
        KindOptions::PythonWheel(o) => python_wheel::build(ctx, o)?,
        KindOptions::Script(o) => script::build(ctx, o)?,
    }
    for step in &ctx.recipe.build.common.post_install {
        ctx.shell(step, &work)?;
    }
    Ok(())
}
