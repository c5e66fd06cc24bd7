//! ext4 images (`format "ext4"`): Debian's mke2fs (provisioned into the
//! cache, run through its own loader) writes the image's tree into a disk
//! image that `recipe boot` attaches as virtio-blk; a stage-1 initramfs
//! loads the disk's modules and switches to it. The disk is the root, what
//! the VM writes there persists across boots, and the same inputs give the
//! same bytes.

use std::path::Path;
use std::process::Output;

use recipe::model::image_def::{IMAGE_FILE, ImageDef};
use recipe::model::project::{Project, ProjectPaths};

use crate::support::e2e::cache;
use crate::support::image::{context, project, text};

fn recipe(project: &Path, args: &[&str]) -> Output {
    crate::support::image::recipe(project)
        .args(args)
        .output()
        .expect("spawn recipe")
}

const DISK: &str = r#"image disk {
    packages "busybox-static"
    format "ext4" size="64M"
    init "init.sh"
    timeout 240
}
"#;

/// The init: where `/` is mounted from, who owns the files, and a line
/// appended to a file on the disk each boot.
const INIT: &str = r#"echo "MARK root=$(grep ' / ' /proc/mounts | cut -d' ' -f1-3)"
echo "MARK owner=$(stat -c %u:%g /usr/bin/busybox) console=$(stat -c %t:%T /dev/console)"
echo "MARK boots-before=$(cat /persist 2>/dev/null | wc -l)"
echo "booted" >> /persist
"#;

#[test]
fn armv7hf_ext4_image_boots_from_its_disk_and_keeps_what_it_wrote() {
    let p = project("disk", DISK, INIT);
    let first = recipe(p.path(), &["boot", "disk", "--target", "armv7hf"]);
    let (stdout, stderr) = (text(&first.stdout), text(&first.stderr));
    assert!(first.status.success(), "boot failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("MARK root=/dev/vda / ext4"),
        "the root is the disk: {stdout}"
    );
    assert!(
        stdout.contains("MARK owner=0:0 console=5:1"),
        "root-owned, with devices: {stdout}"
    );
    assert!(stdout.contains("MARK boots-before=0"), "{stdout}");
    let disk = p.path().join("out/armv7hf/disk.ext4");
    assert_eq!(std::fs::metadata(&disk).expect("disk image").len(), 64 << 20);
    assert!(p.path().join("out/armv7hf/disk.initrd.cpio.gz").is_file());
    eprintln!("{}", stderr.lines().find(|l| l.contains("init started")).unwrap_or(""));

    let second = recipe(p.path(), &["boot", "disk", "--target", "armv7hf", "--quiet"]);
    let (stdout2, stderr2) = (text(&second.stdout), text(&second.stderr));
    assert!(second.status.success(), "second boot failed:\n{stdout2}\n{stderr2}");
    assert!(stderr2.contains("disk.ext4 unchanged"), "{stderr2}");
    let log = std::fs::read_to_string(cache().join("logs/boot-armv7hf-disk.log")).unwrap_or_default();
    assert!(
        stdout2.is_empty() && log.contains("MARK boots-before=1"),
        "the first boot's write is on the disk: {log}"
    );
}

/// Two builds of one image in two places give the same disk and stage-1
/// bytes (fixed UUID and hash seed, times from SOURCE_DATE_EPOCH).
#[test]
fn ext4_images_are_deterministic() {
    let p = project("disk", DISK, INIT);
    let project = Project::load(ProjectPaths::from_recipes_dir(&p.path().join("recipes"))).expect("project");
    let target = &project.targets["armv7hf"];
    let file = p.path().join("recipes/disk").join(IMAGE_FILE);
    let def = ImageDef::load(&file, "recipes/disk/image.kdl").expect("image file");
    let ctx = context();
    let (a, b) = (p.path().join("out-a"), p.path().join("out-b"));
    let first = recipe::build::image::build_image(&ctx, target, "trixie", &def, &a, &[]).expect("build a");
    let second = recipe::build::image::build_image(&ctx, target, "trixie", &def, &b, &[]).expect("build b");
    assert!(!first.unchanged && !second.unchanged);
    for (x, y) in [(&first.path, &second.path), (&first.initrd, &second.initrd)] {
        let (bx, by) = (std::fs::read(x).expect("read"), std::fs::read(y).expect("read"));
        assert!(bx == by, "{} and {} differ", x.display(), y.display());
    }
    assert_eq!(first.disk.as_deref(), Some(first.path.as_path()));
}

#[test]
fn a_bad_format_or_size_is_named_with_its_span() {
    for (bad, needle) in [
        (
            DISK.replace("\"ext4\" size=\"64M\"", "\"squashfs\""),
            "unknown image format",
        ),
        (
            DISK.replace("size=\"64M\"", "size=\"12T\""),
            "not a size from 16M to 64G",
        ),
        (
            DISK.replace("\"ext4\" size=\"64M\"", "\"initramfs\" size=\"64M\""),
            "an initramfs has no fixed size",
        ),
    ] {
        let p = project("disk", &bad, INIT);
        let out = recipe(p.path(), &["boot", "disk", "--target", "armv7hf"]);
        let stderr = text(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains(needle), "{stderr}");
        assert!(
            stderr.contains("recipes/disk/image.kdl:3:"),
            "the span is named: {stderr}"
        );
    }
}

/// Bad input the file cannot show: a tree larger than the disk is refused
/// with mke2fs's own words, and a dynamically linked busybox (which stage 1
/// could not run) is named before anything boots.
#[test]
fn a_disk_too_small_or_a_dynamic_busybox_is_refused() {
    let small = DISK
        .replace("size=\"64M\"", "size=\"16M\"")
        .replace("\"busybox-static\"", "\"busybox-static\" \"python3.13\"");
    let p = project("disk", &small, INIT);
    let out = recipe(p.path(), &["boot", "disk", "--target", "armv7hf", "--no-boot"]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("mke2fs could not make the ext4 image of disk"),
        "{stderr}"
    );
    assert!(!p.path().join("out/armv7hf/disk.ext4").exists(), "no partial image");

    let dynamic = DISK.replace("\"busybox-static\"", "\"busybox\"");
    let p = project("disk", &dynamic, INIT);
    let out = recipe(p.path(), &["boot", "disk", "--target", "armv7hf", "--no-boot"]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("its busybox is dynamically linked"), "{stderr}");
}

/// The same disk image shape on aarch64 (the generic arm64 kernel, whose
/// virtio-mmio transport is a module too).
#[test]
fn aarch64_ext4_image_boots_from_its_disk() {
    let init = "echo \"MARK $(uname -m) root=$(grep ' / ' /proc/mounts | cut -d' ' -f1-3)\"\n";
    let p = project("disk64", &DISK.replace("disk", "disk64"), init);
    let out = recipe(p.path(), &["boot", "disk64", "--target", "aarch64"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "boot failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("MARK aarch64 root=/dev/vda / ext4"), "{stdout}");
    eprintln!("{}", stderr.lines().find(|l| l.contains("init started")).unwrap_or(""));
}
