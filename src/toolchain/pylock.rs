//! The lock file of PEP 517 build requirements (`python/build-requirements.lock`)
//! and the choice, per build Python, of the locked wheels whose tags fit it:
//! one lock serves every Python version a target lists.

/// Where a project keeps its lock file of build requirements.
pub const LOCK_FILE: &str = "python/build-requirements.lock";

/// One pinned wheel of the lock file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locked {
    pub project: String,
    pub file: String,
    pub sha256: String,
}

/// Parses `PROJECT FILE sha256=HEX` lines (`#` comments, blank lines).
pub fn parse_lock(text: &str) -> Result<Vec<Locked>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let [project, file, hash] = words[..] else {
            return Err(format!("line {}: expected `PROJECT FILE sha256=HEX`", n + 1));
        };
        let Some(sha256) = hash.strip_prefix("sha256=") else {
            return Err(format!("line {}: the hash must be written sha256=HEX", n + 1));
        };
        let valid_name =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b));
        if !valid_name(project) || !valid_name(file) || !file.ends_with(".whl") || tags(file).is_none() {
            return Err(format!(
                "line {}: `{project} {file}` is not a project and a wheel file",
                n + 1
            ));
        }
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("line {}: `{sha256}` is not a sha256", n + 1));
        }
        out.push(Locked {
            project: project.to_string(),
            file: file.to_string(),
            sha256: sha256.to_ascii_lowercase(),
        });
    }
    Ok(out)
}

/// The python, ABI and platform tag sets of a wheel file name
/// (`NAME-VER[-BUILD]-PY-ABI-PLAT.whl`).
fn tags(file: &str) -> Option<[Vec<&str>; 3]> {
    let stem = file.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    if parts.len() < 5 {
        return None;
    }
    let n = parts.len();
    Some([
        split_set(parts[n - 3]),
        split_set(parts[n - 2]),
        split_set(parts[n - 1]),
    ])
}

/// A compressed tag set (`manylinux2014_x86_64.manylinux_2_17_x86_64`).
fn split_set(s: &str) -> Vec<&str> {
    s.split('.').collect()
}

/// How well a wheel fits CPython 3.`minor` on `arch` (the build machine's
/// `x86_64`, …): 3 built for exactly it, 2 stable ABI (`abi3`) of an older
/// or equal version, 1 pure Python, `None` when it does not install there.
fn fit(file: &str, minor: u32, arch: &str) -> Option<u8> {
    let [python, abi, platform] = tags(file)?;
    let platform_ok = platform.iter().any(|p| {
        *p == "any" || (p.ends_with(&format!("_{arch}")) && (p.starts_with("manylinux") || p.starts_with("linux_")))
    });
    if !platform_ok {
        return None;
    }
    python_fit(&python, &abi, minor)
}

/// How well a wheel's python and ABI tag sets fit CPython 3.`minor`
/// (whatever its platform): 3 built for it, 2 stable ABI of an older or
/// equal version, 1 pure Python.
fn python_fit(python: &[&str], abi: &[&str], minor: u32) -> Option<u8> {
    let cp = format!("cp3{minor}");
    let cp_minor = |t: &str| t.strip_prefix("cp3").and_then(|m| m.parse::<u32>().ok());
    let mut best = None;
    for py in python {
        for a in abi {
            let score = if *py == cp && (*a == cp || *a == "none") {
                Some(3)
            } else if *a == "abi3" && cp_minor(py).is_some_and(|m| m <= minor) {
                Some(2)
            } else if (*py == "py3" || *py == format!("py3{minor}")) && *a == "none" {
                Some(1)
            } else {
                None
            };
            best = best.max(score);
        }
    }
    best
}

/// Whether a wheel (file name) installs on CPython 3.`minor` of any
/// platform: what tests on the target pick per Python version.
pub fn installs_on(file: &str, minor: u32) -> bool {
    tags(file).is_some_and(|[python, abi, _]| python_fit(&python, &abi, minor).is_some())
}

/// The locked wheels that suit CPython 3.`minor` on `arch`: per project the
/// best-fitting one (the first listed among equals), in lock order. A
/// project with no fitting wheel is left out: the build that needs it says
/// which one is missing.
pub fn select(locked: &[Locked], minor: u32, arch: &str) -> Vec<Locked> {
    let mut best: Vec<(usize, u8)> = Vec::new();
    for (i, l) in locked.iter().enumerate() {
        let Some(score) = fit(&l.file, minor, arch) else {
            continue;
        };
        match best.iter_mut().find(|(j, _)| locked[*j].project == l.project) {
            Some(entry) if entry.1 < score => *entry = (i, score),
            Some(_) => {}
            None => best.push((i, score)),
        }
    }
    best.sort_by_key(|(i, _)| *i);
    best.into_iter().map(|(i, _)| locked[i].clone()).collect()
}

/// The text that identifies a selection (part of the build Python's id).
pub fn selection_text(selected: &[Locked]) -> String {
    selected
        .iter()
        .map(|l| format!("{} {} sha256={}\n", l.project, l.file, l.sha256))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "3217dcc807155e45db462d7ef2431f5ddda0d7273b700d05a67b271ceb1287ab";

    #[test]
    fn lock_lines_parse_and_bad_ones_are_refused() {
        let ok = parse_lock(&format!(
            "# build requirements\nwheel wheel-0.48.0-py3-none-any.whl sha256={H}\n\n"
        ))
        .expect("parses");
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].project, "wheel");
        for bad in [
            "wheel wheel-0.48.0-py3-none-any.whl".to_string(),
            "wheel wheel-0.48.0-py3-none-any.whl md5=00".to_string(),
            format!("wheel ../x.whl sha256={H}"),
            format!("wheel wheel.tar.gz sha256={H}"),
            format!("wheel wheel.whl sha256={H}"),
            "wheel wheel-0.48.0-py3-none-any.whl sha256=zz17dcc807155e45db462d7ef2431f5ddda0d7273b700d05a67b271ceb1287ab"
                .to_string(),
        ] {
            assert!(parse_lock(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_build_python_gets_the_wheels_whose_tags_fit_it() {
        let lock = parse_lock(&format!(
            "setuptools setuptools-84.2.1-py3-none-any.whl sha256={H}\n\
             cffi cffi-2.1.1-cp313-cp313-manylinux2014_x86_64.manylinux_2_17_x86_64.whl sha256={H}\n\
             cython cython-3.3.1-cp313-cp313-manylinux_2_28_x86_64.whl sha256={H}\n\
             cffi cffi-2.1.1-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl sha256={H}\n\
             cffi cffi-2.1.1-cp311-cp311-manylinux_2_17_aarch64.whl sha256={H}\n\
             cffi cffi-2.1.1-cp311-cp311-musllinux_1_1_x86_64.whl sha256={H}\n\
             cython cython-3.3.1-py3-none-any.whl sha256={H}\n\
             cython cython-3.3.1-cp311-cp311-manylinux_2_28_x86_64.whl sha256={H}\n\
             fast fast-1.0-cp39-abi3-manylinux_2_17_x86_64.whl sha256={H}\n\
             newer newer-1.0-cp313-abi3-manylinux_2_17_x86_64.whl sha256={H}\n"
        ))
        .expect("parses");
        let files = |minor| -> Vec<String> { select(&lock, minor, "x86_64").into_iter().map(|l| l.file).collect() };
        assert_eq!(
            files(13),
            [
                "setuptools-84.2.1-py3-none-any.whl",
                "cffi-2.1.1-cp313-cp313-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
                "cython-3.3.1-cp313-cp313-manylinux_2_28_x86_64.whl",
                "fast-1.0-cp39-abi3-manylinux_2_17_x86_64.whl",
                "newer-1.0-cp313-abi3-manylinux_2_17_x86_64.whl",
            ]
        );
        assert_eq!(
            files(11),
            [
                "setuptools-84.2.1-py3-none-any.whl",
                "cffi-2.1.1-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
                "cython-3.3.1-cp311-cp311-manylinux_2_28_x86_64.whl",
                "fast-1.0-cp39-abi3-manylinux_2_17_x86_64.whl",
            ],
            "an abi3 wheel of a newer Python does not fit"
        );
        // 3.12: no compiled cython of its own, the pure one serves.
        assert!(files(12).contains(&"cython-3.3.1-py3-none-any.whl".to_string()));
        assert!(!files(12).iter().any(|f| f.starts_with("cffi")));
    }

    #[test]
    fn tests_on_the_target_pick_the_wheels_a_version_installs() {
        let cp311 = "MarkupSafe-3.0.4-cp311-cp311-manylinux_2_17_armv7l.whl";
        let abi3 = "argon2_cffi_bindings-21.2.0-cp311-abi3-manylinux_2_17_armv7l.whl";
        assert!(installs_on(cp311, 11) && !installs_on(cp311, 13));
        assert!(installs_on(abi3, 11) && installs_on(abi3, 13) && !installs_on(abi3, 10));
        assert!(installs_on("helmpy-1.0-py3-none-linux_armv7l.whl", 13));
        assert!(!installs_on("not-a-wheel.whl", 13));
    }
}
