//! Extraction of real and hostile archives built here, in every format.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use recipe::unpack::{UnpackError as ArchiveError, extract};

/// A tar entry written with raw header bytes, so hostile names survive
/// (tar's own `set_path` refuses `..`).
enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8], u32),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Device(&'a str),
    Fifo(&'a str),
    /// A PAX global header, as `git archive` writes first (the commit id).
    GlobalPax(&'a [u8]),
}

fn tar_bytes(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        let (name, kind, data, mode, link): (&str, tar::EntryType, &[u8], u32, &str) = match e {
            E::Dir(n) => (n, tar::EntryType::Directory, b"", 0o755, ""),
            E::File(n, d, m) => (n, tar::EntryType::Regular, d, *m, ""),
            E::Symlink(n, t) => (n, tar::EntryType::Symlink, b"", 0o777, t),
            E::Hardlink(n, t) => (n, tar::EntryType::Link, b"", 0o644, t),
            E::Device(n) => (n, tar::EntryType::Char, b"", 0o600, ""),
            E::Fifo(n) => (n, tar::EntryType::Fifo, b"", 0o600, ""),
            E::GlobalPax(d) => ("pax_global_header", tar::EntryType::XGlobalHeader, d, 0o666, ""),
        };
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(1_600_000_000);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn xz(data: &[u8]) -> Vec<u8> {
    let mut w = lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::default()).unwrap();
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

fn bz2(data: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zst(data: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
}

fn ar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = b"!<arch>\n".to_vec();
    for (name, data) in members {
        let header = format!(
            "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            name,
            0,
            0,
            0,
            100644,
            data.len()
        );
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

struct Sandbox {
    _dir: tempfile::TempDir,
    base: PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().to_path_buf();
        std::fs::create_dir_all(base.join("work")).unwrap();
        Sandbox { _dir: dir, base }
    }

    fn archive(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.base.join(name);
        std::fs::write(&p, data).unwrap();
        p
    }

    fn dest(&self) -> PathBuf {
        self.base.join("work").join("tree")
    }

    /// After a refused archive: no tree, no temporary leftovers, nothing
    /// written anywhere but the archives themselves.
    fn assert_untouched(&self, archives: &[&str]) {
        let work: Vec<_> = std::fs::read_dir(self.base.join("work")).unwrap().flatten().collect();
        assert!(
            work.is_empty(),
            "left in work/: {:?}",
            work.iter().map(|e| e.path()).collect::<Vec<_>>()
        );
        let mut names: Vec<String> = std::fs::read_dir(&self.base)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut expected: Vec<String> = archives.iter().map(|s| s.to_string()).chain(["work".into()]).collect();
        expected.sort();
        assert_eq!(names, expected, "something was written outside the tree");
    }
}

fn good_entries() -> Vec<E<'static>> {
    vec![
        E::Dir("pkg-1.0/"),
        E::Dir("pkg-1.0/src/"),
        E::File("pkg-1.0/configure", b"#!/bin/sh\necho ok\n", 0o755),
        E::File("pkg-1.0/src/a.c", b"int a;\n", 0o644),
        E::Symlink("pkg-1.0/src/link.c", "a.c"),
        E::Symlink("pkg-1.0/top", "src/../configure"),
        E::Hardlink("pkg-1.0/src/b.c", "pkg-1.0/src/a.c"),
        E::File("pax_ignored_by_strip", b"", 0o644),
    ]
}

fn check_good_tree(dest: &Path) {
    let conf = dest.join("configure");
    assert_eq!(std::fs::read(&conf).unwrap(), b"#!/bin/sh\necho ok\n");
    assert_eq!(std::fs::metadata(&conf).unwrap().permissions().mode() & 0o777, 0o755);
    assert_eq!(std::fs::read_link(dest.join("src/link.c")).unwrap(), Path::new("a.c"));
    assert_eq!(std::fs::read(dest.join("src/link.c")).unwrap(), b"int a;\n");
    assert_eq!(std::fs::read(dest.join("top")).unwrap(), b"#!/bin/sh\necho ok\n");
    assert_eq!(std::fs::read(dest.join("src/b.c")).unwrap(), b"int a;\n");
    let mtime = std::fs::metadata(dest.join("src/a.c")).unwrap().modified().unwrap();
    assert_eq!(
        mtime,
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000)
    );
    // A single top-level file entry is dropped entirely by strip-components 1.
    assert!(!dest.join("pax_ignored_by_strip").exists());
}

#[test]
fn every_tar_compression_extracts_with_strip_modes_links_and_mtimes() {
    let tar = tar_bytes(&good_entries());
    for (name, data) in [
        ("p.tar", tar.clone()),
        ("p.tar.gz", gz(&tar)),
        ("p.tgz", gz(&tar)),
        ("p.tar.xz", xz(&tar)),
        ("p.tar.bz2", bz2(&tar)),
        ("p.tar.zst", zst(&tar)),
    ] {
        let sb = Sandbox::new();
        let a = sb.archive(name, &data);
        extract(&a, &sb.dest(), 1).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        check_good_tree(&sb.dest());
        let left: Vec<_> = std::fs::read_dir(sb.base.join("work")).unwrap().flatten().collect();
        assert_eq!(left.len(), 1, "{name}: only the tree remains");
    }
}

/// GitHub's and `git archive`'s tarballs (cjson's, libinih's orig
/// tarballs in Debian) start with a PAX global header: metadata for the
/// whole archive, not a file, and not a reason to refuse it.
#[test]
fn a_pax_global_header_is_metadata_not_an_entry() {
    let mut entries = vec![E::GlobalPax(b"52 comment=0123456789012345678901234567890123456789\n")];
    entries.extend(good_entries());
    let sb = Sandbox::new();
    let a = sb.archive("git.tar.gz", &gz(&tar_bytes(&entries)));
    extract(&a, &sb.dest(), 1).unwrap_or_else(|e| panic!("{e:?}"));
    check_good_tree(&sb.dest());
    assert!(!sb.dest().join("pax_global_header").exists());
    let sb = Sandbox::new();
    let a = sb.archive("git0.tar", &tar_bytes(&entries));
    extract(&a, &sb.dest(), 0).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(!sb.dest().join("pax_global_header").exists());
    assert!(sb.dest().join("pkg-1.0/configure").is_file());
}

#[test]
fn deb_data_member_is_extracted() {
    let data = tar_bytes(&[E::Dir("./"), E::Dir("./usr/"), E::File("./usr/bin-tool", b"x", 0o755)]);
    let control = gz(&tar_bytes(&[E::File("./control", b"Package: t\n", 0o644)]));
    for (member, packed) in [
        ("data.tar.xz", xz(&data)),
        ("data.tar.zst", zst(&data)),
        ("data.tar.gz", gz(&data)),
    ] {
        let deb = ar(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar.gz", &control),
            (member, &packed),
        ]);
        let sb = Sandbox::new();
        let a = sb.archive("t_1.0_armhf.deb", &deb);
        extract(&a, &sb.dest(), 0).unwrap_or_else(|e| panic!("{member}: {e:?}"));
        assert_eq!(std::fs::read(sb.dest().join("usr/bin-tool")).unwrap(), b"x");
    }
}

#[test]
fn zip_extracts_with_strip_and_symlinks() {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
    z.add_directory("w-1/", opts).unwrap();
    z.start_file("w-1/run.sh", opts).unwrap();
    z.write_all(b"echo hi\n").unwrap();
    z.add_symlink("w-1/run-link", "run.sh", opts).unwrap();
    let data = z.finish().unwrap().into_inner();
    let sb = Sandbox::new();
    let a = sb.archive("w.zip", &data);
    extract(&a, &sb.dest(), 1).unwrap();
    assert_eq!(std::fs::read(sb.dest().join("run.sh")).unwrap(), b"echo hi\n");
    assert_eq!(
        std::fs::metadata(sb.dest().join("run.sh"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o755
    );
    assert_eq!(
        std::fs::read_link(sb.dest().join("run-link")).unwrap(),
        Path::new("run.sh")
    );
}

fn refused(name: &str, data: &[u8], strip: u32, entry: &str, reason: &str) {
    let sb = Sandbox::new();
    let a = sb.archive(name, data);
    let err = extract(&a, &sb.dest(), strip).expect_err(name);
    match &err {
        ArchiveError::Unsafe {
            entry: e,
            reason: r,
            archive,
        } => {
            assert_eq!(e, entry, "{err}");
            assert!(r.contains(reason), "{name}: `{r}` does not mention `{reason}`");
            assert_eq!(archive, &a);
        }
        other => panic!("{name}: expected Unsafe, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(name) && text.contains(entry), "{text}");
    sb.assert_untouched(&[name]);
}

#[test]
fn hostile_tars_are_refused_and_nothing_escapes() {
    let cases: Vec<(&str, Vec<E>, &str, &str)> = vec![
        ("dotdot", vec![E::File("../evil", b"x", 0o644)], "../evil", "`..`"),
        (
            "dotdot-inner",
            vec![E::File("p/../../evil", b"x", 0o644)],
            "p/../../evil",
            "`..`",
        ),
        (
            "absolute",
            vec![E::File("/tmp/evil-abs", b"x", 0o644)],
            "/tmp/evil-abs",
            "absolute",
        ),
        (
            "symlink-up",
            vec![E::Dir("p/"), E::Symlink("p/l", "../../outside")],
            "p/l",
            "outside the tree",
        ),
        ("symlink-abs", vec![E::Symlink("p/l", "/etc")], "p/l", "absolute"),
        // Each link stays inside on its own; followed together they leave.
        (
            "symlink-chain",
            vec![E::Symlink("p/x", "."), E::Symlink("p/y", "x/..")],
            "p/y",
            "outside the tree",
        ),
        (
            "through-symlink",
            vec![E::Symlink("p/l", "sub"), E::File("p/l/f", b"x", 0o644)],
            "p/l/f",
            "symlink",
        ),
        ("hardlink-up", vec![E::Hardlink("p/h", "../outside")], "p/h", "outside"),
        (
            "hardlink-abs",
            vec![E::Hardlink("p/h", "/etc/passwd")],
            "p/h",
            "outside",
        ),
        (
            "hardlink-unknown",
            vec![E::Hardlink("p/h", "p/never")],
            "p/h",
            "not a file",
        ),
        ("device", vec![E::Device("p/dev")], "p/dev", "device"),
        ("fifo", vec![E::Fifo("p/pipe")], "p/pipe", "fifo"),
    ];
    for (what, entries, entry, reason) in cases {
        let name = format!("{what}.tar.gz");
        refused(&name, &gz(&tar_bytes(&entries)), 1, entry, reason);
    }
}

#[test]
fn zip_slip_is_refused() {
    for (what, bad) in [("slip", "../../evil.txt"), ("abs", "/tmp/evil-zip.txt")] {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        z.start_file("ok/fine.txt", opts).unwrap();
        z.write_all(b"fine").unwrap();
        z.start_file(bad, opts).unwrap();
        z.write_all(b"evil").unwrap();
        let data = z.finish().unwrap().into_inner();
        refused(
            &format!("{what}.zip"),
            &data,
            0,
            bad,
            if what == "abs" { "absolute" } else { "`..`" },
        );
    }
    assert!(!Path::new("/tmp/evil-zip.txt").exists());
}

#[test]
fn corrupt_and_unknown_archives_are_errors_not_panics() {
    let sb = Sandbox::new();
    let a = sb.archive("x.tar.gz", b"not gzip at all");
    assert!(matches!(extract(&a, &sb.dest(), 1), Err(ArchiveError::Corrupt { .. })));
    let b = sb.archive("x.patch", b"");
    assert!(matches!(
        extract(&b, &sb.dest(), 1),
        Err(ArchiveError::UnknownFormat { .. })
    ));
    let c = sb.archive("x.deb", &ar(&[("debian-binary", b"2.0\n")]));
    assert!(matches!(extract(&c, &sb.dest(), 0), Err(ArchiveError::Corrupt { .. })));
    sb.assert_untouched(&["x.tar.gz", "x.patch", "x.deb"]);
}
