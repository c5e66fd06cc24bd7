//! Images in a session: build one (`recipes/<name>/image.kdl`) for a
//! target, boot its VM(s), and test it — its `test` steps run in every VM,
//! reported like package tests.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::build::image::boot::{BootOutcome, BootRequest, VmEnd, boot};
use crate::build::image::build_image;
use crate::error::Error;
use crate::model::image_def::{IMAGE_FILE, ImageDef};
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
    /// Where wheels are read from and the image written [`out/`].
    pub out_dir: Option<PathBuf>,
}

impl Session<'_> {
    /// Whether `name` is an image (a recipe directory with an `image.kdl`
    /// and no package recipe).
    pub fn is_image(&self, name: &str) -> bool {
        !self.project.recipes.contains_key(name) && self.settings.paths.recipes.join(name).join(IMAGE_FILE).is_file()
    }

    /// Builds the image and boots its VM(s).
    pub fn boot_image(&self, req: &ImageBoot) -> Result<BootOutcome, Error> {
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
        let ctx = settings.provision(req.offline)?;
        let suite = sysroot_def_for(t, &self.project.sysroots)?.suite.clone();
        let started = Instant::now();
        let out_root = super::layout(settings, None, req.out_dir.as_deref()).out_root;
        let image = build_image(&ctx, t, &suite, &def, &out_root)?;
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
        let qemu = ensure_qemu_system(&ctx)?;
        let kind = if req.test { "test" } else { "boot" };
        let outcome = boot(
            &qemu,
            t,
            &BootRequest {
                name,
                kernel: &image.kernel.image,
                initrd: &image.path,
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

    /// Builds the recipes image `name` installs, then runs its test steps
    /// on `target`; false when they failed (reported here, with the failing
    /// VM's last console lines and its log).
    pub fn test_image(&self, name: &str, target: &str, request: &TestRequest) -> Result<bool, Error> {
        let file = self.settings.paths.recipes.join(name).join(IMAGE_FILE);
        let def = ImageDef::load(&file, &format!("recipes/{name}/{IMAGE_FILE}"))?;
        if !def.install.is_empty() {
            let reports = self.build(BuildRequest {
                names: def.install.clone(),
                targets: vec![target.to_string()],
                jobs: request.jobs,
                offline: request.offline,
                build_dir: request.build_dir.clone(),
                out_dir: request.out_dir.clone(),
                ..BuildRequest::default()
            })?;
            ensure_success(&reports)?;
        }
        let req = ImageBoot {
            name,
            target,
            timeout: None,
            quiet: true,
            test: true,
            offline: request.offline,
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
