//! The networking and test parts of an image file: `network "user"` with
//! host port forwards, `link` (a virtual L2 segment shared by the image's
//! VMs) and `test` (steps run in the booted VMs by `recipe test`).

use std::path::Path;

use kdl::{KdlNode, KdlValue};
use serde::Serialize;

use crate::recipe::decode::Decoder;

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// `forward "tcp" host=PORT guest=PORT`: the build machine's
/// `127.0.0.1:PORT` reaches the guest's port through user-mode networking.
/// VM number N (from 1) of a multi-VM image listens on `host + N - 1`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Hash)]
pub struct Forward {
    pub protocol: Protocol,
    pub host: u16,
    pub guest: u16,
}

impl Forward {
    /// The host port of VM `node` (numbered from 1).
    pub fn host_port(&self, node: u32) -> u16 {
        self.host.saturating_add(node.saturating_sub(1) as u16)
    }
}

/// `link "10.10.0.0/24"`: every VM of the image gets a second NIC on one
/// virtual Ethernet segment, VM number N with address `10.10.0.N/24`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Hash)]
pub struct Link {
    pub prefix: [u8; 3],
}

impl Link {
    pub fn address(&self, node: u32) -> String {
        let [a, b, c] = self.prefix;
        format!("{a}.{b}.{c}.{node}")
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
pub enum TestStep {
    /// A shell command line, run by busybox `sh -c`.
    Run(String),
    /// A shell script of the recipe directory, run by busybox `sh`.
    Script(String),
}

/// `test { run "…"; script "FILE"; timeout N }`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
pub struct ImageTest {
    pub steps: Vec<TestStep>,
    /// Seconds the whole test may take [default: the image's `timeout`].
    pub timeout: Option<u64>,
}

/// Up to this many VMs boot from one image (host numbers on the link).
pub const MAX_VMS: i128 = 32;

/// `network "user" { forward … }`: the kind (only "user") and forwards.
pub fn network(d: &mut Decoder, node: &KdlNode) -> (Option<String>, Vec<Forward>) {
    d.check_props(node, &[]);
    d.check_max_args(node, 1);
    let kind = match d.positional(node).first() {
        Some(e) => d.entry_string("network", e),
        None => {
            d.missing(node.span(), "a kind", "`network`", "write `network \"user\"`");
            None
        }
    };
    let kind = kind.and_then(|k| {
        if k.value == "user" {
            Some(k.value)
        } else {
            d.invalid(k.span, "network", "unknown kind", "write `network \"user\"`");
            None
        }
    });
    let mut forwards = Vec::new();
    for child in node.children().map(|c| c.nodes()).unwrap_or_default() {
        if child.name().value() != "forward" {
            d.unknown_node(child, "`network`", &["forward"]);
            continue;
        }
        if let Some(f) = forward(d, child) {
            if forwards.iter().any(|o: &Forward| o.host == f.host) {
                d.invalid(
                    child.span(),
                    "forward",
                    "this host port is forwarded twice",
                    "give each forward its own host port",
                );
            }
            forwards.push(f);
        }
    }
    (kind, forwards)
}

fn forward(d: &mut Decoder, node: &KdlNode) -> Option<Forward> {
    d.check_props(node, &["host", "guest"]);
    d.check_max_args(node, 1);
    d.check_no_children(node);
    let protocol = match d.positional(node).first().and_then(|e| d.entry_string("forward", e)) {
        Some(p) if p.value == "tcp" => Some(Protocol::Tcp),
        Some(p) if p.value == "udp" => Some(Protocol::Udp),
        Some(p) => {
            d.invalid(p.span, "forward", "unknown protocol", "write \"tcp\" or \"udp\"");
            None
        }
        None => {
            d.missing(
                node.span(),
                "a protocol",
                "`forward`",
                "write `forward \"tcp\" host=8080 guest=80`",
            );
            None
        }
    };
    let host = port(d, node, "host");
    let guest = port(d, node, "guest");
    Some(Forward {
        protocol: protocol?,
        host: host?,
        guest: guest?,
    })
}

fn port(d: &mut Decoder, node: &KdlNode, prop: &str) -> Option<u16> {
    let entry = node
        .entries()
        .iter()
        .find(|e| e.name().map(|n| n.value()) == Some(prop));
    match entry.map(|e| (e, e.value())) {
        Some((_, KdlValue::Integer(i))) if (1..=65_535).contains(i) => Some(*i as u16),
        Some((e, _)) => {
            d.invalid(e.span(), prop, "not a port number", "use a number from 1 to 65535");
            None
        }
        None => {
            d.missing(
                node.span(),
                &format!("`{prop}=`"),
                "`forward`",
                "write `forward \"tcp\" host=8080 guest=80`",
            );
            None
        }
    }
}

/// `link "A.B.C.0/24"`.
pub fn link(d: &mut Decoder, node: &KdlNode) -> Option<Link> {
    let net = d.single_string(node)?;
    let parsed = net.value.strip_suffix(".0/24").and_then(|p| {
        let parts: Vec<u8> = p.split('.').filter_map(|x| x.parse().ok()).collect();
        <[u8; 3]>::try_from(parts).ok().filter(|_| p.split('.').count() == 3)
    });
    if parsed.is_none() {
        d.invalid(
            net.span,
            "link",
            "not an IPv4 /24 network",
            "write the network as `link \"10.10.0.0/24\"` (VM N gets 10.10.0.N)",
        );
    }
    parsed.map(|prefix| Link { prefix })
}

/// `test { run "…"; script "FILE"; timeout N }`.
pub fn test(d: &mut Decoder, node: &KdlNode) -> Option<ImageTest> {
    d.check_props(node, &[]);
    d.check_max_args(node, 0);
    let mut t = ImageTest {
        steps: Vec::new(),
        timeout: None,
    };
    for child in node.children().map(|c| c.nodes()).unwrap_or_default() {
        match child.name().value() {
            "run" => t.steps.extend(d.single_string(child).map(|s| TestStep::Run(s.value))),
            "script" => {
                if let Some(s) = d.single_string(child) {
                    if Path::new(&s.value).is_absolute() || s.value.split('/').any(|c| c == "..") {
                        d.invalid(
                            s.span,
                            "path",
                            "it leaves the recipe directory",
                            "give a path inside the recipe directory",
                        );
                    }
                    t.steps.push(TestStep::Script(s.value));
                }
            }
            "timeout" => t.timeout = d.single_int(child, 1, 86_400).map(|v| v.value as u64),
            _ => d.unknown_node(child, "`test`", &["run", "script", "timeout"]),
        }
    }
    if t.steps.is_empty() {
        d.missing(
            node.span(),
            "a step",
            "`test`",
            "write `test { script \"test.sh\" }` or `test { run \"…\" }`",
        );
        return None;
    }
    Some(t)
}
