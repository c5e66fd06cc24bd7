//! `recipe test NAME --target T`: build, then run the package's test steps
//! on the target (under qemu when emulated, with the AIO emulation preload
//! that qemu-user needs for dqlite).

use std::path::PathBuf;
use std::time::Instant;

use crate::commands::build::{self, BuildArgs};
use crate::error::Error;
use crate::graph::check_requested;
use crate::process::Log;
use crate::qemu::ensure_qemu;
use crate::recipe::raw::TestStepKind;
use crate::render::render;
use crate::settings::Settings;
use crate::targetroot::ensure_target_root;
use crate::testrun::{Runtime, TestInput, run_tests};
use crate::toolchain::{ensure_toolchain, sysroot_def_for};

/// The package providing the AIO emulation library for emulated targets.
pub const AIO_PRELOAD: &str = "qemu-aio-preload";

pub struct TestArgs {
    pub names: Vec<String>,
    pub targets: Vec<String>,
    pub jobs: Option<usize>,
    pub offline: bool,
    pub build_dir: Option<PathBuf>,
    pub out_dir: Option<PathBuf>,
}

pub fn run(settings: &Settings, args: TestArgs) -> Result<(), Error> {
    let TestArgs {
        names,
        targets,
        jobs,
        offline,
        build_dir,
        out_dir,
    } = args;
    let project = super::load(settings)?;
    check_requested(&project, &names)?;
    for t in &targets {
        let target = project.target(t)?;
        let mut to_build = names.clone();
        if target.emulated() && project.recipes.contains_key(AIO_PRELOAD) && !to_build.iter().any(|n| n == AIO_PRELOAD)
        {
            to_build.push(AIO_PRELOAD.to_string());
        }
        let reports = build::run(
            settings,
            BuildArgs {
                names: to_build,
                all: false,
                targets: vec![t.clone()],
                jobs,
                keep_going: false,
                offline,
                force: Vec::new(),
                explain: false,
                build_dir: build_dir.clone(),
                out_dir: out_dir.clone(),
                report: None,
                remote_cache: None,
                no_remote_cache: false,
                remote_read_only: false,
                limits: Default::default(),
            },
        )?;
        build::ensure_success(&reports)?;
    }

    let provision = settings.provision(offline)?;
    let layout = build::layout(settings, build_dir.as_deref(), out_dir.as_deref());
    let home = layout.build_root.join(crate::graph::HOST).join("home");
    let mut failures = 0;
    for t in &targets {
        let target = project.target(t)?;
        let def = sysroot_def_for(target, &project.sysroots)?;
        let target_env = crate::activate::activate(&project, t, &layout.host_prefix, &home, &provision, false)?;
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
                let mut packages = vec!["libc6".to_string()];
                if needs_python {
                    packages.extend(["python3".to_string(), "python3-cffi".to_string()]);
                }
                packages.extend(test.requires.iter().cloned());
                let suite = target.test_suite.clone().unwrap_or_else(|| def.suite.clone());
                ensure_target_root(&provision, target, &suite, &packages)?
            } else {
                ensure_toolchain(&provision, target, def)?.sysroot
            };
            let aio = layout.staged(t, AIO_PRELOAD).join("usr/lib/recipe/libaio-emul.so");
            let dir = layout.package_dir(t, name);
            let test_root = assemble_root(&project, &layout, name, t, &root, &dir.join("test-root"))?;
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
                aio_preload: (target.emulated() && aio.is_file()).then_some(aio),
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
    if failures > 0 {
        return Err(Error::TestsFailed { count: failures });
    }
    Ok(())
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
