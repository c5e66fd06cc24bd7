//! Entry points for fuzzing: each takes arbitrary bytes and must return
//! (an error is fine) without panicking, hanging or writing outside its
//! temporary root. The cargo-fuzz targets in `fuzz/` and the smoke test in
//! `tests/it/fuzz_smoke.rs` call these, so both exercise the same code.

use std::path::{Path, PathBuf};

use crate::model::target::Target;
use crate::recipe::parse::parse_recipe;
use crate::recipe::{SourceFile, bounds};
use crate::unpack::{self, Compression, Format, Policy};

/// The target recipes are rendered for.
const TARGET: &str = r#"target armv7hf {
    triple "arm-linux-gnueabihf"
    arch "arm"
    debian-arch "armhf"
    cflags "-march=armv7-a"
    go arch="arm" arm="7"
    python platform="linux_armv7l" machine="armv7l" lib-dir="linux-armv7"
    toolchain debian suite="bookworm" {
        packages "gcc-arm-linux-gnueabihf"
    }
    sysroot "debian-trixie"
    elf machine="arm" class=32
}
"#;

/// Recipe text → diagnostics, and when it parses, rendering for a target.
pub fn recipe_text(data: &[u8]) {
    if data.len() as u64 > bounds::MAX_FILE_BYTES {
        return;
    }
    let Ok(file) = bounds::decode_utf8("recipes/fuzz/recipe.kdl", data.to_vec()) else {
        return;
    };
    let Ok(raw) = parse_recipe(file, Path::new("/nonexistent/recipes/fuzz")) else {
        return;
    };
    if let Ok(target) = Target::parse(&SourceFile::new("toolchains/armv7hf.kdl", TARGET)) {
        let _ = crate::plan::render::render(&raw, &target);
    }
}

/// Target definition text → diagnostics.
pub fn target_text(data: &[u8]) {
    if data.len() as u64 > bounds::MAX_FILE_BYTES {
        return;
    }
    if let Ok(file) = bounds::decode_utf8("toolchains/fuzz.kdl", data.to_vec()) {
        let _ = Target::parse(&file);
    }
}

/// Archive bytes unpacked as a source (tar.gz, plain tar, zip).
pub fn source_archive(data: &[u8]) {
    for (name, format) in [
        ("x.tar.gz", Format::Tar(Compression::Gzip)),
        ("x.tar", Format::Tar(Compression::None)),
        ("x.zip", Format::Zip),
    ] {
        in_scratch(name, data, |file, root| {
            // `unpack` fills a directory its caller made.
            if std::fs::create_dir(root).is_ok() {
                let _ = unpack::unpack(file, format, root, 1);
            }
        });
    }
}

/// `.deb` bytes unpacked into a root filesystem.
pub fn deb(data: &[u8]) {
    in_scratch("x_1.0_armhf.deb", data, |file, root| {
        let _ = unpack::deb::extract_debs(&[file.to_path_buf()], root, None, &Policy::rootfs());
    });
}

/// A remote-cache blob (a tar) restored into an output directory.
pub fn remote_entry(data: &[u8]) {
    in_scratch("blob.tar", data, |_, root| {
        let _ = std::fs::create_dir_all(root);
        let _ = crate::remote::unpack(data, root);
    });
}

/// Runs `f` with `data` in a file and an output root inside a fresh
/// temporary directory, then checks that nothing appeared beside them and
/// that no link in the root leads out of it.
fn in_scratch(name: &str, data: &[u8], f: impl FnOnce(&Path, &Path)) {
    let Ok(scratch) = tempfile::tempdir() else { return };
    let file = scratch.path().join(name);
    let root = scratch.path().join("root");
    if std::fs::write(&file, data).is_err() {
        return;
    }
    f(&file, &root);
    let beside: Vec<PathBuf> = std::fs::read_dir(scratch.path())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p != &file && p != &root)
        .collect();
    assert!(beside.is_empty(), "written beside the root: {beside:?}");
    assert_links_stay_inside(&root);
}

fn assert_links_stay_inside(root: &Path) {
    let Ok(real_root) = root.canonicalize() else { return };
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_symlink()
                && let Ok(resolved) = e.path().canonicalize()
            {
                assert!(
                    resolved.starts_with(&real_root),
                    "{} leads out to {}",
                    e.path().display(),
                    resolved.display()
                );
            }
        }
    }
}
