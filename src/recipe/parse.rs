//! recipe.kdl → `RawRecipe`, reporting every structural problem with a span.

use std::path::Path;

use kdl::KdlNode;
use miette::SourceSpan;

use super::decode::{Decoder, Spanned, parse_document};
use super::error::{RecipeError, RecipeErrors, SourceFile};
use super::parse_source::parse_source;
use super::raw::*;
use super::schema::{BuildKind, OptionShape};

const TOP_NODES: &[&str] = &[
    "package",
    "source",
    "patch",
    "depends",
    "host-depends",
    "sysroot-packages",
    "build",
    "test",
    "resources",
];
const PACKAGE_NODES: &[&str] = &[
    "version",
    "license",
    "license-files",
    "homepage",
    "summary",
    "source-date-epoch",
];
const TEST_NODES: &[&str] = &["run", "python", "requires"];
const RESOURCE_NODES: &[&str] = &["cores"];
/// More cores than any node of a cluster is a typo.
pub const MAX_CORES: i128 = 1024;

/// Reads and parses `recipes/<name>/recipe.kdl`.
pub fn load_recipe(path: &Path, display_name: &str) -> Result<RawRecipe, RecipeErrors> {
    let file = super::bounds::read_definition(path, display_name)?;
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    parse_recipe(file, &dir)
}

pub fn parse_recipe(file: SourceFile, dir: &Path) -> Result<RawRecipe, RecipeErrors> {
    let doc = parse_document(&file)?;
    let mut d = Decoder::new(&file);
    let mut package: Option<(Text, SourceSpan)> = None;
    let mut meta = Meta::default();
    let mut sources = Vec::new();
    let mut patches = Vec::new();
    let mut depends = Vec::new();
    let mut host_depends = Vec::new();
    let mut sysroot_packages = Vec::new();
    let mut build = None;
    let mut test = None;
    let mut resources = None;
    let mut seen = Vec::new();

    for node in doc.nodes() {
        match node.name().value() {
            "package" => {
                if d.once(&mut seen, node) {
                    package = parse_package(&mut d, node, &mut meta).map(|n| (n, node.span()));
                }
            }
            "source" => sources.extend(parse_source(&mut d, node)),
            "patch" => patches.extend(d.strings(node)),
            "depends" => depends.extend(d.strings(node)),
            "host-depends" => host_depends.extend(d.strings(node)),
            "sysroot-packages" => sysroot_packages.extend(d.strings(node)),
            "build" => {
                if d.once(&mut seen, node) {
                    build = parse_build(&mut d, node);
                }
            }
            "test" => {
                if d.once(&mut seen, node) {
                    test = Some(parse_test(&mut d, node));
                }
            }
            "resources" => {
                if d.once(&mut seen, node) {
                    resources = Some(parse_resources(&mut d, node));
                }
            }
            _ => d.unknown_node(node, "a recipe", TOP_NODES),
        }
    }

    check_required(&mut d, doc.span(), package.as_ref(), &meta, &seen);
    check_names(&mut d, &depends);
    check_names(&mut d, &host_depends);

    if !d.errors.is_empty() {
        return Err(RecipeErrors { errors: d.errors });
    }
    let (name, package_span) = package.ok_or_else(|| RecipeErrors { errors: Vec::new() })?;
    let version = meta.version.ok_or_else(|| RecipeErrors { errors: Vec::new() })?;
    let build = build.ok_or_else(|| RecipeErrors { errors: Vec::new() })?;
    Ok(RawRecipe {
        file: file.clone(),
        dir: dir.to_path_buf(),
        package_span,
        name,
        version,
        license: meta.license,
        license_files: meta.license_files,
        homepage: meta.homepage,
        summary: meta.summary,
        source_date_epoch: meta.source_date_epoch,
        sources,
        patches,
        depends,
        host_depends,
        sysroot_packages,
        build,
        test,
        resources,
    })
}

/// `package` (with a `version`) and `build` must be there.
fn check_required(
    d: &mut Decoder,
    whole: SourceSpan,
    package: Option<&(Text, SourceSpan)>,
    meta: &Meta,
    seen: &[(String, SourceSpan)],
) {
    if package.is_none() && !seen.iter().any(|(n, _)| n == "package") {
        d.missing(
            (0, whole.len().min(1)).into(),
            "`package`",
            "the recipe",
            "start the recipe with `package NAME { version \"…\" }`",
        );
    }
    if let Some((name, span)) = package
        && meta.version.is_none()
    {
        d.missing(
            *span,
            "`version`",
            &format!("package `{}`", name.value),
            "add `version \"1.2.3\"` inside the package node",
        );
    }
    if package.is_some() && !seen.iter().any(|(n, _)| n == "build") {
        d.missing(
            package.map_or((0, 0).into(), |(_, s)| *s),
            "`build`",
            "the recipe",
            "add a `build KIND { … }` node (autotools, cmake, meson, make, go, python-wheel, script)",
        );
    }
}

#[derive(Default)]
struct Meta {
    version: Option<Text>,
    license: Option<Text>,
    license_files: Vec<Text>,
    homepage: Option<Text>,
    summary: Option<Text>,
    source_date_epoch: Option<Text>,
}

pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
}

fn check_names(d: &mut Decoder, names: &[Text]) {
    for n in names {
        if !is_valid_name(&n.value) {
            d.invalid(
                n.span,
                "package name",
                "names use lowercase letters, digits, `-`, `_` and `.`",
                "package names must match the recipe directory name",
            );
        }
    }
}

fn parse_package(d: &mut Decoder, node: &KdlNode, meta: &mut Meta) -> Option<Text> {
    d.check_props(node, &[]);
    d.check_max_args(node, 1);
    let name = match d.positional(node).first() {
        Some(e) => d.entry_string("package", e),
        None => {
            d.missing(node.span(), "a name", "`package`", "write it as `package NAME { … }`");
            None
        }
    };
    if let Some(n) = &name {
        check_names(d, std::slice::from_ref(n));
    }
    let mut seen = Vec::new();
    if let Some(children) = node.children() {
        for child in children.nodes() {
            if child.name().value() == "license-files" {
                let files = d.strings(child);
                check_license_files(d, &files);
                meta.license_files.extend(files);
                continue;
            }
            let slot = match child.name().value() {
                "version" => &mut meta.version,
                "license" => &mut meta.license,
                "homepage" => &mut meta.homepage,
                "summary" => &mut meta.summary,
                "source-date-epoch" => &mut meta.source_date_epoch,
                _ => {
                    d.unknown_node(child, "`package`", PACKAGE_NODES);
                    continue;
                }
            };
            if d.once(&mut seen, child) {
                *slot = d.single_string(child);
            }
        }
    }
    if let Some(epoch) = &meta.source_date_epoch
        && parse_epoch(&epoch.value).is_none()
    {
        d.invalid(
            epoch.span,
            "source-date-epoch",
            "not a number of seconds since 1970",
            "write the date of the release, e.g. `source-date-epoch \"1716422400\"` (`date -d 2024-05-23 +%s`)",
        );
    }
    name
}

/// License files are read from the prepared source tree: a path that could
/// leave it is refused here, with the line.
fn check_license_files(d: &mut Decoder, files: &[Text]) {
    for f in files {
        let path = std::path::Path::new(&f.value);
        let escapes = path.is_absolute()
            || f.value.is_empty()
            || path
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
        if escapes {
            d.invalid(
                f.span,
                "license file",
                "not a relative path inside the source tree",
                "name files of the prepared source tree, like `license-files \"COPYING\" \"doc/LICENSE.md\"`",
            );
        }
    }
}

/// A `source-date-epoch` value: decimal seconds, from 1980 (the earliest
/// time a zip entry holds) to the year 9999.
pub fn parse_epoch(text: &str) -> Option<u64> {
    let n: u64 = text.parse().ok().filter(|_| text.bytes().all(|b| b.is_ascii_digit()))?;
    (315_532_800..=253_402_300_799).contains(&n).then_some(n)
}

fn parse_build(d: &mut Decoder, node: &KdlNode) -> Option<RawBuild> {
    d.check_props(node, &[]);
    d.check_max_args(node, 1);
    let kind_text = match d.positional(node).first() {
        Some(e) => d.entry_string("build", e)?,
        None => {
            d.missing(node.span(), "a build kind", "`build`", "write `build autotools { … }`");
            return None;
        }
    };
    let Some(kind) = BuildKind::parse(&kind_text.value) else {
        let names: Vec<&str> = BuildKind::ALL.iter().map(|k| k.name()).collect();
        let help = match super::error::closest(&kind_text.value, names.iter().copied()) {
            Some(c) => format!("did you mean `{c}`? build kinds: {}", names.join(", ")),
            None => format!("build kinds: {}", names.join(", ")),
        };
        d.errors.push(RecipeError::UnknownBuildKind {
            src: d.file.named(),
            span: kind_text.span,
            kind: kind_text.value,
            help,
        });
        return None;
    };
    let mut build = RawBuild {
        span: node.span(),
        kind: Spanned::new(kind, kind_text.span),
        options: Vec::new(),
        env: Vec::new(),
    };
    let mut seen = Vec::new();
    for child in node.children().map(|c| c.nodes()).unwrap_or_default() {
        let name = child.name().value();
        if name == "env" {
            build.env.extend(d.string_props(child));
            continue;
        }
        let Some(spec) = kind.option(name) else {
            let mut known: Vec<&str> = kind.options().map(|o| o.name).collect();
            known.push("env");
            d.unknown_node(child, &format!("`build {kind}`"), &known);
            continue;
        };
        let value = match spec.shape {
            OptionShape::Bool => d
                .once(&mut seen, child)
                .then(|| d.single_bool(child))
                .flatten()
                .map(RawOptionValue::Bool),
            OptionShape::Str => d
                .once(&mut seen, child)
                .then(|| d.single_string(child))
                .flatten()
                .map(RawOptionValue::Str),
            OptionShape::List => Some(RawOptionValue::List(d.strings(child))),
        };
        if let (Some(RawOptionValue::Str(dir)), "subdir") = (&value, name) {
            super::tree_path::check(d, "subdir", dir);
        }
        if let Some(value) = value {
            let name = Spanned::new(name.to_string(), child.name().span());
            // Repeated list nodes append to the first one.
            match (build.options.iter_mut().find(|o| o.name.value == name.value), value) {
                (
                    Some(RawOption {
                        value: RawOptionValue::List(existing),
                        ..
                    }),
                    RawOptionValue::List(more),
                ) => existing.extend(more),
                (_, value) => build.options.push(RawOption { name, value }),
            }
        }
    }
    Some(build)
}

fn parse_resources(d: &mut Decoder, node: &KdlNode) -> RawResources {
    d.check_props(node, &[]);
    d.check_max_args(node, 0);
    let mut resources = RawResources {
        span: node.span(),
        cores: None,
    };
    let mut seen = Vec::new();
    for child in node.children().map(|c| c.nodes()).unwrap_or_default() {
        match child.name().value() {
            "cores" => {
                if d.once(&mut seen, child) {
                    resources.cores = d.single_int(child, 1, MAX_CORES);
                }
            }
            _ => d.unknown_node(child, "`resources`", RESOURCE_NODES),
        }
    }
    resources
}

fn parse_test(d: &mut Decoder, node: &KdlNode) -> RawTest {
    d.check_props(node, &[]);
    d.check_max_args(node, 0);
    let mut test = RawTest {
        span: node.span(),
        steps: Vec::new(),
        requires: Vec::new(),
    };
    for child in node.children().map(|c| c.nodes()).unwrap_or_default() {
        let kind = match child.name().value() {
            "run" => TestStepKind::Run,
            "python" => TestStepKind::Python,
            "requires" => {
                test.requires.extend(d.strings(child));
                continue;
            }
            _ => {
                d.unknown_node(child, "`test`", TEST_NODES);
                continue;
            }
        };
        if let Some(command) = d.single_string(child) {
            test.steps.push(RawTestStep { kind, command });
        }
    }
    if test.steps.is_empty() {
        d.missing(
            node.span(),
            "a step",
            "`test`",
            "add `run \"…\"` or `python \"tests/x.py\"`",
        );
    }
    test
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RawRecipe, RecipeErrors> {
        parse_recipe(SourceFile::new("t/recipe.kdl", text), Path::new("/nonexistent"))
    }

    fn kinds(text: &str) -> Vec<&'static str> {
        match parse(text) {
            Ok(_) => vec![],
            Err(e) => e.errors.iter().map(|e| e.kind()).collect(),
        }
    }

    #[test]
    fn license_files_are_repeatable_relative_paths_inside_the_tree() {
        let r = parse(
            "package z {\n version \"1\"\n license-files \"LICENSE\" \"doc/NOTICE\"\n license-files \"./COPYING\"\n}\nbuild make\n",
        )
        .expect("valid");
        let files: Vec<&str> = r.license_files.iter().map(|f| f.value.as_str()).collect();
        assert_eq!(files, ["LICENSE", "doc/NOTICE", "./COPYING"]);
        for bad in ["../LICENSE", "/etc/passwd", "doc/../../x", ""] {
            let text = format!("package z {{\n version \"1\"\n license-files \"{bad}\"\n}}\nbuild make\n");
            let err = parse(&text).expect_err(bad);
            let RecipeError::InvalidValue { span, what, .. } = &err.errors[0] else {
                panic!("{err:?}")
            };
            assert_eq!(what, "license file");
            assert_eq!(&text[span.offset()..span.offset() + span.len()], format!("\"{bad}\""));
        }
    }

    #[test]
    fn parses_a_full_recipe() {
        let r = parse(
            r#"
package dqlite {
    version "1.18.7"
    license "LGPL-3.0-only"
}
source "https://example.invalid/v{{ version }}.tar.gz" {
    file "dqlite_{{ version }}.orig.tar.gz"
    sha256 "cf244ef937d419edd93aed3960d8222b38f09af82acca78fde586c3d04c35a52"
    mirror debian package=dqlite
    strip-components 1
}
patch "patches/a.patch" "patches/b.patch"
depends libuv sqlite
depends lz4
build autotools {
    autoreconf #true
    configure "--enable-static"
    configure "--with-pic"
    env CFLAGS="-O2"
}
test {
    run "$RUN ./x"
}
"#,
        )
        .expect("valid recipe");
        assert_eq!(r.name.value, "dqlite");
        assert_eq!(r.version.value, "1.18.7");
        assert_eq!(r.depends.len(), 3);
        assert_eq!(r.patches.len(), 2);
        assert_eq!(r.sources[0].mirrors.len(), 1);
        let build = r.build;
        assert_eq!(build.kind.value, BuildKind::Autotools);
        match &build.options[1].value {
            RawOptionValue::List(l) => assert_eq!(l.len(), 2),
            other => panic!("{other:?}"),
        }
        assert_eq!(build.env[0].0.value, "CFLAGS");
    }

    #[test]
    fn reports_several_errors_at_once() {
        let k = kinds("package x {\n}\nfrobnicate 1\nbuild ninja\n");
        assert!(k.contains(&"missing-field"), "{k:?}");
        assert!(k.contains(&"unknown-node"), "{k:?}");
        assert!(k.contains(&"unknown-build-kind"), "{k:?}");
    }

    #[test]
    fn rejects_bad_hashes_and_unknown_options() {
        assert_eq!(
            kinds("package x { version \"1\" }\nsource \"http://a/b\" { sha256 \"abc\" }\nbuild make\n"),
            ["bad-sha256"]
        );
        assert_eq!(
            kinds("package x { version \"1\" }\nbuild make { configure \"x\" }\n"),
            ["unknown-node"]
        );
        assert_eq!(
            kinds("package x { version \"1\" }\nsource \"http://a/b\" colour=1\nbuild make\n"),
            ["unknown-property"]
        );
        assert_eq!(
            kinds("package x { version \"1\" }\nbuild make\nbuild make\n"),
            ["duplicate"]
        );
        // A misspelt origin is one error, not also "missing a URL".
        assert_eq!(
            kinds("package x { version \"1\" }\nsource pypy=\"x\"\nbuild make\n"),
            ["unknown-property"]
        );
    }

    #[test]
    fn resources_ask_for_cores_with_spans() {
        let r = parse("package x { version \"1\" }\nbuild make\nresources {\n    cores 4\n}\n").expect("valid");
        assert_eq!(r.resources.and_then(|r| r.cores).map(|c| c.value), Some(4));
        let text = "package x { version \"1\" }\nbuild make\nresources { cores 0; }\n";
        let err = parse(text).expect_err("0 cores");
        let RecipeError::InvalidValue { span, what, .. } = &err.errors[0] else {
            panic!("{err:?}")
        };
        assert_eq!(
            (what.as_str(), &text[span.offset()..span.offset() + span.len()]),
            ("cores", "0")
        );
        assert_eq!(
            kinds("package x { version \"1\" }\nbuild make\nresources { cpus 2; }\n"),
            ["unknown-node"]
        );
        assert_eq!(
            kinds("package x { version \"1\" }\nbuild make\nresources { cores \"2\"; }\n"),
            ["wrong-type"]
        );
        assert_eq!(
            kinds("package x { version \"1\" }\nbuild make\nresources { cores 2; cores 3; }\n"),
            ["duplicate"]
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(is_valid_name("dqlitepy-shim"));
        assert!(!is_valid_name("Bad Name"));
        assert!(!is_valid_name("-x"));
    }
}
