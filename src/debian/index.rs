//! A suite's package index for one architecture, downloaded and verified:
//! `InRelease` (gpgv when present) → sha256 of `main/binary-<arch>/Packages.xz`
//! → parsed entries, highest version first.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use super::DebianError;
use super::control::{PackageEntry, clearsigned_body, parse_packages, release_sha256};
use super::http::download_unverified;
use super::version::DebVersion;
use crate::fetch::{FetchContext, download_sized};

/// Debian's archive keyring as shipped by `debian-archive-keyring`.
pub const DEFAULT_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";
/// How long a downloaded InRelease is trusted before it is fetched again:
/// mirrors drop superseded .debs, so a very old index leads to 404s.
const INDEX_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// Where the archive is and where its indexes are cached.
#[derive(Debug, Clone)]
pub struct Archive {
    pub uri: String,
    /// `<cache>/debian`
    pub cache: PathBuf,
    /// Fetch InRelease again even when a recent copy is cached.
    pub refresh: bool,
    /// Never touch the network: use cached indexes whatever their age.
    pub offline: bool,
}

impl Archive {
    /// The archive URI comes from `RECIPE_DEBIAN_MIRROR`, the user config or
    /// the machine's apt sources (see `crate::fetch::debian_mirror`).
    pub fn new(fetch: &FetchContext, cache_root: &Path, refresh: bool) -> Result<Archive, DebianError> {
        Ok(Archive {
            uri: fetch
                .debian_archive()
                .ok_or(DebianError::NoMirror)?
                .trim_end_matches('/')
                .to_string(),
            cache: cache_root.join("debian"),
            refresh,
            offline: fetch.offline,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.uri, path.trim_start_matches('/'))
    }
}

pub struct PackageIndex {
    pub suite: String,
    pub arch: String,
    /// Every version of each package, highest first.
    pub packages: HashMap<String, Vec<PackageEntry>>,
    /// Virtual name → (provider, provided version).
    pub provides: HashMap<String, Vec<(String, Option<String>)>>,
}

impl PackageIndex {
    pub fn from_entries(suite: &str, arch: &str, entries: Vec<PackageEntry>) -> PackageIndex {
        let mut packages: HashMap<String, Vec<PackageEntry>> = HashMap::new();
        let mut provides: HashMap<String, Vec<(String, Option<String>)>> = HashMap::new();
        for e in entries {
            for group in super::control::relations(&e.provides) {
                for p in group {
                    let entry = (e.name.clone(), p.constraint.map(|(_, v)| v));
                    let list = provides.entry(p.name).or_default();
                    if !list.contains(&entry) {
                        list.push(entry);
                    }
                }
            }
            packages.entry(e.name.clone()).or_default().push(e);
        }
        for versions in packages.values_mut() {
            versions.sort_by_cached_key(|e| std::cmp::Reverse(DebVersion::parse(&e.version)));
        }
        PackageIndex {
            suite: suite.to_string(),
            arch: arch.to_string(),
            packages,
            provides,
        }
    }

    /// Downloads (or reuses) and parses the index of `suite`/`arch`.
    pub fn load(
        archive: &Archive,
        fetch: &FetchContext,
        suite: &str,
        arch: &str,
        log: &Path,
    ) -> Result<PackageIndex, DebianError> {
        let dir = archive.cache.join("dists").join(suite);
        let release = fetch_inrelease(archive, fetch, suite, &dir, log)?;
        let body = std::fs::read_to_string(&release)
            .map_err(|e| DebianError::io(format!("cannot read {}", release.display()), e))?;
        let body = clearsigned_body(&body).ok_or_else(|| DebianError::NotClearsigned {
            file: release.display().to_string(),
        })?;
        let path = format!("main/binary-{arch}/Packages.xz");
        let entry = release_sha256(&body)
            .into_iter()
            .find(|f| f.path == path)
            .ok_or_else(|| DebianError::NoIndexEntry {
                suite: suite.to_string(),
                path: path.clone(),
            })?;
        // by-hash URLs stay valid while the mirror swaps in a new index; the
        // plain path is the fail-over for mirrors without them.
        let mut urls = Vec::new();
        if body.lines().any(|l| l.trim() == "Acquire-By-Hash: yes") {
            urls.push(archive.url(&format!(
                "dists/{suite}/main/binary-{arch}/by-hash/SHA256/{}",
                entry.sha256
            )));
        }
        urls.push(archive.url(&format!("dists/{suite}/{path}")));
        let size = Some(entry.size).filter(|s| *s > 0);
        let local = download_sized(
            fetch,
            &urls,
            &entry.sha256,
            &format!("Packages-{suite}-{arch}.xz"),
            size,
        )
        .map_err(|e| DebianError::Download {
            url: urls.join(", "),
            message: e.to_string(),
        })?;
        let text = decompress_xz(&local)?;
        Ok(PackageIndex::from_entries(suite, arch, parse_packages(&text)))
    }

    /// The highest version of a real (non-virtual) package.
    pub fn best(&self, name: &str) -> Option<&PackageEntry> {
        self.packages.get(name).and_then(|v| v.first())
    }
}

fn decompress_xz(path: &Path) -> Result<String, DebianError> {
    let err = |source| DebianError::Decompress {
        file: path.display().to_string(),
        source,
    };
    let f = std::fs::File::open(path).map_err(err)?;
    let mut text = String::new();
    lzma_rust2::XzReader::new(std::io::BufReader::new(f), true)
        .read_to_string(&mut text)
        .map_err(err)?;
    Ok(text)
}

fn fresh(path: &Path) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age < INDEX_MAX_AGE)
}

/// Returns the path of a verified InRelease for `suite`, downloading it when
/// missing, stale or `refresh` is set. A failed refresh falls back to the
/// cached copy so offline work keeps going.
fn fetch_inrelease(
    archive: &Archive,
    fetch: &FetchContext,
    suite: &str,
    dir: &Path,
    log: &Path,
) -> Result<PathBuf, DebianError> {
    let local = dir.join("InRelease");
    if (!archive.refresh && fresh(&local)) || (archive.offline && local.is_file()) {
        return Ok(local);
    }
    if archive.offline {
        return Err(DebianError::Download {
            url: archive.url(&format!("dists/{suite}/InRelease")),
            message: "offline and not cached".into(),
        });
    }
    let tmp = dir.join(format!("InRelease.new{}", std::process::id()));
    let result = download_unverified(fetch, &archive.url(&format!("dists/{suite}/InRelease")), &tmp)
        .and_then(|()| verify_signature(&tmp, log))
        .and_then(|()| {
            std::fs::rename(&tmp, &local)
                .map_err(|e| DebianError::io(format!("cannot rename to {}", local.display()), e))
        });
    match result {
        Ok(()) => Ok(local),
        Err(e @ DebianError::Signature { .. }) => Err(e),
        Err(e) if local.is_file() => {
            eprintln!("warning: cannot refresh the {suite} index ({e}); using the cached copy");
            Ok(local)
        }
        Err(e) => Err(e),
    }
}

/// Checks the InRelease signature with `gpgv` when both gpgv and a keyring
/// exist (Debian-family hosts); elsewhere the sha256 chain from InRelease to
/// each .deb still detects corruption, but not a malicious mirror, and we say so.
fn verify_signature(file: &Path, log: &Path) -> Result<(), DebianError> {
    let keyring = std::env::var("RECIPE_DEBIAN_KEYRING").unwrap_or_else(|_| DEFAULT_KEYRING.to_string());
    let gpgv = ["/usr/bin/gpgv", "/bin/gpgv"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.is_file());
    let Some(gpgv) = gpgv.filter(|_| Path::new(&keyring).is_file()) else {
        eprintln!("warning: gpgv or {keyring} not found; archive signatures are not checked (hashes still are)");
        return Ok(());
    };
    if let Some(dir) = log.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| DebianError::io(format!("cannot open {}", log.display()), e))?;
    let err = out
        .try_clone()
        .map_err(|e| DebianError::io(format!("cannot open {}", log.display()), e))?;
    // gpgv needs no home directory for a plain keyring check; an empty
    // environment keeps user gpg settings out.
    let status = Command::new(gpgv)
        .env_clear()
        .env("LANG", "C")
        .arg("--keyring")
        .arg(&keyring)
        .arg(file)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .map_err(|e| DebianError::io(format!("cannot run {}", gpgv.display()), e))?;
    if status.success() {
        Ok(())
    } else {
        Err(DebianError::Signature {
            file: file.display().to_string(),
            keyring,
            log: log.display().to_string(),
        })
    }
}
