//! Booting an image under qemu-system (`-M virt`, TCG): the serial console is
//! copied to the log (and to stdout when asked), the prelude's markers give
//! the time to init and the init's exit status, and a VM that does not end
//! within the timeout is killed and reaped, so no process is left behind.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{EXIT_MARKER, INIT_MARKER, ImageError};
use crate::model::target::Target;
use crate::toolchain::qemusystem::QemuSystem;

pub struct BootRequest<'a> {
    pub name: &'a str,
    pub kernel: &'a Path,
    pub initrd: &'a Path,
    /// The root disk (an ext4 image), attached as virtio-blk `/dev/vda`.
    pub disk: Option<&'a Path>,
    pub memory: u64,
    /// A virtio NIC on qemu's user-mode network.
    pub user_network: bool,
    pub timeout: Duration,
    pub log: PathBuf,
    /// Copy the console to stdout as it comes.
    pub echo: bool,
}

#[derive(Debug)]
pub struct BootOutcome {
    /// The image's init exit status.
    pub status: i32,
    /// From starting qemu to the prelude handing over to the image's init.
    pub to_init: Option<Duration>,
    /// The guest's uptime when its init started, as it printed it.
    pub guest_uptime: Option<String>,
    pub wall: Duration,
    pub log: PathBuf,
}

const KEEP_LINES: usize = 25;

pub fn boot(qemu: &QemuSystem, target: &Target, req: &BootRequest) -> Result<BootOutcome, ImageError> {
    let m = target
        .image
        .as_ref()
        .ok_or_else(|| crate::toolchain::kernel::no_image(target))?;
    if let Some(dir) = req.log.parent() {
        std::fs::create_dir_all(dir).map_err(super::io(format!("cannot create {}", dir.display())))?;
    }
    let log = std::fs::File::create(&req.log).map_err(super::io(format!("cannot create {}", req.log.display())))?;
    let stderr = log.try_clone().map_err(super::io("cannot share the log"))?;
    let mut cmd = qemu.command(&m.qemu_system)?;
    cmd.args([
        "-M",
        &m.machine,
        "-cpu",
        &m.cpu,
        "-smp",
        "1",
        "-m",
        &req.memory.to_string(),
    ])
    .arg("-kernel")
    .arg(req.kernel)
    .arg("-initrd")
    .arg(req.initrd)
    .args(["-append", &kernel_command_line(&m.console, req.disk.is_some())])
    .args(["-nodefaults", "-display", "none", "-serial", "stdio", "-no-reboot"]);
    if let Some(disk) = req.disk {
        cmd.args(["-drive", &drive_option(disk), "-device", "virtio-blk-device,drive=d0"]);
    }
    if req.user_network {
        cmd.args(["-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0"]);
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(stderr);
    die_with_parent(&mut cmd);
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(super::io(format!("cannot start {}", m.qemu_system)))?;
    let lines = console_lines(&mut child, log, req.echo);
    let mut watch = Watch::default();
    let deadline = started + req.timeout;
    let timed_out = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => watch.see(line, started),
            Err(mpsc::RecvTimeoutError::Disconnected) => break false,
            Err(mpsc::RecvTimeoutError::Timeout) => break true,
        }
    };
    if timed_out {
        let _ = child.kill();
    }
    let status = child
        .wait()
        .map_err(super::io(format!("cannot wait for {}", m.qemu_system)))?;
    let fail = |reason: String| ImageError::Boot {
        image: req.name.to_string(),
        reason,
        last: watch.last.iter().cloned().collect::<Vec<_>>().join("\n"),
        log: req.log.display().to_string(),
    };
    if timed_out {
        return Err(fail(format!(
            "no power-off within {} s; the VM was killed",
            req.timeout.as_secs()
        )));
    }
    match watch.exit {
        Some(code) => Ok(BootOutcome {
            status: code,
            to_init: watch.to_init,
            guest_uptime: watch.uptime,
            wall: started.elapsed(),
            log: req.log.clone(),
        }),
        None if watch.to_init.is_none() => {
            Err(fail(format!("the VM ended ({status}) before the image's init started")))
        }
        None => Err(fail(format!("the VM ended ({status}) while the image's init ran"))),
    }
}

fn kernel_command_line(console: &str, disk: bool) -> String {
    let root = if disk { " root=/dev/vda rw" } else { "" };
    format!("console={console} panic=1 rdinit=/init{root}")
}

/// `-drive` for a raw disk image; qemu reads `,` in a value as `,,`.
fn drive_option(disk: &Path) -> String {
    let file = disk.display().to_string().replace(',', ",,");
    format!("if=none,file={file},format=raw,id=d0")
}

/// The VM ends with `recipe` even when `recipe` is killed (no orphaned
/// qemu): qemu is exec'd directly by its loader, so the signal reaches it.
fn die_with_parent(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) run
    // between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0);
            // The parent may have died before the line above took effect.
            if libc::getppid() != parent {
                libc::_exit(137);
            }
            Ok(())
        });
    }
}

#[derive(Default)]
struct Watch {
    last: VecDeque<String>,
    to_init: Option<Duration>,
    uptime: Option<String>,
    exit: Option<i32>,
}

impl Watch {
    fn see(&mut self, line: String, started: Instant) {
        if let Some(rest) = line.strip_prefix(INIT_MARKER) {
            self.to_init.get_or_insert(started.elapsed());
            self.uptime = Some(rest.trim().to_string());
        } else if let Some(rest) = line.strip_prefix(EXIT_MARKER) {
            self.exit = rest.trim().parse().ok();
        }
        if self.last.len() == KEEP_LINES {
            self.last.pop_front();
        }
        self.last.push_back(line);
    }
}

/// Reads the console on a thread: every line goes to the log (and stdout),
/// then to the channel, which closes when qemu's stdout does.
fn console_lines(child: &mut Child, mut log: std::fs::File, echo: bool) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let Some(out) = child.stdout.take() else {
        return rx;
    };
    std::thread::spawn(move || {
        let mut reader = BufReader::new(out);
        let mut buf = Vec::new();
        // Bounded lines: a guest printing without newlines cannot grow memory.
        while let Ok(n) = reader.by_ref().take(64 * 1024).read_until(b'\n', &mut buf) {
            if n == 0 {
                break;
            }
            let _ = log.write_all(&buf);
            if echo {
                let _ = std::io::stdout().write_all(&buf);
            }
            let line = String::from_utf8_lossy(&buf).trim_end_matches(['\n', '\r']).to_string();
            buf.clear();
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}
