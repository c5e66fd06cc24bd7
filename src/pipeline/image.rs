//! Images in a session: the recipes an image installs are built for its
//! target through the normal graph (incremental: unchanged packages are
//! skipped by key or restored from the local store) before it is assembled,
//! and the install closure is worked out from the rendered recipes.

use std::collections::BTreeSet;
use std::path::Path;

use crate::build::image::Installed;
use crate::error::Error;
use crate::model::image_def::ImageDef;
use crate::plan::render::render;
use crate::recipe::schema::BuildKind;

use super::{BuildRequest, Session, ensure_success};

impl Session<'_> {
    /// Builds `def`'s `install` recipes for `target` (into the settings'
    /// build and out directories, as `recipe build` does) and returns what
    /// the image gets, dependencies first: a `python-wheel` recipe's wheels
    /// alone (they bundle what they need), or another recipe's output (its
    /// wheels, else its staged files) and those of its target dependencies,
    /// transitively.
    /// `dirs`: the build and out directories (`--build-dir`, `--out-dir`).
    pub fn build_image_installs(
        &self,
        def: &ImageDef,
        target: &str,
        dirs: (Option<&Path>, Option<&Path>),
    ) -> Result<Vec<Installed>, Error> {
        if def.install.is_empty() {
            return Ok(Vec::new());
        }
        let t = self.project.target(target)?;
        let mut order = Vec::new();
        let mut seen = BTreeSet::new();
        for name in &def.install {
            self.install_closure(name, t, 0, &mut seen, &mut order)?;
        }
        let request = BuildRequest {
            names: def.install.clone(),
            targets: vec![target.to_string()],
            build_dir: dirs.0.map(Path::to_path_buf),
            out_dir: dirs.1.map(Path::to_path_buf),
            ..BuildRequest::default()
        };
        ensure_success(&self.build(request)?)?;
        Ok(order)
    }

    fn install_closure(
        &self,
        name: &str,
        target: &crate::model::target::Target,
        depth: usize,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<Installed>,
    ) -> Result<(), Error> {
        if !seen.insert(name.to_string()) {
            return Ok(());
        }
        crate::plan::graph::check_requested(&self.project, &[name.to_string()])?;
        let recipe = render(&self.project.recipes[name], target)?;
        let wheel = recipe.build.kind == BuildKind::PythonWheel;
        // The plan has refused cycles already; the bound is belt and braces.
        if !wheel && depth < 64 {
            for dep in &recipe.depends {
                self.install_closure(dep, target, depth + 1, seen, order)?;
            }
        }
        order.push(Installed {
            name: recipe.name,
            version: recipe.version,
            wheel,
        });
        Ok(())
    }
}
