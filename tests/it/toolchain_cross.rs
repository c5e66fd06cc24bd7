//! Provisioning cross toolchains for real (Debian packages from the mirror in
//! the machine's apt sources) and proving they work: hello world in C and C++
//! for each ARM target runs under the provisioned qemu; host headers and
//! libraries never leak in; an autotools project configures and builds for ARM.

use std::path::Path;

use crate::support::toolchain::*;

fn install(target: &str) {
    let out = run_ok(&mut recipe(&["toolchain", "install", "--target", target, "--qemu"]));
    assert!(stdout(&out).contains(&format!("{target}: ")), "{}", stdout(&out));
}

fn hello_runs_under_qemu(target: &str, machine: u16, long: usize) {
    install(target);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("hello.c"), HELLO_C).expect("write");
    std::fs::write(dir.path().join("hello.cc"), HELLO_CXX).expect("write");
    let out = in_env(
        target,
        dir.path(),
        "$CC $CFLAGS $LDFLAGS hello.c -o hello && $CXX $CXXFLAGS $LDFLAGS hello.cc -o hellopp",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(elf_machine(&dir.path().join("hello")), machine);
    assert_eq!(elf_machine(&dir.path().join("hellopp")), machine);
    let run = |prog: &str, arg: &str| {
        let mut c = recipe(&["run", "--target", target, "--", prog, arg]);
        c.current_dir(dir.path());
        stdout(&run_ok(&mut c))
    };
    let said = run("./hello", target);
    // Trixie glibc, and 64-bit time_t on both (armhf via the target's cflags).
    assert!(
        said.starts_with(&format!(
            "hello from {target}, glibc 2.41, sizeof(time_t)=8, sizeof(long)={long}"
        )),
        "{said}"
    );
    assert_eq!(run("./hellopp", ""), "hello from C++ 12\n");
}

#[test]
fn armv7hf_hello_world_runs_under_qemu() {
    hello_runs_under_qemu("armv7hf", 40, 4);
}

#[test]
fn aarch64_hello_world_runs_under_qemu() {
    hello_runs_under_qemu("aarch64", 183, 8);
}

/// Every path the compiler searches or the linker opens must be inside the
/// cache (sysroot or toolchain) — or gcc's own temp objects.
fn assert_no_host_leak(target: &str) {
    install(target);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("hello.cc"), HELLO_CXX).expect("write");
    let cache = cache().display().to_string();
    let out = in_env(
        target,
        dir.path(),
        "$CXX $CXXFLAGS hello.cc -o hellopp -Wl,--trace > trace.txt\n\
         $CXX -E -v -x c++ /dev/null -o /dev/null 2> includes.txt",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let trace = std::fs::read_to_string(dir.path().join("trace.txt")).expect("trace");
    let opened: Vec<&str> = trace.lines().filter(|l| l.starts_with('/')).collect();
    assert!(opened.len() > 8, "the trace lists the link inputs:\n{trace}");
    for l in &opened {
        assert!(
            l.starts_with(&cache) || (l.starts_with("/tmp/cc") && l.ends_with(".o")),
            "{target}: the linker opened a host file: {l}\n{trace}"
        );
    }
    assert!(opened.iter().any(|l| l.contains("/sysroots/") && l.contains("libc.so")));
    let includes = std::fs::read_to_string(dir.path().join("includes.txt")).expect("includes");
    let searched: Vec<&str> = includes
        .lines()
        .skip_while(|l| !l.starts_with("#include <...> search starts here"))
        .skip(1)
        .take_while(|l| !l.starts_with("End of search list"))
        .map(str::trim)
        .collect();
    assert!(searched.len() >= 3, "{includes}");
    assert!(
        searched
            .iter()
            .any(|s| s.contains("/sysroots/") && s.ends_with("/usr/include")),
        "{includes}"
    );
    for s in &searched {
        // A native gcc keeps its own headers (builtins like stddef.h, and its
        // libstdc++) where it is installed; gcc prints them resolved.
        let compiler_own = target == "x86_64" && (s.starts_with("/usr/lib/gcc/") || s.contains("/c++/"));
        assert!(
            s.starts_with(&cache) || compiler_own,
            "{target}: host include dir {s}\n{includes}"
        );
    }
    // Headers and libraries that exist only on the host are not found.
    for header in [
        "zlib.h",
        "openssl/ssl.h",
        "expat.h",
        "ncurses.h",
        "crypt.h.host-only-probe",
    ] {
        if !Path::new("/usr/include").join(header).is_file() {
            continue;
        }
        let probe = in_env(
            target,
            dir.path(),
            &format!("echo '#include <{header}>' | $CC -x c -c - -o probe.o"),
        );
        assert!(!probe.status.success(), "{target}: host header {header} was found");
        let err = String::from_utf8_lossy(&probe.stderr);
        assert!(err.contains("No such file or directory"), "{err}");
    }
    if Path::new("/usr/lib/x86_64-linux-gnu/libz.so").exists() {
        let probe = in_env(
            target,
            dir.path(),
            "echo 'int main(void){return 0;}' | $CC -x c - -lz -o z",
        );
        assert!(!probe.status.success(), "{target}: the host's libz.so was linked");
        assert!(String::from_utf8_lossy(&probe.stderr).contains("cannot find -lz"));
    }
}

#[test]
fn no_host_leak_armv7hf() {
    assert_no_host_leak("armv7hf");
}

#[test]
fn no_host_leak_aarch64() {
    assert_no_host_leak("aarch64");
}

#[test]
fn no_host_leak_x86_64_with_the_host_gcc() {
    assert_no_host_leak("x86_64");
}

#[test]
fn autotools_configure_builds_for_arm_from_recipe_env() {
    install("armv7hf");
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = repo().join("tests/fixtures/autotools-hello");
    for f in ["configure", "configure.ac", "config.h.in", "Makefile.in", "hello.c"] {
        std::fs::copy(fixture.join(f), dir.path().join(f)).expect("copy fixture");
    }
    let out = in_env(
        "armv7hf",
        dir.path(),
        "./configure --host=$CONFIGURE_HOST --build=$CONFIGURE_BUILD > configure.out && make",
    );
    let log = std::fs::read_to_string(dir.path().join("config.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "{}\n{}\n{log}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let configure_out = std::fs::read_to_string(dir.path().join("configure.out")).expect("configure output");
    assert!(
        configure_out.contains("checking whether we are cross compiling... yes"),
        "{configure_out}"
    );
    assert!(
        configure_out.contains("checking for arm-linux-gnueabihf-gcc... "),
        "{configure_out}"
    );
    assert_eq!(
        elf_machine(&dir.path().join("hello")),
        40,
        "configure picked the ARM compiler"
    );
    let config_h = std::fs::read_to_string(dir.path().join("config.h")).expect("config.h");
    assert!(config_h.contains("#define SIZEOF_TIME_T 8"), "{config_h}");
    let mut run = recipe(&["run", "--target", "armv7hf", "--", "./hello"]);
    run.current_dir(dir.path());
    assert_eq!(
        stdout(&run_ok(&mut run)),
        "autotools hello: sizeof(time_t)=8 sizeof(long)=4\n"
    );
}

/// Package sysroots hard-link into the provisioned one, and compilers run
/// from the provisioned toolchain, so a build step writing into `$SYSROOT`
/// or next to `$CC` would change them for every later build: the next run
/// notices and provisions them again. Runs on a private cache (seeded with
/// the shared cache's verified downloads) so the shared sysroot other tests
/// use is never touched.
#[test]
fn a_sysroot_or_toolchain_changed_by_a_build_step_is_provisioned_again() {
    install("armv7hf");
    let private = tempfile::tempdir().expect("tempdir");
    let seed = |from: &Path, to: &Path| {
        let mut stack = vec![(from.to_path_buf(), to.to_path_buf())];
        while let Some((f, t)) = stack.pop() {
            std::fs::create_dir_all(&t).expect("mkdir");
            for e in std::fs::read_dir(&f).expect("read").flatten() {
                if e.file_type().expect("type").is_dir() {
                    stack.push((e.path(), t.join(e.file_name())));
                } else {
                    std::fs::hard_link(e.path(), t.join(e.file_name())).expect("link");
                }
            }
        }
    };
    seed(
        &cache().join("downloads/sha256"),
        &private.path().join("downloads/sha256"),
    );
    let project = private.path().join("project");
    let recipe = project.join("recipes/vandal");
    std::fs::create_dir_all(&recipe).expect("mkdir");
    for d in ["toolchains", "sysroots"] {
        std::fs::create_dir_all(project.join(d)).expect("mkdir");
        for e in std::fs::read_dir(repo().join(d)).expect("read").flatten() {
            std::fs::copy(e.path(), project.join(d).join(e.file_name())).expect("copy");
        }
    }
    std::fs::write(
        recipe.join("recipe.kdl"),
        "package vandal {\n    version \"1.0\"\n    license \"MIT\"\n}\nbuild script {\n    step \"echo '#error written by a build step' >> \\\"$SYSROOT/usr/include/stdio.h\\\"\"\n    step \"touch \\\"$(dirname \\\"$(command -v \\\"$CC\\\")\\\")/vandal-was-here\\\"\"\n    step \"mkdir -p $DESTDIR/usr/share && touch $DESTDIR/usr/share/vandal\"\n}\n",
    )
    .expect("recipe");
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_recipe"));
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", private.path())
            .current_dir(&project)
            .arg("--cache")
            .arg(private.path())
            .args(args);
        if let Ok(v) = std::env::var("RECIPE_DEBIAN_MIRROR") {
            cmd.env("RECIPE_DEBIAN_MIRROR", v);
        }
        let out = cmd.output().expect("spawn");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    run(&["toolchain", "install", "--target", "armv7hf"]);
    let sysroot = std::fs::read_dir(private.path().join("sysroots"))
        .expect("sysroots")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("usr/include/stdio.h").is_file())
        .expect("a provisioned sysroot");
    let header = sysroot.join("usr/include/stdio.h");
    let original = std::fs::read(&header).expect("read");
    // The sandbox would refuse these writes; this test is about noticing
    // them when it is off (or when something else writes there).
    run(&["build", "--no-sandbox", "vandal", "--target", "armv7hf"]);
    assert_ne!(
        std::fs::read(&header).expect("read"),
        original,
        "the step wrote through the link"
    );
    let toolchain = std::fs::read_dir(private.path().join("toolchains"))
        .expect("toolchains")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .expect("a provisioned toolchain");
    let vandal: Vec<_> = walkdir(&toolchain)
        .into_iter()
        .filter(|p| p.ends_with("vandal-was-here"))
        .collect();
    assert_eq!(vandal.len(), 1, "the step wrote into the toolchain");
    let err = run(&["toolchain", "install", "--target", "armv7hf"]);
    assert!(
        err.contains(&format!("{} changed since it was provisioned", sysroot.display())),
        "{err}"
    );
    assert!(
        err.contains(&format!("{} changed since it was provisioned", toolchain.display())),
        "{err}"
    );
    assert_eq!(std::fs::read(&header).expect("read"), original, "provisioned again");
    assert!(!vandal[0].exists(), "the toolchain provisioned again");
    assert!(
        !run(&["toolchain", "install", "--target", "armv7hf"]).contains("changed since"),
        "then left alone"
    );
}

fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}
