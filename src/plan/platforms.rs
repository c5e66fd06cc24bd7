//! Cross-target edges. A fat wheel (`build python-wheel { layout "fat"
//! platforms "armv7hf" "aarch64" … }`) carries the bundled libraries of every
//! listed platform, so its node (package, T) depends on the bundled
//! packages' nodes (bundle, P) for each listed target P. Those edges are
//! `DepKind::Platform`: the dependency's output is data for the wheel, never
//! part of the package's sysroot (it is for another machine).

use crate::model::project::Project;
use crate::recipe::RawRecipe;
use crate::recipe::error::{RecipeError, closest};
use crate::recipe::raw::{RawOptionValue, Text};
use crate::recipe::schema::BuildKind;

use super::graph::{HOST, NodeId};

/// The values of a list (or string) option, in order, over repeated nodes.
fn list<'a>(raw: &'a RawRecipe, name: &str) -> Vec<&'a Text> {
    raw.build
        .options
        .iter()
        .filter(|o| o.name.value == name)
        .flat_map(|o| match &o.value {
            RawOptionValue::List(l) => l.iter().collect(),
            RawOptionValue::Str(s) => vec![s],
            RawOptionValue::Bool(_) => Vec::new(),
        })
        .collect()
}

/// Whether the recipe builds a fat wheel (its `layout` lists `fat`).
pub fn builds_fat_wheel(raw: &RawRecipe) -> bool {
    raw.build.kind.value == BuildKind::PythonWheel && list(raw, "layout").iter().any(|t| t.value == "fat")
}

/// The nodes (bundle, P) the node of `raw` on `target` needs beyond its own
/// target's, for a fat wheel; the listed names are taken as written (the
/// plan is made before rendering). Errors point at what is wrong.
pub fn platform_deps(project: &Project, raw: &RawRecipe, target: &str) -> Result<Vec<NodeId>, Vec<RecipeError>> {
    if target == HOST || !builds_fat_wheel(raw) {
        return Ok(Vec::new());
    }
    let invalid = |t: &Text, what: &str, reason: String, help: String| RecipeError::InvalidValue {
        src: raw.file.named(),
        span: t.span,
        what: what.to_string(),
        reason,
        help,
    };
    let platforms = list(raw, "platforms");
    let bundle = list(raw, "bundle");
    let mut errors = Vec::new();
    let layout = list(raw, "layout");
    let at = layout.iter().find(|t| t.value == "fat").copied();
    if let Some(fat) = at {
        if platforms.is_empty() {
            errors.push(invalid(
                fat,
                "layout",
                "a fat wheel needs the targets whose libraries it carries".into(),
                "add `platforms \"armv7hf\" \"aarch64\" \"x86_64\"` (names of toolchains/ files)".into(),
            ));
        }
        if bundle.is_empty() {
            errors.push(invalid(
                fat,
                "layout",
                "a fat wheel needs the packages whose libraries it carries".into(),
                "add `bundle \"PACKAGE\"` (a package in `depends`)".into(),
            ));
        }
    }
    for b in &bundle {
        if !raw.depends.iter().any(|d| d.value == b.value) {
            errors.push(invalid(
                b,
                "bundle",
                format!("`{}` is not in `depends`", b.value),
                format!("add `depends {}`", b.value),
            ));
        }
    }
    let mut out = Vec::new();
    for p in &platforms {
        if !project.targets.contains_key(&p.value) {
            let hint = match closest(&p.value, project.targets.keys().map(String::as_str)) {
                Some(c) => format!("did you mean `{c}`?"),
                None => format!(
                    "platforms are targets of toolchains/: {}",
                    project.targets.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            };
            errors.push(invalid(p, "platforms", format!("unknown target `{}`", p.value), hint));
            continue;
        }
        if p.value == target {
            continue;
        }
        for b in &bundle {
            out.push(NodeId {
                name: b.value.clone(),
                target: p.value.clone(),
            });
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::super::graph::{DepKind, plan};
    use crate::model::project::{Project, ProjectPaths};

    /// A project with the repository's targets and two recipes: a Go
    /// library and a fat wheel carrying it for `platforms`.
    fn project(root: &std::path::Path, platforms: &str) -> Project {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for dir in ["toolchains", "sysroots"] {
            std::fs::create_dir_all(root.join(dir)).expect("mkdir");
            for e in std::fs::read_dir(repo.join(dir)).expect("read").flatten() {
                std::fs::copy(e.path(), root.join(dir).join(e.file_name())).expect("copy");
            }
        }
        let write = |name: &str, text: &str| {
            let dir = root.join("recipes").join(name);
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::fs::write(dir.join("recipe.kdl"), text).expect("write");
        };
        write(
            "shim",
            "package shim { version \"1\" }\nbuild go { mode \"c-shared\" }\n",
        );
        write(
            "fatpy",
            &format!(
                "package fatpy {{ version \"1\" }}\ndepends shim\nbuild python-wheel {{\n    lib-dir \"fatpy/_lib/{{{{ target.python.lib_dir }}}}\"\n    bundle \"shim\"\n    layout \"per-platform\" \"fat\"\n    platforms {platforms}\n}}\n"
            ),
        );
        Project::load(ProjectPaths::from_recipes_dir(&root.join("recipes"))).expect("loads")
    }

    fn edges(p: &super::super::graph::Plan) -> Vec<String> {
        let mut out: Vec<String> = p
            .graph
            .edge_indices()
            .filter_map(|e| {
                let (a, b) = p.graph.edge_endpoints(e)?;
                Some(format!("{} -> {} {:?}", p.graph[a], p.graph[b], p.graph[e]))
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn a_fat_wheel_depends_on_its_library_for_every_platform() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let project = project(tmp.path(), "\"armv7hf\" \"aarch64\" \"x86_64\"");
        let p = plan(&project, &["fatpy".into()], &["armv7hf".into()]).expect("plans");
        assert_eq!(
            edges(&p),
            [
                "shim@aarch64 -> fatpy@armv7hf Platform",
                "shim@armv7hf -> fatpy@armv7hf Target",
                "shim@x86_64 -> fatpy@armv7hf Platform",
            ]
        );
        // Libraries first; the wheel is last.
        assert_eq!(p.node(*p.order.last().expect("nodes")).to_string(), "fatpy@armv7hf");
        let fat = p.roots[0];
        let platform: Vec<String> = p.platform_deps(fat).iter().map(|d| p.node(*d).to_string()).collect();
        assert_eq!(platform, ["shim@aarch64", "shim@x86_64"]);

        // Every target's wheel node shares the three library nodes.
        let all: Vec<String> = ["armv7hf", "aarch64", "x86_64"].map(String::from).to_vec();
        let p = plan(&project, &["fatpy".into()], &all).expect("plans");
        assert_eq!(p.len(), 6);
        let kinds = edges(&p);
        assert_eq!(kinds.iter().filter(|e| e.ends_with("Platform")).count(), 6);
        assert!(kinds.contains(&"shim@aarch64 -> fatpy@aarch64 Target".to_string()));
        assert_eq!(p.graph.edge_weights().filter(|w| **w == DepKind::Target).count(), 3);
    }

    #[test]
    fn an_unknown_platform_is_an_error_at_its_name() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let project = project(tmp.path(), "\"armv7hf\" \"arch64\"");
        let err = match plan(&project, &["fatpy".into()], &["armv7hf".into()]) {
            Err(super::super::graph::PlanError::Recipe(e)) => e,
            other => panic!("expected a recipe error, got {:?}", other.map(|p| p.len())),
        };
        let text = format!("{:?}", miette::Report::new(err));
        assert!(text.contains("unknown target `arch64`"), "{text}");
        assert!(text.contains("did you mean `aarch64`?"), "{text}");
    }
}
