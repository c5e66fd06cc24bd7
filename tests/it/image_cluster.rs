//! Several VMs of one image: the virtual link between them (a UDP hub on
//! loopback, no root), host port forwards into each VM, `recipe test`
//! running an image's test steps in every VM (pass, failure, a VM asking to
//! lose power, the timeout), and the repository's dqlite-cluster image —
//! three dqlite nodes, leader failover, data intact, no AIO preload.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use super::support::e2e::Tree;

/// These tests boot two or three VMs each: one at a time, so that on a
/// 2-core machine they do not starve each other (and other tests) of CPU.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static VMS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    VMS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

use super::support::image::{processes_mentioning, project_with_files as project_with_image, text};

fn recipe(project: &Path, args: &[&str]) -> Output {
    super::support::image::recipe(project)
        .args(args)
        .output()
        .expect("spawn recipe")
}

fn assert_no_vm_left(image: &Path) {
    let left = processes_mentioning(&image.display().to_string());
    assert!(left.is_empty(), "VMs left behind: {left:?}");
}

/// Two free TCP ports in a row on loopback (VM N listens on host + N - 1).
fn free_port_pair() -> u16 {
    for _ in 0..100 {
        let a = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = a.local_addr().expect("addr").port();
        if port < 65_000 && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
    panic!("no two free ports in a row");
}

/// The line of the answer to `GET path` on `127.0.0.1:port` that contains
/// `wanted`, retried until the guest's server answers (before that,
/// user-mode networking accepts and closes at once). Retried requests may
/// still reach the guest late: `path` must be safe to repeat.
fn fetch_line(port: u16, path: &str, wanted: &str, within: Duration) -> Option<String> {
    use std::io::{Read as _, Write as _};
    let started = Instant::now();
    while started.elapsed() < within {
        if let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = conn.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes());
            // Read until the wanted line came (the server may keep the
            // connection open), the server closed it, or nothing came for 10 s.
            let (mut body, mut buf) = (Vec::new(), [0u8; 4096]);
            while let Ok(n) = conn.read(&mut buf) {
                body.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&body).into_owned();
                if let Some(line) = text.lines().find(|l| l.contains(wanted)) {
                    return Some(line.trim().to_string());
                }
                if n == 0 {
                    break;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    None
}

/// Two VMs on one link: each reaches the other by name and address, and
/// the build machine reaches each VM through its own forwarded port.
#[test]
fn link_joins_vms_and_forwards_reach_each_vm() {
    let _vms = one_at_a_time();
    let port = free_port_pair();
    let image = format!(
        "image pair {{\n packages \"busybox-static\"\n vms 2\n link \"10.10.0.0/24\"\n \
         network \"user\" {{\n  forward \"tcp\" host={port} guest=8080\n }}\n init \"init.sh\"\n timeout 240\n}}\n"
    );
    // Each VM serves /hello; the build machine's request of /cgi-bin/done
    // (once it was answered) lets the init end.
    let init = r#"echo "MARK node=$RECIPE_NODE of $RECIPE_NODES addr=$RECIPE_ADDR"
echo "MARK nics=$(ls /sys/class/net | tr '\n' ,)"
mkdir -p /www/cgi-bin
cat > /www/cgi-bin/done <<EOF
#!/bin/sh
touch /tmp/done
printf 'Content-Type: text/plain\r\n\r\nhost-reached-node$RECIPE_NODE\n'
EOF
chmod +x /www/cgi-bin/done
echo "host-reached-node$RECIPE_NODE" > /www/hello
httpd -p 8080 -h /www
if [ "$RECIPE_NODE" = 1 ]; then
  echo "over-the-link-from-node1" | nc -l -p 7000
else
  for i in $(seq 1 60); do ping -c 1 -W 1 10.10.0.1 >/dev/null && break; done
  echo "MARK ping $(ping -c 1 -W 5 10.10.0.1 >/dev/null && echo ok)"
  for i in $(seq 1 60); do r=$(nc node1 7000 2>/dev/null) && [ -n "$r" ] && break; sleep 1; done
  echo "MARK node2 got: $r"
fi
while [ ! -e /tmp/done ]; do sleep 1; done
"#;
    let project = project_with_image("pair", &[("image.kdl", &image), ("init.sh", init)]);
    let path = project.path().to_path_buf();
    let booting = std::thread::spawn(move || recipe(&path, &["boot", "pair", "--target", "armv7hf"]));
    let served = [
        fetch_line(port, "/hello", "host-reached", Duration::from_secs(200)),
        fetch_line(port + 1, "/hello", "host-reached", Duration::from_secs(200)),
    ];
    for p in [port, port + 1] {
        fetch_line(p, "/cgi-bin/done", "host-reached", Duration::from_secs(20));
    }
    let out = booting.join().expect("boot thread");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        served,
        [
            Some("host-reached-node1".to_string()),
            Some("host-reached-node2".to_string())
        ],
        "ports {port}, {}: {stdout}\n{stderr}",
        port + 1
    );
    assert!(out.status.success(), "boot failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("[node1] MARK node=1 of 2 addr=10.10.0.1"), "{stdout}");
    assert!(stdout.contains("[node2] MARK node=2 of 2 addr=10.10.0.2"), "{stdout}");
    assert!(stdout.contains("[node1] MARK nics=eth0,link0,lo,"), "{stdout}");
    assert!(
        stdout.contains("[node2] MARK node2 got: over-the-link-from-node1"),
        "{stdout}"
    );
    assert!(stdout.contains("[node2] MARK ping ok"), "{stdout}");
    assert!(stderr.contains("pair: 2 VMs in"), "{stderr}");
    assert!(stderr.contains("boot-armv7hf-pair-node2.log"), "{stderr}");
    assert_no_vm_left(&project.path().join("out/armv7hf/pair.cpio.gz"));
}

/// `recipe test IMAGE`: the image's test steps run in every VM instead of
/// its init; a VM that prints `RECIPE-KILL` loses power at once (the other
/// sees it gone from the link) and counts as passed.
#[test]
fn image_test_steps_run_in_every_vm_and_a_vm_may_ask_to_be_killed() {
    let _vms = one_at_a_time();
    let image = "image steps {\n packages \"busybox-static\"\n vms 2\n link \"10.10.0.0/24\"\n \
                 init \"init.sh\"\n test {\n  run \"echo step-one on node $RECIPE_NODE\"\n  script \"t.sh\"\n  timeout 240\n }\n}\n";
    // Node 2 signals that it saw node 1 by taking a second address; node 1
    // then loses power and node 2 sees it vanish from the link.
    let script = r#"if [ "$RECIPE_NODE" = 1 ]; then
  while ! ping -c 1 -W 1 10.10.0.102 >/dev/null; do sleep 1; done
  echo RECIPE-KILL
  sleep 1000
fi
while ! ping -c 1 -W 1 node1 >/dev/null; do sleep 1; done
ip addr add 10.10.0.102/24 dev link0
while ping -c 1 -W 1 node1 >/dev/null; do sleep 1; done
echo "node1 is gone"
"#;
    let project = project_with_image(
        "steps",
        &[
            ("image.kdl", image),
            ("init.sh", "echo not-the-test\n"),
            ("t.sh", script),
        ],
    );
    let out = recipe(project.path(), &["test", "steps", "--target", "armv7hf"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("test steps@armv7hf: 2 steps passed on 2 VMs (1 killed on request) in "),
        "{stderr}"
    );
    assert!(stderr.contains("steps node1: init started"), "{stderr}");
    assert!(stderr.contains("killed as it asked (RECIPE-KILL)"), "{stderr}");
    let log = |n: u32| {
        let line = stderr
            .lines()
            .find(|l| l.starts_with(&format!("steps node{n}:")))
            .expect("a line per VM");
        let path = line.rsplit("console log ").next().expect("log path");
        std::fs::read_to_string(path.trim()).expect("console log")
    };
    let (one, two) = (log(1), log(2));
    assert!(
        one.contains("step-one on node 1") && !one.contains("not-the-test"),
        "{one}"
    );
    assert!(
        !one.contains("RECIPE-EXIT"),
        "node1 was killed, it did not power off: {one}"
    );
    assert!(
        two.contains("node1 is gone") && two.contains("RECIPE-STEP 2 end 0"),
        "{two}"
    );
    assert_no_vm_left(&project.path().join("out/armv7hf/steps.cpio.gz"));
}

/// A failing step fails `recipe test` with the step, the VM's last console
/// lines and its log; a hanging test is killed at its timeout, every VM.
#[test]
fn failing_or_hanging_image_tests_are_reported_and_leave_no_vm() {
    let _vms = one_at_a_time();
    let image = "image failing {\n packages \"busybox-static\"\n init \"init.sh\"\n \
                 test {\n  run \"true\"\n  run \"echo failing-here; exit 3\"\n }\n}\n";
    let project = project_with_image("failing", &[("image.kdl", image), ("init.sh", "true\n")]);
    let out = recipe(project.path(), &["test", "failing", "--target", "armv7hf"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("test failing@armv7hf: FAILED"), "{stderr}");
    assert!(
        stderr.contains("node1: exit status 3, step 2 failed with status 3"),
        "{stderr}"
    );
    assert!(stderr.contains("failing-here"), "console tail shown: {stderr}");
    assert!(stderr.contains("test-armv7hf-failing.log"), "log named: {stderr}");
    assert!(stderr.contains("1 test run(s) failed"), "{stderr}");

    let image = "image hanging {\n packages \"busybox-static\"\n vms 2\n init \"init.sh\"\n \
                 test {\n  run \"echo hanging on $RECIPE_NODE; sleep 100000\"\n  timeout 75\n }\n}\n";
    let project = project_with_image("hanging", &[("image.kdl", image), ("init.sh", "true\n")]);
    let started = Instant::now();
    let out = recipe(project.path(), &["test", "hanging", "--target", "armv7hf"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(240), "the timeout ends the run");
    assert!(
        stderr.contains("no power-off within 75 s (node1, node2 still running); every VM was killed"),
        "{stderr}"
    );
    assert!(stderr.contains("hanging on 1"), "last console lines: {stderr}");
    assert!(stderr.contains("test-armv7hf-hanging-node1.log"), "{stderr}");
    assert_no_vm_left(&project.path().join("out/armv7hf/hanging.cpio.gz"));

    let out = recipe(project.path(), &["test", "nothing-here", "--target", "armv7hf"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

/// The repository's dqlite-cluster image under `recipe test` (which builds
/// dqlitepy's armv7hf wheel first, in the shared tree): three VMs on one
/// link form a dqlite cluster through dqlitepy (`Node` + `Client.add`),
/// node 1 writes, nodes 2 and 3 read, node 1's VM loses power, a new leader
/// is elected among 2 and 3, the rows are intact and the cluster writable.
/// No AIO preload: not in the image, and every node holds kernel AIO
/// contexts (checked in each VM).
#[test]
fn dqlite_cluster_fails_over_with_data_intact_and_no_preload() {
    let tree = Tree::shared();
    let _vms = one_at_a_time();
    let started = Instant::now();
    let out = tree.recipe(&["test", "dqlite-cluster", "--target", "armv7hf"]);
    let wall = started.elapsed();
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("test dqlite-cluster@armv7hf: 1 step passed on 3 VMs (1 killed on request) in "),
        "{stderr}"
    );
    let log = |n: u32| {
        let line = stderr
            .lines()
            .find(|l| l.starts_with(&format!("dqlite-cluster node{n}:")))
            .unwrap_or_else(|| panic!("no line for node{n}: {stderr}"));
        let path = line.rsplit("console log ").next().expect("log path");
        (
            line.to_string(),
            std::fs::read_to_string(path.trim()).expect("console log"),
        )
    };
    let (line1, one) = log(1);
    assert!(line1.contains("killed as it asked (RECIPE-KILL)"), "{line1}");
    assert!(one.contains("ok: node1 leads (10.10.0.1:9001)"), "{one}");
    assert!(one.contains("leader node1 wrote 10 rows"), "{one}");
    assert!(one.contains("every follower read the rows"), "{one}");
    for n in [2, 3] {
        let (line, console) = log(n);
        assert!(line.contains("exit status 0"), "{line}");
        for wanted in [
            "ok: no LD_PRELOAD and no /etc/ld.so.preload".to_string(),
            "ok: no AIO emulation library in the image".to_string(),
            "ok: the node holds kernel AIO contexts (io_setup, no emulation)".to_string(),
            format!("ok: node{n} (a follower) reads the 10 rows written on the leader"),
            "new leader after node1 lost power: 10.10.0.".to_string(),
            "ok: the rows are intact after the failover".to_string(),
            "ok: the cluster of 2 is writable after the failover".to_string(),
        ] {
            assert!(console.contains(&wanted), "node{n} lacks {wanted:?}:\n{console}");
        }
        assert!(
            !console.contains("new leader after node1 lost power: 10.10.0.1:"),
            "{console}"
        );
    }
    // The preload library is nowhere in the image.
    let image = tree.out.join("armv7hf/dqlite-cluster.cpio.gz");
    let mut cpio = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&image).expect("image")),
        &mut cpio,
    )
    .expect("gunzip");
    assert!(
        cpio.windows(b"dist-packages/dqlitepy/".len())
            .any(|w| w == b"dist-packages/dqlitepy/")
    );
    assert!(
        !cpio.windows(b"libaio-emul".len()).any(|w| w == b"libaio-emul"),
        "no preload in the image"
    );
    assert_no_vm_left(&image);
    let init = |n: u32| log(n).0.split("), ").next().unwrap_or_default().to_string() + ")";
    eprintln!(
        "dqlite-cluster test: {:.1} s wall (recipe test, dqlitepy build included); {}; {}; {}",
        wall.as_secs_f64(),
        init(1),
        init(2),
        init(3)
    );
}
