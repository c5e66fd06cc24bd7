//! Paths a recipe gives inside a package's trees (`dest` of a source, the
//! build's `subdir`): relative, and never climbing out with `..`.

use std::path::{Component, Path};

use super::decode::Decoder;
use super::raw::Text;

/// Why `path` would leave the tree, if it would. Empty means the tree itself.
pub fn escape_reason(path: &str) -> Option<&'static str> {
    if path.contains('\0') {
        return Some("contains a NUL byte");
    }
    Path::new(path).components().find_map(|c| match c {
        Component::Normal(_) | Component::CurDir => None,
        Component::ParentDir => Some("climbs out of the tree with `..`"),
        Component::RootDir | Component::Prefix(_) => Some("is an absolute path"),
    })
}

pub const HELP: &str = "give a relative path inside the package's tree, without `..` (e.g. `vendor/lib`)";

/// Reports `value` if it escapes; templated values are checked after rendering.
pub fn check(d: &mut Decoder, what: &str, value: &Text) {
    let templated = ["{{", "{%", "{#"].iter().any(|m| value.value.contains(m));
    if !templated && let Some(reason) = escape_reason(&value.value) {
        d.invalid(value.span, what, &format!("`{}` {reason}", value.value), HELP);
    }
}

#[cfg(test)]
mod tests {
    use super::escape_reason;

    #[test]
    fn only_relative_paths_inside_the_tree_pass() {
        for ok in ["", ".", "src", "a/b/c", "./a", "a/./b", "a..b", "..a"] {
            assert_eq!(escape_reason(ok), None, "{ok}");
        }
        for bad in ["..", "../x", "a/../../b", "a/..", "/abs", "/", "a\0b"] {
            assert!(escape_reason(bad).is_some(), "{bad}");
        }
    }
}
