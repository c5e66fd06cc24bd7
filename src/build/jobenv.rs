//! The environment and the sandbox of one package's build steps.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::build::builders::{BuildDirs, BuildError};
use crate::build::job::Layout;
use crate::build::sandbox::Policy;
use crate::recipe::Recipe;
use crate::toolchain::activate::TargetEnv;

/// Under `build/<target>/<name>/`: the private `TMPDIR`.
pub const TMP: &str = "tmp";
/// Go's build cache of the package.
pub const GO_CACHE: &str = "go-cache";
/// Wrappers put first on the steps' `PATH`.
pub const TOOLS: &str = "tools";
/// Work dirs some builders create beside the source tree.
const SCRATCH: &[&str] = &[
    "cmake-build",
    "meson-build",
    "wheel-strip",
    "pep517-out",
    "wheel-repair",
];

/// Where the package's build steps may write: the source tree, the staging
/// dir, the private temp dir and the builders' scratch dirs. Not the
/// package sysroot (hard links into the base sysroot and the dependencies'
/// outputs), nor anything else.
pub fn build_policy(dirs: &BuildDirs, enforce: bool) -> Policy {
    let mut writable = vec![
        dirs.src.clone(),
        dirs.dest.clone(),
        dirs.root.join(TMP),
        dirs.root.join(GO_CACHE),
    ];
    writable.extend(SCRATCH.iter().map(|d| dirs.root.join(d)));
    Policy {
        writable,
        network: false,
        summary: format!(
            "build steps may write only to the source tree, $DESTDIR and $TMPDIR (under {})",
            dirs.root.display()
        ),
        enforce,
    }
}

/// `make` for steps: drops `-jN` (N > 1) and bare `-j` when a jobserver is
/// in `MAKEFLAGS`. GNU make would otherwise leave the shared jobserver
/// ("-jN forced in submake: resetting jobserver mode") and run N jobs beside
/// every other build's; the jobserver's tokens already set the parallelism.
/// `-j1` is kept: serial never oversubscribes.
fn make_wrapper(real: &Path) -> String {
    let real = crate::toolchain::env::shell_quote(&real.display().to_string());
    format!(
        r#"#!/bin/sh
# Written by recipe: make sharing the build's jobserver (see jobenv.rs).
case " ${{MAKEFLAGS:-}} " in
*jobserver-auth=*) ;;
*) exec {real} "$@" ;;
esac
n=$#
while [ "$n" -gt 0 ]; do
    a=$1; shift; n=$((n - 1))
    case $a in
    -j1 | --jobs=1) ;;
    -j | --jobs)
        case ${{1:-}} in
        1) shift; n=$((n - 1)); set -- "$@" -j1; continue ;;
        [0-9]*) shift; n=$((n - 1)); continue ;;
        esac
        continue ;;
    -j[0-9]* | --jobs=*) continue ;;
    esac
    set -- "$@" "$a"
done
exec {real} "$@"
"#
    )
}

/// Writes the `make` wrapper into the package's tools dir, pointing at the
/// first real `make` on the steps' `PATH`.
pub fn install_tools(dirs: &BuildDirs, env: &BTreeMap<String, String>) -> Result<(), BuildError> {
    use std::os::unix::fs::PermissionsExt;
    let tools = dirs.root.join(TOOLS);
    let path = env.get("PATH").map_or("", String::as_str);
    let real = std::env::split_paths(path)
        .filter(|d| *d != tools)
        .map(|d| d.join("make"))
        .find(|m| m.is_file())
        .unwrap_or_else(|| PathBuf::from("/usr/bin/make"));
    let io = |e| BuildError::io(format!("cannot write {}", tools.display()), e);
    std::fs::create_dir_all(&tools).map_err(io)?;
    let wrapper = tools.join("make");
    std::fs::write(&wrapper, make_wrapper(&real)).map_err(io)?;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).map_err(io)
}

/// A build that staged no file is an error unless the recipe says so: a
/// misspelt `$DESTDIR` or an install target that did nothing would
/// otherwise report `built` and hand dependents an empty package.
pub fn check_installed(recipe: &Recipe, dest: &Path) -> Result<(), BuildError> {
    if recipe.build.common.installs_nothing || has_file(dest) {
        return Ok(());
    }
    Err(BuildError::invalid(
        format!(
            "package {} installed nothing into $DESTDIR ({})",
            recipe.name,
            dest.display()
        ),
        "install into \"$DESTDIR\" (e.g. `make install DESTDIR=\"$DESTDIR\"`), or add `installs-nothing #true` to the build node if the package really installs no file",
    ))
}

fn has_file(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries
        .flatten()
        .any(|e| e.file_type().is_ok_and(|t| !t.is_dir()) || (e.path().is_dir() && has_file(&e.path())))
}

/// The environment of every step of this package: the target's, plus its
/// own directories, pkg-config rebased onto its sysroot, path maps and the
/// recipe's `env`.
pub fn package_env(recipe: &Recipe, env: &TargetEnv, layout: &Layout, dirs: &BuildDirs) -> BTreeMap<String, String> {
    let host_build = env.base_sysroot.is_none();
    let mut vars = env.vars.clone();
    let sysroot = dirs.sysroot.display().to_string();
    vars.insert("DESTDIR".into(), dirs.dest.display().to_string());
    let prefix = if host_build {
        layout.host_prefix.display().to_string()
    } else {
        "/usr".into()
    };
    vars.insert("PREFIX".into(), prefix);
    vars.insert("SYSROOT".into(), sysroot.clone());
    vars.insert("RECIPE_SYSROOT".into(), sysroot.clone());
    vars.insert("RECIPE_DIR".into(), recipe.dir.display().to_string());
    // Where host tools are installed (their Python modules in lib/python).
    vars.insert("RECIPE_HOST_PREFIX".into(), layout.host_prefix.display().to_string());
    // The private temporary dir: the sandbox lets steps write nowhere else
    // outside the package's own dirs.
    vars.insert("TMPDIR".into(), dirs.root.join(TMP).display().to_string());
    // The project's git checkout is not the package's: `git describe` in a
    // configure script (dqlite's) or Go's VCS stamping would put its commit
    // into the output, so the same recipe would give other bytes per
    // checkout. Discovery stops below the package's own directory.
    vars.insert("GIT_CEILING_DIRECTORIES".into(), dirs.root.display().to_string());
    vars.insert(
        "SOURCE_DATE_EPOCH".into(),
        crate::build::job::source_date_epoch(recipe).to_string(),
    );
    if vars.contains_key("GOCACHE") {
        // Per package, inside its writable dirs: the cache's shared one is
        // read-only to steps.
        vars.insert("GOCACHE".into(), dirs.root.join(GO_CACHE).display().to_string());
    }
    // `make` sharing the jobserver whatever `-j` a step gives it.
    let path = vars.get("PATH").cloned().unwrap_or_default();
    vars.insert("PATH".into(), format!("{}:{path}", dirs.root.join(TOOLS).display()));
    if !host_build {
        let triple = &env.target.triple;
        vars.insert("PKG_CONFIG_SYSROOT_DIR".into(), sysroot.clone());
        vars.insert(
            "PKG_CONFIG_LIBDIR".into(),
            format!("{sysroot}/usr/lib/pkgconfig:{sysroot}/usr/lib/{triple}/pkgconfig:{sysroot}/usr/share/pkgconfig"),
        );
        vars.insert("PKG_CONFIG_PATH".into(), String::new());
        // Debug info and __FILE__ must not name this machine's directories.
        let maps = format!(
            "-ffile-prefix-map={}=. -ffile-prefix-map={sysroot}=",
            dirs.root.display()
        );
        for var in ["CFLAGS", "CXXFLAGS", "CGO_CFLAGS"] {
            let old = vars
                .get(var)
                .cloned()
                .unwrap_or_else(|| crate::toolchain::env::DEFAULT_OPTIMISATION.into());
            vars.insert(var.into(), format!("{old} {maps}"));
        }
    }
    if recipe.build.common.rpath_origin
        && matches!(
            recipe.build.kind,
            crate::recipe::BuildKind::Autotools | crate::recipe::BuildKind::Make
        )
    {
        // LDFLAGS pass through make (`$$` → `$`) and then sh (`\$` → `$`).
        let ldflags = vars.get("LDFLAGS").cloned().unwrap_or_default();
        vars.insert(
            "LDFLAGS".into(),
            format!("{ldflags} -Wl,-rpath,\\$$ORIGIN").trim().to_string(),
        );
    }
    for (k, v) in &recipe.build.env {
        let expanded = expand(v, &vars);
        vars.insert(k.clone(), expanded);
    }
    vars
}

/// `$VAR` and `${VAR}` from the environment being built; unknown ones expand
/// to nothing, as in sh.
pub fn expand(value: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let braced = chars.peek() == Some(&'{');
        if braced {
            chars.next();
        }
        let mut name = String::new();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphanumeric() || n == '_' {
                name.push(n);
                chars.next();
            } else {
                break;
            }
        }
        if braced && chars.peek() == Some(&'}') {
            chars.next();
        }
        if name.is_empty() {
            out.push('$');
        } else {
            out.push_str(env.get(&name).map_or("", String::as_str));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_variables() {
        let env = BTreeMap::from([("CFLAGS".to_string(), "-O2".to_string())]);
        assert_eq!(expand("$CFLAGS -g ${CFLAGS} $NOPE$", &env), "-O2 -g -O2 $");
    }

    #[test]
    fn make_wrapper_drops_parallel_jobs_under_a_jobserver() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = dir.path().join("fake-make");
        std::fs::write(&fake, "#!/bin/sh\necho \"$*\"\n").expect("fake");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let wrapper = dir.path().join("make");
        std::fs::write(&wrapper, make_wrapper(&fake)).expect("wrapper");
        let run = |flags: &str, args: &[&str]| {
            let out = std::process::Command::new("/bin/sh")
                .arg(&wrapper)
                .args(args)
                .env_clear()
                .env("MAKEFLAGS", flags)
                .env("PATH", "/usr/bin:/bin")
                .output()
                .expect("sh");
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        let js = "-j --jobserver-auth=3,4";
        assert_eq!(run(js, &["-j4", "all", "V=1"]), "all V=1");
        assert_eq!(run(js, &["-j", "8", "-C", "sub"]), "-C sub");
        assert_eq!(run(js, &["--jobs=3", "-j", "x"]), "x");
        assert_eq!(run(js, &["-j1", "install"]), "-j1 install");
        assert_eq!(run(js, &["-j", "1"]), "-j1");
        assert_eq!(run("", &["-j4", "all"]), "-j4 all");
    }

    #[test]
    fn an_empty_staging_dir_is_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("usr/lib")).expect("mkdir");
        assert!(!has_file(dir.path()));
        std::fs::write(dir.path().join("usr/lib/x"), "").expect("write");
        assert!(has_file(dir.path()));
    }
}
