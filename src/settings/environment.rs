//! The process environment, read once: every variable `recipe` looks at is
//! captured here at start-up, and the rest of the program gets values from
//! the resolved settings. Tests build an `Environment` from pairs instead of
//! changing the process's.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

/// Every variable read, with what it is for (README lists them for users).
pub const READ: &[(&str, &str)] = &[
    ("RECIPE_CACHE", "cache directory"),
    ("XDG_CACHE_HOME", "cache directory when RECIPE_CACHE is unset"),
    ("HOME", "cache and config directories; HOME of `recipe shell`"),
    ("RECIPE_CONFIG", "user config file"),
    ("XDG_CONFIG_HOME", "user config file when RECIPE_CONFIG is unset"),
    (
        "RECIPE_DEBIAN_MIRROR",
        "Debian archive (wins over the config file and apt sources)",
    ),
    ("RECIPE_DEBIAN_KEYRING", "keyring for the Debian archive's signatures"),
    (
        "PIP_INDEX_URL",
        "Python index (wins over the config file and pip's configuration)",
    ),
    ("RECIPE_PYTHON", "the Python whose pip configuration names the index"),
    (
        "RECIPE_REMOTE_CACHE",
        "remote cache URL when --remote-cache is not given",
    ),
    ("RECIPE_REMOTE_CACHE_SECRET", "the fleet's remote cache secret"),
    ("PATH", "where `patch` and other build-machine programs are found"),
    ("HOSTNAME", "host name in reports when /proc does not say"),
    (
        "SLURM_CONF",
        "Slurm's configuration, passed to `sbatch` by `recipe batch submit`",
    ),
];

/// What a job submitted to a workload manager runs with: where `recipe`
/// finds its programs, caches, config and the remote cache. Not the fleet
/// secret: workload managers keep job environments in their state files,
/// so the secret comes from each node's config (`secret-file`).
pub const JOB: &[&str] = &[
    "PATH",
    "HOME",
    "SLURM_CONF",
    "RECIPE_CACHE",
    "RECIPE_CONFIG",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "RECIPE_REMOTE_CACHE",
    "RECIPE_DEBIAN_MIRROR",
    "RECIPE_DEBIAN_KEYRING",
    "PIP_INDEX_URL",
    "RECIPE_PYTHON",
];

/// Passed through to build and shell environments, for terminals and users.
pub const AMBIENT: &[&str] = &["TERM", "USER", "LOGNAME", "TMPDIR", "COLORTERM", "NO_COLOR"];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    vars: BTreeMap<String, OsString>,
}

impl Environment {
    /// The variables of [`READ`] and [`AMBIENT`] from this process.
    pub fn capture() -> Environment {
        let names = READ.iter().map(|(n, _)| *n).chain(AMBIENT.iter().copied());
        Environment {
            vars: names
                .filter_map(|n| std::env::var_os(n).map(|v| (n.to_string(), v)))
                .collect(),
        }
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Environment {
        Environment {
            vars: pairs.into_iter().map(|(k, v)| (k.to_string(), v.into())).collect(),
        }
    }

    /// A set, non-empty value (an empty variable counts as unset).
    pub fn os(&self, name: &str) -> Option<&OsString> {
        self.vars.get(name).filter(|v| !v.is_empty())
    }

    /// A set, non-empty, UTF-8 value, trimmed.
    pub fn text(&self, name: &str) -> Option<String> {
        self.os(name)
            .and_then(|v| v.to_str())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    pub fn path(&self, name: &str) -> Option<PathBuf> {
        self.os(name).map(PathBuf::from)
    }

    /// The [`JOB`] variables that are set, for submitted jobs.
    pub fn for_jobs(&self) -> BTreeMap<String, OsString> {
        JOB.iter()
            .filter_map(|n| Some((n.to_string(), self.os(n)?.clone())))
            .collect()
    }

    /// The ambient variables that are set, for build and shell environments.
    pub fn ambient(&self) -> BTreeMap<String, String> {
        AMBIENT
            .iter()
            .filter_map(|n| Some((n.to_string(), self.vars.get(*n)?.to_str()?.to_string())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_count_as_unset() {
        let env = Environment::from_pairs([("HOME", ""), ("RECIPE_CACHE", " /c "), ("TERM", "xterm")]);
        assert_eq!(env.path("HOME"), None);
        assert_eq!(env.text("RECIPE_CACHE").as_deref(), Some("/c"));
        assert_eq!(env.ambient().get("TERM").map(String::as_str), Some("xterm"));
    }
}
