//! Target images: an initramfs assembled from the target's Debian packages,
//! the kernel's modules, overlay files and an init script
//! (`recipes/<name>/image.kdl`), and booted under qemu-system.

pub mod boot;
pub mod link;
pub mod vms;
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
/// A guest line that asks `recipe` to kill its VM at once (power loss).
pub const KILL_MARKER: &str = "RECIPE-KILL";
/// `RECIPE-STEP <n> end <status>`: a test step ended.
pub const STEP_MARKER: &str = "RECIPE-STEP";
/// The test runner and its steps in the image (`recipe test`).
pub const TEST_RUNNER: &str = "etc/recipe/test";
pub const TEST_STEPS_DIR: &str = "etc/recipe/test.d";

/// `/init`: mounts the kernel filesystems, installs busybox's applets, loads
/// the modules in order, reads its node number and link address from the
/// kernel command line (`recipe.node=N recipe.nodes=M recipe.link=MAC,ADDR
/// recipe.user=1`), configures the user-mode NIC as `eth0` (10.0.2.15/24 via
/// 10.0.2.2) and the link's as `link0` (found by MAC address, waiting up to
/// 10 s for them: virtio devices may appear after their module loaded), runs the image's init (or, with `recipe.mode=test`,
/// its test steps) and
/// powers off, so a VM always ends (with `-no-reboot`) and says how its init
/// ended.
fn prelude() -> String {
    use boot::USER_MAC;
    format!(
        "#!/bin/busybox sh\n\
         /bin/busybox mkdir -p /proc /sys /dev /tmp /run /usr/bin /usr/sbin /sbin\n\
         /bin/busybox mount -t devtmpfs devtmpfs /dev\n\
         /bin/busybox --install -s\n\
         mount -t proc proc /proc\n\
         mount -t sysfs sysfs /sys\n\
         for m in $(cat /{MODULE_LIST}); do insmod /{MODULES_DIR}/$m.ko || echo \"recipe: cannot load module $m\"; done\n\
         RECIPE_NODE=1 RECIPE_NODES=1 link= mode= user=\n\
         for a in $(cat /proc/cmdline); do case \"$a\" in\n\
         recipe.node=*) RECIPE_NODE=${{a#*=}} ;; recipe.nodes=*) RECIPE_NODES=${{a#*=}} ;;\n\
         recipe.link=*) link=${{a#*=}} ;; recipe.mode=*) mode=${{a#*=}} ;; recipe.user=*) user=${{a#*=}} ;;\n\
         esac; done\n\
         export RECIPE_NODE RECIPE_NODES\n\
         nic() {{ for t in $(seq 100); do for i in /sys/class/net/*; do\n\
         [ \"$(cat $i/address)\" = \"$1\" ] && echo \"${{i##*/}}\" && return; done; usleep 100000; done; }}\n\
         ip link set lo up\n\
         echo '127.0.0.1 localhost' > /etc/hosts\n\
         if [ -n \"$link\" ]; then\n\
         n=$(nic \"${{link%%,*}}\"); [ -n \"$n\" ] && ip link set \"$n\" name link0\n\
         RECIPE_ADDR=${{link#*,}}; RECIPE_ADDR=${{RECIPE_ADDR%/*}}; export RECIPE_ADDR\n\
         ip link set link0 up && ip addr add \"${{link#*,}}\" dev link0 || echo 'recipe: no link NIC'\n\
         n=1; while [ $n -le $RECIPE_NODES ]; do echo \"${{RECIPE_ADDR%.*}}.$n node$n\" >> /etc/hosts; n=$((n+1)); done\n\
         fi\n\
         if [ -n \"$user\" ]; then\n\
         n=$(nic {USER_MAC}); [ -n \"$n\" ] && [ \"$n\" != eth0 ] && ip link set \"$n\" name eth0\n\
         ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2 || echo 'recipe: no user-mode NIC'\n\
         fi\n\
         echo \"{INIT_MARKER} $(cut -d' ' -f1 /proc/uptime)\"\n\
         if [ \"$mode\" = test ]; then /bin/sh /{TEST_RUNNER}; else /bin/sh /{USER_INIT}; fi\n\
         echo \"{EXIT_MARKER} $?\"\n\
         poweroff -f\n"
    )
}

/// The test runner: each step in order, its end marked on the console with
/// its status; the first failing step ends the run with its status.
fn test_runner(steps: usize) -> String {
    let mut out = String::from("cd /tmp\n");
    for n in 1..=steps {
        out.push_str(&format!(
            "echo \"{STEP_MARKER} {n} begin\"\n/bin/sh /{TEST_STEPS_DIR}/{n}\ns=$?\n\
             echo \"{STEP_MARKER} {n} end $s\"\n[ $s -eq 0 ] || exit $s\n"
        ));
    }
    out
}

/// The files of the image's test: the runner and one script per step.
fn test_files(def: &ImageDef) -> Result<Vec<(String, Vec<u8>)>, ImageError> {
    use crate::model::image_net::TestStep;
    let Some(test) = &def.test else {
        return Ok(Vec::new());
    };
    let mut files = vec![(TEST_RUNNER.to_string(), test_runner(test.steps.len()).into_bytes())];
    for (i, step) in test.steps.iter().enumerate() {
        let body = match step {
            TestStep::Run(cmd) => format!("{cmd}\n").into_bytes(),
            TestStep::Script(file) => {
                let p = def.dir.join(file);
                std::fs::read(&p).map_err(io(format!("cannot read {}", p.display())))?
            }
        };
        files.push((format!("{TEST_STEPS_DIR}/{}", i + 1), body));
    }
    Ok(files)
}

/// The modules a NIC needs, added when the image has a network or a link.
fn wanted_modules(def: &ImageDef) -> Vec<String> {
    let mut wanted = def.modules.clone();
    if def.network.is_some() || def.link.is_some() {
        for m in ["virtio_mmio", "virtio_net"] {
            if !wanted.iter().any(|w| w.replace('-', "_") == m) {
                wanted.push(m.to_string());
            }
        }
    }
    wanted
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
    let modules = kernel.modules(&wanted_modules(def))?;
    let init_path = def.dir.join(&def.init);
    let init = std::fs::read(&init_path).map_err(io(format!("cannot read {}", init_path.display())))?;
    let dir = out_root.join(&target.name);
    let path = dir.join(format!("{}.cpio.gz", def.name));
    let key_path = dir.join(format!(".{}.cpio.gz.key", def.name));
    let mut wheels = Vec::new();
    for name in &def.install {
        wheels.extend(wheels::find_wheels(&out_root.join(&target.name), name, &target.name)?);
    }
    let tests = test_files(def)?;
    let mut key = image_key(def, &root, &kernel, &modules, &init)?;
    for (path, body) in &tests {
        key = format!("{key}\n{path} {}", {
            use sha2::Digest as _;
            hex::encode(sha2::Sha256::digest(body))
        });
    }
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
    for (path, body) in tests {
        image.insert(&path, file(0o755, body)).map_err(fs)?;
    }
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
