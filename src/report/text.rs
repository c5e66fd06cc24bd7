//! Small text helpers for the reports: escaping, times, sizes, paths, logs.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

pub use crate::timefmt::rfc3339;

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

pub fn duration(ms: u64) -> String {
    if ms == 0 {
        return "-".into();
    }
    let s = ms as f64 / 1000.0;
    if s < 60.0 {
        format!("{s:.1}s")
    } else {
        format!("{}m{:02}s", ms / 60_000, ms / 1000 % 60)
    }
}

/// Drops ANSI escape sequences (colours from compilers) and characters XML
/// 1.0 cannot carry at all.
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                // CSI: parameters and intermediates, then one final byte.
                for n in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&n) {
                        break;
                    }
                }
            }
            continue;
        }
        let allowed = matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{fffe}' && c != '\u{ffff}');
        out.push(if allowed { c } else { '\u{fffd}' });
    }
    out
}

/// Escapes for XML text and attribute values alike (also HTML).
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in clean(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Attribute values: line breaks and tabs are kept as character references,
/// otherwise parsers normalise them to spaces.
pub fn xml_attr(s: &str) -> String {
    let mut out = String::new();
    for c in xml_escape(s).chars() {
        match c {
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

fn absolute(p: &Path) -> PathBuf {
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map_or_else(|_| p.to_path_buf(), |cwd| cwd.join(p))
    };
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// `to`, relative to the directory `from`, as a URL path (percent-encoded):
/// a link in a report that keeps working when the tree is copied whole.
pub fn relative_href(from: &Path, to: &Path) -> String {
    let (from, to) = (absolute(from), absolute(to));
    let a: Vec<Component> = from.components().collect();
    let b: Vec<Component> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".into(); a.len() - common];
    parts.extend(b[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    let joined = parts.join("/");
    let mut out = String::with_capacity(joined.len());
    for byte in joined.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Patterns that mark the line explaining a failure, most specific first.
const ERROR_MARKERS: &[&str] = &[
    "fatal error:",
    "error:",
    "error[",
    "undefined reference to",
    "cannot find -l",
    "no rule to make target",
    "no such file or directory",
    "command not found",
    "traceback (most recent call last)",
    "failed",
];

/// The first log line that looks like the cause of a failure. Our own
/// transcript lines (`$ command`, `# note`) are skipped: commands mention
/// `-Werror` and such.
pub fn first_error_line(log: &Path) -> Option<String> {
    let bytes = std::fs::read(log).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with("$ ") && !l.starts_with("# "))
        .map(|l| clean(l).trim().to_string())
        .collect();
    for marker in ERROR_MARKERS {
        if let Some(l) = lines.iter().find(|l| l.to_lowercase().contains(marker)) {
            return Some(truncate(l, 300));
        }
    }
    None
}

pub fn log_tail(log: &Path, lines: usize) -> String {
    clean(
        &crate::build::process::Log {
            path: log.to_path_buf(),
        }
        .tail(lines),
    )
}

pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max).collect();
    t.push('…');
    t
}
