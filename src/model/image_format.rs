//! How an image is written: a compressed initramfs (the whole root in
//! memory, gone at power-off) or an ext4 disk image (`format "ext4"
//! size="512M"`), booted as a virtio disk whose writes persist.

use kdl::KdlNode;
use serde::Serialize;

use crate::recipe::decode::Decoder;

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// `out/<target>/NAME.cpio.gz`, the kernel's initramfs.
    #[default]
    Initramfs,
    /// `out/<target>/NAME.ext4` of `size_mib` MiB, the root disk.
    Ext4 { size_mib: u64 },
}

/// The size an ext4 image gets when the image file gives none.
pub const DEFAULT_EXT4_MIB: u64 = 512;
const MIN_MIB: u64 = 16;
const MAX_MIB: u64 = 64 * 1024;

/// `format "initramfs"` or `format "ext4" [size="512M"]`.
pub fn decode_format(d: &mut Decoder, node: &KdlNode) -> Option<ImageFormat> {
    d.check_props(node, &["size"]);
    d.check_max_args(node, 1);
    d.check_no_children(node);
    let kind = match d.positional(node).first() {
        Some(e) => d.entry_string("format", e)?,
        None => {
            d.missing(
                node.span(),
                "a value",
                "`format`",
                "write `format \"initramfs\"` or `format \"ext4\" size=\"512M\"`",
            );
            return None;
        }
    };
    let size = d.prop_string(node, "size");
    match kind.value.as_str() {
        "initramfs" => {
            if let Some(s) = size {
                d.invalid(
                    s.span,
                    "size",
                    "an initramfs has no fixed size",
                    "remove `size`, or use `format \"ext4\"`",
                );
            }
            Some(ImageFormat::Initramfs)
        }
        "ext4" => {
            let size_mib = match size {
                None => DEFAULT_EXT4_MIB,
                Some(s) => match parse_mib(&s.value) {
                    Some(m) if (MIN_MIB..=MAX_MIB).contains(&m) => m,
                    _ => {
                        d.invalid(
                            s.span,
                            "size",
                            "not a size from 16M to 64G",
                            "write it as a number with M or G (MiB, GiB), e.g. size=\"512M\"",
                        );
                        return None;
                    }
                },
            };
            Some(ImageFormat::Ext4 { size_mib })
        }
        _ => {
            d.invalid(
                kind.span,
                "format",
                "unknown image format",
                "write `format \"initramfs\"` or `format \"ext4\"`",
            );
            None
        }
    }
}

/// `512M` → 512, `2G` → 2048 (binary units; a bare number is MiB).
fn parse_mib(text: &str) -> Option<u64> {
    let t = text.trim();
    let (digits, factor) = match t.strip_suffix(['G', 'g']) {
        Some(d) => (d, 1024),
        None => (t.strip_suffix(['M', 'm']).unwrap_or(t), 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 6 {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::parse_mib("512M"), Some(512));
        assert_eq!(super::parse_mib("2G"), Some(2048));
        assert_eq!(super::parse_mib("64"), Some(64));
        for bad in ["", "M", "-5M", "1.5G", "12T", "99999999G"] {
            assert_eq!(super::parse_mib(bad), None, "{bad}");
        }
    }
}
