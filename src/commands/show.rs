use crate::error::Error;
use crate::plan::graph::check_requested;
use crate::plan::render::render;
use crate::settings::Settings;

pub fn run(settings: &Settings, name: &str, target: &str) -> Result<(), Error> {
    let project = super::load(settings)?;
    check_requested(&project, &[name.to_string()])?;
    let target = project.target(target)?;
    let recipe = render(&project.recipes[name], target)?;
    print!("{}", crate::recipe::emit::to_kdl(&recipe));
    Ok(())
}
