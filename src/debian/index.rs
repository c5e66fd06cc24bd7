//! A suite's package index for one architecture, downloaded and verified:
//! `InRelease` (gpgv; fails closed without it) → sha256 of `main/binary-<arch>/Packages.xz`
//! → parsed entries, highest version first.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use super::DebianError;
use super::control::{PackageEntry, clearsigned_body, parse_packages, release_sha256};
use super::version::DebVersion;
use crate::fetch::{FetchContext, download_sized};

/// Refused beyond this size (Debian's largest InRelease is well under 1 MiB).
const MAX_INRELEASE_BYTES: u64 = 16 * 1024 * 1024;

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
    /// Keyring for `InRelease` signatures (default [`DEFAULT_KEYRING`]).
    pub keyring: Option<PathBuf>,
    /// Accept indexes whose signature cannot be checked.
    pub allow_unsigned: bool,
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
            keyring: fetch.mirrors.debian_keyring.clone(),
            allow_unsigned: fetch.mirrors.debian_allow_unsigned,
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
        let text = fetch_index(
            archive,
            fetch,
            suite,
            &format!("main/binary-{arch}/Packages.xz"),
            &format!("Packages-{suite}-{arch}.xz"),
            log,
        )?
        .text()?;
        Ok(PackageIndex::from_entries(suite, arch, parse_packages(&text)))
    }

    /// The highest version of a real (non-virtual) package.
    pub fn best(&self, name: &str) -> Option<&PackageEntry> {
        self.packages.get(name).and_then(|v| v.first())
    }
}

/// An index file as downloaded (still compressed), its content the one the
/// signed `InRelease` names by `sha256`.
pub struct VerifiedIndex {
    pub path: PathBuf,
    pub sha256: String,
}

impl VerifiedIndex {
    pub fn text(&self) -> Result<String, DebianError> {
        decompress_xz(&self.path)
    }
}

/// Downloads (or reuses) the xz index `path` of `suite` (e.g.
/// `main/source/Sources.xz`), verified through the signed `InRelease`;
/// `local_name` is its file name in the download cache. Still compressed:
/// a reader that keeps what it derives under the index's sha256 need not
/// decompress it again ([`VerifiedIndex::text`] does).
pub fn fetch_index(
    archive: &Archive,
    fetch: &FetchContext,
    suite: &str,
    path: &str,
    local_name: &str,
    log: &Path,
) -> Result<VerifiedIndex, DebianError> {
    let dir = archive.cache.join("dists").join(suite);
    std::fs::create_dir_all(&dir).map_err(|e| DebianError::io(format!("cannot create {}", dir.display()), e))?;
    let body = release_body(archive, fetch, suite, &dir, log)?;
    let entry = release_sha256(&body)
        .into_iter()
        .find(|f| f.path == path)
        .ok_or_else(|| DebianError::NoIndexEntry {
            suite: suite.to_string(),
            path: path.to_string(),
        })?;
    // by-hash URLs stay valid while the mirror swaps in a new index; the
    // plain path is the fail-over for mirrors without them.
    let mut urls = Vec::new();
    if body.lines().any(|l| l.trim() == "Acquire-By-Hash: yes") {
        let parent = path.rsplit_once('/').map_or("", |(d, _)| d);
        urls.push(archive.url(&format!("dists/{suite}/{parent}/by-hash/SHA256/{}", entry.sha256)));
    }
    urls.push(archive.url(&format!("dists/{suite}/{path}")));
    let size = Some(entry.size).filter(|s| *s > 0);
    let local = download_sized(fetch, &urls, &entry.sha256, local_name, size)?;
    Ok(VerifiedIndex {
        path: local,
        sha256: entry.sha256,
    })
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

/// How `InRelease` files are authenticated.
enum Verifier {
    Gpgv {
        program: PathBuf,
        keyring: PathBuf,
    },
    /// The user opted out: bodies are read unverified and never cached.
    Unsigned,
}

impl Verifier {
    /// gpgv and the keyring, or an error naming what is missing, unless
    /// the user allowed unsigned indexes.
    fn find(archive: &Archive) -> Result<Verifier, DebianError> {
        let keyring = archive
            .keyring
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_KEYRING));
        let program = ["/usr/bin/gpgv", "/bin/gpgv"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file());
        let missing = match (&program, keyring.is_file()) {
            (Some(program), true) => {
                return Ok(Verifier::Gpgv {
                    program: program.clone(),
                    keyring,
                });
            }
            (None, _) => ("gpgv".to_string(), "gpgv"),
            (Some(_), false) => (keyring.display().to_string(), "debian-archive-keyring"),
        };
        if archive.allow_unsigned {
            return Ok(Verifier::Unsigned);
        }
        Err(DebianError::NoVerifier {
            missing: missing.0,
            package: missing.1.to_string(),
        })
    }
}

/// Returns the signed body of `suite`'s `InRelease`: from the cache when a
/// verified copy is recent (or offline), else downloaded and verified. Only
/// verified bodies are cached; a failed refresh falls back to the cached one.
fn release_body(
    archive: &Archive,
    fetch: &FetchContext,
    suite: &str,
    dir: &Path,
    log: &Path,
) -> Result<String, DebianError> {
    let verified = dir.join("Release.verified");
    remove_leftovers(dir);
    if (!archive.refresh && fresh(&verified)) || (archive.offline && verified.is_file()) {
        return read_text(&verified);
    }
    if archive.offline {
        return Err(DebianError::Download {
            url: archive.url(&format!("dists/{suite}/InRelease")),
            message: "offline and not cached".into(),
        });
    }
    let verifier = Verifier::find(archive)?;
    let pid = std::process::id();
    let signed = dir.join(format!("InRelease.new{pid}"));
    let body_tmp = dir.join(format!("Release.new{pid}"));
    let urls = [archive.url(&format!("dists/{suite}/InRelease"))];
    let result = crate::fetch::download_to(fetch, &urls, "InRelease", MAX_INRELEASE_BYTES, &signed)
        .map_err(DebianError::from)
        .and_then(|()| match &verifier {
            Verifier::Gpgv { program, keyring } => {
                verify_signature(program, keyring, &signed, &body_tmp, log)?;
                let body = read_text(&body_tmp)?;
                check_release(&body, suite, SystemTime::now())?;
                std::fs::rename(&body_tmp, &verified)
                    .map_err(|e| DebianError::io(format!("cannot rename to {}", verified.display()), e))?;
                Ok(body)
            }
            Verifier::Unsigned => {
                eprintln!(
                    "warning: the {suite} index is used WITHOUT a signature check (--debian-allow-unsigned, or `debian-allow-unsigned` in the user config)"
                );
                let text = read_text(&signed)?;
                let body = clearsigned_body(&text).ok_or_else(|| DebianError::NotClearsigned {
                    file: signed.display().to_string(),
                })?;
                check_release(&body, suite, SystemTime::now())?;
                Ok(body)
            }
        });
    let _ = std::fs::remove_file(&signed);
    let _ = std::fs::remove_file(&body_tmp);
    match result {
        Ok(body) => Ok(body),
        Err(
            e @ (DebianError::Signature { .. }
            | DebianError::ReleaseMismatch { .. }
            | DebianError::ReleaseExpired { .. }
            | DebianError::NotClearsigned { .. }),
        ) => Err(e),
        Err(e) if verified.is_file() => {
            eprintln!("warning: cannot refresh the {suite} index ({e}); using the cached copy");
            read_text(&verified)
        }
        Err(e) => Err(e),
    }
}

fn read_text(path: &Path) -> Result<String, DebianError> {
    std::fs::read_to_string(path).map_err(|e| DebianError::io(format!("cannot read {}", path.display()), e))
}

/// Temporary files of runs that were killed (their pid is gone).
fn remove_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = ["InRelease.new", "Release.new"]
            .iter()
            .find_map(|p| name.strip_prefix(p))
            .and_then(|rest| rest.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// A signed Release must be the suite that was asked for (by codename or
/// suite name) and, when it says so, still valid: otherwise an old or
/// another suite's signed index could be replayed.
fn check_release(body: &str, suite: &str, now: SystemTime) -> Result<(), DebianError> {
    let field = |name: &str| {
        body.lines()
            .take_while(|l| !l.starts_with(' ') || !l.trim().is_empty())
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
            .map(|v| v.trim().to_string())
    };
    let codename = field("Codename");
    let suite_name = field("Suite");
    if codename.as_deref() != Some(suite) && suite_name.as_deref() != Some(suite) {
        let (name, value) = match (codename, suite_name) {
            (Some(c), _) => ("Codename", c),
            (None, Some(s)) => ("Suite", s),
            (None, None) => ("Codename", "(missing)".to_string()),
        };
        return Err(DebianError::ReleaseMismatch {
            suite: suite.to_string(),
            field: name.to_string(),
            value,
        });
    }
    if let Some(valid_until) = field("Valid-Until") {
        let expired = match super::control::parse_release_date(&valid_until) {
            Some(t) => now > t,
            None => true, // an unreadable expiry cannot be trusted
        };
        if expired {
            return Err(DebianError::ReleaseExpired {
                suite: suite.to_string(),
                valid_until,
            });
        }
    }
    Ok(())
}

/// Checks the InRelease signature with gpgv and writes the signed body
/// (`--output`), so what is parsed is exactly what was signed.
fn verify_signature(gpgv: &Path, keyring: &Path, file: &Path, body: &Path, log: &Path) -> Result<(), DebianError> {
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
    let _ = std::fs::remove_file(body);
    // gpgv needs no home directory for a plain keyring check; an empty
    // environment keeps user gpg settings out.
    let status = Command::new(gpgv)
        .env_clear()
        .env("LANG", "C")
        .arg("--keyring")
        .arg(keyring)
        .arg("--output")
        .arg(body)
        .arg(file)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .map_err(|e| DebianError::io(format!("cannot run {}", gpgv.display()), e))?;
    if status.success() && body.is_file() {
        Ok(())
    } else {
        Err(DebianError::Signature {
            file: file.display().to_string(),
            keyring: keyring.display().to_string(),
            log: log.display().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const BODY: &str = "Origin: Debian\nSuite: stable\nCodename: trixie\nDate: Sat, 21 Nov 2026 09:15:44 UTC\n";

    #[test]
    fn release_must_be_the_requested_suite() {
        let now = SystemTime::now();
        assert!(check_release(BODY, "trixie", now).is_ok());
        assert!(check_release(BODY, "stable", now).is_ok());
        let err = check_release(BODY, "bookworm", now).expect_err("another suite");
        assert!(matches!(err, DebianError::ReleaseMismatch { .. }), "{err}");
        assert!(check_release("Origin: x\n", "trixie", now).is_err(), "no codename");
    }

    #[test]
    fn expired_release_is_refused() {
        let body = format!("{BODY}Valid-Until: Sat, 28 Nov 2026 09:15:44 UTC\n");
        let until = crate::debian::control::parse_release_date("Sat, 28 Nov 2026 09:15:44 UTC").expect("date");
        assert!(check_release(&body, "trixie", until - Duration::from_secs(1)).is_ok());
        let err = check_release(&body, "trixie", until + Duration::from_secs(1)).expect_err("expired");
        assert!(matches!(err, DebianError::ReleaseExpired { .. }), "{err}");
        let garbled = format!("{BODY}Valid-Until: someday\n");
        assert!(check_release(&garbled, "trixie", until).is_err(), "unreadable expiry");
    }

    #[test]
    fn a_missing_keyring_fails_closed_unless_allowed() {
        let mut archive = Archive {
            uri: "http://127.0.0.1:1/debian".into(),
            cache: PathBuf::from("/nonexistent"),
            refresh: false,
            offline: false,
            keyring: Some(PathBuf::from("/nonexistent/keyring.gpg")),
            allow_unsigned: false,
        };
        let err = Verifier::find(&archive).err().expect("no keyring");
        assert!(
            matches!(&err, DebianError::NoVerifier { package, .. } if package == "debian-archive-keyring"),
            "{err}"
        );
        archive.allow_unsigned = true;
        assert!(matches!(Verifier::find(&archive), Ok(Verifier::Unsigned)));
    }
}
