//! `recipe boot NAME --target T`: build the image of recipes/NAME/image.kdl
//! and boot its VM(s) under qemu-system; the process exits with the init's
//! status (the first failing VM's).

use crate::error::Error;
use crate::pipeline::{ImageBoot, Session};
use crate::settings::Settings;

pub fn run(settings: &Settings, name: &str, target: &str, timeout: Option<u64>, quiet: bool) -> Result<(), Error> {
    let outcome = Session::open(settings)?.boot_image(&ImageBoot {
        name,
        target,
        timeout,
        quiet,
        test: false,
        offline: false,
        out_dir: None,
    })?;
    match outcome.status() {
        0 => Ok(()),
        code => std::process::exit(code.clamp(1, 255)),
    }
}
