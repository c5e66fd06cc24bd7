//! Happy paths and exit codes of the real binary, on the repository's own
//! recipes and on synthetic projects.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::project::{Output, Project, SHA, TARGET, recipe_cmd, repo_root, valid_recipe};

/// Runs the binary in the repository root (project found by walking up).
fn in_repo(args: &[&str]) -> Output {
    let mut cmd = recipe_cmd(&repo_root());
    cmd.args(args);
    Output::new(cmd, None)
}

/// The reference graph: package → its direct dependencies. Names ending in
/// `@host` are host tools (built for the build machine).
const REFERENCE: &[(&str, &[&str])] = &[
    ("dqlitepy", &["dqlitepy-shim"]),
    ("dqlitepy-shim", &["dqlite", "go-dqlite"]),
    (
        "dqlite",
        &[
            "libuv",
            "lz4",
            "sqlite",
            "automake@host",
            "libtool@host",
            "pkgconf@host",
        ],
    ),
    ("go-dqlite", &[]),
    ("libuv", &["automake@host", "libtool@host", "pkgconf@host"]),
    ("lz4", &[]),
    ("sqlite", &["pkgconf@host"]),
    ("automake@host", &["autoconf@host"]),
    ("autoconf@host", &["m4@host"]),
    ("libtool@host", &["m4@host"]),
    ("m4@host", &[]),
    ("pkgconf@host", &[]),
];

/// `name@host` → (`name`, `host`); plain names are for armv7hf.
fn node_id(n: &str) -> String {
    if n.contains('@') {
        n.to_string()
    } else {
        format!("{n}@armv7hf")
    }
}

fn bare(n: &str) -> &str {
    n.split('@').next().unwrap_or(n)
}

#[test]
fn list_shows_the_real_recipes() {
    let out = in_repo(&["list"]);
    out.code(0);
    let mut lines = out.stdout.lines();
    let header: Vec<&str> = lines.next().expect("header").split_whitespace().collect();
    assert_eq!(header, ["NAME", "VERSION", "BUILD", "LICENSE"]);
    let rows: BTreeMap<&str, Vec<&str>> = lines
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            (cells[0], cells[1..].to_vec())
        })
        .collect();
    for (name, version, kind) in [
        ("dqlite", "1.18.7", "autotools"),
        ("raft", "0.22.1", "autotools"),
        ("libuv", "1.50.0", "autotools"),
        ("lz4", "1.10.0", "make"),
        ("sqlite", "3.46.1", "autotools"),
        ("go-dqlite", "2.0.0", "script"),
        ("dqlitepy-shim", "0.1.0", "go"),
        ("dqlitepy", "0.1.0", "python-wheel"),
    ] {
        let row = rows
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing:\n{}", out.stdout));
        assert_eq!(&row[..2], [version, kind], "{name}");
        assert!(row.len() >= 3, "{name} has no license");
    }
    let names: Vec<&&str> = rows.keys().collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "rows are sorted by name");
}

#[test]
fn list_works_from_a_subdirectory_and_with_relative_recipes() {
    let mut cmd = recipe_cmd(&repo_root().join("recipes").join("dqlite"));
    cmd.arg("list");
    Output::new(cmd, None).code(0).stdout_contains("dqlitepy-shim");
    in_repo(&["--recipes", "recipes", "list"])
        .code(0)
        .stdout_contains("libuv");
}

#[test]
fn graph_prints_the_reference_graph() {
    let out = in_repo(&["graph", "dqlitepy", "--target", "armv7hf"]);
    out.code(0);
    let (tree, order) = out.stdout.split_once("\nbuild order:\n").expect("two sections");
    assert!(tree.starts_with("dqlitepy 0.1.0 (python-wheel)  [armv7hf]\n"), "{tree}");
    for (name, _) in REFERENCE {
        assert!(
            tree.contains(&format!("── {} ", bare(name))) || *name == "dqlitepy",
            "{name} not in tree:\n{tree}"
        );
    }
    // Build order: numbered, each package once, dependencies first.
    let order: Vec<&str> = order
        .lines()
        .map(|l| l.split_whitespace().nth(1).expect("name"))
        .collect();
    let position = |n: &str| {
        order
            .iter()
            .position(|o| *o == n)
            .unwrap_or_else(|| panic!("{n} not in order"))
    };
    assert_eq!(order.len(), REFERENCE.len(), "{order:?}");
    for (name, deps) in REFERENCE {
        for dep in *deps {
            assert!(
                position(bare(dep)) < position(bare(name)),
                "{dep} must come before {name}: {order:?}"
            );
        }
    }
    assert!(!order.contains(&"raft"), "dqlite bundles raft: {order:?}");
}

/// Parses our DOT output strictly: node declarations and edges, nothing else.
fn parse_dot(dot: &str) -> (BTreeSet<String>, BTreeSet<(String, String)>) {
    let mut lines = dot.lines();
    assert_eq!(lines.next(), Some("digraph recipe {"));
    assert_eq!(dot.lines().last(), Some("}"));
    let quoted = |s: &str| -> String {
        let s = s.trim();
        assert!(
            s.starts_with('"') && s.ends_with('"') && s.len() >= 2,
            "not quoted: {s}"
        );
        s[1..s.len() - 1].to_string()
    };
    let mut nodes = BTreeSet::new();
    let mut edges = BTreeSet::new();
    for line in lines.filter(|l| *l != "}") {
        let line = line.trim();
        assert!(line.ends_with(';'), "statement without `;`: {line}");
        let stmt = line.trim_end_matches(';');
        if matches!(stmt, "rankdir=LR" | "node [shape=box]") {
            continue;
        }
        if let Some((from, to)) = stmt.split_once(" -> ") {
            let to = to.split(" [").next().expect("target");
            edges.insert((quoted(from), quoted(to)));
        } else {
            let (id, attrs) = stmt.split_once(" [label=").expect("node with label");
            assert!(attrs.ends_with("\"]"), "{stmt}");
            nodes.insert(quoted(id));
        }
    }
    for (a, b) in &edges {
        assert!(
            nodes.contains(a) && nodes.contains(b),
            "edge to undeclared node: {a} -> {b}"
        );
    }
    (nodes, edges)
}

#[test]
fn graph_dot_is_valid_and_has_every_edge() {
    let out = in_repo(&["graph", "dqlitepy", "--target", "armv7hf", "--format", "dot"]);
    out.code(0);
    let (nodes, edges) = parse_dot(&out.stdout);
    let expected_nodes: BTreeSet<String> = REFERENCE.iter().map(|(n, _)| node_id(n)).collect();
    assert_eq!(nodes, expected_nodes);
    let expected_edges: BTreeSet<(String, String)> = REFERENCE
        .iter()
        .flat_map(|(n, deps)| deps.iter().map(move |d| (node_id(n), node_id(d))))
        .collect();
    assert_eq!(edges, expected_edges);
}

#[test]
fn show_renders_versions_and_target_values() {
    let out = in_repo(&["show", "dqlite", "--target", "armv7hf"]);
    out.code(0)
        .stdout_contains("version \"1.18.7\"")
        .stdout_contains("https://github.com/canonical/dqlite/archive/v1.18.7.tar.gz")
        .stdout_contains("dqlite_1.18.7.orig.tar.gz")
        .stdout_contains("target armv7hf")
        .stdout_contains("depends libuv sqlite lz4");
    assert!(!out.stdout.contains("{{"), "unrendered template:\n{}", out.stdout);
    // The rendered recipe is itself valid KDL 2.
    out.stdout.parse::<kdl::KdlDocument>().expect("show prints valid KDL");

    let wheel = in_repo(&["show", "dqlitepy", "--target", "aarch64"]);
    wheel.code(0).stdout_contains("dqlitepy-0.1.0.tar.gz");
    assert!(!wheel.stdout.contains("{{"), "{}", wheel.stdout);
    let armv7 = in_repo(&["show", "dqlitepy", "--target", "armv7hf"]);
    assert_ne!(wheel.stdout, armv7.stdout, "lib-dir depends on the target");
}

#[test]
fn help_shows_examples() {
    let out = in_repo(&["--help"]);
    out.code(0)
        .stdout_contains("Examples:")
        .stdout_contains("recipe graph dqlitepy --target armv7hf")
        .stdout_contains("--recipes <DIR>")
        .stdout_contains("--cache <DIR>");
    for (sub, example) in [
        ("list", "recipe list"),
        ("show", "recipe show dqlite --target armv7hf"),
        ("graph", "--format dot"),
        ("lint", "recipe lint dqlite libuv"),
    ] {
        in_repo(&[sub, "--help"]).code(0).stdout_contains(example);
    }
    in_repo(&["--version"]).code(0).stdout_contains("recipe ");
}

/// A project using every recipe feature, valid for lint.
fn rich_project() -> Project {
    Project::new()
        .recipe("libfoo", &valid_recipe("libfoo", &[]))
        .recipe("tool", &valid_recipe("tool", &[]))
        .recipe(
            "app",
            &format!(
                r#"package app {{
    version "2.1.0"
    license "Apache-2.0"
    homepage "https://example.invalid/app"
    summary "An app"
}}
source pypi="app" {{
    file "app-{{{{ version }}}}.tar.gz"
    sha256 "{SHA}"
    mirror "https://mirror.example.invalid/app-{{{{ version }}}}.tar.gz"
    mirror debian package="app"
    mirror pypi project="app-legacy"
    strip-components 1
}}
source path="files/shim" {{
    dest "shim"
}}
source debian="extra" {{
    file "extra_1.0.orig.tar.gz"
    sha256 "{SHA}"
    extract #false
}}
patch "patches/0001-fix.patch"
depends libfoo
host-depends tool
build python-wheel {{
    lib-dir "app/_lib/{{{{ target.python.lib_dir }}}}"
    bundle "libfoo"
    env CFLAGS="-O2 {{{{ target.cflags | join(' ') }}}}"
}}
test {{
    python "files/smoke.py"
    run "$RUN true"
    requires "python3-cffi"
}}
"#
            ),
        )
        .file("recipes/app/patches/0001-fix.patch", "--- a/x\n+++ b/x\n")
        .file("recipes/app/files/shim/main.go", "package main\n")
        .file("recipes/app/files/smoke.py", "print('ok')\n")
}

#[test]
fn lint_passes_on_a_valid_project() {
    let out = rich_project().run(&["lint"]);
    out.code(0)
        .stdout_contains("3 recipes checked for 1 target: no problems");
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    rich_project()
        .run(&["lint", "app"])
        .code(0)
        .stdout_contains("1 recipe checked");
}

#[test]
fn show_and_graph_on_a_synthetic_project() {
    let p = rich_project();
    let show = p.run(&["show", "app", "--target", "armv7hf"]);
    show.code(0)
        .stdout_contains("lib-dir \"app/_lib/linux-armv7\"")
        .stdout_contains("-march=armv7-a -mfloat-abi=hard")
        .stdout_contains("extract #false")
        .stdout_contains("mirror pypi project=app-legacy");
    let dot = p.run(&["graph", "app", "--target", "armv7hf", "--format", "dot"]);
    dot.code(0);
    let (_, edges) = parse_dot(&dot.stdout);
    assert!(edges.contains(&("app@armv7hf".into(), "tool@host".into())), "{edges:?}");
    assert!(dot.stdout.contains("\"app@armv7hf\" -> \"tool@host\" [style=dashed];"));
    p.run(&["graph", "app", "--target", "armv7hf"])
        .code(0)
        .stdout_contains("tool 1.0.0 (autotools) [host]");
}

#[test]
fn exit_codes() {
    // 0: success.
    in_repo(&["list"]).code(0);
    // 1: a recipe error.
    Project::new()
        .recipe("foo", "package foo {\n}\nbuild make\n")
        .run(&["lint"])
        .code(1);
    // 2: usage errors, from clap and from us.
    in_repo(&["graph", "dqlitepy"]).code(2).stderr_contains("--target");
    in_repo(&["frobnicate"]).code(2);
    in_repo(&["graph", "dqlitepy", "--target", "armv7hf", "--format", "svg"]).code(2);
    in_repo(&["show", "nope-nope-nope", "--target", "armv7hf"]).code(2);
    in_repo(&["show", "dqlite", "--target", "riscv"]).code(2);
    let empty = tempfile::tempdir().expect("tempdir");
    let mut cmd = recipe_cmd(empty.path());
    cmd.arg("list");
    Output::new(cmd, Some(empty.path().to_path_buf()))
        .code(2)
        .stderr_contains("--recipes DIR");
}

/// A target listing two Python versions: `show` says which wheels a PEP 517
/// recipe gets, `lint` points at a bad version line.
#[test]
fn python_versions_of_a_target_are_shown_and_linted() {
    let two = TARGET.replace(
        "python platform=\"linux_armv7l\" machine=\"armv7l\" lib-dir=\"linux-armv7\"",
        "python platform=\"linux_armv7l\" machine=\"armv7l\" lib-dir=\"linux-armv7\" {\n        version \"3.13\" suite=\"trixie\"\n        version \"3.11\" suite=\"bookworm\"\n    }",
    );
    let wheel = format!(
        "package ext {{\n    version \"1.0\"\n    license \"MIT\"\n}}\nsource pypi=\"ext\" {{\n    file \"ext-1.0.tar.gz\"\n    sha256 \"{SHA}\"\n}}\nbuild python-wheel {{\n    pep517 #true\n}}\n"
    );
    let p = Project::new()
        .file("toolchains/armv7hf.kdl", &two)
        .recipe("ext", &wheel);
    p.run(&["lint"]).code(0);
    p.run(&["show", "ext", "--target", "armv7hf"])
        .code(0)
        .stdout_contains("// wheels for armv7hf: cp311 (python3.11 from bookworm), cp313 (python3.13 from trixie)");
    let bad = two.replace(
        "version \"3.11\" suite=\"bookworm\"",
        "version \"3.x\" suite=\"bookworm\"",
    );
    Project::new()
        .file("toolchains/armv7hf.kdl", &bad)
        .run(&["lint"])
        .code(1)
        .stderr_contains("toolchains/armv7hf.kdl:9:17")
        .stderr_contains("`3.x` is not a CPython 3 version");
}
