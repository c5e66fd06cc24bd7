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
    #[error(transparent)]
    #[diagnostic(code(recipe::sandbox))]
    Sandbox(#[from] crate::build::sandbox::SandboxError),
    #[error("cannot write log {log}: {source}")]
    #[diagnostic(code(recipe::log))]
    Log {
        log: String,
        #[source]
        source: std::io::Error,
    },
}

/// The shell of recipe steps. Bash, because strict mode needs `pipefail`,
/// which Debian's `/bin/sh` (dash) lacks; bash is part of every Debian system.
pub const SHELL: &str = "/bin/bash";
/// Strict mode: a failing command, an unset variable (a typo such as
/// `$DESTIDR` would otherwise expand to nothing) or a failing stage of a
/// pipeline fails the step.
const STRICT: [&str; 4] = ["-e", "-u", "-o", "pipefail"];

/// One command to run: program + args, or a shell snippet.
pub struct Step<'a> {
    pub program: &'a str,
    pub args: Vec<String>,
    pub cwd: &'a Path,
    pub env: &'a BTreeMap<String, String>,
    /// Where the step may write; `None` runs it unconfined (provisioning).
    pub sandbox: Option<&'a crate::build::sandbox::Policy>,
}

impl Step<'_> {
    pub fn shell<'a>(script: &str, cwd: &'a Path, env: &'a BTreeMap<String, String>) -> Step<'a> {
        let mut args: Vec<String> = STRICT.iter().map(|s| s.to_string()).collect();
        args.push("-c".into());
        args.push(script.into());
        Step {
            program: SHELL,
            args,
            cwd,
            env,
            sandbox: None,
        }
    }

    /// The same step, confined by `policy`.
    pub fn sandboxed<'a>(self, policy: &'a crate::build::sandbox::Policy) -> Step<'a>
    where
        Self: 'a,
    {
        Step {
            sandbox: Some(policy),
            ..self
        }
    }

    /// The user's script, when this is a shell step.
    fn script(&self) -> Option<&str> {
        let strict = self.args.len() == STRICT.len() + 2
            && self.args.iter().zip(STRICT).all(|(a, s)| a == s)
            && self.args[STRICT.len()] == "-c";
        (self.program == SHELL && strict).then(|| self.args[STRICT.len() + 1].as_str())
    }

    pub fn display(&self) -> String {
        if let Some(script) = self.script() {
            return script.to_string();
        }
        std::iter::once(self.program.to_string())
            .chain(self.args.iter().map(|a| crate::toolchain::env::shell_quote(a)))
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
        let sandbox = step.sandbox.map(crate::build::sandbox::prepare).transpose()?;
        let mut cmd = supervised(step.program, sandbox);
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
            hint: hint_for(&tail, step.sandbox),
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

/// `program` wrapped in the supervisor (arguments are appended by the
/// caller), confined by `sandbox` when given: the supervisor and everything
/// it starts inherit the confinement.
fn supervised(program: &str, sandbox: Option<crate::build::sandbox::Prepared>) -> Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(SUPERVISOR).arg("recipe-step").arg(program);
    let parent = std::process::id() as libc::pid_t;
    let lock = INHERITED_LOCK.load(Ordering::SeqCst);
    // SAFETY: only async-signal-safe calls (setpgid, prctl, getppid, fcntl,
    // _exit, and the sandbox's unshare/open/write/landlock) run between fork
    // and exec; the sandbox prepared everything it needs before the fork.
    unsafe {
        cmd.pre_exec(move || {
            libc::setpgid(0, 0);
            // Namespaces before the death signal: entering one may reset it.
            if let Some(sandbox) = &sandbox {
                sandbox.apply()?;
            }
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
fn hint_for(tail: &str, sandbox: Option<&crate::build::sandbox::Policy>) -> String {
    for line in tail.lines().rev() {
        if let Some(rest) = line.strip_suffix(": unbound variable") {
            let var = rest.rsplit(": ").next().unwrap_or(rest).trim();
            return format!(
                "`${var}` is not set: steps run with `set -euo pipefail`; check its spelling, or write `${{{var}:-}}` where unset is meant\n"
            );
        }
        if let Some(policy) = sandbox
            && let Some(hint) = sandbox_hint(line, policy)
        {
            return hint;
        }
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

/// A write refused by the sandbox (Landlock answers EACCES), or the network
/// a build step does not have.
fn sandbox_hint(line: &str, policy: &crate::build::sandbox::Policy) -> Option<String> {
    if line.contains("Permission denied") || line.contains("Operation not permitted") {
        // The path is the last one before the error ("bash: line 1: /x:
        // Permission denied", "touch: cannot touch '/x': Permission denied").
        let before = line.split("Permission denied").next().unwrap_or(line);
        let before = before.split("Operation not permitted").next().unwrap_or(before);
        let outside = before
            .split(|c: char| c.is_whitespace() || "'`\"‘’".contains(c))
            .map(|w| w.trim_end_matches(':'))
            .rfind(|w| w.starts_with('/'))
            .filter(|w| !policy.allows_write(Path::new(w)))?;
        return Some(format!(
            "the build sandbox refused writing to {outside}: {} (`--no-sandbox` turns the sandbox off)\n",
            policy.describe()
        ));
    }
    let offline = [
        "Network is unreachable",
        "Could not resolve host",
        "Temporary failure in name resolution",
    ];
    if !policy.network && offline.iter().any(|m| line.contains(m)) {
        return Some(
            "the build sandbox has no network: sources are downloaded before the build (`source` nodes)\n".to_string(),
        );
    }
    None
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
