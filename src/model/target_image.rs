//! A target's `image { … }` node: how images of the target boot — the
//! Debian kernel flavour, the qemu-system emulator, machine, CPU and
//! console. Nothing of this is in the tool's code: a target without it
//! cannot boot images.

use kdl::KdlNode;
use serde::Serialize;

use crate::recipe::decode::{Decoder, Spanned};
use crate::recipe::error::closest;

/// The emulators the provisioned qemu-system package ships.
pub const QEMU_SYSTEM_EMULATORS: &[&str] = &["qemu-system-arm", "qemu-system-aarch64"];

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
pub struct TargetImage {
    /// The Debian kernel flavour metapackage, e.g. `linux-image-armmp`; its
    /// versioned `linux-image-*` dependency is the kernel.
    pub kernel: String,
    /// `qemu-system-arm` or `qemu-system-aarch64`.
    pub qemu_system: String,
    /// qemu `-M` (the images' devices are virtio-mmio, as on `virt`).
    pub machine: String,
    /// qemu `-cpu`.
    pub cpu: String,
    /// The serial console device as the kernel names it, e.g. `ttyAMA0`.
    pub console: String,
}

const CHILDREN: &[&str] = &["kernel", "qemu-system", "machine", "cpu", "console"];
const EXAMPLE: &str = "image { kernel \"linux-image-armmp\"; qemu-system \"qemu-system-arm\"; machine \"virt\"; cpu \"cortex-a15\"; console \"ttyAMA0\" }";

/// Decodes `image { … }` of a target; every child is required.
pub fn decode_target_image(d: &mut Decoder, node: &KdlNode) -> Option<TargetImage> {
    d.check_props(node, &[]);
    d.check_max_args(node, 0);
    let mut seen = Vec::new();
    let (mut kernel, mut qemu_system, mut machine, mut cpu, mut console) = (None, None, None, None, None);
    for child in node.children().map(|c| c.nodes()).unwrap_or_default() {
        let key = child.name().value();
        if CHILDREN.contains(&key) && !d.once(&mut seen, child) {
            continue;
        }
        let v = if CHILDREN.contains(&key) {
            d.single_string(child)
        } else {
            None
        };
        match (key, v) {
            ("kernel", Some(v)) => kernel = check_kernel(d, v),
            ("qemu-system", Some(v)) => qemu_system = check_emulator(d, v),
            ("machine", Some(v)) => machine = check_word(d, v, "machine"),
            ("cpu", Some(v)) => cpu = check_word(d, v, "cpu"),
            ("console", Some(v)) => console = check_word(d, v, "console"),
            (k, _) if CHILDREN.contains(&k) => {}
            _ => d.unknown_node(child, "`image` of a target", CHILDREN),
        }
    }
    for (have, field) in [
        (kernel.is_some(), "kernel"),
        (qemu_system.is_some(), "qemu-system"),
        (machine.is_some(), "machine"),
        (cpu.is_some(), "cpu"),
        (console.is_some(), "console"),
    ] {
        if !have && seen.iter().all(|(k, _)| k != field) {
            d.missing(
                node.span(),
                &format!("`{field}`"),
                "`image`",
                &format!("write `{EXAMPLE}`"),
            );
        }
    }
    Some(TargetImage {
        kernel: kernel?,
        qemu_system: qemu_system?,
        machine: machine?,
        cpu: cpu?,
        console: console?,
    })
}

/// A Debian kernel flavour metapackage: `linux-image-` and a flavour made
/// of a package name's characters (whether the suite has it is known only
/// when the kernel is provisioned).
fn check_kernel(d: &mut Decoder, v: Spanned<String>) -> Option<String> {
    let flavour = v.value.strip_prefix("linux-image-").unwrap_or("");
    let ok = !flavour.is_empty()
        && flavour
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.'));
    if ok {
        return Some(v.value);
    }
    d.invalid(
        v.span,
        "kernel",
        &format!("`{}` is not a Debian kernel package name", v.value),
        "name the flavour's metapackage, e.g. `linux-image-armmp` (armhf) or `linux-image-arm64`",
    );
    None
}

fn check_emulator(d: &mut Decoder, v: Spanned<String>) -> Option<String> {
    if QEMU_SYSTEM_EMULATORS.contains(&v.value.as_str()) {
        return Some(v.value);
    }
    let list = QEMU_SYSTEM_EMULATORS.join(", ");
    let help = match closest(&v.value, QEMU_SYSTEM_EMULATORS.iter().copied()) {
        Some(c) => format!("did you mean `{c}`? provisioned: {list}"),
        None => format!("provisioned: {list}"),
    };
    d.invalid(v.span, "qemu-system", &format!("unknown emulator `{}`", v.value), &help);
    None
}

/// Machine, CPU and console names go on qemu's and the kernel's command
/// lines: one word of letters, digits, `-`, `_`, `.`.
fn check_word(d: &mut Decoder, v: Spanned<String>, what: &str) -> Option<String> {
    let ok = !v.value.is_empty()
        && v.value.len() <= 64
        && v.value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        return Some(v.value);
    }
    d.invalid(
        v.span,
        what,
        &format!("`{}` is not a {what} name", v.value),
        "use one word of letters, digits, `-`, `_` and `.`",
    );
    None
}

#[cfg(test)]
mod tests {
    use crate::model::target::Target;
    use crate::model::target::tests::OPEN_TARGET as BASE;
    use crate::recipe::error::SourceFile;

    fn parse(image: &str) -> Result<Target, String> {
        Target::parse(&SourceFile::new("t.kdl", format!("{BASE}    {image}\n}}"))).map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn image_settings_come_from_the_target_file() {
        let t = parse(
            r#"image { kernel "linux-image-armmp"; qemu-system "qemu-system-arm"; machine "virt"; cpu "cortex-a15"; console "ttyAMA0"; }"#,
        )
        .expect("valid");
        let i = t.image.expect("image");
        assert_eq!((i.kernel.as_str(), i.cpu.as_str()), ("linux-image-armmp", "cortex-a15"));
        assert_eq!(parse("").expect("valid").image, None);
        for (bad, needle) in [
            (
                r#"image { kernel "armmp"; qemu-system "qemu-system-arm"; machine "virt"; cpu "a"; console "c"; }"#,
                "`armmp` is not a Debian kernel package name",
            ),
            (
                r#"image { kernel "linux-image-armmp"; qemu-system "qemu-system-armm"; machine "virt"; cpu "a"; console "c"; }"#,
                "did you mean `qemu-system-arm`",
            ),
            (
                r#"image { kernel "linux-image-armmp"; qemu-system "qemu-system-arm"; machine "virt"; cpu "a b"; console "c"; }"#,
                "not a cpu name",
            ),
            (
                r#"image { kernel "linux-image-armmp"; qemu-system "qemu-system-arm"; machine "virt"; console "c"; }"#,
                "`cpu`",
            ),
            (
                r#"image { kernel "linux-image-armmp"; qemu-system "qemu-system-arm"; machine "virt"; cpu "a"; console "c"; kernal "x"; }"#,
                "kernal",
            ),
        ] {
            let err = parse(bad).expect_err(bad);
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }
}
