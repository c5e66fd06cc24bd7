//! Builders for hostile archives, in memory: tar with raw header bytes (the
//! tar crate's own path setters refuse `..`), zip with patched unix modes,
//! and `.deb` (ar + data.tar.xz).

use std::io::Write;

/// One archive entry, in the terms of the tar format; zip maps what it can.
#[derive(Clone)]
pub enum Ent {
    Dir(String, u32),
    File(String, Vec<u8>, u32),
    Sym(String, String),
    Hard(String, String),
    Char(String),
    Block(String),
    Fifo(String),
    /// A regular file whose path comes from a PAX `path` record.
    PaxFile(String, Vec<u8>),
    /// A symlink whose target comes from a PAX `linkpath` record.
    PaxSym(String, String),
    /// A regular file whose path comes from a GNU `././@LongLink` entry.
    GnuLongFile(String, Vec<u8>),
    /// A GNU sparse file: real size, then one data chunk at an offset.
    Sparse(String, u64, u64, Vec<u8>),
    /// A header that declares `size` bytes, followed by almost nothing.
    Huge(String, u64),
    /// A metadata header (GNU long name `L`, PAX `x`) that declares `size`
    /// bytes, followed by 64 KiB of name.
    HugeMeta(tar::EntryType, u64),
}

pub fn dir(n: &str) -> Ent {
    Ent::Dir(n.into(), 0o755)
}
pub fn file(n: &str, d: &str) -> Ent {
    Ent::File(n.into(), d.as_bytes().to_vec(), 0o644)
}
pub fn sym(n: &str, t: &str) -> Ent {
    Ent::Sym(n.into(), t.into())
}
pub fn hard(n: &str, t: &str) -> Ent {
    Ent::Hard(n.into(), t.into())
}

fn raw_header(name: &str, link: &str, kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    let gnu = h.as_gnu_mut().expect("gnu header");
    let (n, l) = (name.as_bytes(), link.as_bytes());
    gnu.name[..n.len().min(100)].copy_from_slice(&n[..n.len().min(100)]);
    gnu.linkname[..l.len().min(100)].copy_from_slice(&l[..l.len().min(100)]);
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(1_600_000_000);
    h.set_cksum();
    h
}

fn push(out: &mut Vec<u8>, h: &tar::Header, data: &[u8]) {
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

fn pax(out: &mut Vec<u8>, key: &str, value: &str) {
    let body = |len: usize| format!("{len} {key}={value}\n");
    let mut len = body(0).len();
    while body(len).len() != len {
        len = body(len).len();
    }
    let rec = body(len);
    push(
        out,
        &raw_header("PaxHeaders/x", "", tar::EntryType::XHeader, rec.len() as u64, 0o644),
        rec.as_bytes(),
    );
}

/// A numeric header field: octal when it fits, else GNU base-256.
fn octal(field: &mut [u8], v: u64) {
    let s = format!("{v:0w$o}", w = field.len() - 1);
    if s.len() < field.len() {
        field[..s.len()].copy_from_slice(s.as_bytes());
        return;
    }
    field.fill(0);
    field[0] = 0x80;
    let n = field.len();
    field[n - 8..].copy_from_slice(&v.to_be_bytes());
}

pub fn tar(ents: &[Ent]) -> Vec<u8> {
    use tar::EntryType as T;
    let mut out = Vec::new();
    for e in ents {
        match e {
            Ent::Dir(n, m) => push(&mut out, &raw_header(n, "", T::Directory, 0, *m), b""),
            Ent::File(n, d, m) => push(&mut out, &raw_header(n, "", T::Regular, d.len() as u64, *m), d),
            Ent::Sym(n, t) => push(&mut out, &raw_header(n, t, T::Symlink, 0, 0o777), b""),
            Ent::Hard(n, t) => push(&mut out, &raw_header(n, t, T::Link, 0, 0o644), b""),
            Ent::Char(n) => push(&mut out, &raw_header(n, "", T::Char, 0, 0o666), b""),
            Ent::Block(n) => push(&mut out, &raw_header(n, "", T::Block, 0, 0o660), b""),
            Ent::Fifo(n) => push(&mut out, &raw_header(n, "", T::Fifo, 0, 0o644), b""),
            Ent::PaxFile(n, d) => {
                pax(&mut out, "path", n);
                push(
                    &mut out,
                    &raw_header("harmless", "", T::Regular, d.len() as u64, 0o644),
                    d,
                );
            }
            Ent::PaxSym(n, t) => {
                pax(&mut out, "linkpath", t);
                push(&mut out, &raw_header(n, "harmless", T::Symlink, 0, 0o777), b"");
            }
            Ent::GnuLongFile(n, d) => {
                let mut name = n.as_bytes().to_vec();
                name.push(0);
                let h = raw_header("././@LongLink", "", T::GNULongName, name.len() as u64, 0o644);
                push(&mut out, &h, &name);
                push(
                    &mut out,
                    &raw_header("harmless", "", T::Regular, d.len() as u64, 0o644),
                    d,
                );
            }
            Ent::Sparse(n, real, offset, d) => {
                let mut h = raw_header(n, "", T::GNUSparse, d.len() as u64, 0o644);
                let gnu = h.as_gnu_mut().expect("gnu header");
                octal(&mut gnu.sparse[0].offset, *offset);
                octal(&mut gnu.sparse[0].numbytes, d.len() as u64);
                // GNU tar ends the map with an empty chunk at the real size.
                if offset + (d.len() as u64) < *real {
                    octal(&mut gnu.sparse[1].offset, *real);
                    octal(&mut gnu.sparse[1].numbytes, 0);
                }
                octal(&mut gnu.realsize, *real);
                h.set_cksum();
                push(&mut out, &h, d);
            }
            Ent::Huge(n, size) => {
                push(&mut out, &raw_header(n, "", T::Regular, *size, 0o644), &[0u8; 512]);
                return out;
            }
            Ent::HugeMeta(kind, size) => {
                let body = if *kind == T::XHeader {
                    b"9 path=a\n".repeat(7282)
                } else {
                    vec![b'a'; 65536]
                };
                push(&mut out, &raw_header("././@LongLink", "", *kind, *size, 0o644), &body);
                return out;
            }
        }
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

pub fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

pub fn xz(data: &[u8]) -> Vec<u8> {
    let mut w = lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::default()).expect("xz");
    w.write_all(data).expect("xz");
    w.finish().expect("xz")
}

pub fn ar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = b"!<arch>\n".to_vec();
    for (name, data) in members {
        let h = format!(
            "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            name,
            0,
            0,
            0,
            100644,
            data.len()
        );
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

pub fn deb(ents: &[Ent]) -> Vec<u8> {
    let control = gz(&tar(&[file("./control", "Package: t\n")]));
    let data = xz(&tar(ents));
    ar(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar.gz", &control),
        ("data.tar.xz", &data),
    ])
}

/// The zip form, or `None` when zip cannot express an entry (hard links,
/// PAX/GNU headers, sparse files, lying sizes).
pub fn zip(ents: &[Ent]) -> Option<Vec<u8>> {
    use zip::write::SimpleFileOptions;
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut modes = Vec::new();
    let opts = SimpleFileOptions::default();
    for e in ents {
        match e {
            Ent::Dir(n, m) => {
                z.add_directory(n.as_str(), opts.unix_permissions(*m & 0o777)).ok()?;
                modes.push((format!("{}/", n.trim_end_matches('/')), 0o040000 | m));
            }
            Ent::File(n, d, m) => {
                z.start_file(n.as_str(), opts.unix_permissions(*m & 0o777)).ok()?;
                z.write_all(d).ok()?;
                modes.push((n.clone(), 0o100000 | m));
            }
            Ent::Sym(n, t) => z.add_symlink(n.as_str(), t.as_str(), opts).ok()?,
            Ent::Char(n) | Ent::Block(n) | Ent::Fifo(n) => {
                z.start_file(n.as_str(), opts).ok()?;
                let kind = match e {
                    Ent::Char(_) => 0o020000,
                    Ent::Block(_) => 0o060000,
                    _ => 0o010000,
                };
                modes.push((n.clone(), kind | 0o644));
            }
            _ => return None,
        }
    }
    let mut bytes = z.finish().ok()?.into_inner();
    for (name, mode) in modes {
        set_zip_mode(&mut bytes, &name, mode);
    }
    Some(bytes)
}

/// Rewrites the unix mode (upper half of the external attributes) of the
/// central directory record named `name`: the zip crate's own setter keeps
/// only permission bits, so special bits and file types are patched in.
fn set_zip_mode(bytes: &mut [u8], name: &str, mode: u32) {
    let mut i = 0;
    while i + 46 <= bytes.len() {
        if bytes[i..i + 4] == [0x50, 0x4b, 0x01, 0x02] {
            let le = |o: usize| u16::from_le_bytes([bytes[i + o], bytes[i + o + 1]]) as usize;
            let (nlen, xlen, clen) = (le(28), le(30), le(32));
            if &bytes[i + 46..i + 46 + nlen] == name.as_bytes() {
                bytes[i + 5] = 3; // made by unix
                let attr = (mode << 16) | (u32::from(mode & 0o040000 != 0) * 0x10);
                bytes[i + 38..i + 42].copy_from_slice(&attr.to_le_bytes());
                return;
            }
            i += 46 + nlen + xlen + clen;
        } else {
            i += 1;
        }
    }
    panic!("no central record for {name}");
}
