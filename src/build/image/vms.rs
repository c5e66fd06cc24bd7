//! Running the VMs of one boot together: their consoles are read as one
//! stream of events; a VM that asks for it (`RECIPE-KILL`) loses power at
//! once (SIGKILL of its qemu, as when a board's plug is pulled); when one VM
//! fails or the timeout passes, every VM is killed; every qemu is reaped
//! before this returns.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Child;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::boot::{BootRequest, ConsoleEvent, console_lines, machine, spawn_vm, vm_command};
use super::link::Hub;
use super::{EXIT_MARKER, INIT_MARKER, ImageError, KILL_MARKER, STEP_MARKER};
use crate::model::target::Target;
use crate::toolchain::qemusystem::QemuSystem;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmEnd {
    /// The init (or the test steps) ended with this status.
    Exited(i32),
    /// It printed `RECIPE-KILL` and its qemu was killed, as it asked.
    KilledOnRequest,
    /// Killed by `recipe` because another VM failed.
    Stopped,
}

#[derive(Debug)]
pub struct VmOutcome {
    /// Numbered from 1.
    pub node: u32,
    pub end: VmEnd,
    /// From starting qemu to the prelude handing over to the init.
    pub to_init: Option<Duration>,
    /// The guest's uptime when its init started, as it printed it.
    pub guest_uptime: Option<String>,
    /// Test steps as they ended: (step number, status).
    pub steps: Vec<(u32, i32)>,
    /// The last console lines.
    pub last: Vec<String>,
    pub log: PathBuf,
}

#[derive(Debug)]
pub struct BootOutcome {
    pub vms: Vec<VmOutcome>,
    pub wall: Duration,
}

impl BootOutcome {
    /// 0 when every VM exited 0 or was killed as it asked; else the first
    /// failing status (1 for a VM stopped because another failed).
    pub fn status(&self) -> i32 {
        for vm in &self.vms {
            match vm.end {
                VmEnd::Exited(0) | VmEnd::KilledOnRequest => {}
                VmEnd::Exited(code) => return code,
                VmEnd::Stopped => {}
            }
        }
        i32::from(self.vms.iter().any(|v| v.end == VmEnd::Stopped))
    }
}

const KEEP_LINES: usize = 25;

struct Vm {
    child: Child,
    watch: Watch,
    log: PathBuf,
    closed: bool,
    end: Option<VmEnd>,
}

pub fn boot(qemu: &QemuSystem, target: &Target, req: &BootRequest) -> Result<BootOutcome, ImageError> {
    let m = machine(target)?;
    let hub = match req.link {
        Some(_) => Some(Hub::start(req.vms as usize).map_err(super::io("cannot open the VMs' link on loopback"))?),
        None => None,
    };
    let (tx, rx) = mpsc::channel::<ConsoleEvent>();
    let started = Instant::now();
    let mut vms: Vec<Vm> = Vec::new();
    for node in 1..=req.vms {
        let link = hub.as_ref().map(|h| h.ports[node as usize - 1]);
        let cmd = vm_command(qemu, m, req, node, link)?;
        let log = req.log_of(node);
        let spawned = spawn_vm(cmd, &m.qemu_system, &log);
        let (mut child, file) = match spawned {
            Ok(c) => c,
            Err(e) => {
                kill_all(&mut vms);
                return Err(e);
            }
        };
        let echo = req.echo.then(|| {
            if req.vms == 1 {
                String::new()
            } else {
                format!("[node{node}] ")
            }
        });
        console_lines(&mut child, vms.len(), file, echo, tx.clone());
        vms.push(Vm {
            child,
            watch: Watch::default(),
            log,
            closed: false,
            end: None,
        });
    }
    drop(tx);
    let failure = supervise(&mut vms, &rx, started, req);
    kill_all(&mut vms);
    drop(hub);
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(BootOutcome {
        vms: vms
            .into_iter()
            .enumerate()
            .map(|(i, vm)| VmOutcome {
                node: i as u32 + 1,
                end: vm.end.unwrap_or(VmEnd::Stopped),
                to_init: vm.watch.to_init,
                guest_uptime: vm.watch.uptime,
                steps: vm.watch.steps,
                last: vm.watch.last.into(),
                log: vm.log,
            })
            .collect(),
        wall: started.elapsed(),
    })
}

/// Follows the consoles until every VM has ended; returns the error that
/// ended the boot early (a timeout, a VM that ended without a status).
fn supervise(
    vms: &mut [Vm],
    rx: &mpsc::Receiver<ConsoleEvent>,
    started: Instant,
    req: &BootRequest,
) -> Option<ImageError> {
    let deadline = started + req.timeout;
    let several = vms.len() > 1;
    while vms.iter().any(|v| !v.closed) {
        let left = deadline.saturating_duration_since(Instant::now());
        let (i, line) = match rx.recv_timeout(left) {
            Ok(event) => event,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let i = vms.iter().position(|v| !v.closed).unwrap_or(0);
                kill_all(vms);
                let reason = if several {
                    let running: Vec<String> = (0..vms.len())
                        .filter(|j| vms[*j].end.is_none())
                        .map(|j| format!("node{}", j + 1))
                        .collect();
                    format!(
                        "no power-off within {} s ({} still running); every VM was killed",
                        req.timeout.as_secs(),
                        running.join(", ")
                    )
                } else {
                    format!("no power-off within {} s; the VM was killed", req.timeout.as_secs())
                };
                return Some(boot_error(req, vms, i, reason));
            }
        };
        let vm = &mut vms[i];
        match line {
            Some(line) => match vm.watch.see(line, started) {
                Seen::Kill => {
                    let _ = vm.child.kill();
                    vm.end = Some(VmEnd::KilledOnRequest);
                }
                Seen::Exit(code) => {
                    vm.end = Some(VmEnd::Exited(code));
                    if code != 0 && several {
                        // The others would wait for it until the timeout.
                        stop_others(vms, i);
                    }
                }
                Seen::Other => {}
            },
            None => {
                vm.closed = true;
                let status = vm.child.wait().map(|s| s.to_string()).unwrap_or_default();
                if vm.end.is_none() {
                    let reason = match (several, vm.watch.to_init.is_some()) {
                        (false, false) => format!("the VM ended ({status}) before the image's init started"),
                        (false, true) => format!("the VM ended ({status}) while the image's init ran"),
                        (true, false) => format!("node{} ended ({status}) before its init started", i + 1),
                        (true, true) => format!("node{} ended ({status}) while its init ran", i + 1),
                    };
                    kill_all(vms);
                    return Some(boot_error(req, vms, i, reason));
                }
            }
        }
    }
    None
}

fn stop_others(vms: &mut [Vm], failed: usize) {
    for (j, other) in vms.iter_mut().enumerate() {
        if j != failed && other.end.is_none() {
            let _ = other.child.kill();
            other.end = Some(VmEnd::Stopped);
        }
    }
}

fn boot_error(req: &BootRequest, vms: &[Vm], i: usize, reason: String) -> ImageError {
    let image = if vms.len() > 1 {
        format!("{} (node{})", req.name, i + 1)
    } else {
        req.name.to_string()
    };
    ImageError::Boot {
        image,
        reason,
        last: vms[i].watch.last.iter().cloned().collect::<Vec<_>>().join("\n"),
        log: vms[i].log.display().to_string(),
    }
}

/// Kills every VM still running and reaps them all.
fn kill_all(vms: &mut [Vm]) {
    for vm in vms.iter_mut() {
        if !matches!(vm.child.try_wait(), Ok(Some(_))) {
            let _ = vm.child.kill();
        }
        let _ = vm.child.wait();
    }
}

enum Seen {
    Kill,
    Exit(i32),
    Other,
}

#[derive(Default)]
struct Watch {
    last: VecDeque<String>,
    to_init: Option<Duration>,
    uptime: Option<String>,
    steps: Vec<(u32, i32)>,
}

impl Watch {
    fn see(&mut self, line: String, started: Instant) -> Seen {
        let mut seen = Seen::Other;
        if let Some(rest) = line.strip_prefix(INIT_MARKER) {
            self.to_init.get_or_insert(started.elapsed());
            self.uptime = Some(rest.trim().to_string());
        } else if let Some(rest) = line.strip_prefix(EXIT_MARKER) {
            if let Ok(code) = rest.trim().parse() {
                seen = Seen::Exit(code);
            }
        } else if line.trim_end() == KILL_MARKER {
            seen = Seen::Kill;
        } else if let Some(rest) = line.strip_prefix(STEP_MARKER) {
            // "RECIPE-STEP <n> end <status>"
            let words: Vec<&str> = rest.split_whitespace().collect();
            if let [n, "end", status] = words.as_slice()
                && let (Ok(n), Ok(status)) = (n.parse(), status.parse())
            {
                self.steps.push((n, status));
            }
        }
        if self.last.len() == KEEP_LINES {
            self.last.pop_front();
        }
        self.last.push_back(line);
        seen
    }
}
