//! `recipe boot` builds what the image installs: an image installing `lz4`
//! (a `make` recipe: no wheel, so its staged files go into the image's root
//! under /usr) boots from a build tree where lz4 was never built, and
//! Debian's armhf Python in the VM loads that liblz4 through ctypes. A
//! second boot builds nothing and reuses the image as it is.

use std::path::Path;
use std::process::Output;

use crate::support::image::{context, project, repo, text};

fn boot(project: &Path, build: &Path, out: &Path, quiet: bool) -> Output {
    let mut c = crate::support::image::recipe(project);
    c.args(["boot", "lz4-image", "--target", "armv7hf", "--build-dir"])
        .arg(build)
        .arg("--out-dir")
        .arg(out);
    if quiet {
        c.arg("--quiet");
    }
    c.output().expect("spawn recipe")
}

const IMAGE: &str = r#"image lz4-image {
    packages "busybox-static" "python3.13"
    install "lz4"
    init "init.sh"
    timeout 300
}
"#;

const INIT: &str = r#"ls -l /usr/lib/liblz4.so.1
python3.13 -c 'import ctypes; l = ctypes.CDLL("liblz4.so.1"); print("MARK lz4", l.LZ4_versionNumber())'
"#;

#[test]
fn an_image_installing_an_unbuilt_recipe_builds_it_and_boots() {
    let dir = project("lz4-image", IMAGE, INIT);
    let recipes = dir.path().join("recipes");
    std::os::unix::fs::symlink(repo().join("recipes/lz4"), recipes.join("lz4")).expect("link");
    let (build, out) = (dir.path().join("build"), dir.path().join("out"));
    let tarball = out.join("armv7hf/lz4-1.10.0.tar.gz");
    assert!(!tarball.exists());

    let first = boot(dir.path(), &build, &out, false);
    let (stdout, stderr) = (text(&first.stdout), text(&first.stderr));
    assert!(first.status.success(), "boot failed:\n{stdout}\n{stderr}");
    assert!(tarball.is_file(), "lz4 built (or restored) by recipe boot: {stderr}");
    assert!(
        stdout.contains("MARK lz4 11000"),
        "the image's liblz4 is lz4's build: {stdout}"
    );

    let second = boot(dir.path(), &build, &out, true);
    let stderr2 = text(&second.stderr);
    assert!(second.status.success(), "{stderr2}");
    assert!(stderr2.contains("lz4-image.cpio.gz unchanged"), "{stderr2}");
    assert!(stderr2.contains("0 built, 1 cached"), "nothing rebuilt: {stderr2}");
}

/// The inode and modification time of a file: a tree extracted again gets
/// new ones.
fn identity(path: &Path) -> (u64, std::time::SystemTime) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.ino(), m.modified().expect("mtime"))
}

/// A changed wheel rebuilds the image, and only the image: the Debian root
/// and the kernel are neither downloaded nor extracted again (their trees
/// keep their files, inodes and times), and no provisioning happens.
#[test]
fn a_wheel_change_rebuilds_the_image_without_touching_the_debian_root() {
    let dir = project(
        "wheel-image",
        "image wheel-image {\n    packages \"busybox-static\"\n    install \"tiny-wheel\"\n    init \"init.sh\"\n}\n",
        "true\n",
    );
    let recipes = dir.path().join("recipes");
    let wheel_recipe = recipes.join("tiny-wheel");
    std::fs::create_dir_all(wheel_recipe.join("files/wheels")).expect("mkdir");
    std::fs::write(
        wheel_recipe.join("recipe.kdl"),
        // A `path` source: the wheel is part of the recipe's key.
        "package tiny-wheel {\n    version \"1.0\"\n    license \"MIT\"\n}\nsource path=\"files/wheels\"\n\
         build script {\n    step \"mkdir -p $DESTDIR/usr/share/wheels && cp *.whl $DESTDIR/usr/share/wheels/\"\n}\n",
    )
    .expect("write");
    let wheel = wheel_recipe.join("files/wheels/tiny_wheel-1.0-py3-none-any.whl");
    let build = |value: &str| {
        crate::support::wheel::write_wheel(&wheel, value);
        let mut c = crate::support::image::recipe(dir.path());
        c.args(["boot", "wheel-image", "--target", "armv7hf", "--no-boot"]);
        let out = c.output().expect("spawn recipe");
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        stderr
    };
    // Values of this run only, so neither wheel is in the local store yet.
    let run = dir
        .path()
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("run")
        .to_string();
    let (first, second) = (format!("first{run}"), format!("second{run}"));
    build(&first);
    // The trees the image is made from, as the tool resolves them.
    let project =
        recipe::model::project::Project::load(recipe::model::project::ProjectPaths::from_recipes_dir(&recipes))
            .expect("project");
    let target = &project.targets["armv7hf"];
    let ctx = context();
    let packages = ["busybox-static".to_string()];
    let root = recipe::toolchain::targetroot::ensure_target_root(&ctx, target, "trixie", &packages).expect("root");
    let kernel = recipe::toolchain::kernel::ensure_kernel(&ctx, target, "trixie").expect("kernel");
    let watched = [
        root.join(".recipe-stamp.json"),
        root.join("usr/bin/busybox"),
        kernel.image.clone(),
    ];
    let before: Vec<_> = watched.iter().map(|p| identity(p)).collect();
    let image = dir.path().join("out/armv7hf/wheel-image.cpio.gz");
    let image_before = identity(&image);

    let stderr = build(&second);
    assert!(
        !stderr.contains("wheel-image.cpio.gz unchanged"),
        "the image is made again: {stderr}"
    );
    assert!(stderr.contains("1 built"), "the wheel's recipe is rebuilt: {stderr}");
    for word in ["provisioning", "downloading"] {
        assert!(!stderr.contains(word), "nothing is {word}: {stderr}");
    }
    let after: Vec<_> = watched.iter().map(|p| identity(p)).collect();
    assert_eq!(before, after, "the Debian root and the kernel are not extracted again");
    assert_ne!(identity(&image), image_before);
    let mut cpio = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&image).expect("open")),
        &mut cpio,
    )
    .expect("gunzip");
    let has = |needle: &[u8]| cpio.windows(needle.len()).any(|w| w == needle);
    let value = |v: &str| format!("VALUE = '{v}'").into_bytes();
    assert!(
        has(&value(&second)) && !has(&value(&first)),
        "the new wheel is in the image"
    );
}
