//! Golden snapshots of recipe diagnostics, produced by the real binary on small
//! broken projects. Each test also checks the exit code and that the report
//! names the file and the line of the problem.

use crate::support::project;

use project::{Project, SHA, valid_recipe};

/// Runs `args`, checks the exit code and that stderr points at `location`
/// (`file:line:`), and snapshots stderr.
macro_rules! check {
    ($name:literal, $project:expr, $args:expr, code = $code:expr, at = $location:expr $(,)?) => {{
        let out = $project.run($args);
        out.code($code).stderr_contains($location);
        insta::assert_snapshot!($name, out.stderr);
        out
    }};
}

const PKG: &str = "package foo {\n    version \"1.0.0\"\n    license \"MIT\"\n}\n";

fn foo(rest: &str) -> Project {
    Project::new().recipe("foo", &format!("{PKG}{rest}"))
}

#[test]
fn kdl_syntax_error() {
    check!(
        "kdl_syntax_error",
        Project::new().recipe(
            "foo",
            "package foo {\n    version \"1.0.0\"\n}\nbuild make {\n    make \"all\n}\n"
        ),
        &["lint"],
        code = 1,
        at = "recipes/foo/recipe.kdl:5:",
    );
}

#[test]
fn kdl1_bare_boolean_suggests_hash_true() {
    let out = check!(
        "kdl1_bare_boolean",
        foo("build autotools {\n    autoreconf true\n}\n"),
        &["lint"],
        code = 1,
        at = "recipes/foo/recipe.kdl:6:",
    );
    out.stderr_contains("#true");
}

#[test]
fn unknown_top_level_node_suggests_closest() {
    let out = check!(
        "unknown_top_level_node",
        foo("dependz libuv\nbuild make\n"),
        &["lint"],
        code = 1,
        at = "recipes/foo/recipe.kdl:5:",
    );
    out.stderr_contains("did you mean `depends`?");
}

#[test]
fn unknown_property_suggests_closest() {
    let out = check!(
        "unknown_property",
        foo(&format!(
            "source pypy=\"foo\" {{\n    sha256 \"{SHA}\"\n}}\nbuild make\n"
        )),
        &["lint"],
        code = 1,
        at = "recipes/foo/recipe.kdl:5:",
    );
    out.stderr_contains("did you mean `pypi`?");
}

#[test]
fn unknown_build_option_for_the_kind() {
    let out = check!(
        "unknown_build_option",
        foo("build make {\n    configure \"--enable-foo\"\n}\n"),
        &["lint"],
        code = 1,
        at = "recipes/foo/recipe.kdl:6:",
    );
    out.stderr_contains("`build make`");
}

#[test]
fn a_go_build_mode_is_checked_when_rendered() {
    let out = check!(
        "unknown_go_mode",
        foo("build go {\n    mode \"plugin\"\n}\n"),
        &["lint"],
        code = 1,
        at = "recipes/foo/recipe.kdl:6:",
    );
    out.stderr_contains("`plugin` is not one of c-shared, c-archive, exe");
}

#[test]
fn unknown_build_kind_suggests_closest() {
    let out = check!(
        "unknown_build_kind",
        foo("build autotool {\n    configure \"--x\"\n}\n"),
        &["lint"],
        code = 1,
        at = "recipes/foo/recipe.kdl:5:",
    );
    out.stderr_contains("did you mean `autotools`?");
}

#[test]
fn missing_version() {
    check!(
        "missing_version",
        Project::new().recipe("foo", "package foo {\n    license \"MIT\"\n}\nbuild make\n"),
        &["lint"],
        code = 1,
        at = "recipes/foo/recipe.kdl:1:",
    );
}

#[test]
fn missing_package_node() {
    check!(
        "missing_package_node",
        Project::new().recipe("foo", "// no package node\nbuild make\n"),
        &["lint"],
        code = 1,
        at = "recipes/foo/recipe.kdl:1:",
    );
}

#[test]
fn duplicate_node_points_at_both() {
    let out = check!(
        "duplicate_node",
        foo("build make\nbuild autotools\n"),
        &["lint"],
        code = 1,
        at = "recipes/foo/recipe.kdl:5:",
    );
    out.stderr_contains("first defined here");
}

#[test]
fn bad_sha256_wrong_length() {
    check!(
        "bad_sha256_length",
        foo("source \"https://example.invalid/foo.tar.gz\" {\n    sha256 \"cf244ef937d4\"\n}\nbuild make\n"),
        &["lint"],
        code = 1,
        at = "recipes/foo/recipe.kdl:6:",
    )
    .stderr_contains("12 characters, expected 64");
}

#[test]
fn bad_sha256_not_hex() {
    let not_hex = SHA.replace('c', "x");
    check!(
        "bad_sha256_not_hex",
        foo(&format!(
            "source \"https://example.invalid/foo.tar.gz\" {{\n    sha256 \"{not_hex}\"\n}}\nbuild make\n"
        )),
        &["lint"],
        code = 1,
        at = "recipes/foo/recipe.kdl:6:",
    )
    .stderr_contains("not hexadecimal");
}

#[test]
fn undefined_template_variable_has_caret_under_it() {
    let out = check!(
        "undefined_template_variable",
        foo(&format!(
            "source \"https://example.invalid/foo-{{{{ target.triplet }}}}.tar.gz\" {{\n    sha256 \"{SHA}\"\n}}\nbuild make\n"
        )),
        &["show", "foo", "--target", "armv7hf"],
        code = 1,
        at = "recipes/foo/recipe.kdl:5:",
    );
    // The caret line underlines exactly the expression.
    let source_line = out
        .stderr
        .lines()
        .position(|l| l.contains("source \"https://"))
        .expect("source line quoted");
    let carets = out.stderr.lines().nth(source_line + 1).expect("caret line");
    let line = out.stderr.lines().nth(source_line).expect("line");
    let start = line.find("target.triplet").expect("expression");
    let underline: String = carets.chars().skip(start).take("target.triplet".len()).collect();
    assert!(
        underline.chars().all(|c| c != ' '),
        "caret not under the variable:\n{line}\n{carets}"
    );
}

#[test]
fn unknown_dependency_suggests_closest() {
    let out = check!(
        "unknown_dependency",
        Project::new()
            .recipe("libuv", &valid_recipe("libuv", &[]))
            .recipe("foo", &valid_recipe("foo", &["libuvv"])),
        &["graph", "foo", "--target", "armv7hf"],
        code = 1,
        at = "recipes/foo/recipe.kdl:8:",
    );
    out.stderr_contains("did you mean `libuv`?");
}

#[test]
fn dependency_cycle_names_every_package() {
    let out = check!(
        "dependency_cycle",
        Project::new()
            .recipe("app", &valid_recipe("app", &["alpha"]))
            .recipe("alpha", &valid_recipe("alpha", &["beta"]))
            .recipe("beta", &valid_recipe("beta", &["gamma"]))
            .recipe("gamma", &valid_recipe("gamma", &["alpha"])),
        &["graph", "app", "--target", "armv7hf"],
        code = 1,
        at = "recipe.kdl:8:",
    );
    for name in ["alpha", "beta", "gamma"] {
        out.stderr_contains(name);
    }
}

#[test]
fn missing_patch_file() {
    check!(
        "missing_patch_file",
        foo(&format!(
            "source \"https://example.invalid/foo.tar.gz\" {{\n    sha256 \"{SHA}\"\n}}\npatch \"patches/0001-fix.patch\"\nbuild make\n"
        )),
        &["lint"],
        code = 1,
        at = "recipes/foo/recipe.kdl:8:",
    )
    .stderr_contains("patches/0001-fix.patch");
}

#[test]
fn package_name_differs_from_directory() {
    check!(
        "name_mismatch",
        Project::new().recipe("foo", &valid_recipe("bar", &[])),
        &["lint"],
        code = 1,
        at = "recipes/foo/recipe.kdl:1:",
    )
    .stderr_contains("recipes/bar/");
}

#[test]
fn quoted_boolean_is_a_type_error() {
    check!(
        "wrong_value_type",
        foo("build autotools {\n    autoreconf \"true\"\n}\n"),
        &["lint"],
        code = 1,
        at = "recipes/foo/recipe.kdl:6:",
    )
    .stderr_contains("#true");
}

#[test]
fn missing_sha256_is_a_lint_error() {
    check!(
        "missing_sha256",
        foo("source \"https://example.invalid/foo.tar.gz\"\nbuild make\n"),
        &["lint"],
        code = 1,
        at = "recipes/foo/recipe.kdl:5:",
    )
    .stderr_contains("sha256");
}

#[test]
fn unknown_target_on_the_command_line_is_a_usage_error() {
    let out = Project::new()
        .recipe("foo", &valid_recipe("foo", &[]))
        .run(&["graph", "foo", "--target", "armv7h"]);
    out.code(2).stderr_contains("did you mean `armv7hf`?");
    insta::assert_snapshot!("unknown_target", out.stderr);
}

#[test]
fn unknown_package_on_the_command_line_is_a_usage_error() {
    let out = Project::new()
        .recipe("foo", &valid_recipe("foo", &[]))
        .run(&["show", "fooo", "--target", "armv7hf"]);
    out.code(2).stderr_contains("did you mean `foo`?");
    insta::assert_snapshot!("unknown_package", out.stderr);
}

#[test]
fn several_problems_are_reported_in_one_run() {
    let out = Project::new()
        .recipe("foo", "package foo {\n}\nfrobnicate 1\nbuild ninja\n")
        .recipe("bar", &valid_recipe("bar", &[]))
        .run(&["lint"]);
    out.code(1)
        .stderr_contains("3 problems found")
        .stderr_contains("recipes/foo/recipe.kdl:1:")
        .stderr_contains("recipes/foo/recipe.kdl:3:")
        .stderr_contains("recipes/foo/recipe.kdl:4:");
}

#[test]
fn diagnostics_are_the_same_from_the_parse_cache() {
    // The recipe parses (so the second run takes it from the parse cache) but
    // fails to render: spans must still point into the file.
    let p = foo(&format!(
        "source \"https://example.invalid/foo-{{{{ nope }}}}.tar.gz\" {{\n    sha256 \"{SHA}\"\n}}\nbuild make\n"
    ));
    let first = p.run(&["show", "foo", "--target", "armv7hf"]);
    first.code(1).stderr_contains("recipes/foo/recipe.kdl:5:40");
    let second = p.run(&["show", "foo", "--target", "armv7hf"]);
    second.code(1);
    assert_eq!(first.stderr, second.stderr);
}

// ---- Bounded input (issue 10, section 4) ----

/// A valid recipe followed by `levels` nested children blocks, one per line,
/// commented out with `/-` (the parser still reads them).
fn nested_recipe(name: &str, levels: usize) -> String {
    format!(
        "package {name} {{\n    version \"1\"\n    license \"MIT\"\n}}\nbuild make\n/-{}{}",
        "a {\n".repeat(levels),
        "}\n".repeat(levels)
    )
}

#[test]
fn deeply_nested_recipe_is_refused_and_others_still_load() {
    let p = Project::new()
        .recipe("deep", &nested_recipe("deep", 20_000))
        .recipe("ok", &valid_recipe("ok", &[]));
    let started = std::time::Instant::now();
    // `list` skips broken recipes with a warning, as for any other broken recipe.
    p.run(&["list"])
        .code(0)
        .stdout_contains("ok ")
        .stderr_contains("recipes/deep/recipe.kdl has errors");
    assert!(started.elapsed().as_secs() < 10, "took {:?}", started.elapsed());
    // 64 levels are allowed: the 65th, on line 70, crosses the limit.
    check!(
        "nesting_too_deep",
        p,
        &["lint", "deep"],
        code = 1,
        at = "recipes/deep/recipe.kdl:70:",
    );
    p.run(&["lint"]).code(1).stderr_contains("1 problem found");
}

#[test]
fn nesting_up_to_the_limit_is_fine() {
    Project::new()
        .recipe("deep", &nested_recipe("deep", 64))
        .run(&["lint"])
        .code(0);
}

#[test]
fn hostile_comments_and_slashdashes_do_not_crash() {
    // Each of these overflowed the kdl parser's stack in a few kilobytes.
    let head = "package x {\n    version \"1\"\n}\nbuild make\n";
    for (what, body) in [
        ("nested comments", "/*".repeat(20_000)),
        ("a long comment", format!("/*{} */", " *".repeat(20_000))),
        ("slashdashes", format!("{}a\n", "/- ".repeat(20_000))),
        ("stray braces", "}".repeat(20_000)),
        ("stray parens", format!("a {}\n", ")".repeat(20_000))),
        ("equals signs", format!("a {}\n", "=".repeat(20_000))),
        ("type annotations", format!("{}a\n", "(t)".repeat(20_000))),
    ] {
        let out = Project::new()
            .recipe("x", &format!("{head}{body}"))
            .recipe("ok", &valid_recipe("ok", &[]))
            .run(&["list"]);
        assert_eq!(out.code, 0, "{what}: {}", out.stderr);
        out.stdout_contains("ok ")
            .stderr_contains("recipes/x/recipe.kdl has errors");
    }
}

/// Found by fuzzing: malformed text inside commented-out blocks nested in
/// each other took the KDL parser 13 s for 1.4 KB (fourfold per level).
#[test]
fn nested_commented_out_blocks_are_refused_before_the_parser() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/fuzz/recipe_text-slashdashed-blocks-timeout.kdl"),
    )
    .expect("fixture");
    let p = Project::new().recipe("x", &text).recipe("ok", &valid_recipe("ok", &[]));
    p.run(&["list"]).code(0).stdout_contains("ok ");
    p.run(&["lint", "x"])
        .code(1)
        .stderr_contains("commented-out (`/-`) children blocks are nested more than 3 deep")
        .stderr_contains("recipes/x/recipe.kdl:");
}

/// Found by fuzzing: 2 KB the kdl crate's error recovery takes 18 s on,
/// which the shape check cannot see; the parse is bounded in time instead.
#[test]
fn a_parse_that_overruns_its_time_is_a_diagnostic_and_others_still_load() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/fuzz/recipe_text-slashdash-strings-timeout.kdl"),
    )
    .expect("fixture");
    let p = Project::new().recipe("x", &text).recipe("ok", &valid_recipe("ok", &[]));
    p.run(&["list"]).code(0).stdout_contains("ok ");
    p.run(&["lint", "x"])
        .code(1)
        .stderr_contains("the KDL parser did not finish within 2 s")
        .stderr_contains("recipes/x/recipe.kdl");
}

#[test]
fn oversized_recipe_is_refused() {
    let big = format!("{}// {}\n", valid_recipe("big", &[]), "x".repeat(256 << 10));
    let p = Project::new()
        .recipe("big", &big)
        .recipe("ok", &valid_recipe("ok", &[]));
    p.run(&["list"]).code(0).stdout_contains("ok ");
    check!(
        "recipe_too_large",
        p,
        &["lint", "big"],
        code = 1,
        at = "recipes/big/recipe.kdl",
    )
    .stderr_contains("256 KiB");
}

#[test]
fn non_utf8_recipe_names_the_byte_offset() {
    let mut bytes = valid_recipe("bin", &[]).into_bytes();
    let at = bytes.iter().position(|b| *b == b'M').expect("license"); // in "MIT"
    bytes[at] = 0xff;
    let p = Project::new()
        .file_bytes("recipes/bin/recipe.kdl", &bytes)
        .recipe("ok", &valid_recipe("ok", &[]));
    p.run(&["list"]).code(0).stdout_contains("ok ");
    check!(
        "recipe_not_utf8",
        p,
        &["lint", "bin"],
        code = 1,
        at = "recipes/bin/recipe.kdl:3:",
    )
    .stderr_contains(&format!("byte offset {at}"));
}

#[test]
fn runaway_template_ends_with_a_diagnostic() {
    let p = foo(
        "build script {\n    step \"{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}\"\n}\n",
    );
    let started = std::time::Instant::now();
    check!(
        "template_out_of_fuel",
        p,
        &["show", "foo", "--target", "armv7hf"],
        code = 1,
        at = "recipes/foo/recipe.kdl:6:",
    );
    assert!(started.elapsed().as_secs() < 10, "took {:?}", started.elapsed());
}

#[test]
fn oversized_template_output_is_refused() {
    foo("build script {\n    step \"{{ 'x' * 50000000 }}\"\n}\n")
        .run(&["show", "foo", "--target", "armv7hf"])
        .code(1)
        .stderr_contains("recipes/foo/recipe.kdl:6:")
        .stderr_contains("renders to more than");
}

#[test]
fn source_dest_and_subdir_stay_inside_the_tree() {
    check!(
        "dest_escapes_tree",
        foo(&format!(
            "source \"https://example.invalid/foo.tar.gz\" {{\n    sha256 \"{SHA}\"\n    dest \"../../elsewhere\"\n}}\nbuild make {{\n    subdir \"/usr/src\"\n}}\n"
        )),
        &["lint"],
        code = 1,
        at = "recipes/foo/recipe.kdl:7:",
    )
    .stderr_contains("recipes/foo/recipe.kdl:10:");
    // A template that renders to an escaping path is caught after rendering.
    foo("build make {\n    subdir \"{{ target.name }}/../../..\"\n}\n")
        .run(&["show", "foo", "--target", "armv7hf"])
        .code(1)
        .stderr_contains("recipes/foo/recipe.kdl:6:")
        .stderr_contains("`..`");
}

/// A project whose only target file is `text`.
fn with_target(file: &str, text: &str) -> Project {
    Project::bare()
        .file(&format!("toolchains/{file}"), text)
        .file("sysroots/test-sysroot.kdl", project::SYSROOT)
        .recipe("ok", &valid_recipe("ok", &[]))
}

#[test]
fn target_name_must_be_a_safe_path_component() {
    for bad in ["../evil", ".hidden", "a/b", ""] {
        let text = project::TARGET.replace("target armv7hf", &format!("target \"{bad}\""));
        with_target("armv7hf.kdl", &text)
            .run(&["list"])
            .code(1)
            .stderr_contains("toolchains/armv7hf.kdl:1:")
            .stderr_contains("invalid target name");
    }
    check!(
        "target_name_unsafe",
        with_target(
            "armv7hf.kdl",
            &project::TARGET.replace("target armv7hf", "target \"../../x\"")
        ),
        &["list"],
        code = 1,
        at = "toolchains/armv7hf.kdl:1:",
    );
}

#[test]
fn target_arch_names_come_from_known_sets() {
    for (from, to, hint) in [
        ("arch \"arm\"", "arch \"armv7\"", "did you mean `arm`?"),
        (
            "debian-arch \"armhf\"",
            "debian-arch \"armfh\"",
            "did you mean `armhf`?",
        ),
        ("elf machine=\"arm\"", "elf machine=\"amr\"", "did you mean `arm`?"),
    ] {
        with_target("armv7hf.kdl", &project::TARGET.replace(from, to))
            .run(&["list"])
            .code(1)
            .stderr_contains("toolchains/armv7hf.kdl:")
            .stderr_contains(hint);
    }
    check!(
        "target_unknown_debian_arch",
        with_target(
            "armv7hf.kdl",
            &project::TARGET.replace("debian-arch \"armhf\"", "debian-arch \"armfh\"")
        ),
        &["list"],
        code = 1,
        at = "toolchains/armv7hf.kdl:4:",
    );
}

#[test]
fn duplicate_target_names_are_an_error() {
    check!(
        "duplicate_target",
        with_target("armv7hf.kdl", project::TARGET).file("toolchains/zz-copy.kdl", project::TARGET),
        &["list"],
        code = 1,
        at = "toolchains/zz-copy.kdl:1:",
    )
    .stderr_contains("toolchains/armv7hf.kdl");
}
