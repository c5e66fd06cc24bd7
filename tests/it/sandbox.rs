//! The sandbox of build steps, through the real binary: a step may write
//! only to its source tree, `$DESTDIR` and its private `$TMPDIR`, and has no
//! network. These tests run as whatever user CI is, root included: Landlock
//! confines root too.

use crate::support::project::{Output, Project};

fn recipe(name: &str, steps: &[&str]) -> String {
    let mut text = format!("package {name} {{\n    version \"1.0\"\n    license \"MIT\"\n}}\nbuild script {{\n");
    for s in steps {
        text.push_str(&format!(
            "    step \"{}\"\n",
            s.replace('\\', "\\\\").replace('"', "\\\"")
        ));
    }
    text.push_str("}\n");
    text
}

const STAGE: &str = "mkdir -p \"$DESTDIR/usr/share\" && echo ok > \"$DESTDIR/usr/share/ok.txt\"";

/// Builds one package whose only work is `step`, expecting the sandbox to
/// refuse it; `None` when this kernel has no Landlock (the run said so).
fn refused(step: &str) -> Option<Output> {
    let p = Project::bare().recipe("escape", &recipe("escape", &[step, STAGE]));
    let out = p.run(&["build", "escape", "--target", "host"]);
    if out.stderr.contains("no Landlock") {
        eprintln!("skipped: this kernel has no Landlock");
        return None;
    }
    out.code(1);
    // The report wraps at 100 columns.
    let flat = out.stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in [
        "the build sandbox refused writing to",
        "build steps may write only to the source tree, $DESTDIR and $TMPDIR",
    ] {
        assert!(flat.contains(needle), "stderr lacks {needle:?}:\n{}", out.stderr);
    }
    Some(out)
}

#[test]
fn a_step_cannot_write_to_home() {
    // HOME of build steps is the build tree's shared home: not theirs to change.
    refused("touch \"$HOME/planted\"");
}

#[test]
fn a_step_cannot_write_to_tmp_outside_its_own_dir() {
    let outside = std::env::temp_dir().join(format!("recipe-sandbox-{}", std::process::id()));
    let out = refused(&format!("echo x > {}", outside.display()));
    if out.is_some() {
        assert!(!outside.exists(), "{} was written", outside.display());
    }
}

#[test]
fn a_step_cannot_write_into_the_cache() {
    let p = Project::bare();
    // The cache the binary uses (see support::project::recipe_cmd).
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("recipe-cache");
    std::fs::create_dir_all(&cache).expect("cache dir");
    let target = cache.join(format!("planted-{}", std::process::id()));
    let p = p.recipe(
        "escape",
        &recipe("escape", &[&format!("touch {}", target.display()), STAGE]),
    );
    let out = p.run(&["build", "escape", "--target", "host"]);
    if out.stderr.contains("no Landlock") {
        return;
    }
    out.code(1).stderr_contains("the build sandbox refused writing to");
    assert!(!target.exists());
}

#[test]
fn a_step_cannot_write_into_its_package_sysroot_or_build_tree() {
    // The package sysroot is hard links into the base sysroot and the
    // dependencies' outputs; the build tree holds other packages' outputs.
    refused("touch \"$SYSROOT/planted\"");
    refused("touch \"$DESTDIR/../../other-planted\"");
}

#[test]
fn a_build_step_has_no_network() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    let step = format!("bash -c 'echo hello > /dev/tcp/127.0.0.1/{port}'");
    let p = Project::bare().recipe("net", &recipe("net", &[&step, STAGE]));
    let out = p.run(&["build", "net", "--target", "host"]);
    out.code(1).stderr_contains(&step);
    assert!(
        listener
            .accept()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
        "the step reached a server on the build machine"
    );
}

#[test]
fn a_normal_build_reads_the_system_and_writes_its_own_dirs() {
    let steps = [
        "echo 'int main(void) { return 0; }' > \"$TMPDIR/t.c\"",
        "cc -o t \"$TMPDIR/t.c\" && ./t",
        "test -r /usr/include/stdio.h && ls /proc/self/fd > /dev/null",
        "mkdir -p sub && echo built > sub/out.txt",
        "install -D -m 0644 sub/out.txt \"$DESTDIR/usr/share/out.txt\"",
    ];
    let p = Project::bare().recipe("fine", &recipe("fine", &steps));
    let out = p.run(&["build", "fine", "--target", "host"]);
    out.code(0);
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    assert!(p.path().join("build/host/fine/dest/usr/share/out.txt").is_file());
}

#[test]
fn no_sandbox_turns_it_off() {
    let planted = std::env::temp_dir().join(format!("recipe-unconfined-{}", std::process::id()));
    let p = Project::bare().recipe(
        "free",
        &recipe("free", &[&format!("touch {}", planted.display()), STAGE]),
    );
    p.run(&["build", "free", "--target", "host", "--no-sandbox"]).code(0);
    assert!(planted.exists());
    let _ = std::fs::remove_file(planted);
}
