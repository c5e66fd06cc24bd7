//! A short, deterministic run of every fuzzing entry point (`recipe::fuzzing`)
//! over seeds from the repository and mutations of them: bit flips, byte
//! overwrites with interesting values, truncations, duplicated and spliced
//! chunks. The coverage-guided runs live in `fuzz/` (cargo-fuzz); this keeps
//! the entry points and their oracles exercised on every CI run, in seconds.

use std::io::Write;
use std::path::Path;

use recipe::fuzzing;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: deterministic, no dependency.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

fn mutate(seed: &[u8], others: &[Vec<u8>], rng: &mut Rng) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let len = data.len();
        match rng.below(6) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = [0u8, 0xff, 0x7f, 0x80, b'/', b'.', b'{', b'"'][rng.below(8)];
            }
            2 => data.truncate(rng.below(len + 1)),
            3 if len > 0 => {
                let a = rng.below(len);
                let b = (a + rng.below(64)).min(len);
                let chunk = data[a..b].to_vec();
                let at = rng.below(len);
                data.splice(at..at, chunk);
            }
            4 if !others.is_empty() => {
                let other = &others[rng.below(others.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            _ => {
                let at = rng.below(len + 1);
                data.insert(at, rng.next() as u8);
            }
        }
    }
    data
}

fn run(seeds: &[Vec<u8>], rounds: usize, f: fn(&[u8])) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for s in seeds {
        f(s);
    }
    for _ in 0..rounds {
        let seed = &seeds[rng.below(seeds.len())];
        f(&mutate(seed, seeds, &mut rng));
    }
}

fn files_under(dir: &Path, name: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p, name));
        } else if p.file_name().is_some_and(|n| n.to_string_lossy().ends_with(name)) {
            out.push(std::fs::read(&p).expect("read"));
        }
    }
    out
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A small source tree as tar, tar.gz and zip, with a link and a dir.
fn archives() -> Vec<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, text) in [("p-1.0/configure", "#!/bin/sh\n"), ("p-1.0/src/a.c", "int a;\n")] {
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o755);
        h.set_cksum();
        tar.append_data(&mut h, path, text.as_bytes()).expect("append");
    }
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_cksum();
    tar.append_link(&mut h, "p-1.0/link", "src/a.c").expect("link");
    let raw = tar.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    zip.start_file("p-1.0/configure", opts).expect("zip");
    zip.write_all(b"#!/bin/sh\n").expect("zip");
    let zip = zip.finish().expect("zip").into_inner();
    vec![raw, gz, zip]
}

/// A `.deb`: the ar archive with debian-binary, control and data members.
fn deb(data_tar: &[u8]) -> Vec<u8> {
    let mut out = b"!<arch>\n".to_vec();
    for (name, body) in [
        ("debian-binary", b"2.0\n".to_vec()),
        ("control.tar", Vec::new()),
        ("data.tar", data_tar.to_vec()),
    ] {
        out.extend_from_slice(
            format!(
                "{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                0,
                0,
                0,
                "100644",
                body.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(&body);
        if body.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

#[test]
fn recipe_and_target_texts() {
    let recipes = files_under(&repo().join("recipes"), "recipe.kdl");
    assert!(recipes.len() >= 10, "seeds from the repository's recipes");
    run(&recipes, 3000, fuzzing::recipe_text);
    let targets = files_under(&repo().join("toolchains"), ".kdl");
    run(&targets, 2000, fuzzing::target_text);
}

#[test]
fn archives_debs_and_remote_entries() {
    let seeds = archives();
    run(&seeds, 400, fuzzing::source_archive);
    let debs: Vec<Vec<u8>> = vec![deb(&seeds[0])];
    run(&debs, 400, fuzzing::deb);
    run(&[seeds[0].clone()], 400, fuzzing::remote_entry);
}

#[test]
fn the_seeds_are_valid_inputs() {
    let seeds = archives();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("x_1.0_armhf.deb");
    std::fs::write(&file, deb(&seeds[0])).expect("write");
    let root = dir.path().join("root");
    recipe::unpack::deb::extract_debs(&[file], &root, None, &recipe::unpack::Policy::rootfs()).expect("a valid .deb");
    assert!(root.join("p-1.0/src/a.c").is_file());
    let out = dir.path().join("entry");
    std::fs::create_dir_all(&out).expect("mkdir");
    recipe::remote::unpack(&seeds[0][..], &out).expect("a valid entry tar");
    assert!(out.join("p-1.0/configure").is_file());
}

/// Inputs the coverage-guided campaign found (docs/reliability.md), kept as
/// regressions (each returns; tests/it/diagnostics.rs checks what they report).
#[test]
fn inputs_found_by_fuzzing_stay_fixed() {
    let dir = repo().join("tests/fixtures/fuzz");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("fixtures").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let data = std::fs::read(e.path()).expect("read");
        match name.split('-').next() {
            Some("recipe_text") => fuzzing::recipe_text(&data),
            Some("target_text") => fuzzing::target_text(&data),
            Some("source_archive") => fuzzing::source_archive(&data),
            Some("deb") => fuzzing::deb(&data),
            Some("remote_entry") => fuzzing::remote_entry(&data),
            _ => panic!("{name}: name fixtures after their fuzz target"),
        }
        n += 1;
    }
    assert!(n >= 1);
}
