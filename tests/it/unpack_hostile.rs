//! The hostile archive suite: every kind of hostile archive, built in memory,
//! run against every use of the unpacker (source tar, source zip, `.deb`
//! data for root filesystems, remote cache entries). Whatever the outcome,
//! nothing outside the root may change, and an extracted root holds no
//! special bits, special files or links leading out.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::hostile::build::{Ent, deb, dir, file, gz, hard, sym, tar, zip};
use crate::support::hostile::{Sandbox, root_invariants};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    SourceTar,
    SourceZip,
    Deb,
    Remote,
}

const USES: [Use; 4] = [Use::SourceTar, Use::SourceZip, Use::Deb, Use::Remote];

/// Entry-count and byte limits for the bomb kinds.
#[derive(Clone, Copy)]
struct Bounds {
    entries: u64,
    bytes: u64,
}

/// Runs one archive through one use; `None` when the format cannot express it.
fn run(u: Use, sb: &Sandbox, ents: &[Ent], bounds: Option<Bounds>) -> Option<Result<(), String>> {
    use recipe::unpack::{Limits, Policy};
    let limits = match bounds {
        Some(b) => Limits {
            max_entries: b.entries,
            max_bytes: b.bytes,
        },
        None => Limits::default(),
    };
    let result = match u {
        Use::SourceTar | Use::SourceZip => {
            let (name, bytes) = match u {
                Use::SourceTar => ("h.tar.gz", gz(&tar(ents))),
                _ => ("h.zip", zip(ents)?),
            };
            let a = sb.scratch.join(name);
            std::fs::write(&a, bytes).expect("write archive");
            recipe::unpack::extract_with(&a, &sb.root, 0, &Policy::source().limits(limits)).map_err(|e| e.to_string())
        }
        Use::Deb => {
            let a = sb.scratch.join("h_1.0_armhf.deb");
            std::fs::write(&a, deb(ents)).expect("write deb");
            recipe::unpack::deb::extract_debs(&[a], &sb.root, None, &Policy::rootfs().limits(limits))
                .map(drop)
                .map_err(|e| e.to_string())
        }
        Use::Remote => {
            std::fs::create_dir_all(&sb.root).expect("mkdir");
            let bytes = tar(ents);
            recipe::unpack::cache_entry(bytes.as_slice(), &sb.root, &Policy::cache().limits(limits))
                .map_err(|e| e.to_string())
        }
    };
    Some(result)
}

type Check = fn(&Path) -> Result<(), String>;

#[derive(Clone, Copy)]
enum Want {
    /// Must fail.
    Refuse,
    /// Must succeed, and the check must hold.
    Accept(Check),
    /// Either outcome is safe; when it succeeds, the check must hold.
    Safe(Check),
}

struct Kind {
    name: &'static str,
    ents: fn(&str) -> Vec<Ent>,
    want: fn(Use) -> Want,
    bounds: Option<Bounds>,
}

fn none(_: &Path) -> Result<(), String> {
    Ok(())
}
fn refuse(_: Use) -> Want {
    Want::Refuse
}
fn safe(_: Use) -> Want {
    Want::Safe(none)
}
/// Escapes for sources and cache entries; root filesystems may re-root them.
fn refuse_unless_rootfs(u: Use) -> Want {
    if u == Use::Deb { Want::Safe(none) } else { Want::Refuse }
}

fn read(root: &Path, p: &str) -> Result<String, String> {
    std::fs::read_to_string(root.join(p)).map_err(|e| format!("{p}: {e}"))
}
fn expect_eq(what: &str, got: String, want: &str) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: {got:?}, wanted {want:?}"))
    }
}
fn mode_of(root: &Path, p: &str) -> Result<u32, String> {
    let m = std::fs::symlink_metadata(root.join(p)).map_err(|e| format!("{p}: {e}"))?;
    Ok(m.permissions().mode() & 0o7777)
}

fn kinds() -> Vec<Kind> {
    let k = |name, ents, want| Kind {
        name,
        ents,
        want,
        bounds: None,
    };
    let mut v = vec![
        k("absolute path", |o| vec![file(&format!("{o}/abs"), "x")], refuse),
        k("`..` path", |_| vec![file("../../../outside/dd", "x")], refuse),
        k("`..` inside a path", |_| vec![dir("a"), file("a/../../x", "x")], refuse),
        k(
            "write through an absolute symlink",
            |o| vec![sym("l", o), file("l/pwn", "x")],
            refuse,
        ),
        k(
            "write through a `..` symlink",
            |_| vec![sym("l", ".."), file("l/pwn", "x")],
            refuse,
        ),
        k(
            "symlink `..` out of a subdirectory",
            |_| vec![dir("a"), sym("a/l", "../../x")],
            refuse,
        ),
        k(
            "symlink chain x -> ., y -> x/..",
            |_| vec![sym("x", "."), sym("y", "x/..")],
            refuse,
        ),
        k(
            "deeper-path-first links (issue repro)",
            |_| {
                vec![
                    sym("a/b/c/d/e", "f"),
                    sym("a/b/c/d", "../.."),
                    sym("a/b/c", "../.."),
                    sym("a/b", "."),
                ]
            },
            refuse,
        ),
        k(
            "child before its parent becomes a link",
            |o| vec![file("d/f", "x"), sym("d", o)],
            refuse_unless_rootfs,
        ),
        k(
            "link replaced by a directory later",
            |o| vec![sym("d", o), dir("d"), file("d/f", "x")],
            |_| Want::Safe(|r| expect_eq("d/f", read(r, "d/f")?, "x")),
        ),
        k(
            "directory replaced by a link later",
            |_| {
                vec![
                    dir("d"),
                    file("d/f", "x"),
                    sym("d", "../../../outside"),
                    file("d/g", "x"),
                ]
            },
            refuse,
        ),
        k(
            "duplicate file entries",
            |_| vec![file("f", "one"), file("f", "two")],
            |_| Want::Safe(|r| expect_eq("f", read(r, "f")?, "two")),
        ),
        k(
            "file replaced by an outward link",
            |o| vec![file("f", "x"), sym("f", &format!("{o}/victim"))],
            safe,
        ),
        k(
            "link replaced by a file",
            |_| vec![sym("f", "../../../outside/new"), file("f", "x")],
            |_| Want::Safe(|r| expect_eq("f", read(r, "f")?, "x")),
        ),
        k(
            "hard link to a symlink",
            |_| vec![file("t", "x"), sym("s", "t"), hard("h", "s")],
            refuse,
        ),
        k(
            "hard link to an outward symlink",
            |o| vec![sym("s", &format!("{o}/victim")), hard("h", "s")],
            refuse,
        ),
        k(
            "hard link through a symlinked dir",
            |o| vec![sym("l", o), hard("h", "l/victim")],
            refuse,
        ),
        k(
            "hard link with `..`",
            |_| vec![hard("h", "../../../outside/victim")],
            refuse,
        ),
        k(
            "hard link to an absolute path",
            |o| vec![hard("h", &format!("{o}/victim"))],
            refuse,
        ),
        k(
            "hard link before its target",
            |_| vec![hard("h", "f"), file("f", "x")],
            refuse,
        ),
        k(
            "hard link then overwrite the link",
            |_| vec![file("f", "orig"), hard("h", "f"), file("h", "new")],
            |_| Want::Safe(|r| expect_eq("f", read(r, "f")?, "orig")),
        ),
        k("hard link to a directory", |_| vec![dir("d"), hard("h", "d")], refuse),
        k(
            "PAX path with `..`",
            |_| vec![Ent::PaxFile("../../../outside/pax".into(), b"x".to_vec())],
            refuse,
        ),
        k(
            "GNU long name with `..`",
            |_| {
                vec![Ent::GnuLongFile(
                    format!("{}{}outside/gnu", "a/".repeat(40), "../".repeat(43)),
                    b"x".to_vec(),
                )]
            },
            refuse,
        ),
        k(
            "PAX linkpath leading out",
            |_| {
                vec![
                    Ent::PaxSym("l".into(), format!("{}../../../outside", "./".repeat(60))),
                    file("l/pwn", "x"),
                ]
            },
            refuse,
        ),
        k(
            "small sparse file",
            |_| vec![Ent::Sparse("sp".into(), 8192, 4096, b"hello".to_vec())],
            |u| match u {
                Use::Remote => Want::Refuse,
                _ => Want::Accept(check_sparse),
            },
        ),
        k(
            "sparse file of 1 TiB",
            |_| vec![Ent::Sparse("sp".into(), 1 << 40, (1 << 40) - 5, b"hello".to_vec())],
            refuse,
        ),
        k(
            "character device",
            |_| vec![Ent::Char("dev".into())],
            refuse_unless_rootfs,
        ),
        k("block device", |_| vec![Ent::Block("blk".into())], refuse_unless_rootfs),
        k("fifo", |_| vec![Ent::Fifo("pipe".into())], refuse_unless_rootfs),
        k(
            "setuid and setgid files",
            |_| {
                vec![
                    Ent::File("suid".into(), b"x".to_vec(), 0o4755),
                    Ent::File("sgid".into(), b"x".to_vec(), 0o2755),
                ]
            },
            |u| match u {
                Use::Remote => Want::Safe(check_suid),
                _ => Want::Accept(check_suid),
            },
        ),
        k(
            "setgid and sticky directories",
            |_| {
                vec![
                    Ent::Dir("g".into(), 0o2775),
                    Ent::Dir("t".into(), 0o1777),
                    file("g/f", "x"),
                ]
            },
            |_| Want::Accept(check_dirs),
        ),
        k(
            "header claiming 1 TiB",
            |_| vec![Ent::Huge("h".into(), 1 << 40)],
            refuse,
        ),
        k(
            "GNU long name header claiming 64 GiB",
            |_| vec![Ent::HugeMeta(tar::EntryType::GNULongName, 64 << 30)],
            refuse,
        ),
        k(
            "PAX header claiming 64 GiB",
            |_| vec![Ent::HugeMeta(tar::EntryType::XHeader, 64 << 30)],
            refuse,
        ),
        k("symlink loop", |_| vec![sym("a", "b"), sym("b", "a")], safe),
        k(
            "entry under a regular file",
            |_| vec![file("f", "x"), file("f/g", "y")],
            refuse,
        ),
        k(
            "absolute symlink kept",
            |_| vec![sym("l", "/etc/passwd")],
            |u| match u {
                Use::Deb => Want::Accept(check_rerooted),
                _ => Want::Refuse,
            },
        ),
    ];
    v.push(Kind {
        name: "too many entries",
        ents: |_| (0..300).map(|i| file(&format!("f{i}"), "")).collect(),
        want: refuse,
        bounds: Some(Bounds {
            entries: 100,
            bytes: 1 << 30,
        }),
    });
    v.push(Kind {
        name: "decompression bomb",
        ents: |_| vec![Ent::File("big".into(), vec![0u8; 8 << 20], 0o644)],
        want: refuse,
        bounds: Some(Bounds {
            entries: 1000,
            bytes: 1 << 20,
        }),
    });
    v
}

fn check_sparse(r: &Path) -> Result<(), String> {
    let data = std::fs::read(r.join("sp")).map_err(|e| format!("sp: {e}"))?;
    let ok = data.len() == 8192 && &data[4096..4101] == b"hello" && data[..4096].iter().all(|b| *b == 0);
    if ok {
        Ok(())
    } else {
        Err(format!("sparse file has {} bytes, wrong content", data.len()))
    }
}
fn check_suid(r: &Path) -> Result<(), String> {
    for f in ["suid", "sgid"] {
        let m = mode_of(r, f)?;
        if m != 0o755 {
            return Err(format!("{f} has mode {m:o}, wanted 755"));
        }
    }
    Ok(())
}
fn check_dirs(r: &Path) -> Result<(), String> {
    for (d, want) in [("g", 0o775), ("t", 0o777)] {
        let m = mode_of(r, d)?;
        if m != want {
            return Err(format!("{d} has mode {m:o}, wanted {want:o}"));
        }
    }
    Ok(())
}
fn check_rerooted(r: &Path) -> Result<(), String> {
    let t = std::fs::read_link(r.join("l")).map_err(|e| format!("l: {e}"))?;
    if t == Path::new("etc/passwd") {
        Ok(())
    } else {
        Err(format!("l -> {}", t.display()))
    }
}

/// One kind against one use: `None` when not expressible, else the verdict.
fn judge(kind: &Kind, u: Use) -> Option<Result<(), String>> {
    let sb = Sandbox::new();
    let before = sb.snapshot();
    let ents = (kind.ents)(&sb.out.display().to_string());
    let outcome = run(u, &sb, &ents, kind.bounds)?;
    let after = sb.snapshot();
    if before != after {
        let changed: Vec<_> = after
            .iter()
            .filter(|(p, d)| before.get(*p) != Some(*d))
            .map(|(p, _)| p)
            .collect();
        let gone: Vec<_> = before.keys().filter(|p| !after.contains_key(*p)).collect();
        return Some(Err(format!("outside the root changed: {changed:?} removed: {gone:?}")));
    }
    let verdict = match (outcome, (kind.want)(u)) {
        (Ok(()), Want::Refuse) => Err("extracted, should be refused".to_string()),
        (Err(e), Want::Accept(_)) => Err(format!("refused, should be accepted: {e}")),
        (Ok(()), Want::Accept(check) | Want::Safe(check)) => root_invariants(&sb.root).and_then(|()| check(&sb.root)),
        (Err(_), _) if matches!(u, Use::SourceTar | Use::SourceZip) && sb.root.exists() => {
            Err("refused, but left a tree behind".to_string())
        }
        // A refused root is removed by its owner, but nothing in it may be
        // dangerous meanwhile (no link leading out, no special file).
        (Err(_), _) if sb.root.exists() => root_invariants(&sb.root).map_err(|e| format!("refused, but left: {e}")),
        (Err(_), _) => Ok(()),
    };
    Some(verdict)
}

#[test]
fn hostile_archives_against_every_use() {
    let kinds = kinds();
    let (mut passed, mut failed, mut na) = (0, Vec::new(), 0);
    for kind in &kinds {
        for u in USES {
            match judge(kind, u) {
                None => na += 1,
                Some(Ok(())) => passed += 1,
                Some(Err(why)) => failed.push(format!("{} / {u:?}: {why}", kind.name)),
            }
        }
    }
    let total = kinds.len() * USES.len() - na;
    println!(
        "hostile kinds: {}, uses: {}, cases: {total} (+{na} not expressible in zip)",
        kinds.len(),
        USES.len()
    );
    println!("passed {passed} of {total}");
    for f in &failed {
        println!("FAIL {f}");
    }
    assert!(kinds.len() >= 25);
    assert!(
        failed.is_empty(),
        "{} of {total} cases failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn device_nodes_and_fifos_in_a_deb_are_skipped_and_named() {
    let sb = Sandbox::new();
    let a = sb.scratch.join("h_1.0_armhf.deb");
    let ents = [
        dir("dev"),
        Ent::Char("dev/null".into()),
        Ent::Fifo("run/fifo".into()),
        file("etc/ok", "x"),
    ];
    std::fs::write(&a, deb(&ents)).expect("write deb");
    let skipped = recipe::unpack::deb::extract_debs(&[a], &sb.root, None, &recipe::unpack::Policy::rootfs())
        .expect("a root filesystem skips special files");
    assert_eq!(
        skipped,
        vec![
            "h_1.0_armhf.deb: dev/null (device node)".to_string(),
            "h_1.0_armhf.deb: run/fifo (named pipe (fifo))".to_string()
        ]
    );
    assert!(sb.root.join("etc/ok").is_file());
    assert!(!sb.root.join("dev/null").exists());
}

/// Writes every hostile kind, in every form it can take, as seeds for the
/// coverage-guided fuzzers (`fuzz/campaign.sh` runs this first).
#[test]
#[ignore = "writes fuzzing seed corpora; run by fuzz/campaign.sh"]
fn write_fuzz_seed_corpora() {
    let Some(corpus) = std::env::var_os("RECIPE_FUZZ_CORPUS") else {
        panic!("set RECIPE_FUZZ_CORPUS to the corpus directory");
    };
    let corpus = Path::new(&corpus);
    let mut written = 0;
    for kind in kinds() {
        let ents = (kind.ents)("/tmp/recipe-fuzz-outside");
        let raw = tar(&ents);
        let mut forms = vec![("source_archive", "tar.gz", gz(&raw)), ("deb", "deb", deb(&ents))];
        forms.push(("remote_entry", "tar", raw));
        if let Some(z) = zip(&ents) {
            forms.push(("source_archive", "zip", z));
        }
        for (target, ext, bytes) in forms {
            // Bombs are seeds only in their small forms.
            if bytes.len() > 1 << 20 {
                continue;
            }
            let dir = corpus.join(target);
            std::fs::create_dir_all(&dir).expect("corpus dir");
            let stem: String = kind
                .name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            std::fs::write(dir.join(format!("hostile-{stem}.{ext}")), bytes).expect("seed");
            written += 1;
        }
    }
    assert!(written >= 75, "seeds written: {written}");
}
