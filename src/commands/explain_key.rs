//! `recipe explain-key`: every input of the keys of packages and their
//! dependencies, one fact per line, so that a cache miss between two
//! machines is diagnosed by diffing two outputs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::Error;
use crate::fetch::FetchContext;
use crate::outputs::key::{self, KeyInputs};
use crate::plan::graph::{NodeId, plan};
use crate::plan::render::render_plan;
use crate::settings::Settings;
use crate::toolchain::provision::ProvisionContext;

pub struct ExplainKeyArgs {
    pub names: Vec<String>,
    pub target: String,
    pub build_dir: Option<PathBuf>,
    pub offline: bool,
}

pub fn run(settings: &Settings, args: ExplainKeyArgs) -> Result<(), Error> {
    let ExplainKeyArgs {
        names,
        target,
        build_dir,
        offline,
    } = args;
    let project = super::load(settings)?;
    let plan = plan(&project, &names, std::slice::from_ref(&target))?;
    let recipes = render_plan(&project, &plan, &crate::toolchain::activate::host_target())?;
    let layout = crate::pipeline::layout(settings, build_dir.as_deref(), None);
    let fetch = Arc::new(FetchContext::new(
        &settings.cache,
        settings.fetch_options(offline, &Default::default()),
    )?);
    let provision = ProvisionContext::with_fetch(settings.cache.clone(), fetch);
    let envs = crate::pipeline::activate_plan(&project, &plan, &recipes, &layout, &provision)?;

    // A dependency enters a key through the digest of its output, known
    // only once it is built (or restored) with its current key.
    let mut digests: BTreeMap<NodeId, Option<String>> = BTreeMap::new();
    let mut text = String::new();
    for ix in plan.order.iter().copied() {
        let id = plan.node(ix).clone();
        let mut inputs = crate::build::job::key_inputs(&recipes[&id], &envs[&id.target], BTreeMap::new())
            .map_err(|e| Error::io(format!("cannot hash the files of {id}"), e))?;
        let mut unknown = Vec::new();
        for d in plan.deps(ix) {
            let dep = plan.node(d);
            match digests.get(dep).cloned().flatten() {
                Some(digest) => {
                    inputs.deps.insert(dep.to_string(), digest);
                }
                None => unknown.push(dep.to_string()),
            }
        }
        let stamp = key::read_stamp(&key::stamp_path(&layout.build_root, &id.target, &id.name));
        let key = unknown.is_empty().then(|| inputs.key());
        let state = match (&stamp, &key) {
            (None, _) => "not built here".to_string(),
            (Some(s), Some(k)) if &s.key == k => "built here with this key".to_string(),
            (Some(s), _) => format!(
                "built here with another key: {}",
                key::explain(Some(&s.inputs), &inputs).join("; ")
            ),
        };
        let digest = match (&stamp, &key) {
            (Some(s), Some(k)) if &s.key == k => Some(s.output_digest.clone()),
            _ => None,
        };
        describe(&mut text, &id, key.as_deref(), &inputs, &unknown, &state);
        digests.insert(id, digest);
    }
    print!("{text}");
    Ok(())
}

fn describe(out: &mut String, id: &NodeId, key: Option<&str>, inputs: &KeyInputs, unknown: &[String], state: &str) {
    let _ = writeln!(
        out,
        "{id}\n  key        {}",
        key.unwrap_or("unknown until its dependencies are built")
    );
    let _ = writeln!(out, "  state      {state}");
    let _ = writeln!(out, "  builder    {}", inputs.builder);
    let _ = writeln!(out, "  toolchain  {}", inputs.toolchain);
    for (file, sha) in &inputs.files {
        let _ = writeln!(out, "  file       {file} {sha}");
    }
    for (dep, digest) in &inputs.deps {
        let _ = writeln!(out, "  dep        {dep} {digest}");
    }
    for dep in unknown {
        let _ = writeln!(out, "  dep        {dep} (not built with its current key)");
    }
    let mut leaves = Vec::new();
    flatten("", &inputs.recipe, &mut leaves);
    for (path, value) in leaves {
        let _ = writeln!(out, "  recipe     {path} = {value}");
    }
}

/// JSON leaves as `a.b[2].c = value` lines, in a stable order.
fn flatten(path: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                flatten(&p, v, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{path}[{i}]"), v, out);
            }
        }
        other => out.push((path.to_string(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_nested_values_one_per_line() {
        let v = serde_json::json!({"b": {"x": [1, "two"]}, "a": null, "c": []});
        let mut out = Vec::new();
        flatten("", &v, &mut out);
        let lines: Vec<String> = out.into_iter().map(|(p, v)| format!("{p} = {v}")).collect();
        assert_eq!(lines, ["a = null", "b.x[0] = 1", "b.x[1] = \"two\"", "c = []"]);
    }
}
