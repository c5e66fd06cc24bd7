//! Rules of the source layout, checked on the source text.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read src").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Settings are resolved once: only `settings/` reads the process
/// environment (plus `main.rs` for the terminal width of error reports and
/// the documented fault-injection test hook).
#[test]
fn only_settings_read_the_environment() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed = |rel: &str| rel.starts_with("settings/") || rel == "main.rs" || rel == "fault.rs";
    let mut offenders = Vec::new();
    for file in rust_files(&src) {
        let rel = file.strip_prefix(&src).expect("under src").display().to_string();
        if allowed(&rel) {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read");
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if ["env::var(", "env::var_os(", "env::vars(", "env::vars_os("]
                .iter()
                .any(|p| code.contains(p))
            {
                offenders.push(format!("src/{rel}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "read the environment outside settings/ (take the value from Settings instead):\n{}",
        offenders.join("\n")
    );
}

/// Imports point one way: the command layer (`commands/`, `cli`), the
/// session (`pipeline/`) and the settings sit on top; nothing below them
/// reaches back up. (The full folder-per-stage layering of DESIGN.md §2 is
/// not there yet; this holds the top boundary meanwhile.)
#[test]
fn lower_layers_do_not_import_the_layers_above() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let upper = ["commands", "pipeline", "cli", "settings"];
    let is_upper = |rel: &str| {
        rel == "main.rs"
            || rel == "lib.rs"
            || upper
                .iter()
                .any(|u| rel == format!("{u}.rs") || rel.starts_with(&format!("{u}/")))
    };
    let mut offenders = Vec::new();
    for file in rust_files(&src) {
        let rel = file.strip_prefix(&src).expect("under src").display().to_string();
        if is_upper(&rel) {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read");
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for u in upper {
                if code.contains(&format!("crate::{u}::")) || code.contains(&format!("crate::{u};")) {
                    offenders.push(format!("src/{rel}:{}: {}", i + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "a lower layer imports commands/, pipeline/, cli or settings/ (pass the values down instead):\n{}",
        offenders.join("\n")
    );
}
