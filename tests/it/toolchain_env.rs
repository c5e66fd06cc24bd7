//! `recipe env`, `recipe shell`, `recipe toolchain list` and the native
//! x86_64 toolchain (host gcc + bookworm sysroot).

use std::io::Write;
use std::process::Stdio;

use crate::support::toolchain::*;

#[test]
fn env_is_explicit_and_sourceable() {
    let mut c = recipe(&["env", "--target", "armv7hf"]);
    c.env("CC", "/ambient/cc")
        .env("LD_LIBRARY_PATH", "/ambient/lib")
        .env("GOFLAGS", "-mod=mod");
    let text = stdout(&run_ok(&mut c));
    let var = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("export {k}=")))
            .unwrap_or_else(|| panic!("{k} missing:\n{text}"))
            .to_string()
    };
    assert!(
        var("CC").ends_with("/bin/cc") && var("CC").contains("/toolchains/armv7hf-"),
        "{text}"
    );
    assert!(var("CFLAGS").contains("-D_TIME_BITS=64"), "{text}");
    assert_eq!(var("CONFIGURE_HOST"), "arm-linux-gnueabihf");
    assert_eq!(var("PKG_CONFIG_PATH"), "''");
    assert!(var("PKG_CONFIG_LIBDIR").contains("/sysroots/debian-trixie-armhf-"));
    assert_eq!(var("GOARCH"), "arm");
    assert_eq!(var("GOARM"), "7");
    assert_eq!(var("GOFLAGS"), "'-mod=vendor -trimpath'");
    assert_eq!(var("_PYTHON_HOST_PLATFORM"), "linux-armv7l");
    assert!(!text.contains("/ambient/"), "ambient variables leaked:\n{text}");
    assert!(!text.contains("LD_LIBRARY_PATH"), "{text}");
    let path = var("PATH");
    assert!(path.ends_with(":/usr/bin:/bin"), "{path}");
    assert!(path.starts_with(&cache().display().to_string()), "{path}");
    for file in [var("RECIPE_CMAKE_TOOLCHAIN"), var("RECIPE_MESON_CROSS")] {
        let content = std::fs::read_to_string(&file).expect("generated file exists");
        assert!(content.contains("/bin/c++"), "{content}");
    }
}

#[test]
fn shell_runs_a_script_with_the_target_environment() {
    let out = shell_script(
        "aarch64",
        b"echo \"target=$RECIPE_TARGET\"\n$CC -dumpmachine\necho \"ps1=$PS1\"\nexit 7\n",
    );
    let text = stdout(&out);
    assert!(text.contains("target=aarch64\n"), "{text}");
    assert!(text.contains("aarch64-linux-gnu\n"), "{text}");
    assert!(text.contains("ps1=(recipe aarch64)"), "{text}");
    assert_eq!(out.status.code(), Some(7), "the shell's exit status is passed on");
}

#[test]
fn shell_for_a_package_wants_its_build_dir() {
    // A project of its own, so the repository's build/ does not matter.
    let project = tempfile::tempdir().expect("tempdir");
    for dir in ["toolchains", "sysroots"] {
        let to = project.path().join(dir);
        std::fs::create_dir_all(&to).expect("mkdir");
        for e in std::fs::read_dir(repo().join(dir)).expect("read").flatten() {
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
    }
    let lz4 = project.path().join("recipes/lz4");
    std::fs::create_dir_all(&lz4).expect("mkdir");
    std::fs::copy(repo().join("recipes/lz4/recipe.kdl"), lz4.join("recipe.kdl")).expect("copy");
    let out = recipe_in(
        &project.path().join("recipes"),
        &["shell", "lz4", "--target", "aarch64"],
    )
    .output()
    .expect("spawn");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("build/aarch64/lz4") && err.contains("does not exist"),
        "{err}"
    );
}

#[test]
fn x86_64_uses_the_host_gcc_and_runs_natively() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("hello.c"), HELLO_C).expect("write");
    std::fs::write(dir.path().join("hello.cc"), HELLO_CXX).expect("write");
    let out = in_env(
        "x86_64",
        dir.path(),
        "$CC $CFLAGS hello.c -o hello && $CXX hello.cc -o hellopp && ./hello native && ./hellopp",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(elf_machine(&dir.path().join("hello")), 62);
    let said = stdout(&out);
    // Linked against the bookworm sysroot's glibc, which the host also has.
    assert!(said.starts_with("hello from native, glibc 2.36,"), "{said}");
    assert!(said.contains("hello from C++ 12"), "{said}");
}

#[test]
fn install_is_idempotent_and_listed() {
    run_ok(&mut recipe(&["toolchain", "install", "--target", "aarch64"]));
    let started = std::time::Instant::now();
    let again = stdout(&run_ok(&mut recipe(&["toolchain", "install", "--target", "aarch64"])));
    assert!(
        started.elapsed().as_secs_f64() < 5.0,
        "a provisioned toolchain is only checked"
    );
    assert!(again.contains("aarch64: "), "{again}");
    let list = stdout(&run_ok(&mut recipe(&["toolchain", "list"])));
    // Columns widen with what else the cache holds: compare words.
    let listed = |kind: &str, name: &str| list.lines().any(|l| l.split_whitespace().take(2).eq([kind, name]));
    assert!(listed("toolchain", "aarch64"), "{list}");
    assert!(listed("sysroot", "debian-trixie-arm64"), "{list}");
}

/// A project of its own with the repository's targets and sysroots.
fn project_with_targets() -> tempfile::TempDir {
    let project = tempfile::tempdir().expect("tempdir");
    for dir in ["toolchains", "sysroots"] {
        let to = project.path().join(dir);
        std::fs::create_dir_all(&to).expect("mkdir");
        for e in std::fs::read_dir(repo().join(dir)).expect("read").flatten() {
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
    }
    project
}

/// The failure message says "to investigate: recipe shell NAME": the shell
/// must then be the failed step's environment — its sysroot with its
/// dependencies (pkg-config finds them), its DESTDIR, the recipe's env.
#[test]
fn shell_for_a_failed_package_has_its_build_environment() {
    let project = project_with_targets();
    let write = |rel: &str, text: &str| {
        let path = project.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    write(
        "recipes/dep/recipe.kdl",
        "package dep {\n    version \"1.2.3\"\n    license \"MIT\"\n}\nbuild script {\n    step \"mkdir -p $DESTDIR/usr/lib/pkgconfig\"\n    step \"printf 'Name: dep\\\\nDescription: d\\\\nVersion: 1.2.3\\\\nCflags: -I${pcfiledir}/../../include\\\\n' > $DESTDIR/usr/lib/pkgconfig/dep.pc\"\n}\n",
    );
    write(
        "recipes/app/recipe.kdl",
        "package app {\n    version \"0.1\"\n    license \"MIT\"\n}\ndepends dep\nbuild script {\n    env APP_FLAVOUR=\"crunchy\"\n    step \"pkg-config --exists dep\"\n    step \"exit 3\"\n}\n",
    );
    let recipes = project.path().join("recipes");
    let out = recipe_in(&recipes, &["build", "app", "--target", "armv7hf", "--no-local-store"])
        .current_dir(project.path())
        .output()
        .expect("build");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the second step fails: {err}");
    assert!(err.contains("recipe shell app --target armv7hf"), "{err}");

    let mut c = recipe_in(&recipes, &["shell", "app", "--target", "armv7hf"]);
    c.current_dir(project.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"echo \"version=$(pkg-config --modversion dep)\"\necho \"flavour=$APP_FLAVOUR\"\necho \"destdir=$DESTDIR\"\necho \"pwd=$PWD\"\nexit 0\n")
        .expect("write script");
    let out = child.wait_with_output().expect("wait");
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("version=1.2.3\n"),
        "the dependency is in its sysroot:\n{text}"
    );
    assert!(text.contains("flavour=crunchy\n"), "the recipe's env:\n{text}");
    assert!(text.contains("/build/armv7hf/app/dest.new\n"), "its DESTDIR:\n{text}");
    assert!(text.contains("/build/armv7hf/app/src\n"), "in its source tree:\n{text}");
}

/// Target code is compiled optimised, as Buildroot's and Debian's default
/// `-O2`: the target's `cflags` only add its ABI, and a package whose
/// build system adds no `-O` of its own (sqlite, libuv) must not end up
/// at gcc's `-O0`.
#[test]
fn target_cflags_optimise() {
    for target in ["armv7hf", "aarch64"] {
        let out = shell_script(
            target,
            b"set -e\ncd \"$(mktemp -d)\"\n\
              printf '#ifndef __OPTIMIZE__\\n#error built without optimisation\\n#endif\\nint x;\\n' > o.c\n\
              $CC $CFLAGS -c o.c -o o.o\n$CXX $CXXFLAGS -x c++ -c o.c -o p.o\necho compiled\n",
        );
        let (text, err) = (stdout(&out), String::from_utf8_lossy(&out.stderr).into_owned());
        assert!(
            out.status.success() && text.contains("compiled"),
            "{target}:\n{text}\n{err}"
        );
    }
}

/// Runs `script` in `recipe shell --target TARGET`.
fn shell_script(target: &str, script: &[u8]) -> std::process::Output {
    let mut c = recipe(&["shell", "--target", target]);
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script)
        .expect("write script");
    child.wait_with_output().expect("wait")
}
