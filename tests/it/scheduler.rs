//! The scheduler, driven through the real binary with synthetic `script`
//! recipes built for the build machine (`--target host`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support;
use crate::support::project::kdl_string;
use crate::support::report::Report;

/// The shared builder (a host project) with this module's way of running
/// the binary.
struct Project(support::project::Project);

impl std::ops::Deref for Project {
    type Target = support::project::Project;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Project {
    fn new() -> Project {
        Project(support::project::Project::host())
    }

    /// The steps of these tests record into one event file outside their
    /// build dirs, which the sandbox forbids: they run unconfined, except
    /// through [`Project::confined`].
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.confined(args);
        cmd.arg("--no-sandbox");
        cmd
    }

    fn confined(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_recipe"));
        cmd.current_dir(self.path())
            .env("RECIPE_CACHE", self.path().join("cache"))
            .env("NO_COLOR", "1")
            .args(args);
        cmd
    }

    fn build(&self, args: &[&str]) -> Output {
        let mut all = vec!["build", "--target", "host"];
        all.extend_from_slice(args);
        self.cmd(&all).output().expect("run recipe")
    }

    /// A build with a report; `status["name"]` is each host package's
    /// status as report.json gives it.
    fn build_reported(&self, args: &[&str]) -> (Output, BTreeMap<String, String>, Report) {
        let dir = tempfile::tempdir_in(self.path()).expect("report dir");
        let mut all = args.to_vec();
        let report = dir.path().to_str().expect("utf-8").to_string();
        all.extend_from_slice(&["--report", &report]);
        let out = self.build(&all);
        let report = Report::read(dir.path());
        (out, report.by_name(), report)
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn log_step(p: &Project, name: &str, what: &str) -> String {
    p.log_step(&format!("{name}-{what}"))
}

#[test]
fn dependencies_build_first_and_independent_packages_overlap() {
    let p = Project::new();
    // `slow-a` and `slow-b` are independent; `top` needs both.
    let ev = |n: &str| [log_step(&p, n, "start"), "sleep 1".to_string(), log_step(&p, n, "end")];
    let a = ev("a");
    let b = ev("b");
    let t = ev("top");
    p.script("slow-a", &[], &a.iter().map(String::as_str).collect::<Vec<_>>());
    p.script("slow-b", &[], &b.iter().map(String::as_str).collect::<Vec<_>>());
    p.script(
        "top",
        &["slow-a", "slow-b"],
        &t.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let out = p.build(&["top", "-j", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = p.event_lines();
    let pos = |s: &str| {
        lines
            .iter()
            .position(|l| l == s)
            .unwrap_or_else(|| panic!("{s} missing in {lines:?}"))
    };
    // Both independent builds started before either finished: they overlapped.
    assert!(
        pos("a-start") < pos("b-end") && pos("b-start") < pos("a-end"),
        "{lines:?}"
    );
    assert!(
        pos("top-start") > pos("a-end") && pos("top-start") > pos("b-end"),
        "{lines:?}"
    );
}

#[test]
fn one_job_serialises() {
    let p = Project::new();
    for n in ["x", "y", "z"] {
        let steps = [log_step(&p, n, "start"), "sleep 0.3".into(), log_step(&p, n, "end")];
        p.script(n, &[], &steps.iter().map(String::as_str).collect::<Vec<_>>());
    }
    let out = p.build(&["x", "y", "z", "-j", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = p.event_lines();
    assert_eq!(lines.len(), 6);
    for pair in lines.chunks(2) {
        let name = pair[0].trim_end_matches("-start");
        assert_eq!(pair[1], format!("{name}-end"), "interleaved: {lines:?}");
    }
}

/// Each package runs `make` with many parallel targets; every target records
/// how many are running at that moment. Total must never exceed -j.
fn jobserver_peak(jobs: &str) -> usize {
    let p = Project::new();
    let active = p.path().join("active");
    std::fs::create_dir_all(&active).expect("mkdir");
    let makefile = p.path().join("many.mk");
    let mut mk = String::from("all: t1 t2 t3 t4 t5 t6\n");
    for i in 1..=6 {
        mk.push_str(&format!(
            "t{i}:\n\t@touch {a}/$$$$; ls {a} | wc -l >> {e}; sleep 0.4; rm -f {a}/$$$$\n",
            a = active.display(),
            e = p.events().display()
        ));
    }
    std::fs::write(&makefile, mk).expect("makefile");
    let step = format!("make -f {}", makefile.display());
    for n in ["m1", "m2", "m3"] {
        p.script(n, &[], &[&step]);
    }
    let out = p.build(&["m1", "m2", "m3", "-j", jobs]);
    assert!(out.status.success(), "{}", stderr(&out));
    let counts: Vec<usize> = p.event_lines().iter().filter_map(|l| l.trim().parse().ok()).collect();
    assert_eq!(counts.len(), 18, "every make target ran once");
    counts.into_iter().max().unwrap_or(0)
}

#[test]
fn jobserver_bounds_total_parallelism() {
    assert!(jobserver_peak("2") <= 2);
    // And the bound is not trivially met: with more slots, more run at once.
    assert!(jobserver_peak("4") > 2);
}

#[test]
fn keep_going_isolates_failures() {
    let p = Project::new();
    p.script("ok", &[], &["true"]);
    p.script("bad", &[], &["echo 'the cause is here' >&2; exit 7"]);
    p.script("needs-bad", &["bad"], &["true"]);
    p.script("needs-ok", &["ok"], &["true"]);
    let (out, status, json) = p.build_reported(&["needs-bad", "needs-ok", "--keep-going", "-j", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("the cause is here"), "log tail shown: {err}");
    assert!(err.contains("recipe shell bad --target host"), "{err}");
    assert!(err.contains("build.log"), "{err}");
    assert_eq!(status["bad"], "failed", "{status:?}");
    assert_eq!(status["needs-bad"], "skipped", "{status:?}");
    assert_eq!(status["needs-ok"], "built", "{status:?}");
    assert_eq!(
        json.package("needs-bad")["skipped_because"].as_str(),
        Some("dependency bad@host failed"),
        "{json}"
    );
    assert!(
        p.path()
            .join("build/host/needs-ok/dest/usr/share/needs-ok.txt")
            .exists()
    );
    assert!(!p.path().join("build/host/needs-bad/dest").exists());
}

#[test]
fn without_keep_going_the_build_stops() {
    let p = Project::new();
    p.script("bad", &[], &["exit 1"]);
    p.script("later", &[], &["sleep 0.2"]);
    let out = p.build(&["bad", "later", "-j", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("build stopped after a failure"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_killed_build_leaves_no_stamp_and_resumes() {
    let p = Project::new();
    let marker = p.path().join("go-on");
    // Blocks until the marker exists, so the kill lands mid-build.
    let wait = format!("while [ ! -e {} ]; do sleep 0.1; done", marker.display());
    p.script("first", &[], &["true"]);
    p.script("slow", &["first"], &[&log_step(&p, "slow", "start"), &wait]);
    let mut child = p
        .cmd(&["build", "--target", "host", "slow"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !p.event_lines().iter().any(|l| l == "slow-start") {
        assert!(Instant::now() < deadline, "build never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("kill");
    let _ = child.wait();
    assert!(!p.path().join("build/host/.stamps/slow.json").exists());
    assert!(!p.path().join("build/host/slow/dest").exists());
    std::fs::write(&marker, "").expect("marker");
    let (out, status, _) = p.build_reported(&["slow", "--explain"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(status["first"], "cached", "{status:?}");
    assert_eq!(status["slow"], "built", "{status:?}");
    assert!(p.path().join("build/host/.stamps/slow.json").exists());
}

#[test]
fn editing_a_recipe_rebuilds_exactly_its_reverse_dependencies() {
    let p = Project::new();
    // base <- mid <- top ; other is independent
    p.script("base", &[], &["true"]);
    p.script("mid", &["base"], &["true"]);
    p.script("top", &["mid"], &["true"]);
    p.script("other", &[], &["true"]);
    let all = ["top", "other"];
    assert!(p.build(&all).status.success());
    let (again, status, _) = p.build_reported(&all);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        status.len() == 4 && status.values().all(|s| s == "cached"),
        "{status:?}"
    );

    // A change to what `mid` stages changes its output: top rebuilds too.
    let mid = p.path().join("recipes/mid/recipe.kdl");
    let text = std::fs::read_to_string(&mid).expect("read");
    std::fs::write(&mid, text.replace("step \"true\"", "step \"echo v2 > $DESTDIR/v2\"")).expect("edit");
    let (out, status, _) = p.build_reported(&["top", "other", "--explain"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("rebuilding mid@host because:\n    - recipe changed: build.options.step"),
        "{err}"
    );
    assert!(
        err.contains("rebuilding top@host because:\n    - dependency mid@host produced different output"),
        "{err}"
    );
    for (name, want) in [
        ("base", "cached"),
        ("other", "cached"),
        ("mid", "built"),
        ("top", "built"),
    ] {
        assert_eq!(status[name], want, "{name}: {status:?}");
    }

    // A change that leaves mid's output identical stops there (early cutoff).
    let text = std::fs::read_to_string(&mid).expect("read");
    std::fs::write(&mid, text.replace("echo v2", "echo  v2")).expect("edit");
    let out = p.build(&["top", "other"]);
    assert!(stderr(&out).contains("1 built, 3 cached"), "{}", stderr(&out));
}

#[test]
fn force_rebuilds_one_package() {
    let p = Project::new();
    p.script("one", &[], &["true"]);
    assert!(p.build(&["one"]).status.success());
    let out = p.build(&["one", "--force", "one", "--explain"]);
    assert!(stderr(&out).contains("forced (--force)"), "{}", stderr(&out));
}

/// The early phase (sources, `autoreconf`) of a package overlaps its
/// dependencies' builds; its `pre-build` steps do not: they run with the
/// package's sysroot, after the dependencies.
#[test]
fn a_package_prepares_its_sources_while_its_dependencies_build() {
    let p = Project::new();
    let slow = [
        log_step(&p, "dep", "start"),
        "sleep 1".into(),
        log_step(&p, "dep", "end"),
    ];
    p.script("dep", &[], &slow.iter().map(String::as_str).collect::<Vec<_>>());
    let dir = p.path().join("recipes/top");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("recipe.kdl"),
        format!(
            "package top {{ version \"1\"; license \"MIT\"; }}\ndepends dep\nbuild script {{\n    pre-build {}\n    step {}\n    step {}\n}}\n",
            kdl_string(&log_step(&p, "top", "pre-build")),
            kdl_string(&log_step(&p, "top", "built")),
            kdl_string("mkdir -p $DESTDIR/usr/share && touch $DESTDIR/usr/share/top"),
        ),
    )
    .expect("write");
    let out = p.build(&["top", "-j", "2"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("preparing top@host"), "{err}");
    let lines = p.event_lines();
    let pos = |s: &str| {
        lines
            .iter()
            .position(|l| l == s)
            .unwrap_or_else(|| panic!("{s} missing in {lines:?}"))
    };
    assert!(pos("top-pre-build") > pos("dep-end"), "pre-build waits: {lines:?}");
    assert!(pos("top-built") > pos("top-pre-build"), "{lines:?}");
}

/// Pids of live processes whose command line contains `needle`.
fn processes_with(needle: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).replace('\0', " ").contains(needle))
        })
        .collect()
}

#[test]
fn killing_recipe_kills_everything_its_steps_started() {
    let p = Project::new();
    // A unique duration names the step's descendants in /proc.
    let tag = format!("{}.{}", 900 + std::process::id() % 97, std::process::id());
    let step = format!("(sleep {tag}) & sh -c 'sleep {tag}' & sleep {tag}; wait");
    p.script("deep", &[], &[&step]);
    // Confined: the sandbox's namespaces must not lose the parent-death signal.
    let mut child = p
        .confined(&["build", "--target", "host", "deep"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    while processes_with(&tag).len() < 3 {
        assert!(Instant::now() < deadline, "step never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes_with(&tag).is_empty() {
        assert!(
            Instant::now() < deadline,
            "processes outlived the killed build: {:?}",
            processes_with(&tag)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!p.path().join("build/host/.stamps/deep.json").exists());
}

#[test]
fn editing_a_published_artifact_does_not_touch_the_staged_output() {
    let p = Project::new();
    p.script(
        "wheely",
        &[],
        &["mkdir -p $DESTDIR/usr/share/wheels && echo original > $DESTDIR/usr/share/wheels/w-1.0-py3-none-any.whl"],
    );
    let out = p.build(&["wheely"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let published = p.path().join("out/host/w-1.0-py3-none-any.whl");
    let staged = p
        .path()
        .join("build/host/wheely/dest/usr/share/wheels/w-1.0-py3-none-any.whl");
    assert_eq!(std::fs::read_to_string(&published).expect("published"), "original\n");
    // Edit in place, as an editor or a careless script would.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&published)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"tampered\n"))
        .expect("edit");
    assert_eq!(std::fs::read_to_string(&staged).expect("staged"), "original\n");
    // The next (no-op) build publishes the artifact again.
    let (out, status, _) = p.build_reported(&["wheely"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(status["wheely"], "cached", "{status:?}");
    assert_eq!(std::fs::read_to_string(&published).expect("published"), "original\n");
}

#[test]
fn a_rebuilt_package_replaces_its_old_artifacts_and_nothing_else() {
    let p = Project::new();
    let wheel = |v: &str| {
        format!("mkdir -p $DESTDIR/usr/share/wheels && echo {v} > $DESTDIR/usr/share/wheels/w-{v}-py3-none-any.whl")
    };
    p.script("wheely", &[], &[&wheel("1.0")]);
    p.script(
        "other",
        &[],
        &["mkdir -p $DESTDIR/usr/share/wheels && echo o > $DESTDIR/usr/share/wheels/o-1.0-py3-none-any.whl"],
    );
    assert!(p.build(&["wheely", "other"]).status.success());
    let out = p.path().join("out/host");
    std::fs::write(out.join("notes.txt"), "mine").expect("user file");
    p.script("wheely", &[], &[&wheel("2.0")]);
    let built = p.build(&["wheely", "other"]);
    assert!(built.status.success(), "{}", stderr(&built));
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .expect("out")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    assert_eq!(names, ["notes.txt", "o-1.0-py3-none-any.whl", "w-2.0-py3-none-any.whl"]);
}

#[test]
fn leftovers_of_a_killed_run_are_removed_by_the_next() {
    let p = Project::new();
    p.script("tidy", &[], &["true"]);
    assert!(p.build(&["tidy"]).status.success());
    let pkg = p.path().join("build/host/tidy");
    let stamps = p.path().join("build/host/.stamps");
    let leftovers = [
        pkg.join(".remote-blob-a1b2c3"),
        pkg.join(".remote-out-d4e5f6/usr/lib/x.so"),
        pkg.join(".src.extract-1234-0/configure"),
        stamps.join("tidy.json.tmp"),
    ];
    for l in &leftovers {
        std::fs::create_dir_all(l.parent().expect("parent")).expect("mkdir");
        std::fs::write(l, "half").expect("write");
    }
    let out = p.build(&["tidy"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("leftover"), "{}", stderr(&out));
    for l in &leftovers {
        assert!(!l.exists(), "{} survived", l.display());
    }
    assert!(!pkg.join(".remote-out-d4e5f6").exists() && !pkg.join(".src.extract-1234-0").exists());
    assert!(
        pkg.join("dest").is_dir() && stamps.join("tidy.json").is_file(),
        "real state kept"
    );
}

/// Every file and directory under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p.clone());
            }
            out.push(p.strip_prefix(dir).unwrap_or(&p).display().to_string());
        }
    }
    out.sort();
    out
}

fn output_digest(p: &Project, name: &str) -> String {
    let text = std::fs::read_to_string(p.path().join(format!("build/host/.stamps/{name}.json"))).expect("stamp");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    json["output_digest"].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_kill_at_any_point_of_the_output_swap_is_repaired_by_the_next_run() {
    let wheel = |v: &str| {
        format!("mkdir -p $DESTDIR/usr/share/wheels && echo {v} > $DESTDIR/usr/share/wheels/p-1.0-py3-none-any.whl")
    };
    let setup = |p: &Project, v: &str| {
        p.script("pkg", &[], &[&wheel(v)]);
        p.script("top", &["pkg"], &["true"]);
    };
    // What an uninterrupted run of the second version produces.
    let reference = Project::new();
    setup(&reference, "v2");
    assert!(reference.build(&["top"]).status.success());
    let want = output_digest(&reference, "pkg");

    let points = [
        ("before-output-swap", true),
        ("stamp-removed", true),
        ("previous-output-moved", true),
        ("output-swapped", true),
        ("published", true),
        ("stamp-written", false),
    ];
    for (point, pkg_rebuilds) in points {
        let p = Project::new();
        setup(&p, "v1");
        assert!(p.build(&["top"]).status.success());
        setup(&p, "v2");
        let killed = p
            .cmd(&["build", "--target", "host", "top"])
            .env("RECIPE_FAULT_INJECT", point)
            .output()
            .expect("run");
        assert!(!killed.status.success(), "{point}: the fault fired");
        assert!(
            stderr(&killed).contains(&format!("fault injected at `{point}`")),
            "{point}"
        );

        let (out, status, _) = p.build_reported(&["top"]);
        let err = stderr(&out);
        assert!(out.status.success(), "{point}: {err}");
        let want_status = if pkg_rebuilds { "built" } else { "cached" };
        assert_eq!(status["pkg"], want_status, "{point}: only what was unfinished: {err}");
        assert_eq!(
            output_digest(&p, "pkg"),
            want,
            "{point}: same output as an uninterrupted run"
        );
        let published = p.path().join("out/host/p-1.0-py3-none-any.whl");
        assert_eq!(
            std::fs::read_to_string(&published).expect("artifact"),
            "v2\n",
            "{point}"
        );
        let stray: Vec<String> = tree(&p.path().join("build/host"))
            .into_iter()
            .chain(tree(&p.path().join("out")))
            .filter(|f| f.contains("dest.old") || f.contains("dest.new") || f.contains(".tmp"))
            .collect();
        assert!(stray.is_empty(), "{point}: stray files {stray:?}");
    }
}

#[test]
fn a_staged_output_changed_after_its_stamp_is_rebuilt() {
    let p = Project::new();
    p.script("base", &[], &["true"]);
    p.script("user", &["base"], &["true"]);
    assert!(p.build(&["user"]).status.success());
    // A later step writing into a dependency's file through a hard link.
    let file = p.path().join("build/host/base/dest/usr/share/base.txt");
    std::fs::write(&file, "corrupted\n").expect("tamper");
    // (With the local store it would be restored from there instead.)
    let out = p.build(&["user", "--explain", "--no-local-store"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("changed since it was stamped"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "base\n", "rebuilt");
    // From the store: restored, for the same reason.
    std::fs::write(&file, "corrupted\n").expect("tamper");
    let out = p.build(&["user", "--report", "r"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let base = Report::read(&p.path().join("r")).package("base").clone();
    assert_eq!(base["status"], "restored", "{base}");
    assert!(
        base["reasons"].to_string().contains("changed since it was stamped"),
        "{base}"
    );
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "base\n", "restored");
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Ready jobs go critical path first, weighted by the last build time in
/// each stamp: `z` alone outweighs the chain `b` → `c`, although the plan
/// lists `b` first and, never built, the chain is longer.
#[test]
fn the_longest_remaining_path_starts_first() {
    let p = Project::new();
    let step = |n: &str, secs: &str| {
        [
            log_step(&p, n, "start"),
            format!("sleep {secs}"),
            log_step(&p, n, "end"),
        ]
    };
    let (b, c, z) = (step("b", "0.1"), step("c", "0.1"), step("z", "1.2"));
    p.script("b", &[], &strs(&b));
    p.script("c", &["b"], &strs(&c));
    p.script("z", &[], &strs(&z));
    let out = p.build(&["c", "z", "-j", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Never built: equal weights, the longer chain first.
    assert_eq!(p.event_lines().first().map(String::as_str), Some("b-start"));
    let first_start = || p.event_lines().first().cloned().unwrap_or_default();
    rebuild_c_and_z(&p, &["-j", "1"]);
    assert_eq!(first_start(), "z-start", "{:?}", p.event_lines());
    // A build tree without stamps ranks by the times the cache recorded
    // (forced: the local store would restore all three).
    let fresh = tempfile::tempdir_in(p.path()).expect("build dir");
    let dir = fresh.path().to_str().expect("utf-8");
    rebuild_c_and_z(&p, &["-j", "1", "--build-dir", dir]);
    assert_eq!(first_start(), "z-start", "{:?}", p.event_lines());
}

/// Builds `c` and `z` with `b`, `c` and `z` forced, from an empty event log.
fn rebuild_c_and_z(p: &Project, args: &[&str]) {
    std::fs::remove_file(p.events()).expect("reset");
    let mut all = vec!["c", "z", "--force", "b", "--force", "c", "--force", "z"];
    all.extend_from_slice(args);
    let out = p.build(&all);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// With two slots, the job on the longest chain keeps recipe's priority;
/// a job beside it runs at nice +10, and so do the processes it starts, so
/// it gets only what the critical job leaves idle.
#[test]
fn jobs_off_the_critical_path_run_nicer() {
    let p = Project::new();
    let step = |n: &str, secs: &str| [log_step(&p, n, "nice-$(nice)"), format!("sleep {secs}")];
    let (b, c, z) = (step("b", "0.1"), step("c", "0"), step("z", "1.5"));
    p.script("b", &[], &strs(&b));
    p.script("c", &["b"], &strs(&c));
    p.script("z", &[], &strs(&z));
    // The first build records the times that rank the second.
    let out = p.build(&["c", "z", "-j", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    rebuild_c_and_z(&p, &["-j", "2"]);
    let base: i32 = String::from_utf8_lossy(&Command::new("nice").output().expect("nice").stdout)
        .trim()
        .parse()
        .expect("a niceness");
    let nicer = (base + 10).min(19);
    let mut lines = p.event_lines();
    lines.sort();
    assert_eq!(
        lines,
        [
            format!("b-nice-{nicer}"),
            format!("c-nice-{nicer}"),
            format!("z-nice-{base}")
        ],
    );
}

/// Each job that ran has its time and worker slot in report.json, the
/// chain that set the run's length is marked, and report.html draws it.
#[test]
fn the_report_has_a_timeline_per_worker_slot() {
    let p = Project::new();
    p.script("a", &[], &["sleep 0.6"]);
    p.script("b", &[], &["sleep 0.1"]);
    p.script("top", &["a", "b"], &["sleep 0.1"]);
    let report = p.path().join("report");
    let out = p.build(&["top", "-j", "2", "--report", report.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json = Report::read(&report);
    let span = |name: &str| {
        let spans = json.package(name)["spans"].as_array().cloned().unwrap_or_default();
        // `top` may also have prepared its sources early, on a free slot.
        spans
            .into_iter()
            .find(|s| s["phase"] == "build")
            .unwrap_or_else(|| panic!("no build span for {name}: {json}"))
    };
    let (a, b, top) = (span("a"), span("b"), span("top"));
    let ms = |s: &serde_json::Value, k: &str| s[k].as_u64().unwrap_or_else(|| panic!("{k} in {s}"));
    assert_eq!(a["phase"], "build");
    assert_ne!(a["slot"], b["slot"], "a and b ran side by side: {json}");
    assert!(ms(&a, "end_ms") - ms(&a, "start_ms") >= 600, "{a}");
    assert!(ms(&top, "start_ms") >= ms(&a, "end_ms"), "{json}");
    let critical = |name: &str| json.package(name)["critical"] == true;
    assert!(critical("a") && critical("top") && !critical("b"), "{json}");
    let html = std::fs::read_to_string(report.join("report.html")).expect("html");
    assert!(html.contains("<svg class=\"timeline\""), "{html}");
    assert!(html.contains("a@host → top@host"), "{html}");
    // A no-op run draws nothing: no job ran.
    let out = p.build(&["top", "--report", report.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(Report::read(&report).package("a").get("spans").is_none());
}

/// A package whose early phase (sources, run while its dependency builds)
/// fails is reported with why it needed a build and no key (its
/// dependencies' outputs were not known yet), not the key of empty inputs.
#[test]
fn an_early_phase_failure_says_why_and_has_no_made_up_key() {
    let p = Project::new();
    p.script("dep", &[], &["sleep 0.5"]);
    let dir = p.path().join("recipes/top");
    std::fs::create_dir_all(dir.join("files")).expect("mkdir");
    std::fs::create_dir_all(dir.join("patches")).expect("mkdir");
    std::fs::write(dir.join("files/a.txt"), "one\n").expect("write");
    // A patch that does not apply: the source phase fails.
    std::fs::write(
        dir.join("patches/0001-bad.patch"),
        "--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-something else\n+two\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("recipe.kdl"),
        "package top { version \"1\"; license \"MIT\"; }\nsource path=\"files\"\npatch \"patches/0001-bad.patch\"\n\
         depends dep\nbuild script {\n    step \"true\"\n}\n",
    )
    .expect("write");
    let report = p.path().join("report");
    let out = p.build(&[
        "top",
        "-j",
        "2",
        "--keep-going",
        "--report",
        report.to_str().expect("utf-8"),
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("preparing top@host"), "the early phase ran eagerly: {err}");
    let json = Report::read(&report);
    let top = json.package("top");
    assert_eq!(top["status"], "failed", "{top}");
    assert_eq!(top["reasons"], serde_json::json!(["never built (no stamp)"]), "{top}");
    assert!(top["key"].is_null(), "{top}");
    assert_eq!(
        top["spans"].as_array().map(Vec::len),
        Some(1),
        "only the early phase ran: {top}"
    );
    assert_eq!(top["spans"][0]["phase"], "prepare", "{top}");
    assert_eq!(json.package("dep")["status"], "built");
}
