//! Testing: build, then run the packages' test steps on each target (under
//! qemu when emulated), in a root the target file's `test-runtime` describes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use crate::build::job::Layout;
use crate::build::process::Log;
use crate::build::testrun::{Runtime, TestInput, run_tests};
use crate::error::Error;
use crate::model::project::Project;
use crate::model::target::{PythonVersion, Target};
use crate::plan::graph::check_requested;
use crate::plan::render::render;
use crate::recipe::Recipe;
use crate::recipe::options::KindOptions;
use crate::recipe::raw::TestStepKind;
use crate::recipe::rendered::Test;
use crate::toolchain::provision::ProvisionContext;
use crate::toolchain::qemu::{Qemu, ensure_qemu};
use crate::toolchain::targetroot::ensure_target_root;
use crate::toolchain::{ensure_toolchain, sysroot_def_for};

use super::Session;
use super::build::{BuildRequest, ensure_success, layout};

#[derive(Debug, Clone, Default)]
pub struct TestRequest {
    pub names: Vec<String>,
    pub targets: Vec<String>,
    pub jobs: Option<usize>,
    pub offline: bool,
    pub build_dir: Option<PathBuf>,
    pub out_dir: Option<PathBuf>,
}

impl Session<'_> {
    /// Builds the packages for each target, then runs their tests there.
    /// Returns how many packages' tests failed.
    pub fn test(&self, request: TestRequest) -> Result<usize, Error> {
        test(self, request)
    }
}

fn test(session: &Session, request: TestRequest) -> Result<usize, Error> {
    let (settings, project) = (session.settings, &session.project);
    check_requested(project, &request.names)?;
    for t in &request.targets {
        build_for_tests(session, &request, t)?;
    }
    let provision = settings.provision(request.offline)?;
    let layout = layout(settings, request.build_dir.as_deref(), request.out_dir.as_deref());
    let home = layout.build_root.join(crate::plan::graph::HOST).join("home");
    let mut failures = 0;
    for t in &request.targets {
        let target = project.target(t)?;
        let target_env =
            crate::toolchain::activate::activate(project, t, &layout.host_prefix, &home, &provision, false, false)?;
        let qemu = if target.emulated() {
            Some(ensure_qemu(&provision)?)
        } else {
            None
        };
        let on_target = OnTarget {
            project,
            target,
            layout: &layout,
            provision: &provision,
            qemu: qemu.as_ref(),
            env: &target_env.vars,
        };
        for name in &request.names {
            if !on_target.test_package(name)? {
                failures += 1;
            }
        }
    }
    Ok(failures)
}

/// Builds the packages (and the target's test preload) for target `t`.
fn build_for_tests(session: &Session, request: &TestRequest, t: &str) -> Result<(), Error> {
    let project = &session.project;
    let target = project.target(t)?;
    let mut to_build = request.names.clone();
    if let Some(preload) = target.test.preload.as_ref().filter(|_| target.emulated()) {
        // A project that copied the target files without the preload's
        // recipe still tests, without it (lint does not require it).
        if !project.recipes.contains_key(&preload.recipe) {
            eprintln!(
                "warning: target {t} preloads `{}` in tests, but the project has no such recipe; testing without it",
                preload.recipe
            );
        } else if !to_build.contains(&preload.recipe) {
            to_build.push(preload.recipe.clone());
        }
    }
    let reports = session.build(BuildRequest {
        names: to_build,
        targets: vec![t.to_string()],
        jobs: request.jobs,
        offline: request.offline,
        build_dir: request.build_dir.clone(),
        out_dir: request.out_dir.clone(),
        ..BuildRequest::default()
    })?;
    ensure_success(&reports)
}

/// What testing on one target needs.
struct OnTarget<'a> {
    project: &'a Project,
    target: &'a Target,
    layout: &'a Layout,
    provision: &'a ProvisionContext,
    qemu: Option<&'a Qemu>,
    env: &'a BTreeMap<String, String>,
}

impl OnTarget<'_> {
    /// Runs `name`'s tests, once per Python version when the package builds
    /// a wheel per version; false when they failed (already reported).
    fn test_package(&self, name: &str) -> Result<bool, Error> {
        let recipe = render(&self.project.recipes[name], self.target)?;
        let Some(test) = &recipe.test else {
            eprintln!("{name}@{}: no test section", self.target.name);
            return Ok(true);
        };
        let pep517 = matches!(&recipe.build.typed, KindOptions::PythonWheel(o) if o.pep517);
        let versions: Vec<Option<&PythonVersion>> = match &self.target.python.versions[..] {
            listed if pep517 && !listed.is_empty() => listed.iter().map(Some).collect(),
            _ => vec![None],
        };
        let mut passed = true;
        for version in versions {
            passed &= self.test_once(&recipe, test, version)?;
        }
        Ok(passed)
    }

    /// One run of the tests: with `version`, in a root of that version's
    /// suite with its `python3.X` as `$PYTHON` and the wheels it installs.
    fn test_once(&self, recipe: &Recipe, test: &Test, version: Option<&PythonVersion>) -> Result<bool, Error> {
        let (target, t, layout) = (self.target, self.target.name.as_str(), self.layout);
        let name = recipe.name.as_str();
        let root = self.runtime_root(name, test, version)?;
        let dir = layout.package_dir(t, name);
        let (label, suffix) = match version {
            Some(v) => (
                format!("{name}@{t} (python {})", v.version),
                format!("-py{}", v.version),
            ),
            None => (format!("{name}@{t}"), String::new()),
        };
        let test_root = assemble_root(
            self.project,
            layout,
            name,
            t,
            &root,
            &dir.join(format!("test-root{suffix}")),
        )?;
        // Tests run from these trees (the test root links into the
        // provisioned one): the next run checks nothing wrote into them.
        for tree in std::iter::once(&root).chain(self.qemu.map(|q| &q.root)) {
            crate::toolchain::provision::mark_used(tree)
                .map_err(|e| Error::io("cannot mark a provisioned tree used", e))?;
        }
        let preload = target
            .test
            .preload
            .as_ref()
            .map(|p| layout.staged(t, &p.recipe).join(&p.library));
        let runtime = Runtime {
            target: target.clone(),
            root: test_root,
            qemu: match (self.qemu, &target.qemu) {
                (Some(q), Some(bin)) => Some(q.bin_dir.join(bin)),
                _ => None,
            },
            aio_preload: preload.filter(|p| target.emulated() && p.is_file()),
            python: format!("usr/bin/python{}", version.map_or("3", |v| v.version.as_str())),
        };
        let staged = layout.staged(t, name);
        let wheels = wheels_for(&staged, version);
        if let Some(v) = version
            && wheels.is_empty()
        {
            return Err(Error::Usage(format!(
                "{label}: no wheel of {name} installs on Python {} (built: {}); rebuild it with `recipe build {name} --target {t}`",
                v.version,
                staged.join("usr/share/wheels").display()
            )));
        }
        let log = Log::create(dir.join(format!("test{suffix}.log")))?;
        let started = Instant::now();
        let input = TestInput {
            recipe,
            runtime: &runtime,
            staged: &staged,
            wheels: &wheels,
            work: &dir.join(format!("test{suffix}")),
            env: self.env,
            confine: layout.confine_steps,
        };
        match run_tests(&input, &log) {
            Ok(n) => {
                eprintln!(
                    "test {label}: {n} step{} passed in {:.1}s{}",
                    if n == 1 { "" } else { "s" },
                    started.elapsed().as_secs_f64(),
                    if runtime.qemu.is_some() { " (under qemu)" } else { "" }
                );
                Ok(true)
            }
            Err(e) => {
                eprintln!("test {label}: FAILED\n{:?}", miette::Report::new(e));
                eprintln!("--- last lines of {} ---\n{}\n---", log.path.display(), log.tail(30));
                Ok(false)
            }
        }
    }

    /// The provisioned root tests run in: the target's test runtime (with
    /// Python for `python` steps, and what the test requires), or the
    /// sysroot when it needs nothing more.
    /// The provisioned root tests run in: the target's test runtime (with
    /// Python for `python` steps, and what the test requires), or the
    /// sysroot when it needs nothing more. With a Python `version`: that
    /// version's `python3.X` from its suite, always.
    fn runtime_root(&self, name: &str, test: &Test, version: Option<&PythonVersion>) -> Result<PathBuf, Error> {
        let (target, t) = (self.target, self.target.name.as_str());
        let def = sysroot_def_for(target, &self.project.sysroots)?;
        let needs_python = test.steps.iter().any(|s| s.kind == TestStepKind::Python);
        if !needs_python && test.requires.is_empty() && version.is_none() {
            return Ok(ensure_toolchain(self.provision, target, def)?.sysroot);
        }
        let runtime = &target.test;
        if needs_python && runtime.python.is_empty() {
            return Err(Error::Usage(format!(
                "{name} has `python` test steps, but target {t} names no Python for tests: add `test-runtime {{ python \"python3\" }}` to its target file"
            )));
        }
        let mut packages = runtime.packages.clone();
        if needs_python {
            packages.extend(runtime.python.iter().cloned());
        }
        packages.extend(test.requires.iter().cloned());
        let suite = match version {
            Some(v) => {
                packages.push(format!("python{}", v.version));
                v.suite.clone()
            }
            None => runtime.suite.clone().unwrap_or_else(|| def.suite.clone()),
        };
        Ok(ensure_target_root(self.provision, target, &suite, &packages)?)
    }
}

/// The staged wheels of a package; with a Python `version`, those that
/// install on it.
fn wheels_for(staged: &std::path::Path, version: Option<&PythonVersion>) -> Vec<PathBuf> {
    let wheels: Vec<PathBuf> = std::fs::read_dir(staged.join("usr/share/wheels"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    match version {
        Some(v) => wheels
            .into_iter()
            .filter(|w| {
                let file = w.file_name().and_then(|f| f.to_str()).unwrap_or_default();
                crate::toolchain::pylock::installs_on(file, v.minor())
            })
            .collect(),
        None => wheels,
    }
}

/// The runtime root plus the staged outputs of the package and everything it
/// depends on (hard links), so test programs find their libraries through
/// the root alone, as on a board.
fn assemble_root(
    project: &crate::model::project::Project,
    layout: &crate::build::job::Layout,
    name: &str,
    target: &str,
    base: &std::path::Path,
    dest: &std::path::Path,
) -> Result<PathBuf, Error> {
    let plan = crate::plan::graph::plan(project, &[name.to_string()], &[target.to_string()])?;
    let _ = std::fs::remove_dir_all(dest);
    let io = |e| Error::io(format!("cannot assemble the test root {}", dest.display()), e);
    crate::build::tree::link_tree(base, dest).map_err(io)?;
    for ix in &plan.order {
        let id = plan.node(*ix);
        if id.target == target {
            let staged = layout.staged(&id.target, &id.name);
            if staged.is_dir() {
                crate::build::tree::link_tree(&staged, dest).map_err(io)?;
            }
        }
    }
    Ok(dest.to_path_buf())
}
