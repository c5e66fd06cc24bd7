//! A new recipe as KDL text, in the house style of `recipes/*/recipe.kdl`:
//! package metadata, one source pinned by sha256 with `{{ version }}` where
//! the version occurs, the build kind, and comments where the author must
//! look.

use super::detect::BuildGuess;

/// Where the source comes from, as the recipe will say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceLine {
    /// A URL, already templated.
    Url(String),
    /// A project on the configured Python index.
    Pypi(String),
    /// A source package of the configured Debian archive.
    Debian(String),
}

/// Everything the recipe will say.
#[derive(Debug, Clone)]
pub struct Draft {
    pub name: String,
    pub version: String,
    pub license: Option<String>,
    /// A comment above the license (where it was guessed from, what to check).
    pub license_note: String,
    pub homepage: Option<String>,
    pub summary: Option<String>,
    pub source: SourceLine,
    /// The file name, already templated.
    pub file: String,
    pub sha256: String,
    /// Written only when it differs from the default of 1.
    pub strip_components: u32,
    pub host_depends: Vec<String>,
    pub build: BuildGuess,
}

/// A KDL string literal; escapes what would end or corrupt it.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One-line comments: the text must not break out of the comment.
fn comment(indent: &str, text: &str) -> String {
    text.lines().map(|l| format!("{indent}// {l}\n")).collect()
}

pub fn render(d: &Draft) -> String {
    let mut out = String::new();
    out.push_str(&format!("package {} {{\n", d.name));
    out.push_str(&format!("    version {}\n", quote(&d.version)));
    out.push_str(&comment("    ", &d.license_note));
    if let Some(l) = &d.license {
        out.push_str(&format!("    license {}\n", quote(l)));
    }
    if let Some(h) = &d.homepage {
        out.push_str(&format!("    homepage {}\n", quote(h)));
    }
    if let Some(s) = &d.summary {
        out.push_str(&format!("    summary {}\n", quote(s)));
    }
    out.push_str("}\n");
    match &d.source {
        SourceLine::Url(url) => out.push_str(&format!("source {} {{\n", quote(url))),
        SourceLine::Pypi(project) => out.push_str(&format!("source pypi={} {{\n", quote(project))),
        SourceLine::Debian(package) => out.push_str(&format!("source debian={} {{\n", quote(package))),
    }
    out.push_str(&format!("    file {}\n", quote(&d.file)));
    out.push_str(&format!("    sha256 {}\n", quote(&d.sha256)));
    if d.strip_components != 1 {
        out.push_str("    // The archive has no single top directory.\n");
        out.push_str(&format!("    strip-components {}\n", d.strip_components));
    }
    out.push_str("}\n");
    if !d.host_depends.is_empty() {
        out.push_str(&format!("host-depends {}\n", d.host_depends.join(" ")));
    }
    let b = &d.build;
    let mut body = String::new();
    if let Some(note) = &b.note {
        body.push_str(&comment("    ", note));
    }
    if b.autoreconf {
        body.push_str("    autoreconf #true\n");
    }
    for step in &b.steps {
        body.push_str(&format!("    step {}\n", quote(step)));
    }
    if body.is_empty() {
        out.push_str(&format!("build {}\n", b.kind.name()));
    } else {
        out.push_str(&format!("build {} {{\n{body}}}\n", b.kind.name()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::BuildKind;

    #[test]
    fn strings_are_escaped() {
        assert_eq!(quote("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
    }

    #[test]
    fn house_style() {
        let d = Draft {
            name: "foo".into(),
            version: "1.2".into(),
            license: Some("MIT".into()),
            license_note: "guessed from LICENSE".into(),
            homepage: None,
            summary: None,
            source: SourceLine::Url("http://127.0.0.1/foo-{{ version }}.tar.gz".into()),
            file: "foo-{{ version }}.tar.gz".into(),
            sha256: "ab".repeat(32),
            strip_components: 1,
            host_depends: vec![],
            build: BuildGuess {
                kind: BuildKind::Autotools,
                autoreconf: true,
                evidence: String::new(),
                note: None,
                steps: vec![],
            },
        };
        let text = render(&d);
        assert!(
            text.starts_with(
                "package foo {\n    version \"1.2\"\n    // guessed from LICENSE\n    license \"MIT\"\n}\n"
            )
        );
        assert!(text.contains("build autotools {\n    autoreconf #true\n}\n"), "{text}");
        assert!(!text.contains("strip-components"));
    }
}
