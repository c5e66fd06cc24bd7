//! The sandbox of build and test steps: a step may write only to the
//! directories its policy names (the package's work dirs, its staging dir,
//! a private temporary dir); everything else is read-only, and build steps
//! have no network.
//!
//! Both mechanisms work without root and are applied in the child between
//! fork and exec (see `process::supervised`):
//! - Landlock (through the `landlock` crate) for the file system and TCP;
//!   it restricts root too. The ruleset is built in the parent, so the
//!   child only calls `prctl` and `landlock_restrict_self`.
//! - An unprivileged user namespace with a network namespace of its own (no
//!   interface up) where the kernel allows it, mapping the caller's uid and
//!   gid onto themselves so file ownership looks the same inside.
//!
//! Where either is missing, steps run without it after one warning per run.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr,
};

/// Landlock access rights handled (denied unless granted). ABI 3 covers
/// every write-like operation including truncation; device ioctls (ABI 5)
/// are left alone, as they cannot write files.
const FS_ABI: ABI = ABI::V3;

/// What one step may do.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Directories the step may write below (created if missing).
    pub writable: Vec<PathBuf>,
    /// `false`: no network at all (a network namespace without interfaces,
    /// and TCP bind/connect denied by Landlock).
    pub network: bool,
    /// Where the step may write, in words, for failure hints.
    pub summary: String,
    /// `false` (`--no-sandbox`): the step runs unconfined; the writable
    /// dirs are still created.
    pub enforce: bool,
}

impl Policy {
    /// A sentence for failure hints: where the step may write.
    pub fn describe(&self) -> String {
        if !self.summary.is_empty() {
            return self.summary.clone();
        }
        let dirs: Vec<String> = self.writable.iter().map(|p| p.display().to_string()).collect();
        format!("steps may write only to {}", dirs.join(", "))
    }

    /// Whether `path` is below one of the writable dirs.
    pub fn allows_write(&self, path: &Path) -> bool {
        let path = lexical(path);
        self.writable.iter().any(|w| path.starts_with(w)) || DEVICES.iter().any(|d| path == Path::new(d))
    }
}

/// `path` with `.` and `..` resolved without looking at the disk.
fn lexical(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Device files every step may write (they store nothing).
const DEVICES: &[&str] = &["/dev/null", "/dev/zero", "/dev/full", "/dev/tty"];
/// POSIX shared memory and semaphores (Python's multiprocessing) live here.
const SHM: &str = "/dev/shm";

/// What this kernel offers, probed once per run.
#[derive(Debug, Clone, Copy)]
struct Support {
    landlock_abi: i64,
    userns: bool,
}

static SUPPORT: OnceLock<Support> = OnceLock::new();

fn support() -> Support {
    *SUPPORT.get_or_init(|| {
        // SAFETY: the version query takes no pointers (NULL, 0).
        let abi = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<libc::c_void>(),
                0usize,
                1u32, // LANDLOCK_CREATE_RULESET_VERSION
            )
        };
        let s = Support {
            landlock_abi: abi,
            userns: probe_userns(),
        };
        if let Some(w) = warning(s) {
            eprintln!("warning: {w}");
        }
        s
    })
}

/// The one-line warning for what the sandbox lacks here, if anything.
fn warning(s: Support) -> Option<String> {
    match (s.landlock_abi >= 1, s.userns) {
        (true, true) => None,
        (false, true) => Some(
            "this kernel has no Landlock: build and test steps run without the file-system sandbox (they can write outside their directories)"
                .into(),
        ),
        (true, false) => Some(
            "unprivileged user namespaces are unavailable: build steps keep the network except TCP (blocked by Landlock where the kernel supports it)"
                .into(),
        ),
        (false, false) => Some(
            "no Landlock and no unprivileged user namespaces on this machine: build and test steps run without a sandbox"
                .into(),
        ),
    }
}

/// Whether a child can enter a new user + network namespace.
fn probe_userns() -> bool {
    use std::os::unix::process::CommandExt;
    let Ok(maps) = IdMaps::current() else {
        return false;
    };
    let mut cmd = std::process::Command::new("/bin/true");
    cmd.env_clear()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: `enter` makes only async-signal-safe system calls.
    unsafe {
        cmd.pre_exec(move || maps.enter());
    }
    cmd.status().is_ok_and(|s| s.success())
}

/// The files and lines that map the caller's ids onto themselves inside a
/// new user namespace, prepared before fork (no allocation after it).
#[derive(Debug, Clone)]
struct IdMaps {
    setgroups: CString,
    uid_map: CString,
    gid_map: CString,
    uid_line: Vec<u8>,
    gid_line: Vec<u8>,
}

impl IdMaps {
    fn current() -> Result<IdMaps, std::ffi::NulError> {
        // SAFETY: getuid/getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        Ok(IdMaps {
            setgroups: CString::new("/proc/self/setgroups")?,
            uid_map: CString::new("/proc/self/uid_map")?,
            gid_map: CString::new("/proc/self/gid_map")?,
            uid_line: format!("{uid} {uid} 1\n").into_bytes(),
            gid_line: format!("{gid} {gid} 1\n").into_bytes(),
        })
    }

    /// In the child: a new user and network namespace, ids mapped.
    fn enter(&self) -> std::io::Result<()> {
        // SAFETY: unshare, open, write and close are async-signal-safe; the
        // buffers outlive the calls.
        unsafe {
            if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            write_proc(&self.setgroups, b"deny")?;
            write_proc(&self.uid_map, &self.uid_line)?;
            write_proc(&self.gid_map, &self.gid_line)?;
        }
        Ok(())
    }
}

/// # Safety
/// Only async-signal-safe calls: usable between fork and exec.
unsafe fn write_proc(path: &CString, data: &[u8]) -> std::io::Result<()> {
    // SAFETY: `path` is NUL-terminated, `data` is valid for its length.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let n = libc::write(fd, data.as_ptr().cast(), data.len());
        libc::close(fd);
        if n != data.len() as isize {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A policy made ready for one spawn.
#[derive(Debug)]
pub struct Prepared {
    ruleset: Option<OwnedFd>,
    maps: Option<IdMaps>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot set up the build sandbox: {0}")]
pub struct SandboxError(String);

/// Builds the Landlock ruleset for `policy` (creating its writable dirs)
/// and decides on namespaces, before the fork.
pub fn prepare(policy: &Policy) -> Result<Prepared, SandboxError> {
    for dir in &policy.writable {
        std::fs::create_dir_all(dir).map_err(|e| SandboxError(format!("{}: {e}", dir.display())))?;
    }
    if !policy.enforce {
        return Ok(Prepared {
            ruleset: None,
            maps: None,
        });
    }
    let support = support();
    let ruleset = if support.landlock_abi >= 1 {
        Some(ruleset(policy)?)
    } else {
        None
    };
    let maps = if !policy.network && support.userns {
        Some(IdMaps::current().map_err(|e| SandboxError(e.to_string()))?)
    } else {
        None
    };
    Ok(Prepared {
        ruleset: ruleset.flatten(),
        maps,
    })
}

fn ruleset(policy: &Policy) -> Result<Option<OwnedFd>, SandboxError> {
    ruleset_inner(policy).map_err(|e| SandboxError(e.to_string()))
}

/// Errors of the `landlock` crate, rule or path, as one type.
#[derive(Debug, thiserror::Error)]
enum LandlockError {
    #[error(transparent)]
    Ruleset(#[from] landlock::RulesetError),
    #[error(transparent)]
    Path(#[from] landlock::PathFdError),
}

fn ruleset_inner(policy: &Policy) -> Result<Option<OwnedFd>, LandlockError> {
    let all = AccessFs::from_all(FS_ABI);
    let mut rules = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(all)?;
    if !policy.network {
        // No rule grants them: every TCP bind and connect is refused.
        rules = rules.handle_access(AccessNet::from_all(ABI::V4))?;
    }
    let mut created = rules
        .create()?
        .add_rule(PathBeneath::new(PathFd::new("/")?, AccessFs::from_read(FS_ABI)))?;
    for dir in &policy.writable {
        created = created.add_rule(PathBeneath::new(PathFd::new(dir)?, all))?;
    }
    for dev in DEVICES {
        // Absent devices (no controlling terminal) are simply not granted.
        if let Ok(fd) = PathFd::new(dev) {
            created = created.add_rule(PathBeneath::new(fd, AccessFs::from_file(FS_ABI)))?;
        }
    }
    if let Ok(fd) = PathFd::new(SHM) {
        created = created.add_rule(PathBeneath::new(fd, all))?;
    }
    Ok(created.into())
}

impl Prepared {
    /// In the child, before exec: namespaces first (their /proc writes would
    /// be refused under Landlock), then Landlock.
    pub fn apply(&self) -> std::io::Result<()> {
        if let Some(maps) = &self.maps {
            maps.enter()?;
        }
        if let Some(fd) = &self.ruleset {
            restrict(fd.as_raw_fd())?;
        }
        Ok(())
    }
}

fn restrict(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: prctl and the Landlock syscall are async-signal-safe and take
    // no pointers here.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::syscall(libc::SYS_landlock_restrict_self, fd, 0u32) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_checked_against_the_writable_dirs() {
        let p = Policy {
            writable: vec![PathBuf::from("/b/pkg/src"), PathBuf::from("/b/pkg/tmp")],
            network: false,
            summary: String::new(),
            enforce: true,
        };
        assert!(p.allows_write(Path::new("/b/pkg/src/x.o")));
        assert!(p.allows_write(Path::new("/dev/null")));
        assert!(!p.allows_write(Path::new("/b/pkg/sysroot/usr/lib/libc.so")));
        assert!(!p.allows_write(Path::new("/b/pkg/srcx")));
        assert!(!p.allows_write(Path::new("/b/pkg/src/../../other")));
        assert!(p.describe().contains("/b/pkg/src, /b/pkg/tmp"));
    }

    #[test]
    fn warnings_name_what_is_missing() {
        let full = Support {
            landlock_abi: 7,
            userns: true,
        };
        assert!(warning(full).is_none());
        let no_ll = Support {
            landlock_abi: -1,
            userns: true,
        };
        assert!(warning(no_ll).is_some_and(|w| w.contains("no Landlock")));
    }
}
