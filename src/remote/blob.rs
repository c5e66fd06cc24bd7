//! Reading a blob against its AC entry: the bytes are counted and hashed as
//! they stream (from the server or the local store), and a blob is good only
//! when both its size and its sha256 match what the entry names.

use std::io::{Read, Write};

use sha2::{Digest, Sha256};

use super::entry::{AcEntry, short};

/// Why a blob could not be streamed.
#[derive(Debug)]
pub(super) enum StreamError {
    /// The source failed (network, disk): the blob may be fine.
    Read(std::io::Error),
    /// The copy could not be written.
    Write(std::io::Error),
}

/// Streams `source` into `sink`, reading at most one byte more than the entry
/// says. `Ok(Err(reason))`: the blob is not the one the entry names.
pub(super) fn copy_checked(
    source: impl Read,
    entry: &AcEntry,
    sink: &mut impl Write,
) -> Result<Result<(), String>, StreamError> {
    let mut hasher = Sha256::new();
    let mut got = 0u64;
    let mut reader = source.take(entry.size + 1);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(StreamError::Read(e)),
        };
        hasher.update(&buf[..n]);
        got += n as u64;
        sink.write_all(&buf[..n]).map_err(StreamError::Write)?;
    }
    if got != entry.size {
        return Ok(Err(format!(
            "blob {} has {got} bytes, the entry says {}",
            short(&entry.tar_sha256),
            entry.size
        )));
    }
    let actual = hex::encode(hasher.finalize());
    if actual != entry.tar_sha256 {
        return Ok(Err(format!(
            "blob {} has sha256 {}",
            short(&entry.tar_sha256),
            short(&actual)
        )));
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry_for(bytes: &[u8]) -> AcEntry {
        AcEntry {
            format: super::super::AC_FORMAT,
            tar_sha256: hex::encode(Sha256::digest(bytes)),
            output_digest: "0".repeat(64),
            size: bytes.len() as u64,
            encoding: super::super::ENCODING_TAR_GZIP.into(),
            hmac_sha256: None,
        }
    }

    #[test]
    fn a_matching_blob_is_copied() {
        let entry = entry_for(b"hello blob");
        let mut out = Vec::new();
        assert!(matches!(copy_checked(&b"hello blob"[..], &entry, &mut out), Ok(Ok(()))));
        assert_eq!(out, b"hello blob");
    }

    #[test]
    fn a_longer_shorter_or_different_blob_is_named_corrupt() {
        let entry = entry_for(b"hello blob");
        for (bytes, says) in [
            (&b"hello blob and more"[..], "bytes"),
            (&b"hello"[..], "bytes"),
            (&b"HELLO BLOB"[..], "sha256"),
        ] {
            match copy_checked(bytes, &entry, &mut std::io::sink()) {
                Ok(Err(reason)) => assert!(reason.contains(says), "{reason}"),
                other => panic!("{bytes:?} was accepted: {other:?}"),
            }
        }
    }
}
