//! Correctness of recipe steps, through the real binary: strict shell mode,
//! an empty staging dir, `$RECIPE_DIR`, `make -jN` under the shared
//! jobserver, wheel sources, and `pre-build` seeing the package's sysroot
//! (the last one cross-compiles with the provisioned armv7hf toolchain).

use crate::support::toolchain;

use crate::support::project::{Output, Project};

/// A host recipe (`--target host`: no toolchain to provision) whose build
/// runs `steps`; `extra` goes before the build node.
fn script(name: &str, extra: &str, steps: &[&str], options: &str) -> String {
    let mut text = format!("package {name} {{\n    version \"1.0\"\n    license \"MIT\"\n}}\n{extra}build script {{\n");
    for s in steps {
        text.push_str(&format!("    step {}\n", kdl_string(s)));
    }
    text.push_str(options);
    text.push_str("}\n");
    text
}

fn kdl_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn build_host(p: &Project, names: &[&str], extra: &[&str]) -> Output {
    let mut args = vec!["build", "--target", "host"];
    args.extend_from_slice(names);
    args.extend_from_slice(extra);
    p.run(&args)
}

const STAGE: &str = "mkdir -p \"$DESTDIR/usr/share\" && echo ok > \"$DESTDIR/usr/share/ok.txt\"";

#[test]
fn a_misspelt_variable_fails_the_step_and_is_named() {
    let p = Project::bare().recipe(
        "typo",
        &script("typo", "", &[STAGE, "echo installing into $DESTIDR/usr"], ""),
    );
    let out = build_host(&p, &["typo"], &[]);
    out.code(1)
        .stderr_contains("DESTIDR: unbound variable")
        .stderr_contains("`$DESTIDR` is not set")
        .stderr_contains("${DESTIDR:-}");
}

#[test]
fn a_failing_stage_of_a_pipeline_fails_the_step() {
    let p = Project::bare().recipe("pipe", &script("pipe", "", &[STAGE, "false | cat"], ""));
    build_host(&p, &["pipe"], &[]).code(1).stderr_contains("false | cat");
}

#[test]
fn an_empty_staging_dir_fails_unless_the_recipe_says_so() {
    let p = Project::bare()
        .recipe("empty", &script("empty", "", &["mkdir -p \"$DESTDIR/usr/lib\""], ""))
        .recipe("meta", &script("meta", "", &["true"], "    installs-nothing #true\n"));
    build_host(&p, &["empty"], &[])
        .code(1)
        .stderr_contains("package empty installed nothing into $DESTDIR")
        .stderr_contains("`installs-nothing");
    build_host(&p, &["meta"], &[]).code(0);
}

#[test]
fn installs_nothing_is_checked_like_every_option() {
    let p = Project::bare().recipe("meta", &script("meta", "", &["true"], "    installs-nothing \"yes\"\n"));
    p.run(&["lint", "meta"])
        .code(1)
        .stderr_contains("recipes/meta/recipe.kdl:7:22")
        .stderr_contains("`installs-nothing` expects a boolean");
}

#[test]
fn recipe_dir_is_exported_to_build_steps() {
    let p = Project::bare()
        .recipe(
            "withfiles",
            &script(
                "withfiles",
                "",
                &["install -D -m 0644 \"$RECIPE_DIR/files/data.txt\" \"$DESTDIR/usr/share/data.txt\""],
                "",
            ),
        )
        .file("recipes/withfiles/files/data.txt", "from the recipe dir\n");
    build_host(&p, &["withfiles"], &[]).code(0);
    let staged = p.path().join("build/host/withfiles/dest/usr/share/data.txt");
    assert_eq!(
        std::fs::read_to_string(&staged).expect("staged"),
        "from the recipe dir\n"
    );

    // A step reads files/: editing one rebuilds the package.
    let p = p.file("recipes/withfiles/files/data.txt", "edited\n");
    build_host(&p, &["withfiles"], &[])
        .code(0)
        .stderr_contains("built    withfiles@host");
    assert_eq!(std::fs::read_to_string(&staged).expect("staged"), "edited\n");
}

/// Three packages each run `make -j8` over six targets that record how many
/// run at once. With `-j 2` the shared jobserver must bound the total, and
/// make must not say it left the jobserver.
#[test]
fn make_jn_in_a_step_shares_the_jobserver() {
    let mut p = Project::bare();
    let active = p.path().join("active");
    let events = p.path().join("events");
    std::fs::create_dir_all(&active).expect("mkdir");
    let mut mk = String::from("all: t1 t2 t3 t4 t5 t6\n");
    for i in 1..=6 {
        mk.push_str(&format!(
            "t{i}:\n\t@touch {a}/$$$$; ls {a} | wc -l >> {e}; sleep 0.3; rm -f {a}/$$$$\n",
            a = active.display(),
            e = events.display()
        ));
    }
    p = p.file("many.mk", &mk);
    let step = format!("make -j8 -f {}", p.path().join("many.mk").display());
    for n in ["m1", "m2", "m3"] {
        p = p.recipe(n, &script(n, "", &[&step, STAGE], ""));
    }
    // The targets record into one file outside the build dirs: unconfined.
    build_host(&p, &["m1", "m2", "m3"], &["-j", "2", "--no-sandbox"]).code(0);
    let counts: Vec<usize> = std::fs::read_to_string(&events)
        .expect("events")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert_eq!(counts.len(), 18, "every make target ran once");
    assert!(counts.iter().all(|c| *c <= 2), "more than 2 jobs at once: {counts:?}");
    for n in ["m1", "m2", "m3"] {
        let log = std::fs::read_to_string(p.path().join(format!("build/host/{n}/build.log"))).expect("log");
        assert!(!log.contains("warning"), "{n}: {log}");
    }
}

fn zip_bytes(entries: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write;
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for (name, text) in entries {
        z.start_file(*name, opts).expect("entry");
        z.write_all(text.as_bytes()).expect("write");
    }
    z.finish().expect("finish").into_inner()
}

#[test]
fn wheel_and_zip_sources_are_unpacked_unless_extract_is_false() {
    let wheel = zip_bytes(&[
        ("demo/__init__.py", "VERSION = 1\n"),
        ("demo-1.0.dist-info/METADATA", "Name: demo\n"),
    ]);
    let zip = zip_bytes(&[("proj-1.0/README", "zipped\n")]);
    let sources = "source path=\"files/demo-1.0-py3-none-any.whl\"\n\
                   source path=\"files/proj-1.0.zip\" { strip-components 1; }\n\
                   source path=\"files/keep-1.0-py3-none-any.whl\" { extract #false; dest \"kept\"; }\n";
    let steps = [
        "test -f demo/__init__.py && test -f demo-1.0.dist-info/METADATA",
        "test -f README",
        "test -f kept/keep-1.0-py3-none-any.whl",
        STAGE,
    ];
    let p = Project::bare()
        .recipe("wheels", &script("wheels", sources, &steps, ""))
        .file_bytes("recipes/wheels/files/demo-1.0-py3-none-any.whl", &wheel)
        .file_bytes("recipes/wheels/files/proj-1.0.zip", &zip)
        .file_bytes("recipes/wheels/files/keep-1.0-py3-none-any.whl", &wheel);
    // The steps are the test: a store filled by an earlier run must not answer.
    build_host(&p, &["wheels"], &["--no-local-store"]).code(0);
}

/// The zlib case: a `pre-build` configure step must see the package's
/// sysroot (the C library's startup files and headers, and what its
/// dependencies installed), not run before the sysroot exists.
#[test]
fn pre_build_runs_with_the_package_sysroot() {
    use toolchain::{recipe_in, repo};
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    for (sub, file) in [("toolchains", "armv7hf.kdl"), ("sysroots", "debian-trixie.kdl")] {
        std::fs::create_dir_all(root.join(sub)).expect("mkdir");
        std::fs::copy(repo().join(sub).join(file), root.join(sub).join(file)).expect("copy");
    }
    let write = |rel: &str, text: &str| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    write(
        "recipes/hdr/recipe.kdl",
        &script(
            "hdr",
            "",
            &[
                "mkdir -p \"$DESTDIR/usr/include\" && echo '#define HDR \"from a dependency\"' > \"$DESTDIR/usr/include/hdr.h\"",
            ],
            "",
        ),
    );
    write(
        "recipes/probe/recipe.kdl",
        "package probe {\n    version \"1.0\"\n    license \"MIT\"\n}\n\
         source path=\"files\"\n\
         depends hdr\n\
         build make {\n    pre-build \"sh ./configure\"\n}\n",
    );
    // Like zlib's: links a test program with the target compiler and, when
    // that fails, silently falls back to something else.
    write(
        "recipes/probe/files/configure",
        "printf '#include <stdio.h>\\n#include <hdr.h>\\nint main(void) { puts(HDR); return 0; }\\n' > probe.c\n\
         if $CC $CFLAGS $LDFLAGS probe.c -o conftest; then echo sysroot-ok > config.status; else echo fallback > config.status; fi\n",
    );
    write(
        "recipes/probe/files/Makefile",
        "all:\n\ttest -f config.status\n\t$(CC) $(CFLAGS) probe.c -o probe\n\
         install:\n\tinstall -D probe $(DESTDIR)/usr/bin/probe\n",
    );
    let build = root.join("build");
    let out = recipe_in(
        &root.join("recipes"),
        // It reads the build tree: a store filled by an earlier run must not answer.
        &[
            "build",
            "probe",
            "--target",
            "armv7hf",
            "--no-local-store",
            "--build-dir",
        ],
    )
    .arg(&build)
    .arg("--out-dir")
    .arg(root.join("out"))
    .output()
    .expect("run recipe");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let status = build.join("armv7hf/probe/src/config.status");
    assert_eq!(
        std::fs::read_to_string(status).expect("configure ran"),
        "sysroot-ok\n",
        "configure could not link against the package's sysroot"
    );
    let probe = build.join("armv7hf/probe/dest/usr/bin/probe");
    let head = std::fs::read(&probe).expect("the program was built");
    assert_eq!(&head[..4], b"\x7fELF");
}
