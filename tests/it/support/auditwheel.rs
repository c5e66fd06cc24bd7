//! `auditwheel show`, installed from the Python index into a venv that
//! end-to-end tests share, as an independent judge of wheel tags.

use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, PoisonError};

/// The platform tag `auditwheel show` finds `wheel` consistent with.
pub fn platform_tag(venv: &Path, wheel: &Path) -> String {
    // Tests run as threads of one process: one creates the venv, others wait.
    static INSTALL: Mutex<()> = Mutex::new(());
    let installing = INSTALL.lock().unwrap_or_else(PoisonError::into_inner);
    if !venv.join("bin/auditwheel").exists() {
        let ok = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(venv)
            .status()
            .expect("venv");
        assert!(ok.success());
        let ok = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "auditwheel"])
            .status()
            .expect("pip");
        assert!(ok.success(), "pip install auditwheel");
    }
    drop(installing);
    let out = Command::new(venv.join("bin/auditwheel"))
        .arg("show")
        .arg(wheel)
        .output()
        .expect("auditwheel");
    let text = String::from_utf8_lossy(&out.stdout).replace('\n', " ");
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    // "… is consistent with the following platform tag: "manylinux_2_38_armv7l"."
    let after = text
        .split("consistent with the following platform tag:")
        .nth(1)
        .unwrap_or_else(|| panic!("unexpected auditwheel output: {text}"));
    after.split('"').nth(1).unwrap_or_default().to_string()
}
