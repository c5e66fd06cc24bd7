//! `recipe lint`: everything that can be checked without building.

use crate::error::Error;
use crate::model::project::Project;
use crate::plan::graph::{check_requested, plan};
use crate::plan::render::render;
use crate::recipe::RawRecipe;
use crate::recipe::error::{RecipeError, RecipeErrors};
use crate::recipe::raw::RawOrigin;
use crate::settings::Settings;

pub fn run(settings: &Settings, names: &[String]) -> Result<(), Error> {
    let mut project = super::load(settings)?;
    let mut errors = Vec::new();
    let selected: Vec<String> = if names.is_empty() {
        errors.extend(project.take_broken());
        project.recipes.keys().cloned().collect()
    } else {
        check_requested(&project, names)?;
        names.to_vec()
    };
    errors.extend(check_targets(&project));
    for name in &selected {
        errors.extend(check_recipe(&project, &project.recipes[name]));
    }
    let targets: Vec<String> = project.targets.keys().cloned().collect();
    if let Err(e) = plan(&project, &selected, &targets[..targets.len().min(1)]) {
        match e {
            crate::plan::graph::PlanError::Recipe(r) => errors.extend(r.errors),
            other => return Err(other.into()),
        }
    }
    if errors.is_empty() {
        println!(
            "{} recipe{} checked for {} target{}: no problems",
            selected.len(),
            if selected.len() == 1 { "" } else { "s" },
            targets.len(),
            if targets.len() == 1 { "" } else { "s" }
        );
        Ok(())
    } else {
        // Several reports of one template error (one per target) say the same thing.
        errors.dedup_by(|a, b| format!("{a:?}") == format!("{b:?}"));
        Err(RecipeErrors { errors }.into())
    }
}

fn check_targets(project: &Project) -> Vec<RecipeError> {
    let mut errors = Vec::new();
    for t in project.targets.values() {
        if !project.sysroots.contains_key(&t.sysroot) {
            errors.push(RecipeError::Io {
                path: format!("toolchains/{}.kdl", t.name),
                source: std::io::Error::other(format!(
                    "target `{}` names sysroot `{}`, which has no sysroots/{}.kdl",
                    t.name, t.sysroot, t.sysroot
                ))
                .into(),
            });
        }
    }
    errors
}

fn check_recipe(project: &Project, raw: &RawRecipe) -> Vec<RecipeError> {
    let mut errors = Vec::new();
    let src = || raw.file.named();
    match &raw.license {
        None => errors.push(RecipeError::MissingField {
            src: src(),
            span: raw.package_span,
            field: "`license`".into(),
            context: format!("package `{}`", raw.name.value),
            help: "add an SPDX expression, e.g. `license \"MIT\"`".into(),
        }),
        Some(l) if l.value.trim().is_empty() => errors.push(RecipeError::InvalidValue {
            src: src(),
            span: l.span,
            what: "license".into(),
            reason: "empty".into(),
            help: "use an SPDX expression, e.g. `MIT` or `LGPL-3.0-only WITH LGPL-3.0-linking-exception`".into(),
        }),
        Some(_) => {}
    }
    let mut known: Vec<&str> = project.targets.keys().map(String::as_str).collect();
    known.push(crate::plan::graph::HOST);
    errors.extend(crate::recipe::per_target::unknown_variant_targets(raw, &known));
    for s in &raw.sources {
        let is_path = matches!(s.origin, RawOrigin::Path(_));
        let unpinned = s.sha256.as_ref().is_none_or(|h| h.value.is_empty());
        for v in s.variants.iter().filter(|v| unpinned && v.sha256.is_none()) {
            errors.push(RecipeError::MissingField {
                src: src(),
                span: v.target.span,
                field: "`sha256=`".into(),
                context: format!("`target {}`", v.target.value),
                help: "run `recipe fetch --target T` to download it: the error prints the computed sha256".into(),
            });
        }
        if !is_path && unpinned && s.variants.is_empty() {
            errors.push(RecipeError::MissingField {
                src: src(),
                span: s.sha256.as_ref().map_or(s.span, |h| h.span),
                field: "`sha256`".into(),
                context: "`source`".into(),
                help: "run `recipe fetch` to download it: the error prints the computed sha256 to paste here".into(),
            });
        }
        if let RawOrigin::Path(p) = &s.origin
            && !raw.dir.join(&p.value).exists()
        {
            errors.push(missing_file(raw, p, "source path"));
        }
    }
    for target in project.targets.values() {
        match render(raw, target) {
            Ok(r) => {
                for (rendered, written) in r.patches.iter().zip(&raw.patches) {
                    if !rendered.is_file() {
                        errors.push(missing_file(raw, written, "patch file"));
                    }
                }
            }
            Err(e) => errors.extend(e.errors),
        }
    }
    errors
}

fn missing_file(raw: &RawRecipe, written: &crate::recipe::raw::Text, what: &str) -> RecipeError {
    RecipeError::MissingFile {
        src: raw.file.named(),
        span: written.span,
        what: what.into(),
        path: written.value.clone(),
        help: format!(
            "paths are relative to the recipe's directory, {}/",
            std::path::Path::new(&raw.file.name)
                .parent()
                .map_or_else(|| ".".into(), |p| p.display().to_string())
        ),
    }
}
