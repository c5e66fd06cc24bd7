//! What a recipe varies per target beyond templates: a source's file and
//! sha256 (`target NAME file="…" sha256="…"` inside `source`, e.g. a `-dev`
//! .deb per architecture), and Debian packages added to the target's sysroot
//! for this package (`sysroot-packages "libpython3.13-dev" …`).

use kdl::KdlNode;
use serde::{Deserialize, Serialize};

use super::decode::{Decoder, Spanned};
use super::error::{RecipeError, closest};
use super::raw::{RawRecipe, RawSource, Text};

/// `target NAME file="…" sha256="…"` inside a `source`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawVariant {
    pub target: Text,
    pub file: Option<Text>,
    pub sha256: Option<Text>,
}

/// Parses one `target` child of a source; `seen` catches a target given twice.
pub fn parse_variant(d: &mut Decoder, node: &KdlNode, seen: &mut Vec<Text>) -> Option<RawVariant> {
    d.check_props(node, &["file", "sha256"]);
    d.check_max_args(node, 1);
    d.check_no_children(node);
    let target = match d.positional(node).first() {
        Some(e) => d.entry_string("target", e)?,
        None => {
            d.missing(
                node.span(),
                "the target's name",
                "`target`",
                "write `target armv7hf file=\"…\" sha256=\"…\"`",
            );
            return None;
        }
    };
    if let Some(first) = seen.iter().find(|t| t.value == target.value) {
        d.duplicate(target.span, first.span, &format!("target {}", target.value));
        return None;
    }
    seen.push(target.clone());
    let file = d.prop_string(node, "file");
    let sha256 = d.prop_string(node, "sha256");
    if let Some(sha) = &sha256 {
        super::parse_source::check_sha256(d, sha);
    }
    if file.is_none() && sha256.is_none() {
        d.missing(
            node.span(),
            "`file=` or `sha256=`",
            &format!("`target {}`", target.value),
            "a variant replaces the source's file and sha256 for its target: `target T file=\"…\" sha256=\"…\"`",
        );
    }
    Some(RawVariant { target, file, sha256 })
}

/// The variant of `source` for `target`, or an error when the source has
/// variants, none for this target and no sha256 of its own to fall back on.
pub fn variant_for<'s>(
    raw: &RawRecipe,
    source: &'s RawSource,
    target: &str,
) -> Result<Option<&'s RawVariant>, Box<RecipeError>> {
    if let Some(v) = source.variants.iter().find(|v| v.target.value == target) {
        return Ok(Some(v));
    }
    if source.variants.is_empty() || source.sha256.is_some() {
        return Ok(None);
    }
    let listed: Vec<&str> = source.variants.iter().map(|v| v.target.value.as_str()).collect();
    Err(Box::new(RecipeError::InvalidValue {
        src: raw.file.named(),
        span: source.span,
        what: "source".into(),
        reason: format!(
            "no `target {target}` variant (variants: {}) and no `sha256` for the other targets",
            listed.join(", ")
        ),
        help: format!("add `target {target} file=\"…\" sha256=\"…\"`, or a `file` and `sha256` for every other target"),
    }))
}

/// Variants naming none of the `known` targets (the caller includes `host`,
/// the build machine, for host tools).
pub fn unknown_variant_targets(raw: &RawRecipe, known: &[&str]) -> Vec<RecipeError> {
    let known = || known.iter().copied();
    let mut errors = Vec::new();
    for v in raw.sources.iter().flat_map(|s| &s.variants) {
        let name = &v.target.value;
        if known().any(|t| t == name) {
            continue;
        }
        let help = match closest(name, known()) {
            Some(c) => format!("did you mean `{c}`?"),
            None => format!("targets: {}", known().collect::<Vec<_>>().join(", ")),
        };
        errors.push(RecipeError::InvalidValue {
            src: raw.file.named(),
            span: v.target.span,
            what: "source variant".into(),
            reason: format!("unknown target `{name}`"),
            help,
        });
    }
    errors
}

/// A Debian package name: lowercase letters, digits, `+`, `-`, `.`, at
/// least two characters, starting with a letter or digit.
pub fn is_debian_package_name(name: &str) -> bool {
    name.len() >= 2
        && name.len() <= 128
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
}

/// Checks a rendered `sysroot-packages` entry; `written` carries its span.
pub fn check_sysroot_package(raw: &RawRecipe, written: &Spanned<String>, rendered: &str) -> Option<RecipeError> {
    if is_debian_package_name(rendered) {
        return None;
    }
    Some(RecipeError::InvalidValue {
        src: raw.file.named(),
        span: written.span,
        what: "sysroot package".into(),
        reason: format!("invalid Debian package name `{rendered}`"),
        help: "name binary packages of the target's Debian suite, e.g. `sysroot-packages \"zlib1g-dev\"`".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_package_names() {
        for ok in ["zlib1g-dev", "libpython3.13-dev", "g++-12", "libc6"] {
            assert!(is_debian_package_name(ok), "{ok}");
        }
        for bad in ["", "a", "Zlib", "zlib dev", "-x", "../etc", "x;rm"] {
            assert!(!is_debian_package_name(bad), "{bad}");
        }
    }
}
