//! How images boot comes from the target file (`image { kernel …;
//! qemu-system …; machine …; cpu …; console … }`), not from the tool: a bad
//! value is an error naming it (with its span when the file shows it is
//! wrong, with the closest kernel the suite has when only the archive can
//! tell), `recipe show` prints it, and a target without it cannot boot.

use std::path::Path;
use std::process::Output;

use crate::support::e2e::copy_dir;
use crate::support::image::{add_image, repo, text};

/// A project with copies of the repo's targets (edited by `edit`) and one
/// busybox image `hello`.
fn project(edit: impl Fn(&str) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&repo().join("toolchains"), &dir.path().join("toolchains"));
    std::os::unix::fs::symlink(repo().join("sysroots"), dir.path().join("sysroots")).expect("link");
    let file = dir.path().join("toolchains/armv7hf.kdl");
    let kdl = std::fs::read_to_string(&file).expect("target file");
    std::fs::write(&file, edit(&kdl)).expect("write");
    add_image(
        dir.path(),
        "hello",
        "image hello {\n    packages \"busybox-static\"\n    init \"init.sh\"\n}\n",
        "grep -m1 'CPU part' /proc/cpuinfo\n",
    );
    dir
}

fn recipe(project: &Path, args: &[&str]) -> Output {
    crate::support::image::recipe(project)
        .args(args)
        .output()
        .expect("spawn recipe")
}

#[test]
fn a_bogus_kernel_flavour_is_named() {
    // Shaped like a flavour: only the archive can tell it does not exist.
    let p = project(|k| k.replace("\"linux-image-armmp\"", "\"linux-image-armmpp\""));
    let out = recipe(p.path(), &["boot", "hello", "--target", "armv7hf", "--quiet"]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("kernel `linux-image-armmpp` of target armv7hf (toolchains/armv7hf.kdl"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `linux-image-armmp`?"), "{stderr}");

    // Not a kernel package name at all: the target file is wrong, with a span.
    let p = project(|k| k.replace("\"linux-image-armmp\"", "\"armmp\""));
    let out = recipe(p.path(), &["lint"]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("`armmp` is not a Debian kernel package name"),
        "{stderr}"
    );
    assert!(
        stderr.contains("toolchains/armv7hf.kdl:"),
        "the span is named: {stderr}"
    );
}

#[test]
fn show_prints_how_an_image_boots_and_a_target_without_it_cannot_boot() {
    let p = project(|k| k.to_string());
    let out = recipe(p.path(), &["show", "hello", "--target", "armv7hf"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains("image hello {") && stdout.contains("format \"initramfs\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("kernel \"linux-image-armmp\"; qemu-system \"qemu-system-arm\"; machine \"virt\"; cpu \"cortex-a15\"; console \"ttyAMA0\""),
        "{stdout}"
    );

    // The CPU is the target file's: another one reaches qemu (a Cortex-A7
    // is part 0xc07, the A15 0xc0f).
    let p = project(|k| k.replace("\"cortex-a15\"", "\"cortex-a7\""));
    let out = recipe(p.path(), &["show", "hello", "--target", "armv7hf"]);
    assert!(text(&out.stdout).contains("cpu \"cortex-a7\""), "{}", text(&out.stdout));
    let out = recipe(p.path(), &["boot", "hello", "--target", "armv7hf"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("CPU part\t: 0xc07"), "{stdout}");

    let p = project(|k| {
        let start = k.find("    image {").expect("image node");
        let end = start + k[start..].find("    }\n").expect("end") + 6;
        format!("{}{}", &k[..start], &k[end..])
    });
    let out = recipe(p.path(), &["boot", "hello", "--target", "armv7hf", "--quiet"]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("target armv7hf cannot boot images"), "{stderr}");
}
