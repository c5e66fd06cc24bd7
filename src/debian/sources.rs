//! Where the Debian archive is: read from the machine's apt configuration at
//! run time (or `RECIPE_DEBIAN_MIRROR`), never compiled in, so the tool uses
//! whatever mirror the machine is set up for.

use std::path::Path;

use super::DebianError;

pub const MIRROR_ENV: &str = "RECIPE_DEBIAN_MIRROR";

/// One `deb` source as apt would read it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Source {
    uri: String,
    suites: Vec<String>,
}

impl Source {
    /// Security and updates archives carry only a few packages of one suite
    /// (and here the armhf `-security` index even failed apt's size check):
    /// prefer the URI that serves a plain suite.
    fn serves_plain_suite(&self) -> bool {
        self.suites.iter().any(|s| !s.contains('-') && !s.contains('/'))
    }
}

/// The archive base URI (no trailing slash). Order: `RECIPE_DEBIAN_MIRROR`,
/// `/etc/apt/sources.list.d/*.sources` (deb822), then one-line
/// `/etc/apt/sources.list` and `sources.list.d/*.list`.
pub fn archive_uri() -> Result<String, DebianError> {
    if let Some(m) = std::env::var(MIRROR_ENV).ok().filter(|m| !m.trim().is_empty()) {
        return Ok(m.trim().trim_end_matches('/').to_string());
    }
    let etc = Path::new("/etc/apt");
    let mut sources = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(etc.join("sources.list.d"))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "sources")) {
        if let Ok(text) = std::fs::read_to_string(f) {
            sources.extend(parse_deb822(&text));
        }
    }
    let mut one_line = vec![etc.join("sources.list")];
    one_line.extend(files.iter().filter(|f| f.extension().is_some_and(|e| e == "list")).cloned());
    for f in one_line {
        if let Ok(text) = std::fs::read_to_string(&f) {
            sources.extend(parse_one_line(&text));
        }
    }
    pick(&sources).ok_or(DebianError::NoMirror)
}

fn pick(sources: &[Source]) -> Option<String> {
    let usable = |s: &&Source| s.uri.starts_with("http://") || s.uri.starts_with("https://");
    sources
        .iter()
        .filter(usable)
        .find(|s| s.serves_plain_suite())
        .or_else(|| sources.iter().find(usable))
        .map(|s| s.uri.trim_end_matches('/').to_string())
}

fn parse_deb822(text: &str) -> Vec<Source> {
    let mut out = Vec::new();
    for stanza in super::control::stanzas(text) {
        let get = |k: &str| {
            stanza
                .iter()
                .find(|(f, _)| f.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.as_str())
        };
        let is_deb = get("Types").is_some_and(|t| t.split_whitespace().any(|t| t == "deb"));
        let enabled = get("Enabled").is_none_or(|e| !e.eq_ignore_ascii_case("no"));
        if !is_deb || !enabled {
            continue;
        }
        let suites: Vec<String> = get("Suites")
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        for uri in get("URIs").unwrap_or_default().split_whitespace() {
            out.push(Source {
                uri: uri.to_string(),
                suites: suites.clone(),
            });
        }
    }
    out
}

fn parse_one_line(text: &str) -> Vec<Source> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line.strip_prefix("deb ").or_else(|| line.strip_prefix("deb\t")) else {
            continue;
        };
        let rest = rest.trim_start();
        // Skip the optional `[arch=… signed-by=…]` block.
        let rest = match rest.strip_prefix('[') {
            Some(r) => r.split_once(']').map_or("", |(_, after)| after),
            None => rest,
        };
        let mut words = rest.split_whitespace();
        if let (Some(uri), Some(suite)) = (words.next(), words.next()) {
            out.push(Source {
                uri: uri.to_string(),
                suites: vec![suite.to_string()],
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822_prefers_the_plain_suite() {
        let text = "Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\nComponents: main\n\nTypes: deb deb-src\n# comment\nURIs: http://mirror.invalid/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nEnabled: no\nURIs: http://disabled.invalid/debian\nSuites: trixie\n";
        let sources = parse_deb822(text);
        assert_eq!(sources.len(), 2);
        assert_eq!(pick(&sources).as_deref(), Some("http://mirror.invalid/debian"));
    }

    #[test]
    fn one_line_sources_with_options() {
        let text = "# deb http://commented.invalid/ x main\ndeb-src http://src.invalid/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] https://mirror.invalid/debian bookworm main\n";
        let sources = parse_one_line(text);
        assert_eq!(
            sources,
            vec![Source {
                uri: "https://mirror.invalid/debian".into(),
                suites: vec!["bookworm".into()]
            }]
        );
        assert_eq!(pick(&sources).as_deref(), Some("https://mirror.invalid/debian"));
    }

    #[test]
    fn nothing_usable() {
        assert_eq!(pick(&parse_one_line("deb cdrom:[Debian]/ bookworm main\n")), None);
    }
}
