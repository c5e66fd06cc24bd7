//! Each package's last build time on this machine, kept in the cache
//! beside the build trees (`timings/<target>/<name>`, milliseconds as
//! text). Stamps live in one build tree; this is what ranks jobs in a tree
//! that has none yet (a new `--build-dir`, a CI checkout), where the
//! longest chain would otherwise be guessed. Only a hint: a missing,
//! unreadable or absurd record counts as unknown, and failing to write one
//! never fails a build.

use std::path::{Path, PathBuf};

use crate::plan::graph::NodeId;

/// Longer than any build: a record above it is not believed.
const MAX_MS: u64 = 7 * 24 * 3600 * 1000;

pub(crate) struct History {
    dir: PathBuf,
}

impl History {
    pub(crate) fn new(dir: &Path) -> History {
        History { dir: dir.to_path_buf() }
    }

    fn path(&self, id: &NodeId) -> Option<PathBuf> {
        let plain = |s: &str| !s.is_empty() && !s.starts_with('.') && !s.contains(['/', '\0']);
        (plain(&id.target) && plain(&id.name)).then(|| self.dir.join(&id.target).join(&id.name))
    }

    pub(crate) fn last_ms(&self, id: &NodeId) -> Option<u64> {
        let text = std::fs::read_to_string(self.path(id)?).ok()?;
        text.trim().parse::<u64>().ok().filter(|ms| *ms <= MAX_MS)
    }

    /// Best effort: written whole through a rename, so a reader never sees
    /// half a number.
    pub(crate) fn record(&self, id: &NodeId, ms: u64) {
        let Some(path) = self.path(id) else { return };
        let Some(dir) = path.parent() else { return };
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            std::io::Write::write_all(&mut tmp, format!("{ms}\n").as_bytes())?;
            tmp.persist(&path).map_err(|e| e.error)?;
            Ok(())
        };
        let _ = write();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str, target: &str) -> NodeId {
        NodeId {
            name: name.into(),
            target: target.into(),
        }
    }

    #[test]
    fn records_and_reads_back_per_target() {
        let dir = tempfile::tempdir().expect("tempdir");
        let h = History::new(dir.path());
        assert_eq!(h.last_ms(&id("sqlite", "armv7hf")), None);
        h.record(&id("sqlite", "armv7hf"), 31_000);
        h.record(&id("sqlite", "armv7hf"), 30_500);
        assert_eq!(h.last_ms(&id("sqlite", "armv7hf")), Some(30_500));
        assert_eq!(h.last_ms(&id("sqlite", "aarch64")), None);
    }

    #[test]
    fn distrusts_what_it_did_not_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        let h = History::new(dir.path());
        std::fs::create_dir_all(dir.path().join("armv7hf")).expect("mkdir");
        for (name, text) in [("a", "fast"), ("b", "-5"), ("c", "99999999999999"), ("d", "")] {
            std::fs::write(dir.path().join("armv7hf").join(name), text).expect("write");
            assert_eq!(h.last_ms(&id(name, "armv7hf")), None, "{text:?}");
        }
        // Names that would leave the directory are neither read nor written.
        h.record(&id("../escape", "armv7hf"), 5);
        h.record(&id("x", ".."), 5);
        assert!(!dir.path().join("escape").exists() && !dir.path().join("x").exists());
        assert_eq!(h.last_ms(&id("../escape", "armv7hf")), None);
    }
}
