//! A project: its recipes, targets and sysroots, loaded from disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::model::sysroot_def::SysrootDef;
use crate::model::target::Target;
use crate::recipe::RawRecipe;
use crate::recipe::bounds::read_definition;
use crate::recipe::error::{RecipeError, RecipeErrors};
use crate::recipe::parse::parse_recipe;
use crate::recipe::parse_cache::{ParseCache, text_hash};

/// A name given on the command line (or by a caller) that the project does
/// not define.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LookupError {
    #[error("unknown target `{name}`")]
    #[diagnostic(
        code(recipe::unknown_target),
        help("{}known targets: {known} (files in toolchains/)", suggestion.as_ref().map(|s| format!("did you mean `{s}`? ")).unwrap_or_default())
    )]
    UnknownTarget {
        name: String,
        known: String,
        suggestion: Option<String>,
    },

    #[error("no recipe named `{name}`")]
    #[diagnostic(
        code(recipe::unknown_package),
        help("{}run `recipe list` to see all recipes", suggestion.as_ref().map(|s| format!("did you mean `{s}`? ")).unwrap_or_default())
    )]
    UnknownPackage { name: String, suggestion: Option<String> },
}

/// Where a project's definition files live.
#[derive(Debug, Clone)]
pub struct ProjectPaths {
    pub root: PathBuf,
    pub recipes: PathBuf,
    pub toolchains: PathBuf,
    pub sysroots: PathBuf,
}

impl ProjectPaths {
    /// `recipes` is the recipes directory; toolchains and sysroots sit beside it.
    pub fn from_recipes_dir(recipes: &Path) -> ProjectPaths {
        let recipes = std::path::absolute(recipes).unwrap_or_else(|_| recipes.to_path_buf());
        let root = recipes.parent().map_or_else(|| recipes.clone(), Path::to_path_buf);
        ProjectPaths {
            toolchains: root.join("toolchains"),
            sysroots: root.join("sysroots"),
            recipes,
            root,
        }
    }

    /// Walks up from `start` to the first directory holding `recipes/`.
    pub fn discover(start: &Path) -> Option<ProjectPaths> {
        start
            .ancestors()
            .find(|dir| dir.join("recipes").is_dir())
            .map(|dir| ProjectPaths::from_recipes_dir(&dir.join("recipes")))
    }
}

pub struct Project {
    pub paths: ProjectPaths,
    pub recipes: BTreeMap<String, RawRecipe>,
    /// Recipes that failed to load, by directory name, with their errors.
    /// Commands fail only when they need one of these.
    pub broken: BTreeMap<String, Vec<RecipeError>>,
    pub targets: BTreeMap<String, Target>,
    pub sysroots: BTreeMap<String, SysrootDef>,
}

fn kdl_files(dir: &Path) -> Result<Vec<PathBuf>, RecipeErrors> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(source) => {
            return Err(RecipeError::Io {
                path: dir.display().to_string(),
                source: source.into(),
            }
            .into());
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "kdl") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn display_path(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}

impl Project {
    /// Loads every definition. Broken recipes are kept aside in `broken`;
    /// broken targets or sysroots fail the whole load.
    pub fn load(paths: ProjectPaths) -> Result<Project, RecipeErrors> {
        Project::load_with_cache(paths, None)
    }

    /// Like `load`, reusing (and refreshing) the parse cache under `cache`
    /// when given: unchanged recipe files are not parsed again.
    pub fn load_with_cache(paths: ProjectPaths, cache: Option<&Path>) -> Result<Project, RecipeErrors> {
        let mut errors = Vec::new();
        let recipe_files = recipe_files(&paths.recipes, &mut errors);
        let parse_cache = cache.map(|c| ParseCache::open(c, &paths.recipes));
        let parsed: Vec<(String, String, Result<RawRecipe, RecipeErrors>)> = recipe_files
            .par_iter()
            .map(|(dir_name, file)| {
                let (hash, result) = load_recipe(&paths.root, parse_cache.as_ref(), dir_name, file);
                (dir_name.clone(), hash, result)
            })
            .collect();
        if let Some(c) = parse_cache {
            c.store(
                parsed
                    .iter()
                    .filter_map(|(name, hash, r)| r.as_ref().ok().map(|r| (name.as_str(), hash.as_str(), r))),
            );
        }
        let mut recipes = BTreeMap::new();
        let mut broken = BTreeMap::new();
        for (dir_name, _, result) in parsed {
            match result {
                Ok(r) => {
                    recipes.insert(r.name.value.clone(), r);
                }
                Err(e) => {
                    broken.insert(dir_name, e.errors);
                }
            }
        }
        let targets = load_targets(&paths, &mut errors);
        let sysroots = load_sysroots(&paths, &mut errors);
        if errors.is_empty() {
            Ok(Project {
                paths,
                recipes,
                broken,
                targets,
                sysroots,
            })
        } else {
            Err(RecipeErrors { errors })
        }
    }

    pub fn recipe_names(&self) -> impl Iterator<Item = &str> {
        self.recipes.keys().map(String::as_str)
    }
}

impl Project {
    /// Errors of every broken recipe, for `lint` and batch reports.
    pub fn take_broken(&mut self) -> Vec<RecipeError> {
        std::mem::take(&mut self.broken).into_values().flatten().collect()
    }

    pub fn target(&self, name: &str) -> Result<&Target, LookupError> {
        self.targets.get(name).ok_or_else(|| LookupError::UnknownTarget {
            name: name.to_string(),
            known: self.targets.keys().cloned().collect::<Vec<_>>().join(", "),
            suggestion: crate::recipe::error::closest(name, self.targets.keys().map(String::as_str))
                .map(str::to_string),
        })
    }
}

/// `recipes/<dir>/recipe.kdl` files, sorted by directory name.
fn recipe_files(dir: &Path, errors: &mut Vec<RecipeError>) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries.flatten() {
                let file = entry.path().join("recipe.kdl");
                if file.is_file() {
                    out.push((entry.file_name().to_string_lossy().into_owned(), file));
                }
            }
        }
        Err(source) => errors.push(RecipeError::Io {
            path: dir.display().to_string(),
            source: source.into(),
        }),
    }
    out.sort();
    out
}

/// One recipe, from the parse cache when its text is unchanged; its package
/// name must be its directory's. Returns the text's hash with it.
fn load_recipe(
    root: &Path,
    parse_cache: Option<&ParseCache>,
    dir_name: &str,
    file: &Path,
) -> (String, Result<RawRecipe, RecipeErrors>) {
    let shown = display_path(root, file);
    let (hash, loaded) = match read_definition(file, &shown) {
        Ok(source) => {
            let hash = text_hash(source.text.as_str());
            let dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
            let loaded = match parse_cache.and_then(|c| c.get(dir_name, &hash)) {
                Some(mut r) => {
                    r.file = source;
                    r.dir = dir;
                    Ok(r)
                }
                None => parse_recipe(source, &dir),
            };
            (hash, loaded)
        }
        Err(e) => (String::new(), Err(e)),
    };
    let result = loaded.and_then(|r| {
        if r.name.value == dir_name {
            Ok(r)
        } else {
            Err(RecipeError::NameMismatch {
                src: r.file.named(),
                span: r.name.span,
                name: r.name.value.clone(),
                dir: dir_name.to_string(),
                help: format!(
                    "rename the package to `{dir_name}` or move the recipe to recipes/{}/",
                    r.name.value
                ),
            }
            .into())
        }
    });
    (hash, result)
}

/// Every target of `toolchains/`; a name defined twice is an error at the
/// second file (files are read in name order).
fn load_targets(paths: &ProjectPaths, errors: &mut Vec<RecipeError>) -> BTreeMap<String, Target> {
    let mut targets = BTreeMap::new();
    let mut first_file = BTreeMap::new();
    let files = match kdl_files(&paths.toolchains) {
        Ok(files) => files,
        Err(e) => {
            errors.extend(e.errors);
            return targets;
        }
    };
    for f in files {
        let shown = display_path(&paths.root, &f);
        match Target::load(&f, &shown) {
            Ok((t, file, span)) => match first_file.get(&t.name) {
                Some(first) => errors.push(RecipeError::DuplicateName {
                    src: file.named(),
                    span,
                    what: "target".into(),
                    help: format!("first defined in {first}; target names must be unique across toolchains/"),
                    name: t.name,
                }),
                None => {
                    first_file.insert(t.name.clone(), shown);
                    targets.insert(t.name.clone(), t);
                }
            },
            Err(e) => errors.extend(e.errors),
        }
    }
    targets
}

/// Every sysroot definition of `sysroots/`.
fn load_sysroots(paths: &ProjectPaths, errors: &mut Vec<RecipeError>) -> BTreeMap<String, SysrootDef> {
    let mut sysroots = BTreeMap::new();
    match kdl_files(&paths.sysroots) {
        Ok(files) => {
            for f in files {
                match SysrootDef::load(&f, &display_path(&paths.root, &f)) {
                    Ok(s) => {
                        sysroots.insert(s.name.clone(), s);
                    }
                    Err(e) => errors.extend(e.errors),
                }
            }
        }
        Err(e) => errors.extend(e.errors),
    }
    sysroots
}
