//! Cross toolchains: Debian's cross gcc + binutils extracted into the cache
//! (or the build machine's gcc for native targets), fronted by small wrapper
//! scripts that always pass `--sysroot`, so no host header or library can leak
//! into a target build and no host cross compiler is picked up by accident.
//!
//! The folder holds everything that makes a target usable: provisioning
//! from Debian packages, sysroots, target roots for tests, Go, qemu, the
//! generated files and wrappers, and the build environment they make up.

pub mod activate;
pub mod buildpython;
pub mod e2fsprogs;
pub mod env;
pub mod files;
pub mod gotool;
pub mod kernel;
pub mod provision;
pub mod pylock;
pub mod qemu;
pub mod qemusystem;
pub mod sysroot;
pub mod targetroot;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use miette::Diagnostic;
use thiserror::Error;

use crate::debian::{DebianError, Exclusions};
use crate::model::sysroot_def::SysrootDef;
use crate::model::target::{Target, ToolchainSource};
use crate::toolchain::files::{cmake_toolchain, host_compiler_identity, meson_cross, prepare_host_gcc, wrapper};
use crate::toolchain::provision::{
    ProvisionContext, Stamp, download_packages, extract_packages, install_checked, resolve_packages, short_hash,
};
use crate::toolchain::sysroot::{Sysroot, ensure_sysroot, fixup_root};

/// Bump when wrapper or generated-file content changes.
pub const WRAPPER_VERSION: &str = "1";

/// Host tools wrapped besides the compilers (only those that exist are).
const BINUTILS: &[&str] = &[
    "ar",
    "ranlib",
    "strip",
    "nm",
    "objcopy",
    "objdump",
    "readelf",
    "as",
    "strings",
    "size",
    "addr2line",
    "c++filt",
];

/// Packages kept out of a cross toolchain's closure, and why:
/// `*-cross` libc/kernel headers install into gcc's tooldir, which gcc
/// searches *before* `--sysroot` (and their `libc.so` names absolute host
/// paths), so they would shadow the target sysroot; the host's own C/C++
/// runtime must never be put on `LD_LIBRARY_PATH` (an older copy would shadow
/// the host's, and libc6 cannot be mixed with the host's loader).
pub const TOOLCHAIN_EXCLUSIONS: &[&str] = &[
    "libc6-*-cross",
    "libc6-dev-*-cross",
    "linux-libc-dev-*-cross",
    "libc6",
    "libstdc++6",
    "libgcc-s1",
    "gcc-*-base",
];

#[derive(Debug, Error, Diagnostic)]
pub enum ToolchainError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Debian(#[from] DebianError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Lookup(#[from] crate::model::project::LookupError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Fetch(Box<crate::fetch::FetchError>),

    #[error("{what}: {source}")]
    #[diagnostic(code(recipe::toolchain::io))]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Unpack(#[from] crate::unpack::UnpackError),

    #[error("{what} failed")]
    #[diagnostic(code(recipe::toolchain::check), help("{hint}; the full output is in {log}"))]
    Check { what: String, hint: String, log: String },

    #[error("no usable host compiler for target {target}: {message}")]
    #[diagnostic(
        code(recipe::toolchain::host_compiler),
        help("install gcc and g++ for the build machine (`apt install gcc g++` on Debian)")
    )]
    HostCompiler { target: String, message: String },

    #[error("sysroot `{name}` of target {target} is not defined")]
    #[diagnostic(code(recipe::toolchain::unknown_sysroot), help("add sysroots/{name}.kdl"))]
    UnknownSysroot { name: String, target: String },

    #[error("{0}")]
    #[diagnostic(code(recipe::toolchain::usage))]
    Usage(String),
}

impl From<crate::fetch::FetchError> for ToolchainError {
    fn from(e: crate::fetch::FetchError) -> Self {
        ToolchainError::Fetch(Box::new(e))
    }
}

impl ToolchainError {
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ToolchainError {
        let what = what.into();
        move |source| ToolchainError::Io { what, source }
    }
}

/// A provisioned toolchain: everything a build needs to compile for `target`.
#[derive(Debug, Clone)]
pub struct Toolchain {
    pub target: Target,
    /// The toolchain's directory in the cache.
    pub root: PathBuf,
    /// Wrapper scripts: `<triple>-gcc`, `<triple>-g++`, … and the plain
    /// `cc c++ cpp ar ranlib strip ld nm objcopy objdump readelf …`.
    pub bin_dir: PathBuf,
    /// Only the `<triple>-*` wrappers, for `PATH` (autotools' `--host` looks
    /// them up there; plain `cc` must stay the build machine's).
    pub path_dir: PathBuf,
    /// The target sysroot every wrapper passes as `--sysroot`.
    pub sysroot: PathBuf,
    /// Stable identity: packages (names, versions, sha256) of toolchain and
    /// sysroot, host compiler version, and wrapper content.
    pub id: String,
    pub sysroot_id: String,
    /// Generated CMake toolchain file and Meson cross file.
    pub cmake_toolchain: PathBuf,
    pub meson_cross: PathBuf,
    pub stamp: Stamp,
}

impl Toolchain {
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }
}

/// The cache directory of a target's toolchain, named from its definition and
/// its sysroot's directory so a changed sysroot gets fresh wrappers.
pub fn toolchain_dir(ctx: &ProvisionContext, target: &Target, sysroot_dir: &Path) -> PathBuf {
    let source = serde_json::to_string(&target.toolchain).unwrap_or_default();
    // An upgraded build-machine compiler gets fresh links to its files.
    let host_compiler = match target.toolchain {
        ToolchainSource::Host => host_compiler_identity(&target.triple),
        ToolchainSource::Debian { .. } => String::new(),
    };
    let key = short_hash(&[
        WRAPPER_VERSION,
        &host_compiler,
        &target.triple,
        &target.arch,
        &source,
        &sysroot_dir.to_string_lossy(),
        &target.cflags.join(" "),
        &target.ldflags.join(" "),
    ]);
    ctx.cache.join("toolchains").join(format!("{}-{key}", target.name))
}

/// Provisions (once; later calls only read the stamp) the sysroot and the
/// toolchain of `target`. Safe to call concurrently from threads or processes.
pub fn ensure_toolchain(
    ctx: &ProvisionContext,
    target: &Target,
    sysroot_def: &SysrootDef,
) -> Result<Toolchain, ToolchainError> {
    let sysroot = ensure_sysroot(ctx, target, sysroot_def)?;
    let dir = toolchain_dir(ctx, target, &sysroot.path);
    let stamp = install_checked(ctx, &dir, |tmp, fin| build(ctx, target, &sysroot, tmp, fin))?;
    Ok(Toolchain {
        target: target.clone(),
        bin_dir: dir.join("bin"),
        path_dir: dir.join("path"),
        sysroot: sysroot.path,
        id: stamp.id.clone(),
        sysroot_id: sysroot.id,
        cmake_toolchain: dir.join("toolchain.cmake"),
        meson_cross: dir.join("meson-cross.ini"),
        root: dir,
        stamp,
    })
}

/// How each wrapper runs its tool: the program and whether it gets `--sysroot`.
struct Tool {
    name: String,
    program: PathBuf,
    sysroot: bool,
}

/// The compilers and binutils a toolchain wraps, with the environment
/// they need at their final place (`env`) and while still in `tmp`
/// (`check_env`, for the sanity check).
struct Compilers {
    stamp: Stamp,
    env: Vec<(String, String)>,
    check_env: Vec<(String, String)>,
    tools: Vec<Tool>,
}

/// Debian's cross gcc and binutils of the build machine's architecture,
/// extracted into `tmp/prefix` and run through their own libraries.
fn debian_compilers(
    ctx: &ProvisionContext,
    target: &Target,
    suite: &str,
    packages: &[String],
    tmp: &Path,
    fin: &Path,
) -> Result<Compilers, ToolchainError> {
    let triple = &target.triple;
    let pkgs = resolve_packages(
        ctx,
        suite,
        env::build_debian_arch(),
        packages,
        &Exclusions::new(TOOLCHAIN_EXCLUSIONS.iter().copied()),
        true,
    )?;
    let debs = download_packages(ctx, &pkgs)?;
    extract_packages(&debs, &tmp.join("prefix"), None)?;
    fixup_root(&tmp.join("prefix"))?;
    let stamp = Stamp::new("toolchain", &target.name, suite, &pkgs);
    let multiarch = env::build_triple();
    let libs = |root: &Path| {
        format!(
            "{}:{}",
            root.join("prefix/usr/lib").join(&multiarch).display(),
            root.join("prefix/lib").join(&multiarch).display()
        )
    };
    let bin = |name: &str| fin.join("prefix/usr/bin").join(format!("{triple}-{name}"));
    let mut tools: Vec<Tool> = ["gcc", "g++", "cpp", "ld"]
        .iter()
        .map(|name| Tool {
            name: (*name).into(),
            program: bin(name),
            sysroot: true,
        })
        .collect();
    for b in BINUTILS {
        if tmp.join("prefix/usr/bin").join(format!("{triple}-{b}")).exists() {
            tools.push(Tool {
                name: (*b).into(),
                program: bin(b),
                sysroot: false,
            });
        }
    }
    Ok(Compilers {
        stamp,
        env: vec![("LD_LIBRARY_PATH".into(), libs(fin))],
        check_env: vec![("LD_LIBRARY_PATH".into(), libs(tmp))],
        tools,
    })
}

/// The build machine's own gcc (native targets), its driver copied into
/// `tmp/gcc` so the wrappers can pin its exec prefix.
fn host_compilers(target: &Target, tmp: &Path, fin: &Path) -> Result<Compilers, ToolchainError> {
    let triple = &target.triple;
    let gcc = prepare_host_gcc(target, &tmp.join("gcc"))?;
    let mut stamp = Stamp::new("toolchain", &target.name, "host", &[]);
    stamp.info.insert("host-gcc".into(), gcc.version.clone());
    stamp
        .info
        .insert("host-compiler".into(), host_compiler_identity(triple));
    let mut tools: Vec<Tool> = [("gcc", &gcc.gcc), ("g++", &gcc.gxx), ("cpp", &gcc.cpp)]
        .into_iter()
        .map(|(name, prog)| Tool {
            name: name.into(),
            program: prog.clone(),
            sysroot: true,
        })
        .collect();
    for b in std::iter::once(&"ld").chain(BINUTILS) {
        if let Some(p) = host_program(&[&format!("{triple}-{b}"), b]) {
            tools.push(Tool {
                name: (*b).into(),
                program: p,
                sysroot: *b == "ld",
            });
        }
    }
    Ok(Compilers {
        stamp,
        env: vec![("GCC_EXEC_PREFIX".into(), format!("{}/gcc/lib/gcc/", fin.display()))],
        check_env: vec![("GCC_EXEC_PREFIX".into(), format!("{}/gcc/lib/gcc/", tmp.display()))],
        tools,
    })
}

/// The names a tool's wrapper is installed under in `bin/`: prefixed and
/// plain, plus `cc`/`c++` for the compilers.
fn wrapper_names(triple: &str, tool: &str) -> Vec<String> {
    let mut names = vec![format!("{triple}-{tool}")];
    names.push(match tool {
        "gcc" => "cc".into(),
        "g++" => "c++".into(),
        n => n.into(),
    });
    if tool == "gcc" || tool == "g++" {
        names.push(tool.to_string());
    }
    if tool == "gcc" {
        names.push(format!("{triple}-cc"));
    }
    if tool == "g++" {
        names.push(format!("{triple}-c++"));
    }
    names
}

/// Writes every wrapper into `tmp/bin` (and the prefixed ones as links in
/// `tmp/path`); returns their text, which enters the toolchain's identity.
fn write_wrappers(triple: &str, c: &Compilers, sysroot: &Sysroot, tmp: &Path) -> Result<String, ToolchainError> {
    let mut all_wrappers = String::new();
    for dir in ["bin", "path"] {
        std::fs::create_dir_all(tmp.join(dir)).map_err(ToolchainError::io(format!("cannot create {dir}/")))?;
    }
    for t in &c.tools {
        let text = wrapper(
            triple,
            &t.program,
            t.sysroot.then_some(sysroot.path.as_path()),
            &c.env,
            &t.name,
        );
        let _ = writeln!(all_wrappers, "{}\n{text}", t.name);
        for n in &wrapper_names(triple, &t.name) {
            write_executable(&tmp.join("bin").join(n), &text)?;
            if n.starts_with(&format!("{triple}-")) {
                let link = tmp.join("path").join(n);
                std::os::unix::fs::symlink(format!("../bin/{n}"), &link)
                    .map_err(ToolchainError::io(format!("cannot link {}", link.display())))?;
            }
        }
    }
    Ok(all_wrappers)
}

fn build(
    ctx: &ProvisionContext,
    target: &Target,
    sysroot: &Sysroot,
    tmp: &Path,
    fin: &Path,
) -> Result<Stamp, ToolchainError> {
    ctx.note(format!("provisioning toolchain {} ({})", target.name, target.triple));
    let triple = &target.triple;
    let compilers = match &target.toolchain {
        ToolchainSource::Debian { suite, packages } => debian_compilers(ctx, target, suite, packages, tmp, fin)?,
        ToolchainSource::Host => host_compilers(target, tmp, fin)?,
    };
    let all_wrappers = write_wrappers(triple, &compilers, sysroot, tmp)?;
    let cmake = cmake_toolchain(target, &fin.join("bin"), &sysroot.path);
    let meson = meson_cross(target, &fin.join("bin"));
    std::fs::write(tmp.join("toolchain.cmake"), &cmake).map_err(ToolchainError::io("cannot write toolchain.cmake"))?;
    std::fs::write(tmp.join("meson-cross.ini"), &meson).map_err(ToolchainError::io("cannot write meson-cross.ini"))?;
    sanity_check(
        ctx,
        target,
        &compilers.tools,
        &sysroot.path,
        &compilers.check_env,
        tmp,
        fin,
    )?;
    // The identity enters package keys shared between machines: it names
    // what the toolchain is, not where this machine's cache, sysroot or
    // toolchain directory is (the directory's name hashes the sysroot path).
    let places = [
        (fin, "<toolchain>"),
        (sysroot.path.as_path(), "<sysroot>"),
        (ctx.cache.as_path(), "<cache>"),
    ];
    let mut stamp = compilers.stamp;
    let host_compiler = stamp.info.get("host-compiler").cloned().unwrap_or_default();
    stamp.compute_id(&[
        &sysroot.id,
        &host_compiler,
        &portable(&all_wrappers, &places),
        &portable(&cmake, &places),
        &portable(&meson, &places),
    ]);
    stamp.info.insert("triple".into(), triple.clone());
    stamp.info.insert("sysroot".into(), sysroot.path.display().to_string());
    stamp.info.insert("sysroot-id".into(), sysroot.id.clone());
    if let Some(v) = stamp
        .packages
        .iter()
        .find(|p| p.name.starts_with("gcc-") && p.name.ends_with(triple))
    {
        stamp.info.insert("gcc".into(), v.version.clone());
    }
    Ok(stamp)
}

/// `text` with this machine's directories replaced by placeholders, the
/// longest first (they nest: the toolchain and sysroot live in the cache).
pub fn portable(text: &str, places: &[(&Path, &str)]) -> String {
    let mut places: Vec<(String, &str)> = places
        .iter()
        .map(|(p, name)| (p.display().to_string(), *name))
        .collect();
    places.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
    places
        .iter()
        .filter(|(p, _)| !p.is_empty())
        .fold(text.to_string(), |acc, (p, name)| acc.replace(p.as_str(), name))
}

fn host_program(names: &[&str]) -> Option<PathBuf> {
    // Only the system directories: a user's PATH could hold anything.
    names
        .iter()
        .flat_map(|n| ["/usr/bin", "/bin"].map(|d| Path::new(d).join(n)))
        .find(|p| p.is_file())
}

fn write_executable(path: &Path, text: &str) -> Result<(), ToolchainError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).map_err(ToolchainError::io(format!("cannot write {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(ToolchainError::io(format!("cannot chmod {}", path.display())))
}

/// Compiles and links a C program with the freshly extracted compiler (from
/// the temp dir, before it is renamed into place) and checks the ELF machine,
/// so a toolchain that cannot run on this host (glibc too old) or links for
/// the wrong machine is never stamped complete.
fn sanity_check(
    ctx: &ProvisionContext,
    target: &Target,
    tools: &[Tool],
    sysroot: &Path,
    env: &[(String, String)],
    tmp: &Path,
    fin: &Path,
) -> Result<(), ToolchainError> {
    let Some(gcc) = tools.iter().find(|t| t.name == "gcc") else {
        return Err(ToolchainError::Usage("no gcc in the toolchain".into()));
    };
    // Programs were recorded with their final paths; run the temp copies.
    let program = match gcc.program.strip_prefix(fin) {
        Ok(rel) => tmp.join(rel),
        Err(_) => gcc.program.clone(),
    };
    let src = tmp.join("check.c");
    let out = tmp.join("check.out");
    std::fs::write(&src, "#include <stdio.h>\nint main(void) { puts(\"ok\"); return 0; }\n")
        .map_err(ToolchainError::io("cannot write check.c"))?;
    let log = ctx.log_path(&format!("toolchain-{}", target.name));
    let mut cmd = Command::new(&program);
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LANG", "C.UTF-8")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .arg(format!("--sysroot={}", sysroot.display()))
        .args(&target.cflags)
        .arg(&src)
        .arg("-o")
        .arg(&out);
    let ok = crate::toolchain::provision::run_logged(&mut cmd, &log)?;
    let machine = std::fs::read(&out)
        .ok()
        .and_then(|b| crate::elf::inspect_bytes(&b))
        .map(|info| info.machine);
    let _ = std::fs::remove_file(&src);
    let _ = std::fs::remove_file(&out);
    if !ok || machine.as_deref() != Some(target.elf.machine.as_str()) {
        return Err(ToolchainError::Check {
            what: format!("compiling a test program for {}", target.name),
            hint: format!(
                "the compiler must run on this machine (Debian bookworm's cross gcc needs glibc ≥ 2.36) and produce {} code",
                target.elf.machine
            ),
            log: log.display().to_string(),
        });
    }
    Ok(())
}

/// Looks up a target's sysroot definition.
pub fn sysroot_def_for<'a>(
    target: &Target,
    sysroots: &'a std::collections::BTreeMap<String, SysrootDef>,
) -> Result<&'a SysrootDef, ToolchainError> {
    sysroots
        .get(&target.sysroot)
        .ok_or_else(|| ToolchainError::UnknownSysroot {
            name: target.sysroot.clone(),
            target: target.name.clone(),
        })
}

/// Runs `program --version` style checks with an explicit environment.
pub fn stdout_of(program: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LANG", "C")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
