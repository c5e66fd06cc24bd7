//! The environment of a build for a target, composed from scratch: child
//! processes get exactly these variables (`Command::env_clear()` first), never
//! the ambient environment — so a user's `CC`, `PKG_CONFIG_PATH` or
//! `LD_LIBRARY_PATH` cannot change a build.
//!
//! Builders pass `--host=$CONFIGURE_HOST --build=$CONFIGURE_BUILD` to
//! autotools `configure` themselves (they are arguments, not variables);
//! CMake builds pass `-DCMAKE_TOOLCHAIN_FILE=$RECIPE_CMAKE_TOOLCHAIN`, Meson
//! builds `--cross-file $RECIPE_MESON_CROSS`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::toolchain::Toolchain;
use crate::toolchain::gotool::GoTool;

/// 1980-01-01: the earliest time a zip (wheel) entry can carry.
pub const DEFAULT_SOURCE_DATE_EPOCH: u64 = 315_532_800;

/// Variables copied from the ambient environment when set: terminal and user
/// identity only, nothing that changes what a build produces.

#[derive(Debug, Clone, Default)]
pub struct EnvOptions {
    /// The staging sysroot assembled from a package's dependencies (base
    /// sysroot + their installed files). Default: the toolchain's sysroot.
    pub staging: Option<PathBuf>,
    pub go: Option<GoTool>,
    /// Parallel jobs inside one build (`MAKEFLAGS=-jN` unless the scheduler
    /// sets a jobserver itself).
    pub jobs: Option<usize>,
    pub source_date_epoch: Option<u64>,
    /// A target root with the target's Python (for `_sysconfigdata` lookups
    /// in crossenv-style extension builds).
    pub python_root: Option<PathBuf>,
    /// Directories put first on `PATH` (host tools built by recipes).
    pub extra_path: Vec<PathBuf>,
    /// `HOME`; default `/nonexistent`.
    pub home: Option<PathBuf>,
    /// Passed through as they are (interactive environments only: the
    /// terminal and user names from `Settings::ambient`).
    pub ambient: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildEnv {
    pub vars: BTreeMap<String, String>,
}

impl BuildEnv {
    /// Replaces the command's whole environment with this one.
    pub fn apply<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env_clear().envs(&self.vars)
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.vars.get(k).map(String::as_str)
    }

    /// `export K='v'` lines for `recipe env`, safe to `eval` or `source`.
    pub fn to_shell(&self) -> String {
        self.vars
            .iter()
            .map(|(k, v)| format!("export {k}={}\n", shell_quote(v)))
            .collect()
    }
}

/// POSIX shell single-quoting.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:,@%".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The build machine's triple as autotools `--build` wants it.
pub fn build_triple() -> String {
    match std::env::consts::ARCH {
        "x86_64" => "x86_64-linux-gnu".into(),
        "aarch64" => "aarch64-linux-gnu".into(),
        other => format!("{other}-linux-gnu"),
    }
}

/// The build machine's Debian architecture: the packages that run here
/// (cross compilers, Go, qemu) are provisioned for it.
pub fn build_debian_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "i386",
        "powerpc64" => "ppc64el",
        other => other,
    }
}

/// The build machine's Debian architecture, dynamic loader (relative to a
/// root) and multiarch triple: what running Debian binaries of the build
/// machine through their own loader needs. `purpose` names what wanted them
/// when the machine is not one Debian binaries are provisioned for.
pub fn build_loader(purpose: &str) -> Result<(&'static str, &'static str, &'static str), super::ToolchainError> {
    match std::env::consts::ARCH {
        "x86_64" => Ok((build_debian_arch(), "lib64/ld-linux-x86-64.so.2", "x86_64-linux-gnu")),
        "aarch64" => Ok((build_debian_arch(), "lib/ld-linux-aarch64.so.1", "aarch64-linux-gnu")),
        other => Err(super::ToolchainError::Usage(format!(
            "no {purpose} for a {other} build machine (x86_64 and aarch64 are supported)"
        ))),
    }
}

/// The optimisation level of target code, as Buildroot and Debian build.
pub const DEFAULT_OPTIMISATION: &str = "-O2";

/// The cross tools, the build machine's compiler and the target's flags.
fn compiler_vars(toolchain: &Toolchain, set: &mut impl FnMut(&str, String)) {
    let t = &toolchain.target;
    let tool = |n: &str| path_str(&toolchain.bin_dir.join(n));
    for (var, name) in [
        ("CC", "cc"),
        ("CXX", "c++"),
        ("CPP", "cpp"),
        ("AR", "ar"),
        ("RANLIB", "ranlib"),
        ("STRIP", "strip"),
        ("LD", "ld"),
        ("NM", "nm"),
        ("OBJCOPY", "objcopy"),
        ("OBJDUMP", "objdump"),
        ("READELF", "readelf"),
    ] {
        set(var, tool(name));
    }
    // Build-machine compiler for generators (sqlite's lemon, BUILD_CC).
    for k in ["CC_FOR_BUILD", "BUILD_CC"] {
        set(k, "/usr/bin/gcc".into());
    }
    // gcc's default is -O0: without a level here every package whose build
    // system adds none of its own (sqlite, libuv) shipped unoptimised code.
    // The target's flags come after, so a target's own `-Os` wins.
    let cflags = std::iter::once(DEFAULT_OPTIMISATION)
        .chain(t.cflags.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    set("CFLAGS", cflags.clone());
    set("CXXFLAGS", cflags);
    set("CPPFLAGS", String::new());
    set("LDFLAGS", t.ldflags.join(" "));
}

pub fn compose(toolchain: &Toolchain, opts: &EnvOptions) -> BuildEnv {
    let t = &toolchain.target;
    let sysroot = opts.staging.clone().unwrap_or_else(|| toolchain.sysroot.clone());
    let sr = path_str(&sysroot);
    let mut v: BTreeMap<String, String> = BTreeMap::new();
    let mut set = |k: &str, val: String| {
        v.insert(k.to_string(), val);
    };
    compiler_vars(toolchain, &mut set);
    set("CONFIGURE_HOST", t.triple.clone());
    set("CONFIGURE_BUILD", build_triple());
    set("RECIPE_TARGET", t.name.clone());
    set("RECIPE_TRIPLE", t.triple.clone());
    set("RECIPE_SYSROOT", sr.clone());
    set("RECIPE_TOOLCHAIN_ID", toolchain.id.clone());
    set("RECIPE_CMAKE_TOOLCHAIN", path_str(&toolchain.cmake_toolchain));
    set("RECIPE_MESON_CROSS", path_str(&toolchain.meson_cross));
    // pkg-config: only the sysroot's .pc files, paths rebased onto it.
    let triple = &t.triple;
    set(
        "PKG_CONFIG_LIBDIR",
        format!("{sr}/usr/lib/{triple}/pkgconfig:{sr}/usr/lib/pkgconfig:{sr}/usr/share/pkgconfig"),
    );
    set("PKG_CONFIG_SYSROOT_DIR", sr.clone());
    set("PKG_CONFIG_PATH", String::new());
    // Go (cgo through the same wrappers).
    set("GOOS", "linux".into());
    set("GOARCH", t.go.arch.clone());
    if let Some(arm) = &t.go.arm {
        set("GOARM", arm.clone());
    }
    set("CGO_ENABLED", "1".into());
    set("GOTOOLCHAIN", "local".into());
    set("GOFLAGS", "-mod=vendor -trimpath".into());
    set("GOPROXY", "off".into());
    set("GOSUMDB", "off".into());
    set("GOTELEMETRY", "off".into());
    let mut path: Vec<String> = opts.extra_path.iter().map(|p| path_str(p)).collect();
    path.push(path_str(&toolchain.path_dir));
    if let Some(go) = &opts.go {
        set("GOROOT", path_str(&go.goroot));
        set("GOCACHE", path_str(&go.gocache));
        set("GOPATH", path_str(&go.gopath));
        set("GOMODCACHE", path_str(&go.gopath.join("pkg/mod")));
        path.push(path_str(&go.bin_dir));
    }
    // Python cross variables (crossenv style).
    set("_PYTHON_HOST_PLATFORM", format!("linux-{}", t.python.machine));
    if let Some(root) = &opts.python_root
        && let Some(dir) = crate::toolchain::targetroot::sysconfigdata_dir(root, triple)
    {
        set("_PYTHON_SYSCONFIGDATA_NAME", format!("_sysconfigdata__linux_{triple}"));
        set("RECIPE_PYTHON_SYSCONFIG_DIR", path_str(&dir));
    }
    set("PYTHONDONTWRITEBYTECODE", "1".into());
    set(
        "SOURCE_DATE_EPOCH",
        opts.source_date_epoch.unwrap_or(DEFAULT_SOURCE_DATE_EPOCH).to_string(),
    );
    if let Some(j) = opts.jobs {
        set("MAKEFLAGS", format!("-j{j}"));
        set("CMAKE_BUILD_PARALLEL_LEVEL", j.to_string());
    }
    path.push("/usr/bin".into());
    path.push("/bin".into());
    set("PATH", path.join(":"));
    set("LANG", "C.UTF-8".into());
    set("LC_ALL", "C.UTF-8".into());
    set("TZ", "UTC".into());
    let home = opts.home.clone().unwrap_or_else(|| PathBuf::from("/nonexistent"));
    set("HOME", path_str(&home));
    for (k, val) in &opts.ambient {
        set(k, val.clone());
    }
    BuildEnv { vars: v }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_round_trips_through_sh() {
        for s in [
            "plain",
            "",
            "a b",
            "it's",
            "$HOME `x` \"q\"",
            "-march=armv7-a -mfpu=vfpv3-d16",
        ] {
            let out = Command::new("/bin/sh")
                .env_clear()
                .arg("-c")
                .arg(format!("printf %s {}", shell_quote(s)))
                .output()
                .expect("sh runs");
            assert_eq!(String::from_utf8_lossy(&out.stdout), s);
        }
    }
}
