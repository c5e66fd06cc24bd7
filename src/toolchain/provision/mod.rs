//! Shared machinery for everything provisioned from Debian packages into the
//! cache (toolchains, sysroots, qemu, Go, target roots): the context, the
//! crash-safe install protocol (lock → temp dir → stamp → rename), package
//! download and extraction.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::debian::index::Archive;
use crate::debian::{DebianError, Exclusions, PackageEntry, PackageIndex, resolve};
use crate::fetch::{FetchContext, FetchOptions, download_sized};
use crate::toolchain::ToolchainError;
use crate::unpack::{Policy, make_writable_and_remove};

/// Name of the completion stamp inside every provisioned directory.
pub const STAMP: &str = ".recipe-stamp.json";
/// Touched by every build or test that runs from a provisioned tree.
pub const USED: &str = ".recipe-used";
/// Touched when the tree was last found unchanged.
const VERIFIED: &str = ".recipe-verified";
/// Files in a provisioned tree that are not part of it.
const MARKERS: &[&str] = &[STAMP, USED, VERIFIED];

/// What provisioning needs: where the cache is and how to reach the archive.
/// Cheap to share by reference across threads.
pub struct ProvisionContext {
    pub cache: PathBuf,
    /// Downloads (content-addressed cache, retries, offline mode).
    pub fetch: Arc<FetchContext>,
    /// Re-download archive indexes even when recent copies are cached.
    pub refresh: bool,
    /// Print progress lines on stderr.
    pub verbose: bool,
    archive: OnceLock<Archive>,
    indexes: Mutex<HashMap<(String, String), Arc<PackageIndex>>>,
}

impl ProvisionContext {
    /// A context sharing an existing download context (the scheduler's).
    pub fn with_fetch(cache: impl Into<PathBuf>, fetch: Arc<FetchContext>) -> ProvisionContext {
        ProvisionContext {
            cache: cache.into(),
            fetch,
            refresh: false,
            verbose: true,
            archive: OnceLock::new(),
            indexes: Mutex::new(HashMap::new()),
        }
    }

    /// A context with its own download context.
    pub fn from_options(cache: impl Into<PathBuf>, options: FetchOptions) -> Result<ProvisionContext, ToolchainError> {
        let cache = cache.into();
        let fetch = FetchContext::new(&cache, options)?;
        Ok(ProvisionContext::with_fetch(cache, Arc::new(fetch)))
    }

    /// The archive, resolved on first use so fully provisioned caches work
    /// on machines without apt sources (and offline).
    pub fn archive(&self) -> Result<&Archive, DebianError> {
        if let Some(a) = self.archive.get() {
            return Ok(a);
        }
        let a = Archive::new(&self.fetch, &self.cache, self.refresh)?;
        Ok(self.archive.get_or_init(|| a))
    }

    pub fn index(&self, suite: &str, arch: &str) -> Result<Arc<PackageIndex>, DebianError> {
        let key = (suite.to_string(), arch.to_string());
        if let Some(i) = self.indexes.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(i);
        }
        self.note(format!("reading the {suite}/{arch} package index"));
        let index = Arc::new(PackageIndex::load(
            self.archive()?,
            &self.fetch,
            suite,
            arch,
            &self.log_path("debian"),
        )?);
        if let Ok(mut m) = self.indexes.lock() {
            m.insert(key, index.clone());
        }
        Ok(index)
    }

    pub fn log_path(&self, name: &str) -> PathBuf {
        self.cache.join("logs").join(format!("{name}.log"))
    }

    pub fn note(&self, msg: impl AsRef<str>) {
        if self.verbose {
            eprintln!("  {}", msg.as_ref());
        }
    }
}

/// One installed package, as recorded in a stamp.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StampPackage {
    pub name: String,
    pub version: String,
    pub arch: String,
    pub sha256: String,
    pub size: u64,
}

impl From<&PackageEntry> for StampPackage {
    fn from(e: &PackageEntry) -> Self {
        StampPackage {
            name: e.name.clone(),
            version: e.version.clone(),
            arch: e.architecture.clone(),
            sha256: e.sha256.clone(),
            size: e.size,
        }
    }
}

/// Written last into a provisioned directory: its presence means complete.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Stamp {
    /// toolchain, sysroot, qemu, go, root
    pub kind: String,
    pub name: String,
    /// Stable identity: hash of package names, versions, sha256s and any
    /// generated content (wrappers). Feeds build cache keys.
    pub id: String,
    pub suite: String,
    pub packages: Vec<StampPackage>,
    pub download_bytes: u64,
    pub seconds: f64,
    pub created_unix: u64,
    /// Kind-specific facts (versions, paths), shown by `toolchain list`.
    pub info: std::collections::BTreeMap<String, String>,
}

impl Stamp {
    pub fn new(kind: &str, name: &str, suite: &str, packages: &[PackageEntry]) -> Stamp {
        Stamp {
            kind: kind.into(),
            name: name.into(),
            id: String::new(),
            suite: suite.into(),
            packages: packages.iter().map(StampPackage::from).collect(),
            download_bytes: packages.iter().map(|p| p.size).sum(),
            seconds: 0.0,
            created_unix: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            info: Default::default(),
        }
    }

    /// Hash of the package set plus `extra` (generated files' content).
    pub fn compute_id(&mut self, extra: &[&str]) {
        let mut h = Sha256::new();
        h.update(self.kind.as_bytes());
        for p in &self.packages {
            h.update(format!("\n{} {} {} {}", p.name, p.version, p.arch, p.sha256).as_bytes());
        }
        for e in extra {
            h.update(b"\n--\n");
            h.update(e.as_bytes());
        }
        self.id = hex::encode(h.finalize());
    }

    pub fn read(dir: &Path) -> Option<Stamp> {
        let text = std::fs::read_to_string(dir.join(STAMP)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The stamp, only if it was written for this very path: wrappers and
    /// generated files hold absolute paths, so a moved or copied cache entry
    /// counts as incomplete and is rebuilt (from the download cache).
    pub fn read_at(dir: &Path) -> Option<Stamp> {
        Stamp::read(dir).filter(|s| s.info.get("path").map(String::as_str) == Some(&*dir.to_string_lossy()))
    }
}

/// Short hash for directory names: derived from the definition (not from the
/// resolved versions), so an installed directory is found without the network.
pub fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update(b"\0");
    }
    hex::encode(h.finalize())[..12].to_string()
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ToolchainError {
    let what = what.into();
    move |source| ToolchainError::Io { what, source }
}

/// Installs `dir` exactly once: returns its stamp when complete; otherwise,
/// under an exclusive lock (other processes wait), runs `build(tmp, dir)` in a
/// fresh temp dir beside it, writes the stamp and renames the temp dir into
/// place. An interrupted run leaves only a temp dir, removed next time.
pub fn install_once<F>(ctx: &ProvisionContext, dir: &Path, build: F) -> Result<Stamp, ToolchainError>
where
    F: FnOnce(&Path, &Path) -> Result<Stamp, ToolchainError>,
{
    if let Some(s) = Stamp::read_at(dir) {
        return Ok(s);
    }
    let lock = lock_tree(ctx, dir)?;
    // Someone else may have finished while we waited for the lock.
    if let Some(s) = Stamp::read_at(dir) {
        return Ok(s);
    }
    if dir.exists() {
        make_writable_and_remove(dir).map_err(io(format!("cannot remove incomplete {}", dir.display())))?;
    }
    let tmp = build_beside(dir, build)?;
    let result = std::fs::rename(&tmp.0, dir)
        .map_err(io(format!("cannot rename {} to {}", tmp.0.display(), dir.display())))
        .map(|()| tmp.1);
    if result.is_err() {
        let _ = make_writable_and_remove(&tmp.0);
    }
    drop(lock);
    result
}

/// The exclusive provisioning lock of `dir` (waiting for another process,
/// saying so); under it, leftovers of interrupted runs are removed.
fn lock_tree(ctx: &ProvisionContext, dir: &Path) -> Result<File, ToolchainError> {
    let (parent, name) = parent_and_name(dir);
    std::fs::create_dir_all(parent).map_err(io(format!("cannot create {}", parent.display())))?;
    let lock_path = parent.join(format!(".{name}.lock"));
    let lock = File::create(&lock_path).map_err(io(format!("cannot create {}", lock_path.display())))?;
    if lock.try_lock().is_err() {
        ctx.note(format!("waiting for another process provisioning {}", dir.display()));
        lock.lock()
            .map_err(io(format!("cannot lock {}", lock_path.display())))?;
    }
    for e in std::fs::read_dir(parent).into_iter().flatten().flatten() {
        let file_name = e.file_name().to_string_lossy().into_owned();
        if file_name.starts_with(&format!(".tmp-{name}-")) || file_name.starts_with(&format!(".old-{name}-")) {
            let _ = make_writable_and_remove(&e.path());
        }
    }
    Ok(lock)
}

fn parent_and_name(dir: &Path) -> (&Path, String) {
    let parent = dir.parent().unwrap_or(Path::new("."));
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (parent, name)
}

/// Runs `build` into a fresh temp dir beside `dir` (under the lock) and
/// stamps it; the caller moves it into place. A failed build leaves nothing.
fn build_beside<F>(dir: &Path, build: F) -> Result<(PathBuf, Stamp), ToolchainError>
where
    F: FnOnce(&Path, &Path) -> Result<Stamp, ToolchainError>,
{
    let (parent, name) = parent_and_name(dir);
    let tmp = parent.join(format!(".tmp-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).map_err(io(format!("cannot create {}", tmp.display())))?;
    let started = Instant::now();
    let result = build(&tmp, dir).and_then(|mut stamp| {
        stamp.info.insert("path".into(), dir.display().to_string());
        let fingerprint =
            crate::digest::fingerprint_except(&tmp, MARKERS).map_err(io(format!("cannot read {}", tmp.display())))?;
        stamp.info.insert("fingerprint".into(), fingerprint);
        stamp.seconds = (started.elapsed().as_secs_f64() * 10.0).round() / 10.0;
        let json = serde_json::to_string_pretty(&stamp).map_err(|e| ToolchainError::Io {
            what: "cannot serialize the stamp".into(),
            source: std::io::Error::other(e),
        })?;
        std::fs::write(tmp.join(STAMP), json).map_err(io(format!("cannot write the stamp in {}", tmp.display())))?;
        Ok(stamp)
    });
    match result {
        Ok(stamp) => Ok((tmp, stamp)),
        Err(e) => {
            let _ = make_writable_and_remove(&tmp);
            Err(e)
        }
    }
}

/// Marks a provisioned tree as used by a build or test, so the next run
/// checks that nothing wrote into it ([`install_checked`]).
pub fn mark_used(dir: &Path) -> std::io::Result<()> {
    std::fs::write(dir.join(USED), "")
}

/// Whether a build used the tree after it was last verified.
fn used_since_verified(dir: &Path) -> bool {
    let mtime = |name: &str| std::fs::metadata(dir.join(name)).and_then(|m| m.modified()).ok();
    match (mtime(USED), mtime(VERIFIED)) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(used), Some(verified)) => used >= verified,
    }
}

/// [`install_once`], then the tamper check: builds run compilers, Go and
/// emulators from these trees, and package sysroots hard-link into them, so
/// a step writing there would change them for every later build. A tree used
/// since it was last verified is compared with the fingerprint recorded when
/// it was provisioned (names, sizes, modes, mtimes); a changed one is
/// provisioned again from the download cache. Unused trees are not walked,
/// which keeps no-op runs fast.
///
/// Other processes may be running from the tree, so it is never removed in
/// place: the replacement is built beside it and exchanged with it in one
/// rename, under the provisioning lock and after checking again (another
/// process may have replaced it already).
pub fn install_checked<F>(ctx: &ProvisionContext, dir: &Path, build: F) -> Result<Stamp, ToolchainError>
where
    F: Fn(&Path, &Path) -> Result<Stamp, ToolchainError>,
{
    let stamp = install_once(ctx, dir, &build)?;
    if !used_since_verified(dir) || unchanged(dir, &stamp) {
        return Ok(stamp);
    }
    let lock = lock_tree(ctx, dir)?;
    let Some(stamp) = Stamp::read_at(dir) else {
        drop(lock);
        return install_once(ctx, dir, &build);
    };
    if unchanged(dir, &stamp) {
        return Ok(stamp);
    }
    eprintln!(
        "warning: {} changed since it was provisioned (a build step wrote into it?); provisioning it again",
        dir.display()
    );
    let (fresh, stamp) = build_beside(dir, &build)?;
    let swapped = swap_in(&fresh, dir).map_err(io(format!("cannot swap {} into place", dir.display())));
    // Processes still running from the old tree keep their open files; new
    // path lookups see the replacement.
    let _ = make_writable_and_remove(swapped.as_ref().unwrap_or(&fresh));
    drop(lock);
    swapped.map(|_| stamp)
}

/// Whether the tree still matches its provisioning fingerprint (recorded as
/// verified when it does).
fn unchanged(dir: &Path, stamp: &Stamp) -> bool {
    let recorded = stamp.info.get("fingerprint");
    let now = crate::digest::fingerprint_except(dir, MARKERS).ok();
    let same = recorded.is_none() || recorded == now.as_ref();
    if same {
        let _ = std::fs::write(dir.join(VERIFIED), "");
    }
    same
}

/// Puts `fresh` at `dir`; returns where the old tree now is, to be removed.
/// Where the filesystem cannot exchange, the old tree is renamed aside first
/// (a brief moment without a tree, never a half-removed one).
fn swap_in(fresh: &Path, dir: &Path) -> std::io::Result<PathBuf> {
    match exchange(fresh, dir) {
        Ok(()) => Ok(fresh.to_path_buf()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)) => {
            let (parent, name) = parent_and_name(dir);
            let aside = parent.join(format!(".old-{name}-{}", std::process::id()));
            std::fs::rename(dir, &aside)?;
            std::fs::rename(fresh, dir)?;
            Ok(aside)
        }
        Err(e) => Err(e),
    }
}

/// Exchanges two directories atomically (`renameat2(RENAME_EXCHANGE)`), so a
/// path lookup finds one tree or the other, never none.
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
    let (ca, cb) = (c(a)?, c(b)?);
    // SAFETY: both paths are valid NUL-terminated strings for the duration
    // of the call; the flags ask for an exchange, which moves no data.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Resolves a closure in `suite`/`arch`.
pub fn resolve_packages(
    ctx: &ProvisionContext,
    suite: &str,
    arch: &str,
    roots: &[String],
    excl: &Exclusions,
    follow_deps: bool,
) -> Result<Vec<PackageEntry>, ToolchainError> {
    let index = ctx.index(suite, arch)?;
    let mut pkgs = resolve(&index, roots, excl, follow_deps)?;
    pkgs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(pkgs)
}

/// Downloads (or finds in the download cache) every package, verified by the
/// sha256 of the signed index. Returns local paths in the same order.
pub fn download_packages(ctx: &ProvisionContext, pkgs: &[PackageEntry]) -> Result<Vec<PathBuf>, ToolchainError> {
    let missing: Vec<&PackageEntry> = pkgs
        .iter()
        .filter(|p| ctx.fetch.cache.lookup(&p.sha256, &deb_file_name(p)).is_none())
        .collect();
    if !missing.is_empty() {
        let bytes = missing.iter().map(|p| p.size).sum();
        ctx.note(format!(
            "downloading {} of {} packages ({})",
            missing.len(),
            pkgs.len(),
            human_bytes(bytes)
        ));
    }
    // Network-bound: a few parallel downloads even on 2 cores.
    let results: Vec<Result<PathBuf, ToolchainError>> = pkgs
        .par_iter()
        .with_max_len(1)
        .map(|p| {
            let url = ctx.archive()?.url(&p.filename);
            // The index's `Size` caps the stream: a longer body is not this file.
            let size = Some(p.size).filter(|s| *s > 0);
            Ok(download_sized(&ctx.fetch, &[url], &p.sha256, &deb_file_name(p), size)?)
        })
        .collect();
    results.into_iter().collect()
}

/// Extracts packages into `dest` (in parallel: different packages write
/// different files). With `only`, just those paths. Entries skipped by the
/// root-filesystem policy (device nodes, fifos) are listed in
/// `dest/.recipe-skipped`, so nothing is dropped without a trace.
pub fn extract_packages(debs: &[PathBuf], dest: &Path, only: Option<&[&str]>) -> Result<(), ToolchainError> {
    let skipped = crate::unpack::deb::extract_debs(debs, dest, only, &Policy::rootfs())?;
    if !skipped.is_empty() {
        let list = dest.join(SKIPPED_LIST);
        std::fs::write(&list, skipped.join("\n") + "\n")
            .map_err(ToolchainError::io(format!("cannot write {}", list.display())))?;
    }
    Ok(())
}

/// Written by [`extract_packages`] at the root it filled.
pub const SKIPPED_LIST: &str = ".recipe-skipped";

/// Runs `cmd` with stdout and stderr appended to `log`; true on success.
pub fn run_logged(cmd: &mut std::process::Command, log: &Path) -> Result<bool, ToolchainError> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).map_err(ToolchainError::io(format!("cannot create {}", dir.display())))?;
    }
    let open = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(ToolchainError::io(format!("cannot open {}", log.display())))
    };
    let (out, err) = (open()?, open()?);
    use std::io::Write as _;
    let _ = writeln!(&out, "$ {cmd:?}");
    let status = cmd
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .map_err(ToolchainError::io(format!("cannot run {:?}", cmd.get_program())))?;
    Ok(status.success())
}

/// `name_version_arch.deb`, with the epoch's colon dropped as in pool names.
pub fn deb_file_name(p: &PackageEntry) -> String {
    p.filename.rsplit('/').next().unwrap_or(&p.filename).to_string()
}

pub fn human_bytes(n: u64) -> String {
    if n >= 1_000_000 {
        format!("{:.1} MB", n as f64 / 1e6)
    } else {
        format!("{:.0} kB", n as f64 / 1e3)
    }
}

/// Bytes used by a tree (regular files; symlinks count as their own size).
pub fn disk_usage(path: &Path) -> u64 {
    let Ok(m) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !m.is_dir() {
        return m.len();
    }
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| disk_usage(&e.path()))
        .sum()
}

#[cfg(test)]
mod tests;
