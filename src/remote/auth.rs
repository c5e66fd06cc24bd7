//! Authentication of action-cache entries: an HMAC-SHA256 tag, keyed with a
//! secret shared by the machines of one fleet, over the build key and every
//! field of the entry. Whoever can write to the cache server but does not
//! hold the secret cannot make a builder restore an output of their choice.
//!
//! The tag covers the key too, so a valid entry cannot be copied under
//! another key (package A's output restored as package B).

use sha2::{Digest, Sha256};

use super::AcEntry;

/// Shorter secrets are too easy to guess offline from one tagged entry.
pub const MIN_SECRET_BYTES: usize = 16;
/// SHA-256's block size, which HMAC pads the key to.
const BLOCK: usize = 64;
/// Bumped if the canonical form changes, so old tags never verify by accident.
const DOMAIN: &str = "recipe-remote-ac-v1";

/// The fleet's shared secret. Its bytes are never shown (not even by `Debug`).
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Secret {
    /// Surrounding whitespace is dropped (a trailing newline in a file is
    /// not part of the secret); what remains must be long enough.
    pub fn new(bytes: &[u8]) -> Result<Secret, String> {
        let trimmed = bytes.trim_ascii();
        if trimmed.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "the secret has {} bytes; at least {MIN_SECRET_BYTES} are needed",
                trimmed.len()
            ));
        }
        Ok(Secret(trimmed.to_vec()))
    }
}

/// HMAC-SHA256 as in RFC 2104: H((K ^ opad) || H((K ^ ipad) || message)).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner);
    let mut out = [0u8; 32];
    out.copy_from_slice(&outer.finalize());
    out
}

/// The bytes the tag is computed over: independent of JSON spelling (field
/// order, spaces), one field per line. Fields are checked before this is
/// called (hex digests, known encodings), so no value can contain a newline.
fn canonical(key: &str, e: &AcEntry) -> Vec<u8> {
    format!(
        "{DOMAIN}\nkey {key}\nformat {}\ntar_sha256 {}\noutput_digest {}\nsize {}\nencoding {}\n",
        e.format, e.tar_sha256, e.output_digest, e.size, e.encoding
    )
    .into_bytes()
}

/// The tag a writer holding `secret` puts into the entry stored under `key`.
pub fn tag(secret: &Secret, key: &str, entry: &AcEntry) -> String {
    hex::encode(hmac_sha256(&secret.0, &canonical(key, entry)))
}

/// The domain of documents (batch records): never the same bytes as an
/// output entry's canonical form, so neither tag passes for the other.
const DOCUMENT_DOMAIN: &str = "recipe-remote-document-v1";

/// The tag of a document of `kind` whose body has sha256 `body_sha256`,
/// stored under `key`.
pub fn tag_document(secret: &Secret, key: &str, kind: &str, body_sha256: &str) -> String {
    let text = format!("{DOCUMENT_DOMAIN}\nkey {key}\nkind {kind}\nbody_sha256 {body_sha256}\n");
    hex::encode(hmac_sha256(&secret.0, text.as_bytes()))
}

/// Whether `given` is the document's tag (compared in constant time).
pub fn check_document(
    secret: &Secret,
    key: &str,
    kind: &str,
    body_sha256: &str,
    given: Option<&str>,
) -> Result<(), String> {
    let Some(given) = given else {
        return Err("document has no tag (written without this fleet's secret, or forged)".into());
    };
    let expected = tag_document(secret, key, kind, body_sha256);
    if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err("document's tag does not match (written with another secret, altered, or forged)".into())
    }
}

/// Whether `entry`, read under `key`, carries a valid tag; the error says why not.
pub fn check(secret: &Secret, key: &str, entry: &AcEntry) -> Result<(), String> {
    let Some(given) = &entry.hmac_sha256 else {
        return Err("entry has no tag (written without this fleet's secret, or forged)".into());
    };
    let expected = hmac_sha256(&secret.0, &canonical(key, entry));
    let given = hex::decode(given).unwrap_or_default();
    if constant_time_eq(&given, &expected) {
        Ok(())
    } else {
        Err("entry's tag does not match (written with another secret, altered, or forged)".into())
    }
}

/// Compares without stopping at the first difference, so response times
/// do not tell an attacker how many leading bytes of a guess were right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2 (short key) and 6 (key longer than a block).
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    fn entry() -> AcEntry {
        AcEntry {
            format: 1,
            tar_sha256: "a".repeat(64),
            output_digest: "b".repeat(64),
            size: 42,
            encoding: "tar+gzip".into(),
            hmac_sha256: None,
        }
    }

    #[test]
    fn tags_bind_the_key_and_every_field() {
        let secret = Secret::new(b"0123456789abcdef\n").expect("secret");
        let key = "c".repeat(64);
        let mut e = entry();
        assert!(check(&secret, &key, &e).is_err_and(|m| m.contains("no tag")));
        e.hmac_sha256 = Some(tag(&secret, &key, &e));
        assert_eq!(check(&secret, &key, &e), Ok(()));
        // Another key, another field, another secret, a mangled tag: all refused.
        assert!(check(&secret, &"d".repeat(64), &e).is_err());
        let mut bigger = e.clone();
        bigger.size += 1;
        assert!(check(&secret, &key, &bigger).is_err());
        let other = Secret::new(b"fedcba9876543210").expect("secret");
        assert!(check(&other, &key, &e).is_err_and(|m| m.contains("does not match")));
        e.hmac_sha256 = Some("zz".into());
        assert!(check(&secret, &key, &e).is_err());
    }

    /// A record's tag binds its key, kind and body, and is never an output
    /// entry's tag for the same key.
    #[test]
    fn document_tags_bind_key_kind_and_body() {
        let secret = Secret::new(b"0123456789abcdef").expect("secret");
        let (key, body) = ("c".repeat(64), "d".repeat(64));
        let tag = tag_document(&secret, &key, "recipe-batch-record", &body);
        assert_eq!(
            check_document(&secret, &key, "recipe-batch-record", &body, Some(&tag)),
            Ok(())
        );
        assert!(check_document(&secret, &"e".repeat(64), "recipe-batch-record", &body, Some(&tag)).is_err());
        assert!(check_document(&secret, &key, "other", &body, Some(&tag)).is_err());
        assert!(check_document(&secret, &key, "recipe-batch-record", &"f".repeat(64), Some(&tag)).is_err());
        assert!(check_document(&secret, &key, "recipe-batch-record", &body, None).is_err_and(|m| m.contains("no tag")));
        let other = Secret::new(b"fedcba9876543210").expect("secret");
        assert!(check_document(&other, &key, "recipe-batch-record", &body, Some(&tag)).is_err());
        assert_ne!(tag, super::tag(&secret, &key, &entry()));
    }

    #[test]
    fn short_secrets_are_refused_and_never_shown() {
        assert!(Secret::new(b"  short \n").is_err());
        let s = Secret::new(b"a-long-enough-secret").expect("secret");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert!(constant_time_eq(b"ab", b"ab"));
        assert!(!constant_time_eq(b"ab", b"ac"));
        assert!(!constant_time_eq(b"ab", b"abc"));
    }
}
