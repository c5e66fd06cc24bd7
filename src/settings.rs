//! Global arguments + environment → resolved settings.

use std::path::{Path, PathBuf};

use std::time::Duration;

use crate::cli::{GlobalArgs, LimitArgs};
use crate::error::Error;
use crate::fetch::LimitOverrides;
use crate::project::ProjectPaths;

#[derive(Debug, Clone)]
pub struct Settings {
    pub paths: ProjectPaths,
    pub cache: PathBuf,
}

impl Settings {
    pub fn resolve(args: &GlobalArgs) -> Result<Settings, Error> {
        // Destructure so a new global flag cannot be silently ignored.
        let GlobalArgs { recipes, cache } = args;
        let cwd = std::env::current_dir().map_err(|e| Error::io("cannot read the current directory", e))?;
        let paths = match recipes {
            Some(dir) => ProjectPaths::from_recipes_dir(&cwd.join(dir)),
            None => ProjectPaths::discover(&cwd).ok_or_else(|| Error::NoProject {
                start: cwd.display().to_string(),
            })?,
        };
        let cache = match cache {
            Some(c) => cwd.join(c),
            None => default_cache(),
        };
        Ok(Settings { paths, cache })
    }
}

impl From<LimitArgs> for LimitOverrides {
    fn from(args: LimitArgs) -> LimitOverrides {
        // Destructure so a new flag cannot be silently ignored.
        let LimitArgs {
            max_size,
            speed_limit,
            speed_time,
            stall_timeout,
            attempt_timeout,
        } = args;
        LimitOverrides {
            max_size,
            speed_limit,
            speed_time: speed_time.map(Duration::from_secs),
            stall_timeout: stall_timeout.map(Duration::from_secs),
            attempt_timeout: attempt_timeout.map(Duration::from_secs),
        }
    }
}

fn default_cache() -> PathBuf {
    let from_env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = from_env("RECIPE_CACHE") {
        return dir;
    }
    if let Some(xdg) = from_env("XDG_CACHE_HOME") {
        return xdg.join("recipe");
    }
    match from_env("HOME") {
        Some(home) => home.join(".cache").join("recipe"),
        None => Path::new(".cache").join("recipe"),
    }
}
