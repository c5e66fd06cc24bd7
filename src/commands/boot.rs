//! `recipe boot NAME --target T`: build the image of recipes/NAME/image.kdl
//! (and the recipes it installs) and boot its VM(s) under qemu-system; the
//! process exits with the init's status (the first failing VM's).

use std::path::Path;

use crate::error::Error;
use crate::pipeline::{ImageBoot, Session};
use crate::settings::Settings;

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
    let request = ImageBoot {
        name,
        target,
        timeout: options.timeout,
        quiet: options.quiet,
        test: false,
        offline: false,
        jobs: None,
        build_dir: options.dirs.0.map(Path::to_path_buf),
        out_dir: options.dirs.1.map(Path::to_path_buf),
    };
    let session = Session::open(settings)?;
    if options.no_boot {
        session.prepare_image(&request)?;
        return Ok(());
    }
    let outcome = session.boot_image(&request)?;
    match outcome.status() {
        0 => Ok(()),
        code => std::process::exit(code.clamp(1, 255)),
    }
}
