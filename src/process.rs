//! Spawning build steps: explicit environment, output to a per-package log,
//! and failures that carry the log's tail and how to reproduce.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};

use miette::Diagnostic;
use thiserror::Error;

pub use crate::env::shell_quote;

#[derive(Debug, Error, Diagnostic)]
pub enum ProcessError {
    #[error("`{command}` failed ({status})")]
    #[diagnostic(code(recipe::step_failed), help("{hint}full log: {log}"))]
    Failed {
        command: String,
        status: String,
        log: String,
        tail: String,
        hint: String,
    },
    #[error("cannot run `{command}`: {source}")]
    #[diagnostic(code(recipe::spawn))]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write log {log}: {source}")]
    #[diagnostic(code(recipe::log))]
    Log {
        log: String,
        #[source]
        source: std::io::Error,
    },
}

/// One command to run: program + args, or a shell snippet.
pub struct Step<'a> {
    pub program: &'a str,
    pub args: Vec<String>,
    pub cwd: &'a Path,
    pub env: &'a BTreeMap<String, String>,
}

impl Step<'_> {
    pub fn shell<'a>(script: &str, cwd: &'a Path, env: &'a BTreeMap<String, String>) -> Step<'a> {
        Step {
            program: "/bin/sh",
            args: vec!["-ec".into(), script.into()],
            cwd,
            env,
        }
    }

    pub fn display(&self) -> String {
        if self.program == "/bin/sh" && self.args.len() == 2 && self.args[0] == "-ec" {
            return self.args[1].clone();
        }
        std::iter::once(self.program.to_string())
            .chain(self.args.iter().map(|a| shell_quote(a)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Appends to a package's log; every step writes a header so the log reads as
/// a transcript.
pub struct Log {
    pub path: PathBuf,
}

impl Log {
    pub fn create(path: PathBuf) -> Result<Log, ProcessError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| ProcessError::Log {
                log: path.display().to_string(),
                source,
            })?;
        }
        File::create(&path).map_err(|source| ProcessError::Log {
            log: path.display().to_string(),
            source,
        })?;
        Ok(Log { path })
    }

    /// The log of a package whose earlier phase already wrote to it.
    pub fn append(path: PathBuf) -> Result<Log, ProcessError> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| ProcessError::Log {
                log: path.display().to_string(),
                source,
            })?;
        Ok(Log { path })
    }

    fn open(&self) -> Result<File, ProcessError> {
        OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|source| ProcessError::Log {
                log: self.path.display().to_string(),
                source,
            })
    }

    pub fn note(&self, text: &str) -> Result<(), ProcessError> {
        let mut f = self.open()?;
        writeln!(f, "{text}").map_err(|source| ProcessError::Log {
            log: self.path.display().to_string(),
            source,
        })
    }

    /// The last `lines` lines, for failure messages.
    pub fn tail(&self, lines: usize) -> String {
        let Ok(mut f) = File::open(&self.path) else {
            return String::new();
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let start = len.saturating_sub(64 * 1024);
        let mut buf = Vec::new();
        if f.seek(SeekFrom::Start(start)).is_err() || f.read_to_end(&mut buf).is_err() {
            return String::new();
        }
        let text = String::from_utf8_lossy(&buf);
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Runs `step` with exactly `step.env`, stdout and stderr into the log.
    pub fn run(&self, step: &Step, configure: impl FnOnce(&mut Command)) -> Result<(), ProcessError> {
        let shown = step.display();
        self.note(&format!("\n$ cd {} && {}", step.cwd.display(), shown))?;
        let out = self.open()?;
        let err = out.try_clone().map_err(|source| ProcessError::Log {
            log: self.path.display().to_string(),
            source,
        })?;
        let mut cmd = supervised(step.program);
        cmd.args(&step.args)
            .current_dir(step.cwd)
            .env_clear()
            .envs(step.env)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        configure(&mut cmd);
        let status = cmd.status().map_err(|source| ProcessError::Spawn {
            command: shown.clone(),
            source,
        })?;
        if status.success() {
            return Ok(());
        }
        let tail = self.tail(25);
        Err(ProcessError::Failed {
            hint: hint_for(&tail),
            command: format!("cd {} && {shown}", step.cwd.display()),
            status: status.to_string(),
            log: self.path.display().to_string(),
            tail,
        })
    }
}

/// A descriptor every build step inherits (the build directory's lock), so
/// the lock stays held until the last process of a step is gone, even when
/// `recipe` itself was killed: a new run cannot start beside an orphan.
static INHERITED_LOCK: AtomicI32 = AtomicI32::new(-1);

/// Makes `file` (an open, locked file) be inherited by every step from now on.
pub fn inherit_lock(file: &File) {
    use std::os::fd::AsRawFd;
    INHERITED_LOCK.store(file.as_raw_fd(), Ordering::SeqCst);
}

/// Shell that runs a step in a process group of its own and kills that whole
/// group when it is told `recipe` died (its parent-death signal): make, the
/// compiler and anything else the step started die with `recipe`, even on
/// SIGKILL, instead of writing into the next run's directories.
const SUPERVISOR: &str = r#"trap 'kill -KILL 0' TERM HUP; "$@" & wait $!"#;

/// `program` wrapped in the supervisor (arguments are appended by the caller).
fn supervised(program: &str) -> Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(SUPERVISOR).arg("recipe-step").arg(program);
    let parent = std::process::id() as libc::pid_t;
    let lock = INHERITED_LOCK.load(Ordering::SeqCst);
    // SAFETY: only async-signal-safe calls (setpgid, prctl, getppid, fcntl,
    // _exit) run between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::setpgid(0, 0);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong, 0, 0, 0);
            // The parent may have died before the line above took effect.
            if libc::getppid() != parent {
                libc::_exit(137);
            }
            if lock >= 0 {
                libc::fcntl(lock, libc::F_SETFD, 0);
            }
            Ok(())
        });
    }
    cmd
}

/// Turns well-known failure patterns into a hint line.
fn hint_for(tail: &str) -> String {
    for line in tail.lines().rev() {
        if let Some(rest) = line.split("fatal error: ").nth(1)
            && rest.contains("No such file or directory")
        {
            let header = rest.split(':').next().unwrap_or(rest).trim();
            return format!("a header is missing ({header}): add the package that provides it to `depends`\n");
        }
        if let Some(rest) = line.split("cannot find -l").nth(1) {
            let lib = rest.split_whitespace().next().unwrap_or(rest).trim_end_matches(':');
            return format!("the linker cannot find lib{lib}: add the package that provides it to `depends`\n");
        }
        if line.contains("command not found") || line.contains(": not found") {
            return "a tool is missing from the build environment: add it to `host-depends`\n".to_string();
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_step_reports_tail_and_hint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Log::create(dir.path().join("log")).expect("log");
        let env = BTreeMap::from([("PATH".to_string(), "/usr/bin:/bin".to_string())]);
        let step = Step::shell(
            "echo 'x.c:1:10: fatal error: uv.h: No such file or directory'; exit 3",
            dir.path(),
            &env,
        );
        let err = log.run(&step, |_| {}).expect_err("fails");
        let ProcessError::Failed { tail, hint, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(tail.contains("uv.h"));
        assert!(hint.contains("uv.h"), "{hint}");
    }

    #[test]
    fn environment_is_explicit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Log::create(dir.path().join("log")).expect("log");
        let env = BTreeMap::from([("ONLY".to_string(), "this".to_string())]);
        log.run(&Step::shell("env > env.txt", dir.path(), &env), |_| {})
            .expect("runs");
        let seen = std::fs::read_to_string(dir.path().join("env.txt")).expect("env");
        assert!(seen.contains("ONLY=this"));
        assert!(!seen.contains("HOME="), "{seen}");
    }
}
