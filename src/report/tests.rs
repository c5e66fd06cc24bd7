use std::path::{Path, PathBuf};

use super::model::*;
use super::*;
use crate::build::scheduler::{NodeReport, Outcome, Span, SpanPhase};

fn node(name: &str, target: &str, outcome: Outcome, ms: u64, log: PathBuf) -> NodeReport {
    NodeReport {
        name: name.into(),
        target: target.into(),
        outcome,
        duration_ms: ms,
        key: if ms > 0 { format!("{name}-key") } else { String::new() },
        reasons: vec!["never built (no stamp)".into()],
        log,
        artifacts: vec![],
        spans: vec![],
        critical: false,
    }
}

/// A batch: libuv built and cached, dqlite failing on armv7hf (with a log
/// full of things XML hates), dqlitepy skipped because of it.
fn batch(root: &Path) -> Vec<NodeReport> {
    let logs = root.join("build");
    std::fs::create_dir_all(logs.join("armv7hf/dqlite")).expect("mkdir");
    let log = logs.join("armv7hf/dqlite/build.log");
    std::fs::write(
        &log,
        "$ cd /b && make -Werror\n\u{1b}[01;31mgcc\u{1b}[0m -c raft.c\n\
         src/raft.c:12:3: error: unknown type name 'uv_loop_t' <&> \"quoted\" \u{7}bell\nmake: *** [all] Error 1\n",
    )
    .expect("log");
    let wheel = root.join("out/armv7hf/dqlitepy-0.1.0-cp312-abi3-linux_armv7l.whl");
    std::fs::create_dir_all(wheel.parent().expect("parent")).expect("mkdir");
    std::fs::write(&wheel, vec![7u8; 1500]).expect("wheel");
    let mut built = node(
        "libuv",
        "armv7hf",
        Outcome::Built { digest: "d1".into() },
        12_000,
        logs.join("armv7hf/libuv/build.log"),
    );
    built.artifacts = vec![wheel];
    vec![
        built,
        NodeReport {
            reasons: vec![
                "remote corrupt: blob 0123456789ab has sha256 ffff".into(),
                "remote corrupt: blob 0123456789ab has sha256 ffff".into(),
            ],
            ..node(
                "libuv",
                "aarch64",
                Outcome::Cached { digest: "d2".into() },
                0,
                logs.join("aarch64/libuv/build.log"),
            )
        },
        node(
            "dqlite",
            "armv7hf",
            Outcome::Failed {
                error: "`make` failed (exit status: 2)".into(),
            },
            30_000,
            log,
        ),
        node(
            "dqlitepy",
            "armv7hf",
            Outcome::Skipped {
                because: "dependency dqlite@armv7hf failed".into(),
            },
            0,
            logs.join("armv7hf/dqlitepy/build.log"),
        ),
    ]
}

#[test]
fn junit_parses_with_a_real_xml_parser() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reports = batch(dir.path());
    let paths = write_reports(&dir.path().join("report"), &reports, None, &RunMeta::default()).expect("write");
    let xml = std::fs::read_to_string(&paths.junit).expect("read");
    let doc = roxmltree::Document::parse(&xml).expect("junit.xml must be well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("4"));
    assert_eq!(root.attribute("failures"), Some("1"));
    let suites: Vec<_> = root.children().filter(|n| n.has_tag_name("testsuite")).collect();
    let names: Vec<_> = suites.iter().filter_map(|s| s.attribute("name")).collect();
    assert_eq!(names, ["armv7hf", "aarch64"]);
    let armv7: Vec<_> = suites[0].children().filter(|n| n.has_tag_name("testcase")).collect();
    assert_eq!(armv7.len(), 3);
    let dqlite = armv7
        .iter()
        .find(|c| c.attribute("name") == Some("dqlite"))
        .expect("dqlite testcase");
    assert_eq!(dqlite.attribute("time"), Some("30.000"));
    let failure = dqlite.children().find(|n| n.has_tag_name("failure")).expect("failure");
    assert_eq!(
        failure.attribute("message"),
        Some("src/raft.c:12:3: error: unknown type name 'uv_loop_t' <&> \"quoted\" \u{fffd}bell")
    );
    let body = failure.text().expect("failure body");
    assert!(body.contains("make: *** [all] Error 1"), "{body}");
    assert!(!body.contains('\u{1b}'), "ANSI escapes must be stripped: {body}");
    let skipped = armv7
        .iter()
        .find(|c| c.attribute("name") == Some("dqlitepy"))
        .and_then(|c| c.children().find(|n| n.has_tag_name("skipped")))
        .expect("skipped");
    assert_eq!(skipped.attribute("message"), Some("dependency dqlite@armv7hf failed"));
}

#[test]
fn json_has_statuses_sizes_and_totals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reports = batch(dir.path());
    let out = dir.path().join("report");
    let paths = write_reports(&out, &reports, None, &RunMeta::default()).expect("write");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&paths.json).expect("read")).expect("json");
    assert_eq!(v["format"], 1);
    assert_eq!(v["totals"]["built"], 1);
    assert_eq!(v["totals"]["cached"], 1);
    assert_eq!(v["totals"]["failed"], 1);
    assert_eq!(v["totals"]["skipped"], 1);
    assert_eq!(v["totals"]["artifact_bytes"], 1500);
    let pk = &v["packages"];
    assert_eq!(pk[0]["status"], "built");
    assert_eq!(pk[0]["artifacts"][0]["size"], 1500);
    assert_eq!(pk[0]["artifacts"][0]["sha256"].as_str().map(str::len), Some(64));
    assert_eq!(
        pk[0]["artifacts"][0]["href"],
        "../out/armv7hf/dqlitepy-0.1.0-cp312-abi3-linux_armv7l.whl"
    );
    assert_eq!(pk[1]["status"], "cached");
    assert_eq!(pk[1]["key"], serde_json::Value::Null);
    assert_eq!(pk[2]["status"], "failed");
    assert_eq!(pk[2]["log_href"], "../build/armv7hf/dqlite/build.log");
    assert!(
        pk[2]["first_error_line"]
            .as_str()
            .is_some_and(|l| l.starts_with("src/raft.c:12:3: error:")),
        "{}",
        pk[2]
    );
    assert_eq!(pk[3]["skipped_because"], "dependency dqlite@armv7hf failed");
    assert_eq!(
        v["run"]["warnings"],
        serde_json::json!(["libuv@aarch64: remote corrupt: blob 0123456789ab has sha256 ffff"])
    );
    assert!(v["generated_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(v["run"]["targets"], serde_json::json!(["armv7hf", "aarch64"]));
    // And it reads back as a Report.
    let back = load(&paths.json).expect("load");
    assert_eq!(back.packages.len(), 4);
    assert!(paths.previous.is_none());
}

#[test]
fn second_report_compares_with_the_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("report");
    let mut first = batch(dir.path());
    write_reports(&out, &first, None, &RunMeta::default()).expect("first");

    // Now: dqlite fixed, libuv@armv7hf 50 % slower, libuv@aarch64 fails.
    first[2].outcome = Outcome::Built { digest: "d3".into() };
    first[0].duration_ms = 18_000;
    first[1].outcome = Outcome::Failed {
        error: "`cmake` failed".into(),
    };
    let paths = write_reports(&out, &first, None, &RunMeta::default()).expect("second");
    assert_eq!(paths.previous.as_deref(), Some(out.join(PREVIOUS).as_path()));
    let r = load(&paths.json).expect("load");
    let d = r.diff.expect("diff");
    let ids = |v: Vec<(String, String)>| v.into_iter().map(|(n, t)| format!("{n}@{t}")).collect::<Vec<_>>();
    assert_eq!(
        ids(d
            .newly_failing
            .iter()
            .map(|c| (c.name.clone(), c.target.clone()))
            .collect()),
        ["libuv@aarch64"]
    );
    assert_eq!(d.newly_failing[0].before, Some(Status::Cached));
    assert_eq!(
        ids(d.fixed.iter().map(|c| (c.name.clone(), c.target.clone())).collect()),
        ["dqlite@armv7hf"]
    );
    assert_eq!(d.slower.len(), 1);
    assert_eq!(
        (d.slower[0].before_ms, d.slower[0].now_ms, d.slower[0].percent),
        (12_000, 18_000, 50)
    );

    let html = std::fs::read_to_string(&paths.html).expect("html");
    assert!(html.contains("newly failing"), "{html}");
    assert!(html.contains("+50 %"));
    assert!(html.contains("href=\"../build/armv7hf/dqlite/build.log\""));
    assert!(html.contains("class=\"cell failed\""));
    assert!(!html.contains("<script"), "no script needed");
    assert!(!html.contains("<&>"), "escaped");
}

#[test]
fn slower_needs_twenty_percent_and_a_second() {
    let entry = |ms: u64| PackageEntry {
        name: "a".into(),
        target: "t".into(),
        status: Status::Built,
        duration_ms: ms,
        key: None,
        digest: None,
        reasons: vec![],
        error: None,
        first_error_line: None,
        skipped_because: None,
        log: PathBuf::new(),
        log_href: String::new(),
        artifacts: vec![],
        spans: vec![],
        critical: false,
    };
    let report = |ms: u64| Report {
        packages: vec![entry(ms)],
        ..Report::default()
    };
    assert!(model::diff(&report(10_000), &report(11_900)).slower.is_empty());
    assert_eq!(model::diff(&report(10_000), &report(12_100)).slower.len(), 1);
    assert!(
        model::diff(&report(1_000), &report(1_900)).slower.is_empty(),
        "under a second"
    );
}

#[test]
fn explicit_previous_and_garbage_previous() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("r");
    std::fs::create_dir_all(&out).expect("mkdir");
    std::fs::write(out.join(JSON), "not json").expect("garbage");
    let paths = write_reports(&out, &batch(dir.path()), None, &RunMeta::default()).expect("write");
    assert!(
        paths.warnings.iter().any(|w| w.contains("not readable")),
        "{:?}",
        paths.warnings
    );
    assert!(load(&paths.json).expect("load").diff.is_none());

    let other = dir.path().join("elsewhere.json");
    std::fs::copy(&paths.json, &other).expect("copy");
    let paths = write_reports(&out, &batch(dir.path()), Some(&other), &RunMeta::default()).expect("write");
    let d = load(&paths.json)
        .expect("load")
        .diff
        .expect("diff against the explicit report");
    assert!(d.newly_failing.is_empty() && d.fixed.is_empty());
    let missing = write_reports(&out, &[], Some(&dir.path().join("nope.json")), &RunMeta::default()).expect("write");
    assert!(missing.warnings.iter().any(|w| w.contains("not found")));
}

#[test]
fn text_helpers() {
    assert_eq!(text::rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(text::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(text::rfc3339(1_767_225_599), "2025-12-31T23:59:59Z");
    assert_eq!(
        text::relative_href(Path::new("/a/b"), Path::new("/a/c d/x.log")),
        "../c%20d/x.log"
    );
    assert_eq!(text::relative_href(Path::new("/a"), Path::new("/a/b/./x")), "b/x");
    assert_eq!(text::xml_attr("a\n<b>"), "a&#10;&lt;b&gt;");
    assert_eq!(text::duration(61_000), "1m01s");
}

fn span(phase: SpanPhase, slot: usize, start_ms: u64, end_ms: u64) -> Span {
    Span {
        phase,
        slot,
        start_ms,
        end_ms,
    }
}

/// The `<svg>…</svg>` of the page, which must be well-formed XML.
fn svg_of(html: &str) -> String {
    let start = html.find("<svg").expect("an svg timeline");
    let end = html.find("</svg>").expect("svg end") + "</svg>".len();
    html[start..end].to_string()
}

/// Names, reasons, errors, logs, warnings and the command come from
/// recipes, builds and users: none of them may open a tag, in the tables or
/// in the timeline.
#[test]
fn hostile_names_and_log_text_are_escaped_everywhere() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("evil.log");
    std::fs::write(&log, "error: </code><img src=x onerror=alert(1)>\n").expect("log");
    let evil = "<script>alert('x')</script>";
    let mut built = node(
        evil,
        "t\"><svg onload=1>",
        Outcome::Built { digest: "d".into() },
        5_000,
        log.clone(),
    );
    built.reasons = vec!["recipe changed: <b>version</b> & more".into()];
    built.spans = vec![span(SpanPhase::Build, 0, 0, 5_000)];
    built.critical = true;
    let mut failed = node(
        "x</text><script>",
        "t",
        Outcome::Failed {
            error: "<i>boom</i>".into(),
        },
        1_000,
        log,
    );
    failed.spans = vec![span(SpanPhase::Prepare, 1, 0, 1_000)];
    let meta = RunMeta {
        wall_ms: Some(6_000),
        command: Some("recipe build '<script>'".into()),
        remote_cache: Some("http://h/<x>".into()),
        warnings: vec!["warn <script>".into()],
        ..RunMeta::default()
    };
    let paths = write_reports(&dir.path().join("r"), &[built, failed], None, &meta).expect("write");
    let html = std::fs::read_to_string(&paths.html).expect("html");
    for bad in ["<script", "<img", "<i>", "<b>version", "<svg onload"] {
        assert!(!html.contains(bad), "{bad} unescaped in {html}");
    }
    assert!(
        html.contains("&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt;"),
        "{html}"
    );
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "the log line, escaped: {html}"
    );
    assert!(html.contains("&lt;b&gt;version&lt;/b&gt; &amp; more"), "{html}");
    // The chart is real SVG: a parser reads the hostile names back as text.
    let svg = svg_of(&html);
    let doc = roxmltree::Document::parse(&svg).expect("the timeline must be well-formed SVG");
    let titles: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("title"))
        .filter_map(|n| n.text())
        .collect();
    assert!(
        titles
            .iter()
            .any(|t| t.starts_with("<script>alert('x')</script>@t\"><svg onload=1>: build")),
        "{titles:?}"
    );
}

/// The timeline: one row per worker slot, one bar per span, the critical
/// path highlighted and named in order.
#[test]
fn the_timeline_draws_each_job_on_its_slot_with_the_critical_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("x.log");
    let mut reports = batch(dir.path());
    reports[0].spans = vec![span(SpanPhase::Build, 1, 0, 12_000)];
    reports[0].critical = true;
    reports[2].spans = vec![
        span(SpanPhase::Prepare, 0, 0, 4_000),
        span(SpanPhase::Build, 0, 12_000, 42_000),
    ];
    reports[2].critical = true;
    let mut other = node("lz4", "armv7hf", Outcome::Built { digest: "d".into() }, 3_000, log);
    other.spans = vec![span(SpanPhase::Build, 0, 4_000, 7_000)];
    reports.push(other);
    let paths = write_reports(&dir.path().join("r"), &reports, None, &RunMeta::default()).expect("write");
    let html = std::fs::read_to_string(&paths.html).expect("html");
    let svg = svg_of(&html);
    let doc = roxmltree::Document::parse(&svg).expect("svg");
    let rects: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("rect")).collect();
    assert_eq!(rects.len(), 4, "{svg}");
    let classes: Vec<&str> = rects.iter().filter_map(|r| r.attribute("class")).collect();
    assert_eq!(
        classes,
        [
            "build built critical",
            "prepare failed critical",
            "build failed critical",
            "build built"
        ]
    );
    let slots: Vec<&str> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("slot"))
        .filter_map(|n| n.text())
        .collect();
    assert_eq!(slots, ["slot 1", "slot 2"]);
    // Bars sit on their slot's row and scale with time.
    let y = |i: usize| rects[i].attribute("y").and_then(|v| v.parse::<f64>().ok()).expect("y");
    let w = |i: usize| {
        rects[i]
            .attribute("width")
            .and_then(|v| v.parse::<f64>().ok())
            .expect("w")
    };
    assert!(y(0) > y(1) && y(1) == y(2) && y(2) == y(3), "{svg}");
    assert!((w(2) / w(3) - 10.0).abs() < 0.01, "30 s against 3 s: {svg}");
    assert!(
        html.contains("Critical path (46.0s): libuv@armv7hf → dqlite@armv7hf"),
        "{html}"
    );
    // A report where nothing ran (a no-op build) has no chart.
    let paths = write_reports(&dir.path().join("noop"), &batch(dir.path()), None, &RunMeta::default()).expect("write");
    let html = std::fs::read_to_string(&paths.html).expect("html");
    assert!(!html.contains("<svg"), "{html}");
}

/// The nightly batch's `recipe outdated` rows: in report.json for machines,
/// as a table in report.html, escaped like everything else.
#[test]
fn upstream_versions_are_in_the_json_and_the_page() {
    let dir = tempfile::tempdir().expect("tmp");
    let row = |name: &str, newest: Option<&str>, status: &str, location: &str| UpstreamEntry {
        name: name.into(),
        current: "1.0".into(),
        newest: newest.map(str::to_string),
        status: status.into(),
        location: location.into(),
    };
    let meta = RunMeta {
        outdated: vec![
            row("lz4", Some("1.10.0"), "outdated", "debian src:lz4 (trixie 1.10.0-4)"),
            row(
                "dqlitepy",
                None,
                "error",
                "pypi dqlitepy (offline: <the index> was not asked)",
            ),
        ],
        ..RunMeta::default()
    };
    let built = node(
        "lz4",
        "armv7hf",
        Outcome::Built { digest: "d".into() },
        1_000,
        dir.path().join("lz4.log"),
    );
    let paths = write_reports(&dir.path().join("r"), &[built], None, &meta).expect("write");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&paths.json).expect("json")).expect("parse");
    assert_eq!(json["outdated"][0]["name"], "lz4");
    assert_eq!(json["outdated"][0]["newest"], "1.10.0");
    assert_eq!(json["outdated"][0]["status"], "outdated");
    assert_eq!(json["outdated"][0]["where"], "debian src:lz4 (trixie 1.10.0-4)");
    assert_eq!(json["outdated"][1]["status"], "error");
    let report = load(&paths.json).expect("reads back");
    assert_eq!(report.outdated, meta.outdated);
    let html = std::fs::read_to_string(&paths.html).expect("html");
    assert!(html.contains("<h2>Upstream versions</h2>"), "{html}");
    assert!(html.contains("1 outdated"), "{html}");
    assert!(html.contains("<td>lz4</td><td>1.0</td><td>1.10.0</td>"), "{html}");
    assert!(html.contains("offline: &lt;the index&gt; was not asked"), "{html}");
}

/// Reads a report written by [`write_reports`].
fn load(path: &Path) -> Result<Report, ReportError> {
    let bytes = std::fs::read(path).map_err(ReportError::io("read", path))?;
    Ok(serde_json::from_slice(&bytes)?)
}
