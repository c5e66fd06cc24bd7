use crate::error::Error;
use crate::model::target::Target;
use crate::plan::graph::check_requested;
use crate::plan::render::render;
use crate::recipe::Recipe;
use crate::recipe::options::KindOptions;
use crate::settings::Settings;

pub fn run(settings: &Settings, name: &str, target: &str) -> Result<(), Error> {
    let project = super::load(settings)?;
    check_requested(&project, &[name.to_string()])?;
    let target = project.target(target)?;
    let recipe = render(&project.recipes[name], target)?;
    if let Some(line) = python_versions_line(&recipe, target) {
        println!("{line}");
    }
    print!("{}", crate::recipe::emit::to_kdl(&recipe));
    Ok(())
}

/// A comment naming the wheels a PEP 517 recipe gets on a target that lists
/// Python versions (a KDL comment, so the output stays a valid recipe).
fn python_versions_line(recipe: &Recipe, target: &Target) -> Option<String> {
    let pep517 = matches!(&recipe.build.typed, KindOptions::PythonWheel(o) if o.pep517);
    if !pep517 || target.python.versions.is_empty() {
        return None;
    }
    let each: Vec<String> = target
        .python
        .versions
        .iter()
        .map(|v| format!("{} (python{} from {})", v.tag(), v.version, v.suite))
        .collect();
    Some(format!(
        "// wheels for {}: {} (one abi3 wheel, built with the lowest, when the package uses the limited API)",
        target.name,
        each.join(", ")
    ))
}
