//! Text generated for a toolchain: wrapper scripts, the CMake toolchain file,
//! the Meson cross file, and the private GCC exec-prefix tree that keeps the
//! build machine's gcc from searching host library directories.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::model::target::Target;
use crate::toolchain::env::shell_quote;
use crate::toolchain::{ToolchainError, stdout_of};

/// A wrapper: fixed environment, then the real tool with `--sysroot` when it
/// takes one. `RECIPE_SYSROOT` lets a build point at the staging sysroot
/// assembled from its dependencies (a superset of the base sysroot).
pub fn wrapper(triple: &str, program: &Path, sysroot: Option<&Path>, env: &[(String, String)], tool: &str) -> String {
    let mut s = format!("#!/bin/sh\n# recipe toolchain wrapper: {triple} {tool} (generated; do not edit)\n");
    for (k, v) in env {
        let _ = writeln!(s, "{k}={}\nexport {k}", shell_quote(v));
    }
    let prog = shell_quote(&program.to_string_lossy());
    match sysroot {
        Some(sr) => {
            let _ = writeln!(
                s,
                "exec {prog} --sysroot=\"${{RECIPE_SYSROOT:-{}}}\" \"$@\"",
                sr.display().to_string().replace(['"', '$', '`', '\\'], "_")
            );
        }
        None => {
            let _ = writeln!(s, "exec {prog} \"$@\"");
        }
    }
    s
}

fn cmake_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// CMake toolchain file. Flags are deliberately not set here: they come from
/// `CFLAGS`/`CXXFLAGS`/`LDFLAGS` in the build environment, which CMake reads
/// on first configure; setting both would duplicate them.
pub fn cmake_toolchain(target: &Target, bin: &Path, sysroot: &Path) -> String {
    let tool = |n: &str| cmake_quote(&bin.join(n).to_string_lossy());
    let mut s = format!(
        "# recipe: CMake toolchain file for {} ({}); generated, do not edit.\n",
        target.name, target.triple
    );
    let _ = writeln!(s, "set(CMAKE_SYSTEM_NAME Linux)");
    let _ = writeln!(s, "set(CMAKE_SYSTEM_PROCESSOR {})", target.arch);
    let _ = writeln!(s, "set(CMAKE_LIBRARY_ARCHITECTURE {})", target.triple);
    let _ = writeln!(
        s,
        "if(DEFINED ENV{{RECIPE_SYSROOT}})\n  set(CMAKE_SYSROOT \"$ENV{{RECIPE_SYSROOT}}\")\nelse()\n  set(CMAKE_SYSROOT {})\nendif()",
        cmake_quote(&sysroot.to_string_lossy())
    );
    for (var, name) in [
        ("CMAKE_C_COMPILER", "cc"),
        ("CMAKE_CXX_COMPILER", "c++"),
        ("CMAKE_AR", "ar"),
        ("CMAKE_RANLIB", "ranlib"),
        ("CMAKE_STRIP", "strip"),
        ("CMAKE_NM", "nm"),
        ("CMAKE_OBJCOPY", "objcopy"),
        ("CMAKE_OBJDUMP", "objdump"),
        ("CMAKE_READELF", "readelf"),
    ] {
        let _ = writeln!(s, "set({var} {})", tool(name));
    }
    let _ = writeln!(s, "set(CMAKE_FIND_ROOT_PATH \"${{CMAKE_SYSROOT}}\")");
    for (kind, mode) in [
        ("PROGRAM", "NEVER"),
        ("LIBRARY", "ONLY"),
        ("INCLUDE", "ONLY"),
        ("PACKAGE", "ONLY"),
    ] {
        let _ = writeln!(s, "set(CMAKE_FIND_ROOT_PATH_MODE_{kind} {mode})");
    }
    s
}

fn meson_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| meson_str(i)).collect();
    format!("[{}]", quoted.join(", "))
}

fn meson_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Meson cross file. Meson ignores `CFLAGS` from the environment for the
/// host machine of a cross build, so the target flags are written here.
pub fn meson_cross(target: &Target, bin: &Path) -> String {
    let tool = |n: &str| meson_str(&bin.join(n).to_string_lossy());
    let mut s = format!(
        "# recipe: Meson cross file for {} ({}); generated.\n",
        target.name, target.triple
    );
    s.push_str("[binaries]\n");
    for (key, name) in [
        ("c", "cc"),
        ("cpp", "c++"),
        ("ar", "ar"),
        ("strip", "strip"),
        ("nm", "nm"),
        ("objcopy", "objcopy"),
        ("ld", "ld"),
    ] {
        let _ = writeln!(s, "{key} = {}", tool(name));
    }
    // pkg-config reads PKG_CONFIG_LIBDIR/SYSROOT_DIR from the build env.
    s.push_str("pkg-config = 'pkg-config'\n\n[built-in options]\n");
    let _ = writeln!(s, "c_args = {}", meson_list(&target.cflags));
    let _ = writeln!(s, "cpp_args = {}", meson_list(&target.cflags));
    let _ = writeln!(s, "c_link_args = {}", meson_list(&target.ldflags));
    let _ = writeln!(s, "cpp_link_args = {}", meson_list(&target.ldflags));
    let _ = writeln!(s, "\n[properties]\nneeds_exe_wrapper = {}", target.emulated());
    let cpu_family = match target.arch.as_str() {
        "arm" | "aarch64" | "x86_64" | "riscv64" | "ppc64" | "s390x" => target.arch.clone(),
        other => other.to_string(),
    };
    let _ = writeln!(
        s,
        "\n[host_machine]\nsystem = 'linux'\ncpu_family = {}\ncpu = {}\nendian = 'little'",
        meson_str(&cpu_family),
        meson_str(&target.python.machine)
    );
    s
}

/// The build machine's gcc, for native targets.
pub struct HostGcc {
    pub gcc: PathBuf,
    pub gxx: PathBuf,
    pub cpp: PathBuf,
    pub version: String,
}

/// What the build machine's compiler is, read now (not when a toolchain was
/// installed), so an upgraded compiler changes package keys: the `--version`
/// banner carries the distribution's package revision (g++ comes from the
/// same source package, so gcc's banner speaks for both). Read once per run.
pub fn host_compiler_identity(triple: &str) -> String {
    static SEEN: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());
    if let Some((_, id)) = SEEN
        .lock()
        .ok()
        .and_then(|s| s.iter().find(|(t, _)| t == triple).cloned())
    {
        return id;
    }
    let id = [format!("{triple}-gcc"), "gcc".into()]
        .iter()
        .flat_map(|n| ["/usr/bin", "/bin"].map(|d| Path::new(d).join(n)))
        .find(|p| p.is_file())
        .and_then(|p| stdout_of(&p, &["--version"]))
        .and_then(|v| v.lines().next().map(|l| format!("gcc: {l}")))
        .unwrap_or_else(|| "gcc: none".into());
    if let Ok(mut s) = SEEN.lock() {
        s.push((triple.to_string(), id.clone()));
    }
    id
}

/// Builds `dir` as a private `GCC_EXEC_PREFIX` (`dir/lib/gcc/<machine>/<ver>/`
/// links to the host gcc's own files, `dir/include/c++/…` to its C++ headers).
/// A native gcc searches `<exec-prefix>/../../../<multiarch>` — i.e. the host's
/// `/usr/lib/<multiarch>` — *before* `--sysroot`; relocating the exec prefix
/// into the cache points those searches at empty directories, so only the
/// sysroot and the compiler's own runtime are visible, as with a cross gcc.
pub fn prepare_host_gcc(target: &Target, dir: &Path) -> Result<HostGcc, ToolchainError> {
    let err = |message: String| ToolchainError::HostCompiler {
        target: target.name.clone(),
        message,
    };
    let find = |names: &[String]| {
        names
            .iter()
            .flat_map(|n| ["/usr/bin", "/bin"].map(|d| Path::new(d).join(n)))
            .find(|p| p.is_file())
    };
    let t = &target.triple;
    let gcc = find(&[format!("{t}-gcc"), "gcc".into()]).ok_or_else(|| err("gcc not found in /usr/bin".into()))?;
    let gxx = find(&[format!("{t}-g++"), "g++".into()]).ok_or_else(|| err("g++ not found in /usr/bin".into()))?;
    let cpp = find(&[format!("{t}-cpp"), "cpp".into()]).unwrap_or_else(|| gcc.clone());
    let machine = stdout_of(&gcc, &["-dumpmachine"]).unwrap_or_default();
    if machine != *t {
        return Err(err(format!("{} targets `{machine}`, not `{t}`", gcc.display())));
    }
    let version = stdout_of(&gcc, &["-dumpfullversion"]).unwrap_or_default();
    let libgcc = stdout_of(&gcc, &["-print-libgcc-file-name"]).map(PathBuf::from);
    let libdir = libgcc
        .as_deref()
        .and_then(Path::parent)
        .filter(|d| d.is_dir())
        .ok_or_else(|| err("cannot locate gcc's library directory".into()))?;
    // <prefix>/lib/gcc/<machine>/<ver>: the names gcc expects under the exec prefix.
    let (Some(ver), Some(mach), Some(prefix)) = (
        libdir.file_name(),
        libdir.parent().and_then(Path::file_name),
        libdir.ancestors().nth(4),
    ) else {
        return Err(err(format!("unexpected gcc layout at {}", libdir.display())));
    };
    let io = |what: String| ToolchainError::io(what);
    let own = dir.join("lib/gcc").join(mach).join(ver);
    std::fs::create_dir_all(&own).map_err(io(format!("cannot create {}", own.display())))?;
    for e in std::fs::read_dir(libdir)
        .map_err(io(format!("cannot read {}", libdir.display())))?
        .flatten()
    {
        let link = own.join(e.file_name());
        std::os::unix::fs::symlink(e.path(), &link).map_err(io(format!("cannot link {}", link.display())))?;
    }
    for inc in cxx_include_dirs(&gxx) {
        let Ok(rel) = inc.strip_prefix(prefix) else { continue };
        let link = dir.join(rel);
        if link.ancestors().skip(1).any(|a| a.is_symlink()) || link.exists() {
            continue; // e.g. c++/12/backward under an already linked c++/12
        }
        if let Some(p) = link.parent() {
            std::fs::create_dir_all(p).map_err(io(format!("cannot create {}", p.display())))?;
        }
        std::os::unix::fs::symlink(&inc, &link).map_err(io(format!("cannot link {}", link.display())))?;
    }
    Ok(HostGcc { gcc, gxx, cpp, version })
}

/// The C++ header directories g++ searches by default.
fn cxx_include_dirs(gxx: &Path) -> Vec<PathBuf> {
    let out = std::process::Command::new(gxx)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LANG", "C")
        .args(["-E", "-v", "-x", "c++", "/dev/null", "-o", "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output();
    let Ok(out) = out else { return Vec::new() };
    let text = String::from_utf8_lossy(&out.stderr);
    text.lines()
        .skip_while(|l| !l.starts_with("#include <...> search starts here"))
        .skip(1)
        .take_while(|l| !l.starts_with("End of search list"))
        .map(str::trim)
        .filter(|l| l.contains("/c++/"))
        .map(PathBuf::from)
        .collect()
}
