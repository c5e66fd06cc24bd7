//! Global arguments + environment → resolved settings.

use std::path::{Path, PathBuf};

use std::time::Duration;

use crate::cli::{GlobalArgs, LimitArgs};
use crate::error::Error;
use crate::fetch::{FetchOptions, LimitOverrides, UserConfig};
use crate::project::ProjectPaths;
use crate::provision::ProvisionContext;

#[derive(Debug, Clone)]
pub struct Settings {
    pub paths: ProjectPaths,
    pub cache: PathBuf,
    /// The user config file with the environment's and the command line's
    /// overrides applied; read once per run.
    pub config: UserConfig,
}

impl Settings {
    pub fn resolve(args: &GlobalArgs) -> Result<Settings, Error> {
        // Destructure so a new global flag cannot be silently ignored.
        let GlobalArgs {
            recipes,
            cache,
            debian_allow_unsigned,
        } = args;
        let mut config = UserConfig::load()?;
        if *debian_allow_unsigned {
            config.mirrors.debian_allow_unsigned = true;
        }
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
        Ok(Settings { paths, cache, config })
    }

    /// Download options for a command: the config's, with `offline` and the
    /// command line's limits.
    pub fn fetch_options(&self, offline: bool, limits: &LimitOverrides) -> FetchOptions {
        FetchOptions::from_loaded(&self.config, offline, limits)
    }

    /// A provisioning context with its own download context.
    pub fn provision(&self, offline: bool) -> Result<ProvisionContext, Error> {
        let options = self.fetch_options(offline, &LimitOverrides::default());
        Ok(ProvisionContext::from_options(self.cache.clone(), options)?)
    }

    /// Said on every run while a trust check is switched off.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.config.mirrors.debian_allow_unsigned {
            out.push(
                "Debian indexes whose signature cannot be checked are accepted (--debian-allow-unsigned or `debian-allow-unsigned` in the user config)".to_string(),
            );
        }
        out
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
