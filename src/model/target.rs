//! Target definitions (`toolchains/<target>.kdl`): what a target is and where
//! its compiler comes from.

use std::path::Path;

use kdl::KdlNode;
use miette::SourceSpan;
use serde::Serialize;

pub use crate::model::target_image::TargetImage;
use crate::model::target_image::decode_target_image;
use crate::recipe::bounds::read_definition;
use crate::recipe::decode::{Decoder, Spanned, parse_document};
use crate::recipe::error::{RecipeErrors, SourceFile, closest};

use super::python_target::python_target;
pub use super::python_target::{PythonTarget, PythonVersion, minor_of};

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
pub struct GoTarget {
    pub arch: String,
    /// GOARM (only for 32-bit ARM).
    pub arm: Option<String>,
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
    /// What `recipe test` runs the target's tests in.
    pub test: TestRuntime,
    /// How images of the target boot; `None`: they cannot.
    pub image: Option<TargetImage>,
}

/// `test-runtime`: the root file system tests run in, from the target file
/// (nothing about it is hard-coded in the tool).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, Hash)]
pub struct TestRuntime {
    /// Debian suite of the root (default: the sysroot's suite). Lets an
    /// x86_64 target built against bookworm be tested with trixie's Python.
    pub suite: Option<String>,
    /// Debian packages every test root has (`packages "libc6"`).
    pub packages: Vec<String>,
    /// Debian packages added when a test has `python` steps.
    pub python: Vec<String>,
    /// A recipe built for the target whose library is preloaded into test
    /// programs under qemu (`preload "RECIPE" library="PATH"`, the path
    /// inside the recipe's staged output).
    pub preload: Option<Preload>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
pub struct Preload {
    pub recipe: String,
    pub library: String,
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
    "image",
];

impl Target {
    /// Whether target programs need qemu on this build machine.
    pub fn emulated(&self) -> bool {
        self.qemu.is_some()
    }

    /// Reads a target file; also returns the file and the span of the name,
    /// for errors that involve several files (duplicate names).
    pub fn load(path: &Path, display: &str) -> Result<(Target, SourceFile, SourceSpan), RecipeErrors> {
        let file = read_definition(path, display)?;
        let (target, span) = Target::parse_located(&file)?;
        Ok((target, file, span))
    }

    pub fn parse(file: &SourceFile) -> Result<Target, RecipeErrors> {
        Target::parse_located(file).map(|(t, _)| t)
    }

    fn parse_located(file: &SourceFile) -> Result<(Target, SourceSpan), RecipeErrors> {
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

fn parse_target(d: &mut Decoder, node: &KdlNode) -> Option<(Target, SourceSpan)> {
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
    let mut test = TestRuntime::default();
    let mut image = None;
    let mut seen = Vec::new();
    for child in node.children().map(|c| c.nodes()).unwrap_or_default() {
        let key = child.name().value();
        if key != "cflags" && key != "ldflags" && TARGET_NODES.contains(&key) && !d.once(&mut seen, child) {
            continue;
        }
        match key {
            "triple" => triple = d.single_string(child).map(|s| s.value),
            "arch" => arch = d.single_string(child).and_then(|s| known(d, s, "arch", ARCHES)),
            "debian-arch" => {
                debian_arch = d
                    .single_string(child)
                    .and_then(|s| known(d, s, "debian-arch", DEBIAN_ARCHES))
            }
            "cflags" => cflags.extend(d.strings(child).into_iter().map(|s| s.value)),
            "ldflags" => ldflags.extend(d.strings(child).into_iter().map(|s| s.value)),
            "qemu" => qemu = d.single_string(child).map(|s| s.value),
            "sysroot" => sysroot = d.single_string(child).map(|s| s.value),
            "go" => go = go_target(d, child),
            "python" => python = python_target(d, child),
            "toolchain" => toolchain = toolchain_source(d, child),
            "test-runtime" => test = test_runtime(d, child),
            "elf" => elf = elf_expect(d, child),
            "image" => image = decode_target_image(d, child),
            _ => d.unknown_node(child, "`target`", TARGET_NODES),
        }
    }
    let name = name?;
    if let Err(reason) = check_path_name(&name.value) {
        d.invalid(
            name.span,
            "target name",
            &reason,
            "the name is a directory name under the cache and out/: use letters, digits, `-`, `_` and `.`, not starting with `.`",
        );
    }
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
    let target = Target {
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
        test,
        image,
    };
    Some((target, name.span))
}

fn go_target(d: &mut Decoder, node: &KdlNode) -> Option<GoTarget> {
    d.check_props(node, &["arch", "arm"]);
    d.check_max_args(node, 0);
    let a = d.prop_string(node, "arch");
    if a.is_none() {
        d.missing(node.span(), "`arch=`", "`go`", "write `go arch=\"arm\" arm=\"7\"`");
    }
    a.map(|a| GoTarget {
        arch: a.value,
        arm: d.prop_string(node, "arm").map(|s| s.value),
    })
}

fn toolchain_source(d: &mut Decoder, node: &KdlNode) -> Option<ToolchainSource> {
    let kind = d.positional(node).first().and_then(|e| d.entry_string("toolchain", e));
    match kind.as_ref().map(|k| k.value.as_str()) {
        Some("host") => {
            d.check_props(node, &[]);
            d.check_max_args(node, 1);
            d.check_no_children(node);
            Some(ToolchainSource::Host)
        }
        Some("debian") => {
            d.check_props(node, &["suite"]);
            d.check_max_args(node, 1);
            let suite = d.prop_string(node, "suite");
            let mut packages = Vec::new();
            for p in node.children().map(|c| c.nodes()).unwrap_or_default() {
                if p.name().value() == "packages" {
                    packages.extend(d.strings(p).into_iter().map(|s| s.value));
                } else {
                    d.unknown_node(p, "`toolchain debian`", &["packages"]);
                }
            }
            match suite {
                Some(s) if !packages.is_empty() => Some(ToolchainSource::Debian {
                    suite: s.value,
                    packages,
                }),
                _ => {
                    d.missing(
                        node.span(),
                        "`suite=` or `packages`",
                        "`toolchain debian`",
                        "write `toolchain debian suite=\"bookworm\" { packages \"gcc-…\" }`",
                    );
                    None
                }
            }
        }
        _ => {
            d.invalid(
                node.span(),
                "toolchain",
                "expected `host` or `debian`",
                "write `toolchain host` or `toolchain debian suite=\"bookworm\" { packages \"…\" }`",
            );
            None
        }
    }
}

fn elf_expect(d: &mut Decoder, node: &KdlNode) -> Option<ElfExpect> {
    d.check_props(node, &["machine", "class"]);
    d.check_max_args(node, 0);
    let machine = d.prop_string(node, "machine");
    let class = node.entry("class").and_then(|e| e.value().as_integer());
    match (machine, class) {
        (Some(m), Some(c @ (32 | 64))) => {
            let machines: Vec<&str> = crate::elf::MACHINES.iter().map(|(_, n)| *n).collect();
            known(d, m, "elf machine", &machines).map(|machine| ElfExpect {
                machine,
                class: c as u8,
            })
        }
        _ => {
            d.missing(
                node.span(),
                "`machine=` or `class=` (32 or 64)",
                "`elf`",
                "write `elf machine=\"arm\" class=32`",
            );
            None
        }
    }
}

fn test_runtime(d: &mut Decoder, node: &KdlNode) -> TestRuntime {
    d.check_props(node, &["suite"]);
    d.check_max_args(node, 0);
    let mut test = TestRuntime {
        suite: d.prop_string(node, "suite").map(|s| s.value),
        ..TestRuntime::default()
    };
    const CHILDREN: &[&str] = &["packages", "python", "preload"];
    let mut seen = Vec::new();
    for child in node.children().map(|c| c.nodes()).unwrap_or_default() {
        let key = child.name().value();
        if CHILDREN.contains(&key) && !d.once(&mut seen, child) {
            continue;
        }
        match key {
            "packages" => test.packages = d.strings(child).into_iter().map(|s| s.value).collect(),
            "python" => test.python = d.strings(child).into_iter().map(|s| s.value).collect(),
            "preload" => {
                d.check_props(child, &["library"]);
                d.check_max_args(child, 1);
                d.check_no_children(child);
                let recipe = match d.positional(child).first() {
                    Some(e) => d.entry_string("preload", e).map(|s| s.value),
                    None => {
                        d.missing(
                            child.span(),
                            "a recipe",
                            "`preload`",
                            "write `preload \"RECIPE\" library=\"PATH\"`",
                        );
                        None
                    }
                };
                let library = d.prop_string(child, "library").map(|s| s.value);
                match (recipe, library) {
                    (Some(recipe), Some(library)) => test.preload = Some(Preload { recipe, library }),
                    (Some(_), None) => d.missing(
                        child.span(),
                        "library",
                        "preload",
                        "write `preload \"RECIPE\" library=\"usr/lib/…/lib.so\"` (the path in the recipe's output)",
                    ),
                    (None, _) => {}
                }
            }
            _ => d.unknown_node(child, "test-runtime", CHILDREN),
        }
    }
    test
}

/// CPU families as autotools, CMake and Meson name them (`arch`).
pub const ARCHES: &[&str] = &[
    "aarch64",
    "arm",
    "loongarch64",
    "mips64",
    "ppc64",
    "riscv64",
    "s390x",
    "x86",
    "x86_64",
];

/// Debian's release and ports architectures (`debian-arch`).
pub const DEBIAN_ARCHES: &[&str] = &[
    "amd64", "arm64", "armel", "armhf", "i386", "loong64", "mips64el", "ppc64el", "riscv64", "s390x",
];

/// Reports `value` unless it is one of `names`, with the closest name. The
/// value is returned either way: it is present, so not also "missing".
fn known(d: &mut Decoder, value: Spanned<String>, what: &str, names: &[&str]) -> Option<String> {
    if names.contains(&value.value.as_str()) {
        return Some(value.value);
    }
    let list = names.join(", ");
    let help = match closest(&value.value, names.iter().copied()) {
        Some(c) => format!("did you mean `{c}`? known: {list}"),
        None => format!("known: {list}"),
    };
    d.invalid(value.span, what, &format!("unknown {what} `{}`", value.value), &help);
    Some(value.value)
}

/// Names that become a directory name (targets, sysroots): one safe path
/// component, so `../x` or `.hidden` can never address another directory.
pub fn check_path_name(name: &str) -> Result<(), String> {
    let reason = if name.is_empty() {
        "empty"
    } else if name.len() > 64 {
        "longer than 64 characters"
    } else if name.contains(['/', '\\']) {
        "contains a path separator"
    } else if name.starts_with('.') {
        "starts with `.`"
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        "has characters other than letters, digits, `-`, `_` and `.`"
    } else {
        return Ok(());
    };
    Err(format!("`{name}` {reason}"))
}

#[cfg(test)]
pub(crate) mod tests {
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

    /// An armv7hf target file's required nodes, its closing brace left out
    /// for the test's own nodes.
    pub(crate) const OPEN_TARGET: &str = r#"target t {
    triple "arm-linux-gnueabihf"
    arch "arm"
    debian-arch "armhf"
    go arch="arm" arm="7"
    python platform="linux_armv7l" machine="armv7l" lib-dir="linux-armv7"
    toolchain host
    sysroot "debian-trixie"
    elf machine="arm" class=32
"#;

    #[test]
    fn test_runtime_comes_from_the_target_file() {
        let parse = |extra: &str| Target::parse(&SourceFile::new("t.kdl", format!("{OPEN_TARGET}{extra}\n}}")));
        let t = parse(
            r#"test-runtime suite="trixie" {
        packages "libc6"
        python "python3" "python3-cffi"
        preload "qemu-aio-preload" library="usr/lib/recipe/libaio-emul.so"
    }"#,
        )
        .expect("valid");
        assert_eq!(t.test.suite.as_deref(), Some("trixie"));
        assert_eq!(t.test.packages, ["libc6"]);
        assert_eq!(t.test.python, ["python3", "python3-cffi"]);
        assert_eq!(
            t.test.preload,
            Some(Preload {
                recipe: "qemu-aio-preload".into(),
                library: "usr/lib/recipe/libaio-emul.so".into()
            })
        );
        assert_eq!(parse("").expect("valid").test, TestRuntime::default());
        let err = parse(r#"test-runtime { preload "x"; pakages "libc6"; }"#).expect_err("invalid");
        let text = format!("{err:?}");
        assert!(text.contains("library") && text.contains("pakages"), "{text}");
    }

    #[test]
    fn python_versions_each_from_a_suite() {
        let parse = |python: &str| {
            Target::parse(&SourceFile::new(
                "t.kdl",
                format!(
                    r#"target t {{
    triple "arm-linux-gnueabihf"
    arch "arm"
    debian-arch "armhf"
    go arch="arm" arm="7"
    {python}
    toolchain host
    sysroot "debian-trixie"
    elf machine="arm" class=32
}}"#
                ),
            ))
        };
        let t = parse(
            r#"python platform="linux_armv7l" machine="armv7l" lib-dir="linux-armv7" {
        version "3.13" suite="trixie"
        version "3.11" suite="bookworm"
    }"#,
        )
        .expect("valid");
        let listed: Vec<(&str, &str)> = t
            .python
            .versions
            .iter()
            .map(|v| (v.version.as_str(), v.suite.as_str()))
            .collect();
        assert_eq!(listed, [("3.11", "bookworm"), ("3.13", "trixie")], "lowest first");
        assert_eq!(t.python.versions[0].tag(), "cp311");
        // Without children: one Python, the test runtime's suite's (today's default).
        let plain = parse(r#"python platform="linux_armv7l" machine="armv7l" lib-dir="linux-armv7""#).expect("valid");
        assert!(plain.python.versions.is_empty());
        let err = parse(
            r#"python platform="linux_armv7l" machine="armv7l" lib-dir="linux-armv7" {
        version "3.11" suite="bookworm"
        version "3.11" suite="trixie"
        version "2.7" suite="buster"
        version "3.12"
        versoin "3.13" suite="trixie"
        version "3.10" suite="../x"
    }"#,
        )
        .expect_err("invalid");
        let text = format!("{err:?}");
        for needle in ["3.11", "2.7", "suite=", "versoin", "../x"] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        assert_eq!(err.errors.len(), 5, "{text}");
    }

    #[test]
    fn missing_fields_are_reported() {
        let err = Target::parse(&SourceFile::new("x.kdl", "target x { triple \"a-b-c\" }")).expect_err("incomplete");
        assert!(err.errors.len() >= 5);
    }
}
