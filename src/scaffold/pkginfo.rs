//! The few fields of an sdist's `PKG-INFO` (core metadata, RFC 822 style
//! headers) a recipe can use.

use std::path::Path;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PkgInfo {
    pub summary: Option<String>,
    pub homepage: Option<String>,
    /// `License-Expression` (PEP 639): already SPDX.
    pub license_expression: Option<String>,
}

pub fn read(root: &Path) -> Option<PkgInfo> {
    let text = std::fs::read_to_string(root.join("PKG-INFO")).ok()?;
    Some(parse(&text))
}

pub fn parse(text: &str) -> PkgInfo {
    let mut info = PkgInfo::default();
    // Headers end at the first blank line; the description follows.
    for line in text.lines().take_while(|l| !l.trim().is_empty()) {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() || value == "UNKNOWN" {
            continue;
        }
        match key.trim().to_ascii_lowercase().as_str() {
            "summary" => info.summary = Some(value.to_string()),
            "home-page" => info.homepage = Some(value.to_string()),
            "license-expression" => info.license_expression = Some(value.to_string()),
            "project-url" => {
                if let Some((label, url)) = value.split_once(',')
                    && matches!(
                        label.trim().to_ascii_lowercase().as_str(),
                        "homepage" | "home" | "source"
                    )
                    && info.homepage.is_none()
                {
                    info.homepage = Some(url.trim().to_string());
                }
            }
            _ => {}
        }
    }
    info
}

#[cfg(test)]
mod tests {
    #[test]
    fn headers_only() {
        let text = "Metadata-Version: 2.4\nName: x\nSummary: A thing\nLicense-Expression: Apache-2.0\nProject-URL: Homepage, http://127.0.0.1/x\n\nSummary: not this\n";
        let info = super::parse(text);
        assert_eq!(info.summary.as_deref(), Some("A thing"));
        assert_eq!(info.license_expression.as_deref(), Some("Apache-2.0"));
        assert_eq!(info.homepage.as_deref(), Some("http://127.0.0.1/x"));
    }
}
