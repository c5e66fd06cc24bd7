//! `recipe boot NAME --target T`: build the image of recipes/NAME/image.kdl
//! and boot it under qemu-system; the process exits with its init's status.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::build::image::boot::{BootRequest, boot};
use crate::build::image::build_image;
use crate::error::Error;
use crate::model::image_def::{IMAGE_FILE, ImageDef};
use crate::settings::Settings;
use crate::toolchain::qemusystem::ensure_qemu_system;
use crate::toolchain::sysroot_def_for;

/// The flags of `recipe boot`.
pub struct Options<'a> {
    pub timeout: Option<u64>,
    pub quiet: bool,
    /// Build the image only.
    pub no_boot: bool,
    /// `--build-dir` and `--out-dir`, as for `recipe build`.
    pub dirs: (Option<&'a Path>, Option<&'a Path>),
}

pub fn run(settings: &Settings, name: &str, target: &str, options: Options) -> Result<(), Error> {
    let Options {
        timeout,
        quiet,
        no_boot,
        dirs,
    } = options;
    let session = crate::pipeline::Session::open(settings)?;
    let project = &session.project;
    let t = project.target(target)?;
    let file = settings.paths.recipes.join(name).join(IMAGE_FILE);
    if !file.is_file() {
        return Err(Error::Usage(format!(
            "no image `{name}`: {} does not exist",
            file.display()
        )));
    }
    let def = ImageDef::load(&file, &format!("recipes/{name}/{IMAGE_FILE}"))?;
    let ctx = super::toolchain::context(settings, false)?;
    let suite = sysroot_def_for(t, &project.sysroots)?.suite.clone();
    let installs = session.build_image_installs(&def, target, dirs)?;
    let out_root = crate::pipeline::layout(settings, dirs.0, dirs.1).out_root;
    let started = Instant::now();
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
    if no_boot {
        return Ok(());
    }
    let qemu = ensure_qemu_system(&ctx)?;
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
            timeout: Duration::from_secs(timeout.unwrap_or(def.timeout)),
            log: ctx.log_path(&format!("boot-{target}-{name}")),
            echo: !quiet,
        },
    )?;
    eprintln!(
        "{name}: init started {} after qemu (guest uptime {} s), exit status {}, {:.1} s in all; console log {}",
        outcome
            .to_init
            .map_or("?".to_string(), |d| format!("{:.2} s", d.as_secs_f64())),
        outcome.guest_uptime.as_deref().unwrap_or("?"),
        outcome.status,
        outcome.wall.as_secs_f64(),
        outcome.log.display()
    );
    match outcome.status {
        0 => Ok(()),
        code => std::process::exit(code.clamp(1, 255)),
    }
}

fn human_size(p: &std::path::Path) -> String {
    crate::toolchain::provision::human_bytes(std::fs::metadata(p).map_or(0, |m| m.len()))
}
