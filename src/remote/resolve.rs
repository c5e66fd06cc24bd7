//! The remote cache settings of a run: URL and fleet secret.

use std::path::Path;

use super::{RemoteError, SECRET_ENV, Secret};

/// The remote cache settings of one run.
#[derive(Debug, Clone, Default)]
pub struct RemoteSettings {
    /// `None`: no remote cache.
    pub url: Option<String>,
    pub secret: Option<Secret>,
    /// Worth telling the user (e.g. a secret file others can read).
    pub warnings: Vec<String>,
}

/// The remote cache of a run from what the settings found: the URL (flag or
/// environment), the secret's value from the environment, and the config
/// file's `secret-file`, which the environment's value wins over. Empty
/// values mean unset. The secret is read only when there is a URL.
pub fn resolve(
    url: Option<String>,
    env_secret: Option<std::ffi::OsString>,
    secret_file: Option<&Path>,
) -> Result<RemoteSettings, RemoteError> {
    let url = url.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let mut settings = RemoteSettings {
        url,
        ..RemoteSettings::default()
    };
    if settings.url.is_none() {
        return Ok(settings);
    }
    let from_env = env_secret.filter(|v| !v.is_empty());
    settings.secret = match (from_env, secret_file) {
        (Some(value), _) => {
            use std::os::unix::ffi::OsStrExt;
            Some(Secret::new(value.as_bytes()).map_err(|reason| RemoteError::Secret {
                origin: format!("${SECRET_ENV}"),
                reason,
            })?)
        }
        (None, Some(path)) => Some(read_secret_file(path, &mut settings.warnings)?),
        (None, None) => None,
    };
    Ok(settings)
}

fn read_secret_file(path: &Path, warnings: &mut Vec<String>) -> Result<Secret, RemoteError> {
    use std::os::unix::fs::PermissionsExt;
    let origin = path.display().to_string();
    let secret_err = |reason: String| RemoteError::Secret {
        origin: origin.clone(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| secret_err(e.to_string()))?;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        warnings.push(format!(
            "the remote cache secret {origin} can be read by other users (chmod 600 it)"
        ));
    }
    Secret::new(&bytes).map_err(secret_err)
}
