use crate::error::Error;
use crate::settings::Settings;
use crate::toolchain::env::{EnvOptions, compose};

pub fn run(settings: &Settings, target: &str, go: bool) -> Result<(), Error> {
    let (_project, ctx, tc) = super::toolchain::provision(settings, target)?;
    let opts = EnvOptions {
        go: if go {
            Some(crate::toolchain::gotool::ensure_go(&ctx)?)
        } else {
            None
        },
        home: settings.home(),
        ambient: settings.ambient(),
        ..EnvOptions::default()
    };
    print!("{}", compose(&tc, &opts).to_shell());
    Ok(())
}
