//! A cache of parsed recipes, so that loading a large tree does not pay the
//! KDL parser again for files that did not change.
//!
//! The `kdl` crate parses about 2 MB/s (≈ 0.4 ms for a typical recipe), which
//! dominates loading thousands of recipes. Each recipe that parsed without
//! errors is stored with the sha256 of its text; on the next load a file with
//! the same hash is taken from the cache. The cache is one JSON file per
//! recipes directory under `<cache>/parsed/`, stamped with the format, the
//! crate version and the running executable (size and modification time), so
//! a rebuilt binary whose raw model changed never reads an old entry. Broken
//! recipes are never cached: their diagnostics come from a fresh parse. Any
//! problem reading or writing the cache only means a slower load.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::raw::RawRecipe;

const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Entry {
    sha256: String,
    recipe: RawRecipe,
}

#[derive(Serialize, Deserialize, Default)]
struct Stored {
    stamp: String,
    entries: HashMap<String, Entry>,
}

pub struct ParseCache {
    file: PathBuf,
    stamp: String,
    old: HashMap<String, Entry>,
}

/// Hex sha256 of a recipe's text: the cache key of its parse.
pub fn text_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn stamp() -> String {
    let exe = std::env::current_exe()
        .and_then(std::fs::metadata)
        .map(|m| {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{}:{mtime}", m.len())
        })
        .unwrap_or_default();
    format!("{FORMAT}:{}:{exe}", env!("CARGO_PKG_VERSION"))
}

impl ParseCache {
    /// Opens the cache of `recipes_dir` under `cache_dir` (empty when absent,
    /// stale or unreadable).
    pub fn open(cache_dir: &Path, recipes_dir: &Path) -> ParseCache {
        let key = text_hash(&recipes_dir.display().to_string());
        let file = cache_dir.join("parsed").join(format!("{}.json", &key[..16]));
        let stamp = stamp();
        let old = std::fs::read(&file)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Stored>(&bytes).ok())
            .filter(|s| s.stamp == stamp)
            .map(|s| s.entries)
            .unwrap_or_default();
        ParseCache { file, stamp, old }
    }

    /// The cached parse of recipe `name` if its text still hashes to `sha256`.
    /// `file` and `dir` are left empty for the caller to fill in.
    pub fn get(&self, name: &str, sha256: &str) -> Option<RawRecipe> {
        self.old
            .get(name)
            .filter(|e| e.sha256 == sha256)
            .map(|e| e.recipe.clone())
    }

    /// Replaces the stored cache with exactly `current` (name, hash, recipe),
    /// unless nothing changed. Written atomically; failures are ignored.
    pub fn store<'a>(self, current: impl IntoIterator<Item = (&'a str, &'a str, &'a RawRecipe)>) {
        let current: Vec<_> = current.into_iter().collect();
        let unchanged = current.len() == self.old.len()
            && current
                .iter()
                .all(|(name, hash, _)| self.old.get(*name).is_some_and(|e| e.sha256 == *hash));
        if unchanged {
            return;
        }
        #[derive(Serialize)]
        struct EntryRef<'a> {
            sha256: &'a str,
            recipe: &'a RawRecipe,
        }
        #[derive(Serialize)]
        struct StoredRef<'a> {
            stamp: &'a str,
            entries: HashMap<&'a str, EntryRef<'a>>,
        }
        let stored = StoredRef {
            stamp: &self.stamp,
            entries: current
                .into_iter()
                .map(|(name, sha256, recipe)| (name, EntryRef { sha256, recipe }))
                .collect(),
        };
        let Some(dir) = self.file.parent() else { return };
        let tmp = self.file.with_extension(format!("json.{}.tmp", std::process::id()));
        let written = std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::File::create(&tmp))
            .and_then(|f| {
                let mut w = std::io::BufWriter::new(f);
                serde_json::to_writer(&mut w, &stored).map_err(std::io::Error::other)?;
                std::io::Write::flush(&mut w)
            })
            .and_then(|()| std::fs::rename(&tmp, &self.file));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::project::{Project, ProjectPaths};

    fn write(root: &std::path::Path, name: &str, text: &str) {
        let dir = root.join("recipes").join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("recipe.kdl"), text).expect("write");
    }

    fn load(root: &std::path::Path) -> Project {
        let paths = ProjectPaths::from_recipes_dir(&root.join("recipes"));
        Project::load_with_cache(paths, Some(&root.join("cache"))).expect("loads")
    }

    #[test]
    fn cached_recipes_equal_fresh_ones_and_changes_invalidate() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        let text = "package a {\n    version \"1\"\n}\nsource \"https://h/a-{{ version }}.tar.gz\" {\n    sha256 \"\"\n    strip-components 2\n}\ndepends b\nbuild make {\n    make \"X=1\"\n    env CC=\"gcc\"\n}\ntest {\n    run \"true\"\n}\n";
        write(root, "a", text);
        write(
            root,
            "b",
            "package b { version \"2\" }\nbuild script { step \"true\" }\n",
        );
        write(root, "broken", "package broken {\n}\n");
        let fresh = load(root);
        assert!(root.join("cache/parsed").read_dir().expect("cache written").count() == 1);
        let cached = load(root);
        assert_eq!(format!("{:?}", fresh.recipes), format!("{:?}", cached.recipes));
        assert_eq!(cached.broken.len(), 1, "broken recipes are parsed again, not cached");

        // The second load really reads the cache: a tampered entry shows through.
        let file = root
            .join("cache/parsed")
            .read_dir()
            .expect("dir")
            .next()
            .expect("file")
            .expect("entry")
            .path();
        let json = std::fs::read_to_string(&file).expect("read");
        let tampered = json.replace(r#""version":{"value":"1""#, r#""version":{"value":"from-cache""#);
        assert_ne!(json, tampered);
        std::fs::write(&file, tampered).expect("write");
        assert_eq!(load(root).recipes["a"].version.value, "from-cache");
        std::fs::write(&file, json).expect("restore");

        write(
            root,
            "b",
            "package b { version \"3\" }\nbuild script { step \"true\" }\n",
        );
        let changed = load(root);
        assert_eq!(changed.recipes["b"].version.value, "3");
        assert_eq!(
            format!("{:?}", changed.recipes["a"]),
            format!("{:?}", fresh.recipes["a"])
        );
    }
}
