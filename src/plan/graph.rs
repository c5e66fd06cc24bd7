//! Plan: the dependency DAG of the requested packages for a target.
//!
//! Nodes are (package, target) pairs: `host-depends` pull packages built for
//! the build machine (target `host`), `depends` packages for the same target.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use petgraph::Direction;
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;

use crate::model::project::{LookupError, Project};
use crate::recipe::error::{RecipeError, RecipeErrors, closest};
use crate::recipe::raw::Text;

/// Why no plan could be made.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlanError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lookup(#[from] LookupError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Recipe(#[from] RecipeErrors),

    /// A cycle through nodes that have no recipe to point at (not reachable
    /// from recipes on disk; kept so the walk above never panics).
    #[error("dependency cycle: {cycle}")]
    #[diagnostic(code(recipe::cycle))]
    Cycle { cycle: String },
}

/// Name of the build machine's own target, used for host tools.
pub const HOST: &str = "host";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId {
    pub name: String,
    pub target: String,
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.name, self.target)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepKind {
    Target,
    Host,
    /// The same package for another target, whose output a fat wheel
    /// carries (see `platforms`); never part of the dependent's sysroot.
    Platform,
}

pub struct Plan {
    pub graph: StableDiGraph<NodeId, DepKind>,
    /// Topological order (dependencies first), ties broken by name.
    pub order: Vec<NodeIndex>,
    pub roots: Vec<NodeIndex>,
}

impl Plan {
    pub fn node(&self, ix: NodeIndex) -> &NodeId {
        &self.graph[ix]
    }

    /// Direct dependencies of `ix`, sorted by name.
    pub fn deps(&self, ix: NodeIndex) -> Vec<NodeIndex> {
        let mut v: Vec<_> = self.graph.neighbors_directed(ix, Direction::Incoming).collect();
        v.sort_by(|a, b| self.graph[*a].cmp(&self.graph[*b]));
        v
    }

    /// Direct dependencies of `ix` through `DepKind::Platform` edges (the
    /// other targets' libraries of a fat wheel), sorted.
    pub fn platform_deps(&self, ix: NodeIndex) -> Vec<NodeIndex> {
        let mut v: Vec<_> = self
            .graph
            .edges_directed(ix, Direction::Incoming)
            .filter(|e| *e.weight() == DepKind::Platform)
            .map(|e| e.source())
            .collect();
        v.sort_by(|a, b| self.graph[*a].cmp(&self.graph[*b]));
        v
    }

    pub fn dependents(&self, ix: NodeIndex) -> Vec<NodeIndex> {
        let mut v: Vec<_> = self.graph.neighbors_directed(ix, Direction::Outgoing).collect();
        v.sort_by(|a, b| self.graph[*a].cmp(&self.graph[*b]));
        v
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// Checks that requested names exist, with a suggestion when they don't.
pub fn check_requested(project: &Project, names: &[String]) -> Result<(), PlanError> {
    for name in names {
        if let Some(errors) = project.broken.get(name) {
            return Err(RecipeErrors { errors: errors.clone() }.into());
        }
        if !project.recipes.contains_key(name) {
            return Err(LookupError::UnknownPackage {
                name: name.clone(),
                suggestion: closest(name, project.recipe_names()).map(str::to_string),
            }
            .into());
        }
    }
    Ok(())
}

/// Builds the plan for `requested` packages on each of `targets`.
pub fn plan(project: &Project, requested: &[String], targets: &[String]) -> Result<Plan, PlanError> {
    check_requested(project, requested)?;
    let mut graph: StableDiGraph<NodeId, DepKind> = StableDiGraph::new();
    let mut index: BTreeMap<NodeId, NodeIndex> = BTreeMap::new();
    let mut errors = Vec::new();
    let mut roots = Vec::new();
    let mut stack: Vec<NodeId> = Vec::new();
    for target in targets {
        for name in requested {
            let id = NodeId {
                name: name.clone(),
                target: target.clone(),
            };
            if !index.contains_key(&id) {
                let ix = graph.add_node(id.clone());
                index.insert(id.clone(), ix);
                roots.push(ix);
                stack.push(id);
            }
        }
    }
    while let Some(id) = stack.pop() {
        let Some(raw) = project.recipes.get(&id.name) else {
            continue;
        };
        let from = index[&id];
        let tools = kind_tools(raw);
        let platforms = match super::platforms::platform_deps(project, raw, &id.target) {
            Ok(p) => p,
            Err(e) => {
                errors.extend(e);
                Vec::new()
            }
        };
        let edges = raw
            .depends
            .iter()
            .map(|d| (d, DepKind::Target, id.target.clone()))
            .chain(
                raw.host_depends
                    .iter()
                    .chain(&tools)
                    .map(|d| (d, DepKind::Host, HOST.to_string())),
            );
        for (dep, kind, dep_target) in edges {
            if !project.recipes.contains_key(&dep.value) {
                errors.push(match tools.iter().any(|t| std::ptr::eq(t, dep)) {
                    true => missing_host_tool(project, raw, dep),
                    false => unknown_dependency(project, raw, dep),
                });
                continue;
            }
            let dep_id = NodeId {
                name: dep.value.clone(),
                target: dep_target,
            };
            add_edge(&mut graph, &mut index, &mut stack, dep_id, from, kind);
        }
        // Known recipes (the bundle is checked to be in `depends` above).
        for dep_id in platforms.into_iter().filter(|d| project.recipes.contains_key(&d.name)) {
            add_edge(&mut graph, &mut index, &mut stack, dep_id, from, DepKind::Platform);
        }
    }
    if !errors.is_empty() {
        return Err(RecipeErrors { errors }.into());
    }
    let order = topo_order(&graph).map_err(|cycle| cycle_error(project, &graph, &cycle))?;
    Ok(Plan { graph, order, roots })
}

/// The edge `dep` → `from`, adding `dep`'s node (and queueing it for its own
/// dependencies) the first time it is seen.
fn add_edge(
    graph: &mut StableDiGraph<NodeId, DepKind>,
    index: &mut BTreeMap<NodeId, NodeIndex>,
    stack: &mut Vec<NodeId>,
    dep: NodeId,
    from: NodeIndex,
    kind: DepKind,
) {
    let to = match index.get(&dep) {
        Some(ix) => *ix,
        None => {
            let ix = graph.add_node(dep.clone());
            index.insert(dep.clone(), ix);
            stack.push(dep);
            ix
        }
    };
    if !graph.contains_edge(to, from) {
        graph.add_edge(to, from, kind);
    }
}

/// The host tools the recipe's build kind runs, as host dependencies
/// spanning the kind's name (none for the tool's own recipe).
fn kind_tools(raw: &crate::recipe::RawRecipe) -> Vec<Text> {
    let kind = &raw.build.kind;
    kind.value
        .host_tools()
        .iter()
        .filter(|t| **t != raw.name.value)
        .map(|t| Text {
            value: t.to_string(),
            span: kind.span,
        })
        .collect()
}

fn missing_host_tool(project: &Project, raw: &crate::recipe::RawRecipe, tool: &Text) -> RecipeError {
    let help = if project.broken.contains_key(&tool.value) {
        format!(
            "recipes/{}/recipe.kdl has errors; run `recipe lint {}`",
            tool.value, tool.value
        )
    } else {
        format!(
            "add recipes/{0}/recipe.kdl, a host recipe that installs `$PREFIX/bin/{0}` (the recipe repository ships one, from the upstream wheel on the Python index)",
            tool.value
        )
    };
    RecipeError::MissingHostTool {
        src: raw.file.named(),
        span: tool.span,
        kind: raw.build.kind.value.name().to_string(),
        tool: tool.value.clone(),
        help,
    }
}

fn unknown_dependency(project: &Project, raw: &crate::recipe::RawRecipe, dep: &Text) -> RecipeError {
    let help = if project.broken.contains_key(&dep.value) {
        format!(
            "recipes/{}/recipe.kdl has errors; run `recipe lint {}`",
            dep.value, dep.value
        )
    } else {
        match closest(&dep.value, project.recipe_names()) {
            Some(c) => format!("did you mean `{c}`?"),
            None => format!("add recipes/{}/recipe.kdl or remove the dependency", dep.value),
        }
    };
    RecipeError::UnknownDependency {
        src: raw.file.named(),
        span: dep.span,
        name: dep.value.clone(),
        help,
    }
}

/// Kahn's algorithm with a sorted ready set, so the order is deterministic.
/// On a cycle, returns the nodes that could not be ordered.
fn topo_order(graph: &StableDiGraph<NodeId, DepKind>) -> Result<Vec<NodeIndex>, Vec<NodeIndex>> {
    let mut indegree: BTreeMap<NodeIndex, usize> = graph
        .node_indices()
        .map(|ix| (ix, graph.neighbors_directed(ix, Direction::Incoming).count()))
        .collect();
    let mut ready: BTreeSet<(NodeId, NodeIndex)> = indegree
        .iter()
        .filter(|(_, d)| **d == 0)
        .map(|(ix, _)| (graph[*ix].clone(), *ix))
        .collect();
    let mut order = Vec::with_capacity(indegree.len());
    while let Some((_, ix)) = ready.pop_first() {
        order.push(ix);
        for edge in graph.edges_directed(ix, Direction::Outgoing) {
            let t = edge.target();
            if let Some(d) = indegree.get_mut(&t) {
                *d -= 1;
                if *d == 0 {
                    ready.insert((graph[t].clone(), t));
                }
            }
        }
    }
    if order.len() == indegree.len() {
        Ok(order)
    } else {
        let done: BTreeSet<_> = order.into_iter().collect();
        Err(graph.node_indices().filter(|ix| !done.contains(ix)).collect())
    }
}

/// Finds one concrete cycle among the unordered nodes and names all of it.
fn cycle_error(project: &Project, graph: &StableDiGraph<NodeId, DepKind>, stuck: &[NodeIndex]) -> PlanError {
    let stuck_set: BTreeSet<_> = stuck.iter().copied().collect();
    // Walk dependencies backwards from the smallest stuck node; in the stuck
    // subgraph every node has a stuck dependency, so the walk must repeat.
    let start = stuck
        .iter()
        .copied()
        .min_by(|a, b| graph[*a].cmp(&graph[*b]))
        .unwrap_or_else(|| graph.node_indices().next().unwrap_or_default());
    let mut path = vec![start];
    let mut cur = start;
    loop {
        let mut deps: Vec<_> = graph
            .neighbors_directed(cur, Direction::Incoming)
            .filter(|d| stuck_set.contains(d))
            .collect();
        deps.sort_by(|a, b| graph[*a].cmp(&graph[*b]));
        let Some(next) = deps.first().copied() else { break };
        if let Some(pos) = path.iter().position(|p| *p == next) {
            path.drain(..pos);
            path.push(next);
            break;
        }
        path.push(next);
        cur = next;
    }
    // path: a, dep-of-a, dep-of-dep … , a  → print as "a -> b -> … -> a".
    let names: Vec<String> = path.iter().map(|ix| graph[*ix].name.clone()).collect();
    let cycle = names.join(" -> ");
    let (closing_pkg, closing_dep) = match path.len() {
        n if n >= 2 => (&graph[path[n - 2]].name, &graph[path[n - 1]].name),
        _ => (&graph[start].name, &graph[start].name),
    };
    let Some(raw) = project.recipes.get(closing_pkg) else {
        return PlanError::Cycle { cycle };
    };
    let span = raw
        .depends
        .iter()
        .chain(raw.host_depends.iter())
        .find(|d| &d.value == closing_dep)
        .map_or(raw.name.span, |d| d.span);
    let mut members: Vec<&str> = names.iter().map(String::as_str).collect();
    members.sort();
    members.dedup();
    let mut help = String::new();
    let _ = write!(
        help,
        "every package in the cycle ({}) depends on the next one; remove one of these dependencies",
        members.join(", ")
    );
    RecipeErrors::from(RecipeError::Cycle {
        src: raw.file.named(),
        span,
        cycle,
        help,
    })
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph_of(edges: &[(&str, &str)]) -> StableDiGraph<NodeId, DepKind> {
        let mut g = StableDiGraph::new();
        let mut ix = BTreeMap::new();
        for (a, b) in edges {
            for n in [a, b] {
                ix.entry(*n).or_insert_with(|| {
                    g.add_node(NodeId {
                        name: n.to_string(),
                        target: "t".into(),
                    })
                });
            }
            g.add_edge(ix[b], ix[a], DepKind::Target);
        }
        g
    }

    #[test]
    fn topo_order_is_deterministic_and_dependencies_first() {
        // a depends on b and c; b depends on c.
        let g = graph_of(&[("a", "b"), ("a", "c"), ("b", "c"), ("d", "c")]);
        let order: Vec<_> = topo_order(&g)
            .expect("acyclic")
            .iter()
            .map(|i| g[*i].name.clone())
            .collect();
        assert_eq!(order, ["c", "b", "a", "d"]);
    }

    #[test]
    fn cycles_are_detected() {
        let g = graph_of(&[("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]);
        let stuck = topo_order(&g).expect_err("cyclic");
        assert_eq!(stuck.len(), 4);
    }
}
