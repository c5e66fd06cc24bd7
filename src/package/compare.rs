//! The first difference between two outputs of one package, for
//! `recipe build --check`: trees are walked in path order and compared by
//! type, link target, mode class and content; inside a differing wheel (a
//! zip), the first differing member is named too, since "the wheel differs"
//! alone sends nobody anywhere.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The first path (relative, `/`-separated) at which the trees `a` and `b`
/// differ, with what differs; `None` when they are the same.
pub fn first_difference(a: &Path, b: &Path) -> std::io::Result<Option<String>> {
    let left = crate::digest::sorted_entries(a, &[])?;
    let right = crate::digest::sorted_entries(b, &[])?;
    let rel = |root: &Path, p: &Path| p.strip_prefix(root).unwrap_or(p).to_path_buf();
    let (mut i, mut j) = (0, 0);
    while i < left.len() || j < right.len() {
        let l = left.get(i).map(|(p, m)| (rel(a, p), p, m));
        let r = right.get(j).map(|(p, m)| (rel(b, p), p, m));
        match (l, r) {
            (Some((lr, _, _)), Some((rr, _, _))) if lr < rr => {
                return Ok(Some(format!("{}: only in the first build", lr.display())));
            }
            (Some((lr, _, _)), Some((rr, _, _))) if lr > rr => {
                return Ok(Some(format!("{}: only in the second build", rr.display())));
            }
            (Some((name, lp, lm)), Some((_, rp, rm))) => {
                if let Some(why) = entry_difference(lp, lm, rp, rm)? {
                    return Ok(Some(format!("{}: {why}", name.display())));
                }
            }
            (Some((lr, _, _)), None) => return Ok(Some(format!("{}: only in the first build", lr.display()))),
            (None, Some((rr, _, _))) => return Ok(Some(format!("{}: only in the second build", rr.display()))),
            (None, None) => break,
        }
        i += 1;
        j += 1;
    }
    Ok(None)
}

fn entry_difference(
    a: &Path,
    am: &std::fs::Metadata,
    b: &Path,
    bm: &std::fs::Metadata,
) -> std::io::Result<Option<String>> {
    let kind = |m: &std::fs::Metadata| {
        if m.is_symlink() {
            "symlink"
        } else if m.is_dir() {
            "directory"
        } else {
            "file"
        }
    };
    if kind(am) != kind(bm) {
        return Ok(Some(format!(
            "a {} in the first build, a {} in the second",
            kind(am),
            kind(bm)
        )));
    }
    if am.is_symlink() {
        let (ta, tb) = (std::fs::read_link(a)?, std::fs::read_link(b)?);
        return Ok((ta != tb).then(|| format!("links to {} and to {}", ta.display(), tb.display())));
    }
    if am.is_dir() {
        return Ok(None);
    }
    let exec = |m: &std::fs::Metadata| m.permissions().mode() & 0o111 != 0;
    if exec(am) != exec(bm) {
        return Ok(Some("executable in one build only".into()));
    }
    if am.len() == bm.len() && same_content(a, b)? {
        return Ok(None);
    }
    let inner = match a.extension().and_then(|x| x.to_str()) {
        Some("whl" | "zip") => zip_difference(a, b).ok().flatten(),
        _ => None,
    };
    Ok(Some(match inner {
        Some(member) => format!("contents differ, first at member {member}"),
        None => format!("contents differ ({} and {} bytes)", am.len(), bm.len()),
    }))
}

fn same_content(a: &Path, b: &Path) -> std::io::Result<bool> {
    let (mut fa, mut fb) = (std::fs::File::open(a)?, std::fs::File::open(b)?);
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let n = read_full(&mut fa, &mut ba)?;
        let m = read_full(&mut fb, &mut bb)?;
        if n != m || ba[..n] != bb[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match f.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// Most member content worth reading to compare (a hostile zip could claim more).
const MAX_MEMBER: u64 = 512 << 20;

/// The first member (in archive order) whose name, metadata or content
/// differs between two zips.
fn zip_difference(a: &Path, b: &Path) -> Result<Option<String>, zip::result::ZipError> {
    let mut za = zip::ZipArchive::new(std::fs::File::open(a)?)?;
    let mut zb = zip::ZipArchive::new(std::fs::File::open(b)?)?;
    for i in 0..za.len().max(zb.len()) {
        if i >= za.len() || i >= zb.len() {
            return Ok(Some(format!("#{i} (one wheel has more members)")));
        }
        let mut ea = za.by_index(i)?;
        let name = ea.name()?.to_string();
        let mut eb = zb.by_index(i)?;
        let other = eb.name()?.to_string();
        if other != name {
            return Ok(Some(format!("#{i} ({name} and {other})")));
        }
        if ea.last_modified() != eb.last_modified() || ea.unix_mode() != eb.unix_mode() {
            return Ok(Some(format!("{name} (time or mode)")));
        }
        let (mut ca, mut cb) = (Vec::new(), Vec::new());
        (&mut ea).take(MAX_MEMBER).read_to_end(&mut ca)?;
        (&mut eb).take(MAX_MEMBER).read_to_end(&mut cb)?;
        if ca != cb {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_first_difference() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        for d in [&a, &b] {
            std::fs::create_dir_all(d.join("usr/lib")).expect("mkdir");
            std::fs::write(d.join("usr/lib/a.so"), "same").expect("write");
        }
        assert_eq!(first_difference(&a, &b).expect("compare"), None);
        std::fs::write(a.join("usr/lib/b.so"), "one").expect("write");
        std::fs::write(b.join("usr/lib/b.so"), "two").expect("write");
        std::fs::write(b.join("usr/lib/c.so"), "two").expect("write");
        let diff = first_difference(&a, &b).expect("compare").expect("a difference");
        assert!(diff.starts_with("usr/lib/b.so: contents differ"), "{diff}");
        std::fs::write(b.join("usr/lib/b.so"), "one").expect("write");
        let diff = first_difference(&a, &b).expect("compare").expect("a difference");
        assert_eq!(diff, "usr/lib/c.so: only in the second build");
    }
}
