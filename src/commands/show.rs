use crate::error::Error;
use crate::model::image_def::{IMAGE_FILE, ImageDef, ImageFormat};
use crate::model::target::Target;
use crate::plan::graph::check_requested;
use crate::plan::render::render;
use crate::recipe::Recipe;
use crate::recipe::options::KindOptions;
use crate::settings::Settings;

pub fn run(settings: &Settings, name: &str, target: &str) -> Result<(), Error> {
    let project = super::load(settings)?;
    let image_file = settings.paths.recipes.join(name).join(IMAGE_FILE);
    if !project.recipes.contains_key(name) && image_file.is_file() {
        let t = project.target(target)?;
        let def = ImageDef::load(&image_file, &format!("recipes/{name}/{IMAGE_FILE}"))?;
        print!("{}", show_image(&def, t));
        return Ok(());
    }
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

/// An image as its file gives it, with defaults filled in, and how it boots
/// on `target` (the target file's `image { … }`).
fn show_image(def: &ImageDef, target: &Target) -> String {
    let q = |v: &[String]| v.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(" ");
    let mut out = format!("image {} {{\n", def.name);
    if let Some(s) = &def.suite {
        out.push_str(&format!("    suite {s:?}\n"));
    }
    for (node, list) in [
        ("packages", &def.packages),
        ("install", &def.install),
        ("modules", &def.modules),
    ] {
        if !list.is_empty() {
            out.push_str(&format!("    {node} {}\n", q(list)));
        }
    }
    match def.format {
        ImageFormat::Initramfs => out.push_str("    format \"initramfs\"\n"),
        ImageFormat::Ext4 { size_mib } => out.push_str(&format!("    format \"ext4\" size=\"{size_mib}M\"\n")),
    }
    if let Some(o) = &def.overlay {
        out.push_str(&format!("    overlay {o:?}\n"));
    }
    out.push_str(&format!("    init {:?}\n", def.init));
    if let Some(n) = &def.network {
        out.push_str(&format!("    network {n:?}\n"));
    }
    out.push_str(&format!("    timeout {}\n    memory {}\n}}\n", def.timeout, def.memory));
    match &target.image {
        Some(i) => out.push_str(&format!(
            "// boots on {} (toolchains/{}.kdl):\n// image {{ kernel {:?}; qemu-system {:?}; machine {:?}; cpu {:?}; console {:?} }}\n",
            target.name, target.name, i.kernel, i.qemu_system, i.machine, i.cpu, i.console
        )),
        None => out.push_str(&format!(
            "// target {} has no `image {{ … }}`: it cannot boot images\n",
            target.name
        )),
    }
    out
}
