//! The scheduler's side of the remote cache and the local store, in one
//! call each way: restore a package whose stamp does not match (fetch,
//! verify, stamp), and queue a freshly built one for storing.

use std::path::Path;

use super::local::{LOCAL_STORE, LocalStore};
use super::{Fetched, RemoteCache, RemoteError, RemoteWriter};
use crate::outputs::key::{self, KeyInputs, Stamp};

/// What `try_restore` did, in the words a report needs.
#[derive(Debug, Clone)]
pub enum Restore {
    /// The staged output is in place and stamped: treat the package as cached.
    Restored {
        digest: String,
        /// "remote hit (… bytes, … ms)"
        reason: String,
        duration_ms: u64,
    },
    /// Build it. `reason` goes into the node's reasons ("remote miss: no
    /// entry"); `warning`, if any, also deserves a line in the run's warnings.
    NotRestored { reason: String, warning: Option<String> },
}

/// Tries the remote cache for `key`: on a verified hit that `accept` takes
/// (the post-build checks a local build gets, run before anything replaces
/// `staged`), `staged` holds the output and the stamp at `stamp_path` records
/// `inputs`, exactly as if the package had been built here. Never fails:
/// problems become reasons.
pub fn try_restore(
    remote: &RemoteCache,
    inputs: &KeyInputs,
    staged: &Path,
    stamp_path: &Path,
    accept: &dyn Fn(&Path) -> Result<(), String>,
) -> Restore {
    restore_with("remote", "remote cache", inputs, staged, stamp_path, &|key| {
        remote.fetch_output_checked(key, staged, accept)
    })
}

/// [`try_restore`] from this machine's local store.
pub fn try_restore_local(
    store: &LocalStore,
    inputs: &KeyInputs,
    staged: &Path,
    stamp_path: &Path,
    accept: &dyn Fn(&Path) -> Result<(), String>,
) -> Restore {
    restore_with(LOCAL_STORE, LOCAL_STORE, inputs, staged, stamp_path, &|key| {
        store.fetch_output_checked(key, staged, accept)
    })
}

/// The restore of one cache: `what` names it in reasons ("remote hit"),
/// `cache` in warnings ("remote cache not used").
fn restore_with(
    what: &str,
    cache: &str,
    inputs: &KeyInputs,
    staged: &Path,
    stamp_path: &Path,
    fetch: &dyn Fn(&str) -> Result<Fetched, RemoteError>,
) -> Restore {
    let key = inputs.key();
    // Restoring replaces `staged`: the old stamp must not outlive it.
    if let Err(e) = std::fs::remove_file(stamp_path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        let reason = format!("{cache} not used: cannot invalidate {}: {e}", stamp_path.display());
        return Restore::NotRestored {
            warning: Some(reason.clone()),
            reason,
        };
    }
    match fetch(&key) {
        Ok(Fetched::Hit(out)) => {
            crate::fault::point("restore-swapped");
            let stamp = Stamp {
                key,
                inputs: inputs.clone(),
                output_digest: out.output_digest.clone(),
                duration_ms: out.duration_ms,
                fingerprint: key::fingerprint(staged).unwrap_or_default(),
            };
            match key::write_stamp(stamp_path, &stamp) {
                Ok(()) => Restore::Restored {
                    reason: Fetched::Hit(out.clone()).describe_as(what),
                    digest: out.output_digest,
                    duration_ms: out.duration_ms,
                },
                Err(e) => {
                    let reason = format!("{what} hit, but the stamp could not be written: {e}");
                    Restore::NotRestored {
                        warning: Some(reason.clone()),
                        reason,
                    }
                }
            }
        }
        Ok(other) => Restore::NotRestored {
            reason: other.describe_as(what),
            warning: other.warning_as(what),
        },
        Err(e) => {
            let reason = format!("{cache} not used: {e}");
            Restore::NotRestored {
                warning: Some(reason.clone()),
                reason,
            }
        }
    }
}

impl RemoteWriter {
    /// Queues the upload of a package just built (write-behind).
    pub fn submit_built(&self, name: &str, target: &str, key: &str, staged: &Path, digest: &str) {
        self.submit(&format!("{name}@{target}"), key, staged.to_path_buf(), digest);
    }
}
