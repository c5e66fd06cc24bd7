use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::Error;
use crate::settings::Settings;

pub fn run(
    settings: &Settings,
    target: &str,
    root: Option<&Path>,
    env: &[String],
    command: &[String],
) -> Result<(), Error> {
    let (_project, ctx, tc) = super::toolchain::provision(settings, target)?;
    let Some((prog, args)) = command.split_first() else {
        return Err(Error::Usage("nothing to run: give a program after `--`".into()));
    };
    let root = root.map_or_else(|| tc.sysroot.clone(), Path::to_path_buf);
    let mut guest_env = vec![
        ("PATH".to_string(), "/usr/local/bin:/usr/bin:/bin".to_string()),
        ("LANG".to_string(), "C.UTF-8".to_string()),
        ("PYTHONDONTWRITEBYTECODE".to_string(), "1".to_string()),
    ];
    for kv in env {
        let Some((k, v)) = kv.split_once('=') else {
            return Err(Error::Usage(format!("--env wants K=V, got `{kv}`")));
        };
        guest_env.retain(|(ek, _)| ek != k);
        guest_env.push((k.to_string(), v.to_string()));
    }
    let program = locate(prog, &root);
    let t = &tc.target;
    let mut cmd = if t.emulated() {
        let qemu = crate::toolchain::qemu::ensure_qemu(&ctx)?;
        qemu.command(t, &root, &guest_env, &program, args)?
    } else {
        let mut c = Command::new(&program);
        c.env_clear().envs(guest_env.iter().map(|(k, v)| (k, v))).args(args);
        c
    };
    let status = cmd
        .status()
        .map_err(|e| Error::io(format!("cannot run {}", program.display()), e))?;
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => std::process::exit(code),
        None => std::process::exit(128),
    }
}

/// A program path as given, or inside the root when it names a target path
/// (`/usr/bin/python3.13`) that does not exist on the build machine.
fn locate(prog: &str, root: &Path) -> PathBuf {
    let p = PathBuf::from(prog);
    if p.exists() {
        return std::path::absolute(&p).unwrap_or(p);
    }
    let inside = root.join(prog.trim_start_matches('/'));
    if inside.exists() { inside } else { p }
}
