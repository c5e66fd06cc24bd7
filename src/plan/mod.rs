//! From a project to the work to do: the dependency graph of (package,
//! target) nodes, and every node's recipe rendered for its target.

pub mod graph;
pub mod platforms;
pub mod render;
