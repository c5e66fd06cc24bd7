//! Booting an image under qemu-system (`-M virt`, TCG): one VM, or several
//! of the same image on one virtual link. Each serial console is copied to
//! its log (and to stdout when asked), the prelude's markers give the time to
//! init and the init's exit status, and VMs that do not end within the
//! timeout are killed and reaped, so no process is left behind.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::ImageError;
use super::link::LinkPorts;
use crate::model::image_net::{Forward, Link};
use crate::model::target::Target;
use crate::model::target_image::TargetImage;
use crate::toolchain::ToolchainError;
use crate::toolchain::qemusystem::QemuSystem;

pub use super::vms::{BootOutcome, VmEnd, VmOutcome, boot};

/// How the target boots under qemu-system (its target file's `image { … }`).
pub(super) fn machine(target: &Target) -> Result<&TargetImage, ToolchainError> {
    target
        .image
        .as_ref()
        .ok_or_else(|| crate::toolchain::kernel::no_image(target))
}

pub struct BootRequest<'a> {
    pub name: &'a str,
    pub kernel: &'a Path,
    pub initrd: &'a Path,
    /// The root disk (an ext4 image), attached as virtio-blk `/dev/vda`.
    pub disk: Option<&'a Path>,
    pub memory: u64,
    /// A virtio NIC on qemu's user-mode network.
    pub user_network: bool,
    /// Host port forwards of the user-mode network.
    pub forwards: &'a [Forward],
    /// A second NIC on the VMs' shared segment.
    pub link: Option<Link>,
    /// How many VMs boot (numbered from 1).
    pub vms: u32,
    /// The prelude runs the image's test steps instead of its init.
    pub test_mode: bool,
    pub timeout: Duration,
    /// The console log; with several VMs, VM N's is this path with `-nodeN`
    /// before the extension.
    pub log: PathBuf,
    /// Copy the console to stdout as it comes (prefixed `[nodeN]` when
    /// several VMs boot).
    pub echo: bool,
}

impl BootRequest<'_> {
    pub fn log_of(&self, node: u32) -> PathBuf {
        if self.vms == 1 {
            return self.log.clone();
        }
        let stem = self.log.file_stem().unwrap_or_default().to_string_lossy();
        let ext = self.log.extension().map(|e| format!(".{}", e.to_string_lossy()));
        self.log
            .with_file_name(format!("{stem}-node{node}{}", ext.unwrap_or_default()))
    }
}

/// The MAC address of the user-mode NIC (qemu's default) and of VM N's
/// link NIC, by which the prelude tells them apart.
pub const USER_MAC: &str = "52:54:00:12:34:56";

fn link_mac(node: u32) -> String {
    format!("52:54:00:0a:{:02x}:{:02x}", node >> 8, node & 0xff)
}

/// The qemu command line of VM `node`.
pub(super) fn vm_command(
    qemu: &QemuSystem,
    m: &TargetImage,
    req: &BootRequest,
    node: u32,
    link: Option<LinkPorts>,
) -> Result<Command, ToolchainError> {
    let mut cmd = qemu.command(&m.qemu_system)?;
    let mut append = format!(
        "{} recipe.node={node} recipe.nodes={}",
        kernel_command_line(&m.console, req.disk.is_some()),
        req.vms
    );
    if req.test_mode {
        append.push_str(" recipe.mode=test");
    }
    if req.user_network {
        append.push_str(" recipe.user=1");
    }
    if let Some(l) = &req.link {
        append.push_str(&format!(" recipe.link={},{}/24", link_mac(node), l.address(node)));
    }
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
    .args(["-append", &append])
    .args(["-nodefaults", "-display", "none", "-serial", "stdio", "-no-reboot"]);
    if let Some(disk) = req.disk {
        // VMs booting one disk together each write to a throwaway overlay.
        let drive = drive_option(disk, req.vms > 1);
        cmd.args(["-drive", &drive, "-device", "virtio-blk-device,drive=d0"]);
    }
    if req.user_network {
        let mut netdev = "user,id=n0".to_string();
        for f in req.forwards {
            let p = f.protocol.as_str();
            netdev.push_str(&format!(",hostfwd={p}:127.0.0.1:{}-:{}", f.host_port(node), f.guest));
        }
        cmd.args(["-netdev", &netdev])
            .args(["-device", &format!("virtio-net-device,netdev=n0,mac={USER_MAC}")]);
    }
    if let Some(p) = link {
        cmd.args([
            "-netdev",
            &format!(
                "dgram,id=l0,local.type=inet,local.host=127.0.0.1,local.port={},remote.type=inet,remote.host=127.0.0.1,remote.port={}",
                p.vm_port, p.hub_port
            ),
        ])
        .args(["-device", &format!("virtio-net-device,netdev=l0,mac={}", link_mac(node))]);
    }
    Ok(cmd)
}

fn kernel_command_line(console: &str, disk: bool) -> String {
    let root = if disk { " root=/dev/vda rw" } else { "" };
    format!("console={console} panic=1 rdinit=/init{root}")
}

/// `-drive` for a raw disk image; qemu reads `,` in a value as `,,`.
fn drive_option(disk: &Path, snapshot: bool) -> String {
    let file = disk.display().to_string().replace(',', ",,");
    let snapshot = if snapshot { ",snapshot=on" } else { "" };
    format!("if=none,file={file},format=raw,id=d0{snapshot}")
}

/// The VM ends with `recipe` even when `recipe` is killed (no orphaned
/// qemu): qemu is exec'd directly by its loader, so the signal reaches it.
pub(super) fn die_with_parent(cmd: &mut Command) {
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

/// A console line of VM `vm` (an index), or `None` when its console closed.
pub(super) type ConsoleEvent = (usize, Option<String>);

/// Reads a console on a thread: every line goes to the log (and stdout,
/// after `prefix`), then to the channel; `(vm, None)` follows the last line.
pub(super) fn console_lines(
    child: &mut Child,
    vm: usize,
    mut log: std::fs::File,
    echo: Option<String>,
    tx: mpsc::Sender<ConsoleEvent>,
) {
    let Some(out) = child.stdout.take() else {
        let _ = tx.send((vm, None));
        return;
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
            if let Some(prefix) = &echo {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(prefix.as_bytes());
                let _ = out.write_all(&buf);
            }
            let line = String::from_utf8_lossy(&buf).trim_end_matches(['\n', '\r']).to_string();
            buf.clear();
            if tx.send((vm, Some(line))).is_err() {
                return;
            }
        }
        let _ = tx.send((vm, None));
    });
}

pub(super) fn spawn_vm(
    mut cmd: Command,
    emulator: &str,
    log_path: &Path,
) -> Result<(Child, std::fs::File), ImageError> {
    if let Some(dir) = log_path.parent() {
        std::fs::create_dir_all(dir).map_err(super::io(format!("cannot create {}", dir.display())))?;
    }
    let log = std::fs::File::create(log_path).map_err(super::io(format!("cannot create {}", log_path.display())))?;
    let stderr = log.try_clone().map_err(super::io("cannot share the log"))?;
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(stderr);
    die_with_parent(&mut cmd);
    let child = cmd.spawn().map_err(super::io(format!("cannot start {emulator}")))?;
    Ok((child, log))
}
