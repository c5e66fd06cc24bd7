//! Build keys and stamps: what a package's result depends on, and whether the
//! recorded result still matches. Dependencies enter a key through the digest
//! of their staged output, so a rebuild with identical output stops there
//! (early cutoff).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::digest::{fingerprint, fingerprint_except, sha256_file};
use sha2::{Digest, Sha256};

/// Bumped when builders change in ways that change outputs, so no stamp,
/// local store or remote cache entry from before is taken for a new output.
/// 5: target outputs carry their license files (entries stored before had
/// none, and their restores published no licenses).
/// 6: PEP 517 backends get the target's CMake/Meson cross configuration and
/// no `$DESTDIR` (scikit-build-core's install went there, not into the wheel).
/// 7: C++ extensions' manylinux tags account for their libstdc++ symbol
/// versions (entries from 6 carry too old a tag).
/// 8: target C and C++ code is compiled at `-O2` (entries from 7 were built
/// at gcc's default `-O0` unless the package chose a level itself).
pub const BUILDER_VERSION: &str = "8";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInputs {
    /// The rendered recipe as JSON.
    pub recipe: serde_json::Value,
    /// Patch files and path sources: path relative to the recipe dir → sha256.
    pub files: BTreeMap<String, String>,
    /// Identity of the toolchain + sysroot for the target.
    pub toolchain: String,
    /// Dependency (`name@target`) → digest of its staged output.
    pub deps: BTreeMap<String, String>,
    pub builder: String,
}

impl KeyInputs {
    pub fn key(&self) -> String {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(&bytes))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stamp {
    pub key: String,
    pub inputs: KeyInputs,
    pub output_digest: String,
    pub duration_ms: u64,
    /// [`fingerprint`] of the staged output when it was stamped: a cheap
    /// check that nothing changed it since (an edit through a hard link,
    /// a half-finished swap).
    #[serde(default)]
    pub fingerprint: String,
}

pub fn stamp_path(build_root: &Path, target: &str, name: &str) -> PathBuf {
    build_root.join(target).join(".stamps").join(format!("{name}.json"))
}

pub fn read_stamp(path: &Path) -> Option<Stamp> {
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Written last, atomically: an interrupted build leaves no stamp.
pub fn write_stamp(path: &Path, stamp: &Stamp) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(stamp).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Digest of a file or directory tree: relative paths, types, the executable
/// bit, contents and symlink targets. Timestamps and owners are left out so
/// identical builds give identical digests.
///
/// A host tool's output records the prefix it was configured for (see
/// [`crate::outputs::relocate`]); that prefix is hashed as a placeholder, so the same
/// tool built in two build trees has one digest.
pub fn tree_digest(root: &Path) -> std::io::Result<String> {
    let mut h = Sha256::new();
    let meta = std::fs::symlink_metadata(root)?;
    if meta.is_file() {
        h.update(b"F");
        h.update(sha256_file(root)?.as_bytes());
        return Ok(hex::encode(h.finalize()));
    }
    let prefix = crate::outputs::relocate::recorded_prefix(root).map_err(std::io::Error::other)?;
    let file_digest = |path: &Path| match &prefix {
        Some(p) => sha256_file_normalized(path, p.as_bytes()),
        None => sha256_file(path),
    };
    for (path, meta) in crate::digest::sorted_entries(root, &[])? {
        let ft = meta.file_type();
        let rel = path.strip_prefix(root).unwrap_or(&path);
        h.update(rel.as_os_str().as_encoded_bytes());
        h.update([0]);
        if ft.is_symlink() {
            h.update(b"L");
            let target = std::fs::read_link(&path)?;
            let bytes = target.as_os_str().as_encoded_bytes();
            match &prefix {
                Some(p) => h.update(crate::outputs::relocate::replace_all(
                    bytes,
                    p.as_bytes(),
                    PREFIX_PLACEHOLDER,
                )),
                None => h.update(bytes),
            }
        } else if ft.is_dir() {
            h.update(b"D");
        } else {
            use std::os::unix::fs::PermissionsExt;
            let exec = std::fs::metadata(&path)?.permissions().mode() & 0o111 != 0;
            h.update(if exec { b"X" } else { b"F" });
            h.update(file_digest(&path)?.as_bytes());
        }
        h.update([0]);
    }
    Ok(hex::encode(h.finalize()))
}

const PREFIX_PLACEHOLDER: &[u8] = b"<prefix>";

/// sha256 of a file's content with every `needle` read as the placeholder,
/// streaming (a match may straddle two reads).
fn sha256_file_normalized(path: &Path, needle: &[u8]) -> std::io::Result<String> {
    if needle.is_empty() {
        return sha256_file(path);
    }
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut window: Vec<u8> = Vec::new();
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        window.extend_from_slice(&buf[..n]);
        let mut at = 0;
        while let Some(pos) = memchr::memmem::find(&window[at..], needle) {
            h.update(&window[at..at + pos]);
            h.update(PREFIX_PLACEHOLDER);
            at += pos + needle.len();
        }
        // Keep what could be the start of a match continuing in the next read.
        let keep_from = at.max(window.len().saturating_sub(needle.len() - 1));
        h.update(&window[at..keep_from]);
        window.drain(..keep_from);
    }
    h.update(&window);
    Ok(hex::encode(h.finalize()))
}

/// Why `new` differs from the recorded `old`, in words, for `--explain`.
pub fn explain(old: Option<&KeyInputs>, new: &KeyInputs) -> Vec<String> {
    let Some(old) = old else {
        return vec!["never built (no stamp)".to_string()];
    };
    let mut why = Vec::new();
    let mut paths = Vec::new();
    json_diff("", &old.recipe, &new.recipe, &mut paths);
    for p in paths.iter().take(5) {
        why.push(format!("recipe changed: {p}"));
    }
    if paths.len() > 5 {
        why.push(format!("… and {} more recipe changes", paths.len() - 5));
    }
    map_diff("file", &old.files, &new.files, &mut why);
    if old.toolchain != new.toolchain {
        why.push("toolchain or sysroot changed".to_string());
    }
    for (dep, digest) in &new.deps {
        match old.deps.get(dep) {
            None => why.push(format!("new dependency {dep}")),
            Some(d) if d != digest => why.push(format!("dependency {dep} produced different output")),
            _ => {}
        }
    }
    for dep in old.deps.keys().filter(|d| !new.deps.contains_key(*d)) {
        why.push(format!("dependency {dep} removed"));
    }
    if old.builder != new.builder {
        why.push(format!("builder version {} → {}", old.builder, new.builder));
    }
    if why.is_empty() {
        why.push("inputs unchanged".to_string());
    }
    why
}

fn map_diff(what: &str, old: &BTreeMap<String, String>, new: &BTreeMap<String, String>, why: &mut Vec<String>) {
    for (k, v) in new {
        match old.get(k) {
            None => why.push(format!("{what} {k} added")),
            Some(o) if o != v => why.push(format!("{what} {k} changed")),
            _ => {}
        }
    }
    for k in old.keys().filter(|k| !new.contains_key(*k)) {
        why.push(format!("{what} {k} removed"));
    }
}

fn json_diff(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (x.get(k), y.get(k)) {
                    (Some(va), Some(vb)) => json_diff(&p, va, vb, out),
                    _ => out.push(p),
                }
            }
        }
        _ if a != b => out.push(if path.is_empty() { "(root)".into() } else { path.into() }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> KeyInputs {
        KeyInputs {
            recipe: serde_json::json!({"version": "1", "build": {"options": {"configure": ["--a"]}}}),
            files: BTreeMap::from([("patches/a.patch".into(), "aa".into())]),
            toolchain: "t1".into(),
            deps: BTreeMap::from([("libuv@armv7hf".into(), "d1".into())]),
            builder: BUILDER_VERSION.into(),
        }
    }

    #[test]
    fn key_changes_with_any_input() {
        let a = inputs();
        let mut b = a.clone();
        assert_eq!(a.key(), b.key());
        b.deps.insert("libuv@armv7hf".into(), "d2".into());
        assert_ne!(a.key(), b.key());
    }

    #[test]
    fn explain_names_the_change() {
        let a = inputs();
        let mut b = a.clone();
        b.recipe["build"]["options"]["configure"] = serde_json::json!(["--b"]);
        b.deps.insert("libuv@armv7hf".into(), "d2".into());
        let why = explain(Some(&a), &b);
        assert!(
            why.iter().any(|w| w == "recipe changed: build.options.configure"),
            "{why:?}"
        );
        assert!(why.iter().any(|w| w.contains("libuv@armv7hf")), "{why:?}");
        assert_eq!(explain(None, &b), ["never built (no stamp)"]);
    }

    #[test]
    fn tree_digest_ignores_mtime_but_not_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("a");
        std::fs::write(&f, "x").expect("write");
        let d1 = tree_digest(dir.path()).expect("digest");
        std::fs::write(&f, "x").expect("rewrite");
        assert_eq!(d1, tree_digest(dir.path()).expect("digest"));
        std::fs::write(&f, "y").expect("write");
        assert_ne!(d1, tree_digest(dir.path()).expect("digest"));
    }
}
