//! deb822 control-file parsing: the `Packages` index and the `Release` file.
//!
//! Hand-written rather than a deb822 crate: we need a handful of fields from
//! ~65,000 stanzas per index, so a borrowing line scanner is both simpler and
//! faster than building a generic map per stanza.

/// The fields of one `Packages` stanza that resolution and download need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageEntry {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub depends: String,
    pub pre_depends: String,
    pub provides: String,
    pub filename: String,
    pub size: u64,
    pub sha256: String,
}

/// Splits deb822 text into stanzas of `(field, value)`; continuation lines are
/// joined with `\n` into the previous value.
pub fn stanzas(text: &str) -> impl Iterator<Item = Vec<(&str, String)>> {
    text.split("\n\n").filter_map(|block| {
        let mut fields: Vec<(&str, String)> = Vec::new();
        for line in block.lines() {
            if line.starts_with('#') {
                continue;
            }
            if line.starts_with(' ') || line.starts_with('\t') {
                if let Some((_, v)) = fields.last_mut() {
                    v.push('\n');
                    v.push_str(line.trim());
                }
                continue;
            }
            if let Some((k, v)) = line.split_once(':') {
                fields.push((k.trim(), v.trim().to_string()));
            }
        }
        (!fields.is_empty()).then_some(fields)
    })
}

/// Parses a `Packages` file. Entries missing a name, version, file name or
/// hash are skipped: they cannot be installed anyway.
pub fn parse_packages(text: &str) -> Vec<PackageEntry> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut e = PackageEntry::default();
        let mut current: Option<&mut String> = None;
        for line in block.lines() {
            if line.starts_with(' ') || line.starts_with('\t') {
                // Only Depends-like fields continue over lines in practice;
                // long descriptions are skipped because `current` is None then.
                if let Some(v) = current.as_deref_mut() {
                    v.push(' ');
                    v.push_str(line.trim());
                }
                continue;
            }
            let Some((k, v)) = line.split_once(':') else {
                current = None;
                continue;
            };
            let v = v.trim();
            current = None;
            let slot = match k {
                "Package" => &mut e.name,
                "Version" => &mut e.version,
                "Architecture" => &mut e.architecture,
                "Depends" => &mut e.depends,
                "Pre-Depends" => &mut e.pre_depends,
                "Provides" => &mut e.provides,
                "Filename" => &mut e.filename,
                "SHA256" => &mut e.sha256,
                "Size" => {
                    e.size = v.parse().unwrap_or(0);
                    continue;
                }
                _ => continue,
            };
            slot.push_str(v);
            current = Some(slot);
        }
        if !e.name.is_empty() && !e.version.is_empty() && !e.filename.is_empty() && e.sha256.len() == 64 {
            out.push(e);
        }
    }
    out
}

/// One file listed in a Release file's `SHA256:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseFile {
    pub sha256: String,
    pub size: u64,
    pub path: String,
}

/// The `SHA256:` section of a Release file.
pub fn release_sha256(text: &str) -> Vec<ReleaseFile> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if !line.starts_with(' ') {
            inside = line.trim_end() == "SHA256:";
            continue;
        }
        if !inside {
            continue;
        }
        let mut parts = line.split_whitespace();
        if let (Some(h), Some(s), Some(p)) = (parts.next(), parts.next(), parts.next())
            && h.len() == 64
            && let Ok(size) = s.parse()
        {
            out.push(ReleaseFile {
                sha256: h.to_ascii_lowercase(),
                size,
                path: p.to_string(),
            });
        }
    }
    out
}

/// The signed text of a clear-signed `InRelease` file (dash-escaping undone),
/// or `None` when the file is not clear-signed.
pub fn clearsigned_body(text: &str) -> Option<String> {
    let mut lines = text.lines();
    lines
        .by_ref()
        .find(|l| l.trim_end() == "-----BEGIN PGP SIGNED MESSAGE-----")?;
    // Armor headers ("Hash: SHA512") end at the first empty line.
    for l in lines.by_ref() {
        if l.trim().is_empty() {
            break;
        }
    }
    let mut body = String::new();
    for l in lines {
        if l.trim_end() == "-----BEGIN PGP SIGNATURE-----" {
            return Some(body);
        }
        body.push_str(l.strip_prefix("- ").unwrap_or(l));
        body.push('\n');
    }
    None
}

/// A Release file date (`Sat, 28 Nov 2026 09:15:44 UTC`, RFC 2822 in UTC,
/// as the archive writes them), or `None` if it is not one.
pub fn parse_release_date(text: &str) -> Option<std::time::SystemTime> {
    let mut words = text.split_whitespace();
    let first = words.next()?;
    // The weekday is optional in RFC 2822.
    let day_word = if first.ends_with(',') { words.next()? } else { first };
    let day: u64 = day_word.parse().ok()?;
    let month = match words.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = words.next()?.parse().ok()?;
    let mut hms = words.next()?.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next().unwrap_or(Some(0))?);
    if !matches!(words.next(), Some("UTC" | "GMT" | "+0000") | None)
        || !(1..=31).contains(&day)
        || h > 23
        || m > 59
        || sec > 60
    {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
    // days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days).ok()? * 86_400 + h * 3600 + m * 60 + sec;
    Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// One dependency alternative: `name[:arch] [(op version)]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub name: String,
    pub constraint: Option<(String, String)>,
}

/// Parses a Depends-style field into AND-groups of OR-alternatives. Arch
/// qualifiers (`:any`, `:native`) are dropped: each index holds one arch plus
/// `all`, and restrictions (`[arch]`, `<profile>`) do not occur in binary indexes.
pub fn relations(field: &str) -> Vec<Vec<Relation>> {
    field
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(|group| {
            group
                .split('|')
                .filter_map(|alt| {
                    let alt = alt.trim();
                    let (head, constraint) = match alt.split_once('(') {
                        Some((h, rest)) => {
                            let inner = rest.trim_end_matches(')').trim();
                            let op_len = inner.find(|c: char| !"<>=".contains(c)).unwrap_or(inner.len());
                            let (op, ver) = inner.split_at(op_len);
                            (h.trim(), Some((op.to_string(), ver.trim().to_string())))
                        }
                        None => (alt, None),
                    };
                    let name = head.split(':').next().unwrap_or(head).trim();
                    (!name.is_empty()).then(|| Relation {
                        name: name.to_string(),
                        constraint,
                    })
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACKAGES: &str = "Package: libc6\nVersion: 2.41-12\nArchitecture: armhf\nDepends: libgcc-s1\nFilename: pool/main/g/glibc/libc6_2.41-12_armhf.deb\nSize: 100\nSHA256: 0000000000000000000000000000000000000000000000000000000000000001\nDescription: GNU C Library\n long text: with colons\n\nPackage: python3\nVersion: 3.13.5-1\nArchitecture: armhf\nPre-Depends: python3-minimal (= 3.13.5-1)\nDepends: python3.13 (>= 3.13.5-1~),\n libpython3-stdlib (= 3.13.5-1)\nFilename: pool/main/p/python3/python3_3.13.5-1_armhf.deb\nSize: 28\nSHA256: 0000000000000000000000000000000000000000000000000000000000000002\n";

    #[test]
    fn parses_packages_with_continuations() {
        let p = parse_packages(PACKAGES);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].name, "libc6");
        assert_eq!(p[0].size, 100);
        assert_eq!(
            p[1].depends,
            "python3.13 (>= 3.13.5-1~), libpython3-stdlib (= 3.13.5-1)"
        );
        let rel = relations(&p[1].depends);
        assert_eq!(rel.len(), 2);
        assert_eq!(rel[0][0].constraint, Some((">=".into(), "3.13.5-1~".into())));
    }

    #[test]
    fn alternatives_and_arch_qualifiers() {
        let r = relations("libc6 (>= 2.36), debconf (>= 0.5) | debconf-2.0, python3:any");
        assert_eq!(r.len(), 3);
        assert_eq!(r[1].len(), 2);
        assert_eq!(r[1][1].name, "debconf-2.0");
        assert_eq!(r[2][0].name, "python3");
        assert_eq!(r[2][0].constraint, None);
    }

    #[test]
    fn release_dates() {
        let t = parse_release_date("Sat, 21 Nov 2026 09:15:44 UTC").expect("date");
        let secs = t.duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs();
        assert_eq!(secs, 1_795_252_544);
        assert_eq!(
            parse_release_date("1 Jan 1970 00:00:00 UTC"),
            Some(std::time::UNIX_EPOCH)
        );
        for bad in [
            "",
            "Sat, 32 Nov 2026 09:15:44 UTC",
            "Sat, 21 Foo 2026 09:15:44 UTC",
            "21 Nov 2026 25:00:00 UTC",
            "21 Nov 2026 09:15:44 +0200",
        ] {
            assert_eq!(parse_release_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn release_hashes_and_clearsigned_body() {
        let inrelease = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nOrigin: Debian\n- -dash escaped\nMD5Sum:\n 0123 10 main/binary-armhf/Packages.xz\nSHA256:\n aa00000000000000000000000000000000000000000000000000000000000000   9253412 main/binary-armhf/Packages.xz\n-----BEGIN PGP SIGNATURE-----\nxyz\n-----END PGP SIGNATURE-----\n";
        let body = clearsigned_body(inrelease).expect("clearsigned");
        assert!(body.contains("\n-dash escaped\n"));
        let files = release_sha256(&body);
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].size, 9253412);
        assert_eq!(files[0].path, "main/binary-armhf/Packages.xz");
        assert!(clearsigned_body("Origin: Debian\n").is_none());
    }
}
