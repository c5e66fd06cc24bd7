//! Sysroot definitions (`sysroots/<name>.kdl`): which distribution packages
//! form a target's base sysroot. The architecture comes from the target.

use std::path::Path;

use serde::Serialize;

use crate::recipe::bounds::read_definition;
use crate::recipe::decode::{Decoder, parse_document};
use crate::recipe::error::{RecipeErrors, SourceFile};

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
pub struct SysrootDef {
    pub name: String,
    /// Debian suite the packages come from.
    pub suite: String,
    pub packages: Vec<String>,
}

impl SysrootDef {
    pub fn load(path: &Path, display: &str) -> Result<SysrootDef, RecipeErrors> {
        SysrootDef::parse(&read_definition(path, display)?)
    }

    pub fn parse(file: &SourceFile) -> Result<SysrootDef, RecipeErrors> {
        let doc = parse_document(file)?;
        let mut d = Decoder::new(file);
        let mut out = None;
        for node in doc.nodes() {
            if node.name().value() != "sysroot" || out.is_some() {
                d.unknown_node(node, "a sysroot file", &["sysroot"]);
                continue;
            }
            d.check_props(node, &[]);
            d.check_max_args(node, 1);
            let name = d.positional(node).first().and_then(|e| d.entry_string("sysroot", e));
            let mut suite = None;
            let mut packages = Vec::new();
            for child in node.children().map(|c| c.nodes()).unwrap_or_default() {
                match child.name().value() {
                    "debian" => {
                        d.check_props(child, &["suite"]);
                        d.check_max_args(child, 0);
                        suite = d.prop_string(child, "suite");
                    }
                    "packages" => packages.extend(d.strings(child).into_iter().map(|s| s.value)),
                    _ => d.unknown_node(child, "`sysroot`", &["debian", "packages"]),
                }
            }
            if let Some(name) = &name
                && let Err(reason) = crate::model::target::check_path_name(&name.value)
            {
                d.invalid(
                    name.span,
                    "sysroot name",
                    &reason,
                    "the name is a directory name under the cache: use letters, digits, `-`, `_` and `.`, not starting with `.`",
                );
            }
            match (name, suite) {
                (Some(name), Some(suite)) if !packages.is_empty() => {
                    out = Some(SysrootDef {
                        name: name.value,
                        suite: suite.value,
                        packages,
                    })
                }
                _ => d.missing(
                    node.span(),
                    "a name, `debian suite=…` or `packages`",
                    "`sysroot`",
                    "write `sysroot NAME { debian suite=\"trixie\"; packages \"libc6-dev\" … }`",
                ),
            }
        }
        match out {
            Some(s) if d.errors.is_empty() => Ok(s),
            _ => {
                if d.errors.is_empty() {
                    d.missing(
                        (0, 0).into(),
                        "`sysroot`",
                        "the sysroot file",
                        "write `sysroot NAME { … }`",
                    );
                }
                Err(RecipeErrors { errors: d.errors })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_sysroot() {
        let s = SysrootDef::parse(&SourceFile::new(
            "s.kdl",
            "sysroot debian-trixie {\n debian suite=\"trixie\"\n packages \"libc6\" \"libc6-dev\"\n}",
        ))
        .expect("valid");
        assert_eq!(s.suite, "trixie");
        assert_eq!(s.packages.len(), 2);
    }
}
