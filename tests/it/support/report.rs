//! A run's `report.json` (what `--report DIR` writes), read by the tests
//! that check statuses: the machine-readable report, not the aligned text
//! meant for people.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

pub struct Report {
    pub json: Value,
}

impl Report {
    /// `report.json` in `dir` (or `dir` itself when it names the file).
    #[track_caller]
    pub fn read(dir: &Path) -> Report {
        let path = if dir.extension().is_some_and(|x| x == "json") {
            dir.to_path_buf()
        } else {
            dir.join("report.json")
        };
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Report { json }
    }

    fn packages(&self) -> impl Iterator<Item = &Value> {
        self.json["packages"].as_array().into_iter().flatten()
    }

    /// The first entry for package `name` (any target).
    #[track_caller]
    pub fn package(&self, name: &str) -> &Value {
        self.packages()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} not in {}", self.json))
    }

    /// The status of package `name` (tests with one target).
    #[track_caller]
    pub fn status(&self, name: &str) -> &str {
        self.package(name)["status"].as_str().unwrap_or_default()
    }

    /// `name → status`, for runs on one target.
    pub fn by_name(&self) -> BTreeMap<String, String> {
        self.packages().map(|p| (text(p, "name"), text(p, "status"))).collect()
    }

    /// `name@target → status`.
    pub fn statuses(&self) -> BTreeMap<String, String> {
        self.packages().map(|p| (id(p), text(p, "status"))).collect()
    }

    /// True when the run built nothing (everything up to date or restored).
    pub fn built_nothing(&self) -> bool {
        self.packages().next().is_some() && self.packages().all(|p| p["status"] != "built")
    }

    /// `name@target → (status, reasons)`.
    pub fn reasons(&self) -> BTreeMap<String, (String, Vec<String>)> {
        self.packages()
            .map(|p| {
                let reasons = p["reasons"]
                    .as_array()
                    .map(|r| r.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
                    .unwrap_or_default();
                (id(p), (text(p, "status"), reasons))
            })
            .collect()
    }

    /// `name@target → (status, output digest)`.
    pub fn outcomes(&self) -> BTreeMap<String, (String, Option<String>)> {
        self.packages()
            .map(|p| (id(p), (text(p, "status"), p["digest"].as_str().map(str::to_string))))
            .collect()
    }
}

/// The whole JSON, for assertion messages.
impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.json.fmt(f)
    }
}

fn text(p: &Value, field: &str) -> String {
    p[field].as_str().unwrap_or_default().to_string()
}

fn id(p: &Value) -> String {
    format!("{}@{}", text(p, "name"), text(p, "target"))
}
