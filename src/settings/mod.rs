//! Settings, resolved once per run. Precedence: command-line flags, then
//! environment variables, then the user config file, then built-in
//! defaults. Nothing outside this module reads the process environment
//! (`Environment::capture` at start-up; `fault` is a test hook, documented
//! as such).

mod environment;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use environment::{AMBIENT, Environment, READ};

use crate::cli::{GlobalArgs, LimitArgs};
use crate::error::Error;
use crate::fetch::{FetchError, FetchOptions, LimitOverrides, UserConfig};
use crate::model::project::ProjectPaths;
use crate::remote::{RemoteError, RemoteSettings};
use crate::toolchain::provision::ProvisionContext;

#[derive(Debug, Clone)]
pub struct Settings {
    pub paths: ProjectPaths,
    pub cache: PathBuf,
    /// The user config file with the environment's and the command line's
    /// overrides applied; read once per run.
    pub config: UserConfig,
    /// The environment as captured at start-up.
    pub env: Environment,
    /// `--no-sandbox`: steps run unconfined.
    pub sandbox: bool,
}

impl Settings {
    pub fn resolve(args: &GlobalArgs, env: Environment) -> Result<Settings, Error> {
        // Destructure so a new global flag cannot be silently ignored.
        let GlobalArgs {
            recipes,
            cache,
            debian_allow_unsigned,
            no_sandbox,
        } = args;
        let mut config = load_config(&env)?;
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
            None => default_cache(&env),
        };
        Ok(Settings {
            paths,
            cache,
            config,
            env,
            sandbox: !no_sandbox,
        })
    }

    /// The remote cache: the URL from `--remote-cache`, else
    /// `$RECIPE_REMOTE_CACHE`; the secret from `$RECIPE_REMOTE_CACHE_SECRET`,
    /// else the config file's `secret-file`.
    pub fn remote(&self, arg_url: Option<&str>) -> Result<RemoteSettings, RemoteError> {
        let url = arg_url
            .map(str::to_string)
            .or_else(|| self.env.text(crate::remote::URL_ENV));
        crate::remote::resolve(
            url,
            self.env.os(crate::remote::SECRET_ENV).cloned(),
            self.config.remote_cache.secret_file.as_deref(),
        )
    }

    /// Variables passed through to interactive environments (`recipe shell`,
    /// `recipe env`): terminal and user names. Builds do not get them.
    pub fn ambient(&self) -> BTreeMap<String, String> {
        self.env.ambient()
    }

    /// The user's home, for `recipe shell`.
    /// The environment of jobs submitted to a workload manager.
    pub fn job_environment(&self) -> BTreeMap<String, std::ffi::OsString> {
        self.env.for_jobs()
    }

    pub fn home(&self) -> Option<PathBuf> {
        self.env.path("HOME")
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

fn default_cache(env: &Environment) -> PathBuf {
    if let Some(dir) = env.path("RECIPE_CACHE") {
        return dir;
    }
    if let Some(xdg) = env.path("XDG_CACHE_HOME") {
        return xdg.join("recipe");
    }
    match env.path("HOME") {
        Some(home) => home.join(".cache").join("recipe"),
        None => Path::new(".cache").join("recipe"),
    }
}

/// Where the config file is looked for: `$RECIPE_CONFIG`, else
/// `$XDG_CONFIG_HOME/recipe/config.kdl`, else `~/.config/recipe/config.kdl`.
pub fn config_path(env: &Environment) -> Option<PathBuf> {
    if let Some(p) = env.path("RECIPE_CONFIG") {
        return Some(p);
    }
    if let Some(x) = env.path("XDG_CONFIG_HOME") {
        return Some(x.join("recipe").join("config.kdl"));
    }
    env.path("HOME")
        .map(|h| h.join(".config").join("recipe").join("config.kdl"))
}

/// The config file (if any), then the environment's overrides of its keys.
pub fn load_config(env: &Environment) -> Result<UserConfig, FetchError> {
    let mut config = match config_path(env) {
        Some(p) if p.is_file() => UserConfig::load_file(&p)?,
        _ => UserConfig::default(),
    };
    let m = &mut config.mirrors;
    if let Some(uri) = env.text("RECIPE_DEBIAN_MIRROR") {
        m.debian_archive = Some(uri);
    }
    if let Some(keyring) = env.path("RECIPE_DEBIAN_KEYRING") {
        m.debian_keyring = Some(keyring);
    }
    if let Some(index) = env.text("PIP_INDEX_URL") {
        m.python_index = Some(index);
    }
    if let Some(python) = env.text("RECIPE_PYTHON") {
        m.python = Some(python);
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_wins_over_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("config.kdl");
        std::fs::write(
            &file,
            "mirrors {\n    debian-archive \"http://file.invalid/debian\"\n    python-index \"http://file.invalid/simple\"\n}\n",
        )
        .expect("write");
        let path = file.display().to_string();
        let only_file = load_config(&Environment::from_pairs([("RECIPE_CONFIG", path.as_str())])).expect("load");
        assert_eq!(
            only_file.mirrors.debian_archive.as_deref(),
            Some("http://file.invalid/debian")
        );
        let env = Environment::from_pairs([
            ("RECIPE_CONFIG", path.as_str()),
            ("RECIPE_DEBIAN_MIRROR", "http://env.invalid/debian"),
            ("PIP_INDEX_URL", "http://env.invalid/simple"),
        ]);
        let both = load_config(&env).expect("load");
        assert_eq!(
            both.mirrors.debian_archive.as_deref(),
            Some("http://env.invalid/debian")
        );
        assert_eq!(both.mirrors.python_index.as_deref(), Some("http://env.invalid/simple"));
    }

    #[test]
    fn cache_and_config_locations() {
        let env = Environment::from_pairs([("HOME", "/h"), ("XDG_CACHE_HOME", "/x")]);
        assert_eq!(default_cache(&env), PathBuf::from("/x/recipe"));
        assert_eq!(config_path(&env), Some(PathBuf::from("/h/.config/recipe/config.kdl")));
        let env = Environment::from_pairs([("HOME", "/h"), ("RECIPE_CACHE", "/c"), ("RECIPE_CONFIG", "/f.kdl")]);
        assert_eq!(default_cache(&env), PathBuf::from("/c"));
        assert_eq!(config_path(&env), Some(PathBuf::from("/f.kdl")));
    }
}
