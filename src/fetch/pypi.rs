//! Python package index: which index (from the environment, the config file,
//! pip's configuration, else pip's own built-in default, asked at run time)
//! and the URL of a file of a project (PEP 691 JSON simple API, with the
//! PEP 503 HTML page as a fallback for indexes that only serve HTML).

use std::process::Command;

use serde::Deserialize;

use super::FetchContext;
use super::error::{FetchError, chain};

/// Resolution order: the configured index (`$PIP_INDEX_URL`, else the config
/// file's `python-index`, as the settings resolved it), pip's configuration
/// (`pip config list` of `python`, default `python3`), pip's default index.
pub fn resolve_index(configured: Option<&str>, python: Option<&str>) -> Result<String, String> {
    if let Some(v) = configured {
        return Ok(clean(v));
    }
    let python = python.unwrap_or("python3");
    if let Some(v) = pip_config_index(python) {
        return Ok(clean(&v));
    }
    pip_default_index(python).map(|v| clean(&v))
}

fn clean(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}

/// `download.index-url` or `global.index-url` from `pip config list`.
fn pip_config_index(python: &str) -> Option<String> {
    let out = Command::new(python)
        .args(["-m", "pip", "config", "list"])
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .output()
        .ok()?;
    parse_pip_config(&String::from_utf8_lossy(&out.stdout))
}

pub fn parse_pip_config(text: &str) -> Option<String> {
    let mut found: Vec<(usize, String)> = Vec::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let rank = match key.trim() {
            "download.index-url" => 0,
            "global.index-url" => 1,
            "install.index-url" => 2,
            _ => continue,
        };
        let value = value.trim().trim_matches(['\'', '"']).to_string();
        if !value.is_empty() {
            found.push((rank, value));
        }
    }
    found.sort();
    found.into_iter().next().map(|(_, v)| v)
}

/// pip's built-in default, read from pip itself so no host is written here.
fn pip_default_index(python: &str) -> Result<String, String> {
    let out = Command::new(python)
        .args([
            "-c",
            "from pip._internal.models.index import PyPI; print(PyPI.simple_url)",
        ])
        .output()
        .map_err(|e| format!("cannot run {python} to ask pip for its default index: {e}"))?;
    let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() && url.starts_with("http") {
        Ok(url)
    } else {
        Err(format!(
            "no index configured and `{python}` could not tell pip's default: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// PEP 503 normalized project name.
pub fn normalize_project(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

#[derive(Deserialize)]
struct ProjectPage {
    files: Vec<FileEntry>,
}

#[derive(Deserialize)]
struct FileEntry {
    filename: String,
    url: String,
    /// PEP 700 (API 1.1); older indexes and HTML pages do not give it.
    #[serde(default)]
    size: Option<u64>,
}

/// One file listed on a project page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFile {
    pub name: String,
    pub href: String,
    /// The size the index gives, when it gives one.
    pub size: Option<u64>,
}

/// The files of a project page, JSON or HTML.
pub fn parse_project_page(content_type: &str, body: &str) -> Result<Vec<IndexFile>, String> {
    if content_type.contains("json") {
        let page: ProjectPage = serde_json::from_str(body).map_err(|e| format!("invalid JSON: {e}"))?;
        Ok(page
            .files
            .into_iter()
            .map(|f| IndexFile {
                name: f.filename,
                href: f.url,
                size: f.size,
            })
            .collect())
    } else {
        Ok(html_anchors(body)
            .into_iter()
            .map(|(name, href)| IndexFile { name, href, size: None })
            .collect())
    }
}

/// `<a href="URL">name</a>` pairs; enough for PEP 503 pages, which are
/// machine-generated lists of anchors.
fn html_anchors(body: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find("<a ") {
        rest = &rest[start + 3..];
        let Some(close) = rest.find('>') else { break };
        let attrs = &rest[..close];
        let Some(end) = rest.find("</a>") else { break };
        let text = rest[close + 1..end].trim().to_string();
        let href = attrs.split_once("href=").and_then(|(_, v)| {
            let q = v.chars().next()?;
            let v = &v[1..];
            v.find(q).map(|e| v[..e].replace("&amp;", "&"))
        });
        if let Some(href) = href {
            out.push((text, href));
        }
        rest = &rest[end + 4..];
    }
    out
}

/// The download URL of `file` of `project` on `index`, and its size when the
/// index gives one.
pub fn file_url(
    ctx: &FetchContext,
    index: &str,
    project: &str,
    file: &str,
) -> Result<(String, Option<u64>), FetchError> {
    let (page_url, files) = project_files(ctx, index, project)?;
    match files.iter().find(|f| f.name == file) {
        Some(found) => Ok((absolute_link(&page_url, &found.href)?, found.size)),
        None => {
            // Show the files sharing the wanted version, to spot a typo.
            let version_part = file.split('-').nth(1).unwrap_or("");
            let available = files
                .iter()
                .map(|f| f.name.clone())
                .filter(|n| !version_part.is_empty() && n.contains(version_part))
                .take(8)
                .collect();
            Err(FetchError::NotOnIndex {
                project: project.to_string(),
                file: file.to_string(),
                url: page_url,
                available,
            })
        }
    }
}

/// The project page URL of `project` on `index` and the files it lists.
pub fn project_files(ctx: &FetchContext, index: &str, project: &str) -> Result<(String, Vec<IndexFile>), FetchError> {
    let page_url = format!("{}/{}/", index.trim_end_matches('/'), normalize_project(project));
    let (content_type, body) = get_page(ctx, &page_url)?;
    let files = parse_project_page(&content_type, &body).map_err(|reason| FetchError::Index {
        url: page_url.clone(),
        reason,
    })?;
    Ok((page_url, files))
}

/// A link of a project page made absolute, without its fragment.
pub fn absolute_link(page_url: &str, href: &str) -> Result<String, FetchError> {
    let base = reqwest::Url::parse(page_url).map_err(|e| FetchError::Index {
        url: page_url.to_string(),
        reason: e.to_string(),
    })?;
    let mut url = base.join(href).map_err(|e| FetchError::Index {
        url: page_url.to_string(),
        reason: format!("bad link {href}: {e}"),
    })?;
    // The `#sha256=` fragment is for the client, not the server.
    url.set_fragment(None);
    Ok(url.to_string())
}

/// GET with the retry policy of downloads; returns (content type, body).
fn get_page(ctx: &FetchContext, url: &str) -> Result<(String, String), FetchError> {
    let attempts = ctx.policy.attempts.max(1);
    let mut last = String::new();
    for attempt in 0..attempts {
        if attempt > 0 {
            std::thread::sleep(ctx.policy.initial_backoff.saturating_mul(1 << attempt.min(6)));
        }
        ctx.count_request();
        let resp = ctx
            .client()?
            .get(url)
            .header(
                reqwest::header::ACCEPT,
                "application/vnd.pypi.simple.v1+json, text/html;q=0.1",
            )
            .send();
        match resp {
            Ok(r) if r.status().is_success() => {
                let ct = r
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                match r.text() {
                    Ok(body) => return Ok((ct, body)),
                    Err(e) => last = chain(&e),
                }
            }
            Ok(r) if r.status().is_server_error() => last = format!("HTTP {}", r.status()),
            Ok(r) => {
                return Err(FetchError::Index {
                    url: url.to_string(),
                    reason: format!("HTTP {}", r.status()),
                });
            }
            Err(e) if e.is_redirect() || e.is_builder() => {
                return Err(FetchError::Index {
                    url: url.to_string(),
                    reason: chain(&e),
                });
            }
            Err(e) => last = chain(&e),
        }
    }
    Err(FetchError::Index {
        url: url.to_string(),
        reason: last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalized() {
        assert_eq!(normalize_project("Foo.Bar__baz"), "foo-bar-baz");
        assert_eq!(normalize_project("dqlitepy"), "dqlitepy");
    }

    #[test]
    fn pip_config_prefers_download_then_global() {
        let text = "global.index-url='http://g.invalid/simple'\ndownload.index-url='http://d.invalid/simple'\n";
        assert_eq!(parse_pip_config(text).as_deref(), Some("http://d.invalid/simple"));
        assert_eq!(parse_pip_config("global.timeout='5'\n"), None);
    }

    #[test]
    fn json_and_html_pages() {
        let json = r#"{"meta":{"api-version":"1.1"},"name":"x","files":[{"filename":"x-1.0.tar.gz","url":"../../f/x-1.0.tar.gz","hashes":{"sha256":"ab"},"size":1234}]}"#;
        let got = parse_project_page("application/vnd.pypi.simple.v1+json", json).unwrap();
        assert_eq!(
            got,
            vec![IndexFile {
                name: "x-1.0.tar.gz".to_string(),
                href: "../../f/x-1.0.tar.gz".to_string(),
                size: Some(1234),
            }]
        );
        let html = "<html><body><a href=\"/f/x-1.0.tar.gz#sha256=ab\" data-requires-python=\"&gt;=3\">x-1.0.tar.gz</a><br/>\n<a href='/f/x-1.1.tar.gz'>x-1.1.tar.gz</a></body></html>";
        let got = parse_project_page("text/html", html).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].name, "x-1.0.tar.gz");
        assert_eq!(got[0].href, "/f/x-1.0.tar.gz#sha256=ab");
        assert_eq!(got[0].size, None);
        assert!(parse_project_page("application/json", "{").is_err());
    }
}
