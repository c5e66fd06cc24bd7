//! Shared by the toolchain integration tests: the real binary, the repo's own
//! target definitions, and a cache under the target dir that persists between
//! runs (the first run downloads ~200 MB once; later runs are offline-fast).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Shared with the end-to-end tests (and CI's `RECIPE_CACHE`), so toolchains
/// download once per run.
pub use super::e2e::cache;

/// `recipe --cache <cache> --recipes <repo>/recipes ARGS`, with a clean
/// environment apart from what the tool needs to find the mirror and HOME.
pub fn recipe(args: &[&str]) -> Command {
    recipe_in(&repo().join("recipes"), args)
}

/// The same with another recipes directory.
pub fn recipe_in(recipes: &std::path::Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_recipe"));
    c.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", cache().join("home"))
        .arg("--cache")
        .arg(cache())
        .arg("--recipes")
        .arg(recipes)
        .args(args);
    for k in ["RECIPE_DEBIAN_MIRROR", "http_proxy", "https_proxy", "no_proxy"] {
        if let Ok(v) = std::env::var(k) {
            c.env(k, v);
        }
    }
    c
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `script` in bash after sourcing `recipe env --target T`.
pub fn in_env(target: &str, dir: &Path, script: &str) -> Output {
    let env_out = run_ok(&mut recipe(&["env", "--target", target]));
    let env_file = dir.join(format!("{target}.env"));
    std::fs::write(&env_file, &env_out.stdout).expect("write env file");
    let mut c = Command::new("/bin/bash");
    c.env_clear()
        .env("PATH", "/usr/bin:/bin")
        // Ambient settings that must not survive `source`: the env file sets them.
        .env("CC", "/bogus/cc")
        .env("PKG_CONFIG_PATH", "/usr/lib/x86_64-linux-gnu/pkgconfig")
        .current_dir(dir)
        .arg("-euo")
        .arg("pipefail")
        .arg("-c")
        .arg(format!(". {}\n{script}", env_file.display()));
    c.output().expect("spawn bash")
}

pub const HELLO_C: &str = r#"#include <stdio.h>
#include <time.h>
#include <gnu/libc-version.h>
int main(int argc, char **argv) {
    printf("hello from %s, glibc %s, sizeof(time_t)=%zu, sizeof(long)=%zu\n",
           argc > 1 ? argv[1] : "?", gnu_get_libc_version(), sizeof(time_t), sizeof(long));
    return 0;
}
"#;

pub const HELLO_CXX: &str = r#"#include <iostream>
#include <string>
#include <vector>
int main() {
    std::vector<std::string> v{"hello", "from", "C++"};
    for (auto &s : v) std::cout << s << ' ';
    std::cout << __GNUC__ << std::endl;
}
"#;

/// ELF `e_machine`: 40 arm, 183 aarch64, 62 x86_64.
pub fn elf_machine(path: &Path) -> u16 {
    let b = std::fs::read(path).expect("read ELF");
    assert_eq!(&b[..4], b"\x7fELF", "{} is not ELF", path.display());
    u16::from_le_bytes([b[18], b[19]])
}
