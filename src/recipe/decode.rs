//! Span-preserving helpers for decoding KDL nodes by hand.
//!
//! `kdl::de` loses spans for missing properties, so every definition file is
//! decoded through these helpers instead: each error points at a node or entry.

use kdl::{KdlDocument, KdlEntry, KdlNode, KdlValue};
use miette::SourceSpan;

use super::error::{RecipeError, RecipeErrors, SourceFile, closest};

/// A value together with where it was written.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Spanned<T> {
    pub value: T,
    #[serde(with = "span_serde")]
    pub span: SourceSpan,
}

/// Spans as `[offset, length]`, for the parse cache.
pub mod span_serde {
    use miette::SourceSpan;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(span: &SourceSpan, s: S) -> Result<S::Ok, S::Error> {
        (span.offset(), span.len()).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SourceSpan, D::Error> {
        let (offset, len) = <(usize, usize)>::deserialize(d)?;
        Ok((offset, len).into())
    }
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: SourceSpan) -> Self {
        Spanned { value, span }
    }
}

impl Spanned<String> {
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

/// Collects errors while walking a document, so one run reports them all.
pub struct Decoder<'a> {
    pub file: &'a SourceFile,
    pub errors: Vec<RecipeError>,
}

fn type_name(v: &KdlValue) -> &'static str {
    match v {
        KdlValue::String(_) => "a string",
        KdlValue::Integer(_) => "an integer",
        KdlValue::Float(_) => "a number",
        KdlValue::Bool(_) => "a boolean",
        KdlValue::Null => "#null",
    }
}

/// Parses KDL 2 within the limits of `bounds`, turning the parser's first
/// diagnostic into a recipe error.
pub fn parse_document(file: &SourceFile) -> Result<KdlDocument, RecipeErrors> {
    match super::bounds::parse_bounded(file)? {
        Ok(doc) => Ok(doc),
        Err(err) => {
            let first = err.diagnostics.first();
            let span = first.map(|d| d.span).unwrap_or_else(|| (0, 0).into());
            let message = first
                .and_then(|d| d.message.clone())
                .unwrap_or_else(|| "invalid KDL".to_string());
            let mut label = first
                .and_then(|d| d.label.clone())
                .unwrap_or_else(|| "here".to_string());
            let mut help = first.and_then(|d| d.help.clone());
            if let Some(word) = v1_keyword(&file.text, span) {
                label = format!("KDL 1 `{word}`; KDL 2 writes `#{word}`");
                help = Some(format!(
                    "KDL 2 writes keywords with a `#`: use `#{word}` instead of `{word}` (or quote it: \"{word}\" if you meant a string)"
                ));
            }
            Err(RecipeErrors::from(RecipeError::Syntax {
                src: file.named(),
                span,
                message: format!("KDL syntax error: {message}"),
                label,
                help,
            }))
        }
    }
}

/// KDL 1 habits (`true`, `false`, `null` written bare) are the most common
/// syntax error; the parser's own message does not mention them.
fn v1_keyword(text: &str, span: SourceSpan) -> Option<&'static str> {
    let start = span.offset().min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line = &text[line_start..line_end];
    for word in ["true", "false", "null", "inf", "nan"] {
        let bare = line
            .split(|c: char| c.is_whitespace() || c == '=' || c == '{' || c == ';')
            .any(|w| w == word);
        if bare {
            return Some(word);
        }
    }
    None
}

impl<'a> Decoder<'a> {
    pub fn new(file: &'a SourceFile) -> Self {
        Decoder {
            file,
            errors: Vec::new(),
        }
    }

    pub fn positional<'n>(&self, node: &'n KdlNode) -> Vec<&'n KdlEntry> {
        node.entries().iter().filter(|e| e.name().is_none()).collect()
    }

    /// Reports every property not in `allowed`.
    pub fn check_props(&mut self, node: &KdlNode, allowed: &[&str]) {
        for entry in node.entries() {
            if let Some(name) = entry.name()
                && !allowed.contains(&name.value())
            {
                let help = match closest(name.value(), allowed.iter().copied()) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None if allowed.is_empty() => {
                        format!("`{}` takes no properties", node.name().value())
                    }
                    None => format!("known properties: {}", allowed.join(", ")),
                };
                self.errors.push(RecipeError::UnknownProperty {
                    src: self.file.named(),
                    span: entry.span(),
                    name: name.value().to_string(),
                    node: node.name().value().to_string(),
                    help,
                });
            }
        }
    }

    /// Reports positional arguments past the first `max`.
    pub fn check_max_args(&mut self, node: &KdlNode, max: usize) {
        for entry in self.positional(node).into_iter().skip(max) {
            self.errors.push(RecipeError::UnexpectedArgument {
                src: self.file.named(),
                span: entry.span(),
                node: node.name().value().to_string(),
                help: match max {
                    0 => format!("`{}` takes no arguments", node.name().value()),
                    1 => format!("`{}` takes one argument", node.name().value()),
                    n => format!("`{}` takes at most {n} arguments", node.name().value()),
                },
            });
        }
    }

    pub fn check_no_children(&mut self, node: &KdlNode) {
        if let Some(children) = node.children()
            && let Some(first) = children.nodes().first()
        {
            self.errors.push(RecipeError::UnknownNode {
                src: self.file.named(),
                span: first.name().span(),
                name: first.name().value().to_string(),
                context: format!("`{}`", node.name().value()),
                help: format!("`{}` has no child nodes", node.name().value()),
            });
        }
    }

    pub fn unknown_node(&mut self, node: &KdlNode, context: &str, allowed: &[&str]) {
        let name = node.name().value();
        let help = match closest(name, allowed.iter().copied()) {
            Some(c) => format!("did you mean `{c}`? known here: {}", allowed.join(", ")),
            None => format!("known here: {}", allowed.join(", ")),
        };
        self.errors.push(RecipeError::UnknownNode {
            src: self.file.named(),
            span: node.name().span(),
            name: name.to_string(),
            context: context.to_string(),
            help,
        });
    }

    /// `field` and `context` appear verbatim in "{context} is missing {field}".
    pub fn missing(&mut self, span: SourceSpan, field: &str, context: &str, help: &str) {
        self.errors.push(RecipeError::MissingField {
            src: self.file.named(),
            span,
            field: field.to_string(),
            context: context.to_string(),
            help: help.to_string(),
        });
    }

    pub fn duplicate(&mut self, span: SourceSpan, first: SourceSpan, name: &str) {
        self.errors.push(RecipeError::Duplicate {
            src: self.file.named(),
            span,
            first,
            name: name.to_string(),
            help: format!("remove one of the `{name}` nodes"),
        });
    }

    pub fn invalid(&mut self, span: SourceSpan, what: &str, reason: &str, help: &str) {
        self.errors.push(RecipeError::InvalidValue {
            src: self.file.named(),
            span,
            what: what.to_string(),
            reason: reason.to_string(),
            help: help.to_string(),
        });
    }

    fn wrong_type(&mut self, node: &str, entry: &KdlEntry, expected: &str) {
        let help = match entry.value() {
            KdlValue::String(s) if matches!(s.as_str(), "true" | "false") && expected == "a boolean" => {
                Some(format!("KDL 2 booleans are written `#{s}`, without quotes"))
            }
            _ => None,
        };
        self.errors.push(RecipeError::WrongType {
            src: self.file.named(),
            span: entry.span(),
            node: node.to_string(),
            expected: expected.to_string(),
            found: type_name(entry.value()).to_string(),
            help,
        });
    }

    pub fn entry_string(&mut self, node: &str, entry: &KdlEntry) -> Option<Spanned<String>> {
        match entry.value() {
            KdlValue::String(s) => Some(Spanned::new(s.clone(), entry.span())),
            _ => {
                self.wrong_type(node, entry, "a string");
                None
            }
        }
    }

    /// The argument of a node that takes exactly one, no properties and no
    /// children (each excess reported).
    fn sole_argument<'n>(&mut self, node: &'n KdlNode) -> Option<&'n KdlEntry> {
        self.check_props(node, &[]);
        self.check_max_args(node, 1);
        self.check_no_children(node);
        self.positional(node).first().copied()
    }

    /// `node "value"`: exactly one string argument, no properties, no children.
    pub fn single_string(&mut self, node: &KdlNode) -> Option<Spanned<String>> {
        let name = node.name().value();
        match self.sole_argument(node) {
            Some(entry) => self.entry_string(name, entry),
            None => {
                self.missing_string(node);
                None
            }
        }
    }

    /// A string node written without its value.
    fn missing_string(&mut self, node: &KdlNode) {
        let name = node.name().value();
        self.missing(
            node.span(),
            "a value",
            &format!("`{name}`"),
            &format!("write it as `{name} \"…\"`"),
        );
    }

    /// `node "a" "b" …`: one or more string arguments.
    pub fn strings(&mut self, node: &KdlNode) -> Vec<Spanned<String>> {
        self.check_props(node, &[]);
        self.check_no_children(node);
        let name = node.name().value().to_string();
        let args = self.positional(node);
        if args.is_empty() {
            self.missing_string(node);
        }
        args.into_iter().filter_map(|e| self.entry_string(&name, e)).collect()
    }

    pub fn single_bool(&mut self, node: &KdlNode) -> Option<Spanned<bool>> {
        let name = node.name().value();
        match self.sole_argument(node) {
            Some(entry) => match entry.value() {
                KdlValue::Bool(b) => Some(Spanned::new(*b, entry.span())),
                _ => {
                    self.wrong_type(name, entry, "a boolean");
                    None
                }
            },
            // A bare flag node means "on".
            None => Some(Spanned::new(true, node.span())),
        }
    }

    pub fn single_int(&mut self, node: &KdlNode, min: i128, max: i128) -> Option<Spanned<i64>> {
        let name = node.name().value();
        match self.sole_argument(node) {
            Some(entry) => match entry.value() {
                KdlValue::Integer(i) if (min..=max).contains(i) => Some(Spanned::new(*i as i64, entry.span())),
                KdlValue::Integer(_) => {
                    self.invalid(
                        entry.span(),
                        name,
                        &format!("must be between {min} and {max}"),
                        &format!("use a number from {min} to {max}"),
                    );
                    None
                }
                _ => {
                    self.wrong_type(name, entry, "an integer");
                    None
                }
            },
            None => {
                self.missing(
                    node.span(),
                    "a value",
                    &format!("`{name}`"),
                    &format!("write it as `{name} 1`"),
                );
                None
            }
        }
    }

    pub fn prop_string(&mut self, node: &KdlNode, prop: &str) -> Option<Spanned<String>> {
        let name = node.name().value();
        node.entries()
            .iter()
            .find(|e| e.name().map(|n| n.value()) == Some(prop))
            .and_then(|e| self.entry_string(name, e))
    }

    /// Properties as ordered `(key, value)` string pairs (for `env KEY="v"`).
    pub fn string_props(&mut self, node: &KdlNode) -> Vec<(Spanned<String>, Spanned<String>)> {
        let name = node.name().value().to_string();
        self.check_max_args(node, 0);
        self.check_no_children(node);
        let mut out = Vec::new();
        for entry in node.entries() {
            if let Some(key) = entry.name()
                && let Some(value) = self.entry_string(&name, entry)
            {
                out.push((Spanned::new(key.value().to_string(), key.span()), value));
            }
        }
        out
    }

    /// Remembers the first occurrence of single-valued nodes to report duplicates.
    pub fn once(&mut self, seen: &mut Vec<(String, SourceSpan)>, node: &KdlNode) -> bool {
        let name = node.name().value();
        if let Some((_, first)) = seen.iter().find(|(n, _)| n == name) {
            let first = *first;
            self.duplicate(node.name().span(), first, name);
            false
        } else {
            seen.push((name.to_string(), node.name().span()));
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_boolean_gets_a_hint() {
        let file = SourceFile::new("r.kdl", "build make {\n    parallel true\n}\n");
        let err = parse_document(&file).expect_err("bare true is not KDL 2");
        let rendered = format!("{:?}", miette::Report::new(err));
        assert!(rendered.contains("#true"), "{rendered}");
    }

    #[test]
    fn quoted_boolean_is_a_type_error_with_hint() {
        let file = SourceFile::new("r.kdl", "flag \"true\"\n");
        let doc = parse_document(&file).expect("valid KDL");
        let mut d = Decoder::new(&file);
        assert!(d.single_bool(&doc.nodes()[0]).is_none());
        assert_eq!(d.errors.len(), 1);
        assert_eq!(d.errors[0].kind(), "wrong-type");
    }
}
