//! `recipe shell [NAME] --target T`: an interactive bash with the target's
//! environment, or with exactly the environment of NAME's build steps.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::Error;
use crate::pipeline::Session;
use crate::settings::Settings;
use crate::toolchain::env::{EnvOptions, compose};

pub fn run(settings: &Settings, name: Option<&str>, target: &str, build_dir: Option<&Path>) -> Result<(), Error> {
    let (dir, vars) = match name {
        Some(n) => {
            let shell = Session::open(settings)?.package_shell(n, target, build_dir)?;
            (shell.dir, shell.vars)
        }
        None => target_env(settings, target)?,
    };
    let mut vars = vars;
    // What an interactive shell needs of the user's session (terminal,
    // locale), never what a build step would see differently.
    for (k, v) in settings.ambient() {
        vars.entry(k).or_insert(v);
    }
    let label = name.map_or_else(|| target.to_string(), |n| format!("{n}@{target}"));
    let mut cmd = Command::new("/bin/bash");
    cmd.env_clear()
        .envs(&vars)
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

/// The target's toolchain environment in the current directory.
fn target_env(settings: &Settings, target: &str) -> Result<(PathBuf, BTreeMap<String, String>), Error> {
    let (_project, _ctx, tc) = super::toolchain::provision(settings, target)?;
    let dir = std::env::current_dir().map_err(|e| Error::io("cannot read the current directory", e))?;
    let env = compose(
        &tc,
        &EnvOptions {
            home: settings.home(),
            ambient: settings.ambient(),
            ..EnvOptions::default()
        },
    );
    Ok((dir, env.vars))
}
