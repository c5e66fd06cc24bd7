//! The `ar` container of `.deb` files and the one decompressor picker.
//! `ar` is an 8-byte magic then members, each a 60-byte header with
//! fixed-width fields and data padded to an even size: simpler than a crate.

use std::io::{self, Read};

pub type BoxRead<'a> = Box<dyn Read + 'a>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Bzip2,
    Zstd,
}

impl Compression {
    /// From a (lower-case) tar file name: `x.tar.gz`, `x.tgz`, `data.tar`, …
    pub fn from_tar_name(n: &str) -> Option<Compression> {
        let table: [(&[&str], Compression); 5] = [
            (&[".tar.gz", ".tgz"], Compression::Gzip),
            (&[".tar.xz", ".txz"], Compression::Xz),
            (&[".tar.bz2", ".tbz2", ".tbz"], Compression::Bzip2),
            (&[".tar.zst", ".tzst"], Compression::Zstd),
            (&[".tar"], Compression::None),
        ];
        table
            .iter()
            .find(|(suffixes, _)| suffixes.iter().any(|s| n.ends_with(s)))
            .map(|(_, c)| *c)
    }
}

/// A reader of the decompressed stream.
pub fn decompressor<'a>(c: Compression, r: BoxRead<'a>) -> io::Result<BoxRead<'a>> {
    Ok(match c {
        Compression::None => r,
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Xz => Box::new(lzma_rust2::XzReader::new(r, true)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(r)),
        Compression::Zstd => Box::new(ruzstd::decoding::StreamingDecoder::new(r).map_err(io::Error::other)?),
    })
}

fn bad(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

/// The decompressed `data.tar*` member of a `.deb`.
pub fn deb_data<'a, R: Read + 'a>(mut r: R) -> io::Result<BoxRead<'a>> {
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)?;
    if &magic != b"!<arch>\n" {
        return Err(bad("not an ar archive (bad magic)"));
    }
    loop {
        let mut header = [0u8; 60];
        r.read_exact(&mut header)
            .map_err(|e| bad(format!("no data.tar member ({e})")))?;
        let name = String::from_utf8_lossy(&header[..16])
            .trim_end()
            .trim_end_matches('/')
            .to_string();
        let size: u64 = String::from_utf8_lossy(&header[48..58])
            .trim()
            .parse()
            .map_err(|_| bad(format!("member `{name}` has a bad size")))?;
        if name.starts_with("data.tar") {
            let c = Compression::from_tar_name(&name).ok_or_else(|| bad(format!("unsupported member {name}")))?;
            return decompressor(c, Box::new(r.take(size)));
        }
        let skip = size + size % 2;
        let skipped = io::copy(&mut (&mut r).take(skip), &mut io::sink())?;
        if skipped != skip {
            return Err(bad(format!("member `{name}` is truncated")));
        }
    }
}
