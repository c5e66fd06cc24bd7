use std::collections::BTreeSet;

use petgraph::stable_graph::NodeIndex;

use crate::cli::GraphFormat;
use crate::error::Error;
use crate::model::project::Project;
use crate::plan::graph::{DepKind, Plan, plan};
use crate::settings::Settings;

pub fn run(settings: &Settings, names: &[String], target: &str, format: GraphFormat) -> Result<(), Error> {
    let project = super::load(settings)?;
    project.target(target)?;
    let plan = plan(&project, names, &[target.to_string()])?;
    let out = match format {
        GraphFormat::Text => text(&project, &plan),
        GraphFormat::Dot => dot(&project, &plan),
    };
    print!("{out}");
    Ok(())
}

fn label(project: &Project, plan: &Plan, ix: NodeIndex) -> String {
    let id = plan.node(ix);
    let r = &project.recipes[&id.name];
    // Host tools, and the other targets' libraries of a fat wheel, say
    // which target they are built for.
    let requested = plan.roots.first().map(|r| plan.node(*r).target.as_str());
    let other = if id.target == crate::plan::graph::HOST || requested.is_some_and(|t| t != id.target) {
        format!(" [{}]", id.target)
    } else {
        String::new()
    };
    format!("{} {} ({}){other}", id.name, r.version.value, r.build.kind.value)
}

/// A `cargo tree`-style view; subtrees already shown are marked `(*)`.
pub fn text(project: &Project, plan: &Plan) -> String {
    let mut out = String::new();
    let mut shown = BTreeSet::new();
    for root in &plan.roots {
        out.push_str(&format!(
            "{}  [{}]\n",
            label(project, plan, *root),
            plan.node(*root).target
        ));
        walk(project, plan, *root, "", &mut shown, &mut out);
    }
    out.push_str("\nbuild order:\n");
    for (i, ix) in plan.order.iter().enumerate() {
        out.push_str(&format!("  {:>2}. {}\n", i + 1, label(project, plan, *ix)));
    }
    out
}

fn walk(
    project: &Project,
    plan: &Plan,
    ix: NodeIndex,
    prefix: &str,
    shown: &mut BTreeSet<NodeIndex>,
    out: &mut String,
) {
    let deps = plan.deps(ix);
    let expand = shown.insert(ix);
    for (i, d) in deps.iter().enumerate() {
        let last = i + 1 == deps.len();
        let seen = shown.contains(d) && !plan.deps(*d).is_empty();
        out.push_str(&format!(
            "{prefix}{}{}{}\n",
            if last { "└── " } else { "├── " },
            label(project, plan, *d),
            if seen { " (*)" } else { "" }
        ));
        if expand && !seen {
            let next = format!("{prefix}{}", if last { "    " } else { "│   " });
            walk(project, plan, *d, &next, shown, out);
        }
    }
}

pub fn dot(project: &Project, plan: &Plan) -> String {
    let mut out = String::from("digraph recipe {\n  rankdir=LR;\n  node [shape=box];\n");
    for ix in &plan.order {
        let id = plan.node(*ix);
        out.push_str(&format!(
            "  \"{id}\" [label=\"{}\"];\n",
            label(project, plan, *ix).replace('"', "\\\"")
        ));
    }
    for ix in &plan.order {
        for d in plan.deps(*ix) {
            let style = match plan.graph.find_edge(d, *ix).map(|e| plan.graph[e]) {
                Some(DepKind::Host) => " [style=dashed]",
                Some(DepKind::Platform) => " [style=dotted]",
                _ => "",
            };
            out.push_str(&format!("  \"{}\" -> \"{}\"{style};\n", plan.node(*ix), plan.node(d)));
        }
    }
    out.push_str("}\n");
    out
}
