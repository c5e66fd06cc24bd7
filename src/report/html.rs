//! `report.html`: one self-contained page (inline CSS, no script): totals,
//! changes since the previous report, a package × target matrix coloured by
//! status, and a detail table with reasons, errors, logs and artifacts.

use std::fmt::Write as _;

use super::model::{PackageEntry, Report, Status};
use super::text::{duration, size, truncate, xml_escape as esc};

const CSS: &str = "
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}
.meta{color:#555}.meta code{font-size:.95em}
table{border-collapse:collapse;margin:.3em 0}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;white-space:nowrap}
.built{background:#d8f0d8}.cached{background:#dce9f7}.failed{background:#f7d4d4}.skipped{background:#f4ecc8}
.badge{display:inline-block;padding:.1em .6em;border-radius:.8em;margin-right:.4em}
td.cell a{color:inherit}code.err{white-space:pre-wrap;color:#900}
ul.reasons{margin:0;padding-left:1.1em}.none{color:#888}
";

pub fn render(r: &Report) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>recipe report {}</title><style>{CSS}</style></head><body>\n",
        esc(&r.generated_at)
    );
    header(&mut h, r);
    changes(&mut h, r);
    matrix(&mut h, r);
    details(&mut h, r);
    h.push_str("</body></html>\n");
    h
}

fn header(h: &mut String, r: &Report) {
    let t = &r.totals;
    let _ = writeln!(h, "<h1>recipe build report</h1>");
    let _ = write!(
        h,
        "<p class=\"meta\">{} on <b>{}</b> ({}/{}, {} cpus), recipe {}",
        esc(&r.generated_at),
        esc(&r.host.hostname),
        esc(&r.host.os),
        esc(&r.host.arch),
        r.host.cpus,
        esc(&r.host.recipe_version)
    );
    if let Some(wall) = r.run.wall_ms {
        let _ = write!(h, " · wall time {}", duration(wall));
    }
    if let Some(cmd) = &r.run.command {
        let _ = write!(h, "<br><code>{}</code>", esc(cmd));
    }
    if let Some(remote) = &r.run.remote_cache {
        let _ = write!(h, "<br>remote cache: <code>{}</code>", esc(remote));
    }
    let _ = writeln!(h, "</p>");
    let _ = writeln!(
        h,
        "<p><span class=\"badge built\">{} built</span><span class=\"badge cached\">{} cached</span>\
         <span class=\"badge failed\">{} failed</span><span class=\"badge skipped\">{} skipped</span> \
         of {} · build time {} · artifacts {}</p>",
        t.built,
        t.cached,
        t.failed,
        t.skipped,
        t.packages,
        duration(t.build_ms),
        size(t.artifact_bytes)
    );
    if !r.run.warnings.is_empty() {
        let _ = writeln!(h, "<h2>Warnings</h2><ul>");
        for w in &r.run.warnings {
            let _ = writeln!(h, "<li>{}</li>", esc(w));
        }
        let _ = writeln!(h, "</ul>");
    }
}

fn changes(h: &mut String, r: &Report) {
    let Some(d) = &r.diff else {
        let _ = writeln!(
            h,
            "<h2>Changes</h2><p class=\"none\">no previous report to compare with</p>"
        );
        return;
    };
    let _ = writeln!(
        h,
        "<h2>Changes since {}</h2>",
        esc(if d.previous_generated_at.is_empty() {
            "the previous report"
        } else {
            &d.previous_generated_at
        })
    );
    if d.newly_failing.is_empty() && d.fixed.is_empty() && d.slower.is_empty() {
        let _ = writeln!(
            h,
            "<p class=\"none\">no new failures, nothing fixed, nothing slower</p>"
        );
        return;
    }
    let _ = writeln!(h, "<table><tr><th>change</th><th>package</th><th>detail</th></tr>");
    for c in &d.newly_failing {
        let was = c.before.map_or("new", |s| s.as_str());
        let _ = writeln!(
            h,
            "<tr class=\"failed\"><td>newly failing</td><td>{}@{}</td><td>was {was}; <code class=\"err\">{}</code></td></tr>",
            esc(&c.name),
            esc(&c.target),
            esc(c.error.as_deref().unwrap_or(""))
        );
    }
    for c in &d.fixed {
        let _ = writeln!(
            h,
            "<tr class=\"built\"><td>fixed</td><td>{}@{}</td><td>now {}</td></tr>",
            esc(&c.name),
            esc(&c.target),
            c.now.as_str()
        );
    }
    for s in &d.slower {
        let _ = writeln!(
            h,
            "<tr class=\"skipped\"><td>slower</td><td>{}@{}</td><td>{} → {} (+{} %)</td></tr>",
            esc(&s.name),
            esc(&s.target),
            duration(s.before_ms),
            duration(s.now_ms),
            s.percent
        );
    }
    let _ = writeln!(h, "</table>");
}

fn matrix(h: &mut String, r: &Report) {
    let targets = &r.run.targets;
    let mut names: Vec<&str> = Vec::new();
    for p in &r.packages {
        if !names.contains(&p.name.as_str()) {
            names.push(&p.name);
        }
    }
    let _ = write!(h, "<h2>Packages</h2><table><tr><th>package</th>");
    for t in targets {
        let _ = write!(h, "<th>{}</th>", esc(t));
    }
    let _ = writeln!(h, "</tr>");
    for name in names {
        let _ = write!(h, "<tr><th>{}</th>", esc(name));
        for t in targets {
            match r.packages.iter().find(|p| p.name == name && &p.target == t) {
                Some(p) => {
                    let title = cell_title(p);
                    let _ = write!(
                        h,
                        "<td class=\"cell {s}\" title=\"{}\"><a href=\"{}\">{s}</a> {}</td>",
                        esc(&title),
                        esc(&p.log_href),
                        duration(p.duration_ms),
                        s = p.status.as_str()
                    );
                }
                None => h.push_str("<td class=\"none\">–</td>"),
            }
        }
        let _ = writeln!(h, "</tr>");
    }
    let _ = writeln!(h, "</table>");
}

fn cell_title(p: &PackageEntry) -> String {
    match p.status {
        Status::Failed => p
            .first_error_line
            .clone()
            .or_else(|| p.error.clone())
            .unwrap_or_default(),
        Status::Skipped => p.skipped_because.clone().unwrap_or_default(),
        _ => p.reasons.join("; "),
    }
}

fn details(h: &mut String, r: &Report) {
    let _ = writeln!(
        h,
        "<h2>Details</h2><table><tr><th>package</th><th>target</th><th>status</th><th>time</th>\
         <th>key</th><th>why</th><th>error</th><th>log</th><th>artifacts</th></tr>"
    );
    for p in &r.packages {
        let s = p.status.as_str();
        let key = p.key.as_deref().unwrap_or("");
        let _ = write!(
            h,
            "<tr class=\"{s}\"><td>{}</td><td>{}</td><td>{s}</td><td class=\"num\">{}</td>\
             <td><code title=\"{}\">{}</code></td><td>",
            esc(&p.name),
            esc(&p.target),
            duration(p.duration_ms),
            esc(key),
            esc(&truncate(key, 12))
        );
        let why: Vec<&String> = p.reasons.iter().chain(p.skipped_because.iter()).collect();
        if !why.is_empty() {
            h.push_str("<ul class=\"reasons\">");
            for w in why {
                let _ = write!(h, "<li>{}</li>", esc(w));
            }
            h.push_str("</ul>");
        }
        h.push_str("</td><td>");
        if let Some(e) = p.first_error_line.as_ref().or(p.error.as_ref()) {
            let _ = write!(h, "<code class=\"err\">{}</code>", esc(e));
        }
        let _ = write!(h, "</td><td><a href=\"{}\">log</a></td><td>", esc(&p.log_href));
        for a in &p.artifacts {
            let name = a
                .path
                .file_name()
                .map_or_else(|| a.path.display().to_string(), |n| n.to_string_lossy().into());
            let _ = write!(
                h,
                "<a href=\"{}\" title=\"sha256 {}\">{}</a> ({})<br>",
                esc(&a.href),
                esc(a.sha256.as_deref().unwrap_or("?")),
                esc(&name),
                a.size.map_or_else(|| "missing".to_string(), size)
            );
        }
        let _ = writeln!(h, "</td></tr>");
    }
    let _ = writeln!(h, "</table>");
}
