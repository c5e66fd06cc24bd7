//! Images in a session: build one (`recipes/<name>/image.kdl`) for a
//! target, boot its VM(s), and test it — its `test` steps run in every VM,
//! reported like package tests. The recipes an image installs are built
//! for its target through the normal graph first (incremental: unchanged
//! packages are skipped by key or restored from the local store), and the
//! install closure is worked out from the rendered recipes.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::build::image::boot::{BootOutcome, BootRequest, VmEnd, boot};
use crate::build::image::{BuiltImage, Installed, build_image};
use crate::error::Error;
use crate::model::image_def::{IMAGE_FILE, ImageDef};
use crate::plan::render::render;
use crate::recipe::schema::BuildKind;
use crate::toolchain::provision::ProvisionContext;
use crate::toolchain::qemusystem::ensure_qemu_system;
use crate::toolchain::sysroot_def_for;

use super::{BuildRequest, Session, TestRequest, ensure_success};

pub struct ImageBoot<'a> {
    pub name: &'a str,
    pub target: &'a str,
    /// Seconds before the VMs are killed [the image's (or its test's) `timeout`].
    pub timeout: Option<u64>,
    /// Keep the consoles off stdout.
    pub quiet: bool,
    /// Run the image's test steps instead of its init.
    pub test: bool,
    pub offline: bool,
    /// Packages built at once for the image's installs [cores].
    pub jobs: Option<usize>,
    /// The build tree of the installed recipes [`build/`].
    pub build_dir: Option<PathBuf>,
    /// Where their artifacts go and the image is written [`out/`].
    pub out_dir: Option<PathBuf>,
}

/// An image built for booting: its definition, the files and the context.
pub struct PreparedImage {
    pub def: ImageDef,
    pub image: BuiltImage,
    ctx: ProvisionContext,
    /// The image's test `timeout`, when its test steps are to run.
    test_timeout: Option<u64>,
}

impl Session<'_> {
    /// Whether `name` is an image (a recipe directory with an `image.kdl`
    /// and no package recipe).
    pub fn is_image(&self, name: &str) -> bool {
        !self.project.recipes.contains_key(name) && self.settings.paths.recipes.join(name).join(IMAGE_FILE).is_file()
    }

    /// Builds the recipes the image installs, then the image.
    pub fn prepare_image(&self, req: &ImageBoot) -> Result<PreparedImage, Error> {
        let (settings, name) = (self.settings, req.name);
        let t = self.project.target(req.target)?;
        let file = settings.paths.recipes.join(name).join(IMAGE_FILE);
        if !file.is_file() {
            return Err(Error::Usage(format!(
                "no image `{name}`: {} does not exist",
                file.display()
            )));
        }
        let def = ImageDef::load(&file, &format!("recipes/{name}/{IMAGE_FILE}"))?;
        let test_timeout = match (&def.test, req.test) {
            (Some(test), true) => test.timeout,
            (None, true) => {
                return Err(Error::Usage(format!(
                    "image `{name}` has no `test` section: add `test {{ script \"test.sh\" }}` to {}",
                    file.display()
                )));
            }
            (_, false) => None,
        };
        let installs = self.build_image_installs(&def, req)?;
        let ctx = settings.provision(req.offline)?;
        let suite = sysroot_def_for(t, &self.project.sysroots)?.suite.clone();
        let started = Instant::now();
        let out_root = super::layout(settings, req.build_dir.as_deref(), req.out_dir.as_deref()).out_root;
        let image = build_image(&ctx, t, &suite, &def, &out_root, &installs)?;
        eprintln!(
            "image {}{} ({}, kernel {}, modules: {}) in {:.3} s",
            image.path.display(),
            if image.unchanged { " unchanged" } else { "" },
            human_size(&image.path),
            image.kernel.release,
            if image.modules.is_empty() {
                "none".to_string()
            } else {
                image.modules.join(" ")
            },
            started.elapsed().as_secs_f64()
        );
        Ok(PreparedImage {
            def,
            image,
            ctx,
            test_timeout,
        })
    }

    /// Builds the image and boots its VM(s).
    pub fn boot_image(&self, req: &ImageBoot) -> Result<BootOutcome, Error> {
        let name = req.name;
        let t = self.project.target(req.target)?;
        let PreparedImage {
            def,
            image,
            ctx,
            test_timeout,
        } = self.prepare_image(req)?;
        let qemu = ensure_qemu_system(&ctx)?;
        let kind = if req.test { "test" } else { "boot" };
        let outcome = boot(
            &qemu,
            t,
            &BootRequest {
                name,
                kernel: &image.kernel.image,
                initrd: &image.initrd,
                disk: image.disk.as_deref(),
                memory: def.memory,
                user_network: def.network.is_some(),
                forwards: &def.forwards,
                link: def.link,
                vms: def.vms,
                test_mode: req.test,
                timeout: Duration::from_secs(req.timeout.or(test_timeout).unwrap_or(def.timeout)),
                log: ctx.log_path(&format!("{kind}-{}-{name}", req.target)),
                echo: !req.quiet,
            },
        )?;
        for vm in &outcome.vms {
            let who = if outcome.vms.len() == 1 {
                name.to_string()
            } else {
                format!("{name} node{}", vm.node)
            };
            eprintln!(
                "{who}: init started {} after qemu (guest uptime {} s), {}; console log {}",
                vm.to_init
                    .map_or("?".to_string(), |d| format!("{:.2} s", d.as_secs_f64())),
                vm.guest_uptime.as_deref().unwrap_or("?"),
                describe(&vm.end),
                vm.log.display()
            );
        }
        eprintln!(
            "{name}: {} VM{} in {:.1} s in all",
            outcome.vms.len(),
            if outcome.vms.len() == 1 { "" } else { "s" },
            outcome.wall.as_secs_f64()
        );
        Ok(outcome)
    }

    /// Builds image `name` (and the recipes it installs), then runs its test steps
    /// on `target`; false when they failed (reported here, with the failing
    /// VM's last console lines and its log).
    pub fn test_image(&self, name: &str, target: &str, request: &TestRequest) -> Result<bool, Error> {
        let req = ImageBoot {
            name,
            target,
            timeout: None,
            quiet: true,
            test: true,
            offline: request.offline,
            jobs: request.jobs,
            build_dir: request.build_dir.clone(),
            out_dir: request.out_dir.clone(),
        };
        let outcome = match self.boot_image(&req) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("test {name}@{target}: FAILED\n{:?}", miette::Report::new(e));
                return Ok(false);
            }
        };
        let wall = outcome.wall.as_secs_f64();
        if outcome.status() == 0 {
            let killed = outcome.vms.iter().filter(|v| v.end == VmEnd::KilledOnRequest).count();
            let steps = outcome.vms.iter().map(|v| v.steps.len()).max().unwrap_or(0);
            eprintln!(
                "test {name}@{target}: {steps} step{} passed on {} VM{}{} in {wall:.1}s (under qemu-system)",
                if steps == 1 { "" } else { "s" },
                outcome.vms.len(),
                if outcome.vms.len() == 1 { "" } else { "s" },
                match killed {
                    0 => String::new(),
                    n => format!(" ({n} killed on request)"),
                }
            );
            return Ok(true);
        }
        eprintln!("test {name}@{target}: FAILED in {wall:.1}s");
        for vm in outcome
            .vms
            .iter()
            .filter(|v| matches!(v.end, VmEnd::Exited(c) if c != 0))
        {
            let step = vm.steps.iter().find(|(_, s)| *s != 0);
            eprintln!(
                "node{}: {}{}\n--- last lines of {} ---\n{}\n---",
                vm.node,
                describe(&vm.end),
                step.map_or(String::new(), |(n, s)| format!(", step {n} failed with status {s}")),
                vm.log.display(),
                vm.last.join("\n")
            );
        }
        Ok(false)
    }

    /// Builds `def`'s `install` recipes for `target` (into the settings'
    /// build and out directories, as `recipe build` does) and returns what
    /// the image gets, dependencies first: a `python-wheel` recipe's wheels
    /// alone (they bundle what they need), or another recipe's output (its
    /// wheels, else its staged files) and those of its target dependencies,
    /// transitively.
    fn build_image_installs(&self, def: &ImageDef, req: &ImageBoot) -> Result<Vec<Installed>, Error> {
        if def.install.is_empty() {
            return Ok(Vec::new());
        }
        let t = self.project.target(req.target)?;
        let mut order = Vec::new();
        let mut seen = BTreeSet::new();
        for name in &def.install {
            self.install_closure(name, t, 0, &mut seen, &mut order)?;
        }
        let request = BuildRequest {
            names: def.install.clone(),
            targets: vec![req.target.to_string()],
            jobs: req.jobs,
            offline: req.offline,
            build_dir: req.build_dir.clone(),
            out_dir: req.out_dir.clone(),
            ..BuildRequest::default()
        };
        ensure_success(&self.build(request)?)?;
        Ok(order)
    }

    fn install_closure(
        &self,
        name: &str,
        target: &crate::model::target::Target,
        depth: usize,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<Installed>,
    ) -> Result<(), Error> {
        if !seen.insert(name.to_string()) {
            return Ok(());
        }
        crate::plan::graph::check_requested(&self.project, &[name.to_string()])?;
        let recipe = render(&self.project.recipes[name], target)?;
        let wheel = recipe.build.kind == BuildKind::PythonWheel;
        // The plan has refused cycles already; the bound is belt and braces.
        if !wheel && depth < 64 {
            for dep in &recipe.depends {
                self.install_closure(dep, target, depth + 1, seen, order)?;
            }
        }
        order.push(Installed {
            name: recipe.name,
            version: recipe.version,
            wheel,
        });
        Ok(())
    }
}

fn describe(end: &VmEnd) -> String {
    match end {
        VmEnd::Exited(code) => format!("exit status {code}"),
        VmEnd::KilledOnRequest => "killed as it asked (RECIPE-KILL)".to_string(),
        VmEnd::Stopped => "stopped after another VM failed".to_string(),
    }
}

fn human_size(p: &std::path::Path) -> String {
    crate::toolchain::provision::human_bytes(std::fs::metadata(p).map_or(0, |m| m.len()))
}
