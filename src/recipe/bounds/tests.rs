use super::*;

fn shape(text: &str) -> Result<(), &'static str> {
    check_shape(&SourceFile::new("t.kdl", text)).map_err(|e| e.errors.first().map_or("none", RecipeError::kind))
}

#[test]
fn ordinary_documents_pass() {
    let text = r#####"
package x { version "1" }  // a { comment }
/* a block comment with { braces } and /* nesting */ and "quotes */
source "https://h/x-{{ version }}.tar.gz" { sha256 ""; }
build script {
    step "echo \"}\" \\" "}}}"
    step #"raw "}" string"#
    step ##"""
        raw multi-line with "}"# inside
        """##
    step """
        multi-line with } and \""" inside
        """
    /-env A="}"
    flag #true
}
"#####;
    assert_eq!(shape(text), Ok(()));
    let doc = parse_bounded(&SourceFile::new("t.kdl", text))
        .expect("within limits")
        .expect("valid KDL");
    assert_eq!(doc.nodes().len(), 3);
}

#[test]
fn braces_inside_strings_and_comments_do_not_count() {
    let deep = format!(
        "a \"{}\" #\"{}\"# // {}\n/* {} */\n",
        "{".repeat(100),
        "{".repeat(100),
        "{".repeat(100),
        "{".repeat(100)
    );
    assert_eq!(shape(&deep), Ok(()));
    // A closing brace inside a string is not unmatched either.
    assert_eq!(shape("a \"}\" #\"}\"# /* } */ // }\n"), Ok(()));
}

#[test]
fn nesting_is_limited() {
    let at = |n: usize| format!("{}{}", "a {".repeat(n), "}".repeat(n));
    assert_eq!(shape(&at(MAX_DEPTH)), Ok(()));
    assert_eq!(shape(&at(MAX_DEPTH + 1)), Err("limit"));
    // The span is the brace that crosses the limit.
    let text = at(MAX_DEPTH + 1);
    let err = check_shape(&SourceFile::new("t", text.as_str())).expect_err("too deep");
    let Some(RecipeError::Limit { span, .. }) = err.errors.first() else {
        panic!("expected a limit error: {err:?}");
    };
    assert_eq!(span.offset(), 3 * MAX_DEPTH + 2);
    // A string that hides the closing braces does not fool the scan.
    assert_eq!(
        shape(&format!("{}\"{}\"", "a {".repeat(70), "}".repeat(70))),
        Err("limit")
    );
}

#[test]
fn unmatched_closing_brace_is_a_syntax_error() {
    assert_eq!(shape("a { }\n}\n"), Err("syntax"));
}

#[test]
fn long_comments_and_slashdash_chains_are_limited() {
    assert_eq!(shape(&format!("/*{}*/", " *".repeat(MAX_COMMENT_PIECES))), Err("limit"));
    assert_eq!(shape(&format!("/*{}", "/*".repeat(MAX_COMMENT_PIECES))), Err("limit"));
    assert_eq!(shape(&format!("/*{}*/", "x".repeat(100_000))), Ok(()));
    assert_eq!(shape(&format!("{}a", "/- ".repeat(MAX_SLASHDASH_RUN))), Ok(()));
    assert_eq!(
        shape(&format!("{}a", "/- ".repeat(MAX_SLASHDASH_RUN + 1))),
        Err("limit")
    );
    // Slashdashed children blocks one after another are fine.
    assert_eq!(shape(&format!("a {}\n", "/-{ b } ".repeat(20))), Ok(()));
}

#[test]
fn unterminated_strings_end_the_scan_without_panicking() {
    for text in [
        "a \"",
        "a \"\\",
        "a #\"x",
        "a ##\"\"\"\nx\"\"\"#",
        "/* /* ",
        "a #",
        "a \"\"\"\n\\",
    ] {
        let _ = shape(text);
        let _ = parse_bounded(&SourceFile::new("t", text));
    }
}

#[test]
fn non_utf8_names_the_offset() {
    let err = decode_utf8("r.kdl", b"ab\ncd\xffe".to_vec()).expect_err("not UTF-8");
    let Some(RecipeError::NotUtf8 { offset, byte, span, .. }) = err.errors.first() else {
        panic!("{err:?}");
    };
    assert_eq!((*offset, *byte, span.offset()), (5, 0xff, 5));
}

#[test]
fn size_is_capped_while_reading() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.kdl");
    std::fs::write(&path, vec![b' '; MAX_FILE_BYTES as usize + 1]).expect("write");
    assert_eq!(
        read_definition(&path, "big.kdl")
            .map(|_| ())
            .map_err(|e| e.errors.first().map_or("none", RecipeError::kind)),
        Err("too-large")
    );
    std::fs::write(&path, vec![b' '; MAX_FILE_BYTES as usize]).expect("write");
    assert!(read_definition(&path, "big.kdl").is_ok());
}

/// Each shape overflowed the parser's stack in a few kilobytes; at the size
/// limit, each must now end in a diagnostic (and this test must not abort).
#[test]
fn hostile_shapes_at_the_size_limit_end_in_an_error() {
    let max = MAX_FILE_BYTES as usize;
    let fill = |prefix: &str, unit: &str| {
        let mut text = format!("{prefix}{}", unit.repeat(max / unit.len()));
        text.truncate(max);
        text
    };
    let mut texts: Vec<String> = [
        "a {", "/*", "/- ", "}", ")", "=", "(t)", "\"\"\"", "*/", "{", "/-{", "a {}}", ";=",
    ]
    .iter()
    .map(|unit| fill("a ", unit))
    .collect();
    texts.push(fill("/*", " *"));
    texts.push(fill("a ", "/- /-{}"));
    for text in &texts {
        let parsed = parse_bounded(&SourceFile::new("t.kdl", text.as_str()));
        assert!(
            !matches!(parsed, Ok(Ok(_))),
            "{:?}… at the size limit parsed as valid KDL",
            &text[..12]
        );
    }
}

#[test]
fn commented_out_blocks_inside_each_other_are_limited() {
    let nested = |levels: usize| {
        let mut t = String::new();
        for i in 0..levels {
            t.push_str(&format!("{}a b=\"x\" /- {{\n", "  ".repeat(i)));
        }
        t.push_str("bad\"\n");
        t.push_str(&"}".repeat(levels));
        t
    };
    assert_eq!(shape(&nested(MAX_SLASHDASHED_BLOCK_NESTING)), Ok(()));
    assert!(shape(&nested(MAX_SLASHDASHED_BLOCK_NESTING + 1)).is_err());
    // Ordinary blocks inside one commented-out block are fine.
    let inside = format!("a /- {{\n{}\n{}", "b {\n".repeat(10), "}".repeat(11));
    assert_eq!(shape(&inside), Ok(()));
}
