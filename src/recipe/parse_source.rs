//! The `source` node of a recipe: its origin (URL, `pypi=`, `debian=`,
//! `path=`), file, sha256, mirrors and unpacking options.

use kdl::KdlNode;

use super::decode::Decoder;
use super::error::RecipeError;
use super::raw::*;

const SOURCE_NODES: &[&str] = &[
    "file",
    "sha256",
    "mirror",
    "strip-components",
    "dest",
    "extract",
    "target",
];
const SOURCE_PROPS: &[&str] = &["pypi", "debian", "path"];

pub(super) fn parse_source(d: &mut Decoder, node: &KdlNode) -> Option<RawSource> {
    d.check_props(node, SOURCE_PROPS);
    d.check_max_args(node, 1);
    let url = d.positional(node).first().and_then(|e| d.entry_string("source", e));
    let mut origins: Vec<RawOrigin> = url.into_iter().map(RawOrigin::Url).collect();
    for (prop, make) in [
        ("pypi", RawOrigin::Pypi as fn(Text) -> RawOrigin),
        ("debian", RawOrigin::Debian),
        ("path", RawOrigin::Path),
    ] {
        if let Some(v) = d.prop_string(node, prop) {
            origins.push(make(v));
        }
    }
    if origins.len() > 1 {
        d.invalid(
            node.span(),
            "source",
            "more than one origin",
            "give either a URL, `pypi=`, `debian=` or `path=`; add others as `mirror` nodes",
        );
    }
    let origin = match origins.into_iter().next() {
        Some(o) => o,
        // A misspelt origin (`pypy=`) is already reported as an unknown property.
        None if node.entries().iter().any(|e| e.name().is_some()) => return None,
        None => {
            d.missing(
                node.name().span(),
                "a URL",
                "`source`",
                "write `source \"https://…\" { sha256 \"…\" }`, or use `pypi=`, `debian=` or `path=`",
            );
            return None;
        }
    };
    let mut src = RawSource {
        span: node.span(),
        origin,
        file: None,
        sha256: None,
        mirrors: Vec::new(),
        strip_components: None,
        dest: None,
        extract: None,
        variants: Vec::new(),
    };
    let mut seen = Vec::new();
    let mut variant_targets = Vec::new();
    if let Some(children) = node.children() {
        for child in children.nodes() {
            let name = child.name().value();
            let repeatable = matches!(name, "mirror" | "target");
            if !repeatable && SOURCE_NODES.contains(&name) && !d.once(&mut seen, child) {
                continue;
            }
            match name {
                "file" => src.file = d.single_string(child),
                "sha256" => src.sha256 = d.single_string(child),
                "dest" => src.dest = d.single_string(child),
                "extract" => src.extract = d.single_bool(child),
                "strip-components" => src.strip_components = d.single_int(child, 0, 16),
                "mirror" => src.mirrors.extend(parse_mirror(d, child)),
                "target" => src
                    .variants
                    .extend(super::per_target::parse_variant(d, child, &mut variant_targets)),
                _ => d.unknown_node(child, "`source`", SOURCE_NODES),
            }
        }
    }
    if let Some(sha) = &src.sha256 {
        check_sha256(d, sha);
    }
    if let Some(dest) = &src.dest {
        super::tree_path::check(d, "dest", dest);
    }
    Some(src)
}

/// A sha256 must be 64 lowercase hex digits; an empty one is allowed through
/// here so `recipe fetch` can print the computed value for the author.
pub fn check_sha256(d: &mut Decoder, sha: &Text) {
    let v = &sha.value;
    if v.is_empty() {
        return;
    }
    let reason = if v.len() != 64 {
        Some(format!("{} characters, expected 64", v.len()))
    } else if !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        Some("not hexadecimal".to_string())
    } else if v.bytes().any(|b| b.is_ascii_uppercase()) {
        Some("uppercase hex digits".to_string())
    } else {
        None
    };
    if let Some(reason) = reason {
        d.errors.push(RecipeError::BadSha256 {
            src: d.file.named(),
            span: sha.span,
            value: v.clone(),
            reason,
            help: "a sha256 is 64 lowercase hex digits; leave it empty (\"\") and run `recipe fetch` to print the right one".into(),
        });
    }
}

fn parse_mirror(d: &mut Decoder, node: &KdlNode) -> Option<RawMirror> {
    d.check_no_children(node);
    let args = d.positional(node);
    let first = args.first()?;
    let kind = d.entry_string("mirror", first)?;
    match kind.value.as_str() {
        "debian" => {
            d.check_props(node, &["package"]);
            d.check_max_args(node, 1);
            match d.prop_string(node, "package") {
                Some(p) => Some(RawMirror::Debian(p)),
                None => {
                    d.missing(
                        node.span(),
                        "`package=`",
                        "`mirror debian`",
                        "write `mirror debian package=SRCPKG`",
                    );
                    None
                }
            }
        }
        "pypi" => {
            d.check_props(node, &["project"]);
            d.check_max_args(node, 1);
            match d.prop_string(node, "project") {
                Some(p) => Some(RawMirror::Pypi(p)),
                None => {
                    d.missing(
                        node.span(),
                        "`project=`",
                        "`mirror pypi`",
                        "write `mirror pypi project=NAME`",
                    );
                    None
                }
            }
        }
        url if url.contains("://") => {
            d.check_props(node, &[]);
            d.check_max_args(node, 1);
            Some(RawMirror::Url(kind))
        }
        _ => {
            d.invalid(
                kind.span,
                "mirror",
                "not a URL, `debian` or `pypi`",
                "write `mirror \"https://…\"`, `mirror debian package=SRCPKG` or `mirror pypi project=NAME`",
            );
            None
        }
    }
}
