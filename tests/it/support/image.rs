//! Helpers of the image tests: throwaway projects with the repository's
//! targets, and the real `recipe` binary run against them with the shared
//! cache and an explicit environment.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::e2e::cache;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A project in a temporary directory: the repository's target and sysroot
/// files linked in, and image `name` (its `image.kdl` and `init.sh`).
pub fn project(name: &str, image_kdl: &str, init: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for d in ["toolchains", "sysroots"] {
        std::os::unix::fs::symlink(repo().join(d), dir.path().join(d)).expect("link");
    }
    add_image(dir.path(), name, image_kdl, init);
    dir
}

pub fn add_image(project: &Path, name: &str, image_kdl: &str, init: &str) {
    let image = project.join("recipes").join(name);
    std::fs::create_dir_all(&image).expect("mkdir");
    std::fs::write(image.join("image.kdl"), image_kdl).expect("write");
    std::fs::write(image.join("init.sh"), init).expect("write");
}

/// `recipe --cache CACHE --recipes PROJECT/recipes`, in a cleared
/// environment (the mirror and proxy settings passed on); the caller adds
/// the command.
pub fn recipe(project: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_recipe"));
    c.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("COLUMNS", "1000")
        .env("NO_COLOR", "1")
        .env("HOME", cache().join("home"))
        .arg("--cache")
        .arg(cache())
        .arg("--recipes")
        .arg(project.join("recipes"));
    for k in ["RECIPE_DEBIAN_MIRROR", "http_proxy", "https_proxy", "no_proxy"] {
        if let Ok(v) = std::env::var(k) {
            c.env(k, v);
        }
    }
    c
}

/// A provisioning context on the shared cache, as the binary makes one.
pub fn context() -> recipe::toolchain::provision::ProvisionContext {
    let config = recipe::settings::load_config(&recipe::settings::Environment::capture()).expect("config");
    let options = recipe::fetch::FetchOptions::from_loaded(&config, false, &Default::default());
    let mut ctx = recipe::toolchain::provision::ProvisionContext::from_options(cache(), options).expect("context");
    ctx.verbose = false;
    ctx
}

/// Processes whose command line mentions `needle` (e.g. an image's path).
pub fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        if let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) {
            let cmdline = text(&cmdline).replace('\0', " ");
            if cmdline.contains(needle) {
                found.push(format!("{}: {cmdline}", e.file_name().to_string_lossy()));
            }
        }
    }
    found
}

/// A project with the repository's targets and image `name` made of
/// `files` (`(path in the image's directory, text)`).
pub fn project_with_files(name: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for d in ["toolchains", "sysroots"] {
        std::os::unix::fs::symlink(repo().join(d), dir.path().join(d)).expect("link");
    }
    let image = dir.path().join("recipes").join(name);
    std::fs::create_dir_all(&image).expect("mkdir");
    for (path, text) in files {
        std::fs::write(image.join(path), text).expect("write");
    }
    dir
}
