//! Versions from archive file names, their order, and `{{ version }}` in
//! the URL and file name of a new recipe.

/// Archive suffixes, longest first so `.tar.gz` wins over `.gz`.
const SUFFIXES: &[&str] = &[
    ".tar.gz", ".tar.xz", ".tar.bz2", ".tar.zst", ".tgz", ".txz", ".tbz2", ".tzst", ".tar", ".zip",
];

/// The file name without its archive suffix (and Debian's `.orig`).
pub fn stem(file: &str) -> &str {
    let lower = file.to_ascii_lowercase();
    let cut = SUFFIXES
        .iter()
        .find(|s| lower.ends_with(*s))
        .map_or(file.len(), |s| file.len() - s.len());
    let base = &file[..cut];
    base.strip_suffix(".orig").unwrap_or(base)
}

/// The version in `name-1.2.3.tar.gz`, `name_1.2.3.orig.tar.xz` or
/// `v1.2.3.tar.gz`: the text after the last `-`/`_` (or a leading `v`) that
/// starts with a digit.
pub fn from_file_name(file: &str) -> Option<String> {
    let stem = stem(file);
    let starts = |i: usize| stem[i..].starts_with(|c: char| c.is_ascii_digit());
    let mut best = None;
    for (i, c) in stem.char_indices() {
        let after = i + c.len_utf8();
        if matches!(c, '-' | '_') && after < stem.len() {
            let at = if stem[after..].starts_with(['v', 'V']) {
                after + 1
            } else {
                after
            };
            if at < stem.len() && starts(at) {
                best = Some(at);
            }
        }
    }
    if best.is_none() {
        // GitHub-style tag archives: `v1.2.3.tar.gz`, `1.2.3.tar.gz`.
        let at = usize::from(stem.starts_with(['v', 'V']));
        if at < stem.len() && starts(at) {
            best = Some(at);
        }
    }
    let v = &stem[best?..];
    v.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '~' | '-' | '_'))
        .then(|| v.to_string())
}

/// A pre-release or development version (PEP 440 letters), skipped when
/// picking the newest release.
pub fn is_prerelease(v: &str) -> bool {
    let l = v.to_ascii_lowercase();
    ["a", "b", "rc", "dev", "alpha", "beta", "pre"].iter().any(|tag| {
        l.split(|c: char| c.is_ascii_digit() || c == '.')
            .any(|part| part == *tag)
    })
}

/// Compares release numbers part by part, numerically where both parts are
/// numbers (`1.10` > `1.9`).
pub fn compare(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |v: &str| -> Vec<(u64, String)> {
        v.split(['.', '-', '_', '+'])
            .map(|p| {
                let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
                (digits.parse().unwrap_or(0), p[digits.len()..].to_string())
            })
            .collect()
    };
    parts(a).cmp(&parts(b))
}

/// `text` with each occurrence of `version` that stands alone (not part of a
/// longer number) replaced by `{{ version }}`.
pub fn templated(text: &str, version: &str) -> String {
    if version.is_empty() {
        return text.to_string();
    }
    let digit = |s: &str| s.starts_with(|c: char| c.is_ascii_digit());
    let mut out = String::with_capacity(text.len() + 16);
    let (mut copied, mut from) = (0, 0);
    while let Some(rel) = text[from..].find(version) {
        let i = from + rel;
        let end = i + version.len();
        let before = text[..i].chars().next_back();
        let after = &text[end..];
        let joined = before.is_some_and(|c| c.is_ascii_digit() || c == '.')
            || digit(after)
            || after.strip_prefix('.').is_some_and(digit);
        if joined {
            from = i + text[i..].chars().next().map_or(1, char::len_utf8);
        } else {
            out.push_str(&text[copied..i]);
            out.push_str("{{ version }}");
            copied = end;
            from = end;
        }
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_file_names() {
        assert_eq!(from_file_name("libyaml-0.2.5.tar.gz").as_deref(), Some("0.2.5"));
        assert_eq!(from_file_name("go-dqlite-2.0.0.tar.gz").as_deref(), Some("2.0.0"));
        assert_eq!(from_file_name("lz4_1.10.0.orig.tar.gz").as_deref(), Some("1.10.0"));
        assert_eq!(from_file_name("v1.18.7.tar.gz").as_deref(), Some("1.18.7"));
        assert_eq!(from_file_name("foo-v3.1.zip").as_deref(), Some("3.1"));
        assert_eq!(from_file_name("dqlitepy-0.1.0.tar.gz").as_deref(), Some("0.1.0"));
        assert_eq!(from_file_name("source.tar.gz"), None);
    }

    #[test]
    fn newest_and_prereleases() {
        assert!(compare("1.10.0", "1.9.9").is_gt());
        assert!(compare("2.0", "2.0.1").is_lt());
        assert!(is_prerelease("1.0rc1"));
        assert!(is_prerelease("2.0.0b3"));
        assert!(!is_prerelease("1.2.3"));
    }

    #[test]
    fn only_whole_versions_are_templated() {
        assert_eq!(
            templated("http://127.0.0.1:8080/r/1.2/foo-1.2.tar.gz", "1.2"),
            "http://127.0.0.1:8080/r/{{ version }}/foo-{{ version }}.tar.gz"
        );
        assert_eq!(
            templated("foo-11.2.3-1.2.tar.gz", "1.2"),
            "foo-11.2.3-{{ version }}.tar.gz"
        );
        assert_eq!(templated("foo-1.2.3.tar.gz", "1.2"), "foo-1.2.3.tar.gz");
    }
}
