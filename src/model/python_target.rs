//! A target's `python` node: wheel platform names, and the CPython versions
//! extension wheels are built for (`version "3.11" suite="bookworm"`
//! children, each from a Debian suite).

use kdl::KdlNode;
use miette::SourceSpan;
use serde::Serialize;

use crate::recipe::decode::Decoder;

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
pub struct PythonTarget {
    /// Wheel platform tag fallback, e.g. `linux_armv7l`.
    pub platform: String,
    /// `platform.machine()` on the target, e.g. `armv7l`.
    pub machine: String,
    /// Directory name under a package's `_lib/`, e.g. `linux-armv7`.
    pub lib_dir: String,
    /// The CPython versions extension wheels are built and tested for,
    /// lowest first. Empty: one, the `python3` of the test runtime's suite
    /// (the sysroot's unless `test-runtime suite=` says otherwise).
    pub versions: Vec<PythonVersion>,
}

/// `version "3.11" suite="bookworm"`: CPython 3.11 as Debian's bookworm
/// packages it (`python3.11` for the build machine, `libpython3.11-dev` and
/// `python3.11` for the target).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
pub struct PythonVersion {
    /// `3.11`
    pub version: String,
    pub suite: String,
}

impl PythonVersion {
    /// The minor number (`11` of `3.11`), for ordering and wheel tags.
    pub fn minor(&self) -> u32 {
        minor_of(&self.version).unwrap_or(0)
    }

    /// `cp311`
    pub fn tag(&self) -> String {
        format!("cp3{}", self.minor())
    }
}

/// `11` of `3.11`; `None` for anything that is not `3.N`.
pub fn minor_of(version: &str) -> Option<u32> {
    let minor = version.strip_prefix("3.")?;
    if minor.is_empty() || minor.len() > 2 || !minor.bytes().all(|b| b.is_ascii_digit()) || minor.starts_with('0') {
        return None;
    }
    minor.parse().ok()
}

pub(super) fn python_target(d: &mut Decoder, node: &KdlNode) -> Option<PythonTarget> {
    d.check_props(node, &["platform", "machine", "lib-dir"]);
    d.check_max_args(node, 0);
    let p = d.prop_string(node, "platform");
    let m = d.prop_string(node, "machine");
    let l = d.prop_string(node, "lib-dir");
    let versions = python_versions(d, node);
    match (p, m, l) {
        (Some(p), Some(m), Some(l)) => Some(PythonTarget {
            platform: p.value,
            machine: m.value,
            lib_dir: l.value,
            versions,
        }),
        _ => {
            d.missing(
                node.span(),
                "`platform=`, `machine=` or `lib-dir=`",
                "`python`",
                "write `python platform=\"linux_armv7l\" machine=\"armv7l\" lib-dir=\"linux-armv7\"`",
            );
            None
        }
    }
}

const VERSION_HELP: &str = "write `version \"3.11\" suite=\"bookworm\"` (a CPython 3.N the Debian suite packages)";

/// The `version` children, checked and sorted lowest first.
fn python_versions(d: &mut Decoder, node: &KdlNode) -> Vec<PythonVersion> {
    let mut out: Vec<(PythonVersion, SourceSpan)> = Vec::new();
    for child in node.children().map(|c| c.nodes()).unwrap_or_default() {
        if child.name().value() != "version" {
            d.unknown_node(child, "`python`", &["version"]);
            continue;
        }
        d.check_props(child, &["suite"]);
        d.check_max_args(child, 1);
        d.check_no_children(child);
        let version = match d.positional(child).first() {
            Some(e) => d.entry_string("version", e),
            None => {
                d.missing(child.span(), "a version", "`version`", VERSION_HELP);
                None
            }
        };
        let suite = d.prop_string(child, "suite");
        if suite.is_none() {
            d.missing(child.span(), "`suite=`", "`version`", VERSION_HELP);
        }
        let (Some(version), Some(suite)) = (version, suite) else {
            continue;
        };
        if minor_of(&version.value).is_none() {
            d.invalid(
                version.span,
                "Python version",
                &format!("`{}` is not a CPython 3 version like `3.11`", version.value),
                VERSION_HELP,
            );
            continue;
        }
        if let Err(reason) = super::target::check_path_name(&suite.value) {
            d.invalid(suite.span, "Debian suite", &reason, "a suite name such as `bookworm`");
            continue;
        }
        if let Some((_, first)) = out.iter().find(|(v, _)| v.version == version.value) {
            let first = *first;
            d.duplicate(version.span, first, &format!("version \"{}\"", version.value));
            continue;
        }
        out.push((
            PythonVersion {
                version: version.value,
                suite: suite.value,
            },
            version.span,
        ));
    }
    let mut versions: Vec<PythonVersion> = out.into_iter().map(|(v, _)| v).collect();
    versions.sort_by_key(PythonVersion::minor);
    versions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_numbers() {
        assert_eq!(minor_of("3.11"), Some(11));
        assert_eq!(minor_of("3.9"), Some(9));
        for bad in ["3", "3.", "2.7", "3.11.2", "3.x", "3.011", "311", ""] {
            assert_eq!(minor_of(bad), None, "{bad}");
        }
    }
}
