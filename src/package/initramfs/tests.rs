use super::*;

/// One parsed entry: (name, mode, rdev, data).
type Parsed = (String, u32, (u32, u32), Vec<u8>);

/// An independent reader of `newc` archives, strict about magic, padding and
/// the trailer, for round trips.
fn parse(mut b: &[u8]) -> Vec<Parsed> {
    let total = b.len();
    let mut out = Vec::new();
    loop {
        assert!(b.len() >= 110, "truncated header");
        assert_eq!(&b[..6], b"070701");
        let field =
            |i: usize| u32::from_str_radix(std::str::from_utf8(&b[6 + 8 * i..14 + 8 * i]).unwrap(), 16).unwrap();
        let (mode, size, rdev, namesize) = (field(1), field(6) as usize, (field(9), field(10)), field(11) as usize);
        assert_eq!((field(2), field(3), field(5)), (0, 0, 0), "uid, gid, mtime");
        let name = std::str::from_utf8(&b[110..110 + namesize - 1]).unwrap().to_string();
        assert_eq!(b[110 + namesize - 1], 0);
        let data_at = (110 + namesize).next_multiple_of(4);
        let data = b[data_at..data_at + size].to_vec();
        let next = (data_at + size).next_multiple_of(4);
        assert_eq!((total - b.len()) % 4, 0, "entries start 4-aligned");
        b = &b[next..];
        if name == "TRAILER!!!" {
            assert!(b.is_empty(), "nothing after the trailer");
            return out;
        }
        out.push((name, mode, rdev, data));
    }
}

#[test]
fn round_trip_sorted_with_parents_and_device() {
    let mut i = Initramfs::new();
    i.insert(
        "/init",
        Node::File {
            mode: 0o755,
            data: b"#!/bin/sh\n".to_vec(),
        },
    )
    .unwrap();
    i.insert(
        "usr/bin/busybox",
        Node::File {
            mode: 0o755,
            data: vec![1, 2, 3],
        },
    )
    .unwrap();
    i.insert(
        "bin",
        Node::Symlink {
            target: "usr/bin".into(),
        },
    )
    .unwrap();
    i.insert(
        "dev/console",
        Node::CharDev {
            mode: 0o600,
            major: 5,
            minor: 1,
        },
    )
    .unwrap();
    let entries = parse(&i.to_cpio());
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        names,
        ["bin", "dev", "dev/console", "init", "usr", "usr/bin", "usr/bin/busybox"]
    );
    assert_eq!(entries[0].1, 0o120777);
    assert_eq!(entries[0].3, b"usr/bin");
    assert_eq!((entries[2].1, entries[2].2), (0o020600, (5, 1)));
    assert_eq!(entries[3].1, 0o100755);
    assert_eq!(entries[4].1, 0o040755);
    assert_eq!(entries[6].3, [1, 2, 3]);
}

#[test]
fn tree_is_deterministic_and_gz_is_stable() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    std::fs::create_dir_all(r.join("etc/x")).unwrap();
    std::fs::write(r.join("etc/x/a"), "a").unwrap();
    std::fs::write(r.join(".recipe-stamp.json"), "{}").unwrap();
    symlink("/etc/x/a", r.join("etc/link")).unwrap();
    let mut i = Initramfs::new();
    i.add_tree(r, "", &[".recipe-stamp.json"]).unwrap();
    let names: Vec<String> = parse(&i.to_cpio()).into_iter().map(|e| e.0).collect();
    assert_eq!(names, ["etc", "etc/link", "etc/x", "etc/x/a"]);
    let (a, b) = (r.join("a.cpio.gz"), r.join("b.cpio.gz"));
    i.write_gz(&a).unwrap();
    i.write_gz(&b).unwrap();
    let bytes = std::fs::read(&a).unwrap();
    assert_eq!(bytes, std::fs::read(&b).unwrap());
    let mut cpio = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut cpio).unwrap();
    assert_eq!(cpio, i.to_cpio());
}

#[test]
fn refuses_escaping_paths_and_files_as_parents() {
    let mut i = Initramfs::new();
    for bad in ["", "/", "../x", "a/../b", "a//b", "./a"] {
        assert!(
            matches!(
                i.insert(bad, Node::Dir { mode: 0o755 }),
                Err(InitramfsError::BadPath(_))
            ),
            "{bad}"
        );
    }
    i.insert(
        "f",
        Node::File {
            mode: 0o644,
            data: vec![],
        },
    )
    .unwrap();
    assert!(matches!(
        i.insert("f/g", Node::Dir { mode: 0o755 }),
        Err(InitramfsError::NotDir { .. })
    ));
}
