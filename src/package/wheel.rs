//! Wheel files (PEP 427 / binary distribution format): deterministic zip,
//! `.dist-info` with METADATA, WHEEL and RECORD.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use sha2::{Digest, Sha256};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum WheelError {
    #[error("cannot write wheel {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("zip error in {path}: {source}")]
    Zip {
        path: String,
        #[source]
        source: zip::result::ZipError,
    },
    #[error("{path}: {problem}")]
    Invalid { path: String, problem: String },
}

#[derive(Clone)]
pub struct WheelEntry {
    pub path: String,
    pub data: Vec<u8>,
    pub executable: bool,
}

/// PEP 427 escaping of the distribution name for file names.
pub fn escape_name(name: &str) -> String {
    let mut out = String::new();
    let mut last_sep = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '.' {
            out.push(c);
            last_sep = false;
        } else if !last_sep {
            out.push('_');
            last_sep = true;
        }
    }
    out.replace('.', "_")
}

pub fn record_hash(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    format!(
        "sha256={}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

/// Every tag of a (possibly compressed) tag set, `py3-none-a.b` →
/// `py3-none-a`, `py3-none-b`.
pub fn expand_tags(tag: &str) -> Vec<String> {
    let mut parts = tag.splitn(3, '-');
    let (Some(py), Some(abi), Some(plat)) = (parts.next(), parts.next(), parts.next()) else {
        return vec![tag.to_string()];
    };
    let mut out = Vec::new();
    for p in py.split('.') {
        for a in abi.split('.') {
            for pl in plat.split('.') {
                out.push(format!("{p}-{a}-{pl}"));
            }
        }
    }
    out
}

/// The wheel's file name: `{name}-{version}-{python}-{abi}-{platform}.whl`.
pub fn file_name(name: &str, version: &str, tag: &str) -> String {
    format!("{}-{}-{}.whl", escape_name(name), version, tag)
}

/// Writes a wheel with entries sorted and timestamps fixed, so the same
/// inputs always give the same bytes.
pub fn write(
    out: &Path,
    name: &str,
    version: &str,
    tag: &str,
    metadata: &str,
    mut entries: Vec<WheelEntry>,
) -> Result<PathBuf, WheelError> {
    let dist_info = format!("{}-{}.dist-info", escape_name(name), version);
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    // One `Tag:` line per tag of a compressed set (`py3-none-a.b` is two).
    let mut wheel_meta = format!(
        "Wheel-Version: 1.0\nGenerator: recipe {}\nRoot-Is-Purelib: false\n",
        env!("CARGO_PKG_VERSION")
    );
    for t in expand_tags(tag) {
        wheel_meta.push_str(&format!("Tag: {t}\n"));
    }
    entries.push(WheelEntry {
        path: format!("{dist_info}/METADATA"),
        data: metadata.as_bytes().to_vec(),
        executable: false,
    });
    entries.push(WheelEntry {
        path: format!("{dist_info}/WHEEL"),
        data: wheel_meta.into_bytes(),
        executable: false,
    });
    let mut record = String::new();
    for e in &entries {
        record.push_str(&format!(
            "{},{},{}\n",
            csv_field(&e.path),
            record_hash(&e.data),
            e.data.len()
        ));
    }
    record.push_str(&format!("{dist_info}/RECORD,,\n"));
    entries.push(WheelEntry {
        path: format!("{dist_info}/RECORD"),
        data: record.into_bytes(),
        executable: false,
    });

    let path = out.join(file_name(name, version, tag));
    let werr = |source| WheelError::Write {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(out).map_err(werr)?;
    let tmp = path.with_extension("whl.tmp");
    let file = std::fs::File::create(&tmp).map_err(werr)?;
    let mut zip = zip::ZipWriter::new(file);
    // 1980-01-01: the zip epoch; reproducible regardless of build time.
    let when = zip::DateTime::default();
    for e in &entries {
        let mode = if e.executable { 0o755 } else { 0o644 };
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(when)
            .unix_permissions(mode);
        zip.start_file(e.path.as_str(), opts)
            .map_err(|source| WheelError::Zip {
                path: path.display().to_string(),
                source,
            })?;
        zip.write_all(&e.data).map_err(werr)?;
    }
    zip.finish().map_err(|source| WheelError::Zip {
        path: path.display().to_string(),
        source,
    })?;
    std::fs::rename(&tmp, &path).map_err(werr)?;
    Ok(path)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Reads every member of a wheel: (path, bytes, unix mode).
pub fn read_entries(wheel: &Path) -> Result<Vec<(String, Vec<u8>, u32)>, WheelError> {
    let zerr = |source| WheelError::Zip {
        path: wheel.display().to_string(),
        source,
    };
    let file = std::fs::File::open(wheel).map_err(|source| WheelError::Write {
        path: wheel.display().to_string(),
        source,
    })?;
    let mut archive = zip::ZipArchive::new(file).map_err(zerr)?;
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).map_err(zerr)?;
        let zerr = |source| WheelError::Zip {
            path: wheel.display().to_string(),
            source,
        };
        let mut data = Vec::new();
        f.read_to_end(&mut data).map_err(|source| WheelError::Write {
            path: wheel.display().to_string(),
            source,
        })?;
        let name = f.name().map_err(zerr)?.into_owned();
        out.push((name, data, f.unix_mode().unwrap_or(0o644)));
    }
    Ok(out)
}

/// Checks that RECORD lists every member (as read by [`read_entries`]) with
/// the right hash and size.
pub fn check_record(wheel: &Path, entries: &[(String, Vec<u8>, u32)]) -> Result<usize, WheelError> {
    let invalid = |problem: String| WheelError::Invalid {
        path: wheel.display().to_string(),
        problem,
    };
    let record = entries
        .iter()
        .find(|(p, _, _)| p.ends_with(".dist-info/RECORD"))
        .ok_or_else(|| invalid("no .dist-info/RECORD".into()))?;
    let text = String::from_utf8_lossy(&record.1).into_owned();
    let mut listed = std::collections::BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let mut parts = line.rsplitn(3, ',');
        let size = parts.next().unwrap_or("");
        let hash = parts.next().unwrap_or("");
        let path = parts.next().unwrap_or("").trim_matches('"');
        listed.insert(path.to_string(), (hash.to_string(), size.to_string()));
    }
    for (path, data, _) in entries {
        if path == &record.0 {
            continue;
        }
        let (hash, size) = listed
            .get(path)
            .ok_or_else(|| invalid(format!("{path} is not listed in RECORD")))?;
        if hash != &record_hash(data) || size != &data.len().to_string() {
            return Err(invalid(format!("RECORD hash or size of {path} does not match")));
        }
    }
    if listed.len() != entries.len() {
        return Err(invalid("RECORD lists files that are not in the wheel".into()));
    }
    Ok(entries.len())
}

/// Unpacks a wheel the way an installer would (without pip), for
/// PYTHONPATH: every member below `site`, none outside it.
pub fn unpack_into(wheel: &Path, site: &Path) -> Result<(), WheelError> {
    let invalid = |problem: String| WheelError::Invalid {
        path: wheel.display().to_string(),
        problem,
    };
    let write = |source: std::io::Error| WheelError::Write {
        path: site.display().to_string(),
        source,
    };
    for (name, data, mode) in read_entries(wheel)? {
        if name.starts_with('/') || name.split('/').any(|c| c == "..") {
            return Err(invalid(format!("unsafe path {name}")));
        }
        // Directory entries (some wheels have them) are made as needed.
        if name.ends_with('/') {
            continue;
        }
        let dest = site.join(&name);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(write)?;
        }
        std::fs::write(&dest, data).map_err(write)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode & 0o777 | 0o600)).map_err(write)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_tag_sets_expand_to_every_tag() {
        assert_eq!(expand_tags("py3-none-any"), ["py3-none-any"]);
        assert_eq!(
            expand_tags("py3-none-manylinux_2_34_aarch64.manylinux_2_34_x86_64"),
            ["py3-none-manylinux_2_34_aarch64", "py3-none-manylinux_2_34_x86_64"]
        );
        assert_eq!(expand_tags("py2.py3-none-a"), ["py2-none-a", "py3-none-a"]);
        assert_eq!(expand_tags("garbage"), ["garbage"]);
    }

    #[test]
    fn names_are_escaped() {
        assert_eq!(escape_name("dqlitepy"), "dqlitepy");
        assert_eq!(escape_name("my-pkg.name"), "my_pkg_name");
        assert_eq!(file_name("a-b", "1.0", "py3-none-any"), "a_b-1.0-py3-none-any.whl");
    }

    #[test]
    fn written_wheels_verify_and_are_reproducible() {
        let dir = tempfile::tempdir().expect("tempdir");
        let entries = || {
            vec![WheelEntry {
                path: "pkg/__init__.py".into(),
                data: b"x = 1\n".to_vec(),
                executable: false,
            }]
        };
        let meta = "Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n";
        let a = write(&dir.path().join("a"), "pkg", "1.0", "py3-none-any", meta, entries()).expect("write");
        let b = write(&dir.path().join("b"), "pkg", "1.0", "py3-none-any", meta, entries()).expect("write");
        assert_eq!(std::fs::read(&a).expect("a"), std::fs::read(&b).expect("b"));
        let entries = read_entries(&a).expect("read");
        assert_eq!(check_record(&a, &entries).expect("valid"), 4);
    }
}
