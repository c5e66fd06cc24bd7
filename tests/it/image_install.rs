//! `recipe boot` builds what the image installs: an image installing `lz4`
//! (a `make` recipe: no wheel, so its staged files go into the image's root
//! under /usr) boots from a build tree where lz4 was never built, and
//! Debian's armhf Python in the VM loads that liblz4 through ctypes. A
//! second boot builds nothing and reuses the image as it is.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::e2e::cache;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn boot(project: &Path, build: &Path, out: &Path, quiet: bool) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_recipe"));
    c.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("COLUMNS", "1000")
        .env("HOME", cache().join("home"))
        .arg("--cache")
        .arg(cache())
        .arg("--recipes")
        .arg(project.join("recipes"))
        .args(["boot", "lz4-image", "--target", "armv7hf", "--build-dir"])
        .arg(build)
        .arg("--out-dir")
        .arg(out);
    if quiet {
        c.arg("--quiet");
    }
    for k in ["RECIPE_DEBIAN_MIRROR", "http_proxy", "https_proxy", "no_proxy"] {
        if let Ok(v) = std::env::var(k) {
            c.env(k, v);
        }
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
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("tempdir");
    for d in ["toolchains", "sysroots"] {
        std::os::unix::fs::symlink(repo.join(d), dir.path().join(d)).expect("link");
    }
    let recipes = dir.path().join("recipes");
    std::fs::create_dir_all(recipes.join("lz4-image")).expect("mkdir");
    std::os::unix::fs::symlink(repo.join("recipes/lz4"), recipes.join("lz4")).expect("link");
    std::fs::write(recipes.join("lz4-image/image.kdl"), IMAGE).expect("write");
    std::fs::write(recipes.join("lz4-image/init.sh"), INIT).expect("write");
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
