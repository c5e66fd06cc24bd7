//! A real SPDX validator for the SBOM tests: `pyspdxtools` of the
//! `spdx-tools` package, installed from the Python index into a venv under
//! Cargo's target directory (once; later runs reuse it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};

fn pyspdxtools() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("spdx-venv");
    let tool = venv.join("bin/pyspdxtools");
    // Tests run as threads of one process: one creates the venv, others wait.
    static INSTALL: Mutex<()> = Mutex::new(());
    let _installing = INSTALL.lock().unwrap_or_else(PoisonError::into_inner);
    if !tool.exists() {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 -m venv");
        assert!(ok.success(), "python3 -m venv {}", venv.display());
        let ok = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "spdx-tools>=0.8,<0.9"])
            .status()
            .expect("pip");
        assert!(ok.success(), "pip install spdx-tools");
    }
    tool
}

/// Parses and validates `doc` as SPDX; panics with the validator's report
/// when the document is invalid.
pub fn assert_valid(doc: &Path) {
    let out = Command::new(pyspdxtools())
        .arg("-i")
        .arg(doc)
        .output()
        .expect("run pyspdxtools");
    assert!(
        out.status.success(),
        "{} is not valid SPDX:\n{}{}",
        doc.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The validator rejects what it should (so a pass means something).
pub fn assert_invalid(doc: &Path) {
    let out = Command::new(pyspdxtools())
        .arg("-i")
        .arg(doc)
        .output()
        .expect("run pyspdxtools");
    assert!(!out.status.success(), "{} was accepted", doc.display());
}

/// `SPDXID` → package object.
pub fn packages(doc: &serde_json::Value) -> std::collections::BTreeMap<String, serde_json::Value> {
    doc["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["SPDXID"].as_str().expect("SPDXID").to_string(), p.clone()))
        .collect()
}

/// "A TYPE B" lines.
pub fn relationships(doc: &serde_json::Value) -> Vec<String> {
    doc["relationships"]
        .as_array()
        .expect("relationships")
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r["spdxElementId"].as_str().unwrap_or_default(),
                r["relationshipType"].as_str().unwrap_or_default(),
                r["relatedSpdxElement"].as_str().unwrap_or_default()
            )
        })
        .collect()
}
