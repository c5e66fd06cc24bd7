//! Target images: an initramfs assembled from the target's Debian packages,
//! the kernel's modules, overlay files and an init script
//! (`recipes/<name>/image.kdl`), and booted under qemu-system.

pub mod boot;
pub mod wheels;

use std::path::{Path, PathBuf};

use miette::Diagnostic;
use thiserror::Error;

use crate::model::image_def::ImageDef;
use crate::model::target::Target;
use crate::package::initramfs::{Initramfs, InitramfsError, Node};
use crate::toolchain::ToolchainError;
use crate::toolchain::kernel::{Kernel, ensure_kernel, read_module};
use crate::toolchain::provision::ProvisionContext;
use crate::toolchain::targetroot::ensure_target_root;

#[derive(Debug, Error, Diagnostic)]
pub enum ImageError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Toolchain(Box<ToolchainError>),

    #[error("image {image}: {source}")]
    #[diagnostic(code(recipe::image::initramfs))]
    Initramfs {
        image: String,
        #[source]
        source: InitramfsError,
    },

    #[error("image {image} has no /bin/busybox")]
    #[diagnostic(
        code(recipe::image::no_busybox),
        help("the init prelude runs busybox: add \"busybox-static\" to the image's `packages`")
    )]
    NoBusybox { image: String },

    #[error("recipe `{name}` is not built for {target}: no wheel of it in {dir}")]
    #[diagnostic(
        code(recipe::image::not_built),
        help("build it first: `recipe build {name} --target {target}`")
    )]
    NotBuilt { name: String, target: String, dir: String },

    #[error("cannot install {wheel} into the image: {reason}")]
    #[diagnostic(code(recipe::image::wheel))]
    Wheel { wheel: String, reason: String },

    #[error("{what}: {source}")]
    #[diagnostic(code(recipe::image::io))]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{image} did not finish booting: {reason}\n--- last console lines\n{last}")]
    #[diagnostic(code(recipe::image::boot), help("the whole console output is in {log}"))]
    Boot {
        image: String,
        reason: String,
        last: String,
        log: String,
    },
}

impl From<ToolchainError> for ImageError {
    fn from(e: ToolchainError) -> Self {
        ImageError::Toolchain(Box::new(e))
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ImageError {
    let what = what.into();
    move |source| ImageError::Io { what, source }
}

/// Where modules and the user's init live in the image.
pub const MODULES_DIR: &str = "usr/lib/recipe-modules";
pub const MODULE_LIST: &str = "etc/recipe/modules";
pub const USER_INIT: &str = "etc/recipe/init";
/// Printed on the console by the prelude when it hands over to the image's
/// init, and with the init's exit status before powering off.
pub const INIT_MARKER: &str = "RECIPE-INIT";
pub const EXIT_MARKER: &str = "RECIPE-EXIT";

/// `/init`: mounts the kernel filesystems, installs busybox's applets, loads
/// the modules in order, runs the image's init and powers off, so a VM
/// always ends (with `-no-reboot`) and says how its init ended.
fn prelude() -> String {
    format!(
        "#!/bin/busybox sh\n\
         /bin/busybox mkdir -p /proc /sys /dev /tmp /run /usr/bin /usr/sbin /sbin\n\
         /bin/busybox mount -t devtmpfs devtmpfs /dev\n\
         /bin/busybox --install -s\n\
         mount -t proc proc /proc\n\
         mount -t sysfs sysfs /sys\n\
         for m in $(cat /{MODULE_LIST}); do insmod /{MODULES_DIR}/$m.ko || echo \"recipe: cannot load module $m\"; done\n\
         echo \"{INIT_MARKER} $(cut -d' ' -f1 /proc/uptime)\"\n\
         /bin/sh /{USER_INIT}\n\
         echo \"{EXIT_MARKER} $?\"\n\
         poweroff -f\n"
    )
}

/// Files in provisioned trees that are not part of them.
const MARKERS: &[&str] = &[
    ".recipe-stamp.json",
    ".recipe-used",
    ".recipe-verified",
    ".recipe-skipped",
];

pub struct BuiltImage {
    pub path: PathBuf,
    pub kernel: Kernel,
    pub modules: Vec<String>,
    /// The image on disk already had this content key: nothing was written.
    pub unchanged: bool,
}

/// Assembles `def` for `target` into `out_root/<target>/<name>.cpio.gz`.
pub fn build_image(
    ctx: &ProvisionContext,
    target: &Target,
    default_suite: &str,
    def: &ImageDef,
    out_root: &Path,
) -> Result<BuiltImage, ImageError> {
    let suite = def.suite.as_deref().unwrap_or(default_suite);
    let root = ensure_target_root(ctx, target, suite, &def.packages)?;
    if !root.join("usr/bin/busybox").is_file() && !root.join("bin/busybox").is_file() {
        return Err(ImageError::NoBusybox {
            image: def.name.clone(),
        });
    }
    let kernel = ensure_kernel(ctx, target, suite)?;
    let modules = kernel.modules(&def.modules)?;
    let init_path = def.dir.join(&def.init);
    let init = std::fs::read(&init_path).map_err(io(format!("cannot read {}", init_path.display())))?;
    let dir = out_root.join(&target.name);
    let path = dir.join(format!("{}.cpio.gz", def.name));
    let key_path = dir.join(format!(".{}.cpio.gz.key", def.name));
    let mut wheels = Vec::new();
    for name in &def.install {
        wheels.extend(wheels::find_wheels(&out_root.join(&target.name), name, &target.name)?);
    }
    let mut key = image_key(def, &root, &kernel, &modules, &init)?;
    for w in &wheels {
        let sha = crate::digest::sha256_file(w).map_err(io(format!("cannot read {}", w.display())))?;
        key = format!("{key}\n{sha}");
    }
    let names = || modules.iter().map(|m| m.name.clone()).collect();
    if path.is_file() && std::fs::read_to_string(&key_path).is_ok_and(|k| k == key) {
        return Ok(BuiltImage {
            path,
            modules: names(),
            kernel,
            unchanged: true,
        });
    }
    let fs = |source| ImageError::Initramfs {
        image: def.name.clone(),
        source,
    };
    let mut image = Initramfs::new();
    image.add_tree(&root, "", MARKERS).map_err(fs)?;
    if let Some(overlay) = &def.overlay {
        image.add_tree(&def.dir.join(overlay), "", &[]).map_err(fs)?;
    }
    for w in &wheels {
        wheels::add_wheel(&mut image, w)?;
    }
    let mut list = String::new();
    for m in &modules {
        let data = read_module(&m.path)?;
        image
            .insert(
                &format!("{MODULES_DIR}/{}.ko", m.name),
                Node::File { mode: 0o644, data },
            )
            .map_err(fs)?;
        list.push_str(&m.name);
        list.push('\n');
    }
    let file = |mode, data| Node::File { mode, data };
    image.insert(MODULE_LIST, file(0o644, list.into_bytes())).map_err(fs)?;
    image.insert(USER_INIT, file(0o755, init)).map_err(fs)?;
    image.insert("init", file(0o755, prelude().into_bytes())).map_err(fs)?;
    // The kernel opens /dev/console before /init runs (devtmpfs comes later).
    let console = Node::CharDev {
        mode: 0o600,
        major: 5,
        minor: 1,
    };
    image.insert("dev/console", console).map_err(fs)?;
    std::fs::create_dir_all(&dir).map_err(io(format!("cannot create {}", dir.display())))?;
    image.write_gz(&path).map_err(fs)?;
    std::fs::write(&key_path, &key).map_err(io(format!("cannot write {}", key_path.display())))?;
    Ok(BuiltImage {
        path,
        modules: names(),
        kernel,
        unchanged: false,
    })
}

/// What the image is made of: the provisioned root's and kernel's identities
/// (their stamps), the modules, the init, the overlay's fingerprint (names,
/// sizes, modes, times) and the prelude. Equal keys give equal images, so a
/// no-op rebuild reads no package and writes nothing.
fn image_key(
    def: &ImageDef,
    root: &Path,
    kernel: &Kernel,
    modules: &[crate::toolchain::kernel::Module],
    init: &[u8],
) -> Result<String, ImageError> {
    use sha2::{Digest, Sha256};
    let root_id = crate::toolchain::provision::Stamp::read(root)
        .map(|s| s.id)
        .unwrap_or_default();
    let overlay = match &def.overlay {
        Some(o) => {
            let d = def.dir.join(o);
            crate::digest::fingerprint(&d).map_err(io(format!("cannot read {}", d.display())))?
        }
        None => String::new(),
    };
    let mut h = Sha256::new();
    for part in [&root_id, &kernel.id, &overlay, &prelude()] {
        h.update(part.as_bytes());
        h.update(b"\0");
    }
    for m in modules {
        h.update(m.name.as_bytes());
        h.update(b"\0");
    }
    h.update(init);
    Ok(hex::encode(h.finalize()))
}
