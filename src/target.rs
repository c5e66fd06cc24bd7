//! Target definitions (`toolchains/<target>.kdl`): what a target is and where
//! its compiler comes from.

use std::path::Path;

use kdl::KdlNode;
use serde::Serialize;

use crate::recipe::decode::{Decoder, parse_document};
use crate::recipe::error::{RecipeError, RecipeErrors, SourceFile};

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
pub struct GoTarget {
    pub arch: String,
    /// GOARM (only for 32-bit ARM).
    pub arm: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
pub struct PythonTarget {
    /// Wheel platform tag fallback, e.g. `linux_armv7l`.
    pub platform: String,
    /// `platform.machine()` on the target, e.g. `armv7l`.
    pub machine: String,
    /// Directory name under a package's `_lib/`, e.g. `linux-armv7`.
    pub lib_dir: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ToolchainSource {
    /// The build machine's own gcc.
    Host,
    /// Debian binary packages unpacked into the cache.
    Debian { suite: String, packages: Vec<String> },
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
pub struct ElfExpect {
    /// ELF `e_machine` name: arm, aarch64, x86_64.
    pub machine: String,
    pub class: u8,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
pub struct Target {
    pub name: String,
    pub triple: String,
    /// CPU family as the kernel and autotools call it (arm, aarch64, x86_64).
    pub arch: String,
    pub debian_arch: String,
    pub cflags: Vec<String>,
    pub ldflags: Vec<String>,
    pub go: GoTarget,
    pub python: PythonTarget,
    /// qemu-user binary name; `None` when the target runs natively.
    pub qemu: Option<String>,
    pub toolchain: ToolchainSource,
    pub sysroot: String,
    pub elf: ElfExpect,
    /// Debian suite of the root file system tests run in (default: the
    /// sysroot's suite). Lets an x86_64 target built against bookworm be
    /// tested with trixie's Python.
    pub test_suite: Option<String>,
}

const TARGET_NODES: &[&str] = &[
    "test-runtime",
    "triple",
    "arch",
    "debian-arch",
    "cflags",
    "ldflags",
    "go",
    "python",
    "qemu",
    "toolchain",
    "sysroot",
    "elf",
];

impl Target {
    /// Whether target programs need qemu on this build machine.
    pub fn emulated(&self) -> bool {
        self.qemu.is_some()
    }

    pub fn load(path: &Path, display: &str) -> Result<Target, RecipeErrors> {
        let text = std::fs::read_to_string(path).map_err(|source| RecipeError::Io {
            path: path.display().to_string(),
            source: source.into(),
        })?;
        Target::parse(&SourceFile::new(display, text))
    }

    pub fn parse(file: &SourceFile) -> Result<Target, RecipeErrors> {
        let doc = parse_document(file)?;
        let mut d = Decoder::new(file);
        let mut target = None;
        for node in doc.nodes() {
            if node.name().value() == "target" && target.is_none() {
                target = parse_target(&mut d, node);
            } else {
                d.unknown_node(node, "a target file", &["target"]);
            }
        }
        if target.is_none() && d.errors.is_empty() {
            d.missing(
                (0, 0).into(),
                "`target`",
                "the target file",
                "write `target NAME { triple \"…\" … }`",
            );
        }
        match target {
            Some(t) if d.errors.is_empty() => Ok(t),
            _ => Err(RecipeErrors { errors: d.errors }),
        }
    }
}

fn parse_target(d: &mut Decoder, node: &KdlNode) -> Option<Target> {
    d.check_props(node, &[]);
    let name = match d.positional(node).first() {
        Some(e) => d.entry_string("target", e),
        None => None,
    };
    let mut triple = None;
    let mut arch = None;
    let mut debian_arch = None;
    let mut cflags = Vec::new();
    let mut ldflags = Vec::new();
    let mut go = None;
    let mut python = None;
    let mut qemu = None;
    let mut toolchain = None;
    let mut sysroot = None;
    let mut elf = None;
    let mut test_suite = None;
    let mut seen = Vec::new();
    for child in node.children().map(|c| c.nodes()).unwrap_or_default() {
        let key = child.name().value();
        if key != "cflags" && key != "ldflags" && TARGET_NODES.contains(&key) && !d.once(&mut seen, child) {
            continue;
        }
        match key {
            "triple" => triple = d.single_string(child).map(|s| s.value),
            "arch" => arch = d.single_string(child).map(|s| s.value),
            "debian-arch" => debian_arch = d.single_string(child).map(|s| s.value),
            "cflags" => cflags.extend(d.strings(child).into_iter().map(|s| s.value)),
            "ldflags" => ldflags.extend(d.strings(child).into_iter().map(|s| s.value)),
            "qemu" => qemu = d.single_string(child).map(|s| s.value),
            "sysroot" => sysroot = d.single_string(child).map(|s| s.value),
            "go" => {
                d.check_props(child, &["arch", "arm"]);
                d.check_max_args(child, 0);
                let a = d.prop_string(child, "arch");
                if a.is_none() {
                    d.missing(child.span(), "`arch=`", "`go`", "write `go arch=\"arm\" arm=\"7\"`");
                }
                go = a.map(|a| GoTarget {
                    arch: a.value,
                    arm: d.prop_string(child, "arm").map(|s| s.value),
                });
            }
            "python" => {
                d.check_props(child, &["platform", "machine", "lib-dir"]);
                d.check_max_args(child, 0);
                let p = d.prop_string(child, "platform");
                let m = d.prop_string(child, "machine");
                let l = d.prop_string(child, "lib-dir");
                match (p, m, l) {
                    (Some(p), Some(m), Some(l)) => {
                        python = Some(PythonTarget {
                            platform: p.value,
                            machine: m.value,
                            lib_dir: l.value,
                        })
                    }
                    _ => d.missing(
                        child.span(),
                        "`platform=`, `machine=` or `lib-dir=`",
                        "`python`",
                        "write `python platform=\"linux_armv7l\" machine=\"armv7l\" lib-dir=\"linux-armv7\"`",
                    ),
                }
            }
            "toolchain" => {
                let kind = d.positional(child).first().and_then(|e| d.entry_string("toolchain", e));
                match kind.as_ref().map(|k| k.value.as_str()) {
                    Some("host") => {
                        d.check_props(child, &[]);
                        d.check_max_args(child, 1);
                        d.check_no_children(child);
                        toolchain = Some(ToolchainSource::Host);
                    }
                    Some("debian") => {
                        d.check_props(child, &["suite"]);
                        d.check_max_args(child, 1);
                        let suite = d.prop_string(child, "suite");
                        let mut packages = Vec::new();
                        for p in child.children().map(|c| c.nodes()).unwrap_or_default() {
                            if p.name().value() == "packages" {
                                packages.extend(d.strings(p).into_iter().map(|s| s.value));
                            } else {
                                d.unknown_node(p, "`toolchain debian`", &["packages"]);
                            }
                        }
                        match suite {
                            Some(s) if !packages.is_empty() => {
                                toolchain = Some(ToolchainSource::Debian {
                                    suite: s.value,
                                    packages,
                                })
                            }
                            _ => d.missing(
                                child.span(),
                                "`suite=` or `packages`",
                                "`toolchain debian`",
                                "write `toolchain debian suite=\"bookworm\" { packages \"gcc-…\" }`",
                            ),
                        }
                    }
                    _ => d.invalid(
                        child.span(),
                        "toolchain",
                        "expected `host` or `debian`",
                        "write `toolchain host` or `toolchain debian suite=\"bookworm\" { packages \"…\" }`",
                    ),
                }
            }
            "test-runtime" => {
                d.check_props(child, &["suite"]);
                d.check_max_args(child, 0);
                d.check_no_children(child);
                test_suite = d.prop_string(child, "suite").map(|s| s.value);
            }
            "elf" => {
                d.check_props(child, &["machine", "class"]);
                d.check_max_args(child, 0);
                let machine = d.prop_string(child, "machine");
                let class = child.entry("class").and_then(|e| e.value().as_integer());
                match (machine, class) {
                    (Some(m), Some(c @ (32 | 64))) => {
                        elf = Some(ElfExpect {
                            machine: m.value,
                            class: c as u8,
                        })
                    }
                    _ => d.missing(
                        child.span(),
                        "`machine=` or `class=` (32 or 64)",
                        "`elf`",
                        "write `elf machine=\"arm\" class=32`",
                    ),
                }
            }
            _ => d.unknown_node(child, "`target`", TARGET_NODES),
        }
    }
    let name = name?;
    let ctx = format!("target `{}`", name.value);
    let mut need = |v: bool, field: &str| {
        if !v {
            d.missing(
                node.span(),
                &format!("`{field}`"),
                &ctx,
                &format!("add `{field}` to the target"),
            );
        }
    };
    need(triple.is_some(), "triple");
    need(arch.is_some(), "arch");
    need(debian_arch.is_some(), "debian-arch");
    need(go.is_some(), "go");
    need(python.is_some(), "python");
    need(toolchain.is_some(), "toolchain");
    need(sysroot.is_some(), "sysroot");
    need(elf.is_some(), "elf");
    Some(Target {
        name: name.value,
        triple: triple?,
        arch: arch?,
        debian_arch: debian_arch?,
        cflags,
        ldflags,
        go: go?,
        python: python?,
        qemu,
        toolchain: toolchain?,
        sysroot: sysroot?,
        elf: elf?,
        test_suite,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_target() {
        let t = Target::parse(&SourceFile::new(
            "armv7hf.kdl",
            r#"target armv7hf {
    triple "arm-linux-gnueabihf"
    arch "arm"
    debian-arch "armhf"
    cflags "-march=armv7-a" "-mfloat-abi=hard"
    go arch="arm" arm="7"
    python platform="linux_armv7l" machine="armv7l" lib-dir="linux-armv7"
    qemu "qemu-arm"
    toolchain debian suite="bookworm" { packages "gcc-arm-linux-gnueabihf"; }
    sysroot "debian-trixie"
    elf machine="arm" class=32
}"#,
        ))
        .expect("valid target");
        assert_eq!(t.go.arm.as_deref(), Some("7"));
        assert!(t.emulated());
        assert_eq!(t.cflags.len(), 2);
    }

    #[test]
    fn missing_fields_are_reported() {
        let err = Target::parse(&SourceFile::new("x.kdl", "target x { triple \"a-b-c\" }")).expect_err("incomplete");
        assert!(err.errors.len() >= 5);
    }
}
