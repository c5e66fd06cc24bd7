//! The Debian archive of this machine, read from apt's sources at run time
//! (never written into the tool), and pool paths of source packages.

use std::path::Path;

/// Pool directory prefix of a source package: its first letter, or `lib` and
/// the fourth letter for `lib*` packages (`libuv1` → `libu`).
pub fn pool_prefix(package: &str) -> &str {
    if package.len() > 3 && package.starts_with("lib") && package.is_char_boundary(4) {
        &package[..4]
    } else {
        let end = package.char_indices().nth(1).map_or(package.len(), |(i, _)| i);
        &package[..end]
    }
}

/// `<archive>/pool/main/<prefix>/<package>/<file>`.
pub fn pool_url(archive: &str, package: &str, file: &str) -> String {
    format!(
        "{}/pool/main/{}/{package}/{file}",
        archive.trim_end_matches('/'),
        pool_prefix(package)
    )
}

/// The first archive URI in the apt configuration of this machine.
pub fn archive_from_apt() -> Option<String> {
    archive_from_apt_dir(Path::new("/etc/apt"))
}

/// Same, for an apt configuration rooted at `etc_apt` (tests use a temp dir).
pub fn archive_from_apt_dir(etc_apt: &Path) -> Option<String> {
    let mut files: Vec<_> = std::fs::read_dir(etc_apt.join("sources.list.d"))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else { continue };
        let found = match f.extension().and_then(|e| e.to_str()) {
            Some("sources") => from_deb822(&text),
            Some("list") => from_one_line(&text),
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    std::fs::read_to_string(etc_apt.join("sources.list"))
        .ok()
        .and_then(|t| from_one_line(&t))
}

/// Security suites live in a separate archive without the main pool.
fn is_main_archive(uri: &str, suites: &[&str]) -> bool {
    !uri.trim_end_matches('/').ends_with("-security")
        && suites
            .iter()
            .any(|s| !s.ends_with("/updates") && !s.ends_with("-security"))
}

fn usable_uri(uri: &str) -> bool {
    uri.starts_with("http://") || uri.starts_with("https://")
}

/// deb822 `.sources`: stanzas separated by blank lines, `URIs:` and `Suites:`.
pub fn from_deb822(text: &str) -> Option<String> {
    for stanza in text.split("\n\n") {
        let mut uris: Vec<&str> = Vec::new();
        let mut suites: Vec<&str> = Vec::new();
        let mut enabled = true;
        let mut deb = false;
        for line in stanza.lines() {
            let line = line.trim_end();
            if line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let values = value.split_whitespace();
            match key.trim().to_ascii_lowercase().as_str() {
                "uris" => uris.extend(values),
                "suites" => suites.extend(values),
                "types" => deb = value.split_whitespace().any(|t| t == "deb" || t == "deb-src"),
                "enabled" => enabled = !value.trim().eq_ignore_ascii_case("no"),
                _ => {}
            }
        }
        if !enabled || !deb {
            continue;
        }
        if let Some(uri) = uris.iter().find(|u| usable_uri(u) && is_main_archive(u, &suites)) {
            return Some(uri.trim_end_matches('/').to_string());
        }
    }
    None
}

/// One-line style: `deb [options] URI suite component…`.
pub fn from_one_line(text: &str) -> Option<String> {
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut words = line.split_whitespace();
        if !matches!(words.next(), Some("deb" | "deb-src")) {
            continue;
        }
        let mut rest: Vec<&str> = words.collect();
        // Options in brackets may contain spaces: drop everything up to `]`.
        if rest.first().is_some_and(|w| w.starts_with('[')) {
            let close = rest.iter().position(|w| w.ends_with(']')).unwrap_or(0);
            rest.drain(..=close);
        }
        if let [uri, suite, ..] = rest.as_slice()
            && usable_uri(uri)
            && is_main_archive(uri, &[suite])
        {
            return Some(uri.trim_end_matches('/').to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_prefixes() {
        assert_eq!(pool_prefix("dqlite"), "d");
        assert_eq!(pool_prefix("libuv1"), "libu");
        assert_eq!(pool_prefix("lib"), "l");
        assert_eq!(pool_prefix("golang-github-canonical-go-dqlite"), "g");
        assert_eq!(
            pool_url("http://h/debian/", "sqlite3", "sqlite3_3.46.1.orig.tar.xz"),
            "http://h/debian/pool/main/s/sqlite3/sqlite3_3.46.1.orig.tar.xz"
        );
    }

    #[test]
    fn deb822_skips_security_and_disabled() {
        let text = "Types: deb\nURIs: http://sec.invalid/debian-security\nSuites: bookworm-security\n\n\
                    Types: deb\nEnabled: no\nURIs: http://off.invalid/debian\nSuites: bookworm\n\n\
                    Types: deb deb-src\n# a comment\nURIs: http://main.invalid/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n";
        assert_eq!(from_deb822(text).as_deref(), Some("http://main.invalid/debian"));
    }

    #[test]
    fn one_line_with_options() {
        let text = "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://one.invalid/debian bookworm main\n";
        assert_eq!(from_one_line(text).as_deref(), Some("http://one.invalid/debian"));
        assert_eq!(
            from_one_line("deb http://s.invalid/debian-security bookworm-security main\n"),
            None
        );
    }

    #[test]
    fn reads_an_apt_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sources.list.d")).unwrap();
        std::fs::write(
            dir.path().join("sources.list.d/debian.sources"),
            "Types: deb\nURIs: http://d.invalid/debian\nSuites: trixie\nComponents: main\n",
        )
        .unwrap();
        assert_eq!(
            archive_from_apt_dir(dir.path()).as_deref(),
            Some("http://d.invalid/debian")
        );
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(archive_from_apt_dir(empty.path()), None);
    }
}
