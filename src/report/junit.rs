//! `junit.xml`: one testsuite per target, one testcase per package. Failed
//! packages carry their first error line and the tail of their log; skipped
//! ones say why.

use std::fmt::Write as _;

use super::model::{Report, Status};
use super::text::{log_tail, xml_attr, xml_escape};

/// Lines of log in a `<failure>` body.
const TAIL_LINES: usize = 40;

fn secs(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

pub fn render(report: &Report) -> String {
    let t = &report.totals;
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"recipe\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{}\" timestamp=\"{}\">",
        t.packages,
        t.failed,
        t.skipped,
        secs(report.run.wall_ms.unwrap_or(t.build_ms)),
        xml_attr(&report.generated_at),
    );
    for (target, packages) in report.by_target() {
        let failed = packages.iter().filter(|p| p.status == Status::Failed).count();
        let skipped = packages.iter().filter(|p| p.status == Status::Skipped).count();
        let time: u64 = packages.iter().map(|p| p.duration_ms).sum();
        let _ = writeln!(
            x,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" skipped=\"{skipped}\" time=\"{}\" timestamp=\"{}\" hostname=\"{}\">",
            xml_attr(target),
            packages.len(),
            secs(time),
            xml_attr(&report.generated_at),
            xml_attr(&report.host.hostname),
        );
        for p in packages {
            let _ = write!(
                x,
                "    <testcase classname=\"recipe.{}\" name=\"{}\" time=\"{}\"",
                xml_attr(target),
                xml_attr(&p.name),
                secs(p.duration_ms)
            );
            match p.status {
                Status::Built | Status::Cached | Status::Restored => {
                    let _ = writeln!(x, ">");
                    let _ = writeln!(
                        x,
                        "      <system-out>{}</system-out>",
                        xml_escape(&format!(
                            "{}: {}\nlog: {}",
                            p.status.as_str(),
                            p.reasons.join("; "),
                            p.log.display()
                        ))
                    );
                }
                Status::Failed => {
                    let message = p.first_error_line.as_deref().or(p.error.as_deref()).unwrap_or("failed");
                    let mut body = String::new();
                    if let Some(e) = &p.error {
                        body.push_str(e);
                        body.push('\n');
                    }
                    let _ = writeln!(body, "log: {}\n", p.log.display());
                    body.push_str(&log_tail(&p.log, TAIL_LINES));
                    let _ = writeln!(x, ">");
                    let _ = writeln!(
                        x,
                        "      <failure message=\"{}\" type=\"build\">{}</failure>",
                        xml_attr(message),
                        xml_escape(&body)
                    );
                }
                Status::Skipped => {
                    let _ = writeln!(x, ">");
                    let _ = writeln!(
                        x,
                        "      <skipped message=\"{}\"/>",
                        xml_attr(p.skipped_because.as_deref().unwrap_or("skipped"))
                    );
                }
            }
            let _ = writeln!(x, "    </testcase>");
        }
        let _ = writeln!(x, "  </testsuite>");
    }
    x.push_str("</testsuites>\n");
    x
}
