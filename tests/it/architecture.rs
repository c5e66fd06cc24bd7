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

/// The integration tests run as threads of one process: one that changed
/// the process environment would change it under every other test. They
/// pass what a child needs to its `Command` instead.
#[test]
fn integration_tests_never_change_the_process_environment() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    // Built at run time so that this file does not match itself.
    let calls: Vec<String> = ["set_var(", "remove_var("]
        .iter()
        .map(|c| format!("env::{c}"))
        .collect();
    let mut offenders = Vec::new();
    for file in rust_files(&dir) {
        let text = std::fs::read_to_string(&file).expect("read");
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if calls.iter().any(|c| code.contains(c.as_str())) {
                offenders.push(format!("{}:{}: {}", file.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "set the child's environment on its Command instead:\n{}",
        offenders.join("\n")
    );
}

/// The layers as `src/lib.rs` lists them: `//! N. `a`, `b` — text`.
fn layers(lib_rs: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    for line in lib_rs.lines() {
        let Some(rest) = line.strip_prefix("//! ") else {
            continue;
        };
        let Some((number, rest)) = rest.split_once(". ") else {
            continue;
        };
        let Ok(number) = number.trim().parse::<usize>() else {
            continue;
        };
        let names = rest.split(" — ").next().unwrap_or_default();
        let modules: Vec<String> = names.split('`').skip(1).step_by(2).map(str::to_string).collect();
        out.push((number, modules));
    }
    out
}

/// `crate::x` paths (and `crate::{x, y}` groups) in the code of a file,
/// outside comments and outside its `#[cfg(test)]` part.
fn crate_imports(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let names: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => group.split('}').next().unwrap_or_default().split(',').collect(),
                None => vec![rest],
            };
            for name in names {
                let name: String = name
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push((i + 1, name));
                }
            }
        }
    }
    out
}

/// Imports point one way, down the pipeline as `src/lib.rs` lists its
/// layers: a module uses its own layer and the ones before it, never one
/// after; the leaves of layer 0 use nothing of the crate.
#[test]
fn imports_follow_the_layers_listed_in_lib_rs() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let layers = layers(&lib);
    assert!(layers.len() >= 10, "lib.rs lists its layers: {layers:?}");
    let layer_of = |module: &str| {
        layers
            .iter()
            .find(|(_, ms)| ms.iter().any(|m| m == module))
            .map(|(n, _)| *n)
    };
    let mut offenders = Vec::new();
    for file in rust_files(&src) {
        let rel = file.strip_prefix(&src).expect("under src").display().to_string();
        if rel == "main.rs" || rel == "lib.rs" || rel.ends_with("/tests.rs") {
            continue;
        }
        let top = rel
            .split('/')
            .next()
            .unwrap_or_default()
            .trim_end_matches(".rs")
            .to_string();
        let Some(own) = layer_of(&top) else {
            offenders.push(format!(
                "src/{rel}: module `{top}` is not in the layer list of src/lib.rs"
            ));
            continue;
        };
        let text = std::fs::read_to_string(&file).expect("read");
        for (line, used) in crate_imports(&text) {
            if used == top {
                continue;
            }
            let Some(theirs) = layer_of(&used) else { continue };
            if theirs > own || own == 0 {
                offenders.push(format!(
                    "src/{rel}:{line}: `{top}` (layer {own}) uses `{used}` (layer {theirs})"
                ));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "imports against the layer order of src/lib.rs (move the code down, or pass values in):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_layer_check_sees_groups_and_skips_comments_and_tests() {
    let text = "use crate::{fetch, build::job};\n// crate::commands\nlet x = crate::plan::graph::HOST;\n#[cfg(test)]\nuse crate::pipeline;\n";
    let names: Vec<String> = crate_imports(text).into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["fetch", "build", "plan"]);
    let lib = "//! 0. leaves: `digest`, `elf` (none)\n//! 3. `plan` — graph\n";
    assert_eq!(
        layers(lib),
        [
            (0, vec!["digest".to_string(), "elf".to_string()]),
            (3, vec!["plan".to_string()])
        ]
    );
}
