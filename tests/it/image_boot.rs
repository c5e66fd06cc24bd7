//! Target images: qemu-system and the Debian kernel provisioned into the
//! cache, and real armv7hf initramfs images booted under `qemu-system-arm
//! -M virt` (TCG) by `recipe boot` — the init's output, its exit status,
//! the timeout and that no VM process is left behind.

use std::path::Path;
use std::process::Output;

use recipe::model::project::{Project, ProjectPaths};

use crate::support::image::{context, processes_mentioning, project as project_with_image, recipe, repo, text};

fn boot(project: &Path, args: &[&str]) -> Output {
    recipe(project).arg("boot").args(args).output().expect("spawn recipe")
}

const HELLO: &str = r#"image hello {
    packages "busybox-static"
    modules "virtio_mmio" "virtio_net"
    init "init.sh"
    timeout 180
}
"#;

#[test]
fn qemu_system_runs_through_its_own_loader() {
    let ctx = context();
    let qemu = recipe::toolchain::qemusystem::ensure_qemu_system(&ctx).expect("qemu-system provisioned");
    for binary in ["qemu-system-arm", "qemu-system-aarch64"] {
        let out = qemu
            .command(binary)
            .expect("command")
            .args(["-machine", "help"])
            .output()
            .expect("spawn");
        assert!(out.status.success(), "{binary}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("virt"), "{binary} has -M virt");
    }
    assert!(qemu.data_dir.is_dir(), "the -L directory exists");
    assert!(
        qemu.command("qemu-system-x86_64").is_err(),
        "only the provisioned emulators"
    );
}

#[test]
fn armmp_kernel_with_virtio_modules_in_load_order() {
    let project = Project::load(ProjectPaths::from_recipes_dir(&repo().join("recipes"))).expect("project loads");
    let target = &project.targets["armv7hf"];
    let ctx = context();
    let kernel = recipe::toolchain::kernel::ensure_kernel(&ctx, target, "trixie").expect("kernel");
    assert!(kernel.release.ends_with("-armmp"), "{}", kernel.release);
    assert!(kernel.image.is_file(), "{}", kernel.image.display());
    let wanted = [
        "virtio_net".to_string(),
        "virtio-mmio".to_string(),
        "virtio_blk".to_string(),
    ];
    let names: Vec<String> = kernel
        .modules(&wanted)
        .expect("modules")
        .into_iter()
        .map(|m| m.name)
        .collect();
    let at = |n: &str| {
        names
            .iter()
            .position(|m| m == n)
            .unwrap_or_else(|| panic!("{n} in {names:?}"))
    };
    assert!(
        at("failover") < at("net_failover") && at("net_failover") < at("virtio_net"),
        "{names:?}"
    );
    assert!(names.contains(&"virtio_mmio".to_string()) && names.contains(&"virtio_blk".to_string()));
    let err = kernel
        .modules(&["no_such_module".to_string()])
        .expect_err("unknown module");
    assert!(err.to_string().contains("no_such_module"), "{err}");
}

#[test]
fn armv7hf_image_boots_runs_init_and_powers_off() {
    let init = "echo \"MARK machine=$(uname -m)\"\ngrep -m1 '^model name' /proc/cpuinfo\n\
                echo \"MARK modules=$(cut -d' ' -f1 /proc/modules | sort | tr '\\n' ,)\"\n\
                echo \"MARK aio-max-nr=$(cat /proc/sys/fs/aio-max-nr)\"\n";
    let project = project_with_image("hello", HELLO, init);
    let out = boot(project.path(), &["hello", "--target", "armv7hf"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "boot failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("MARK machine=armv7l"), "{stdout}");
    assert!(stdout.contains("model name\t: ARMv7"), "{stdout}");
    assert!(
        stdout.contains("MARK modules=failover,net_failover,virtio_mmio,virtio_net,"),
        "modules loaded in the guest: {stdout}"
    );
    assert!(
        stdout.contains("MARK aio-max-nr=65536"),
        "the kernel has Linux AIO: {stdout}"
    );
    assert!(stdout.contains("Power down"), "clean power-off: {stdout}");
    let image = project.path().join("out/armv7hf/hello.cpio.gz");
    assert!(image.is_file());
    assert!(
        processes_mentioning(&image.display().to_string()).is_empty(),
        "no VM left"
    );
    // A second run with nothing changed reuses the image as it is.
    let before = std::fs::metadata(&image).and_then(|m| m.modified()).expect("mtime");
    let again = boot(project.path(), &["hello", "--target", "armv7hf", "--quiet"]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        text(&again.stderr).contains("hello.cpio.gz unchanged"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(
        std::fs::metadata(&image).and_then(|m| m.modified()).expect("mtime"),
        before
    );
    // Measured boot-to-init time, for the README.
    let line = stderr
        .lines()
        .find(|l| l.contains("init started"))
        .expect("timing line");
    eprintln!("{line}");
}

#[test]
fn aarch64_image_boots_with_the_generic_arm64_kernel() {
    let init = "echo \"MARK machine=$(uname -m) kernel=$(uname -r)\"\necho \"MARK aio-max-nr=$(cat /proc/sys/fs/aio-max-nr)\"\n";
    let project = project_with_image("hello64", &HELLO.replace("hello", "hello64"), init);
    let out = boot(project.path(), &["hello64", "--target", "aarch64"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "boot failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("MARK machine=aarch64 kernel="), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("MARK machine="))
        .unwrap_or_default();
    assert!(line.trim_end().ends_with("-arm64"), "the generic arm64 flavour: {line}");
    // The kernel has Linux AIO (what qemu-user lacks and dqlite needs).
    assert!(stdout.contains("MARK aio-max-nr=65536"), "{stdout}");
    let image = project.path().join("out/aarch64/hello64.cpio.gz");
    assert!(
        processes_mentioning(&image.display().to_string()).is_empty(),
        "no VM left"
    );
    eprintln!(
        "{}",
        stderr
            .lines()
            .find(|l| l.contains("init started"))
            .expect("timing line")
    );
}

/// Debian's armhf CPython in the image, and the real kernel's Linux AIO:
/// `io_setup` (which qemu-user lacks, so dqlite needs a preload there)
/// succeeds in the VM without any preload.
#[test]
fn armv7hf_image_runs_debian_python_with_a_wheel_and_kernel_aio() {
    let image = r#"image py {
    packages "busybox-static" "python3.13"
    install "tiny-wheel"
    init "init.sh"
    timeout 300
}
"#;
    let init = r#"python3.13 - <<'PY'
import ctypes, os, platform
libc = ctypes.CDLL(None, use_errno=True)
ctx = ctypes.c_ulong(0)
nr = {"armv7l": 243, "aarch64": 0}[platform.machine()]  # io_setup
rc = libc.syscall(nr, 8, ctypes.byref(ctx))
print("MARK", platform.machine(), platform.python_version(), "io_setup", rc, ctypes.get_errno(), ctx.value != 0)
print("MARK preload", os.environ.get("LD_PRELOAD"), os.path.exists("/etc/ld.so.preload"))
import tiny_wheel
print("MARK wheel", tiny_wheel.VALUE, tiny_wheel.__file__)
PY
"#;
    let project = project_with_image("py", image, init);
    // A script recipe staging a wheel: `recipe boot` builds it first.
    let recipe = project.path().join("recipes/tiny-wheel");
    std::fs::create_dir_all(recipe.join("files")).expect("mkdir");
    crate::support::wheel::write_wheel(&recipe.join("files/tiny_wheel-1.0-py3-none-any.whl"), "from-the-wheel");
    std::fs::write(
        recipe.join("recipe.kdl"),
        "package tiny-wheel {\n    version \"1.0\"\n    license \"MIT\"\n}\nbuild script {\n    \
         step \"mkdir -p $DESTDIR/usr/share/wheels && cp $RECIPE_DIR/files/*.whl $DESTDIR/usr/share/wheels/\"\n}\n",
    )
    .expect("write recipe");
    let out = boot(project.path(), &["py", "--target", "armv7hf"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "boot failed:\n{stdout}\n{stderr}");
    assert!(
        project
            .path()
            .join("out/armv7hf/tiny_wheel-1.0-py3-none-any.whl")
            .is_file(),
        "built by recipe boot: {stderr}"
    );
    assert!(stdout.contains("MARK armv7l 3.13."), "{stdout}");
    assert!(stdout.contains(" io_setup 0 0 True"), "kernel AIO in the VM: {stdout}");
    assert!(stdout.contains("MARK preload None False"), "no preload: {stdout}");
    assert!(
        stdout.contains("MARK wheel from-the-wheel /usr/lib/python3/dist-packages/tiny_wheel/__init__.py"),
        "the wheel is importable: {stdout}"
    );
    eprintln!(
        "{}",
        stderr
            .lines()
            .find(|l| l.contains("init started"))
            .expect("timing line")
    );
}

/// `network "user"`: the guest's eth0 (virtio-net, module loaded by the
/// prelude) reaches an HTTP server on the build machine's loopback through
/// qemu's user-mode network, without root.
#[test]
fn user_network_reaches_the_build_machine() {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            let body = "served-to-the-guest\n";
            let _ = write!(conn, "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        }
    });
    let def = HELLO
        .replace("hello", "net")
        .replace("init \"init.sh\"", "init \"init.sh\"\n    network \"user\"");
    let init = format!(
        "ip link set eth0 up\nip addr add 10.0.2.15/24 dev eth0\nip route add default via 10.0.2.2\n\
         echo \"MARK $(wget -q -O - http://10.0.2.2:{port}/x)\"\n"
    );
    let project = project_with_image("net", &def, &init);
    let out = boot(project.path(), &["net", "--target", "armv7hf"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "boot failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("MARK served-to-the-guest"), "{stdout}");
}

/// The repository's `dqlite-node` image: dqlitepy's armv7hf wheel built by
/// `recipe build` (dependencies restored from the local store when another
/// test or run built them), a node started with the kernel's AIO, a row
/// written and read, no preload.
#[test]
fn dqlite_node_image_runs_dqlitepy_with_kernel_aio() {
    let dir = tempfile::tempdir().expect("tempdir");
    for d in ["toolchains", "sysroots", "python"] {
        std::os::unix::fs::symlink(repo().join(d), dir.path().join(d)).expect("link");
    }
    std::fs::create_dir_all(dir.path().join("recipes")).expect("mkdir");
    for e in std::fs::read_dir(repo().join("recipes")).expect("recipes").flatten() {
        std::os::unix::fs::symlink(e.path(), dir.path().join("recipes").join(e.file_name())).expect("link");
    }
    let started = std::time::Instant::now();
    let mut build = recipe(dir.path());
    build.args(["build", "dqlitepy", "--target", "armv7hf"]);
    let built = build.output().expect("spawn build");
    assert!(built.status.success(), "{}", text(&built.stderr));
    eprintln!("dqlitepy built or restored in {:.1} s", started.elapsed().as_secs_f64());
    let out = boot(dir.path(), &["dqlite-node", "--target", "armv7hf"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "boot failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("dqlite rows: [{'id': 1, 'v': 'written in the VM'}]"),
        "{stdout}"
    );
    assert!(stdout.contains("kernel AIO contexts while the node runs: "), "{stdout}");
    assert!(stdout.contains("dqlite node stopped"), "{stdout}");
    eprintln!(
        "{}",
        stderr
            .lines()
            .find(|l| l.contains("init started"))
            .expect("timing line")
    );
}

#[test]
fn init_status_is_the_exit_status_and_a_hung_vm_is_killed() {
    let project = project_with_image(
        "fails",
        &HELLO.replace("hello", "fails"),
        "echo about to fail\nexit 3\n",
    );
    let out = boot(project.path(), &["fails", "--target", "armv7hf", "--quiet"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        !text(&out.stdout).contains("about to fail"),
        "--quiet keeps the console off stdout"
    );

    let project = project_with_image(
        "hangs",
        &HELLO.replace("hello", "hangs"),
        "echo hanging now\nsleep 100000\n",
    );
    let started = std::time::Instant::now();
    let out = boot(project.path(), &["hangs", "--target", "armv7hf", "--timeout", "60"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(started.elapsed().as_secs() < 120, "the timeout ends the run");
    assert!(
        stderr.contains("no power-off within 60 s; the VM was killed"),
        "{stderr}"
    );
    assert!(stderr.contains("hanging now"), "last console lines shown: {stderr}");
    assert!(stderr.contains("boot-armv7hf-hangs.log"), "log path named: {stderr}");
    let image = project.path().join("out/armv7hf/hangs.cpio.gz");
    assert!(
        processes_mentioning(&image.display().to_string()).is_empty(),
        "no VM left"
    );
}

#[test]
fn killing_recipe_boot_ends_the_vm() {
    let project = project_with_image("orphan", &HELLO.replace("hello", "orphan"), "echo up\nsleep 100000\n");
    let mut c = recipe(project.path());
    c.args(["boot", "orphan", "--target", "armv7hf", "--timeout", "600"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().expect("spawn recipe");
    let image = project.path().join("out/armv7hf/orphan.cpio.gz").display().to_string();
    let started = std::time::Instant::now();
    while processes_mentioning(&image).is_empty() {
        assert!(started.elapsed().as_secs() < 300, "the VM never started");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    child.kill().expect("SIGKILL recipe");
    child.wait().expect("reap recipe");
    let gone = std::time::Instant::now();
    while !processes_mentioning(&image).is_empty() {
        assert!(
            gone.elapsed().as_secs() < 10,
            "qemu outlived recipe: {:?}",
            processes_mentioning(&image)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn unknown_package_or_image_is_named() {
    let bad = HELLO.replace("\"busybox-static\"", "\"busybox-static\" \"no-such-pkg-xyz\"");
    let project = project_with_image("bad", &bad.replace("hello", "bad"), "true\n");
    let out = boot(project.path(), &["bad", "--target", "armv7hf"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no-such-pkg-xyz"), "{}", text(&out.stderr));
    let out = boot(project.path(), &["nothing-here", "--target", "armv7hf"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no image `nothing-here`"),
        "{}",
        text(&out.stderr)
    );
}
