use std::process::Command;

use crate::error::Error;
use crate::settings::Settings;
use crate::toolchain::env::{EnvOptions, compose};

pub fn run(settings: &Settings, name: Option<&str>, target: &str) -> Result<(), Error> {
    let (project, _ctx, tc) = super::toolchain::provision(settings, target)?;
    let dir = match name {
        Some(n) => {
            crate::plan::graph::check_requested(&project, &[n.to_string()])?;
            let dir = project.paths.root.join("build").join(target).join(n);
            if !dir.is_dir() {
                return Err(Error::Usage(format!(
                    "{} does not exist yet; run `recipe build {n} --target {target}` first (a failed build keeps it)",
                    dir.display()
                )));
            }
            dir
        }
        None => std::env::current_dir().map_err(|e| Error::io("cannot read the current directory", e))?,
    };
    let env = compose(
        &tc,
        &EnvOptions {
            home: settings.home(),
            ambient: settings.ambient(),
            ..EnvOptions::default()
        },
    );
    let label = name.map_or_else(|| target.to_string(), |n| format!("{n}@{target}"));
    let mut cmd = Command::new("/bin/bash");
    env.apply(&mut cmd)
        // No rc files: they could reset PATH or CC behind the user's back.
        .args(["--noprofile", "--norc", "-i"])
        .env("PS1", format!("(recipe {label}) \\w\\$ "))
        .env("RECIPE_SHELL", label)
        .current_dir(&dir);
    let status = cmd.status().map_err(|e| Error::io("cannot start /bin/bash", e))?;
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => std::process::exit(code),
        None => std::process::exit(1),
    }
}
