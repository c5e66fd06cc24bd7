//! Target images: an initramfs assembled from the target's Debian packages,
//! the kernel's modules, overlay files and an init script
//! (`recipes/<name>/image.kdl`), and booted under qemu-system.

pub mod boot;
pub mod ext4;
pub mod link;
pub mod staged;
pub mod vms;
pub mod wheels;

pub use staged::Installed;

use std::path::{Path, PathBuf};

use miette::Diagnostic;
use thiserror::Error;

use crate::model::image_def::{ImageDef, ImageFormat};
use crate::model::target::Target;
use crate::package::initramfs::{Initramfs, InitramfsError, Node};
use crate::toolchain::ToolchainError;
use crate::toolchain::kernel::{Kernel, Module, ensure_kernel, read_module};
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

    #[error("image {image}: its busybox is dynamically linked, and an ext4 image's stage 1 has no libraries")]
    #[diagnostic(
        code(recipe::image::dynamic_busybox),
        help("install the static one: \"busybox-static\" in the image's `packages` instead of \"busybox\"")
    )]
    DynamicBusybox { image: String },

    #[error("recipe `{name}` is not built for {target}: no wheel or staged-files tarball of it in {dir}")]
    #[diagnostic(
        code(recipe::image::not_built),
        help("build it first: `recipe build {name} --target {target}`")
    )]
    NotBuilt { name: String, target: String, dir: String },

    #[error("cannot install {tarball} into the image: {reason}")]
    #[diagnostic(code(recipe::image::staged))]
    Staged { tarball: String, reason: String },

    #[error("cannot install {wheel} into the image: {reason}")]
    #[diagnostic(code(recipe::image::wheel))]
    Wheel { wheel: String, reason: String },

    #[error("mke2fs could not make the ext4 image of {image} ({status}):\n{output}")]
    #[diagnostic(code(recipe::image::mke2fs))]
    Mke2fs {
        image: String,
        status: String,
        output: String,
    },

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
         sync\n\
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
    /// The image: `NAME.cpio.gz`, or the disk `NAME.ext4`.
    pub path: PathBuf,
    /// What qemu gets as `-initrd`: the image itself, or an ext4 image's
    /// stage-1 initramfs.
    pub initrd: PathBuf,
    /// The root disk of an ext4 image.
    pub disk: Option<PathBuf>,
    pub kernel: Kernel,
    pub modules: Vec<String>,
    /// The image on disk already had this content key: nothing was written.
    pub unchanged: bool,
}

/// Assembles `def` for `target` into `out_root/<target>/<name>.cpio.gz`, or
/// for `format "ext4"` into `<name>.ext4` with its stage-1
/// `<name>.initrd.cpio.gz`. `installs` are the recipes it installs, built
/// already (see `Session::build_image_installs`).
pub fn build_image(
    ctx: &ProvisionContext,
    target: &Target,
    default_suite: &str,
    def: &ImageDef,
    out_root: &Path,
    installs: &[Installed],
) -> Result<BuiltImage, ImageError> {
    let suite = def.suite.as_deref().unwrap_or(default_suite);
    let root = ensure_target_root(ctx, target, suite, &def.packages)?;
    // Checked before anything else: the prelude cannot run without it.
    find_busybox(def, &root)?;
    let kernel = ensure_kernel(ctx, target, suite)?;
    let init_path = def.dir.join(&def.init);
    let init = std::fs::read(&init_path).map_err(io(format!("cannot read {}", init_path.display())))?;
    let dir = out_root.join(&target.name);
    let wheels = staged::deliverables(&dir, installs, &target.name)?;
    let (file, mke2fs) = match def.format {
        ImageFormat::Initramfs => (format!("{}.cpio.gz", def.name), None),
        ImageFormat::Ext4 { .. } => (
            format!("{}.ext4", def.name),
            Some(crate::toolchain::e2fsprogs::ensure_mke2fs(ctx)?),
        ),
    };
    let path = dir.join(&file);
    let key_path = dir.join(format!(".{file}.key"));
    let tests = test_files(def)?;
    // The key names the modules as asked for: with the kernel's identity
    // that fixes the resolved list, so a no-op rebuild reads no module.
    let mut key = image_key(def, &root, &kernel, &init)?;
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
    if let (ImageFormat::Ext4 { size_mib }, Some(m)) = (def.format, &mke2fs) {
        key = format!("{key}\n{}", ext4::key_parts(m, size_mib));
    }
    let key = {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(key.as_bytes()))
    };
    let initrd = match def.format {
        ImageFormat::Initramfs => path.clone(),
        ImageFormat::Ext4 { .. } => ext4::stage1_path(&path),
    };
    let mut built = BuiltImage {
        disk: mke2fs.is_some().then(|| path.clone()),
        path,
        initrd,
        modules: Vec::new(),
        kernel,
        unchanged: true,
    };
    // A booted ext4 disk keeps what the VM wrote while its key is unchanged.
    let recorded = std::fs::read_to_string(&key_path).unwrap_or_default();
    let mut lines = recorded.lines();
    if built.path.is_file() && built.initrd.is_file() && lines.next() == Some(key.as_str()) {
        built.modules = lines
            .next()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        return Ok(built);
    }
    std::fs::create_dir_all(&dir).map_err(io(format!("cannot create {}", dir.display())))?;
    // The key goes first: an interrupted build leaves a stale key, never a
    // fresh key beside stale bytes.
    let _ = std::fs::remove_file(&key_path);
    let image = ImageFiles { init, tests };
    write_image(def, &root, &wheels, image, mke2fs.as_ref(), &key, &mut built)?;
    let record = format!("{key}\n{}\n", built.modules.join(" "));
    std::fs::write(&key_path, record).map_err(io(format!("cannot write {}", key_path.display())))?;
    built.unchanged = false;
    Ok(built)
}

/// The image's own files: its init and its test runner and steps.
struct ImageFiles {
    init: Vec<u8>,
    tests: Vec<(String, Vec<u8>)>,
}

/// The root's busybox, which the prelude runs.
fn find_busybox(def: &ImageDef, root: &Path) -> Result<PathBuf, ImageError> {
    ["usr/bin/busybox", "bin/busybox"]
        .iter()
        .map(|p| root.join(p))
        .find(|p| p.is_file())
        .ok_or_else(|| ImageError::NoBusybox {
            image: def.name.clone(),
        })
}

/// Resolves the modules and writes the image (and an ext4 image's stage 1)
/// at `built`'s paths.
fn write_image(
    def: &ImageDef,
    root: &Path,
    wheels: &[PathBuf],
    files: ImageFiles,
    mke2fs: Option<&crate::toolchain::e2fsprogs::Mke2fs>,
    key: &str,
    built: &mut BuiltImage,
) -> Result<(), ImageError> {
    // An ext4 image's stage 1 loads the disk's modules; the prelude on the
    // disk loads the rest of the image's.
    let stage1 = match def.format {
        ImageFormat::Initramfs => Vec::new(),
        ImageFormat::Ext4 { .. } => {
            let wanted: Vec<String> = ext4::STAGE1_MODULES.iter().map(|m| m.to_string()).collect();
            built.kernel.modules(&wanted)?
        }
    };
    let modules: Vec<Module> = built
        .kernel
        .modules(&wanted_modules(def))?
        .into_iter()
        .filter(|m| !stage1.iter().any(|s| s.name == m.name))
        .collect();
    built.modules = stage1.iter().chain(&modules).map(|m| m.name.clone()).collect();
    let tree = assemble(def, root, wheels, &modules, files.init, files.tests)?;
    match (def.format, mke2fs) {
        (ImageFormat::Ext4 { size_mib }, Some(m)) => {
            ext4::write_stage1(&def.name, &find_busybox(def, root)?, &stage1, &built.initrd)?;
            ext4::write_ext4(m, &def.name, &tree, size_mib, key, &built.path)?;
        }
        _ => tree.write_gz(&built.path).map_err(|source| ImageError::Initramfs {
            image: def.name.clone(),
            source,
        })?,
    }
    Ok(())
}

/// The image's tree: the root, the overlay, the wheels, the modules, the
/// init and the prelude as `/init`.
fn assemble(
    def: &ImageDef,
    root: &Path,
    wheels: &[PathBuf],
    modules: &[Module],
    init: Vec<u8>,
    tests: Vec<(String, Vec<u8>)>,
) -> Result<Initramfs, ImageError> {
    let fs = |source| ImageError::Initramfs {
        image: def.name.clone(),
        source,
    };
    let mut image = Initramfs::new();
    image.add_tree(root, "", MARKERS).map_err(fs)?;
    if let Some(overlay) = &def.overlay {
        image.add_tree(&def.dir.join(overlay), "", &[]).map_err(fs)?;
    }
    for w in wheels {
        if w.extension().is_some_and(|e| e == "whl") {
            wheels::add_wheel(&mut image, w)?;
        } else {
            staged::add_tarball(&mut image, w)?;
        }
    }
    let mut list = String::new();
    for m in modules {
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
    Ok(image)
}

/// What the image is made of: the provisioned root's and kernel's identities
/// (their stamps), the modules, the init, the overlay's fingerprint (names,
/// sizes, modes, times) and the prelude. Equal keys give equal images, so a
/// no-op rebuild reads no package and writes nothing.
fn image_key(def: &ImageDef, root: &Path, kernel: &Kernel, init: &[u8]) -> Result<String, ImageError> {
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
    for m in &wanted_modules(def) {
        h.update(m.as_bytes());
        h.update(b"\0");
    }
    h.update(init);
    Ok(hex::encode(h.finalize()))
}
