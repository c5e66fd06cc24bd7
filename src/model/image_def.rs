//! Image definitions (`recipes/<name>/image.kdl`): what goes into a bootable
//! image for a target — Debian packages, kernel modules, overlay files and
//! the init script — and how it boots. An image directory has no
//! `recipe.kdl`, so it is not a package.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::image_net::{Forward, ImageTest, Link, MAX_VMS};
pub use crate::model::image_format::ImageFormat;
use crate::model::image_format::decode_format;
use crate::recipe::bounds::read_definition;
use crate::recipe::decode::{Decoder, Spanned, parse_document};
use crate::recipe::error::{RecipeErrors, SourceFile};

pub const IMAGE_FILE: &str = "image.kdl";

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
pub struct ImageDef {
    pub name: String,
    /// The recipe directory (init script and overlay are relative to it).
    pub dir: PathBuf,
    /// Debian suite of the packages and kernel [default: the target's sysroot suite].
    pub suite: Option<String>,
    /// Debian packages of the target's architecture (with their closure).
    pub packages: Vec<String>,
    /// Recipes whose wheels (from `out/<target>/`) are installed into the
    /// image's site-packages.
    pub install: Vec<String>,
    /// Kernel modules loaded by the init prelude (dependencies added).
    pub modules: Vec<String>,
    /// Directory copied over the root, relative to the recipe directory.
    pub overlay: Option<String>,
    /// Shell script run after the prelude, relative to the recipe directory.
    pub init: String,
    /// Seconds a boot may take before the VM is killed.
    pub timeout: u64,
    /// Guest memory in MiB.
    pub memory: u64,
    /// `network "user"`: a virtio NIC on qemu's user-mode network (no root;
    /// the build machine is 10.0.2.2 from the guest).
    pub network: Option<String>,
    /// Host port forwards on the user-mode network.
    pub forwards: Vec<Forward>,
    /// A virtual Ethernet segment shared by the image's VMs.
    pub link: Option<Link>,
    /// How many VMs of the image boot together (numbered from 1).
    pub vms: u32,
    /// Steps `recipe test` runs in the booted VMs.
    pub test: Option<ImageTest>,
    /// A compressed initramfs (the default) or an ext4 disk image.
    pub format: ImageFormat,
}

impl ImageDef {
    pub fn load(path: &Path, display: &str) -> Result<ImageDef, RecipeErrors> {
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        ImageDef::parse(&read_definition(path, display)?, dir)
    }

    pub fn parse(file: &SourceFile, dir: PathBuf) -> Result<ImageDef, RecipeErrors> {
        let doc = parse_document(file)?;
        let mut d = Decoder::new(file);
        let mut out = None;
        for node in doc.nodes() {
            if node.name().value() != "image" || out.is_some() {
                d.unknown_node(node, "an image file", &["image"]);
                continue;
            }
            d.check_props(node, &[]);
            d.check_max_args(node, 1);
            let name = d.positional(node).first().and_then(|e| d.entry_string("image", e));
            let mut def = ImageDef {
                name: String::new(),
                dir: dir.clone(),
                suite: None,
                packages: Vec::new(),
                install: Vec::new(),
                modules: Vec::new(),
                overlay: None,
                init: String::new(),
                timeout: 120,
                memory: 512,
                network: None,
                forwards: Vec::new(),
                link: None,
                vms: 1,
                test: None,
                format: ImageFormat::default(),
            };
            let (mut init, mut overlay) = (None, None);
            let mut seen = Vec::new();
            for child in node.children().map(|c| c.nodes()).unwrap_or_default() {
                let key = child.name().value();
                if !matches!(key, "packages" | "modules" | "install") && !d.once(&mut seen, child) {
                    continue;
                }
                match key {
                    "suite" => def.suite = d.single_string(child).map(|s| s.value),
                    "packages" => def.packages.extend(d.strings(child).into_iter().map(|s| s.value)),
                    "modules" => def.modules.extend(d.strings(child).into_iter().map(|s| s.value)),
                    "install" => def.install.extend(d.strings(child).into_iter().map(|s| s.value)),
                    "overlay" => overlay = d.single_string(child),
                    "init" => init = d.single_string(child),
                    "timeout" => def.timeout = d.single_int(child, 1, 86_400).map_or(def.timeout, |v| v.value as u64),
                    "network" => (def.network, def.forwards) = super::image_net::network(&mut d, child),
                    "link" => def.link = super::image_net::link(&mut d, child),
                    "vms" => def.vms = d.single_int(child, 1, MAX_VMS).map_or(def.vms, |v| v.value as u32),
                    "test" => def.test = super::image_net::test(&mut d, child),
                    "format" => def.format = decode_format(&mut d, child).unwrap_or_default(),
                    "memory" => def.memory = d.single_int(child, 64, 65_536).map_or(def.memory, |v| v.value as u64),
                    _ => d.unknown_node(
                        child,
                        "`image`",
                        &[
                            "suite", "packages", "install", "modules", "overlay", "init", "timeout", "memory",
                            "network", "link", "vms", "test", "format",
                        ],
                    ),
                }
            }
            check_inside_recipe(&mut d, init.iter().chain(overlay.iter()));
            def.overlay = overlay.map(|s| s.value);
            if def.forwards.iter().any(|f| u32::from(f.host) + def.vms - 1 > 65_535) {
                d.invalid(
                    node.span(),
                    "forward",
                    "VM N listens on host + N - 1, past port 65535",
                    "choose a lower host port",
                );
            }
            match (name, init) {
                (Some(name), Some(init)) => {
                    def.name = name.value;
                    def.init = init.value;
                    out = Some(def);
                }
                _ => d.missing(
                    node.span(),
                    "a name or `init`",
                    "`image`",
                    "write `image NAME { packages \"busybox-static\"; init \"init.sh\" }`",
                ),
            }
        }
        match out {
            Some(s) if d.errors.is_empty() => Ok(s),
            _ => {
                if d.errors.is_empty() {
                    d.missing((0, 0).into(), "`image`", "the image file", "write `image NAME { … }`");
                }
                Err(RecipeErrors { errors: d.errors })
            }
        }
    }
}

/// `init` and `overlay` name files of the recipe directory, nothing outside.
fn check_inside_recipe<'a>(d: &mut Decoder, paths: impl Iterator<Item = &'a Spanned<String>>) {
    for rel in paths {
        if Path::new(&rel.value).is_absolute() || rel.value.split('/').any(|c| c == "..") {
            d.invalid(
                rel.span,
                "path",
                "it leaves the recipe directory",
                "give a path inside the recipe directory",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_image_and_refuses_escapes() {
        let text =
            "image hello {\n packages \"busybox-static\"\n modules \"virtio_mmio\"\n init \"init.sh\"\n timeout 30\n}";
        let i = ImageDef::parse(&SourceFile::new("image.kdl", text), "r".into()).expect("valid");
        assert_eq!((i.name.as_str(), i.init.as_str(), i.timeout), ("hello", "init.sh", 30));
        assert_eq!(i.packages, ["busybox-static"]);
        let bad = "image x {\n init \"../../etc/passwd\"\n}";
        assert!(ImageDef::parse(&SourceFile::new("image.kdl", bad), "r".into()).is_err());
        assert!(ImageDef::parse(&SourceFile::new("image.kdl", "image x {\n}"), "r".into()).is_err());
    }

    #[test]
    fn parses_networks_links_vms_and_tests() {
        let text = "image c {\n init \"init.sh\"\n vms 3\n network \"user\" {\n  forward \"tcp\" host=18000 guest=9001\n }\n link \"10.10.0.0/24\"\n test {\n  run \"true\"\n  script \"t.sh\"\n  timeout 600\n }\n}";
        let i = ImageDef::parse(&SourceFile::new("image.kdl", text), "r".into()).expect("valid");
        assert_eq!(i.vms, 3);
        assert_eq!(i.forwards[0].host_port(3), 18002);
        assert_eq!(i.forwards[0].guest, 9001);
        assert_eq!(i.link.map(|l| l.address(2)), Some("10.10.0.2".to_string()));
        let t = i.test.expect("test");
        assert_eq!(t.timeout, Some(600));
        assert_eq!(t.steps.len(), 2);
        for bad in [
            "image c {\n init \"i\"\n link \"10.10.0.1/16\"\n}",
            "image c {\n init \"i\"\n network \"user\" {\n  forward \"sctp\" host=1 guest=2\n }\n}",
            "image c {\n init \"i\"\n vms 2\n network \"user\" {\n  forward \"tcp\" host=65535 guest=2\n }\n}",
            "image c {\n init \"i\"\n test {\n  script \"../x\"\n }\n}",
            "image c {\n init \"i\"\n test {\n }\n}",
            "image c {\n init \"i\"\n vms 0\n}",
        ] {
            assert!(
                ImageDef::parse(&SourceFile::new("image.kdl", bad), "r".into()).is_err(),
                "{bad}"
            );
        }
    }
}
