//! Testing: build, then run the packages' test steps on each target (under
//! qemu when emulated), in a root the target file's `test-runtime` describes.

use std::path::PathBuf;
use std::time::Instant;

use crate::error::Error;
use crate::graph::check_requested;
use crate::process::Log;
use crate::qemu::ensure_qemu;
use crate::recipe::raw::TestStepKind;
use crate::render::render;
use crate::targetroot::ensure_target_root;
use crate::testrun::{Runtime, TestInput, run_tests};
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
    let TestRequest {
        names,
        targets,
        jobs,
        offline,
        build_dir,
        out_dir,
    } = request;
    check_requested(project, &names)?;
    for t in &targets {
        let target = project.target(t)?;
        let mut to_build = names.clone();
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
            targets: vec![t.clone()],
            jobs,
            offline,
            build_dir: build_dir.clone(),
            out_dir: out_dir.clone(),
            ..BuildRequest::default()
        })?;
        ensure_success(&reports)?;
    }

    let provision = settings.provision(offline)?;
    let layout = layout(settings, build_dir.as_deref(), out_dir.as_deref());
    let home = layout.build_root.join(crate::graph::HOST).join("home");
    let mut failures = 0;
    for t in &targets {
        let target = project.target(t)?;
        let def = sysroot_def_for(target, &project.sysroots)?;
        let target_env = crate::activate::activate(project, t, &layout.host_prefix, &home, &provision, false)?;
        let qemu = if target.emulated() {
            Some(ensure_qemu(&provision)?)
        } else {
            None
        };
        for name in &names {
            let recipe = render(&project.recipes[name], target)?;
            let Some(test) = &recipe.test else {
                eprintln!("{name}@{t}: no test section");
                continue;
            };
            let needs_python = test.steps.iter().any(|s| s.kind == TestStepKind::Python);
            let root = if needs_python || !test.requires.is_empty() {
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
                let suite = runtime.suite.clone().unwrap_or_else(|| def.suite.clone());
                ensure_target_root(&provision, target, &suite, &packages)?
            } else {
                ensure_toolchain(&provision, target, def)?.sysroot
            };
            let preload = target
                .test
                .preload
                .as_ref()
                .map(|p| layout.staged(t, &p.recipe).join(&p.library));
            let dir = layout.package_dir(t, name);
            let test_root = assemble_root(project, &layout, name, t, &root, &dir.join("test-root"))?;
            // Tests run from these trees (the test root links into the
            // provisioned one): the next run checks nothing wrote into them.
            for tree in std::iter::once(&root).chain(qemu.as_ref().map(|q| &q.root)) {
                crate::provision::mark_used(tree).map_err(|e| Error::io("cannot mark a provisioned tree used", e))?;
            }
            let runtime = Runtime {
                target: target.clone(),
                root: test_root,
                qemu: match (&qemu, &target.qemu) {
                    (Some(q), Some(bin)) => Some(q.bin_dir.join(bin)),
                    _ => None,
                },
                aio_preload: preload.filter(|p| target.emulated() && p.is_file()),
            };
            let staged = layout.staged(t, name);
            let wheels: Vec<PathBuf> = std::fs::read_dir(staged.join("usr/share/wheels"))
                .map(|d| d.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            let log = Log::create(dir.join("test.log"))?;
            let started = Instant::now();
            let input = TestInput {
                recipe: &recipe,
                runtime: &runtime,
                staged: &staged,
                wheels: &wheels,
                work: &dir.join("test"),
                env: &target_env.vars,
            };
            match run_tests(&input, &log) {
                Ok(n) => eprintln!(
                    "test {name}@{t}: {n} step{} passed in {:.1}s{}",
                    if n == 1 { "" } else { "s" },
                    started.elapsed().as_secs_f64(),
                    if runtime.qemu.is_some() { " (under qemu)" } else { "" }
                ),
                Err(e) => {
                    failures += 1;
                    eprintln!("test {name}@{t}: FAILED\n{:?}", miette::Report::new(e));
                    eprintln!("--- last lines of {} ---\n{}\n---", log.path.display(), log.tail(30));
                }
            }
        }
    }
    Ok(failures)
}

/// The runtime root plus the staged outputs of the package and everything it
/// depends on (hard links), so test programs find their libraries through
/// the root alone, as on a board.
fn assemble_root(
    project: &crate::project::Project,
    layout: &crate::job::Layout,
    name: &str,
    target: &str,
    base: &std::path::Path,
    dest: &std::path::Path,
) -> Result<PathBuf, Error> {
    let plan = crate::graph::plan(project, &[name.to_string()], &[target.to_string()])?;
    let _ = std::fs::remove_dir_all(dest);
    let io = |e| Error::io(format!("cannot assemble the test root {}", dest.display()), e);
    crate::job::link_tree(base, dest).map_err(io)?;
    for ix in &plan.order {
        let id = plan.node(*ix);
        if id.target == target {
            let staged = layout.staged(&id.target, &id.name);
            if staged.is_dir() {
                crate::job::link_tree(&staged, dest).map_err(io)?;
            }
        }
    }
    Ok(dest.to_path_buf())
}
