//! A reader between the decompressor and the tar parser that bounds tar's
//! metadata entries (GNU long names and link names, PAX headers): the tar
//! crate reads those whole into memory before handing out the entry they
//! describe, so a header claiming gigabytes of "long name" (cheap inside a
//! gzip bomb) would be buffered without limit. The guard follows the stream's
//! 512-byte block structure as the bytes pass and fails the read as soon as
//! such a header claims more than [`MAX_METADATA`].

use std::io::{self, Read};

/// Longest GNU long name / PAX header body accepted: far above PATH_MAX and
/// any real PAX record set, far below memory trouble.
pub const MAX_METADATA: u64 = 1 << 20;

const BLOCK: usize = 512;

enum State {
    /// Collecting a header block; `filled` bytes of it seen so far.
    Header { filled: usize },
    /// Collecting a GNU sparse extension block; `then` bytes of data follow
    /// the last one.
    SparseExtension { filled: usize, then: u64 },
    /// Passing `left` bytes of entry data (padded to whole blocks).
    Data { left: u64 },
    /// The structure is no longer followed (unparsable header: the tar
    /// parser reports it).
    Off,
}

pub struct MetadataGuard<R> {
    inner: R,
    state: State,
    block: [u8; BLOCK],
}

impl<R: Read> MetadataGuard<R> {
    pub fn new(inner: R) -> MetadataGuard<R> {
        MetadataGuard {
            inner,
            state: State::Header { filled: 0 },
            block: [0; BLOCK],
        }
    }

    /// Advances the block structure over `bytes`, in stream order.
    fn observe(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            match &mut self.state {
                State::Off => return Ok(()),
                State::Data { left } => {
                    let n = (*left).min(bytes.len() as u64) as usize;
                    *left -= n as u64;
                    bytes = &bytes[n..];
                    if *left == 0 {
                        self.state = State::Header { filled: 0 };
                    }
                }
                State::Header { filled } | State::SparseExtension { filled, .. } => {
                    let n = (BLOCK - *filled).min(bytes.len());
                    self.block[*filled..*filled + n].copy_from_slice(&bytes[..n]);
                    *filled += n;
                    bytes = &bytes[n..];
                    if *filled == BLOCK {
                        self.state = match self.state {
                            State::SparseExtension { then, .. } => self.after_sparse_extension(then),
                            _ => self.after_header()?,
                        };
                    }
                }
            }
        }
        Ok(())
    }

    fn after_header(&self) -> io::Result<State> {
        let b = &self.block;
        if b.iter().all(|&x| x == 0) {
            return Ok(State::Header { filled: 0 });
        }
        let Some(size) = numeric(&b[124..136]) else {
            return Ok(State::Off);
        };
        let kind = b[156];
        if matches!(kind, b'L' | b'K' | b'x' | b'g') && size > MAX_METADATA {
            let what = match kind {
                b'L' => "GNU long name",
                b'K' => "GNU long link name",
                _ => "PAX header",
            };
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a {what} entry of {size} bytes (more than {MAX_METADATA} accepted)"),
            ));
        }
        let data = size.div_ceil(BLOCK as u64) * BLOCK as u64;
        // An old-GNU sparse header says whether extension blocks follow.
        if kind == b'S' && b[482] != 0 {
            return Ok(State::SparseExtension { filled: 0, then: data });
        }
        Ok(Self::data(data))
    }

    fn after_sparse_extension(&self, then: u64) -> State {
        if self.block[504] != 0 {
            return State::SparseExtension { filled: 0, then };
        }
        Self::data(then)
    }

    fn data(left: u64) -> State {
        if left == 0 {
            State::Header { filled: 0 }
        } else {
            State::Data { left }
        }
    }
}

/// A tar numeric field: octal text, or GNU base-256 when the high bit is set.
fn numeric(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let text: &[u8] = {
        let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
        &field[..end]
    };
    let text = std::str::from_utf8(text).ok()?.trim();
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, 8).ok()
}

impl<R: Read> Read for MetadataGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.observe(&buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, kind: tar::EntryType, size: u64) -> Vec<u8> {
        let mut h = tar::Header::new_gnu();
        if let Some(g) = h.as_gnu_mut() {
            g.name[..name.len()].copy_from_slice(name.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_cksum();
        h.as_bytes().to_vec()
    }

    /// Reads everything through the guard in small, uneven chunks.
    fn drain(bytes: &[u8]) -> io::Result<u64> {
        let mut g = MetadataGuard::new(bytes);
        let mut buf = [0u8; 37];
        let mut total = 0;
        loop {
            let n = g.read(&mut buf)?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
        }
    }

    #[test]
    fn an_oversized_long_name_is_refused_while_it_streams() {
        let mut tar = header("././@LongLink", tar::EntryType::GNULongName, 64 << 30);
        tar.extend_from_slice(&[b'a'; 4096]);
        let e = drain(&tar).expect_err("refused");
        assert!(
            e.to_string().contains("GNU long name entry of 68719476736 bytes"),
            "{e}"
        );
    }

    #[test]
    fn an_oversized_pax_header_after_ordinary_entries_is_refused() {
        let mut tar = header("a", tar::EntryType::Regular, 700);
        tar.extend_from_slice(&[1u8; 1024]);
        tar.extend(header("PaxHeaders/a", tar::EntryType::XHeader, MAX_METADATA + 1));
        assert!(drain(&tar).is_err());
    }

    #[test]
    fn ordinary_archives_pass_untouched() {
        let mut b = tar::Builder::new(Vec::new());
        let long = "d/".repeat(200) + "file";
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        b.append_data(&mut h, &long, &b"abc"[..]).expect("append");
        let bytes = b.into_inner().expect("tar");
        assert_eq!(drain(&bytes).expect("passes"), bytes.len() as u64);
        let mut ar = tar::Archive::new(MetadataGuard::new(&bytes[..]));
        let names: Vec<String> = ar
            .entries()
            .expect("entries")
            .map(|e| e.expect("entry").path().expect("path").display().to_string())
            .collect();
        assert_eq!(names, vec![long]);
    }

    #[test]
    fn numeric_fields_in_both_encodings() {
        assert_eq!(numeric(b"00000001750\0"), Some(1000));
        let mut base256 = [0u8; 12];
        base256[0] = 0x80;
        base256[11] = 5;
        base256[10] = 1;
        assert_eq!(numeric(&base256), Some(261));
        assert_eq!(numeric(b"zz"), None);
    }
}
