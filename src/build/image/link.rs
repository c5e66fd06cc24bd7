//! The virtual Ethernet segment the VMs of one image share (`link`): each
//! VM's second NIC is a qemu `dgram` netdev that sends its frames as UDP
//! datagrams to its own socket of this hub on 127.0.0.1, and the hub repeats
//! every frame to all other VMs. No root, no multicast, nothing outside
//! loopback; the hub lives as long as the VMs.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// One port pair per VM: the VM's netdev binds `vm_port` and sends to `hub_port`.
#[derive(Debug, Clone, Copy)]
pub struct LinkPorts {
    pub hub_port: u16,
    pub vm_port: u16,
}

pub struct Hub {
    pub ports: Vec<LinkPorts>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// Largest frame a virtio NIC sends without offloads (MTU 1500 + header),
/// with room to spare.
const FRAME: usize = 65_536;

impl Hub {
    /// Binds the hub's sockets for `vms` VMs and starts repeating.
    pub fn start(vms: usize) -> std::io::Result<Hub> {
        let mut sockets = Vec::new();
        let mut ports = Vec::new();
        for _ in 0..vms {
            let hub = UdpSocket::bind("127.0.0.1:0")?;
            hub.set_read_timeout(Some(Duration::from_millis(200)))?;
            ports.push(LinkPorts {
                hub_port: hub.local_addr()?.port(),
                vm_port: free_udp_port()?,
            });
            sockets.push(Arc::new(hub));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let peers: Arc<Vec<(Arc<UdpSocket>, SocketAddr)>> = Arc::new(
            sockets
                .iter()
                .zip(&ports)
                .map(|(s, p)| (s.clone(), SocketAddr::from(([127, 0, 0, 1], p.vm_port))))
                .collect(),
        );
        let threads = (0..vms)
            .map(|i| {
                let (peers, stop) = (peers.clone(), stop.clone());
                std::thread::spawn(move || repeat(i, &peers, &stop))
            })
            .collect();
        Ok(Hub { ports, stop, threads })
    }
}

/// Frames from VM `from` go out to every other VM, each from that VM's own
/// hub socket (the address its netdev sends to).
fn repeat(from: usize, peers: &[(Arc<UdpSocket>, SocketAddr)], stop: &AtomicBool) {
    let mut buf = vec![0u8; FRAME];
    let (socket, vm) = &peers[from];
    while !stop.load(Ordering::Relaxed) {
        match socket.recv_from(&mut buf) {
            // Only the VM's own netdev may speak on its port.
            Ok((n, sender)) if sender == *vm => {
                for (j, (out, to)) in peers.iter().enumerate() {
                    if j != from {
                        let _ = out.send_to(&buf[..n], to);
                    }
                }
            }
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            // A VM that is not up yet (or gone) answers with ICMP refusals.
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// A UDP port free on loopback now, for a VM's netdev to bind (qemu binds
/// it itself; the window between here and there is qemu's start-up).
fn free_udp_port() -> std::io::Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames from one member reach every other member, not the sender,
    /// and datagrams from strangers are dropped.
    #[test]
    fn repeats_frames_to_every_other_member() {
        let hub = Hub::start(3).expect("hub");
        let vms: Vec<UdpSocket> = hub
            .ports
            .iter()
            .map(|p| {
                let s = UdpSocket::bind(("127.0.0.1", p.vm_port)).expect("bind vm port");
                s.set_read_timeout(Some(Duration::from_millis(500))).expect("timeout");
                s
            })
            .collect();
        vms[0]
            .send_to(b"frame-from-1", ("127.0.0.1", hub.ports[0].hub_port))
            .expect("send");
        let mut buf = [0u8; 64];
        for (i, vm) in vms.iter().enumerate().skip(1) {
            let (n, from) = vm.recv_from(&mut buf).expect("frame repeated");
            assert_eq!(&buf[..n], b"frame-from-1");
            assert_eq!(
                from.port(),
                hub.ports[i].hub_port,
                "sent from the member's own hub port"
            );
        }
        assert!(vms[0].recv_from(&mut buf).is_err(), "not echoed to the sender");
        let stranger = UdpSocket::bind("127.0.0.1:0").expect("bind");
        stranger
            .send_to(b"spoof", ("127.0.0.1", hub.ports[0].hub_port))
            .expect("send");
        assert!(vms[1].recv_from(&mut buf).is_err(), "strangers are not repeated");
    }
}
