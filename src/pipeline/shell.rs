//! `recipe shell NAME`: the package's build environment as its steps see it
//! (its sysroot with exactly its dependencies, `DESTDIR`, pkg-config rebased
//! onto that sysroot, the recipe's `env`), so a failed step can be re-run by
//! hand and behave as it did in the build.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::Error;
use crate::fetch::progress::Plain;
use crate::fetch::{FetchContext, FetchOptions, LimitOverrides};
use crate::plan::graph::{HOST, NodeId, plan};
use crate::plan::render::render_plan;
use crate::toolchain::provision::ProvisionContext;

use super::Session;
use super::build::{activate_plan, layout};

/// Where the shell starts and what it gets.
pub struct PackageShell {
    pub dir: PathBuf,
    pub vars: BTreeMap<String, String>,
}

impl Session<'_> {
    /// The environment of `name`'s steps for `target`, in the build tree
    /// `build_dir` (default: the project's); the package must have been
    /// built (or have failed) there.
    pub fn package_shell(&self, name: &str, target: &str, build_dir: Option<&Path>) -> Result<PackageShell, Error> {
        let (settings, project) = (self.settings, &self.project);
        if target != HOST {
            project.target(target)?;
        }
        let plan = plan(project, &[name.to_string()], &[target.to_string()])?;
        let recipes = render_plan(project, &plan, &crate::toolchain::activate::host_target())?;
        let layout = layout(settings, build_dir, None);
        let root = layout.package_dir(target, name);
        if !root.is_dir() {
            return Err(Error::Usage(format!(
                "{} does not exist yet; run `recipe build {name} --target {target}` first (a failed build keeps it)",
                root.display()
            )));
        }
        let id = NodeId {
            name: name.to_string(),
            target: target.to_string(),
        };
        let (Some(ix), Some(recipe)) = (
            plan.order.iter().copied().find(|ix| plan.node(*ix) == &id),
            recipes.get(&id),
        ) else {
            return Err(Error::Usage(format!("{id} is not in its own plan")));
        };
        let fetch = Arc::new(FetchContext::new(
            &settings.cache,
            FetchOptions {
                progress: Arc::new(Plain),
                ..settings.fetch_options(false, &LimitOverrides::default())
            },
        )?);
        let provision = ProvisionContext::with_fetch(settings.cache.clone(), fetch);
        let envs = activate_plan(project, &plan, &recipes, &layout, &provision)?;
        let deps: Vec<(String, PathBuf)> = crate::build::scheduler::transitive_deps(&plan, ix)
            .into_iter()
            .map(|d| plan.node(d))
            // Host tools live in the host prefix, not in target sysroots.
            .filter(|n| n.target == target)
            .map(|n| (n.name.clone(), layout.staged(&n.target, &n.name)))
            .collect();
        let (dirs, vars) = crate::build::job::shell_env(recipe, &envs[target], &layout, &deps)?;
        let dir = if dirs.src.is_dir() { dirs.src } else { dirs.root };
        Ok(PackageShell { dir, vars })
    }
}
