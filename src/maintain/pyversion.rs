//! PEP 440-ish version order for `recipe outdated`: epoch, release numbers
//! (trailing zeros ignored, `1.0 == 1.0.0`), then
//! `.devN` < `aN` < `bN` < `rcN` < release < `.postN`; a local part
//! (`+…`) is ignored. A version that does not parse that way falls back to
//! the numeric-aware part comparison `recipe new` uses.

use std::cmp::Ordering;

/// (epoch, release, pre phase and number, post, dev) as sortable numbers.
type Key = (u64, Vec<u64>, (i8, u64), i64, u64);

fn key(v: &str) -> Option<Key> {
    let v = v.trim().to_ascii_lowercase();
    let v = v.strip_prefix('v').unwrap_or(&v);
    let v = v.split_once('+').map_or(v, |(public, _)| public);
    let (epoch, rest) = match v.split_once('!') {
        Some((e, r)) => (e.parse().ok()?, r),
        None => (0, v),
    };
    let release_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let release_text = rest[..release_end].trim_end_matches('.');
    let mut release: Vec<u64> = release_text.split('.').map(str::parse).collect::<Result<_, _>>().ok()?;
    while release.len() > 1 && release.last() == Some(&0) {
        release.pop();
    }
    let mut tail = &rest[release_end..];
    let (mut pre, mut post, mut dev) = (None, -1i64, u64::MAX);
    for (names, phase) in [
        (&["rc", "c", "pre", "preview"][..], 2i8),
        (&["b", "beta"], 1),
        (&["a", "alpha"], 0),
    ] {
        let t = tail.trim_start_matches(['.', '-', '_']);
        if let Some(name) = names.iter().find(|n| t.starts_with(**n)) {
            let (n, after) = number(&t[name.len()..]);
            pre = Some((phase, n));
            tail = after;
            break;
        }
    }
    let t = tail.trim_start_matches(['.', '-', '_']);
    if let Some(after) = t.strip_prefix("post").or_else(|| t.strip_prefix("rev")) {
        let (n, after) = number(after);
        post = i64::try_from(n).unwrap_or(i64::MAX);
        tail = after;
    }
    let t = tail.trim_start_matches(['.', '-', '_']);
    if let Some(after) = t.strip_prefix("dev") {
        let (n, after) = number(after);
        dev = n;
        tail = after;
    }
    if !tail.is_empty() {
        return None;
    }
    // A bare `.devN` release sorts before its pre-releases.
    let pre = match pre {
        Some(p) => p,
        None if dev != u64::MAX && post < 0 => (-1, 0),
        None => (3, 0),
    };
    Some((epoch, release, pre, post, dev))
}

/// Digits at the start of `s` (after an optional separator) and the rest.
fn number(s: &str) -> (u64, &str) {
    let s = s.trim_start_matches(['.', '-', '_']);
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    (s[..end].parse().unwrap_or(0), &s[end..])
}

pub fn compare(a: &str, b: &str) -> Ordering {
    match (key(a), key(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => crate::scaffold::version::compare(a, b),
    }
}

/// A pre-release or development release.
pub fn is_prerelease(v: &str) -> bool {
    match key(v) {
        Some((_, _, (phase, _), _, dev)) => phase < 3 || dev != u64::MAX,
        None => crate::scaffold::version::is_prerelease(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep440_order() {
        let ordered = [
            "1.0.dev1",
            "1.0a1",
            "1.0a2.dev1",
            "1.0a2",
            "1.0b1",
            "1.0rc1",
            "1.0",
            "1.0.post1",
            "1.1",
            "1.10",
            "2!0.1",
        ];
        for pair in ordered.windows(2) {
            assert_eq!(compare(pair[0], pair[1]), Ordering::Less, "{} < {}", pair[0], pair[1]);
            assert_eq!(compare(pair[1], pair[0]), Ordering::Greater);
        }
        assert_eq!(compare("1.0", "1.0.0"), Ordering::Equal);
        assert_eq!(compare("v1.2", "1.2+local"), Ordering::Equal);
        assert!(is_prerelease("2.0.0b1") && is_prerelease("1.0.dev3"));
        assert!(!is_prerelease("1.0.post2") && !is_prerelease("1.1.0"));
    }
}
