//! Limits on definition files (recipes, targets, sysroots), enforced before
//! the `kdl` parser sees them.
//!
//! The `kdl` parser recurses once per level of children, per piece of a
//! `/* … */` comment, per chained slashdash and per syntax error it recovers
//! from. A few kilobytes of such input overflow a thread's stack and abort the
//! whole process, and every command parses every recipe at load. So: the file
//! size is capped while reading, a lexical scan that knows KDL's strings, raw
//! strings and comments refuses the shapes that recurse deeply (with a span),
//! and the parse runs on a thread whose stack is sized for what is left.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use kdl::{KdlDocument, KdlError};
use miette::SourceSpan;

use super::error::{RecipeError, RecipeErrors, SourceFile};

/// Largest definition file read. Real recipes are a few kilobytes; the cap
/// also bounds the parser's error recovery, which takes about 1.5 KB of memory
/// (and up to 300 bytes of stack) per unparsable character.
pub const MAX_FILE_BYTES: u64 = 256 << 10;
/// Deepest nesting of children blocks. Recipes use three or four levels.
pub const MAX_DEPTH: usize = 64;
/// Most pieces in one `/* … */` comment: each `*`, `/`, nested comment and
/// run of other text costs the parser a stack frame.
pub const MAX_COMMENT_PIECES: usize = 1024;
/// Most slashdashes in a row (`/- /- node`); one is all KDL needs.
pub const MAX_SLASHDASH_RUN: usize = 8;
/// Most commented-out children blocks (`node /- { … }`) inside each other.
/// The parser's time grows about fourfold with each such level when the
/// text inside is malformed (measured: 16 levels, 0.5 KB, 9 s; found by
/// fuzzing); recipes use one at most.
pub const MAX_SLASHDASHED_BLOCK_NESTING: usize = 3;

/// Stack for the parse: enough for the limits above with room to spare, plus
/// a share per byte for the parser's error recovery, which recurses once per
/// unparsable character (measured: ≤ 300 bytes each). Only touched pages cost
/// memory.
const PARSE_STACK_BASE: usize = 32 << 20;
const PARSE_STACK_PER_BYTE: usize = 512;

/// Reads a definition file: at most `MAX_FILE_BYTES`, and UTF-8.
pub fn read_definition(path: &Path, display: &str) -> Result<SourceFile, RecipeErrors> {
    let io = |source: std::io::Error| RecipeError::Io {
        path: path.display().to_string(),
        source: source.into(),
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let too_large = |size: u64| RecipeError::TooLarge {
        path: display.to_string(),
        size,
        limit: MAX_FILE_BYTES,
        help: "definition files are small text files; this one is probably generated or corrupted".into(),
    };
    let declared = file.metadata().map_err(io)?.len();
    if declared > MAX_FILE_BYTES {
        return Err(too_large(declared).into());
    }
    // The file may grow after the check (or be a pipe): never read past the cap.
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(bytes.len() as u64).into());
    }
    decode_utf8(display, bytes)
}

/// The text of `bytes`, or a diagnostic naming the first invalid byte.
pub fn decode_utf8(display: &str, bytes: Vec<u8>) -> Result<SourceFile, RecipeErrors> {
    match String::from_utf8(bytes) {
        Ok(text) => Ok(SourceFile::new(display, text)),
        Err(err) => {
            let offset = err.utf8_error().valid_up_to();
            let byte = err.as_bytes()[offset];
            // The lossy text keeps the valid prefix byte for byte, so the
            // span lands on the replacement character at the same offset.
            let lossy = String::from_utf8_lossy(err.as_bytes()).into_owned();
            Err(RecipeError::NotUtf8 {
                src: SourceFile::new(display, lossy).named(),
                span: (offset, '\u{fffd}'.len_utf8()).into(),
                path: display.to_string(),
                offset,
                byte,
                help: "definition files are UTF-8 text: re-save the file as UTF-8".into(),
            }
            .into())
        }
    }
}

/// Refuses nesting, comments and slashdash chains the parser cannot take.
pub fn check_shape(file: &SourceFile) -> Result<(), RecipeErrors> {
    let limit = |span: SourceSpan, message: String, label: &str, help: &str| {
        RecipeErrors::from(RecipeError::Limit {
            src: file.named(),
            span,
            message,
            label: label.to_string(),
            help: help.to_string(),
        })
    };
    let mut scan = Scanner::new(file.text.as_bytes());
    let mut depth = 0usize;
    let mut slashdashes = 0usize;
    // For each open block, whether a slashdash comments it out.
    let mut blocks: Vec<bool> = Vec::new();
    while let Some((at, token)) = scan.next_token() {
        match &token {
            Token::Open => {
                blocks.push(slashdashes > 0);
                let commented = blocks.iter().filter(|c| **c).count();
                if commented > MAX_SLASHDASHED_BLOCK_NESTING {
                    return Err(limit(
                        (at, 1).into(),
                        format!(
                            "commented-out (`/-`) children blocks are nested more than {MAX_SLASHDASHED_BLOCK_NESTING} deep"
                        ),
                        &format!("commented-out block {commented} starts here"),
                        "the KDL parser slows down exponentially with each level; delete the inner commented-out blocks, or comment out the outer one only",
                    ));
                }
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(limit(
                        (at, 1).into(),
                        format!("children are nested more than {MAX_DEPTH} levels deep"),
                        &format!("level {depth} starts here"),
                        "recipes need a few levels of children; flatten the file (it may be generated or corrupted)",
                    ));
                }
            }
            Token::Close if depth == 0 => {
                return Err(RecipeError::Syntax {
                    src: file.named(),
                    span: (at, 1).into(),
                    message: "KDL syntax error: `}` closes no block".into(),
                    label: "unmatched `}`".into(),
                    help: Some("remove it, or add the `{` it was meant to close".into()),
                }
                .into());
            }
            Token::Close => {
                depth -= 1;
                blocks.pop();
            }
            Token::Comment { pieces } if *pieces > MAX_COMMENT_PIECES => {
                return Err(limit(
                    (at, 2).into(),
                    format!("`/* … */` comment has more than {MAX_COMMENT_PIECES} pieces"),
                    "this comment",
                    "the KDL parser reads each `*`, `/` and nested comment separately; comment long blocks out with `//` or `/-`",
                ));
            }
            Token::Slashdash => {
                slashdashes += 1;
                if slashdashes > MAX_SLASHDASH_RUN {
                    return Err(limit(
                        (at, 2).into(),
                        format!("more than {MAX_SLASHDASH_RUN} slashdashes in a row"),
                        "one `/-` is enough",
                        "`/-` comments out the node, entry or block after it; write it once",
                    ));
                }
            }
            Token::Comment { .. } | Token::Space => {}
            Token::Other => {}
        }
        if matches!(token, Token::Other | Token::Open | Token::Close) {
            slashdashes = 0;
        }
    }
    Ok(())
}

/// Longest a parse may take. Valid definition files parse in milliseconds;
/// the kdl crate's error recovery can take seconds to hours on some malformed
/// text (fuzzing found 2 KB taking 18 s), which no shape check can predict.
pub const PARSE_TIME_LIMIT: Duration = Duration::from_secs(2);

/// Parses `file` after `check_shape`, on a stack sized for its length, and
/// gives up after [`PARSE_TIME_LIMIT`] with a diagnostic. A thread cannot be
/// stopped: a parse that overruns is left to finish (or to end with the
/// process) on its own copy of the text, while the caller goes on.
pub fn parse_bounded(file: &SourceFile) -> Result<Result<KdlDocument, KdlError>, RecipeErrors> {
    check_shape(file)?;
    let text = file.text.to_string();
    let stack = PARSE_STACK_BASE + PARSE_STACK_PER_BYTE * text.len();
    let (done, result) = std::sync::mpsc::channel();
    let parser = std::thread::Builder::new()
        .name("kdl-parse".into())
        .stack_size(stack)
        .spawn(move || {
            let _ = done.send(KdlDocument::parse(&text));
        });
    if let Err(source) = parser {
        return Err(RecipeError::Io {
            path: file.name.clone(),
            source: std::io::Error::other(format!("cannot start the parser thread: {source}")).into(),
        }
        .into());
    }
    match result.recv_timeout(PARSE_TIME_LIMIT) {
        Ok(parsed) => Ok(parsed),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(RecipeError::Limit {
            src: file.named(),
            span: (0, 0).into(),
            message: format!(
                "the KDL parser did not finish within {} s",
                PARSE_TIME_LIMIT.as_secs()
            ),
            label: "in this file".into(),
            help: "the file is malformed in a way the parser recovers from very slowly (often `/-` among unbalanced quotes or braces); check the syntax, e.g. by parts".into(),
        }
        .into()),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(RecipeError::Io {
            path: file.name.clone(),
            source: std::io::Error::other("the KDL parser panicked").into(),
        }
        .into()),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Slashdash,
    /// A `/* … */` comment (nested ones included), with its piece count.
    Comment {
        pieces: usize,
    },
    /// Whitespace, newlines and `//` comments.
    Space,
    /// Anything else: names, values, strings, `=`, `;`, parentheses.
    Other,
}

/// A byte-level KDL lexer, exact only where it matters: it never mistakes a
/// brace, comment or slashdash inside a string for a real one, and the
/// reverse. Malformed input is lexed leniently; the parser reports it.
struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn new(b: &'a [u8]) -> Self {
        Scanner { b, i: 0 }
    }

    fn at(&self, off: usize) -> Option<u8> {
        self.b.get(self.i + off).copied()
    }

    fn starts_with(&self, s: &[u8]) -> bool {
        self.b[self.i..].starts_with(s)
    }

    fn next_token(&mut self) -> Option<(usize, Token)> {
        let start = self.i;
        let c = self.at(0)?;
        let token = match c {
            b'{' => {
                self.i += 1;
                Token::Open
            }
            b'}' => {
                self.i += 1;
                Token::Close
            }
            b'/' if self.at(1) == Some(b'-') => {
                self.i += 2;
                Token::Slashdash
            }
            b'/' if self.at(1) == Some(b'/') => {
                self.skip_line();
                Token::Space
            }
            b'/' if self.at(1) == Some(b'*') => Token::Comment {
                pieces: self.block_comment(),
            },
            b'"' => {
                self.quoted();
                Token::Other
            }
            b'#' => {
                self.hashed();
                Token::Other
            }
            c if c.is_ascii_whitespace() => {
                self.i += 1;
                Token::Space
            }
            _ => {
                self.i += 1;
                Token::Other
            }
        };
        Some((start, token))
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.at(0) {
            self.i += 1;
            if c == b'\n' {
                break;
            }
        }
    }

    /// Skips a (possibly nested, possibly unterminated) block comment and
    /// counts its pieces the way the parser's recursion does.
    fn block_comment(&mut self) -> usize {
        self.i += 2;
        let mut depth = 1usize;
        let mut pieces = 1usize;
        let mut in_run = false;
        while depth > 0 {
            let Some(c) = self.at(0) else { break };
            if self.starts_with(b"*/") {
                depth -= 1;
                self.i += 2;
                in_run = false;
            } else if self.starts_with(b"/*") {
                depth += 1;
                pieces += 1;
                self.i += 2;
                in_run = false;
            } else if c == b'*' || c == b'/' {
                pieces += 1;
                self.i += 1;
                in_run = false;
            } else {
                if !in_run {
                    pieces += 1;
                    in_run = true;
                }
                self.i += 1;
            }
        }
        pieces
    }

    /// `"…"` or `"""…"""`, with backslash escapes.
    fn quoted(&mut self) {
        let multi = self.starts_with(b"\"\"\"");
        self.i += if multi { 3 } else { 1 };
        while let Some(c) = self.at(0) {
            match c {
                b'\\' => self.i += 2,
                b'"' if !multi => {
                    self.i += 1;
                    return;
                }
                b'"' if self.starts_with(b"\"\"\"") => {
                    self.i += 3;
                    return;
                }
                // An unterminated single-line string ends at the line; the
                // parser reports it.
                b'\n' if !multi => return,
                _ => self.i += 1,
            }
        }
        self.i = self.i.min(self.b.len());
    }

    /// `#"…"#`, `##"""…"""##` (raw strings: no escapes) or a keyword (`#true`).
    fn hashed(&mut self) {
        let hashes = self.b[self.i..].iter().take_while(|&&c| c == b'#').count();
        self.i += hashes;
        if self.at(0) != Some(b'"') {
            return;
        }
        let multi = self.starts_with(b"\"\"\"");
        self.i += if multi { 3 } else { 1 };
        let quotes: &[u8] = if multi { b"\"\"\"" } else { b"\"" };
        while let Some(c) = self.at(0) {
            if self.starts_with(quotes)
                && self.b[self.i + quotes.len()..]
                    .iter()
                    .take_while(|&&c| c == b'#')
                    .count()
                    >= hashes
            {
                self.i += quotes.len() + hashes;
                return;
            }
            if c == b'\n' && !multi {
                return;
            }
            self.i += 1;
        }
    }
}

#[cfg(test)]
mod tests;
